/*
 * crypto-evp: key copies, master keys, key ids and per-blob keys.
 *
 * A master key depends on the digest when the key is a passphrase
 * (PBKDF2-HMAC-<digest>), and a key id always does. Blobs name their
 * own digest, so master keys and ids are derived per digest on first
 * use and cached in the instance under its lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "evp.h"

void
evp_hex(char *dst, const uint8_t *src, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 0x0f];
	}
	dst[2 * len] = '\0';
}

static int
check_key(const struct qs_key *key, size_t index, char *err, size_t cap)
{
	if (key->type == QS_KEY_RAW && key->len != EVP_MASTER_LEN) {
		snprintf(err, cap, "crypto-evp: key %zu is a raw key of %zu"
		    " bytes, but a raw key must be exactly %d bytes; use a"
		    " 32-byte key file or a passphrase", index + 1, key->len,
		    EVP_MASTER_LEN);
		return QS_ERR_INVALID;
	}
	if (key->type == QS_KEY_PASSPHRASE && key->len == 0) {
		snprintf(err, cap, "crypto-evp: key %zu is an empty"
		    " passphrase; set a non-empty passphrase", index + 1);
		return QS_ERR_INVALID;
	}
	if (key->type != QS_KEY_RAW && key->type != QS_KEY_PASSPHRASE) {
		snprintf(err, cap, "crypto-evp: key %zu has unknown type %u;"
		    " expected a raw key or a passphrase", index + 1,
		    (unsigned)key->type);
		return QS_ERR_INVALID;
	}
	if (key->data == NULL) {
		snprintf(err, cap, "crypto-evp: key %zu has no data",
		    index + 1);
		return QS_ERR_INVALID;
	}
	return QS_OK;
}

/* Copies the keys into inst->keys. On failure the caller frees inst. */
int
evp_keys_copy(struct evp_instance *inst, const struct qs_key *keys,
    size_t nkeys, char *err, size_t cap)
{
	size_t i;
	int rc;

	if (nkeys == 0)
		return QS_OK;
	if (keys == NULL) {
		snprintf(err, cap, "crypto-evp: %zu keys announced but the key"
		    " list is missing", nkeys);
		return QS_ERR_INVALID;
	}
	inst->keys = calloc(nkeys, sizeof(*inst->keys));
	if (inst->keys == NULL)
		goto nomem;
	inst->nkeys = nkeys;
	for (i = 0; i < nkeys; i++) {
		if (!QS_HAS_FIELD(&keys[i], struct qs_key, len)) {
			snprintf(err, cap, "crypto-evp: key %zu has a struct"
			    " size of %u, too small", i + 1,
			    (unsigned)keys[i].size);
			return QS_ERR_INVALID;
		}
		rc = check_key(&keys[i], i, err, cap);
		if (rc != QS_OK)
			return rc;
		inst->keys[i].type = keys[i].type;
		inst->keys[i].secret = malloc(keys[i].len);
		if (inst->keys[i].secret == NULL)
			goto nomem;
		memcpy(inst->keys[i].secret, keys[i].data, keys[i].len);
		inst->keys[i].secret_len = keys[i].len;
	}
	return QS_OK;
nomem:
	snprintf(err, cap, "crypto-evp: out of memory copying %zu keys",
	    nkeys);
	return QS_ERR_NOMEM;
}

void
evp_keys_free(struct evp_instance *inst)
{
	size_t i;

	if (inst->keys == NULL)
		return;
	for (i = 0; i < inst->nkeys; i++) {
		if (inst->keys[i].secret != NULL) {
			OPENSSL_cleanse(inst->keys[i].secret,
			    inst->keys[i].secret_len);
			free(inst->keys[i].secret);
		}
	}
	OPENSSL_cleanse(inst->keys, inst->nkeys * sizeof(*inst->keys));
	free(inst->keys);
	inst->keys = NULL;
	inst->nkeys = 0;
}

static int
stretch_passphrase(struct evp_instance *inst, const struct evp_key *key,
    int digest, uint8_t *master)
{
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx;
	unsigned int iterations = evp_digests[digest].pbkdf2_iterations;
	int ok;

	kctx = EVP_KDF_CTX_new(inst->pbkdf2);
	if (kctx == NULL)
		return 0;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    key->secret, key->secret_len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    inst->queue_salt, inst->queue_salt_len);
	params[2] = OSSL_PARAM_construct_uint(OSSL_KDF_PARAM_ITER,
	    &iterations);
	params[3] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)evp_digests[digest].name, 0);
	params[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, master, EVP_MASTER_LEN, params);
	EVP_KDF_CTX_free(kctx);
	return ok;
}

static int
derive_key_values(struct evp_instance *inst, struct evp_key *key,
    int digest)
{
	uint8_t mac[EVP_MAC_MAX];
	size_t mac_len = 0;
	int ok;

	if (key->type == QS_KEY_RAW)
		memcpy(key->master[digest], key->secret, EVP_MASTER_LEN);
	else if (!stretch_passphrase(inst, key, digest, key->master[digest]))
		return 0;
	ok = EVP_Q_mac(inst->libctx, "HMAC", NULL, evp_digests[digest].name,
	    NULL, key->master[digest], EVP_MASTER_LEN,
	    (const uint8_t *)EVP_LABEL_KEYID, strlen(EVP_LABEL_KEYID), mac,
	    sizeof(mac), &mac_len) != NULL;
	if (ok)
		memcpy(key->id[digest], mac, EVP_KEYID_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}

/*
 * Makes the master key and key id of keys[index] for digest available.
 * Safe from several streams at once. Stretching a passphrase takes
 * the PBKDF2 iteration count of the digest, so the first call per
 * passphrase and digest is slow.
 */
int
evp_key_prepare(struct evp_instance *inst, size_t index, int digest,
    char *err, size_t cap)
{
	struct evp_key *key = &inst->keys[index];
	int rc = QS_OK;

	if (!CRYPTO_THREAD_write_lock(inst->lock)) {
		snprintf(err, cap, "crypto-evp: cannot lock the key table");
		return QS_ERR_INVALID;
	}
	if (!key->ready[digest]) {
		if (derive_key_values(inst, key, digest)) {
			key->ready[digest] = 1;
		} else {
			OPENSSL_cleanse(key->master[digest], EVP_MASTER_LEN);
			ERR_clear_error();
			snprintf(err, cap, "crypto-evp: deriving the master key"
			    " of key %zu with %s failed in OpenSSL", index + 1,
			    evp_digests[digest].name);
			rc = QS_ERR_UNSUPPORTED;
		}
	}
	CRYPTO_THREAD_unlock(inst->lock);
	return rc;
}

/*
 * Derives the per-blob keys: HKDF-<digest> with the master key as input
 * key material, the blob salt as salt, and as info the label followed by
 * the length-prefixed cipher and digest names.
 * NOTE: OpenSSL 3.0's HKDF allocates internally on every call although
 * kctx is reused. With 3.0.19 a warm GCM blob makes about 30 allocations,
 * almost all of them here.
 */
int
evp_hkdf(EVP_KDF_CTX *kctx, int cipher, int digest, const uint8_t *master,
    const uint8_t *salt, struct evp_blob_keys *out)
{
	const struct evp_cipher_info *ci = &evp_ciphers[cipher];
	const struct evp_digest_info *di = &evp_digests[digest];
	uint8_t info[64], okm[EVP_KEY_MAX + EVP_MAC_MAX];
	size_t info_len = 0, cl = strlen(ci->name), dl = strlen(di->name);
	size_t second = ci->aead ? EVP_PREFIX_LEN : di->size;
	OSSL_PARAM params[5];
	int ok;

	memcpy(info, EVP_LABEL_KEYS, strlen(EVP_LABEL_KEYS));
	info_len = strlen(EVP_LABEL_KEYS);
	info[info_len++] = (uint8_t)cl;
	memcpy(info + info_len, ci->name, cl);
	info_len += cl;
	info[info_len++] = (uint8_t)dl;
	memcpy(info + info_len, di->name, dl);
	info_len += dl;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)di->name, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)master, EVP_MASTER_LEN);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
	    (void *)salt, EVP_SALT_LEN);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
	    info, info_len);
	params[4] = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, okm, ci->key_len + second, params);
	if (ok) {
		memcpy(out->enc, okm, ci->key_len);
		if (ci->aead)
			memcpy(out->prefix, okm + ci->key_len, EVP_PREFIX_LEN);
		else
			memcpy(out->mac, okm + ci->key_len, di->size);
	}
	OPENSSL_cleanse(okm, sizeof(okm));
	return ok;
}
