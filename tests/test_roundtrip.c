/*
 * Whole-queue tests through libqstack and the real modules: every chain
 * at the sizes around the encryption chunk size, configuration changes
 * between writing and reading, damaged blobs, and reopening.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers/testq.h"

/* Opens the test queue with conf or fails the test with the reason. */
#define OPEN(t, conf)                                                   \
	do {                                                            \
		if (testq_open((t), (conf)) == NULL)                    \
			fail_msg("cannot open queue: %s", (t)->err);    \
	} while (0)

/* Plaintext chunk size of crypto-evp, from docs/FORMAT.md. */
#define CHUNK 65536

static const char *const chains[] = {
	"",
	"queue compression",
	"queue compression lz4",
	"queue encryption key-file \"%K\"",
	"queue compression zlib\nqueue encryption key-file \"%K\"",
	"queue compression lz4\nqueue encryption key-file \"%K\"",
};
#define NCHAINS (sizeof(chains) / sizeof(chains[0]))

static const size_t sizes[] = {
	0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 7, 5 * 1024 * 1024 + 3
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static int
setup(void **state)
{
	struct testq *t = malloc(sizeof(*t));

	testq_setup(t);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	testq_teardown(*state);
	free(*state);
	return 0;
}

static void
check_message(struct qs_queue *q, const char *id, const uint8_t *want,
    size_t len, size_t cap)
{
	uint8_t *got;
	size_t got_len;
	int rc;

	rc = testq_get(q, id, cap, &got, &got_len);
	assert_int_equal(rc, QS_OK);
	assert_int_equal(got_len, len);
	if (len > 0)
		assert_memory_equal(got, want, len);
	free(got);
}

static void
message_sizes_every_chain(void **state)
{
	struct testq *t = *state;
	size_t c, s, max = sizes[NSIZES - 1];
	uint8_t *data = malloc(max);
	char id[QS_ID_MAX];

	testq_pattern(data, max, 7);
	for (c = 0; c < NCHAINS; c++) {
		struct qs_queue *q = testq_open(t, chains[c]);

		if (q == NULL)
			fail_msg("chain %zu: %s", c, t->err);
		for (s = 0; s < NSIZES; s++) {
			size_t piece = s % 2 ? 7777 : 65536;
			struct qs_msg_stat st;
			struct qs_msg_writer *w;
			size_t off = 0;

			assert_int_equal(qs_msg_create(q, &w), QS_OK);
			strcpy(id, qs_msg_writer_id(w));
			while (off < sizes[s]) {
				size_t n = sizes[s] - off;

				n = n < piece ? n : piece;
				assert_int_equal(qs_msg_write(w, data + off, n),
				    QS_OK);
				off += n;
			}
			assert_int_equal(qs_msg_commit(w, &st), QS_OK);
			assert_int_equal(st.size, sizes[s]);
			check_message(q, id, data, sizes[s], 4093);
			check_message(q, id, data, sizes[s], 1 << 20);
		}
	}
	free(data);
}

static void
envelope_sizes_every_chain(void **state)
{
	static const size_t env_sizes[] = { 0, 1, 200, CHUNK - 1, CHUNK,
	    CHUNK + 1, 300000 };
	struct testq *t = *state;
	uint8_t data[300000], back[300000];
	char msgid[QS_ID_MAX], evpid[QS_ID_MAX];
	size_t c, s, len;

	testq_pattern(data, sizeof(data), 11);
	for (c = 0; c < NCHAINS; c++) {
		struct qs_queue *q = testq_open(t, chains[c]);

		if (q == NULL)
			fail_msg("chain %zu: %s", c, t->err);
		assert_int_equal(testq_put(q, data, 10, 10, msgid), QS_OK);
		for (s = 0; s < sizeof(env_sizes) / sizeof(env_sizes[0]); s++) {
			size_t n = env_sizes[s];

			assert_int_equal(qs_env_create(q, msgid, data, n, evpid),
			    QS_OK);
			assert_int_equal(strncmp(evpid, msgid, strlen(msgid)), 0);
			assert_int_equal(qs_env_load(q, evpid, back,
			    sizeof(back), &len), QS_OK);
			assert_int_equal(len, n);
			assert_memory_equal(back, data, n);
			assert_int_equal(qs_env_update(q, evpid, data + 1,
			    n / 2), QS_OK);
			assert_int_equal(qs_env_load(q, evpid, back,
			    sizeof(back), &len), QS_OK);
			assert_int_equal(len, n / 2);
			assert_memory_equal(back, data + 1, n / 2);
		}
		assert_int_equal(qs_msg_delete(q, msgid), QS_OK);
	}
}

static void
envelope_load_small_buffer(void **state)
{
	struct testq *t = *state;
	char msgid[QS_ID_MAX], evpid[QS_ID_MAX];
	uint8_t back[16];
	size_t len = 0;

	OPEN(t, "queue compression lz4");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"x", 1, 1, msgid),
	    QS_OK);
	assert_int_equal(qs_env_create(t->q, msgid, "0123456789abcdefXYZ",
	    19, evpid), QS_OK);
	assert_int_equal(qs_env_load(t->q, evpid, back, sizeof(back), &len),
	    QS_ERR_LIMIT);
	assert_int_equal(len, 19);
}

/* Writes one message under config a, reads it under config b. */
static void
check_config_change(struct testq *t, const char *a, const char *b)
{
	uint8_t data[200000];
	char id[QS_ID_MAX], evpid[QS_ID_MAX];
	uint8_t env[64];
	size_t len;

	testq_pattern(data, sizeof(data), 3);
	if (testq_open(t, a) == NULL)
		fail_msg("%s: %s", a, t->err);
	assert_int_equal(testq_put(t->q, data, sizeof(data), 5000, id), QS_OK);
	assert_int_equal(qs_env_create(t->q, id, "envelope", 8, evpid),
	    QS_OK);
	if (testq_open(t, b) == NULL)
		fail_msg("%s: %s", b, t->err);
	check_message(t->q, id, data, sizeof(data), 10000);
	assert_int_equal(qs_env_load(t->q, evpid, env, sizeof(env), &len),
	    QS_OK);
	assert_int_equal(len, 8);
	assert_memory_equal(env, "envelope", 8);
}

static void
config_change_keeps_blobs(void **state)
{
	struct testq *t = *state;

	check_config_change(t, "queue compression lz4", "queue compression");
	check_config_change(t, "queue compression", "");
	check_config_change(t, "", "queue compression lz4");
	check_config_change(t, "queue compression lz4 level 9",
	    "queue compression zlib level 1");
	check_config_change(t, "queue encryption key-file \"%K\"",
	    "queue compression\nqueue decryption key-file \"%K\"");
	check_config_change(t, "queue encryption key-file \"%K\"",
	    "queue encryption key-file \"%L\"\n"
	    "queue decryption key-file \"%K\"");
}

static void
encrypted_blob_without_key(void **state)
{
	struct testq *t = *state;
	struct qs_msg_reader *r;
	char id[QS_ID_MAX];

	OPEN(t, "queue encryption key-file \"%K\"");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"hello", 5, 5, id),
	    QS_OK);
	OPEN(t, "queue compression");
	assert_int_equal(qs_msg_open(t->q, id, &r), QS_ERR_NOKEY);
	assert_non_null(strstr(qs_error(t->q), "crypto-evp"));
	OPEN(t, "queue encryption key-file \"%L\"");
	assert_int_equal(qs_msg_open(t->q, id, &r), QS_OK);
	{
		uint8_t buf[16];
		size_t n;

		assert_int_equal(qs_msg_read(r, buf, sizeof(buf), &n),
		    QS_ERR_NOKEY);
	}
	qs_msg_close(r);
}

static int
read_file(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	FILE *f;

	if (stat(path, &st) == -1 || (f = fopen(path, "rb")) == NULL)
		return -1;
	*len = (size_t)st.st_size;
	*data = malloc(*len + 1);
	if (fread(*data, 1, *len, f) != *len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static void
write_bytes(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/*
 * Flips one byte at several offsets and truncates at several lengths:
 * reading must fail every time, and the original must still read.
 */
static void
damaged_blobs_detected(void **state)
{
	struct testq *t = *state;
	uint8_t data[150000], *blob, *got;
	size_t c, len, got_len, i;
	char id[QS_ID_MAX], path[1024];

	testq_pattern(data, sizeof(data), 5);
	for (c = 0; c < NCHAINS; c++) {
		size_t offsets[8];

		if (testq_open(t, chains[c]) == NULL)
			fail_msg("%s", t->err);
		assert_int_equal(testq_put(t->q, data, sizeof(data), 9999, id),
		    QS_OK);
		assert_int_equal(testq_find_blob(t->qdir, id, path,
		    sizeof(path)), 0);
		assert_int_equal(read_file(path, &blob, &len), 0);
		offsets[0] = 0;
		offsets[1] = 5;
		offsets[2] = 12;
		offsets[3] = 40;
		offsets[4] = len / 2;
		offsets[5] = len - 13;
		offsets[6] = len - 5;
		offsets[7] = len - 1;
		for (i = 0; i < 8; i++) {
			blob[offsets[i]] ^= 0x20;
			write_bytes(path, blob, len);
			assert_int_not_equal(testq_get(t->q, id, 8192, &got,
			    &got_len), QS_OK);
			free(got);
			blob[offsets[i]] ^= 0x20;
		}
		for (i = 0; i < 8; i++) {
			write_bytes(path, blob, offsets[i]);
			assert_int_not_equal(testq_get(t->q, id, 8192, &got,
			    &got_len), QS_OK);
			free(got);
		}
		write_bytes(path, blob, len);
		check_message(t->q, id, data, sizeof(data), 8192);
		free(blob);
	}
}

static void
truncated_blob_reports_truncation(void **state)
{
	struct testq *t = *state;
	uint8_t data[100000], *blob, *got;
	size_t len, got_len;
	char id[QS_ID_MAX], path[1024];

	testq_pattern(data, sizeof(data), 9);
	OPEN(t, "queue compression lz4\n"
	    "queue encryption key-file \"%K\"");
	assert_int_equal(testq_put(t->q, data, sizeof(data), 4096, id), QS_OK);
	assert_int_equal(testq_find_blob(t->qdir, id, path, sizeof(path)), 0);
	assert_int_equal(read_file(path, &blob, &len), 0);
	write_bytes(path, blob, len - 100);
	assert_int_equal(testq_get(t->q, id, 8192, &got, &got_len),
	    QS_ERR_TRUNCATED);
	assert_non_null(strstr(qs_error(t->q), id));
	assert_non_null(strstr(qs_error(t->q), "truncated"));
	free(got);
	blob[len / 2] ^= 1;
	write_bytes(path, blob, len);
	assert_int_not_equal(testq_get(t->q, id, 8192, &got, &got_len), QS_OK);
	assert_non_null(strstr(qs_error(t->q), id));
	free(got);
	free(blob);
}

/* A blob copied over another id must not decrypt. */
static void
moved_blob_rejected(void **state)
{
	struct testq *t = *state;
	uint8_t *a, *b, *got;
	size_t alen, blen, got_len;
	char id1[QS_ID_MAX], id2[QS_ID_MAX], p1[1024], p2[1024];

	OPEN(t, "queue encryption key-file \"%K\"");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"first", 5, 5, id1),
	    QS_OK);
	assert_int_equal(testq_put(t->q, (const uint8_t *)"other", 5, 5, id2),
	    QS_OK);
	assert_int_equal(testq_find_blob(t->qdir, id1, p1, sizeof(p1)), 0);
	assert_int_equal(testq_find_blob(t->qdir, id2, p2, sizeof(p2)), 0);
	assert_int_equal(read_file(p1, &a, &alen), 0);
	assert_int_equal(read_file(p2, &b, &blen), 0);
	write_bytes(p2, a, alen);
	assert_int_not_equal(testq_get(t->q, id2, 8192, &got, &got_len),
	    QS_OK);
	free(got);
	check_message(t->q, id1, (const uint8_t *)"first", 5, 100);
	free(a);
	free(b);
}

struct walk_state {
	char ids[64][QS_ID_MAX];
	size_t n;
};

static int
collect(void *arg, const char *id)
{
	struct walk_state *w = arg;

	if (w->n < 64)
		strcpy(w->ids[w->n++], id);
	return 0;
}

static int
find_id(const struct walk_state *w, const char *id)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (strcmp(w->ids[i], id) == 0)
			return 1;
	return 0;
}

static void
reopen_walks_same_envelopes(void **state)
{
	struct testq *t = *state;
	const char *conf = "queue compression lz4\n"
	    "queue encryption key-file \"%K\"";
	char msgid[3][QS_ID_MAX], evpid[9][QS_ID_MAX];
	char text[9][32], buf[64];
	struct walk_state all = { .n = 0 }, one = { .n = 0 };
	size_t i, len;

	OPEN(t, conf);
	for (i = 0; i < 3; i++)
		assert_int_equal(testq_put(t->q, (const uint8_t *)"m", 1, 1,
		    msgid[i]), QS_OK);
	for (i = 0; i < 9; i++) {
		snprintf(text[i], sizeof(text[i]), "rcpt%zu@example.org", i);
		assert_int_equal(qs_env_create(t->q, msgid[i % 3], text[i],
		    strlen(text[i]), evpid[i]), QS_OK);
	}
	testq_close(t);
	OPEN(t, conf);
	assert_int_equal(qs_env_walk(t->q, NULL, collect, &all), QS_OK);
	assert_int_equal(all.n, 9);
	for (i = 0; i < 9; i++) {
		assert_true(find_id(&all, evpid[i]));
		assert_int_equal(qs_env_load(t->q, evpid[i], buf, sizeof(buf),
		    &len), QS_OK);
		assert_int_equal(len, strlen(text[i]));
		assert_memory_equal(buf, text[i], len);
	}
	assert_int_equal(qs_env_walk(t->q, msgid[1], collect, &one), QS_OK);
	assert_int_equal(one.n, 3);
	assert_true(find_id(&one, evpid[1]));
	assert_true(find_id(&one, evpid[4]));
	assert_true(find_id(&one, evpid[7]));
	assert_int_equal(qs_msg_delete(t->q, msgid[1]), QS_OK);
	all.n = 0;
	assert_int_equal(qs_env_walk(t->q, NULL, collect, &all), QS_OK);
	assert_int_equal(all.n, 6);
	assert_false(find_id(&all, evpid[4]));
}

static void
encrypted_queue_hides_plaintext(void **state)
{
	struct testq *t = *state;
	static const char marker[] = "qstack-unique-marker-5f0c2b7e";
	uint8_t data[5000];
	char id[QS_ID_MAX], evpid[QS_ID_MAX];

	memset(data, 'a', sizeof(data));
	memcpy(data + 1000, marker, sizeof(marker) - 1);
	OPEN(t, "queue compression\n"
	    "queue encryption key \"foobar\"");
	assert_int_equal(testq_put(t->q, data, sizeof(data), 333, id), QS_OK);
	assert_int_equal(qs_env_create(t->q, id, marker, sizeof(marker) - 1,
	    evpid), QS_OK);
	testq_close(t);
	assert_false(testq_grep_tree(t->qdir, marker, sizeof(marker) - 1));
	assert_false(testq_grep_tree(t->qdir, "foobar", 6));
	/* the same marker is found when encryption is off */
	OPEN(t, "");
	assert_int_equal(testq_put(t->q, data, sizeof(data), 333, id), QS_OK);
	assert_true(testq_grep_tree(t->qdir, marker, sizeof(marker) - 1));
}

static void
two_line_config_round_trips(void **state)
{
	struct testq *t = *state;
	uint8_t data[70000], back[64];
	char id[QS_ID_MAX], evpid[QS_ID_MAX];
	size_t len;

	testq_pattern(data, sizeof(data), 1);
	OPEN(t, "queue compression\n"
	    "queue encryption key \"foobar\"");
	assert_int_equal(testq_put(t->q, data, sizeof(data), 1000, id), QS_OK);
	assert_int_equal(qs_env_create(t->q, id, "rcpt", 4, evpid), QS_OK);
	testq_close(t);
	OPEN(t, "queue compression\n"
	    "queue encryption key \"foobar\"");
	check_message(t->q, id, data, sizeof(data), 999);
	assert_int_equal(qs_env_load(t->q, evpid, back, sizeof(back), &len),
	    QS_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(back, "rcpt", 4);
	/* a different passphrase reads nothing */
	OPEN(t, "queue compression\n"
	    "queue encryption key \"foobaz\"");
	assert_int_equal(qs_env_load(t->q, evpid, back, sizeof(back), &len),
	    QS_ERR_NOKEY);
}

static void
bad_ids_rejected(void **state)
{
	struct testq *t = *state;
	struct qs_msg_reader *r;
	uint8_t buf[8];
	char evpid[QS_ID_MAX];
	size_t len;

	OPEN(t, "");
	assert_int_equal(qs_msg_open(t->q, "../../etc/passwd", &r),
	    QS_ERR_INVALID);
	assert_int_equal(qs_msg_open(t->q, "0123456789ABCDEF", &r),
	    QS_ERR_INVALID);
	assert_int_equal(qs_msg_open(t->q, "0123456789abcdef", &r),
	    QS_ERR_NOTFOUND);
	assert_non_null(strstr(qs_error(t->q), "0123456789abcdef"));
	assert_int_equal(qs_env_load(t->q, "0123456789abcdef/../x", buf,
	    sizeof(buf), &len), QS_ERR_INVALID);
	assert_int_equal(qs_env_create(t->q, "0123456789abcdef", "x", 1,
	    evpid), QS_ERR_NOTFOUND);
	assert_int_equal(qs_msg_delete(t->q, "0123456789abcdef"),
	    QS_ERR_NOTFOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(message_sizes_every_chain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(envelope_sizes_every_chain,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(envelope_load_small_buffer,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(config_change_keeps_blobs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(encrypted_blob_without_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(damaged_blobs_detected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    truncated_blob_reports_truncation, setup, teardown),
		cmocka_unit_test_setup_teardown(moved_blob_rejected, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(reopen_walks_same_envelopes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    encrypted_queue_hides_plaintext, setup, teardown),
		cmocka_unit_test_setup_teardown(two_line_config_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(bad_ids_rejected, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
