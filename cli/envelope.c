/*
 * The envelope format of the qstack command. The library stores
 * envelopes as opaque bytes; the command writes them as text:
 *
 *	qstack-envelope 1
 *	sender SENDER
 *	recipient RECIPIENT
 *	size BYTES
 *	created UNIXTIME
 *
 * The first line names the format and its version. Each other line is a
 * key, blanks, and a value that runs to the end of the line. Readers
 * accept CRLF line ends, blank lines and keys they do not know, so that
 * version 1 can gain keys. An incompatible change takes version 2.
 * recipient and size are required, sender may be empty (the null sender)
 * and created may be missing (0, unknown). docs/qstack.1 documents the
 * same format for users.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define ENVELOPE_MAGIC "qstack-envelope"
#define ENVELOPE_VERSION 1

/* Bytes an envelope is loaded into before a larger buffer is needed. */
#define ENVELOPE_INLINE 4096

/*
 * Checks that addr fits an envelope line: at most CLI_ADDR_MAX bytes, no
 * control characters (line breaks included), no leading or trailing
 * blanks, and not empty unless may_be_empty. Returns 0, or -1 with the
 * reason in err.
 */
int
cli_check_address(const char *addr, int may_be_empty, char *err,
    size_t err_cap)
{
	size_t i, len = strlen(addr);

	if (len == 0 && !may_be_empty) {
		snprintf(err, err_cap, "the address is empty");
		return -1;
	}
	if (len > CLI_ADDR_MAX) {
		snprintf(err, err_cap, "the address is %zu bytes long, the "
		    "maximum is %d", len, CLI_ADDR_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c < 0x20 || c == 0x7f) {
			snprintf(err, err_cap, "the address contains a "
			    "control character or line break at byte %zu",
			    i + 1);
			return -1;
		}
	}
	if (len > 0 && (addr[0] == ' ' || addr[len - 1] == ' ')) {
		snprintf(err, err_cap, "the address starts or ends with a "
		    "space");
		return -1;
	}
	return 0;
}

/*
 * Writes env in the envelope format into buf. Returns 0 with the length
 * in *len, or -1 when buf is too small.
 */
int
cli_envelope_format(const struct cli_envelope *env, char *buf, size_t cap,
    size_t *len)
{
	int n;

	n = snprintf(buf, cap, "%s %d\nsender %s\nrecipient %s\n"
	    "size %" PRIu64 "\ncreated %" PRId64 "\n", ENVELOPE_MAGIC,
	    ENVELOPE_VERSION, env->sender, env->recipient, env->size,
	    env->created);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	*len = (size_t)n;
	return 0;
}

/* Parses a decimal number of at most max. Returns 0 or -1. */
static int
parse_number(const char *text, uint64_t max, uint64_t *value)
{
	char *end;
	unsigned long long n;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || n > max)
		return -1;
	*value = n;
	return 0;
}

/* Parses the first line, "qstack-envelope VERSION". */
static int
parse_magic(const char *line, char *err, size_t err_cap)
{
	size_t magic_len = strlen(ENVELOPE_MAGIC);
	uint64_t version;

	if (strncmp(line, ENVELOPE_MAGIC, magic_len) != 0 ||
	    (line[magic_len] != ' ' && line[magic_len] != '\t')) {
		snprintf(err, err_cap, "it does not start with \"%s\"; it was "
		    "not written by the qstack command", ENVELOPE_MAGIC);
		return -1;
	}
	line += magic_len + strspn(line + magic_len, " \t");
	if (parse_number(line, UINT32_MAX, &version) != 0) {
		snprintf(err, err_cap, "the format version is not a number");
		return -1;
	}
	if (version != ENVELOPE_VERSION) {
		snprintf(err, err_cap, "format version %" PRIu64 " is not "
		    "supported, this qstack reads version %d; upgrade qstack",
		    version, ENVELOPE_VERSION);
		return -1;
	}
	return 0;
}

/* Fields seen so far while parsing, to catch missing and repeated keys. */
struct parse_state {
	int have_sender;
	int have_recipient;
	int have_size;
	int have_created;
};

static int
parse_address_field(const char *key, const char *value, int may_be_empty,
    int *seen, char *out, char *err, size_t err_cap)
{
	char reason[128];

	if (*seen) {
		snprintf(err, err_cap, "key \"%s\" is repeated", key);
		return -1;
	}
	*seen = 1;
	if (cli_check_address(value, may_be_empty, reason,
	    sizeof(reason)) != 0) {
		snprintf(err, err_cap, "invalid %s: %s", key, reason);
		return -1;
	}
	memcpy(out, value, strlen(value) + 1);
	return 0;
}

static int
parse_number_field(const char *key, const char *value, uint64_t max,
    int *seen, uint64_t *out, char *err, size_t err_cap)
{
	if (*seen) {
		snprintf(err, err_cap, "key \"%s\" is repeated", key);
		return -1;
	}
	*seen = 1;
	if (parse_number(value, max, out) != 0) {
		snprintf(err, err_cap, "invalid %s: not a decimal number",
		    key);
		return -1;
	}
	return 0;
}

/* Parses one "key value" line; unknown keys are ignored. */
static int
parse_line(char *line, struct parse_state *state, struct cli_envelope *env,
    char *err, size_t err_cap)
{
	char *value;
	size_t key_len;
	uint64_t created;

	key_len = strcspn(line, " \t");
	value = line + key_len;
	value += strspn(value, " \t");
	line[key_len] = '\0';

	if (strcmp(line, "sender") == 0)
		return parse_address_field(line, value, 1,
		    &state->have_sender, env->sender, err, err_cap);
	if (strcmp(line, "recipient") == 0)
		return parse_address_field(line, value, 0,
		    &state->have_recipient, env->recipient, err, err_cap);
	if (strcmp(line, "size") == 0)
		return parse_number_field(line, value, UINT64_MAX,
		    &state->have_size, &env->size, err, err_cap);
	if (strcmp(line, "created") == 0) {
		if (parse_number_field(line, value, INT64_MAX,
		    &state->have_created, &created, err, err_cap) != 0)
			return -1;
		env->created = (int64_t)created;
	}
	return 0;
}

/* Cuts the next line out of text, dropping its CR LF or LF. */
static char *
next_line(char **text)
{
	char *line = *text, *nl;
	size_t len;

	if (line == NULL)
		return NULL;
	nl = strchr(line, '\n');
	if (nl != NULL) {
		*nl = '\0';
		*text = nl + 1;
	} else {
		*text = NULL;
	}

	/* Trailing blanks and a CR are not part of any value. */
	len = strlen(line);
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		line[--len] = '\0';
	return line;
}

static int
parse_text(char *text, struct cli_envelope *env, char *err, size_t err_cap)
{
	struct parse_state state;
	char *line;

	memset(&state, 0, sizeof(state));
	line = next_line(&text);
	if (parse_magic(line, err, err_cap) != 0)
		return -1;
	while ((line = next_line(&text)) != NULL) {
		if (line[0] == '\0')
			continue;
		if (parse_line(line, &state, env, err, err_cap) != 0)
			return -1;
	}
	if (!state.have_recipient) {
		snprintf(err, err_cap, "the recipient is missing");
		return -1;
	}
	if (!state.have_size) {
		snprintf(err, err_cap, "the size is missing");
		return -1;
	}
	return 0;
}

/*
 * Parses and validates an envelope. Returns 0, or -1 with the reason in
 * err (which never quotes the envelope's bytes).
 */
int
cli_envelope_parse(const char *buf, size_t len, struct cli_envelope *env,
    char *err, size_t err_cap)
{
	char *text;
	int rc;

	memset(env, 0, sizeof(*env));
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, err_cap, "it contains a NUL byte");
		return -1;
	}
	text = malloc(len + 1);
	if (text == NULL) {
		snprintf(err, err_cap, "out of memory");
		return -1;
	}
	memcpy(text, buf, len);
	text[len] = '\0';
	rc = parse_text(text, env, err, err_cap);
	free(text);
	return rc;
}

/*
 * Loads envelope evpid from the queue and parses it. Returns 0, or -1
 * with a line naming the envelope and the reason in err.
 */
int
cli_envelope_load(struct cli *cli, const char *evpid,
    struct cli_envelope *env, char *err, size_t err_cap)
{
	char inline_buf[ENVELOPE_INLINE], reason[256];
	char *buf = inline_buf;
	size_t len = 0;
	int rc;

	rc = qs_env_load(cli->queue, evpid, buf, sizeof(inline_buf), &len);
	if (rc == QS_ERR_LIMIT && len > CLI_ENVELOPE_MAX) {
		snprintf(err, err_cap, "envelope %s is %zu bytes, more than "
		    "the %d bytes the qstack command reads", evpid, len,
		    CLI_ENVELOPE_MAX);
		return -1;
	}
	if (rc == QS_ERR_LIMIT) {
		buf = malloc(len);
		if (buf == NULL) {
			snprintf(err, err_cap, "loading envelope %s failed: "
			    "out of memory", evpid);
			return -1;
		}
		rc = qs_env_load(cli->queue, evpid, buf, len, &len);
	}
	if (rc != QS_OK) {
		/* The queue's error line names the value that failed. */
		const char *queue_error = qs_error(cli->queue);

		if (queue_error != NULL && queue_error[0] != '\0')
			snprintf(err, err_cap, "%s", queue_error);
		else
			snprintf(err, err_cap, "loading envelope %s failed: "
			    "%s", evpid, qs_strerror(rc));
	} else if (cli_envelope_parse(buf, len, env, reason,
	    sizeof(reason)) != 0) {
		snprintf(err, err_cap, "envelope %s is invalid: %s", evpid,
		    reason);
		rc = -1;
	}
	if (buf != inline_buf)
		free(buf);
	return rc == QS_OK ? 0 : -1;
}
