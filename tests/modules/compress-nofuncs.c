/*
 * Test module: a correct descriptor whose transform ops leave every
 * required function slot NULL.
 */
#include <stdint.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

static const struct qs_transform_ops nofuncs_ops = {
	.size = sizeof(struct qs_transform_ops),
};

static const struct qs_module nofuncs_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "nofuncs",
	.version = "1.0.0",
	.description = "transform ops without functions",
	.ops = &nofuncs_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	return &nofuncs_module;
}
