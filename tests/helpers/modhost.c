#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "helpers/modhost.h"

static void
modhost_log(int level, const char *module, const char *msg)
{
	if (level <= QS_LOG_WARN)
		fprintf(stderr, "[%s] %s\n", module, msg);
}

static int
modhost_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0)
			return QS_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return QS_OK;
}

const struct qs_host modhost_services = {
	.size = sizeof(struct qs_host),
	.abi_version = QS_ABI_VERSION,
	.log = modhost_log,
	.random = modhost_random,
};

const char *
modhost_plugin_dir(void)
{
	const char *dir = getenv("QSTACK_PLUGIN_PATH");

	return dir != NULL && *dir != '\0' ? dir : "build/plugins";
}

int
modhost_open(struct modhost *mh, const char *name)
{
	char path[4096];
	qs_entry_fn entry;

	memset(mh, 0, sizeof(*mh));
	snprintf(path, sizeof(path), "%s/%s.so", modhost_plugin_dir(), name);
	mh->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (mh->handle == NULL) {
		fprintf(stderr, "modhost: %s\n", dlerror());
		return -1;
	}
	*(void **)&entry = dlsym(mh->handle, QS_ENTRY_SYMBOL);
	if (entry == NULL) {
		fprintf(stderr, "modhost: %s: no %s\n", path, QS_ENTRY_SYMBOL);
		modhost_close(mh);
		return -1;
	}
	mh->module = entry(QS_ABI_VERSION, &modhost_services);
	if (mh->module == NULL) {
		fprintf(stderr, "modhost: %s: entry returned NULL\n", path);
		modhost_close(mh);
		return -1;
	}
	return 0;
}

void
modhost_close(struct modhost *mh)
{
	if (mh->handle != NULL)
		dlclose(mh->handle);
	memset(mh, 0, sizeof(*mh));
}
