/*
 * Test helpers for the key, rekey and fsck tests: files written with a
 * given mode, blob paths in an fs queue, running the qstack command,
 * copying a plugin directory and searching files for a marker.
 */
#ifndef QS_TEST_KEYTEST_H
#define QS_TEST_KEYTEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/*
 * Replaces the file at path with len bytes of data and sets its mode
 * (umask does not apply). Returns 0, or -1 with errno set.
 */
int keytest_write(const char *path, const void *data, size_t len,
    mode_t mode);

/*
 * Reads the whole file at path into a malloc'd buffer with a NUL after
 * the last byte. Returns 0, or -1 with errno set.
 */
int keytest_load(const char *path, uint8_t **data, size_t *len);

/* Paths of a message blob and of an envelope blob in the fs queue qdir. */
void keytest_msg_path(const char *qdir, const char *msgid, char *path,
    size_t cap);
void keytest_env_path(const char *qdir, const char *evpid, char *path,
    size_t cap);

/*
 * Writes into hex (at least 17 bytes) the crypto-evp key id of the blob
 * stored at path, read from the layer header after the loader header.
 * Returns 0, or -1 when the file is missing or too short.
 */
int keytest_blob_key_id(const char *path, char *hex);

/* The build directory: $QSTACK_BUILD, else "build". */
const char *keytest_build_dir(void);

/* Copies the file from to the path to, with mode 0755. Returns 0 or -1. */
int keytest_copy_file(const char *from, const char *to);

/* Path of the qstack command: $QSTACK_BUILD/qstack, else build/qstack. */
const char *keytest_qstack(void);

/*
 * Runs argv[0] (searched in PATH when it contains no '/') with standard
 * input from /dev/null. Stores standard output and standard error in
 * malloc'd NUL-terminated buffers. Returns the exit status, or -1 when
 * the program did not exit normally.
 */
int keytest_run(char *const argv[], char **out, char **err);

/* Number of '\n' characters in text. */
size_t keytest_count_lines(const char *text);

/*
 * Copies every regular file of src except the one named skip (which may
 * be NULL) into the new directory dst, with mode 0755 for dst and for
 * every copy. Returns 0 or -1.
 */
int keytest_copy_dir(const char *src, const char *dst, const char *skip);

/*
 * Returns 1 when needle occurs in a regular file under dir that was
 * modified at or after since, and 0 otherwise. Files that cannot be
 * read and files above 64 MiB are skipped.
 */
int keytest_grep_since(const char *dir, const void *needle, size_t len,
    time_t since);

#endif
