/*
 * Envelopes: small records encoded whole, through streams and buffers
 * that the queue keeps warm, so a steady stream of envelopes allocates
 * nothing once the first one has been processed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

/* Room for the header, the trailer and the layers' own overhead. */
#define ENV_BLOB_MAX (QS_ENV_MAX + 64 * 1024)

/* Makes *buf at least need bytes. Its contents are not kept. */
static int
grow(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *nb;

	if (need <= *cap)
		return QS_OK;
	if ((nb = malloc(need)) == NULL)
		return QS_ERR_NOMEM;
	if (*buf != NULL) {
		qs_wipe(*buf, *cap);
		free(*buf);
	}
	*buf = nb;
	*cap = need;
	return QS_OK;
}

void
qs_envelope_cleanup(struct qs_queue *q)
{
	qs_chain_free(&q->envchain);
	if (q->envbuf != NULL)
		qs_wipe(q->envbuf, q->envbuf_cap);
	if (q->plainbuf != NULL)
		qs_wipe(q->plainbuf, q->plainbuf_cap);
	free(q->envbuf);
	free(q->plainbuf);
}

static int
warm_stream(struct qs_queue *q, struct qs_xform *x, uint32_t dir,
    void **stream)
{
	void **slot = dir == QS_ENCODE ? &x->enc : &x->dec;
	int rc;

	if (*slot == NULL) {
		rc = qs_module_status(x->ops->stream_new(x->instance, dir,
		    slot));
		if (rc != QS_OK) {
			*slot = NULL;
			qs_seterr(q, "%s: cannot create a stream: %s",
			    x->mod.stem, qs_strerror(rc));
			return rc;
		}
	}
	*stream = *slot;
	return QS_OK;
}

/*
 * Runs in[0..len) through the prepared envelope chain, appending the
 * output to *out from *out_len on, at most max bytes in all.
 */
static int
run_env_chain(struct qs_queue *q, const char *id, const uint8_t *in,
    size_t len, uint8_t **out, size_t *out_cap, size_t *out_len,
    size_t max)
{
	struct qs_chain *c = &q->envchain;
	uint8_t *dst;
	size_t space, n;
	int rc;

	/* one allocation of the largest size, kept for later envelopes */
	if ((rc = grow(out, out_cap, max)) != 0)
		return rc;
	for (;;) {
		space = qs_chain_space(c, &dst);
		n = len < space ? len : space;
		memcpy(dst, in, n);
		qs_chain_fed(c, n);
		in += n;
		len -= n;
		if (len == 0)
			c->source_done = 1;
		if ((rc = qs_chain_pump(c)) != 0) {
			qs_seterr(q, "envelope %s: %s", id, c->err);
			return rc;
		}
		if (*out_len + c->out_len > max) {
			char names[256];

			qs_chain_names(c, names, sizeof(names));
			qs_seterr(q, "envelope %s: modules %s produced more "
			    "than %zu bytes; the blob is damaged or hostile, or "
			    "a module is broken", id, names, max);
			return QS_ERR_LIMIT;
		}
		memcpy(*out + *out_len, c->out + c->out_off, c->out_len);
		*out_len += c->out_len;
		c->out_off = c->out_len = 0;
		if (c->done)
			return QS_OK;
	}
}

static int
encode_envelope(struct qs_queue *q, const char *evpid, const void *data,
    size_t len, size_t *blob_len)
{
	struct qs_blob_info blob;
	struct qs_frame frame;
	struct qs_xform *chain[2];
	uLong crc;
	size_t header_len, i, n = 0;
	void *stream;
	int rc;

	if (len > QS_ENV_MAX) {
		qs_seterr(q, "envelope of %zu bytes is larger than the %d "
		    "byte limit", len, QS_ENV_MAX);
		return QS_ERR_LIMIT;
	}
	if ((rc = grow(&q->envbuf, &q->envbuf_cap, ENV_BLOB_MAX)) != 0)
		return rc;
	rc = qs_queue_header(q, QS_BLOB_ENVELOPE, &frame, q->envbuf,
	    &header_len);
	if (rc != 0)
		return rc;
	if (q->compress != NULL)
		chain[n++] = q->compress;
	if (q->crypto != NULL && q->crypto_writes)
		chain[n++] = q->crypto;
	if (q->envchain.out == NULL && (rc = qs_chain_init(&q->envchain)))
		return rc;
	qs_chain_clear(&q->envchain);
	for (i = 0; i < n; i++) {
		if ((rc = warm_stream(q, chain[i], QS_ENCODE, &stream)) != 0)
			return rc;
		rc = qs_chain_add(&q->envchain, chain[i]->ops, stream,
		    chain[i]->mod.stem);
		if (rc != 0)
			return rc;
		q->envchain.stages[i].format_version =
		    chain[i]->mod.module->format_version;
	}
	if (n == 0 && (rc = qs_chain_add(&q->envchain, NULL, NULL,
	    "identity")) != 0)
		return rc;
	memset(&blob, 0, sizeof(blob));
	blob.size = sizeof(blob);
	blob.kind = QS_BLOB_ENVELOPE;
	blob.id = evpid;
	blob.header = q->envbuf;
	blob.header_len = header_len;
	if ((rc = qs_chain_begin(&q->envchain, &blob)) != 0) {
		qs_seterr(q, "envelope %s: %s", evpid, q->envchain.err);
		return rc;
	}
	*blob_len = header_len;
	rc = run_env_chain(q, evpid, data, len, &q->envbuf, &q->envbuf_cap,
	    blob_len, ENV_BLOB_MAX - QS_FRAME_TRAILER);
	if (rc != 0)
		return rc;
	crc = crc32(crc32(0, NULL, 0), q->envbuf, (uInt)*blob_len);
	qs_frame_trailer(*blob_len - header_len, (uint32_t)crc,
	    q->envbuf + *blob_len);
	*blob_len += QS_FRAME_TRAILER;
	return QS_OK;
}

static int
check_msgid(struct qs_queue *q, const char *msgid)
{
	uint64_t stored;
	int rc;

	if (!qs_valid_msgid(msgid)) {
		qs_seterr(q, "invalid message id \"%.40s\"; ids are %d "
		    "lowercase hex digits", msgid, QS_MSGID_LEN);
		return QS_ERR_INVALID;
	}
	rc = q->bops->msg_stat(q->backend, msgid, &stored);
	if (rc == QS_ERR_NOTFOUND)
		qs_seterr(q, "message %s not found; commit the message before "
		    "adding envelopes", msgid);
	else if (rc != QS_OK)
		qs_seterr(q, "cannot stat message %s: %s: %s", msgid,
		    qs_strerror(rc), qs_backend_error(q));
	return rc;
}

QS_API int
qs_env_create(struct qs_queue *q, const char *msgid, const void *data,
    size_t len, char *evpid)
{
	size_t blob_len;
	int rc = QS_ERR_EXISTS, tries;

	if ((rc = check_msgid(q, msgid)) != 0)
		return rc;
	for (tries = 0; tries < 8; tries++) {
		memcpy(evpid, msgid, QS_MSGID_LEN);
		rc = qs_new_id(evpid + QS_MSGID_LEN,
		    QS_EVPID_LEN - QS_MSGID_LEN);
		if (rc == 0)
			rc = encode_envelope(q, evpid, data, len, &blob_len);
		if (rc != 0)
			return rc;
		rc = q->bops->env_create(q->backend, msgid, evpid, q->envbuf,
		    blob_len);
		if (rc != QS_ERR_EXISTS)
			break;
	}
	if (rc != QS_OK)
		qs_seterr(q, "cannot store an envelope of message %s: %s: %s",
		    msgid, qs_strerror(rc), qs_backend_error(q));
	return rc;
}

QS_API int
qs_env_update(struct qs_queue *q, const char *evpid, const void *data,
    size_t len)
{
	size_t blob_len;
	int rc;

	if (!qs_valid_evpid(evpid)) {
		qs_seterr(q, "invalid envelope id \"%.40s\"", evpid);
		return QS_ERR_INVALID;
	}
	if ((rc = encode_envelope(q, evpid, data, len, &blob_len)) != 0)
		return rc;
	rc = q->bops->env_update(q->backend, evpid, q->envbuf, blob_len);
	if (rc != QS_OK)
		qs_seterr(q, "cannot update envelope %s: %s: %s", evpid,
		    qs_strerror(rc), qs_backend_error(q));
	return rc;
}

/* Reads the stored blob of an envelope into q->envbuf. */
int
qs_env_fetch(struct qs_queue *q, const char *evpid, size_t *len)
{
	int rc;

	if ((rc = grow(&q->envbuf, &q->envbuf_cap, 4096)) != 0)
		return rc;
	rc = q->bops->env_load(q->backend, evpid, q->envbuf, q->envbuf_cap,
	    len);
	if (rc == QS_ERR_LIMIT && *len <= ENV_BLOB_MAX &&
	    *len > q->envbuf_cap) {
		if ((rc = grow(&q->envbuf, &q->envbuf_cap, *len)) != 0)
			return rc;
		rc = q->bops->env_load(q->backend, evpid, q->envbuf,
		    q->envbuf_cap, len);
	}
	if (rc == QS_ERR_NOTFOUND)
		qs_seterr(q, "envelope %s not found", evpid);
	else if (rc == QS_ERR_LIMIT)
		qs_seterr(q, "envelope %s is larger than %d bytes; it is "
		    "damaged", evpid, ENV_BLOB_MAX);
	else if (rc != QS_OK)
		qs_seterr(q, "cannot load envelope %s: %s: %s", evpid,
		    qs_strerror(rc), qs_backend_error(q));
	else if (*len > q->envbuf_cap) {
		qs_seterr(q, "backend %s reported an envelope of %zu bytes in "
		    "a buffer of %zu; fix or replace the backend module",
		    q->backend_mod.stem, *len, q->envbuf_cap);
		rc = QS_ERR_MODULE;
	}
	return rc;
}

/* Checks framing and checksum, then sets up the decoding chain. */
static int
open_envelope(struct qs_queue *q, const char *evpid, size_t len,
    size_t *header_len)
{
	struct qs_blob_info blob;
	struct qs_frame frame;
	size_t need, i, body;
	uLong crc;
	uint64_t stored_body = 0, stored_crc = 0;
	void *stream;
	int rc;

	rc = qs_frame_decode(q->envbuf, len, &frame, header_len, &need);
	if (rc == QS_OK && len < *header_len + QS_FRAME_TRAILER)
		rc = QS_ERR_TRUNCATED;
	if (rc == QS_OK && frame.kind != QS_BLOB_ENVELOPE)
		rc = QS_ERR_CORRUPT;
	if (rc != QS_OK) {
		qs_seterr(q, "envelope %s is %s; the blob is damaged", evpid,
		    rc == QS_ERR_TRUNCATED ? "truncated" : "corrupt");
		return rc;
	}
	body = len - *header_len - QS_FRAME_TRAILER;
	for (i = 0; i < 8; i++)
		stored_body = stored_body << 8 | q->envbuf[len - 12 + i];
	for (i = 8; i < 12; i++)
		stored_crc = stored_crc << 8 | q->envbuf[len - 12 + i];
	crc = crc32(crc32(0, NULL, 0), q->envbuf, (uInt)(len - 12));
	if (stored_body != body || stored_crc != crc) {
		rc = stored_body > body ? QS_ERR_TRUNCATED : QS_ERR_CORRUPT;
		qs_seterr(q, "envelope %s is %s: its checksum does not match",
		    evpid, rc == QS_ERR_TRUNCATED ? "truncated" : "corrupt");
		return rc;
	}
	if ((rc = qs_queue_check_frame(q, &frame, evpid)) != QS_OK)
		return rc;
	if (q->envchain.out == NULL && (rc = qs_chain_init(&q->envchain)))
		return rc;
	qs_chain_clear(&q->envchain);
	for (i = frame.nlayers; i-- > 0;) {
		struct qs_xform *x;

		if ((rc = qs_queue_xform_for(q, &frame.layers[i], &x)) != 0 ||
		    (rc = warm_stream(q, x, QS_DECODE, &stream)) != 0 ||
		    (rc = qs_chain_add(&q->envchain, x->ops, stream,
		    x->mod.stem)) != 0)
			return rc;
		q->envchain.stages[q->envchain.nstages - 1].format_version =
		    frame.layers[i].format_version;
	}
	if (frame.nlayers == 0 && (rc = qs_chain_add(&q->envchain, NULL,
	    NULL, "identity")) != 0)
		return rc;
	memset(&blob, 0, sizeof(blob));
	blob.size = sizeof(blob);
	blob.kind = QS_BLOB_ENVELOPE;
	blob.id = evpid;
	blob.header = q->envbuf;
	blob.header_len = *header_len;
	if ((rc = qs_chain_begin(&q->envchain, &blob)) != 0)
		qs_seterr(q, "envelope %s: %s", evpid, q->envchain.err);
	return rc;
}

QS_API int
qs_env_load(struct qs_queue *q, const char *evpid, void *buf, size_t cap,
    size_t *len)
{
	size_t blob_len, header_len, plain_len = 0;
	int rc;

	*len = 0;
	if (!qs_valid_evpid(evpid)) {
		qs_seterr(q, "invalid envelope id \"%.40s\"; ids are %d "
		    "lowercase hex digits", evpid, QS_EVPID_LEN);
		return QS_ERR_INVALID;
	}
	if ((rc = qs_env_fetch(q, evpid, &blob_len)) != 0 ||
	    (rc = open_envelope(q, evpid, blob_len, &header_len)) != 0)
		return rc;
	rc = run_env_chain(q, evpid, q->envbuf + header_len,
	    blob_len - header_len - QS_FRAME_TRAILER, &q->plainbuf,
	    &q->plainbuf_cap, &plain_len, QS_ENV_MAX);
	if (rc != 0)
		return rc;
	*len = plain_len;
	if (plain_len > cap) {
		qs_seterr(q, "envelope %s needs a buffer of %zu bytes", evpid,
		    plain_len);
		return QS_ERR_LIMIT;
	}
	memcpy(buf, q->plainbuf, plain_len);
	qs_wipe(q->plainbuf, plain_len);
	return QS_OK;
}

QS_API int
qs_env_delete(struct qs_queue *q, const char *evpid)
{
	int rc;

	if (!qs_valid_evpid(evpid)) {
		qs_seterr(q, "invalid envelope id \"%.40s\"", evpid);
		return QS_ERR_INVALID;
	}
	rc = q->bops->env_delete(q->backend, evpid);
	if (rc == QS_ERR_NOTFOUND)
		qs_seterr(q, "envelope %s not found", evpid);
	else if (rc != QS_OK)
		qs_seterr(q, "cannot delete envelope %s: %s: %s", evpid,
		    qs_strerror(rc), qs_backend_error(q));
	return rc;
}

QS_API int
qs_env_walk(struct qs_queue *q, const char *msgid,
    int (*fn)(void *arg, const char *evpid), void *arg)
{
	struct qs_checked_walk cw = { fn, arg, QS_EVPID_LEN, msgid, 0 };
	int rc;

	if (msgid != NULL && !qs_valid_msgid(msgid)) {
		qs_seterr(q, "invalid message id \"%.40s\"", msgid);
		return QS_ERR_INVALID;
	}
	rc = q->bops->env_walk(q->backend, msgid, qs_checked_id, &cw);
	if (cw.bad) {
		qs_seterr(q, "backend %s listed a malformed envelope id; fix "
		    "or replace the backend module", q->backend_mod.stem);
		return QS_ERR_MODULE;
	}
	if (rc < 0 && rc != QS_ERR_STOP)
		qs_seterr(q, "cannot list envelopes: %s: %s", qs_strerror(rc),
		    qs_backend_error(q));
	return rc;
}

int
qs_id_collect(void *arg, const char *id)
{
	struct qs_id_list *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		void *n = reallocarray(l->ids, cap, sizeof(*l->ids));

		if (n == NULL)
			return QS_ERR_NOMEM;
		l->ids = n;
		l->cap = cap;
	}
	snprintf(l->ids[l->n++], QS_ID_MAX, "%s", id);
	return 0;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
qs_id_list_sort(struct qs_id_list *l)
{
	if (l->n > 1)
		qsort(l->ids, l->n, sizeof(*l->ids), compare_ids);
}

/* True when a sorted list has an id whose first n characters match. */
int
qs_id_list_has(const struct qs_id_list *l, const char *id, size_t n)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strncmp(l->ids[mid], id, n);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

QS_API int
qs_msg_delete(struct qs_queue *q, const char *msgid)
{
	struct qs_id_list l = { 0 };
	struct qs_checked_walk cw = { qs_id_collect, &l, QS_EVPID_LEN, msgid,
	    0 };
	size_t i;
	int rc;

	if (!qs_valid_msgid(msgid)) {
		qs_seterr(q, "invalid message id \"%.40s\"; ids are %d "
		    "lowercase hex digits", msgid, QS_MSGID_LEN);
		return QS_ERR_INVALID;
	}
	rc = q->bops->env_walk(q->backend, msgid, qs_checked_id, &cw);
	if (cw.bad) {
		free(l.ids);
		qs_seterr(q, "backend %s listed a malformed envelope id; fix "
		    "or replace the backend module", q->backend_mod.stem);
		return QS_ERR_MODULE;
	}
	for (i = 0; rc == QS_OK && i < l.n; i++) {
		rc = q->bops->env_delete(q->backend, l.ids[i]);
		if (rc == QS_ERR_NOTFOUND)
			rc = QS_OK;
	}
	free(l.ids);
	if (rc == QS_OK)
		rc = q->bops->msg_delete(q->backend, msgid);
	/* the message blob was already gone, but its envelopes were not */
	if (rc == QS_ERR_NOTFOUND && l.n > 0)
		rc = QS_OK;
	if (rc == QS_ERR_NOTFOUND)
		qs_seterr(q, "message %s not found; qstack ls lists the "
		    "stored messages", msgid);
	else if (rc != QS_OK)
		qs_seterr(q, "cannot delete message %s: %s: %s", msgid,
		    qs_strerror(rc), qs_backend_error(q));
	return rc;
}
