/*
 * Test module: a compress transform that claims more bytes than the
 * buffers hold. It copies bytes like an identity transform, but in the
 * direction named by the "direction" option it reports a byte count
 * that the host must reject:
 *
 *   fault update-out-plus1   update reports out_cap + 1 bytes written
 *   fault update-out-huge    update reports SIZE_MAX bytes written
 *   fault update-in-plus1    update reports in_len + 1 bytes used
 *   fault update-in-huge     update reports SIZE_MAX bytes used
 *   fault final-out-plus1    final reports out_cap + 1 bytes written
 *   fault final-out-huge     final reports SIZE_MAX bytes written
 *
 * It never writes past out_cap: only the counts lie. Without a fault it
 * is a plain identity transform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

enum overflow_fault {
	FAULT_NONE,
	FAULT_UPDATE_OUT_PLUS1,
	FAULT_UPDATE_OUT_HUGE,
	FAULT_UPDATE_IN_PLUS1,
	FAULT_UPDATE_IN_HUGE,
	FAULT_FINAL_OUT_PLUS1,
	FAULT_FINAL_OUT_HUGE,
};

static const char *const fault_names[] = {
	[FAULT_NONE] = "none",
	[FAULT_UPDATE_OUT_PLUS1] = "update-out-plus1",
	[FAULT_UPDATE_OUT_HUGE] = "update-out-huge",
	[FAULT_UPDATE_IN_PLUS1] = "update-in-plus1",
	[FAULT_UPDATE_IN_HUGE] = "update-in-huge",
	[FAULT_FINAL_OUT_PLUS1] = "final-out-plus1",
	[FAULT_FINAL_OUT_HUGE] = "final-out-huge",
};

struct overflow_instance {
	enum overflow_fault fault;
	uint32_t direction;       /* the direction that misbehaves */
};

struct overflow_stream {
	enum overflow_fault fault;   /* FAULT_NONE in the other direction */
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
overflow_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct overflow_instance *inst;
	const char *fault = find_param(args, "fault");
	const char *direction = find_param(args, "direction");
	size_t i, n = sizeof(fault_names) / sizeof(fault_names[0]);

	if ((inst = calloc(1, sizeof(*inst))) == NULL)
		return QS_ERR_NOMEM;
	inst->direction = QS_ENCODE;
	for (i = 0; fault != NULL && i < n; i++)
		if (strcmp(fault, fault_names[i]) == 0)
			break;
	if (i == n) {
		free(inst);
		return reject(args, "fault", fault);
	}
	inst->fault = fault != NULL ? (enum overflow_fault)i : FAULT_NONE;
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
overflow_instance_free(void *instance)
{
	free(instance);
}

static int
overflow_stream_new(void *instance, uint32_t direction, void **stream)
{
	const struct overflow_instance *inst = instance;
	struct overflow_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->fault = direction == inst->direction ? inst->fault : FAULT_NONE;
	*stream = s;
	return QS_OK;
}

static int
overflow_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	return QS_OK;
}

static int
overflow_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct overflow_stream *s = stream;
	size_t n = in_len < out_cap ? in_len : out_cap;

	memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	switch (s->fault) {
	case FAULT_UPDATE_OUT_PLUS1:
		*out_len = out_cap + 1;
		break;
	case FAULT_UPDATE_OUT_HUGE:
		*out_len = SIZE_MAX;
		break;
	case FAULT_UPDATE_IN_PLUS1:
		*in_used = in_len + 1;
		break;
	case FAULT_UPDATE_IN_HUGE:
		*in_used = SIZE_MAX;
		break;
	default:
		break;
	}
	return QS_OK;
}

static int
overflow_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	const struct overflow_stream *s = stream;

	*out_len = 0;
	if (s->fault == FAULT_FINAL_OUT_PLUS1)
		*out_len = out_cap + 1;
	else if (s->fault == FAULT_FINAL_OUT_HUGE)
		*out_len = SIZE_MAX;
	return QS_OK;
}

static void
overflow_stream_free(void *stream)
{
	free(stream);
}

static const struct qs_transform_ops overflow_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = overflow_instance_new,
	.instance_free = overflow_instance_free,
	.stream_new = overflow_stream_new,
	.stream_begin = overflow_stream_begin,
	.stream_update = overflow_stream_update,
	.stream_final = overflow_stream_final,
	.stream_free = overflow_stream_free,
};

static const struct qs_option overflow_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "fault",
		.help = "which byte count to overstate, default none",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "direction",
		.help = "encode or decode: the stream that lies, "
		    "default encode",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module overflow_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "hostile-overflow",
	.version = "1.0.0",
	.description = "identity transform that overstates byte counts",
	.options = overflow_options,
	.ops = &overflow_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &overflow_module;
}
