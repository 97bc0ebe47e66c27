/*
 * Declarations shared by the files of libqstack. Nothing here is part of
 * the public API.
 */
#ifndef QS_LOADER_INTERNAL_H
#define QS_LOADER_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <qstack/plugin.h>
#include <qstack/qstack.h>

#ifdef QS_BUILDING_LIBRARY
#define QS_API __attribute__((visibility("default")))
#else
#define QS_API
#endif

#define QS_ERR_MAX 512

/* Size of every buffer between two stages of a chain. */
#define QS_CHAIN_BUF (64 * 1024)

/* Largest envelope, before and after encoding. */
#define QS_ENV_MAX (1024 * 1024)

/* Most transform layers one blob may name. */
#define QS_LAYERS_MAX 4

/* Length of a message id and of an envelope id, in hex characters. */
#define QS_MSGID_LEN 16
#define QS_EVPID_LEN 24

/* Length of the per-queue salt kept in the metadata record. */
#define QS_SALT_LEN 32

/* ---- error.c ---- */

void qs_log(int level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qs_errf(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qs_verrf(char *err, size_t cap, const char *fmt, va_list ap);
int qs_random(void *buf, size_t len);
void qs_wipe(void *buf, size_t len);
extern const struct qs_host qs_host_services;

/* ---- config.c ---- */

/* Key sources, for struct qs_cfg_key.source. */
#define QS_KEYSRC_TEXT   1   /* key "passphrase" */
#define QS_KEYSRC_FILE   2   /* key-file "PATH" */
#define QS_KEYSRC_STDIN  3   /* key - or key stdin */
#define QS_KEYSRC_PROMPT 4   /* no key given: ask on the terminal */

struct qs_cfg_key {
	int source;
	char *value;              /* passphrase or path; wiped when freed */
	int line;
};

/* One statement that selects a module, with its options. */
struct qs_cfg_module {
	char *name;               /* NULL when the statement is absent */
	struct qs_param *params;
	size_t nparams;
	int line;
};

struct qs_config {
	char *file;               /* name used in messages */
	char *plugin_path;
	int plugin_path_line;
	char *default_plugin_path;
	struct qs_cfg_module backend;
	struct qs_cfg_module compress;
	struct qs_cfg_module crypto;
	struct qs_cfg_key key;    /* valid when crypto.name is set */
	struct qs_cfg_key *old_keys;
	size_t nold_keys;
	uint64_t max_message_size;   /* bytes; 0 means no limit */
	uint64_t max_ratio;          /* application bytes per stored byte */
	int limits_line;
};

/* Defaults of queue limits; docs/FORMAT.md and qstack.1 explain them. */
#define QS_DEFAULT_MAX_MESSAGE_SIZE ((uint64_t)1 << 30)
#define QS_DEFAULT_MAX_RATIO 1100

/* Output that the ratio limit always allows, for small blobs. */
#define QS_RATIO_SLACK (1024 * 1024)

/* The directory modules are loaded from, after every override. */
const char *qs_config_plugin_dir(const struct qs_config *config);

/* ---- keys.c ---- */

/*
 * Reads every configured key into keys (current key first, then the
 * decryption keys). On failure writes one line to err. Free with
 * qs_keys_free, which wipes the bytes.
 */
int qs_keys_read(const struct qs_config *config, struct qs_key **keys,
    size_t *nkeys, char *err, size_t cap);
void qs_keys_free(struct qs_key *keys, size_t nkeys);

/* ---- module.c ---- */

struct qs_loaded {
	void *handle;
	const struct qs_module *module;
	char stem[QS_NAME_MAX + 16];  /* "compress-zlib": the file name */
	char path[4096];
};

/*
 * Loads module kind-name from dir with every check of the loading rules.
 * On failure writes one line naming the file to err.
 */
int qs_module_load(const char *dir, uint32_t kind, const char *name,
    struct qs_loaded *loaded, char *err, size_t cap);

/* Same, for a file stem such as "compress-zlib" read from a blob. */
int qs_module_load_stem(const char *dir, const char *stem,
    struct qs_loaded *loaded, char *err, size_t cap);
void qs_module_unload(struct qs_loaded *loaded);
const char *qs_kind_prefix(uint32_t kind);

/*
 * Checks that params only name options the module lists. Writes one
 * line to err naming the bad option and the accepted ones.
 */
int qs_module_check_params(const struct qs_loaded *loaded,
    const struct qs_cfg_module *cfg, const char *file, char *err,
    size_t cap);

/* ---- frame.c ---- */

struct qs_layer {
	char stem[QS_NAME_MAX + 16];
	uint16_t format_version;
};

struct qs_frame {
	uint32_t kind;            /* QS_BLOB_* */
	uint32_t nlayers;
	struct qs_layer layers[QS_LAYERS_MAX];
};

/* Largest header qs_frame_encode writes or qs_frame_decode accepts. */
#define QS_FRAME_HEADER_MAX 512

/* Bytes after the body: body length (8) and CRC-32 (4). */
#define QS_FRAME_TRAILER 12

int qs_frame_encode(const struct qs_frame *frame, uint8_t *buf,
    size_t cap, size_t *len);

/*
 * Parses a header from the first len bytes of a blob. Returns
 * QS_ERR_TRUNCATED when more bytes are needed, with *need set to how
 * many in total, and QS_ERR_CORRUPT on malformed input.
 */
int qs_frame_decode(const uint8_t *buf, size_t len, struct qs_frame *frame,
    size_t *header_len, size_t *need);

void qs_frame_trailer(uint64_t body_len, uint32_t crc, uint8_t *out);

/* ---- chain.c ---- */

struct qs_stage {
	const struct qs_transform_ops *ops;  /* NULL: identity */
	void *stream;
	const char *name;         /* module stem, for messages */
	uint32_t format_version;  /* passed in struct qs_blob_info */
	uint8_t *in;              /* bytes waiting for this stage */
	size_t in_off, in_len;
	int done;
	int stalls;
};

struct qs_chain {
	struct qs_stage stages[QS_LAYERS_MAX + 1];
	size_t nstages;
	uint8_t *out;             /* output of the last stage */
	size_t out_off, out_len;
	int source_done;          /* no more input will come */
	int done;                 /* the last stage finished */
	char err[QS_ERR_MAX];
};

int qs_chain_init(struct qs_chain *chain);

/* Maps a status outside the ABI's set, including QS_MORE, to QS_ERR_MODULE. */
int qs_module_status(int rc);

/* Writes the names of the chain's stages, separated by ", ", into buf. */
void qs_chain_names(const struct qs_chain *chain, char *buf, size_t cap);
int qs_chain_add(struct qs_chain *chain, const struct qs_transform_ops *ops,
    void *stream, const char *name);
void qs_chain_free(struct qs_chain *chain);

/* Removes every stage but keeps the buffers for the next blob. */
void qs_chain_clear(struct qs_chain *chain);

/* Starts every stream on a new blob. */
int qs_chain_begin(struct qs_chain *chain, const struct qs_blob_info *blob);

/* Free space for source bytes, after compacting. */
size_t qs_chain_space(struct qs_chain *chain, uint8_t **dst);
void qs_chain_fed(struct qs_chain *chain, size_t n);

/*
 * Runs the stages until the output buffer is full, all input is used,
 * or the chain has finished. Returns QS_OK or the first error, with
 * chain->err describing it.
 */
int qs_chain_pump(struct qs_chain *chain);

/* ---- queue.c, message.c, envelope.c ---- */

struct qs_xform {
	struct qs_loaded mod;
	const struct qs_transform_ops *ops;
	void *instance;
	void *enc;                /* warm streams for envelopes */
	void *dec;
};

struct qs_queue {
	struct qs_loaded backend_mod;
	const struct qs_queue_ops *bops;
	void *backend;
	char plugin_dir[4096];
	uint8_t salt[QS_SALT_LEN];

	/* Writing chain, in order; NULL when not configured. */
	struct qs_xform *compress;
	struct qs_xform *crypto;

	int crypto_writes;        /* crypto is configured for writing */
	int allow_plaintext;      /* read unencrypted blobs anyway (rekey) */
	uint64_t max_message_size;
	uint64_t max_ratio;

	/* Modules loaded for reading blobs written by other chains. */
	struct qs_xform *extra[8];
	size_t nextra;

	/* Envelope work space, kept between calls so it stays warm. */
	struct qs_chain envchain;
	uint8_t *envbuf;          /* encoded blob */
	size_t envbuf_cap;
	uint8_t *plainbuf;        /* decoded envelope */
	size_t plainbuf_cap;

	char err[QS_ERR_MAX];
};

void qs_seterr(struct qs_queue *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *qs_backend_error(struct qs_queue *q);

/* Finds or loads the transform that decodes a layer. */
int qs_queue_xform_for(struct qs_queue *q, const struct qs_layer *layer,
    struct qs_xform **xform);

/*
 * Rejects a blob without an encryption layer when the queue encrypts,
 * because anyone who can write to the storage could have planted it.
 */
int qs_queue_check_frame(struct qs_queue *q, const struct qs_frame *frame,
    const char *id);

/* Writes the header of a new blob of kind; fills frame and buf. */
int qs_queue_header(struct qs_queue *q, uint32_t kind,
    struct qs_frame *frame, uint8_t *buf, size_t *len);

void qs_envelope_cleanup(struct qs_queue *q);
int qs_msg_writer_new(struct qs_queue *q, const char *replace_id,
    struct qs_msg_writer **writer);

/*
 * Reads the stored bytes of envelope evpid into q->envbuf, *len bytes.
 * Used by qs_env_load and to read key ids.
 */
int qs_env_fetch(struct qs_queue *q, const char *evpid, size_t *len);

/* Collects ids from a walk into a growing array. */
struct qs_id_list {
	char (*ids)[QS_ID_MAX];
	size_t n, cap;
};
int qs_id_collect(void *list, const char *id);
void qs_id_list_sort(struct qs_id_list *list);
int qs_id_list_has(const struct qs_id_list *list, const char *id, size_t n);

/*
 * Wraps a walk callback so that it only receives well-formed ids of len
 * hex digits, starting with prefix when that is not NULL. On a malformed
 * id the walk stops with bad set.
 */
struct qs_checked_walk {
	int (*fn)(void *arg, const char *id);
	void *arg;
	size_t len;
	const char *prefix;
	int bad;
};
int qs_checked_id(void *walk, const char *id);

int qs_valid_msgid(const char *id);
int qs_valid_evpid(const char *id);
int qs_new_id(char *out, size_t hexlen);

#endif /* QS_LOADER_INTERNAL_H */
