/*
 * crypto-evp: the supported ciphers and digests, and the known-answer
 * self-test that instance_new runs on the configured pair.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "evp.h"

/*
 * Self-test vectors. Key bytes are 00 01 02 ..., the IV or nonce bytes
 * are a0 a1 a2 ..., the plaintext is EVP_KAT_PLAINTEXT and the AEAD
 * associated data is EVP_KAT_AAD. AEAD output is ciphertext then tag,
 * CBC output is PKCS#7 padded. The HMAC vectors use the same key bytes
 * (32 of them) over the same plaintext. The values were computed once
 * with the Python "cryptography" package, version 48.
 */
#define EVP_KAT_PLAINTEXT "qstack crypto-evp known-answer test"
#define EVP_KAT_AAD       "qstack crypto-evp self-test"
#define EVP_KAT_OUT_MAX   64

const struct evp_cipher_info evp_ciphers[EVP_NCIPHERS] = {
	{ "aes-128-gcm", 1, 16, 12, 1,
	    "dbf54cda1de21369f801c574293fd51623ce4866ec605382"
	    "447e02ec27ffafdcffd03155cab02fb7ff8ac7f1700a5420"
	    "d3f99a" },
	{ "aes-192-gcm", 1, 24, 12, 1,
	    "4a11ca039a3838108c4ccfb580f0910fe437407cf24520f4"
	    "f3e2599c13c0984fee2db0dd4b8aeddd6f7b024b5a60cdf9"
	    "905fe7" },
	{ "aes-256-gcm", 1, 32, 12, 1,
	    "976b084c26a022dc101cf7a76857a5a8008c327efdc02c41"
	    "fd6055f11ad95575b70533b76777176937b8d8ec3862d51c"
	    "7daa62" },
	{ "chacha20-poly1305", 1, 32, 12, 1,
	    "7dd80c3e2e8de2ced276836093d7988ded7eb8d12c1d0e8e"
	    "d5b6a8c61410e37809f3623107f6b2d5db7c21be8f8dea35"
	    "6a4308" },
	{ "aes-128-cbc", 0, 16, 16, 16,
	    "bd470631fb531ec3315b49539dd03cfec6c8ce73a80a02a0"
	    "588d7e760ac24faa94feb2fe08701a80d16d27d75a2ea901" },
	{ "aes-256-cbc", 0, 32, 16, 16,
	    "7c1357cc0697d8b69b040f765982fab43aaa32800e513e44"
	    "35bcedac1e2f3bd44f0d0b3cb254c85cb24590469e7abffd" },
	{ "aes-256-ctr", 0, 32, 16, 1,
	    "adec759c15d35c6e7d3298f16426899691f1807f1336fb05"
	    "8de48bfd0242f3ebfc9890" },
	{ "bf-cbc", 0, 16, 8, 8,
	    "f9cea152a709c02a85de26fefaab3a40a44780160d99031d"
	    "ea13a0c379ff27beeacf14f44adad8b1" },
};

/*
 * PBKDF2 iteration counts: sha1, sha256 and sha512 follow the OWASP
 * Password Storage Cheat Sheet (2023). OWASP lists no count for sha384.
 * It uses the sha512 count because both share the SHA-512 compression
 * function and so cost the same per iteration.
 */
const struct evp_digest_info evp_digests[EVP_NDIGESTS] = {
	{ "sha1", 20, 1300000,
	    "6aa689e039aa404f1c8361c569b22954eefdbaa2" },
	{ "sha256", 32, 600000,
	    "586ed732861f5befba7174457543220dd57017829965b547"
	    "4d13f36938ffb39c" },
	{ "sha384", 48, 210000,
	    "13f9f4b5c882db197a3364d04752b05412ad2d187d731655"
	    "082292f581da3ba4742226a69a8379299cae80875fd2592d" },
	{ "sha512", 64, 210000,
	    "71cab7175411b53bd0b36fb2cb8b92d227e5e28d8c6cf090"
	    "9ff82ffb62a060bd53029eb532e05f94943a5a327b24c750"
	    "bfb834968cb35e9513887ff602eb43e1" },
};

int
evp_cipher_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < EVP_NCIPHERS; i++) {
		if (strlen(evp_ciphers[i].name) == len &&
		    memcmp(evp_ciphers[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

int
evp_digest_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < EVP_NDIGESTS; i++) {
		if (strlen(evp_digests[i].name) == len &&
		    memcmp(evp_digests[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

void
evp_supported_ciphers(char *buf, size_t cap)
{
	size_t used = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < EVP_NCIPHERS && used < cap; i++) {
		n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
		    evp_ciphers[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void
evp_supported_digests(char *buf, size_t cap)
{
	size_t used = 0;
	int i, n;

	buf[0] = '\0';
	for (i = 0; i < EVP_NDIGESTS && used < cap; i++) {
		n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
		    evp_digests[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/*
 * Copies at most 40 bytes of untrusted text for a message, replacing
 * bytes that are not printable ASCII with '?'.
 */
void
evp_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t i, n;

	if (cap == 0)
		return;
	n = len < 40 ? len : 40;
	if (n > cap - 1)
		n = cap - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = isprint(c) ? (char)c : '?';
	}
	dst[n] = '\0';
}

static size_t
hex_decode(uint8_t *dst, size_t cap, const char *hex)
{
	size_t n = 0;
	unsigned int byte;

	while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
		if (sscanf(hex, "%2x", &byte) != 1)
			break;
		dst[n++] = (uint8_t)byte;
		hex += 2;
	}
	return n;
}

static void
kat_pattern(uint8_t *dst, size_t len, uint8_t first)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (uint8_t)(first + i);
}

/* Runs the cipher over the KAT input in one direction. */
static int
kat_crypt(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher,
    const struct evp_cipher_info *info, int enc, const uint8_t *in,
    size_t in_len, uint8_t *tag, uint8_t *out, size_t *out_len)
{
	uint8_t key[EVP_KEY_MAX], iv[EVP_IV_MAX];
	int n = 0, m = 0, aad_len = 0;

	kat_pattern(key, info->key_len, 0x00);
	kat_pattern(iv, info->iv_len, 0xa0);
	if (!EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, NULL))
		return -1;
	if (info->aead && !enc && EVP_CIPHER_CTX_ctrl(ctx,
	    EVP_CTRL_AEAD_SET_TAG, EVP_TAG_LEN, tag) <= 0)
		return -1;
	if (info->aead && !EVP_CipherUpdate(ctx, NULL, &aad_len,
	    (const uint8_t *)EVP_KAT_AAD, (int)strlen(EVP_KAT_AAD)))
		return -1;
	if (!EVP_CipherUpdate(ctx, out, &n, in, (int)in_len))
		return -1;
	if (EVP_CipherFinal_ex(ctx, out + n, &m) <= 0)
		return -1;
	if (info->aead && enc && EVP_CIPHER_CTX_ctrl(ctx,
	    EVP_CTRL_AEAD_GET_TAG, EVP_TAG_LEN, tag) <= 0)
		return -1;
	*out_len = (size_t)n + (size_t)m;
	return 0;
}

static int
self_test_cipher(struct evp_instance *inst, char *err, size_t cap)
{
	const struct evp_cipher_info *info = &evp_ciphers[inst->cipher];
	const EVP_CIPHER *cipher = inst->ciphers[inst->cipher];
	const uint8_t *pt = (const uint8_t *)EVP_KAT_PLAINTEXT;
	size_t pt_len = strlen(EVP_KAT_PLAINTEXT);
	uint8_t expect[EVP_KAT_OUT_MAX], ct[EVP_KAT_OUT_MAX];
	uint8_t back[EVP_KAT_OUT_MAX], tag[EVP_TAG_LEN];
	size_t expect_len, ct_len, back_len, tag_len;
	EVP_CIPHER_CTX *ctx;
	const char *failure = NULL;

	expect_len = hex_decode(expect, sizeof(expect), info->kat_hex);
	tag_len = info->aead ? EVP_TAG_LEN : 0;
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		failure = "EVP_CIPHER_CTX_new failed";
	else if (kat_crypt(ctx, cipher, info, 1, pt, pt_len, tag, ct,
	    &ct_len) != 0)
		failure = "encryption failed";
	else if (ct_len + tag_len != expect_len ||
	    memcmp(ct, expect, ct_len) != 0 ||
	    memcmp(tag, expect + ct_len, tag_len) != 0)
		failure = "ciphertext differs from the known answer";
	else if (kat_crypt(ctx, cipher, info, 0, ct, ct_len, tag, back,
	    &back_len) != 0)
		failure = "decryption of the known answer failed";
	else if (back_len != pt_len || memcmp(back, pt, pt_len) != 0)
		failure = "decryption did not return the plaintext";
	else if (info->aead) {
		tag[0] ^= 0x01;
		if (kat_crypt(ctx, cipher, info, 0, ct, ct_len, tag, back,
		    &back_len) == 0)
			failure = "a modified tag was accepted";
	}
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (failure == NULL)
		return QS_OK;
	snprintf(err, cap, "crypto-evp: self-test of cipher %s failed: %s;"
	    " check the OpenSSL installation or choose another cipher",
	    info->name, failure);
	return QS_ERR_UNSUPPORTED;
}

static int
self_test_digest(struct evp_instance *inst, char *err, size_t cap)
{
	const struct evp_digest_info *info = &evp_digests[inst->digest];
	uint8_t key[32], expect[EVP_MAC_MAX], mac[EVP_MAC_MAX];
	size_t expect_len, mac_len = 0;

	kat_pattern(key, sizeof(key), 0x00);
	expect_len = hex_decode(expect, sizeof(expect), info->kat_hex);
	if (EVP_Q_mac(inst->libctx, "HMAC", NULL, info->name, NULL, key,
	    sizeof(key), (const uint8_t *)EVP_KAT_PLAINTEXT,
	    strlen(EVP_KAT_PLAINTEXT), mac, sizeof(mac), &mac_len) == NULL ||
	    mac_len != expect_len || memcmp(mac, expect, mac_len) != 0) {
		ERR_clear_error();
		snprintf(err, cap, "crypto-evp: self-test of HMAC-%s failed:"
		    " output differs from the known answer; check the OpenSSL"
		    " installation or choose another digest", info->name);
		return QS_ERR_UNSUPPORTED;
	}
	return QS_OK;
}

/* Runs the known-answer tests of the configured cipher and HMAC digest. */
int
evp_self_test(struct evp_instance *inst, char *err, size_t cap)
{
	int rc;

	rc = self_test_cipher(inst, err, cap);
	if (rc == QS_OK)
		rc = self_test_digest(inst, err, cap);
	return rc;
}
