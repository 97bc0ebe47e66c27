/*
 * Test module: a compress transform whose output never ends. In the
 * direction named by the "direction" option:
 *
 *   fault final    final fills the whole output buffer and returns
 *                  QS_MORE, on every call
 *   fault update   update fills the whole output buffer and uses no
 *                  input, on every call
 *
 * Every call makes progress by the letter of the ABI, so only a size
 * or ratio limit in the host can stop it. Without a fault it is a plain
 * identity transform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

enum endless_fault {
	FAULT_NONE,
	FAULT_UPDATE,
	FAULT_FINAL,
};

struct endless_instance {
	enum endless_fault fault;
	uint32_t direction;       /* the direction that misbehaves */
};

struct endless_stream {
	enum endless_fault fault;   /* FAULT_NONE in the other direction */
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
endless_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct endless_instance *inst;
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
endless_instance_free(void *instance)
{
	free(instance);
}

static int
endless_stream_new(void *instance, uint32_t direction, void **stream)
{
	const struct endless_instance *inst = instance;
	struct endless_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->fault = direction == inst->direction ? inst->fault : FAULT_NONE;
	*stream = s;
	return QS_OK;
}

static int
endless_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	return QS_OK;
}

static int
endless_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct endless_stream *s = stream;
	size_t n = in_len < out_cap ? in_len : out_cap;

	if (s->fault == FAULT_UPDATE) {
		memset(out, 'x', out_cap);
		*in_used = 0;
		*out_len = out_cap;
		return QS_OK;
	}
	memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	return QS_OK;
}

static int
endless_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	const struct endless_stream *s = stream;

	*out_len = 0;
	if (s->fault != FAULT_FINAL)
		return QS_OK;
	memset(out, 'x', out_cap);
	*out_len = out_cap;
	return QS_MORE;
}

static void
endless_stream_free(void *stream)
{
	free(stream);
}

static const struct qs_transform_ops endless_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = endless_instance_new,
	.instance_free = endless_instance_free,
	.stream_new = endless_stream_new,
	.stream_begin = endless_stream_begin,
	.stream_update = endless_stream_update,
	.stream_final = endless_stream_final,
	.stream_free = endless_stream_free,
};

static const struct qs_option endless_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "fault",
		.help = "update, final or none: the call whose output "
		    "never ends, default none",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "direction",
		.help = "encode or decode: the stream that never ends, "
		    "default encode",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module endless_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "hostile-endless",
	.version = "1.0.0",
	.description = "identity transform whose output never ends",
	.options = endless_options,
	.ops = &endless_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &endless_module;
}
