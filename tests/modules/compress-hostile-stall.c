/*
 * Test module: a compress transform that stops making progress. In the
 * direction named by the "direction" option:
 *
 *   fault update   update returns QS_OK, uses no input and writes no
 *                  output, on every call
 *   fault final    final returns QS_MORE and writes no output, on
 *                  every call
 *
 * The host must notice and fail the stream instead of calling it
 * forever. Without a fault it is a plain identity transform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

enum stall_fault {
	FAULT_NONE,
	FAULT_UPDATE,
	FAULT_FINAL,
};

struct stall_instance {
	enum stall_fault fault;
	uint32_t direction;       /* the direction that misbehaves */
};

struct stall_stream {
	enum stall_fault fault;   /* FAULT_NONE in the other direction */
};

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
stall_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct stall_instance *inst;
	const char *fault = find_param(args, "fault");
	const char *direction = find_param(args, "direction");

	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return QS_ERR_NOMEM;
	inst->fault = FAULT_NONE;
	inst->direction = QS_ENCODE;
	if (fault != NULL && strcmp(fault, "update") == 0)
		inst->fault = FAULT_UPDATE;
	else if (fault != NULL && strcmp(fault, "final") == 0)
		inst->fault = FAULT_FINAL;
	else if (fault != NULL && strcmp(fault, "none") != 0) {
		free(inst);
		return reject(args, "fault", fault);
	}
	if (direction != NULL && strcmp(direction, "decode") == 0)
		inst->direction = QS_DECODE;
	else if (direction != NULL && strcmp(direction, "encode") != 0) {
		free(inst);
		return reject(args, "direction", direction);
	}
	*instance = inst;
	return QS_OK;
}

static void
stall_instance_free(void *instance)
{
	free(instance);
}

static int
stall_stream_new(void *instance, uint32_t direction, void **stream)
{
	const struct stall_instance *inst = instance;
	struct stall_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->fault = direction == inst->direction ? inst->fault : FAULT_NONE;
	*stream = s;
	return QS_OK;
}

static int
stall_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	return QS_OK;
}

static int
stall_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct stall_stream *s = stream;
	size_t n = in_len < out_cap ? in_len : out_cap;

	if (s->fault == FAULT_UPDATE)
		n = 0;
	memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	return QS_OK;
}

static int
stall_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	const struct stall_stream *s = stream;

	*out_len = 0;
	return s->fault == FAULT_FINAL ? QS_MORE : QS_OK;
}

static void
stall_stream_free(void *stream)
{
	free(stream);
}

static const struct qs_transform_ops stall_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = stall_instance_new,
	.instance_free = stall_instance_free,
	.stream_new = stall_stream_new,
	.stream_begin = stall_stream_begin,
	.stream_update = stall_stream_update,
	.stream_final = stall_stream_final,
	.stream_free = stall_stream_free,
};

static const struct qs_option stall_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "fault",
		.help = "update, final or none: the call that makes no "
		    "progress, default none",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "direction",
		.help = "encode or decode: the stream that stalls, "
		    "default encode",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module stall_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "hostile-stall",
	.version = "1.0.0",
	.description = "identity transform that stops making progress",
	.options = stall_options,
	.ops = &stall_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &stall_module;
}
