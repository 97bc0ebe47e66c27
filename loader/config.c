/*
 * Configuration parser. The syntax follows smtpd.conf(5): one statement
 * a line, '#' starts a comment, strings may be quoted with '"' (inside
 * quotes, '\"' and '\\' escape), and a '\' at the end of a line joins it
 * with the next.
 *
 *	plugin-path "DIR"
 *	queue backend NAME [OPTION VALUE]...
 *	queue compression [NAME] [OPTION VALUE]...
 *	queue encryption [key "K" | key-file "PATH" | key -] [module NAME]
 *	    [OPTION VALUE]...
 *	queue decryption key "K" | key-file "PATH"
 *	queue limits [max-message-size SIZE] [max-ratio N]
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define CONFIG_MAX (1024 * 1024)
#define TOKENS_MAX 64

struct parser {
	struct qs_config *config;
	const char *text;
	size_t len;
	size_t pos;
	int line;                 /* line of the next character */
	int stmt_line;            /* first line of the current statement */
	char *tokens[TOKENS_MAX];
	int quoted[TOKENS_MAX];
	size_t ntokens;
	char *err;
	size_t err_cap;
};

static int
fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct parser *p, const char *fmt, ...)
{
	char msg[QS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	qs_errf(p->err, p->err_cap, "%s:%d: %s", p->config->file,
	    p->stmt_line, msg);
	return QS_ERR_CONFIG;
}

static void
free_tokens(struct parser *p)
{
	size_t i;

	for (i = 0; i < p->ntokens; i++) {
		qs_wipe(p->tokens[i], strlen(p->tokens[i]));
		free(p->tokens[i]);
	}
	p->ntokens = 0;
}

static int
push_token(struct parser *p, const char *buf, size_t len, int quoted)
{
	char *tok;

	if (p->ntokens == TOKENS_MAX)
		return fail(p, "statement has more than %d words; split it",
		    TOKENS_MAX);
	tok = strndup(buf, len);
	if (tok == NULL)
		return QS_ERR_NOMEM;
	p->quoted[p->ntokens] = quoted;
	p->tokens[p->ntokens++] = tok;
	return QS_OK;
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* True when a '\' at the read position ends the line: a continuation. */
static int
at_continuation(const struct parser *p)
{
	const char *t = p->text + p->pos;
	size_t left = p->len - p->pos;

	if (left == 0 || t[0] != '\\')
		return 0;
	return left == 1 || t[1] == '\n' ||
	    (t[1] == '\r' && left > 2 && t[2] == '\n');
}

/* Reads a quoted string starting after its opening quote. */
static int
read_quoted(struct parser *p, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		char c;

		if (p->pos == p->len || p->text[p->pos] == '\n')
			return fail(p, "unterminated quoted string; add the "
			    "closing '\"'");
		c = p->text[p->pos++];
		if (c == '"')
			return QS_OK;
		if (c == '\\' && p->pos < p->len &&
		    (p->text[p->pos] == '"' || p->text[p->pos] == '\\'))
			c = p->text[p->pos++];
		if (c == '\0')
			return fail(p, "NUL byte inside a quoted string");
		if (*len + 1 >= cap)
			return fail(p, "string longer than %zu bytes", cap - 1);
		buf[(*len)++] = c;
	}
}

/*
 * Reads the words of the next statement into p->tokens. Returns QS_OK
 * with ntokens == 0 at the end of the text.
 */
static int
read_statement(struct parser *p)
{
	char buf[4096];
	size_t blen;
	int rc;

	free_tokens(p);
	p->stmt_line = p->line;
	while (p->pos < p->len) {
		char c = p->text[p->pos];

		if (c == '\n') {
			p->pos++;
			p->line++;
			if (p->ntokens > 0)
				return QS_OK;
			p->stmt_line = p->line;
			continue;
		}
		if (is_space(c)) {
			p->pos++;
			continue;
		}
		if (c == '#') {
			if (p->pos > 0 && !is_space(p->text[p->pos - 1]) &&
			    p->text[p->pos - 1] != '\n' &&
			    p->text[p->pos - 1] != '"')
				return fail(p, "'#' right after a word starts a "
				    "comment and would cut the word short; quote "
				    "the value if '#' belongs to it, or put a "
				    "space before the comment");
			while (p->pos < p->len && p->text[p->pos] != '\n')
				p->pos++;
			continue;
		}
		if (at_continuation(p)) {
			/* continuation: skip to the next line */
			while (p->pos < p->len && p->text[p->pos] != '\n')
				p->pos++;
			if (p->pos < p->len) {
				p->pos++;
				p->line++;
			}
			continue;
		}
		if (c == '"') {
			p->pos++;
			if ((rc = read_quoted(p, buf, sizeof(buf), &blen)) != 0)
				return rc;
			if ((rc = push_token(p, buf, blen, 1)) != 0)
				return rc;
			continue;
		}
		if (c == '\0')
			return fail(p, "NUL byte in the file; is it a text "
			    "file?");
		blen = 0;
		while (p->pos < p->len && !is_space(p->text[p->pos]) &&
		    p->text[p->pos] != '\n' && p->text[p->pos] != '#' &&
		    p->text[p->pos] != '"' && p->text[p->pos] != '\0' &&
		    !at_continuation(p)) {
			if (blen + 1 >= sizeof(buf))
				return fail(p, "word longer than %zu bytes",
				    sizeof(buf) - 1);
			buf[blen++] = p->text[p->pos++];
		}
		if (blen > 0 && (rc = push_token(p, buf, blen, 0)) != 0)
			return rc;
	}
	return QS_OK;
}

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > QS_NAME_MAX)
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static int
add_param(struct parser *p, struct qs_cfg_module *m, const char *stmt,
    const char *name, const char *value)
{
	struct qs_param *np;
	size_t i;

	if (!valid_name(name))
		return fail(p, "\"%s\": invalid option name \"%s\"; option "
		    "names are lowercase letters, digits and '-'", stmt, name);
	for (i = 0; i < m->nparams; i++)
		if (strcmp(m->params[i].name, name) == 0)
			return fail(p, "\"%s\": option \"%s\" given twice; "
			    "keep one", stmt, name);
	np = reallocarray(m->params, m->nparams + 1, sizeof(*np));
	if (np == NULL)
		return QS_ERR_NOMEM;
	m->params = np;
	memset(&np[m->nparams], 0, sizeof(np[0]));
	np[m->nparams].size = sizeof(np[0]);
	np[m->nparams].name = strdup(name);
	np[m->nparams].value = strdup(value);
	m->nparams++;
	if (np[m->nparams - 1].name == NULL ||
	    np[m->nparams - 1].value == NULL)
		return QS_ERR_NOMEM;
	return QS_OK;
}

static int
set_module(struct parser *p, struct qs_cfg_module *m, const char *stmt,
    const char *name)
{
	if (m->name != NULL)
		return fail(p, "\"%s\" given twice (first on line %d); keep "
		    "one", stmt, m->line);
	if (!valid_name(name))
		return fail(p, "\"%s\": invalid module name \"%s\"; names "
		    "are 1 to %d lowercase letters, digits and '-'", stmt,
		    name, QS_NAME_MAX);
	m->name = strdup(name);
	m->line = p->stmt_line;
	return m->name == NULL ? QS_ERR_NOMEM : QS_OK;
}

/*
 * Rejects a quoted string where an option name belongs, without
 * repeating it: it may be a passphrase placed one word too far.
 */
static int
quoted_option(struct parser *p, const char *stmt, size_t i)
{
	return fail(p, "\"%s\": word %zu is a quoted string where an option "
	    "name belongs; write OPTION \"VALUE\", for example key \"...\"",
	    stmt, i + 1);
}

/* Parses OPTION VALUE pairs from token i on into m's params. */
static int
parse_pairs(struct parser *p, struct qs_cfg_module *m, const char *stmt,
    size_t i)
{
	int rc;

	for (; i < p->ntokens; i += 2) {
		if (p->quoted[i])
			return quoted_option(p, stmt, i);
		if (i + 1 == p->ntokens)
			return fail(p, "\"%s\": option \"%s\" needs a value; "
			    "write \"%s VALUE\"", stmt, p->tokens[i],
			    p->tokens[i]);
		rc = add_param(p, m, stmt, p->tokens[i], p->tokens[i + 1]);
		if (rc != 0)
			return rc;
	}
	return QS_OK;
}

static int
parse_plugin_path(struct parser *p)
{
	struct qs_config *c = p->config;

	if (p->ntokens != 2)
		return fail(p, "\"plugin-path\" takes one directory; write "
		    "plugin-path \"/usr/lib/qstack/plugins\"");
	if (c->plugin_path != NULL)
		return fail(p, "\"plugin-path\" given twice (first on line "
		    "%d); keep one", c->plugin_path_line);
	if (p->tokens[1][0] != '/')
		return fail(p, "\"plugin-path\": \"%s\" is not an absolute "
		    "path; modules load only from an absolute directory",
		    p->tokens[1]);
	c->plugin_path = strdup(p->tokens[1]);
	c->plugin_path_line = p->stmt_line;
	return c->plugin_path == NULL ? QS_ERR_NOMEM : QS_OK;
}

static int
parse_backend(struct parser *p)
{
	int rc;

	if (p->ntokens < 3)
		return fail(p, "\"queue backend\" needs a module name; write "
		    "queue backend fs path \"/var/spool/qstack\"");
	rc = set_module(p, &p->config->backend, "queue backend",
	    p->tokens[2]);
	if (rc != 0)
		return rc;
	return parse_pairs(p, &p->config->backend, "queue backend", 3);
}

/*
 * queue compression [NAME] [OPTION VALUE]...: an odd count of words
 * after "compression" means the first one is the module name.
 */
static int
parse_compression(struct parser *p)
{
	const char *name = "zlib";
	size_t i = 2;
	int rc;

	if ((p->ntokens - 2) % 2 == 1)
		name = p->tokens[i++];
	rc = set_module(p, &p->config->compress, "queue compression", name);
	if (rc != 0)
		return rc;
	return parse_pairs(p, &p->config->compress, "queue compression", i);
}

static int
set_key(struct parser *p, struct qs_cfg_key *key, const char *stmt,
    const char *opt, const char *value, int quoted)
{
	if (key->source != 0)
		return fail(p, "\"%s\": key given twice; use one of key, "
		    "key-file or key -", stmt);
	if (strcmp(opt, "key-file") == 0) {
		if (value[0] == '\0')
			return fail(p, "\"%s\": key-file is empty; give the "
			    "path of the key file", stmt);
		key->source = QS_KEYSRC_FILE;
	} else if (!quoted && (strcmp(value, "-") == 0 ||
	    strcmp(value, "stdin") == 0)) {
		key->source = QS_KEYSRC_STDIN;
	} else {
		if (value[0] == '\0')
			return fail(p, "\"%s\": the key is empty; give a "
			    "passphrase or use key-file", stmt);
		key->source = QS_KEYSRC_TEXT;
	}
	key->value = strdup(value);
	key->line = p->stmt_line;
	return key->value == NULL ? QS_ERR_NOMEM : QS_OK;
}

static int
parse_encryption(struct parser *p)
{
	struct qs_config *c = p->config;
	const char *stmt = "queue encryption";
	const char *module = "evp";
	int module_given = 0;
	size_t i;
	int rc;

	if (c->crypto.name != NULL)
		return fail(p, "\"%s\" given twice (first on line %d); keep "
		    "one", stmt, c->crypto.line);
	for (i = 2; i < p->ntokens; i += 2) {
		if (p->quoted[i])
			return quoted_option(p, stmt, i);
		if (strcmp(p->tokens[i], "module") != 0 || i + 1 == p->ntokens)
			continue;
		if (module_given++)
			return fail(p, "\"%s\": option \"module\" given "
			    "twice; keep one", stmt);
		module = p->tokens[i + 1];
	}
	if ((rc = set_module(p, &c->crypto, stmt, module)) != 0)
		return rc;
	for (i = 2; i < p->ntokens; i += 2) {
		const char *opt = p->tokens[i];

		if (i + 1 == p->ntokens)
			return fail(p, "\"%s\": option \"%s\" needs a value; "
			    "write \"%s VALUE\"", stmt, opt, opt);
		if (strcmp(opt, "key") == 0 || strcmp(opt, "key-file") == 0)
			rc = set_key(p, &c->key, stmt, opt, p->tokens[i + 1],
			    p->quoted[i + 1]);
		else if (strcmp(opt, "module") == 0)
			rc = QS_OK;
		else
			rc = add_param(p, &c->crypto, stmt, opt,
			    p->tokens[i + 1]);
		if (rc != 0)
			return rc;
	}
	if (c->key.source == 0) {
		c->key.source = QS_KEYSRC_PROMPT;
		c->key.line = p->stmt_line;
	}
	return QS_OK;
}

static int
parse_decryption(struct parser *p)
{
	struct qs_config *c = p->config;
	const char *stmt = "queue decryption";
	struct qs_cfg_key *nk;

	if (p->ntokens != 4 || (strcmp(p->tokens[2], "key") != 0 &&
	    strcmp(p->tokens[2], "key-file") != 0))
		return fail(p, "\"%s\" takes one key; write queue decryption "
		    "key \"OLD\" or queue decryption key-file \"PATH\"", stmt);
	nk = reallocarray(c->old_keys, c->nold_keys + 1, sizeof(*nk));
	if (nk == NULL)
		return QS_ERR_NOMEM;
	c->old_keys = nk;
	memset(&nk[c->nold_keys], 0, sizeof(nk[0]));
	c->nold_keys++;
	return set_key(p, &nk[c->nold_keys - 1], stmt, p->tokens[2],
	    p->tokens[3], p->quoted[3]);
}

/*
 * Parses a size such as 1048576, 512K, 100M or 2G (powers of 1024) into
 * *out. Returns 0, or -1 when text is not such a size.
 */
static int
parse_size(const char *text, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'K' || *end == 'k')
		mult = 1024;
	else if (*end == 'M' || *end == 'm')
		mult = 1024 * 1024;
	else if (*end == 'G' || *end == 'g')
		mult = 1024 * 1024 * 1024;
	else if (*end != '\0')
		return -1;
	if (mult > 1 && end[1] != '\0')
		return -1;
	if (v > UINT64_MAX / mult)
		return -1;
	*out = (uint64_t)v * mult;
	return 0;
}

static int
parse_limits(struct parser *p)
{
	struct qs_config *c = p->config;
	const char *stmt = "queue limits";
	uint64_t v;
	size_t i;

	if (c->limits_line != 0)
		return fail(p, "\"%s\" given twice (first on line %d); keep "
		    "one", stmt, c->limits_line);
	c->limits_line = p->stmt_line;
	if (p->ntokens == 2)
		return fail(p, "\"%s\" needs at least one limit; write queue "
		    "limits max-message-size 100M max-ratio 1100", stmt);
	for (i = 2; i < p->ntokens; i += 2) {
		const char *opt = p->tokens[i];

		if (p->quoted[i])
			return quoted_option(p, stmt, i);
		if (i + 1 == p->ntokens)
			return fail(p, "\"%s\": option \"%s\" needs a value; "
			    "write \"%s VALUE\"", stmt, opt, opt);
		if (strcmp(opt, "max-message-size") == 0) {
			if (parse_size(p->tokens[i + 1], &v) == -1)
				return fail(p, "\"%s\": invalid max-message-"
				    "size \"%s\"; give bytes, or a number "
				    "with K, M or G, or 0 for no limit", stmt,
				    p->tokens[i + 1]);
			c->max_message_size = v;
		} else if (strcmp(opt, "max-ratio") == 0) {
			if (parse_size(p->tokens[i + 1], &v) == -1 || v == 0 ||
			    strspn(p->tokens[i + 1], "0123456789") !=
			    strlen(p->tokens[i + 1]))
				return fail(p, "\"%s\": invalid max-ratio "
				    "\"%s\"; give a whole number of at least "
				    "1, such as 1100", stmt, p->tokens[i + 1]);
			c->max_ratio = v;
		} else {
			return fail(p, "\"%s\": unknown option \"%s\"; "
			    "expected max-message-size or max-ratio", stmt,
			    opt);
		}
	}
	return QS_OK;
}

static int
parse_statement(struct parser *p)
{
	const char *w0 = p->tokens[0];
	const char *w1 = p->ntokens > 1 ? p->tokens[1] : "";

	if (strcmp(w0, "plugin-path") == 0)
		return parse_plugin_path(p);
	if (strcmp(w0, "queue") != 0)
		return fail(p, "unknown statement \"%s\"; expected "
		    "plugin-path or queue", w0);
	if (strcmp(w1, "backend") == 0)
		return parse_backend(p);
	if (strcmp(w1, "compression") == 0)
		return parse_compression(p);
	if (strcmp(w1, "encryption") == 0)
		return parse_encryption(p);
	if (strcmp(w1, "decryption") == 0)
		return parse_decryption(p);
	if (strcmp(w1, "limits") == 0)
		return parse_limits(p);
	return fail(p, "unknown statement \"queue %s\"; expected queue "
	    "backend, compression, encryption, decryption or limits", w1);
}

static void
free_module(struct qs_cfg_module *m)
{
	size_t i;

	for (i = 0; i < m->nparams; i++) {
		free((char *)m->params[i].name);
		free((char *)m->params[i].value);
	}
	free(m->params);
	free(m->name);
}

static void
free_key(struct qs_cfg_key *k)
{
	if (k->value != NULL) {
		qs_wipe(k->value, strlen(k->value));
		free(k->value);
	}
}

QS_API void
qs_config_free(struct qs_config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->plugin_path);
	free(c->default_plugin_path);
	free_module(&c->backend);
	free_module(&c->compress);
	free_module(&c->crypto);
	free_key(&c->key);
	for (i = 0; i < c->nold_keys; i++)
		free_key(&c->old_keys[i]);
	free(c->old_keys);
	free(c);
}

QS_API struct qs_config *
qs_config_parse(const char *text, size_t len, const char *name, char *err,
    size_t err_cap)
{
	struct parser p;
	int rc;

	memset(&p, 0, sizeof(p));
	p.config = calloc(1, sizeof(*p.config));
	if (p.config == NULL) {
		qs_errf(err, err_cap, "%s: out of memory", name);
		return NULL;
	}
	p.config->file = strdup(name != NULL ? name : "(config)");
	p.config->max_message_size = QS_DEFAULT_MAX_MESSAGE_SIZE;
	p.config->max_ratio = QS_DEFAULT_MAX_RATIO;
	p.text = text;
	p.len = len;
	p.line = 1;
	p.err = err;
	p.err_cap = err_cap;
	if (p.config->file == NULL) {
		rc = QS_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		if ((rc = read_statement(&p)) != 0 || p.ntokens == 0)
			break;
		if ((rc = parse_statement(&p)) != 0)
			break;
	}
out:
	free_tokens(&p);
	if (rc == QS_ERR_NOMEM)
		rc = fail(&p, "out of memory");
	if (rc != 0) {
		qs_config_free(p.config);
		return NULL;
	}
	return p.config;
}

static int
has_inline_key(const struct qs_config *c)
{
	size_t i;

	if (c->key.source == QS_KEYSRC_TEXT)
		return 1;
	for (i = 0; i < c->nold_keys; i++)
		if (c->old_keys[i].source == QS_KEYSRC_TEXT)
			return 1;
	return 0;
}

QS_API struct qs_config *
qs_config_load(const char *path, char *err, size_t err_cap)
{
	struct qs_config *c;
	struct stat st;
	char *text;
	ssize_t n;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		qs_errf(err, err_cap, "cannot open configuration %s: %s; "
		    "create it or pass another with -c or QSTACK_CONF", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > CONFIG_MAX) {
		qs_errf(err, err_cap, "configuration %s is not a regular "
		    "file of at most %d bytes", path, CONFIG_MAX);
		close(fd);
		return NULL;
	}
	text = malloc((size_t)st.st_size + 1);
	if (text == NULL) {
		qs_errf(err, err_cap, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (len < (size_t)st.st_size &&
	    (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			qs_errf(err, err_cap, "cannot read configuration %s: "
			    "%s", path, strerror(errno));
			free(text);
			close(fd);
			return NULL;
		}
		len += (size_t)n;
	}
	close(fd);
	c = qs_config_parse(text, len, path, err, err_cap);
	qs_wipe(text, len);
	free(text);
	if (c != NULL && (st.st_mode & 077) != 0 && has_inline_key(c))
		qs_log(QS_LOG_WARN, "config", "%s contains a passphrase and "
		    "has mode %04o, so group or others may read it; run "
		    "chmod 600 %s or move the key to a key-file", path,
		    (unsigned)(st.st_mode & 07777), path);
	return c;
}

QS_API int
qs_config_set_default_plugin_path(struct qs_config *c, const char *dir)
{
	char *copy = strdup(dir);

	if (copy == NULL)
		return QS_ERR_NOMEM;
	free(c->default_plugin_path);
	c->default_plugin_path = copy;
	return QS_OK;
}

QS_API int
qs_config_reads_stdin(const struct qs_config *c)
{
	size_t i;

	if (c->key.source == QS_KEYSRC_STDIN)
		return 1;
	for (i = 0; i < c->nold_keys; i++)
		if (c->old_keys[i].source == QS_KEYSRC_STDIN)
			return 1;
	return 0;
}

const char *
qs_config_plugin_dir(const struct qs_config *c)
{
	const char *env = getenv("QSTACK_PLUGIN_PATH");

	if (env != NULL && env[0] != '\0')
		return env;
	if (c->plugin_path != NULL)
		return c->plugin_path;
	if (c->default_plugin_path != NULL)
		return c->default_plugin_path;
	return QS_PLUGIN_DIR;
}
