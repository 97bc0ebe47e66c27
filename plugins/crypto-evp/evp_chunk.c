/*
 * crypto-evp: sealing and opening one chunk in place in the stream's
 * frame buffer.
 *
 * A frame starts with the 4-byte chunk word (final flag and plaintext
 * length). For AEAD ciphers the ciphertext and a 16-byte tag follow.
 * For the others a random IV, the ciphertext and an HMAC follow. The
 * HMAC covers the bound data, chunk counter, chunk word, IV and
 * ciphertext (encrypt-then-MAC).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>

#include "evp.h"

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Records the first error of the blob, wipes the per-blob keys and the
 * frame buffer, and returns rc.
 */
int
evp_stream_fail(struct evp_stream *s, int rc, const char *fmt, ...)
{
	va_list ap;

	ERR_clear_error();
	if (s->status != QS_OK)
		return s->status;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	s->status = rc;
	s->pend = NULL;
	s->pend_len = 0;
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	OPENSSL_cleanse(s->buf, EVP_FRAME_MAX);
	return rc;
}

/* Offset of the plaintext or ciphertext in a frame. */
size_t
evp_data_offset(const struct evp_stream *s)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];

	return EVP_WORD_LEN + (ci->aead ? 0 : ci->iv_len);
}

static size_t
ciphertext_len(const struct evp_cipher_info *ci, uint32_t plain_len)
{
	if (ci->block_len > 1)
		return (plain_len / ci->block_len + 1) * ci->block_len;
	return plain_len;
}

/* Length of the frame that carries plain_len plaintext bytes. */
size_t
evp_frame_len(const struct evp_stream *s, uint32_t plain_len)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];
	size_t tag = ci->aead ? EVP_TAG_LEN : evp_digests[s->digest].size;

	return evp_data_offset(s) + ciphertext_len(ci, plain_len) + tag;
}

static void
make_nonce(const struct evp_stream *s, int final, uint8_t *nonce)
{
	memcpy(nonce, s->keys.prefix, EVP_PREFIX_LEN);
	put32(nonce + EVP_PREFIX_LEN, (uint32_t)s->counter);
	nonce[EVP_NONCE_LEN - 1] = final ? 1 : 0;
}

static void
make_aad(const struct evp_stream *s, uint8_t *aad)
{
	memcpy(aad, s->binding, EVP_BIND_LEN);
	memcpy(aad + EVP_BIND_LEN, s->buf, EVP_WORD_LEN);
}

/*
 * Computes the HMAC of a non-AEAD frame: bound data, counter, chunk
 * word, IV and ciphertext. The frame's word and IV are in s->buf.
 */
static int
compute_mac(struct evp_stream *s, size_t ct_len, uint8_t *mac)
{
	size_t off = evp_data_offset(s), mac_len = 0;
	uint8_t counter[4];

	put32(counter, (uint32_t)s->counter);
	if (!EVP_MAC_init(s->mctx, NULL, 0, NULL) ||
	    !EVP_MAC_update(s->mctx, s->binding, EVP_BIND_LEN) ||
	    !EVP_MAC_update(s->mctx, counter, sizeof(counter)) ||
	    !EVP_MAC_update(s->mctx, s->buf, off + ct_len) ||
	    !EVP_MAC_final(s->mctx, mac, &mac_len, EVP_MAC_MAX))
		return 0;
	return mac_len == evp_digests[s->digest].size;
}

static int
seal_aead(struct evp_stream *s, int final, size_t len)
{
	uint8_t nonce[EVP_NONCE_LEN], aad[EVP_BIND_LEN + EVP_WORD_LEN];
	uint8_t *data = s->buf + EVP_WORD_LEN;
	int n = 0, m = 0;

	make_nonce(s, final, nonce);
	make_aad(s, aad);
	if (!EVP_CipherInit_ex2(s->cctx, NULL, NULL, nonce, 1, NULL) ||
	    !EVP_CipherUpdate(s->cctx, NULL, &n, aad, sizeof(aad)))
		return 0;
	n = 0;
	if (len > 0 && !EVP_CipherUpdate(s->cctx, data, &n, data, (int)len))
		return 0;
	if (!EVP_CipherFinal_ex(s->cctx, data + n, &m) ||
	    (size_t)n + (size_t)m != len)
		return 0;
	return EVP_CIPHER_CTX_ctrl(s->cctx, EVP_CTRL_AEAD_GET_TAG,
	    EVP_TAG_LEN, data + len) > 0;
}

static int
seal_etm(struct evp_stream *s, size_t len, size_t *ct_len)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];
	uint8_t *iv = s->buf + EVP_WORD_LEN, *data = iv + ci->iv_len;
	int n = 0, m = 0;

	if (!EVP_CipherInit_ex2(s->cctx, NULL, NULL, iv, 1, NULL))
		return 0;
	if (len > 0 && !EVP_CipherUpdate(s->cctx, data, &n, data, (int)len))
		return 0;
	if (!EVP_CipherFinal_ex(s->cctx, data + n, &m))
		return 0;
	*ct_len = (size_t)n + (size_t)m;
	if (*ct_len != ciphertext_len(ci, (uint32_t)len))
		return 0;
	return compute_mac(s, *ct_len, data + *ct_len);
}

/*
 * Encrypts the s->fill plaintext bytes at the data offset of s->buf
 * into a complete frame. The final chunk may be empty or full.
 */
int
evp_seal(struct evp_stream *s, int final, size_t *frame_len)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];
	uint32_t len = (uint32_t)s->fill;
	size_t ct_len = len;
	int ok, rc;

	/* NOTE: no test reaches this limit, which needs 2^48 bytes. */
	if (!final && s->counter >= UINT32_MAX)
		return evp_stream_fail(s, QS_ERR_LIMIT, "crypto-evp: the blob"
		    " reached %llu chunks, the maximum of the 32-bit chunk"
		    " counter; split the data into smaller blobs",
		    (unsigned long long)s->counter + 1);
	put32(s->buf, (final ? EVP_FINAL_BIT : 0) | len);
	if (ci->aead) {
		ok = seal_aead(s, final, len);
	} else {
		rc = evp_host->random(s->buf + EVP_WORD_LEN, ci->iv_len);
		if (rc != QS_OK)
			return evp_stream_fail(s, QS_ERR_IO, "crypto-evp: the"
			    " host's random source failed while making an IV");
		ok = seal_etm(s, len, &ct_len);
	}
	if (!ok)
		return evp_stream_fail(s, QS_ERR_UNSUPPORTED, "crypto-evp:"
		    " OpenSSL failed to encrypt chunk %llu with %s",
		    (unsigned long long)s->counter, ci->name);
	*frame_len = evp_frame_len(s, len);
	s->counter++;
	return QS_OK;
}

static int
open_aead(struct evp_stream *s, int final, size_t len)
{
	uint8_t nonce[EVP_NONCE_LEN], aad[EVP_BIND_LEN + EVP_WORD_LEN];
	uint8_t *data = s->buf + EVP_WORD_LEN;
	int n = 0, m = 0;

	make_nonce(s, final, nonce);
	make_aad(s, aad);
	if (!EVP_CipherInit_ex2(s->cctx, NULL, NULL, nonce, 0, NULL))
		return QS_ERR_UNSUPPORTED;
	/* The tag is set explicitly before any data, also for len == 0. */
	if (EVP_CIPHER_CTX_ctrl(s->cctx, EVP_CTRL_AEAD_SET_TAG, EVP_TAG_LEN,
	    data + len) <= 0 ||
	    !EVP_CipherUpdate(s->cctx, NULL, &n, aad, sizeof(aad)))
		return QS_ERR_UNSUPPORTED;
	n = 0;
	if (len > 0 && !EVP_CipherUpdate(s->cctx, data, &n, data, (int)len))
		return QS_ERR_UNSUPPORTED;
	if (EVP_CipherFinal_ex(s->cctx, data + n, &m) <= 0 ||
	    (size_t)n + (size_t)m != len)
		return QS_ERR_AUTH;
	return QS_OK;
}

static int
open_etm(struct evp_stream *s, size_t len)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];
	uint8_t *iv = s->buf + EVP_WORD_LEN, *data = iv + ci->iv_len;
	size_t ct_len = ciphertext_len(ci, (uint32_t)len);
	uint8_t mac[EVP_MAC_MAX];
	int n = 0, m = 0;

	/* The MAC is checked before a byte is decrypted. */
	if (!compute_mac(s, ct_len, mac))
		return QS_ERR_UNSUPPORTED;
	if (CRYPTO_memcmp(mac, data + ct_len,
	    evp_digests[s->digest].size) != 0)
		return QS_ERR_AUTH;
	if (!EVP_CipherInit_ex2(s->cctx, NULL, NULL, iv, 0, NULL) ||
	    !EVP_CipherUpdate(s->cctx, data, &n, data, (int)ct_len))
		return QS_ERR_UNSUPPORTED;
	if (EVP_CipherFinal_ex(s->cctx, data + n, &m) <= 0 ||
	    (size_t)n + (size_t)m != len)
		return QS_ERR_CORRUPT;
	return QS_OK;
}

/*
 * Verifies and decrypts the complete frame in s->buf, in place. On
 * success the plaintext is at the data offset of s->buf.
 */
int
evp_open(struct evp_stream *s, size_t *plain_len)
{
	const struct evp_cipher_info *ci = &evp_ciphers[s->cipher];
	uint32_t word = ((uint32_t)s->buf[0] << 24) |
	    ((uint32_t)s->buf[1] << 16) | ((uint32_t)s->buf[2] << 8) |
	    s->buf[3];
	int final = (word & EVP_FINAL_BIT) != 0;
	size_t len = word & ~EVP_FINAL_BIT;
	unsigned long long index = s->counter;
	int rc;

	rc = ci->aead ? open_aead(s, final, len) : open_etm(s, len);
	if (rc == QS_ERR_AUTH)
		return evp_stream_fail(s, rc, "crypto-evp: chunk %llu failed"
		    " authentication: the blob was modified, truncated,"
		    " reordered or stored under another id, kind or header",
		    index);
	if (rc == QS_ERR_CORRUPT)
		return evp_stream_fail(s, rc, "crypto-evp: chunk %llu passed"
		    " its MAC but has invalid padding", index);
	if (rc != QS_OK)
		return evp_stream_fail(s, rc, "crypto-evp: OpenSSL failed to"
		    " decrypt chunk %llu with %s", index, ci->name);
	*plain_len = len;
	s->counter++;
	return QS_OK;
}
