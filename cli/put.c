/*
 * qstack put: stores a message, then one envelope per recipient. Also
 * the steps that import shares: the -f/-r options, streaming a file into
 * a message, and writing envelopes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Room for an envelope: two addresses and the fixed text around them. */
#define ENVELOPE_TEXT_MAX (2 * CLI_ADDR_MAX + 256)

static char stream_buf[CLI_BUF_SIZE];

static int
check_option_address(const char *command, char option, const char *addr,
    int may_be_empty)
{
	char reason[128], shown[80];

	if (cli_check_address(addr, may_be_empty, reason,
	    sizeof(reason)) == 0)
		return 0;
	cli_error("%s: invalid %s '%s' given with -%c: %s", command,
	    option == 'f' ? "sender" : "recipient",
	    cli_printable(addr, shown, sizeof(shown)), option, reason);
	return -1;
}

static int
take_addr_option(struct cli_addr_options *opts, const char *command,
    char option, const char *value)
{
	if (option == 'f') {
		if (opts->sender != NULL)
			return cli_usage_error("%s: option -f is given twice",
			    command);
		if (check_option_address(command, option, value, 1) != 0)
			return CLI_EXIT_FAIL;
		opts->sender = value;
		return CLI_EXIT_OK;
	}
	if (check_option_address(command, option, value, 0) != 0)
		return CLI_EXIT_FAIL;
	opts->rcpts[opts->nrcpts++] = value;
	return CLI_EXIT_OK;
}

/*
 * Parses -f SENDER and -r RCPT (also written -fSENDER and -rRCPT) after
 * the command name in argv[0]. Options end at "--", "-" or the first
 * operand, whose index goes to *first_operand. Returns an exit status;
 * on failure the error is printed.
 */
int
cli_parse_addr_options(int argc, char **argv, struct cli_addr_options *opts,
    int *first_operand)
{
	char shown[64];
	int i, rc;

	memset(opts, 0, sizeof(*opts));
	opts->rcpts = calloc((size_t)argc, sizeof(*opts->rcpts));
	if (opts->rcpts == NULL) {
		cli_error("%s: out of memory", argv[0]);
		return CLI_EXIT_FAIL;
	}
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i], *value;

		if (arg[0] != '-' || arg[1] == '\0')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[1] != 'f' && arg[1] != 'r')
			return cli_usage_error("%s: unknown option '%s'",
			    argv[0], cli_printable(arg, shown,
			    sizeof(shown)));
		value = arg[2] != '\0' ? arg + 2 : argv[i + 1];
		if (value == NULL)
			return cli_usage_error("%s: option -%c needs %s",
			    argv[0], arg[1], arg[1] == 'f' ? "a sender" :
			    "a recipient");
		if (arg[2] == '\0')
			i++;
		rc = take_addr_option(opts, argv[0], arg[1], value);
		if (rc != CLI_EXIT_OK)
			return rc;
	}
	*first_operand = i;
	return CLI_EXIT_OK;
}

void
cli_addr_options_free(struct cli_addr_options *opts)
{
	free(opts->rcpts);
	memset(opts, 0, sizeof(*opts));
}

/*
 * Streams fd into a new message in CLI_BUF_SIZE pieces, feeding scan when
 * it is not NULL, and commits it. Writes the id to msgid (QS_ID_MAX
 * bytes) and the message's size to *size. Returns 0, or -1 after printing
 * an error that starts with context; nothing is stored then.
 */
int
cli_store_message(struct cli *cli, int fd, const char *context,
    struct cli_header_scan *scan, char *msgid, uint64_t *size)
{
	struct qs_msg_writer *writer;
	struct qs_msg_stat stat;
	ssize_t n;
	int rc;

	rc = qs_msg_create(cli->queue, &writer);
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "%s: creating a message failed",
		    context);
		return -1;
	}
	snprintf(msgid, QS_ID_MAX, "%s", qs_msg_writer_id(writer));

	for (;;) {
		n = read(fd, stream_buf, sizeof(stream_buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_error("%s: reading failed: %s", context,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		if (scan != NULL)
			cli_header_scan_feed(scan, stream_buf, (size_t)n);
		rc = qs_msg_write(writer, stream_buf, (size_t)n);
		if (rc != QS_OK) {
			cli_queue_error(cli, rc, "%s: storing message %s "
			    "failed", context, msgid);
			goto fail;
		}
	}

	memset(&stat, 0, sizeof(stat));
	rc = qs_msg_commit(writer, &stat);
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "%s: committing message %s failed",
		    context, msgid);
		return -1;
	}
	*size = stat.size;
	return 0;

fail:
	qs_msg_abort(writer);
	return -1;
}

/*
 * Reports a failed envelope and removes the message, so that no message
 * is left with only some of its envelopes. The error names the recipient
 * and reports whether the removal worked.
 */
static void
undo_message(struct cli *cli, int status, const char *context,
    const char *msgid, const char *rcpt)
{
	char reason[512];
	const char *text = qs_error(cli->queue);
	int rc;

	if (text == NULL || text[0] == '\0')
		text = qs_strerror(status);
	snprintf(reason, sizeof(reason), "%s", text);

	rc = qs_msg_delete(cli->queue, msgid);
	if (rc == QS_OK)
		cli_error("%s: creating the envelope for %s failed: %s; "
		    "message %s was removed", context, rcpt, reason, msgid);
	else
		cli_error("%s: creating the envelope for %s failed: %s; "
		    "removing message %s failed too, remove it with "
		    "qstack rm %s", context, rcpt, reason, msgid, msgid);
}

/*
 * Creates one envelope per recipient for a committed message. On failure
 * removes the message and returns -1 after printing the error.
 */
int
cli_store_envelopes(struct cli *cli, const char *context,
    const char *msgid, const char *sender, const char *const *rcpts,
    size_t nrcpts, uint64_t size)
{
	struct cli_envelope env;
	char text[ENVELOPE_TEXT_MAX], evpid[QS_ID_MAX];
	size_t i, len;
	int rc;

	memset(&env, 0, sizeof(env));
	snprintf(env.sender, sizeof(env.sender), "%s", sender);
	env.size = size;
	env.created = (int64_t)time(NULL);

	for (i = 0; i < nrcpts; i++) {
		snprintf(env.recipient, sizeof(env.recipient), "%s",
		    rcpts[i]);
		if (cli_envelope_format(&env, text, sizeof(text), &len) != 0) {
			rc = QS_ERR_LIMIT;
		} else {
			rc = qs_env_create(cli->queue, msgid, text, len,
			    evpid);
		}
		if (rc != QS_OK) {
			undo_message(cli, rc, context, msgid, rcpts[i]);
			return -1;
		}
	}
	return 0;
}

static int
open_input(const char *path, int *fd)
{
	char shown[256];

	if (path == NULL || strcmp(path, "-") == 0) {
		*fd = STDIN_FILENO;
		return 0;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	cli_error("put: opening %s failed: %s", cli_printable(path, shown,
	    sizeof(shown)), strerror(errno));
	return -1;
}

static int
put_file(struct cli *cli, const struct cli_addr_options *opts,
    const char *path)
{
	char msgid[QS_ID_MAX], context[300], shown[256];
	uint64_t size;
	int fd, rc = CLI_EXIT_FAIL;

	if (open_input(path, &fd) != 0)
		return CLI_EXIT_FAIL;
	if (fd == STDIN_FILENO)
		snprintf(context, sizeof(context), "put: standard input");
	else
		snprintf(context, sizeof(context), "put: %s",
		    cli_printable(path, shown, sizeof(shown)));

	if (cli_open_queue(cli) != 0)
		goto done;
	if (cli_store_message(cli, fd, context, NULL, msgid, &size) != 0)
		goto done;
	if (cli_store_envelopes(cli, context, msgid,
	    opts->sender ? opts->sender : "", opts->rcpts, opts->nrcpts,
	    size) != 0)
		goto done;
	printf("%s\n", msgid);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* the caller never sees the id, so a retry would store it twice */
		int saved = errno;

		if (qs_msg_delete(cli->queue, msgid) == QS_OK)
			cli_error("put: writing the message id to standard "
			    "output failed (%s), so message %s was removed "
			    "again", strerror(saved), msgid);
		else
			cli_error("put: writing the message id to standard "
			    "output failed (%s); message %s stays stored",
			    strerror(saved), msgid);
		goto done;
	}
	rc = CLI_EXIT_OK;

done:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

int
cli_cmd_put(struct cli *cli, int argc, char **argv)
{
	struct cli_addr_options opts;
	int first, rc;

	rc = cli_parse_addr_options(argc, argv, &opts, &first);
	if (rc != CLI_EXIT_OK)
		goto done;
	if (argc - first > 1) {
		rc = cli_usage_error("put: too many arguments, give at most "
		    "one FILE");
		goto done;
	}
	if (opts.sender != NULL && opts.nrcpts == 0) {
		cli_error("put: -f sets the sender of the envelopes, but no "
		    "-r recipient was given; add -r RCPT or drop -f");
		rc = CLI_EXIT_FAIL;
		goto done;
	}
	if (first == argc || strcmp(argv[first], "-") == 0) {
		if (cli_load_config(cli) != 0) {
			rc = CLI_EXIT_FAIL;
			goto done;
		}
		if (qs_config_reads_stdin(cli->config)) {
			rc = cli_usage_error("put: the configuration reads the "
			    "key from standard input, so the message cannot "
			    "come from there too; give put a FILE");
			goto done;
		}
	}
	rc = put_file(cli, &opts, first < argc ? argv[first] : NULL);

done:
	cli_addr_options_free(&opts);
	return rc;
}
