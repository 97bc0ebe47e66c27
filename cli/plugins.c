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

int
cli_cmd_check(struct cli *cli, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return cli_usage_error("check: too many arguments");
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;
	qs_close(cli->queue);
	cli->queue = NULL;
	printf("configuration %s is valid\n", cli->config_path);
	return CLI_EXIT_OK;
}
