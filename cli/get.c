/*
 * qstack get, export and rm: the commands that read or delete stored
 * messages by id.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Room for a folder name in a message, control characters replaced. */
#define SHOWN_MAX 256

/* Results of copy_message. */
#define COPY_OK        0
#define COPY_NOTFOUND  1   /* no such message; nothing printed */
#define COPY_BAD       2   /* reading or verification failed; printed */
#define COPY_WRITE     3   /* writing the output failed; printed */

static char stream_buf[CLI_BUF_SIZE];

/*
 * Reports a message that failed while being read. get has written part
 * of it to standard output by then; export removes its partial file.
 */
static void
report_read_error(const struct cli *cli, int status, const char *command,
    const char *msgid, uint64_t copied)
{
	const char *what = "could not be read";
	const char *outcome = "it was not exported";

	if (status == QS_ERR_AUTH || status == QS_ERR_CORRUPT ||
	    status == QS_ERR_TRUNCATED)
		what = "failed verification";
	if (strcmp(command, "get") == 0)
		outcome = "the output is incomplete, do not use it";
	cli_error("%s: message %s %s after %" PRIu64 " bytes, %s: %s",
	    command, msgid, what, copied, outcome,
	    cli_queue_reason(cli, status));
}

/*
 * Streams message msgid to fd in CLI_BUF_SIZE pieces, adding the bytes
 * written to *copied. dest names fd in messages.
 */
static int
copy_message(struct cli *cli, const char *command, const char *msgid,
    int fd, const char *dest, uint64_t *copied)
{
	struct qs_msg_reader *reader;
	size_t len;
	int rc, result = COPY_OK;

	rc = qs_msg_open(cli->queue, msgid, &reader);
	if (rc == QS_ERR_NOTFOUND)
		return COPY_NOTFOUND;
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "%s: opening message %s failed",
		    command, msgid);
		return COPY_BAD;
	}
	for (;;) {
		rc = qs_msg_read(reader, stream_buf, sizeof(stream_buf), &len);
		if (rc != QS_OK) {
			report_read_error(cli, rc, command, msgid, *copied);
			result = COPY_BAD;
			break;
		}
		if (len == 0)
			break;
		if (cli_write_all(fd, stream_buf, len) != 0) {
			cli_error("%s: writing message %s to %s failed: %s",
			    command, msgid, dest, strerror(errno));
			result = COPY_WRITE;
			break;
		}
		*copied += len;
	}
	qs_msg_close(reader);
	return result;
}

int
cli_cmd_get(struct cli *cli, int argc, char **argv)
{
	uint64_t copied = 0;
	int rc;

	if (argc != 2)
		return cli_usage_error("get: %s", argc < 2 ?
		    "missing message id" : "too many arguments, give one ID");
	if (cli_check_id(argv[1], "get") != 0)
		return CLI_EXIT_FAIL;
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;

	rc = copy_message(cli, "get", argv[1], STDOUT_FILENO,
	    "standard output", &copied);
	if (rc == COPY_NOTFOUND)
		cli_error("get: message %s not found; list the messages with "
		    "qstack ls", argv[1]);
	return rc == COPY_OK ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int
cli_cmd_rm(struct cli *cli, int argc, char **argv)
{
	int rc;

	if (argc != 2)
		return cli_usage_error("rm: %s", argc < 2 ?
		    "missing message id" : "too many arguments, give one ID");
	if (cli_check_id(argv[1], "rm") != 0)
		return CLI_EXIT_FAIL;
	if (cli_open_queue(cli) != 0)
		return CLI_EXIT_FAIL;

	rc = qs_msg_delete(cli->queue, argv[1]);
	if (rc == QS_ERR_NOTFOUND) {
		cli_error("rm: message %s not found; list the messages with "
		    "qstack ls", argv[1]);
		return CLI_EXIT_FAIL;
	}
	if (rc != QS_OK) {
		cli_queue_error(cli, rc, "rm: deleting message %s failed",
		    argv[1]);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}

/* State of one export run. */
struct export {
	struct cli *cli;
	const char *dir;
	char shown_dir[SHOWN_MAX];
	int dir_fd;
	size_t exported;
	size_t failed;
	uint64_t bytes;
};

/* Creates the export folder with mode 0700 unless it exists, and opens it. */
static int
open_export_dir(struct export *ex)
{
	if (mkdir(ex->dir, 0700) != 0 && errno != EEXIST) {
		cli_error("export: creating folder %s failed: %s",
		    ex->shown_dir, strerror(errno));
		return -1;
	}
	ex->dir_fd = open(ex->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ex->dir_fd < 0) {
		cli_error("export: opening folder %s failed: %s",
		    ex->shown_dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Makes a written file durable and gives it its final name. */
static int
finish_file(struct export *ex, int fd, const char *tmp, const char *msgid)
{
	char *path;
	int rc = 0;

	if (fsync(fd) != 0)
		rc = -1;
	if (close(fd) != 0)
		rc = -1;
	if (rc != 0) {
		cli_error("export: writing message %s to %s failed: %s",
		    msgid, ex->shown_dir, strerror(errno));
		return -1;
	}
	if (asprintf(&path, "%s/%s", ex->dir, msgid) < 0) {
		cli_error("export: out of memory");
		return -1;
	}
	if (rename(tmp, path) != 0) {
		cli_error("export: renaming a temporary file to %s in %s "
		    "failed: %s", msgid, ex->shown_dir, strerror(errno));
		rc = -1;
	}
	free(path);
	return rc;
}

/*
 * Writes one message to a temporary file ".ID.XXXXXX" in the folder and
 * renames it to ID once complete, so that no partial file appears under
 * the id. Returns COPY_OK, COPY_NOTFOUND, COPY_BAD or COPY_WRITE.
 */
static int
export_message(struct export *ex, const char *msgid)
{
	char *tmp;
	uint64_t copied = 0;
	int fd, rc;

	if (asprintf(&tmp, "%s/.%s.XXXXXX", ex->dir, msgid) < 0) {
		cli_error("export: out of memory");
		return COPY_WRITE;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		cli_error("export: creating a file in %s failed: %s",
		    ex->shown_dir, strerror(errno));
		free(tmp);
		return COPY_WRITE;
	}
	rc = copy_message(ex->cli, "export", msgid, fd, ex->shown_dir,
	    &copied);
	if (rc == COPY_OK) {
		if (finish_file(ex, fd, tmp, msgid) == 0) {
			ex->bytes += copied;
			free(tmp);
			return COPY_OK;
		}
		rc = COPY_WRITE;
	} else {
		close(fd);
	}
	unlink(tmp);
	free(tmp);
	return rc;
}

/* Shows "N/TOTAL" on stderr when it is a terminal. */
static void
show_progress(int tty, size_t done, size_t total)
{
	if (tty)
		fprintf(stderr, "\rexporting %zu/%zu", done, total);
}

/*
 * Exports every message in id order. A message that fails verification
 * is reported and skipped; a failure to write the output stops the run.
 */
static void
export_all(struct export *ex, const struct cli_ids *ids)
{
	size_t i;
	int tty = isatty(STDERR_FILENO), rc;

	for (i = 0; i < ids->count; i++) {
		const char *msgid = ids->ids[i];

		show_progress(tty, i, ids->count);
		if (cli_check_id(msgid, "export") != 0) {
			ex->failed++;
			continue;
		}
		rc = export_message(ex, msgid);
		if (rc == COPY_OK)
			ex->exported++;
		else if (rc != COPY_NOTFOUND)
			ex->failed++;
		if (rc == COPY_WRITE)
			break;
	}
	if (tty)
		fprintf(stderr, "\r%*s\r", 40, "");
}

int
cli_cmd_export(struct cli *cli, int argc, char **argv)
{
	struct export ex;
	struct cli_ids ids;
	int rc = CLI_EXIT_FAIL;

	if (argc != 2)
		return cli_usage_error("export: %s", argc < 2 ?
		    "missing folder, give one DIR" :
		    "too many arguments, give one DIR");
	memset(&ex, 0, sizeof(ex));
	memset(&ids, 0, sizeof(ids));
	ex.cli = cli;
	ex.dir = argv[1];
	ex.dir_fd = -1;
	cli_printable(ex.dir, ex.shown_dir, sizeof(ex.shown_dir));

	if (cli_open_queue(cli) != 0)
		goto done;
	if (open_export_dir(&ex) != 0)
		goto done;
	if (cli_collect_messages(cli, &ids) != 0)
		goto done;
	export_all(&ex, &ids);

	/* The renames are durable only once the folder itself is synced. */
	if (fsync(ex.dir_fd) != 0) {
		cli_error("export: syncing folder %s failed: %s",
		    ex.shown_dir, strerror(errno));
		ex.failed++;
	}
	printf("exported %zu messages, %" PRIu64 " bytes\n", ex.exported,
	    ex.bytes);
	rc = ex.failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;

done:
	if (ex.dir_fd >= 0)
		close(ex.dir_fd);
	cli_ids_free(&ids);
	return rc;
}
