/*
 * Configuration grammar: qs_config_parse() on text in memory and
 * qs_config_load() on files in a directory made with mkdtemp(3). Every
 * rejected input must return NULL and write one line that names the
 * file, the line of the statement and the offending statement or value,
 * and never the key text.
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

#include <qstack/qstack.h>
#include "internal.h"

#define NAME "test.conf"
#define SECRET "s3cret-pass"

/* One input the parser must reject. */
struct error_case {
	const char *text;
	int line;                 /* line the message must name */
	const char *fragment;     /* statement or value the message names */
	const char *fragment2;    /* a second required fragment, or NULL */
};

static char tmpdir[256];

/*
 * Parses len bytes of text copied into a buffer of exactly that size,
 * without a terminating NUL, so that a sanitizer catches any read past
 * the end.
 */
static struct qs_config *
parse_len(const char *text, size_t len, char *err, size_t cap)
{
	struct qs_config *c;
	char *copy = malloc(len > 0 ? len : 1);

	assert_non_null(copy);
	memcpy(copy, text, len);
	err[0] = '\0';
	c = qs_config_parse(copy, len, NAME, err, cap);
	free(copy);
	return c;
}

static struct qs_config *
parse(const char *text, char *err, size_t cap)
{
	return parse_len(text, strlen(text), err, cap);
}

/* Parses text that must be valid, printing the error if it is not. */
static struct qs_config *
parse_ok(const char *text)
{
	char err[QS_ERR_MAX];
	struct qs_config *c = parse(text, err, sizeof(err));

	if (c == NULL)
		print_message("config: %s\nerror: %s\n", text, err);
	assert_non_null(c);
	return c;
}

/* Checks that err is one line naming "test.conf:LINE:" and fragment. */
static void
check_error_text(const char *err, const char *text, int line,
    const char *fragment, const char *fragment2)
{
	char loc[64];

	snprintf(loc, sizeof(loc), NAME ":%d:", line);
	if (strstr(err, loc) == NULL || strstr(err, fragment) == NULL ||
	    (fragment2 != NULL && strstr(err, fragment2) == NULL))
		print_message("config: %s\nexpected: %s ... %s\nerror: %s\n",
		    text, loc, fragment, err);
	assert_non_null(strstr(err, loc));
	assert_non_null(strstr(err, fragment));
	if (fragment2 != NULL)
		assert_non_null(strstr(err, fragment2));
	assert_null(strchr(err, '\n'));
}

static void
check_errors(const struct error_case *cases, size_t n)
{
	char err[QS_ERR_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		struct qs_config *c = parse(cases[i].text, err, sizeof(err));

		if (c != NULL)
			print_message("accepted: %s\n", cases[i].text);
		qs_config_free(c);
		assert_null(c);
		check_error_text(err, cases[i].text, cases[i].line,
		    cases[i].fragment, cases[i].fragment2);
	}
}

#define CHECK_ERRORS(cases) \
	check_errors((cases), sizeof(cases) / sizeof((cases)[0]))

static void
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_int_not_equal(fd, -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void
tmp_path(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", tmpdir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static int
group_setup(void **state)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/qs-config-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		print_error("mkdtemp %s: %s\n", tmpdir, strerror(errno));
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- whitespace, comments, quoting, continuations ---- */

static void
test_empty_text(void **state)
{
	struct qs_config *c = parse_ok("");

	assert_string_equal(c->file, NAME);
	assert_null(c->plugin_path);
	assert_null(c->backend.name);
	assert_null(c->compress.name);
	assert_null(c->crypto.name);
	assert_int_equal(c->key.source, 0);
	assert_int_equal(c->nold_keys, 0);
	qs_config_free(c);
}

static void
test_only_comments(void **state)
{
	struct qs_config *c = parse_ok("# first\n\n   # indented\n\t\n#");

	assert_null(c->backend.name);
	assert_null(c->compress.name);
	assert_null(c->crypto.name);
	qs_config_free(c);
}

static void
test_comments_end_statements(void **state)
{
	struct qs_config *c = parse_ok(
	    "# queue compression lz4\n"
	    "queue compression lz4 # level 9\n"
	    "queue backend fs path \"/a#b\"#comment\n");

	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.line, 2);
	assert_int_equal(c->compress.nparams, 0);
	assert_string_equal(c->backend.name, "fs");
	assert_int_equal(c->backend.nparams, 1);
	assert_string_equal(c->backend.params[0].value, "/a#b");
	qs_config_free(c);
}

static void
test_quoted_escapes(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue backend fs path \"/a \\\"b\\\" c\\\\d\\n\"\n"
	    "queue encryption key \"pa\\\"ss\\\\\"\n");

	assert_string_equal(c->backend.params[0].value,
	    "/a \"b\" c\\d\\n");
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "pa\"ss\\");
	qs_config_free(c);
}

static void
test_continuation_lines(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue backend fs \\\n"
	    "    path \"/x\"\n"
	    "queue compression \\\n"
	    "    lz4 \\\n"
	    "    level 1\n"
	    "queue encryption key \"k\"\n");

	assert_string_equal(c->backend.name, "fs");
	assert_int_equal(c->backend.line, 1);
	assert_int_equal(c->backend.nparams, 1);
	assert_string_equal(c->backend.params[0].value, "/x");
	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.line, 3);
	assert_int_equal(c->compress.nparams, 1);
	assert_string_equal(c->compress.params[0].name, "level");
	assert_string_equal(c->compress.params[0].value, "1");
	assert_int_equal(c->crypto.line, 6);
	qs_config_free(c);
}

/* A '\' right after a word, with no space before it, also joins lines. */
static void
test_continuation_after_word(void **state)
{
	struct qs_config *c = parse_ok("queue compression\\\nlz4\n");

	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.nparams, 0);
	qs_config_free(c);
}

static void
test_continuation_crlf(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue compression \\\r\n  lz4 level 1\r\n"
	    "queue backend fs\r\n");

	assert_string_equal(c->compress.name, "lz4");
	assert_string_equal(c->compress.params[0].value, "1");
	assert_int_equal(c->backend.line, 3);
	qs_config_free(c);
}

static void
test_error_line_after_continuations(void **state)
{
	static const struct error_case cases[] = {
		{ "queue backend fs \\\n path \"/x\"\n"
		  "queue compression \\\n lz4 \\\n level 1\nfoo\n",
		  6, "\"foo\"", NULL },
		{ "queue compression \\\r\n lz4\r\n\r\nqueue foo\r\n",
		  4, "queue foo", NULL },
		/* an error inside a statement names its first line */
		{ "\nqueue backend fs \\\n path\n", 2, "\"path\"",
		  "needs a value" },
	};

	CHECK_ERRORS(cases);
}

static void
test_crlf_line_ends(void **state)
{
	struct qs_config *c = parse_ok(
	    "plugin-path \"/opt/qs\"\r\n"
	    "queue compression lz4 level 1\r\n"
	    "queue encryption key \"foobar\"\r\n");

	assert_string_equal(c->plugin_path, "/opt/qs");
	assert_string_equal(c->compress.name, "lz4");
	assert_string_equal(c->compress.params[0].value, "1");
	assert_string_equal(c->key.value, "foobar");
	assert_int_equal(c->key.line, 3);
	qs_config_free(c);
}

static void
test_crlf_error_line(void **state)
{
	static const struct error_case cases[] = {
		{ "queue compression\r\n\r\nqueue backend\r\n", 3,
		  "queue backend", NULL },
	};

	CHECK_ERRORS(cases);
}

static void
test_unterminated_quote(void **state)
{
	static const struct error_case cases[] = {
		{ "queue compression\nqueue backend fs path \"/a\n", 2,
		  "unterminated", NULL },
		{ "queue backend fs path \"/a\\\"\n", 1, "unterminated",
		  NULL },
		{ "queue backend fs path \"/a", 1, "unterminated", NULL },
	};

	CHECK_ERRORS(cases);
}

static void
test_nul_byte(void **state)
{
	static const char in_word[] = "queue compression\nqueue\0 backend\n";
	static const char in_quote[] = "\n\nqueue backend fs path \"/a\0b\"\n";
	char err[QS_ERR_MAX];

	assert_null(parse_len(in_word, sizeof(in_word) - 1, err,
	    sizeof(err)));
	check_error_text(err, "NUL in a word", 2, "NUL", NULL);
	assert_null(parse_len(in_quote, sizeof(in_quote) - 1, err,
	    sizeof(err)));
	check_error_text(err, "NUL in a quoted string", 3, "NUL", NULL);
}

/* ---- plugin-path ---- */

static void
test_plugin_path(void **state)
{
	struct qs_config *c = parse_ok(
	    "\nplugin-path \"/opt/qstack/plugins\"\n");

	assert_string_equal(c->plugin_path, "/opt/qstack/plugins");
	assert_int_equal(c->plugin_path_line, 2);
	qs_config_free(c);
}

static void
test_plugin_path_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "plugin-path \"relative/dir\"\n", 1, "\"relative/dir\"",
		  "absolute" },
		{ "plugin-path plugins\n", 1, "\"plugins\"", "absolute" },
		{ "plugin-path \"/a\"\nplugin-path \"/b\"\n", 2,
		  "plugin-path", "twice" },
		{ "plugin-path\n", 1, "plugin-path", NULL },
		{ "plugin-path \"/a\" \"/b\"\n", 1, "plugin-path", NULL },
	};

	CHECK_ERRORS(cases);
}

/* ---- queue backend ---- */

static void
test_backend_params(void **state)
{
	struct qs_config *c = parse_ok("queue backend fs path \"/x\"\n");

	assert_string_equal(c->backend.name, "fs");
	assert_int_equal(c->backend.line, 1);
	assert_int_equal(c->backend.nparams, 1);
	assert_int_equal(c->backend.params[0].size, sizeof(struct qs_param));
	assert_string_equal(c->backend.params[0].name, "path");
	assert_string_equal(c->backend.params[0].value, "/x");
	qs_config_free(c);
}

static void
test_backend_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "queue backend\n", 1, "queue backend", "module name" },
		{ "queue backend fs path\n", 1, "\"path\"", "needs a value" },
		{ "queue backend fs path \"/a\" path \"/b\"\n", 1, "\"path\"",
		  "twice" },
		{ "queue backend fs Path \"/a\"\n", 1, "\"Path\"",
		  "invalid option name" },
		{ "queue backend fs\nqueue backend fs\n", 2, "queue backend",
		  "line 1" },
	};

	CHECK_ERRORS(cases);
}

/* ---- queue compression ---- */

static void
test_compression_bare_is_zlib(void **state)
{
	struct qs_config *c = parse_ok("queue compression\n");

	assert_string_equal(c->compress.name, "zlib");
	assert_int_equal(c->compress.nparams, 0);
	assert_int_equal(c->compress.line, 1);
	qs_config_free(c);
}

static void
test_compression_named(void **state)
{
	struct qs_config *c = parse_ok("queue compression lz4\n");

	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.nparams, 0);
	qs_config_free(c);
}

static void
test_compression_level_only(void **state)
{
	struct qs_config *c = parse_ok("queue compression level 3\n");

	assert_string_equal(c->compress.name, "zlib");
	assert_int_equal(c->compress.nparams, 1);
	assert_string_equal(c->compress.params[0].name, "level");
	assert_string_equal(c->compress.params[0].value, "3");
	qs_config_free(c);
}

static void
test_compression_named_level(void **state)
{
	struct qs_config *c = parse_ok("queue compression lz4 level 1\n");

	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.nparams, 1);
	assert_string_equal(c->compress.params[0].name, "level");
	assert_string_equal(c->compress.params[0].value, "1");
	qs_config_free(c);
}

static void
test_compression_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "queue compression lz4 level 1 level 2\n", 1, "\"level\"",
		  "twice" },
		{ "queue compression\n#\nqueue compression lz4\n", 3,
		  "queue compression", "line 1" },
	};

	CHECK_ERRORS(cases);
}

/* ---- module names ---- */

static void
test_module_name_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "queue backend FS\n", 1, "\"FS\"", "invalid module name" },
		{ "queue compression my_zlib\n", 1, "\"my_zlib\"",
		  "invalid module name" },
		{ "queue compression a/b\n", 1, "\"a/b\"",
		  "invalid module name" },
		{ "queue compression ..\n", 1, "\"..\"",
		  "invalid module name" },
		{ "queue backend ../fs\n", 1, "\"../fs\"",
		  "invalid module name" },
		{ "queue encryption key \"k\" module Evp\n", 1, "\"Evp\"",
		  "invalid module name" },
		{ "queue compression \"\"\n", 1, "invalid module name", NULL },
		/* 33 characters, one more than QS_NAME_MAX */
		{ "queue compression aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 1,
		  "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
		  "invalid module name" },
	};

	CHECK_ERRORS(cases);
}

static void
test_module_name_max_length(void **state)
{
	char text[128];
	char name[QS_NAME_MAX + 1];
	struct qs_config *c;

	memset(name, 'a', QS_NAME_MAX);
	name[QS_NAME_MAX] = '\0';
	snprintf(text, sizeof(text), "queue compression %s\n", name);
	c = parse_ok(text);
	assert_string_equal(c->compress.name, name);
	qs_config_free(c);
}

/* ---- queue encryption ---- */

static void
test_encryption_key_text(void **state)
{
	struct qs_config *c = parse_ok("\nqueue encryption key \"foobar\"\n");

	assert_string_equal(c->crypto.name, "evp");
	assert_int_equal(c->crypto.nparams, 0);
	assert_int_equal(c->crypto.line, 2);
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "foobar");
	assert_int_equal(c->key.line, 2);
	qs_config_free(c);
}

static void
test_encryption_cipher_digest(void **state)
{
	struct qs_config *c = parse_ok("queue encryption key \"foobar\" "
	    "cipher aes-128-cbc digest sha512\n");

	assert_string_equal(c->crypto.name, "evp");
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "foobar");
	assert_int_equal(c->crypto.nparams, 2);
	assert_string_equal(c->crypto.params[0].name, "cipher");
	assert_string_equal(c->crypto.params[0].value, "aes-128-cbc");
	assert_string_equal(c->crypto.params[1].name, "digest");
	assert_string_equal(c->crypto.params[1].value, "sha512");
	qs_config_free(c);
}

static void
test_encryption_key_file(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue encryption key-file \"/etc/qstack/key\"\n");

	assert_int_equal(c->key.source, QS_KEYSRC_FILE);
	assert_string_equal(c->key.value, "/etc/qstack/key");
	assert_int_equal(c->crypto.nparams, 0);
	qs_config_free(c);
}

static void
test_encryption_key_stdin(void **state)
{
	struct qs_config *dash = parse_ok("queue encryption key -\n");
	struct qs_config *word = parse_ok("queue encryption key stdin\n");

	assert_int_equal(dash->key.source, QS_KEYSRC_STDIN);
	assert_int_equal(word->key.source, QS_KEYSRC_STDIN);
	assert_int_equal(dash->crypto.nparams, 0);
	assert_int_equal(word->crypto.nparams, 0);
	qs_config_free(dash);
	qs_config_free(word);
}

/* A quoted "-" or "stdin" is a passphrase that happens to read so. */
static void
test_encryption_quoted_dash(void **state)
{
	struct qs_config *dash = parse_ok("queue encryption key \"-\"\n");
	struct qs_config *word = parse_ok("queue encryption key \"stdin\"\n");

	assert_int_equal(dash->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(dash->key.value, "-");
	assert_int_equal(word->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(word->key.value, "stdin");
	qs_config_free(dash);
	qs_config_free(word);
}

static void
test_encryption_without_key(void **state)
{
	struct qs_config *c = parse_ok("\n\nqueue encryption\n");

	assert_string_equal(c->crypto.name, "evp");
	assert_int_equal(c->key.source, QS_KEYSRC_PROMPT);
	assert_int_equal(c->key.line, 3);
	qs_config_free(c);
}

static void
test_encryption_other_module(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue encryption module other key \"foobar\" mode fast\n");

	assert_string_equal(c->crypto.name, "other");
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "foobar");
	assert_int_equal(c->crypto.nparams, 1);
	assert_string_equal(c->crypto.params[0].name, "mode");
	assert_string_equal(c->crypto.params[0].value, "fast");
	qs_config_free(c);
}

static void
test_encryption_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "queue encryption key \"a\" key \"b\"\n", 1,
		  "queue encryption", "key given twice" },
		{ "queue encryption key \"a\" key-file \"/k\"\n", 1,
		  "queue encryption", "key given twice" },
		{ "queue encryption key - key \"a\"\n", 1,
		  "queue encryption", "key given twice" },
		{ "queue encryption key \"\"\n", 1, "queue encryption",
		  "empty" },
		{ "queue encryption key-file \"\"\n", 1, "key-file",
		  "empty" },
		{ "queue encryption key\n", 1, "\"key\"", "needs a value" },
		{ "queue encryption key \"a\" cipher\n", 1, "\"cipher\"",
		  "needs a value" },
		{ "queue encryption module\n", 1, "\"module\"",
		  "needs a value" },
		{ "queue encryption key \"a\" cipher x cipher y\n", 1,
		  "\"cipher\"", "twice" },
		{ "queue encryption key \"a\" module evp module other\n", 1,
		  "\"module\"", "twice" },
		{ "queue encryption key \"a\"\n\nqueue encryption key "
		  "\"b\"\n", 3, "queue encryption", "line 1" },
	};

	CHECK_ERRORS(cases);
}

/* ---- queue decryption ---- */

static void
test_decryption_repeated(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue decryption key \"old\"\n"
	    "queue decryption key \"old\"\n"
	    "queue decryption key \"old\"\n");
	size_t i;

	assert_null(c->crypto.name);
	assert_int_equal(c->key.source, 0);
	assert_int_equal(c->nold_keys, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(c->old_keys[i].source, QS_KEYSRC_TEXT);
		assert_string_equal(c->old_keys[i].value, "old");
		assert_int_equal(c->old_keys[i].line, (int)i + 1);
	}
	qs_config_free(c);
}

static void
test_decryption_sources(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue encryption key \"new\"\n"
	    "queue decryption key-file \"/k/old\"\n"
	    "queue decryption key -\n");

	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_int_equal(c->nold_keys, 2);
	assert_int_equal(c->old_keys[0].source, QS_KEYSRC_FILE);
	assert_string_equal(c->old_keys[0].value, "/k/old");
	assert_int_equal(c->old_keys[1].source, QS_KEYSRC_STDIN);
	qs_config_free(c);
}

static void
test_decryption_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "queue decryption\n", 1, "queue decryption", NULL },
		{ "queue decryption key\n", 1, "queue decryption", NULL },
		{ "queue decryption foo \"x\"\n", 1, "queue decryption",
		  NULL },
		{ "queue decryption key \"a\" key \"b\"\n", 1,
		  "queue decryption", NULL },
		{ "queue decryption key \"a\" extra\n", 1,
		  "queue decryption", NULL },
		{ "queue decryption key \"\"\n", 1, "queue decryption",
		  "empty" },
		{ "queue decryption key-file \"\"\n", 1, "queue decryption",
		  "empty" },
		{ "queue decryption key \"a\"\nqueue decryption\n", 2,
		  "queue decryption", NULL },
	};

	CHECK_ERRORS(cases);
}

/* ---- statements ---- */

static void
test_unknown_statements(void **state)
{
	static const struct error_case cases[] = {
		{ "foo\n", 1, "unknown statement", "\"foo\"" },
		{ "# c\n\n# c\nfoo bar\n", 4, "unknown statement",
		  "\"foo\"" },
		{ "queue foo\n", 1, "unknown statement", "queue foo" },
		{ "queue backend fs\nqueue compressionn\n", 2,
		  "unknown statement", "compressionn" },
		{ "queue\n", 1, "unknown statement", "queue" },
	};

	CHECK_ERRORS(cases);
}

static void
test_two_line_config(void **state)
{
	struct qs_config *c = parse_ok(
	    "queue compression\nqueue encryption key \"foobar\"\n");

	assert_null(c->plugin_path);
	assert_null(c->backend.name);
	assert_string_equal(c->compress.name, "zlib");
	assert_int_equal(c->compress.nparams, 0);
	assert_int_equal(c->compress.line, 1);
	assert_string_equal(c->crypto.name, "evp");
	assert_int_equal(c->crypto.nparams, 0);
	assert_int_equal(c->crypto.line, 2);
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "foobar");
	assert_int_equal(c->nold_keys, 0);
	qs_config_free(c);
}

/* ---- secrets ---- */

/* Statements that carry SECRET and must fail without repeating it. */
static void
test_errors_hide_key(void **state)
{
	static const char *const texts[] = {
		"queue encryption key \"" SECRET "\" key \"" SECRET "2\"\n",
		"queue encryption key \"" SECRET "\" key-file \"/k\"\n",
		"queue encryption key \"" SECRET "\" cipher\n",
		"queue encryption key \"" SECRET "\" Cipher x\n",
		"queue encryption key \"" SECRET "\" module Bad\n",
		"queue encryption key \"" SECRET "\n",
		"queue encryption key \"" SECRET "\" cipher x cipher y\n",
		"queue decryption key \"" SECRET "\" extra\n",
		"queue decryption key \"" SECRET "\" key \"" SECRET "\"\n",
		"queue decryption \"" SECRET "\"\n",
		"queue decryption key \"" SECRET "\nfoo\n",
		/* the key in the place of an option name */
		"queue encryption \"" SECRET "\"\n",
		"queue encryption key key \"" SECRET "\"\n",
		"queue encryption cipher x \"" SECRET "\"\n",
		"queue encryption key \"k\" \"" SECRET "\" x\n",
	};
	char err[QS_ERR_MAX];
	size_t i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct qs_config *c = parse(texts[i], err, sizeof(err));

		if (c != NULL || strstr(err, SECRET) != NULL)
			print_message("config: %serror: %s\n", texts[i], err);
		qs_config_free(c);
		assert_null(c);
		assert_non_null(strstr(err, NAME ":1:"));
		assert_null(strstr(err, SECRET));
	}
}

/* ---- files ---- */

static void
test_load_file(void **state)
{
	static const char text[] =
	    "# test\r\n"
	    "plugin-path \"/opt/qs\"\r\n"
	    "queue backend fs path \"/var/q\"\n"
	    "queue compression lz4\n";
	char path[512];
	struct qs_config *c;
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "load.conf");
	write_file(path, text, sizeof(text) - 1);
	c = qs_config_load(path, err, sizeof(err));
	if (c == NULL)
		print_message("error: %s\n", err);
	assert_non_null(c);
	assert_string_equal(c->file, path);
	assert_string_equal(c->plugin_path, "/opt/qs");
	assert_int_equal(c->plugin_path_line, 2);
	assert_string_equal(c->backend.params[0].value, "/var/q");
	assert_string_equal(c->compress.name, "lz4");
	assert_int_equal(c->compress.line, 4);
	qs_config_free(c);
}

static void
test_load_empty_file(void **state)
{
	char path[512];
	struct qs_config *c;
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "empty.conf");
	write_file(path, "", 0);
	c = qs_config_load(path, err, sizeof(err));
	assert_non_null(c);
	assert_null(c->backend.name);
	assert_null(c->compress.name);
	assert_null(c->crypto.name);
	qs_config_free(c);
}

static void
test_load_two_line_config(void **state)
{
	static const char text[] =
	    "queue compression\nqueue encryption key \"foobar\"\n";
	char path[512];
	struct qs_config *c;
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "two.conf");
	write_file(path, text, sizeof(text) - 1);
	c = qs_config_load(path, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(c->compress.name, "zlib");
	assert_string_equal(c->crypto.name, "evp");
	assert_int_equal(c->key.source, QS_KEYSRC_TEXT);
	assert_string_equal(c->key.value, "foobar");
	qs_config_free(c);
}

static void
test_load_error_line(void **state)
{
	static const char text[] =
	    "queue backend fs path \"/q\"\n"
	    "# the next statement is wrong\n"
	    "queue encryption key \"k\" cipher\n";
	char path[512], loc[600];
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "test.conf");
	write_file(path, text, sizeof(text) - 1);
	assert_null(qs_config_load(path, err, sizeof(err)));
	snprintf(loc, sizeof(loc), "%s:3:", path);
	assert_non_null(strstr(err, loc));
	assert_non_null(strstr(err, "\"cipher\""));
	assert_null(strchr(err, '\n'));
}

static void
test_load_nul_byte(void **state)
{
	static const char text[] = "queue compression\n\nqueue \0backend\n";
	char path[512], loc[600];
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "nul.conf");
	write_file(path, text, sizeof(text) - 1);
	assert_null(qs_config_load(path, err, sizeof(err)));
	snprintf(loc, sizeof(loc), "%s:3:", path);
	assert_non_null(strstr(err, loc));
	assert_non_null(strstr(err, "NUL"));
}

static void
test_load_missing_file(void **state)
{
	char path[512];
	char err[QS_ERR_MAX];

	tmp_path(path, sizeof(path), "missing.conf");
	assert_null(qs_config_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, strerror(ENOENT)));
	assert_null(strchr(err, '\n'));
}

static void
test_load_directory(void **state)
{
	char err[QS_ERR_MAX];

	assert_null(qs_config_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, tmpdir));
	assert_non_null(strstr(err, "not a regular file"));
}

/* ---- plugin directory precedence ---- */

struct walk_seen {
	int count;
	char file[512];
	char name[64];
};

static void
record_first(void *arg, const struct qs_plugin_info *info)
{
	struct walk_seen *seen = arg;

	if (seen->count++ == 0) {
		snprintf(seen->file, sizeof(seen->file), "%s", info->file);
		snprintf(seen->name, sizeof(seen->name), "%s", info->name);
	}
}

/* Creates tmpdir/NAME containing an empty NAME.so; writes its path to dir. */
static void
make_marked_dir(char *dir, size_t cap, const char *name)
{
	char file[600];

	tmp_path(dir, cap, name);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(file, sizeof(file), "%s/%s.so", dir, name);
	write_file(file, "", 0);
}

/* Walks the plugin directory of c and checks it is dir/NAME.so. */
static void
check_walked(const struct qs_config *c, const char *dir, const char *name)
{
	struct walk_seen seen;
	char file[600];

	memset(&seen, 0, sizeof(seen));
	snprintf(file, sizeof(file), "%s/%s.so", dir, name);
	assert_int_equal(qs_plugins_walk(c, record_first, &seen), QS_OK);
	assert_int_equal(seen.count, 1);
	assert_string_equal(seen.file, file);
	assert_string_equal(seen.name, name);
}

static void
test_plugin_dir_precedence(void **state)
{
	char envdir[512], confdir[512], defdir[512], text[600];
	const char *saved = getenv("QSTACK_PLUGIN_PATH");
	char *saved_copy = saved != NULL ? strdup(saved) : NULL;
	struct qs_config *with_path, *without_path;

	make_marked_dir(envdir, sizeof(envdir), "envdir");
	make_marked_dir(confdir, sizeof(confdir), "confdir");
	make_marked_dir(defdir, sizeof(defdir), "defdir");
	snprintf(text, sizeof(text), "plugin-path \"%s\"\n", confdir);
	with_path = parse_ok(text);
	without_path = parse_ok("queue compression\n");
	assert_int_equal(qs_config_set_default_plugin_path(with_path,
	    defdir), QS_OK);
	assert_int_equal(qs_config_set_default_plugin_path(without_path,
	    "/nonexistent"), QS_OK);
	assert_int_equal(qs_config_set_default_plugin_path(without_path,
	    defdir), QS_OK);

	assert_int_equal(setenv("QSTACK_PLUGIN_PATH", envdir, 1), 0);
	check_walked(with_path, envdir, "envdir");
	check_walked(without_path, envdir, "envdir");

	/* an empty variable counts as unset */
	assert_int_equal(setenv("QSTACK_PLUGIN_PATH", "", 1), 0);
	check_walked(with_path, confdir, "confdir");

	assert_int_equal(unsetenv("QSTACK_PLUGIN_PATH"), 0);
	check_walked(with_path, confdir, "confdir");
	check_walked(without_path, defdir, "defdir");

	qs_config_free(with_path);
	qs_config_free(without_path);
	if (saved_copy != NULL)
		setenv("QSTACK_PLUGIN_PATH", saved_copy, 1);
	free(saved_copy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_text),
		cmocka_unit_test(test_only_comments),
		cmocka_unit_test(test_comments_end_statements),
		cmocka_unit_test(test_quoted_escapes),
		cmocka_unit_test(test_continuation_lines),
		cmocka_unit_test(test_continuation_after_word),
		cmocka_unit_test(test_continuation_crlf),
		cmocka_unit_test(test_error_line_after_continuations),
		cmocka_unit_test(test_crlf_line_ends),
		cmocka_unit_test(test_crlf_error_line),
		cmocka_unit_test(test_unterminated_quote),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_plugin_path),
		cmocka_unit_test(test_plugin_path_errors),
		cmocka_unit_test(test_backend_params),
		cmocka_unit_test(test_backend_errors),
		cmocka_unit_test(test_compression_bare_is_zlib),
		cmocka_unit_test(test_compression_named),
		cmocka_unit_test(test_compression_level_only),
		cmocka_unit_test(test_compression_named_level),
		cmocka_unit_test(test_compression_errors),
		cmocka_unit_test(test_module_name_errors),
		cmocka_unit_test(test_module_name_max_length),
		cmocka_unit_test(test_encryption_key_text),
		cmocka_unit_test(test_encryption_cipher_digest),
		cmocka_unit_test(test_encryption_key_file),
		cmocka_unit_test(test_encryption_key_stdin),
		cmocka_unit_test(test_encryption_quoted_dash),
		cmocka_unit_test(test_encryption_without_key),
		cmocka_unit_test(test_encryption_other_module),
		cmocka_unit_test(test_encryption_errors),
		cmocka_unit_test(test_decryption_repeated),
		cmocka_unit_test(test_decryption_sources),
		cmocka_unit_test(test_decryption_errors),
		cmocka_unit_test(test_unknown_statements),
		cmocka_unit_test(test_two_line_config),
		cmocka_unit_test(test_errors_hide_key),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_empty_file),
		cmocka_unit_test(test_load_two_line_config),
		cmocka_unit_test(test_load_error_line),
		cmocka_unit_test(test_load_nul_byte),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_load_directory),
		cmocka_unit_test(test_plugin_dir_precedence),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
