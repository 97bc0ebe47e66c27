/*
 * Fuzzes the blob header parser, qs_frame_decode. A header it accepts
 * must encode back to the same bytes with qs_frame_encode, and every
 * shorter prefix of it must be reported as truncated.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "internal.h"

static void
check_layers(const struct qs_frame *f)
{
	size_t i, n;

	if (f->nlayers > QS_LAYERS_MAX)
		fuzz_fail("decoded %u layers, more than %d", f->nlayers,
		    QS_LAYERS_MAX);
	if (f->kind != QS_BLOB_MESSAGE && f->kind != QS_BLOB_ENVELOPE)
		fuzz_fail("decoded blob kind %u", f->kind);
	for (i = 0; i < f->nlayers; i++) {
		n = strnlen(f->layers[i].stem, sizeof(f->layers[i].stem));
		if (n == 0 || n == sizeof(f->layers[i].stem))
			fuzz_fail("layer %zu has a name of %zu bytes", i, n);
	}
}

/* Encodes into a heap block of exactly cap bytes. */
static int
encode_into(const struct qs_frame *f, size_t cap, uint8_t **buf,
    size_t *len)
{
	*buf = malloc(cap);
	if (*buf == NULL)
		fuzz_fail("out of memory for %zu bytes", cap);
	*len = 0;
	return qs_frame_encode(f, *buf, cap, len);
}

static void
check_roundtrip(const uint8_t *data, const struct qs_frame *f,
    size_t header_len)
{
	uint8_t *buf;
	size_t len;
	int rc;

	rc = encode_into(f, header_len, &buf, &len);
	if (rc != QS_OK)
		fuzz_fail("qs_frame_encode returned %d on a decoded header",
		    rc);
	if (len != header_len || memcmp(buf, data, len) != 0)
		fuzz_fail("header of %zu bytes encodes back to %zu other "
		    "bytes", header_len, len);
	free(buf);
	rc = encode_into(f, header_len - 1, &buf, &len);
	if (rc == QS_OK)
		fuzz_fail("qs_frame_encode fit %zu bytes into %zu", header_len,
		    header_len - 1);
	free(buf);
}

static void
check_prefixes(const uint8_t *data, size_t header_len)
{
	struct qs_frame f;
	size_t cut, hl, need;
	int rc;

	for (cut = 0; cut < header_len; cut++) {
		need = 0;
		rc = qs_frame_decode(data, cut, &f, &hl, &need);
		if (rc != QS_ERR_TRUNCATED)
			fuzz_fail("prefix of %zu bytes of a %zu-byte header "
			    "returned %d", cut, header_len, rc);
		if (need <= cut || need > header_len)
			fuzz_fail("prefix of %zu bytes asks for %zu", cut,
			    need);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qs_frame f;
	size_t header_len = 0, need = 0;
	int rc;

	rc = qs_frame_decode(data, size, &f, &header_len, &need);
	if (rc == QS_ERR_TRUNCATED &&
	    (need <= size || need > QS_FRAME_HEADER_MAX))
		fuzz_fail("truncated header of %zu bytes asks for %zu", size,
		    need);
	if (rc != QS_OK)
		return 0;
	if (header_len > size || header_len > QS_FRAME_HEADER_MAX)
		fuzz_fail("header length %zu for %zu bytes", header_len, size);
	check_layers(&f);
	check_roundtrip(data, &f, header_len);
	check_prefixes(data, header_len);
	return 0;
}
