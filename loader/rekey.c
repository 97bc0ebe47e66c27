/*
 * Re-encrypting a queue to the current key. Each blob is decoded with
 * the modules and keys its header names and written again through the
 * current chain, replacing the old blob in one atomic step. Blobs that
 * are already under the current key are skipped, so an interrupted run
 * loses nothing and the next run finishes the work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KEY_ID_MAX 64
#define PEEK_MAX 4096
#define KEYS_TRACKED 64

struct key_count {
	char id[KEY_ID_MAX];
	uint64_t count;
};

struct rekey {
	struct qs_queue *q;
	char current[KEY_ID_MAX];
	struct qs_id_list msgs;
	struct qs_id_list envs;
	uint8_t *buf;             /* envelope plaintext, QS_ENV_MAX bytes */
	struct key_count keys[KEYS_TRACKED];
	size_t nkeys;
};

static int
key_id_supported(const struct qs_xform *x)
{
	return QS_HAS_FIELD(x->ops, struct qs_transform_ops, key_id) &&
	    x->ops->key_id != NULL;
}

/*
 * Finds the id of the current key by encrypting an empty blob with the
 * current chain's crypto stream and reading the id from its output.
 */
static int
current_key_id(struct rekey *r)
{
	struct qs_xform *x = r->q->crypto;
	struct qs_blob_info blob;
	uint8_t out[PEEK_MAX];
	size_t len = 0, written;
	void *stream;
	int rc;

	if ((rc = x->ops->stream_new(x->instance, QS_ENCODE, &stream)) != 0)
		return rc;
	memset(&blob, 0, sizeof(blob));
	blob.size = sizeof(blob);
	blob.kind = QS_BLOB_ENVELOPE;
	blob.id = "000000000000000000000000";
	blob.header = (const uint8_t *)"";
	blob.format_version = x->mod.module->format_version;
	rc = x->ops->stream_begin(stream, &blob);
	while (rc == QS_OK || rc == QS_MORE) {
		written = 0;
		rc = x->ops->stream_final(stream, out + len, sizeof(out) - len,
		    &written);
		if (written > sizeof(out) - len) {
			rc = QS_ERR_MODULE;
			break;
		}
		len += written;
		if (rc == QS_OK || len == sizeof(out))
			break;
	}
	x->ops->stream_free(stream);
	if (rc != QS_OK && rc != QS_MORE) {
		qs_seterr(r->q, "%s cannot encrypt with the current key: %s",
		    x->mod.stem, qs_strerror(rc));
		return rc;
	}
	rc = x->ops->key_id(x->instance, out, len, r->current,
	    sizeof(r->current));
	if (rc != QS_OK)
		qs_seterr(r->q, "%s cannot report the current key's id: %s",
		    x->mod.stem, qs_strerror(rc));
	return rc;
}

/*
 * Writes into id the key id of a stored blob whose first len bytes are
 * in data: "none" when its last layer is not encryption.
 */
static int
blob_key_id(struct rekey *r, const uint8_t *data, size_t len, char *id)
{
	struct qs_frame frame;
	struct qs_xform *x;
	const struct qs_layer *last;
	size_t header_len, need;
	int rc;

	rc = qs_frame_decode(data, len, &frame, &header_len, &need);
	if (rc != QS_OK) {
		qs_seterr(r->q, "the blob's header is %s",
		    rc == QS_ERR_TRUNCATED ? "truncated" : "corrupt");
		return rc;
	}
	if (frame.nlayers == 0 ||
	    strncmp(frame.layers[frame.nlayers - 1].stem, "crypto-", 7)) {
		strcpy(id, "none");
		return QS_OK;
	}
	last = &frame.layers[frame.nlayers - 1];
	if ((rc = qs_queue_xform_for(r->q, last, &x)) != 0)
		return rc;
	if (!key_id_supported(x)) {
		snprintf(id, KEY_ID_MAX, "%s", last->stem);
		return QS_OK;
	}
	rc = x->ops->key_id(x->instance, data + header_len, len - header_len,
	    id, KEY_ID_MAX);
	if (rc != QS_OK)
		qs_seterr(r->q, "cannot read the key id of the blob: %s",
		    qs_strerror(rc));
	return rc;
}

static int
message_key_id(struct rekey *r, const char *msgid, char *id)
{
	const struct qs_queue_ops *b = r->q->bops;
	uint8_t peek[PEEK_MAX];
	size_t len = 0, n;
	void *reader;
	int rc;

	if ((rc = b->msg_open(r->q->backend, msgid, &reader)) != QS_OK) {
		qs_seterr(r->q, "cannot open message %s: %s: %s", msgid,
		    qs_strerror(rc), qs_backend_error(r->q));
		return rc;
	}
	do {
		rc = b->msg_read(reader, peek + len, sizeof(peek) - len, &n);
		len += rc == QS_OK && n <= sizeof(peek) - len ? n : 0;
	} while (rc == QS_OK && n > 0 && len < sizeof(peek));
	b->msg_close(reader);
	if (rc != QS_OK) {
		qs_seterr(r->q, "cannot read message %s: %s: %s", msgid,
		    qs_strerror(rc), qs_backend_error(r->q));
		return rc;
	}
	return blob_key_id(r, peek, len, id);
}

static int
envelope_key_id(struct rekey *r, const char *evpid, char *id)
{
	size_t len;
	int rc;

	if ((rc = qs_env_fetch(r->q, evpid, &len)) != QS_OK)
		return rc;
	return blob_key_id(r, r->q->envbuf, len, id);
}

static int
rekey_message(struct rekey *r, const char *msgid)
{
	struct qs_msg_reader *reader;
	struct qs_msg_writer *writer;
	size_t n;
	int rc;

	if ((rc = qs_msg_open(r->q, msgid, &reader)) != QS_OK)
		return rc;
	if ((rc = qs_msg_writer_new(r->q, msgid, &writer)) != QS_OK) {
		qs_msg_close(reader);
		return rc;
	}
	for (;;) {
		rc = qs_msg_read(reader, r->buf, QS_CHAIN_BUF, &n);
		if (rc != QS_OK || n == 0)
			break;
		if ((rc = qs_msg_write(writer, r->buf, n)) != QS_OK)
			break;
	}
	qs_msg_close(reader);
	qs_wipe(r->buf, QS_CHAIN_BUF);
	if (rc != QS_OK) {
		qs_msg_abort(writer);
		return rc;
	}
	return qs_msg_commit(writer, NULL);
}

static int
rekey_envelope(struct rekey *r, const char *evpid)
{
	size_t len;
	int rc;

	rc = qs_env_load(r->q, evpid, r->buf, QS_ENV_MAX, &len);
	if (rc == QS_OK)
		rc = qs_env_update(r->q, evpid, r->buf, len);
	qs_wipe(r->buf, QS_ENV_MAX);
	return rc;
}

static void
count_key(struct rekey *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->nkeys; i++)
		if (strcmp(r->keys[i].id, id) == 0)
			break;
	if (i == r->nkeys) {
		if (r->nkeys == KEYS_TRACKED)
			i = r->nkeys - 1;     /* the last slot collects the rest */
		else
			snprintf(r->keys[r->nkeys++].id, KEY_ID_MAX, "%s", id);
	}
	r->keys[i].count++;
}

/* Handles one blob: skips it, re-encrypts it, or records the failure. */
static void
rekey_one(struct rekey *r, uint32_t kind, const char *id,
    struct qs_rekey_stats *st)
{
	const char *kind_name = kind == QS_BLOB_MESSAGE ? "message" :
	    "envelope";
	char key[KEY_ID_MAX];
	int rc;

	rc = kind == QS_BLOB_MESSAGE ? message_key_id(r, id, key) :
	    envelope_key_id(r, id, key);
	if (rc == QS_ERR_NOTFOUND)
		return;
	if (rc == QS_OK && strcmp(key, r->current) == 0) {
		st->current++;
		return;
	}
	if (rc == QS_OK)
		rc = kind == QS_BLOB_MESSAGE ? rekey_message(r, id) :
		    rekey_envelope(r, id);
	if (rc == QS_OK) {
		st->rekeyed++;
		return;
	}
	if (rc == QS_ERR_NOTFOUND)
		return;
	st->failed++;
	qs_log(QS_LOG_ERROR, "rekey", "%s %s was not re-encrypted: %s",
	    kind_name, id, qs_error(r->q));
}

/* Counts the blobs under each key other than the current one. */
static void
census(struct rekey *r, void (*remaining)(void *, const char *, uint64_t),
    void *arg)
{
	char key[KEY_ID_MAX];
	size_t i;
	int rc;

	for (i = 0; i < r->msgs.n; i++) {
		rc = message_key_id(r, r->msgs.ids[i], key);
		if (rc == QS_OK && strcmp(key, r->current) != 0)
			count_key(r, key);
		else if (rc != QS_OK && rc != QS_ERR_NOTFOUND)
			count_key(r, "unreadable");
	}
	for (i = 0; i < r->envs.n; i++) {
		rc = envelope_key_id(r, r->envs.ids[i], key);
		if (rc == QS_OK && strcmp(key, r->current) != 0)
			count_key(r, key);
		else if (rc != QS_OK && rc != QS_ERR_NOTFOUND)
			count_key(r, "unreadable");
	}
	for (i = 0; remaining != NULL && i < r->nkeys; i++)
		remaining(arg, r->keys[i].id, r->keys[i].count);
}

QS_API int
qs_rekey(struct qs_queue *q,
    void (*progress)(void *arg, uint64_t done, uint64_t total),
    void (*remaining)(void *arg, const char *key_id, uint64_t count),
    void *arg, struct qs_rekey_stats *stats)
{
	struct qs_rekey_stats st = { 0 };
	struct rekey *r;
	uint64_t total;
	size_t i;
	int rc;

	if (q->crypto == NULL || !q->crypto_writes) {
		qs_seterr(q, "rekey needs queue encryption with the new key, "
		    "and queue decryption lines for the old keys");
		return QS_ERR_CONFIG;
	}
	if (!key_id_supported(q->crypto)) {
		qs_seterr(q, "module %s cannot report key ids, so rekey cannot "
		    "tell which blobs to re-encrypt", q->crypto->mod.stem);
		return QS_ERR_UNSUPPORTED;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->buf = malloc(QS_ENV_MAX)) == NULL) {
		free(r);
		return QS_ERR_NOMEM;
	}
	r->q = q;
	/* rekey is how blobs stored before encryption get encrypted */
	q->allow_plaintext = 1;
	rc = current_key_id(r);
	if (rc == QS_OK)
		rc = qs_msg_walk(q, qs_id_collect, &r->msgs);
	if (rc == QS_OK)
		rc = qs_env_walk(q, NULL, qs_id_collect, &r->envs);
	if (rc == QS_OK) {
		qs_id_list_sort(&r->msgs);
		qs_id_list_sort(&r->envs);
		total = r->msgs.n + r->envs.n;
		for (i = 0; i < r->msgs.n; i++) {
			rekey_one(r, QS_BLOB_MESSAGE, r->msgs.ids[i], &st);
			if (progress != NULL)
				progress(arg, i + 1, total);
		}
		for (i = 0; i < r->envs.n; i++) {
			rekey_one(r, QS_BLOB_ENVELOPE, r->envs.ids[i], &st);
			if (progress != NULL)
				progress(arg, r->msgs.n + i + 1, total);
		}
		census(r, remaining, arg);
		if (st.failed > 0) {
			qs_seterr(q, "%llu blobs could not be re-encrypted; "
			    "keep their keys in queue decryption lines and see "
			    "qstack fsck", (unsigned long long)st.failed);
			rc = QS_ERR_NOKEY;
		}
	}
	q->allow_plaintext = 0;
	if (stats != NULL)
		*stats = st;
	qs_wipe(r->buf, QS_ENV_MAX);
	free(r->buf);
	free(r->msgs.ids);
	free(r->envs.ids);
	free(r);
	return rc;
}
