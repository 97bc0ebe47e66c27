/*
 * Tests of the compress-zlib and compress-lz4 modules, each opened alone
 * with dlopen(3) and driven through struct qs_transform_ops against the
 * real zlib and liblz4. Every test runs once per module.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "helpers/modhost.h"

#define MIB		(1024 * 1024)
#define BIG_LEN		(5 * MIB)
#define SMALL_CAP	(2 * MIB)	/* output room for decoding bad input */

/*
 * Allocation counting for the warm-stream test. The test program
 * replaces malloc, calloc and realloc, which the dlopen'ed module, zlib
 * and liblz4 then call too. AddressSanitizer replaces them itself, so
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

/* A crafted input that the decoder must reject, and its error text. */
struct bad_input {
	const char *description;
	const uint8_t *bytes;
	size_t len;
	const char *error_part;	/* expected within stream_error() */
};

/* What the tests need to know about one module. */
struct module_case {
	const char *file;	/* plugin file name without ".so" */
	const char *name;
	int level_max;
	int level_default;
	const char *range_text;	/* valid range as the error states it */
	int stores_at_zero;	/* level 0 writes the input uncompressed */
	int same_below;		/* levels below this one write equal output */
	const char *checksum_error;	/* stream_error() on a bad checksum */
	const char *copied_error;	/* stream_error() on changed data */
	size_t encode_allocs;	/* allowed allocations per warm blob */
	int padding_unchecked;	/* deflate padding bits are not checked */
	const struct bad_input *bad;	/* ends with a NULL description */
};

/* Streams shared by the tests of one module. */
struct codec {
	const struct module_case *mc;
	struct modhost mh;
	const struct qs_transform_ops *ops;
	void *enc_inst;		/* created without options */
	void *dec_inst;		/* without options, as the loader does */
	void *enc;
	void *dec;
};

static const struct qs_blob_info blob_info = {
	.size = sizeof(struct qs_blob_info),
	.kind = QS_BLOB_MESSAGE,
	.id = "0123456789abcdef.0001",
	.header = NULL,
	.header_len = 0,
};

/* zlib header with FDICT set (RFC 1950, 2.2), then a dictionary id. */
static const uint8_t zlib_fdict[] = { 0x78, 0xbb, 0x00, 0x00, 0x00, 0x01 };
/* The first bytes of a gzip member (RFC 1952), not a zlib stream. */
static const uint8_t zlib_gzip[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00 };
/* A zlib header whose CM field is 7, not 8 (deflate). */
static const uint8_t zlib_method[] = { 0x77, 0x09, 0x03, 0x00 };

static const struct bad_input zlib_bad[] = {
	{ "preset dictionary", zlib_fdict, sizeof(zlib_fdict), "dictionary" },
	{ "gzip member", zlib_gzip, sizeof(zlib_gzip), "incorrect header" },
	{ "unknown method", zlib_method, sizeof(zlib_method),
	    "compression method" },
	{ NULL, NULL, 0, NULL },
};

/* A skippable frame of 4 user bytes. */
static const uint8_t lz4_skippable[] = {
	0x50, 0x2a, 0x4d, 0x18, 0x04, 0x00, 0x00, 0x00, 'u', 's', 'e', 'r',
};
/* The legacy frame magic number, 0x184C2102. */
static const uint8_t lz4_legacy[] = {
	0x02, 0x21, 0x4c, 0x18, 0x00, 0x00, 0x00, 0x00,
};
/* FLG 0x70: version 1, block checksums, no content checksum. */
static const uint8_t lz4_no_content_sum[] = {
	0x04, 0x22, 0x4d, 0x18, 0x70, 0x40, 0x00,
};
/* FLG 0x75: content checksum and a dictionary id. */
static const uint8_t lz4_dict_id[] = {
	0x04, 0x22, 0x4d, 0x18, 0x75, 0x40, 0x00,
};
/* BD 0x70: block maximum size id 7, 4 MB. */
static const uint8_t lz4_block_4mb[] = {
	0x04, 0x22, 0x4d, 0x18, 0x74, 0x70, 0x00,
};
/* FLG 0x94: version 2. */
static const uint8_t lz4_version2[] = {
	0x04, 0x22, 0x4d, 0x18, 0x94, 0x40, 0x00,
};

static const struct bad_input lz4_bad[] = {
	{ "skippable frame", lz4_skippable, sizeof(lz4_skippable), "magic" },
	{ "legacy frame", lz4_legacy, sizeof(lz4_legacy), "magic" },
	{ "no content checksum", lz4_no_content_sum,
	    sizeof(lz4_no_content_sum), "no content checksum" },
	{ "dictionary id", lz4_dict_id, sizeof(lz4_dict_id), "dictionary" },
	{ "4 MB blocks", lz4_block_4mb, sizeof(lz4_block_4mb),
	    "block maximum size" },
	{ "frame version 2", lz4_version2, sizeof(lz4_version2), "version" },
	{ NULL, NULL, 0, NULL },
};

static const struct module_case zlib_case = {
	.file = "compress-zlib",
	.name = "zlib",
	.level_max = 9,
	.level_default = 6,
	.range_text = "0 to 9",
	.stores_at_zero = 1,
	.same_below = 0,
	.checksum_error = "incorrect data check",
	.copied_error = "incorrect data check",
	.encode_allocs = 0,
	.padding_unchecked = 1,
	.bad = zlib_bad,
};

static const struct module_case lz4_case = {
	.file = "compress-lz4",
	.name = "lz4",
	.level_max = 12,
	.level_default = 1,
	.range_text = "0 to 12",
	.stores_at_zero = 0,
	.same_below = 3,
	.checksum_error = "contentChecksum_invalid",
	.copied_error = "blockChecksum_invalid",
	/*
	 * liblz4 1.9.4 frees and reallocates the context's 192 KB block
	 * buffer in every LZ4F_compressBegin (LZ4F_compressEnd zeroes
	 * maxBufferSize). Later lz4 releases keep the buffer.
	 */
	.encode_allocs = 1,
	.padding_unchecked = 0,
	.bad = lz4_bad,
};

/* xorshift64*: a fixed sequence, so that failures repeat. */
static uint64_t
next_random(uint64_t *seed)
{
	*seed ^= *seed >> 12;
	*seed ^= *seed << 25;
	*seed ^= *seed >> 27;
	return *seed * 0x2545f4914f6cdd1dULL;
}

static uint8_t *
xmalloc(size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	assert_non_null(p);
	return p;
}

static uint8_t *
make_random(size_t len, uint64_t seed)
{
	uint8_t *p = xmalloc(len);
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(next_random(&seed) >> 56);
	return p;
}

/* Mail-like text: header lines and lines of words. */
static uint8_t *
make_text(size_t len, uint64_t seed)
{
	static const char *const words[] = {
		"Received:", "from", "mail.example.org", "by", "mx1", "with",
		"ESMTPS", "id", "Subject:", "quarterly", "report", "the",
		"queue", "message", "delivery", "attached", "please", "find",
		"meeting", "Tuesday", "regards", "thanks", "\n", "\n\n",
		"Content-Type:", "text/plain;", "charset=utf-8", "--",
	};
	size_t nwords = sizeof(words) / sizeof(words[0]);
	uint8_t *p = xmalloc(len);
	size_t pos = 0;

	while (pos < len) {
		const char *w = words[next_random(&seed) % nwords];
		size_t n = strlen(w);

		if (n > len - pos)
			n = len - pos;
		memcpy(p + pos, w, n);
		pos += n;
		if (pos < len)
			p[pos++] = ' ';
	}
	return p;
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Returns the offset of the first differing byte, or len. */
static size_t
first_difference(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len && a[i] == b[i]; i++)
		;
	return i;
}

/*
 * Runs one blob through a stream: stream_begin, stream_update with at
 * most in_step input and out_step output bytes per call, then
 * stream_final until it returns QS_OK. Returns the first status that is
 * not QS_OK or QS_MORE, or QS_ERR_LIMIT when out fills up. Fails the
 * test when the module breaks the progress or buffer rules of plugin.h.
 */
static int
run_blob(const struct qs_transform_ops *ops, void *stream,
    const uint8_t *in, size_t in_len, size_t in_step, size_t out_step,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t pos = 0, used, produced, n, cap;
	int rc;

	*out_len = 0;
	rc = ops->stream_begin(stream, &blob_info);
	if (rc != QS_OK)
		return rc;
	while (pos < in_len) {
		n = min_size(in_step, in_len - pos);
		cap = min_size(out_step, out_cap - *out_len);
		if (cap == 0)
			return QS_ERR_LIMIT;
		rc = ops->stream_update(stream, in + pos, n, &used,
		    out + *out_len, cap, &produced);
		if (rc != QS_OK)
			return rc;
		assert_true(used <= n);
		assert_true(produced <= cap);
		assert_true(used > 0 || produced > 0);
		pos += used;
		*out_len += produced;
	}
	for (;;) {
		cap = min_size(out_step, out_cap - *out_len);
		if (cap == 0)
			return QS_ERR_LIMIT;
		rc = ops->stream_final(stream, out + *out_len, cap, &produced);
		if (rc < 0)
			return rc;
		assert_true(produced <= cap);
		*out_len += produced;
		if (rc == QS_OK)
			return QS_OK;
		assert_int_equal(rc, QS_MORE);
		assert_int_equal(produced, cap);
	}
}

/* Compresses data into a malloc'ed buffer of *packed_len bytes. */
static uint8_t *
pack(struct codec *c, void *enc, const uint8_t *data, size_t len,
    size_t in_step, size_t out_step, size_t *packed_len)
{
	size_t cap = len + len / 8 + 1024;
	uint8_t *packed = xmalloc(cap);
	int rc;

	rc = run_blob(c->ops, enc, data, len, in_step, out_step, packed, cap,
	    packed_len);
	assert_int_equal(rc, QS_OK);
	return packed;
}

/* Decompresses packed and checks that it gives back data exactly. */
static void
check_unpack(struct codec *c, const uint8_t *packed, size_t packed_len,
    const uint8_t *data, size_t len, size_t in_step, size_t out_step)
{
	size_t cap = len + 64;
	uint8_t *out = xmalloc(cap);
	size_t out_len;
	int rc;

	rc = run_blob(c->ops, c->dec, packed, packed_len, in_step, out_step,
	    out, cap, &out_len);
	assert_int_equal(rc, QS_OK);
	assert_int_equal(out_len, len);
	assert_int_equal(first_difference(out, data, len), len);
	assert_null(c->ops->stream_error(c->dec));
	free(out);
}

static size_t
check_round_trip(struct codec *c, const uint8_t *data, size_t len,
    size_t in_step, size_t out_step)
{
	size_t packed_len;
	uint8_t *packed;

	packed = pack(c, c->enc, data, len, in_step, out_step, &packed_len);
	check_unpack(c, packed, packed_len, data, len, out_step, in_step);
	free(packed);
	return packed_len;
}

/*
 * Decodes bytes and checks that the decoder fails with status, and
 * that stream_error() then returns one line containing error_part.
 */
static void
check_decode_fails(struct codec *c, const uint8_t *bytes, size_t len,
    size_t in_step, size_t out_step, int status, const char *error_part)
{
	uint8_t *out = xmalloc(SMALL_CAP);
	const char *text;
	size_t out_len;
	int rc;

	rc = run_blob(c->ops, c->dec, bytes, len, in_step, out_step, out,
	    SMALL_CAP, &out_len);
	assert_int_equal(rc, status);
	text = c->ops->stream_error(c->dec);
	assert_non_null(text);
	assert_null(strchr(text, '\n'));
	if (error_part != NULL && strstr(text, error_part) == NULL)
		fail_msg("stream_error \"%s\" lacks \"%s\"", text,
		    error_part);
	free(out);
}

static int
open_instance(struct codec *c, const char *level, void **inst, char *err,
    size_t err_cap)
{
	struct qs_param param = {
		.size = sizeof(struct qs_param),
		.name = "level",
		.value = level,
	};
	struct qs_instance_args args = {
		.size = sizeof(struct qs_instance_args),
		.params = &param,
		.nparams = level != NULL ? 1 : 0,
		.err = err,
		.err_cap = err_cap,
	};

	err[0] = '\0';
	return c->ops->instance_new(&args, inst);
}

static int
codec_teardown(void **state)
{
	struct codec *c = *state;

	if (c == NULL)
		return 0;
	if (c->ops != NULL) {
		c->ops->stream_free(c->enc);
		c->ops->stream_free(c->dec);
		c->ops->instance_free(c->enc_inst);
		c->ops->instance_free(c->dec_inst);
	}
	modhost_close(&c->mh);
	free(c);
	*state = NULL;
	return 0;
}

/*
 * Opens the module that the test's initial state, a module_case, names,
 * with one encoding and one decoding stream.
 */
static int
codec_setup(void **state)
{
	char err[256] = "";
	struct codec *c;

	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->mc = *state;
	*state = c;
	if (modhost_open(&c->mh, c->mc->file) != 0)
		goto fail;
	c->ops = c->mh.module->ops;
	if (open_instance(c, NULL, &c->enc_inst, err, sizeof(err)) != 0 ||
	    open_instance(c, NULL, &c->dec_inst, err, sizeof(err)) != 0 ||
	    c->ops->stream_new(c->enc_inst, QS_ENCODE, &c->enc) != 0 ||
	    c->ops->stream_new(c->dec_inst, QS_DECODE, &c->dec) != 0) {
		fprintf(stderr, "%s: cannot create the test streams: %s\n",
		    c->mc->file, err);
		goto fail;
	}
	return 0;

fail:
	codec_teardown(state);
	return -1;
}

static void
descriptor_fields(void **state)
{
	struct codec *c = *state;
	const struct qs_module *m = c->mh.module;

	assert_int_equal(m->size, sizeof(struct qs_module));
	assert_int_equal(QS_ABI_VERSION_MAJOR(m->abi_version), QS_ABI_MAJOR);
	assert_int_equal(m->kind, QS_KIND_COMPRESS);
	assert_int_equal(m->format_version, 1);
	assert_string_equal(m->name, c->mc->name);
	assert_non_null(m->version);
	assert_non_null(m->description);
	assert_non_null(m->options);
	assert_string_equal(m->options[0].name, "level");
	assert_int_equal(m->options[0].type, QS_OPT_INT);
	assert_non_null(m->options[0].help);
	assert_null(m->options[1].name);
	assert_int_equal(c->ops->size, sizeof(struct qs_transform_ops));
	assert_non_null(c->ops->stream_error);
	assert_null(c->ops->key_id);
}

static void
round_trip_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, BIG_LEN };
	struct codec *c = *state;
	size_t i, len, packed_len;
	uint8_t *data;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		len = sizes[i];
		data = make_text(len, 1 + i);
		packed_len = check_round_trip(c, data, len, 4096, 4096);
		if (len >= 65535)
			assert_true(packed_len < len / 2);
		free(data);

		data = make_random(len, 100 + i);
		packed_len = check_round_trip(c, data, len, 65536, 65536);
		assert_true(packed_len <= len + len / 256 + 64);
		free(data);
	}
}

static void
small_buffers(void **state)
{
	static const size_t steps[] = { 1, 7, 4096 };
	struct codec *c = *state;
	size_t nsteps = sizeof(steps) / sizeof(steps[0]);
	size_t len = 70000, i, j, k, packed_len;
	uint8_t *data[2], *packed;

	data[0] = make_text(len, 7);
	data[1] = make_random(len, 8);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < nsteps; i++)
			for (j = 0; j < nsteps; j++)
				check_round_trip(c, data[k], len, steps[i],
				    steps[j]);
		packed = pack(c, c->enc, data[k], len, 4096, 4096,
		    &packed_len);
		for (i = 0; i < nsteps; i++)
			for (j = 0; j < nsteps; j++)
				check_unpack(c, packed, packed_len, data[k],
				    len, steps[i], steps[j]);
		free(packed);
	}
	check_round_trip(c, data[0], 0, 1, 1);
	free(data[0]);
	free(data[1]);
}

static void
stream_reuse(void **state)
{
	struct codec *c = *state;
	uint8_t *text = make_text(100000, 21);
	uint8_t *noise = make_random(70000, 22);
	uint8_t *first, *second;
	size_t first_len, second_len;

	check_round_trip(c, text, 100000, 4096, 4096);
	check_round_trip(c, text, 0, 4096, 4096);
	check_round_trip(c, noise, 70000, 4096, 1000);
	check_round_trip(c, noise, 1, 1, 1);
	check_round_trip(c, text, 5000, 7, 4096);

	/* State left by a blob must not change the next one's bytes. */
	first = pack(c, c->enc, text, 100000, 4096, 4096, &first_len);
	second = pack(c, c->enc, text, 100000, 4096, 4096, &second_len);
	assert_int_equal(first_len, second_len);
	assert_memory_equal(first, second, first_len);

	/* A failed blob must not spoil the next one. */
	check_decode_fails(c, noise, 100, 4096, 4096, QS_ERR_CORRUPT, NULL);
	check_unpack(c, first, first_len, text, 100000, 4096, 4096);

	/* Nor must a blob that was begun and never finished. */
	assert_int_equal(c->ops->stream_begin(c->enc, &blob_info), QS_OK);
	assert_int_equal(c->ops->stream_begin(c->dec, &blob_info), QS_OK);
	check_round_trip(c, text, 100000, 4096, 4096);

	free(first);
	free(second);
	free(text);
	free(noise);
}

#if ALLOC_COUNTING
/* Runs one blob and returns the number of allocations made meanwhile. */
static size_t
count_blob_allocs(const struct qs_transform_ops *ops, void *stream,
    const uint8_t *in, size_t in_len, size_t step, uint8_t *out,
    size_t out_cap, size_t *out_len)
{
	size_t before = alloc_calls;

	assert_int_equal(run_blob(ops, stream, in, in_len, step, step, out,
	    out_cap, out_len), QS_OK);
	return alloc_calls - before;
}
#endif

/*
 * Checks that warm streams do not allocate per blob, which also shows
 * that their memory does not grow with the blob size.
 */
static void
warm_stream_no_alloc(void **state)
{
#if ALLOC_COUNTING
	struct codec *c = *state;
	size_t allowed = c->mc->encode_allocs;
	size_t cap = BIG_LEN + BIG_LEN / 8 + 1024;
	uint8_t *text = make_text(BIG_LEN, 31);
	uint8_t *noise = make_random(BIG_LEN, 32);
	uint8_t *packed = xmalloc(cap), *out = xmalloc(cap);
	size_t packed_len, out_len, before;
	void *probe;

	/* The counter must see the module's own allocations. */
	before = alloc_calls;
	assert_int_equal(c->ops->stream_new(c->enc_inst, QS_ENCODE, &probe),
	    QS_OK);
	assert_true(alloc_calls > before);
	c->ops->stream_free(probe);

	check_round_trip(c, text, 100000, 4096, 4096);

	assert_true(count_blob_allocs(c->ops, c->enc, text, 1, 1, packed,
	    cap, &packed_len) <= allowed);
	assert_int_equal(count_blob_allocs(c->ops, c->dec, packed,
	    packed_len, 1, out, cap, &out_len), 0);

	assert_true(count_blob_allocs(c->ops, c->enc, text, BIG_LEN, 4096,
	    packed, cap, &packed_len) <= allowed);
	assert_int_equal(count_blob_allocs(c->ops, c->dec, packed,
	    packed_len, 1000, out, cap, &out_len), 0);
	assert_int_equal(out_len, BIG_LEN);

	assert_true(count_blob_allocs(c->ops, c->enc, noise, BIG_LEN, 65536,
	    packed, cap, &packed_len) <= allowed);
	assert_int_equal(count_blob_allocs(c->ops, c->dec, packed,
	    packed_len, 65536, out, cap, &out_len), 0);
	assert_int_equal(out_len, BIG_LEN);
	assert_int_equal(first_difference(out, noise, BIG_LEN), BIG_LEN);

	free(packed);
	free(out);
	free(text);
	free(noise);
#else
	(void)state;
	skip();
#endif
}

/* Compresses data at one level and checks the round trip. */
static size_t
pack_at_level(struct codec *c, const char *level, const uint8_t *data,
    size_t len, uint8_t **packed)
{
	char err[256];
	void *inst, *enc;
	size_t packed_len;

	assert_int_equal(open_instance(c, level, &inst, err, sizeof(err)),
	    QS_OK);
	assert_string_equal(err, "");
	assert_int_equal(c->ops->stream_new(inst, QS_ENCODE, &enc), QS_OK);
	*packed = pack(c, enc, data, len, 4096, 4096, &packed_len);
	check_unpack(c, *packed, packed_len, data, len, 4096, 4096);
	c->ops->stream_free(enc);
	c->ops->instance_free(inst);
	return packed_len;
}

static void
every_level(void **state)
{
	struct codec *c = *state;
	size_t len = 200000, sizes[13], default_len;
	uint8_t *data = make_text(len, 41);
	uint8_t *packed[13], *default_packed;
	char level[4];
	int i;

	for (i = 0; i <= c->mc->level_max; i++) {
		snprintf(level, sizeof(level), "%d", i);
		sizes[i] = pack_at_level(c, level, data, len, &packed[i]);
	}
	default_packed = pack(c, c->enc, data, len, 4096, 4096,
	    &default_len);

	/* No option gives the documented default level's bytes. */
	assert_int_equal(default_len, sizes[c->mc->level_default]);
	assert_memory_equal(default_packed, packed[c->mc->level_default],
	    default_len);
	assert_true(sizes[c->mc->level_max] < sizes[1]);
	if (c->mc->stores_at_zero)
		assert_true(sizes[0] > len);
	else
		assert_true(sizes[0] < len);
	for (i = 1; i < c->mc->same_below; i++) {
		assert_int_equal(sizes[i], sizes[0]);
		assert_memory_equal(packed[i], packed[0], sizes[0]);
	}
	for (i = 0; i <= c->mc->level_max; i++)
		free(packed[i]);
	free(default_packed);
	free(data);
}

static void
invalid_levels(void **state)
{
	struct codec *c = *state;
	char too_high[16], err[256];
	const char *values[] = {
		too_high, "-1", "abc", "", "3x", " 3", "+3", "1.5", "0x3",
		"99999999999999999999", "4\n",
	};
	size_t i, nvalues = sizeof(values) / sizeof(values[0]);
	void *inst;

	snprintf(too_high, sizeof(too_high), "%d", c->mc->level_max + 1);
	for (i = 0; i < nvalues; i++) {
		inst = NULL;
		assert_int_equal(open_instance(c, values[i], &inst, err,
		    sizeof(err)), QS_ERR_INVALID);
		assert_null(inst);
		assert_null(strchr(err, '\n'));
		assert_non_null(strstr(err, c->mc->range_text));
		assert_non_null(strstr(err, "level"));
		if (strchr(values[i], '\n') == NULL)
			assert_non_null(strstr(err, values[i]));
	}
}

static void
unknown_option(void **state)
{
	struct codec *c = *state;
	struct qs_param param = {
		.size = sizeof(struct qs_param),
		.name = "window",
		.value = "15",
	};
	char err[256] = "";
	struct qs_instance_args args = {
		.size = sizeof(struct qs_instance_args),
		.params = &param,
		.nparams = 1,
		.err = err,
		.err_cap = sizeof(err),
	};
	void *inst = NULL;

	assert_int_equal(c->ops->instance_new(&args, &inst), QS_ERR_INVALID);
	assert_null(inst);
	assert_non_null(strstr(err, "window"));
}

static void
truncation_rejected(void **state)
{
	struct codec *c = *state;
	uint8_t *data[2];
	uint8_t *packed;
	size_t packed_len, cut;
	int k;

	data[0] = make_text(1500, 51);
	data[1] = make_random(300, 52);
	for (k = 0; k < 2; k++) {
		packed = pack(c, c->enc, data[k], k == 0 ? 1500 : 300, 4096,
		    4096, &packed_len);
		for (cut = 0; cut < packed_len; cut++) {
			check_decode_fails(c, packed, cut, 4096, 4096,
			    QS_ERR_TRUNCATED, "truncated");
			check_decode_fails(c, packed, cut, 1, 1,
			    QS_ERR_TRUNCATED, "truncated");
		}
		free(packed);
	}
	free(data[0]);
	free(data[1]);
}

static void
trailing_bytes_rejected(void **state)
{
	static const size_t lens[] = { 0, 3000 };
	static const char junk[] = "junk";
	struct codec *c = *state;
	uint8_t *data = make_text(3000, 61), *packed, *buf;
	size_t packed_len, i, extra;

	for (i = 0; i < 2; i++) {
		packed = pack(c, c->enc, data, lens[i], 4096, 4096,
		    &packed_len);
		buf = xmalloc(packed_len + sizeof(junk));
		memcpy(buf, packed, packed_len);
		memcpy(buf + packed_len, junk, sizeof(junk));
		for (extra = 1; extra <= sizeof(junk); extra += 4) {
			/* Junk in the same update call as the stream end. */
			check_decode_fails(c, buf, packed_len + extra, 65536,
			    65536, QS_ERR_CORRUPT, "follow the end");
			/* Junk in the update call after the stream end. */
			check_decode_fails(c, buf, packed_len + extra,
			    packed_len, 65536, QS_ERR_CORRUPT,
			    "follow the end");
			check_decode_fails(c, buf, packed_len + extra, 1, 1,
			    QS_ERR_CORRUPT, "follow the end");
		}
		free(buf);
		free(packed);
	}
	free(data);
}

static void
second_stream_rejected(void **state)
{
	struct codec *c = *state;
	uint8_t *data = make_text(3000, 71), *a, *b, *both;
	size_t a_len, b_len;

	a = pack(c, c->enc, data, 3000, 4096, 4096, &a_len);
	b = pack(c, c->enc, data, 1000, 4096, 4096, &b_len);
	both = xmalloc(a_len + b_len);
	memcpy(both, a, a_len);
	memcpy(both + a_len, b, b_len);
	check_decode_fails(c, both, a_len + b_len, 65536, 65536,
	    QS_ERR_CORRUPT, "exactly one");
	check_decode_fails(c, both, a_len + b_len, a_len, 4096,
	    QS_ERR_CORRUPT, "exactly one");
	check_decode_fails(c, both, a_len + b_len, 7, 1, QS_ERR_CORRUPT,
	    "exactly one");
	free(both);
	free(a);
	free(b);

	/* Two empty blobs back to back. */
	a = pack(c, c->enc, data, 0, 4096, 4096, &a_len);
	both = xmalloc(2 * a_len);
	memcpy(both, a, a_len);
	memcpy(both + a_len, a, a_len);
	check_decode_fails(c, both, 2 * a_len, 4096, 4096, QS_ERR_CORRUPT,
	    "exactly one");
	free(both);
	free(a);
	free(data);
}

/* Decodes packed with the bits of mask flipped at pos. */
static int
decode_flipped(struct codec *c, uint8_t *packed, size_t packed_len,
    size_t pos, uint8_t mask, uint8_t *out, size_t *out_len)
{
	int rc;

	packed[pos] ^= mask;
	rc = run_blob(c->ops, c->dec, packed, packed_len, 4096, 4096, out,
	    SMALL_CAP, out_len);
	packed[pos] ^= mask;
	return rc;
}

/*
 * Flips bits at every offset of a small blob. Each modified blob must
 * fail to decode; truncation is a valid verdict when a flip lengthens a
 * length field. The one exception is zlib's padding bits (after a
 * stored block header and after the final block), which inflate
 * ignores: such a flip must give back the original bytes.
 */
static void
flipped_bytes_rejected(void **state)
{
	static const uint8_t masks[] = { 0x01, 0x10, 0x80, 0xff };
	struct codec *c = *state;
	uint8_t *data[2], *packed, *out = xmalloc(SMALL_CAP);
	size_t len = 2000, packed_len, out_len, pos, m;
	int k, rc;

	data[0] = make_text(len, 81);
	data[1] = make_random(len, 82);
	for (k = 0; k < 2; k++) {
		packed = pack(c, c->enc, data[k], len, 4096, 4096,
		    &packed_len);
		for (pos = 0; pos < packed_len; pos++) {
			for (m = 0; m < sizeof(masks); m++) {
				rc = decode_flipped(c, packed, packed_len, pos,
				    masks[m], out, &out_len);
				if (rc == QS_OK && c->mc->padding_unchecked) {
					assert_int_equal(out_len, len);
					assert_memory_equal(out, data[k], len);
					continue;
				}
				if (rc == QS_OK)
					fail_msg("flip 0x%02x at byte %zu of "
					    "%zu decoded without error",
					    masks[m], pos, packed_len);
				if (rc != QS_ERR_CORRUPT &&
				    rc != QS_ERR_TRUNCATED)
					fail_msg("flip 0x%02x at byte %zu "
					    "gave %d", masks[m], pos, rc);
			}
		}
		free(packed);
	}
	free(out);
	free(data[0]);
	free(data[1]);
}

/*
 * Changes the trailing checksum (Adler-32 for zlib, the xxHash-32
 * content checksum for lz4) and checks that the checksum catches it.
 */
static void
checksum_mismatch(void **state)
{
	struct codec *c = *state;
	uint8_t *data = make_text(5000, 91), *packed;
	size_t packed_len, i;

	packed = pack(c, c->enc, data, 5000, 4096, 4096, &packed_len);
	for (i = packed_len - 4; i < packed_len; i++) {
		packed[i] ^= 0x01;
		check_decode_fails(c, packed, packed_len, 4096, 4096,
		    QS_ERR_CORRUPT, c->mc->checksum_error);
		packed[i] ^= 0x01;
	}
	free(packed);
	free(data);
}

/*
 * Changes one byte of input that the encoder copied verbatim into the
 * blob: zlib level 0 writes stored blocks (RFC 1951, 3.2.4), and lz4
 * writes incompressible data as uncompressed blocks. Only a checksum
 * can catch this change.
 */
static void
copied_data_mismatch(void **state)
{
	struct codec *c = *state;
	uint8_t *data = make_random(5000, 92), *packed, *copy;
	size_t packed_len;

	packed_len = pack_at_level(c, "0", data, 5000, &packed);
	copy = memmem(packed, packed_len, data, 5000);
	assert_non_null(copy);
	copy[2500] ^= 0x20;
	check_decode_fails(c, packed, packed_len, 4096, 4096,
	    QS_ERR_CORRUPT, c->mc->copied_error);
	free(packed);
	free(data);
}

static void
foreign_input_rejected(void **state)
{
	struct codec *c = *state;
	const struct bad_input *b;

	for (b = c->mc->bad; b->description != NULL; b++) {
		check_decode_fails(c, b->bytes, b->len, 4096, 4096,
		    QS_ERR_CORRUPT, b->error_part);
		check_decode_fails(c, b->bytes, b->len, 1, 1,
		    QS_ERR_CORRUPT, b->error_part);
	}
}

static void
call_order_checked(void **state)
{
	struct codec *c = *state;
	uint8_t in[16] = "abc", out[256];
	size_t used, produced;
	void *fresh, *bad;

	assert_int_equal(c->ops->stream_new(c->enc_inst, 3, &bad),
	    QS_ERR_INVALID);

	assert_int_equal(c->ops->stream_new(c->enc_inst, QS_ENCODE, &fresh),
	    QS_OK);
	assert_int_equal(c->ops->stream_update(fresh, in, 3, &used, out,
	    sizeof(out), &produced), QS_ERR_INVALID);
	assert_non_null(c->ops->stream_error(fresh));

	assert_int_equal(c->ops->stream_begin(fresh, &blob_info), QS_OK);
	assert_null(c->ops->stream_error(fresh));
	assert_int_equal(c->ops->stream_update(fresh, in, 3, &used, out,
	    sizeof(out), &produced), QS_OK);
	assert_int_equal(used, 3);
	assert_int_equal(c->ops->stream_final(fresh, out, sizeof(out),
	    &produced), QS_OK);
	assert_true(produced > 0);
	assert_int_equal(c->ops->stream_final(fresh, out, sizeof(out),
	    &produced), QS_OK);
	assert_int_equal(produced, 0);
	assert_int_equal(c->ops->stream_update(fresh, in, 3, &used, out,
	    sizeof(out), &produced), QS_ERR_INVALID);
	assert_int_equal(used, 0);
	c->ops->stream_free(fresh);
}

/* One entry per module, named "MODULE TEST". */
#define FOR_EACH_MODULE(f) \
	{ "zlib " #f, f, codec_setup, codec_teardown, (void *)&zlib_case }, \
	{ "lz4 " #f, f, codec_setup, codec_teardown, (void *)&lz4_case }

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FOR_EACH_MODULE(descriptor_fields),
		FOR_EACH_MODULE(round_trip_sizes),
		FOR_EACH_MODULE(small_buffers),
		FOR_EACH_MODULE(stream_reuse),
		FOR_EACH_MODULE(warm_stream_no_alloc),
		FOR_EACH_MODULE(every_level),
		FOR_EACH_MODULE(invalid_levels),
		FOR_EACH_MODULE(unknown_option),
		FOR_EACH_MODULE(truncation_rejected),
		FOR_EACH_MODULE(trailing_bytes_rejected),
		FOR_EACH_MODULE(second_stream_rejected),
		FOR_EACH_MODULE(flipped_bytes_rejected),
		FOR_EACH_MODULE(checksum_mismatch),
		FOR_EACH_MODULE(copied_data_mismatch),
		FOR_EACH_MODULE(foreign_input_rejected),
		FOR_EACH_MODULE(call_order_checked),
	};

	return cmocka_run_group_tests_name("compress modules", tests, NULL,
	    NULL);
}
