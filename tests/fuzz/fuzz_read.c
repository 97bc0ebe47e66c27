/*
 * Fuzzes the reading side of a whole queue: the loader, the modules a
 * blob names and the fs backend. LLVMFuzzerInitialize opens an fs queue
 * with lz4 compression and crypto-evp encryption under the fixed key in
 * a new temporary directory. Each input is stored as the blob file of
 * message FUZZ_MSGID and of envelope FUZZ_EVPID, then read through
 * qs_msg_open, qs_msg_read and qs_env_load. A valid envelope stored at
 * the start must still load after every input, since the queue keeps
 * its envelope decoders from one blob to the next.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

/* Configured max-message-size, so that a hostile blob decodes quickly. */
#define MESSAGE_MAX (4 * 1024 * 1024)

static struct qs_queue *queue;
static char topdir[4096];
static char msg_path[4400];
static char env_path[4500];
static uint8_t *envbuf;
static char canary_id[QS_ID_MAX];

static const char canary[] = "an envelope that every input must leave "
    "readable";

static void
discard_log(void *arg, int level, const char *module, const char *msg)
{
	(void)arg;
	(void)level;
	(void)module;
	(void)msg;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
remove_topdir(void)
{
	if (queue != NULL)
		qs_close(queue);
	queue = NULL;
	nftw(topdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *path, const void *data, size_t len)
{
	const uint8_t *p = data;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		fprintf(stderr, "fuzz_read: cannot open %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "fuzz_read: cannot write %s: %s\n",
			    path, strerror(errno));
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
	close(fd);
}

static void
make_dir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		fprintf(stderr, "fuzz_read: cannot create %s: %s\n", path,
		    strerror(errno));
		exit(1);
	}
}

static void
open_queue(void)
{
	char conf[16384], key_path[4200], qdir[4200], err[QS_ERR_MAX];
	struct qs_config *c;

	snprintf(key_path, sizeof(key_path), "%s/key", topdir);
	write_file(key_path, FUZZ_KEY_HEX "\n", 65);
	snprintf(qdir, sizeof(qdir), "%s/q", topdir);
	snprintf(conf, sizeof(conf), "queue backend fs path \"%s\"\n"
	    "queue compression lz4\n"
	    "queue encryption key-file \"%s\"\n"
	    "queue limits max-message-size %d\n", qdir, key_path,
	    MESSAGE_MAX);
	c = qs_config_parse(conf, strlen(conf), "fuzz.conf", err, sizeof(err));
	if (c == NULL ||
	    qs_config_set_default_plugin_path(c, fuzz_plugin_dir()) != QS_OK ||
	    (queue = qs_open(c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_read: cannot open the queue: %s\n", err);
		exit(1);
	}
	qs_config_free(c);
	snprintf(msg_path, sizeof(msg_path), "%s/msg/%.2s", qdir, FUZZ_MSGID);
	make_dir(msg_path);
	snprintf(msg_path, sizeof(msg_path), "%s/msg/%.2s/%s", qdir,
	    FUZZ_MSGID, FUZZ_MSGID);
	make_dir(msg_path);
	snprintf(env_path, sizeof(env_path), "%s/%s", msg_path, FUZZ_EVPID);
	strcat(msg_path, "/message");
	write_file(msg_path, "", 0);
	if (qs_env_create(queue, FUZZ_MSGID, canary, sizeof(canary),
	    canary_id) != QS_OK) {
		fprintf(stderr, "fuzz_read: cannot store an envelope: %s\n",
		    qs_error(queue));
		exit(1);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	qs_set_log(discard_log, NULL, QS_LOG_DEBUG);
	snprintf(topdir, sizeof(topdir), "%s/qstack-fuzz-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(topdir) == NULL) {
		fprintf(stderr, "fuzz_read: cannot create a directory in %s: "
		    "%s\n", topdir, strerror(errno));
		exit(1);
	}
	atexit(remove_topdir);
	open_queue();
	envbuf = malloc(QS_ENV_MAX);
	if (envbuf == NULL)
		exit(1);
	return 0;
}

/* Reads the message to its end, with reads of cap bytes. */
static void
read_message(size_t cap)
{
	struct qs_msg_reader *r;
	uint8_t *buf = malloc(cap);
	size_t len, total = 0;
	int rc, again;

	if (buf == NULL)
		exit(1);
	rc = qs_msg_open(queue, FUZZ_MSGID, &r);
	if (rc == QS_OK && r == NULL)
		fuzz_fail("qs_msg_open returned QS_OK without a reader");
	if (rc != QS_OK) {
		free(buf);
		return;
	}
	do {
		len = SIZE_MAX;
		rc = qs_msg_read(r, buf, cap, &len);
		if (len > cap)
			fuzz_fail("qs_msg_read returned %zu bytes for a buffer "
			    "of %zu", len, cap);
		total += len;
		if (total > MESSAGE_MAX)
			fuzz_fail("qs_msg_read released %zu bytes, beyond "
			    "max-message-size %d", total, MESSAGE_MAX);
	} while (rc == QS_OK && len > 0);
	/* after the end or an error, a read returns the same status */
	again = qs_msg_read(r, buf, cap, &len);
	if (again != rc || len != 0)
		fuzz_fail("qs_msg_read returned %d with %zu bytes after it "
		    "had returned %d at the end", again, len, rc);
	qs_msg_close(r);
	free(buf);
}

/* Loads the envelope whole, then into a buffer of cap bytes. */
static void
load_envelope(size_t cap)
{
	uint8_t *small = malloc(cap);
	size_t len = SIZE_MAX, len2 = SIZE_MAX;
	int rc, rc2;

	if (small == NULL)
		exit(1);
	rc = qs_env_load(queue, FUZZ_EVPID, envbuf, QS_ENV_MAX, &len);
	if (rc == QS_OK && len > QS_ENV_MAX)
		fuzz_fail("qs_env_load returned %zu bytes for a buffer of %d",
		    len, QS_ENV_MAX);
	if (rc == QS_OK) {
		rc2 = qs_env_load(queue, FUZZ_EVPID, small, cap, &len2);
		if (len2 != len)
			fuzz_fail("qs_env_load gave %zu bytes, then %zu", len,
			    len2);
		if (len > cap && rc2 != QS_ERR_LIMIT)
			fuzz_fail("qs_env_load of %zu bytes into %zu returned "
			    "%d, expected QS_ERR_LIMIT", len, cap, rc2);
		if (len <= cap && (rc2 != QS_OK ||
		    memcmp(small, envbuf, len) != 0))
			fuzz_fail("qs_env_load into a smaller buffer returned "
			    "%d or other bytes", rc2);
	}
	free(small);
}

static void
check_canary(void)
{
	uint8_t buf[sizeof(canary)];
	size_t len = 0;
	int rc;

	rc = qs_env_load(queue, canary_id, buf, sizeof(buf), &len);
	if (rc != QS_OK)
		fuzz_fail("valid envelope %s no longer loads after this input: "
		    "%s", canary_id, qs_error(queue));
	if (len != sizeof(canary) || memcmp(buf, canary, len) != 0)
		fuzz_fail("valid envelope %s loads as %zu other bytes",
		    canary_id, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = { 1, 100, 4096, 65536, 70000 };

	write_file(msg_path, data, size);
	write_file(env_path, data, size);
	read_message(caps[size % 5]);
	load_envelope(size % 300);
	check_canary();
	return 0;
}
