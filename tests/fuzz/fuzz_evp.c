/*
 * Fuzzes the crypto-evp module's streams with a fixed raw key: decoding
 * stored blobs, and round trips with every cipher and digest, where a
 * changed byte or blob identity must fail. fuzz_codec.h describes the
 * input; encoder setting i uses cipher i / 4 and digest i % 4.
 */
#include "fuzz_codec.h"

static const char *const ciphers[] = {
	"aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-poly1305",
	"aes-128-cbc", "aes-256-cbc", "aes-256-ctr", "bf-cbc",
};

static const char *const digests[] = {
	"sha1", "sha256", "sha384", "sha512",
};

#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))
#define NDIGESTS (sizeof(digests) / sizeof(digests[0]))

static void
evp_setting(unsigned index, struct fuzz_setting *out)
{
	static struct qs_param params[2] = {
		{ sizeof(struct qs_param), 0, "cipher", NULL },
		{ sizeof(struct qs_param), 0, "digest", NULL },
	};

	params[0].value = ciphers[index / NDIGESTS % NCIPHERS];
	params[1].value = digests[index % NDIGESTS];
	out->params = params;
	out->nparams = 2;
}

static const struct fuzz_codec codec = {
	.stem = "crypto-evp",
	.nsettings = NCIPHERS * NDIGESTS,
	.uses_key = 1,
	.authenticates = 1,
	.setting = evp_setting,
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
