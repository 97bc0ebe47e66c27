/*
 * Test helpers for damaging stored blobs: blob file paths in an fs
 * queue, whole-file reads and writes, and rebuilding a blob around a
 * new body with a valid loader trailer.
 */
#ifndef QS_TEST_TAMPER_H
#define QS_TEST_TAMPER_H

#include <stddef.h>
#include <stdint.h>

/* Bytes after the body: body length (8, BE) and CRC-32 (4, BE). */
#define TAMPER_TRAILER_LEN 12

/* Writes the path of message msgid's blob in the fs queue at qdir. */
void tamper_msg_path(const char *qdir, const char *msgid, char *path,
    size_t cap);

/* Writes the path of envelope evpid's blob in the fs queue at qdir. */
void tamper_env_path(const char *qdir, const char *evpid, char *path,
    size_t cap);

/*
 * Reads the whole file at path into a malloc'd buffer. Returns 0, or -1
 * with errno set.
 */
int tamper_load(const char *path, uint8_t **data, size_t *len);

/* Replaces the file at path with len bytes of data. Returns 0 or -1. */
int tamper_store(const char *path, const uint8_t *data, size_t len);

/*
 * Returns the loader header length that a blob's bytes 6 and 7 give, or
 * 0 when the blob is too short to contain them.
 */
size_t tamper_header_len(const uint8_t *blob, size_t len);

/*
 * Returns zlib's CRC-32 of len bytes, continuing from crc (0 to start).
 */
uint32_t tamper_crc32(uint32_t crc, const uint8_t *buf, size_t len);

/*
 * Builds header | body | trailer in a malloc'd buffer, with a trailer
 * that matches body_len and the CRC-32 of header and body, as the
 * loader writes it.
 */
uint8_t *tamper_reframe(const uint8_t *header, size_t header_len,
    const uint8_t *body, size_t body_len, size_t *len);

#endif
