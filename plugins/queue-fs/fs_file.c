/*
 * Temporary files, message directories and the atomic placement of
 * finished files. fs.c describes the layout and the durability rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

/*
 * Maximum attempts to place a file whose message directory a concurrent
 * delete keeps removing. Each lost race means another process emptied
 * and removed the directory in between, so a few attempts suffice.
 */
#define FS_PLACE_TRIES 64

/* Internal status of one placement attempt: the directory vanished. */
#define FS_AGAIN 1000

static uint64_t tmp_counter;

/* Writes "<pid>-<16 hex digits>", the name of a new temporary file. */
static void
tmp_name(char name[FS_TMP_NAME_MAX])
{
	struct timespec ts;
	uint64_t r = 0;

	if (!QS_HAS_FIELD(fs_host, struct qs_host, random) ||
	    fs_host->random == NULL || fs_host->random(&r, sizeof(r)) != QS_OK) {
		/* O_EXCL catches the collisions this weaker name allows. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
		    __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);
	}
	snprintf(name, FS_TMP_NAME_MAX, "%ld-%016" PRIx64, (long)getpid(), r);
}

/*
 * Returns the process id in a temporary file name, or -1 if name is not
 * "<pid>-<16 lowercase hex digits>".
 */
long
fs_tmp_pid(const char *name)
{
	long pid = 0;
	size_t i, digits = 0;

	for (; *name >= '0' && *name <= '9'; name++, digits++) {
		if (digits >= 9)
			return -1;
		pid = pid * 10 + (*name - '0');
	}
	if (digits == 0 || *name++ != '-')
		return -1;
	for (i = 0; i < 16; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return -1;
	}
	return name[16] == '\0' && pid > 0 ? pid : -1;
}

/* Writes all of buf. Returns 0, or -1 with errno set. */
int
fs_write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates a new, empty temporary file in PATH/tmp. */
int
fs_tmp_create(struct fs_queue *q, char name[FS_TMP_NAME_MAX], int *fdp)
{
	int tries;

	for (tries = 0; tries < 16; tries++) {
		tmp_name(name);
		*fdp = openat(q->tmp_fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (*fdp != -1)
			return QS_OK;
		if (errno != EEXIST)
			break;
	}
	return fs_fail_errno(q, "cannot create temporary file %s/tmp/%s",
	    q->path, name);
}

/* Removes a temporary file. errno is preserved. */
void
fs_tmp_discard(struct fs_queue *q, const char *name)
{
	int saved = errno;

	unlinkat(q->tmp_fd, name, 0);
	errno = saved;
}

/*
 * Flushes the temporary file to disk and closes fd. On failure the file
 * is removed, so that no partial blob can ever be placed.
 */
int
fs_tmp_finish(struct fs_queue *q, const char *name, int fd)
{
	int rc;

	if (fsync(fd) == -1) {
		rc = fs_fail_errno(q, "fsync of %s/tmp/%s failed", q->path,
		    name);
		close(fd);
		fs_tmp_discard(q, name);
		return rc;
	}
	if (close(fd) == -1) {
		rc = fs_fail_errno(q, "close of %s/tmp/%s failed", q->path,
		    name);
		fs_tmp_discard(q, name);
		return rc;
	}
	return QS_OK;
}

/* Writes buf to a new temporary file and flushes it. */
int
fs_tmp_store(struct fs_queue *q, const uint8_t *buf, size_t len,
    char name[FS_TMP_NAME_MAX])
{
	int fd, rc;

	if ((rc = fs_tmp_create(q, name, &fd)) != QS_OK)
		return rc;
	if (fs_write_all(fd, buf, len) == -1) {
		rc = fs_fail_errno(q, "write to %s/tmp/%s failed", q->path,
		    name);
		close(fd);
		fs_tmp_discard(q, name);
		return rc;
	}
	return fs_tmp_finish(q, name, fd);
}

/* Flushes dir_fd, the directory PATH/rel, or PATH itself if rel is "". */
int
fs_fsync_dir(struct fs_queue *q, int dir_fd, const char *rel)
{
	if (fsync(dir_fd) == -1)
		return fs_fail_errno(q, "fsync of directory %s%s%s failed",
		    q->path, rel[0] != '\0' ? "/" : "", rel);
	return QS_OK;
}

/* Flushes the directory PATH/rel. */
int
fs_fsync_dir_path(struct fs_queue *q, const char *rel)
{
	int fd, rc;

	fd = openat(q->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return fs_fail_errno(q, "cannot open directory %s/%s",
		    q->path, rel);
	rc = fs_fsync_dir(q, fd, rel);
	close(fd);
	return rc;
}

/*
 * Creates the message directory dir ("msg/<ab>/<msgid>") and its bucket
 * if missing, then flushes the bucket and PATH/msg. Both are flushed
 * even when another process created the directories, because that
 * process may not have flushed them yet.
 */
static int
make_msgdir(struct fs_queue *q, const char *dir)
{
	char bucket[sizeof("msg/ab")];
	int rc;

	snprintf(bucket, sizeof(bucket), "%.6s", dir);
	if (mkdirat(q->root_fd, dir, 0700) == -1 && errno != EEXIST) {
		if (errno != ENOENT)
			return fs_fail_errno(q, "cannot create directory "
			    "%s/%s", q->path, dir);
		if (mkdirat(q->root_fd, bucket, 0700) == -1 &&
		    errno != EEXIST)
			return fs_fail_errno(q, "cannot create directory "
			    "%s/%s", q->path, bucket);
		if (mkdirat(q->root_fd, dir, 0700) == -1 && errno != EEXIST)
			return fs_fail_errno(q, "cannot create directory "
			    "%s/%s", q->path, dir);
	}
	if ((rc = fs_fsync_dir_path(q, bucket)) != QS_OK)
		return rc;
	return fs_fsync_dir_path(q, "msg");
}

/* Tells whether the temporary file name still exists. */
static int
tmp_exists(struct fs_queue *q, const char *name)
{
	struct stat st;
	int saved = errno, found;

	found = fstatat(q->tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	errno = saved;
	return found;
}

static int
already_stored(struct fs_queue *q, const char *msgid, const char *name)
{
	if (strcmp(name, FS_MESSAGE_NAME) == 0)
		return fs_fail(q, QS_ERR_EXISTS, "message %.*s is already "
		    "stored", FS_MSGID_LEN, msgid);
	return fs_fail(q, QS_ERR_EXISTS, "envelope %s is already stored",
	    name);
}

static int
not_stored(struct fs_queue *q, const char *msgid, const char *name)
{
	if (strcmp(name, FS_MESSAGE_NAME) == 0)
		return fs_fail(q, QS_ERR_NOTFOUND, "message %.*s not found",
		    FS_MSGID_LEN, msgid);
	return fs_fail(q, QS_ERR_NOTFOUND, "envelope %s not found", name);
}

/*
 * Gives the temporary file tmp the name PATH/dir/name unless that name
 * is taken, in which case it returns QS_ERR_EXISTS without error text.
 * Uses renameat2(RENAME_NOREPLACE), or link(2) and unlink(2) where the
 * file system does not support that flag.
 */
static int
rename_new(struct fs_queue *q, const char *tmp, int dir_fd,
    const char *dir, const char *name)
{
	if (renameat2(q->tmp_fd, tmp, dir_fd, name, RENAME_NOREPLACE) == 0)
		return QS_OK;
	if (errno == EINVAL || errno == ENOSYS) {
		if (linkat(q->tmp_fd, tmp, dir_fd, name, 0) == 0) {
			unlinkat(q->tmp_fd, tmp, 0);
			return QS_OK;
		}
	}
	if (errno == EEXIST)
		return QS_ERR_EXISTS;
	/* ENOENT while tmp exists: a delete removed the directory. */
	if (errno == ENOENT && tmp_exists(q, tmp))
		return FS_AGAIN;
	return fs_fail_errno(q, "cannot move %s/tmp/%s to %s/%s%s%s", q->path,
	    tmp, q->path, dir, dir[0] != '\0' ? "/" : "", name);
}

/* One attempt to place tmp as a new file in the message directory. */
static int
place_new(struct fs_queue *q, const char *tmp, const char *msgid,
    const char *name)
{
	char dir[FS_MSGDIR_MAX];
	int dir_fd, rc;

	fs_msgdir(dir, msgid);
	if ((rc = make_msgdir(q, dir)) != QS_OK)
		return rc;
	dir_fd = openat(q->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1 && errno == ENOENT)
		return FS_AGAIN;
	if (dir_fd == -1)
		return fs_fail_errno(q, "cannot open directory %s/%s",
		    q->path, dir);
	rc = rename_new(q, tmp, dir_fd, dir, name);
	if (rc == QS_ERR_EXISTS)
		rc = already_stored(q, msgid, name);
	if (rc == QS_OK && (rc = fs_fsync_dir(q, dir_fd, dir)) != QS_OK) {
		/* The caller sees a failure, so the new blob must go. */
		int saved = errno;

		unlinkat(dir_fd, name, 0);
		errno = saved;
	}
	close(dir_fd);
	return rc;
}

/*
 * Replaces dir/name by tmp after checking that it exists. Used only on
 * file systems without RENAME_EXCHANGE.
 * NOTE: a delete that runs between the check and the rename is undone,
 * because the rename creates the envelope again.
 */
static int
replace_checked(struct fs_queue *q, const char *tmp, int dir_fd,
    const char *dir, const char *msgid, const char *name)
{
	struct stat st;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return not_stored(q, msgid, name);
		return fs_fail_errno(q, "cannot check %s/%s/%s", q->path,
		    dir, name);
	}
	if (renameat(q->tmp_fd, tmp, dir_fd, name) == -1)
		return fs_fail_errno(q, "cannot move %s/tmp/%s to %s/%s/%s",
		    q->path, tmp, q->path, dir, name);
	return QS_OK;
}

/*
 * Replaces the existing file dir/name by tmp. RENAME_EXCHANGE swaps the
 * two names in one step and fails if dir/name is absent, so a concurrent
 * delete is never undone. tmp then names the old blob, which is removed.
 */
static int
place_existing(struct fs_queue *q, const char *tmp, const char *msgid,
    const char *name)
{
	char dir[FS_MSGDIR_MAX];
	int dir_fd, rc;

	fs_msgdir(dir, msgid);
	dir_fd = openat(q->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1 && errno == ENOENT)
		return not_stored(q, msgid, name);
	if (dir_fd == -1)
		return fs_fail_errno(q, "cannot open directory %s/%s",
		    q->path, dir);
	if (renameat2(q->tmp_fd, tmp, dir_fd, name, RENAME_EXCHANGE) == 0) {
		unlinkat(q->tmp_fd, tmp, 0);
		rc = QS_OK;
	} else if (errno == EINVAL || errno == ENOSYS)
		rc = replace_checked(q, tmp, dir_fd, dir, msgid, name);
	else if (errno == ENOENT && tmp_exists(q, tmp))
		rc = not_stored(q, msgid, name);
	else
		rc = fs_fail_errno(q, "cannot exchange %s/tmp/%s with "
		    "%s/%s/%s", q->path, tmp, q->path, dir, name);
	if (rc == QS_OK)
		rc = fs_fsync_dir(q, dir_fd, dir);
	close(dir_fd);
	return rc;
}

/*
 * Removes the message directory if a failed placement left it empty.
 * rmdir(2) fails harmlessly while it has files; errno is preserved.
 */
static void
remove_empty_msgdir(struct fs_queue *q, const char *msgid)
{
	char dir[FS_MSGDIR_MAX];
	int saved = errno;

	fs_msgdir(dir, msgid);
	unlinkat(q->root_fd, dir, AT_REMOVEDIR);
	errno = saved;
}

/*
 * Moves the flushed temporary file tmp to msg/<ab>/<msgid>/<name>, as a
 * new file (FS_PLACE_NEW) or over an existing one (FS_PLACE_EXISTING),
 * and flushes the directory. tmp is gone afterwards, whatever the result.
 * When the final directory fsync fails, a new file is removed again but
 * a replaced one stays in place, whole.
 */
int
fs_place(struct fs_queue *q, const char *tmp, const char *msgid,
    const char *name, int how)
{
	int rc = FS_AGAIN, tries;

	for (tries = 0; tries < FS_PLACE_TRIES && rc == FS_AGAIN; tries++) {
		if (how == FS_PLACE_NEW)
			rc = place_new(q, tmp, msgid, name);
		else
			rc = place_existing(q, tmp, msgid, name);
	}
	if (rc == FS_AGAIN)
		rc = fs_fail(q, QS_ERR_IO, "directory %s/msg/%.2s/%.*s was "
		    "removed %d times while storing %s into it: check for "
		    "processes that delete it", q->path, msgid, FS_MSGID_LEN,
		    msgid, FS_PLACE_TRIES, name);
	if (rc != QS_OK) {
		fs_tmp_discard(q, tmp);
		if (how == FS_PLACE_NEW)
			remove_empty_msgdir(q, msgid);
	}
	return rc;
}

/*
 * Moves the flushed temporary file tmp to PATH/meta and flushes PATH.
 * With QS_META_CREATE in flags an existing record is kept and the call
 * fails with QS_ERR_EXISTS. Otherwise the record is replaced. tmp is
 * gone afterwards, whatever the result.
 */
int
fs_place_meta(struct fs_queue *q, const char *tmp, uint32_t flags)
{
	int rc = QS_OK;

	if (flags & QS_META_CREATE) {
		rc = rename_new(q, tmp, q->root_fd, "", "meta");
		if (rc == QS_ERR_EXISTS)
			rc = fs_fail(q, rc, "%s/meta already exists: another "
			    "process created the metadata record first",
			    q->path);
		else if (rc == FS_AGAIN)
			rc = fs_fail(q, QS_ERR_IO, "queue directory %s was "
			    "removed while the queue is open", q->path);
	} else if (renameat(q->tmp_fd, tmp, q->root_fd, "meta") == -1)
		rc = fs_fail_errno(q, "cannot move %s/tmp/%s to %s/meta",
		    q->path, tmp, q->path);
	if (rc != QS_OK) {
		fs_tmp_discard(q, tmp);
		return rc;
	}
	/* A failed fsync leaves the new record in place, whole. */
	return fs_fsync_dir(q, q->root_fd, "");
}

/*
 * Deletes msg/<ab>/<msgid>/<name>, flushes the directory so that the
 * blob does not come back after a crash, and removes the directory if it
 * is now empty. rmdir(2) fails on a directory that a concurrent writer
 * has just filled, and a writer that loses the directory retries.
 */
int
fs_unlink_blob(struct fs_queue *q, const char *msgid, const char *name)
{
	char dir[FS_MSGDIR_MAX];
	int dir_fd, rc;

	fs_msgdir(dir, msgid);
	dir_fd = openat(q->root_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd == -1 && errno == ENOENT)
		return not_stored(q, msgid, name);
	if (dir_fd == -1)
		return fs_fail_errno(q, "cannot open directory %s/%s",
		    q->path, dir);
	if (unlinkat(dir_fd, name, 0) == -1) {
		if (errno == ENOENT)
			rc = not_stored(q, msgid, name);
		else
			rc = fs_fail_errno(q, "cannot remove %s/%s/%s",
			    q->path, dir, name);
		close(dir_fd);
		return rc;
	}
	rc = fs_fsync_dir(q, dir_fd, dir);
	close(dir_fd);
	/* Failure is normal here: the directory still has other files. */
	unlinkat(q->root_fd, dir, AT_REMOVEDIR);
	return rc;
}

/* Reads exactly len bytes, failing with EIO if the file ends early. */
static int
read_exact(int fd, uint8_t *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = read(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads the whole file PATH/rel into buf. Returns QS_ERR_NOTFOUND
 * without setting error text when the file is absent, and QS_ERR_LIMIT
 * with *len set to the file size when cap is too small. Files are never
 * changed in place, so the size from fstat(2) is the size to read.
 */
int
fs_load(struct fs_queue *q, const char *rel, uint8_t *buf, size_t cap,
    size_t *len)
{
	struct stat st;
	int fd, rc = QS_OK;

	fd = openat(q->root_fd, rel, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && (errno == ENOENT || errno == ENOTDIR))
		return QS_ERR_NOTFOUND;
	if (fd == -1)
		return fs_fail_errno(q, "cannot open %s/%s", q->path, rel);
	if (fstat(fd, &st) == -1)
		rc = fs_fail_errno(q, "cannot stat %s/%s", q->path, rel);
	else if ((uint64_t)st.st_size > cap) {
		*len = (size_t)st.st_size;
		rc = fs_fail(q, QS_ERR_LIMIT, "%s/%s has %jd bytes but the "
		    "buffer holds %zu: call again with a larger buffer",
		    q->path, rel, (intmax_t)st.st_size, cap);
	} else if (read_exact(fd, buf, (size_t)st.st_size) == -1)
		rc = fs_fail_errno(q, "cannot read %s/%s", q->path, rel);
	else
		*len = (size_t)st.st_size;
	close(fd);
	return rc;
}
