/*
 * The queue operations on the metadata record, message blobs and
 * envelope blobs. fs.c describes the layout and the durability rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* A message being written: a temporary file until msg_commit. */
struct fs_writer {
	struct fs_queue *queue;
	int fd;
	int status;               /* first failure, or QS_OK */
	int replace;              /* commit replaces a committed message */
	char msgid[FS_MSGID_LEN + 1];
	char tmp[FS_TMP_NAME_MAX];
};

/* A committed message open for reading. */
struct fs_reader {
	struct fs_queue *queue;
	int fd;
	char rel[FS_BLOB_REL_MAX];
};

static int
check_buffer(struct fs_queue *q, const void *buf, size_t len)
{
	if (buf == NULL && len > 0)
		return fs_fail(q, QS_ERR_INVALID, "buffer is NULL but its "
		    "length is %zu", len);
	return QS_OK;
}

int
fs_meta_get(void *queue, uint8_t *buf, size_t cap, size_t *len)
{
	struct fs_queue *q = queue;
	int rc;

	if (q == NULL || len == NULL)
		return QS_ERR_INVALID;
	if ((rc = check_buffer(q, buf, cap)) != QS_OK)
		return rc;
	rc = fs_load(q, "meta", buf, cap, len);
	if (rc == QS_ERR_NOTFOUND)
		return fs_fail(q, rc, "%s/meta not found: the queue has no "
		    "metadata record yet", q->path);
	return rc;
}

int
fs_meta_put(void *queue, const uint8_t *buf, size_t len, uint32_t flags)
{
	struct fs_queue *q = queue;
	char tmp[FS_TMP_NAME_MAX];
	struct stat st;
	int rc;

	if (q == NULL)
		return QS_ERR_INVALID;
	if ((flags & ~(uint32_t)QS_META_CREATE) != 0)
		return fs_fail(q, QS_ERR_INVALID, "unknown meta_put flags "
		    "0x%x: the only flag is QS_META_CREATE", (unsigned)flags);
	if ((rc = check_buffer(q, buf, len)) != QS_OK)
		return rc;
	/*
	 * Saves writing a file that cannot be placed. The rename still
	 * decides, because another process may create the record meanwhile.
	 */
	if ((flags & QS_META_CREATE) &&
	    fstatat(q->root_fd, "meta", &st, 0) == 0)
		return fs_fail(q, QS_ERR_EXISTS, "%s/meta already exists: "
		    "the queue has a metadata record", q->path);
	if ((rc = fs_tmp_store(q, buf, len, tmp)) != QS_OK)
		return rc;
	return fs_place_meta(q, tmp, flags);
}

/* Allocates a writer with its temporary file; replace selects the mode. */
static int
new_writer(struct fs_queue *q, const char *msgid, int replace,
    void **writer)
{
	struct fs_writer *w;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return fs_fail(q, QS_ERR_NOMEM, "cannot allocate a writer "
		    "for message %s", msgid);
	w->queue = q;
	w->replace = replace;
	memcpy(w->msgid, msgid, FS_MSGID_LEN + 1);
	if ((rc = fs_tmp_create(q, w->tmp, &w->fd)) != QS_OK) {
		free(w);
		return rc;
	}
	*writer = w;
	return QS_OK;
}

int
fs_msg_create(void *queue, const char *msgid, void **writer)
{
	struct fs_queue *q = queue;
	struct stat st;
	char rel[FS_BLOB_REL_MAX];
	int rc;

	if (q == NULL || writer == NULL)
		return QS_ERR_INVALID;
	*writer = NULL;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	fs_blob_rel(rel, msgid, FS_MESSAGE_NAME);
	if (fstatat(q->root_fd, rel, &st, 0) == 0)
		return fs_fail(q, QS_ERR_EXISTS, "message %s is already "
		    "stored", msgid);
	if (errno != ENOENT && errno != ENOTDIR)
		return fs_fail_errno(q, "cannot check %s/%s", q->path, rel);
	return new_writer(q, msgid, 0, writer);
}

/*
 * Starts a blob that replaces message msgid on commit. The exchange in
 * fs_place fails when the message was deleted meanwhile, so a deleted
 * message never comes back.
 */
int
fs_msg_replace(void *queue, const char *msgid, void **writer)
{
	struct fs_queue *q = queue;
	int rc;

	if (q == NULL || writer == NULL)
		return QS_ERR_INVALID;
	*writer = NULL;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	return new_writer(q, msgid, 1, writer);
}

/*
 * Appends buf to the message. After a failure every later write and the
 * commit return that failure, so a partial blob cannot be committed.
 */
int
fs_msg_write(void *writer, const uint8_t *buf, size_t len)
{
	struct fs_writer *w = writer;
	int rc;

	if (w == NULL)
		return QS_ERR_INVALID;
	if (w->status != QS_OK)
		return w->status;
	if ((rc = check_buffer(w->queue, buf, len)) != QS_OK)
		return rc;
	if (fs_write_all(w->fd, buf, len) == -1)
		w->status = fs_fail_errno(w->queue, "write of message %s to "
		    "%s/tmp/%s failed", w->msgid, w->queue->path, w->tmp);
	return w->status;
}

int
fs_msg_commit(void *writer)
{
	struct fs_writer *w = writer;
	int rc;

	if (w == NULL)
		return QS_ERR_INVALID;
	rc = w->status;
	if (rc != QS_OK) {
		close(w->fd);
		fs_tmp_discard(w->queue, w->tmp);
	} else if ((rc = fs_tmp_finish(w->queue, w->tmp, w->fd)) == QS_OK)
		rc = fs_place(w->queue, w->tmp, w->msgid, FS_MESSAGE_NAME,
		    w->replace ? FS_PLACE_EXISTING : FS_PLACE_NEW);
	free(w);
	return rc;
}

void
fs_msg_abort(void *writer)
{
	struct fs_writer *w = writer;

	if (w == NULL)
		return;
	close(w->fd);
	fs_tmp_discard(w->queue, w->tmp);
	free(w);
}

int
fs_msg_open(void *queue, const char *msgid, void **reader)
{
	struct fs_queue *q = queue;
	struct fs_reader *r;
	int rc;

	if (q == NULL || reader == NULL)
		return QS_ERR_INVALID;
	*reader = NULL;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return fs_fail(q, QS_ERR_NOMEM, "cannot allocate a reader "
		    "for message %s", msgid);
	r->queue = q;
	fs_blob_rel(r->rel, msgid, FS_MESSAGE_NAME);
	r->fd = openat(q->root_fd, r->rel, O_RDONLY | O_CLOEXEC);
	if (r->fd != -1) {
		*reader = r;
		return QS_OK;
	}
	if (errno == ENOENT || errno == ENOTDIR)
		rc = fs_fail(q, QS_ERR_NOTFOUND, "message %s not found",
		    msgid);
	else
		rc = fs_fail_errno(q, "cannot open %s/%s", q->path, r->rel);
	free(r);
	return rc;
}

/* Reads with one read(2) call, so memory use does not grow with size. */
int
fs_msg_read(void *reader, uint8_t *buf, size_t cap, size_t *len)
{
	struct fs_reader *r = reader;
	ssize_t n;

	if (r == NULL || len == NULL)
		return QS_ERR_INVALID;
	*len = 0;
	if (buf == NULL || cap == 0)
		return fs_fail(r->queue, QS_ERR_INVALID, "read of %s/%s needs "
		    "a buffer of at least one byte", r->queue->path, r->rel);
	if (cap > SSIZE_MAX)
		cap = SSIZE_MAX;
	do
		n = read(r->fd, buf, cap);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return fs_fail_errno(r->queue, "cannot read %s/%s",
		    r->queue->path, r->rel);
	*len = (size_t)n;
	return QS_OK;
}

void
fs_msg_close(void *reader)
{
	struct fs_reader *r = reader;

	if (r == NULL)
		return;
	close(r->fd);
	free(r);
}

int
fs_msg_stat(void *queue, const char *msgid, uint64_t *stored)
{
	struct fs_queue *q = queue;
	struct stat st;
	char rel[FS_BLOB_REL_MAX];
	int rc;

	if (q == NULL || stored == NULL)
		return QS_ERR_INVALID;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	fs_blob_rel(rel, msgid, FS_MESSAGE_NAME);
	if (fstatat(q->root_fd, rel, &st, 0) == 0) {
		*stored = (uint64_t)st.st_size;
		return QS_OK;
	}
	if (errno == ENOENT || errno == ENOTDIR)
		return fs_fail(q, QS_ERR_NOTFOUND, "message %s not found",
		    msgid);
	return fs_fail_errno(q, "cannot stat %s/%s", q->path, rel);
}

int
fs_msg_delete(void *queue, const char *msgid)
{
	struct fs_queue *q = queue;
	int rc;

	if (q == NULL)
		return QS_ERR_INVALID;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	return fs_unlink_blob(q, msgid, FS_MESSAGE_NAME);
}

/* Checks evpid and copies its message id, the first 16 digits, to msgid. */
static int
split_evpid(struct fs_queue *q, const char *evpid,
    char msgid[FS_MSGID_LEN + 1])
{
	int rc;

	if ((rc = fs_check_evpid(q, evpid)) != QS_OK)
		return rc;
	memcpy(msgid, evpid, FS_MSGID_LEN);
	msgid[FS_MSGID_LEN] = '\0';
	return QS_OK;
}

int
fs_env_create(void *queue, const char *msgid, const char *evpid,
    const uint8_t *buf, size_t len)
{
	struct fs_queue *q = queue;
	char tmp[FS_TMP_NAME_MAX];
	int rc;

	if (q == NULL)
		return QS_ERR_INVALID;
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK ||
	    (rc = fs_check_evpid(q, evpid)) != QS_OK ||
	    (rc = check_buffer(q, buf, len)) != QS_OK)
		return rc;
	if (memcmp(evpid, msgid, FS_MSGID_LEN) != 0)
		return fs_fail(q, QS_ERR_INVALID, "envelope id %s does not "
		    "start with its message id %s", evpid, msgid);
	if ((rc = fs_tmp_store(q, buf, len, tmp)) != QS_OK)
		return rc;
	return fs_place(q, tmp, msgid, evpid, FS_PLACE_NEW);
}

int
fs_env_load(void *queue, const char *evpid, uint8_t *buf, size_t cap,
    size_t *len)
{
	struct fs_queue *q = queue;
	char msgid[FS_MSGID_LEN + 1];
	char rel[FS_BLOB_REL_MAX];
	int rc;

	if (q == NULL || len == NULL)
		return QS_ERR_INVALID;
	if ((rc = split_evpid(q, evpid, msgid)) != QS_OK ||
	    (rc = check_buffer(q, buf, cap)) != QS_OK)
		return rc;
	fs_blob_rel(rel, msgid, evpid);
	rc = fs_load(q, rel, buf, cap, len);
	if (rc == QS_ERR_NOTFOUND)
		return fs_fail(q, rc, "envelope %s not found", evpid);
	return rc;
}

int
fs_env_update(void *queue, const char *evpid, const uint8_t *buf,
    size_t len)
{
	struct fs_queue *q = queue;
	char msgid[FS_MSGID_LEN + 1];
	char tmp[FS_TMP_NAME_MAX];
	int rc;

	if (q == NULL)
		return QS_ERR_INVALID;
	if ((rc = split_evpid(q, evpid, msgid)) != QS_OK ||
	    (rc = check_buffer(q, buf, len)) != QS_OK ||
	    (rc = fs_tmp_store(q, buf, len, tmp)) != QS_OK)
		return rc;
	return fs_place(q, tmp, msgid, evpid, FS_PLACE_EXISTING);
}

int
fs_env_delete(void *queue, const char *evpid)
{
	struct fs_queue *q = queue;
	char msgid[FS_MSGID_LEN + 1];
	int rc;

	if (q == NULL)
		return QS_ERR_INVALID;
	if ((rc = split_evpid(q, evpid, msgid)) != QS_OK)
		return rc;
	return fs_unlink_blob(q, msgid, evpid);
}

/*
 * Moves a damaged blob to PATH/quarantine/<id>.<kind>.<unix time>, a
 * name no walk looks at, and removes the message directory if it ends
 * empty.
 */
int
fs_quarantine(void *queue, uint32_t kind, const char *id, char *dest,
    size_t cap)
{
	struct fs_queue *q = queue;
	char msgid[FS_MSGID_LEN + 1], rel[FS_BLOB_REL_MAX], dir[FS_MSGDIR_MAX];
	char name[FS_EVPID_LEN + 48];
	const char *blob;
	int qfd, rc;

	if (q == NULL || id == NULL)
		return QS_ERR_INVALID;
	if (kind == QS_BLOB_MESSAGE) {
		if ((rc = fs_check_msgid(q, id)) != QS_OK)
			return rc;
		blob = FS_MESSAGE_NAME;
	} else if (kind == QS_BLOB_ENVELOPE) {
		if ((rc = fs_check_evpid(q, id)) != QS_OK)
			return rc;
		blob = id;
	} else {
		return fs_fail(q, QS_ERR_INVALID, "unknown blob kind %u",
		    (unsigned)kind);
	}
	memcpy(msgid, id, FS_MSGID_LEN);
	msgid[FS_MSGID_LEN] = '\0';
	fs_blob_rel(rel, msgid, blob);
	if (mkdirat(q->root_fd, "quarantine", 0700) == -1 && errno != EEXIST)
		return fs_fail_errno(q, "cannot create %s/quarantine",
		    q->path);
	qfd = openat(q->root_fd, "quarantine",
	    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (qfd == -1)
		return fs_fail_errno(q, "cannot open %s/quarantine", q->path);
	snprintf(name, sizeof(name), "%s.%s.%lld", id,
	    kind == QS_BLOB_MESSAGE ? "message" : "envelope",
	    (long long)time(NULL));
	if (renameat(q->root_fd, rel, qfd, name) == -1) {
		rc = errno == ENOENT ? fs_fail(q, QS_ERR_NOTFOUND, "%s %s not "
		    "found", kind == QS_BLOB_MESSAGE ? "message" : "envelope",
		    id) : fs_fail_errno(q, "cannot move %s/%s to %s/quarantine",
		    q->path, rel, q->path);
		close(qfd);
		return rc;
	}
	rc = fs_fsync_dir(q, qfd, "quarantine");
	close(qfd);
	fs_msgdir(dir, msgid);
	if (rc == QS_OK)
		rc = fs_fsync_dir_path(q, dir);
	/* Failure is normal here: the directory still has other files. */
	unlinkat(q->root_fd, dir, AT_REMOVEDIR);
	if (dest != NULL && cap > 0)
		snprintf(dest, cap, "%s/quarantine/%s", q->path, name);
	return rc;
}
