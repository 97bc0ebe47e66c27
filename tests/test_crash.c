/*
 * Crash tests of the qstack command with the fs backend, lz4 and
 * encryption under a key file. put and import are killed with SIGKILL
 * after a random delay, counted in microseconds from the spawn. The
 * delay ranges from 0 to 1.25 times the duration of an undisturbed run,
 * so kills land during start-up, while the blobs are written and after
 * the command finished.
 *
 * After every run the test lists PATH/tmp and the message directories
 * itself, which does not open the queue. Leftover temporary files must
 * be removed, and logged, by the next command that opens the queue. At
 * the end, qstack fsck may report only "no-envelopes", and only for
 * messages of runs that did not print an id. Every message must read
 * back byte for byte equal to the file it came from, and every printed
 * id must have all its envelopes.
 *
 * The seed is printed, and QS_CRASH_SEED repeats a run. The queue lives
 * in a directory from mkdtemp(3) under /tmp and is removed afterwards.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers/testq.h"

extern char **environ;

/* Killed runs of each command, on top of one undisturbed run each. */
#define PUT_RUNS    300
#define IMPORT_RUNS 100

/* Source files for put, of 300 bytes to SOURCE_MAX. */
#define NSOURCES    24
#define SOURCE_MAX  (4 << 20)

/* Files in the import folder, stored in name order by import. */
#define IMPORT_FILES 4

/* Kill delays range up to this many percent of an undisturbed run. */
#define DELAY_SPAN_PERCENT 125

/* Every put names these recipients, so it writes two envelopes. */
#define SENDER "sender@example.org"
#define RCPT1  "first@example.org"
#define RCPT2  "second@example.org"

/* Printed ids checked again through qstack get and cmp(1). */
#define GET_SAMPLES 20

/* Failures printed in detail per category. Further ones are counted. */
#define SHOW_MAX 5

#define MSGID_LEN 16
#define EVPID_LEN 24
#define PATH_LEN  1024

/* One source file: its bytes, kept in memory for comparisons. */
struct source {
	char path[PATH_LEN];
	uint8_t *data;
	size_t len;
	uint64_t run_us;          /* duration of an undisturbed put */
};

#define RUN_PUT    1
#define RUN_IMPORT 2

/* One spawned command and what it left behind. */
struct run {
	int kind;                 /* RUN_PUT or RUN_IMPORT */
	int source;               /* index into sources, for put */
	int killed;               /* died of SIGKILL */
	int exit_status;          /* when not killed */
	int printed;              /* put printed an id, import its total */
	char id[MSGID_LEN + 1];   /* the id put printed */
	size_t new_messages;      /* messages that appeared during the run */
};

/* A message directory with a message blob, found by scanning. */
struct seen {
	char id[MSGID_LEN + 1];
	int run;                  /* the run it appeared in */
	int envelopes;            /* envelope files when it appeared */
};

/* Counters of violations, each of which must stay 0. */
struct problems {
	int run_failed;           /* a command exited non-zero by itself */
	int put_many_new;         /* a put added more than one message */
	int printed_missing;      /* a printed id is not stored */
	int printed_envelopes;    /* a printed id lacks an envelope */
	int import_partial;       /* a finished import lacks a message */
	int import_envelopes;     /* an imported message lacks its envelope */
	int import_order;         /* import stored files out of order */
	int tmp_left;             /* tmp not empty after the next open */
	int removal_not_logged;   /* a leftover removal was not logged */
	int ls_failed;            /* qstack ls exited non-zero */
	int ls_mismatch;          /* ls disagrees with the scan */
	int fsck_failed;          /* fsck did not run to the end */
	int fsck_bad;             /* fsck reported other than no-envelopes */
	int fsck_printed;         /* no-envelopes for a printed id */
	int fsck_unexpected;      /* no-envelopes for a message with some */
	int fsck_missed;          /* a message without envelopes not listed */
	int read_failed;          /* a message did not read to its end */
	int content_wrong;        /* a message differs from its source */
	int get_wrong;            /* qstack get output differs */
};

/* Outcomes of killed runs, for the report. */
struct outcomes {
	int completed;            /* finished before the kill */
	int killed;
	int tmp_leftovers;        /* runs that left files in tmp */
	int no_message;           /* killed puts that stored nothing */
	int no_envelopes;         /* killed puts: message, no envelope */
	int one_envelope;         /* killed puts: message, one envelope */
	int all_envelopes;        /* killed puts: done but not printed */
	int import_messages;      /* messages stored by killed imports */
	int bare_msgdirs;         /* message directories without a message */
};

struct crash {
	struct testq t;
	char qstack[PATH_LEN];
	char conf[PATH_LEN];
	char srcdir[PATH_LEN];
	char importdir[PATH_LEN];
	char out[PATH_LEN];
	char err[PATH_LEN];
	struct source sources[NSOURCES + IMPORT_FILES];
	uint64_t import_us;       /* duration of an undisturbed import */
	uint64_t rng;
	struct run *runs;
	size_t nruns;
	struct seen *seen;        /* sorted by id */
	size_t nseen;
	struct problems bad;
	struct outcomes out_count;
};

static uint64_t
next_random(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ULL;
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
sleep_us(uint64_t us)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
		continue;
}

/*
 * Starts qstack -c CONF with args (NULL-terminated), stdin from
 * /dev/null and stdout and stderr into c->out and c->err.
 */
static pid_t
spawn_qstack(struct crash *c, const char *const *args)
{
	posix_spawn_file_actions_t fa;
	char *argv[16];
	pid_t pid;
	size_t i, n = 0;
	int rc;

	argv[n++] = c->qstack;
	argv[n++] = (char *)"-c";
	argv[n++] = c->conf;
	for (i = 0; args[i] != NULL && n + 1 < 16; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, c->out,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, c->err,
	    O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, c->qstack, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(rc, 0);
	return pid;
}

/* Waits for pid. Returns its exit status, or -signal when killed. */
static int
reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		assert_int_equal(errno, EINTR);
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int
run_qstack(struct crash *c, const char *const *args)
{
	return reap(spawn_qstack(c, args));
}

/* Appends a paragraph of text lines or of base64 lines to buf. */
static size_t
fill_paragraph(uint64_t *rng, char *buf, size_t room)
{
	static const char *const words[] = {
		"queue", "delivery", "relay", "spool", "message", "the",
		"retry", "deferred", "bounce", "header", "body", "mail",
	};
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	int binary = next_random(rng) % 3 == 0;
	size_t n = 0, col = 0, lines = 4 + next_random(rng) % 40;

	while (lines > 0 && n + 2 < room) {
		if (binary) {
			buf[n++] = b64[next_random(rng) % 64];
			col++;
		} else {
			const char *w = words[next_random(rng) % 12];
			size_t wl = strlen(w);

			if (n + wl + 2 >= room)
				break;
			memcpy(buf + n, w, wl);
			n += wl;
			buf[n++] = ' ';
			col += wl + 1;
		}
		if (col >= 72) {
			buf[n++] = '\n';
			col = 0;
			lines--;
		}
	}
	if (n < room)
		buf[n++] = '\n';
	return n;
}

/*
 * Makes a mail of exactly len bytes (at least the header's length). Its
 * first line, "X-Crash-Source: NN", identifies the source when read back.
 */
static void
make_source(struct crash *c, int k, size_t len, const char *dir,
    const char *name)
{
	struct source *s = &c->sources[k];
	char head[256];
	size_t n;

	n = (size_t)snprintf(head, sizeof(head), "X-Crash-Source: %02d\n"
	    "From: <" SENDER ">\nTo: <" RCPT1 ">\nSubject: source %d of "
	    "%zu bytes\n\n", k, k, len);
	if (len < n)
		len = n;
	s->data = malloc(len);
	assert_non_null(s->data);
	memcpy(s->data, head, n);
	while (n < len)
		n += fill_paragraph(&c->rng, (char *)s->data + n, len - n);
	s->len = len;
	snprintf(s->path, sizeof(s->path), "%s/%s", dir, name);
	assert_int_equal(testq_write_file(s->path, s->data, s->len), 0);
}

static void
make_sources(struct crash *c)
{
	/* roughly geometric, with the 64 KiB read size of the command */
	static const size_t put_sizes[NSOURCES] = {
		300, 500, 800, 1300, 2000, 3300, 5000, 8000, 13000, 20000,
		33000, 50000, 65536, 80000, 130000, 200000, 330000, 500000,
		800000, 1300000, 2000000, 3000000, 3500000, SOURCE_MAX,
	};
	static const size_t import_sizes[IMPORT_FILES] = {
		1000, 30000, 250000, 900000,
	};
	char name[64];
	int k;

	for (k = 0; k < NSOURCES; k++) {
		snprintf(name, sizeof(name), "put-%02d.eml", k);
		make_source(c, k, put_sizes[k], c->srcdir, name);
	}
	for (k = 0; k < IMPORT_FILES; k++) {
		snprintf(name, sizeof(name), "%02d.eml", k);
		make_source(c, NSOURCES + k, import_sizes[k], c->importdir,
		    name);
	}
}

static int
compare_seen(const void *a, const void *b)
{
	return strcmp(((const struct seen *)a)->id,
	    ((const struct seen *)b)->id);
}

static struct seen *
find_seen(struct crash *c, const char *id)
{
	struct seen key;

	if (c->nseen == 0)
		return NULL;
	snprintf(key.id, sizeof(key.id), "%s", id);
	return bsearch(&key, c->seen, c->nseen, sizeof(key), compare_seen);
}

static int
is_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[len] == '\0';
}

/*
 * Counts envelope files in a message directory. Returns -1 when the
 * directory has no message blob.
 */
static int
count_envelopes(int dirfd)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd, n = 0;

	if (fstatat(dirfd, "message", &st, 0) == -1)
		return -1;
	if ((fd = dup(dirfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		n += is_hex(de->d_name, EVPID_LEN);
	closedir(d);
	return n;
}

/* Records message directories that are new since the last scan. */
static void
scan_bucket(struct crash *c, const char *bucket, int run, size_t *added)
{
	char path[PATH_LEN];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/msg/%s", c->t.qdir, bucket);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct seen *s;
		int fd, n;

		if (!is_hex(de->d_name, MSGID_LEN) || find_seen(c, de->d_name))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY);
		if (fd == -1)
			continue;
		n = count_envelopes(fd);
		close(fd);
		if (n < 0)
			continue;
		c->seen = realloc(c->seen, (c->nseen + *added + 1) *
		    sizeof(*c->seen));
		assert_non_null(c->seen);
		s = &c->seen[c->nseen + (*added)++];
		snprintf(s->id, sizeof(s->id), "%.16s", de->d_name);
		s->run = run;
		s->envelopes = n;
	}
	closedir(d);
}

/* Scans PATH/msg and returns how many messages appeared since. */
static size_t
scan_messages(struct crash *c, int run)
{
	char path[PATH_LEN];
	struct dirent *de;
	size_t added = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/msg", c->t.qdir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (is_hex(de->d_name, 2))
			scan_bucket(c, de->d_name, run, &added);
	}
	closedir(d);
	c->nseen += added;
	if (c->nseen > 1)
		qsort(c->seen, c->nseen, sizeof(*c->seen), compare_seen);
	return added;
}

/*
 * Counts message directories without a message blob. A put killed
 * between creating the directory and placing the blob leaves one. Walks
 * skip it, and nothing removes it.
 */
static int
count_bare_msgdirs(struct crash *c)
{
	char path[PATH_LEN + 8];
	struct dirent *b, *m;
	DIR *bd, *md;
	int n = 0;

	snprintf(path, sizeof(path), "%s/msg", c->t.qdir);
	if ((bd = opendir(path)) == NULL)
		return 0;
	while ((b = readdir(bd)) != NULL) {
		int fd;

		if (!is_hex(b->d_name, 2))
			continue;
		fd = openat(dirfd(bd), b->d_name, O_RDONLY | O_DIRECTORY);
		if (fd == -1 || (md = fdopendir(fd)) == NULL)
			continue;
		while ((m = readdir(md)) != NULL) {
			int mfd;

			if (!is_hex(m->d_name, MSGID_LEN))
				continue;
			mfd = openat(dirfd(md), m->d_name,
			    O_RDONLY | O_DIRECTORY);
			if (mfd == -1)
				continue;
			n += count_envelopes(mfd) < 0;
			close(mfd);
		}
		closedir(md);
	}
	closedir(bd);
	return n;
}

/* Lists PATH/tmp into names, at most cap of them. Returns the count. */
static size_t
list_tmp(struct crash *c, char names[][64], size_t cap)
{
	char path[PATH_LEN];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", c->t.qdir);
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
 * Runs qstack ls, the next command that opens the queue after a killed
 * run left the temporary files in names, and checks that it removed and
 * logged each of them.
 */
static void
check_next_open(struct crash *c, char names[][64], size_t n)
{
	static const char *const ls[] = { "ls", NULL };
	char left[8][64], *err;
	size_t i;

	if (run_qstack(c, ls) != 0)
		c->bad.ls_failed++;
	err = testq_read_file(c->err, NULL);
	assert_non_null(err);
	for (i = 0; i < n && i < 8; i++) {
		char *hit = strstr(err, names[i]);

		if (hit != NULL && strstr(err, "removed") != NULL)
			continue;
		if (c->bad.removal_not_logged++ < SHOW_MAX)
			print_message("removal of tmp/%s not logged; "
			    "stderr: %s\n", names[i], err);
	}
	free(err);
	if (list_tmp(c, left, 8) != 0 && c->bad.tmp_left++ < SHOW_MAX)
		print_message("tmp/%s is still there after qstack ls\n",
		    left[0]);
}

/* Reads the id a put printed: 16 hex digits and a newline, or nothing. */
static int
read_printed_id(struct crash *c, char id[MSGID_LEN + 1])
{
	char *out = testq_read_file(c->out, NULL);
	int ok;

	assert_non_null(out);
	ok = strlen(out) == MSGID_LEN + 1 && out[MSGID_LEN] == '\n';
	if (ok) {
		memcpy(id, out, MSGID_LEN);
		id[MSGID_LEN] = '\0';
		ok = is_hex(id, MSGID_LEN);
	}
	free(out);
	return ok;
}

static struct run *
new_run(struct crash *c, int kind, int source)
{
	struct run *r;

	c->runs = realloc(c->runs, (c->nruns + 1) * sizeof(*c->runs));
	assert_non_null(c->runs);
	r = &c->runs[c->nruns++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->source = source;
	return r;
}

/*
 * Spawns one command, kills it after delay_us unless delay_us is
 * UINT64_MAX, and checks what it left. Returns the run's duration when
 * it was not killed.
 */
static uint64_t
one_run(struct crash *c, int kind, int source, uint64_t delay_us)
{
	static const char *const put_args[] = { "put", "-f", SENDER, "-r",
	    RCPT1, "-r", RCPT2, NULL, NULL };
	const char *args[9];
	char tmp_names[8][64];
	struct run *r = new_run(c, kind, source);
	uint64_t start;
	size_t ntmp;
	pid_t pid;
	int status;

	if (kind == RUN_PUT) {
		memcpy(args, put_args, sizeof(args));
		args[7] = c->sources[source].path;
	} else {
		args[0] = "import";
		args[1] = c->importdir;
		args[2] = NULL;
	}
	start = now_us();
	pid = spawn_qstack(c, args);
	if (delay_us != UINT64_MAX) {
		sleep_us(delay_us);
		kill(pid, SIGKILL);
	}
	status = reap(pid);
	r->killed = status == -SIGKILL;
	r->exit_status = status;
	if (r->killed) {
		c->out_count.killed++;
	} else {
		c->out_count.completed++;
		if (status != 0 && c->bad.run_failed++ < SHOW_MAX)
			print_message("run %zu exited with %d\n", c->nruns - 1,
			    status);
	}
	if (kind == RUN_PUT)
		r->printed = read_printed_id(c, r->id);
	else
		r->printed = !r->killed && status == 0;

	ntmp = list_tmp(c, tmp_names, 8);
	if (ntmp > 0) {
		c->out_count.tmp_leftovers++;
		check_next_open(c, tmp_names, ntmp);
	}
	r->new_messages = scan_messages(c, (int)(c->nruns - 1));
	return now_us() - start;
}

static uint64_t
random_delay(struct crash *c, uint64_t run_us)
{
	uint64_t span = run_us * DELAY_SPAN_PERCENT / 100 + 1;

	return next_random(&c->rng) % span;
}

static void
run_all(struct crash *c)
{
	int i, k;

	/* undisturbed runs measure each command's duration */
	for (k = 0; k < NSOURCES; k++)
		c->sources[k].run_us = one_run(c, RUN_PUT, k, UINT64_MAX);
	c->import_us = one_run(c, RUN_IMPORT, -1, UINT64_MAX);

	for (i = 0; i < PUT_RUNS + IMPORT_RUNS; i++) {
		/* interleaved, so imports see a queue of every size */
		if (i % 4 == 3 && i / 4 < IMPORT_RUNS) {
			one_run(c, RUN_IMPORT, -1,
			    random_delay(c, c->import_us));
			continue;
		}
		k = (int)(next_random(&c->rng) % NSOURCES);
		one_run(c, RUN_PUT, k, random_delay(c, c->sources[k].run_us));
	}
}

/* Checks what each run added, against what it printed. */
static void
check_runs(struct crash *c)
{
	size_t i, j;

	for (i = 0; i < c->nruns; i++) {
		const struct run *r = &c->runs[i];
		int envelopes = -1;

		if (r->kind == RUN_PUT && r->new_messages > 1 &&
		    c->bad.put_many_new++ < SHOW_MAX)
			print_message("put run %zu added %zu messages\n", i,
			    r->new_messages);
		if (r->kind == RUN_IMPORT && r->printed &&
		    r->new_messages != IMPORT_FILES &&
		    c->bad.import_partial++ < SHOW_MAX)
			print_message("import run %zu finished but added %zu "
			    "messages\n", i, r->new_messages);
		for (j = 0; j < c->nseen; j++) {
			if (c->seen[j].run != (int)i)
				continue;
			envelopes = c->seen[j].envelopes;
			if (r->kind == RUN_IMPORT && r->printed &&
			    envelopes != 1 &&
			    c->bad.import_envelopes++ < SHOW_MAX)
				print_message("imported %s has %d envelopes\n",
				    c->seen[j].id, envelopes);
			if (r->kind == RUN_IMPORT && r->killed)
				c->out_count.import_messages++;
		}
		if (r->kind != RUN_PUT)
			continue;
		if (r->printed) {
			const struct seen *s = find_seen(c, r->id);

			if (s == NULL || s->run != (int)i) {
				if (c->bad.printed_missing++ < SHOW_MAX)
					print_message("printed id %s not "
					    "stored by its run\n", r->id);
			} else if (s->envelopes != 2 &&
			    c->bad.printed_envelopes++ < SHOW_MAX) {
				print_message("printed id %s has %d "
				    "envelopes\n", r->id, s->envelopes);
			}
			continue;
		}
		if (!r->killed)
			continue;
		if (envelopes < 0)
			c->out_count.no_message++;
		else if (envelopes == 0)
			c->out_count.no_envelopes++;
		else if (envelopes == 1)
			c->out_count.one_envelope++;
		else
			c->out_count.all_envelopes++;
	}
}

/* Copies the JSON string value of "key" from line into out. */
static int
json_field(const char *line, const char *key, char *out, size_t cap)
{
	char pattern[64];
	const char *p, *end;

	snprintf(pattern, sizeof(pattern), "\"%s\":\"", key);
	if ((p = strstr(line, pattern)) == NULL)
		return -1;
	p += strlen(pattern);
	if ((end = strchr(p, '"')) == NULL || (size_t)(end - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return 0;
}

/* Checks one problem line of qstack fsck --json. */
static void
check_fsck_line(struct crash *c, const char *line, int *no_envelopes)
{
	char id[64], problem[64];
	const struct seen *s;

	if (json_field(line, "id", id, sizeof(id)) != 0 ||
	    json_field(line, "problem", problem, sizeof(problem)) != 0 ||
	    strcmp(problem, "no-envelopes") != 0) {
		if (c->bad.fsck_bad++ < SHOW_MAX)
			print_message("fsck: %s\n", line);
		return;
	}
	(*no_envelopes)++;
	s = find_seen(c, id);
	if (s != NULL && c->runs[s->run].printed &&
	    c->bad.fsck_printed++ < SHOW_MAX)
		print_message("fsck: no envelopes for printed id %s\n", id);
	if ((s == NULL || s->envelopes != 0) &&
	    c->bad.fsck_unexpected++ < SHOW_MAX)
		print_message("fsck: no-envelopes for %s, which had %d\n", id,
		    s != NULL ? s->envelopes : -1);
}

static void
check_fsck(struct crash *c)
{
	static const char *const fsck[] = { "fsck", "--json", NULL };
	char *out, *line, *save = NULL;
	int status, no_envelopes = 0, expected = 0, summary = 0;
	size_t i;

	status = run_qstack(c, fsck);
	out = testq_read_file(c->out, NULL);
	assert_non_null(out);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "\"summary\":true") != NULL) {
			summary = 1;
			continue;
		}
		check_fsck_line(c, line, &no_envelopes);
	}
	free(out);
	for (i = 0; i < c->nseen; i++)
		expected += c->seen[i].envelopes == 0;
	if (!summary || (status != 0 && no_envelopes == 0))
		c->bad.fsck_failed++;
	if (no_envelopes != expected)
		c->bad.fsck_missed++;
	print_message("fsck: %d messages without envelopes, %d expected\n",
	    no_envelopes, expected);
}

/* Checks that qstack ls, the next open, lists exactly the scanned ids. */
static void
check_ls(struct crash *c)
{
	static const char *const ls[] = { "ls", NULL };
	char *out, *line, *save = NULL, *err;
	size_t listed = 0;

	if (run_qstack(c, ls) != 0)
		c->bad.ls_failed++;
	out = testq_read_file(c->out, NULL);
	err = testq_read_file(c->err, NULL);
	assert_non_null(out);
	assert_non_null(err);
	if (err[0] != '\0')
		print_message("qstack ls wrote to stderr: %s\n", err);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, " ")] = '\0';
		listed++;
		if (find_seen(c, line) == NULL &&
		    c->bad.ls_mismatch++ < SHOW_MAX)
			print_message("ls lists %s, which no scan found\n",
			    line);
	}
	if (listed != c->nseen && c->bad.ls_mismatch++ < SHOW_MAX)
		print_message("ls lists %zu messages, the scan %zu\n", listed,
		    c->nseen);
	free(out);
	free(err);
}

/*
 * Finds the source of a message from its first line. Returns the index,
 * or -1.
 */
static int
source_of(const uint8_t *data, size_t len)
{
	static const char tag[] = "X-Crash-Source: ";
	int k;

	if (len < sizeof(tag) + 2 || memcmp(data, tag, sizeof(tag) - 1) != 0)
		return -1;
	k = (data[sizeof(tag) - 1] - '0') * 10 + (data[sizeof(tag)] - '0');
	return k >= 0 && k < NSOURCES + IMPORT_FILES ? k : -1;
}

/*
 * Reads message s through the library and compares it with its source.
 * Returns the source index, or -1.
 */
static int
check_content(struct crash *c, const struct seen *s)
{
	const struct run *r = &c->runs[s->run];
	uint8_t *data = NULL;
	size_t len = 0;
	int k, rc;

	rc = testq_get(c->t.q, s->id, 65536, &data, &len);
	if (rc != QS_OK) {
		if (c->bad.read_failed++ < SHOW_MAX)
			print_message("reading %s failed: %s: %s\n", s->id,
			    qs_strerror(rc), qs_error(c->t.q));
		free(data);
		return -1;
	}
	k = r->kind == RUN_PUT ? r->source : source_of(data, len);
	if (r->kind == RUN_IMPORT && k < NSOURCES)
		k = -1;
	if (k < 0 || len != c->sources[k].len ||
	    memcmp(data, c->sources[k].data, len) != 0) {
		if (c->bad.content_wrong++ < SHOW_MAX)
			print_message("%s (%zu bytes) differs from source %d\n",
			    s->id, len, k);
		k = -1;
	}
	free(data);
	return k;
}

/*
 * Reads every message, and checks that the messages of each import run
 * are a prefix of the import folder in name order.
 */
static void
check_contents(struct crash *c)
{
	int *found = calloc(c->nruns, sizeof(int));
	size_t i;

	assert_non_null(found);
	assert_non_null(testq_open(&c->t, "queue compression lz4\n"
	    "queue encryption key-file \"%K\""));
	for (i = 0; i < c->nseen; i++) {
		const struct seen *s = &c->seen[i];
		int k = check_content(c, s);

		if (c->runs[s->run].kind == RUN_IMPORT && k >= NSOURCES)
			found[s->run] |= 1 << (k - NSOURCES);
	}
	testq_close(&c->t);
	for (i = 0; i < c->nruns; i++) {
		int mask = found[i];

		if (c->runs[i].kind != RUN_IMPORT)
			continue;
		/* a prefix of the files is a mask of the form 0...01...1 */
		if (((mask + 1) & mask) != 0 ||
		    __builtin_popcount((unsigned)mask) !=
		    (int)c->runs[i].new_messages) {
			if (c->bad.import_order++ < SHOW_MAX)
				print_message("import run %zu stored files "
				    "0x%x\n", i, (unsigned)mask);
		}
	}
	free(found);
}

/* Compares qstack get of some printed ids with their sources. */
static void
check_get_samples(struct crash *c)
{
	size_t i, printed = 0, step, done = 0;

	for (i = 0; i < c->nruns; i++)
		printed += c->runs[i].kind == RUN_PUT && c->runs[i].printed;
	step = printed / GET_SAMPLES + 1;
	for (i = 0, printed = 0; i < c->nruns; i++) {
		const struct run *r = &c->runs[i];
		const char *get[] = { "get", r->id, NULL };
		const struct source *s;
		size_t len;
		char *out;
		int status;

		if (r->kind != RUN_PUT || !r->printed || printed++ % step != 0)
			continue;
		s = &c->sources[r->source];
		status = run_qstack(c, get);
		out = testq_read_file(c->out, &len);
		assert_non_null(out);
		if ((status != 0 || len != s->len ||
		    memcmp(out, s->data, len) != 0) &&
		    c->bad.get_wrong++ < SHOW_MAX)
			print_message("qstack get %s: status %d, %zu bytes\n",
			    r->id, status, len);
		free(out);
		done++;
	}
	print_message("qstack get compared %zu printed ids\n", done);
}

static void
write_config(struct crash *c)
{
	char text[2 * PATH_LEN];

	snprintf(c->conf, sizeof(c->conf), "%s/qstack.conf", c->t.dir);
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n"
	    "queue compression lz4\nqueue encryption key-file \"%s\"\n",
	    c->t.qdir, c->t.keyfile);
	assert_int_equal(testq_write_file(c->conf, text, strlen(text)), 0);
}

static int
setup(void **state)
{
	const char *build = getenv("QSTACK_BUILD");
	const char *seed = getenv("QS_CRASH_SEED");
	struct crash *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -1;
	testq_setup(&c->t);
	snprintf(c->qstack, sizeof(c->qstack), "%s/qstack",
	    build != NULL ? build : "build");
	snprintf(c->srcdir, sizeof(c->srcdir), "%s/src", c->t.dir);
	snprintf(c->importdir, sizeof(c->importdir), "%s/import", c->t.dir);
	snprintf(c->out, sizeof(c->out), "%s/out", c->t.dir);
	snprintf(c->err, sizeof(c->err), "%s/err", c->t.dir);
	if (mkdir(c->srcdir, 0700) == -1 || mkdir(c->importdir, 0700) == -1)
		return -1;
	c->rng = seed != NULL ? strtoull(seed, NULL, 10) :
	    (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	if (c->rng == 0)
		c->rng = 1;
	write_config(c);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct crash *c = *state;
	size_t k;

	for (k = 0; k < NSOURCES + IMPORT_FILES; k++)
		free(c->sources[k].data);
	free(c->runs);
	free(c->seen);
	testq_teardown(&c->t);
	free(c);
	return 0;
}

static void
report(const struct crash *c, uint64_t started)
{
	const struct outcomes *o = &c->out_count;

	print_message("%zu runs: %d finished, %d killed, %d left files in "
	    "tmp; %zu messages stored\n", c->nruns, o->completed, o->killed,
	    o->tmp_leftovers, c->nseen);
	print_message("killed puts: %d stored nothing, %d a message without "
	    "envelopes, %d with one of two, %d with both but no id printed\n",
	    o->no_message, o->no_envelopes, o->one_envelope, o->all_envelopes);
	print_message("message directories without a message: %d\n",
	    o->bare_msgdirs);
	print_message("killed imports stored %d messages; undisturbed import "
	    "%llu us, put %llu to %llu us; %.1f s in all\n",
	    o->import_messages, (unsigned long long)c->import_us,
	    (unsigned long long)c->sources[0].run_us,
	    (unsigned long long)c->sources[NSOURCES - 1].run_us,
	    (double)(now_us() - started) / 1e6);
}

static void
test_kill_put_import(void **state)
{
	struct crash *c = *state;
	uint64_t started = now_us();

	if (access(c->qstack, X_OK) != 0)
		fail_msg("%s not found; run make first", c->qstack);
	print_message("seed %llu (set QS_CRASH_SEED to repeat)\n",
	    (unsigned long long)c->rng);
	make_sources(c);
	run_all(c);
	check_runs(c);
	check_ls(c);
	check_fsck(c);
	check_contents(c);
	check_get_samples(c);
	c->out_count.bare_msgdirs = count_bare_msgdirs(c);
	report(c, started);

	assert_int_equal(c->bad.run_failed, 0);
	assert_int_equal(c->bad.put_many_new, 0);
	assert_int_equal(c->bad.printed_missing, 0);
	assert_int_equal(c->bad.printed_envelopes, 0);
	assert_int_equal(c->bad.import_partial, 0);
	assert_int_equal(c->bad.import_envelopes, 0);
	assert_int_equal(c->bad.import_order, 0);
	assert_int_equal(c->bad.tmp_left, 0);
	assert_int_equal(c->bad.removal_not_logged, 0);
	assert_int_equal(c->bad.ls_failed, 0);
	assert_int_equal(c->bad.ls_mismatch, 0);
	assert_int_equal(c->bad.fsck_failed, 0);
	assert_int_equal(c->bad.fsck_bad, 0);
	assert_int_equal(c->bad.fsck_printed, 0);
	assert_int_equal(c->bad.fsck_unexpected, 0);
	assert_int_equal(c->bad.fsck_missed, 0);
	assert_int_equal(c->bad.read_failed, 0);
	assert_int_equal(c->bad.content_wrong, 0);
	assert_int_equal(c->bad.get_wrong, 0);
	/* the kills must have landed before, during and after writing */
	assert_true(c->out_count.killed > 0);
	assert_true(c->out_count.completed > NSOURCES + 1);
	assert_true(c->out_count.no_message > 0);
	assert_true(c->out_count.tmp_leftovers > 0);
}

/* Returns a process id that has just exited and been reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(reap(pid), 0);
	return pid;
}

static void
make_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[2 * PATH_LEN];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(testq_write_file(path, data, len), 0);
}

/*
 * Temporary files of a dead process are removed at the next open and
 * the removal is logged; a file of a live process stays.
 */
static void
test_open_removes_stale_tmp(void **state)
{
	static const char *const ls[] = { "ls", NULL };
	struct crash *c = *state;
	char tmpdir[PATH_LEN], stale[64], stale_empty[64], live[64];
	char names[8][64], *err;
	size_t n;

	assert_int_equal(run_qstack(c, ls), 0);
	snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", c->t.qdir);
	snprintf(stale, sizeof(stale), "%ld-0123456789abcdef",
	    (long)dead_pid());
	snprintf(stale_empty, sizeof(stale_empty), "%ld-00000000000000ff",
	    (long)dead_pid());
	snprintf(live, sizeof(live), "%ld-fedcba9876543210", (long)getpid());
	make_file(tmpdir, stale, "partial blob", 12);
	make_file(tmpdir, stale_empty, "", 0);
	make_file(tmpdir, live, "being written", 13);

	assert_int_equal(run_qstack(c, ls), 0);
	err = testq_read_file(c->err, NULL);
	assert_non_null(err);
	print_message("stderr of the next open:\n%s", err);
	assert_non_null(strstr(err, stale));
	assert_non_null(strstr(err, stale_empty));
	assert_null(strstr(err, live));
	assert_non_null(strstr(err, "removed"));
	free(err);
	n = list_tmp(c, names, 8);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], live);
}

/*
 * A 0-byte message blob and a 0-byte envelope. The fsync before each
 * rename keeps a crash from leaving them, but a damaged disk or a copied
 * queue still can. The open leaves them in place, get fails on the
 * message, fsck reports both as truncated and --quarantine moves them.
 */
static void
test_zero_byte_blob(void **state)
{
	static const char *const ls[] = { "ls", NULL };
	static const char *const fsck[] = { "fsck", NULL };
	static const char *const quarantine[] = { "fsck", "--quarantine",
	    NULL };
	struct crash *c = *state;
	const char *put[] = { "put", "-r", RCPT1, NULL, NULL };
	const char *get[] = { "get", "ab00000000000001", NULL };
	char dir[PATH_LEN], good[MSGID_LEN + 1], envname[EVPID_LEN + 1];
	char *out, *err;

	snprintf(dir, sizeof(dir), "%s/mail", c->t.dir);
	assert_int_equal(testq_write_file(dir, "Subject: good\n\nbody\n", 20), 0);
	put[3] = dir;
	assert_int_equal(run_qstack(c, put), 0);
	assert_true(read_printed_id(c, good));

	snprintf(dir, sizeof(dir), "%s/msg/ab", c->t.qdir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/msg/ab/ab00000000000001", c->t.qdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	make_file(dir, "message", "", 0);
	snprintf(envname, sizeof(envname), "ab00000000000001%08x", 1);
	make_file(dir, envname, "", 0);

	/*
	 * The open neither removes nor moves them. ls lists the message and
	 * fails on the envelope, which it cannot load.
	 */
	assert_int_equal(run_qstack(c, ls), 1);
	out = testq_read_file(c->out, NULL);
	err = testq_read_file(c->err, NULL);
	assert_non_null(out);
	assert_non_null(err);
	print_message("ls with a 0-byte message and envelope:\n%sstderr:\n%s",
	    out, err);
	assert_non_null(strstr(out, "ab00000000000001"));
	assert_non_null(strstr(err, envname));
	assert_non_null(strstr(err, "truncated"));
	assert_null(strstr(err, "removed"));
	free(out);
	free(err);

	assert_int_not_equal(run_qstack(c, get), 0);
	err = testq_read_file(c->err, NULL);
	assert_non_null(err);
	assert_non_null(strstr(err, "truncated"));
	free(err);

	assert_int_not_equal(run_qstack(c, fsck), 0);
	out = testq_read_file(c->out, NULL);
	assert_non_null(out);
	print_message("fsck:\n%s", out);
	assert_non_null(strstr(out, "message ab00000000000001 truncated"));
	assert_non_null(strstr(out, envname));
	assert_null(strstr(out, good));
	free(out);

	assert_int_not_equal(run_qstack(c, quarantine), 0);
	assert_int_equal(run_qstack(c, fsck), 0);
	assert_int_equal(run_qstack(c, ls), 0);
	out = testq_read_file(c->out, NULL);
	assert_non_null(out);
	assert_null(strstr(out, "ab00000000000001"));
	assert_non_null(strstr(out, good));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_kill_put_import, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_removes_stale_tmp,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_byte_blob, setup,
		    teardown),
	};
	int failed;

	/* keeps the closing line last when stdout and stderr share a file */
	setvbuf(stdout, NULL, _IOLBF, 0);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	fflush(stderr);
	printf("%d passed, %d failed\n",
	    (int)(sizeof(tests) / sizeof(tests[0])) - failed, failed);
	return failed;
}
