/*
 * fsck and rekey: the commands that go over every blob of the queue.
 * Both show progress on standard error when it is a terminal.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct fsck_output {
	int json;
	int tty;
	uint64_t seen;
};

static const char *
kind_name(uint32_t kind)
{
	return kind == QS_BLOB_MESSAGE ? "message" : "envelope";
}

static void
print_item(void *arg, const struct qs_fsck_item *item)
{
	struct fsck_output *o = arg;

	o->seen++;
	if (o->tty && o->seen % 64 == 0)
		fprintf(stderr, "\rfsck: %llu blobs checked",
		    (unsigned long long)o->seen);
	if (item->problem == QS_PROBLEM_NONE)
		return;
	if (o->tty)
		fputs("\r\033[K", stderr);
	if (!o->json) {
		printf("%s %s %s: %s%s%s\n", kind_name(item->kind), item->id,
		    qs_problem_name(item->problem), item->detail,
		    item->quarantined ? "; moved to " : "",
		    item->quarantined ? item->quarantined : "");
		return;
	}
	fputs("{\"id\":", stdout);
	cli_json_string(stdout, item->id);
	printf(",\"kind\":\"%s\",\"problem\":\"%s\",\"detail\":",
	    kind_name(item->kind), qs_problem_name(item->problem));
	cli_json_string(stdout, item->detail);
	fputs(",\"quarantined\":", stdout);
	if (item->quarantined != NULL)
		cli_json_string(stdout, item->quarantined);
	else
		fputs("null", stdout);
	fputs("}\n", stdout);
}

int
cli_cmd_fsck(struct cli *cli, int argc, char **argv)
{
	struct fsck_output o = { 0 };
	struct qs_fsck_stats st;
	uint32_t flags = 0;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			o.json = 1;
		else if (strcmp(argv[i], "--quarantine") == 0)
			flags |= QS_FSCK_QUARANTINE;
		else
			return cli_usage_error("fsck: unknown argument '%s'",
			    argv[i]);
	}
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;
	o.tty = isatty(STDERR_FILENO);
	rc = qs_fsck(cli->queue, flags, print_item, &o, &st);
	if (o.tty)
		fputs("\r\033[K", stderr);
	if (rc != QS_OK && rc != QS_ERR_CORRUPT) {
		cli_queue_error(cli, rc, "fsck stopped");
		return CLI_EXIT_FAIL;
	}
	if (o.json)
		printf("{\"summary\":true,\"messages\":%llu,\"envelopes\":%llu,"
		    "\"bad\":%llu,\"quarantined\":%llu}\n",
		    (unsigned long long)st.messages,
		    (unsigned long long)st.envelopes,
		    (unsigned long long)st.bad,
		    (unsigned long long)st.quarantined);
	else
		printf("checked %llu messages and %llu envelopes: %llu bad, "
		    "%llu quarantined\n", (unsigned long long)st.messages,
		    (unsigned long long)st.envelopes,
		    (unsigned long long)st.bad,
		    (unsigned long long)st.quarantined);
	if (cli_flush_stdout() != 0)
		return CLI_EXIT_FAIL;
	if (rc == QS_ERR_CORRUPT) {
		cli_error("the queue has bad blobs (%llu); see the lines "
		    "above", (unsigned long long)st.bad);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

static void
rekey_progress(void *arg, uint64_t done, uint64_t total)
{
	const int *tty = arg;

	if (*tty && (done % 16 == 0 || done == total))
		fprintf(stderr, "\rrekey: %llu of %llu blobs",
		    (unsigned long long)done, (unsigned long long)total);
}

/* Set when rekey_remaining reported any blob under an older key. */
static int remaining_seen;

static void
rekey_remaining(void *arg, const char *key_id, uint64_t count)
{
	const int *tty = arg;

	remaining_seen = 1;
	if (*tty)
		fputs("\r\033[K", stderr);
	if (strcmp(key_id, "none") == 0)
		printf("%llu blobs remain unencrypted\n",
		    (unsigned long long)count);
	else
		printf("%llu blobs remain under key %s\n",
		    (unsigned long long)count, key_id);
}

int
cli_cmd_rekey(struct cli *cli, int argc, char **argv)
{
	struct qs_rekey_stats st;
	int tty, rc;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("rekey: too many arguments");
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;
	tty = isatty(STDERR_FILENO);
	rc = qs_rekey(cli->queue, rekey_progress, rekey_remaining, &tty, &st);
	if (tty)
		fputs("\r\033[K", stderr);
	if (rc != QS_OK && rc != QS_ERR_NOKEY) {
		cli_queue_error(cli, rc, "rekey stopped");
		return CLI_EXIT_FAIL;
	}
	printf("re-encrypted %llu blobs, %llu already under the current key, "
	    "%llu failed\n", (unsigned long long)st.rekeyed,
	    (unsigned long long)st.current, (unsigned long long)st.failed);
	if (rc == QS_OK && !remaining_seen)
		printf("no blob remains under an older key; the queue "
		    "decryption lines can be removed\n");
	if (cli_flush_stdout() != 0)
		return CLI_EXIT_FAIL;
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "rekey is incomplete");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
