/*
 * Hostile and broken modules. Each test module named *-hostile-NAME
 * loads correctly and then breaks the stream or backend contract as its
 * options request. It overstates byte counts, stops making progress,
 * produces output without end, fails a call, returns statuses outside
 * the ABI's set, or hands back malformed ids. libqstack must turn each
 * of these into a failed call whose qs_error() text names the module,
 * without overflowing a buffer, looping or crashing.
 *
 * Every case runs in a child process, so that a crash, a sanitizer
 * report or an endless loop fails that case alone. The child arms
 * alarm(TIMEOUT_S) and dies of SIGALRM when it fires, which the parent
 * reports as a timeout. It also caps the size of the files it writes
 * (RLIMIT_FSIZE), so an endless encoder that the loader fails to stop
 * cannot fill the disk. Under the sanitizer build, LeakSanitizer runs
 * when the child exits and turns a leak into a non-zero exit status.
 *
 * The last group loads, uses and unloads every real and test module
 * RELOADS times and checks that nothing stays mapped or open.
 */
#include <dirent.h>
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
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/keytest.h"

#include <qstack/qstack.h>
#include "internal.h"
#include "helpers/testq.h"

#define NAME "test.conf"

/* Seconds a case may run before its child is killed. */
#define TIMEOUT_S 10

/* Largest file a case may write, so that an endless encoder stops. */
#define FSIZE_LIMIT (64 * 1024 * 1024)

/* Bytes qs_msg_read may return before a case calls it unbounded. */
#define READ_BOUND ((uint64_t)256 * 1024 * 1024)

/* Message sizes: more than one chain buffer, and a few bytes. */
#define MSG_LEN 120000
#define SMALL_LEN 16
#define WRITE_PIECE 40000
#define READ_PIECE 8192
#define ENV_LEN 2000

#define RELOADS 50

#define CASES_MAX 160
#define MODULES_MAX 64

/* The calls a case makes, in order. */
enum step {
	STEP_NONE,                /* nothing failed yet */
	STEP_PREPARE,             /* setting up with well-behaved modules */
	STEP_OPEN,
	STEP_CREATE,
	STEP_WRITE,
	STEP_COMMIT,
	STEP_MSG_OPEN,
	STEP_READ,
	STEP_ENV_CREATE,
	STEP_ENV_LOAD,
	STEP_WALK,
	STEP_ENV_WALK,
	STEP_DELETE,
	STEP_DONE,                /* every call succeeded */
};

static const char *const step_names[] = {
	[STEP_NONE] = "nothing",
	[STEP_PREPARE] = "preparing a message with a plain queue",
	[STEP_OPEN] = "qs_open",
	[STEP_CREATE] = "qs_msg_create",
	[STEP_WRITE] = "qs_msg_write",
	[STEP_COMMIT] = "qs_msg_commit",
	[STEP_MSG_OPEN] = "qs_msg_open",
	[STEP_READ] = "qs_msg_read",
	[STEP_ENV_CREATE] = "qs_env_create",
	[STEP_ENV_LOAD] = "qs_env_load",
	[STEP_WALK] = "qs_msg_walk",
	[STEP_ENV_WALK] = "qs_env_walk",
	[STEP_DELETE] = "qs_msg_delete",
	[STEP_DONE] = "no call",
};

/* Outcomes that are not statuses, recorded by the checks of a case. */
#define STATUS_UNBOUNDED 1000     /* qs_msg_read never ended */
#define STATUS_WRONG_DATA 1001    /* a call succeeded with wrong bytes */

enum flow {
	FLOW_MESSAGE,             /* write a message, read it back */
	FLOW_ENVELOPE,            /* store an envelope, load it back */
	FLOW_MSG_WALK,            /* list messages */
	FLOW_ENV_WALK,            /* list envelopes */
	FLOW_DELETE,              /* delete a message with an envelope */
};

struct hostile_case {
	char name[96];
	char backend[96];         /* words after "queue backend", or "" */
	char stmt[256];           /* lines after the backend line */
	enum flow flow;
	size_t msg_len;
	enum step fails_from;     /* the first call that may fail */
	enum step fails_to;       /* the last call that may fail */
	int status;               /* its status, not checked for qs_open */
	char module[48];          /* file stem the error must name */
};

/* What a child reports to the parent through a pipe. */
struct outcome {
	enum step step;           /* the call that failed, or STEP_DONE */
	int status;
	char err[QS_ERR_MAX];
	uint64_t read_bytes;      /* bytes qs_msg_read returned */
	int bad_ids;              /* malformed ids given to a walk callback */
	int module_errors;        /* error lines logged by hostile modules */
	char module_log[256];     /* the first of them */

	/* Reload test only. */
	int opened;               /* qs_open succeeded with the module */
	int fds_left;             /* descriptors open after, minus before */
	int still_mapped;         /* a plugin file is mapped after the loop */
	size_t walk_entries;      /* modules qs_plugins_walk listed */
	size_t walk_loaded;       /* those it could load */
};

struct fixture {
	char top[256];            /* from mkdtemp, removed at teardown */
	int top_created;
	char plugins[300];
	char queue[300];
	char keyfile[300];
	char err[QS_ERR_MAX];
	const void *param;        /* the case or module stem under test */
};

static struct hostile_case cases[CASES_MAX];
static size_t ncases;

/* Module stems found in the build, for the reload tests. */
static char module_stems[MODULES_MAX][64];
static char reload_names[MODULES_MAX][96];
static size_t nmodules;

static char *saved_plugin_path;

/* ---- fixture ---- */

/* Copies every BUILD/subdir/NAME.so into the plugin directory. */
static int
install_dir(struct fixture *fx, const char *subdir)
{
	char src[1024], dst[1024];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	snprintf(src, sizeof(src), "%s/%s", keytest_build_dir(), subdir);
	if ((d = opendir(src)) == NULL) {
		print_error("cannot open %s: %s; run make first\n", src,
		    strerror(errno));
		return -1;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		snprintf(src, sizeof(src), "%s/%s/%s", keytest_build_dir(), subdir,
		    de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", fx->plugins, de->d_name);
		if ((rc = keytest_copy_file(src, dst)) != 0)
			print_error("cannot copy %s to %s: %s\n", src, dst,
			    strerror(errno));
	}
	closedir(d);
	return rc;
}

/* Writes a raw 32-byte key. Its value does not matter to these tests. */
static int
write_key_file(const char *path)
{
	uint8_t key[32];
	size_t i;
	int fd, rc = -1;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 37 + 11);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	if (write(fd, key, sizeof(key)) == (ssize_t)sizeof(key))
		rc = 0;
	if (close(fd) != 0)
		rc = -1;
	return rc;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *base = getenv("TMPDIR");

	if (fx == NULL)
		return -1;
	fx->param = *state;
	*state = fx;
	snprintf(fx->top, sizeof(fx->top), "%s/qs-hostile-XXXXXX",
	    base != NULL && base[0] != '\0' ? base : "/tmp");
	if (mkdtemp(fx->top) == NULL) {
		print_error("mkdtemp %s: %s\n", fx->top, strerror(errno));
		return -1;
	}
	fx->top_created = 1;
	if (chmod(fx->top, 0755) != 0)
		return -1;
	snprintf(fx->plugins, sizeof(fx->plugins), "%s/plugins", fx->top);
	snprintf(fx->queue, sizeof(fx->queue), "%s/queue", fx->top);
	snprintf(fx->keyfile, sizeof(fx->keyfile), "%s/key", fx->top);
	if (mkdir(fx->plugins, 0755) != 0 || chmod(fx->plugins, 0755) != 0)
		return -1;
	if (write_key_file(fx->keyfile) != 0)
		return -1;
	if (install_dir(fx, "plugins") != 0 ||
	    install_dir(fx, "tests/modules") != 0)
		return -1;
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	int rc = 0;

	if (fx == NULL)
		return 0;
	if (fx->top_created)
		rc = nftw(fx->top, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return rc;
}

static int
group_setup(void **state)
{
	const char *env = getenv("QSTACK_PLUGIN_PATH");

	if (env != NULL && (saved_plugin_path = strdup(env)) == NULL)
		return -1;
	return unsetenv("QSTACK_PLUGIN_PATH");
}

static int
group_teardown(void **state)
{
	int rc = 0;

	if (saved_plugin_path != NULL)
		rc = setenv("QSTACK_PLUGIN_PATH", saved_plugin_path, 1);
	free(saved_plugin_path);
	return rc;
}

/*
 * Opens a queue whose line 2 selects backend (the fs backend in the
 * fixture when backend is empty) and whose later lines are stmt.
 * Returns NULL with fx->err set on failure. Makes no cmocka checks, so
 * a child may call it.
 */
static struct qs_queue *
open_queue(struct fixture *fx, const char *backend, const char *stmt)
{
	char text[2048];
	struct qs_config *c;
	struct qs_queue *q;

	if (backend[0] == '\0')
		snprintf(text, sizeof(text), "plugin-path \"%s\"\n"
		    "queue backend fs path \"%s\"\n%s\n", fx->plugins,
		    fx->queue, stmt);
	else
		snprintf(text, sizeof(text), "plugin-path \"%s\"\n"
		    "queue backend %s\n%s\n", fx->plugins, backend, stmt);
	fx->err[0] = '\0';
	c = qs_config_parse(text, strlen(text), NAME, fx->err,
	    sizeof(fx->err));
	if (c == NULL)
		return NULL;
	q = qs_open(c, fx->err, sizeof(fx->err));
	qs_config_free(c);
	return q;
}

/* ---- child side: the functions below make no cmocka checks ---- */

static int
record(struct outcome *o, enum step step, int status, const char *err)
{
	o->step = step;
	o->status = status;
	snprintf(o->err, sizeof(o->err), "%s", err != NULL ? err : "");
	return -1;
}

static void
capture_log(void *arg, int level, const char *module, const char *msg)
{
	struct outcome *o = arg;

	if (level != QS_LOG_ERROR || strncmp(module, "hostile-", 8) != 0)
		return;
	if (o->module_errors++ == 0)
		snprintf(o->module_log, sizeof(o->module_log), "%s: %s",
		    module, msg);
}

static int
write_message(struct qs_queue *q, const uint8_t *data, size_t len,
    char *id, struct outcome *o)
{
	struct qs_msg_writer *w;
	size_t off, n;
	int rc;

	if ((rc = qs_msg_create(q, &w)) != QS_OK)
		return record(o, STEP_CREATE, rc, qs_error(q));
	snprintf(id, QS_ID_MAX, "%s", qs_msg_writer_id(w));
	for (off = 0; off < len; off += n) {
		n = len - off < WRITE_PIECE ? len - off : WRITE_PIECE;
		if ((rc = qs_msg_write(w, data + off, n)) != QS_OK) {
			record(o, STEP_WRITE, rc, qs_error(q));
			qs_msg_abort(w);
			return -1;
		}
	}
	if ((rc = qs_msg_commit(w, NULL)) != QS_OK)
		return record(o, STEP_COMMIT, rc, qs_error(q));
	return 0;
}

/* Reads message id and compares it with data, up to READ_BOUND bytes. */
static int
read_message(struct qs_queue *q, const char *id, const uint8_t *data,
    size_t len, struct outcome *o)
{
	struct qs_msg_reader *r;
	uint8_t buf[READ_PIECE];
	uint64_t total = 0;
	size_t n = 0;
	int rc, same = 1;

	if ((rc = qs_msg_open(q, id, &r)) != QS_OK)
		return record(o, STEP_MSG_OPEN, rc, qs_error(q));
	for (;;) {
		if ((rc = qs_msg_read(r, buf, sizeof(buf), &n)) != QS_OK) {
			record(o, STEP_READ, rc, qs_error(q));
			break;
		}
		if (n == 0)
			break;
		if (n > sizeof(buf) || total + n > len ||
		    memcmp(buf, data + total, n) != 0)
			same = 0;
		total += n;
		if (total > READ_BOUND) {
			record(o, STEP_READ, STATUS_UNBOUNDED, "qs_msg_read "
			    "kept returning bytes and no error");
			break;
		}
	}
	qs_msg_close(r);
	o->read_bytes = total;
	if (o->step != STEP_NONE)
		return -1;
	if (!same || total != len)
		return record(o, STEP_READ, STATUS_WRONG_DATA, "qs_msg_read "
		    "returned bytes that differ from those written");
	return 0;
}

/* Stores a small message through a queue without test modules. */
static int
prepare_message(struct fixture *fx, char *msgid, struct outcome *o)
{
	uint8_t data[SMALL_LEN];
	struct qs_queue *q = open_queue(fx, "", "");
	int rc;

	if (q == NULL)
		return record(o, STEP_PREPARE, 0, fx->err);
	testq_pattern(data, sizeof(data), 7);
	rc = write_message(q, data, sizeof(data), msgid, o);
	if (rc != 0)
		o->step = STEP_PREPARE;
	qs_close(q);
	return rc;
}

static void
message_flow(struct fixture *fx, const struct hostile_case *c,
    struct outcome *o)
{
	uint8_t *data = malloc(c->msg_len);
	char id[QS_ID_MAX];
	struct qs_queue *q;

	if (data == NULL) {
		record(o, STEP_PREPARE, QS_ERR_NOMEM, "out of memory");
		return;
	}
	testq_pattern(data, c->msg_len, 1);
	if ((q = open_queue(fx, c->backend, c->stmt)) == NULL) {
		record(o, STEP_OPEN, 0, fx->err);
		free(data);
		return;
	}
	if (write_message(q, data, c->msg_len, id, o) == 0 &&
	    read_message(q, id, data, c->msg_len, o) == 0)
		o->step = STEP_DONE;
	qs_close(q);
	free(data);
}

static int
envelope_round_trip(struct qs_queue *q, const char *msgid,
    struct outcome *o)
{
	uint8_t data[ENV_LEN], back[2 * ENV_LEN];
	char evpid[QS_ID_MAX];
	size_t n = 0;
	int rc;

	testq_pattern(data, sizeof(data), 3);
	if ((rc = qs_env_create(q, msgid, data, sizeof(data), evpid)) != 0)
		return record(o, STEP_ENV_CREATE, rc, qs_error(q));
	rc = qs_env_load(q, evpid, back, sizeof(back), &n);
	if (rc != QS_OK)
		return record(o, STEP_ENV_LOAD, rc, qs_error(q));
	if (n != sizeof(data) || memcmp(back, data, n) != 0)
		return record(o, STEP_ENV_LOAD, STATUS_WRONG_DATA,
		    "qs_env_load returned bytes that differ from those "
		    "stored");
	return 0;
}

/*
 * Stores a message for the envelope flows: through a plain queue on the
 * fs backend, or in q itself for a backend that keeps nothing after
 * qs_close.
 */
static int
message_for_envelopes(struct fixture *fx, const struct hostile_case *c,
    struct qs_queue *q, char *msgid, struct outcome *o)
{
	uint8_t data[SMALL_LEN];

	if (c->backend[0] == '\0')
		return 0;
	testq_pattern(data, sizeof(data), 5);
	if (write_message(q, data, sizeof(data), msgid, o) != 0) {
		o->step = STEP_PREPARE;
		return -1;
	}
	return 0;
}

/* True when id is len lowercase hex digits, as the ABI promises. */
static int
valid_id(const char *id, size_t len)
{
	return strlen(id) == len && strspn(id, "0123456789abcdef") == len;
}

static int
count_bad_msgid(void *arg, const char *id)
{
	struct outcome *o = arg;

	if (!valid_id(id, QS_MSGID_LEN))
		o->bad_ids++;
	return 0;
}

static int
count_bad_evpid(void *arg, const char *id)
{
	struct outcome *o = arg;

	if (!valid_id(id, QS_EVPID_LEN))
		o->bad_ids++;
	return 0;
}

static int
walk_step(struct qs_queue *q, const struct hostile_case *c,
    const char *msgid, struct outcome *o)
{
	char evpid[QS_ID_MAX];
	uint8_t data[SMALL_LEN] = { 0 };
	int rc;

	if (c->flow == FLOW_MSG_WALK) {
		if ((rc = qs_msg_walk(q, count_bad_msgid, o)) != QS_OK)
			return record(o, STEP_WALK, rc, qs_error(q));
		return 0;
	}
	rc = qs_env_create(q, msgid, data, sizeof(data), evpid);
	if (rc != QS_OK)
		return record(o, STEP_ENV_CREATE, rc, qs_error(q));
	if (c->flow == FLOW_ENV_WALK) {
		rc = qs_env_walk(q, msgid, count_bad_evpid, o);
		if (rc != QS_OK)
			return record(o, STEP_ENV_WALK, rc, qs_error(q));
		return 0;
	}
	if ((rc = qs_msg_delete(q, msgid)) != QS_OK)
		return record(o, STEP_DELETE, rc, qs_error(q));
	return 0;
}

static void
other_flow(struct fixture *fx, const struct hostile_case *c,
    struct outcome *o)
{
	char msgid[QS_ID_MAX];
	struct qs_queue *q;

	if (c->backend[0] == '\0' && prepare_message(fx, msgid, o) != 0)
		return;
	if ((q = open_queue(fx, c->backend, c->stmt)) == NULL) {
		record(o, STEP_OPEN, 0, fx->err);
		return;
	}
	if (message_for_envelopes(fx, c, q, msgid, o) == 0) {
		if (c->flow == FLOW_ENVELOPE &&
		    envelope_round_trip(q, msgid, o) == 0)
			o->step = STEP_DONE;
		else if (c->flow != FLOW_ENVELOPE &&
		    walk_step(q, c, msgid, o) == 0)
			o->step = STEP_DONE;
	}
	qs_close(q);
}

static void
run_case(struct fixture *fx, const void *arg, struct outcome *o)
{
	const struct hostile_case *c = arg;

	if (c->flow == FLOW_MESSAGE)
		message_flow(fx, c, o);
	else
		other_flow(fx, c, o);
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(3);
		p += n;
		len -= (size_t)n;
	}
}

typedef void (*child_fn)(struct fixture *fx, const void *arg,
    struct outcome *o);

/* Runs fn in the child and sends the outcome to the parent. */
static void
child_main(struct fixture *fx, child_fn fn, const void *arg, int fd)
{
	static const int crash_signals[] = {
		SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT,
	};
	struct outcome o;
	struct rlimit rl;
	size_t i;

	/*
	 * cmocka catches crash signals and jumps back into its runner,
	 * which in the child would go on to run the remaining tests. Let a
	 * crash kill the child instead, so the parent reports it.
	 */
	for (i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		signal(crash_signals[i], SIG_DFL);
	alarm(TIMEOUT_S);
	signal(SIGXFSZ, SIG_IGN);
	if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
		_exit(4);
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > FSIZE_LIMIT)
		rl.rlim_cur = FSIZE_LIMIT;
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		_exit(4);
	memset(&o, 0, sizeof(o));
	o.step = STEP_NONE;
	qs_set_log(capture_log, &o, QS_LOG_ERROR);
	fn(fx, arg, &o);
	qs_set_log(NULL, NULL, QS_LOG_WARN);
	write_all(fd, &o, sizeof(o));
	close(fd);
	/* exit, not _exit, so that LeakSanitizer checks the child */
	exit(0);
}

/* ---- parent side ---- */

static size_t
read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = read(fd, p + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void
check_child_exit(int status)
{
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		print_message("timed out after %d s: the loader kept calling "
		    "the module or the backend\n", TIMEOUT_S);
	else if (WIFSIGNALED(status))
		print_message("the child died of signal %d (%s)\n",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) != 0)
		print_message("the child exited with status %d; the sanitizer "
		    "report above says why\n", WEXITSTATUS(status));
	assert_false(WIFSIGNALED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
run_in_child(struct fixture *fx, child_fn fn, const void *arg,
    struct outcome *o)
{
	int fds[2], status;
	size_t got;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		child_main(fx, fn, arg, fds[1]);
	}
	close(fds[1]);
	got = read_all(fds[0], o, sizeof(*o));
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	check_child_exit(status);
	assert_int_equal(got, sizeof(*o));
}

static const char *
status_name(int status)
{
	if (status == STATUS_UNBOUNDED)
		return "no error before the read bound";
	if (status == STATUS_WRONG_DATA)
		return "success with wrong bytes";
	return qs_strerror(status);
}

static void
explain(const struct hostile_case *c, const struct outcome *o)
{
	print_message("case: %s\nconfig: queue backend %s / %s\n"
	    "expected: %s..%s to fail with %s (%d), naming %s\n"
	    "got: %s failed with %s (%d); %ju bytes read\nerror: %s\n",
	    c->name, c->backend[0] ? c->backend : "fs", c->stmt,
	    step_names[c->fails_from], step_names[c->fails_to],
	    status_name(c->status), c->status, c->module,
	    step_names[o->step], status_name(o->status), o->status,
	    (uintmax_t)o->read_bytes, o->err);
}

static void
test_hostile_case(void **state)
{
	struct fixture *fx = *state;
	const struct hostile_case *c = fx->param;
	struct outcome o;
	int named;

	run_in_child(fx, run_case, c, &o);
	named = strstr(o.err, c->module) != NULL;
	if (o.step < c->fails_from || o.step > c->fails_to || !named ||
	    (c->fails_from != STEP_OPEN && o.status != c->status))
		explain(c, &o);
	if (o.module_errors > 0)
		print_message("module log: %s\n", o.module_log);
	assert_in_range(o.step, c->fails_from, c->fails_to);
	if (c->fails_from != STEP_OPEN)
		assert_int_equal(o.status, c->status);
	assert_true(named);
	assert_null(strchr(o.err, '\n'));
	assert_int_equal(o.bad_ids, 0);
	assert_int_equal(o.module_errors, 0);
}

/* ---- reloading every module ---- */

static int
count_open_fds(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Returns 1 when a file of dir is mapped into this process. */
static int
dir_mapped(const char *dir)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, dir) != NULL;
	fclose(f);
	return found;
}

/* Fills backend and stmt with a configuration that uses stem. */
static void
reload_config(struct fixture *fx, const char *stem, char *backend,
    size_t bcap, char *stmt, size_t scap)
{
	backend[0] = stmt[0] = '\0';
	if (strncmp(stem, "queue-", 6) == 0 && strcmp(stem, "queue-fs") != 0)
		snprintf(backend, bcap, "%s", stem + 6);
	else if (strncmp(stem, "compress-", 9) == 0)
		snprintf(stmt, scap, "queue compression %s", stem + 9);
	else if (strncmp(stem, "crypto-", 7) == 0)
		snprintf(stmt, scap, "queue encryption key-file \"%s\" "
		    "module %s", fx->keyfile, stem + 7);
}

struct walk_count {
	size_t entries;
	size_t loaded;
};

static void
count_plugin(void *arg, const struct qs_plugin_info *info)
{
	struct walk_count *w = arg;

	w->entries++;
	if (info->error == NULL)
		w->loaded++;
}

/* Opens, uses and closes one queue. Returns 1 when it opened. */
static int
use_module_once(struct fixture *fx, const char *backend, const char *stmt,
    struct outcome *o)
{
	uint8_t data[SMALL_LEN * 64];
	char msgid[QS_ID_MAX];
	struct qs_queue *q = open_queue(fx, backend, stmt);

	if (q == NULL)
		return 0;
	testq_pattern(data, sizeof(data), 11);
	if (write_message(q, data, sizeof(data), msgid, o) == 0 &&
	    read_message(q, msgid, data, sizeof(data), o) == 0)
		envelope_round_trip(q, msgid, o);
	qs_close(q);
	return 1;
}

static void
reload_module(struct fixture *fx, const void *arg, struct outcome *o)
{
	const char *stem = arg;
	char backend[96], stmt[512], text[512];
	struct walk_count first = { 0, 0 }, w;
	struct qs_config *c;
	int fds, now, i;

	reload_config(fx, stem, backend, sizeof(backend), stmt, sizeof(stmt));
	fds = count_open_fds();
	snprintf(text, sizeof(text), "plugin-path \"%s\"\n", fx->plugins);
	c = qs_config_parse(text, strlen(text), NAME, fx->err,
	    sizeof(fx->err));
	if (c == NULL) {
		record(o, STEP_PREPARE, 0, fx->err);
		return;
	}
	o->opened = -1;
	for (i = 0; i < RELOADS && o->step == STEP_NONE; i++) {
		now = use_module_once(fx, backend, stmt, o);
		if (o->opened != -1 && now != o->opened)
			record(o, STEP_OPEN, 0, "qs_open changed its result "
			    "on a reload");
		o->opened = now;
		memset(&w, 0, sizeof(w));
		if (qs_plugins_walk(c, count_plugin, &w) != QS_OK)
			record(o, STEP_PREPARE, 0, "qs_plugins_walk failed");
		if (i == 0)
			first = w;
		else if (w.entries != first.entries ||
		    w.loaded != first.loaded)
			record(o, STEP_PREPARE, 0, "qs_plugins_walk changed "
			    "its result on a reload");
	}
	qs_config_free(c);
	if (o->step == STEP_NONE)
		o->step = STEP_DONE;
	o->fds_left = count_open_fds() - fds;
	o->still_mapped = dir_mapped(fx->plugins);
	o->walk_entries = first.entries;
	o->walk_loaded = first.loaded;
}

static void
test_reload_module(void **state)
{
	struct fixture *fx = *state;
	const char *stem = fx->param;
	struct outcome o;

	run_in_child(fx, reload_module, stem, &o);
	if (o.step != STEP_DONE || o.fds_left != 0 || o.still_mapped != 0 ||
	    o.walk_entries != nmodules)
		print_message("%s: %s failed: %s; qs_open %s; %d descriptors "
		    "left; mapped %d; %zu of %zu modules load\n", stem,
		    step_names[o.step], o.err, o.opened ? "succeeds" : "fails",
		    o.fds_left, o.still_mapped, o.walk_loaded,
		    o.walk_entries);
	assert_int_equal(o.step, STEP_DONE);
	assert_int_equal(o.fds_left, 0);
	assert_int_equal(o.still_mapped, 0);
	assert_int_equal(o.walk_entries, nmodules);
	assert_int_equal(o.module_errors, 0);
}

/* ---- the table of cases ---- */

static struct hostile_case *
add_case(const char *backend, const char *stmt, enum flow flow,
    enum step from, enum step to, int status, const char *module)
{
	struct hostile_case *c;

	if (ncases == CASES_MAX) {
		fprintf(stderr, "test_hostile: more than %d cases; raise "
		    "CASES_MAX\n", CASES_MAX);
		exit(1);
	}
	c = &cases[ncases++];
	snprintf(c->backend, sizeof(c->backend), "%s", backend);
	snprintf(c->stmt, sizeof(c->stmt), "%s", stmt);
	c->flow = flow;
	c->msg_len = MSG_LEN;
	c->fails_from = from;
	c->fails_to = to;
	c->status = status;
	snprintf(c->module, sizeof(c->module), "%s", module);
	return c;
}

/* Calls of a transform, for the step at which a fault shows. */
enum call {
	CALL_STREAM_NEW,
	CALL_STREAM_BEGIN,
	CALL_UPDATE,
	CALL_FINAL,
};

static enum step
fault_step(enum call call, int decode, enum flow flow)
{
	if (flow == FLOW_ENVELOPE)
		return decode ? STEP_ENV_LOAD : STEP_ENV_CREATE;
	if (decode)
		return call <= CALL_STREAM_BEGIN ? STEP_MSG_OPEN : STEP_READ;
	if (call <= CALL_STREAM_BEGIN)
		return STEP_CREATE;
	return call == CALL_UPDATE ? STEP_WRITE : STEP_COMMIT;
}

/*
 * Adds one case per direction and flow for a fault of a compress
 * module, given by its options.
 */
static void
add_compress_cases(const char *name, const char *options,
    const char *label, enum call call, int status, size_t msg_len)
{
	static const enum flow flows[] = { FLOW_MESSAGE, FLOW_ENVELOPE };
	char stmt[256], module[48];
	struct hostile_case *c;
	size_t f;
	int decode;

	snprintf(module, sizeof(module), "compress-%s", name);
	for (decode = 0; decode < 2; decode++) {
		for (f = 0; f < 2; f++) {
			enum step at = fault_step(call, decode, flows[f]);

			snprintf(stmt, sizeof(stmt), "queue compression %s %s "
			    "direction %s", name, options,
			    decode ? "decode" : "encode");
			c = add_case("", stmt, flows[f], at, at, status,
			    module);
			c->msg_len = msg_len;
			snprintf(c->name, sizeof(c->name), "%s %s %s %s", name,
			    label, decode ? "decode" : "encode",
			    flows[f] == FLOW_MESSAGE ? "message" : "envelope");
		}
	}
}

static void
add_overflow_cases(void)
{
	static const char *const update_faults[] = {
		"update-out-plus1", "update-out-huge",
		"update-in-plus1", "update-in-huge",
	};
	static const char *const final_faults[] = {
		"final-out-plus1", "final-out-huge",
	};
	char options[64];
	size_t i;

	for (i = 0; i < 4; i++) {
		snprintf(options, sizeof(options), "fault %s",
		    update_faults[i]);
		add_compress_cases("hostile-overflow", options,
		    update_faults[i], CALL_UPDATE, QS_ERR_MODULE, MSG_LEN);
	}
	for (i = 0; i < 2; i++) {
		snprintf(options, sizeof(options), "fault %s",
		    final_faults[i]);
		add_compress_cases("hostile-overflow", options,
		    final_faults[i], CALL_FINAL, QS_ERR_MODULE, MSG_LEN);
	}
}

/*
 * An endless encoder may be stopped in qs_msg_write or qs_msg_commit,
 * depending on where the loader puts its limit, so those cases accept
 * either.
 */
static void
add_endless_cases(void)
{
	size_t first = ncases, i;

	add_compress_cases("hostile-endless", "fault final", "final",
	    CALL_FINAL, QS_ERR_LIMIT, SMALL_LEN);
	add_compress_cases("hostile-endless", "fault update", "update",
	    CALL_UPDATE, QS_ERR_LIMIT, SMALL_LEN);
	for (i = first; i < ncases; i++)
		if (cases[i].fails_from == STEP_WRITE ||
		    cases[i].fails_from == STEP_COMMIT) {
			cases[i].fails_from = STEP_WRITE;
			cases[i].fails_to = STEP_COMMIT;
		}
}

static void
add_fail_cases(void)
{
	static const struct {
		const char *at;
		enum call call;
	} calls[] = {
		{ "stream-new", CALL_STREAM_NEW },
		{ "stream-begin", CALL_STREAM_BEGIN },
		{ "update", CALL_UPDATE },
		{ "final", CALL_FINAL },
	};
	static const int odd_status[] = { 42, -999, QS_MORE };
	char options[64], label[64];
	size_t i, j;

	for (i = 0; i < 4; i++) {
		snprintf(options, sizeof(options), "at %s", calls[i].at);
		add_compress_cases("hostile-fail", options, calls[i].at,
		    calls[i].call, QS_ERR_CORRUPT, MSG_LEN);
	}
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 3; j++) {
			snprintf(options, sizeof(options), "at %s status %d",
			    calls[i].at, odd_status[j]);
			snprintf(label, sizeof(label), "%s %d", calls[i].at,
			    odd_status[j]);
			add_compress_cases("hostile-fail", options, label,
			    calls[i].call, QS_ERR_MODULE, MSG_LEN);
		}
	}
}

static void
add_instance_cases(void)
{
	static const struct {
		const char *options;
		const char *label;
	} table[] = {
		{ "err text", "with reason" },
		{ "err none", "without reason" },
		{ "err unterminated", "unterminated reason" },
		{ "status 42 err none", "status 42" },
	};
	char stmt[256];
	struct hostile_case *c;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		snprintf(stmt, sizeof(stmt), "queue compression hostile-fail "
		    "at instance-new %s", table[i].options);
		c = add_case("", stmt, FLOW_MESSAGE, STEP_OPEN, STEP_OPEN, 0,
		    "compress-hostile-fail");
		snprintf(c->name, sizeof(c->name), "hostile-fail "
		    "instance-new %s", table[i].label);
	}
}

static void
add_stall_cases(void)
{
	add_compress_cases("hostile-stall", "fault update", "update",
	    CALL_UPDATE, QS_ERR_MODULE, MSG_LEN);
	add_compress_cases("hostile-stall", "fault final", "final",
	    CALL_FINAL, QS_ERR_MODULE, MSG_LEN);
}

/*
 * The crypto module runs after compress-zlib when writing and before it
 * when reading. The endless decoder runs alone, because zlib after it
 * rejects its output as trailing garbage before any limit is reached.
 */
static void
add_crypto_cases(void)
{
	static const struct {
		const char *fault;
		const char *direction;
		int with_zlib;
		enum step from, to;
		int status;
	} table[] = {
		{ "update-out-plus1", "encode", 1, STEP_WRITE, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "update-in-plus1", "encode", 1, STEP_WRITE, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "final-out-huge", "encode", 1, STEP_COMMIT, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "update-stall", "encode", 1, STEP_WRITE, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "final-stall", "encode", 1, STEP_COMMIT, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "final-endless", "encode", 1, STEP_WRITE, STEP_COMMIT,
		    QS_ERR_LIMIT },
		{ "update-status-42", "encode", 1, STEP_WRITE, STEP_COMMIT,
		    QS_ERR_MODULE },
		{ "update-out-plus1", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
		{ "update-in-plus1", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
		{ "final-out-huge", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
		{ "update-stall", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
		{ "final-stall", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
		{ "final-endless", "decode", 0, STEP_READ, STEP_READ,
		    QS_ERR_LIMIT },
		{ "update-status-42", "decode", 1, STEP_READ, STEP_READ,
		    QS_ERR_MODULE },
	};
	char stmt[512];
	struct hostile_case *c;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		snprintf(stmt, sizeof(stmt), "%squeue encryption key \"k\" "
		    "module hostile-stream fault %s direction %s",
		    table[i].with_zlib ? "queue compression zlib\n" : "",
		    table[i].fault, table[i].direction);
		c = add_case("", stmt, FLOW_MESSAGE, table[i].from,
		    table[i].to, table[i].status, "crypto-hostile-stream");
		if (strstr(table[i].fault, "endless") != NULL)
			c->msg_len = SMALL_LEN;
		snprintf(c->name, sizeof(c->name), "hostile-stream %s %s "
		    "message", table[i].fault, table[i].direction);
	}
	c = add_case("", "queue compression zlib\nqueue encryption key "
	    "\"k\" module hostile-stream fault update-in-plus1", FLOW_ENVELOPE,
	    STEP_ENV_CREATE, STEP_ENV_CREATE, QS_ERR_MODULE,
	    "crypto-hostile-stream");
	snprintf(c->name, sizeof(c->name), "hostile-stream update-in-plus1 "
	    "encode envelope");
	c = add_case("", "queue encryption key \"k\" module hostile-stream "
	    "fault final-endless direction decode", FLOW_ENVELOPE,
	    STEP_ENV_LOAD, STEP_ENV_LOAD, QS_ERR_LIMIT,
	    "crypto-hostile-stream");
	snprintf(c->name, sizeof(c->name), "hostile-stream final-endless "
	    "decode envelope");
}

static void
add_backend_cases(void)
{
	static const struct {
		const char *fault;
		enum flow flow;
		enum step at;
	} table[] = {
		{ "read-overflow", FLOW_MESSAGE, STEP_MSG_OPEN },
		{ "read-huge", FLOW_MESSAGE, STEP_MSG_OPEN },
		{ "env-overflow", FLOW_ENVELOPE, STEP_ENV_LOAD },
		{ "env-huge", FLOW_ENVELOPE, STEP_ENV_LOAD },
		{ "meta-overflow", FLOW_MESSAGE, STEP_OPEN },
		{ "walk-bad-id", FLOW_MSG_WALK, STEP_WALK },
		{ "env-walk-bad-id", FLOW_ENV_WALK, STEP_ENV_WALK },
		{ "env-walk-bad-id", FLOW_DELETE, STEP_DELETE },
	};
	static const char *const flow_names[] = {
		[FLOW_MESSAGE] = "message",
		[FLOW_ENVELOPE] = "envelope",
		[FLOW_MSG_WALK] = "walk",
		[FLOW_ENV_WALK] = "walk",
		[FLOW_DELETE] = "delete",
	};
	char backend[96];
	struct hostile_case *c;
	size_t i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		snprintf(backend, sizeof(backend), "hostile-mem fault %s",
		    table[i].fault);
		c = add_case(backend, "", table[i].flow, table[i].at,
		    table[i].at, QS_ERR_MODULE, "queue-hostile-mem");
		snprintf(c->name, sizeof(c->name), "hostile-mem %s %s",
		    table[i].fault, flow_names[table[i].flow]);
	}
}

/* Lists the modules of BUILD/subdir for the reload tests. */
static void
find_modules(const char *subdir)
{
	char dir[1024];
	struct dirent *de;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", keytest_build_dir(), subdir);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL && nmodules < MODULES_MAX) {
		size_t len = strlen(de->d_name);

		if (len < 4 || len - 3 >= sizeof(module_stems[0]) ||
		    strcmp(de->d_name + len - 3, ".so") != 0)
			continue;
		snprintf(module_stems[nmodules], sizeof(module_stems[0]),
		    "%.*s", (int)(len - 3), de->d_name);
		snprintf(reload_names[nmodules], sizeof(reload_names[0]),
		    "reload %s %d times", module_stems[nmodules], RELOADS);
		nmodules++;
	}
	closedir(d);
}

int
main(void)
{
	static struct CMUnitTest tests[CASES_MAX + MODULES_MAX];
	size_t i, n = 0;

	add_overflow_cases();
	add_stall_cases();
	add_endless_cases();
	add_fail_cases();
	add_instance_cases();
	add_crypto_cases();
	add_backend_cases();
	find_modules("plugins");
	find_modules("tests/modules");
	for (i = 0; i < ncases; i++) {
		tests[n].name = cases[i].name;
		tests[n].test_func = test_hostile_case;
		tests[n].setup_func = setup;
		tests[n].teardown_func = teardown;
		tests[n].initial_state = &cases[i];
		n++;
	}
	for (i = 0; i < nmodules; i++) {
		tests[n].name = reload_names[i];
		tests[n].test_func = test_reload_module;
		tests[n].setup_func = setup;
		tests[n].teardown_func = teardown;
		tests[n].initial_state = module_stems[i];
		n++;
	}
	return _cmocka_run_group_tests("test_hostile", tests, n, group_setup,
	    group_teardown);
}
