/*
 * qstack embedding API.
 *
 * A queue stores messages (byte streams of any size) and envelopes
 * (small records, each tied to one message). Both pass through the
 * configured compression and encryption modules before the backend
 * stores them. With encryption configured, storage receives only opaque
 * blobs.
 *
 * Every function returns QS_OK (0) or a negative status from
 * <qstack/plugin.h>. On failure, qs_error() returns one line saying what
 * failed, on which value, and what to do. Messages never contain keys,
 * passphrases or message contents.
 *
 * Threading: a struct qs_queue and the readers and writers made from it
 * must be used by one thread at a time. Several processes may open the
 * same queue at once; the backend keeps each blob consistent.
 */
#ifndef QSTACK_QSTACK_H
#define QSTACK_QSTACK_H

#include <stddef.h>
#include <stdint.h>

#include <qstack/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

struct qs_config;
struct qs_queue;
struct qs_msg_writer;
struct qs_msg_reader;

/* Returns a short constant text for a status code, e.g. "corrupt". */
const char *qs_strerror(int status);

/*
 * Installs the process-wide log callback for the library and its
 * modules. With none installed, warnings and errors go to stderr.
 * level is QS_LOG_*; messages above max_level are dropped.
 */
typedef void (*qs_log_fn)(void *arg, int level, const char *module,
    const char *msg);
void qs_set_log(qs_log_fn fn, void *arg, int max_level);

/*
 * Parses the configuration file at path. On failure returns NULL and
 * writes one line (file, line, statement, fix) to err.
 */
struct qs_config *qs_config_load(const char *path, char *err,
    size_t err_cap);

/* Same, from text in memory; name is used in messages. */
struct qs_config *qs_config_parse(const char *text, size_t len,
    const char *name, char *err, size_t err_cap);

void qs_config_free(struct qs_config *config);

/*
 * Returns 1 when opening the queue reads a key from standard input
 * (key - or key stdin), so that standard input cannot also carry data.
 */
int qs_config_reads_stdin(const struct qs_config *config);

/*
 * Sets the directory searched for modules when the configuration has no
 * plugin-path. QSTACK_PLUGIN_PATH, when set, overrides both. The string
 * is copied.
 */
int qs_config_set_default_plugin_path(struct qs_config *config,
    const char *dir);

/*
 * Opens the queue the configuration describes: loads and checks every
 * module, reads keys, opens the backend and creates the queue when it
 * does not exist yet. On failure returns NULL and writes one line to
 * err. The configuration may be freed after this returns.
 */
struct qs_queue *qs_open(const struct qs_config *config, char *err,
    size_t err_cap);

void qs_close(struct qs_queue *queue);

/* One line describing the last failure on this queue. */
const char *qs_error(const struct qs_queue *queue);

/*
 * Starts a new message. The id is chosen by the library and is readable
 * at once with qs_msg_writer_id(). Nothing is visible until commit.
 */
int qs_msg_create(struct qs_queue *queue, struct qs_msg_writer **writer);
const char *qs_msg_writer_id(const struct qs_msg_writer *writer);
int qs_msg_write(struct qs_msg_writer *writer, const void *buf,
    size_t len);

/* Sizes of a committed message. */
struct qs_msg_stat {
	uint64_t size;            /* bytes the application wrote */
	uint64_t stored_size;     /* bytes the backend stores */
};

/*
 * Finishes the message and makes it durable. Frees writer whatever the
 * result; on failure nothing is stored. stat may be NULL.
 */
int qs_msg_commit(struct qs_msg_writer *writer, struct qs_msg_stat *stat);

/* Discards the message and frees writer. */
void qs_msg_abort(struct qs_msg_writer *writer);

/*
 * Opens a message for reading. Blobs are decoded with the modules named
 * in their own header, so configuration changes never strand them.
 */
int qs_msg_open(struct qs_queue *queue, const char *msgid,
    struct qs_msg_reader **reader);

/*
 * Reads up to cap bytes of the message; *len is 0 at the end. Bytes are
 * released only after the encryption layer has authenticated them.
 * A message whose last call does not return QS_OK with *len == 0 was not
 * read completely and must not be trusted.
 */
int qs_msg_read(struct qs_msg_reader *reader, void *buf, size_t cap,
    size_t *len);
void qs_msg_close(struct qs_msg_reader *reader);

/* Size of the stored blob, without reading it. */
int qs_msg_stored_size(struct qs_queue *queue, const char *msgid,
    uint64_t *stored_size);

/* Deletes a message and all its envelopes. */
int qs_msg_delete(struct qs_queue *queue, const char *msgid);

/*
 * Calls fn for every committed message. Stops early and returns fn's
 * value when fn returns non-zero.
 */
int qs_msg_walk(struct qs_queue *queue,
    int (*fn)(void *arg, const char *msgid), void *arg);

/*
 * Stores a new envelope for message msgid. The envelope's id, chosen by
 * the library, is written to evpid (at least QS_ID_MAX bytes).
 */
int qs_env_create(struct qs_queue *queue, const char *msgid,
    const void *data, size_t len, char *evpid);

/*
 * Loads an envelope into buf. Returns QS_ERR_LIMIT with *len set to the
 * size needed when cap is too small.
 */
int qs_env_load(struct qs_queue *queue, const char *evpid, void *buf,
    size_t cap, size_t *len);

/* Replaces the contents of an existing envelope. */
int qs_env_update(struct qs_queue *queue, const char *evpid,
    const void *data, size_t len);

int qs_env_delete(struct qs_queue *queue, const char *evpid);

/*
 * Calls fn for every envelope of message msgid, or of all messages when
 * msgid is NULL.
 */
int qs_env_walk(struct qs_queue *queue, const char *msgid,
    int (*fn)(void *arg, const char *evpid), void *arg);

/* Copies the message id that an envelope id belongs to into msgid. */
int qs_env_msgid(const char *evpid, char *msgid, size_t cap);

/* Flags for qs_fsck(). */
#define QS_FSCK_QUARANTINE 1   /* move bad blobs aside */

/* Problems qs_fsck() reports, in struct qs_fsck_item.problem. */
#define QS_PROBLEM_NONE           0
#define QS_PROBLEM_CORRUPT        1   /* fails authentication or checks */
#define QS_PROBLEM_TRUNCATED      2   /* ends early */
#define QS_PROBLEM_UNKNOWN_KEY    3   /* written under a key not configured */
#define QS_PROBLEM_MISSING_MODULE 4   /* needs a module that cannot load */
#define QS_PROBLEM_ORPHAN_ENVELOPE 5  /* its message is gone */
#define QS_PROBLEM_NO_ENVELOPES   6   /* a message nothing refers to */
#define QS_PROBLEM_UNREADABLE     7   /* I/O error or limit exceeded */

/* One blob checked by qs_fsck(). */
struct qs_fsck_item {
	uint32_t kind;            /* QS_BLOB_MESSAGE or QS_BLOB_ENVELOPE */
	uint32_t problem;         /* QS_PROBLEM_*; NONE for a good blob */
	const char *id;
	int status;               /* status of the failing call, or QS_OK */
	const char *detail;       /* one line, or NULL for a good blob */
	const char *quarantined;  /* where the blob went, or NULL */
};

/* Totals of one qs_fsck() run. */
struct qs_fsck_stats {
	uint64_t messages;
	uint64_t envelopes;
	uint64_t bad;
	uint64_t quarantined;
};

/* Short name of a problem, e.g. "unknown-key". */
const char *qs_problem_name(uint32_t problem);

/*
 * Reads and verifies every message and envelope through the chain,
 * discarding the decoded bytes, so no plaintext is written anywhere.
 * Calls fn for every blob checked, good or bad (fn may be NULL). With
 * QS_FSCK_QUARANTINE, corrupt and truncated blobs and orphan envelopes
 * are moved aside through the backend. Blobs that only need a key, a
 * module or higher limits stay in place.
 * Returns QS_OK when everything is good, QS_ERR_CORRUPT when anything is
 * bad, or another status when the walk itself failed.
 */
int qs_fsck(struct qs_queue *queue, uint32_t flags,
    void (*fn)(void *arg, const struct qs_fsck_item *item), void *arg,
    struct qs_fsck_stats *stats);

/* Totals and per-key counts of one qs_rekey() run. */
struct qs_rekey_stats {
	uint64_t rekeyed;         /* blobs re-encrypted in this run */
	uint64_t current;         /* blobs already under the current key */
	uint64_t failed;          /* blobs that could not be re-encrypted */
};

/*
 * Re-encrypts every message and envelope that is not yet under the
 * current key (including blobs written without encryption), each one
 * replaced atomically, so an interrupted run can simply be run again.
 * progress, if not NULL, is called after each blob with the counts so
 * far. remaining, if not NULL, is called at the end once for each key
 * id other than the current one that still has blobs, with their count.
 * key_id is "none" for unencrypted blobs. Needs queue encryption.
 */
int qs_rekey(struct qs_queue *queue,
    void (*progress)(void *arg, uint64_t done, uint64_t total),
    void (*remaining)(void *arg, const char *key_id, uint64_t count),
    void *arg, struct qs_rekey_stats *stats);

/* A module found on the plugin path, as listed by qs_plugins_walk(). */
struct qs_plugin_info {
	const char *file;         /* full path */
	const char *name;         /* e.g. "zlib" */
	uint32_t kind;            /* QS_KIND_* */
	uint32_t abi_version;
	uint32_t format_version;
	const char *version;
	const char *description;
	const char *error;        /* why it cannot be loaded, or NULL */
};

/*
 * Loads every module on the configuration's plugin path and calls fn for
 * each, including those that fail the loading checks.
 */
int qs_plugins_walk(const struct qs_config *config,
    void (*fn)(void *arg, const struct qs_plugin_info *info), void *arg);

#ifdef __cplusplus
}
#endif

#endif /* QSTACK_QSTACK_H */
