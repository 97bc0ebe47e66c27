/*
 * Test module: an identity compress transform that passes bytes through
 * unchanged. It is well formed in every respect, so the loader must
 * accept it. Each stream_begin logs one debug line through the host, so
 * a test can count how often the module was really used.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

struct goodtest_stream {
	uint32_t direction;
};

static const struct qs_host *goodtest_host;

static int
goodtest_instance_new(const struct qs_instance_args *args, void **instance)
{
	*instance = calloc(1, 1);
	return *instance == NULL ? QS_ERR_NOMEM : QS_OK;
}

static void
goodtest_instance_free(void *instance)
{
	free(instance);
}

static int
goodtest_stream_new(void *instance, uint32_t direction, void **stream)
{
	struct goodtest_stream *s;

	if (direction != QS_ENCODE && direction != QS_DECODE)
		return QS_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return QS_ERR_NOMEM;
	s->direction = direction;
	*stream = s;
	return QS_OK;
}

static int
goodtest_stream_begin(void *stream, const struct qs_blob_info *blob)
{
	struct goodtest_stream *s = stream;

	goodtest_host->log(QS_LOG_DEBUG, "goodtest",
	    s->direction == QS_ENCODE ? "begin encode" : "begin decode");
	return QS_OK;
}

static int
goodtest_stream_update(void *stream, const uint8_t *in, size_t in_len,
    size_t *in_used, uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t n = in_len < out_cap ? in_len : out_cap;

	if (n > 0)
		memcpy(out, in, n);
	*in_used = n;
	*out_len = n;
	return QS_OK;
}

static int
goodtest_stream_final(void *stream, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	*out_len = 0;
	return QS_OK;
}

static void
goodtest_stream_free(void *stream)
{
	free(stream);
}

static const struct qs_transform_ops goodtest_ops = {
	.size = sizeof(struct qs_transform_ops),
	.instance_new = goodtest_instance_new,
	.instance_free = goodtest_instance_free,
	.stream_new = goodtest_stream_new,
	.stream_begin = goodtest_stream_begin,
	.stream_update = goodtest_stream_update,
	.stream_final = goodtest_stream_final,
	.stream_free = goodtest_stream_free,
};

static const struct qs_option goodtest_options[] = {
	{
		.size = sizeof(struct qs_option),
		.type = QS_OPT_STRING,
		.name = "label",
		.help = "free text that the module ignores, default none",
	},
	{ .size = sizeof(struct qs_option) },
};

static const struct qs_module goodtest_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "goodtest",
	.version = "1.0.0",
	.description = "identity transform for the loader tests",
	.options = goodtest_options,
	.ops = &goodtest_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	if (QS_ABI_VERSION_MAJOR(host_abi) != QS_ABI_MAJOR)
		return NULL;
	goodtest_host = host;
	return &goodtest_module;
}
