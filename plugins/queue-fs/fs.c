/*
 * fs: a queue backend that keeps every blob in its own file.
 *
 * Layout under the queue directory PATH (option "path"):
 *
 *   PATH/meta                          the metadata record
 *   PATH/tmp/<pid>-<16 hex digits>     files being written
 *   PATH/msg/<ab>/<msgid>/message      a committed message blob
 *   PATH/msg/<ab>/<msgid>/<evpid>      an envelope blob of that message
 *   PATH/quarantine/<id>.<kind>.<time> damaged blobs moved aside by fsck
 *
 * <ab> is the first two hex digits of the message id, which spreads the
 * message directories over at most 256 bucket directories. A message id
 * is 16 lowercase hex digits and an envelope id is its message id plus 8
 * more, so no id can name a path outside its message directory and no
 * envelope name can equal "message". Files are created with mode 0600
 * and directories with mode 0700, from which the umask can only remove
 * bits.
 *
 * Every blob is written to a new file in PATH/tmp, flushed with fsync(2)
 * and then renamed into place, followed by an fsync of the directory
 * that received it. A new name is taken with renameat2(RENAME_NOREPLACE)
 * or, where the file system lacks it, with link(2), so a name that is
 * already taken is never overwritten. An envelope update swaps the new
 * file with the old one by renameat2(RENAME_EXCHANGE), which fails when
 * the envelope is absent. A crash therefore leaves each blob either
 * whole in its old state or whole in its new one.
 *
 * A message directory is removed when its last file is deleted. Bucket
 * directories are never removed. A writer whose target directory
 * vanishes under a concurrent delete creates it again and retries.
 *
 * Temporary files name the process that writes them. open removes those
 * whose process no longer exists and logs each removal. Files of live
 * processes are kept, because several processes may use one queue.
 *
 * The ABI has an error slot only for the queue, so readers and writers
 * put their error text into the slot of the queue they came from. The
 * text stays valid until the next failure on that queue, or on any of
 * its readers or writers.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fs.h"

#define FS_DEFAULT_PATH "/var/spool/qstack"

/* Maximum number of bytes of a rejected id that an error repeats. */
#define FS_ID_ECHO_MAX 40

const struct qs_host *fs_host;

static void
format_error(char *buf, size_t cap, int errnum, const char *fmt, va_list ap)
{
	char reason[128];
	size_t used;

	vsnprintf(buf, cap, fmt, ap);
	if (errnum == 0)
		return;
	used = strlen(buf);
	snprintf(buf + used, cap - used, ": %s",
	    strerror_r(errnum, reason, sizeof(reason)));
}

static void
set_error(struct fs_queue *q, int errnum, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&q->err_lock);
	format_error(q->err, sizeof(q->err), errnum, fmt, ap);
	pthread_mutex_unlock(&q->err_lock);
}

/* Stores the error text and returns status. errno is preserved. */
int
fs_fail(struct fs_queue *q, int status, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	set_error(q, 0, fmt, ap);
	va_end(ap);
	errno = saved;
	return status;
}

/*
 * Stores the error text followed by the text of errno and returns
 * QS_ERR_IO. errno is preserved for the caller.
 */
int
fs_fail_errno(struct fs_queue *q, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	set_error(q, saved, fmt, ap);
	va_end(ap);
	errno = saved;
	return QS_ERR_IO;
}

void
fs_log(int level, const char *fmt, ...)
{
	char line[FS_ERR_MAX];
	int saved = errno;
	va_list ap;

	if (!QS_HAS_FIELD(fs_host, struct qs_host, log) || fs_host->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fs_host->log(level, "fs", line);
	errno = saved;
}

/* Writes a printable copy of a rejected id, cut after FS_ID_ECHO_MAX. */
static void
echo_id(char out[FS_ID_ECHO_MAX + 4], const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0' && i < FS_ID_ECHO_MAX; i++)
		out[i] = isprint((unsigned char)id[i]) ? id[i] : '?';
	if (id[i] != '\0') {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static int
is_lower_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return 1;
}

static int
check_id(struct fs_queue *q, const char *id, size_t len, const char *what)
{
	char shown[FS_ID_ECHO_MAX + 4];

	if (id == NULL)
		return fs_fail(q, QS_ERR_INVALID, "invalid %s id: NULL",
		    what);
	if (strnlen(id, len + 1) == len && is_lower_hex(id, len))
		return QS_OK;
	echo_id(shown, id);
	return fs_fail(q, QS_ERR_INVALID,
	    "invalid %s id \"%s\": expected %zu lowercase hex digits",
	    what, shown, len);
}

int
fs_check_msgid(struct fs_queue *q, const char *msgid)
{
	return check_id(q, msgid, FS_MSGID_LEN, "message");
}

int
fs_check_evpid(struct fs_queue *q, const char *evpid)
{
	return check_id(q, evpid, FS_EVPID_LEN, "envelope");
}

/* Writes "msg/<ab>/<msgid>", the message directory relative to PATH. */
void
fs_msgdir(char rel[FS_MSGDIR_MAX], const char *msgid)
{
	snprintf(rel, FS_MSGDIR_MAX, "msg/%.2s/%.*s", msgid, FS_MSGID_LEN,
	    msgid);
}

/* Writes "msg/<ab>/<msgid>/<name>", a blob file relative to PATH. */
void
fs_blob_rel(char rel[FS_BLOB_REL_MAX], const char *msgid, const char *name)
{
	snprintf(rel, FS_BLOB_REL_MAX, "msg/%.2s/%.*s/%s", msgid,
	    FS_MSGID_LEN, msgid, name);
}

static int
open_fail(const struct qs_instance_args *args, int status, int errnum,
    const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes one line to args->err and returns status. */
static int
open_fail(const struct qs_instance_args *args, int status, int errnum,
    const char *fmt, ...)
{
	va_list ap;

	if (args->err == NULL || args->err_cap == 0)
		return status;
	va_start(ap, fmt);
	format_error(args->err, args->err_cap, errnum, fmt, ap);
	va_end(ap);
	return status;
}

static int
parse_params(const struct qs_instance_args *args, const char **path)
{
	size_t i;

	*path = FS_DEFAULT_PATH;
	if (args->nparams > 0 && args->params == NULL)
		return open_fail(args, QS_ERR_INVALID, 0,
		    "params is NULL but nparams is %zu", args->nparams);
	for (i = 0; i < args->nparams; i++) {
		const struct qs_param *p = &args->params[i];

		if (p->name == NULL || strcmp(p->name, "path") != 0)
			return open_fail(args, QS_ERR_INVALID, 0,
			    "unknown option \"%s\": the only option is "
			    "path", p->name != NULL ? p->name : "(null)");
		if (p->value == NULL || p->value[0] == '\0')
			return open_fail(args, QS_ERR_INVALID, 0,
			    "option path is empty: set it to the queue "
			    "directory");
		if (p->value[0] != '/')
			return open_fail(args, QS_ERR_INVALID, 0,
			    "queue path \"%s\" is relative, so the queue "
			    "would depend on the working directory: give an "
			    "absolute path", p->value);
		*path = p->value;
	}
	return QS_OK;
}

/*
 * Rejects an existing directory that contains anything but a queue's own
 * entries, so that a mistyped path such as "/" or a home directory is
 * never turned into a queue.
 */
static int
check_foreign(const struct qs_instance_args *args, struct fs_queue *q)
{
	static const char *const own[] = {
		".", "..", "meta", "tmp", "msg", "quarantine"
	};
	struct dirent *de;
	const char *foreign = NULL;
	size_t i;
	DIR *d;
	int fd;

	if ((fd = dup(q->root_fd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return open_fail(args, QS_ERR_IO, errno,
		    "cannot list queue directory %s", q->path);
	}
	while (foreign == NULL && (de = readdir(d)) != NULL) {
		foreign = de->d_name;
		for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
			if (strcmp(de->d_name, own[i]) == 0)
				foreign = NULL;
	}
	if (foreign != NULL) {
		int rc = open_fail(args, QS_ERR_CONFIG, 0,
		    "queue directory %s contains \"%.64s\", which is not "
		    "part of a qstack queue: set path to a new or empty "
		    "directory", q->path, foreign);

		closedir(d);
		return rc;
	}
	closedir(d);
	return QS_OK;
}

/* Flushes the directory that contains the entry dir. */
static int
sync_parent(const struct qs_instance_args *args, const char *dir)
{
	char parent[4096];
	const char *slash = strrchr(dir, '/');
	int fd, rc = QS_OK;

	if (slash == NULL)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == dir)
		snprintf(parent, sizeof(parent), "/");
	else
		snprintf(parent, sizeof(parent), "%.*s", (int)(slash - dir),
		    dir);
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || fsync(fd) == -1)
		rc = open_fail(args, QS_ERR_IO, errno,
		    "fsync of directory %s failed", parent);
	if (fd != -1)
		close(fd);
	return rc;
}

/* Creates path and its missing parents, like mkdir -p. */
static int
make_path(const struct qs_instance_args *args, const char *path)
{
	char *copy, *p;
	char c;
	int rc = QS_OK;

	if ((copy = strdup(path)) == NULL)
		return open_fail(args, QS_ERR_NOMEM, ENOMEM,
		    "cannot copy queue path");
	for (p = copy + 1; rc == QS_OK; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(copy, 0700) == 0)
			rc = sync_parent(args, copy);
		else if (errno != EEXIST)
			rc = open_fail(args, QS_ERR_IO, errno,
			    "cannot create directory %s for queue path %s",
			    copy, path);
		*p = c;
		if (c == '\0')
			break;
	}
	free(copy);
	return rc;
}

static int
open_root(const struct qs_instance_args *args, struct fs_queue *q)
{
	struct stat st;
	int rc;

	if (stat(q->path, &st) == -1) {
		if (errno != ENOENT)
			return open_fail(args, QS_ERR_IO, errno,
			    "cannot check queue path %s", q->path);
		if ((rc = make_path(args, q->path)) != QS_OK)
			return rc;
	} else if (!S_ISDIR(st.st_mode))
		return open_fail(args, QS_ERR_CONFIG, 0,
		    "queue path %s is not a directory: move the file "
		    "away or set path to a directory", q->path);
	if (faccessat(AT_FDCWD, q->path, W_OK | X_OK, AT_EACCESS) == -1) {
		char reason[128];

		return open_fail(args, QS_ERR_CONFIG, 0,
		    "queue directory %s is not writable (%s): fix its owner "
		    "or mode, or set path to a writable directory", q->path,
		    strerror_r(errno, reason, sizeof(reason)));
	}
	q->root_fd = open(q->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->root_fd == -1)
		return open_fail(args, QS_ERR_IO, errno,
		    "cannot open queue directory %s", q->path);
	return QS_OK;
}

/* Creates PATH/name if missing and returns a descriptor for it. */
static int
open_subdir(const struct qs_instance_args *args, struct fs_queue *q,
    const char *name, int *fdp)
{
	if (mkdirat(q->root_fd, name, 0700) == -1 && errno != EEXIST)
		return open_fail(args, QS_ERR_IO, errno,
		    "cannot create directory %s/%s", q->path, name);
	*fdp = openat(q->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fdp == -1 && errno == ENOTDIR)
		return open_fail(args, QS_ERR_CONFIG, 0,
		    "%s/%s is not a directory: move it away so that the "
		    "queue can create it", q->path, name);
	if (*fdp == -1)
		return open_fail(args, QS_ERR_IO, errno,
		    "cannot open directory %s/%s", q->path, name);
	return QS_OK;
}

/* Removes one temporary file if the process named in it has exited. */
static void
remove_if_stale(struct fs_queue *q, const char *name)
{
	char reason[128];
	long pid = fs_tmp_pid(name);

	if (pid <= 0)
		return;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return;
	if (unlinkat(q->tmp_fd, name, 0) == 0)
		fs_log(QS_LOG_WARN, "removed %s/tmp/%s, left by process %ld "
		    "which no longer runs", q->path, name, pid);
	else if (errno != ENOENT)
		fs_log(QS_LOG_WARN, "cannot remove stale file %s/tmp/%s: %s",
		    q->path, name, strerror_r(errno, reason, sizeof(reason)));
}

/*
 * Removes the temporary files of writers that died before finishing.
 * NOTE: a writer in another PID namespace looks dead here, so processes
 * that share a queue must share a PID namespace.
 */
static void
remove_stale_tmp(struct fs_queue *q)
{
	char reason[128];
	struct dirent *de;
	DIR *dir;
	int fd;

	fd = openat(q->tmp_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (dir = fdopendir(fd)) == NULL) {
		fs_log(QS_LOG_WARN, "cannot list %s/tmp to remove stale files: "
		    "%s", q->path, strerror_r(errno, reason, sizeof(reason)));
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(dir)) != NULL)
		remove_if_stale(q, de->d_name);
	closedir(dir);
}

static void
fs_close(void *queue)
{
	struct fs_queue *q = queue;

	if (q == NULL)
		return;
	if (q->root_fd != -1)
		close(q->root_fd);
	if (q->tmp_fd != -1)
		close(q->tmp_fd);
	pthread_mutex_destroy(&q->err_lock);
	free(q->path);
	free(q);
}

static int
fs_open(const struct qs_instance_args *args, void **queuep)
{
	struct fs_queue *q;
	const char *path;
	int msg_fd = -1, rc;

	if (queuep == NULL)
		return QS_ERR_INVALID;
	*queuep = NULL;
	if (args == NULL)
		return QS_ERR_INVALID;
	if ((rc = parse_params(args, &path)) != QS_OK)
		return rc;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return open_fail(args, QS_ERR_NOMEM, ENOMEM,
		    "cannot allocate the queue");
	q->root_fd = q->tmp_fd = -1;
	pthread_mutex_init(&q->err_lock, NULL);
	if ((q->path = strdup(path)) == NULL) {
		rc = open_fail(args, QS_ERR_NOMEM, ENOMEM,
		    "cannot copy queue path");
		goto fail;
	}
	if ((rc = open_root(args, q)) != QS_OK ||
	    (rc = check_foreign(args, q)) != QS_OK ||
	    (rc = open_subdir(args, q, "tmp", &q->tmp_fd)) != QS_OK ||
	    (rc = open_subdir(args, q, "msg", &msg_fd)) != QS_OK)
		goto fail;
	close(msg_fd);
	/*
	 * PATH is flushed even when another process created tmp and msg,
	 * because that process may not have flushed it yet.
	 */
	if (fsync(q->root_fd) == -1) {
		rc = open_fail(args, QS_ERR_IO, errno,
		    "fsync of directory %s failed", q->path);
		goto fail;
	}
	remove_stale_tmp(q);
	*queuep = q;
	return QS_OK;
fail:
	fs_close(q);
	return rc;
}

static const char *
fs_error(void *queue)
{
	struct fs_queue *q = queue;

	return q != NULL && q->err[0] != '\0' ? q->err : NULL;
}

static const struct qs_option fs_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_PATH,
		.name = "path",
		.help = "queue directory, created with mode 0700 if missing "
		    "(default " FS_DEFAULT_PATH ")",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_queue_ops fs_ops = {
	.size = sizeof(struct qs_queue_ops),
	.open = fs_open,
	.close = fs_close,
	.error = fs_error,
	.meta_get = fs_meta_get,
	.meta_put = fs_meta_put,
	.msg_create = fs_msg_create,
	.msg_write = fs_msg_write,
	.msg_commit = fs_msg_commit,
	.msg_abort = fs_msg_abort,
	.msg_open = fs_msg_open,
	.msg_read = fs_msg_read,
	.msg_close = fs_msg_close,
	.msg_stat = fs_msg_stat,
	.msg_delete = fs_msg_delete,
	.msg_walk = fs_msg_walk,
	.env_create = fs_env_create,
	.env_load = fs_env_load,
	.env_update = fs_env_update,
	.env_delete = fs_env_delete,
	.env_walk = fs_env_walk,
	.msg_replace = fs_msg_replace,
	.quarantine = fs_quarantine,
};

static const struct qs_module fs_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_QUEUE,
	.format_version = 1,
	.name = "fs",
	.version = "1.0.0",
	.description = "stores each blob as a file in a queue directory",
	.options = fs_options,
	.ops = &fs_ops,
};

/*
 * Returns the module descriptor. The host services of the latest call
 * are the ones the module uses from then on.
 */
QS_EXPORT const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	fs_host = host;
	return &fs_module;
}
