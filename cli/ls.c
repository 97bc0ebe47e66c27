/*
 * qstack ls: one line per message, sorted by id, as text or as JSON.
 *
 * Text:  ID SIZE STORED_SIZE [EVPID RECIPIENT]...
 * JSON:  {"id":..., "size":N or null, "stored_size":N,
 *         "envelopes":[{"id":..., "recipient":..., "sender":...}]}
 *
 * SIZE comes from the envelopes' size field, so a message without
 * envelopes shows "-" (null in JSON).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One message as listed: its id, stored size and loaded envelopes. */
struct listing {
	const char *msgid;
	uint64_t stored_size;
	struct cli_ids evpids;
	struct cli_envelope *envs;     /* one per entry of evpids */
	int *loaded;                   /* envs[i] is valid */
};

/*
 * Returns the length of the valid UTF-8 sequence at s (RFC 3629), or 0
 * when s does not start one.
 */
static size_t
utf8_sequence_length(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;

	/* Reject overlong forms, surrogates and code points past U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	}
	return len;
}

/*
 * Writes text as a JSON string. Valid UTF-8 passes through, '"', '\\'
 * and control characters are escaped, and each byte that is not part of
 * valid UTF-8 becomes \ufffd (U+FFFD, the replacement character).
 */
void
cli_json_string(FILE *out, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t len;

	putc('"', out);
	while (*s != '\0') {
		if (*s == '"' || *s == '\\') {
			fprintf(out, "\\%c", *s);
			s++;
		} else if (*s == '\n') {
			fputs("\\n", out);
			s++;
		} else if (*s == '\t') {
			fputs("\\t", out);
			s++;
		} else if (*s < 0x20 || *s == 0x7f) {
			fprintf(out, "\\u%04x", *s);
			s++;
		} else if ((len = utf8_sequence_length(s)) == 0) {
			fputs("\\ufffd", out);
			s++;
		} else {
			fwrite(s, 1, len, out);
			s += len;
		}
	}
	putc('"', out);
}

/* The message's size: the first envelope's size field, or NULL. */
static const uint64_t *
listing_size(const struct listing *l)
{
	size_t i;

	for (i = 0; i < l->evpids.count; i++) {
		if (l->loaded[i])
			return &l->envs[i].size;
	}
	return NULL;
}

static void
print_text(const struct listing *l)
{
	const uint64_t *size = listing_size(l);
	size_t i;

	printf("%s ", l->msgid);
	if (size != NULL)
		printf("%" PRIu64, *size);
	else
		printf("-");
	printf(" %" PRIu64, l->stored_size);
	for (i = 0; i < l->evpids.count; i++) {
		printf(" %s %s", l->evpids.ids[i],
		    l->loaded[i] ? l->envs[i].recipient : "?");
	}
	printf("\n");
}

static void
print_json_envelope(const struct listing *l, size_t i)
{
	printf("{\"id\":");
	cli_json_string(stdout, l->evpids.ids[i]);
	if (l->loaded[i]) {
		printf(",\"recipient\":");
		cli_json_string(stdout, l->envs[i].recipient);
		printf(",\"sender\":");
		cli_json_string(stdout, l->envs[i].sender);
	} else {
		printf(",\"recipient\":null,\"sender\":null");
	}
	printf("}");
}

static void
print_json(const struct listing *l)
{
	const uint64_t *size = listing_size(l);
	size_t i;

	printf("{\"id\":");
	cli_json_string(stdout, l->msgid);
	if (size != NULL)
		printf(",\"size\":%" PRIu64, *size);
	else
		printf(",\"size\":null");
	printf(",\"stored_size\":%" PRIu64 ",\"envelopes\":[",
	    l->stored_size);
	for (i = 0; i < l->evpids.count; i++) {
		if (i > 0)
			printf(",");
		print_json_envelope(l, i);
	}
	printf("]}\n");
}

/*
 * Loads the envelopes of a message. An envelope that fails to load is
 * reported and listed without its fields. Returns the number of
 * failures, or -1 when listing failed as a whole.
 */
static int
load_envelopes(struct cli *cli, struct listing *l)
{
	char err[512];
	size_t i;
	int failures = 0;

	if (cli_collect_envelopes(cli, l->msgid, &l->evpids) != 0)
		return -1;
	l->envs = calloc(l->evpids.count + 1, sizeof(*l->envs));
	l->loaded = calloc(l->evpids.count + 1, sizeof(*l->loaded));
	if (l->envs == NULL || l->loaded == NULL) {
		cli_error("ls: out of memory");
		return -1;
	}
	for (i = 0; i < l->evpids.count; i++) {
		const char *evpid = l->evpids.ids[i];

		if (cli_envelope_load(cli, evpid, &l->envs[i], err,
		    sizeof(err)) == 0) {
			l->loaded[i] = 1;
			continue;
		}
		cli_error("ls: %s", err);
		failures++;
	}
	return failures;
}

static void
listing_free(struct listing *l)
{
	cli_ids_free(&l->evpids);
	free(l->envs);
	free(l->loaded);
}

/*
 * Lists one message. Returns 0, or 1 when something was reported. A
 * message deleted since the walk is skipped.
 */
static int
list_message(struct cli *cli, const char *msgid, int json)
{
	struct listing l;
	int rc;

	memset(&l, 0, sizeof(l));
	l.msgid = msgid;
	rc = qs_msg_stored_size(cli->queue, msgid, &l.stored_size);
	if (rc == QS_ERR_NOTFOUND)
		return 0;
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "ls: message %s", msgid);
		return 1;
	}
	rc = load_envelopes(cli, &l);
	if (rc >= 0) {
		if (json)
			print_json(&l);
		else
			print_text(&l);
	}
	listing_free(&l);
	return rc == 0 ? 0 : 1;
}

int
cli_cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct cli_ids ids;
	char shown[64];
	size_t i;
	int json = 0, failures = 0;

	if (argc > 2)
		return cli_usage_error("ls: too many arguments");
	if (argc == 2) {
		if (strcmp(argv[1], "--json") != 0)
			return cli_usage_error("ls: unknown %s '%s'",
			    argv[1][0] == '-' ? "option" : "argument",
			    cli_printable(argv[1], shown, sizeof(shown)));
		json = 1;
	}
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;

	memset(&ids, 0, sizeof(ids));
	if (cli_collect_messages(cli, &ids) != 0) {
		cli_ids_free(&ids);
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < ids.count; i++)
		failures += list_message(cli, ids.ids[i], json);
	cli_ids_free(&ids);

	if (cli_flush_stdout() != 0)
		return CLI_EXIT_FAIL;
	return failures == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
