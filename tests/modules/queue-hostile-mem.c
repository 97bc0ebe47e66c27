/*
 * Test module: a queue backend that keeps everything in memory, for one
 * open queue only, and breaks one rule of the backend interface on
 * request of its "fault" option:
 *
 *   fault read-overflow    msg_read copies at most cap bytes but
 *                          reports cap + 1
 *   fault read-huge        msg_read reports SIZE_MAX bytes
 *   fault env-overflow     env_load returns QS_OK and reports cap + 1
 *   fault env-huge         env_load returns QS_OK and reports SIZE_MAX
 *   fault meta-overflow    meta_get returns QS_OK and reports cap + 1.
 *                          So that a new queue reaches that call,
 *                          meta_put stores the record and returns
 *                          QS_ERR_EXISTS, as if another process had
 *                          created it first.
 *   fault walk-bad-id      msg_walk ends with the id "../../x"
 *   fault env-walk-bad-id  env_walk ends with the id "../../x"
 *
 * Without a fault it is a correct backend. Every call that receives an
 * id checks it. It logs a malformed id as an error through the host and
 * rejects it with QS_ERR_INVALID, so a test that captures the host log
 * detects a host that passed one on.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

#define MSGID_LEN 16
#define EVPID_LEN 24
#define META_MAX 4096
#define BAD_ID "../../x"

enum mem_fault {
	FAULT_NONE,
	FAULT_READ_OVERFLOW,
	FAULT_READ_HUGE,
	FAULT_ENV_OVERFLOW,
	FAULT_ENV_HUGE,
	FAULT_META_OVERFLOW,
	FAULT_WALK_BAD_ID,
	FAULT_ENV_WALK_BAD_ID,
};

static const char *const fault_names[] = {
	[FAULT_NONE] = "none",
	[FAULT_READ_OVERFLOW] = "read-overflow",
	[FAULT_READ_HUGE] = "read-huge",
	[FAULT_ENV_OVERFLOW] = "env-overflow",
	[FAULT_ENV_HUGE] = "env-huge",
	[FAULT_META_OVERFLOW] = "meta-overflow",
	[FAULT_WALK_BAD_ID] = "walk-bad-id",
	[FAULT_ENV_WALK_BAD_ID] = "env-walk-bad-id",
};

/* A stored message or envelope blob. */
struct blob {
	struct blob *next;
	char id[QS_ID_MAX];
	char msgid[QS_ID_MAX];    /* envelopes: the message they belong to */
	uint8_t *data;
	size_t len, cap;
};

struct mem_queue {
	enum mem_fault fault;
	struct blob *msgs;
	struct blob *envs;
	uint8_t meta[META_MAX];
	size_t meta_len;
	int has_meta;
	char err[256];
};

struct mem_writer {
	struct mem_queue *q;
	struct blob *blob;
};

struct mem_reader {
	const struct blob *blob;
	enum mem_fault fault;
	size_t off;
};

static const struct qs_host *mem_host;

static int
valid_id(struct mem_queue *q, const char *call, const char *id,
    size_t len)
{
	if (id != NULL && strlen(id) == len &&
	    strspn(id, "0123456789abcdef") == len)
		return 1;
	snprintf(q->err, sizeof(q->err), "%s received a malformed id", call);
	mem_host->log(QS_LOG_ERROR, "hostile-mem", q->err);
	return 0;
}

static struct blob *
find_blob(struct blob *list, const char *id)
{
	for (; list != NULL; list = list->next)
		if (strcmp(list->id, id) == 0)
			return list;
	return NULL;
}

static void
free_blob(struct blob *b)
{
	if (b == NULL)
		return;
	free(b->data);
	free(b);
}

static void
unlink_blob(struct blob **list, struct blob *b)
{
	for (; *list != NULL; list = &(*list)->next)
		if (*list == b) {
			*list = b->next;
			return;
		}
}

static int
append(struct blob *b, const uint8_t *buf, size_t len)
{
	uint8_t *nd;
	size_t cap;

	if (len == 0)
		return QS_OK;
	if (len <= b->cap - b->len) {
		memcpy(b->data + b->len, buf, len);
		b->len += len;
		return QS_OK;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - b->len < len) {
		if (cap > SIZE_MAX / 2)
			return QS_ERR_NOMEM;
		cap *= 2;
	}
	if ((nd = realloc(b->data, cap)) == NULL)
		return QS_ERR_NOMEM;
	b->data = nd;
	b->cap = cap;
	memcpy(b->data + b->len, buf, len);
	b->len += len;
	return QS_OK;
}

static struct blob *
new_blob(const char *id, const char *msgid)
{
	struct blob *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	snprintf(b->id, sizeof(b->id), "%s", id);
	snprintf(b->msgid, sizeof(b->msgid), "%s", msgid);
	return b;
}

static int
mem_open(const struct qs_instance_args *args, void **queue)
{
	struct mem_queue *q;
	const char *fault = NULL;
	size_t i, n = sizeof(fault_names) / sizeof(fault_names[0]);

	for (i = 0; i < args->nparams; i++)
		if (strcmp(args->params[i].name, "fault") == 0)
			fault = args->params[i].value;
	for (i = 0; fault != NULL && i < n; i++)
		if (strcmp(fault, fault_names[i]) == 0)
			break;
	if (i == n) {
		snprintf(args->err, args->err_cap, "invalid value \"%s\" for "
		    "option fault", fault);
		return QS_ERR_INVALID;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return QS_ERR_NOMEM;
	q->fault = fault != NULL ? (enum mem_fault)i : FAULT_NONE;
	*queue = q;
	return QS_OK;
}

static void
free_list(struct blob *b)
{
	struct blob *next;

	for (; b != NULL; b = next) {
		next = b->next;
		free_blob(b);
	}
}

static void
mem_close(void *queue)
{
	struct mem_queue *q = queue;

	free_list(q->msgs);
	free_list(q->envs);
	free(q);
}

static const char *
mem_error(void *queue)
{
	struct mem_queue *q = queue;

	return q->err[0] != '\0' ? q->err : NULL;
}

static int
mem_meta_get(void *queue, uint8_t *buf, size_t cap, size_t *len)
{
	struct mem_queue *q = queue;

	if (!q->has_meta)
		return QS_ERR_NOTFOUND;
	*len = q->meta_len;
	if (q->meta_len > cap)
		return QS_ERR_LIMIT;
	memcpy(buf, q->meta, q->meta_len);
	if (q->fault == FAULT_META_OVERFLOW)
		*len = cap + 1;
	return QS_OK;
}

static int
mem_meta_put(void *queue, const uint8_t *buf, size_t len, uint32_t flags)
{
	struct mem_queue *q = queue;

	if ((flags & QS_META_CREATE) != 0 && q->has_meta)
		return QS_ERR_EXISTS;
	if (len > sizeof(q->meta))
		return QS_ERR_LIMIT;
	memcpy(q->meta, buf, len);
	q->meta_len = len;
	q->has_meta = 1;
	if (q->fault == FAULT_META_OVERFLOW)
		return QS_ERR_EXISTS;
	return QS_OK;
}

static int
mem_msg_create(void *queue, const char *msgid, void **writer)
{
	struct mem_queue *q = queue;
	struct mem_writer *w;

	if (!valid_id(q, "msg_create", msgid, MSGID_LEN))
		return QS_ERR_INVALID;
	if (find_blob(q->msgs, msgid) != NULL)
		return QS_ERR_EXISTS;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return QS_ERR_NOMEM;
	if ((w->blob = new_blob(msgid, msgid)) == NULL) {
		free(w);
		return QS_ERR_NOMEM;
	}
	w->q = q;
	*writer = w;
	return QS_OK;
}

static int
mem_msg_write(void *writer, const uint8_t *buf, size_t len)
{
	struct mem_writer *w = writer;

	return append(w->blob, buf, len);
}

static int
mem_msg_commit(void *writer)
{
	struct mem_writer *w = writer;
	int rc = QS_OK;

	if (find_blob(w->q->msgs, w->blob->id) != NULL) {
		free_blob(w->blob);
		rc = QS_ERR_EXISTS;
	} else {
		w->blob->next = w->q->msgs;
		w->q->msgs = w->blob;
	}
	free(w);
	return rc;
}

static void
mem_msg_abort(void *writer)
{
	struct mem_writer *w = writer;

	free_blob(w->blob);
	free(w);
}

static int
mem_msg_open(void *queue, const char *msgid, void **reader)
{
	struct mem_queue *q = queue;
	struct mem_reader *r;
	const struct blob *b;

	if (!valid_id(q, "msg_open", msgid, MSGID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->msgs, msgid)) == NULL)
		return QS_ERR_NOTFOUND;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return QS_ERR_NOMEM;
	r->blob = b;
	r->fault = q->fault;
	*reader = r;
	return QS_OK;
}

static int
mem_msg_read(void *reader, uint8_t *buf, size_t cap, size_t *len)
{
	struct mem_reader *r = reader;
	size_t n = r->blob->len - r->off;

	n = n < cap ? n : cap;
	if (n > 0)
		memcpy(buf, r->blob->data + r->off, n);
	r->off += n;
	*len = n;
	if (r->fault == FAULT_READ_OVERFLOW)
		*len = cap + 1;
	else if (r->fault == FAULT_READ_HUGE)
		*len = SIZE_MAX;
	return QS_OK;
}

static void
mem_msg_close(void *reader)
{
	free(reader);
}

static int
mem_msg_stat(void *queue, const char *msgid, uint64_t *stored)
{
	struct mem_queue *q = queue;
	const struct blob *b;

	if (!valid_id(q, "msg_stat", msgid, MSGID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->msgs, msgid)) == NULL)
		return QS_ERR_NOTFOUND;
	*stored = b->len;
	return QS_OK;
}

static int
mem_msg_delete(void *queue, const char *msgid)
{
	struct mem_queue *q = queue;
	struct blob *b;

	if (!valid_id(q, "msg_delete", msgid, MSGID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->msgs, msgid)) == NULL)
		return QS_ERR_NOTFOUND;
	unlink_blob(&q->msgs, b);
	free_blob(b);
	return QS_OK;
}

static int
mem_msg_walk(void *queue, int (*fn)(void *arg, const char *msgid),
    void *arg)
{
	struct mem_queue *q = queue;
	const struct blob *b;
	int rc;

	for (b = q->msgs; b != NULL; b = b->next)
		if ((rc = fn(arg, b->id)) != 0)
			return rc;
	if (q->fault == FAULT_WALK_BAD_ID)
		return fn(arg, BAD_ID);
	return QS_OK;
}

static int
mem_env_create(void *queue, const char *msgid, const char *evpid,
    const uint8_t *buf, size_t len)
{
	struct mem_queue *q = queue;
	struct blob *b;

	if (!valid_id(q, "env_create", msgid, MSGID_LEN) ||
	    !valid_id(q, "env_create", evpid, EVPID_LEN))
		return QS_ERR_INVALID;
	if (find_blob(q->envs, evpid) != NULL)
		return QS_ERR_EXISTS;
	if ((b = new_blob(evpid, msgid)) == NULL)
		return QS_ERR_NOMEM;
	if (append(b, buf, len) != QS_OK) {
		free_blob(b);
		return QS_ERR_NOMEM;
	}
	b->next = q->envs;
	q->envs = b;
	return QS_OK;
}

static int
mem_env_load(void *queue, const char *evpid, uint8_t *buf, size_t cap,
    size_t *len)
{
	struct mem_queue *q = queue;
	const struct blob *b;

	if (!valid_id(q, "env_load", evpid, EVPID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->envs, evpid)) == NULL)
		return QS_ERR_NOTFOUND;
	*len = b->len;
	if (b->len > cap)
		return QS_ERR_LIMIT;
	if (b->len > 0)
		memcpy(buf, b->data, b->len);
	if (q->fault == FAULT_ENV_OVERFLOW)
		*len = cap + 1;
	else if (q->fault == FAULT_ENV_HUGE)
		*len = SIZE_MAX;
	return QS_OK;
}

static int
mem_env_update(void *queue, const char *evpid, const uint8_t *buf,
    size_t len)
{
	struct mem_queue *q = queue;
	struct blob *b;

	if (!valid_id(q, "env_update", evpid, EVPID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->envs, evpid)) == NULL)
		return QS_ERR_NOTFOUND;
	b->len = 0;
	return append(b, buf, len);
}

static int
mem_env_delete(void *queue, const char *evpid)
{
	struct mem_queue *q = queue;
	struct blob *b;

	if (!valid_id(q, "env_delete", evpid, EVPID_LEN))
		return QS_ERR_INVALID;
	if ((b = find_blob(q->envs, evpid)) == NULL)
		return QS_ERR_NOTFOUND;
	unlink_blob(&q->envs, b);
	free_blob(b);
	return QS_OK;
}

static int
mem_env_walk(void *queue, const char *msgid,
    int (*fn)(void *arg, const char *evpid), void *arg)
{
	struct mem_queue *q = queue;
	const struct blob *b;
	int rc;

	for (b = q->envs; b != NULL; b = b->next) {
		if (msgid != NULL && strcmp(b->msgid, msgid) != 0)
			continue;
		if ((rc = fn(arg, b->id)) != 0)
			return rc;
	}
	if (q->fault == FAULT_ENV_WALK_BAD_ID)
		return fn(arg, BAD_ID);
	return QS_OK;
}

static const struct qs_queue_ops mem_ops = {
	.size = sizeof(struct qs_queue_ops),
	.open = mem_open,
	.close = mem_close,
	.error = mem_error,
	.meta_get = mem_meta_get,
	.meta_put = mem_meta_put,
	.msg_create = mem_msg_create,
	.msg_write = mem_msg_write,
	.msg_commit = mem_msg_commit,
	.msg_abort = mem_msg_abort,
	.msg_open = mem_msg_open,
	.msg_read = mem_msg_read,
	.msg_close = mem_msg_close,
	.msg_stat = mem_msg_stat,
	.msg_delete = mem_msg_delete,
	.msg_walk = mem_msg_walk,
	.env_create = mem_env_create,
	.env_load = mem_env_load,
	.env_update = mem_env_update,
	.env_delete = mem_env_delete,
	.env_walk = mem_env_walk,
};

static const struct qs_option mem_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "fault",
		.help = "which backend rule to break, default none",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module mem_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_QUEUE,
	.format_version = 1,
	.name = "hostile-mem",
	.version = "1.0.0",
	.description = "in-memory backend that breaks a chosen rule",
	.options = mem_options,
	.ops = &mem_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	mem_host = host;
	return &mem_module;
}
