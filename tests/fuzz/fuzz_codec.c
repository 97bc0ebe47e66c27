#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_codec.h"

/* Calls in a row without progress before a stream counts as stuck. */
#define STALL_MAX 16

/* Output bytes kept per run; a stream that makes more is not checked. */
#define OUTPUT_MAX (256 * 1024)

/* Run status beside the QS_* codes: OUTPUT_MAX was reached. */
#define GAVE_UP 100

#define SETTINGS_MAX 64

/* Size of the chain buffers the loader hands to modules. */
#define CHAIN_BUF (64 * 1024)

struct output {
	uint8_t *buf;
	size_t len;
};

static const struct qs_transform_ops *ops;
static const char *stem;
static void *dec_instance;
static void *dec_stream;
static void *enc_instance[SETTINGS_MAX];
static void *enc_stream[SETTINGS_MAX];
static int enc_unavailable[SETTINGS_MAX];
static struct output out[2];
static uint8_t *scratch;        /* a copy of a blob to change */

static int
new_instance(const struct fuzz_codec *c, int setting, void **instance)
{
	static const uint8_t salt[32] = "fixed queue salt for fuzzing....";
	struct qs_instance_args args;
	struct fuzz_setting set = { NULL, 0 };
	struct qs_key key;
	uint8_t raw[32];
	char err[512] = "";
	int rc;

	if (setting >= 0)
		c->setting((unsigned)setting, &set);
	fuzz_key_bytes(raw);
	memset(&key, 0, sizeof(key));
	key.size = sizeof(key);
	key.type = QS_KEY_RAW;
	key.data = raw;
	key.len = sizeof(raw);
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.params = set.params;
	args.nparams = set.nparams;
	args.keys = c->uses_key ? &key : NULL;
	args.nkeys = c->uses_key ? 1 : 0;
	args.queue_salt = salt;
	args.queue_salt_len = sizeof(salt);
	args.err = err;
	args.err_cap = sizeof(err);
	rc = ops->instance_new(&args, instance);
	if (rc != QS_OK)
		fprintf(stderr, "fuzz: %s: instance_new for setting %d failed: "
		    "%d: %s\n", stem, setting, rc, err);
	return rc;
}

int
fuzz_codec_init(const struct fuzz_codec *c)
{
	const struct qs_module *m = fuzz_module_open(c->stem);
	int rc;

	stem = c->stem;
	ops = m->ops;
	if (c->nsettings == 0 || c->nsettings > SETTINGS_MAX)
		fuzz_fail("%s: %u encoder settings, expected 1 to %d", stem,
		    c->nsettings, SETTINGS_MAX);
	if (new_instance(c, -1, &dec_instance) != QS_OK)
		exit(1);
	rc = ops->stream_new(dec_instance, QS_DECODE, &dec_stream);
	if (rc != QS_OK) {
		fprintf(stderr, "fuzz: %s: stream_new failed: %d\n", stem, rc);
		exit(1);
	}
	out[0].buf = malloc(OUTPUT_MAX);
	out[1].buf = malloc(OUTPUT_MAX);
	scratch = malloc(OUTPUT_MAX + 1);
	if (out[0].buf == NULL || out[1].buf == NULL || scratch == NULL)
		exit(1);
	return 0;
}

/* Returns the warm encoding stream of a setting, or NULL. */
static void *
encoder(const struct fuzz_codec *c, unsigned setting)
{
	if (enc_stream[setting] != NULL || enc_unavailable[setting])
		return enc_stream[setting];
	if (new_instance(c, (int)setting, &enc_instance[setting]) != QS_OK ||
	    ops->stream_new(enc_instance[setting], QS_ENCODE,
	    &enc_stream[setting]) != QS_OK) {
		enc_unavailable[setting] = 1;
		enc_stream[setting] = NULL;
	}
	return enc_stream[setting];
}

static void
check_status(int rc, int may_be_more, const char *call)
{
	if (rc == QS_OK || (rc == QS_MORE && may_be_more) ||
	    (rc < 0 && rc >= QS_ERR_STOP))
		return;
	fuzz_fail("%s: %s returned %d, which is not a status it may return",
	    stem, call, rc);
}

/* Returns an output capacity; without rng, the loader's buffer size. */
static size_t
pick_cap(struct fuzz_rng *rng)
{
	uint32_t r;

	if (rng == NULL)
		return CHAIN_BUF;
	r = fuzz_rng_next(rng);
	switch (r & 7) {
	case 0:
		return 0;
	case 1:
	case 2:
		return 1 + (r >> 3) % 16;
	case 3:
	case 4:
		return 1 + (r >> 3) % 4096;
	default:
		return CHAIN_BUF;
	}
}

static int
append(struct output *o, const uint8_t *buf, size_t n)
{
	if (n > OUTPUT_MAX - o->len)
		return GAVE_UP;
	memcpy(o->buf + o->len, buf, n);
	o->len += n;
	return QS_OK;
}

static void
count_stall(int *stalls, int progress, const char *call)
{
	if (progress) {
		*stalls = 0;
		return;
	}
	if (++*stalls > STALL_MAX)
		fuzz_fail("%s: %s made no progress %d times in a row", stem,
		    call, STALL_MAX + 1);
}

/*
 * Calls stream_update on copies of the buffers that end where the heap
 * blocks end, so that AddressSanitizer reports any access past them.
 */
static int
update_once(void *stream, const uint8_t *in, size_t piece, size_t cap,
    size_t *used, struct output *o, int *stalls)
{
	uint8_t *inb = malloc(piece), *outb = malloc(cap);
	size_t made = 0;
	int rc;

	if (inb == NULL || outb == NULL)
		fuzz_fail("out of memory for %zu and %zu bytes", piece, cap);
	memcpy(inb, in, piece);
	*used = 0;
	rc = ops->stream_update(stream, inb, piece, used, outb, cap, &made);
	check_status(rc, 0, "stream_update");
	if (rc == QS_OK && (*used > piece || made > cap))
		fuzz_fail("%s: stream_update used %zu of %zu bytes and wrote "
		    "%zu into %zu", stem, *used, piece, made, cap);
	if (rc == QS_OK) {
		count_stall(stalls, *used > 0 || made > 0 || cap == 0,
		    "stream_update");
		rc = append(o, outb, made);
	}
	free(inb);
	free(outb);
	return rc;
}

static int
final_once(void *stream, size_t cap, struct output *o, int *stalls)
{
	uint8_t *outb = malloc(cap);
	size_t made = 0;
	int rc, rc2;

	if (outb == NULL)
		fuzz_fail("out of memory for %zu bytes", cap);
	rc = ops->stream_final(stream, outb, cap, &made);
	check_status(rc, 1, "stream_final");
	if (rc >= 0 && made > cap)
		fuzz_fail("%s: stream_final wrote %zu bytes into %zu", stem,
		    made, cap);
	if (rc == QS_MORE)
		count_stall(stalls, made > 0 || cap == 0, "stream_final");
	if (rc >= 0 && (rc2 = append(o, outb, made)) != QS_OK)
		rc = rc2;
	free(outb);
	return rc;
}

/*
 * Runs one blob through stream: begin, updates, finals. With rng the
 * input goes in pieces and the output buffers vary; without it, the
 * whole input goes in one call. Returns the first error, QS_OK, or
 * GAVE_UP.
 */
static int
run_stream(void *stream, const struct qs_blob_info *blob, const uint8_t *in,
    size_t len, struct fuzz_rng *rng, struct output *o)
{
	size_t off = 0, piece, used;
	int rc, stalls = 0;

	o->len = 0;
	rc = ops->stream_begin(stream, blob);
	check_status(rc, 0, "stream_begin");
	if (rc != QS_OK)
		return rc;
	while (off < len) {
		piece = rng != NULL ? fuzz_rng_size(rng, len - off) : len - off;
		rc = update_once(stream, in + off, piece, pick_cap(rng), &used,
		    o, &stalls);
		if (rc != QS_OK)
			return rc;
		off += used;
	}
	stalls = 0;
	do {
		rc = final_once(stream, pick_cap(rng), o, &stalls);
	} while (rc == QS_MORE);
	return rc;
}

static int
decode(const struct qs_blob_info *blob, const uint8_t *in, size_t len,
    struct fuzz_rng *rng, struct output *o)
{
	return run_stream(dec_stream, blob, in, len, rng, o);
}

static void
expect_rejected(const char *what, const struct qs_blob_info *blob,
    const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
	if (decode(blob, in, len, rng, &out[1]) == QS_OK)
		fuzz_fail("%s: decoding %s returned QS_OK", stem, what);
}

/* A stream that decodes must fail without its tail or with more bytes. */
static void
check_cuts(const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
	struct qs_blob_info blob;

	fuzz_blob_info(&blob);
	if (len > 0)
		expect_rejected("a blob without its last byte", &blob, in,
		    len - 1, rng);
	if (len > 1)
		expect_rejected("a truncated blob", &blob, in,
		    fuzz_rng_next(rng) % len, rng);
	if (len < OUTPUT_MAX) {
		memmove(scratch, in, len);
		scratch[len] = (uint8_t)fuzz_rng_next(rng);
		expect_rejected("a blob with a byte appended", &blob, scratch,
		    len + 1, rng);
	}
}

static void
check_decode(const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
	struct qs_blob_info blob;
	int split, whole;

	fuzz_blob_info(&blob);
	split = decode(&blob, in, len, rng, &out[0]);
	whole = decode(&blob, in, len, NULL, &out[1]);
	if (split == GAVE_UP || whole == GAVE_UP)
		return;
	if ((split == QS_OK) != (whole == QS_OK))
		fuzz_fail("%s: decoding in pieces returned %d but in one call "
		    "%d", stem, split, whole);
	if (split != QS_OK)
		return;
	if (out[0].len != out[1].len ||
	    memcmp(out[0].buf, out[1].buf, out[0].len) != 0)
		fuzz_fail("%s: decoding in pieces gave %zu bytes, in one call "
		    "%zu different ones", stem, out[0].len, out[1].len);
	check_cuts(in, len, rng);
}

/* A blob with one changed byte or another identity must not decode. */
static void
check_tamper(const uint8_t *blob_bytes, size_t len, struct fuzz_rng *rng)
{
	struct qs_blob_info blob;
	size_t pos;

	fuzz_blob_info(&blob);
	switch (fuzz_rng_next(rng) % 4) {
	case 0:
		blob.id = FUZZ_MSGID "00000001";
		expect_rejected("a blob under another id", &blob, blob_bytes,
		    len, rng);
		break;
	case 1:
		blob.kind = QS_BLOB_ENVELOPE;
		expect_rejected("a blob of another kind", &blob, blob_bytes,
		    len, rng);
		break;
	case 2:
		blob.header_len--;
		expect_rejected("a blob with another loader header", &blob,
		    blob_bytes, len, rng);
		break;
	default:
		if (len == 0)
			break;
		memcpy(scratch, blob_bytes, len);
		pos = fuzz_rng_next(rng) % len;
		scratch[pos] ^= (uint8_t)(1 + fuzz_rng_next(rng) % 255);
		expect_rejected("a blob with a changed byte", &blob, scratch,
		    len, rng);
		break;
	}
}

static void
check_roundtrip(const struct fuzz_codec *c, unsigned setting,
    const uint8_t *in, size_t len, struct fuzz_rng *rng)
{
	struct qs_blob_info blob;
	void *enc = encoder(c, setting);
	int rc;

	if (enc == NULL)
		return;
	fuzz_blob_info(&blob);
	rc = run_stream(enc, &blob, in, len, rng, &out[0]);
	if (rc == GAVE_UP)
		return;
	if (rc != QS_OK)
		fuzz_fail("%s: encoding %zu bytes with setting %u failed: %d",
		    stem, len, setting, rc);
	rc = decode(&blob, out[0].buf, out[0].len, rng, &out[1]);
	if (rc == GAVE_UP)
		return;
	if (rc != QS_OK)
		fuzz_fail("%s: decoding the %zu bytes the encoder wrote "
		    "failed: %d", stem, out[0].len, rc);
	if (out[1].len != len || memcmp(out[1].buf, in, len) != 0)
		fuzz_fail("%s: a round trip of %zu bytes gave %zu other ones",
		    stem, len, out[1].len);
	check_cuts(out[0].buf, out[0].len, rng);
	if (c->authenticates)
		check_tamper(out[0].buf, out[0].len, rng);
}

int
fuzz_codec_run(const struct fuzz_codec *c, const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;

	if (size < FUZZ_CONTROL_LEN)
		return 0;
	fuzz_rng_seed(&rng, data[1]);
	fuzz_host_reseed(data[1]);
	if (data[0] & FUZZ_ROUNDTRIP)
		check_roundtrip(c, (data[0] & 0x7fu) % c->nsettings,
		    data + FUZZ_CONTROL_LEN, size - FUZZ_CONTROL_LEN, &rng);
	else
		check_decode(data + FUZZ_CONTROL_LEN,
		    size - FUZZ_CONTROL_LEN, &rng);
	return 0;
}
