/*
 * Shared parts of the libFuzzer targets and of the seed generator: the
 * fixed key, ids and blob identity that seeds are encrypted under, and
 * a small host for opening modules with dlopen(3).
 */
#ifndef QS_FUZZ_COMMON_H
#define QS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <qstack/plugin.h>

/*
 * Raw 32-byte key of every encrypted seed, as the 64 hex digits of a key
 * file. It protects nothing: it only lets the targets decrypt the seeds.
 */
#define FUZZ_KEY_HEX \
	"8f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"

/* Message and envelope ids that the read target stores its input under. */
#define FUZZ_MSGID "5eed00000000f022"
#define FUZZ_EVPID FUZZ_MSGID "0000e001"

/*
 * Loader header that the module targets pass in struct qs_blob_info: a
 * message frame with no layers. crypto-evp binds it into every blob.
 */
#define FUZZ_LOADER_HEADER "QSTK\001\001\000\011\000"
#define FUZZ_LOADER_HEADER_LEN 9

/* Bytes at the start of a module target's input, before the data. */
#define FUZZ_CONTROL_LEN 2

/*
 * Flag in the first control byte. When it is set, the data is encoded
 * with the setting that the low bits choose and then decoded. When it is
 * clear, the data is decoded as a stored stream.
 */
#define FUZZ_ROUNDTRIP 0x80

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Directory of the modules: QSTACK_PLUGIN_PATH, else QS_FUZZ_PLUGIN_DIR. */
const char *fuzz_plugin_dir(void);

/*
 * Opens DIR/STEM.so and returns its descriptor. Exits the process with
 * a message when the module cannot be loaded: the target cannot run.
 */
const struct qs_module *fuzz_module_open(const char *stem);

/* Fills key with the 32 bytes of FUZZ_KEY_HEX. */
void fuzz_key_bytes(uint8_t key[32]);

/* The fixed identity of every blob the module targets process. */
void fuzz_blob_info(struct qs_blob_info *blob);

/*
 * Deterministic generator for piece sizes and for the host's random
 * bytes, so that every input replays the same way.
 */
struct fuzz_rng {
	uint64_t state;
};

void fuzz_rng_seed(struct fuzz_rng *rng, uint64_t seed);
uint32_t fuzz_rng_next(struct fuzz_rng *rng);

/* Returns a size from 1 to max, small sizes more often than large ones. */
size_t fuzz_rng_size(struct fuzz_rng *rng, size_t max);

/* Reseeds the bytes that the host's random service returns. */
void fuzz_host_reseed(uint64_t seed);

/* Prints the broken contract and aborts, so that libFuzzer keeps the input. */
void fuzz_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif
