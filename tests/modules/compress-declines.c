/*
 * Test module: its entry returns NULL, as a module does when it cannot
 * serve the host's ABI.
 */
#include <stddef.h>
#include <stdint.h>

#include <qstack/plugin.h>

QS_EXPORT const struct qs_module *qs_module_entry(uint32_t host_abi,
    const struct qs_host *host);

const struct qs_module *
qs_module_entry(uint32_t host_abi, const struct qs_host *host)
{
	return NULL;
}
