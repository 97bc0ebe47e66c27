/*
 * Blob framing. Every stored blob is
 *
 *	header | body | trailer
 *
 * header:  "QSTK" | version (1) | kind (1) | header length (2, BE) |
 *          layer count (1) | per layer: name length (1) | name |
 *          format version (2, BE)
 * body:    the output of the last layer (or the application's bytes)
 * trailer: body length (8, BE) | CRC-32 of header and body (4, BE)
 *
 * Layers are listed in the order they were applied when writing, so a
 * reader undoes them from last to first. docs/FORMAT.md has the detail.
 */
#include <string.h>

#include "internal.h"

static const uint8_t magic[4] = { 'Q', 'S', 'T', 'K' };

#define FRAME_VERSION 1
#define FIXED_LEN 9

int
qs_frame_encode(const struct qs_frame *f, uint8_t *buf, size_t cap,
    size_t *len)
{
	size_t pos = FIXED_LEN, i, n;

	if (f->nlayers > QS_LAYERS_MAX || cap < FIXED_LEN)
		return QS_ERR_INVALID;
	memcpy(buf, magic, sizeof(magic));
	buf[4] = FRAME_VERSION;
	buf[5] = (uint8_t)f->kind;
	buf[8] = (uint8_t)f->nlayers;
	for (i = 0; i < f->nlayers; i++) {
		n = strlen(f->layers[i].stem);
		if (n == 0 || n > UINT8_MAX || pos + 1 + n + 2 > cap)
			return QS_ERR_INVALID;
		buf[pos++] = (uint8_t)n;
		memcpy(buf + pos, f->layers[i].stem, n);
		pos += n;
		buf[pos++] = (uint8_t)(f->layers[i].format_version >> 8);
		buf[pos++] = (uint8_t)f->layers[i].format_version;
	}
	buf[6] = (uint8_t)(pos >> 8);
	buf[7] = (uint8_t)pos;
	*len = pos;
	return QS_OK;
}

static int
valid_layer_name(const uint8_t *s, size_t n)
{
	size_t i;

	if (n == 0 || n >= sizeof(((struct qs_layer *)0)->stem))
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int
qs_frame_decode(const uint8_t *buf, size_t len, struct qs_frame *f,
    size_t *header_len, size_t *need)
{
	size_t total, pos = FIXED_LEN, i, n;

	*need = FIXED_LEN;
	if (len < sizeof(magic))
		return QS_ERR_TRUNCATED;
	if (memcmp(buf, magic, sizeof(magic)) != 0)
		return QS_ERR_CORRUPT;
	if (len < FIXED_LEN)
		return QS_ERR_TRUNCATED;
	if (buf[4] != FRAME_VERSION)
		return QS_ERR_UNSUPPORTED;
	total = (size_t)buf[6] << 8 | buf[7];
	if (total < FIXED_LEN || total > QS_FRAME_HEADER_MAX ||
	    buf[8] > QS_LAYERS_MAX ||
	    (buf[5] != QS_BLOB_MESSAGE && buf[5] != QS_BLOB_ENVELOPE))
		return QS_ERR_CORRUPT;
	*need = total;
	if (len < total)
		return QS_ERR_TRUNCATED;
	memset(f, 0, sizeof(*f));
	f->kind = buf[5];
	f->nlayers = buf[8];
	for (i = 0; i < f->nlayers; i++) {
		if (pos + 1 > total)
			return QS_ERR_CORRUPT;
		n = buf[pos++];
		if (pos + n + 2 > total || !valid_layer_name(buf + pos, n))
			return QS_ERR_CORRUPT;
		memcpy(f->layers[i].stem, buf + pos, n);
		f->layers[i].stem[n] = '\0';
		pos += n;
		f->layers[i].format_version =
		    (uint16_t)(buf[pos] << 8 | buf[pos + 1]);
		pos += 2;
	}
	if (pos != total)
		return QS_ERR_CORRUPT;
	*header_len = total;
	return QS_OK;
}

void
qs_frame_trailer(uint64_t body_len, uint32_t crc, uint8_t *out)
{
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(body_len >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(crc >> (24 - 8 * i));
}
