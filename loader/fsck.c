/*
 * Checking a whole queue: every message is decoded through its chain
 * into a scratch buffer that is wiped and dropped, so no plaintext is
 * written anywhere, and every envelope is decoded the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SCRATCH (64 * 1024)

static const char *const problem_names[] = {
	[QS_PROBLEM_NONE] = "ok",
	[QS_PROBLEM_CORRUPT] = "corrupt",
	[QS_PROBLEM_TRUNCATED] = "truncated",
	[QS_PROBLEM_UNKNOWN_KEY] = "unknown-key",
	[QS_PROBLEM_MISSING_MODULE] = "missing-module",
	[QS_PROBLEM_ORPHAN_ENVELOPE] = "orphan-envelope",
	[QS_PROBLEM_NO_ENVELOPES] = "no-envelopes",
	[QS_PROBLEM_UNREADABLE] = "unreadable",
};

QS_API const char *
qs_problem_name(uint32_t problem)
{
	if (problem < sizeof(problem_names) / sizeof(problem_names[0]))
		return problem_names[problem];
	return "unknown";
}

struct fsck {
	struct qs_queue *q;
	uint32_t flags;
	void (*fn)(void *arg, const struct qs_fsck_item *item);
	void *arg;
	struct qs_fsck_stats stats;
	struct qs_id_list msgs;   /* sorted message ids */
	struct qs_id_list envs;   /* sorted envelope ids */
	uint8_t *scratch;
	int walk_status;
};

static uint32_t
classify(int status)
{
	switch (status) {
	case QS_OK:
		return QS_PROBLEM_NONE;
	case QS_ERR_AUTH:
	case QS_ERR_CORRUPT:
	case QS_ERR_MODULE:
		return QS_PROBLEM_CORRUPT;
	case QS_ERR_TRUNCATED:
		return QS_PROBLEM_TRUNCATED;
	case QS_ERR_NOKEY:
		return QS_PROBLEM_UNKNOWN_KEY;
	case QS_ERR_UNSUPPORTED:
		return QS_PROBLEM_MISSING_MODULE;
	}
	return QS_PROBLEM_UNREADABLE;
}

/*
 * True for problems in the blob itself. An unknown key, a missing module
 * or a lowered limit is fixed in the configuration instead, so such
 * blobs stay where they are.
 */
static int
damaged(uint32_t problem)
{
	return problem == QS_PROBLEM_CORRUPT ||
	    problem == QS_PROBLEM_TRUNCATED;
}

/* Reports one blob, moving it aside first when it is bad and asked to. */
static void
report(struct fsck *f, uint32_t kind, const char *id, uint32_t problem,
    int status, const char *detail, int may_quarantine)
{
	const struct qs_queue_ops *b = f->q->bops;
	struct qs_fsck_item item;
	char dest[1024], why[QS_ERR_MAX];
	int rc;

	memset(&item, 0, sizeof(item));
	item.kind = kind;
	item.id = id;
	item.problem = problem;
	item.status = status;
	item.detail = problem != QS_PROBLEM_NONE ? detail : NULL;
	if (problem != QS_PROBLEM_NONE)
		f->stats.bad++;
	if (problem != QS_PROBLEM_NONE && may_quarantine &&
	    (f->flags & QS_FSCK_QUARANTINE)) {
		snprintf(why, sizeof(why), "%s", detail);
		if (!QS_HAS_FIELD(b, struct qs_queue_ops, quarantine) ||
		    b->quarantine == NULL) {
			snprintf(dest, sizeof(dest), "backend %s cannot "
			    "quarantine blobs", f->q->backend_mod.stem);
			rc = QS_ERR_UNSUPPORTED;
		} else {
			dest[0] = '\0';
			rc = b->quarantine(f->q->backend, kind, id, dest,
			    sizeof(dest));
		}
		if (rc == QS_OK) {
			item.quarantined = dest;
			f->stats.quarantined++;
		} else {
			qs_log(QS_LOG_ERROR, "fsck", "cannot quarantine %s %s: "
			    "%s", kind == QS_BLOB_MESSAGE ? "message" :
			    "envelope", id, rc == QS_ERR_UNSUPPORTED ? dest :
			    qs_backend_error(f->q));
		}
		detail = why;
		item.detail = why;
	}
	if (f->fn != NULL)
		f->fn(f->arg, &item);
}

/* Decodes one message to the end. Returns QS_ERR_NOTFOUND if gone. */
static int
verify_message(struct fsck *f, const char *id)
{
	struct qs_msg_reader *r;
	size_t n;
	int rc;

	if ((rc = qs_msg_open(f->q, id, &r)) != QS_OK)
		return rc;
	do {
		rc = qs_msg_read(r, f->scratch, SCRATCH, &n);
	} while (rc == QS_OK && n > 0);
	qs_msg_close(r);
	qs_wipe(f->scratch, SCRATCH);
	return rc;
}

static void
check_messages(struct fsck *f)
{
	size_t i;
	int rc;

	for (i = 0; i < f->msgs.n; i++) {
		const char *id = f->msgs.ids[i];

		f->stats.messages++;
		rc = verify_message(f, id);
		if (rc == QS_ERR_NOTFOUND) {
			/* deleted while fsck ran: nothing to check */
			f->stats.messages--;
			continue;
		}
		if (rc != QS_OK) {
			report(f, QS_BLOB_MESSAGE, id, classify(rc), rc,
			    qs_error(f->q), damaged(classify(rc)));
			continue;
		}
		if (!qs_id_list_has(&f->envs, id, QS_MSGID_LEN)) {
			report(f, QS_BLOB_MESSAGE, id, QS_PROBLEM_NO_ENVELOPES,
			    QS_OK, "no envelope refers to this message; a put "
			    "still in progress looks the same", 0);
			continue;
		}
		report(f, QS_BLOB_MESSAGE, id, QS_PROBLEM_NONE, QS_OK, NULL,
		    0);
	}
}

/*
 * True when the message of envelope evpid is stored now. The backend is
 * asked, not the list walked at the start, because a message may have
 * been moved aside by this run or committed since.
 */
static int
message_present(struct fsck *f, const char *evpid)
{
	char msgid[QS_MSGID_LEN + 1];
	uint64_t stored;

	memcpy(msgid, evpid, QS_MSGID_LEN);
	msgid[QS_MSGID_LEN] = '\0';
	return f->q->bops->msg_stat(f->q->backend, msgid, &stored) == QS_OK;
}

static void
check_envelopes(struct fsck *f)
{
	char detail[QS_ERR_MAX];
	size_t i, len;
	int rc;

	for (i = 0; i < f->envs.n; i++) {
		const char *id = f->envs.ids[i];

		f->stats.envelopes++;
		/* a larger envelope was still decoded whole to learn len */
		rc = qs_env_load(f->q, id, f->scratch, SCRATCH, &len);
		qs_wipe(f->scratch, SCRATCH);
		if (rc == QS_ERR_LIMIT && len > SCRATCH && len <= QS_ENV_MAX)
			rc = QS_OK;
		if (rc == QS_ERR_NOTFOUND) {
			f->stats.envelopes--;
			continue;
		}
		if (rc != QS_OK) {
			report(f, QS_BLOB_ENVELOPE, id, classify(rc), rc,
			    qs_error(f->q), damaged(classify(rc)));
			continue;
		}
		if (!message_present(f, id)) {
			snprintf(detail, sizeof(detail), "envelope %s refers "
			    "to message %.16s, which is not stored", id, id);
			report(f, QS_BLOB_ENVELOPE, id,
			    QS_PROBLEM_ORPHAN_ENVELOPE, QS_ERR_NOTFOUND, detail,
			    1);
			continue;
		}
		report(f, QS_BLOB_ENVELOPE, id, QS_PROBLEM_NONE, QS_OK, NULL,
		    0);
	}
}

QS_API int
qs_fsck(struct qs_queue *q, uint32_t flags,
    void (*fn)(void *arg, const struct qs_fsck_item *item), void *arg,
    struct qs_fsck_stats *stats)
{
	struct fsck f;
	int rc;

	memset(&f, 0, sizeof(f));
	f.q = q;
	f.flags = flags;
	f.fn = fn;
	f.arg = arg;
	if ((f.scratch = malloc(SCRATCH)) == NULL)
		return QS_ERR_NOMEM;
	rc = qs_msg_walk(q, qs_id_collect, &f.msgs);
	if (rc == QS_OK)
		rc = qs_env_walk(q, NULL, qs_id_collect, &f.envs);
	if (rc == QS_OK) {
		qs_id_list_sort(&f.msgs);
		qs_id_list_sort(&f.envs);
		check_messages(&f);
		check_envelopes(&f);
		rc = f.stats.bad > 0 ? QS_ERR_CORRUPT : QS_OK;
		if (rc != QS_OK)
			qs_seterr(q, "%llu of %llu blobs are bad",
			    (unsigned long long)f.stats.bad,
			    (unsigned long long)(f.stats.messages +
			    f.stats.envelopes));
	}
	if (stats != NULL)
		*stats = f.stats;
	free(f.msgs.ids);
	free(f.envs.ids);
	free(f.scratch);
	return rc;
}
