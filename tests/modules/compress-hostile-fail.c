/*
 * Test module: a compress transform that fails one call with a chosen
 * status. Options:
 *
 *   at CALL       instance-new, stream-new, stream-begin, update, final
 *                 or none (the default): the call that fails
 *   status N      the status it returns, as a decimal integer, default
 *                 -4 (QS_ERR_CORRUPT); values outside the ABI's set,
 *                 such as 42 or -999, are allowed on purpose
 *   err MODE      for instance-new: text (the default) writes a reason
 *                 to args->err, none leaves it empty, unterminated
 *                 fills all err_cap bytes without a final NUL
 *   direction D   encode (the default) or decode: the stream that fails
 *
 * A failing instance_new or stream_new first stores a pointer to a
 * static object in *instance or *stream. If the host later frees that
 * pointer, the module logs an error instead of freeing it, so a test
 * that captures the host log sees the mistake. Otherwise the module is
 * a plain identity transform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

enum fail_call {
	CALL_NONE,
	CALL_INSTANCE_NEW,
	CALL_STREAM_NEW,
	CALL_STREAM_BEGIN,
	CALL_UPDATE,
	CALL_FINAL,
};

static const char *const call_names[] = {
	[CALL_NONE] = "none",
	[CALL_INSTANCE_NEW] = "instance-new",
	[CALL_STREAM_NEW] = "stream-new",
	[CALL_STREAM_BEGIN] = "stream-begin",
	[CALL_UPDATE] = "update",
	[CALL_FINAL] = "final",
};

enum err_mode {
	ERR_TEXT,
	ERR_NONE,
	ERR_UNTERMINATED,
};

struct fail_instance {
	enum fail_call at;
	int status;
	uint32_t direction;       /* the direction that fails */
};

struct fail_stream {
	enum fail_call at;        /* CALL_NONE in the other direction */
	int status;
};

/* What a failed instance_new or stream_new leaves in its result. */
static int fail_poison;

static const struct qs_host *fail_host;

static const char *
find_param(const struct qs_instance_args *args, const char *name)
{
	size_t i;

	for (i = 0; i < args->nparams; i++)
		if (strcmp(args->params[i].name, name) == 0)
			return args->params[i].value;
	return NULL;
}

static int
reject(const struct qs_instance_args *args, const char *option,
    const char *value)
{
	if (args->err != NULL && args->err_cap > 0)
		snprintf(args->err, args->err_cap, "invalid value \"%s\" for "
		    "option %s", value, option);
	return QS_ERR_INVALID;
}

static int
parse_status(const char *text, int *status)
{
	char *end;
	long v;

	v = strtol(text, &end, 10);
	if (end == text || *end != '\0' || v < -100000 || v > 100000)
		return -1;
	*status = (int)v;
	return 0;
}

static int
parse_options(const struct qs_instance_args *args,
    struct fail_instance *inst, enum err_mode *err_mode)
{
	const char *at = find_param(args, "at");
	const char *status = find_param(args, "status");
	const char *err = find_param(args, "err");
	const char *direction = find_param(args, "direction");
	size_t i, n = sizeof(call_names) / sizeof(call_names[0]);

	inst->at = CALL_NONE;
	inst->status = QS_ERR_CORRUPT;
	inst->direction = QS_ENCODE;
	*err_mode = ERR_TEXT;
	for (i = 0; at != NULL && i < n; i++)
		if (strcmp(at, call_names[i]) == 0)
			inst->at = (enum fail_call)i;
	if (at != NULL && strcmp(at, call_names[inst->at]) != 0)
		return reject(args, "at", at);
	if (status != NULL && parse_status(status, &inst->status) != 0)
		return reject(args, "status", status);
	if (err != NULL && strcmp(err, "none") == 0)
		*err_mode = ERR_NONE;
	else if (err != NULL && strcmp(err, "unterminated") == 0)
		*err_mode = ERR_UNTERMINATED;
	else if (err != NULL && strcmp(err, "text") != 0)
		return reject(args, "err", err);
	if (direction != NULL && strcmp(direction, "decode") == 0)
		inst->direction = QS_DECODE;
	else if (direction != NULL && strcmp(direction, "encode") != 0)
		return reject(args, "direction", direction);
	return QS_OK;
}

/* Fails instance_new as err_mode says, leaving the poison behind. */
static int
fail_instance(const struct qs_instance_args *args, int status,
    enum err_mode err_mode, void **instance)
{
	*instance = &fail_poison;
	if (args->err == NULL || args->err_cap == 0)
		return status;
	if (err_mode == ERR_TEXT)
		snprintf(args->err, args->err_cap, "instance refused on "
		    "request of option at");
	else if (err_mode == ERR_UNTERMINATED)
		memset(args->err, 'e', args->err_cap);
	return status;
}

static int
fail_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct fail_instance *inst;
	enum err_mode err_mode;
	int rc;

	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return QS_ERR_NOMEM;
	if ((rc = parse_options(args, inst, &err_mode)) != QS_OK) {
		free(inst);
		return rc;
	}
	if (inst->at == CALL_INSTANCE_NEW) {
		rc = inst->status;
		free(inst);
		return fail_instance(args, rc, err_mode, instance);
	}
	*instance = inst;
	return QS_OK;
}

static void
fail_instance_free(void *instance)
{
	if (instance == &fail_poison) {
		fail_host->log(QS_LOG_ERROR, "hostile-fail", "instance_free "
		    "called on the result of a failed instance_new");
		return;
	}
	free(instance);
}

static int
fail_stream_new(void *instance, uint32_t direction, void **stream)
{
	const struct fail_instance *inst = instance;
	struct fail_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if (inst->at == CALL_STREAM_NEW && direction == inst->direction) {
		*stream = &fail_poison;
		return inst->status;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->at = direction == inst->direction ? inst->at : CALL_NONE;
	s->status = inst->status;
	*stream = s;
	return QS_OK;
}

static int
fail_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	const struct fail_stream *s = stream;

	return s->at == CALL_STREAM_BEGIN ? s->status : QS_OK;
}

static int
fail_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct fail_stream *s = stream;
	size_t n = in_len < out_cap ? in_len : out_cap;

	if (s->at == CALL_UPDATE)
		return s->status;
	memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	return QS_OK;
}

static int
fail_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	const struct fail_stream *s = stream;

	*out_len = 0;
	return s->at == CALL_FINAL ? s->status : QS_OK;
}

static void
fail_stream_free(void *stream)
{
	if (stream == &fail_poison) {
		fail_host->log(QS_LOG_ERROR, "hostile-fail", "stream_free "
		    "called on the result of a failed stream_new");
		return;
	}
	free(stream);
}

static const char *
fail_stream_error(void *stream)
{
	const struct fail_stream *s = stream;

	return s->at == CALL_UPDATE || s->at == CALL_FINAL ?
	    "failing on request of option at" : NULL;
}

static const struct qs_transform_ops fail_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = fail_instance_new,
	.instance_free = fail_instance_free,
	.stream_new = fail_stream_new,
	.stream_begin = fail_stream_begin,
	.stream_update = fail_stream_update,
	.stream_final = fail_stream_final,
	.stream_free = fail_stream_free,
	.stream_error = fail_stream_error,
};

static const struct qs_option fail_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "at",
		.help = "the call that fails, default none",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_INT,
		.name = "status",
		.help = "the status the failing call returns, default -4",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "err",
		.help = "text, none or unterminated: what a failing "
		    "instance_new writes to args->err, default text",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "direction",
		.help = "encode or decode: the stream that fails, "
		    "default encode",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module fail_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "hostile-fail",
	.version = "1.0.0",
	.description = "identity transform that fails a chosen call",
	.options = fail_options,
	.ops = &fail_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	fail_host = host;
	return &fail_module;
}
