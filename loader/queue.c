/*
 * Opening and closing a queue: the backend, the per-queue metadata
 * record, and the transform modules of the writing chain. Modules that
 * only older blobs name are loaded on first use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "internal.h"

/*
 * Metadata record: "QSMD" | version (1) | salt length (1) | salt |
 * CRC-32 of the bytes before it (4).
 */
static const uint8_t meta_magic[4] = { 'Q', 'S', 'M', 'D' };
#define META_VERSION 1
#define META_LEN (6 + QS_SALT_LEN + 4)
#define META_READ_MAX 4096

void
qs_seterr(struct qs_queue *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	va_end(ap);
}

QS_API const char *
qs_error(const struct qs_queue *q)
{
	return q->err[0] != '\0' ? q->err : "no error";
}

const char *
qs_backend_error(struct qs_queue *q)
{
	const char *msg = NULL;

	if (QS_HAS_FIELD(q->bops, struct qs_queue_ops, error) &&
	    q->bops->error != NULL)
		msg = q->bops->error(q->backend);
	return msg != NULL ? msg : "no detail";
}

int
qs_valid_msgid(const char *id)
{
	return id != NULL && strlen(id) == QS_MSGID_LEN &&
	    strspn(id, "0123456789abcdef") == QS_MSGID_LEN;
}

int
qs_valid_evpid(const char *id)
{
	return id != NULL && strlen(id) == QS_EVPID_LEN &&
	    strspn(id, "0123456789abcdef") == QS_EVPID_LEN;
}

int
qs_checked_id(void *arg, const char *id)
{
	struct qs_checked_walk *w = arg;

	if (id == NULL || strlen(id) != w->len ||
	    strspn(id, "0123456789abcdef") != w->len ||
	    (w->prefix != NULL &&
	    strncmp(id, w->prefix, strlen(w->prefix)) != 0)) {
		w->bad = 1;
		return QS_ERR_MODULE;
	}
	return w->fn(w->arg, id);
}

int
qs_new_id(char *out, size_t hexlen)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[QS_ID_MAX / 2];
	size_t i;

	if (hexlen / 2 > sizeof(raw) || qs_random(raw, hexlen / 2) != 0)
		return QS_ERR_IO;
	for (i = 0; i < hexlen / 2; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[hexlen] = '\0';
	return QS_OK;
}

QS_API int
qs_env_msgid(const char *evpid, char *msgid, size_t cap)
{
	if (!qs_valid_evpid(evpid) || cap <= QS_MSGID_LEN)
		return QS_ERR_INVALID;
	memcpy(msgid, evpid, QS_MSGID_LEN);
	msgid[QS_MSGID_LEN] = '\0';
	return QS_OK;
}

static void
init_args(struct qs_instance_args *a, const struct qs_cfg_module *m,
    const uint8_t *salt, char *err, size_t cap)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	if (m != NULL) {
		a->params = m->params;
		a->nparams = m->nparams;
	}
	a->queue_salt = salt;
	a->queue_salt_len = salt != NULL ? QS_SALT_LEN : 0;
	a->err = err;
	a->err_cap = cap;
	err[0] = '\0';
}

/*
 * Reads the metadata record, creating it with a fresh salt when the
 * queue is new. Two processes creating one queue at once agree on the
 * salt because the backend creates the record exclusively.
 */
/*
 * Stops a walk at the first well-formed message id. Malformed ids are
 * left to the walks that report them.
 */
static int
stop_at_first(void *arg, const char *id)
{
	if (!qs_valid_msgid(id))
		return 0;
	*(int *)arg = 1;
	return QS_ERR_STOP;
}

static uint32_t
meta_crc(const uint8_t *buf)
{
	return (uint32_t)crc32(crc32(0, NULL, 0), buf, META_LEN - 4);
}

/*
 * Creates the metadata record of a new queue. A queue that already holds
 * messages has lost its record: a new salt would make every passphrase
 * key look wrong, so the record must be restored instead.
 */
static int
create_meta(struct qs_queue *q, uint8_t *buf, char *err, size_t cap)
{
	uint32_t crc;
	int found = 0, rc;

	rc = q->bops->msg_walk(q->backend, stop_at_first, &found);
	if (found) {
		qs_errf(err, cap, "the queue contains messages but its metadata "
		    "record is missing; restore it from a backup (for the fs "
		    "backend, the file meta in the queue directory), because "
		    "passphrase keys need the salt it contains");
		return QS_ERR_CORRUPT;
	}
	if (rc != QS_OK && rc != QS_ERR_STOP) {
		qs_errf(err, cap, "cannot list the queue's messages: %s: %s",
		    qs_strerror(rc), qs_backend_error(q));
		return rc;
	}
	memcpy(buf, meta_magic, sizeof(meta_magic));
	buf[4] = META_VERSION;
	buf[5] = QS_SALT_LEN;
	if ((rc = qs_random(buf + 6, QS_SALT_LEN)) != 0)
		return rc;
	crc = meta_crc(buf);
	buf[META_LEN - 4] = (uint8_t)(crc >> 24);
	buf[META_LEN - 3] = (uint8_t)(crc >> 16);
	buf[META_LEN - 2] = (uint8_t)(crc >> 8);
	buf[META_LEN - 1] = (uint8_t)crc;
	return q->bops->meta_put(q->backend, buf, META_LEN, QS_META_CREATE);
}

static int
load_meta(struct qs_queue *q, char *err, size_t cap)
{
	uint8_t buf[META_READ_MAX];
	char detail[QS_ERR_MAX];
	size_t len;
	int rc, tries;

	for (tries = 0; tries < 3; tries++) {
		rc = q->bops->meta_get(q->backend, buf, sizeof(buf), &len);
		if (rc == QS_OK && len > sizeof(buf)) {
			qs_errf(err, cap, "backend %s reported a metadata "
			    "record of %zu bytes in a buffer of %zu; fix or "
			    "replace the backend module",
			    q->backend_mod.stem, len, sizeof(buf));
			return QS_ERR_MODULE;
		}
		if (rc == QS_OK)
			break;
		if (rc != QS_ERR_NOTFOUND) {
			qs_errf(err, cap, "cannot read the queue's metadata "
			    "record: %s: %s", qs_strerror(rc),
			    qs_backend_error(q));
			return rc;
		}
		detail[0] = '\0';
		rc = create_meta(q, buf, detail, sizeof(detail));
		if (rc == QS_OK) {
			len = META_LEN;
			break;
		}
		if (rc != QS_ERR_EXISTS) {
			if (detail[0] != '\0')
				qs_errf(err, cap, "%s", detail);
			else
				qs_errf(err, cap, "cannot create the queue's "
				    "metadata record: %s: %s", qs_strerror(rc),
				    qs_backend_error(q));
			return rc;
		}
	}
	if (rc != QS_OK || len != META_LEN ||
	    memcmp(buf, meta_magic, sizeof(meta_magic)) != 0 ||
	    buf[4] != META_VERSION || buf[5] != QS_SALT_LEN ||
	    ((uint32_t)buf[META_LEN - 4] << 24 |
	    (uint32_t)buf[META_LEN - 3] << 16 |
	    (uint32_t)buf[META_LEN - 2] << 8 |
	    (uint32_t)buf[META_LEN - 1]) != meta_crc(buf)) {
		qs_errf(err, cap, "the queue's metadata record is corrupt; "
		    "restore it from a backup, since without its salt "
		    "passphrase-encrypted blobs cannot be read");
		return QS_ERR_CORRUPT;
	}
	memcpy(q->salt, buf + 6, QS_SALT_LEN);
	return QS_OK;
}

static int
open_backend(struct qs_queue *q, const struct qs_config *c, char *err,
    size_t cap)
{
	struct qs_cfg_module fs = { .name = "fs" };
	const struct qs_cfg_module *m = c->backend.name ? &c->backend : &fs;
	struct qs_instance_args a;
	char detail[QS_ERR_MAX];
	int rc;

	rc = qs_module_load(q->plugin_dir, QS_KIND_QUEUE, m->name,
	    &q->backend_mod, detail, sizeof(detail));
	if (rc != 0) {
		qs_errf(err, cap, "%s:%d: queue backend %s: %s", c->file,
		    m->line, m->name, detail);
		return rc;
	}
	rc = qs_module_check_params(&q->backend_mod, m, c->file, err, cap);
	if (rc != 0)
		return rc;
	q->bops = q->backend_mod.module->ops;
	init_args(&a, m, NULL, detail, sizeof(detail));
	rc = qs_module_status(q->bops->open(&a, &q->backend));
	detail[sizeof(detail) - 1] = '\0';
	if (rc != QS_OK) {
		qs_errf(err, cap, "%s:%d: queue backend %s: %s", c->file,
		    m->line, m->name, detail[0] ? detail : qs_strerror(rc));
		q->backend = NULL;
		return rc;
	}
	return QS_OK;
}

static void
free_xform(struct qs_xform *x)
{
	if (x == NULL)
		return;
	if (x->enc != NULL)
		x->ops->stream_free(x->enc);
	if (x->dec != NULL)
		x->ops->stream_free(x->dec);
	if (x->instance != NULL)
		x->ops->instance_free(x->instance);
	qs_module_unload(&x->mod);
	free(x);
}

/*
 * Loads a transform module and creates its instance. stmt and cfg are
 * NULL for modules loaded to read older blobs.
 */
static int
new_xform(struct qs_queue *q, const char *file, const char *stmt,
    uint32_t kind, const struct qs_cfg_module *cfg, const char *stem,
    const struct qs_key *keys, size_t nkeys, struct qs_xform **out,
    char *err, size_t cap)
{
	struct qs_instance_args a;
	struct qs_xform *x;
	char detail[QS_ERR_MAX];
	const char *reason;
	int rc;

	if ((x = calloc(1, sizeof(*x))) == NULL)
		return QS_ERR_NOMEM;
	if (cfg != NULL)
		rc = qs_module_load(q->plugin_dir, kind, cfg->name, &x->mod,
		    detail, sizeof(detail));
	else
		rc = qs_module_load_stem(q->plugin_dir, stem, &x->mod, detail,
		    sizeof(detail));
	if (rc != 0) {
		if (cfg != NULL)
			qs_errf(err, cap, "%s:%d: %s: %s", file, cfg->line,
			    stmt, detail);
		else
			qs_errf(err, cap, "%s", detail);
		goto fail;
	}
	if (cfg != NULL &&
	    (rc = qs_module_check_params(&x->mod, cfg, file, err, cap)) != 0)
		goto fail;
	x->ops = x->mod.module->ops;
	init_args(&a, cfg, q->salt, detail, sizeof(detail));
	a.keys = keys;
	a.nkeys = nkeys;
	rc = qs_module_status(x->ops->instance_new(&a, &x->instance));
	/* the module may have filled err without a final NUL */
	detail[sizeof(detail) - 1] = '\0';
	reason = detail;
	/* modules often start their text with their own name */
	if (strncmp(reason, x->mod.stem, strlen(x->mod.stem)) == 0 &&
	    strncmp(reason + strlen(x->mod.stem), ": ", 2) == 0)
		reason += strlen(x->mod.stem) + 2;
	if (rc != QS_OK) {
		x->instance = NULL;
		if (cfg != NULL)
			qs_errf(err, cap, "%s:%d: %s: module %s: %s", file,
			    cfg->line, stmt, x->mod.stem,
			    reason[0] ? reason : qs_strerror(rc));
		else
			qs_errf(err, cap, "module %s: %s", stem,
			    reason[0] ? reason : qs_strerror(rc));
		goto fail;
	}
	*out = x;
	return QS_OK;
fail:
	free_xform(x);
	return rc != 0 ? rc : QS_ERR_MODULE;
}

static int
open_transforms(struct qs_queue *q, const struct qs_config *c, char *err,
    size_t cap)
{
	struct qs_cfg_module readonly = { .name = "evp" };
	const struct qs_cfg_module *crypto = &c->crypto;
	struct qs_key *keys;
	size_t nkeys;
	int rc;

	if (c->compress.name != NULL) {
		rc = new_xform(q, c->file, "queue compression",
		    QS_KIND_COMPRESS, &c->compress, NULL, NULL, 0,
		    &q->compress, err, cap);
		if (rc != 0)
			return rc;
	}
	if (c->crypto.name == NULL && c->nold_keys == 0)
		return QS_OK;
	if (c->crypto.name == NULL) {
		readonly.line = c->old_keys[0].line;
		crypto = &readonly;
	}
	if ((rc = qs_keys_read(c, &keys, &nkeys, err, cap)) != 0)
		return rc;
	rc = new_xform(q, c->file, c->crypto.name ? "queue encryption" :
	    "queue decryption", QS_KIND_CRYPTO, crypto, NULL, keys, nkeys,
	    &q->crypto, err, cap);
	qs_keys_free(keys, nkeys);
	if (rc != 0)
		return rc;
	q->crypto_writes = c->crypto.name != NULL;
	return QS_OK;
}

QS_API struct qs_queue *
qs_open(const struct qs_config *c, char *err, size_t cap)
{
	struct qs_queue *q;
	const char *dir = qs_config_plugin_dir(c);

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		qs_errf(err, cap, "out of memory");
		return NULL;
	}
	if (strlen(dir) >= sizeof(q->plugin_dir)) {
		qs_errf(err, cap, "plugin directory path is too long");
		free(q);
		return NULL;
	}
	strcpy(q->plugin_dir, dir);
	q->max_message_size = c->max_message_size;
	q->max_ratio = c->max_ratio;
	if (open_backend(q, c, err, cap) != 0 || load_meta(q, err, cap) != 0 ||
	    open_transforms(q, c, err, cap) != 0) {
		qs_close(q);
		return NULL;
	}
	return q;
}

QS_API void
qs_close(struct qs_queue *q)
{
	size_t i;

	if (q == NULL)
		return;
	qs_envelope_cleanup(q);
	free_xform(q->compress);
	free_xform(q->crypto);
	for (i = 0; i < q->nextra; i++)
		free_xform(q->extra[i]);
	if (q->backend != NULL)
		q->bops->close(q->backend);
	qs_module_unload(&q->backend_mod);
	qs_wipe(q->salt, sizeof(q->salt));
	free(q);
}

int
qs_queue_xform_for(struct qs_queue *q, const struct qs_layer *layer,
    struct qs_xform **out)
{
	struct qs_xform *x = NULL;
	size_t i;
	char err[QS_ERR_MAX];
	int rc;

	if (q->compress && strcmp(q->compress->mod.stem, layer->stem) == 0)
		x = q->compress;
	else if (q->crypto && strcmp(q->crypto->mod.stem, layer->stem) == 0)
		x = q->crypto;
	for (i = 0; x == NULL && i < q->nextra; i++)
		if (strcmp(q->extra[i]->mod.stem, layer->stem) == 0)
			x = q->extra[i];
	if (x == NULL && strncmp(layer->stem, "crypto-", 7) == 0) {
		qs_seterr(q, "the blob is encrypted with %s, but no key is "
		    "configured for it; add queue encryption or queue "
		    "decryption with the key that wrote it", layer->stem);
		return QS_ERR_NOKEY;
	}
	if (x == NULL && strncmp(layer->stem, "compress-", 9) != 0) {
		qs_seterr(q, "the blob names \"%s\" as a layer, which is "
		    "neither a compression nor an encryption module; the blob "
		    "is corrupt", layer->stem);
		return QS_ERR_CORRUPT;
	}
	if (x == NULL) {
		if (q->nextra == sizeof(q->extra) / sizeof(q->extra[0])) {
			qs_seterr(q, "too many different modules in use");
			return QS_ERR_LIMIT;
		}
		rc = new_xform(q, NULL, NULL, 0, NULL, layer->stem, NULL, 0,
		    &x, err, sizeof(err));
		if (rc != 0) {
			qs_seterr(q, "the blob needs module %s, which cannot be "
			    "loaded: %s", layer->stem, err);
			/* NOTFOUND would read as "no such message" */
			return QS_ERR_UNSUPPORTED;
		}
		q->extra[q->nextra++] = x;
	}
	if (layer->format_version > x->mod.module->format_version) {
		qs_seterr(q, "the blob was written by %s format %u, but the "
		    "installed module reads formats up to %u; install a "
		    "newer %s", layer->stem, layer->format_version,
		    x->mod.module->format_version, layer->stem);
		return QS_ERR_UNSUPPORTED;
	}
	*out = x;
	return QS_OK;
}

int
qs_queue_check_frame(struct qs_queue *q, const struct qs_frame *f,
    const char *id)
{
	size_t i;

	if (!q->crypto_writes || q->allow_plaintext)
		return QS_OK;
	for (i = 0; i < f->nlayers; i++)
		if (strncmp(f->layers[i].stem, "crypto-", 7) == 0)
			return QS_OK;
	qs_seterr(q, "%s %s is not encrypted, but this queue encrypts: it "
	    "was stored before encryption was configured, or planted; run "
	    "qstack rekey to encrypt older blobs",
	    f->kind == QS_BLOB_MESSAGE ? "message" : "envelope", id);
	return QS_ERR_AUTH;
}

int
qs_queue_header(struct qs_queue *q, uint32_t kind, struct qs_frame *f,
    uint8_t *buf, size_t *len)
{
	struct qs_xform *chain[2];
	size_t i, n = 0;

	if (q->compress != NULL)
		chain[n++] = q->compress;
	if (q->crypto != NULL && q->crypto_writes)
		chain[n++] = q->crypto;
	memset(f, 0, sizeof(*f));
	f->kind = kind;
	f->nlayers = (uint32_t)n;
	for (i = 0; i < n; i++) {
		strcpy(f->layers[i].stem, chain[i]->mod.stem);
		f->layers[i].format_version =
		    (uint16_t)chain[i]->mod.module->format_version;
	}
	return qs_frame_encode(f, buf, QS_FRAME_HEADER_MAX, len);
}
