/*
 * compress-zlib: each blob is one zlib stream (RFC 1950): a 2-byte
 * header, raw deflate data (RFC 1951) and the Adler-32 of the
 * uncompressed bytes. The encoder uses a 32 KB window (windowBits 15),
 * memLevel 8 and the default strategy. Only the level is configurable.
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include <qstack/plugin.h>

#define ZL_NAME		"zlib"
#define ZL_FORMAT	1
#define ZL_LEVEL_MIN	0
#define ZL_LEVEL_MAX	9
#define ZL_LEVEL_DEFAULT	6
#define ZL_WINDOW_BITS	15
#define ZL_MEM_LEVEL	8
#define ZL_ERROR_MAX	256
#define ZL_QUOTE_MAX	40	/* option value bytes quoted in a message */

/* Stream states. */
#define ST_IDLE		0	/* created, stream_begin not called yet */
#define ST_RUN		1	/* accepting update */
#define ST_FINAL	2	/* stream_final called, output pending */
#define ST_DONE		3	/* blob complete */
#define ST_FAILED	4	/* a call failed, and status is its code */

struct zl_instance {
	int level;
};

struct zl_stream {
	z_stream z;
	uint32_t direction;
	int state;
	int ended;		/* decoder: inflate reached the stream end */
	int status;		/* error code returned while ST_FAILED */
	char err[ZL_ERROR_MAX];
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
 * Copies an option value for quoting in a message: at most ZL_QUOTE_MAX
 * bytes, with bytes that are not printable ASCII replaced by '?', so
 * that the message stays one line.
 */
static void
quote_value(const char *value, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; value[i] != '\0' && i < ZL_QUOTE_MAX && i + 4 < cap;
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
		if (n > ZL_LEVEL_MAX)
			return -1;
	}
	*level = (int)n;
	return 0;
}

static int
read_params(const struct qs_instance_args *args, int *level)
{
	char shown[ZL_QUOTE_MAX + 8];
	const struct qs_param *p;
	size_t i;

	if (!QS_HAS_FIELD(args, struct qs_instance_args, nparams))
		return QS_OK;
	for (i = 0; i < args->nparams; i++) {
		p = &args->params[i];
		if (p->name == NULL || strcmp(p->name, "level") != 0) {
			write_line(args->err, args->err_cap,
			    "unknown zlib option \"%s\": the only option is "
			    "level", p->name != NULL ? p->name : "");
			return QS_ERR_INVALID;
		}
		if (parse_level(p->value, level) != 0) {
			quote_value(p->value != NULL ? p->value : "", shown,
			    sizeof(shown));
			write_line(args->err, args->err_cap,
			    "invalid zlib level \"%s\": use an integer from "
			    "%d to %d", shown, ZL_LEVEL_MIN, ZL_LEVEL_MAX);
			return QS_ERR_INVALID;
		}
	}
	return QS_OK;
}

static int
zl_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct zl_instance *inst;
	int level = ZL_LEVEL_DEFAULT;
	int rc;

	if (args == NULL || instance == NULL)
		return QS_ERR_INVALID;
	rc = read_params(args, &level);
	if (rc != QS_OK)
		return rc;
	inst = calloc(1, sizeof(*inst));
	if (inst == NULL) {
		write_line(args->err, args->err_cap,
		    "cannot allocate a zlib instance: out of memory");
		return QS_ERR_NOMEM;
	}
	inst->level = level;
	*instance = inst;
	return QS_OK;
}

static void
zl_instance_free(void *instance)
{
	free(instance);
}

static int __attribute__((format(printf, 3, 4)))
stream_fail(struct zl_stream *s, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	s->state = ST_FAILED;
	s->status = status;
	return status;
}

static int
zl_stream_new(void *instance, uint32_t direction, void **stream)
{
	struct zl_instance *inst = instance;
	struct zl_stream *s;
	int zrc;

	if (inst == NULL || stream == NULL ||
	    (direction != QS_ENCODE && direction != QS_DECODE))
		return QS_ERR_INVALID;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return QS_ERR_NOMEM;
	s->direction = direction;
	if (direction == QS_ENCODE)
		zrc = deflateInit2(&s->z, inst->level, Z_DEFLATED,
		    ZL_WINDOW_BITS, ZL_MEM_LEVEL, Z_DEFAULT_STRATEGY);
	else
		zrc = inflateInit2(&s->z, ZL_WINDOW_BITS);
	if (zrc != Z_OK) {
		free(s);
		return zrc == Z_MEM_ERROR ? QS_ERR_NOMEM : QS_ERR_UNSUPPORTED;
	}
	*stream = s;
	return QS_OK;
}

static void
zl_stream_free(void *stream)
{
	struct zl_stream *s = stream;

	if (s == NULL)
		return;
	if (s->direction == QS_ENCODE)
		deflateEnd(&s->z);
	else
		inflateEnd(&s->z);
	free(s);
}

/* Resets the z_stream without freeing its window or tables. */
static int
zl_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	struct zl_stream *s = stream;
	int zrc;

	if (s == NULL)
		return QS_ERR_INVALID;
	if (s->direction == QS_ENCODE)
		zrc = deflateReset(&s->z);
	else
		zrc = inflateReset(&s->z);
	s->err[0] = '\0';
	if (zrc != Z_OK)
		return stream_fail(s, QS_ERR_INVALID,
		    "zlib stream reset failed: %s", zError(zrc));
	s->state = ST_RUN;
	s->ended = 0;
	s->status = QS_OK;
	return QS_OK;
}

/* Rejects calls that do not fit the stream's state. */
static int
check_state(struct zl_stream *s, int want)
{
	if (s->state == ST_FAILED)
		return s->status;
	if (s->state == ST_IDLE)
		return stream_fail(s, QS_ERR_INVALID,
		    "zlib stream used before stream_begin: call "
		    "stream_begin first");
	if (want == ST_RUN && s->state != ST_RUN)
		return stream_fail(s, QS_ERR_INVALID,
		    "zlib stream_update called after stream_final: call "
		    "stream_begin for the next blob");
	return QS_OK;
}

static void
set_buffers(struct zl_stream *s, const uint8_t *in, size_t in_len,
    uint8_t *out, size_t out_cap)
{
	s->z.next_in = (Bytef *)(uintptr_t)in;
	s->z.avail_in = in_len > UINT_MAX ? UINT_MAX : (uInt)in_len;
	s->z.next_out = out;
	s->z.avail_out = out_cap > UINT_MAX ? UINT_MAX : (uInt)out_cap;
}

static int
fail_trailing(struct zl_stream *s, size_t extra)
{
	return stream_fail(s, QS_ERR_CORRUPT,
	    "%zu bytes follow the end of the zlib stream at compressed "
	    "byte %lu: a blob contains exactly one stream", extra,
	    s->z.total_in);
}

/* Runs deflate once. Z_BUF_ERROR only means that no progress was made. */
static int
deflate_step(struct zl_stream *s, int flush)
{
	int zrc = deflate(&s->z, flush);

	if (zrc == Z_OK || zrc == Z_BUF_ERROR)
		return QS_MORE;
	if (zrc == Z_STREAM_END)
		return QS_OK;
	return stream_fail(s, QS_ERR_INVALID, "zlib deflate failed: %s",
	    s->z.msg != NULL ? s->z.msg : zError(zrc));
}

/*
 * Runs inflate once. Returns QS_OK at the end of the stream, QS_MORE
 * before it, or an error.
 */
static int
inflate_step(struct zl_stream *s)
{
	int zrc = inflate(&s->z, Z_NO_FLUSH);

	switch (zrc) {
	case Z_OK:
	case Z_BUF_ERROR:
		return QS_MORE;
	case Z_STREAM_END:
		s->ended = 1;
		return QS_OK;
	case Z_NEED_DICT:
		return stream_fail(s, QS_ERR_CORRUPT,
		    "zlib header requests a preset dictionary, which this "
		    "format never uses: the blob is corrupt");
	case Z_MEM_ERROR:
		return stream_fail(s, QS_ERR_NOMEM,
		    "zlib inflate failed: out of memory");
	default:
		return stream_fail(s, QS_ERR_CORRUPT,
		    "zlib stream is corrupt near compressed byte %lu: %s",
		    s->z.total_in,
		    s->z.msg != NULL ? s->z.msg : zError(zrc));
	}
}

static int
zl_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct zl_stream *s = stream;
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
	set_buffers(s, in, in_len, out, out_cap);
	if (s->direction == QS_ENCODE)
		rc = deflate_step(s, Z_NO_FLUSH);
	else
		rc = inflate_step(s);
	*in_used = in_len == 0 ? 0 : (size_t)(s->z.next_in - in);
	*out_len = (size_t)(s->z.next_out - out);
	if (rc < 0)
		return rc;
	if (s->ended && *in_used < in_len)
		return fail_trailing(s, in_len - *in_used);
	return QS_OK;
}

static int
zl_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	struct zl_stream *s = stream;
	int rc;

	if (s == NULL || out_len == NULL || (out == NULL && out_cap > 0))
		return QS_ERR_INVALID;
	*out_len = 0;
	rc = check_state(s, ST_FINAL);
	if (rc != QS_OK || s->state == ST_DONE)
		return rc;
	s->state = ST_FINAL;
	if (s->ended) {
		s->state = ST_DONE;
		return QS_OK;
	}
	if (out_cap == 0)
		return QS_MORE;
	set_buffers(s, NULL, 0, out, out_cap);
	if (s->direction == QS_ENCODE)
		rc = deflate_step(s, Z_FINISH);
	else
		rc = inflate_step(s);
	*out_len = (size_t)(s->z.next_out - out);
	if (rc == QS_OK)
		s->state = ST_DONE;
	/*
	 * With no input left, inflate stops short of a full out buffer only
	 * at the stream end or when it needs more input: the input stopped
	 * early.
	 */
	if (rc != QS_MORE || *out_len == out_cap || s->direction == QS_ENCODE)
		return rc;
	return stream_fail(s, QS_ERR_TRUNCATED,
	    "zlib stream ends early after %lu compressed bytes: the blob "
	    "is truncated", s->z.total_in);
}

static const char *
zl_stream_error(void *stream)
{
	struct zl_stream *s = stream;

	return s != NULL && s->err[0] != '\0' ? s->err : NULL;
}

static const struct qs_option zl_options[] = {
	{ sizeof(struct qs_option), QS_OPT_INT, "level",
	    "compression level from 0 (store only) to 9 (smallest output), "
	    "default 6" },
	{ sizeof(struct qs_option), 0, NULL, NULL },
};

static const struct qs_transform_ops zl_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = zl_instance_new,
	.instance_free = zl_instance_free,
	.stream_new = zl_stream_new,
	.stream_begin = zl_stream_begin,
	.stream_update = zl_stream_update,
	.stream_final = zl_stream_final,
	.stream_free = zl_stream_free,
	.stream_error = zl_stream_error,
	.key_id = NULL,
};

static const struct qs_module zl_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = ZL_FORMAT,
	.name = ZL_NAME,
	.version = "1.0.0",
	.description = "zlib (RFC 1950) compression, one stream per blob",
	.options = zl_options,
	.ops = &zl_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &zl_module;
}
