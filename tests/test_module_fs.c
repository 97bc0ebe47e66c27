/*
 * Tests of the fs queue module alone, loaded with dlopen(3) through
 * tests/helpers/modhost.h. Every test gets a fresh directory from
 * mkdtemp(3) under $TMPDIR (default /tmp) and removes it afterwards.
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/modhost.h"

#define MSG_A "0123456789abcdef"
#define MSG_B "fedcba9876543210"
#define ENV_A1 MSG_A "00000001"
#define ENV_A2 MSG_A "00000002"
#define ENV_A3 MSG_A "00000003"
#define ENV_B1 MSG_B "0000000a"

/* Buffer sizes of message and envelope ids, with the NUL. */
#define MSGID_SIZE 17
#define EVPID_SIZE 25

/* Size of path buffers: fixture paths plus a relative name. */
#define PATH_LEN 1024

/*
 * Concurrency test: processes, messages per process, shared ids, and
 * create and delete rounds per shared envelope.
 */
#define NPROC   4
#define NMSG    500
#define NSHARED 100
#define NROUNDS 4

struct fixture {
	struct modhost mh;
	const struct qs_queue_ops *ops;
	char dir[256];            /* from mkdtemp, removed at teardown */
	char path[320];           /* the queue: dir/spool/queue */
	void *queue;              /* open queue, closed at teardown */
	char err[512];            /* args->err of the latest open */
};

/* Ids reported by a walk, kept sorted by sort_ids. */
struct id_list {
	char (*ids)[QS_ID_MAX];
	size_t n;
	size_t cap;
};

static char log_text[8192];

static void
capture_log(int level, const char *module, const char *msg)
{
	size_t used = strlen(log_text);

	if (level != QS_LOG_WARN)
		return;
	snprintf(log_text + used, sizeof(log_text) - used, "%s: %s\n",
	    module, msg);
}

static struct qs_host capture_host = {
	.size = sizeof(struct qs_host),
	.abi_version = QS_ABI_VERSION,
	.log = capture_log,
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	if (fx == NULL || modhost_open(&fx->mh, "queue-fs") != 0) {
		free(fx);
		return -1;
	}
	fx->ops = fx->mh.module->ops;
	snprintf(fx->dir, sizeof(fx->dir), "%s/qs-fs-XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(fx->dir) == NULL) {
		perror("mkdtemp");
		modhost_close(&fx->mh);
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof(fx->path), "%s/spool/queue", fx->dir);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->queue != NULL)
		fx->ops->close(fx->queue);
	chmod(fx->dir, 0700);
	nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	modhost_close(&fx->mh);
	free(fx);
	return 0;
}

static int
open_at(struct fixture *fx, const char *path, void **queue)
{
	struct qs_param param = {
		.size = sizeof(param), .name = "path", .value = path,
	};
	struct qs_instance_args args = {
		.size = sizeof(args),
		.params = &param,
		.nparams = 1,
		.err = fx->err,
		.err_cap = sizeof(fx->err),
	};

	fx->err[0] = '\0';
	*queue = NULL;
	return fx->ops->open(&args, queue);
}

/* Opens fx->path as fx->queue and fails the test if that fails. */
static void
open_queue(struct fixture *fx)
{
	int rc = open_at(fx, fx->path, &fx->queue);

	if (rc != QS_OK)
		fprintf(stderr, "open failed: %s\n", fx->err);
	assert_int_equal(rc, QS_OK);
	assert_non_null(fx->queue);
}

static void
reopen_queue(struct fixture *fx)
{
	fx->ops->close(fx->queue);
	fx->queue = NULL;
	open_queue(fx);
}

static const char *
queue_error(struct fixture *fx, void *queue)
{
	const char *text = fx->ops->error(queue);

	return text != NULL ? text : "";
}

/* Fills buf with bytes that depend on seed and position. */
static void
fill(uint8_t *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
}

static uint64_t
seed_of(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id != '\0'; id++)
		h = (h ^ (uint8_t)*id) * 1099511628211ull;
	return h;
}

static int
store_message(struct fixture *fx, void *queue, const char *msgid,
    const uint8_t *data, size_t len)
{
	void *writer;
	size_t half = len / 2;
	int rc;

	if ((rc = fx->ops->msg_create(queue, msgid, &writer)) != QS_OK)
		return rc;
	if ((rc = fx->ops->msg_write(writer, data, half)) != QS_OK ||
	    (rc = fx->ops->msg_write(writer, data + half, len - half)) !=
	    QS_OK) {
		fx->ops->msg_abort(writer);
		return rc;
	}
	return fx->ops->msg_commit(writer);
}

/*
 * Reads a whole message in chunks of at most chunk bytes into buf.
 * Returns the status, or QS_ERR_LIMIT if the message fills buf, and the
 * length read in *len.
 */
static int
load_message(struct fixture *fx, void *queue, const char *msgid,
    uint8_t *buf, size_t cap, size_t chunk, size_t *len)
{
	void *reader;
	size_t got;
	int rc;

	*len = 0;
	if ((rc = fx->ops->msg_open(queue, msgid, &reader)) != QS_OK)
		return rc;
	for (;;) {
		size_t want = cap - *len < chunk ? cap - *len : chunk;

		if (want == 0) {
			rc = QS_ERR_LIMIT;
			break;
		}
		rc = fx->ops->msg_read(reader, buf + *len, want, &got);
		if (rc != QS_OK || got == 0)
			break;
		*len += got;
	}
	fx->ops->msg_close(reader);
	return rc;
}

static int
collect_id(void *arg, const char *id)
{
	struct id_list *list = arg;

	if (list->n == list->cap) {
		size_t cap = list->cap == 0 ? 64 : list->cap * 2;
		void *ids = realloc(list->ids, cap * sizeof(*list->ids));

		if (ids == NULL)
			return QS_ERR_NOMEM;
		list->ids = ids;
		list->cap = cap;
	}
	snprintf(list->ids[list->n++], QS_ID_MAX, "%s", id);
	return 0;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
sort_ids(struct id_list *list)
{
	if (list->n > 0)
		qsort(list->ids, list->n, sizeof(*list->ids), compare_ids);
}

static void
clear_ids(struct id_list *list)
{
	free(list->ids);
	memset(list, 0, sizeof(*list));
}

static struct id_list
walk_messages(struct fixture *fx, void *queue)
{
	struct id_list list = { 0 };

	assert_int_equal(fx->ops->msg_walk(queue, collect_id, &list), QS_OK);
	sort_ids(&list);
	return list;
}

static struct id_list
walk_envelopes(struct fixture *fx, void *queue, const char *msgid)
{
	struct id_list list = { 0 };

	assert_int_equal(fx->ops->env_walk(queue, msgid, collect_id, &list),
	    QS_OK);
	sort_ids(&list);
	return list;
}

/* Counts the entries of fx->path/sub, or returns -1 if it is missing. */
static int
count_entries(struct fixture *fx, const char *sub)
{
	char path[PATH_LEN];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", fx->path, sub);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	}
	closedir(dir);
	return n;
}

/* Returns errno of stat(2) on fx->path/sub, or 0 if it exists. */
static int
stat_errno(struct fixture *fx, const char *sub)
{
	char path[PATH_LEN];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", fx->path, sub);
	return stat(path, &st) == 0 ? 0 : errno;
}

/* Calls stat(2) on fx->path/sub and returns its result. */
static int
stat_in_queue(struct fixture *fx, const char *sub, struct stat *st)
{
	char path[PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", fx->path, sub);
	return stat(path, st);
}

static void
write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_descriptor_fields(void **state)
{
	struct fixture *fx = *state;
	const struct qs_module *m = fx->mh.module;

	assert_int_equal(m->kind, QS_KIND_QUEUE);
	assert_string_equal(m->name, "fs");
	assert_int_equal(m->format_version, 1);
	assert_int_equal(QS_ABI_VERSION_MAJOR(m->abi_version), QS_ABI_MAJOR);
	assert_non_null(m->options);
	assert_string_equal(m->options[0].name, "path");
	assert_int_equal(m->options[0].type, QS_OPT_PATH);
	assert_non_null(strstr(m->options[0].help, "/var/spool/qstack"));
	assert_null(m->options[1].name);
	assert_int_equal(fx->ops->size, sizeof(struct qs_queue_ops));
}

static void
test_open_creates_path(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	open_queue(fx);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat_in_queue(fx, "tmp", &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat_in_queue(fx, "msg", &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_open_path_is_file(void **state)
{
	struct fixture *fx = *state;
	char file[PATH_LEN];
	void *queue;

	snprintf(file, sizeof(file), "%s/plain", fx->dir);
	write_file(file, "not a queue\n");
	assert_int_equal(open_at(fx, file, &queue), QS_ERR_CONFIG);
	assert_null(queue);
	assert_non_null(strstr(fx->err, file));
	assert_non_null(strstr(fx->err, "not a directory"));
	assert_null(strchr(fx->err, '\n'));
}

static void
test_open_parent_is_file(void **state)
{
	struct fixture *fx = *state;
	char file[PATH_LEN], below[PATH_LEN];
	void *queue;

	snprintf(file, sizeof(file), "%s/plain", fx->dir);
	snprintf(below, sizeof(below), "%.900s/queue", file);
	write_file(file, "not a directory\n");
	assert_int_equal(open_at(fx, below, &queue), QS_ERR_IO);
	assert_null(queue);
	assert_non_null(strstr(fx->err, below));
}

/*
 * Runs in a child process and drops root rights first, if it has them.
 * Returns 0 when open is rejected as expected, or a code naming the
 * failed check.
 */
static int
open_unwritable_child(struct fixture *fx, const char *path)
{
	void *queue;
	int rc;

	if (geteuid() == 0 && (setgid(65534) == -1 || setuid(65534) == -1))
		return 10;
	rc = open_at(fx, path, &queue);
	if (rc == QS_OK)
		return 11;
	if (rc != QS_ERR_CONFIG)
		return 12;
	if (strstr(fx->err, path) == NULL)
		return 13;
	if (strstr(fx->err, "not writable") == NULL)
		return 14;
	return 0;
}

static void
test_open_path_not_writable(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_LEN];
	int status;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/readonly", fx->dir);
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(mkdir(path, 0555), 0);
	assert_int_equal(chmod(path, 0555), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(open_unwritable_child(fx, path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_open_unknown_option(void **state)
{
	struct fixture *fx = *state;
	struct qs_param param = {
		.size = sizeof(param), .name = "size", .value = "10",
	};
	struct qs_instance_args args = {
		.size = sizeof(args), .params = &param, .nparams = 1,
		.err = fx->err, .err_cap = sizeof(fx->err),
	};
	void *queue;

	assert_int_equal(fx->ops->open(&args, &queue), QS_ERR_INVALID);
	assert_null(queue);
	assert_non_null(strstr(fx->err, "size"));
}

static void
test_meta_roundtrip(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[64];
	size_t len = 0;

	open_queue(fx);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->meta_put(fx->queue,
	    (const uint8_t *)"first", 5, QS_META_CREATE), QS_OK);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "first", 5);

	len = 0;
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, 2, &len),
	    QS_ERR_LIMIT);
	assert_int_equal(len, 5);

	assert_int_equal(fx->ops->meta_put(fx->queue,
	    (const uint8_t *)"other", 5, QS_META_CREATE), QS_ERR_EXISTS);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_OK);
	assert_memory_equal(buf, "first", 5);

	assert_int_equal(fx->ops->meta_put(fx->queue,
	    (const uint8_t *)"replaced", 8, 0), QS_OK);
	reopen_queue(fx);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_OK);
	assert_int_equal(len, 8);
	assert_memory_equal(buf, "replaced", 8);

	assert_int_equal(fx->ops->meta_put(fx->queue,
	    (const uint8_t *)"x", 1, 0x80), QS_ERR_INVALID);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
test_meta_create_race(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16];
	size_t len;
	int status, wins = 0, i;
	pid_t pids[NPROC];

	open_queue(fx);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			uint8_t tag = (uint8_t)('a' + i);
			int rc = fx->ops->meta_put(fx->queue, &tag, 1,
			    QS_META_CREATE);

			if (rc == QS_OK)
				_exit(0);
			if (rc == QS_ERR_EXISTS)
				_exit(1);
			_exit(2);
		}
	}
	for (i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		wins += WEXITSTATUS(status) == 0;
	}
	assert_int_equal(wins, 1);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_OK);
	assert_int_equal(len, 1);
	assert_in_range(buf[0], 'a', 'a' + NPROC - 1);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
test_message_roundtrip(void **state)
{
	struct fixture *fx = *state;
	enum { SIZE = 200000 };
	uint8_t *data = malloc(SIZE), *back = malloc(SIZE + 8192);
	struct stat st;
	uint64_t stored = 0;
	size_t len;

	assert_non_null(data);
	assert_non_null(back);
	fill(data, SIZE, 7);
	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A, data, SIZE),
	    QS_OK);
	assert_int_equal(fx->ops->msg_stat(fx->queue, MSG_A, &stored), QS_OK);
	assert_int_equal(stored, SIZE);
	assert_int_equal(load_message(fx, fx->queue, MSG_A, back, SIZE + 8192,
	    4093, &len), QS_OK);
	assert_int_equal(len, SIZE);
	assert_memory_equal(back, data, SIZE);

	assert_int_equal(stat_in_queue(fx, "msg/01/" MSG_A "/message", &st),
	    0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(stat_in_queue(fx, "msg/01/" MSG_A, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);

	assert_int_equal(fx->ops->msg_delete(fx->queue, MSG_A), QS_OK);
	assert_int_equal(load_message(fx, fx->queue, MSG_A, back, SIZE, 4096,
	    &len), QS_ERR_NOTFOUND);
	assert_non_null(strstr(queue_error(fx, fx->queue), MSG_A));
	assert_int_equal(fx->ops->msg_stat(fx->queue, MSG_A, &stored),
	    QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->msg_delete(fx->queue, MSG_A),
	    QS_ERR_NOTFOUND);
	assert_int_equal(stat_errno(fx, "msg/01/" MSG_A), ENOENT);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	free(data);
	free(back);
}

static void
test_message_empty(void **state)
{
	struct fixture *fx = *state;
	uint64_t stored = 1;
	uint8_t buf[16];
	size_t len = 1;

	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A, NULL, 0), QS_OK);
	assert_int_equal(fx->ops->msg_stat(fx->queue, MSG_A, &stored), QS_OK);
	assert_int_equal(stored, 0);
	assert_int_equal(load_message(fx, fx->queue, MSG_A, buf, sizeof(buf),
	    8, &len), QS_OK);
	assert_int_equal(len, 0);
}

static void
test_message_abort(void **state)
{
	struct fixture *fx = *state;
	struct id_list list;
	void *writer, *reader;

	open_queue(fx);
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_A, &writer),
	    QS_OK);
	assert_int_equal(fx->ops->msg_write(writer, (const uint8_t *)"abc",
	    3), QS_OK);
	assert_int_equal(count_entries(fx, "tmp"), 1);
	fx->ops->msg_abort(writer);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(fx->ops->msg_open(fx->queue, MSG_A, &reader),
	    QS_ERR_NOTFOUND);
	assert_null(reader);
	list = walk_messages(fx, fx->queue);
	assert_int_equal(list.n, 0);
	clear_ids(&list);
	assert_int_equal(count_entries(fx, "msg"), 0);
}

static void
test_message_uncommitted_hidden(void **state)
{
	struct fixture *fx = *state;
	struct id_list list;
	void *writer, *reader;
	uint64_t stored;

	open_queue(fx);
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_A, &writer),
	    QS_OK);
	assert_int_equal(fx->ops->msg_write(writer, (const uint8_t *)"abc",
	    3), QS_OK);
	list = walk_messages(fx, fx->queue);
	assert_int_equal(list.n, 0);
	clear_ids(&list);
	assert_int_equal(fx->ops->msg_open(fx->queue, MSG_A, &reader),
	    QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->msg_stat(fx->queue, MSG_A, &stored),
	    QS_ERR_NOTFOUND);

	assert_int_equal(fx->ops->msg_commit(writer), QS_OK);
	list = walk_messages(fx, fx->queue);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.ids[0], MSG_A);
	clear_ids(&list);
}

static void
test_message_exists(void **state)
{
	struct fixture *fx = *state;
	void *first, *second, *writer = (void *)1;
	uint8_t buf[16];
	size_t len;

	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A,
	    (const uint8_t *)"one", 3), QS_OK);
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_A, &writer),
	    QS_ERR_EXISTS);
	assert_null(writer);

	/* Two writers for one id: the first commit wins. */
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_B, &first), QS_OK);
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_B, &second),
	    QS_OK);
	assert_int_equal(fx->ops->msg_write(first, (const uint8_t *)"first",
	    5), QS_OK);
	assert_int_equal(fx->ops->msg_write(second, (const uint8_t *)"second",
	    6), QS_OK);
	assert_int_equal(fx->ops->msg_commit(first), QS_OK);
	assert_int_equal(fx->ops->msg_commit(second), QS_ERR_EXISTS);
	assert_non_null(strstr(queue_error(fx, fx->queue), MSG_B));
	assert_int_equal(load_message(fx, fx->queue, MSG_B, buf, sizeof(buf),
	    4, &len), QS_OK);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "first", 5);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
assert_envelope(struct fixture *fx, const char *evpid, const char *text)
{
	uint8_t buf[64];
	size_t len = 0;

	assert_int_equal(fx->ops->env_load(fx->queue, evpid, buf, sizeof(buf),
	    &len), QS_OK);
	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
}

static int
env_put(struct fixture *fx, const char *msgid, const char *evpid,
    const char *text)
{
	return fx->ops->env_create(fx->queue, msgid, evpid,
	    (const uint8_t *)text, strlen(text));
}

static void
assert_walk_all(struct fixture *fx)
{
	struct id_list list = walk_envelopes(fx, fx->queue, NULL);

	assert_int_equal(list.n, 3);
	assert_string_equal(list.ids[0], ENV_A1);
	assert_string_equal(list.ids[1], ENV_A2);
	assert_string_equal(list.ids[2], ENV_B1);
	clear_ids(&list);
	list = walk_envelopes(fx, fx->queue, MSG_A);
	assert_int_equal(list.n, 2);
	assert_string_equal(list.ids[0], ENV_A1);
	assert_string_equal(list.ids[1], ENV_A2);
	clear_ids(&list);
	list = walk_envelopes(fx, fx->queue, MSG_B);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.ids[0], ENV_B1);
	clear_ids(&list);
}

static void
test_envelope_lifecycle(void **state)
{
	struct fixture *fx = *state;
	struct id_list list;
	uint8_t buf[64];
	size_t len = 0;

	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A,
	    (const uint8_t *)"body", 4), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A1, "rcpt one"), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A2, "rcpt two"), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A1, "again"), QS_ERR_EXISTS);
	assert_non_null(strstr(queue_error(fx, fx->queue), ENV_A1));
	assert_envelope(fx, ENV_A1, "rcpt one");
	assert_int_equal(fx->ops->env_load(fx->queue, ENV_A1, buf, 3, &len),
	    QS_ERR_LIMIT);
	assert_int_equal(len, 8);

	assert_int_equal(fx->ops->env_update(fx->queue, ENV_A1,
	    (const uint8_t *)"rcpt one, retry 1", 17), QS_OK);
	assert_envelope(fx, ENV_A1, "rcpt one, retry 1");
	assert_int_equal(fx->ops->env_update(fx->queue, ENV_A3,
	    (const uint8_t *)"ghost", 5), QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->env_load(fx->queue, ENV_A3, buf,
	    sizeof(buf), &len), QS_ERR_NOTFOUND);

	/* An envelope before its message: the directory is created. */
	assert_int_equal(env_put(fx, MSG_B, ENV_B1, "early"), QS_OK);
	list = walk_messages(fx, fx->queue);
	assert_int_equal(list.n, 1);
	assert_string_equal(list.ids[0], MSG_A);
	clear_ids(&list);

	assert_walk_all(fx);
	reopen_queue(fx);
	assert_walk_all(fx);
	assert_envelope(fx, ENV_A1, "rcpt one, retry 1");
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static void
test_envelope_delete(void **state)
{
	struct fixture *fx = *state;
	struct id_list list;
	uint8_t buf[16];
	size_t len;

	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A,
	    (const uint8_t *)"body", 4), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A1, "one"), QS_OK);
	assert_int_equal(env_put(fx, MSG_B, ENV_B1, "two"), QS_OK);

	assert_int_equal(fx->ops->env_delete(fx->queue, ENV_A1), QS_OK);
	assert_int_equal(fx->ops->env_load(fx->queue, ENV_A1, buf,
	    sizeof(buf), &len), QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->env_delete(fx->queue, ENV_A1),
	    QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->env_update(fx->queue, ENV_A1,
	    (const uint8_t *)"back", 4), QS_ERR_NOTFOUND);
	list = walk_envelopes(fx, fx->queue, MSG_A);
	assert_int_equal(list.n, 0);
	clear_ids(&list);

	/* The message keeps its directory until it is deleted too. */
	assert_int_equal(stat_errno(fx, "msg/01/" MSG_A), 0);
	assert_int_equal(fx->ops->msg_delete(fx->queue, MSG_A), QS_OK);
	assert_int_equal(stat_errno(fx, "msg/01/" MSG_A), ENOENT);
	assert_int_equal(fx->ops->env_delete(fx->queue, ENV_B1), QS_OK);
	assert_int_equal(stat_errno(fx, "msg/fe/" MSG_B), ENOENT);
	list = walk_envelopes(fx, fx->queue, NULL);
	assert_int_equal(list.n, 0);
	clear_ids(&list);
}

static int
stop_at_first(void *arg, const char *id)
{
	int *calls = arg;

	(void)id;
	(*calls)++;
	return 42;
}

static void
test_walk_stops(void **state)
{
	struct fixture *fx = *state;
	int calls = 0;

	open_queue(fx);
	assert_int_equal(store_message(fx, fx->queue, MSG_A,
	    (const uint8_t *)"a", 1), QS_OK);
	assert_int_equal(store_message(fx, fx->queue, MSG_B,
	    (const uint8_t *)"b", 1), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A1, "one"), QS_OK);
	assert_int_equal(env_put(fx, MSG_A, ENV_A2, "two"), QS_OK);
	assert_int_equal(fx->ops->msg_walk(fx->queue, stop_at_first, &calls),
	    42);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(fx->ops->env_walk(fx->queue, MSG_A, stop_at_first,
	    &calls), 42);
	assert_int_equal(calls, 1);
	calls = 0;
	assert_int_equal(fx->ops->env_walk(fx->queue, NULL, stop_at_first,
	    &calls), 42);
	assert_int_equal(calls, 1);
}

struct delete_walk {
	struct fixture *fx;
	struct id_list seen;
	int failures;
};

/* Deletes the visited message, its envelope and a message ahead of it. */
static int
delete_visited(void *arg, const char *msgid)
{
	struct delete_walk *dw = arg;
	const struct qs_queue_ops *ops = dw->fx->ops;
	char evpid[EVPID_SIZE], ahead[MSGID_SIZE];
	unsigned n;
	int rc;

	collect_id(&dw->seen, msgid);
	snprintf(evpid, sizeof(evpid), "%.16s00000000", msgid);
	if (ops->env_delete(dw->fx->queue, evpid) != QS_OK ||
	    ops->msg_delete(dw->fx->queue, msgid) != QS_OK)
		dw->failures++;
	sscanf(msgid + 4, "%12x", &n);
	snprintf(ahead, sizeof(ahead), "%02x00%012x", (n + 37) % 100,
	    (n + 37) % 100);
	rc = ops->msg_delete(dw->fx->queue, ahead);
	if (rc != QS_OK && rc != QS_ERR_NOTFOUND)
		dw->failures++;
	return 0;
}

static void
test_walk_while_deleting(void **state)
{
	struct fixture *fx = *state;
	struct delete_walk dw = { .fx = fx };
	struct id_list left;
	char msgid[MSGID_SIZE], evpid[EVPID_SIZE];
	size_t i;

	open_queue(fx);
	for (i = 0; i < 100; i++) {
		snprintf(msgid, sizeof(msgid), "%02zx00%012zx", i, i);
		snprintf(evpid, sizeof(evpid), "%.16s00000000", msgid);
		assert_int_equal(store_message(fx, fx->queue, msgid,
		    (const uint8_t *)msgid, 16), QS_OK);
		assert_int_equal(env_put(fx, msgid, evpid, "e"), QS_OK);
	}
	assert_int_equal(fx->ops->msg_walk(fx->queue, delete_visited, &dw),
	    QS_OK);
	assert_int_equal(dw.failures, 0);
	assert_true(dw.seen.n >= 50);
	assert_true(dw.seen.n <= 100);
	sort_ids(&dw.seen);
	for (i = 1; i < dw.seen.n; i++)
		assert_string_not_equal(dw.seen.ids[i - 1], dw.seen.ids[i]);
	clear_ids(&dw.seen);
	left = walk_messages(fx, fx->queue);
	assert_int_equal(left.n, 0);
	clear_ids(&left);
}

static const char *const bad_msgids[] = {
	"../x",
	"../../../../etc",
	"0123456789ABCDEF",
	"0123456789abcde",
	"0123456789abcdef0",
	"",
	"0123456789abcde/",
	"0123456789abcdeg",
	"0123456789abcd.f",
	"01234567\n9abcdef",
};

static const char *const bad_evpids[] = {
	"../../../../etc/passwd",
	MSG_A "0000000A",
	MSG_A "0000001",
	MSG_A "000000010",
	MSG_A,
	MSG_A "/0000001",
	"0123456789ABCDEF00000001",
	MSG_A ".0000001",
};

static void
assert_msgid_rejected(struct fixture *fx, const char *id)
{
	void *writer = (void *)1, *reader = (void *)1;
	struct id_list list = { 0 };
	uint64_t stored;

	assert_int_equal(fx->ops->msg_create(fx->queue, id, &writer),
	    QS_ERR_INVALID);
	assert_null(writer);
	assert_int_equal(fx->ops->msg_open(fx->queue, id, &reader),
	    QS_ERR_INVALID);
	assert_null(reader);
	assert_int_equal(fx->ops->msg_stat(fx->queue, id, &stored),
	    QS_ERR_INVALID);
	assert_int_equal(fx->ops->msg_delete(fx->queue, id), QS_ERR_INVALID);
	/* A NULL message id is valid for env_walk: it walks everything. */
	if (id != NULL) {
		assert_int_equal(fx->ops->env_walk(fx->queue, id, collect_id,
		    &list), QS_ERR_INVALID);
		assert_int_equal(list.n, 0);
	}
	assert_int_equal(fx->ops->env_create(fx->queue, id, ENV_A1,
	    (const uint8_t *)"x", 1), QS_ERR_INVALID);
	assert_non_null(strstr(queue_error(fx, fx->queue), "invalid"));
}

static void
assert_evpid_rejected(struct fixture *fx, const char *id)
{
	uint8_t buf[8];
	size_t len;

	assert_int_equal(fx->ops->env_create(fx->queue, MSG_A, id,
	    (const uint8_t *)"x", 1), QS_ERR_INVALID);
	assert_int_equal(fx->ops->env_load(fx->queue, id, buf, sizeof(buf),
	    &len), QS_ERR_INVALID);
	assert_int_equal(fx->ops->env_update(fx->queue, id,
	    (const uint8_t *)"x", 1), QS_ERR_INVALID);
	assert_int_equal(fx->ops->env_delete(fx->queue, id), QS_ERR_INVALID);
	assert_non_null(strstr(queue_error(fx, fx->queue), "invalid"));
}

static void
test_invalid_ids_rejected(void **state)
{
	struct fixture *fx = *state;
	size_t i;

	open_queue(fx);
	for (i = 0; i < sizeof(bad_msgids) / sizeof(bad_msgids[0]); i++)
		assert_msgid_rejected(fx, bad_msgids[i]);
	assert_msgid_rejected(fx, NULL);
	for (i = 0; i < sizeof(bad_evpids) / sizeof(bad_evpids[0]); i++)
		assert_evpid_rejected(fx, bad_evpids[i]);
	assert_evpid_rejected(fx, NULL);

	/* A valid envelope id of another message. */
	assert_int_equal(env_put(fx, MSG_A, ENV_B1, "x"), QS_ERR_INVALID);
	assert_non_null(strstr(queue_error(fx, fx->queue), "does not start"));
	assert_int_equal(count_entries(fx, "msg"), 0);
	assert_int_equal(count_entries(fx, "tmp"), 0);
}

static pid_t
dead_pid(void)
{
	int status;
	pid_t pid = fork();

	assert_true(pid != -1);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return pid;
}

static void
test_stale_tmp_removed(void **state)
{
	struct fixture *fx = *state;
	char dead[PATH_LEN], live[PATH_LEN], other[PATH_LEN];
	char dead_name[64], live_name[64];
	qs_entry_fn entry;
	pid_t pid;

	open_queue(fx);
	fx->ops->close(fx->queue);
	fx->queue = NULL;

	pid = dead_pid();
	assert_int_equal(kill(pid, 0) == -1 ? errno : 0, ESRCH);
	snprintf(dead_name, sizeof(dead_name), "%ld-0123456789abcdef",
	    (long)pid);
	snprintf(live_name, sizeof(live_name), "%ld-fedcba9876543210",
	    (long)getpid());
	snprintf(dead, sizeof(dead), "%s/tmp/%s", fx->path, dead_name);
	snprintf(live, sizeof(live), "%s/tmp/%s", fx->path, live_name);
	snprintf(other, sizeof(other), "%s/tmp/notes", fx->path);
	write_file(dead, "partial");
	write_file(live, "in progress");
	write_file(other, "not a temporary file of the queue");

	*(void **)&entry = dlsym(fx->mh.handle, QS_ENTRY_SYMBOL);
	assert_non_null(entry);
	capture_host.random = modhost_services.random;
	log_text[0] = '\0';
	assert_non_null(entry(QS_ABI_VERSION, &capture_host));
	open_queue(fx);
	entry(QS_ABI_VERSION, &modhost_services);

	assert_int_equal(access(dead, F_OK) == -1 ? errno : 0, ENOENT);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	assert_non_null(strstr(log_text, dead_name));
	assert_null(strstr(log_text, live_name));
	assert_null(strstr(log_text, "notes"));
}

static void
test_write_error_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	enum { SIZE = 100000 };
	uint8_t *data = calloc(1, SIZE), buf[16];
	struct rlimit saved, small;
	void (*old_handler)(int);
	void *writer;
	size_t len;
	int write_rc, commit_rc, env_rc, meta_rc;

	assert_non_null(data);
	open_queue(fx);
	assert_int_equal(fx->ops->meta_put(fx->queue, (const uint8_t *)"meta",
	    4, 0), QS_OK);
	assert_int_equal(fx->ops->msg_create(fx->queue, MSG_A, &writer),
	    QS_OK);

	/* Writes beyond RLIMIT_FSIZE fail with EFBIG, like a full disk. */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
	small = saved;
	small.rlim_cur = 4096;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	write_rc = fx->ops->msg_write(writer, data, SIZE);
	commit_rc = fx->ops->msg_commit(writer);
	env_rc = fx->ops->env_create(fx->queue, MSG_A, ENV_A1, data, SIZE);
	meta_rc = fx->ops->meta_put(fx->queue, data, SIZE, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
	signal(SIGXFSZ, old_handler);

	assert_int_equal(write_rc, QS_ERR_IO);
	assert_int_equal(commit_rc, QS_ERR_IO);
	assert_int_equal(env_rc, QS_ERR_IO);
	assert_int_equal(meta_rc, QS_ERR_IO);
	assert_non_null(strstr(queue_error(fx, fx->queue), fx->path));
	assert_non_null(strstr(queue_error(fx, fx->queue), strerror(EFBIG)));
	assert_int_equal(load_message(fx, fx->queue, MSG_A, buf, sizeof(buf),
	    8, &len), QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->env_load(fx->queue, ENV_A1, buf,
	    sizeof(buf), &len), QS_ERR_NOTFOUND);
	assert_int_equal(fx->ops->meta_get(fx->queue, buf, sizeof(buf), &len),
	    QS_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(buf, "meta", 4);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	free(data);
}

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#if defined(TEST_AUDIT_ARCH) && defined(__NR_renameat2)
/* Offset of the low 32 bits of the flags argument of renameat2(2). */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define RENAME_FLAGS_OFFSET offsetof(struct seccomp_data, args[4])
#else
#define RENAME_FLAGS_OFFSET (offsetof(struct seccomp_data, args[4]) + 4)
#endif

/*
 * Makes renameat2(2) with any flag fail with EINVAL in this process,
 * like a file system without RENAME_NOREPLACE and RENAME_EXCHANGE.
 */
static int
refuse_rename_flags(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat2, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, RENAME_FLAGS_OFFSET),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {
		.len = sizeof(filter) / sizeof(filter[0]),
		.filter = filter,
	};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/*
 * Runs in a child process whose renameat2(2) rejects flags. Returns 0
 * when the fallbacks behave like the flags, or a code naming the check.
 */
static int
fallback_child(struct fixture *fx)
{
	void *first, *second;
	uint8_t buf[32];
	size_t len;

	if (refuse_rename_flags() == -1)
		return 10;
	if (renameat2(AT_FDCWD, "/nonexistent-a", AT_FDCWD, "/nonexistent-b",
	    RENAME_NOREPLACE) != -1 || errno != EINVAL)
		return 11;
	if (fx->ops->msg_create(fx->queue, MSG_A, &first) != QS_OK ||
	    fx->ops->msg_create(fx->queue, MSG_A, &second) != QS_OK)
		return 12;
	fx->ops->msg_write(first, (const uint8_t *)"first", 5);
	fx->ops->msg_write(second, (const uint8_t *)"second", 6);
	if (fx->ops->msg_commit(first) != QS_OK)
		return 13;
	if (fx->ops->msg_commit(second) != QS_ERR_EXISTS)
		return 14;
	if (load_message(fx, fx->queue, MSG_A, buf, sizeof(buf), 8, &len) !=
	    QS_OK || len != 5 || memcmp(buf, "first", 5) != 0)
		return 15;
	if (env_put(fx, MSG_A, ENV_A1, "one") != QS_OK)
		return 16;
	if (env_put(fx, MSG_A, ENV_A1, "again") != QS_ERR_EXISTS)
		return 17;
	if (fx->ops->env_update(fx->queue, ENV_A1, (const uint8_t *)"two",
	    3) != QS_OK)
		return 18;
	if (fx->ops->env_load(fx->queue, ENV_A1, buf, sizeof(buf), &len) !=
	    QS_OK || len != 3 || memcmp(buf, "two", 3) != 0)
		return 19;
	if (fx->ops->env_update(fx->queue, ENV_A3, (const uint8_t *)"x", 1) !=
	    QS_ERR_NOTFOUND)
		return 20;
	if (count_entries(fx, "tmp") != 0)
		return 21;
	return 0;
}

static void
test_rename_flag_fallbacks(void **state)
{
	struct fixture *fx = *state;
	int status;
	pid_t pid;

	open_queue(fx);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0)
		_exit(fallback_child(fx));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}
#else
static void
test_rename_flag_fallbacks(void **state)
{
	(void)state;
	skip();
}
#endif

static void
concurrent_id(char id[MSGID_SIZE], unsigned bucket, unsigned owner,
    unsigned n)
{
	snprintf(id, MSGID_SIZE, "%02x%02x%012x", bucket & 0xff, owner, n);
}

static size_t
concurrent_size(unsigned proc, unsigned i)
{
	return 1 + (i * 131 + proc * 17) % 9000;
}

/* Writes the envelope text of evpid in version 1 or 2 to text. */
static void
envelope_text(char *text, size_t cap, const char *evpid, int version)
{
	snprintf(text, cap, "envelope %s version %d", evpid, version);
}

static int
report(struct fixture *fx, void *queue, int code, const char *what,
    const char *id, int rc)
{
	fprintf(stderr, "process %ld: %s %s returned %d: %s\n",
	    (long)getpid(), what, id, rc, queue_error(fx, queue));
	return code;
}

/* Stores, then keeps or deletes, message i of process proc. */
static int
child_own_message(struct fixture *fx, void *q, unsigned proc, unsigned i,
    uint8_t *buf)
{
	char msgid[MSGID_SIZE], evpid[EVPID_SIZE], text[96];
	size_t size = concurrent_size(proc, i);
	int rc;

	concurrent_id(msgid, i, proc, i);
	snprintf(evpid, sizeof(evpid), "%s%08x", msgid, i);
	fill(buf, size, seed_of(msgid));
	if ((rc = store_message(fx, q, msgid, buf, size)) != QS_OK)
		return report(fx, q, 20, "store", msgid, rc);
	envelope_text(text, sizeof(text), evpid, 1);
	rc = fx->ops->env_create(q, msgid, evpid, (uint8_t *)text,
	    strlen(text));
	if (rc != QS_OK)
		return report(fx, q, 21, "env_create", evpid, rc);
	if (i % 2 == 0) {
		envelope_text(text, sizeof(text), evpid, 2);
		rc = fx->ops->env_update(q, evpid, (uint8_t *)text,
		    strlen(text));
		return rc == QS_OK ? 0 :
		    report(fx, q, 22, "env_update", evpid, rc);
	}
	if ((rc = fx->ops->env_delete(q, evpid)) != QS_OK)
		return report(fx, q, 23, "env_delete", evpid, rc);
	if ((rc = fx->ops->msg_delete(q, msgid)) != QS_OK)
		return report(fx, q, 24, "msg_delete", msgid, rc);
	return 0;
}

/*
 * Races the other processes to store shared message j. Returns 1 if this
 * process won, 0 if another did, or a negative code on failure.
 */
static int
child_shared_message(struct fixture *fx, void *q, unsigned proc,
    unsigned j, uint8_t *buf)
{
	char msgid[MSGID_SIZE];
	size_t size = concurrent_size(0, j);
	int rc;

	concurrent_id(msgid, 0xff, 0xee, j);
	fill(buf, size, seed_of(msgid) + proc);
	buf[0] = (uint8_t)proc;
	rc = store_message(fx, q, msgid, buf, size);
	if (rc == QS_OK)
		return 1;
	if (rc == QS_ERR_EXISTS)
		return 0;
	return -report(fx, q, 30, "shared store", msgid, rc);
}

/*
 * Creates and deletes this process's envelope of shared directory j
 * NROUNDS times, while the other processes do the same in the same
 * directory. For even j the envelope is kept at the end.
 */
static int
child_shared_envelope(struct fixture *fx, void *q, unsigned proc,
    unsigned j)
{
	char msgid[MSGID_SIZE], evpid[EVPID_SIZE], text[96];
	int round, rc;

	concurrent_id(msgid, 0xfe, 0xdd, j);
	snprintf(evpid, sizeof(evpid), "%s%02x%06x", msgid, proc, j);
	envelope_text(text, sizeof(text), evpid, 1);
	for (round = 0; round <= NROUNDS; round++) {
		rc = fx->ops->env_create(q, msgid, evpid, (uint8_t *)text,
		    strlen(text));
		if (rc != QS_OK)
			return report(fx, q, 40, "shared env_create", evpid,
			    rc);
		if (round == NROUNDS && j % 2 == 0)
			break;
		if ((rc = fx->ops->env_delete(q, evpid)) != QS_OK)
			return report(fx, q, 41, "shared env_delete", evpid,
			    rc);
	}
	return 0;
}

static int
child_run(struct fixture *fx, unsigned proc, int go_fd, int out_fd)
{
	uint8_t *buf = malloc(9001);
	unsigned i, wins = 0;
	void *q;
	char c;
	int rc;

	if (buf == NULL)
		return 2;
	/* Waits until the parent has started every process. */
	if (read(go_fd, &c, 1) != 0)
		return 3;
	if (open_at(fx, fx->path, &q) != QS_OK)
		return 4;
	for (i = 0; i < NMSG; i++) {
		if ((rc = child_own_message(fx, q, proc, i, buf)) != 0)
			return rc;
		if (i >= NSHARED)
			continue;
		if ((rc = child_shared_message(fx, q, proc, i, buf)) < 0)
			return -rc;
		wins += (unsigned)rc;
		if ((rc = child_shared_envelope(fx, q, proc, i)) != 0)
			return rc;
	}
	fx->ops->close(q);
	free(buf);
	if (write(out_fd, &wins, sizeof(wins)) != sizeof(wins))
		return 5;
	return 0;
}

static void
check_own_messages(struct fixture *fx, uint8_t *buf, uint8_t *back)
{
	char msgid[MSGID_SIZE], evpid[EVPID_SIZE], text[96], dir[64];
	unsigned proc, i;
	size_t len, size;

	for (proc = 0; proc < NPROC; proc++) {
		for (i = 0; i < NMSG; i++) {
			concurrent_id(msgid, i, proc, i);
			snprintf(evpid, sizeof(evpid), "%s%08x", msgid, i);
			if (i % 2 == 1) {
				assert_int_equal(load_message(fx, fx->queue,
				    msgid, back, 9100, 4096, &len),
				    QS_ERR_NOTFOUND);
				snprintf(dir, sizeof(dir), "msg/%.2s/%s",
				    msgid, msgid);
				assert_int_equal(stat_errno(fx, dir), ENOENT);
				continue;
			}
			size = concurrent_size(proc, i);
			fill(buf, size, seed_of(msgid));
			assert_int_equal(load_message(fx, fx->queue, msgid,
			    back, 9100, 4096, &len), QS_OK);
			assert_int_equal(len, size);
			assert_memory_equal(back, buf, size);
			envelope_text(text, sizeof(text), evpid, 2);
			assert_envelope(fx, evpid, text);
		}
	}
}

static void
check_shared(struct fixture *fx, uint8_t *buf, uint8_t *back)
{
	char msgid[MSGID_SIZE], dir[64];
	struct id_list list;
	size_t len, size;
	unsigned j;

	for (j = 0; j < NSHARED; j++) {
		concurrent_id(msgid, 0xff, 0xee, j);
		size = concurrent_size(0, j);
		assert_int_equal(load_message(fx, fx->queue, msgid, back,
		    9100, 1000, &len), QS_OK);
		assert_int_equal(len, size);
		assert_in_range(back[0], 0, NPROC - 1);
		fill(buf, size, seed_of(msgid) + back[0]);
		buf[0] = back[0];
		assert_memory_equal(back, buf, size);

		concurrent_id(msgid, 0xfe, 0xdd, j);
		list = walk_envelopes(fx, fx->queue, msgid);
		assert_int_equal(list.n, j % 2 == 0 ? NPROC : 0);
		clear_ids(&list);
		snprintf(dir, sizeof(dir), "msg/fe/%s", msgid);
		assert_int_equal(stat_errno(fx, dir),
		    j % 2 == 0 ? 0 : ENOENT);
	}
}

static void
test_concurrent_processes(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = malloc(9100), *back = malloc(9100);
	int go[2], out[2], status;
	unsigned i, wins, total = 0;
	struct id_list list;
	pid_t pids[NPROC];

	assert_non_null(buf);
	assert_non_null(back);
	open_queue(fx);
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(out), 0);
	for (i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] != -1);
		if (pids[i] == 0) {
			close(go[1]);
			_exit(child_run(fx, i, go[0], out[1]));
		}
	}
	close(go[0]);
	close(go[1]);
	close(out[1]);
	for (i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	while (read(out[0], &wins, sizeof(wins)) == sizeof(wins))
		total += wins;
	close(out[0]);
	assert_int_equal(total, NSHARED);

	check_own_messages(fx, buf, back);
	check_shared(fx, buf, back);
	list = walk_messages(fx, fx->queue);
	assert_int_equal(list.n, NPROC * NMSG / 2 + NSHARED);
	clear_ids(&list);
	list = walk_envelopes(fx, fx->queue, NULL);
	assert_int_equal(list.n, NPROC * NMSG / 2 + NPROC * NSHARED / 2);
	clear_ids(&list);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	free(buf);
	free(back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_descriptor_fields, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_creates_path, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_path_is_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_parent_is_file,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_path_not_writable,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_unknown_option,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_meta_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_meta_create_race, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_empty, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_message_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_message_uncommitted_hidden, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_exists, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_envelope_lifecycle,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_envelope_delete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_walk_stops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_walk_while_deleting,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_ids_rejected,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_tmp_removed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_write_error_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_flag_fallbacks,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes,
		    setup, teardown),
	};

	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
