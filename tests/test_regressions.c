/*
 * Inputs that once broke qstack, kept so the bugs stay fixed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "helpers/modhost.h"
#include "helpers/testq.h"

/* Decodes in through a begun stream; returns the final status. */
static int
decode(const struct qs_transform_ops *ops, void *stream, const uint8_t *in,
    size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct qs_blob_info blob = { .size = sizeof(blob),
	    .kind = QS_BLOB_MESSAGE, .id = "0123456789abcdef" };
	size_t used, made, total = 0;
	int rc;

	if ((rc = ops->stream_begin(stream, &blob)) != QS_OK)
		return rc;
	while (len > 0) {
		rc = ops->stream_update(stream, in, len, &used, out + total,
		    cap - total, &made);
		if (rc != QS_OK)
			return rc;
		in += used;
		len -= used;
		total += made;
	}
	do {
		rc = ops->stream_final(stream, out + total, cap - total, &made);
		total += made;
	} while (rc == QS_MORE);
	*out_len = total;
	return rc;
}

static size_t
encode(const struct qs_transform_ops *ops, void *instance, const uint8_t *in,
    size_t len, uint8_t *out, size_t cap)
{
	struct qs_blob_info blob = { .size = sizeof(blob),
	    .kind = QS_BLOB_MESSAGE, .id = "0123456789abcdef" };
	size_t used, made, total = 0;
	void *stream;
	int rc;

	assert_int_equal(ops->stream_new(instance, QS_ENCODE, &stream), QS_OK);
	assert_int_equal(ops->stream_begin(stream, &blob), QS_OK);
	while (len > 0) {
		assert_int_equal(ops->stream_update(stream, in, len, &used,
		    out + total, cap - total, &made), QS_OK);
		in += used;
		len -= used;
		total += made;
	}
	do {
		rc = ops->stream_final(stream, out + total, cap - total, &made);
		total += made;
	} while (rc == QS_MORE);
	assert_int_equal(rc, QS_OK);
	ops->stream_free(stream);
	return total;
}

/*
 * liblz4 1.9.4 kept a stale frame size in a reset decoder after a frame
 * that did not finish, so every later frame on the stream failed.
 */
static void
lz4_decoder_recovers_after_bad_frame(void **state)
{
	/* a frame that declares a content size and stops after 20 bytes */
	static const uint8_t sized[] = {
		0x04, 0x22, 0x4d, 0x18, 0x6c, 0x40, 0x2c, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x54, 0x0a, 0x01, 0x00, 0x00, 0xf1,
	};
	const struct qs_transform_ops *ops;
	struct qs_instance_args args = { .size = sizeof(args) };
	struct modhost mh;
	uint8_t plain[300], frame[4096], out[4096];
	size_t frame_len, out_len, cut;
	char err[256];
	void *instance, *stream;

	args.err = err;
	args.err_cap = sizeof(err);
	assert_int_equal(modhost_open(&mh, "compress-lz4"), 0);
	ops = mh.module->ops;
	assert_int_equal(ops->instance_new(&args, &instance), QS_OK);
	assert_int_equal(ops->stream_new(instance, QS_DECODE, &stream), QS_OK);
	testq_pattern(plain, sizeof(plain), 4);
	frame_len = encode(ops, instance, plain, sizeof(plain), frame,
	    sizeof(frame));

	assert_int_not_equal(decode(ops, stream, sized, sizeof(sized), out,
	    sizeof(out), &out_len), QS_OK);
	assert_int_equal(decode(ops, stream, frame, frame_len, out,
	    sizeof(out), &out_len), QS_OK);
	assert_int_equal(out_len, sizeof(plain));
	assert_memory_equal(out, plain, sizeof(plain));

	/* an unfinished frame of the module's own format, at every cut */
	for (cut = 1; cut < frame_len; cut += 7) {
		assert_int_equal(decode(ops, stream, frame, cut, out,
		    sizeof(out), &out_len), QS_ERR_TRUNCATED);
		assert_int_equal(decode(ops, stream, frame, frame_len, out,
		    sizeof(out), &out_len), QS_OK);
		assert_int_equal(out_len, sizeof(plain));
	}
	ops->stream_free(stream);
	ops->instance_free(instance);
	modhost_close(&mh);
}

/*
 * A blob header naming the queue-fs backend as a layer made the loader
 * call backend functions through the transform table, and crash.
 */
static void
backend_named_as_layer_rejected(void **state)
{
	struct testq t;
	struct qs_msg_reader *r;
	uint8_t blob[64];
	char id[QS_ID_MAX], path[1024];
	size_t n = 0;
	uLong crc;
	FILE *f;

	testq_setup(&t);
	if (testq_open(&t, "") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"x", 1, 1, id),
	    QS_OK);
	assert_int_equal(testq_find_blob(t.qdir, id, path, sizeof(path)), 0);

	memcpy(blob, "QSTK\x01\x01\x00\x14\x01", 9);
	n = 9;
	blob[n++] = 8;
	memcpy(blob + n, "queue-fs", 8);
	n += 8;
	blob[n++] = 0;
	blob[n++] = 1;
	blob[7] = (uint8_t)n;
	blob[n++] = 'x';
	memset(blob + n, 0, 8);
	blob[n + 7] = 1;
	crc = crc32(crc32(0, NULL, 0), blob, (uInt)n);
	n += 8;
	blob[n++] = (uint8_t)(crc >> 24);
	blob[n++] = (uint8_t)(crc >> 16);
	blob[n++] = (uint8_t)(crc >> 8);
	blob[n++] = (uint8_t)crc;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(blob, 1, n, f), n);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(qs_msg_open(t.q, id, &r), QS_ERR_CORRUPT);
	assert_non_null(strstr(qs_error(t.q), "queue-fs"));
	testq_teardown(&t);
}

/*
 * Blobs written without encryption were accepted by a queue that
 * encrypts, so anyone able to write to the storage could plant mail or
 * redirect recipients. rekey is how such blobs become encrypted.
 */
static void
plaintext_blob_rejected_when_encrypting(void **state)
{
	const char *enc = "queue encryption key-file \"%K\"";
	struct testq t;
	struct qs_msg_reader *r;
	struct qs_rekey_stats st;
	uint8_t buf[64];
	char id[QS_ID_MAX], evpid[QS_ID_MAX];
	size_t len;

	testq_setup(&t);
	if (testq_open(&t, "") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"planted", 7, 7, id),
	    QS_OK);
	assert_int_equal(qs_env_create(t.q, id, "evil@example.org", 16,
	    evpid), QS_OK);
	if (testq_open(&t, enc) == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(qs_msg_open(t.q, id, &r), QS_ERR_AUTH);
	assert_non_null(strstr(qs_error(t.q), "not encrypted"));
	assert_int_equal(qs_env_load(t.q, evpid, buf, sizeof(buf), &len),
	    QS_ERR_AUTH);
	assert_int_equal(qs_fsck(t.q, 0, NULL, NULL, NULL), QS_ERR_CORRUPT);

	assert_int_equal(qs_rekey(t.q, NULL, NULL, NULL, &st), QS_OK);
	assert_int_equal(st.rekeyed, 2);
	assert_int_equal(qs_env_load(t.q, evpid, buf, sizeof(buf), &len),
	    QS_OK);
	assert_int_equal(len, 16);
	assert_int_equal(qs_fsck(t.q, 0, NULL, NULL, NULL), QS_OK);
	testq_teardown(&t);
}

static void
remove_file_under(const char *dir, const char *name)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/*
 * A queue whose metadata record was deleted got a new one with a new
 * salt, so every passphrase-encrypted blob looked as if the key were
 * wrong. A damaged record went unnoticed in the same way.
 */
static void
lost_metadata_record_refused(void **state)
{
	struct testq t;
	char id[QS_ID_MAX], path[1024], saved[64];
	struct stat sb;
	FILE *f;
	size_t n;

	testq_setup(&t);
	if (testq_open(&t, "queue encryption key \"meta test\"") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"m", 1, 1, id),
	    QS_OK);
	testq_close(&t);
	snprintf(path, sizeof(path), "%s/meta", t.qdir);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(saved, 1, sizeof(saved), f);
	fclose(f);
	assert_int_equal(n, 42);

	remove_file_under(t.qdir, "meta");
	assert_null(testq_open(&t, "queue encryption key \"meta test\""));
	assert_non_null(strstr(t.err, "metadata record is missing"));
	assert_int_equal(stat(path, &sb), -1);

	saved[10] ^= 1;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(saved, 1, n, f), n);
	fclose(f);
	assert_null(testq_open(&t, "queue encryption key \"meta test\""));
	assert_non_null(strstr(t.err, "corrupt"));

	saved[10] ^= 1;
	f = fopen(path, "wb");
	assert_int_equal(fwrite(saved, 1, n, f), n);
	fclose(f);
	if (testq_open(&t, "queue encryption key \"meta test\"") == NULL)
		fail_msg("%s", t.err);
	testq_teardown(&t);
}

/*
 * "/" or any directory with other files was accepted as a queue
 * directory and filled with the queue's files, and a relative path
 * made the queue depend on the working directory.
 */
static void
foreign_queue_paths_refused(void **state)
{
	struct testq t;
	char text[512], err[512], path[600];
	struct qs_config *c;
	struct qs_queue *q;
	FILE *f;

	testq_setup(&t);
	c = qs_config_parse("queue backend fs path \"relative/q\"\n", 35,
	    "test.conf", err, sizeof(err));
	assert_non_null(c);
	q = qs_open(c, err, sizeof(err));
	assert_null(q);
	assert_non_null(strstr(err, "relative"));
	qs_config_free(c);

	snprintf(path, sizeof(path), "%s/notes.txt", t.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n", t.dir);
	c = qs_config_parse(text, strlen(text), "test.conf", err, sizeof(err));
	assert_non_null(c);
	q = qs_open(c, err, sizeof(err));
	assert_null(q);
	assert_non_null(strstr(err, "not part of a qstack queue"));
	snprintf(path, sizeof(path), "%s/meta", t.dir);
	assert_int_equal(access(path, F_OK), -1);
	qs_config_free(c);
	testq_teardown(&t);
}

/* An unquoted "key abc#def" silently used the passphrase "abc". */
static void
hash_inside_word_rejected(void **state)
{
	static const char text[] = "queue encryption key abc#def\n";
	struct qs_config *c;
	char err[512];

	c = qs_config_parse(text, sizeof(text) - 1, "test.conf", err,
	    sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "test.conf:1:"));
	assert_non_null(strstr(err, "'#'"));
	assert_null(strstr(err, "abc"));
	c = qs_config_parse("queue encryption key \"abc#def\" # note\n", 38,
	    "test.conf", err, sizeof(err));
	if (c == NULL)
		fail_msg("%s", err);
	qs_config_free(c);
}

static int
count_id(void *arg, const char *id)
{
	(*(size_t *)arg)++;
	return 0;
}

/*
 * Deleting a message whose blob was already gone removed its envelopes
 * but still reported "not found", as if nothing had been deleted.
 */
static void
delete_cleans_orphan_envelopes(void **state)
{
	struct testq t;
	char id[QS_ID_MAX], evpid[QS_ID_MAX], path[1024];
	size_t n = 0;

	testq_setup(&t);
	if (testq_open(&t, "") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"m", 1, 1, id),
	    QS_OK);
	assert_int_equal(qs_env_create(t.q, id, "r", 1, evpid), QS_OK);
	assert_int_equal(testq_find_blob(t.qdir, id, path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(qs_msg_delete(t.q, id), QS_OK);
	assert_int_equal(qs_env_walk(t.q, NULL, count_id, &n), QS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(qs_msg_delete(t.q, id), QS_ERR_NOTFOUND);
	testq_teardown(&t);
}

/*
 * A put killed between creating its message directory and placing the
 * blob left an empty directory that nothing ever removed.
 */
static void
walk_removes_empty_message_dirs(void **state)
{
	struct testq t;
	char id[QS_ID_MAX], evpid[QS_ID_MAX], path[1024], orphan[1024];
	size_t n = 0;

	testq_setup(&t);
	if (testq_open(&t, "") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"m", 1, 1, id),
	    QS_OK);
	assert_int_equal(qs_env_create(t.q, id, "r", 1, evpid), QS_OK);
	snprintf(path, sizeof(path), "%s/msg/%.2s", t.qdir, "ab");
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/msg/ab/ab00000000000001", t.qdir);
	assert_int_equal(mkdir(path, 0700), 0);
	/* a directory with only an envelope is an orphan for fsck, kept */
	assert_int_equal(testq_find_blob(t.qdir, id, orphan, sizeof(orphan)),
	    0);
	assert_int_equal(unlink(orphan), 0);

	assert_int_equal(qs_msg_walk(t.q, count_id, &n), QS_OK);
	assert_int_equal(n, 0);
	assert_int_equal(access(path, F_OK), -1);
	*strrchr(orphan, '/') = '\0';
	assert_int_equal(access(orphan, F_OK), 0);
	testq_teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lz4_decoder_recovers_after_bad_frame),
		cmocka_unit_test(backend_named_as_layer_rejected),
		cmocka_unit_test(plaintext_blob_rejected_when_encrypting),
		cmocka_unit_test(lost_metadata_record_refused),
		cmocka_unit_test(foreign_queue_paths_refused),
		cmocka_unit_test(hash_inside_word_rejected),
		cmocka_unit_test(delete_cleans_orphan_envelopes),
		cmocka_unit_test(walk_removes_empty_message_dirs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
