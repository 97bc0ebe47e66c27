/*
 * qstack import: stores every regular file of a folder, or every message
 * of a Maildir (a folder with cur/ and new/), with an envelope built from
 * the message's headers or from -f and -r.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* Room for a file name in a message, control characters replaced. */
#define SHOWN_MAX 256

static int
is_directory(const char *dir, const char *sub)
{
	char path[4096];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, sub) >=
	    sizeof(path))
		return 0;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * Adds the regular files of dir to list, skipping names that start with
 * '.', and symbolic links. Returns 0, or -1 after printing the error.
 */
static int
list_files(const char *dir, struct cli_ids *list)
{
	char shown[SHOWN_MAX], *path;
	struct dirent *entry;
	struct stat st;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL) {
		cli_error("import: opening folder %s failed: %s",
		    cli_printable(dir, shown, sizeof(shown)), strerror(errno));
		return -1;
	}
	while (rc == 0 && (errno = 0, entry = readdir(d)) != NULL) {
		if (entry->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(d), entry->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (asprintf(&path, "%s/%s", dir, entry->d_name) < 0) {
			cli_error("import: out of memory");
			rc = -1;
			break;
		}
		rc = cli_ids_add(list, path);
		if (rc != 0)
			cli_error("import: out of memory");
		free(path);
	}
	if (rc == 0 && errno != 0) {
		cli_error("import: reading folder %s failed: %s",
		    cli_printable(dir, shown, sizeof(shown)), strerror(errno));
		rc = -1;
	}
	closedir(d);
	return rc;
}

/* Orders Maildir files by name, whether they are in cur/ or new/. */
static int
compare_base_names(const void *a, const void *b)
{
	const char *pa = *(char *const *)a, *pb = *(char *const *)b;
	int rc = strcmp(strrchr(pa, '/') + 1, strrchr(pb, '/') + 1);

	return rc != 0 ? rc : strcmp(pa, pb);
}

static int
collect_files(const char *dir, struct cli_ids *files)
{
	char *sub;
	int rc;

	if (!is_directory(dir, "cur") || !is_directory(dir, "new")) {
		if (list_files(dir, files) != 0)
			return -1;
		cli_ids_sort(files);
		return 0;
	}
	rc = -1;
	if (asprintf(&sub, "%s/new", dir) >= 0) {
		rc = list_files(sub, files);
		free(sub);
	}
	if (rc == 0 && asprintf(&sub, "%s/cur", dir) >= 0) {
		rc = list_files(sub, files);
		free(sub);
	}
	if (files->count > 1)
		qsort(files->ids, files->count, sizeof(*files->ids),
		    compare_base_names);
	return rc;
}

/* Opens path as a regular file without following a symbolic link. */
static int
open_regular(const char *path, const char *context)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		cli_error("%s: opening failed: %s", context, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		cli_error("%s: not a regular file any more; it changed "
		    "during the import", context);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Imports one file. Options -f and -r replace what the headers give.
 * Returns 0 with the message's size added to *bytes, or -1 after
 * printing the error.
 */
static int
import_file(struct cli *cli, const struct cli_addr_options *opts,
    const char *path, uint64_t *bytes)
{
	struct cli_header_scan *scan;
	const char *sender, *found_rcpt;
	const char *const *rcpts = opts->rcpts;
	size_t nrcpts = opts->nrcpts;
	char context[SHOWN_MAX + 16], shown[SHOWN_MAX], msgid[QS_ID_MAX];
	uint64_t size;
	int fd, rc = -1;

	snprintf(context, sizeof(context), "import: %s",
	    cli_printable(path, shown, sizeof(shown)));
	scan = cli_header_scan_new();
	if (scan == NULL) {
		cli_error("%s: out of memory", context);
		return -1;
	}
	fd = open_regular(path, context);
	if (fd < 0)
		goto done;
	if (cli_store_message(cli, fd, context, scan, msgid, &size) != 0)
		goto done;
	cli_header_scan_end(scan);

	sender = opts->sender ? opts->sender : cli_header_scan_sender(scan);
	found_rcpt = cli_header_scan_recipient(scan);
	if (nrcpts == 0 && found_rcpt != NULL) {
		rcpts = &found_rcpt;
		nrcpts = 1;
	}
	if (cli_store_envelopes(cli, context, msgid,
	    sender ? sender : "", rcpts, nrcpts, size) != 0)
		goto done;
	*bytes += size;
	rc = 0;

done:
	if (fd >= 0)
		close(fd);
	cli_header_scan_free(scan);
	return rc;
}

/* Shows "N/TOTAL" on stderr when it is a terminal. */
static void
show_progress(int tty, size_t done, size_t total)
{
	if (tty)
		fprintf(stderr, "\rimporting %zu/%zu", done, total);
}

static void
clear_progress(int tty)
{
	if (tty)
		fprintf(stderr, "\r%*s\r", 40, "");
}

static int
import_files(struct cli *cli, const struct cli_addr_options *opts,
    const struct cli_ids *files)
{
	uint64_t bytes = 0;
	size_t i;
	int tty = isatty(STDERR_FILENO), rc = CLI_EXIT_OK;

	for (i = 0; i < files->count; i++) {
		show_progress(tty, i, files->count);
		if (import_file(cli, opts, files->ids[i], &bytes) != 0) {
			rc = CLI_EXIT_FAIL;
			break;
		}
	}
	clear_progress(tty);

	/* Messages imported before a failure stay, so count them. */
	printf("imported %zu messages, %" PRIu64 " bytes\n", i, bytes);
	return rc;
}

int
cli_cmd_import(struct cli *cli, int argc, char **argv)
{
	struct cli_addr_options opts;
	struct cli_ids files;
	int first, rc;

	memset(&files, 0, sizeof(files));
	rc = cli_parse_addr_options(argc, argv, &opts, &first);
	if (rc != CLI_EXIT_OK)
		goto done;
	if (argc - first != 1) {
		rc = cli_usage_error("import: %s", first >= argc ?
		    "missing folder, give one DIR" :
		    "too many arguments, give one DIR");
		goto done;
	}
	rc = CLI_EXIT_FAIL;
	if (collect_files(argv[first], &files) != 0)
		goto done;
	if (cli_open_queue(cli) != 0)
		goto done;
	rc = import_files(cli, &opts, &files);

done:
	cli_ids_free(&files);
	cli_addr_options_free(&opts);
	return rc;
}
