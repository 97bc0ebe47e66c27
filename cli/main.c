/*
 * qstack: command-line access to a qstack queue. This file parses the
 * global options, finds the configuration and the modules, and contains the
 * helpers that every command uses to report errors.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_CONFIG "/etc/qstack.conf"

/* Length of an error line from the library, including the NUL. */
#define ERR_LINE_MAX 1024

struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
};

static const struct command commands[] = {
	{ "put", cli_cmd_put },
	{ "get", cli_cmd_get },
	{ "ls", cli_cmd_ls },
	{ "rm", cli_cmd_rm },
	{ "import", cli_cmd_import },
	{ "export", cli_cmd_export },
	{ "plugins", cli_cmd_plugins },
	{ "check", cli_cmd_check },
	{ "fsck", cli_cmd_fsck },
	{ "rekey", cli_cmd_rekey },
};

static const char usage_text[] =
    "usage: qstack [-c FILE] COMMAND [ARGUMENTS]\n"
    "\n"
    "commands:\n"
    "  put [-f SENDER] [-r RCPT]... [FILE]\n"
    "                     store FILE (default: standard input) as a message\n"
    "                     with one envelope per recipient; print its id\n"
    "  get ID             write message ID to standard output\n"
    "  ls [--json]        list messages: id, size, stored size, envelopes\n"
    "  rm ID              delete message ID and its envelopes\n"
    "  import [-f SENDER] [-r RCPT]... DIR\n"
    "                     store every file of DIR, or of the Maildir DIR\n"
    "  export DIR         write each message to DIR/ID\n"
    "  plugins            list the modules on the plugin path\n"
    "  check              validate the configuration, keys included\n"
    "  fsck [--json] [--quarantine]\n"
    "                     verify every blob and report the bad ones by id;\n"
    "                     --quarantine moves them aside\n"
    "  rekey              re-encrypt every blob to the current key\n"
    "  help               print this help\n"
    "\n"
    "options:\n"
    "  -c FILE            configuration file (default: $QSTACK_CONF,\n"
    "                     else " DEFAULT_CONFIG ")\n"
    "  -h, --help         print this help\n"
    "\n"
    "See qstack(1) for the configuration and the envelope format.\n";

/* Prints "qstack: MODULE: MESSAGE" for the library's warnings and errors. */
static void
log_to_stderr(void *arg, int level, const char *module, const char *msg)
{
	(void)arg;
	(void)level;
	if (module != NULL && module[0] != '\0')
		fprintf(stderr, "qstack: %s: %s\n", module, msg);
	else
		fprintf(stderr, "qstack: %s\n", msg);
}

static void
verror(const char *fmt, va_list ap)
{
	fputs("qstack: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

/* Prints one error line, "qstack: " followed by the formatted text. */
void
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
}

/* Prints a usage error with a pointer to the help; returns exit status 2. */
int
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("qstack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; see qstack --help\n", stderr);
	return CLI_EXIT_USAGE;
}

/*
 * Returns the queue's own line about its last failure or, when it has
 * none, the text of status.
 */
const char *
cli_queue_reason(const struct cli *cli, int status)
{
	const char *reason = NULL;

	if (cli->queue != NULL)
		reason = qs_error(cli->queue);
	if (reason == NULL || reason[0] == '\0')
		reason = qs_strerror(status);
	return reason;
}

/* Prints "qstack: CONTEXT: REASON", REASON from cli_queue_reason(). */
void
cli_queue_error(const struct cli *cli, int status, const char *fmt, ...)
{
	va_list ap;

	fputs("qstack: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", cli_queue_reason(cli, status));
}

/*
 * Copies text into buf with control characters replaced by '?', so that
 * a file name or argument echoed in a message cannot drive the terminal.
 * Text longer than buf is cut and ends with "...".
 */
const char *
cli_printable(const char *text, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; text[i] != '\0' && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)text[i];

		buf[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (text[i] != '\0' && cap > 4)
		memcpy(buf + cap - 4, "...", 4);
	return buf;
}

/*
 * Checks that id has the form of a qstack id: 1 to QS_ID_MAX - 1
 * characters of [0-9a-f.], not starting with '.'. The form matters
 * because export uses ids as file names.
 */
int
cli_check_id(const char *id, const char *command)
{
	char shown[QS_ID_MAX + 8];
	size_t len = strlen(id);

	if (len == 16 && strspn(id, "0123456789abcdef") == len)
		return 0;
	cli_error("%s: invalid message id '%s': ids are 16 lowercase hex "
	    "digits; list them with qstack ls", command,
	    cli_printable(id, shown, sizeof(shown)));
	return -1;
}

/* Writes all of buf to fd. Returns 0, or -1 with errno set. */
int
cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Flushes standard output. Returns 0, or -1 after printing the error. */
int
cli_flush_stdout(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	cli_error("writing to standard output failed: %s", strerror(errno));
	return -1;
}

/*
 * Points the configuration at the plugins folder next to the executable,
 * when there is one, so that build/qstack finds build/plugins. The
 * configuration's plugin-path and QSTACK_PLUGIN_PATH still take
 * precedence; the library applies that order.
 */
static int
set_plugin_path_from_exe(struct qs_config *config)
{
	char exe[PATH_MAX], dir[PATH_MAX + sizeof("/plugins")];
	struct stat st;
	char *slash;
	ssize_t n;
	int rc;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return 0;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return 0;
	*slash = '\0';
	snprintf(dir, sizeof(dir), "%s/plugins", exe);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;

	rc = qs_config_set_default_plugin_path(config, dir);
	if (rc != QS_OK) {
		cli_error("setting the plugin path to %s failed: %s", dir,
		    qs_strerror(rc));
		return -1;
	}
	return 0;
}

/*
 * Parses an empty configuration, so that every setting has its built-in
 * default.
 */
static struct qs_config *
load_builtin_defaults(struct cli *cli, char *err, size_t err_cap)
{
	cli->config_path = "(built-in defaults)";
	return qs_config_parse("", 0, cli->config_path, err, err_cap);
}

/*
 * Loads cli->config_path, or the built-in defaults when that is allowed
 * and the default file does not exist. Returns 0, or -1 after printing
 * the error.
 */
int
cli_load_config(struct cli *cli)
{
	char err[ERR_LINE_MAX];

	if (cli->config != NULL)
		return 0;
	err[0] = '\0';
	if (cli->defaults_if_missing && cli->config_is_default &&
	    access(cli->config_path, F_OK) != 0 && errno == ENOENT)
		cli->config = load_builtin_defaults(cli, err, sizeof(err));
	else
		cli->config = qs_config_load(cli->config_path, err,
		    sizeof(err));
	if (cli->config == NULL) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "loading configuration %s "
			    "failed", cli->config_path);
		cli_error("%s", err);
		return -1;
	}
	return set_plugin_path_from_exe(cli->config);
}

/* Opens the queue. Returns 0, or -1 after printing the error. */
int
cli_open_queue(struct cli *cli)
{
	char err[ERR_LINE_MAX];

	if (cli_load_config(cli) != 0)
		return -1;
	err[0] = '\0';
	cli->queue = qs_open(cli->config, err, sizeof(err));
	if (cli->queue == NULL) {
		if (err[0] == '\0')
			snprintf(err, sizeof(err), "opening the queue of %s "
			    "failed", cli->config_path);
		cli_error("%s", err);
		return -1;
	}
	return 0;
}

/*
 * Parses the options before the command. Returns the index of the
 * command in argv, or -1 after setting *status (help printed, or a usage
 * error).
 */
static int
parse_global_options(struct cli *cli, int argc, char **argv, int *status)
{
	char shown[64];
	int i;

	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(usage_text, stdout);
			*status = cli_flush_stdout() == 0 ? CLI_EXIT_OK :
			    CLI_EXIT_FAIL;
			return -1;
		}
		if (strncmp(arg, "-c", 2) != 0) {
			*status = cli_usage_error("unknown option '%s'",
			    cli_printable(arg, shown, sizeof(shown)));
			return -1;
		}
		if (arg[2] != '\0')
			cli->config_path = arg + 2;
		else
			cli->config_path = i + 1 < argc ? argv[++i] : NULL;
		if (cli->config_path == NULL || cli->config_path[0] == '\0') {
			*status = cli_usage_error("option -c needs a "
			    "configuration file name");
			return -1;
		}
	}
	return i;
}

static void
choose_config_path(struct cli *cli)
{
	const char *env;

	if (cli->config_path != NULL)
		return;
	env = getenv("QSTACK_CONF");
	if (env != NULL && env[0] != '\0') {
		cli->config_path = env;
		return;
	}
	cli->config_path = DEFAULT_CONFIG;
	cli->config_is_default = 1;
}

static int
run_command(struct cli *cli, int argc, char **argv)
{
	char shown[64];
	size_t i;

	if (strcmp(argv[0], "help") == 0) {
		fputs(usage_text, stdout);
		return CLI_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) == 0)
			return commands[i].run(cli, argc, argv);
	}
	return cli_usage_error("unknown command '%s'",
	    cli_printable(argv[0], shown, sizeof(shown)));
}

int
main(int argc, char **argv)
{
	struct cli cli;
	int first, status = CLI_EXIT_OK;

	memset(&cli, 0, sizeof(cli));

	/* A closed pipe on stdout must be an EPIPE error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	qs_set_log(log_to_stderr, NULL, QS_LOG_WARN);

	first = parse_global_options(&cli, argc, argv, &status);
	if (first < 0)
		return status;
	if (first >= argc)
		return cli_usage_error("missing command");
	choose_config_path(&cli);

	status = run_command(&cli, argc - first, argv + first);

	if (cli.queue != NULL)
		qs_close(cli.queue);
	if (cli.config != NULL)
		qs_config_free(cli.config);

	/* A command that failed has printed its error line already. */
	if (status != CLI_EXIT_OK)
		fflush(stdout);
	else if (cli_flush_stdout() != 0)
		status = CLI_EXIT_FAIL;
	return status;
}
