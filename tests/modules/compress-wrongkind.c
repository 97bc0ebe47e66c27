/*
 * Test module: installed as compress-wrongkind.so, but its descriptor
 * claims to be a queue backend. The loader must reject the mismatch
 * before it looks at the ops.
 */
#include <stdint.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

static const struct qs_queue_ops wrongkind_ops = {
	.size = sizeof(struct qs_queue_ops),
};

static const struct qs_module wrongkind_module = {
	.size = sizeof(struct qs_module),
	.abi_version = QS_ABI_VERSION,
	.kind = QS_KIND_QUEUE,
	.format_version = 1,
	.name = "wrongkind",
	.version = "1.0.0",
	.description = "queue descriptor in a compress file",
	.ops = &wrongkind_ops,
};

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	return &wrongkind_module;
}
