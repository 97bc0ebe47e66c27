/*
 * crypto-evp: encrypting and decrypting streams.
 *
 * A stream owns one frame buffer, allocated in stream_new, and keeps at
 * most one chunk in it. The encoder keeps a full chunk until it receives
 * more input (the chunk is not the last) or stream_final (it is).
 * The decoder verifies a whole chunk before it releases its plaintext.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
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

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

void
evp_stream_free(void *stream)
{
	struct evp_stream *s = stream;

	if (s == NULL)
		return;
	EVP_CIPHER_CTX_free(s->cctx);
	EVP_MAC_CTX_free(s->mctx);
	EVP_MD_CTX_free(s->bctx);
	EVP_KDF_CTX_free(s->kctx);
	if (s->buf != NULL) {
		OPENSSL_cleanse(s->buf, EVP_FRAME_MAX);
		free(s->buf);
	}
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

int
evp_stream_new(void *instance, uint32_t direction, void **stream)
{
	struct evp_instance *inst = instance;
	struct evp_stream *s;

	*stream = NULL;
	if (inst == NULL || (direction != QS_ENCODE && direction != QS_DECODE))
		return QS_ERR_INVALID;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return QS_ERR_NOMEM;
	s->inst = inst;
	s->direction = direction;
	s->state = EVP_IDLE;
	s->cctx_cipher = -1;
	s->mctx_digest = -1;
	s->buf = malloc(EVP_FRAME_MAX);
	s->cctx = EVP_CIPHER_CTX_new();
	s->mctx = EVP_MAC_CTX_new(inst->hmac);
	s->bctx = EVP_MD_CTX_new();
	s->kctx = EVP_KDF_CTX_new(inst->hkdf);
	if (s->buf == NULL || s->cctx == NULL || s->mctx == NULL ||
	    s->bctx == NULL || s->kctx == NULL) {
		ERR_clear_error();
		evp_stream_free(s);
		return QS_ERR_NOMEM;
	}
	*stream = s;
	return QS_OK;
}

const char *
evp_stream_error(void *stream)
{
	struct evp_stream *s = stream;

	return s != NULL && s->err[0] != '\0' ? s->err : NULL;
}

/* Starts the SHA-256 of the bound data with the blob's identity. */
static int
bind_identity(struct evp_stream *s, const struct qs_blob_info *blob,
    size_t id_len)
{
	uint8_t num[8];
	int ok;

	ok = EVP_DigestInit_ex2(s->bctx, s->inst->sha256, NULL) &&
	    EVP_DigestUpdate(s->bctx, EVP_LABEL_BIND,
	    strlen(EVP_LABEL_BIND));
	put32(num, blob->kind);
	ok = ok && EVP_DigestUpdate(s->bctx, num, 4);
	put64(num, id_len);
	ok = ok && EVP_DigestUpdate(s->bctx, num, 8) &&
	    EVP_DigestUpdate(s->bctx, blob->id, id_len);
	put64(num, blob->header_len);
	ok = ok && EVP_DigestUpdate(s->bctx, num, 8);
	if (blob->header_len > 0)
		ok = ok && EVP_DigestUpdate(s->bctx, blob->header,
		    blob->header_len);
	return ok;
}

/* Ends the SHA-256 of the bound data with the layer header. */
static int
bind_header(struct evp_stream *s)
{
	uint8_t num[8];
	unsigned int len = 0;

	put64(num, s->hdr_len);
	return EVP_DigestUpdate(s->bctx, num, 8) &&
	    EVP_DigestUpdate(s->bctx, s->hdr, s->hdr_len) &&
	    EVP_DigestFinal_ex(s->bctx, s->binding, &len) &&
	    len == EVP_BIND_LEN;
}

/*
 * Derives the blob keys and keys the cipher and HMAC contexts. The
 * contexts keep their algorithm from blob to blob while it does not
 * change, so a warm stream does not reallocate them.
 */
static int
setup_blob_keys(struct evp_stream *s, const uint8_t *master)
{
	struct evp_instance *inst = s->inst;
	const EVP_CIPHER *cipher = NULL;
	OSSL_PARAM params[2], *digest = params;
	int enc = s->direction == QS_ENCODE;

	if (!evp_hkdf(s->kctx, s->cipher, s->digest, master,
	    s->hdr + EVP_OFF_SALT, &s->keys))
		return 0;
	if (s->cctx_cipher != s->cipher)
		cipher = inst->ciphers[s->cipher];
	s->cctx_cipher = -1;
	if (!EVP_CipherInit_ex2(s->cctx, cipher, s->keys.enc, NULL, enc,
	    NULL))
		return 0;
	s->cctx_cipher = s->cipher;
	if (evp_ciphers[s->cipher].aead)
		return 1;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)evp_digests[s->digest].name, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (s->mctx_digest == s->digest)
		digest = NULL;
	s->mctx_digest = -1;
	if (!EVP_MAC_init(s->mctx, s->keys.mac, evp_digests[s->digest].size,
	    digest))
		return 0;
	s->mctx_digest = s->digest;
	return 1;
}

static void
reset_blob(struct evp_stream *s)
{
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	s->state = EVP_IDLE;
	s->status = QS_OK;
	s->err[0] = '\0';
	s->hdr_len = 0;
	s->hdr_fill = 0;
	s->chunk_size = 0;
	s->counter = 0;
	s->fill = 0;
	s->frame_len = 0;
	s->pend = NULL;
	s->pend_len = 0;
}

static size_t
append_name(uint8_t *p, const char *name)
{
	size_t len = strlen(name);

	p[0] = (uint8_t)len;
	memcpy(p + 1, name, len);
	return 1 + len;
}

static int
begin_encode(struct evp_stream *s)
{
	struct evp_instance *inst = s->inst;
	uint8_t *h = s->hdr;
	size_t len = EVP_OFF_NAMES;

	if (inst->nkeys == 0)
		return evp_stream_fail(s, QS_ERR_NOKEY, "crypto-evp: no key is"
		    " configured, so blobs cannot be encrypted; configure a"
		    " key or passphrase for this queue");
	s->cipher = inst->cipher;
	s->digest = inst->digest;
	memcpy(h, EVP_MAGIC, EVP_MAGIC_LEN);
	h[EVP_MAGIC_LEN] = EVP_FORMAT_VERSION;
	put32(h + EVP_OFF_CHUNK, EVP_CHUNK_SIZE);
	memcpy(h + EVP_OFF_KEYID, inst->keys[0].id[s->digest], EVP_KEYID_LEN);
	if (evp_host->random(h + EVP_OFF_SALT, EVP_SALT_LEN) != QS_OK)
		return evp_stream_fail(s, QS_ERR_IO, "crypto-evp: the host's"
		    " random source failed while making the blob salt");
	len += append_name(h + len, evp_ciphers[s->cipher].name);
	len += append_name(h + len, evp_digests[s->digest].name);
	h[EVP_MAGIC_LEN + 1] = (uint8_t)len;
	s->hdr_len = len;
	s->chunk_size = EVP_CHUNK_SIZE;
	if (!bind_header(s) ||
	    !setup_blob_keys(s, inst->keys[0].master[s->digest]))
		return evp_stream_fail(s, QS_ERR_UNSUPPORTED, "crypto-evp:"
		    " OpenSSL failed to derive the keys of a new blob");
	s->pend = s->hdr;
	s->pend_len = s->hdr_len;
	s->state = EVP_ENC_OPEN;
	return QS_OK;
}

int
evp_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	struct evp_stream *s = stream;
	const char *end;
	size_t id_len;

	if (s == NULL)
		return QS_ERR_INVALID;
	reset_blob(s);
	if (!QS_HAS_FIELD(blob, struct qs_blob_info, header_len) ||
	    blob->id == NULL || (blob->header == NULL && blob->header_len > 0))
		return evp_stream_fail(s, QS_ERR_INVALID, "crypto-evp: blob"
		    " identity is missing its id or header");
	end = memchr(blob->id, '\0', QS_ID_MAX);
	if (end == NULL)
		return evp_stream_fail(s, QS_ERR_INVALID, "crypto-evp: blob id"
		    " is not NUL-terminated within %d bytes", QS_ID_MAX);
	id_len = (size_t)(end - blob->id);
	if (!bind_identity(s, blob, id_len))
		return evp_stream_fail(s, QS_ERR_UNSUPPORTED, "crypto-evp:"
		    " OpenSSL failed to hash the blob identity");
	if (s->direction == QS_ENCODE)
		return begin_encode(s);
	s->state = EVP_DEC_HEADER;
	return QS_OK;
}

static void
flush(struct evp_stream *s, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t n = s->pend_len;

	if (n > out_cap - *out_len)
		n = out_cap - *out_len;
	if (n == 0)
		return;
	memcpy(out + *out_len, s->pend, n);
	s->pend += n;
	s->pend_len -= n;
	*out_len += n;
}

static int
seal_pending(struct evp_stream *s, int final)
{
	size_t frame_len;
	int rc;

	rc = evp_seal(s, final, &frame_len);
	if (rc != QS_OK)
		return rc;
	s->fill = 0;
	s->pend = s->buf;
	s->pend_len = frame_len;
	return QS_OK;
}

static int
encode_update(struct evp_stream *s, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t *data = s->buf + evp_data_offset(s);
	size_t n;
	int rc;

	for (;;) {
		flush(s, out, out_cap, out_len);
		if (s->pend_len > 0 || *in_used == in_len)
			return QS_OK;
		if (s->state != EVP_ENC_OPEN)
			return evp_stream_fail(s, QS_ERR_INVALID, "crypto-evp:"
			    " stream_update called after stream_final");
		/* A full chunk followed by more input is not the last. */
		if (s->fill == s->chunk_size) {
			rc = seal_pending(s, 0);
			if (rc != QS_OK)
				return rc;
			continue;
		}
		n = in_len - *in_used;
		if (n > s->chunk_size - s->fill)
			n = s->chunk_size - s->fill;
		memcpy(data + s->fill, in + *in_used, n);
		s->fill += n;
		*in_used += n;
	}
}

static int
encode_final(struct evp_stream *s, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	int rc;

	flush(s, out, out_cap, out_len);
	if (s->pend_len > 0)
		return QS_MORE;
	if (s->state == EVP_ENC_OPEN) {
		rc = seal_pending(s, 1);
		if (rc != QS_OK)
			return rc;
		s->state = EVP_ENC_SEALED;
		flush(s, out, out_cap, out_len);
		if (s->pend_len > 0)
			return QS_MORE;
	}
	s->state = EVP_DONE;
	OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	return QS_OK;
}

static size_t
take(uint8_t *dst, size_t *fill, size_t want, const uint8_t *in,
    size_t avail)
{
	size_t n = want - *fill;

	if (n > avail)
		n = avail;
	memcpy(dst + *fill, in, n);
	*fill += n;
	return n;
}

/* Checks magic, version and header length, the first 6 bytes. */
static int
check_header_prefix(struct evp_stream *s)
{
	const uint8_t *h = s->hdr;

	if (memcmp(h, EVP_MAGIC, EVP_MAGIC_LEN) != 0)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " does not start with the crypto-evp magic \"QEVP\"");
	if (h[EVP_MAGIC_LEN] != EVP_FORMAT_VERSION)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " header has version %u, but only version %d exists",
		    h[EVP_MAGIC_LEN], EVP_FORMAT_VERSION);
	s->hdr_len = h[EVP_MAGIC_LEN + 1];
	if (s->hdr_len < EVP_HDR_FIXED_LEN + 2)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " header length %zu is below the minimum of %d",
		    s->hdr_len, EVP_HDR_FIXED_LEN + 2);
	return QS_OK;
}

static int
parse_names(struct evp_stream *s)
{
	const uint8_t *h = s->hdr;
	size_t cl = h[EVP_OFF_NAMES], dl;
	char shown[48];

	if (EVP_OFF_NAMES + 1 + cl + 1 > s->hdr_len)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: cipher"
		    " name overruns the %zu-byte blob header", s->hdr_len);
	dl = h[EVP_OFF_NAMES + 1 + cl];
	if (EVP_OFF_NAMES + 2 + cl + dl != s->hdr_len)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: name"
		    " lengths do not match the %zu-byte blob header",
		    s->hdr_len);
	s->cipher = evp_cipher_lookup((const char *)h + EVP_OFF_NAMES + 1,
	    cl);
	s->digest = evp_digest_lookup((const char *)h + EVP_OFF_NAMES + 2 +
	    cl, dl);
	if (s->cipher < 0) {
		evp_sanitize(shown, sizeof(shown),
		    (const char *)h + EVP_OFF_NAMES + 1, cl);
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " header names cipher '%s', which format %d does not"
		    " define", shown, EVP_FORMAT_VERSION);
	}
	if (s->digest < 0) {
		evp_sanitize(shown, sizeof(shown),
		    (const char *)h + EVP_OFF_NAMES + 2 + cl, dl);
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " header names digest '%s', which format %d does not"
		    " define", shown, EVP_FORMAT_VERSION);
	}
	if (s->inst->ciphers[s->cipher] == NULL)
		return evp_stream_fail(s, QS_ERR_UNSUPPORTED, "crypto-evp: blob"
		    " was encrypted with %s, which this OpenSSL does not"
		    " provide; install its provider to read it",
		    evp_ciphers[s->cipher].name);
	return QS_OK;
}

/* Finds the configured key whose id, under the blob's digest, matches. */
static int
find_key(struct evp_stream *s, size_t *index)
{
	struct evp_instance *inst = s->inst;
	const uint8_t *id = s->hdr + EVP_OFF_KEYID;
	char hex[EVP_KEYID_HEX], err[EVP_ERR_LEN];
	size_t i;
	int rc;

	for (i = 0; i < inst->nkeys; i++) {
		rc = evp_key_prepare(inst, i, s->digest, err, sizeof(err));
		if (rc != QS_OK)
			return evp_stream_fail(s, rc, "%s", err);
		if (memcmp(inst->keys[i].id[s->digest], id,
		    EVP_KEYID_LEN) == 0) {
			*index = i;
			return QS_OK;
		}
	}
	evp_hex(hex, id, EVP_KEYID_LEN);
	return evp_stream_fail(s, QS_ERR_NOKEY, "crypto-evp: blob was"
	    " encrypted with key id %s (%s), which matches none of the %zu"
	    " configured keys; add that key to read it", hex,
	    evp_digests[s->digest].name, inst->nkeys);
}

static int
parse_header(struct evp_stream *s)
{
	size_t index;
	int rc;

	s->chunk_size = get32(s->hdr + EVP_OFF_CHUNK);
	if (s->chunk_size == 0 || s->chunk_size > EVP_CHUNK_MAX)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: blob"
		    " header has chunk size %lu, outside 1 to %d",
		    (unsigned long)s->chunk_size, EVP_CHUNK_MAX);
	rc = parse_names(s);
	if (rc == QS_OK)
		rc = find_key(s, &index);
	if (rc != QS_OK)
		return rc;
	if (!bind_header(s) ||
	    !setup_blob_keys(s, s->inst->keys[index].master[s->digest]))
		return evp_stream_fail(s, QS_ERR_UNSUPPORTED, "crypto-evp:"
		    " OpenSSL failed to derive the keys of the blob");
	s->state = EVP_DEC_FRAME;
	return QS_OK;
}

static int
decode_header(struct evp_stream *s, const uint8_t *in, size_t avail,
    size_t *used)
{
	size_t want = s->hdr_fill < EVP_HDR_PREFIX_LEN ?
	    EVP_HDR_PREFIX_LEN : s->hdr_len;
	int rc;

	*used = take(s->hdr, &s->hdr_fill, want, in, avail);
	if (s->hdr_fill == EVP_HDR_PREFIX_LEN && want == EVP_HDR_PREFIX_LEN) {
		rc = check_header_prefix(s);
		if (rc != QS_OK)
			return rc;
	}
	if (s->hdr_len > 0 && s->hdr_fill == s->hdr_len)
		return parse_header(s);
	return QS_OK;
}

static int
parse_word(struct evp_stream *s)
{
	uint32_t word = get32(s->buf);
	uint32_t len = word & ~EVP_FINAL_BIT;
	int final = (word & EVP_FINAL_BIT) != 0;
	unsigned long long index = s->counter;

	if (len > s->chunk_size)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: chunk"
		    " %llu declares %lu bytes, more than the chunk size %lu",
		    index, (unsigned long)len, (unsigned long)s->chunk_size);
	if (!final && len != s->chunk_size)
		return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp: chunk"
		    " %llu is not the last but holds %lu of %lu bytes",
		    index, (unsigned long)len, (unsigned long)s->chunk_size);
	if (!final && s->counter >= UINT32_MAX)
		return evp_stream_fail(s, QS_ERR_LIMIT, "crypto-evp: blob has"
		    " more chunks than the 32-bit chunk counter allows");
	s->frame_len = evp_frame_len(s, len);
	return QS_OK;
}

static int
decode_frame(struct evp_stream *s, const uint8_t *in, size_t avail,
    size_t *used)
{
	size_t want = s->frame_len == 0 ? EVP_WORD_LEN : s->frame_len;
	size_t plain_len;
	int final, rc;

	*used = take(s->buf, &s->fill, want, in, avail);
	if (s->frame_len == 0 && s->fill == EVP_WORD_LEN)
		return parse_word(s);
	if (s->frame_len == 0 || s->fill < s->frame_len)
		return QS_OK;
	final = (s->buf[0] & 0x80) != 0;
	rc = evp_open(s, &plain_len);
	if (rc != QS_OK)
		return rc;
	s->pend = s->buf + evp_data_offset(s);
	s->pend_len = plain_len;
	s->fill = 0;
	s->frame_len = 0;
	if (final) {
		s->state = EVP_DONE;
		OPENSSL_cleanse(&s->keys, sizeof(s->keys));
	}
	return QS_OK;
}

static int
decode_update(struct evp_stream *s, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t used;
	int rc;

	for (;;) {
		/* Input waits while verified plaintext is pending. */
		flush(s, out, out_cap, out_len);
		if (s->pend_len > 0 || *in_used == in_len)
			return QS_OK;
		if (s->state == EVP_DONE)
			return evp_stream_fail(s, QS_ERR_CORRUPT, "crypto-evp:"
			    " %zu bytes follow the final chunk",
			    in_len - *in_used);
		if (s->state == EVP_DEC_HEADER)
			rc = decode_header(s, in + *in_used, in_len - *in_used,
			    &used);
		else
			rc = decode_frame(s, in + *in_used, in_len - *in_used,
			    &used);
		*in_used += used;
		if (rc != QS_OK)
			return rc;
	}
}

static int
decode_final(struct evp_stream *s, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	flush(s, out, out_cap, out_len);
	if (s->pend_len > 0)
		return QS_MORE;
	if (s->state == EVP_DONE)
		return QS_OK;
	if (s->state == EVP_DEC_HEADER)
		return evp_stream_fail(s, QS_ERR_TRUNCATED, "crypto-evp: blob"
		    " ends inside the crypto-evp header after %zu bytes",
		    s->hdr_fill);
	if (s->fill == 0)
		return evp_stream_fail(s, QS_ERR_TRUNCATED, "crypto-evp: blob"
		    " ends after chunk %llu without its final chunk",
		    (unsigned long long)s->counter);
	return evp_stream_fail(s, QS_ERR_TRUNCATED, "crypto-evp: blob ends"
	    " inside chunk %llu after %zu of its bytes",
	    (unsigned long long)s->counter, s->fill);
}

static int
check_call(struct evp_stream *s, const uint8_t *in, size_t in_len,
    const uint8_t *out, size_t out_cap, const size_t *out_len)
{
	if (s == NULL || out_len == NULL || (in == NULL && in_len > 0) ||
	    (out == NULL && out_cap > 0))
		return QS_ERR_INVALID;
	if (s->status != QS_OK)
		return s->status;
	if (s->state == EVP_IDLE)
		return evp_stream_fail(s, QS_ERR_INVALID, "crypto-evp:"
		    " stream_begin must be called before the first update");
	return QS_OK;
}

int
evp_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct evp_stream *s = stream;
	int rc;

	if (in_used == NULL)
		return QS_ERR_INVALID;
	*in_used = 0;
	if (out_len != NULL)
		*out_len = 0;
	rc = check_call(s, in, in_len, out, out_cap, out_len);
	if (rc != QS_OK)
		return rc;
	if (s->direction == QS_ENCODE)
		return encode_update(s, in, in_len, in_used, out, out_cap,
		    out_len);
	return decode_update(s, in, in_len, in_used, out, out_cap, out_len);
}

int
evp_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	struct evp_stream *s = stream;
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	rc = check_call(s, NULL, 0, out, out_cap, out_len);
	if (rc != QS_OK)
		return rc;
	if (s->direction == QS_ENCODE)
		return encode_final(s, out, out_cap, out_len);
	return decode_final(s, out, out_cap, out_len);
}
