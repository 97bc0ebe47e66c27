/*
 * compress-lz4: each blob is one LZ4 frame (LZ4 Frame Format
 * Description 1.6.1), written with the LZ4F streaming API of liblz4:
 * 64 KB linked blocks, a checksum after every block and a content
 * checksum at the end.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include <qstack/plugin.h>

#define LZ_NAME		"lz4"
#define LZ_FORMAT	1
#define LZ_LEVEL_MIN	0
#define LZ_LEVEL_MAX	12	/* LZ4HC_CLEVEL_MAX */
#define LZ_LEVEL_DEFAULT	1
#define LZ_ERROR_MAX	256
#define LZ_QUOTE_MAX	40	/* option value bytes quoted in a message */

/*
 * Input bytes given to one LZ4F_compressUpdate call. The staging buffer
 * has LZ4F_compressBound bytes for this input size, which liblz4
 * documents as enough for one LZ4F_compressUpdate or LZ4F_compressEnd.
 */
#define LZ_CHUNK	(64 * 1024)

/* Frame header bytes the decoder checks itself: magic, FLG and BD. */
#define LZ_HEADER_CHECKED	6
#define LZ_FLG_VERSION_SHIFT	6
#define LZ_FLG_CONTENT_CHECKSUM	0x04
#define LZ_FLG_CONTENT_SIZE	0x08
#define LZ_FLG_DICT_ID		0x01
#define LZ_BD_SIZE_SHIFT	4
#define LZ_BD_SIZE_MASK		0x07
#define LZ_BD_SIZE_64KB		4

/* Stream states. */
#define ST_IDLE		0	/* created, stream_begin not called yet */
#define ST_RUN		1	/* accepting update */
#define ST_FINAL	2	/* stream_final called, output pending */
#define ST_DONE		3	/* blob complete */
#define ST_FAILED	4	/* a call failed, and status is its code */

struct lz_instance {
	int level;
};

struct lz_stream {
	uint32_t direction;
	int state;
	int status;		/* error code returned while ST_FAILED */
	unsigned long long total_in;	/* input bytes consumed */

	/* Encoder: compressed bytes wait in stage until out has room. */
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	uint8_t *stage;
	size_t stage_cap;
	size_t stage_len;
	size_t stage_pos;
	int end_staged;		/* LZ4F_compressEnd output is in stage */

	/* Decoder. */
	LZ4F_dctx *dctx;
	int ended;		/* LZ4F_decompress reached the frame end */

	char err[LZ_ERROR_MAX];
};

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

static void __attribute__((format(printf, 3, 4)))
write_line(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
}

/*
 * Copies an option value for quoting in a message: at most LZ_QUOTE_MAX
 * bytes, with bytes that are not printable ASCII replaced by '?', so
 * that the message stays one line.
 */
static void
quote_value(const char *value, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; value[i] != '\0' && i < LZ_QUOTE_MAX && i + 4 < cap;
	    i++) {
		unsigned char c = (unsigned char)value[i];

		buf[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (value[i] != '\0' && i + 4 <= cap) {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
}

/* Parses a decimal level. Signs, spaces and other characters are invalid. */
static int
parse_level(const char *value, int *level)
{
	long n = 0;
	size_t i;

	if (value == NULL || value[0] == '\0')
		return -1;
	for (i = 0; value[i] != '\0'; i++) {
		if (!isdigit((unsigned char)value[i]))
			return -1;
		n = n * 10 + (value[i] - '0');
		if (n > LZ_LEVEL_MAX)
			return -1;
	}
	*level = (int)n;
	return 0;
}

static int
read_params(const struct qs_instance_args *args, int *level)
{
	char shown[LZ_QUOTE_MAX + 8];
	const struct qs_param *p;
	size_t i;

	if (!QS_HAS_FIELD(args, struct qs_instance_args, nparams))
		return QS_OK;
	for (i = 0; i < args->nparams; i++) {
		p = &args->params[i];
		if (p->name == NULL || strcmp(p->name, "level") != 0) {
			write_line(args->err, args->err_cap,
			    "unknown lz4 option \"%s\": the only option is "
			    "level", p->name != NULL ? p->name : "");
			return QS_ERR_INVALID;
		}
		if (parse_level(p->value, level) != 0) {
			quote_value(p->value != NULL ? p->value : "", shown,
			    sizeof(shown));
			write_line(args->err, args->err_cap,
			    "invalid lz4 level \"%s\": use an integer from "
			    "%d to %d", shown, LZ_LEVEL_MIN, LZ_LEVEL_MAX);
			return QS_ERR_INVALID;
		}
	}
	return QS_OK;
}

static int
lz_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct lz_instance *inst;
	int level = LZ_LEVEL_DEFAULT;
	int rc;

	if (args == NULL || instance == NULL)
		return QS_ERR_INVALID;
	rc = read_params(args, &level);
	if (rc != QS_OK)
		return rc;
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL) {
		write_line(args->err, args->err_cap,
		    "cannot allocate an lz4 instance: out of memory");
		return QS_ERR_NOMEM;
	}
	inst->level = level;
	*instance = inst;
	return QS_OK;
}

static void
lz_instance_free(void *instance)
{
	free(instance);
}

static int __attribute__((format(printf, 3, 4)))
stream_fail(struct lz_stream *s, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	s->state = ST_FAILED;
	s->status = status;
	return status;
}

/*
 * Maps an LZ4F error code to a status. The public API has no stable
 * accessor for the error number, so the error name is compared.
 */
static int
lz4f_status(size_t code, int otherwise)
{
	if (strcmp(LZ4F_getErrorName(code), "ERROR_allocation_failed") == 0)
		return QS_ERR_NOMEM;
	return otherwise;
}

static int
encoder_new(struct lz_stream *s, int level)
{
	LZ4F_preferences_t *prefs = &s->prefs;

	memset(prefs, 0, sizeof(*prefs));
	prefs->frameInfo.blockSizeID = LZ4F_max64KB;
	prefs->frameInfo.blockMode = LZ4F_blockLinked;
	prefs->frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs->frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	prefs->frameInfo.frameType = LZ4F_frame;
	prefs->compressionLevel = level;
	prefs->autoFlush = 0;

	if (LZ4F_isError(LZ4F_createCompressionContext(&s->cctx,
	    LZ4F_VERSION)))
		return QS_ERR_NOMEM;
	s->stage_cap = LZ4F_compressBound(LZ_CHUNK, prefs);
	if (s->stage_cap < LZ4F_HEADER_SIZE_MAX)
		s->stage_cap = LZ4F_HEADER_SIZE_MAX;
	s->stage = malloc(s->stage_cap);
	if (s->stage == NULL)
		return QS_ERR_NOMEM;
	return QS_OK;
}

static void
lz_stream_free(void *stream)
{
	struct lz_stream *s = stream;

	if (s == NULL)
		return;
	if (s->cctx != NULL)
		LZ4F_freeCompressionContext(s->cctx);
	if (s->dctx != NULL)
		LZ4F_freeDecompressionContext(s->dctx);
	free(s->stage);
	free(s);
}

static int
lz_stream_new(void *instance, uint32_t direction, void **stream)
{
	struct lz_instance *inst = instance;
	struct lz_stream *s;
	int rc = QS_OK;

	if (inst == NULL || stream == NULL ||
	    (direction != QS_ENCODE && direction != QS_DECODE))
		return QS_ERR_INVALID;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return QS_ERR_NOMEM;
	s->direction = direction;
	if (direction == QS_ENCODE)
		rc = encoder_new(s, inst->level);
	else if (LZ4F_isError(LZ4F_createDecompressionContext(&s->dctx,
	    LZ4F_VERSION)))
		rc = QS_ERR_NOMEM;
	if (rc != QS_OK) {
		lz_stream_free(s);
		return rc;
	}
	*stream = s;
	return QS_OK;
}

/*
 * Starts a blob. The encoder writes the frame header into the staging
 * buffer.
 *
 * NOTE: liblz4 1.9.4 frees and reallocates the context's 192 KB block
 * buffer in every LZ4F_compressBegin, so a warm encoder makes one
 * allocation per blob. Later lz4 releases keep the buffer.
 */
static int
lz_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	struct lz_stream *s = stream;
	size_t r;

	if (s == NULL)
		return QS_ERR_INVALID;
	s->err[0] = '\0';
	s->total_in = 0;
	s->stage_len = 0;
	s->stage_pos = 0;
	s->end_staged = 0;
	s->ended = 0;
	s->status = QS_OK;
	if (s->direction == QS_DECODE) {
		/*
		 * In liblz4 1.9.4, LZ4F_resetDecompressionContext keeps the
		 * frame size of a frame that did not finish, so every later
		 * frame fails with ERROR_frameSize_wrong (reported upstream as
		 * lz4 issue 1227). Only a finished frame's context is reused.
		 */
		if (s->state != ST_DONE && s->state != ST_IDLE) {
			LZ4F_freeDecompressionContext(s->dctx);
			s->dctx = NULL;
			r = LZ4F_createDecompressionContext(&s->dctx,
			    LZ4F_VERSION);
			if (LZ4F_isError(r)) {
				s->dctx = NULL;
				return stream_fail(s, QS_ERR_NOMEM,
				    "cannot create an LZ4 decompression "
				    "context: %s", LZ4F_getErrorName(r));
			}
		} else {
			LZ4F_resetDecompressionContext(s->dctx);
		}
		s->state = ST_RUN;
		return QS_OK;
	}
	r = LZ4F_compressBegin(s->cctx, s->stage, s->stage_cap, &s->prefs);
	if (LZ4F_isError(r))
		return stream_fail(s, lz4f_status(r, QS_ERR_INVALID),
		    "LZ4F_compressBegin failed: %s", LZ4F_getErrorName(r));
	s->stage_len = r;
	s->state = ST_RUN;
	return QS_OK;
}

/* Rejects calls that do not fit the stream's state. */
static int
check_state(struct lz_stream *s, int want)
{
	if (s->state == ST_FAILED)
		return s->status;
	if (s->state == ST_IDLE)
		return stream_fail(s, QS_ERR_INVALID,
		    "lz4 stream used before stream_begin: call "
		    "stream_begin first");
	if (want == ST_RUN && s->state != ST_RUN)
		return stream_fail(s, QS_ERR_INVALID,
		    "lz4 stream_update called after stream_final: call "
		    "stream_begin for the next blob");
	return QS_OK;
}

/* Copies staged bytes to out[*out_len..out_cap). */
static void
drain_stage(struct lz_stream *s, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	size_t n = s->stage_len - s->stage_pos;

	if (n > out_cap - *out_len)
		n = out_cap - *out_len;
	if (n == 0)
		return;
	memcpy(out + *out_len, s->stage + s->stage_pos, n);
	s->stage_pos += n;
	*out_len += n;
}

static int
encode_update(struct lz_stream *s, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t n, r;

	for (;;) {
		drain_stage(s, out, out_cap, out_len);
		if (s->stage_pos < s->stage_len || *in_used == in_len)
			return QS_OK;
		n = in_len - *in_used;
		if (n > LZ_CHUNK)
			n = LZ_CHUNK;
		r = LZ4F_compressUpdate(s->cctx, s->stage, s->stage_cap,
		    in + *in_used, n, NULL);
		if (LZ4F_isError(r))
			return stream_fail(s, lz4f_status(r, QS_ERR_INVALID),
			    "LZ4F_compressUpdate failed: %s",
			    LZ4F_getErrorName(r));
		s->stage_len = r;
		s->stage_pos = 0;
		*in_used += n;
		s->total_in += n;
	}
}

/*
 * Checks the frame header bytes at positions total_in.. that LZ4F is
 * about to read: the magic number, and in FLG and BD the fields that
 * format 1 fixes. LZ4F checks the rest, including the header checksum.
 * Limiting the block size here keeps LZ4F from sizing its buffers for
 * blocks of up to 4 MB on the word of the input.
 */
static int
check_header(struct lz_stream *s, const uint8_t *in, size_t in_len)
{
	static const uint8_t magic[4] = { 0x04, 0x22, 0x4d, 0x18 };
	unsigned long long pos;
	uint8_t b;
	size_t i;

	for (i = 0; i < in_len && s->total_in + i < LZ_HEADER_CHECKED; i++) {
		pos = s->total_in + i;
		b = in[i];
		if (pos < sizeof(magic) && b != magic[pos])
			return stream_fail(s, QS_ERR_CORRUPT,
			    "blob does not start with the LZ4 frame magic "
			    "number 0x184D2204 (byte %llu is 0x%02x): the "
			    "blob is corrupt", pos, b);
		if (pos == 4 && b >> LZ_FLG_VERSION_SHIFT != 1)
			return stream_fail(s, QS_ERR_CORRUPT,
			    "LZ4 frame version is %u, expected 1: the blob "
			    "is corrupt", b >> LZ_FLG_VERSION_SHIFT);
		if (pos == 4 && (b & LZ_FLG_CONTENT_CHECKSUM) == 0)
			return stream_fail(s, QS_ERR_CORRUPT,
			    "LZ4 frame has no content checksum, which lz4 "
			    "format 1 always writes: the blob is corrupt");
		if (pos == 4 && (b & LZ_FLG_CONTENT_SIZE) != 0)
			return stream_fail(s, QS_ERR_CORRUPT,
			    "LZ4 frame declares a content size, which lz4 "
			    "format 1 never writes: the blob is corrupt");
		if (pos == 4 && (b & LZ_FLG_DICT_ID) != 0)
			return stream_fail(s, QS_ERR_CORRUPT,
			    "LZ4 frame names a dictionary, which lz4 format "
			    "1 never uses: the blob is corrupt");
		if (pos == 5 && ((b >> LZ_BD_SIZE_SHIFT) & LZ_BD_SIZE_MASK) !=
		    LZ_BD_SIZE_64KB)
			return stream_fail(s, QS_ERR_CORRUPT,
			    "LZ4 frame block maximum size id is %u, but lz4 "
			    "format 1 allows only 4 (64 KB): the blob is "
			    "corrupt", (b >> LZ_BD_SIZE_SHIFT) &
			    LZ_BD_SIZE_MASK);
	}
	return QS_OK;
}

static int
fail_trailing(struct lz_stream *s, size_t extra)
{
	return stream_fail(s, QS_ERR_CORRUPT,
	    "%zu bytes follow the end of the LZ4 frame at compressed byte "
	    "%llu: a blob contains exactly one frame", extra, s->total_in);
}

/*
 * Runs LZ4F_decompress once. Returns QS_OK at the end of the frame,
 * QS_MORE before it, or an error.
 */
static int
decompress_step(struct lz_stream *s, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	static const uint8_t none;
	size_t src_len = in_len;
	size_t dst_len = out_cap;
	size_t r;

	r = LZ4F_decompress(s->dctx, out, &dst_len, in_len > 0 ? in : &none,
	    &src_len, NULL);
	if (LZ4F_isError(r))
		return stream_fail(s, lz4f_status(r, QS_ERR_CORRUPT),
		    "LZ4 frame is corrupt near compressed byte %llu: %s",
		    s->total_in, LZ4F_getErrorName(r));
	*in_used = src_len;
	*out_len = dst_len;
	s->total_in += src_len;
	if (r != 0)
		return QS_MORE;
	s->ended = 1;
	return QS_OK;
}

static int
decode_update(struct lz_stream *s, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	int rc;

	rc = check_header(s, in, in_len);
	if (rc != QS_OK)
		return rc;
	rc = decompress_step(s, in, in_len, in_used, out, out_cap, out_len);
	if (rc < 0)
		return rc;
	if (s->ended && *in_used < in_len)
		return fail_trailing(s, in_len - *in_used);
	return QS_OK;
}

static int
lz_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct lz_stream *s = stream;
	int rc;

	if (s == NULL || in_used == NULL || out_len == NULL ||
	    (in == NULL && in_len > 0) || (out == NULL && out_cap > 0))
		return QS_ERR_INVALID;
	*in_used = 0;
	*out_len = 0;
	rc = check_state(s, ST_RUN);
	if (rc != QS_OK)
		return rc;
	if (s->ended && in_len > 0)
		return fail_trailing(s, in_len);
	if (s->ended || out_cap == 0)
		return QS_OK;
	if (s->direction == QS_ENCODE)
		return encode_update(s, in, in_len, in_used, out, out_cap,
		    out_len);
	return decode_update(s, in, in_len, in_used, out, out_cap, out_len);
}

static int
encode_final(struct lz_stream *s, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	size_t r;

	drain_stage(s, out, out_cap, out_len);
	if (s->stage_pos < s->stage_len)
		return QS_MORE;
	if (!s->end_staged) {
		r = LZ4F_compressEnd(s->cctx, s->stage, s->stage_cap, NULL);
		if (LZ4F_isError(r))
			return stream_fail(s, lz4f_status(r, QS_ERR_INVALID),
			    "LZ4F_compressEnd failed: %s",
			    LZ4F_getErrorName(r));
		s->stage_len = r;
		s->stage_pos = 0;
		s->end_staged = 1;
		drain_stage(s, out, out_cap, out_len);
		if (s->stage_pos < s->stage_len)
			return QS_MORE;
	}
	return QS_OK;
}

/*
 * Flushes the decoder. With no input left, LZ4F_decompress stops short
 * of a full out buffer only at the frame end or when it needs more
 * input: the input stopped early.
 */
static int
decode_final(struct lz_stream *s, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	size_t in_used;
	int rc;

	if (s->ended)
		return QS_OK;
	rc = decompress_step(s, NULL, 0, &in_used, out, out_cap, out_len);
	if (rc != QS_MORE || *out_len == out_cap)
		return rc;
	return stream_fail(s, QS_ERR_TRUNCATED,
	    "LZ4 frame ends early after %llu compressed bytes: the blob is "
	    "truncated", s->total_in);
}

static int
lz_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	struct lz_stream *s = stream;
	int rc;

	if (s == NULL || out_len == NULL || (out == NULL && out_cap > 0))
		return QS_ERR_INVALID;
	*out_len = 0;
	rc = check_state(s, ST_FINAL);
	if (rc != QS_OK || s->state == ST_DONE)
		return rc;
	s->state = ST_FINAL;
	if (out_cap == 0 && !s->ended)
		return QS_MORE;
	if (s->direction == QS_ENCODE)
		rc = encode_final(s, out, out_cap, out_len);
	else
		rc = decode_final(s, out, out_cap, out_len);
	if (rc == QS_OK)
		s->state = ST_DONE;
	return rc;
}

static const char *
lz_stream_error(void *stream)
{
	struct lz_stream *s = stream;

	return s != NULL && s->err[0] != '\0' ? s->err : NULL;
}

static const struct qs_option lz_options[] = {
	{ sizeof(struct qs_option), QS_OPT_INT, "level",
	    "compression level from 0 to 12, default 1: levels 0 to 2 use "
	    "the fast encoder, 3 to 12 use LZ4HC" },
	{ sizeof(struct qs_option), 0, NULL, NULL },
};

static const struct qs_transform_ops lz_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = lz_instance_new,
	.instance_free = lz_instance_free,
	.stream_new = lz_stream_new,
	.stream_begin = lz_stream_begin,
	.stream_update = lz_stream_update,
	.stream_final = lz_stream_final,
	.stream_free = lz_stream_free,
	.stream_error = lz_stream_error,
	.key_id = NULL,
};

static const struct qs_module lz_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = LZ_FORMAT,
	.name = LZ_NAME,
	.version = "1.0.0",
	.description = "LZ4 frame compression, one frame per blob",
	.options = lz_options,
	.ops = &lz_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &lz_module;
}
