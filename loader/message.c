/*
 * Messages: streamed through the chain in constant memory, with no
 * temporary file and no plaintext written anywhere.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

/* Attempts at finding an unused random message id. */
#define ID_TRIES 8

/*
 * Bytes an encoding chain may write per application byte, plus
 * QS_RATIO_SLACK. Compression expands incompressible input by under 1%
 * and encryption adds a fixed overhead per chunk, so only a broken
 * module comes near it.
 */
#define QS_GROWTH_MAX 2

struct qs_msg_writer {
	struct qs_queue *q;
	char id[QS_ID_MAX];
	void *bw;                 /* backend writer */
	struct qs_chain chain;
	struct qs_xform *xforms[2];
	void *streams[2];
	size_t nstreams;
	uint64_t size;            /* application bytes */
	uint64_t body;            /* bytes after the header */
	uint64_t stored;
	uLong crc;
	int status;               /* sticky error, or QS_OK */
};

struct qs_msg_reader {
	struct qs_queue *q;
	char id[QS_ID_MAX];
	void *br;                 /* backend reader */
	struct qs_chain chain;
	struct qs_xform *xforms[QS_LAYERS_MAX];
	void *streams[QS_LAYERS_MAX];
	size_t nstreams;
	uint8_t header[QS_FRAME_HEADER_MAX];
	size_t header_len;
	uint8_t *raw;             /* bytes read from the backend */
	size_t raw_off, raw_len;
	int backend_eof;
	uint64_t body;
	uLong crc;
	uint64_t released;        /* bytes handed to the application */
	uint64_t max_release;     /* limit on released, from queue limits */
	int status;               /* sticky error, or QS_OK */
};

/*
 * Most bytes a blob of stored bytes may decode to: the max-ratio limit,
 * plus QS_RATIO_SLACK so small blobs are never cut, capped by
 * max-message-size. Writer and reader apply the same rule, so a blob the
 * writer accepted always reads back under the same limits.
 */
static uint64_t
max_decoded(const struct qs_queue *q, uint64_t stored)
{
	uint64_t max = UINT64_MAX;

	if (stored <= (UINT64_MAX - QS_RATIO_SLACK) / q->max_ratio)
		max = stored * q->max_ratio + QS_RATIO_SLACK;
	if (q->max_message_size != 0 && q->max_message_size < max)
		max = q->max_message_size;
	return max;
}

static void
free_streams(struct qs_xform **x, void **streams, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (streams[i] != NULL)
			x[i]->ops->stream_free(streams[i]);
}

static int
backend_write(struct qs_msg_writer *w, const uint8_t *buf, size_t len)
{
	int rc;

	if (len == 0)
		return QS_OK;
	rc = w->q->bops->msg_write(w->bw, buf, len);
	if (rc != QS_OK) {
		qs_seterr(w->q, "cannot write message %s: %s: %s", w->id,
		    qs_strerror(rc), qs_backend_error(w->q));
		return rc;
	}
	w->stored += len;
	return QS_OK;
}

/* Sends the chain's output to the backend. */
static int
drain(struct qs_msg_writer *w)
{
	struct qs_chain *c = &w->chain;
	char names[256];
	int rc;

	if (c->out_len == 0)
		return QS_OK;
	if (w->body + c->out_len > w->size * QS_GROWTH_MAX + QS_RATIO_SLACK) {
		qs_chain_names(c, names, sizeof(names));
		qs_seterr(w->q, "writing message %s failed: modules %s wrote "
		    "more than %d bytes per input byte plus %d; one of them "
		    "is broken, remove it from the configuration or fix it",
		    w->id, names, QS_GROWTH_MAX, QS_RATIO_SLACK);
		return QS_ERR_LIMIT;
	}
	w->crc = crc32(w->crc, c->out + c->out_off, (uInt)c->out_len);
	w->body += c->out_len;
	rc = backend_write(w, c->out + c->out_off, c->out_len);
	c->out_off = c->out_len = 0;
	return rc;
}

static int
chain_error(struct qs_queue *q, const char *what, const char *id,
    struct qs_chain *c, int rc)
{
	qs_seterr(q, "%s %s failed: %s", what, id,
	    c->err[0] ? c->err : qs_strerror(rc));
	return rc;
}

static int
start_backend_message(struct qs_msg_writer *w, const char *replace_id)
{
	int rc = QS_ERR_EXISTS, tries;

	if (replace_id != NULL) {
		strcpy(w->id, replace_id);
		if (!QS_HAS_FIELD(w->q->bops, struct qs_queue_ops,
		    msg_replace) || w->q->bops->msg_replace == NULL) {
			qs_seterr(w->q, "backend %s cannot replace messages; "
			    "use a backend that supports it",
			    w->q->backend_mod.stem);
			return QS_ERR_UNSUPPORTED;
		}
		rc = w->q->bops->msg_replace(w->q->backend, w->id, &w->bw);
		if (rc != QS_OK) {
			w->bw = NULL;
			qs_seterr(w->q, "cannot replace message %s: %s: %s",
			    w->id, qs_strerror(rc), qs_backend_error(w->q));
		}
		return rc;
	}

	for (tries = 0; tries < ID_TRIES && rc == QS_ERR_EXISTS; tries++) {
		if ((rc = qs_new_id(w->id, QS_MSGID_LEN)) != 0)
			break;
		rc = w->q->bops->msg_create(w->q->backend, w->id, &w->bw);
	}
	if (rc != QS_OK) {
		w->bw = NULL;
		qs_seterr(w->q, "cannot create a message: %s: %s",
		    qs_strerror(rc), qs_backend_error(w->q));
	}
	return rc;
}

static int
build_writer_chain(struct qs_msg_writer *w, struct qs_blob_info *blob)
{
	struct qs_queue *q = w->q;
	size_t i;
	int rc;

	if (q->compress != NULL)
		w->xforms[w->nstreams++] = q->compress;
	if (q->crypto != NULL && q->crypto_writes)
		w->xforms[w->nstreams++] = q->crypto;
	if ((rc = qs_chain_init(&w->chain)) != 0)
		return rc;
	for (i = 0; i < w->nstreams; i++) {
		struct qs_xform *x = w->xforms[i];

		rc = qs_module_status(x->ops->stream_new(x->instance,
		    QS_ENCODE, &w->streams[i]));
		if (rc != QS_OK) {
			w->streams[i] = NULL;
			qs_seterr(q, "%s: cannot create a stream: %s",
			    x->mod.stem, qs_strerror(rc));
			return rc;
		}
		rc = qs_chain_add(&w->chain, x->ops, w->streams[i],
		    x->mod.stem);
		if (rc != 0)
			return rc;
		w->chain.stages[i].format_version =
		    x->mod.module->format_version;
	}
	if (w->nstreams == 0 &&
	    (rc = qs_chain_add(&w->chain, NULL, NULL, "identity")) != 0)
		return rc;
	if ((rc = qs_chain_begin(&w->chain, blob)) != 0)
		return chain_error(q, "starting message", w->id, &w->chain, rc);
	return QS_OK;
}

/*
 * Starts a message writer: a new message with a fresh id, or, with
 * replace_id set, a blob that replaces that message when committed.
 */
int
qs_msg_writer_new(struct qs_queue *q, const char *replace_id,
    struct qs_msg_writer **out)
{
	struct qs_msg_writer *w;
	struct qs_blob_info blob;
	struct qs_frame frame;
	uint8_t header[QS_FRAME_HEADER_MAX];
	size_t header_len;
	int rc;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return QS_ERR_NOMEM;
	w->q = q;
	w->crc = crc32(0, NULL, 0);
	rc = qs_queue_header(q, QS_BLOB_MESSAGE, &frame, header, &header_len);
	if (rc == 0)
		rc = start_backend_message(w, replace_id);
	if (rc != 0)
		goto fail;
	memset(&blob, 0, sizeof(blob));
	blob.size = sizeof(blob);
	blob.kind = QS_BLOB_MESSAGE;
	blob.id = w->id;
	blob.header = header;
	blob.header_len = header_len;
	if ((rc = build_writer_chain(w, &blob)) != 0)
		goto fail;
	w->crc = crc32(w->crc, header, (uInt)header_len);
	if ((rc = backend_write(w, header, header_len)) != 0)
		goto fail;
	*out = w;
	return QS_OK;
fail:
	qs_msg_abort(w);
	return rc;
}

QS_API int
qs_msg_create(struct qs_queue *q, struct qs_msg_writer **out)
{
	return qs_msg_writer_new(q, NULL, out);
}

QS_API const char *
qs_msg_writer_id(const struct qs_msg_writer *w)
{
	return w->id;
}

QS_API int
qs_msg_write(struct qs_msg_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint8_t *dst;
	size_t space, n;
	int rc;

	if (w->status != QS_OK)
		return w->status;
	if (w->q->max_message_size != 0 &&
	    len > w->q->max_message_size - w->size) {
		qs_seterr(w->q, "message %s is larger than max-message-size "
		    "(%llu bytes); raise queue limits max-message-size to "
		    "store it", w->id,
		    (unsigned long long)w->q->max_message_size);
		return w->status = QS_ERR_LIMIT;
	}
	while (len > 0) {
		space = qs_chain_space(&w->chain, &dst);
		n = len < space ? len : space;
		memcpy(dst, p, n);
		qs_chain_fed(&w->chain, n);
		p += n;
		len -= n;
		w->size += n;
		if ((rc = qs_chain_pump(&w->chain)) != 0)
			return w->status = chain_error(w->q, "writing message",
			    w->id, &w->chain, rc);
		if ((rc = drain(w)) != 0)
			return w->status = rc;
	}
	return QS_OK;
}

QS_API int
qs_msg_commit(struct qs_msg_writer *w, struct qs_msg_stat *stat)
{
	uint8_t trailer[QS_FRAME_TRAILER];
	int rc = w->status;

	w->chain.source_done = 1;
	while (rc == QS_OK && !w->chain.done) {
		if ((rc = qs_chain_pump(&w->chain)) != 0) {
			chain_error(w->q, "writing message", w->id, &w->chain,
			    rc);
			break;
		}
		if ((rc = drain(w)) != 0)
			break;
	}
	if (rc == QS_OK &&
	    w->size > max_decoded(w->q, w->stored + sizeof(trailer))) {
		qs_seterr(w->q, "message %s compresses by more than max-ratio "
		    "%llu to 1; raise queue limits max-ratio to store it",
		    w->id, (unsigned long long)w->q->max_ratio);
		rc = QS_ERR_LIMIT;
	}
	if (rc == QS_OK) {
		qs_frame_trailer(w->body, (uint32_t)w->crc, trailer);
		rc = backend_write(w, trailer, sizeof(trailer));
	}
	if (rc == QS_OK) {
		rc = w->q->bops->msg_commit(w->bw);
		w->bw = NULL;
		if (rc != QS_OK)
			qs_seterr(w->q, "cannot commit message %s: %s: %s",
			    w->id, qs_strerror(rc), qs_backend_error(w->q));
	}
	if (rc == QS_OK && stat != NULL) {
		stat->size = w->size;
		stat->stored_size = w->stored;
	}
	qs_msg_abort(w);
	return rc;
}

QS_API void
qs_msg_abort(struct qs_msg_writer *w)
{
	if (w == NULL)
		return;
	if (w->bw != NULL)
		w->q->bops->msg_abort(w->bw);
	free_streams(w->xforms, w->streams, w->nstreams);
	qs_chain_free(&w->chain);
	free(w);
}

/* Appends what the backend returns to r->raw; checks its count. */
static int
backend_read(struct qs_msg_reader *r)
{
	size_t cap = QS_CHAIN_BUF - r->raw_off - r->raw_len, n = 0;
	int rc;

	rc = qs_module_status(r->q->bops->msg_read(r->br,
	    r->raw + r->raw_off + r->raw_len, cap, &n));
	if (rc != QS_OK) {
		qs_seterr(r->q, "cannot read message %s: %s: %s", r->id,
		    qs_strerror(rc), qs_backend_error(r->q));
		return rc;
	}
	if (n > cap) {
		qs_seterr(r->q, "backend %s reported %zu bytes read into a "
		    "buffer of %zu while reading message %s; fix or replace "
		    "the backend module", r->q->backend_mod.stem, n, cap,
		    r->id);
		return QS_ERR_MODULE;
	}
	if (n == 0)
		r->backend_eof = 1;
	r->raw_len += n;
	return QS_OK;
}

/* Reads from the backend until the blob's header is complete. */
static int
read_header(struct qs_msg_reader *r, struct qs_frame *frame)
{
	size_t need;
	int rc;

	for (;;) {
		rc = qs_frame_decode(r->raw, r->raw_len, frame, &r->header_len,
		    &need);
		if (rc != QS_ERR_TRUNCATED)
			break;
		if (r->backend_eof)
			break;
		if ((rc = backend_read(r)) != QS_OK)
			return rc;
	}
	if (rc != QS_OK) {
		qs_seterr(r->q, "message %s has a %s header; the blob is "
		    "damaged", r->id, rc == QS_ERR_TRUNCATED ? "truncated" :
		    rc == QS_ERR_UNSUPPORTED ? "newer, unsupported" :
		    "corrupt");
		return rc;
	}
	if (frame->kind != QS_BLOB_MESSAGE) {
		qs_seterr(r->q, "blob %s is not a message; the blob was moved "
		    "or damaged", r->id);
		return QS_ERR_CORRUPT;
	}
	if ((rc = qs_queue_check_frame(r->q, frame, r->id)) != QS_OK)
		return rc;
	memcpy(r->header, r->raw, r->header_len);
	r->crc = crc32(r->crc, r->header, (uInt)r->header_len);
	r->raw_off = r->header_len;
	r->raw_len -= r->header_len;
	return QS_OK;
}

static int
build_reader_chain(struct qs_msg_reader *r, const struct qs_frame *frame)
{
	struct qs_blob_info blob;
	size_t i;
	int rc;

	if ((rc = qs_chain_init(&r->chain)) != 0)
		return rc;
	/* layers are undone from the last applied to the first */
	for (i = frame->nlayers; i-- > 0;) {
		struct qs_xform *x;

		rc = qs_queue_xform_for(r->q, &frame->layers[i], &x);
		if (rc != 0)
			return rc;
		r->xforms[r->nstreams] = x;
		rc = qs_module_status(x->ops->stream_new(x->instance,
		    QS_DECODE, &r->streams[r->nstreams]));
		if (rc != QS_OK) {
			qs_seterr(r->q, "%s: cannot create a stream: %s",
			    x->mod.stem, qs_strerror(rc));
			return rc;
		}
		r->nstreams++;
		rc = qs_chain_add(&r->chain, x->ops, r->streams[r->nstreams - 1],
		    x->mod.stem);
		if (rc != 0)
			return rc;
		r->chain.stages[r->nstreams - 1].format_version =
		    frame->layers[i].format_version;
	}
	if (r->nstreams == 0 &&
	    (rc = qs_chain_add(&r->chain, NULL, NULL, "identity")) != 0)
		return rc;
	memset(&blob, 0, sizeof(blob));
	blob.size = sizeof(blob);
	blob.kind = QS_BLOB_MESSAGE;
	blob.id = r->id;
	blob.header = r->header;
	blob.header_len = r->header_len;
	if ((rc = qs_chain_begin(&r->chain, &blob)) != 0)
		return chain_error(r->q, "reading message", r->id, &r->chain,
		    rc);
	return QS_OK;
}

QS_API int
qs_msg_open(struct qs_queue *q, const char *id, struct qs_msg_reader **out)
{
	struct qs_msg_reader *r;
	struct qs_frame frame;
	uint64_t stored;
	int rc;

	*out = NULL;
	if (!qs_valid_msgid(id)) {
		qs_seterr(q, "invalid message id \"%.40s\"; ids are %d "
		    "lowercase hex digits, as qstack ls shows them", id,
		    QS_MSGID_LEN);
		return QS_ERR_INVALID;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->raw = malloc(QS_CHAIN_BUF)) == NULL) {
		free(r);
		return QS_ERR_NOMEM;
	}
	r->q = q;
	strcpy(r->id, id);
	r->crc = crc32(0, NULL, 0);
	rc = q->bops->msg_open(q->backend, id, &r->br);
	if (rc != QS_OK) {
		r->br = NULL;
		if (rc == QS_ERR_NOTFOUND)
			qs_seterr(q, "message %s not found; qstack ls lists "
			    "the stored messages", id);
		else
			qs_seterr(q, "cannot open message %s: %s: %s", id,
			    qs_strerror(rc), qs_backend_error(q));
		goto fail;
	}
	if ((rc = q->bops->msg_stat(q->backend, id, &stored)) != QS_OK) {
		qs_seterr(q, "cannot stat message %s: %s: %s", id,
		    qs_strerror(rc), qs_backend_error(q));
		goto fail;
	}
	r->max_release = max_decoded(q, stored);
	if ((rc = read_header(r, &frame)) != 0 ||
	    (rc = build_reader_chain(r, &frame)) != 0)
		goto fail;
	*out = r;
	return QS_OK;
fail:
	qs_msg_close(r);
	return rc;
}

static uint64_t
read_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Checks the trailer once the backend has no more bytes. */
static int
check_trailer(struct qs_msg_reader *r)
{
	const uint8_t *t = r->raw + r->raw_off;

	if (r->raw_len < QS_FRAME_TRAILER ||
	    read_be(t, 8) > r->body) {
		qs_seterr(r->q, "message %s is truncated: the stored blob "
		    "ends early", r->id);
		return QS_ERR_TRUNCATED;
	}
	if (read_be(t, 8) != r->body || read_be(t + 8, 4) != r->crc) {
		qs_seterr(r->q, "message %s is corrupt: its checksum does "
		    "not match", r->id);
		return QS_ERR_CORRUPT;
	}
	return QS_OK;
}

/*
 * Moves stored bytes into the chain, holding back the last
 * QS_FRAME_TRAILER bytes, which may be the trailer. Sets *moved when
 * anything happened.
 */
static int
feed_reader(struct qs_msg_reader *r, int *moved)
{
	uint8_t *dst;
	size_t space, n;
	int rc;

	if (r->raw_len > QS_FRAME_TRAILER) {
		space = qs_chain_space(&r->chain, &dst);
		n = r->raw_len - QS_FRAME_TRAILER;
		n = n < space ? n : space;
		if (n > 0) {
			memcpy(dst, r->raw + r->raw_off, n);
			r->crc = crc32(r->crc, dst, (uInt)n);
			qs_chain_fed(&r->chain, n);
			r->raw_off += n;
			r->raw_len -= n;
			r->body += n;
			*moved = 1;
			return QS_OK;
		}
	}
	if (!r->backend_eof && r->raw_len < QS_CHAIN_BUF) {
		memmove(r->raw, r->raw + r->raw_off, r->raw_len);
		r->raw_off = 0;
		if ((rc = backend_read(r)) != QS_OK)
			return rc;
		*moved = 1;
		return QS_OK;
	}
	if (r->backend_eof && r->raw_len <= QS_FRAME_TRAILER) {
		if ((rc = check_trailer(r)) != 0)
			return rc;
		r->chain.source_done = 1;
		*moved = 1;
	}
	return QS_OK;
}

QS_API int
qs_msg_read(struct qs_msg_reader *r, void *buf, size_t cap, size_t *len)
{
	struct qs_chain *c = &r->chain;
	int moved, rc;

	*len = 0;
	while (r->status == QS_OK) {
		if (c->out_len > 0 || (c->done && cap > 0)) {
			*len = c->out_len < cap ? c->out_len : cap;
			if (*len > r->max_release - r->released) {
				char names[256];

				*len = 0;
				qs_chain_names(c, names, sizeof(names));
				qs_seterr(r->q, "message %s decodes through %s to "
				    "more than %llu bytes, beyond queue limits "
				    "max-message-size or max-ratio; if the "
				    "limits were lowered after it was written, "
				    "raise them to read it, otherwise the blob "
				    "is hostile", r->id, names,
				    (unsigned long long)r->max_release);
				r->status = QS_ERR_LIMIT;
				break;
			}
			r->released += *len;
			memcpy(buf, c->out + c->out_off, *len);
			c->out_off += *len;
			c->out_len -= *len;
			return QS_OK;
		}
		moved = 0;
		if (!c->source_done && (rc = feed_reader(r, &moved)) != 0) {
			r->status = rc;
			break;
		}
		if ((rc = qs_chain_pump(c)) != 0) {
			r->status = chain_error(r->q, "reading message", r->id,
			    c, rc);
			break;
		}
		if (!moved && c->out_len == 0 && !c->done &&
		    c->source_done) {
			/* the last stage cannot finish: run it again */
			continue;
		}
	}
	return r->status;
}

QS_API void
qs_msg_close(struct qs_msg_reader *r)
{
	if (r == NULL)
		return;
	if (r->br != NULL)
		r->q->bops->msg_close(r->br);
	free_streams(r->xforms, r->streams, r->nstreams);
	qs_chain_free(&r->chain);
	free(r->raw);
	free(r);
}

QS_API int
qs_msg_stored_size(struct qs_queue *q, const char *id, uint64_t *stored)
{
	int rc;

	if (!qs_valid_msgid(id)) {
		qs_seterr(q, "invalid message id \"%.40s\"", id);
		return QS_ERR_INVALID;
	}
	rc = q->bops->msg_stat(q->backend, id, stored);
	if (rc != QS_OK)
		qs_seterr(q, "cannot stat message %s: %s: %s", id,
		    qs_strerror(rc), qs_backend_error(q));
	return rc;
}

QS_API int
qs_msg_walk(struct qs_queue *q, int (*fn)(void *arg, const char *id),
    void *arg)
{
	struct qs_checked_walk cw = { fn, arg, QS_MSGID_LEN, NULL, 0 };
	int rc = q->bops->msg_walk(q->backend, qs_checked_id, &cw);

	if (cw.bad) {
		qs_seterr(q, "backend %s listed a malformed message id; fix "
		    "or replace the backend module", q->backend_mod.stem);
		return QS_ERR_MODULE;
	}
	if (rc < 0 && rc != QS_ERR_STOP)
		qs_seterr(q, "cannot list messages: %s: %s", qs_strerror(rc),
		    qs_backend_error(q));
	return rc;
}
