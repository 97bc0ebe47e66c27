/*
 * Walks over messages and envelopes. Other processes may add and delete
 * entries during a walk: a directory that vanishes is skipped, and an
 * entry added or removed meanwhile may or may not be reported, as with
 * readdir(3). Names that are not valid ids are skipped, and temporary
 * files live outside PATH/msg, so a walk never reports them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs.h"

/* Visitor of one message directory. A non-zero return stops the walk. */
typedef int (*visit_fn)(struct fs_queue *q, const char *msgid, void *ctx);

struct walk_fn {
	int (*fn)(void *arg, const char *id);
	void *arg;
};

static int
is_hex_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((name[i] >= '0' && name[i] <= '9') ||
		    (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	}
	return name[len] == '\0';
}

/*
 * Opens PATH/rel for listing. Returns NULL with *rc QS_OK when the
 * directory does not exist (any more), or NULL with an error status.
 */
static DIR *
open_listing(struct fs_queue *q, const char *rel, int *rc)
{
	DIR *dir;
	int fd;

	*rc = QS_OK;
	fd = openat(q->root_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1) {
		if (errno != ENOENT && errno != ENOTDIR)
			*rc = fs_fail_errno(q, "cannot open directory %s/%s",
			    q->path, rel);
		return NULL;
	}
	if ((dir = fdopendir(fd)) == NULL) {
		*rc = fs_fail_errno(q, "cannot list directory %s/%s",
		    q->path, rel);
		close(fd);
	}
	return dir;
}

/* Returns the next entry, or NULL at the end or with *rc set on error. */
static struct dirent *
next_entry(struct fs_queue *q, DIR *dir, const char *rel, int *rc)
{
	struct dirent *de;

	errno = 0;
	de = readdir(dir);
	if (de == NULL && errno != 0)
		*rc = fs_fail_errno(q, "cannot list directory %s/%s",
		    q->path, rel);
	return de;
}

static int
walk_bucket(struct fs_queue *q, const char *bucket, visit_fn visit,
    void *ctx)
{
	char rel[sizeof("msg/ab")], msgid[FS_MSGID_LEN + 1];
	struct dirent *de;
	DIR *dir;
	int rc;

	snprintf(rel, sizeof(rel), "msg/%s", bucket);
	if ((dir = open_listing(q, rel, &rc)) == NULL)
		return rc;
	while (rc == QS_OK && (de = next_entry(q, dir, rel, &rc)) != NULL) {
		if (!is_hex_name(de->d_name, FS_MSGID_LEN) ||
		    memcmp(de->d_name, bucket, 2) != 0)
			continue;
		memcpy(msgid, de->d_name, sizeof(msgid));
		rc = visit(q, msgid, ctx);
	}
	closedir(dir);
	return rc;
}

/* Calls visit for every message directory, in no particular order. */
static int
walk_msgdirs(struct fs_queue *q, visit_fn visit, void *ctx)
{
	char bucket[3];
	struct dirent *de;
	DIR *dir;
	int rc;

	if ((dir = open_listing(q, "msg", &rc)) == NULL)
		return rc;
	while (rc == QS_OK && (de = next_entry(q, dir, "msg", &rc)) != NULL) {
		if (!is_hex_name(de->d_name, 2))
			continue;
		memcpy(bucket, de->d_name, sizeof(bucket));
		rc = walk_bucket(q, bucket, visit, ctx);
	}
	closedir(dir);
	return rc;
}

/* Calls the walk function if the message directory has a message. */
static int
visit_message(struct fs_queue *q, const char *msgid, void *ctx)
{
	struct walk_fn *w = ctx;
	char rel[FS_BLOB_REL_MAX];
	struct stat st;

	fs_blob_rel(rel, msgid, FS_MESSAGE_NAME);
	if (fstatat(q->root_fd, rel, &st, 0) == 0)
		return w->fn(w->arg, msgid);
	if (errno == ENOENT || errno == ENOTDIR) {
		char dir[FS_MSGDIR_MAX];

		/*
		 * A crash between creating the directory and placing the blob
		 * leaves it empty. rmdir(2) fails while it has envelopes, and a
		 * writer that loses the directory creates it again.
		 */
		fs_msgdir(dir, msgid);
		unlinkat(q->root_fd, dir, AT_REMOVEDIR);
		return QS_OK;
	}
	return fs_fail_errno(q, "cannot check %s/%s", q->path, rel);
}

/* Calls the walk function for every envelope of one message. */
static int
visit_envelopes(struct fs_queue *q, const char *msgid, void *ctx)
{
	struct walk_fn *w = ctx;
	char rel[FS_MSGDIR_MAX], evpid[FS_EVPID_LEN + 1];
	struct dirent *de;
	DIR *dir;
	int rc;

	fs_msgdir(rel, msgid);
	if ((dir = open_listing(q, rel, &rc)) == NULL)
		return rc;
	while (rc == QS_OK && (de = next_entry(q, dir, rel, &rc)) != NULL) {
		if (!is_hex_name(de->d_name, FS_EVPID_LEN) ||
		    memcmp(de->d_name, msgid, FS_MSGID_LEN) != 0)
			continue;
		memcpy(evpid, de->d_name, sizeof(evpid));
		rc = w->fn(w->arg, evpid);
	}
	closedir(dir);
	return rc;
}

int
fs_msg_walk(void *queue, int (*fn)(void *arg, const char *msgid), void *arg)
{
	struct fs_queue *q = queue;
	struct walk_fn w = { fn, arg };

	if (q == NULL || fn == NULL)
		return QS_ERR_INVALID;
	return walk_msgdirs(q, visit_message, &w);
}

int
fs_env_walk(void *queue, const char *msgid,
    int (*fn)(void *arg, const char *evpid), void *arg)
{
	struct fs_queue *q = queue;
	struct walk_fn w = { fn, arg };
	int rc;

	if (q == NULL || fn == NULL)
		return QS_ERR_INVALID;
	if (msgid == NULL)
		return walk_msgdirs(q, visit_envelopes, &w);
	if ((rc = fs_check_msgid(q, msgid)) != QS_OK)
		return rc;
	return visit_envelopes(q, msgid, &w);
}
