/*
 * Encryption through the whole library with the real crypto-evp module:
 * every cipher round trip, single-byte changes, unknown cipher and
 * digest names, key rotation with qs_rekey (also when it is killed
 * midway), and the key file, passphrase and standard input rules.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers/keytest.h"
#include "helpers/testq.h"

/* Opens the test queue with conf or fails the test with the reason. */
#define OPEN(t, conf)                                                   \
	do {                                                            \
		if (testq_open((t), (conf)) == NULL)                    \
			fail_msg("cannot open queue with \"%s\": %s",   \
			    (conf), (t)->err);                          \
	} while (0)

#define BIG_SIZE (5 * 1024 * 1024)
#define ENV_SIZE 300

/* Hex text of the two key files that testq_setup writes. */
#define KEY_A_HEX "00112233445566778899aabbccddeeff"
#define KEY_B_HEX "ffeeddccbbaa99887766554433221100"

#define STDIN_PASSPHRASE "stdin passphrase 41f7"

static const char *const ciphers[] = {
	"aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-poly1305",
	"aes-128-cbc", "aes-256-cbc", "aes-256-ctr", "bf-cbc",
};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

/* Key text that must never appear in an error, a log line or output. */
static const char *const secrets[] = {
	KEY_A_HEX, KEY_B_HEX, "foobar", STDIN_PASSPHRASE,
};

/* Every error text, log line and command output seen by the test. */
static char *notes;
static size_t notes_len;

static void
note(const char *text)
{
	size_t len = strlen(text);
	char *grown = realloc(notes, notes_len + len + 2);

	if (grown == NULL)
		abort();
	notes = grown;
	memcpy(notes + notes_len, text, len);
	notes_len += len;
	notes[notes_len++] = '\n';
	notes[notes_len] = '\0';
}

static void
note_log(void *arg, int level, const char *module, const char *msg)
{
	(void)arg;
	(void)level;
	(void)module;
	note(msg);
}

/* Raw key bytes that raw_and_hex_keys_match writes, ending in CR LF. */
static void
make_raw_key(uint8_t key[32])
{
	size_t i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(0xa7 ^ (i * 29));
	key[30] = '\r';
	key[31] = '\n';
}

/* Fails when any collected text contains key material. */
static void
assert_no_secret(void)
{
	uint8_t raw[32];
	size_t i;

	if (notes_len == 0)
		return;
	for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
		if (memmem(notes, notes_len, secrets[i],
		    strlen(secrets[i])) != NULL)
			fail_msg("an error, log line or output contains the "
			    "text of secret %zu", i);
	make_raw_key(raw);
	assert_null(memmem(notes, notes_len, raw, 16));
}

static int
setup(void **state)
{
	struct testq *t = malloc(sizeof(*t));

	testq_setup(t);
	free(notes);
	notes = NULL;
	notes_len = 0;
	qs_set_log(note_log, NULL, QS_LOG_DEBUG);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	testq_teardown(*state);
	qs_set_log(NULL, NULL, QS_LOG_WARN);
	free(*state);
	return 0;
}

/* Opens conf, which must fail, and returns the error text. */
static const char *
open_fails(struct testq *t, const char *conf)
{
	if (testq_open(t, conf) != NULL)
		fail_msg("queue opened with \"%s\"", conf);
	note(t->err);
	return t->err;
}

static void
check_message(struct qs_queue *q, const char *id, const uint8_t *want,
    size_t len)
{
	uint8_t *got;
	size_t got_len;
	int rc;

	rc = testq_get(q, id, 100000, &got, &got_len);
	if (rc != QS_OK)
		fail_msg("message %s: %s", id, qs_error(q));
	assert_int_equal(got_len, len);
	if (len > 0)
		assert_memory_equal(got, want, len);
	free(got);
}

static void
check_envelope(struct qs_queue *q, const char *evpid, const void *want,
    size_t len)
{
	uint8_t back[ENV_SIZE + 64];
	size_t got = 0;
	int rc;

	rc = qs_env_load(q, evpid, back, sizeof(back), &got);
	if (rc != QS_OK)
		fail_msg("envelope %s: %s", evpid, qs_error(q));
	assert_int_equal(got, len);
	assert_memory_equal(back, want, len);
}

/* True when the stored blob of message msgid contains the name. */
static int
blob_names(struct testq *t, const char *msgid, const char *name)
{
	char path[1024];
	uint8_t *blob, field[64];
	size_t len;
	int found;

	/* names are stored as a length byte followed by the name */
	field[0] = (uint8_t)strlen(name);
	memcpy(field + 1, name, strlen(name));
	keytest_msg_path(t->qdir, msgid, path, sizeof(path));
	assert_int_equal(keytest_load(path, &blob, &len), 0);
	found = memmem(blob, len, field, strlen(name) + 1) != NULL;
	free(blob);
	return found;
}

/*
 * Writes messages of 0, 1 and BIG_SIZE bytes and an envelope under conf.
 * Checks that each blob names cipher, digest and, when conf has it, the
 * zlib layer. Reads everything back with conf, then again with only a
 * decryption line.
 */
static void
check_cipher(struct testq *t, const char *conf, const char *cipher,
    const char *digest, const uint8_t *data)
{
	static const size_t sizes[] = { 0, 1, BIG_SIZE };
	char ids[3][QS_ID_MAX], evpid[QS_ID_MAX];
	size_t i;
	int pass;

	OPEN(t, conf);
	for (i = 0; i < 3; i++) {
		assert_int_equal(testq_put(t->q, data, sizes[i], 65536, ids[i]),
		    QS_OK);
		if (!blob_names(t, ids[i], cipher))
			fail_msg("%s: blob does not name cipher %s", conf,
			    cipher);
		if (!blob_names(t, ids[i], digest))
			fail_msg("%s: blob does not name digest %s", conf,
			    digest);
		if (blob_names(t, ids[i], "compress-zlib") !=
		    (strstr(conf, "zlib") != NULL))
			fail_msg("%s: the blob's zlib layer does not match the "
			    "configuration", conf);
	}
	assert_int_equal(qs_env_create(t->q, ids[1], data + 7, ENV_SIZE,
	    evpid), QS_OK);
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1)
			OPEN(t, "queue decryption key-file \"%K\"");
		for (i = 0; i < 3; i++)
			check_message(t->q, ids[i], data, sizes[i]);
		check_envelope(t->q, evpid, data + 7, ENV_SIZE);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(qs_msg_delete(t->q, ids[i]), QS_OK);
}

static void
every_cipher_round_trips(void **state)
{
	struct testq *t = *state;
	uint8_t *data = malloc(BIG_SIZE);
	char conf[256];
	size_t c;
	int zlib;

	assert_non_null(data);
	testq_pattern(data, BIG_SIZE, 21);
	for (c = 0; c < NCIPHERS; c++) {
		for (zlib = 0; zlib < 2; zlib++) {
			snprintf(conf, sizeof(conf), "%squeue encryption "
			    "key-file \"%%K\" cipher %s",
			    zlib ? "queue compression zlib\n" : "", ciphers[c]);
			check_cipher(t, conf, ciphers[c], "sha256", data);
		}
	}
	check_cipher(t, "queue compression zlib\n"
	    "queue encryption key-file \"%K\" cipher aes-256-cbc "
	    "digest sha512", "aes-256-cbc", "sha512", data);
	free(data);
	assert_no_secret();
}

static void
passphrase_line_round_trips(void **state)
{
	static const char conf[] = "queue encryption key \"foobar\" "
	    "cipher aes-128-cbc digest sha512";
	struct testq *t = *state;
	uint8_t data[1000];
	char id[QS_ID_MAX], evpid[QS_ID_MAX];

	testq_pattern(data, sizeof(data), 4);
	OPEN(t, conf);
	assert_int_equal(testq_put(t->q, data, sizeof(data), 100, id), QS_OK);
	assert_int_equal(qs_env_create(t->q, id, "rcpt@example.org", 16,
	    evpid), QS_OK);
	check_message(t->q, id, data, sizeof(data));
	assert_true(blob_names(t, id, "aes-128-cbc"));
	assert_true(blob_names(t, id, "sha512"));
	OPEN(t, conf);
	check_message(t->q, id, data, sizeof(data));
	check_envelope(t->q, evpid, "rcpt@example.org", 16);
	testq_close(t);
	assert_false(testq_grep_tree(t->qdir, "foobar", 6));
	assert_no_secret();
}

/* Flips every byte of the file at path in turn; no read may succeed. */
static void
flip_every_byte(struct testq *t, const char *cipher, const char *path,
    const char *msgid, const char *evpid)
{
	uint8_t *blob, *got, back[256];
	size_t len, got_len, i;
	int rc;

	assert_int_equal(keytest_load(path, &blob, &len), 0);
	assert_true(len > 40);
	for (i = 0; i < len; i++) {
		blob[i] ^= 0x01;
		assert_int_equal(keytest_write(path, blob, len, 0600), 0);
		if (msgid != NULL) {
			rc = testq_get(t->q, msgid, 4096, &got, &got_len);
			free(got);
		} else {
			rc = qs_env_load(t->q, evpid, back, sizeof(back),
			    &got_len);
		}
		if (rc == QS_OK)
			fail_msg("%s: %s %s read successfully with byte %zu "
			    "of %zu changed", cipher, msgid ? "message" :
			    "envelope", msgid ? msgid : evpid, i, len);
		note(qs_error(t->q));
		blob[i] ^= 0x01;
	}
	assert_int_equal(keytest_write(path, blob, len, 0600), 0);
	free(blob);
}

static void
changed_byte_detected_every_cipher(void **state)
{
	static const char text[] = "Subject: forty bytes of message text..\n";
	struct testq *t = *state;
	char conf[256], id[QS_ID_MAX], evpid[QS_ID_MAX], path[1024];
	size_t c;

	for (c = 0; c < NCIPHERS; c++) {
		snprintf(conf, sizeof(conf), "queue encryption key-file "
		    "\"%%K\" cipher %s", ciphers[c]);
		OPEN(t, conf);
		assert_int_equal(testq_put(t->q, (const uint8_t *)text,
		    sizeof(text) - 1, 64, id), QS_OK);
		assert_int_equal(qs_env_create(t->q, id, text,
		    sizeof(text) - 1, evpid), QS_OK);
		keytest_msg_path(t->qdir, id, path, sizeof(path));
		flip_every_byte(t, ciphers[c], path, id, NULL);
		keytest_env_path(t->qdir, evpid, path, sizeof(path));
		flip_every_byte(t, ciphers[c], path, NULL, evpid);
		/* the restored blobs read again */
		check_message(t->q, id, (const uint8_t *)text,
		    sizeof(text) - 1);
		check_envelope(t->q, evpid, text, sizeof(text) - 1);
	}
	assert_no_secret();
}

/* Runs qstack -c conf check; it must fail with one line naming value. */
static void
check_command_rejects(struct testq *t, const char *line, const char *value)
{
	char conf[512], text[1024];
	char *argv[5], *out, *err;
	int status;

	snprintf(conf, sizeof(conf), "%s/bad.conf", t->dir);
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n%s\n",
	    t->qdir, line);
	assert_int_equal(keytest_write(conf, text, strlen(text), 0600), 0);
	argv[0] = (char *)keytest_qstack();
	argv[1] = "-c";
	argv[2] = conf;
	argv[3] = "check";
	argv[4] = NULL;
	status = keytest_run(argv, &out, &err);
	note(out);
	note(err);
	assert_true(status > 0);
	assert_int_equal(keytest_count_lines(err), 1);
	assert_non_null(strstr(err, value));
	assert_non_null(strstr(err, "bad.conf:2:"));
	assert_string_equal(out, "");
	free(out);
	free(err);
}

static void
unknown_cipher_or_digest_rejected(void **state)
{
	static const struct {
		const char *options;
		const char *value;
	} cases[] = {
		{ "cipher aes-999-gcm", "aes-999-gcm" },
		{ "cipher rot13", "rot13" },
		{ "digest md17", "md17" },
		{ "cipher aes-128-gcm digest md17", "md17" },
	};
	struct testq *t = *state;
	char line[512];
	const char *err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(line, sizeof(line), "queue encryption key-file "
		    "\"%s\" %s", t->keyfile, cases[i].options);
		err = open_fails(t, line);
		assert_non_null(strstr(err, cases[i].value));
		assert_non_null(strstr(err, "test.conf:2:"));
		assert_null(strchr(err, '\n'));
		check_command_rejects(t, line, cases[i].value);
	}
	assert_no_secret();
}

struct rekey_log {
	uint64_t progress_calls;
	uint64_t last_done;
	uint64_t last_total;
	uint64_t remaining_calls;
	char remaining_id[64];
	uint64_t remaining_count;
	uint64_t kill_at;         /* raise SIGKILL at this count; 0: never */
};

static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct rekey_log *log = arg;

	log->progress_calls++;
	log->last_done = done;
	log->last_total = total;
	if (log->kill_at != 0 && done == log->kill_at)
		raise(SIGKILL);
}

static void
on_remaining(void *arg, const char *key_id, uint64_t count)
{
	struct rekey_log *log = arg;

	log->remaining_calls++;
	snprintf(log->remaining_id, sizeof(log->remaining_id), "%s", key_id);
	log->remaining_count = count;
}

#define ROT_MSGS 3
#define ROT_ENVS 2

struct stored {
	char msgid[ROT_MSGS][QS_ID_MAX];
	char evpid[ROT_MSGS][ROT_ENVS][QS_ID_MAX];
	size_t size[ROT_MSGS];
};

static void
envelope_text(size_t m, size_t e, char *buf, size_t cap)
{
	snprintf(buf, cap, "rcpt-%zu-%zu@example.org", m, e);
}

static void
store_rotation_set(struct testq *t, struct stored *s, const uint8_t *data)
{
	static const size_t sizes[ROT_MSGS] = { 0, 10, 200000 };
	char text[64];
	size_t m, e;

	for (m = 0; m < ROT_MSGS; m++) {
		s->size[m] = sizes[m];
		assert_int_equal(testq_put(t->q, data, sizes[m], 7000,
		    s->msgid[m]), QS_OK);
		for (e = 0; e < ROT_ENVS; e++) {
			envelope_text(m, e, text, sizeof(text));
			assert_int_equal(qs_env_create(t->q, s->msgid[m], text,
			    strlen(text), s->evpid[m][e]), QS_OK);
		}
	}
}

static void
check_rotation_set(struct testq *t, const struct stored *s,
    const uint8_t *data)
{
	char text[64];
	size_t m, e;

	for (m = 0; m < ROT_MSGS; m++) {
		check_message(t->q, s->msgid[m], data, s->size[m]);
		for (e = 0; e < ROT_ENVS; e++) {
			envelope_text(m, e, text, sizeof(text));
			check_envelope(t->q, s->evpid[m][e], text,
			    strlen(text));
		}
	}
}

/* Every read of the set fails with QS_ERR_NOKEY naming key_id. */
static void
check_set_needs_key(struct testq *t, const struct stored *s,
    const char *key_id)
{
	uint8_t *got, back[64];
	size_t m, len;

	for (m = 0; m < ROT_MSGS; m++) {
		assert_int_equal(testq_get(t->q, s->msgid[m], 4096, &got,
		    &len), QS_ERR_NOKEY);
		free(got);
		note(qs_error(t->q));
		if (strstr(qs_error(t->q), key_id) == NULL)
			fail_msg("message error does not name key id %s: %s",
			    key_id, qs_error(t->q));
		assert_int_equal(qs_env_load(t->q, s->evpid[m][0], back,
		    sizeof(back), &len), QS_ERR_NOKEY);
		note(qs_error(t->q));
		if (strstr(qs_error(t->q), key_id) == NULL)
			fail_msg("envelope error does not name key id %s: %s",
			    key_id, qs_error(t->q));
	}
}

static void
blob_key_id(struct testq *t, const char *msgid, char *hex)
{
	char path[1024];

	keytest_msg_path(t->qdir, msgid, path, sizeof(path));
	assert_int_equal(keytest_blob_key_id(path, hex), 0);
	assert_int_equal(strlen(hex), 16);
	assert_int_equal(strspn(hex, "0123456789abcdef"), 16);
}

static void
rotation_leaves_only_new_key(void **state)
{
	struct testq *t = *state;
	const uint64_t total = ROT_MSGS + ROT_MSGS * ROT_ENVS;
	struct qs_rekey_stats st;
	struct rekey_log log;
	struct stored s;
	uint8_t data[200000];
	char id_a[17], id_b[17], id[17], probe[QS_ID_MAX];
	size_t m;

	testq_pattern(data, sizeof(data), 8);
	OPEN(t, "queue compression lz4\nqueue encryption key-file \"%K\"");
	store_rotation_set(t, &s, data);
	blob_key_id(t, s.msgid[0], id_a);

	/* before rekey, key B alone cannot read, and names key A's id */
	OPEN(t, "queue encryption key-file \"%L\"");
	assert_int_equal(testq_put(t->q, data, 5, 5, probe), QS_OK);
	blob_key_id(t, probe, id_b);
	assert_int_equal(qs_msg_delete(t->q, probe), QS_OK);
	assert_string_not_equal(id_a, id_b);
	check_set_needs_key(t, &s, id_a);

	OPEN(t, "queue encryption key-file \"%L\"\n"
	    "queue decryption key-file \"%K\"");
	memset(&log, 0, sizeof(log));
	if (qs_rekey(t->q, on_progress, on_remaining, &log, &st) != QS_OK)
		fail_msg("rekey: %s", qs_error(t->q));
	assert_int_equal(st.rekeyed, total);
	assert_int_equal(st.current, 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(log.remaining_calls, 0);
	assert_int_equal(log.progress_calls, total);
	assert_int_equal(log.last_done, total);
	assert_int_equal(log.last_total, total);
	for (m = 0; m < ROT_MSGS; m++) {
		blob_key_id(t, s.msgid[m], id);
		assert_string_equal(id, id_b);
	}

	/* a second run finds nothing to do */
	memset(&log, 0, sizeof(log));
	assert_int_equal(qs_rekey(t->q, on_progress, on_remaining, &log, &st),
	    QS_OK);
	assert_int_equal(st.rekeyed, 0);
	assert_int_equal(st.current, total);
	assert_int_equal(log.remaining_calls, 0);

	OPEN(t, "queue encryption key-file \"%L\"");
	check_rotation_set(t, &s, data);
	OPEN(t, "queue encryption key-file \"%K\"");
	check_set_needs_key(t, &s, id_b);
	assert_no_secret();
}

/* A blob under a key the configuration lacks is counted as remaining. */
static void
rekey_reports_remaining_keys(void **state)
{
	static const char key_c[] = "0123456789abcdef0123456789abcdef"
	    "0123456789abcdef0123456789abcdef\n";
	struct testq *t = *state;
	struct qs_rekey_stats st;
	struct rekey_log log;
	char conf[800], plain[QS_ID_MAX], under_a[QS_ID_MAX];
	char under_c[QS_ID_MAX], path[600], id_c[17];

	snprintf(path, sizeof(path), "%s/key3", t->dir);
	assert_int_equal(keytest_write(path, key_c, sizeof(key_c) - 1, 0600),
	    0);
	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"",
	    path);
	OPEN(t, conf);
	assert_int_equal(testq_put(t->q, (const uint8_t *)"c", 1, 1, under_c),
	    QS_OK);
	blob_key_id(t, under_c, id_c);
	OPEN(t, "queue encryption key-file \"%K\"");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"a", 1, 1, under_a),
	    QS_OK);
	OPEN(t, "");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"p", 1, 1, plain),
	    QS_OK);

	OPEN(t, "queue encryption key-file \"%L\"\n"
	    "queue decryption key-file \"%K\"");
	memset(&log, 0, sizeof(log));
	assert_int_equal(qs_rekey(t->q, on_progress, on_remaining, &log, &st),
	    QS_ERR_NOKEY);
	note(qs_error(t->q));
	assert_int_equal(st.rekeyed, 2);
	assert_int_equal(st.current, 0);
	assert_int_equal(st.failed, 1);
	assert_int_equal(log.remaining_calls, 1);
	assert_string_equal(log.remaining_id, id_c);
	assert_int_equal(log.remaining_count, 1);
	OPEN(t, "queue encryption key-file \"%L\"");
	check_message(t->q, under_a, (const uint8_t *)"a", 1);
	check_message(t->q, plain, (const uint8_t *)"p", 1);
	assert_no_secret();
}

#define KILL_MSGS 100
#define KILL_TOTAL (2 * KILL_MSGS)

/* Size and contents of message i of the interrupted-rekey queue. */
static size_t
kill_msg_size(size_t i)
{
	return i * 997 % 30000 + (i % 10 == 0 ? 70000 : 0);
}

static void
kill_env_text(size_t i, char *buf, size_t cap)
{
	snprintf(buf, cap, "envelope %zu of the interrupted rekey", i);
}

static void
check_kill_queue(struct testq *t, char (*msgid)[QS_ID_MAX],
    char (*evpid)[QS_ID_MAX], uint8_t *data)
{
	char text[64];
	size_t i;

	for (i = 0; i < KILL_MSGS; i++) {
		testq_pattern(data, kill_msg_size(i), (uint32_t)i);
		check_message(t->q, msgid[i], data, kill_msg_size(i));
		kill_env_text(i, text, sizeof(text));
		check_envelope(t->q, evpid[i], text, strlen(text));
	}
}

/* Runs qs_rekey in a child that kills itself after kill_at blobs. */
static void
rekey_killed_at(struct testq *t, uint64_t kill_at)
{
	struct rekey_log log;
	int status;
	pid_t pid;

	testq_close(t);
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		memset(&log, 0, sizeof(log));
		log.kill_at = kill_at;
		if (testq_open(t, "queue encryption key-file \"%L\"\n"
		    "queue decryption key-file \"%K\"") == NULL)
			_exit(2);
		qs_rekey(t->q, on_progress, NULL, &log, NULL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("rekey child exited with %d instead of being killed",
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void
interrupted_rekey_resumes(void **state)
{
	static const unsigned seeds[] = { 1, 7, 42, 1234, 99991 };
	const size_t nseeds = sizeof(seeds) / sizeof(seeds[0]);
	struct testq *t = *state;
	char (*msgid)[QS_ID_MAX] = calloc(KILL_MSGS, QS_ID_MAX);
	char (*evpid)[QS_ID_MAX] = calloc(KILL_MSGS, QS_ID_MAX);
	uint8_t *data = malloc(100000);
	struct qs_rekey_stats st;
	char text[64];
	size_t s, i;

	assert_non_null(msgid);
	assert_non_null(evpid);
	assert_non_null(data);
	for (s = 0; s < nseeds; s++) {
		unsigned seed = seeds[s];
		/* kill at a random point in slice s of nseeds equal slices */
		uint64_t slice = (KILL_TOTAL - 1) / nseeds;
		uint64_t kill_at = 1 + s * slice + (uint64_t)rand_r(&seed) %
		    slice;

		testq_close(t);
		snprintf(t->qdir, sizeof(t->qdir), "%s/q%zu", t->dir, s);
		OPEN(t, "queue compression\nqueue encryption key-file \"%K\"");
		for (i = 0; i < KILL_MSGS; i++) {
			testq_pattern(data, kill_msg_size(i), (uint32_t)i);
			assert_int_equal(testq_put(t->q, data,
			    kill_msg_size(i), 8192, msgid[i]), QS_OK);
			kill_env_text(i, text, sizeof(text));
			assert_int_equal(qs_env_create(t->q, msgid[i], text,
			    strlen(text), evpid[i]), QS_OK);
		}
		rekey_killed_at(t, kill_at);

		OPEN(t, "queue encryption key-file \"%L\"\n"
		    "queue decryption key-file \"%K\"");
		check_kill_queue(t, msgid, evpid, data);
		if (qs_rekey(t->q, NULL, NULL, NULL, &st) != QS_OK)
			fail_msg("seed %u: rekey after the kill at %llu: %s",
			    seeds[s], (unsigned long long)kill_at,
			    qs_error(t->q));
		assert_int_equal(st.current, kill_at);
		assert_int_equal(st.rekeyed, KILL_TOTAL - kill_at);
		assert_int_equal(st.failed, 0);

		OPEN(t, "queue encryption key-file \"%L\"");
		check_kill_queue(t, msgid, evpid, data);
	}
	free(msgid);
	free(evpid);
	free(data);
	assert_no_secret();
}

static void
key_file_mode_checked(void **state)
{
	static const mode_t refused[] = { 0644, 0640, 0604 };
	struct testq *t = *state;
	char path[600], conf[800];
	const char *err;
	size_t i;

	snprintf(path, sizeof(path), "%s/key-mode", t->dir);
	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"",
	    path);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(keytest_write(path, KEY_A_HEX KEY_A_HEX "\n",
		    65, refused[i]), 0);
		err = open_fails(t, conf);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, "chmod 600"));
		assert_non_null(strstr(err, "test.conf:2:"));
	}
	assert_int_equal(chmod(path, 0600), 0);
	OPEN(t, conf);
	assert_no_secret();
}

/* Writes one message under key file a and reads it under key file b. */
static void
check_same_key(struct testq *t, const char *a, const char *b)
{
	char conf[800], id[QS_ID_MAX], id_a[17], id_b[17], probe[QS_ID_MAX];

	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"", a);
	OPEN(t, conf);
	assert_int_equal(testq_put(t->q, (const uint8_t *)"same key", 8, 8,
	    id), QS_OK);
	blob_key_id(t, id, id_a);
	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"", b);
	OPEN(t, conf);
	check_message(t->q, id, (const uint8_t *)"same key", 8);
	assert_int_equal(testq_put(t->q, (const uint8_t *)"x", 1, 1, probe),
	    QS_OK);
	blob_key_id(t, probe, id_b);
	assert_string_equal(id_a, id_b);
}

static void
raw_and_hex_keys_match(void **state)
{
	static const char *const newlines[] = { "\n", "", "\r\n" };
	struct testq *t = *state;
	char raw_path[600], hex_path[600], upper_path[600];
	char hex[65], text[80];
	uint8_t raw[32];
	size_t i;

	make_raw_key(raw);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	snprintf(raw_path, sizeof(raw_path), "%s/key-raw", t->dir);
	snprintf(hex_path, sizeof(hex_path), "%s/key-hex", t->dir);
	snprintf(upper_path, sizeof(upper_path), "%s/key-upper", t->dir);
	assert_int_equal(keytest_write(raw_path, raw, 32, 0600), 0);
	for (i = 0; i < sizeof(newlines) / sizeof(newlines[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", hex, newlines[i]);
		assert_int_equal(keytest_write(hex_path, text, strlen(text),
		    0600), 0);
		check_same_key(t, raw_path, hex_path);
		check_same_key(t, hex_path, raw_path);
	}
	for (i = 0; i < 64; i++)
		text[i] = hex[i] >= 'a' ? (char)(hex[i] - 'a' + 'A') : hex[i];
	assert_int_equal(keytest_write(upper_path, text, 64, 0600), 0);
	check_same_key(t, upper_path, raw_path);
	assert_no_secret();
}

static void
passphrase_file_newline_rule(void **state)
{
	static const struct {
		const char *text;
		int same;
	} files[] = {
		{ "foobar\n", 1 },
		{ "foobar\r\n", 1 },
		{ "foobar", 1 },
		{ "foobar\n\n", 0 },
		{ "foobar\r", 0 },
	};
	struct testq *t = *state;
	char path[600], conf[800], id[QS_ID_MAX];
	uint8_t *got;
	size_t i, len;
	int rc;

	OPEN(t, "queue encryption key \"foobar\"");
	assert_int_equal(testq_put(t->q, (const uint8_t *)"pass", 4, 4, id),
	    QS_OK);
	snprintf(path, sizeof(path), "%s/key-pass", t->dir);
	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"",
	    path);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		assert_int_equal(keytest_write(path, files[i].text,
		    strlen(files[i].text), 0600), 0);
		OPEN(t, conf);
		rc = testq_get(t->q, id, 100, &got, &len);
		note(qs_error(t->q));
		if (files[i].same && rc != QS_OK)
			fail_msg("key file %zu does not read the message: %s",
			    i, qs_error(t->q));
		if (!files[i].same && rc != QS_ERR_NOKEY)
			fail_msg("key file %zu: status %d instead of %d", i,
			    rc, QS_ERR_NOKEY);
		if (files[i].same) {
			assert_int_equal(len, 4);
			assert_memory_equal(got, "pass", 4);
		}
		free(got);
	}
	assert_no_secret();
}

static void
empty_key_file_rejected(void **state)
{
	static const char *const contents[] = { "", "\n", "\r\n" };
	struct testq *t = *state;
	char path[600], conf[800];
	const char *err;
	size_t i;

	snprintf(path, sizeof(path), "%s/key-empty", t->dir);
	snprintf(conf, sizeof(conf), "queue encryption key-file \"%s\"",
	    path);
	for (i = 0; i < sizeof(contents) / sizeof(contents[0]); i++) {
		assert_int_equal(keytest_write(path, contents[i],
		    strlen(contents[i]), 0600), 0);
		err = open_fails(t, conf);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, "empty"));
		assert_non_null(strstr(err, "test.conf:2:"));
	}
	assert_no_secret();
}

/*
 * Child side of the standard input test: opens the queue with key -,
 * stores one message and writes "ok MSGID" or "error TEXT" to fd.
 */
static void
stdin_child(struct testq *t, int fd)
{
	char line[700], id[QS_ID_MAX];
	int rc = QS_ERR_INVALID;

	if (testq_open(t, "queue encryption key -") == NULL) {
		snprintf(line, sizeof(line), "error %s", t->err);
	} else {
		rc = testq_put(t->q, (const uint8_t *)"from stdin", 10, 10,
		    id);
		if (rc == QS_OK)
			snprintf(line, sizeof(line), "ok %s", id);
		else
			snprintf(line, sizeof(line), "error %s",
			    qs_error(t->q));
		testq_close(t);
	}
	if (write(fd, line, strlen(line)) < 0)
		_exit(4);
	_exit(rc == QS_OK ? 0 : 1);
}

/* Runs stdin_child with input on its standard input; returns its line. */
static int
run_stdin_child(struct testq *t, const char *input, char *line,
    size_t cap)
{
	int in[2], out[2], status;
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	testq_close(t);
	fflush(NULL);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		close(in[1]);
		close(out[0]);
		if (dup2(in[0], STDIN_FILENO) == -1)
			_exit(5);
		close(in[0]);
		stdin_child(t, out[1]);
	}
	close(in[0]);
	close(out[1]);
	assert_int_equal(write(in[1], input, strlen(input)),
	    (ssize_t)strlen(input));
	close(in[1]);
	while ((n = read(out[0], line + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	line[len] = '\0';
	close(out[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	note(line);
	return WEXITSTATUS(status);
}

static void
stdin_key_matches_passphrase(void **state)
{
	struct testq *t = *state;
	char line[700];

	if (run_stdin_child(t, STDIN_PASSPHRASE "\n", line, sizeof(line)) != 0)
		fail_msg("child with key -: %s", line);
	assert_int_equal(strncmp(line, "ok ", 3), 0);
	assert_int_equal(strlen(line + 3), 16);
	OPEN(t, "queue encryption key \"" STDIN_PASSPHRASE "\"");
	check_message(t->q, line + 3, (const uint8_t *)"from stdin", 10);

	/* empty standard input is refused */
	assert_int_equal(run_stdin_child(t, "", line, sizeof(line)), 1);
	assert_int_equal(strncmp(line, "error ", 6), 0);
	assert_non_null(strstr(line, "standard input"));
	assert_non_null(strstr(line, "test.conf:2:"));
	assert_no_secret();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_cipher_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(passphrase_line_round_trips,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    changed_byte_detected_every_cipher, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    unknown_cipher_or_digest_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(rotation_leaves_only_new_key,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(rekey_reports_remaining_keys,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(interrupted_rekey_resumes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(key_file_mode_checked, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(raw_and_hex_keys_match, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(passphrase_file_newline_rule,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(empty_key_file_rejected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(stdin_key_matches_passphrase,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
