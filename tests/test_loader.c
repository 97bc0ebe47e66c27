/*
 * Module loading through qs_open() and qs_plugins_walk(). Every test
 * builds its own plugin directory in a mkdtemp(3) directory, copies the
 * modules it needs into it from $QSTACK_BUILD (default "build"), and
 * points plugin-path at it. QSTACK_PLUGIN_PATH is unset while the tests
 * run because it overrides plugin-path.
 *
 * The misbehaving modules come from tests/modules/; each breaks one
 * loading rule, and the loader must reject it with one line that names
 * the module file and the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/keytest.h"

#include <qstack/qstack.h>
#include "internal.h"

#define NAME "test.conf"

/* Test modules built from tests/modules/, copied into every fixture. */
static const char *const test_modules[] = {
	"compress-goodtest",
	"compress-noentry",
	"compress-badabi",
	"compress-wrongkind",
	"compress-declines",
	"compress-nofuncs",
};

/* Real modules copied into every fixture when they have been built. */
static const char *const real_modules[] = {
	"queue-fs",
	"compress-zlib",
	"compress-lz4",
};

struct fixture {
	char top[256];            /* from mkdtemp, removed at teardown */
	int made;                 /* top exists */
	char plugins[300];        /* the plugin directory */
	char queue[300];          /* path option of the fs backend */
	char err[QS_ERR_MAX];
};

static char *saved_plugin_path;

/* Copies BUILD/subdir/stem.so into the plugin directory as as.so. */
static int
install_module(struct fixture *fx, const char *subdir, const char *stem,
    const char *as)
{
	char src[1024], dst[1024];

	snprintf(src, sizeof(src), "%s/%s/%s.so", keytest_build_dir(), subdir, stem);
	snprintf(dst, sizeof(dst), "%s/%s.so", fx->plugins, as);
	if (keytest_copy_file(src, dst) == 0)
		return 0;
	print_error("cannot copy %s to %s: %s; run make first\n", src, dst,
	    strerror(errno));
	return -1;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *base = getenv("TMPDIR");
	size_t i;

	if (fx == NULL)
		return -1;
	*state = fx;
	snprintf(fx->top, sizeof(fx->top), "%s/qs-loader-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(fx->top) == NULL) {
		print_error("mkdtemp %s: %s\n", fx->top, strerror(errno));
		return -1;
	}
	fx->made = 1;
	if (chmod(fx->top, 0755) != 0)
		return -1;
	snprintf(fx->plugins, sizeof(fx->plugins), "%s/plugins", fx->top);
	snprintf(fx->queue, sizeof(fx->queue), "%s/queue", fx->top);
	if (mkdir(fx->plugins, 0755) != 0 || chmod(fx->plugins, 0755) != 0)
		return -1;
	for (i = 0; i < sizeof(test_modules) / sizeof(test_modules[0]); i++)
		if (install_module(fx, "tests/modules", test_modules[i],
		    test_modules[i]) != 0)
			return -1;
	/* Every test needs queue-fs. Only some need the others. */
	if (install_module(fx, "plugins", "queue-fs", "queue-fs") != 0)
		return -1;
	for (i = 1; i < sizeof(real_modules) / sizeof(real_modules[0]); i++)
		install_module(fx, "plugins", real_modules[i],
		    real_modules[i]);
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = 0;

	if (fx == NULL)
		return 0;
	if (fx->made) {
		chmod(fx->plugins, 0755);
		rc = nftw(fx->top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(fx);
	return rc;
}

static int
group_setup(void **state)
{
	const char *env = getenv("QSTACK_PLUGIN_PATH");

	if (env != NULL && (saved_plugin_path = strdup(env)) == NULL)
		return -1;
	return unsetenv("QSTACK_PLUGIN_PATH");
}

static int
group_teardown(void **state)
{
	int rc = 0;

	if (saved_plugin_path != NULL)
		rc = setenv("QSTACK_PLUGIN_PATH", saved_plugin_path, 1);
	free(saved_plugin_path);
	return rc;
}

/*
 * Parses a configuration whose line 1 is plugin-path, line 2 the fs
 * backend and line 3 stmt.
 */
static struct qs_config *
make_config(struct fixture *fx, const char *stmt)
{
	char text[2048];
	struct qs_config *c;

	snprintf(text, sizeof(text), "plugin-path \"%s\"\n"
	    "queue backend fs path \"%s\"\n%s\n", fx->plugins, fx->queue,
	    stmt);
	c = qs_config_parse(text, strlen(text), NAME, fx->err,
	    sizeof(fx->err));
	if (c == NULL)
		print_message("config: %s\nerror: %s\n", text, fx->err);
	assert_non_null(c);
	return c;
}

static struct qs_queue *
open_with(struct fixture *fx, const char *stmt)
{
	struct qs_config *c = make_config(fx, stmt);
	struct qs_queue *q;

	fx->err[0] = '\0';
	q = qs_open(c, fx->err, sizeof(fx->err));
	qs_config_free(c);
	return q;
}

/* Checks that err names line, the file plugins/stem.so and reason. */
static void
check_rejection(struct fixture *fx, int line, const char *stem,
    const char *reason)
{
	char loc[64], file[512];

	snprintf(loc, sizeof(loc), NAME ":%d:", line);
	snprintf(file, sizeof(file), "%s/%s.so", fx->plugins, stem);
	if (strstr(fx->err, loc) == NULL || strstr(fx->err, file) == NULL ||
	    strstr(fx->err, reason) == NULL)
		print_message("expected: %s %s ... %s\nerror: %s\n", loc, file,
		    reason, fx->err);
	assert_non_null(strstr(fx->err, loc));
	assert_non_null(strstr(fx->err, file));
	assert_non_null(strstr(fx->err, reason));
	assert_null(strchr(fx->err, '\n'));
}

/* Opens a queue with stmt on line 3 and expects stem to be rejected. */
static void
expect_rejected(struct fixture *fx, const char *stmt, const char *stem,
    const char *reason)
{
	struct qs_queue *q = open_with(fx, stmt);

	if (q != NULL)
		print_message("qs_open accepted: %s\n", stmt);
	assert_null(q);
	check_rejection(fx, 3, stem, reason);
}

static void
test_file_missing(void **state)
{
	expect_rejected(*state, "queue compression nosuch",
	    "compress-nosuch", strerror(ENOENT));
}

static void
test_file_not_regular(void **state)
{
	struct fixture *fx = *state;
	char path[512];

	snprintf(path, sizeof(path), "%s/compress-adir.so", fx->plugins);
	assert_int_equal(mkdir(path, 0755), 0);
	expect_rejected(fx, "queue compression adir", "compress-adir",
	    "not a regular file");
}

static void
test_entry_missing(void **state)
{
	expect_rejected(*state, "queue compression noentry",
	    "compress-noentry", "does not export " QS_ENTRY_SYMBOL);
}

static void
test_abi_major_mismatch(void **state)
{
	struct fixture *fx = *state;
	char expected[16];

	expect_rejected(fx, "queue compression badabi", "compress-badabi",
	    "2.0");
	snprintf(expected, sizeof(expected), "%d.", QS_ABI_MAJOR);
	assert_non_null(strstr(fx->err, expected));
	assert_non_null(strstr(fx->err, "ABI"));
}

static void
test_wrong_kind(void **state)
{
	struct fixture *fx = *state;

	expect_rejected(fx, "queue compression wrongkind",
	    "compress-wrongkind", "misnamed");
	assert_non_null(strstr(fx->err, "queue-wrongkind"));
}

static void
test_entry_declines(void **state)
{
	expect_rejected(*state, "queue compression declines",
	    "compress-declines", "declined");
}

static void
test_required_functions_missing(void **state)
{
	expect_rejected(*state, "queue compression nofuncs",
	    "compress-nofuncs", "lacks a required function");
}

static void
test_file_writable_by_group(void **state)
{
	struct fixture *fx = *state;
	char path[512];

	snprintf(path, sizeof(path), "%s/compress-goodtest.so",
	    fx->plugins);
	assert_int_equal(chmod(path, 0775), 0);
	expect_rejected(fx, "queue compression goodtest",
	    "compress-goodtest", "writable by group or others");
	assert_non_null(strstr(fx->err, "chmod"));
}

static void
test_file_writable_by_others(void **state)
{
	struct fixture *fx = *state;
	char path[512];

	snprintf(path, sizeof(path), "%s/compress-goodtest.so",
	    fx->plugins);
	assert_int_equal(chmod(path, 0757), 0);
	expect_rejected(fx, "queue compression goodtest",
	    "compress-goodtest", "writable by group or others");
	assert_non_null(strstr(fx->err, "chmod"));
}

/* The backend is loaded first, so its statement on line 2 fails. */
static void
check_directory_rejected(struct fixture *fx, mode_t mode)
{
	struct qs_queue *q;

	assert_int_equal(chmod(fx->plugins, mode), 0);
	q = open_with(fx, "queue compression goodtest");
	assert_int_equal(chmod(fx->plugins, 0755), 0);
	assert_null(q);
	assert_non_null(strstr(fx->err, NAME ":2:"));
	assert_non_null(strstr(fx->err, fx->plugins));
	assert_non_null(strstr(fx->err, "writable by group or others"));
	assert_non_null(strstr(fx->err, "chmod"));
	assert_null(strchr(fx->err, '\n'));
}

static void
test_directory_writable_by_others(void **state)
{
	check_directory_rejected(*state, 0757);
}

static void
test_directory_writable_by_group(void **state)
{
	check_directory_rejected(*state, 0775);
}

static void
test_bad_name_at_parse(void **state)
{
	static const char *const stmts[] = {
		"queue compression Bad",
		"queue compression ../queue-fs",
		"queue backend ../queue-fs",
	};
	char err[QS_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		assert_null(qs_config_parse(stmts[i], strlen(stmts[i]), NAME,
		    err, sizeof(err)));
		assert_non_null(strstr(err, NAME ":1:"));
		assert_non_null(strstr(err, "invalid module name"));
	}
}

/*
 * Names that bypass the parser, written straight into the parsed
 * configuration, must still be rejected by the loader itself.
 */
static void
check_bad_name_at_load(struct fixture *fx, int backend, const char *name)
{
	struct qs_config *c = make_config(fx, "queue compression goodtest");
	struct qs_cfg_module *m = backend ? &c->backend : &c->compress;
	char quoted[64];
	struct qs_queue *q;

	free(m->name);
	m->name = strdup(name);
	assert_non_null(m->name);
	fx->err[0] = '\0';
	q = qs_open(c, fx->err, sizeof(fx->err));
	qs_config_free(c);
	if (q != NULL)
		print_message("qs_open accepted module name %s\n", name);
	assert_null(q);
	snprintf(quoted, sizeof(quoted), "\"%s\"", name);
	assert_non_null(strstr(fx->err, "invalid module name"));
	assert_non_null(strstr(fx->err, quoted));
	assert_non_null(strstr(fx->err, backend ? NAME ":2:" : NAME ":3:"));
}

static void
test_bad_name_at_load(void **state)
{
	check_bad_name_at_load(*state, 0, "../queue-fs");
	check_bad_name_at_load(*state, 0, "Bad");
	check_bad_name_at_load(*state, 0, "a/b");
	check_bad_name_at_load(*state, 0, "");
	check_bad_name_at_load(*state, 1, "../queue-fs");
	check_bad_name_at_load(*state, 1, "FS");
}

static void
test_unknown_option(void **state)
{
	struct fixture *fx = *state;
	struct qs_queue *q = open_with(fx, "queue compression goodtest foo 1");

	assert_null(q);
	assert_non_null(strstr(fx->err, NAME ":3:"));
	assert_non_null(strstr(fx->err, "\"foo\""));
	assert_non_null(strstr(fx->err, "compress-goodtest"));
	assert_non_null(strstr(fx->err, "label"));
	assert_null(strchr(fx->err, '\n'));
}

static void
test_known_option_accepted(void **state)
{
	struct fixture *fx = *state;
	struct qs_queue *q = open_with(fx, "queue compression goodtest "
	    "label x");

	if (q == NULL)
		print_message("error: %s\n", fx->err);
	assert_non_null(q);
	qs_close(q);
}

/*
 * "queue compression lz4 level" lacks the level's value. Whether the
 * parser or qs_open notices, the queue must not open.
 */
static void
test_compression_missing_value(void **state)
{
	struct fixture *fx = *state;
	char text[1024];
	struct qs_config *c;
	struct qs_queue *q = NULL;

	snprintf(text, sizeof(text), "plugin-path \"%s\"\n"
	    "queue backend fs path \"%s\"\nqueue compression lz4 level\n",
	    fx->plugins, fx->queue);
	c = qs_config_parse(text, strlen(text), NAME, fx->err,
	    sizeof(fx->err));
	if (c != NULL)
		q = qs_open(c, fx->err, sizeof(fx->err));
	qs_config_free(c);
	qs_close(q);
	assert_null(q);
	assert_non_null(strstr(fx->err, NAME ":3:"));
}

/* ---- a good module ---- */

struct log_count {
	int encode;
	int decode;
};

static void
count_log(void *arg, int level, const char *module, const char *msg)
{
	struct log_count *n = arg;

	if (strcmp(module, "goodtest") != 0)
		return;
	if (strcmp(msg, "begin encode") == 0)
		n->encode++;
	else if (strcmp(msg, "begin decode") == 0)
		n->decode++;
}

#define MSG_LEN (200 * 1024)

static void
fill_message(uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + i / 251);
}

static void
write_message(struct qs_queue *q, const uint8_t *data, size_t len,
    char *id)
{
	struct qs_msg_writer *w;
	struct qs_msg_stat st;
	size_t off;

	assert_int_equal(qs_msg_create(q, &w), QS_OK);
	snprintf(id, QS_ID_MAX, "%s", qs_msg_writer_id(w));
	for (off = 0; off < len; off += 4096) {
		size_t n = len - off < 4096 ? len - off : 4096;

		assert_int_equal(qs_msg_write(w, data + off, n), QS_OK);
	}
	assert_int_equal(qs_msg_commit(w, &st), QS_OK);
	assert_int_equal(st.size, len);
	assert_true(st.stored_size > len);
}

static void
read_message(struct qs_queue *q, const char *id, uint8_t *out, size_t cap,
    size_t *total)
{
	struct qs_msg_reader *r;
	size_t len;

	*total = 0;
	assert_int_equal(qs_msg_open(q, id, &r), QS_OK);
	for (;;) {
		assert_int_equal(qs_msg_read(r, out + *total, 8192, &len),
		    QS_OK);
		if (len == 0)
			break;
		*total += len;
		assert_true(*total + 8192 <= cap);
	}
	qs_msg_close(r);
}

static void
test_good_module_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct log_count count = { 0, 0 };
	uint8_t *data = malloc(MSG_LEN);
	uint8_t *back = malloc(MSG_LEN + 8192);
	char id[QS_ID_MAX];
	struct qs_queue *q;
	size_t len;

	assert_non_null(data);
	assert_non_null(back);
	fill_message(data, MSG_LEN);
	qs_set_log(count_log, &count, QS_LOG_DEBUG);
	q = open_with(fx, "queue compression goodtest");
	if (q == NULL)
		print_message("error: %s\n", fx->err);
	assert_non_null(q);
	write_message(q, data, MSG_LEN, id);
	assert_int_equal(count.encode, 1);
	read_message(q, id, back, MSG_LEN + 8192, &len);
	qs_close(q);
	qs_set_log(NULL, NULL, QS_LOG_WARN);
	assert_int_equal(count.decode, 1);
	assert_int_equal(len, MSG_LEN);
	assert_memory_equal(back, data, MSG_LEN);
	free(data);
	free(back);
}

/* ---- qs_plugins_walk ---- */

#define WALK_MAX 16

struct walk_entry {
	char file[512];
	char name[64];
	char error[QS_ERR_MAX];
	int has_error;
	uint32_t kind;
	uint32_t abi_version;
	uint32_t format_version;
	char version[32];
	int has_description;
};

struct walk_result {
	size_t n;
	struct walk_entry e[WALK_MAX];
};

static void
record_plugin(void *arg, const struct qs_plugin_info *info)
{
	struct walk_result *w = arg;
	struct walk_entry *e;

	if (w->n == WALK_MAX) {
		w->n++;
		return;
	}
	e = &w->e[w->n++];
	snprintf(e->file, sizeof(e->file), "%s", info->file);
	snprintf(e->name, sizeof(e->name), "%s",
	    info->name != NULL ? info->name : "(null)");
	e->has_error = info->error != NULL;
	snprintf(e->error, sizeof(e->error), "%s",
	    info->error != NULL ? info->error : "");
	e->kind = info->kind;
	e->abi_version = info->abi_version;
	e->format_version = info->format_version;
	snprintf(e->version, sizeof(e->version), "%s",
	    info->version != NULL ? info->version : "");
	e->has_description = info->description != NULL;
}

/* One file expected in the walk, in the order of the walk. */
struct walk_expect {
	const char *stem;
	const char *error;        /* part of the error, NULL if it loads */
};

static void
check_walk_entry(struct fixture *fx, const struct walk_entry *e,
    const struct walk_expect *x)
{
	char file[512];

	snprintf(file, sizeof(file), "%s/%s.so", fx->plugins, x->stem);
	assert_string_equal(e->file, file);
	if (x->error == NULL) {
		if (e->has_error)
			print_message("%s: %s\n", x->stem, e->error);
		assert_false(e->has_error);
		assert_int_equal(e->abi_version, QS_ABI_VERSION);
		assert_true(e->has_description);
		return;
	}
	if (!e->has_error || strstr(e->error, x->error) == NULL)
		print_message("%s: expected %s, got: %s\n", x->stem, x->error,
		    e->has_error ? e->error : "no error");
	assert_true(e->has_error);
	assert_non_null(strstr(e->error, x->error));
}

static void
remove_real_modules(struct fixture *fx)
{
	char path[512];
	size_t i;

	for (i = 1; i < sizeof(real_modules) / sizeof(real_modules[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.so", fx->plugins,
		    real_modules[i]);
		if (unlink(path) != 0)
			assert_int_equal(errno, ENOENT);
	}
}

static void
test_plugins_walk(void **state)
{
	static const struct walk_expect expect[] = {
		{ "compress-Upper", "invalid module name" },
		{ "compress-badabi", "2.0" },
		{ "compress-declines", "declined" },
		{ "compress-goodtest", NULL },
		{ "compress-noentry", "does not export" },
		{ "compress-nofuncs", "lacks a required function" },
		{ "compress-wrongkind", "misnamed" },
		{ "notamodule", "not a module name" },
		{ "queue-fs", NULL },
	};
	struct fixture *fx = *state;
	struct walk_result *w = calloc(1, sizeof(*w));
	struct qs_config *c;
	char path[512];
	size_t i;

	assert_non_null(w);
	remove_real_modules(fx);
	assert_int_equal(install_module(fx, "tests/modules",
	    "compress-goodtest", "compress-Upper"), 0);
	assert_int_equal(install_module(fx, "tests/modules",
	    "compress-goodtest", "notamodule"), 0);
	snprintf(path, sizeof(path), "%s/README", fx->plugins);
	assert_int_equal(keytest_copy_file("/dev/null", path), 0);
	c = make_config(fx, "");
	assert_int_equal(qs_plugins_walk(c, record_plugin, w), QS_OK);
	qs_config_free(c);

	assert_int_equal(w->n, sizeof(expect) / sizeof(expect[0]));
	for (i = 0; i < w->n; i++)
		check_walk_entry(fx, &w->e[i], &expect[i]);
	assert_string_equal(w->e[3].name, "goodtest");
	assert_int_equal(w->e[3].kind, QS_KIND_COMPRESS);
	assert_int_equal(w->e[3].format_version, 1);
	assert_string_equal(w->e[3].version, "1.0.0");
	assert_string_equal(w->e[8].name, "fs");
	assert_int_equal(w->e[8].kind, QS_KIND_QUEUE);
	free(w);
}

static void
test_plugins_walk_missing_dir(void **state)
{
	struct fixture *fx = *state;
	struct walk_result *w = calloc(1, sizeof(*w));
	struct qs_config *c;

	assert_non_null(w);
	c = make_config(fx, "");
	free(c->plugin_path);
	c->plugin_path = strdup(fx->queue);
	assert_non_null(c->plugin_path);
	assert_int_not_equal(qs_plugins_walk(c, record_plugin, w), QS_OK);
	assert_int_equal(w->n, 0);
	qs_config_free(c);
	free(w);
}

#define LOADER_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		LOADER_TEST(test_file_missing),
		LOADER_TEST(test_file_not_regular),
		LOADER_TEST(test_entry_missing),
		LOADER_TEST(test_abi_major_mismatch),
		LOADER_TEST(test_wrong_kind),
		LOADER_TEST(test_entry_declines),
		LOADER_TEST(test_required_functions_missing),
		LOADER_TEST(test_file_writable_by_group),
		LOADER_TEST(test_file_writable_by_others),
		LOADER_TEST(test_directory_writable_by_others),
		LOADER_TEST(test_directory_writable_by_group),
		LOADER_TEST(test_bad_name_at_parse),
		LOADER_TEST(test_bad_name_at_load),
		LOADER_TEST(test_unknown_option),
		LOADER_TEST(test_known_option_accepted),
		LOADER_TEST(test_compression_missing_value),
		LOADER_TEST(test_good_module_round_trip),
		LOADER_TEST(test_plugins_walk),
		LOADER_TEST(test_plugins_walk_missing_dir),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
