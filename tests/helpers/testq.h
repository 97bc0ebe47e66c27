/*
 * Test helpers for whole-queue tests: temporary queues, configurations,
 * data patterns and blob files.
 */
#ifndef QS_TEST_TESTQ_H
#define QS_TEST_TESTQ_H

#include <stddef.h>
#include <stdint.h>

#include <qstack/qstack.h>

/* A temporary directory with a queue at DIR/q and a key file. */
struct testq {
	char dir[256];
	char qdir[300];
	char keyfile[300];
	char keyfile2[300];
	struct qs_queue *q;
	char err[512];
};

/* Creates the temporary directory and two raw key files (mode 0600). */
void testq_setup(struct testq *t);

/* Closes the queue if open and removes the whole directory. */
void testq_teardown(struct testq *t);

/*
 * Opens the queue with a configuration made of a backend line for
 * t->qdir followed by extra (which may use %K and %L for the two key
 * files). Returns NULL with t->err set on failure.
 */
struct qs_queue *testq_open(struct testq *t, const char *extra);
void testq_close(struct testq *t);

/* Fills buf with bytes that compress somewhat, seeded by seed. */
void testq_pattern(uint8_t *buf, size_t len, uint32_t seed);

/* Stores len bytes of data as a message in write pieces of piece bytes. */
int testq_put(struct qs_queue *q, const uint8_t *data, size_t len,
    size_t piece, char *id);

/*
 * Reads message id whole into a malloc'd buffer, with reads of at most
 * cap bytes. Returns the status of the first failing call.
 */
int testq_get(struct qs_queue *q, const char *id, size_t cap,
    uint8_t **data, size_t *len);

/* Finds the file that stores message id under dir; 0 when found. */
int testq_find_blob(const char *dir, const char *id, char *path,
    size_t cap);

/*
 * Reads a whole file into a malloc'd, NUL-terminated buffer and sets
 * *len (if not NULL). Returns NULL when the file cannot be read.
 */
char *testq_read_file(const char *path, size_t *len);

/* Replaces the file at path with len bytes of data. Returns 0 or -1. */
int testq_write_file(const char *path, const void *data, size_t len);

/* Returns 1 when needle occurs in any file under dir. */
int testq_grep_tree(const char *dir, const void *needle, size_t len);

#endif
