/*
 * Tests of the crypto-evp module, opened alone with dlopen(3) and driven
 * through struct qs_transform_ops against the real OpenSSL. The worked
 * examples of docs/FORMAT.md ("Encryption layer: crypto-evp") are checked
 * byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlfcn.h>

#include <cmocka.h>

#include "helpers/modhost.h"

#define MIB		(1024 * 1024)
#define BIG_LEN		(5 * MIB)
#define CHUNK		65536
#define SMALL_LEN	20	/* plaintext of the tamper tests */
#define HDR_KEYID	10	/* offsets in the layer header */
#define HDR_SALT	18
#define HDR_NAMES	50
#define KEYID_LEN	8

/*
 * Allocation counting for the warm-stream test. The test program
 * replaces malloc, calloc and realloc, which the dlopen'ed module and
 * libcrypto then call too. AddressSanitizer replaces them itself, so
 * under it the counting test is skipped.
 */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define ALLOC_COUNTING 0
#else
#define ALLOC_COUNTING 1

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);

static size_t alloc_calls;

void *
malloc(size_t size)
{
	alloc_calls++;
	return __libc_malloc(size);
}

void *
calloc(size_t count, size_t size)
{
	alloc_calls++;
	return __libc_calloc(count, size);
}

void *
realloc(void *ptr, size_t size)
{
	alloc_calls++;
	return __libc_realloc(ptr, size);
}
#endif

/* Layout facts of one cipher, to predict blob sizes. */
struct cipher_case {
	const char *name;
	int aead;
	size_t iv_len;
	size_t block_len;
};

static const struct cipher_case ciphers[] = {
	{ "aes-128-gcm", 1, 0, 1 },
	{ "aes-192-gcm", 1, 0, 1 },
	{ "aes-256-gcm", 1, 0, 1 },
	{ "chacha20-poly1305", 1, 0, 1 },
	{ "aes-128-cbc", 0, 16, 16 },
	{ "aes-256-cbc", 0, 16, 16 },
	{ "aes-256-ctr", 0, 16, 1 },
	{ "bf-cbc", 0, 8, 8 },
};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

struct digest_case {
	const char *name;
	size_t size;
};

static const struct digest_case digests[] = {
	{ "sha1", 20 }, { "sha256", 32 }, { "sha384", 48 }, { "sha512", 64 },
};
#define NDIGESTS (sizeof(digests) / sizeof(digests[0]))

static const size_t round_trip_sizes[] = {
	0, 1, CHUNK - 1, CHUNK, CHUNK + 1, BIG_LEN,
};
#define NSIZES (sizeof(round_trip_sizes) / sizeof(round_trip_sizes[0]))

/* Module, keys and test data shared by all tests. */
struct env {
	struct modhost mh;
	const struct qs_transform_ops *ops;
	qs_entry_fn entry;
	uint8_t key_a[32];	/* 00 01 ... 1f, the key of the examples */
	uint8_t key_b[32];
	uint8_t queue_salt[32];	/* 40 41 ... 5f */
	uint8_t *big;		/* BIG_LEN fixed pseudo-random bytes */
};

static struct env env;

/* Loader header bytes of the examples. Any bytes serve. */
static const uint8_t loader_header[] = {
	0x51, 0x53, 0x4c, 0x44, 0x01, 0x00, 0x00, 0x00,
};
static const char blob_id[] = "5f2a9c01";
static const char passphrase[] = "correct horse battery staple";

/* Output of one stream run. */
struct result {
	int rc;
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t more;		/* QS_MORE returns from stream_final */
	char err[256];
};

static void *
xmalloc(size_t len)
{
	void *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	return p;
}

static void
fill_pattern(uint8_t *dst, size_t len, uint8_t first)
{
	size_t i;

	for (i = 0; i < len; i++)
		dst[i] = (uint8_t)(first + i);
}

/* xorshift64*: a fixed sequence, so that failures repeat. */
static void
fill_random(uint8_t *dst, size_t len, uint64_t seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed ^= seed >> 12;
		seed ^= seed << 25;
		seed ^= seed >> 27;
		dst[i] = (uint8_t)((seed * 0x2545f4914f6cdd1dULL) >> 56);
	}
}

static struct qs_key
raw_key(const uint8_t *bytes)
{
	struct qs_key key = {
		sizeof(struct qs_key), QS_KEY_RAW, bytes, 32,
	};

	return key;
}

static struct qs_key
pass_key(const char *text)
{
	struct qs_key key = {
		sizeof(struct qs_key), QS_KEY_PASSPHRASE,
		(const uint8_t *)text, strlen(text),
	};

	return key;
}

static struct qs_blob_info
identity(uint32_t kind, const char *id, const uint8_t *header,
    size_t header_len)
{
	struct qs_blob_info info = {
		sizeof(struct qs_blob_info), kind, id, header, header_len,
	};

	return info;
}

static struct qs_blob_info
default_identity(void)
{
	return identity(QS_BLOB_MESSAGE, blob_id, loader_header,
	    sizeof(loader_header));
}

static int
try_instance(const char *cipher, const char *digest,
    const struct qs_key *keys, size_t nkeys, void **inst, char *err,
    size_t cap)
{
	struct qs_param params[2];
	struct qs_instance_args args;
	size_t n = 0;

	if (cipher != NULL) {
		params[n].size = sizeof(struct qs_param);
		params[n].reserved = 0;
		params[n].name = "cipher";
		params[n++].value = cipher;
	}
	if (digest != NULL) {
		params[n].size = sizeof(struct qs_param);
		params[n].reserved = 0;
		params[n].name = "digest";
		params[n++].value = digest;
	}
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.params = params;
	args.nparams = n;
	args.keys = keys;
	args.nkeys = nkeys;
	args.queue_salt = env.queue_salt;
	args.queue_salt_len = sizeof(env.queue_salt);
	args.err = err;
	args.err_cap = cap;
	err[0] = '\0';
	*inst = NULL;
	return env.ops->instance_new(&args, inst);
}

static void *
make_instance(const char *cipher, const char *digest,
    const struct qs_key *keys, size_t nkeys)
{
	char err[512];
	void *inst;
	int rc;

	rc = try_instance(cipher, digest, keys, nkeys, &inst, err,
	    sizeof(err));
	if (rc != QS_OK)
		fprintf(stderr, "instance_new(%s, %s): %d: %s\n", cipher,
		    digest, rc, err);
	assert_int_equal(rc, QS_OK);
	assert_non_null(inst);
	return inst;
}

static void *
make_stream(void *inst, uint32_t direction)
{
	void *stream = NULL;

	assert_int_equal(env.ops->stream_new(inst, direction, &stream),
	    QS_OK);
	assert_non_null(stream);
	return stream;
}

static void
result_reserve(struct result *r, size_t len)
{
	if (r->len + len > r->cap) {
		r->cap = (r->len + len) * 2 + 1024;
		r->data = realloc(r->data, r->cap);
		assert_non_null(r->data);
	}
}

static void
result_append(struct result *r, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	result_reserve(r, len);
	memcpy(r->data + r->len, data, len);
	r->len += len;
}

static void
result_reset(struct result *r)
{
	free(r->data);
	memset(r, 0, sizeof(*r));
}

static void
result_error(struct result *r, void *stream)
{
	const char *msg = env.ops->stream_error(stream);

	snprintf(r->err, sizeof(r->err), "%s", msg != NULL ? msg : "");
}

/*
 * Runs one blob through stream, feeding in_step input bytes per update
 * with out_step bytes of output room, and checks the progress rule of
 * struct qs_transform_ops on every call.
 */
static void
run_blob(void *stream, const struct qs_blob_info *info, const uint8_t *in,
    size_t in_len, size_t in_step, size_t out_step, struct result *r)
{
	uint8_t *out = xmalloc(out_step);
	size_t pos = 0, n, used, out_len;

	result_reset(r);
	r->rc = env.ops->stream_begin(stream, info);
	while (r->rc == QS_OK && pos < in_len) {
		n = in_len - pos < in_step ? in_len - pos : in_step;
		used = out_len = 0;
		r->rc = env.ops->stream_update(stream, in + pos, n, &used, out,
		    out_step, &out_len);
		assert_true(used <= n);
		assert_true(out_len <= out_step);
		result_append(r, out, out_len);
		pos += used;
		if (r->rc == QS_OK)
			assert_true(used > 0 || out_len > 0);
	}
	while (r->rc == QS_OK) {
		out_len = 0;
		r->rc = env.ops->stream_final(stream, out, out_step, &out_len);
		assert_true(out_len <= out_step);
		result_append(r, out, out_len);
		if (r->rc != QS_MORE)
			break;
		assert_true(out_len > 0);
		r->more++;
		r->rc = QS_OK;
	}
	if (r->rc != QS_OK)
		result_error(r, stream);
	free(out);
}

static void
encrypt_with(void *inst, const struct qs_blob_info *info, const uint8_t *in,
    size_t len, struct result *ct)
{
	void *enc = make_stream(inst, QS_ENCODE);

	run_blob(enc, info, in, len, CHUNK, CHUNK, ct);
	if (ct->rc != QS_OK)
		fprintf(stderr, "encrypt: %s\n", ct->err);
	assert_int_equal(ct->rc, QS_OK);
	env.ops->stream_free(enc);
}

static void
decrypt_with(void *inst, const struct qs_blob_info *info, const uint8_t *in,
    size_t len, struct result *pt)
{
	void *dec = make_stream(inst, QS_DECODE);

	run_blob(dec, info, in, len, CHUNK, CHUNK, pt);
	env.ops->stream_free(dec);
}

/* Blob size for len plaintext bytes: header, then one frame per chunk. */
static size_t
expected_blob_len(const struct cipher_case *c, const struct digest_case *d,
    size_t len)
{
	size_t header = HDR_NAMES + 2 + strlen(c->name) + strlen(d->name);
	size_t chunks = len == 0 ? 1 : (len + CHUNK - 1) / CHUNK;
	size_t total = header, i, piece;

	for (i = 0; i < chunks; i++) {
		piece = len - i * CHUNK < CHUNK ? len - i * CHUNK : CHUNK;
		if (c->aead) {
			total += 4 + piece + 16;
		} else {
			if (c->block_len > 1)
				piece = (piece / c->block_len + 1) *
				    c->block_len;
			total += 4 + c->iv_len + piece + d->size;
		}
	}
	return total;
}

static void
check_round_trip(void *inst, const struct cipher_case *c,
    const struct digest_case *d, size_t len)
{
	struct qs_blob_info info = default_identity();
	struct result ct = { 0 }, pt = { 0 };

	encrypt_with(inst, &info, env.big, len, &ct);
	assert_int_equal(ct.len, expected_blob_len(c, d, len));
	decrypt_with(inst, &info, ct.data, ct.len, &pt);
	if (pt.rc != QS_OK)
		fprintf(stderr, "%s, %zu bytes: %s\n", c->name, len, pt.err);
	assert_int_equal(pt.rc, QS_OK);
	assert_int_equal(pt.len, len);
	assert_memory_equal(pt.data, env.big, len);
	result_reset(&ct);
	result_reset(&pt);
}

static void
cipher_round_trip_raw(void **state)
{
	struct qs_key key = raw_key(env.key_a);
	size_t i, j;
	void *inst;

	for (i = 0; i < NCIPHERS; i++) {
		inst = make_instance(ciphers[i].name, "sha256", &key, 1);
		for (j = 0; j < NSIZES; j++)
			check_round_trip(inst, &ciphers[i], &digests[1],
			    round_trip_sizes[j]);
		env.ops->instance_free(inst);
	}
}

static void
cipher_round_trip_passphrase(void **state)
{
	struct qs_key key = pass_key(passphrase);
	size_t i, j;
	void *inst;

	for (i = 0; i < NCIPHERS; i++) {
		inst = make_instance(ciphers[i].name, NULL, &key, 1);
		for (j = 0; j < NSIZES; j++)
			check_round_trip(inst, &ciphers[i], &digests[1],
			    round_trip_sizes[j]);
		env.ops->instance_free(inst);
	}
}

static void
digest_round_trip(void **state)
{
	static const size_t aead_and_cbc[] = { 2, 5 };
	struct qs_key key = raw_key(env.key_b);
	size_t i, j;
	void *inst;

	for (i = 0; i < NDIGESTS; i++) {
		for (j = 0; j < 2; j++) {
			const struct cipher_case *c = &ciphers[aead_and_cbc[j]];

			inst = make_instance(c->name, digests[i].name, &key, 1);
			check_round_trip(inst, c, &digests[i], 0);
			check_round_trip(inst, c, &digests[i], CHUNK + 1);
			env.ops->instance_free(inst);
		}
	}
}

static void
cbc_sha512_configuration(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key raw = raw_key(env.key_a), pass = pass_key(passphrase);
	struct result ct = { 0 };
	void *inst;

	inst = make_instance("aes-128-cbc", "sha512", &raw, 1);
	check_round_trip(inst, &ciphers[4], &digests[3], BIG_LEN);
	encrypt_with(inst, &info, env.big, 10, &ct);
	assert_int_equal(ct.data[HDR_NAMES], 11);
	assert_memory_equal(ct.data + HDR_NAMES + 1, "aes-128-cbc", 11);
	assert_int_equal(ct.data[HDR_NAMES + 12], 6);
	assert_memory_equal(ct.data + HDR_NAMES + 13, "sha512", 6);
	result_reset(&ct);
	env.ops->instance_free(inst);

	inst = make_instance("aes-128-cbc", "sha512", &pass, 1);
	check_round_trip(inst, &ciphers[4], &digests[3], CHUNK + 1);
	env.ops->instance_free(inst);
}

/* Encrypts and decrypts with many small and odd buffer sizes. */
static void
tiny_buffers(void **state)
{
	static const size_t pick[] = { 2, 3, 4, 6, 7 };
	static const size_t sizes[] = { 0, 1, 1000, CHUNK + 1 };
	static const size_t steps[][2] = {
		{ 1, 1 }, { 3, 7 }, { 7, 3 }, { CHUNK + 1, 1 },
		{ 1, 2 * CHUNK }, { 4097, 13 },
	};
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, j, k;
	void *inst, *enc, *dec;

	for (i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		inst = make_instance(ciphers[pick[i]].name, NULL, &key, 1);
		enc = make_stream(inst, QS_ENCODE);
		dec = make_stream(inst, QS_DECODE);
		for (j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
				size_t in_step = steps[k][0];
				size_t out_step = steps[k][1];

				run_blob(enc, &info, env.big, sizes[j], in_step,
				    out_step, &ct);
				assert_int_equal(ct.rc, QS_OK);
				assert_int_equal(ct.len, expected_blob_len(
				    &ciphers[pick[i]], &digests[1], sizes[j]));
				if (out_step == 1)
					assert_true(ct.more > 0);
				run_blob(dec, &info, ct.data, ct.len, out_step,
				    in_step, &pt);
				assert_int_equal(pt.rc, QS_OK);
				assert_int_equal(pt.len, sizes[j]);
				assert_memory_equal(pt.data, env.big, sizes[j]);
			}
		}
		result_reset(&ct);
		result_reset(&pt);
		env.ops->stream_free(enc);
		env.ops->stream_free(dec);
		env.ops->instance_free(inst);
	}
}

/* Whether rc is a status that a change at offset pos may cause. */
static int
flip_status_allowed(size_t pos, size_t header_len, int rc)
{
	if (pos < 5)		/* magic, version */
		return rc == QS_ERR_CORRUPT;
	if (pos == 5)		/* header length: names no longer fit */
		return rc == QS_ERR_CORRUPT || rc == QS_ERR_TRUNCATED;
	if (pos < HDR_KEYID)	/* chunk size */
		return rc == QS_ERR_CORRUPT || rc == QS_ERR_AUTH;
	if (pos < HDR_SALT)	/* a changed key id names an absent key */
		return rc == QS_ERR_NOKEY;
	if (pos < HDR_NAMES)
		return rc == QS_ERR_AUTH;
	if (pos < header_len)
		return rc == QS_ERR_CORRUPT;
	if (pos < header_len + 4) /* chunk word: flag and length */
		return rc == QS_ERR_AUTH || rc == QS_ERR_CORRUPT ||
		    rc == QS_ERR_TRUNCATED;
	return rc == QS_ERR_AUTH;
}

static void
every_byte_flip_fails(void **state)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, pos, m, header_len;
	uint8_t *bad;
	void *inst, *dec;

	for (i = 0; i < NCIPHERS; i++) {
		inst = make_instance(ciphers[i].name, NULL, &key, 1);
		dec = make_stream(inst, QS_DECODE);
		encrypt_with(inst, &info, env.big, SMALL_LEN, &ct);
		header_len = ct.data[5];
		bad = xmalloc(ct.len);
		for (pos = 0; pos < ct.len; pos++) {
			for (m = 0; m < sizeof(masks); m++) {
				memcpy(bad, ct.data, ct.len);
				bad[pos] ^= masks[m];
				run_blob(dec, &info, bad, ct.len, CHUNK, CHUNK,
				    &pt);
				if (!flip_status_allowed(pos, header_len,
				    pt.rc))
					fprintf(stderr, "%s: byte %zu ^ %02x:"
					    " status %d: %s\n",
					    ciphers[i].name, pos, masks[m],
					    pt.rc, pt.err);
				assert_true(flip_status_allowed(pos,
				    header_len, pt.rc));
				assert_int_equal(pt.len, 0);
			}
		}
		/* The same stream still reads the intact blob. */
		run_blob(dec, &info, ct.data, ct.len, CHUNK, CHUNK, &pt);
		assert_int_equal(pt.rc, QS_OK);
		assert_int_equal(pt.len, SMALL_LEN);
		free(bad);
		result_reset(&ct);
		result_reset(&pt);
		env.ops->stream_free(dec);
		env.ops->instance_free(inst);
	}
}

static void
truncation_every_length(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, len;
	void *inst, *dec;

	for (i = 0; i < NCIPHERS; i++) {
		inst = make_instance(ciphers[i].name, NULL, &key, 1);
		dec = make_stream(inst, QS_DECODE);
		encrypt_with(inst, &info, env.big, SMALL_LEN, &ct);
		for (len = 0; len < ct.len; len++) {
			run_blob(dec, &info, ct.data, len, 7, CHUNK, &pt);
			assert_int_equal(pt.rc, QS_ERR_TRUNCATED);
			assert_int_equal(pt.len, 0);
			assert_true(strlen(pt.err) > 0);
		}
		result_reset(&ct);
		result_reset(&pt);
		env.ops->stream_free(dec);
		env.ops->instance_free(inst);
	}
}

/*
 * Cuts a three-chunk blob around every frame boundary. The reader may
 * release the chunks before the cut, never a part of one.
 */
static void
truncation_between_chunks(void **state)
{
	static const size_t pick[] = { 2, 4 };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, k, len, frame, header_len, cuts[12], ncuts;
	void *inst, *dec;
	long delta;

	for (i = 0; i < 2; i++) {
		const struct cipher_case *c = &ciphers[pick[i]];

		inst = make_instance(c->name, NULL, &key, 1);
		dec = make_stream(inst, QS_DECODE);
		encrypt_with(inst, &info, env.big, 2 * CHUNK + 100, &ct);
		header_len = ct.data[5];
		frame = expected_blob_len(c, &digests[1], CHUNK) - header_len;
		ncuts = 0;
		for (k = 0; k < 3; k++) {
			for (delta = -1; delta <= 1; delta++)
				cuts[ncuts++] = header_len + k * frame +
				    (size_t)((long)4 + delta);
			cuts[ncuts++] = header_len + k * frame;
		}
		for (k = 0; k < ncuts; k++) {
			len = cuts[k];
			run_blob(dec, &info, ct.data, len, CHUNK, CHUNK, &pt);
			assert_int_equal(pt.rc, QS_ERR_TRUNCATED);
			assert_int_equal(pt.len % CHUNK, 0);
			assert_true(pt.len <= 2 * CHUNK);
			assert_memory_equal(pt.data, env.big, pt.len);
		}
		result_reset(&ct);
		result_reset(&pt);
		env.ops->stream_free(dec);
		env.ops->instance_free(inst);
	}
}

static void
trailing_bytes_fail(void **state)
{
	static const size_t pick[] = { 2, 4 };
	static const size_t sizes[] = { SMALL_LEN, CHUNK };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, j, extra;
	uint8_t *longer;
	void *inst;

	for (i = 0; i < 2; i++) {
		inst = make_instance(ciphers[pick[i]].name, NULL, &key, 1);
		for (j = 0; j < 2; j++) {
			encrypt_with(inst, &info, env.big, sizes[j], &ct);
			longer = xmalloc(2 * ct.len);
			memcpy(longer, ct.data, ct.len);
			memcpy(longer + ct.len, ct.data, ct.len);
			for (extra = 1; extra <= ct.len; extra *= 4) {
				decrypt_with(inst, &info, longer,
				    ct.len + extra, &pt);
				assert_int_equal(pt.rc, QS_ERR_CORRUPT);
				assert_non_null(strstr(pt.err, "follow"));
			}
			free(longer);
		}
		env.ops->instance_free(inst);
	}
	result_reset(&ct);
	result_reset(&pt);
}

static void
moved_blob_fails(void **state)
{
	static const size_t pick[] = { 2, 3, 4, 7 };
	static const uint8_t other_header[] = {
		0x51, 0x53, 0x4c, 0x44, 0x01, 0x00, 0x00, 0x01,
	};
	struct qs_blob_info info = default_identity();
	struct qs_blob_info moved[6];
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, j;
	void *inst;

	moved[0] = identity(QS_BLOB_MESSAGE, "5f2a9c02", loader_header,
	    sizeof(loader_header));
	moved[1] = identity(QS_BLOB_MESSAGE, "5f2a9c0", loader_header,
	    sizeof(loader_header));
	moved[2] = identity(QS_BLOB_ENVELOPE, blob_id, loader_header,
	    sizeof(loader_header));
	moved[3] = identity(QS_BLOB_MESSAGE, blob_id, other_header,
	    sizeof(other_header));
	moved[4] = identity(QS_BLOB_MESSAGE, blob_id, loader_header,
	    sizeof(loader_header) - 1);
	moved[5] = identity(QS_BLOB_MESSAGE, blob_id, NULL, 0);
	for (i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		inst = make_instance(ciphers[pick[i]].name, NULL, &key, 1);
		encrypt_with(inst, &info, env.big, SMALL_LEN, &ct);
		decrypt_with(inst, &info, ct.data, ct.len, &pt);
		assert_int_equal(pt.rc, QS_OK);
		for (j = 0; j < sizeof(moved) / sizeof(moved[0]); j++) {
			decrypt_with(inst, &moved[j], ct.data, ct.len, &pt);
			assert_int_equal(pt.rc, QS_ERR_AUTH);
			assert_int_equal(pt.len, 0);
			assert_non_null(strstr(pt.err, "authentication"));
		}
		env.ops->instance_free(inst);
	}
	result_reset(&ct);
	result_reset(&pt);
}

/*
 * Reorders, drops and repeats whole frames of a three-chunk blob. Only
 * the chunks before the first misplaced frame may come out.
 */
static void
chunk_reorder_fails(void **state)
{
	static const size_t pick[] = { 2, 4, 6 };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, frame, hl, len = 2 * CHUNK + 100;
	uint8_t *bad;
	void *inst;

	for (i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		const struct cipher_case *c = &ciphers[pick[i]];

		inst = make_instance(c->name, NULL, &key, 1);
		encrypt_with(inst, &info, env.big, len, &ct);
		hl = ct.data[5];
		frame = expected_blob_len(c, &digests[1], CHUNK) - hl;
		bad = xmalloc(ct.len + frame);

		/* Chunks 0 and 1 swapped. */
		memcpy(bad, ct.data, ct.len);
		memcpy(bad + hl, ct.data + hl + frame, frame);
		memcpy(bad + hl + frame, ct.data + hl, frame);
		decrypt_with(inst, &info, bad, ct.len, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, 0);

		/* Chunk 1 dropped. */
		memcpy(bad, ct.data, hl + frame);
		memcpy(bad + hl + frame, ct.data + hl + 2 * frame,
		    ct.len - hl - 2 * frame);
		decrypt_with(inst, &info, bad, ct.len - frame, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, CHUNK);
		assert_memory_equal(pt.data, env.big, CHUNK);

		/* Chunk 0 repeated. */
		memcpy(bad, ct.data, hl + frame);
		memcpy(bad + hl + frame, ct.data + hl, ct.len - hl);
		decrypt_with(inst, &info, bad, ct.len + frame, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, CHUNK);

		/* The final chunk's frame flipped to "not final". */
		memcpy(bad, ct.data, ct.len);
		bad[hl + 2 * frame] &= 0x7f;
		decrypt_with(inst, &info, bad, ct.len, &pt);
		assert_int_equal(pt.rc, QS_ERR_CORRUPT);
		assert_int_equal(pt.len, 2 * CHUNK);

		free(bad);
		env.ops->instance_free(inst);
	}
	result_reset(&ct);
	result_reset(&pt);
}

/* A bad tag in chunk 1 releases chunk 0 and nothing of chunk 1. */
static void
plaintext_waits_for_tag(void **state)
{
	static const size_t pick[] = { 3, 5 };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, hl, frame;
	void *inst;

	for (i = 0; i < 2; i++) {
		const struct cipher_case *c = &ciphers[pick[i]];

		inst = make_instance(c->name, NULL, &key, 1);
		encrypt_with(inst, &info, env.big, 2 * CHUNK, &ct);
		hl = ct.data[5];
		frame = expected_blob_len(c, &digests[1], CHUNK) - hl;
		assert_int_equal(ct.len, hl + 2 * frame);
		ct.data[ct.len - 1] ^= 0x01;
		decrypt_with(inst, &info, ct.data, ct.len, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, CHUNK);
		assert_memory_equal(pt.data, env.big, CHUNK);
		ct.data[hl + frame - 1] ^= 0x01;
		decrypt_with(inst, &info, ct.data, ct.len, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, 0);
		env.ops->instance_free(inst);
	}
	result_reset(&ct);
	result_reset(&pt);
}

static void
key_id_of(void *inst, const uint8_t *blob, size_t len, char *hex)
{
	assert_non_null(env.ops->key_id);
	assert_int_equal(env.ops->key_id(inst, blob, len, hex, 17), QS_OK);
	assert_int_equal(strlen(hex), 16);
}

static void
key_rotation(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key only_a = raw_key(env.key_a);
	struct qs_key b_then_a[2] = { raw_key(env.key_b), raw_key(env.key_a) };
	struct result ct = { 0 }, pt = { 0 }, ct_b = { 0 };
	char id_a[17], id_b[17];
	void *inst_a, *inst_ba, *inst_b;

	inst_a = make_instance(NULL, NULL, &only_a, 1);
	inst_ba = make_instance(NULL, NULL, b_then_a, 2);
	inst_b = make_instance(NULL, NULL, b_then_a, 1);
	encrypt_with(inst_a, &info, env.big, CHUNK + 1, &ct);
	key_id_of(inst_a, ct.data, ct.len, id_a);
	/* HMAC-SHA256(00 01 ... 1f, "qstack crypto-evp v1 key id") */
	assert_string_equal(id_a, "79db9940d7cac7eb");

	decrypt_with(inst_ba, &info, ct.data, ct.len, &pt);
	assert_int_equal(pt.rc, QS_OK);
	assert_int_equal(pt.len, CHUNK + 1);
	assert_memory_equal(pt.data, env.big, CHUNK + 1);

	decrypt_with(inst_b, &info, ct.data, ct.len, &pt);
	assert_int_equal(pt.rc, QS_ERR_NOKEY);
	assert_int_equal(pt.len, 0);
	assert_non_null(strstr(pt.err, id_a));

	/* New blobs use the first key. */
	encrypt_with(inst_ba, &info, env.big, 10, &ct_b);
	key_id_of(inst_ba, ct_b.data, ct_b.len, id_b);
	assert_string_not_equal(id_a, id_b);
	decrypt_with(inst_b, &info, ct_b.data, ct_b.len, &pt);
	assert_int_equal(pt.rc, QS_OK);
	decrypt_with(inst_a, &info, ct_b.data, ct_b.len, &pt);
	assert_int_equal(pt.rc, QS_ERR_NOKEY);
	assert_non_null(strstr(pt.err, id_b));

	env.ops->instance_free(inst_a);
	env.ops->instance_free(inst_ba);
	env.ops->instance_free(inst_b);
	result_reset(&ct);
	result_reset(&ct_b);
	result_reset(&pt);
}

static void
check_rejected(const char *cipher, const char *digest, const char *value,
    const char *listed)
{
	struct qs_key key = raw_key(env.key_a);
	char err[512];
	void *inst;

	assert_int_equal(try_instance(cipher, digest, &key, 1, &inst, err,
	    sizeof(err)), QS_ERR_UNSUPPORTED);
	assert_null(inst);
	assert_non_null(strstr(err, value));
	assert_non_null(strstr(err, listed));
	assert_null(strchr(err, '\n'));
}

static void
unknown_cipher_and_digest(void **state)
{
	struct qs_key key = raw_key(env.key_a);
	char err[512];
	void *inst;

	check_rejected("aes-256-xts", NULL, "'aes-256-xts'", "bf-cbc");
	check_rejected("des-ede3-cbc", NULL, "'des-ede3-cbc'", "aes-256-gcm");
	check_rejected("rot13", NULL, "'rot13'", "chacha20-poly1305");
	check_rejected("", NULL, "''", "aes-128-cbc");
	check_rejected(NULL, "md5", "'md5'", "sha256");
	check_rejected(NULL, "sha3-256", "'sha3-256'", "sha512");
	check_rejected(NULL, "whirlpool", "'whirlpool'", "sha1");

	/* Names are matched without regard to case. */
	inst = make_instance("AES-256-GCM", "SHA256", &key, 1);
	env.ops->instance_free(inst);

	/* Bad keys. */
	key.len = 16;
	assert_int_equal(try_instance(NULL, NULL, &key, 1, &inst, err,
	    sizeof(err)), QS_ERR_INVALID);
	assert_non_null(strstr(err, "32 bytes"));
	key = pass_key("");
	assert_int_equal(try_instance(NULL, NULL, &key, 1, &inst, err,
	    sizeof(err)), QS_ERR_INVALID);
	assert_non_null(strstr(err, "empty passphrase"));
}

static void
key_id_slot(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 };
	char hex[17], small[16];
	uint8_t bad[32];
	size_t len;
	void *inst;

	inst = make_instance("chacha20-poly1305", "sha384", &key, 1);
	encrypt_with(inst, &info, env.big, 100, &ct);
	key_id_of(inst, ct.data, ct.len, hex);
	for (len = 0; len < HDR_SALT; len++)
		assert_int_equal(env.ops->key_id(inst, ct.data, len, hex,
		    sizeof(hex)), QS_ERR_TRUNCATED);
	assert_int_equal(env.ops->key_id(inst, ct.data, HDR_SALT, hex,
	    sizeof(hex)), QS_OK);
	assert_int_equal(env.ops->key_id(inst, ct.data, HDR_SALT, small,
	    sizeof(small)), QS_ERR_INVALID);

	memcpy(bad, ct.data, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(env.ops->key_id(inst, bad, sizeof(bad), hex,
	    sizeof(hex)), QS_ERR_CORRUPT);
	assert_int_equal(env.ops->key_id(inst, bad, 1, hex, sizeof(hex)),
	    QS_ERR_CORRUPT);
	memcpy(bad, ct.data, sizeof(bad));
	bad[4] = 2;
	assert_int_equal(env.ops->key_id(inst, bad, sizeof(bad), hex,
	    sizeof(hex)), QS_ERR_CORRUPT);

	/* The id is the header's key id bytes in hex. */
	memcpy(bad, ct.data, sizeof(bad));
	fill_pattern(bad + HDR_KEYID, KEYID_LEN, 0xa0);
	assert_int_equal(env.ops->key_id(inst, bad, sizeof(bad), hex,
	    sizeof(hex)), QS_OK);
	assert_string_equal(hex, "a0a1a2a3a4a5a6a7");
	result_reset(&ct);
	env.ops->instance_free(inst);
}

/*
 * Random bytes for the module, replayed from a fixed list so that it
 * writes the worked examples of the format documentation exactly.
 */
static const uint8_t *fixed_random_data[2];
static size_t fixed_random_len[2];
static size_t fixed_random_calls;

static int
fixed_random(void *buf, size_t len)
{
	size_t i = fixed_random_calls++;

	if (i >= 2 || fixed_random_len[i] != len)
		return QS_ERR_IO;
	memcpy(buf, fixed_random_data[i], len);
	return QS_OK;
}

static const struct qs_host fixed_host = {
	.size = sizeof(struct qs_host),
	.abi_version = QS_ABI_VERSION,
	.log = NULL,
	.random = fixed_random,
};

/* Worked example 1: aes-256-gcm, sha256, key 00..1f, salt 20..3f. */
static const uint8_t example_gcm[] = {
	0x51, 0x45, 0x56, 0x50, 0x01, 0x45, 0x00, 0x01, 0x00, 0x00, 0x79,
	0xdb, 0x99, 0x40, 0xd7, 0xca, 0xc7, 0xeb, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
	0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0b, 0x61, 0x65, 0x73, 0x2d,
	0x32, 0x35, 0x36, 0x2d, 0x67, 0x63, 0x6d, 0x06, 0x73, 0x68, 0x61,
	0x32, 0x35, 0x36, 0x80, 0x00, 0x00, 0x0d, 0xbd, 0xf6, 0x36, 0x02,
	0x1a, 0x19, 0x18, 0x49, 0xbc, 0xfa, 0xfd, 0xa7, 0x05, 0x95, 0x25,
	0xf6, 0x48, 0x69, 0xb2, 0xb7, 0x04, 0xae, 0xc8, 0xb3, 0xfa, 0xa3,
	0x22, 0x6b, 0xdb,
};

/* Worked example 2: aes-128-cbc, sha512, same key and salt, IV 60..6f. */
static const uint8_t example_cbc[] = {
	0x51, 0x45, 0x56, 0x50, 0x01, 0x45, 0x00, 0x01, 0x00, 0x00, 0x93,
	0xde, 0x0d, 0x91, 0x5d, 0xa4, 0x38, 0x31, 0x20, 0x21, 0x22, 0x23,
	0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e,
	0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0b, 0x61, 0x65, 0x73, 0x2d,
	0x31, 0x32, 0x38, 0x2d, 0x63, 0x62, 0x63, 0x06, 0x73, 0x68, 0x61,
	0x35, 0x31, 0x32, 0x80, 0x00, 0x00, 0x0d, 0x60, 0x61, 0x62, 0x63,
	0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e,
	0x6f, 0xa6, 0x66, 0xe0, 0xc0, 0x4c, 0xaa, 0x02, 0xa7, 0x2f, 0x08,
	0x0c, 0x7b, 0x0d, 0x41, 0x52, 0xf2, 0x51, 0xae, 0x91, 0x2b, 0xa7,
	0x72, 0x5d, 0xfb, 0x34, 0x79, 0x83, 0x4d, 0xaa, 0xa5, 0x5d, 0x5d,
	0xc5, 0x54, 0xc6, 0x6b, 0x6b, 0xec, 0x63, 0x1e, 0x62, 0x9c, 0x22,
	0x35, 0x05, 0xcc, 0xaf, 0x5a, 0xf7, 0x2b, 0x41, 0x31, 0x4e, 0x8e,
	0x52, 0x79, 0xfe, 0xc1, 0x5b, 0xcc, 0x56, 0x75, 0xbf, 0xc4, 0x4b,
	0x6f, 0x6c, 0x18, 0x2c, 0x87, 0xac, 0xed, 0xa4, 0x0a, 0x31, 0x9d,
	0xd6, 0x0c, 0x8f, 0x5a,
};

static const char example_plaintext[] = "hello, queue\n";

static void
check_example(const char *cipher, const char *digest, const uint8_t *blob,
    size_t blob_len)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	size_t pt_len = strlen(example_plaintext);
	struct result ct = { 0 }, pt = { 0 };
	uint8_t salt[32], iv[16];
	void *inst;

	inst = make_instance(cipher, digest, &key, 1);
	decrypt_with(inst, &info, blob, blob_len, &pt);
	assert_int_equal(pt.rc, QS_OK);
	assert_int_equal(pt.len, pt_len);
	assert_memory_equal(pt.data, example_plaintext, pt_len);

	fill_pattern(salt, sizeof(salt), 0x20);
	fill_pattern(iv, sizeof(iv), 0x60);
	fixed_random_data[0] = salt;
	fixed_random_len[0] = sizeof(salt);
	fixed_random_data[1] = iv;
	fixed_random_len[1] = sizeof(iv);
	fixed_random_calls = 0;
	assert_non_null(env.entry(QS_ABI_VERSION, &fixed_host));
	encrypt_with(inst, &info, (const uint8_t *)example_plaintext, pt_len,
	    &ct);
	assert_non_null(env.entry(QS_ABI_VERSION, &modhost_services));
	assert_int_equal(ct.len, blob_len);
	assert_memory_equal(ct.data, blob, blob_len);
	result_reset(&ct);
	result_reset(&pt);
	env.ops->instance_free(inst);
}

static void
worked_examples(void **state)
{
	check_example("aes-256-gcm", "sha256", example_gcm,
	    sizeof(example_gcm));
	check_example("aes-128-cbc", "sha512", example_cbc,
	    sizeof(example_cbc));
}

/*
 * Key id of a passphrase: PBKDF2-HMAC-SHA256 with 600000 iterations over
 * the queue salt 40..5f, then HMAC-SHA256 of the key id label.
 */
static void
passphrase_key_id(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = pass_key(passphrase);
	struct result ct = { 0 };
	char hex[17];
	void *inst;

	inst = make_instance(NULL, NULL, &key, 1);
	encrypt_with(inst, &info, env.big, 1, &ct);
	key_id_of(inst, ct.data, ct.len, hex);
	assert_string_equal(hex, "f8694f28ff394db2");
	result_reset(&ct);
	env.ops->instance_free(inst);
}

static void
no_keys_configured(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	void *with_key, *without, *enc, *dec;

	with_key = make_instance(NULL, NULL, &key, 1);
	without = make_instance(NULL, NULL, NULL, 0);
	enc = make_stream(without, QS_ENCODE);
	run_blob(enc, &info, env.big, 10, CHUNK, CHUNK, &ct);
	assert_int_equal(ct.rc, QS_ERR_NOKEY);
	assert_int_equal(ct.len, 0);
	assert_non_null(strstr(ct.err, "no key"));

	encrypt_with(with_key, &info, env.big, 10, &ct);
	dec = make_stream(without, QS_DECODE);
	run_blob(dec, &info, ct.data, ct.len, CHUNK, CHUNK, &pt);
	assert_int_equal(pt.rc, QS_ERR_NOKEY);
	assert_non_null(strstr(pt.err, "79db9940d7cac7eb"));

	env.ops->stream_free(enc);
	env.ops->stream_free(dec);
	env.ops->instance_free(with_key);
	env.ops->instance_free(without);
	result_reset(&ct);
	result_reset(&pt);
}

/* Readers take cipher and digest from the blob, not from options. */
static void
options_change_keeps_old_blobs(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key raw = raw_key(env.key_a), pass = pass_key(passphrase);
	struct result ct = { 0 }, pt = { 0 };
	void *writer, *reader, *dec;

	writer = make_instance("bf-cbc", "sha1", &raw, 1);
	reader = make_instance("aes-256-gcm", "sha256", &raw, 1);
	encrypt_with(writer, &info, env.big, CHUNK + 7, &ct);
	dec = make_stream(reader, QS_DECODE);
	run_blob(dec, &info, ct.data, ct.len, 1000, 999, &pt);
	assert_int_equal(pt.rc, QS_OK);
	assert_int_equal(pt.len, CHUNK + 7);
	assert_memory_equal(pt.data, env.big, CHUNK + 7);
	env.ops->stream_free(dec);
	env.ops->instance_free(writer);
	env.ops->instance_free(reader);

	/* A passphrase is stretched again with the blob's digest. */
	writer = make_instance("aes-256-ctr", "sha512", &pass, 1);
	reader = make_instance("aes-128-gcm", "sha256", &pass, 1);
	encrypt_with(writer, &info, env.big, 100, &ct);
	decrypt_with(reader, &info, ct.data, ct.len, &pt);
	assert_int_equal(pt.rc, QS_OK);
	assert_int_equal(pt.len, 100);
	assert_memory_equal(pt.data, env.big, 100);
	env.ops->instance_free(writer);
	env.ops->instance_free(reader);
	result_reset(&ct);
	result_reset(&pt);
}

/* A header edited to another valid chunk size fails authentication. */
static void
header_edit_fails(void **state)
{
	static const uint32_t sizes[] = { 32768, SMALL_LEN, 65535 };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i;
	void *inst;

	inst = make_instance("aes-256-cbc", NULL, &key, 1);
	encrypt_with(inst, &info, env.big, SMALL_LEN, &ct);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ct.data[6] = (uint8_t)(sizes[i] >> 24);
		ct.data[7] = (uint8_t)(sizes[i] >> 16);
		ct.data[8] = (uint8_t)(sizes[i] >> 8);
		ct.data[9] = (uint8_t)sizes[i];
		decrypt_with(inst, &info, ct.data, ct.len, &pt);
		assert_int_equal(pt.rc, QS_ERR_AUTH);
		assert_int_equal(pt.len, 0);
	}
	/* A chunk size below the final chunk's length is malformed. */
	ct.data[6] = 0;
	ct.data[7] = 0;
	ct.data[8] = 0;
	ct.data[9] = SMALL_LEN - 1;
	decrypt_with(inst, &info, ct.data, ct.len, &pt);
	assert_int_equal(pt.rc, QS_ERR_CORRUPT);
	env.ops->instance_free(inst);
	result_reset(&ct);
	result_reset(&pt);
}

/*
 * Blowfish comes from the legacy provider, loaded into the module's own
 * library context. The process's default context must stay without it
 * (Debian 12's openssl.cnf does not activate it there).
 */
static void
default_context_untouched(void **state)
{
	struct qs_key key = raw_key(env.key_a);
	int (*available)(void *, const char *);
	void *(*fetch)(void *, const char *, const char *);
	void *lib, *inst;

	inst = make_instance("bf-cbc", NULL, &key, 1);
	check_round_trip(inst, &ciphers[7], &digests[1], CHUNK + 1);
	lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
	assert_non_null(lib);
	*(void **)&available = dlsym(lib, "OSSL_PROVIDER_available");
	*(void **)&fetch = dlsym(lib, "EVP_CIPHER_fetch");
	assert_non_null(available);
	assert_non_null(fetch);
	assert_int_equal(available(NULL, "legacy"), 0);
	assert_null(fetch(NULL, "bf-cbc", NULL));
	dlclose(lib);
	env.ops->instance_free(inst);
}

/* Bad headers fail as soon as their first six bytes are in. */
static void
bad_header_prefix(void **state)
{
	static const uint8_t bad_magic[] = { 'Q', 'E', 'V', 'Q', 1, 70 };
	static const uint8_t bad_version[] = { 'Q', 'E', 'V', 'P', 2, 70 };
	static const uint8_t short_header[] = { 'Q', 'E', 'V', 'P', 1, 53 };
	static const uint8_t *const prefixes[] = {
		bad_magic, bad_version, short_header,
	};
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	size_t i, used, out_len;
	uint8_t out[16];
	void *inst, *dec;

	inst = make_instance(NULL, NULL, &key, 1);
	dec = make_stream(inst, QS_DECODE);
	for (i = 0; i < 3; i++) {
		assert_int_equal(env.ops->stream_begin(dec, &info), QS_OK);
		assert_int_equal(env.ops->stream_update(dec, prefixes[i], 6,
		    &used, out, sizeof(out), &out_len), QS_ERR_CORRUPT);
		assert_int_equal(out_len, 0);
		assert_non_null(env.ops->stream_error(dec));
	}
	env.ops->stream_free(dec);
	env.ops->instance_free(inst);
}

/* Streams serve blob after blob, also after a failed one. */
static void
stream_reuse(void **state)
{
	static const size_t sizes[] = { 3 * CHUNK, 0, 17, CHUNK, 5 };
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	uint8_t junk[100];
	size_t i;
	void *inst, *enc, *dec;

	inst = make_instance("aes-192-gcm", NULL, &key, 1);
	enc = make_stream(inst, QS_ENCODE);
	dec = make_stream(inst, QS_DECODE);
	fill_random(junk, sizeof(junk), 99);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		run_blob(dec, &info, junk, sizeof(junk), CHUNK, CHUNK, &pt);
		assert_int_equal(pt.rc, QS_ERR_CORRUPT);
		run_blob(enc, &info, env.big + i, sizes[i], 5000, 3000, &ct);
		assert_int_equal(ct.rc, QS_OK);
		run_blob(dec, &info, ct.data, ct.len, 3000, 5000, &pt);
		assert_int_equal(pt.rc, QS_OK);
		assert_null(env.ops->stream_error(dec));
		assert_int_equal(pt.len, sizes[i]);
		assert_memory_equal(pt.data, env.big + i, sizes[i]);
	}
	env.ops->stream_free(enc);
	env.ops->stream_free(dec);
	env.ops->instance_free(inst);
	result_reset(&ct);
	result_reset(&pt);
}

static void
call_order_errors(void **state)
{
	struct qs_blob_info info = default_identity();
	struct qs_key key = raw_key(env.key_a);
	uint8_t out[256];
	size_t used, out_len;
	void *inst, *enc;

	inst = make_instance(NULL, NULL, &key, 1);
	enc = make_stream(inst, QS_ENCODE);
	assert_int_equal(env.ops->stream_update(enc, env.big, 10, &used, out,
	    sizeof(out), &out_len), QS_ERR_INVALID);
	assert_int_equal(env.ops->stream_begin(enc, &info), QS_OK);
	assert_int_equal(env.ops->stream_final(enc, out, sizeof(out),
	    &out_len), QS_OK);
	assert_true(out_len > 0);
	assert_int_equal(env.ops->stream_update(enc, env.big, 10, &used, out,
	    sizeof(out), &out_len), QS_ERR_INVALID);
	assert_int_equal(used, 0);
	env.ops->stream_free(enc);
	assert_int_equal(env.ops->stream_new(inst, 3, &enc), QS_ERR_INVALID);
	env.ops->instance_free(inst);
}

#if ALLOC_COUNTING
static size_t
count_blob_allocs(void *stream, const uint8_t *in, size_t in_len,
    struct result *r)
{
	struct qs_blob_info info = default_identity();
	size_t before, pos = 0, used, out_len, total = 0;
	int rc;

	/* Grow the result buffer first, so that only the module counts. */
	r->len = 0;
	result_reserve(r, in_len + 4 * CHUNK);
	before = alloc_calls;
	assert_int_equal(env.ops->stream_begin(stream, &info), QS_OK);
	while (pos < in_len) {
		rc = env.ops->stream_update(stream, in + pos, in_len - pos,
		    &used, r->data + total, CHUNK, &out_len);
		assert_int_equal(rc, QS_OK);
		pos += used;
		total += out_len;
	}
	do {
		rc = env.ops->stream_final(stream, r->data + total, CHUNK,
		    &out_len);
		total += out_len;
	} while (rc == QS_MORE);
	assert_int_equal(rc, QS_OK);
	r->len = total;
	return alloc_calls - before;
}
#endif

/*
 * Counts the allocations of warm streams per blob. The module allocates
 * nothing after stream_new, but OpenSSL 3.0 does inside EVP_KDF HKDF
 * (once per blob) and inside HMAC, which copies its digest contexts on
 * every init and final (per chunk for CBC and CTR). GCM and
 * ChaCha20-Poly1305 chunks allocate nothing, so for them the count must
 * not grow with the blob size.
 */
static void
warm_stream_allocations(void **state)
{
#if ALLOC_COUNTING
	static const size_t pick[] = { 2, 3, 4, 6 };
	struct qs_key key = raw_key(env.key_a);
	struct result ct = { 0 }, pt = { 0 };
	size_t i, small_enc, small_dec, big_enc, big_dec;
	size_t chunks = BIG_LEN / CHUNK;
	void *inst, *enc, *dec;

	for (i = 0; i < sizeof(pick) / sizeof(pick[0]); i++) {
		const struct cipher_case *c = &ciphers[pick[i]];

		inst = make_instance(c->name, NULL, &key, 1);
		enc = make_stream(inst, QS_ENCODE);
		dec = make_stream(inst, QS_DECODE);
		count_blob_allocs(enc, env.big, 100, &ct);
		count_blob_allocs(dec, ct.data, ct.len, &pt);

		small_enc = count_blob_allocs(enc, env.big, 100, &ct);
		small_dec = count_blob_allocs(dec, ct.data, ct.len, &pt);
		big_enc = count_blob_allocs(enc, env.big, BIG_LEN, &ct);
		big_dec = count_blob_allocs(dec, ct.data, ct.len, &pt);
		assert_int_equal(pt.len, BIG_LEN);
		assert_memory_equal(pt.data, env.big, BIG_LEN);
		if (c->aead) {
			assert_int_equal(big_enc, small_enc);
			assert_int_equal(big_dec, small_dec);
		} else {
			assert_true(big_enc <= small_enc + 2 * chunks);
			assert_true(big_dec <= small_dec + 2 * chunks);
		}
		assert_true(small_enc <= 40);
		assert_true(small_dec <= 40);
		env.ops->stream_free(enc);
		env.ops->stream_free(dec);
		env.ops->instance_free(inst);
	}
	result_reset(&ct);
	result_reset(&pt);
#else
	skip();
#endif
}

static int
setup(void **state)
{
	if (modhost_open(&env.mh, "crypto-evp") != 0)
		return -1;
	if (env.mh.module->kind != QS_KIND_CRYPTO ||
	    strcmp(env.mh.module->name, "evp") != 0 ||
	    env.mh.module->format_version != 1)
		return -1;
	env.ops = env.mh.module->ops;
	*(void **)&env.entry = dlsym(env.mh.handle, QS_ENTRY_SYMBOL);
	fill_pattern(env.key_a, sizeof(env.key_a), 0x00);
	fill_random(env.key_b, sizeof(env.key_b), 7);
	fill_pattern(env.queue_salt, sizeof(env.queue_salt), 0x40);
	env.big = malloc(BIG_LEN);
	if (env.big == NULL || env.entry == NULL)
		return -1;
	fill_random(env.big, BIG_LEN, 12345);
	return 0;
}

static int
teardown(void **state)
{
	free(env.big);
	modhost_close(&env.mh);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(worked_examples),
		cmocka_unit_test(cipher_round_trip_raw),
		cmocka_unit_test(cipher_round_trip_passphrase),
		cmocka_unit_test(digest_round_trip),
		cmocka_unit_test(cbc_sha512_configuration),
		cmocka_unit_test(tiny_buffers),
		cmocka_unit_test(every_byte_flip_fails),
		cmocka_unit_test(truncation_every_length),
		cmocka_unit_test(truncation_between_chunks),
		cmocka_unit_test(trailing_bytes_fail),
		cmocka_unit_test(moved_blob_fails),
		cmocka_unit_test(chunk_reorder_fails),
		cmocka_unit_test(plaintext_waits_for_tag),
		cmocka_unit_test(key_rotation),
		cmocka_unit_test(unknown_cipher_and_digest),
		cmocka_unit_test(key_id_slot),
		cmocka_unit_test(passphrase_key_id),
		cmocka_unit_test(no_keys_configured),
		cmocka_unit_test(options_change_keeps_old_blobs),
		cmocka_unit_test(header_edit_fails),
		cmocka_unit_test(default_context_untouched),
		cmocka_unit_test(bad_header_prefix),
		cmocka_unit_test(stream_reuse),
		cmocka_unit_test(call_order_errors),
		cmocka_unit_test(warm_stream_allocations),
	};

	return cmocka_run_group_tests_name("crypto-evp module", tests, setup,
	    teardown);
}
