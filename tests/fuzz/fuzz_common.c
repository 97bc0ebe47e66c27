#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#ifndef QS_FUZZ_PLUGIN_DIR
#define QS_FUZZ_PLUGIN_DIR "build/plugins"
#endif

static struct fuzz_rng host_rng = { 0x9e3779b97f4a7c15ull };

void
fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: contract violation: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Modules log through the host; the targets drop the lines. */
static void
host_log(int level, const char *module, const char *msg)
{
	(void)level;
	(void)module;
	(void)msg;
}

static int
host_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)fuzz_rng_next(&host_rng);
	return QS_OK;
}

static const struct qs_host host = {
	.size = sizeof(struct qs_host),
	.abi_version = QS_ABI_VERSION,
	.log = host_log,
	.random = host_random,
};

void
fuzz_host_reseed(uint64_t seed)
{
	fuzz_rng_seed(&host_rng, seed);
}

const char *
fuzz_plugin_dir(void)
{
	const char *dir = getenv("QSTACK_PLUGIN_PATH");

	return dir != NULL && dir[0] != '\0' ? dir : QS_FUZZ_PLUGIN_DIR;
}

const struct qs_module *
fuzz_module_open(const char *stem)
{
	const struct qs_module *module;
	char path[4096];
	qs_entry_fn entry;
	void *handle;

	snprintf(path, sizeof(path), "%s/%s.so", fuzz_plugin_dir(), stem);
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL) {
		fprintf(stderr, "fuzz: cannot load module %s: %s; build it "
		    "with make or set QSTACK_PLUGIN_PATH\n", path, dlerror());
		exit(1);
	}
	*(void **)&entry = dlsym(handle, QS_ENTRY_SYMBOL);
	module = entry != NULL ? entry(QS_ABI_VERSION, &host) : NULL;
	if (module == NULL || module->ops == NULL) {
		fprintf(stderr, "fuzz: module %s has no usable %s\n", path,
		    QS_ENTRY_SYMBOL);
		exit(1);
	}
	return module;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	return c - 'a' + 10;
}

void
fuzz_key_bytes(uint8_t key[32])
{
	static const char hex[] = FUZZ_KEY_HEX;
	size_t i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(hex_digit(hex[2 * i]) << 4 |
		    hex_digit(hex[2 * i + 1]));
}

void
fuzz_blob_info(struct qs_blob_info *blob)
{
	memset(blob, 0, sizeof(*blob));
	blob->size = sizeof(*blob);
	blob->kind = QS_BLOB_MESSAGE;
	blob->id = FUZZ_MSGID;
	blob->header = (const uint8_t *)FUZZ_LOADER_HEADER;
	blob->header_len = FUZZ_LOADER_HEADER_LEN;
}

void
fuzz_rng_seed(struct fuzz_rng *rng, uint64_t seed)
{
	/* xorshift64 needs a non-zero state */
	rng->state = seed ^ 0x9e3779b97f4a7c15ull;
	if (rng->state == 0)
		rng->state = 1;
}

uint32_t
fuzz_rng_next(struct fuzz_rng *rng)
{
	uint64_t x = rng->state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng->state = x;
	return (uint32_t)(x >> 32);
}

size_t
fuzz_rng_size(struct fuzz_rng *rng, size_t max)
{
	uint32_t r = fuzz_rng_next(rng);
	size_t limit;

	if (max <= 1)
		return 1;
	/* a quarter of the sizes are the whole rest, the others spread */
	switch (r & 3) {
	case 0:
		return max;
	case 1:
		limit = 16;
		break;
	case 2:
		limit = 512;
		break;
	default:
		limit = max;
		break;
	}
	if (limit > max)
		limit = max;
	return 1 + (r >> 2) % limit;
}
