/*
 * Tamper sweeps. Every byte of a small stored message and envelope is
 * flipped, every shorter length is tried and bytes are appended, under
 * every chain: each read must fail with a status that names damage.
 * The compression modules are also checked alone for truncation,
 * trailing bytes and a second stream, and through the loader with a
 * recomputed trailer, so that the module and not the loader's CRC-32 is
 * what rejects the blob.
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
#include "helpers/tamper.h"
#include "helpers/testq.h"

#define MSG_LEN 100
#define ENV_LEN 60

/* Status counters, indexed by -status. The last one counts unknown values. */
#define NSTATUS 16

/* Room for one case's description, e.g. "flip 0x80 at byte 117". */
#define CASE_MAX 64

struct chain {
	const char *name;
	const char *conf;         /* lines for testq_open */
	int encrypted;
};

/*
 * Without crypto-evp, a changed body byte is found by a decoder checksum
 * or, at the end, by the loader's CRC-32, after the read has returned
 * bytes. Such a read must still end in an error.
 */
static const struct chain chains[] = {
	{ "none", "", 0 },
	{ "zlib", "queue compression zlib", 0 },
	{ "lz4", "queue compression lz4", 0 },
	{ "evp", "queue encryption key-file \"%K\"", 1 },
	{ "zlib+evp", "queue compression zlib\n"
	    "queue encryption key-file \"%K\"", 1 },
	{ "lz4+evp", "queue compression lz4\n"
	    "queue encryption key-file \"%K\"", 1 },
};

/* One stored blob under attack, and what reading it must give. */
struct target {
	struct qs_queue *q;
	int kind;                 /* QS_BLOB_* */
	const char *kind_name;
	const char *id;
	char path[1024];
	uint8_t *blob;            /* the stored bytes, unchanged */
	size_t len;
	size_t header_len;        /* the loader's header */
	const uint8_t *plain;
	size_t plain_len;
	int encrypted;
};

/* Result of one read of a damaged blob. */
struct outcome {
	int status;               /* first failure, or QS_OK if complete */
	size_t released;          /* bytes returned before the failure */
};

/* Statuses seen in one sweep, with the first case behind each. */
struct tally {
	const char *chain;
	const char *kind;
	size_t cases;
	size_t by_status[NSTATUS];
	char first[NSTATUS][CASE_MAX];
	size_t released_first;    /* reads that released bytes, then failed */
	size_t early_plaintext;   /* encrypted reads that released bytes */
	char first_early[CASE_MAX];
	size_t short_not_truncated;
	char first_short[CASE_MAX];
};

struct fixture {
	struct testq t;
	const void *param;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->param = *state;
	testq_setup(&f->t);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	testq_teardown(&f->t);
	free(f);
	return 0;
}

static int
status_index(int status)
{
	if (status <= 0 && status > -(NSTATUS - 1))
		return -status;
	return NSTATUS - 1;
}

/* The statuses a damaged blob may give. */
static int
damage_status(int status)
{
	return status == QS_ERR_CORRUPT || status == QS_ERR_TRUNCATED ||
	    status == QS_ERR_AUTH || status == QS_ERR_UNSUPPORTED ||
	    status == QS_ERR_NOKEY;
}

static struct outcome
read_message(const struct target *tg)
{
	struct outcome o = { QS_OK, 0 };
	struct qs_msg_reader *r;
	uint8_t buf[4096];
	size_t n;

	o.status = qs_msg_open(tg->q, tg->id, &r);
	if (o.status != QS_OK)
		return o;
	for (;;) {
		o.status = qs_msg_read(r, buf, sizeof(buf), &n);
		if (o.status != QS_OK || n == 0)
			break;
		o.released += n;
	}
	qs_msg_close(r);
	return o;
}

static struct outcome
read_target(const struct target *tg)
{
	struct outcome o = { QS_OK, 0 };
	uint8_t buf[4 * ENV_LEN];
	size_t n;

	if (tg->kind == QS_BLOB_MESSAGE)
		return read_message(tg);
	o.status = qs_env_load(tg->q, tg->id, buf, sizeof(buf), &n);
	return o;
}

/* Stores len bytes as the target's blob and reads it back. */
static struct outcome
try_bytes(const struct target *tg, const uint8_t *bytes, size_t len)
{
	if (tamper_store(tg->path, bytes, len) != 0)
		fail_msg("cannot write %s", tg->path);
	return read_target(tg);
}

static void
record(struct tally *t, const struct outcome *o, const char *what)
{
	int i = status_index(o->status);

	t->cases++;
	if (o->released > 0)
		t->released_first++;
	if (t->by_status[i]++ == 0)
		snprintf(t->first[i], CASE_MAX, "%s", what);
}

static void
note_early(struct tally *t, const struct outcome *o, const char *what)
{
	if (o->released > 0 && t->early_plaintext++ == 0)
		snprintf(t->first_early, CASE_MAX, "%s", what);
}

static void
sweep_flips(const struct target *tg, struct tally *t)
{
	static const uint8_t masks[] = { 0x01, 0x80 };
	struct outcome o;
	char what[CASE_MAX];
	size_t off, m;

	for (off = 0; off < tg->len; off++) {
		for (m = 0; m < sizeof(masks); m++) {
			tg->blob[off] ^= masks[m];
			o = try_bytes(tg, tg->blob, tg->len);
			tg->blob[off] ^= masks[m];
			snprintf(what, sizeof(what), "flip 0x%02x at byte %zu",
			    masks[m], off);
			record(t, &o, what);
			/* a flipped trailer fails after verified plaintext */
			if (tg->encrypted && off < tg->len - TAMPER_TRAILER_LEN)
				note_early(t, &o, what);
		}
	}
}

static void
sweep_truncations(const struct target *tg, struct tally *t)
{
	struct outcome o;
	char what[CASE_MAX];
	size_t len;

	for (len = 0; len < tg->len; len++) {
		o = try_bytes(tg, tg->blob, len);
		snprintf(what, sizeof(what), "truncated to %zu bytes", len);
		record(t, &o, what);
		if (tg->encrypted)
			note_early(t, &o, what);
		/*
		 * A blob without its whole header and room for a trailer is
		 * short by its length alone. A longer one has its last 12
		 * bytes read as the trailer, and only their value can show
		 * the truncation.
		 */
		if (len < tg->header_len + TAMPER_TRAILER_LEN &&
		    o.status != QS_ERR_TRUNCATED &&
		    t->short_not_truncated++ == 0)
			snprintf(t->first_short, CASE_MAX, "%s", what);
	}
}

static void
sweep_appends(const struct target *tg, struct tally *t)
{
	uint8_t *bytes = malloc(2 * tg->len);
	struct outcome o;
	char what[CASE_MAX];
	size_t extra;

	assert_non_null(bytes);
	memcpy(bytes, tg->blob, tg->len);
	for (extra = 1; extra <= TAMPER_TRAILER_LEN + 1; extra++) {
		memset(bytes + tg->len, 0, extra);
		o = try_bytes(tg, bytes, tg->len + extra);
		snprintf(what, sizeof(what), "%zu zero bytes appended", extra);
		record(t, &o, what);
		memset(bytes + tg->len, 0xff, extra);
		o = try_bytes(tg, bytes, tg->len + extra);
		snprintf(what, sizeof(what), "%zu 0xff bytes appended", extra);
		record(t, &o, what);
	}
	memcpy(bytes + tg->len, tg->blob, tg->len);
	o = try_bytes(tg, bytes, 2 * tg->len);
	record(t, &o, "a copy of the blob appended");
	free(bytes);
}

/* Prints what a sweep saw, and every case outside the expected. */
static void
report_tally(const struct tally *t)
{
	char line[512];
	int i, n;

	n = snprintf(line, sizeof(line), "%s %s: %zu cases:", t->chain,
	    t->kind, t->cases);
	for (i = 0; i < NSTATUS && n > 0 && (size_t)n < sizeof(line); i++)
		if (t->by_status[i] > 0)
			n += snprintf(line + n, sizeof(line) - (size_t)n,
			    " %s %zu", i == NSTATUS - 1 ? "unknown" :
			    qs_strerror(-i), t->by_status[i]);
	print_message("%s; %zu reads released bytes before failing\n", line,
	    t->released_first);
	for (i = 0; i < NSTATUS; i++) {
		if (t->by_status[i] == 0 || (i > 0 && i < NSTATUS - 1 &&
		    damage_status(-i)))
			continue;
		print_error("%s %s: %zu cases gave status %d (%s), first: "
		    "%s\n", t->chain, t->kind, t->by_status[i], -i,
		    qs_strerror(-i), t->first[i]);
	}
	if (t->early_plaintext > 0)
		print_error("%s %s: %zu reads released plaintext before "
		    "failing, first: %s\n", t->chain, t->kind,
		    t->early_plaintext, t->first_early);
	if (t->short_not_truncated > 0)
		print_error("%s %s: %zu short blobs did not give truncated, "
		    "first: %s\n", t->chain, t->kind, t->short_not_truncated,
		    t->first_short);
}

static void
check_tally(const struct tally *t)
{
	size_t unexpected = 0;
	int i;

	for (i = 1; i < NSTATUS; i++)
		if (i == NSTATUS - 1 || !damage_status(-i))
			unexpected += t->by_status[i];
	assert_int_equal(t->by_status[0], 0);
	assert_int_equal(unexpected, 0);
	assert_int_equal(t->early_plaintext, 0);
	assert_int_equal(t->short_not_truncated, 0);
}

/* The original blob, written back, must read whole and exact. */
static void
check_restored(const struct target *tg)
{
	uint8_t buf[4 * ENV_LEN], *got;
	size_t n;

	assert_int_equal(tamper_store(tg->path, tg->blob, tg->len), 0);
	if (tg->kind == QS_BLOB_ENVELOPE) {
		assert_int_equal(qs_env_load(tg->q, tg->id, buf, sizeof(buf),
		    &n), QS_OK);
		assert_int_equal(n, tg->plain_len);
		assert_memory_equal(buf, tg->plain, n);
		return;
	}
	assert_int_equal(testq_get(tg->q, tg->id, 4096, &got, &n), QS_OK);
	assert_int_equal(n, tg->plain_len);
	if (n > 0)
		assert_memory_equal(got, tg->plain, n);
	free(got);
}

static void
sweep_target(struct target *tg, const struct chain *c, struct tally *t)
{
	memset(t, 0, sizeof(*t));
	t->chain = c->name;
	t->kind = tg->kind_name;
	check_restored(tg);
	sweep_flips(tg, t);
	sweep_truncations(tg, t);
	sweep_appends(tg, t);
	check_restored(tg);
	report_tally(t);
}

static void
chain_tamper_sweep(void **state)
{
	struct fixture *f = *state;
	const struct chain *c = f->param;
	uint8_t msg[MSG_LEN], env[ENV_LEN];
	char msgid[QS_ID_MAX], evpid[QS_ID_MAX];
	struct target m, e;
	struct tally mt, et;

	if (testq_open(&f->t, c->conf) == NULL)
		fail_msg("chain %s: cannot open the queue: %s", c->name,
		    f->t.err);
	testq_pattern(msg, sizeof(msg), 21);
	testq_pattern(env, sizeof(env), 22);
	assert_int_equal(testq_put(f->t.q, msg, sizeof(msg), 33, msgid),
	    QS_OK);
	assert_int_equal(qs_env_create(f->t.q, msgid, env, sizeof(env),
	    evpid), QS_OK);

	memset(&m, 0, sizeof(m));
	m.q = f->t.q;
	m.kind = QS_BLOB_MESSAGE;
	m.kind_name = "message";
	m.id = msgid;
	m.plain = msg;
	m.plain_len = sizeof(msg);
	m.encrypted = c->encrypted;
	tamper_msg_path(f->t.qdir, msgid, m.path, sizeof(m.path));
	e = m;
	e.kind = QS_BLOB_ENVELOPE;
	e.kind_name = "envelope";
	e.id = evpid;
	e.plain = env;
	e.plain_len = sizeof(env);
	tamper_env_path(f->t.qdir, evpid, e.path, sizeof(e.path));

	assert_int_equal(tamper_load(m.path, &m.blob, &m.len), 0);
	assert_int_equal(tamper_load(e.path, &e.blob, &e.len), 0);
	m.header_len = tamper_header_len(m.blob, m.len);
	e.header_len = tamper_header_len(e.blob, e.len);
	assert_true(m.len > m.header_len + TAMPER_TRAILER_LEN);
	assert_true(e.len > e.header_len + TAMPER_TRAILER_LEN);
	sweep_target(&m, c, &mt);
	sweep_target(&e, c, &et);
	free(m.blob);
	free(e.blob);
	check_tally(&mt);
	check_tally(&et);
}

/* A compression module, its loader chain and its module file. */
struct compress_case {
	const char *file;         /* "compress-zlib": also the layer name */
	const struct chain *chain;
};

static const struct compress_case zlib_case = { "compress-zlib",
    &chains[1] };
static const struct compress_case lz4_case = { "compress-lz4",
    &chains[2] };

/* A compression module opened alone, with one stream each way. */
struct codec {
	struct modhost mh;
	const struct qs_transform_ops *ops;
	void *inst;
	void *enc;
	void *dec;
};

static const struct qs_blob_info codec_blob = {
	.size = sizeof(struct qs_blob_info),
	.kind = QS_BLOB_MESSAGE,
	.id = "0123456789abcdef",
};

static void
codec_open(struct codec *c, const char *file)
{
	char err[256] = "";
	struct qs_instance_args args = {
		.size = sizeof(struct qs_instance_args),
		.err = err,
		.err_cap = sizeof(err),
	};

	memset(c, 0, sizeof(*c));
	if (modhost_open(&c->mh, file) != 0)
		fail_msg("cannot load %s from %s", file, modhost_plugin_dir());
	c->ops = c->mh.module->ops;
	if (c->ops->instance_new(&args, &c->inst) != QS_OK)
		fail_msg("%s: instance_new failed: %s", file, err);
	assert_int_equal(c->ops->stream_new(c->inst, QS_ENCODE, &c->enc),
	    QS_OK);
	assert_int_equal(c->ops->stream_new(c->inst, QS_DECODE, &c->dec),
	    QS_OK);
}

static void
codec_close(struct codec *c)
{
	c->ops->stream_free(c->enc);
	c->ops->stream_free(c->dec);
	c->ops->instance_free(c->inst);
	modhost_close(&c->mh);
}

/* Calls without progress in a row that a stream is allowed. */
#define STALL_MAX 16

/* Output bytes offered per call, small so that QS_MORE happens. */
#define OUT_STEP 4096

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * Runs len bytes of in through stream s: stream_begin, stream_update
 * with at most piece bytes per call and no call across offset split
 * (0: none), then stream_final until it returns QS_OK. Output goes to
 * out. Returns the first status that is neither QS_OK nor QS_MORE, or
 * QS_ERR_LIMIT when out is full. Fails the test when the module breaks
 * the buffer or progress rules of plugin.h.
 */
static int
run_stream(const struct codec *c, void *s, const uint8_t *in, size_t len,
    size_t piece, size_t split, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	size_t off = 0, n, cap, used, made;
	int rc, stalls = 0;

	*out_len = 0;
	if ((rc = c->ops->stream_begin(s, &codec_blob)) != QS_OK)
		return rc;
	while (off < len) {
		n = min_size(piece, len - off);
		if (off < split && off + n > split)
			n = split - off;
		if ((cap = min_size(OUT_STEP, out_cap - *out_len)) == 0)
			return QS_ERR_LIMIT;
		rc = c->ops->stream_update(s, in + off, n, &used,
		    out + *out_len, cap, &made);
		if (rc != QS_OK)
			return rc;
		assert_true(used <= n);
		assert_true(made <= cap);
		if (used == 0 && made == 0 && ++stalls > STALL_MAX)
			fail_msg("%s: stream_update makes no progress at input "
			    "byte %zu", c->mh.module->name, off);
		off += used;
		*out_len += made;
	}
	for (stalls = 0;;) {
		if ((cap = min_size(OUT_STEP, out_cap - *out_len)) == 0)
			return QS_ERR_LIMIT;
		rc = c->ops->stream_final(s, out + *out_len, cap, &made);
		if (rc < 0)
			return rc;
		assert_true(made <= cap);
		*out_len += made;
		if (rc == QS_OK)
			return rc;
		assert_int_equal(rc, QS_MORE);
		if (made == 0 && ++stalls > STALL_MAX)
			fail_msg("%s: stream_final returns QS_MORE without "
			    "output", c->mh.module->name);
	}
}

/* Compresses data into a malloc'd buffer. */
static uint8_t *
pack(const struct codec *c, const uint8_t *data, size_t len,
    size_t *packed_len)
{
	size_t cap = len + len / 8 + 1024;
	uint8_t *packed = malloc(cap);

	assert_non_null(packed);
	assert_int_equal(run_stream(c, c->enc, data, len, len + 1, 0, packed,
	    cap, packed_len), QS_OK);
	return packed;
}

/* Mail-like text lines that compress to about a tenth. */
static void
make_lines(uint8_t *buf, size_t len, uint32_t seed)
{
	char line[96];
	size_t off = 0, n;
	uint32_t x = seed;

	while (off < len) {
		x = x * 1103515245u + 12345u;
		n = (size_t)snprintf(line, sizeof(line), "%06zu Received: "
		    "from relay%u.example.org id %04x\n", off, (x >> 16) % 8,
		    (x >> 8) & 0xfff);
		n = min_size(n, len - off);
		memcpy(buf + off, line, n);
		off += n;
	}
}

/* Piece sizes for feeding a stream: byte by byte, odd, and whole. */
static const size_t pieces[] = { 1, 61, SIZE_MAX };
#define NPIECES (sizeof(pieces) / sizeof(pieces[0]))

/*
 * Tells whether a truncation sweep feeds a stream of len bytes in
 * pieces of piece bytes. Small pieces on a long stream cost time
 * quadratic in its length, and cover nothing the short streams miss.
 */
static int
piece_wanted(size_t piece, size_t len)
{
	return len <= 4096 || piece > 64;
}

/*
 * Decodes the first len bytes of packed, a complete stream of data:
 * the decoder must fail with QS_ERR_TRUNCATED for every shorter length,
 * and what it released before must be a prefix of data.
 */
static void
check_stream_truncations(const struct codec *c, const uint8_t *data,
    size_t data_len, const uint8_t *packed, size_t packed_len)
{
	size_t cap = data_len + OUT_STEP, len, p, out_len;
	uint8_t *out = malloc(cap);
	int rc;

	assert_non_null(out);
	for (p = 0; p < NPIECES; p++) {
		rc = run_stream(c, c->dec, packed, packed_len, pieces[p], 0,
		    out, cap, &out_len);
		assert_int_equal(rc, QS_OK);
		assert_int_equal(out_len, data_len);
		assert_memory_equal(out, data, data_len);
	}
	for (len = 0; len < packed_len; len++) {
		for (p = 0; p < NPIECES; p++) {
			if (!piece_wanted(pieces[p], packed_len))
				continue;
			rc = run_stream(c, c->dec, packed, len, pieces[p], 0,
			    out, cap, &out_len);
			if (rc != QS_ERR_TRUNCATED)
				fail_msg("%s: stream of %zu bytes cut to %zu, "
				    "fed %zu bytes at a time: status %d (%s), "
				    "expected truncated", c->mh.module->name,
				    packed_len, len, pieces[p], rc,
				    qs_strerror(rc));
			assert_true(out_len <= data_len);
			assert_memory_equal(out, data, out_len);
		}
	}
	free(out);
}

static void
stream_truncations(void **state)
{
	struct fixture *f = *state;
	const struct compress_case *cc = f->param;
	static const size_t sizes[] = { 0, 1, MSG_LEN, 70000 };
	uint8_t *data = malloc(70000), *packed;
	struct codec c;
	size_t s, packed_len;

	assert_non_null(data);
	codec_open(&c, cc->file);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		if (sizes[s] == MSG_LEN)
			testq_pattern(data, sizes[s], 31);
		else
			make_lines(data, sizes[s], 32);
		packed = pack(&c, data, sizes[s], &packed_len);
		print_message("%s: %zu bytes pack to %zu\n", cc->file,
		    sizes[s], packed_len);
		check_stream_truncations(&c, data, sizes[s], packed,
		    packed_len);
		free(packed);
	}
	codec_close(&c);
	free(data);
}

/*
 * Decodes a complete stream of data followed by extra bytes: the
 * decoder must fail with QS_ERR_CORRUPT however the input is split.
 */
static void
check_stream_extra(const struct codec *c, const uint8_t *data,
    size_t data_len, const uint8_t *packed, size_t packed_len,
    const uint8_t *extra, size_t extra_len, const char *what)
{
	size_t len = packed_len + extra_len, cap = 3 * data_len + OUT_STEP;
	uint8_t *in = malloc(len), *out = malloc(cap);
	size_t p, split, out_len;
	int rc;

	assert_non_null(in);
	assert_non_null(out);
	memcpy(in, packed, packed_len);
	memcpy(in + packed_len, extra, extra_len);
	for (p = 0; p < NPIECES; p++) {
		for (split = 0; split <= packed_len; split += packed_len) {
			rc = run_stream(c, c->dec, in, len, pieces[p], split,
			    out, cap, &out_len);
			if (rc != QS_ERR_CORRUPT)
				fail_msg("%s: stream of %zu bytes with %s, fed "
				    "%zu bytes at a time%s: status %d (%s), "
				    "expected corrupt", c->mh.module->name,
				    packed_len, what, pieces[p], split > 0 ?
				    ", split at its end" : "", rc,
				    qs_strerror(rc));
			assert_true(out_len <= data_len);
			assert_memory_equal(out, data, out_len);
			if (packed_len == 0)
				break;
		}
	}
	free(in);
	free(out);
}

static void
stream_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	const struct compress_case *cc = f->param;
	static const uint8_t zero = 0x00, ones = 0xff;
	static const uint8_t seven[7] = { 0xa5, 0xa5, 0xa5, 0xa5, 0xa5,
	    0xa5, 0xa5 };
	static const size_t sizes[] = { 0, MSG_LEN, 70000 };
	uint8_t *data = malloc(70000), *packed, *empty;
	size_t s, packed_len, empty_len;
	struct codec c;

	assert_non_null(data);
	codec_open(&c, cc->file);
	empty = pack(&c, data, 0, &empty_len);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		make_lines(data, sizes[s], 33);
		packed = pack(&c, data, sizes[s], &packed_len);
		check_stream_extra(&c, data, sizes[s], packed, packed_len,
		    &zero, 1, "one zero byte after it");
		check_stream_extra(&c, data, sizes[s], packed, packed_len,
		    &ones, 1, "one 0xff byte after it");
		check_stream_extra(&c, data, sizes[s], packed, packed_len,
		    seven, sizeof(seven), "seven bytes after it");
		check_stream_extra(&c, data, sizes[s], packed, packed_len,
		    packed, packed_len, "a second copy after it");
		check_stream_extra(&c, data, sizes[s], packed, packed_len,
		    empty, empty_len, "an empty stream after it");
		free(packed);
	}
	free(empty);
	codec_close(&c);
	free(data);
}

/*
 * Stores header | body | a valid trailer as the target's blob and reads
 * it. The loader's length and CRC-32 checks pass, so any failure comes
 * from the layers.
 */
static struct outcome
try_reframed(const struct target *tg, const uint8_t *body, size_t body_len)
{
	struct outcome o;
	uint8_t *bytes;
	size_t len;

	bytes = tamper_reframe(tg->blob, tg->header_len, body, body_len, &len);
	o = try_bytes(tg, bytes, len);
	free(bytes);
	return o;
}

/* Checks that a reframed read failed with status, caught by file. */
static void
check_module_caught(const struct target *tg, const struct outcome *o,
    int status, const char *file, const char *what)
{
	const char *err = qs_error(tg->q);

	if (o->status != status)
		fail_msg("%s %s with %s and a valid trailer: status %d (%s), "
		    "expected %s", file, tg->kind_name, what, o->status,
		    qs_strerror(o->status), qs_strerror(status));
	if (strstr(err, file) == NULL)
		fail_msg("%s %s with %s: the error \"%s\" does not name the "
		    "module", file, tg->kind_name, what, err);
}

/* Body lengths to cut a reframed body to: all of a small one. */
static int
cut_length_wanted(size_t len, size_t body_len)
{
	return body_len <= 4096 || len < 64 || body_len - len < 64 ||
	    len % 1021 == 0;
}

static void
check_reframed_target(struct target *tg, const char *file)
{
	size_t body_len = tg->len - tg->header_len - TAMPER_TRAILER_LEN;
	const uint8_t *body = tg->blob + tg->header_len;
	uint8_t *twice, *same;
	struct outcome o;
	char what[CASE_MAX];
	size_t len;

	/* the rebuilt trailer must match what the loader wrote */
	same = tamper_reframe(tg->blob, tg->header_len, body, body_len, &len);
	assert_int_equal(len, tg->len);
	assert_memory_equal(same, tg->blob, len);
	free(same);
	check_restored(tg);

	twice = malloc(2 * body_len + 1);
	assert_non_null(twice);
	memcpy(twice, body, body_len);
	memcpy(twice + body_len, body, body_len);
	o = try_reframed(tg, twice, 2 * body_len);
	check_module_caught(tg, &o, QS_ERR_CORRUPT, file,
	    "a second stream appended");
	twice[body_len] = 0;
	o = try_reframed(tg, twice, body_len + 1);
	check_module_caught(tg, &o, QS_ERR_CORRUPT, file,
	    "one zero byte appended");
	free(twice);
	for (len = 0; len < body_len; len++) {
		if (!cut_length_wanted(len, body_len))
			continue;
		o = try_reframed(tg, body, len);
		snprintf(what, sizeof(what), "its body cut to %zu of %zu "
		    "bytes", len, body_len);
		check_module_caught(tg, &o, QS_ERR_TRUNCATED, file, what);
	}
	check_restored(tg);
}

static void
reframed_blob_checked_by_module(void **state)
{
	struct fixture *f = *state;
	const struct compress_case *cc = f->param;
	static const size_t sizes[] = { MSG_LEN, 200000 };
	uint8_t *data = malloc(200000), env[ENV_LEN];
	char msgid[QS_ID_MAX], evpid[QS_ID_MAX];
	struct target tg;
	size_t s;

	assert_non_null(data);
	if (testq_open(&f->t, cc->chain->conf) == NULL)
		fail_msg("chain %s: cannot open the queue: %s",
		    cc->chain->name, f->t.err);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		testq_pattern(data, sizes[s], 41 + (uint32_t)s);
		assert_int_equal(testq_put(f->t.q, data, sizes[s], 8000,
		    msgid), QS_OK);
		memset(&tg, 0, sizeof(tg));
		tg.q = f->t.q;
		tg.kind = QS_BLOB_MESSAGE;
		tg.kind_name = "message";
		tg.id = msgid;
		tg.plain = data;
		tg.plain_len = sizes[s];
		tamper_msg_path(f->t.qdir, msgid, tg.path, sizeof(tg.path));
		assert_int_equal(tamper_load(tg.path, &tg.blob, &tg.len), 0);
		tg.header_len = tamper_header_len(tg.blob, tg.len);
		check_reframed_target(&tg, cc->file);
		free(tg.blob);
	}
	testq_pattern(env, sizeof(env), 43);
	assert_int_equal(qs_env_create(f->t.q, msgid, env, sizeof(env),
	    evpid), QS_OK);
	tg.kind = QS_BLOB_ENVELOPE;
	tg.kind_name = "envelope";
	tg.id = evpid;
	tg.plain = env;
	tg.plain_len = sizeof(env);
	tamper_env_path(f->t.qdir, evpid, tg.path, sizeof(tg.path));
	assert_int_equal(tamper_load(tg.path, &tg.blob, &tg.len), 0);
	tg.header_len = tamper_header_len(tg.blob, tg.len);
	check_reframed_target(&tg, cc->file);
	free(tg.blob);
	free(data);
}

/* One sweep per chain, named after the chain. */
#define CHAIN_TEST(i, label) {                                           \
	.name = "tamper_sweep_" label,                                   \
	.test_func = chain_tamper_sweep,                                \
	.setup_func = setup,                                            \
	.teardown_func = teardown,                                      \
	.initial_state = (void *)&chains[i],                            \
}
#define COMPRESS_TEST(f, c, label) {                                     \
	.name = #f "_" label,                                            \
	.test_func = f,                                                 \
	.setup_func = setup,                                            \
	.teardown_func = teardown,                                      \
	.initial_state = (void *)&(c),                                  \
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		CHAIN_TEST(0, "none"),
		CHAIN_TEST(1, "zlib"),
		CHAIN_TEST(2, "lz4"),
		CHAIN_TEST(3, "evp"),
		CHAIN_TEST(4, "zlib_evp"),
		CHAIN_TEST(5, "lz4_evp"),
		COMPRESS_TEST(stream_truncations, zlib_case, "zlib"),
		COMPRESS_TEST(stream_truncations, lz4_case, "lz4"),
		COMPRESS_TEST(stream_trailing_bytes, zlib_case, "zlib"),
		COMPRESS_TEST(stream_trailing_bytes, lz4_case, "lz4"),
		COMPRESS_TEST(reframed_blob_checked_by_module, zlib_case,
		    "zlib"),
		COMPRESS_TEST(reframed_blob_checked_by_module, lz4_case,
		    "lz4"),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
