/*
 * Test module: exports a function, but not qs_module_entry, so the
 * loader must reject it as "not a qstack module".
 */
#include <stdint.h>

#include <qstack/plugin.h>

QS_EXPORT uint32_t noentry_abi_version(void);

uint32_t
noentry_abi_version(void)
{
	return QS_ABI_VERSION;
}
