/*
 * Fault-injection tests of the qstack command with the fs backend, lz4
 * and encryption under a key file. tests/faultshim/faultshim.c, loaded
 * with LD_PRELOAD, makes the Nth write, fsync, rename or read fail with
 * ENOSPC or EIO. For qstack put and qstack rm, every N is tried in turn
 * from 1 until a run completes without reaching N.
 *
 * The shim counts only calls on files under the queue directory, or on
 * the input file for read, so the reads of the dynamic loader, OpenSSL
 * and the key file, and the writes of the error line, never count.
 *
 * Every failing run must exit non-zero with exactly one line on stderr
 * that names the errno. After it, the next command that opens the queue
 * (qstack ls) must leave PATH/tmp empty and log any removal, no partial
 * message may be visible, and qstack fsck must pass. rm may leave its
 * message with fewer envelopes, but whole. A message left with none is
 * the only case where fsck may report "no-envelopes".
 *
 * The shim comes from $QSTACK_BUILD/tests/faultshim.so; when that is
 * missing or older than its source, the test builds it there with $CC
 * (default cc).
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/testq.h"

extern char **environ;

#define SHIM_SOURCE "tests/faultshim/faultshim.c"

/* Size of the stored message: several writes and reads of 64 KiB. */
#define MESSAGE_LEN (200 * 1000)

/* Highest N tried before giving up on a case. */
#define NTH_MAX 200

/* Failures printed in detail per category. Further ones are counted. */
#define SHOW_MAX 5

#define RCPT1 "first@example.org"
#define RCPT2 "second@example.org"

#define MSGID_LEN 16
#define PATH_LEN  1024

/* One case: a command, the call that fails and the errno it gets. */
struct fault_case {
	const char *command;      /* "put" or "rm" */
	const char *call;         /* write, fsync, rename or read */
	const char *errno_name;
	int errnum;
};

/* Counters of violations, each of which must stay 0. */
struct problems {
	int exit_zero;            /* a failed call still exited 0 */
	int stderr_lines;         /* stderr did not have exactly one line */
	int errno_missing;        /* the line does not name the errno */
	int printed_id;           /* a failed put printed an id */
	int tmp_left;             /* tmp not empty after the next open */
	int removal_not_logged;   /* a leftover removal was not logged */
	int next_open_failed;     /* qstack ls failed after the run */
	int partial_visible;      /* a new message is not whole */
	int fsck_failed;          /* fsck reported a problem */
	int final_failed;         /* the run past the last call failed */
	int rm_undone;            /* a failed rm left a message not whole */
	int cleanup_failed;       /* rm without a fault failed */
	int empty_msgdirs;        /* message directories left empty */
};

/* What the failing runs left, for the report. */
struct outcomes {
	int runs;                 /* fault runs that fired */
	int calls;                /* matching calls of the clean run */
	int new_whole;            /* failed puts that left a whole message */
	int tmp_leftovers;        /* runs after which tmp had files */
	int rm_kept[3];           /* failed rm: message kept, 0-2 envelopes */
	int rm_gone;              /* failed rm: message gone */
};

struct fixture {
	struct testq t;
	char qstack[PATH_LEN];
	char shim[PATH_LEN];
	char conf[PATH_LEN];
	char input[PATH_LEN];     /* the message file, resolved */
	char qreal[PATH_LEN];     /* the queue directory, resolved */
	char out[PATH_LEN];
	char err[PATH_LEN];
	char log[PATH_LEN];
	uint8_t *message;
	struct problems bad;
	struct outcomes seen;
};

static size_t
count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		n += *text == '\n';
	return n;
}

/* Waits for pid. Returns its exit status, or 128 + signal. */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/*
 * Runs qstack -c CONF with args (NULL-terminated) and the environment
 * envp, stdout and stderr into f->out and f->err.
 */
static int
run_env(struct fixture *f, const char *const *args, char *const *envp)
{
	posix_spawn_file_actions_t fa;
	char *argv[16];
	pid_t pid;
	size_t i, n = 0;
	int rc;

	argv[n++] = f->qstack;
	argv[n++] = (char *)"-c";
	argv[n++] = f->conf;
	for (i = 0; args[i] != NULL && n + 1 < 16; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, f->out,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, f->err,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, f->qstack, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	return reap(pid);
}

static int
run_qstack(struct fixture *f, const char *const *args)
{
	return run_env(f, args, environ);
}

/*
 * Runs qstack with the shim failing call number nth of fc. Returns the
 * exit status. Sets *fired to 1 when the shim injected the fault, and
 * *calls to the number of matching calls the run made.
 */
static int
run_faulty(struct fixture *f, const struct fault_case *fc,
    const char *const *args, long nth, int *fired, long *calls)
{
	char vars[8][PATH_LEN + 32], *envp[256], *log, *p;
	const char *asan = getenv("ASAN_OPTIONS");
	size_t n = 0, i;
	int status;

	snprintf(vars[0], sizeof(vars[0]), "LD_PRELOAD=%s", f->shim);
	snprintf(vars[1], sizeof(vars[1]), "QS_FAULT_CALL=%s", fc->call);
	snprintf(vars[2], sizeof(vars[2]), "QS_FAULT_NTH=%ld", nth);
	snprintf(vars[3], sizeof(vars[3]), "QS_FAULT_ERRNO=%s",
	    fc->errno_name);
	snprintf(vars[4], sizeof(vars[4]), "QS_FAULT_PATH=%s",
	    strcmp(fc->call, "read") == 0 ? f->input : f->qreal);
	snprintf(vars[5], sizeof(vars[5]), "QS_FAULT_LOG=%s", f->log);
	/* a sanitized qstack must accept a library loaded before its own */
	snprintf(vars[6], sizeof(vars[6]), "ASAN_OPTIONS=%s%s"
	    "verify_asan_link_order=0", asan != NULL ? asan : "",
	    asan != NULL && asan[0] != '\0' ? ":" : "");
	for (i = 0; i < 7; i++)
		envp[n++] = vars[i];
	for (i = 0; environ[i] != NULL && n + 1 < 256; i++) {
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
		    strncmp(environ[i], "QS_FAULT_", 9) != 0 &&
		    strncmp(environ[i], "ASAN_OPTIONS=", 13) != 0)
			envp[n++] = environ[i];
	}
	envp[n] = NULL;
	unlink(f->log);
	status = run_env(f, args, envp);
	log = testq_read_file(f->log, NULL);
	assert_non_null(log);
	*fired = strstr(log, "fired ") != NULL;
	p = strstr(log, "calls ");
	assert_non_null(p);
	p = strchr(p + strlen("calls "), ' ');
	assert_non_null(p);
	*calls = atol(p + 1);
	free(log);
	return status;
}

/* Lists PATH/tmp into names, at most cap of them. Returns the count. */
static size_t
list_tmp(struct fixture *f, char names[][64], size_t cap)
{
	char path[PATH_LEN + 8];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", f->qreal);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n < cap)
			snprintf(names[n], 64, "%.63s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/*
 * Runs qstack ls, the next command that opens the queue, and checks that
 * it removed and logged every file the run left in PATH/tmp. Returns
 * its standard output, the listing, which the caller frees.
 */
static char *
next_open(struct fixture *f)
{
	static const char *const ls[] = { "ls", NULL };
	char names[8][64], left[8][64], *err, *out;
	size_t i, n = list_tmp(f, names, 8);

	if (n > 0)
		f->seen.tmp_leftovers++;
	if (run_qstack(f, ls) != 0 && f->bad.next_open_failed++ < SHOW_MAX)
		print_message("qstack ls failed after the fault\n");
	err = testq_read_file(f->err, NULL);
	assert_non_null(err);
	for (i = 0; i < n && i < 8; i++) {
		if (strstr(err, names[i]) != NULL &&
		    strstr(err, "removed") != NULL)
			continue;
		if (f->bad.removal_not_logged++ < SHOW_MAX)
			print_message("removal of tmp/%s not logged; stderr: "
			    "%s\n", names[i], err);
	}
	free(err);
	if (list_tmp(f, left, 8) != 0 && f->bad.tmp_left++ < SHOW_MAX)
		print_message("tmp/%s is still there after qstack ls\n",
		    left[0]);
	out = testq_read_file(f->out, NULL);
	assert_non_null(out);
	return out;
}

/* Returns the line of listing that starts with id, or NULL. */
static const char *
listed(const char *listing, const char *id)
{
	const char *p = listing;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, id, MSGID_LEN) == 0 && p[MSGID_LEN] == ' ')
			return p;
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	}
	return NULL;
}

/* Counts the envelopes on a line of qstack ls: pairs after 3 fields. */
static int
listed_envelopes(const char *line)
{
	int fields = 1;

	for (; *line != '\0' && *line != '\n'; line++)
		fields += *line == ' ';
	return (fields - 3) / 2;
}

/* Returns 1 when qstack get of message id outputs exactly the input. */
static int
message_whole(struct fixture *f, const char *id)
{
	const char *get[] = { "get", id, NULL };
	size_t len;
	char *out;
	int whole;

	if (run_qstack(f, get) != 0)
		return 0;
	out = testq_read_file(f->out, &len);
	assert_non_null(out);
	whole = len == MESSAGE_LEN && memcmp(out, f->message, len) == 0;
	free(out);
	return whole;
}

/* Checks that qstack fsck passes, or lists only no-envelopes for id. */
static void
check_fsck(struct fixture *f, const char *id)
{
	static const char *const fsck[] = { "fsck", NULL };
	char *out, *line, *save = NULL, prefix[64];
	int status = run_qstack(f, fsck), explained = 0;

	if (status == 0)
		return;
	out = testq_read_file(f->out, NULL);
	assert_non_null(out);
	snprintf(prefix, sizeof(prefix), "message %s no-envelopes:",
	    id != NULL ? id : "-");
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "checked ", 8) == 0)
			continue;
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			explained++;
			continue;
		}
		if (f->bad.fsck_failed++ < SHOW_MAX)
			print_message("fsck: %s\n", line);
	}
	free(out);
	/* a failing fsck must have listed the message it failed on */
	if (explained == 0 && f->bad.fsck_failed++ < SHOW_MAX)
		print_message("fsck exited %d without a problem line\n",
		    status);
}

/* Checks the exit status and stderr of a run whose fault fired. */
static void
check_failed_run(struct fixture *f, const struct fault_case *fc,
    long nth, int status)
{
	char *err = testq_read_file(f->err, NULL);

	assert_non_null(err);
	f->seen.runs++;
	if (status == 0 && f->bad.exit_zero++ < SHOW_MAX)
		print_message("%s with %s %ld failing exited 0\n", fc->command,
		    fc->call, nth);
	if (count_lines(err) != 1 && f->bad.stderr_lines++ < SHOW_MAX)
		print_message("%s with %s %ld failing: %zu lines on stderr:\n"
		    "%s", fc->command, fc->call, nth, count_lines(err), err);
	if ((strncmp(err, "qstack: ", 8) != 0 ||
	    strstr(err, strerror(fc->errnum)) == NULL) &&
	    f->bad.errno_missing++ < SHOW_MAX)
		print_message("%s with %s %ld failing: stderr does not name "
		    "\"%s\": %s", fc->command, fc->call, nth,
		    strerror(fc->errnum), err);
	free(err);
}

/* Stores the message without faults; writes its id into id. */
static void
put_clean(struct fixture *f, char id[MSGID_LEN + 1])
{
	const char *put[] = { "put", "-r", RCPT1, "-r", RCPT2, f->input,
	    NULL };
	char *out;

	assert_int_equal(run_qstack(f, put), 0);
	out = testq_read_file(f->out, NULL);
	assert_non_null(out);
	assert_int_equal(strlen(out), MSGID_LEN + 1);
	memcpy(id, out, MSGID_LEN);
	id[MSGID_LEN] = '\0';
	free(out);
}

/* Counts message directories that contain nothing. */
static int
count_empty_dirs(struct fixture *f)
{
	char path[PATH_LEN + 16], sub[2 * PATH_LEN];
	struct dirent *b, *m;
	DIR *bd, *md;
	int n = 0;

	snprintf(path, sizeof(path), "%s/msg", f->qreal);
	assert_non_null(bd = opendir(path));
	while ((b = readdir(bd)) != NULL) {
		if (b->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, b->d_name);
		if ((md = opendir(sub)) == NULL)
			continue;
		while ((m = readdir(md)) != NULL) {
			char dir[3 * PATH_LEN];
			DIR *d;
			int entries = 0;

			if (m->d_name[0] == '.')
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", sub, m->d_name);
			if ((d = opendir(dir)) == NULL)
				continue;
			while (readdir(d) != NULL)
				entries++;
			closedir(d);
			n += entries == 2;
		}
		closedir(md);
	}
	closedir(bd);
	return n;
}

/*
 * Checks the queue after a failing put: nothing new may be visible but
 * a whole message. Returns the listing, which the caller frees.
 */
static char *
check_put_after(struct fixture *f, const char *before)
{
	char *after = next_open(f), *copy, *line, *save = NULL;

	copy = strdup(after);
	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line[MSGID_LEN] = '\0';
		if (listed(before, line) != NULL)
			continue;
		if (message_whole(f, line)) {
			f->seen.new_whole++;
			continue;
		}
		if (f->bad.partial_visible++ < SHOW_MAX)
			print_message("failed put left message %s, not whole\n",
			    line);
	}
	free(copy);
	check_fsck(f, NULL);
	return after;
}

/* Checks the run past the last matching call: a complete put. */
static void
check_put_done(struct fixture *f, const struct fault_case *fc, long nth,
    int status)
{
	char id[MSGID_LEN + 1], *out = testq_read_file(f->out, NULL), *after;
	const char *line;

	assert_non_null(out);
	snprintf(id, sizeof(id), "%.16s", out);
	free(out);
	after = next_open(f);
	line = listed(after, id);
	if ((status != 0 || line == NULL || listed_envelopes(line) != 2 ||
	    !message_whole(f, id)) && f->bad.final_failed++ < SHOW_MAX)
		print_message("put did not succeed with %s %ld failing\n",
		    fc->call, nth);
	free(after);
	check_fsck(f, NULL);
}

static void
run_put_case(struct fixture *f, const struct fault_case *fc)
{
	const char *put[] = { "put", "-r", RCPT1, "-r", RCPT2, f->input,
	    NULL };
	char *before, *out;
	long nth, calls = 0;
	int status = -1, fired = 1;

	before = next_open(f);
	for (nth = 1; nth <= NTH_MAX && fired; nth++) {
		status = run_faulty(f, fc, put, nth, &fired, &calls);
		if (!fired)
			break;
		check_failed_run(f, fc, nth, status);
		out = testq_read_file(f->out, NULL);
		assert_non_null(out);
		if (out[0] != '\0' && f->bad.printed_id++ < SHOW_MAX)
			print_message("put with %s %ld failing printed %s",
			    fc->call, nth, out);
		free(out);
		out = check_put_after(f, before);
		free(before);
		before = out;
	}
	free(before);
	f->seen.calls = (int)calls;
	if (fired && f->bad.final_failed++ < SHOW_MAX)
		print_message("put still failed at %s %d\n", fc->call,
		    NTH_MAX);
	else
		check_put_done(f, fc, nth, status);
}

/* Checks what a failed rm left of message id, then removes the rest. */
static void
check_rm_after(struct fixture *f, const char *id)
{
	const char *rm[] = { "rm", id, NULL };
	char *after = next_open(f);
	const char *line = listed(after, id);
	int envelopes;

	if (line == NULL) {
		f->seen.rm_gone++;
		free(after);
		check_fsck(f, NULL);
		return;
	}
	envelopes = listed_envelopes(line);
	if (envelopes >= 0 && envelopes <= 2)
		f->seen.rm_kept[envelopes]++;
	if ((envelopes < 0 || envelopes > 2 || !message_whole(f, id)) &&
	    f->bad.rm_undone++ < SHOW_MAX)
		print_message("failed rm left %s not whole: %s\n", id, line);
	free(after);
	check_fsck(f, envelopes == 0 ? id : NULL);
	if (run_qstack(f, rm) != 0 && f->bad.cleanup_failed++ < SHOW_MAX)
		print_message("rm %s without a fault failed\n", id);
}

static void
run_rm_case(struct fixture *f, const struct fault_case *fc)
{
	char id[MSGID_LEN + 1], *after;
	const char *rm[] = { "rm", id, NULL };
	long nth, calls = 0;
	int status = -1, fired = 1;

	for (nth = 1; nth <= NTH_MAX && fired; nth++) {
		put_clean(f, id);
		status = run_faulty(f, fc, rm, nth, &fired, &calls);
		if (!fired)
			break;
		check_failed_run(f, fc, nth, status);
		check_rm_after(f, id);
	}
	f->seen.calls = (int)calls;
	after = next_open(f);
	if ((fired || status != 0 || listed(after, id) != NULL) &&
	    f->bad.final_failed++ < SHOW_MAX)
		print_message("rm did not succeed with %s %ld failing\n",
		    fc->call, nth);
	free(after);
	check_fsck(f, NULL);
}

static void
report(struct fixture *f, const struct fault_case *fc)
{
	const struct outcomes *o = &f->seen;

	f->bad.empty_msgdirs = count_empty_dirs(f);
	print_message("%s, %s failing with %s: %d fault runs, %d matching "
	    "calls in the clean run, %d runs left tmp files, %d empty "
	    "message directories\n", fc->command, fc->call, fc->errno_name,
	    o->runs, o->calls, o->tmp_leftovers, f->bad.empty_msgdirs);
	if (strcmp(fc->command, "put") == 0)
		print_message("failed puts that left a whole message: %d\n",
		    o->new_whole);
	else
		print_message("failed rm: message gone %d, kept with 2, 1, 0 "
		    "envelopes: %d, %d, %d\n", o->rm_gone, o->rm_kept[2],
		    o->rm_kept[1], o->rm_kept[0]);
}

static void
run_case(struct fixture *f, const struct fault_case *fc)
{
	if (strcmp(fc->command, "put") == 0)
		run_put_case(f, fc);
	else
		run_rm_case(f, fc);
	report(f, fc);

	assert_int_equal(f->bad.exit_zero, 0);
	assert_int_equal(f->bad.stderr_lines, 0);
	assert_int_equal(f->bad.errno_missing, 0);
	assert_int_equal(f->bad.printed_id, 0);
	assert_int_equal(f->bad.tmp_left, 0);
	assert_int_equal(f->bad.removal_not_logged, 0);
	assert_int_equal(f->bad.next_open_failed, 0);
	assert_int_equal(f->bad.partial_visible, 0);
	assert_int_equal(f->bad.fsck_failed, 0);
	assert_int_equal(f->bad.final_failed, 0);
	assert_int_equal(f->bad.rm_undone, 0);
	assert_int_equal(f->bad.cleanup_failed, 0);
	assert_int_equal(f->bad.empty_msgdirs, 0);
}

/*
 * Builds the shim into f->shim unless it is there and newer than its
 * source.
 */
static int
build_shim(struct fixture *f)
{
	const char *cc = getenv("CC");
	char cmd[4 * PATH_LEN], tmp[PATH_LEN + 16];
	struct stat so, src;

	if (stat(SHIM_SOURCE, &src) == -1) {
		print_message("%s not found: run the test from the top of the "
		    "repository\n", SHIM_SOURCE);
		return -1;
	}
	if (stat(f->shim, &so) == 0 && so.st_mtime >= src.st_mtime)
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.%ld", f->shim, (long)getpid());
	snprintf(cmd, sizeof(cmd), "%s -std=c11 -fPIC -O2 -Wall -shared -o "
	    "'%s' %s -ldl && mv -f '%s' '%s'", cc != NULL ? cc : "cc", tmp,
	    SHIM_SOURCE, tmp, f->shim);
	if (system(cmd) != 0) {
		print_message("building the shim failed: %s\n", cmd);
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	static const char *const ls[] = { "ls", NULL };
	const char *build = getenv("QSTACK_BUILD");
	struct fixture *f = calloc(1, sizeof(*f));
	char text[2 * PATH_LEN], input[PATH_LEN], resolved[PATH_MAX];

	if (f == NULL)
		return -1;
	*state = f;
	testq_setup(&f->t);
	if (build == NULL)
		build = "build";
	snprintf(f->qstack, sizeof(f->qstack), "%s/qstack", build);
	snprintf(f->shim, sizeof(f->shim), "%s/tests/faultshim.so", build);
	if (build_shim(f) != 0 || realpath(f->shim, resolved) == NULL ||
	    strlen(resolved) >= sizeof(f->shim))
		return -1;
	memcpy(f->shim, resolved, strlen(resolved) + 1);
	snprintf(f->conf, sizeof(f->conf), "%s/qstack.conf", f->t.dir);
	snprintf(f->out, sizeof(f->out), "%s/out", f->t.dir);
	snprintf(f->err, sizeof(f->err), "%s/err", f->t.dir);
	snprintf(f->log, sizeof(f->log), "%s/fault.log", f->t.dir);
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n"
	    "queue compression lz4\nqueue encryption key-file \"%s\"\n",
	    f->t.qdir, f->t.keyfile);
	assert_int_equal(testq_write_file(f->conf, text, strlen(text)), 0);

	if ((f->message = malloc(MESSAGE_LEN)) == NULL)
		return -1;
	testq_pattern(f->message, MESSAGE_LEN, 7);
	snprintf(input, sizeof(input), "%s/mail.eml", f->t.dir);
	assert_int_equal(testq_write_file(input, f->message, MESSAGE_LEN), 0);
	if (realpath(input, f->input) == NULL)
		return -1;
	/* creates the queue, so that no run writes the metadata record */
	if (run_qstack(f, ls) != 0 || realpath(f->t.qdir, f->qreal) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return 0;
	free(f->message);
	testq_teardown(&f->t);
	free(f);
	return 0;
}

#define FAULT_TEST(name, command, call, err)                            \
	static void                                                     \
	name(void **state)                                              \
	{                                                               \
		static const struct fault_case fc = {                   \
			command, call, #err, err                        \
		};                                                      \
		run_case(*state, &fc);                                  \
	}

FAULT_TEST(put_write_enospc, "put", "write", ENOSPC)
FAULT_TEST(put_write_eio, "put", "write", EIO)
FAULT_TEST(put_fsync_enospc, "put", "fsync", ENOSPC)
FAULT_TEST(put_fsync_eio, "put", "fsync", EIO)
FAULT_TEST(put_rename_enospc, "put", "rename", ENOSPC)
FAULT_TEST(put_rename_eio, "put", "rename", EIO)
FAULT_TEST(put_read_input_enospc, "put", "read", ENOSPC)
FAULT_TEST(put_read_input_eio, "put", "read", EIO)
FAULT_TEST(rm_fsync_enospc, "rm", "fsync", ENOSPC)
FAULT_TEST(rm_fsync_eio, "rm", "fsync", EIO)
FAULT_TEST(rm_rename_enospc, "rm", "rename", ENOSPC)
FAULT_TEST(rm_rename_eio, "rm", "rename", EIO)

int
main(void)
{
#define CASE(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		CASE(put_write_enospc),
		CASE(put_write_eio),
		CASE(put_fsync_enospc),
		CASE(put_fsync_eio),
		CASE(put_rename_enospc),
		CASE(put_rename_eio),
		CASE(put_read_input_enospc),
		CASE(put_read_input_eio),
		CASE(rm_fsync_enospc),
		CASE(rm_fsync_eio),
		CASE(rm_rename_enospc),
		CASE(rm_rename_eio),
	};
#undef CASE
	int failed;

	/* keeps the closing line last when stdout and stderr share a file */
	setvbuf(stdout, NULL, _IOLBF, 0);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	fflush(stderr);
	printf("%d passed, %d failed\n",
	    (int)(sizeof(tests) / sizeof(tests[0])) - failed, failed);
	return failed;
}
