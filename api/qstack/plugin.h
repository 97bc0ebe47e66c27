/*
 * qstack module ABI, version 1.0.
 *
 * This header is the whole contract between qstack and a module. A module
 * is a shared object that qstack opens with dlopen(3) and that exports one
 * symbol, QS_ENTRY_SYMBOL. Three kinds of module exist:
 *
 *   compress   a stream transform that shrinks bytes (file compress-NAME.so)
 *   crypto     a stream transform that encrypts bytes (file crypto-NAME.so)
 *   queue      a backend that stores opaque blobs     (file queue-NAME.so)
 *
 * Writing a blob runs: application bytes -> compress -> crypto -> queue.
 * Reading runs the same chain backwards. Modules never see each other.
 *
 * Loading rules, enforced by the loader before the entry is called:
 *   - the file is opened by full path, from the plugin path only, with
 *     RTLD_NOW | RTLD_LOCAL;
 *   - the module name matches [a-z0-9-]+ (at most QS_NAME_MAX bytes);
 *   - the file and its directory are not writable by group or others.
 *
 * Build a module with -fvisibility=hidden and mark only the entry function
 * QS_EXPORT, so that `nm -D --defined-only` lists nothing else.
 *
 * ABI stability rules:
 *   - Every struct that crosses the boundary starts with a uint32_t size
 *     field, which the code that fills the struct sets to sizeof of the
 *     version it was compiled with.
 *     Fields are only ever appended. A reader uses a field only when
 *     QS_HAS_FIELD() confirms that it lies inside the size.
 *   - Function slots marked "optional" may be NULL.
 *   - No FILE *, no bitfields, no enums in structs: fixed-width integers.
 *   - Status codes below never change value; new codes are only added.
 *   - A change of QS_ABI_MAJOR means an incompatible change. A new minor
 *     version only appends fields, slots and codes.
 *
 * Module rules: a module never prints, never exits or aborts, installs no
 * signal handlers, and does not rely on constructors, destructors or
 * atexit(3). It reports detail through the host log or the per-context
 * error text, and never puts key material or plaintext in either.
 *
 * Threading: calls through a struct qs_module (the entry and the
 * *_instance_* functions) are serialised by the host. Calls on different
 * stream, reader, writer or queue contexts may run in parallel on
 * different threads; calls on one context are never concurrent.
 */
#ifndef QSTACK_PLUGIN_H
#define QSTACK_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QS_ABI_MAJOR 1
#define QS_ABI_MINOR 0
#define QS_ABI_VERSION ((uint32_t)((QS_ABI_MAJOR << 16) | QS_ABI_MINOR))
#define QS_ABI_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define QS_ABI_VERSION_MINOR(v) ((uint32_t)(v) & 0xffffu)

/* Maximum length of a module name, without the kind prefix or ".so". */
#define QS_NAME_MAX 32

/* Maximum size of a message or envelope id, including the final NUL. */
#define QS_ID_MAX 64

/* Name of the one symbol a module exports. */
#define QS_ENTRY_SYMBOL "qs_module_entry"

#if defined(__GNUC__)
#define QS_EXPORT __attribute__((visibility("default")))
#else
#define QS_EXPORT
#endif

/*
 * True when the struct pointed to by p, whose first field is its size,
 * is large enough to contain field.
 */
#define QS_HAS_FIELD(p, type, field)                                    \
	((p) != NULL && (p)->size >= offsetof(type, field) +            \
	    sizeof(((type *)0)->field))

/*
 * Status codes. Functions return QS_OK (0) on success, QS_MORE (1) where
 * documented, or one of these negative values.
 */
#define QS_OK                  0
#define QS_MORE                1   /* output buffer full: call again */
#define QS_ERR_INVALID        -1   /* invalid argument or option */
#define QS_ERR_NOMEM          -2   /* out of memory */
#define QS_ERR_AUTH           -3   /* authentication failed */
#define QS_ERR_CORRUPT        -4   /* data is malformed */
#define QS_ERR_TRUNCATED      -5   /* data ends early */
#define QS_ERR_UNSUPPORTED    -6   /* format, cipher or option unsupported */
#define QS_ERR_IO             -7   /* system call failed; errno is kept */
#define QS_ERR_LIMIT          -8   /* a size or ratio limit was exceeded */
#define QS_ERR_NOKEY          -9   /* the key that wrote this is missing */
#define QS_ERR_NOTFOUND      -10   /* no such message, envelope or record */
#define QS_ERR_EXISTS        -11   /* id already in use */
#define QS_ERR_MODULE        -12   /* a module broke this ABI's contract */
#define QS_ERR_CONFIG        -13   /* configuration is invalid */
#define QS_ERR_STOP          -14   /* a walk callback asked to stop */

/* Module kinds, for struct qs_module.kind. */
#define QS_KIND_COMPRESS 1
#define QS_KIND_CRYPTO   2
#define QS_KIND_QUEUE    3

/* Log levels, for struct qs_host.log. */
#define QS_LOG_ERROR 0
#define QS_LOG_WARN  1
#define QS_LOG_INFO  2
#define QS_LOG_DEBUG 3

/* Blob kinds, for struct qs_blob_info.kind. */
#define QS_BLOB_MESSAGE  1
#define QS_BLOB_ENVELOPE 2

/* Flags for struct qs_queue_ops.meta_put. */
#define QS_META_CREATE 1

/* Stream directions, for struct qs_transform_ops.stream_new. */
#define QS_ENCODE 1   /* compress or encrypt */
#define QS_DECODE 2   /* decompress or decrypt */

/*
 * Services the host gives every module. The struct and everything it
 * points to stay valid until the module is unloaded.
 */
struct qs_host {
	uint32_t size;
	uint32_t abi_version;     /* the host's QS_ABI_VERSION */

	/*
	 * Logs one line. module is the module's name; msg has no trailing
	 * newline and never contains secrets. Safe from any thread.
	 */
	void (*log)(int level, const char *module, const char *msg);

	/*
	 * Fills buf with len bytes from a cryptographically secure source.
	 * Returns QS_OK or QS_ERR_IO. Safe from any thread.
	 */
	int (*random)(void *buf, size_t len);
};

/* Option types, for struct qs_option.type. */
#define QS_OPT_STRING 1
#define QS_OPT_INT    2
#define QS_OPT_PATH   3

/*
 * One option that a module accepts on its configuration line, for
 * example "level" for compression or "path" for the fs backend. The
 * loader rejects options that are not listed, so modules never see them.
 * It does not check values against the type, which documents intent:
 * the module parses and validates every value itself. An array of these
 * ends with an entry whose name is NULL.
 */
struct qs_option {
	uint32_t size;
	uint32_t type;            /* QS_OPT_* */
	const char *name;
	const char *help;         /* one line: what it sets, unit, default */
};

/* An option as configured: name from the module's list, value as text. */
struct qs_param {
	uint32_t size;
	uint32_t reserved;
	const char *name;
	const char *value;
};

/* Key kinds, for struct qs_key.type. */
#define QS_KEY_PASSPHRASE 1   /* text to stretch with a slow KDF */
#define QS_KEY_RAW        2   /* exactly len bytes of key material */

/*
 * Key material given to crypto modules. The loader reads key files,
 * standard input and terminal prompts, applies the newline rule, and
 * wipes the bytes after instance_new returns: a module that needs the
 * key later copies it, and wipes its copy in instance_free.
 */
struct qs_key {
	uint32_t size;
	uint32_t type;            /* QS_KEY_* */
	const uint8_t *data;
	size_t len;
};

/*
 * Everything a module instance is created from. Valid only during the
 * instance_new or open call: copy what you keep.
 */
struct qs_instance_args {
	uint32_t size;
	uint32_t reserved;
	const struct qs_param *params;   /* options from the configuration */
	size_t nparams;

	/*
	 * Crypto only. keys[0] is the current key, used for writing; the
	 * others are older keys accepted for reading. nkeys may be 0 when a
	 * queue is opened only to read blobs written without encryption.
	 */
	const struct qs_key *keys;
	size_t nkeys;

	/*
	 * Random bytes created with the queue and kept in its metadata
	 * record. Transforms use it as the salt for passphrase stretching.
	 * Empty for queue modules.
	 */
	const uint8_t *queue_salt;
	size_t queue_salt_len;

	/* Buffer for a one-line reason when the call fails. */
	char *err;
	size_t err_cap;
};

/*
 * Identity of the blob a transform stream is about to process. Crypto
 * modules must bind all of it into their authentication, so that a blob
 * moved to another id or kind, or with a changed loader header, fails
 * to decrypt. Compression modules may ignore it.
 */
struct qs_blob_info {
	uint32_t size;
	uint32_t kind;            /* QS_BLOB_* */
	const char *id;           /* message or envelope id, NUL-terminated */
	const uint8_t *header;    /* the loader's header bytes of this blob */
	size_t header_len;

	/*
	 * Format version of this module's layer. When decoding, it is the
	 * version that the blob's header records, which may be older than
	 * the module's own. When encoding, it is the module's own.
	 */
	uint32_t format_version;
};

/*
 * The transform interface, used by compress and crypto modules.
 *
 * An instance contains configuration and keys. A stream processes one blob
 * at a time in one direction. The host calls begin, then update any
 * number of times, then final until it returns QS_OK, and then begin
 * again for the next blob. Streams are reused, so a warm stream allocates
 * nothing per blob.
 *
 * Buffers belong to the caller. update consumes some prefix of the input
 * (*in_used bytes, possibly 0) and writes at most out_cap bytes
 * (*out_len). A module must make progress: each update call either
 * consumes input or produces output unless in_len is 0 or out_cap is 0.
 * The host checks this and rejects a module that loops or claims more
 * bytes than the buffers hold.
 *
 * Decoding streams must detect and report truncated input
 * (QS_ERR_TRUNCATED), trailing bytes after the end of their format
 * (QS_ERR_CORRUPT) and any modification (QS_ERR_CORRUPT or, for crypto,
 * QS_ERR_AUTH). A decrypting stream never releases a byte of plaintext
 * before the tag that covers it has been verified.
 */
struct qs_transform_ops {
	uint32_t size;
	uint32_t reserved;

	/*
	 * Creates an instance from args. On failure, writes one line to
	 * args->err and returns a status. Crypto modules run a known-answer
	 * round trip here and fail with QS_ERR_UNSUPPORTED if it fails.
	 */
	int (*instance_new)(const struct qs_instance_args *args,
	    void **instance);
	void (*instance_free)(void *instance);

	/* Creates a stream of direction QS_ENCODE or QS_DECODE. */
	int (*stream_new)(void *instance, uint32_t direction, void **stream);

	/*
	 * Prepares the stream for one blob, discarding any state of the
	 * previous one. Must be called before the first update.
	 */
	int (*stream_begin)(void *stream, const struct qs_blob_info *blob);

	int (*stream_update)(void *stream, const uint8_t *in, size_t in_len,
	    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len);

	/*
	 * Signals the end of input and flushes. Returns QS_MORE when out
	 * was filled and more output is pending, QS_OK when the blob is
	 * complete, or an error. With QS_MORE and QS_OK alike, the first
	 * *out_len bytes of out are output. Decoders check here that the
	 * input was complete and authentic.
	 */
	int (*stream_final)(void *stream, uint8_t *out, size_t out_cap,
	    size_t *out_len);

	void (*stream_free)(void *stream);

	/*
	 * Optional. One line describing the last failure on this stream,
	 * or NULL. Valid until the next call on the stream.
	 */
	const char *(*stream_error)(void *stream);

	/*
	 * Optional, crypto only. Writes into buf (NUL-terminated, at most
	 * cap bytes) a printable id of the key that encrypted the blob whose
	 * first len bytes are in data. Returns QS_OK, QS_ERR_TRUNCATED when
	 * more bytes are needed, or QS_ERR_CORRUPT. Used to report which key
	 * is missing and to count blobs per key.
	 */
	int (*key_id)(void *instance, const uint8_t *data, size_t len,
	    char *buf, size_t cap);
};

/*
 * The queue backend interface. A backend stores three things under ids
 * chosen by the host: message blobs, streamed and committed atomically;
 * envelope blobs, small and written whole; and one small metadata record
 * per queue. Ids are NUL-terminated lowercase hex strings: a message id
 * has 16 digits, and an envelope id is its message's id followed by 8
 * more. A backend may rely on that to build paths or keys.
 *
 * Durability: when msg_commit, env_create, env_update or meta_put
 * returns QS_OK, the data survives a crash. Before that, a crash leaves
 * the previous state: no partial blob is ever visible.
 */
struct qs_queue_ops {
	uint32_t size;
	uint32_t reserved;

	/*
	 * Opens or creates the queue described by args->params. On failure
	 * writes one line to args->err.
	 */
	int (*open)(const struct qs_instance_args *args, void **queue);
	void (*close)(void *queue);

	/* Optional. One line on the last failure on this queue, or NULL. */
	const char *(*error)(void *queue);

	/*
	 * Reads the metadata record into buf. Returns QS_ERR_NOTFOUND when
	 * the queue has none yet, and QS_ERR_LIMIT with *len set to the size
	 * needed when cap is too small.
	 */
	int (*meta_get)(void *queue, uint8_t *buf, size_t cap, size_t *len);

	/*
	 * Writes the metadata record atomically. With QS_META_CREATE in
	 * flags, writes only when the queue has no record yet and returns
	 * QS_ERR_EXISTS otherwise, atomically with respect to other
	 * processes, so two processes creating one queue agree on its salt.
	 * Without it, replaces the record.
	 */
	int (*meta_put)(void *queue, const uint8_t *buf, size_t len,
	    uint32_t flags);

	/*
	 * Starts a new message blob. Nothing is visible under msgid until
	 * msg_commit succeeds. Returns QS_ERR_EXISTS if msgid is taken.
	 */
	int (*msg_create)(void *queue, const char *msgid, void **writer);
	int (*msg_write)(void *writer, const uint8_t *buf, size_t len);

	/* Makes the blob durable and visible, and frees writer either way. */
	int (*msg_commit)(void *writer);

	/* Discards the blob and frees writer. */
	void (*msg_abort)(void *writer);

	int (*msg_open)(void *queue, const char *msgid, void **reader);

	/* Reads up to cap bytes; *len is 0 at the end of the blob. */
	int (*msg_read)(void *reader, uint8_t *buf, size_t cap, size_t *len);
	void (*msg_close)(void *reader);

	/* Size in bytes of the stored blob. */
	int (*msg_stat)(void *queue, const char *msgid, uint64_t *stored);

	/* Deletes a message blob. Its envelopes are deleted separately. */
	int (*msg_delete)(void *queue, const char *msgid);

	/*
	 * Calls fn once per committed message. A non-zero return from fn
	 * stops the walk and is returned.
	 */
	int (*msg_walk)(void *queue, int (*fn)(void *arg, const char *msgid),
	    void *arg);

	/* Stores a new envelope blob. QS_ERR_EXISTS if evpid is taken. */
	int (*env_create)(void *queue, const char *msgid, const char *evpid,
	    const uint8_t *buf, size_t len);

	/*
	 * Reads an envelope blob. Returns QS_ERR_LIMIT with *len set to the
	 * size needed when cap is too small.
	 */
	int (*env_load)(void *queue, const char *evpid, uint8_t *buf,
	    size_t cap, size_t *len);

	/* Replaces an existing envelope blob atomically. */
	int (*env_update)(void *queue, const char *evpid, const uint8_t *buf,
	    size_t len);

	int (*env_delete)(void *queue, const char *evpid);

	/*
	 * Calls fn once per envelope of message msgid, or of every message
	 * when msgid is NULL. A non-zero return from fn stops the walk and
	 * is returned.
	 */
	int (*env_walk)(void *queue, const char *msgid,
	    int (*fn)(void *arg, const char *evpid), void *arg);

	/*
	 * Optional. Starts a blob that msg_commit puts in place of the
	 * committed message msgid in one atomic step. msg_commit fails with
	 * QS_ERR_NOTFOUND, storing nothing, when msgid was deleted in the
	 * meantime. Used to re-encrypt messages under a new key.
	 */
	int (*msg_replace)(void *queue, const char *msgid, void **writer);

	/*
	 * Optional. Moves a damaged blob (kind QS_BLOB_MESSAGE or
	 * QS_BLOB_ENVELOPE) out of the queue to a place where an operator
	 * can inspect it. Afterwards the queue no longer lists the id.
	 * Writes where the blob went, at most cap bytes, into dest.
	 */
	int (*quarantine)(void *queue, uint32_t kind, const char *id,
	    char *dest, size_t cap);
};

/*
 * The constant descriptor a module's entry returns. It and everything it
 * points to must stay valid while the module is loaded.
 */
struct qs_module {
	uint32_t size;
	uint32_t abi_version;     /* QS_ABI_VERSION the module was built for */
	uint32_t kind;            /* QS_KIND_* */

	/*
	 * Version of the bytes this module writes. The loader records it in
	 * every blob header. When reading, the module gets blobs of any
	 * version up to its own and must decode all of them.
	 */
	uint32_t format_version;

	const char *name;         /* "zlib": the file name without prefix */
	const char *version;      /* module release, e.g. "1.0.0" */
	const char *description;  /* one line */
	const struct qs_option *options;   /* NULL-name terminated, or NULL */

	/* struct qs_transform_ops * or struct qs_queue_ops *, by kind. */
	const void *ops;
};

/*
 * The entry point. host_abi is the host's QS_ABI_VERSION; a module may
 * return NULL when it cannot serve that host. The returned descriptor's
 * abi_version is the version the module was built for. A module built
 * for a newer minor version than the host's checks QS_HAS_FIELD on the
 * host's structs before using fields that the host may lack.
 */
typedef const struct qs_module *(*qs_entry_fn)(uint32_t host_abi,
    const struct qs_host *host);

/* The definition every module provides, with QS_EXPORT. */
QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

#ifdef __cplusplus
}
#endif

#endif /* QSTACK_PLUGIN_H */
