/*
 * Test module: a crypto transform that breaks the stream contract. It
 * copies bytes unchanged and ignores its keys, so it encrypts nothing.
 * It exists because a crypto stream runs second in the writing chain
 * and first in the reading chain, where a compress module never runs.
 * In the direction named by the "direction" option:
 *
 *   fault update-out-plus1   update reports out_cap + 1 bytes written
 *   fault update-in-plus1    update reports in_len + 1 bytes used
 *   fault final-out-huge     final reports SIZE_MAX bytes written
 *   fault update-stall       update uses and writes nothing, always
 *   fault final-stall        final returns QS_MORE with no output, always
 *   fault final-endless      final fills out and returns QS_MORE, always
 *   fault update-status-42   update returns 42, which is no status
 *
 * Without a fault it is a plain identity transform.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

enum stream_fault {
	FAULT_NONE,
	FAULT_UPDATE_OUT_PLUS1,
	FAULT_UPDATE_IN_PLUS1,
	FAULT_FINAL_OUT_HUGE,
	FAULT_UPDATE_STALL,
	FAULT_FINAL_STALL,
	FAULT_FINAL_ENDLESS,
	FAULT_UPDATE_STATUS_42,
};

static const char *const fault_names[] = {
	[FAULT_NONE] = "none",
	[FAULT_UPDATE_OUT_PLUS1] = "update-out-plus1",
	[FAULT_UPDATE_IN_PLUS1] = "update-in-plus1",
	[FAULT_FINAL_OUT_HUGE] = "final-out-huge",
	[FAULT_UPDATE_STALL] = "update-stall",
	[FAULT_FINAL_STALL] = "final-stall",
	[FAULT_FINAL_ENDLESS] = "final-endless",
	[FAULT_UPDATE_STATUS_42] = "update-status-42",
};

struct stream_instance {
	enum stream_fault fault;
	uint32_t direction;       /* the direction that misbehaves */
};

struct hostile_stream {
	enum stream_fault fault;  /* FAULT_NONE in the other direction */
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
stream_instance_new(const struct qs_instance_args *args, void **instance)
{
	struct stream_instance *inst;
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
	inst->fault = fault != NULL ? (enum stream_fault)i : FAULT_NONE;
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
stream_instance_free(void *instance)
{
	free(instance);
}

static int
stream_stream_new(void *instance, uint32_t direction, void **stream)
{
	const struct stream_instance *inst = instance;
	struct hostile_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->fault = direction == inst->direction ? inst->fault : FAULT_NONE;
	*stream = s;
	return QS_OK;
}

static int
stream_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	return QS_OK;
}

static int
stream_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const struct hostile_stream *s = stream;
	size_t n = in_len < out_cap ? in_len : out_cap;

	if (s->fault == FAULT_UPDATE_STATUS_42)
		return 42;
	if (s->fault == FAULT_UPDATE_STALL)
		n = 0;
	memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	if (s->fault == FAULT_UPDATE_OUT_PLUS1)
		*out_len = out_cap + 1;
	else if (s->fault == FAULT_UPDATE_IN_PLUS1)
		*in_used = in_len + 1;
	return QS_OK;
}

static int
stream_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	const struct hostile_stream *s = stream;

	*out_len = 0;
	switch (s->fault) {
	case FAULT_FINAL_OUT_HUGE:
		*out_len = SIZE_MAX;
		return QS_OK;
	case FAULT_FINAL_STALL:
		return QS_MORE;
	case FAULT_FINAL_ENDLESS:
		memset(out, 'x', out_cap);
		*out_len = out_cap;
		return QS_MORE;
	default:
		return QS_OK;
	}
}

static void
stream_stream_free(void *stream)
{
	free(stream);
}

static const struct qs_transform_ops stream_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = stream_instance_new,
	.instance_free = stream_instance_free,
	.stream_new = stream_stream_new,
	.stream_begin = stream_stream_begin,
	.stream_update = stream_stream_update,
	.stream_final = stream_stream_final,
	.stream_free = stream_stream_free,
};

static const struct qs_option stream_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "fault",
		.help = "which part of the stream contract to break, "
		    "default none",
	},
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "direction",
		.help = "encode or decode: the stream that misbehaves, "
		    "default encode",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module stream_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_CRYPTO,
	.format_version = 1,
	.name = "hostile-stream",
	.version = "1.0.0",
	.description = "identity crypto transform that breaks the stream "
	    "contract",
	.options = stream_options,
	.ops = &stream_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	return &stream_module;
}
