/*
 * Internal interface of the fs queue backend. Everything declared here is
 * hidden by -fvisibility=hidden: the module exports only qs_module_entry.
 * fs.c describes the on-disk layout.
 */
#ifndef QS_QUEUE_FS_H
#define QS_QUEUE_FS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <qstack/plugin.h>

#define FS_MSGID_LEN    16    /* lowercase hex digits in a message id */
#define FS_EVPID_LEN    24    /* message id plus 8 more hex digits */
#define FS_ERR_MAX      512   /* bytes of error text kept per queue */
#define FS_TMP_NAME_MAX 48    /* "<pid>-<16 hex digits>" plus NUL */

/* "msg/<ab>/<msgid>": a message directory relative to PATH. */
#define FS_MSGDIR_MAX   (7 + FS_MSGID_LEN + 1)

/* Message directory, a slash and an envelope id or "message". */
#define FS_BLOB_REL_MAX (FS_MSGDIR_MAX + FS_EVPID_LEN + 1)

/* Name of the message blob inside its message directory. */
#define FS_MESSAGE_NAME "message"

/*
 * One open queue. The descriptors stay open until close, so that every
 * later call works relative to them even if the process changes its
 * working directory.
 *
 * The ABI has an error slot only for the queue, so failures of the
 * queue's readers and writers also write their text into err. The lock
 * keeps that text whole when a reader or writer fails on one thread
 * while the queue fails on another.
 */
struct fs_queue {
	char *path;               /* queue directory, as configured */
	int root_fd;              /* PATH */
	int tmp_fd;               /* PATH/tmp */
	pthread_mutex_t err_lock;
	char err[FS_ERR_MAX];
};

/* Placement modes of fs_place. */
#define FS_PLACE_NEW      1   /* fail with QS_ERR_EXISTS if taken */
#define FS_PLACE_EXISTING 2   /* fail with QS_ERR_NOTFOUND if absent */

/* Host services from the latest call of the entry, or NULL. */
extern const struct qs_host *fs_host;

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

/* fs.c: errors, logging and ids. */
int fs_fail(struct fs_queue *q, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int fs_fail_errno(struct fs_queue *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void fs_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int fs_check_msgid(struct fs_queue *q, const char *msgid);
int fs_check_evpid(struct fs_queue *q, const char *evpid);
void fs_msgdir(char rel[FS_MSGDIR_MAX], const char *msgid);
void fs_blob_rel(char rel[FS_BLOB_REL_MAX], const char *msgid,
    const char *name);

/* fs_file.c: temporary files, directories and atomic placement. */
int fs_write_all(int fd, const uint8_t *buf, size_t len);
long fs_tmp_pid(const char *name);
int fs_tmp_create(struct fs_queue *q, char name[FS_TMP_NAME_MAX], int *fdp);
int fs_tmp_finish(struct fs_queue *q, const char *name, int fd);
void fs_tmp_discard(struct fs_queue *q, const char *name);
int fs_tmp_store(struct fs_queue *q, const uint8_t *buf, size_t len,
    char name[FS_TMP_NAME_MAX]);
int fs_place(struct fs_queue *q, const char *tmp, const char *msgid,
    const char *name, int how);
int fs_place_meta(struct fs_queue *q, const char *tmp, uint32_t flags);
int fs_unlink_blob(struct fs_queue *q, const char *msgid, const char *name);
int fs_load(struct fs_queue *q, const char *rel, uint8_t *buf, size_t cap,
    size_t *len);
int fs_fsync_dir(struct fs_queue *q, int dir_fd, const char *rel);
int fs_fsync_dir_path(struct fs_queue *q, const char *rel);

/* fs_blob.c: the queue operations on blobs. */
int fs_meta_get(void *queue, uint8_t *buf, size_t cap, size_t *len);
int fs_meta_put(void *queue, const uint8_t *buf, size_t len,
    uint32_t flags);
int fs_msg_create(void *queue, const char *msgid, void **writer);
int fs_msg_write(void *writer, const uint8_t *buf, size_t len);
int fs_msg_commit(void *writer);
void fs_msg_abort(void *writer);
int fs_msg_open(void *queue, const char *msgid, void **reader);
int fs_msg_read(void *reader, uint8_t *buf, size_t cap, size_t *len);
void fs_msg_close(void *reader);
int fs_msg_stat(void *queue, const char *msgid, uint64_t *stored);
int fs_msg_delete(void *queue, const char *msgid);
int fs_env_create(void *queue, const char *msgid, const char *evpid,
    const uint8_t *buf, size_t len);
int fs_env_load(void *queue, const char *evpid, uint8_t *buf, size_t cap,
    size_t *len);
int fs_env_update(void *queue, const char *evpid, const uint8_t *buf,
    size_t len);
int fs_env_delete(void *queue, const char *evpid);
int fs_msg_replace(void *queue, const char *msgid, void **writer);
int fs_quarantine(void *queue, uint32_t kind, const char *id, char *dest,
    size_t cap);

/* fs_walk.c: listing messages and envelopes. */
int fs_msg_walk(void *queue, int (*fn)(void *arg, const char *msgid),
    void *arg);
int fs_env_walk(void *queue, const char *msgid,
    int (*fn)(void *arg, const char *evpid), void *arg);

#endif
