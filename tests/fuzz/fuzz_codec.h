/*
 * Driver shared by the targets that fuzz one transform module (zlib,
 * lz4, evp) directly through its struct qs_transform_ops.
 *
 * Input: two control bytes, then the data.
 *   byte 0  FUZZ_ROUNDTRIP clear: decode the data as a stored stream.
 *           FUZZ_ROUNDTRIP set: encode the data with encoder setting
 *           (byte 0 & 0x7f) % nsettings, then decode the result.
 *   byte 1  seed of the piece sizes and output buffer sizes, and of the
 *           bytes the host's random service returns.
 *
 * Every decode also runs with the whole input in one call, and both runs
 * must agree. A decoded stream must fail once its last byte is dropped
 * or a byte is appended, and a round trip must give the data back.
 * Codecs that authenticate must also reject a changed byte or a changed
 * blob identity.
 */
#ifndef QS_FUZZ_CODEC_H
#define QS_FUZZ_CODEC_H

#include "fuzz_common.h"

/* Parameters of one instance, valid until the next call of setting(). */
struct fuzz_setting {
	const struct qs_param *params;
	size_t nparams;
};

struct fuzz_codec {
	const char *stem;          /* module file name, without ".so" */
	unsigned nsettings;        /* encoder settings to choose from */
	int uses_key;              /* give the instance the fixed raw key */
	int authenticates;         /* any change to a blob must fail */

	/* Fills out for encoder setting index; the decoder uses none. */
	void (*setting)(unsigned index, struct fuzz_setting *out);
};

/* Loads the module and creates the decoding instance and stream. */
int fuzz_codec_init(const struct fuzz_codec *codec);

/* Runs one input; aborts through fuzz_fail on a contract violation. */
int fuzz_codec_run(const struct fuzz_codec *codec, const uint8_t *data,
    size_t size);

#endif
