/*
 * Test helper: opens one module directly with dlopen(3), without the
 * loader, so that a module's tests exercise it alone.
 */
#ifndef QS_TEST_MODHOST_H
#define QS_TEST_MODHOST_H

#include <qstack/plugin.h>

struct modhost {
	void *handle;
	const struct qs_module *module;
};

/*
 * Opens build/plugins/NAME.so (or $QSTACK_PLUGIN_PATH/NAME.so) and calls
 * its entry. Returns 0, or -1 after printing why to stderr.
 */
int modhost_open(struct modhost *mh, const char *name);
void modhost_close(struct modhost *mh);

/* The host services handed to the module: stderr logging, getrandom. */
extern const struct qs_host modhost_services;

/* Directory of the built modules, from QSTACK_PLUGIN_PATH or "build/plugins". */
const char *modhost_plugin_dir(void);

#endif
