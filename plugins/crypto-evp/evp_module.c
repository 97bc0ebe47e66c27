/*
 * crypto-evp: encryption with OpenSSL 3 EVP, in chunks of 64 KiB.
 * This file contains the module descriptor, the instance (options, keys,
 * OpenSSL library context) and the key_id slot.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/provider.h>

#include "evp.h"

const struct qs_host *evp_host;

static void set_err(const struct qs_instance_args *args, const char *fmt,
    ...) __attribute__((format(printf, 2, 3)));

static void
set_err(const struct qs_instance_args *args, const char *fmt, ...)
{
	va_list ap;

	if (args->err == NULL || args->err_cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(args->err, args->err_cap, fmt, ap);
	va_end(ap);
}

static void
instance_free(void *instance)
{
	struct evp_instance *inst = instance;
	int i;

	if (inst == NULL)
		return;
	evp_keys_free(inst);
	for (i = 0; i < EVP_NCIPHERS; i++)
		EVP_CIPHER_free(inst->ciphers[i]);
	for (i = 0; i < EVP_NDIGESTS; i++)
		EVP_MD_free(inst->digests[i]);
	EVP_MD_free(inst->sha256);
	EVP_MAC_free(inst->hmac);
	EVP_KDF_free(inst->hkdf);
	EVP_KDF_free(inst->pbkdf2);
	if (inst->provider_legacy != NULL)
		OSSL_PROVIDER_unload(inst->provider_legacy);
	if (inst->provider_default != NULL)
		OSSL_PROVIDER_unload(inst->provider_default);
	OSSL_LIB_CTX_free(inst->libctx);
	CRYPTO_THREAD_lock_free(inst->lock);
	free(inst->queue_salt);
	OPENSSL_cleanse(inst, sizeof(*inst));
	free(inst);
}

/*
 * Looks up the option value in the supported table, ignoring case. The
 * value comes from the configuration file, so messages quote it only
 * after evp_sanitize.
 */
static int
parse_choice(const struct qs_instance_args *args, const char *option,
    const char *value, int *index)
{
	char lower[32], shown[48], list[160];
	size_t i, len = strlen(value);
	int cipher = strcmp(option, "cipher") == 0;

	*index = -1;
	if (len < sizeof(lower)) {
		for (i = 0; i < len; i++)
			lower[i] = (char)tolower((unsigned char)value[i]);
		*index = cipher ? evp_cipher_lookup(lower, len) :
		    evp_digest_lookup(lower, len);
	}
	if (cipher)
		evp_supported_ciphers(list, sizeof(list));
	else
		evp_supported_digests(list, sizeof(list));
	if (*index >= 0)
		return QS_OK;
	evp_sanitize(shown, sizeof(shown), value, len);
	set_err(args, "crypto-evp: %s '%s' is not supported; use one of: %s",
	    option, shown, list);
	return QS_ERR_UNSUPPORTED;
}

static int
parse_params(struct evp_instance *inst, const struct qs_instance_args *args)
{
	const struct qs_param *p;
	size_t i;
	int rc;

	inst->cipher = evp_cipher_lookup("aes-256-gcm", 11);
	inst->digest = evp_digest_lookup("sha256", 6);
	if (args->nparams > 0 && args->params == NULL) {
		set_err(args, "crypto-evp: %zu options announced but the"
		    " option list is missing", args->nparams);
		return QS_ERR_INVALID;
	}
	for (i = 0; i < args->nparams; i++) {
		p = &args->params[i];
		if (p->name == NULL || p->value == NULL) {
			set_err(args, "crypto-evp: option %zu has no name or"
			    " value", i + 1);
			return QS_ERR_INVALID;
		}
		if (strcmp(p->name, "cipher") == 0)
			rc = parse_choice(args, "cipher", p->value,
			    &inst->cipher);
		else if (strcmp(p->name, "digest") == 0)
			rc = parse_choice(args, "digest", p->value,
			    &inst->digest);
		else {
			char shown[48];

			evp_sanitize(shown, sizeof(shown), p->name,
			    strlen(p->name));
			set_err(args, "crypto-evp: unknown option '%s'; the"
			    " options are cipher and digest", shown);
			rc = QS_ERR_INVALID;
		}
		if (rc != QS_OK)
			return rc;
	}
	return QS_OK;
}

/*
 * Creates a private OpenSSL library context with the default and legacy
 * providers, so that Blowfish is available without changing the
 * process's default context, and fetches every algorithm once.
 */
static int
load_openssl(struct evp_instance *inst, const struct qs_instance_args *args)
{
	int i;

	inst->libctx = OSSL_LIB_CTX_new();
	if (inst->libctx == NULL)
		goto fail;
	inst->provider_default = OSSL_PROVIDER_load(inst->libctx, "default");
	if (inst->provider_default == NULL)
		goto fail;
	inst->provider_legacy = OSSL_PROVIDER_load(inst->libctx, "legacy");
	for (i = 0; i < EVP_NCIPHERS; i++)
		inst->ciphers[i] = EVP_CIPHER_fetch(inst->libctx,
		    evp_ciphers[i].name, NULL);
	for (i = 0; i < EVP_NDIGESTS; i++) {
		inst->digests[i] = EVP_MD_fetch(inst->libctx,
		    evp_digests[i].name, NULL);
		if (inst->digests[i] == NULL)
			goto fail;
	}
	inst->sha256 = EVP_MD_fetch(inst->libctx, "sha256", NULL);
	inst->hmac = EVP_MAC_fetch(inst->libctx, "HMAC", NULL);
	inst->hkdf = EVP_KDF_fetch(inst->libctx, "HKDF", NULL);
	inst->pbkdf2 = EVP_KDF_fetch(inst->libctx, "PBKDF2", NULL);
	if (inst->sha256 == NULL || inst->hmac == NULL || inst->hkdf == NULL ||
	    inst->pbkdf2 == NULL)
		goto fail;
	ERR_clear_error();
	return QS_OK;
fail:
	ERR_clear_error();
	set_err(args, "crypto-evp: cannot load the OpenSSL default provider"
	    " or its SHA, HMAC, HKDF or PBKDF2 algorithms; check the"
	    " OpenSSL 3 installation");
	return QS_ERR_UNSUPPORTED;
}

static int
check_available(struct evp_instance *inst,
    const struct qs_instance_args *args)
{
	if (inst->ciphers[inst->cipher] != NULL)
		return QS_OK;
	set_err(args, "crypto-evp: cipher %s is not available in this"
	    " OpenSSL%s; install its provider or choose another cipher",
	    evp_ciphers[inst->cipher].name,
	    inst->provider_legacy == NULL ?
	    " (the legacy provider failed to load)" : "");
	return QS_ERR_UNSUPPORTED;
}

static int
copy_salt(struct evp_instance *inst, const struct qs_instance_args *args)
{
	size_t i;
	int passphrase = 0;

	for (i = 0; i < inst->nkeys; i++)
		passphrase |= inst->keys[i].type == QS_KEY_PASSPHRASE;
	if (!passphrase)
		return QS_OK;
	if (args->queue_salt == NULL || args->queue_salt_len < 16) {
		set_err(args, "crypto-evp: a passphrase key needs the queue"
		    " salt of at least 16 bytes, but the queue has %s;"
		    " recreate the queue metadata",
		    args->queue_salt == NULL ? "none" : "a shorter one");
		return QS_ERR_CONFIG;
	}
	inst->queue_salt = malloc(args->queue_salt_len);
	if (inst->queue_salt == NULL) {
		set_err(args, "crypto-evp: out of memory");
		return QS_ERR_NOMEM;
	}
	memcpy(inst->queue_salt, args->queue_salt, args->queue_salt_len);
	inst->queue_salt_len = args->queue_salt_len;
	return QS_OK;
}

/*
 * Warns about choices kept for compatibility: Blowfish has a 64-bit
 * block, so one key should not encrypt many gigabytes (the Sweet32
 * attack), and SHA-1 no longer resists collisions.
 */
static void
warn_weak(const struct evp_instance *inst)
{
	const char *cipher = evp_ciphers[inst->cipher].name;
	const char *digest = evp_digests[inst->digest].name;
	char msg[256];

	if (evp_host == NULL || evp_host->log == NULL || inst->nkeys == 0)
		return;
	if (strcmp(cipher, "bf-cbc") == 0) {
		snprintf(msg, sizeof(msg), "cipher bf-cbc has a 64-bit block "
		    "and is kept for old queues; prefer aes-256-gcm for new "
		    "blobs");
		evp_host->log(QS_LOG_WARN, "crypto-evp", msg);
	}
	if (strcmp(digest, "sha1") == 0) {
		snprintf(msg, sizeof(msg), "digest sha1 is kept for old "
		    "queues; prefer sha256 for new blobs");
		evp_host->log(QS_LOG_WARN, "crypto-evp", msg);
	}
}

static int
instance_new(const struct qs_instance_args *args, void **instance)
{
	struct evp_instance *inst;
	int rc;

	*instance = NULL;
	if (!QS_HAS_FIELD(args, struct qs_instance_args, err_cap))
		return QS_ERR_INVALID;
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL) {
		set_err(args, "crypto-evp: out of memory");
		return QS_ERR_NOMEM;
	}
	inst->lock = CRYPTO_THREAD_lock_new();
	rc = QS_OK;
	if (inst->lock == NULL) {
		set_err(args, "crypto-evp: out of memory creating a lock");
		rc = QS_ERR_NOMEM;
	}
	if (rc == QS_OK)
		rc = parse_params(inst, args);
	if (rc == QS_OK)
		rc = load_openssl(inst, args);
	if (rc == QS_OK)
		rc = check_available(inst, args);
	if (rc == QS_OK)
		rc = evp_self_test(inst, args->err, args->err_cap);
	if (rc == QS_OK)
		rc = evp_keys_copy(inst, args->keys, args->nkeys, args->err,
		    args->err_cap);
	if (rc == QS_OK)
		rc = copy_salt(inst, args);
	if (rc == QS_OK && inst->nkeys > 0)
		rc = evp_key_prepare(inst, 0, inst->digest, args->err,
		    args->err_cap);
	if (rc != QS_OK) {
		instance_free(inst);
		return rc;
	}
	warn_weak(inst);
	*instance = inst;
	return QS_OK;
}

/* Reads the key id from the first bytes of a blob's layer header. */
static int
key_id(void *instance, const uint8_t *data, size_t len, char *buf,
    size_t cap)
{
	(void)instance;
	if (buf == NULL || cap < EVP_KEYID_HEX)
		return QS_ERR_INVALID;
	buf[0] = '\0';
	if (len == 0)
		return QS_ERR_TRUNCATED;
	if (data == NULL)
		return QS_ERR_INVALID;
	if (memcmp(data, EVP_MAGIC, len < EVP_MAGIC_LEN ? len :
	    EVP_MAGIC_LEN) != 0)
		return QS_ERR_CORRUPT;
	if (len > EVP_MAGIC_LEN && data[EVP_MAGIC_LEN] != EVP_FORMAT_VERSION)
		return QS_ERR_CORRUPT;
	if (len > EVP_MAGIC_LEN + 1 && data[EVP_MAGIC_LEN + 1] <
	    EVP_HDR_FIXED_LEN + 2)
		return QS_ERR_CORRUPT;
	if (len < EVP_OFF_KEYID + EVP_KEYID_LEN)
		return QS_ERR_TRUNCATED;
	evp_hex(buf, data + EVP_OFF_KEYID, EVP_KEYID_LEN);
	return QS_OK;
}

static const struct qs_option options[] = {
	{ sizeof(struct qs_option), QS_OPT_STRING, "cipher",
	    "cipher for new blobs: aes-128-gcm, aes-192-gcm, aes-256-gcm,"
	    " chacha20-poly1305, aes-128-cbc, aes-256-cbc, aes-256-ctr or"
	    " bf-cbc (default aes-256-gcm)" },
	{ sizeof(struct qs_option), QS_OPT_STRING, "digest",
	    "hash for key derivation, key ids and HMAC: sha1, sha256, sha384"
	    " or sha512 (default sha256)" },
	{ 0, 0, NULL, NULL },
};

static const struct qs_transform_ops ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = instance_new,
	.instance_free = instance_free,
	.stream_new = evp_stream_new,
	.stream_begin = evp_stream_begin,
	.stream_update = evp_stream_update,
	.stream_final = evp_stream_final,
	.stream_free = evp_stream_free,
	.stream_error = evp_stream_error,
	.key_id = key_id,
};

static const struct qs_module module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_CRYPTO,
	.format_version = EVP_FORMAT_VERSION,
	.name = EVP_MODULE_NAME,
	.version = "1.0.0",
	.description = "authenticated encryption with OpenSSL EVP"
	    " (AES-GCM, ChaCha20-Poly1305, or CBC/CTR with HMAC)",
	.options = options,
	.ops = &ops,
};

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

QS_EXPORT const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	if (!QS_HAS_FIELD(host, struct qs_host, random) ||
	    host->random == NULL)
		return NULL;
	evp_host = host;
	return &module;
}
