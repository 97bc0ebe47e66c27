#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "helpers/tamper.h"

void
tamper_msg_path(const char *qdir, const char *msgid, char *path,
    size_t cap)
{
	snprintf(path, cap, "%s/msg/%.2s/%s/message", qdir, msgid, msgid);
}

void
tamper_env_path(const char *qdir, const char *evpid, char *path,
    size_t cap)
{
	/* the first 16 digits of an envelope id are its message id */
	snprintf(path, cap, "%s/msg/%.2s/%.16s/%s", qdir, evpid, evpid,
	    evpid);
}

int
tamper_load(const char *path, uint8_t **data, size_t *len)
{
	struct stat st;
	FILE *f;
	size_t n;

	*data = NULL;
	*len = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(f), &st) == -1) {
		fclose(f);
		return -1;
	}
	/* one spare byte, so that an empty file still gets a buffer */
	if ((*data = malloc((size_t)st.st_size + 1)) == NULL) {
		fclose(f);
		return -1;
	}
	n = fread(*data, 1, (size_t)st.st_size, f);
	fclose(f);
	if (n != (size_t)st.st_size) {
		free(*data);
		*data = NULL;
		errno = EIO;
		return -1;
	}
	*len = n;
	return 0;
}

int
tamper_store(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (len > 0 && fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

size_t
tamper_header_len(const uint8_t *blob, size_t len)
{
	if (len < 8)
		return 0;
	return (size_t)blob[6] << 8 | blob[7];
}

/* Computes zlib's CRC-32 over buf, continuing from crc. */
uint32_t
tamper_crc32(uint32_t crc, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		uInt n = len > UINT_MAX ? UINT_MAX : (uInt)len;

		crc = (uint32_t)crc32(crc, buf, n);
		buf += n;
		len -= n;
	}
	return crc;
}

uint8_t *
tamper_reframe(const uint8_t *header, size_t header_len,
    const uint8_t *body, size_t body_len, size_t *len)
{
	uint8_t *blob, *t;
	uint64_t n = body_len;
	uint32_t crc;
	int i;

	*len = header_len + body_len + TAMPER_TRAILER_LEN;
	if ((blob = malloc(*len)) == NULL)
		abort();
	memcpy(blob, header, header_len);
	if (body_len > 0)
		memcpy(blob + header_len, body, body_len);
	crc = tamper_crc32(0, blob, header_len + body_len);
	t = blob + header_len + body_len;
	for (i = 0; i < 8; i++)
		t[i] = (uint8_t)(n >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		t[8 + i] = (uint8_t)(crc >> (24 - 8 * i));
	return blob;
}
