/*
 * The stream engine. A chain is a list of transform streams joined by
 * fixed buffers of QS_CHAIN_BUF bytes: source bytes go into the first
 * stage's buffer, each stage writes into the next one's, and the last
 * writes into chain->out. Memory use is constant whatever the blob size.
 *
 * Every call into a module is checked: a module that claims to have
 * used or written more bytes than the buffers hold, or that stops making
 * progress, fails the chain with QS_ERR_MODULE naming it, and nothing it
 * claimed is trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Calls without progress a stage may make in a row before it is failed. */
#define STALL_MAX 16

int
qs_chain_init(struct qs_chain *c)
{
	memset(c, 0, sizeof(*c));
	c->out = malloc(QS_CHAIN_BUF);
	return c->out == NULL ? QS_ERR_NOMEM : QS_OK;
}

int
qs_chain_add(struct qs_chain *c, const struct qs_transform_ops *ops,
    void *stream, const char *name)
{
	struct qs_stage *s;

	if (c->nstages == QS_LAYERS_MAX + 1)
		return QS_ERR_INVALID;
	s = &c->stages[c->nstages];
	if (s->in == NULL && (s->in = malloc(QS_CHAIN_BUF)) == NULL)
		return QS_ERR_NOMEM;
	s->ops = ops;
	s->stream = stream;
	s->name = name;
	s->format_version = 0;
	c->nstages++;
	return QS_OK;
}

void
qs_chain_free(struct qs_chain *c)
{
	size_t i;

	for (i = 0; i < QS_LAYERS_MAX + 1; i++) {
		if (c->stages[i].in == NULL)
			continue;
		qs_wipe(c->stages[i].in, QS_CHAIN_BUF);
		free(c->stages[i].in);
	}
	qs_wipe(c->out, c->out != NULL ? QS_CHAIN_BUF : 0);
	free(c->out);
	memset(c, 0, sizeof(*c));
}

int
qs_module_status(int rc)
{
	return rc < QS_ERR_STOP || rc > QS_OK ? QS_ERR_MODULE : rc;
}

void
qs_chain_names(const struct qs_chain *c, char *buf, size_t cap)
{
	size_t i, used = 0;
	int n;

	buf[0] = '\0';
	for (i = 0; i < c->nstages && used < cap; i++) {
		n = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
		    c->stages[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}

void
qs_chain_clear(struct qs_chain *c)
{
	c->nstages = 0;
}

static const char *
stream_detail(const struct qs_stage *s)
{
	const char *msg = NULL;

	if (s->ops != NULL &&
	    QS_HAS_FIELD(s->ops, struct qs_transform_ops, stream_error) &&
	    s->ops->stream_error != NULL)
		msg = s->ops->stream_error(s->stream);
	return msg != NULL ? msg : "";
}

int
qs_chain_begin(struct qs_chain *c, const struct qs_blob_info *blob)
{
	struct qs_blob_info own;
	size_t i;
	int rc;

	c->out_off = c->out_len = 0;
	c->source_done = c->done = 0;
	c->err[0] = '\0';
	for (i = 0; i < c->nstages; i++) {
		struct qs_stage *s = &c->stages[i];

		s->in_off = s->in_len = 0;
		s->done = 0;
		s->stalls = 0;
		if (s->ops == NULL)
			continue;
		own = *blob;
		own.size = sizeof(own);
		own.format_version = s->format_version;
		rc = qs_module_status(s->ops->stream_begin(s->stream, &own));
		if (rc != QS_OK) {
			snprintf(c->err, sizeof(c->err), "%s: cannot start a "
			    "stream: %s%s%s", s->name, qs_strerror(rc),
			    *stream_detail(s) ? ": " : "", stream_detail(s));
			return rc;
		}
	}
	return QS_OK;
}

static void
compact(uint8_t *buf, size_t *off, size_t len)
{
	if (*off > 0 && len > 0)
		memmove(buf, buf + *off, len);
	*off = 0;
}

size_t
qs_chain_space(struct qs_chain *c, uint8_t **dst)
{
	struct qs_stage *s = &c->stages[0];

	compact(s->in, &s->in_off, s->in_len);
	*dst = s->in + s->in_len;
	return QS_CHAIN_BUF - s->in_len;
}

void
qs_chain_fed(struct qs_chain *c, size_t n)
{
	c->stages[0].in_len += n;
}

static int
stage_failed(struct qs_chain *c, struct qs_stage *s, int rc)
{
	const char *detail = stream_detail(s);
	size_t n = strlen(s->name);

	/* QS_MORE is only defined for stream_final, which handles it */
	if (rc < QS_ERR_STOP || rc > QS_OK) {
		snprintf(c->err, sizeof(c->err), "module %s returned status "
		    "%d, which the ABI does not define", s->name, rc);
		return QS_ERR_MODULE;
	}
	/* modules often start their text with their own name */
	if (strncmp(detail, s->name, n) == 0 && detail[n] == ':')
		detail += n + 1 + (detail[n + 1] == ' ');
	snprintf(c->err, sizeof(c->err), "%s: %s%s%s", s->name,
	    qs_strerror(rc), *detail ? ": " : "", detail);
	return rc;
}

static int
misbehaved(struct qs_chain *c, struct qs_stage *s, const char *what)
{
	snprintf(c->err, sizeof(c->err), "module %s broke the stream "
	    "contract: %s; remove it from the configuration or fix it",
	    s->name, what);
	return QS_ERR_MODULE;
}

/* Runs stage i once. Sets *progress when bytes moved or it finished. */
static int
run_stage(struct qs_chain *c, size_t i, int *progress)
{
	struct qs_stage *s = &c->stages[i];
	uint8_t *dst;
	size_t *dst_off, *dst_len, space, used = 0, made = 0;
	int upstream_done, rc;

	if (i + 1 < c->nstages) {
		dst = c->stages[i + 1].in;
		dst_off = &c->stages[i + 1].in_off;
		dst_len = &c->stages[i + 1].in_len;
	} else {
		dst = c->out;
		dst_off = &c->out_off;
		dst_len = &c->out_len;
	}
	compact(dst, dst_off, *dst_len);
	space = QS_CHAIN_BUF - *dst_len;
	if (space == 0)
		return QS_OK;
	upstream_done = i == 0 ? c->source_done : c->stages[i - 1].done;

	if (s->in_len > 0) {
		if (s->ops == NULL) {
			used = made = s->in_len < space ? s->in_len : space;
			memcpy(dst + *dst_len, s->in + s->in_off, made);
			rc = QS_OK;
		} else {
			rc = s->ops->stream_update(s->stream, s->in + s->in_off,
			    s->in_len, &used, dst + *dst_len, space, &made);
		}
		if (rc != QS_OK)
			return stage_failed(c, s, rc);
		if (used > s->in_len || made > space)
			return misbehaved(c, s, "it reported more bytes than "
			    "the buffers hold");
		s->in_off += used;
		s->in_len -= used;
	} else if (upstream_done) {
		rc = s->ops == NULL ? QS_OK : s->ops->stream_final(s->stream,
		    dst + *dst_len, space, &made);
		if (rc != QS_OK && rc != QS_MORE)
			return stage_failed(c, s, rc);
		if (made > space)
			return misbehaved(c, s, "it reported more bytes than "
			    "the buffer holds");
		if (rc == QS_OK)
			s->done = 1;
	} else {
		return QS_OK;
	}
	*dst_len += made;
	if (used > 0 || made > 0 || s->done) {
		s->stalls = 0;
		*progress = 1;
	} else if (++s->stalls > STALL_MAX) {
		return misbehaved(c, s, "it stopped consuming input and "
		    "producing output");
	}
	return QS_OK;
}

int
qs_chain_pump(struct qs_chain *c)
{
	int progress, rc;
	size_t i;

	do {
		progress = 0;
		for (i = c->nstages; i-- > 0;) {
			if (c->stages[i].done)
				continue;
			if ((rc = run_stage(c, i, &progress)) != QS_OK)
				return rc;
		}
	} while (progress && c->out_len < QS_CHAIN_BUF);
	c->done = c->stages[c->nstages - 1].done;
	return QS_OK;
}
