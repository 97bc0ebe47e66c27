/*
 * qs_fsck and qstack fsck on real queues: a clean queue, every problem
 * category, quarantine, the JSON output and exit status of the command,
 * and queue limits on writing, reading and in the configuration.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

#define CONF_A "queue compression zlib\nqueue encryption key-file \"%K\""
#define CONF_B "queue compression zlib\nqueue encryption key-file \"%L\""
#define CONF_LZ4 "queue compression lz4\nqueue encryption key-file \"%K\""

#define BIG_ZEROS (5 * 1024 * 1024)
#define ITEMS_MAX 64

struct seen_item {
	char id[QS_ID_MAX];
	uint32_t kind;
	uint32_t problem;
	int status;
	char detail[512];          /* empty when the item had none */
	char quarantined[1024];    /* empty when the blob was not moved */
	int count;                 /* times fn reported this id */
};

/* Everything the qs_fsck callback reported. */
struct seen {
	struct seen_item items[ITEMS_MAX];
	size_t n;
};

struct fixture {
	struct testq t;
	char *plugin_env;          /* QSTACK_PLUGIN_PATH at setup, or NULL */
	char marker[64];           /* text only message contents contain */
	time_t start;
};

static int
setup(void **state)
{
	static unsigned serial;
	struct fixture *f = calloc(1, sizeof(*f));
	const char *env = getenv("QSTACK_PLUGIN_PATH");

	testq_setup(&f->t);
	f->plugin_env = env != NULL ? strdup(env) : NULL;
	/* built at run time, so no file contains it before the test */
	snprintf(f->marker, sizeof(f->marker), "fsck-marker-%ld-%lx-%u",
	    (long)getpid(), (unsigned long)time(NULL) * 2654435761u,
	    serial++);
	f->start = time(NULL);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testq_teardown(&f->t);
	if (f->plugin_env != NULL)
		setenv("QSTACK_PLUGIN_PATH", f->plugin_env, 1);
	free(f->plugin_env);
	free(f);
	return 0;
}

static void
collect_item(void *arg, const struct qs_fsck_item *item)
{
	struct seen *s = arg;
	struct seen_item *it;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->items[i].id, item->id) == 0) {
			s->items[i].count++;
			return;
		}
	if (s->n == ITEMS_MAX)
		return;
	it = &s->items[s->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->id, sizeof(it->id), "%s", item->id);
	it->kind = item->kind;
	it->problem = item->problem;
	it->status = item->status;
	if (item->detail != NULL)
		snprintf(it->detail, sizeof(it->detail), "%s", item->detail);
	if (item->quarantined != NULL)
		snprintf(it->quarantined, sizeof(it->quarantined), "%s",
		    item->quarantined);
	it->count = 1;
}

static const struct seen_item *
find_item(const struct seen *s, const char *id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->items[i].id, id) == 0)
			return &s->items[i];
	return NULL;
}

static int
count_one(void *arg, const char *id)
{
	(void)id;
	(*(size_t *)arg)++;
	return 0;
}

static size_t
message_count(struct qs_queue *q)
{
	size_t n = 0;

	assert_int_equal(qs_msg_walk(q, count_one, &n), QS_OK);
	return n;
}

/* Stores a message holding marker, with nenv envelopes. */
static void
put_message(struct testq *t, const char *marker, size_t size, int nenv,
    char *msgid, char *evpid)
{
	uint8_t *data = malloc(size);
	char text[128];
	int i;

	assert_non_null(data);
	testq_pattern(data, size, (uint32_t)size);
	memcpy(data + size / 2, marker, strlen(marker));
	assert_int_equal(testq_put(t->q, data, size, 4096, msgid), QS_OK);
	free(data);
	for (i = 0; i < nenv; i++) {
		snprintf(text, sizeof(text), "rcpt%d@example.org %s", i,
		    marker);
		assert_int_equal(qs_env_create(t->q, msgid, text, strlen(text),
		    evpid), QS_OK);
	}
}

static void
flip_byte(const char *path, double where)
{
	uint8_t *blob;
	size_t len;

	assert_int_equal(keytest_load(path, &blob, &len), 0);
	blob[(size_t)(len * where)] ^= 0x01;
	assert_int_equal(keytest_write(path, blob, len, 0600), 0);
	free(blob);
}

static void
cut_blob(const char *path, size_t cut)
{
	uint8_t *blob;
	size_t len;

	assert_int_equal(keytest_load(path, &blob, &len), 0);
	assert_true(len > cut);
	assert_int_equal(keytest_write(path, blob, len - cut, 0600), 0);
	free(blob);
}

/* Ids of the damaged queue. Each *_env is the envelope of that message. */
struct damaged {
	char good[QS_ID_MAX], good_env[QS_ID_MAX];
	char corrupt[QS_ID_MAX], corrupt_env[QS_ID_MAX];
	char env_corrupt[QS_ID_MAX], env_corrupt_env[QS_ID_MAX];
	char truncated[QS_ID_MAX], truncated_env[QS_ID_MAX];
	char orphan[QS_ID_MAX], orphan_env[QS_ID_MAX];
	char lonely[QS_ID_MAX];
	char other_key[QS_ID_MAX], other_key_env[QS_ID_MAX];
	char lz4[QS_ID_MAX], lz4_env[QS_ID_MAX];
	char key_b_id[17];
	char conf[1024];           /* configuration for reading it */
};

/*
 * Builds a queue with one blob per problem category and prepares a
 * configuration that reads it with a plugin directory lacking lz4.
 * Leaves QSTACK_PLUGIN_PATH unset, because it overrides plugin-path.
 */
static void
build_damaged(struct fixture *f, struct damaged *d)
{
	struct testq *t = &f->t;
	char path[1024], plugins[600], evpid[QS_ID_MAX];
	const char *src = getenv("QSTACK_PLUGIN_PATH");

	assert_non_null(src);
	snprintf(plugins, sizeof(plugins), "%s/plugins", t->dir);
	assert_int_equal(keytest_copy_dir(src, plugins, "compress-lz4.so"), 0);

	OPEN(t, CONF_A);
	put_message(t, f->marker, 3000, 1, d->good, d->good_env);
	put_message(t, f->marker, 3000, 1, d->corrupt, d->corrupt_env);
	put_message(t, f->marker, 3000, 1, d->env_corrupt,
	    d->env_corrupt_env);
	put_message(t, f->marker, 100000, 1, d->truncated, d->truncated_env);
	put_message(t, f->marker, 3000, 1, d->orphan, d->orphan_env);
	put_message(t, f->marker, 3000, 0, d->lonely, evpid);
	OPEN(t, CONF_B);
	put_message(t, f->marker, 3000, 1, d->other_key, d->other_key_env);
	keytest_msg_path(t->qdir, d->other_key, path, sizeof(path));
	assert_int_equal(keytest_blob_key_id(path, d->key_b_id), 0);
	OPEN(t, CONF_LZ4);
	put_message(t, f->marker, 3000, 1, d->lz4, d->lz4_env);
	testq_close(t);

	keytest_msg_path(t->qdir, d->corrupt, path, sizeof(path));
	flip_byte(path, 0.5);
	keytest_env_path(t->qdir, d->env_corrupt_env, path, sizeof(path));
	flip_byte(path, 0.7);
	keytest_msg_path(t->qdir, d->truncated, path, sizeof(path));
	cut_blob(path, 100);
	keytest_msg_path(t->qdir, d->orphan, path, sizeof(path));
	assert_int_equal(unlink(path), 0);

	snprintf(d->conf, sizeof(d->conf), "plugin-path \"%s\"\n%s", plugins,
	    CONF_A);
	unsetenv("QSTACK_PLUGIN_PATH");
}

struct expect {
	const char *id;
	uint32_t kind;
	uint32_t problem;
};

/* What qs_fsck reports on the damaged queue without quarantine. */
static size_t
damaged_expect(const struct damaged *d, struct expect *e)
{
	const struct expect all[] = {
		{ d->good, QS_BLOB_MESSAGE, QS_PROBLEM_NONE },
		{ d->good_env, QS_BLOB_ENVELOPE, QS_PROBLEM_NONE },
		{ d->corrupt, QS_BLOB_MESSAGE, QS_PROBLEM_CORRUPT },
		{ d->corrupt_env, QS_BLOB_ENVELOPE, QS_PROBLEM_NONE },
		{ d->env_corrupt, QS_BLOB_MESSAGE, QS_PROBLEM_NONE },
		{ d->env_corrupt_env, QS_BLOB_ENVELOPE, QS_PROBLEM_CORRUPT },
		{ d->truncated, QS_BLOB_MESSAGE, QS_PROBLEM_TRUNCATED },
		{ d->truncated_env, QS_BLOB_ENVELOPE, QS_PROBLEM_NONE },
		{ d->orphan_env, QS_BLOB_ENVELOPE,
		    QS_PROBLEM_ORPHAN_ENVELOPE },
		{ d->lonely, QS_BLOB_MESSAGE, QS_PROBLEM_NO_ENVELOPES },
		{ d->other_key, QS_BLOB_MESSAGE, QS_PROBLEM_UNKNOWN_KEY },
		{ d->other_key_env, QS_BLOB_ENVELOPE,
		    QS_PROBLEM_UNKNOWN_KEY },
		{ d->lz4, QS_BLOB_MESSAGE, QS_PROBLEM_MISSING_MODULE },
		{ d->lz4_env, QS_BLOB_ENVELOPE, QS_PROBLEM_MISSING_MODULE },
	};

	memcpy(e, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

/* True for the problems fsck --quarantine moves aside. */
static int
moved_by_quarantine(uint32_t problem)
{
	return problem == QS_PROBLEM_CORRUPT ||
	    problem == QS_PROBLEM_TRUNCATED ||
	    problem == QS_PROBLEM_ORPHAN_ENVELOPE;
}

/* Counts the blobs of e that fsck --quarantine moves aside. */
static size_t
moved_count(const struct expect *e, size_t n)
{
	size_t i, moved = 0;

	for (i = 0; i < n; i++)
		moved += moved_by_quarantine(e[i].problem);
	return moved;
}

static size_t
bad_count(const struct expect *e, size_t n)
{
	size_t i, bad = 0;

	for (i = 0; i < n; i++)
		bad += e[i].problem != QS_PROBLEM_NONE;
	return bad;
}

/* Checks that s reports exactly the blobs of e, each once, as expected. */
static void
check_items(const struct seen *s, const struct expect *e, size_t n)
{
	const struct seen_item *it;
	size_t i;

	assert_int_equal(s->n, n);
	for (i = 0; i < n; i++) {
		if ((it = find_item(s, e[i].id)) == NULL)
			fail_msg("fsck did not report %s (expected %s)",
			    e[i].id, qs_problem_name(e[i].problem));
		if (it->problem != e[i].problem)
			fail_msg("%s: reported %s, expected %s (%s)", e[i].id,
			    qs_problem_name(it->problem),
			    qs_problem_name(e[i].problem), it->detail);
		assert_int_equal(it->kind, e[i].kind);
		assert_int_equal(it->count, 1);
		if (e[i].problem == QS_PROBLEM_NONE) {
			assert_int_equal(it->status, QS_OK);
			assert_string_equal(it->detail, "");
		} else {
			assert_string_not_equal(it->detail, "");
			assert_null(strchr(it->detail, '\n'));
		}
	}
}

static void
clean_queue_passes(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	char msgid[3][QS_ID_MAX], evpid[6][QS_ID_MAX];
	struct expect e[9];
	struct qs_fsck_stats st;
	struct seen s = { .n = 0 };
	size_t i;

	OPEN(t, CONF_A);
	for (i = 0; i < 3; i++) {
		put_message(t, f->marker, 1000 + i * 70000, 1, msgid[i],
		    evpid[2 * i]);
		assert_int_equal(qs_env_create(t->q, msgid[i], "second", 6,
		    evpid[2 * i + 1]), QS_OK);
	}
	for (i = 0; i < 3; i++)
		e[i] = (struct expect){ msgid[i], QS_BLOB_MESSAGE,
		    QS_PROBLEM_NONE };
	for (i = 0; i < 6; i++)
		e[3 + i] = (struct expect){ evpid[i], QS_BLOB_ENVELOPE,
		    QS_PROBLEM_NONE };
	memset(&st, 0xff, sizeof(st));
	assert_int_equal(qs_fsck(t->q, 0, collect_item, &s, &st), QS_OK);
	assert_int_equal(st.messages, 3);
	assert_int_equal(st.envelopes, 6);
	assert_int_equal(st.bad, 0);
	assert_int_equal(st.quarantined, 0);
	check_items(&s, e, 9);
	for (i = 0; i < s.n; i++)
		assert_string_equal(s.items[i].quarantined, "");
	/* callback and stats are optional */
	assert_int_equal(qs_fsck(t->q, 0, NULL, NULL, NULL), QS_OK);
	assert_int_equal(qs_fsck(t->q, QS_FSCK_QUARANTINE, NULL, NULL, NULL),
	    QS_OK);
}

static void
every_problem_reported(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	struct damaged d;
	struct expect e[16];
	struct qs_fsck_stats st;
	struct seen s = { .n = 0 };
	const struct seen_item *it;
	size_t n;

	build_damaged(f, &d);
	n = damaged_expect(&d, e);
	/* opening never fails because of a bad blob */
	if (testq_open(t, d.conf) == NULL)
		fail_msg("damaged queue does not open: %s", t->err);
	assert_int_equal(qs_fsck(t->q, 0, collect_item, &s, &st),
	    QS_ERR_CORRUPT);
	assert_non_null(strstr(qs_error(t->q), "bad"));
	assert_int_equal(st.messages, 7);
	assert_int_equal(st.envelopes, 7);
	assert_int_equal(st.bad, bad_count(e, n));
	assert_int_equal(st.quarantined, 0);
	check_items(&s, e, n);

	it = find_item(&s, d.truncated);
	assert_int_equal(it->status, QS_ERR_TRUNCATED);
	it = find_item(&s, d.other_key);
	assert_int_equal(it->status, QS_ERR_NOKEY);
	assert_non_null(strstr(it->detail, d.key_b_id));
	it = find_item(&s, d.lz4);
	assert_non_null(strstr(it->detail, "compress-lz4"));
	it = find_item(&s, d.orphan_env);
	assert_non_null(strstr(it->detail, d.orphan));
	/* nothing was moved without QS_FSCK_QUARANTINE */
	assert_int_equal(access(t->qdir, F_OK), 0);
	{
		char qdir[600];

		snprintf(qdir, sizeof(qdir), "%s/quarantine", t->qdir);
		assert_int_not_equal(access(qdir, F_OK), 0);
	}
}

/*
 * Returns what the quarantine run reports. Moving a message first makes
 * its sound envelope an orphan.
 */
static size_t
quarantine_expect(const struct damaged *d, struct expect *e)
{
	size_t i, n = damaged_expect(d, e);

	for (i = 0; i < n; i++)
		if (e[i].id == d->corrupt_env || e[i].id == d->truncated_env)
			e[i].problem = QS_PROBLEM_ORPHAN_ENVELOPE;
	return n;
}

static void
check_message_marker(struct testq *t, const char *id, const char *marker)
{
	uint8_t *data;
	size_t len;

	if (testq_get(t->q, id, 65536, &data, &len) != QS_OK)
		fail_msg("message %s: %s", id, qs_error(t->q));
	assert_int_equal(len, 3000);
	assert_non_null(memmem(data, len, marker, strlen(marker)));
	free(data);
}

/* Fails when the marker is in a file of the test or of /tmp. */
static void
assert_no_plaintext(struct fixture *f)
{
	const char *tmpdir = getenv("TMPDIR");
	size_t len = strlen(f->marker);

	assert_false(testq_grep_tree(f->t.dir, f->marker, len));
	assert_false(keytest_grep_since("/tmp", f->marker, len, f->start));
	if (tmpdir != NULL && tmpdir[0] != '\0')
		assert_false(keytest_grep_since(tmpdir, f->marker, len,
		    f->start));
}

static void
quarantine_moves_bad_blobs(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	struct damaged d;
	struct expect e[16];
	struct qs_fsck_stats st;
	struct seen s = { .n = 0 }, again = { .n = 0 };
	char prefix[600], evpid[QS_ID_MAX], env[256];
	const struct seen_item *it;
	struct stat sb;
	size_t i, n;

	build_damaged(f, &d);
	n = quarantine_expect(&d, e);
	OPEN(t, d.conf);
	assert_int_equal(qs_fsck(t->q, QS_FSCK_QUARANTINE, collect_item, &s,
	    &st), QS_ERR_CORRUPT);
	check_items(&s, e, n);
	assert_int_equal(st.bad, bad_count(e, n));
	/*
	 * Sound messages without envelopes, and blobs that only need a key
	 * or a module, stay where they are.
	 */
	assert_int_equal(st.quarantined, moved_count(e, n));
	assert_int_equal(st.quarantined, 6);
	snprintf(prefix, sizeof(prefix), "%s/quarantine/", t->qdir);
	for (i = 0; i < n; i++) {
		it = find_item(&s, e[i].id);
		if (!moved_by_quarantine(e[i].problem)) {
			assert_string_equal(it->quarantined, "");
			continue;
		}
		if (strncmp(it->quarantined, prefix, strlen(prefix)) != 0)
			fail_msg("%s was moved to \"%s\", not under %s",
			    e[i].id, it->quarantined, prefix);
		assert_int_equal(stat(it->quarantined, &sb), 0);
		assert_true(S_ISREG(sb.st_mode));
	}

	/* the good blobs stay readable */
	check_message_marker(t, d.good, f->marker);
	check_message_marker(t, d.env_corrupt, f->marker);
	assert_int_equal(qs_env_load(t->q, d.good_env, env, sizeof(env), &i),
	    QS_OK);
	assert_non_null(memmem(env, i, f->marker, strlen(f->marker)));

	/*
	 * A second run reports the messages without envelopes (the one
	 * stored so and the one whose only envelope was moved) and the
	 * blobs that need another key or the missing module.
	 */
	assert_int_equal(qs_fsck(t->q, QS_FSCK_QUARANTINE, collect_item,
	    &again, &st), QS_ERR_CORRUPT);
	assert_int_equal(st.bad, 6);
	assert_int_equal(st.quarantined, 0);
	assert_int_equal(st.messages, 5);
	assert_int_equal(st.envelopes, 3);
	assert_int_equal(again.n, 8);
	it = find_item(&again, d.lonely);
	assert_non_null(it);
	assert_int_equal(it->problem, QS_PROBLEM_NO_ENVELOPES);
	it = find_item(&again, d.env_corrupt);
	assert_non_null(it);
	assert_int_equal(it->problem, QS_PROBLEM_NO_ENVELOPES);
	for (i = 0; i < n; i++)
		if (moved_by_quarantine(e[i].problem) &&
		    find_item(&again, e[i].id) != NULL)
			fail_msg("second fsck still reports moved blob %s",
			    e[i].id);

	/* giving those messages an envelope leaves the key and module */
	assert_int_equal(qs_env_create(t->q, d.lonely, "rcpt", 4, evpid),
	    QS_OK);
	assert_int_equal(qs_env_create(t->q, d.env_corrupt, "rcpt", 4,
	    evpid), QS_OK);
	assert_int_equal(qs_fsck(t->q, 0, NULL, NULL, &st), QS_ERR_CORRUPT);
	assert_int_equal(st.bad, 4);
	testq_close(t);
	assert_no_plaintext(f);
}

/* The marker search finds plaintext that an unencrypted queue stores. */
static void
plaintext_search_finds_marker(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	char msgid[QS_ID_MAX], evpid[QS_ID_MAX];

	OPEN(t, "");
	put_message(t, f->marker, 3000, 1, msgid, evpid);
	assert_int_equal(qs_fsck(t->q, 0, NULL, NULL, NULL), QS_OK);
	testq_close(t);
	assert_true(testq_grep_tree(t->dir, f->marker, strlen(f->marker)));
	assert_true(keytest_grep_since("/tmp", f->marker, strlen(f->marker),
	    f->start));
}

/* Writes the configuration file for the command and returns its path. */
static const char *
write_conf(struct testq *t, const char *extra)
{
	static char path[600];
	char text[2048];

	snprintf(path, sizeof(path), "%s/qstack.conf", t->dir);
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n",
	    t->qdir);
	for (; *extra != '\0'; extra++) {
		size_t n = strlen(text);

		if (extra[0] == '%' && extra[1] == 'K') {
			snprintf(text + n, sizeof(text) - n, "%s", t->keyfile);
			extra++;
		} else if (n + 1 < sizeof(text)) {
			text[n] = *extra;
			text[n + 1] = '\0';
		}
	}
	strncat(text, "\n", sizeof(text) - strlen(text) - 1);
	assert_int_equal(keytest_write(path, text, strlen(text), 0600), 0);
	return path;
}

/*
 * Parses each line of out as JSON with python3 and returns one line per
 * object: "KIND ID PROBLEM moved|kept" for a blob and "summary MESSAGES
 * ENVELOPES BAD QUARANTINED" for the summary.
 */
static char *
parse_json_lines(struct testq *t, const char *out)
{
	static const char script[] =
	    "import json, sys\n"
	    "for line in open(sys.argv[1]):\n"
	    "    o = json.loads(line)\n"
	    "    assert isinstance(o, dict)\n"
	    "    if o.get('summary'):\n"
	    "        print('summary', o['messages'], o['envelopes'],"
	    " o['bad'], o['quarantined'])\n"
	    "    else:\n"
	    "        moved = 'moved' if o['quarantined'] else 'kept'\n"
	    "        print(o['kind'], o['id'], o['problem'], moved)\n";
	char path[600], *argv[5], *parsed, *err;

	snprintf(path, sizeof(path), "%s/fsck.json", t->dir);
	assert_int_equal(keytest_write(path, out, strlen(out), 0600), 0);
	argv[0] = "python3";
	argv[1] = "-c";
	argv[2] = (char *)script;
	argv[3] = path;
	argv[4] = NULL;
	if (keytest_run(argv, &parsed, &err) != 0)
		fail_msg("output is not one JSON object per line: %s", err);
	free(err);
	return parsed;
}

/*
 * Runs qstack -c conf fsck --json, with --quarantine when quarantine is
 * set, and returns the exit status and the parsed output lines.
 */
static int
run_fsck_json(struct testq *t, const char *conf, int quarantine,
    char **parsed, size_t *lines)
{
	char *argv[] = { (char *)keytest_qstack(), "-c", (char *)conf,
	    "fsck", "--json", quarantine ? "--quarantine" : NULL, NULL };
	char *out, *err;
	int status;

	status = keytest_run(argv, &out, &err);
	assert_true(status >= 0);
	if (status != 0)
		assert_string_not_equal(err, "");
	*lines = keytest_count_lines(out);
	*parsed = parse_json_lines(t, out);
	free(out);
	free(err);
	return status;
}

/* Fails unless parsed has a line for every bad blob of e. */
static void
check_json_blobs(const char *parsed, const struct expect *e, size_t n,
    int quarantine)
{
	char line[256];
	const char *moved;
	size_t i;

	for (i = 0; i < n; i++) {
		if (e[i].problem == QS_PROBLEM_NONE)
			continue;
		moved = quarantine && moved_by_quarantine(e[i].problem) ?
		    "moved" : "kept";
		snprintf(line, sizeof(line), "%s %s %s %s\n",
		    e[i].kind == QS_BLOB_MESSAGE ? "message" : "envelope",
		    e[i].id, qs_problem_name(e[i].problem), moved);
		if (strstr(parsed, line) == NULL)
			fail_msg("fsck --json lacks \"%.*s\"; it printed:\n%s",
			    (int)strlen(line) - 1, line, parsed);
	}
}

static void
command_reports_json(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	struct damaged d;
	struct expect e[16];
	char summary[128], *parsed;
	const char *conf;
	size_t n, lines, bad;
	int status;

	/* clean: only the summary, exit status 0 */
	OPEN(t, CONF_A);
	put_message(t, f->marker, 3000, 1, d.good, d.good_env);
	testq_close(t);
	conf = write_conf(t, CONF_A);
	status = run_fsck_json(t, conf, 0, &parsed, &lines);
	assert_int_equal(status, 0);
	assert_int_equal(lines, 1);
	assert_string_equal(parsed, "summary 1 1 0 0\n");
	free(parsed);
	OPEN(t, CONF_A);
	assert_int_equal(qs_msg_delete(t->q, d.good), QS_OK);
	testq_close(t);

	/* damaged: one line per bad blob, then the summary */
	build_damaged(f, &d);
	n = damaged_expect(&d, e);
	bad = bad_count(e, n);
	conf = write_conf(t, d.conf);
	status = run_fsck_json(t, conf, 0, &parsed, &lines);
	assert_true(status > 0);
	assert_int_equal(lines, bad + 1);
	check_json_blobs(parsed, e, n, 0);
	snprintf(summary, sizeof(summary), "summary 7 7 %zu 0\n", bad);
	assert_non_null(strstr(parsed, summary));
	free(parsed);

	/* --quarantine moves the damaged blobs and the orphan envelopes */
	n = quarantine_expect(&d, e);
	bad = bad_count(e, n);
	status = run_fsck_json(t, conf, 1, &parsed, &lines);
	assert_true(status > 0);
	assert_int_equal(lines, bad + 1);
	check_json_blobs(parsed, e, n, 1);
	snprintf(summary, sizeof(summary), "summary 7 7 %zu %zu\n", bad,
	    moved_count(e, n));
	assert_non_null(strstr(parsed, summary));
	free(parsed);
}

static void
max_message_size_enforced(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	struct qs_msg_writer *w;
	uint8_t data[1001];
	char id[QS_ID_MAX];
	uint8_t *back;
	size_t len;

	memset(data, 'm', sizeof(data));
	OPEN(t, "queue compression\nqueue limits max-message-size 1000");
	assert_int_equal(testq_put(t->q, data, 1000, 1000, id), QS_OK);
	assert_int_equal(message_count(t->q), 1);
	assert_int_equal(testq_get(t->q, id, 4096, &back, &len), QS_OK);
	assert_int_equal(len, 1000);
	free(back);

	assert_int_equal(testq_put(t->q, data, 1001, 1001, id), QS_ERR_LIMIT);
	assert_non_null(strstr(qs_error(t->q), "max-message-size"));
	assert_int_equal(message_count(t->q), 1);

	/* the last of several writes crosses the limit */
	assert_int_equal(qs_msg_create(t->q, &w), QS_OK);
	assert_int_equal(qs_msg_write(w, data, 600), QS_OK);
	assert_int_equal(qs_msg_write(w, data, 400), QS_OK);
	assert_int_equal(qs_msg_write(w, data, 1), QS_ERR_LIMIT);
	assert_int_equal(qs_msg_commit(w, NULL), QS_ERR_LIMIT);
	assert_int_equal(message_count(t->q), 1);
}

static void
max_ratio_enforced_at_commit(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	struct qs_msg_writer *w;
	uint8_t *zeros = calloc(1, BIG_ZEROS);
	size_t off;

	assert_non_null(zeros);
	OPEN(t, "queue compression zlib\nqueue limits max-ratio 2");
	assert_int_equal(qs_msg_create(t->q, &w), QS_OK);
	for (off = 0; off < BIG_ZEROS; off += 65536)
		assert_int_equal(qs_msg_write(w, zeros + off, 65536), QS_OK);
	assert_int_equal(qs_msg_commit(w, NULL), QS_ERR_LIMIT);
	assert_non_null(strstr(qs_error(t->q), "max-ratio"));
	assert_int_equal(message_count(t->q), 0);
	free(zeros);
}

static void
lowered_ratio_blocks_reading(void **state)
{
	struct fixture *f = *state;
	struct testq *t = &f->t;
	uint8_t *zeros = calloc(1, BIG_ZEROS), *back;
	struct qs_fsck_stats st;
	struct seen s = { .n = 0 };
	char id[QS_ID_MAX], evpid[QS_ID_MAX], err[512];
	size_t len;

	assert_non_null(zeros);
	OPEN(t, "queue compression zlib");
	assert_int_equal(testq_put(t->q, zeros, BIG_ZEROS, 65536, id), QS_OK);
	assert_int_equal(qs_env_create(t->q, id, "rcpt", 4, evpid), QS_OK);

	OPEN(t, "queue compression zlib\nqueue limits max-ratio 2");
	assert_int_equal(testq_get(t->q, id, 65536, &back, &len),
	    QS_ERR_LIMIT);
	free(back);
	assert_non_null(strstr(qs_error(t->q), id));
	assert_non_null(strstr(qs_error(t->q), "max-ratio"));
	snprintf(err, sizeof(err), "%s", qs_error(t->q));
	assert_int_equal(qs_fsck(t->q, 0, collect_item, &s, &st),
	    QS_ERR_CORRUPT);
	assert_int_equal(find_item(&s, id)->problem, QS_PROBLEM_UNREADABLE);
	assert_int_equal(find_item(&s, id)->status, QS_ERR_LIMIT);

	/* nothing was lost: the default limits read it again */
	OPEN(t, "queue compression zlib");
	assert_int_equal(testq_get(t->q, id, 65536, &back, &len), QS_OK);
	assert_int_equal(len, BIG_ZEROS);
	assert_memory_equal(back, zeros, BIG_ZEROS);
	free(back);
	free(zeros);
	if (strstr(err, "raise") == NULL)
		fail_msg("the read error does not say to raise the limit: %s",
		    err);
}

static void
limits_config_errors(void **state)
{
	static const struct {
		const char *line;
		const char *names;   /* what the error must name */
	} cases[] = {
		{ "queue limits", "queue limits" },
		{ "queue limits max-ratio 0", "\"0\"" },
		{ "queue limits max-ratio -1", "\"-1\"" },
		{ "queue limits max-ratio 2.5", "\"2.5\"" },
		{ "queue limits max-message-size 10X", "\"10X\"" },
		{ "queue limits max-message-size", "max-message-size" },
		{ "queue limits max-size 10M", "\"max-size\"" },
		{ "queue limits max-ratio 3\nqueue limits max-ratio 4",
		    "given twice" },
	};
	struct qs_config *c;
	char text[512], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "queue backend fs path \"/q\"\n"
		    "%s\n", cases[i].line);
		err[0] = '\0';
		c = qs_config_parse(text, strlen(text), "test.conf", err,
		    sizeof(err));
		if (c != NULL)
			fail_msg("\"%s\" was accepted", cases[i].line);
		if (strstr(err, cases[i].names) == NULL)
			fail_msg("error for \"%s\" does not name %s: %s",
			    cases[i].line, cases[i].names, err);
		assert_int_equal(strncmp(err, "test.conf:", 10), 0);
		assert_null(strchr(err, '\n'));
	}
	/* line numbers point at the statement */
	snprintf(text, sizeof(text), "queue backend fs path \"/q\"\n"
	    "queue limits max-ratio 0\n");
	assert_null(qs_config_parse(text, strlen(text), "test.conf", err,
	    sizeof(err)));
	assert_int_equal(strncmp(err, "test.conf:2:", 12), 0);
	snprintf(text, sizeof(text), "queue backend fs path \"/q\"\n"
	    "queue limits max-message-size 10M max-ratio 3\n");
	c = qs_config_parse(text, strlen(text), "test.conf", err, sizeof(err));
	if (c == NULL)
		fail_msg("valid limits were rejected: %s", err);
	qs_config_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(clean_queue_passes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(every_problem_reported, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(quarantine_moves_bad_blobs,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(plaintext_search_finds_marker,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(command_reports_json, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(max_message_size_enforced,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(max_ratio_enforced_at_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(lowered_ratio_blocks_reading,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(limits_config_errors, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
