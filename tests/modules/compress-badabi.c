/*
 * Test module: a descriptor built for ABI 2.0. A host of another major
 * version must not interpret the rest of the descriptor, so the ops are
 * NULL and the loader has to reject the module on the version alone.
 */
#include <stdint.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

static const struct qs_module badabi_module = {
	.size = sizeof(struct qs_module),
	.abi_version = (uint32_t)(2u << 16),
	.kind = QS_KIND_COMPRESS,
	.format_version = 1,
	.name = "badabi",
	.version = "1.0.0",
	.description = "built for ABI 2.0",
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	return &badabi_module;
}
