/*
 * crypto-evp: internal declarations shared by the module's source files.
 * Everything here has hidden visibility; only qs_module_entry is exported.
 * docs/FORMAT.md ("Encryption layer: crypto-evp") specifies the bytes.
 */
#ifndef QS_EVP_H
#define QS_EVP_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/types.h>

#include <qstack/plugin.h>

#define EVP_MODULE_NAME    "evp"
#define EVP_FORMAT_VERSION 1

/* Layer header: magic, version, length, chunk size, key id, salt, names. */
#define EVP_MAGIC          "QEVP"
#define EVP_MAGIC_LEN      4
#define EVP_HDR_PREFIX_LEN 6     /* magic, version, header length */
#define EVP_HDR_FIXED_LEN  52    /* every field but the two names */
#define EVP_HDR_MAX        255   /* the header length field is one byte */
#define EVP_OFF_CHUNK      6
#define EVP_OFF_KEYID      10
#define EVP_OFF_SALT       18
#define EVP_OFF_NAMES      50

#define EVP_CHUNK_SIZE     65536 /* plaintext bytes per chunk, written */
#define EVP_CHUNK_MAX      65536 /* largest chunk size a reader accepts */
#define EVP_SALT_LEN       32
#define EVP_KEYID_LEN      8
#define EVP_KEYID_HEX      (2 * EVP_KEYID_LEN + 1)
#define EVP_MASTER_LEN     32
#define EVP_PREFIX_LEN     7
#define EVP_NONCE_LEN      12
#define EVP_TAG_LEN        16
#define EVP_BIND_LEN       32    /* SHA-256 of the bound data */
#define EVP_WORD_LEN       4
#define EVP_FINAL_BIT      0x80000000u
#define EVP_KEY_MAX        32
#define EVP_IV_MAX         16
#define EVP_MAC_MAX        64
#define EVP_FRAME_MAX      (EVP_WORD_LEN + EVP_IV_MAX + EVP_CHUNK_MAX + \
                            EVP_IV_MAX + EVP_MAC_MAX)

#define EVP_LABEL_KEYS     "qstack crypto-evp v1 keys"
#define EVP_LABEL_KEYID    "qstack crypto-evp v1 key id"
#define EVP_LABEL_BIND     "qstack crypto-evp v1 binding"

#define EVP_NCIPHERS       8
#define EVP_NDIGESTS       4
#define EVP_ERR_LEN        256

struct evp_cipher_info {
	const char *name;        /* OpenSSL name, as written in headers */
	int aead;                /* AEAD with 12-byte nonce and 16-byte tag */
	size_t key_len;
	size_t iv_len;           /* AEAD nonce or IV length */
	size_t block_len;        /* CBC block size (PKCS#7), 1 for the others */
	const char *kat_hex;     /* expected self-test output */
};

struct evp_digest_info {
	const char *name;
	size_t size;
	uint32_t pbkdf2_iterations;
	const char *kat_hex;     /* expected self-test HMAC */
};

extern const struct evp_cipher_info evp_ciphers[EVP_NCIPHERS];
extern const struct evp_digest_info evp_digests[EVP_NDIGESTS];
extern const struct qs_host *evp_host;

/* One configured key and the values derived from it, per digest. */
struct evp_key {
	uint32_t type;           /* QS_KEY_RAW or QS_KEY_PASSPHRASE */
	uint8_t *secret;         /* copy of the key bytes, wiped on free */
	size_t secret_len;
	uint8_t ready[EVP_NDIGESTS];
	uint8_t master[EVP_NDIGESTS][EVP_MASTER_LEN];
	uint8_t id[EVP_NDIGESTS][EVP_KEYID_LEN];
};

struct evp_instance {
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *provider_default;
	OSSL_PROVIDER *provider_legacy;  /* NULL when it failed to load */
	EVP_CIPHER *ciphers[EVP_NCIPHERS]; /* NULL when unavailable */
	EVP_MD *digests[EVP_NDIGESTS];
	EVP_MD *sha256;
	EVP_MAC *hmac;
	EVP_KDF *hkdf;
	EVP_KDF *pbkdf2;
	int cipher;              /* configured, index into evp_ciphers */
	int digest;              /* configured, index into evp_digests */
	struct evp_key *keys;
	size_t nkeys;
	uint8_t *queue_salt;
	size_t queue_salt_len;
	CRYPTO_RWLOCK *lock;     /* guards the lazily derived key values */
};

/* Per-blob keys, from HKDF over the master key and the blob salt. */
struct evp_blob_keys {
	uint8_t enc[EVP_KEY_MAX];
	uint8_t mac[EVP_MAC_MAX];
	uint8_t prefix[EVP_PREFIX_LEN];
};

/* Stream states. */
#define EVP_IDLE       0   /* stream_begin not called yet */
#define EVP_ENC_OPEN   1   /* accepting plaintext */
#define EVP_ENC_SEALED 2   /* final chunk sealed, output may be pending */
#define EVP_DEC_HEADER 3   /* reading the layer header */
#define EVP_DEC_FRAME  4   /* reading a chunk */
#define EVP_DONE       5   /* blob complete */

struct evp_stream {
	struct evp_instance *inst;
	uint32_t direction;
	int state;
	int status;              /* first error of this blob, or QS_OK */
	EVP_CIPHER_CTX *cctx;
	EVP_MAC_CTX *mctx;
	EVP_MD_CTX *bctx;        /* SHA-256 of the bound data */
	EVP_KDF_CTX *kctx;
	int cipher;              /* of the current blob */
	int digest;
	int cctx_cipher;         /* cipher cctx holds, or -1 */
	int mctx_digest;         /* digest mctx holds, or -1 */
	struct evp_blob_keys keys;
	uint8_t binding[EVP_BIND_LEN];
	uint8_t hdr[EVP_HDR_MAX];
	size_t hdr_len;          /* total header length, once known */
	size_t hdr_fill;
	uint32_t chunk_size;
	uint64_t counter;        /* index of the next chunk */
	uint8_t *buf;            /* one frame: word, IV, data, tag */
	size_t fill;             /* bytes in buf (plaintext bytes on encode) */
	size_t frame_len;        /* decode: length of the frame, 0 if unknown */
	const uint8_t *pend;     /* output not yet handed to the caller */
	size_t pend_len;
	char err[EVP_ERR_LEN];
};

/* evp_stream.c: the stream slots of struct qs_transform_ops */
int evp_stream_new(void *instance, uint32_t direction, void **stream);
int evp_stream_begin(void *stream, const struct qs_blob_info *blob);
int evp_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len);
int evp_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len);
void evp_stream_free(void *stream);
const char *evp_stream_error(void *stream);

/* evp_chunk.c */
size_t evp_data_offset(const struct evp_stream *s);
size_t evp_frame_len(const struct evp_stream *s, uint32_t plain_len);
int evp_seal(struct evp_stream *s, int final, size_t *frame_len);
int evp_open(struct evp_stream *s, size_t *plain_len);
int evp_stream_fail(struct evp_stream *s, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* evp_algs.c */
int evp_cipher_lookup(const char *name, size_t len);
int evp_digest_lookup(const char *name, size_t len);
void evp_supported_ciphers(char *buf, size_t cap);
void evp_supported_digests(char *buf, size_t cap);
int evp_self_test(struct evp_instance *inst, char *err, size_t cap);
void evp_sanitize(char *dst, size_t cap, const char *src, size_t len);

/* evp_keys.c */
int evp_keys_copy(struct evp_instance *inst, const struct qs_key *keys,
    size_t nkeys, char *err, size_t cap);
void evp_keys_free(struct evp_instance *inst);
int evp_key_prepare(struct evp_instance *inst, size_t index, int digest,
    char *err, size_t cap);
int evp_hkdf(EVP_KDF_CTX *kctx, int cipher, int digest,
    const uint8_t *master, const uint8_t *salt, struct evp_blob_keys *out);
void evp_hex(char *dst, const uint8_t *src, size_t len);

#endif
