/*
 * Fuzzes the compress-zlib module's streams: decoding stored streams and
 * round trips at every level. fuzz_codec.h describes the input.
 */
#include <stdio.h>

#include "fuzz_codec.h"

static void
zlib_setting(unsigned index, struct fuzz_setting *out)
{
	static char value[4];
	static struct qs_param param = { sizeof(struct qs_param), 0,
	    "level", value };

	snprintf(value, sizeof(value), "%u", index);
	out->params = &param;
	out->nparams = 1;
}

static const struct fuzz_codec codec = {
	.stem = "compress-zlib",
	.nsettings = 10,
	.setting = zlib_setting,
};

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return fuzz_codec_init(&codec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_codec_run(&codec, data, size);
}
