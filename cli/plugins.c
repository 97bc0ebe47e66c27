/*
 * qstack plugins and qstack check: the commands about the configuration
 * and the modules rather than the stored messages.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *
kind_name(uint32_t kind)
{
	switch (kind) {
	case QS_KIND_COMPRESS:
		return "compress";
	case QS_KIND_CRYPTO:
		return "crypto";
	case QS_KIND_QUEUE:
		return "queue";
	default:
		return "-";
	}
}

/*
 * Prints "NAME KIND MAJOR.MINOR VERSION DESCRIPTION", or for a module
 * that cannot be loaded "NAME KIND - - error: REASON (FILE)".
 */
static void
print_plugin(void *arg, const struct qs_plugin_info *info)
{
	const char *name = info->name, *slash;

	(void)arg;
	if ((name == NULL || name[0] == '\0') && info->file != NULL) {
		slash = strrchr(info->file, '/');
		name = slash != NULL ? slash + 1 : info->file;
	}
	if (name == NULL || name[0] == '\0')
		name = "?";
	if (info->error != NULL) {
		printf("%-8s %-8s -     -      error: %s (%s)\n", name,
		    kind_name(info->kind), info->error,
		    info->file ? info->file : "?");
		return;
	}
	printf("%-8s %-8s %u.%-3u %-6s %s\n", name, kind_name(info->kind),
	    (unsigned)QS_ABI_VERSION_MAJOR(info->abi_version),
	    (unsigned)QS_ABI_VERSION_MINOR(info->abi_version),
	    info->version ? info->version : "-",
	    info->description ? info->description : "");
}

int
cli_cmd_plugins(struct cli *cli, int argc, char **argv)
{
	int rc;

	(void)argv;
	if (argc != 1)
		return cli_usage_error("plugins: too many arguments");
	/* Modules can be listed before any configuration exists. */
	cli->defaults_if_missing = 1;
	if (cli_load_config(cli) != 0)
		return CLI_EXIT_FAIL;
	rc = qs_plugins_walk(cli->config, print_plugin, NULL);
	if (rc != QS_OK) {
		cli_error("plugins: listing the modules on the plugin path "
		    "failed: %s; check plugin-path and QSTACK_PLUGIN_PATH",
		    qs_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* Messages whose first bytes check reads to test the keys. */
#define CHECK_SAMPLE 16

struct key_sample {
	struct qs_queue *queue;
	unsigned tried;
	unsigned nokey;
	char first_error[512];
};

/* Reads the first bytes of one message; counts a missing key. */
static int
sample_message(void *arg, const char *msgid)
{
	struct key_sample *k = arg;
	struct qs_msg_reader *r;
	char buf[256];
	size_t n;
	int rc;

	rc = qs_msg_open(k->queue, msgid, &r);
	if (rc == QS_OK) {
		rc = qs_msg_read(r, buf, sizeof(buf), &n);
		qs_msg_close(r);
	}
	if (rc == QS_ERR_NOTFOUND)
		return 0;
	k->tried++;
	if (rc == QS_ERR_NOKEY && k->nokey++ == 0)
		snprintf(k->first_error, sizeof(k->first_error), "%s",
		    qs_error(k->queue));
	return k->tried == CHECK_SAMPLE ? QS_ERR_STOP : 0;
}

int
cli_cmd_check(struct cli *cli, int argc, char **argv)
{
	struct key_sample k = { 0 };

	(void)argv;
	if (argc != 1)
		return cli_usage_error("check: too many arguments");
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;
	/*
	 * A wrong passphrase opens the queue like the right one; only the
	 * stored blobs tell them apart.
	 */
	k.queue = cli->queue;
	qs_msg_walk(cli->queue, sample_message, &k);
	if (k.tried > 0 && k.nokey == k.tried) {
		cli_error("none of the configured keys reads the stored "
		    "messages (%u tried): %s", k.tried, k.first_error);
		qs_close(cli->queue);
		cli->queue = NULL;
		return CLI_EXIT_FAIL;
	}
	if (k.nokey > 0)
		fprintf(stderr, "qstack: warning: %u of %u sampled messages "
		    "need a key that is not configured: %s\n", k.nokey,
		    k.tried, k.first_error);
	qs_close(cli->queue);
	cli->queue = NULL;
	printf("configuration %s is valid\n", cli->config_path);
	return CLI_EXIT_OK;
}
