/*
 * Several processes put, read and delete messages with envelopes in one
 * fs queue at the same time, under lz4 and crypto-evp. Every message's
 * size and bytes follow from its slot number, so any process can check
 * any message. The parent then checks the queue as a whole.
 *
 * A worker deletes only its own messages, and only those whose slot
 * marks them for deletion. The slot state, in shared memory, defines
 * what a reader expects:
 *   kept      The message and its envelopes read back exactly.
 *   doomed    The message may be gone (QS_ERR_NOTFOUND), but a reader
 *             that opened it reads it exactly, because the fs backend
 *             reads through a descriptor that unlink(2) does not affect.
 *   deleted   qs_msg_delete has returned, so nothing of it may be found.
 * Every other result is a failure.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers/testq.h"

#define NWORKERS 4
#define NMSGS 2000
#define MAX_SIZE (200 * 1024)
#define MAX_ENVS 3
#define ENV_CAP 128

/* Seconds after which a worker is killed, so a hang fails the test. */
#define WORKER_TIMEOUT 300

/* Reads of random slots after each put. */
#define READS_PER_PUT 2

/* How many of the newest slots count as recent for reads. */
#define RECENT_SLOTS 16

/* Fixed so that a failure can be replayed with the same messages. */
#define RUN_SEED 0x51a7c0de5eedULL

static const char conf[] = "queue compression lz4\n"
    "queue encryption key-file \"%K\"";

enum slot_state {
	SLOT_EMPTY,
	SLOT_KEPT,
	SLOT_DOOMED,
	SLOT_DELETING,
	SLOT_DELETED,
};

/* One message, published by its owner through state. */
struct slot {
	uint32_t state;           /* enum slot_state, accessed atomically */
	uint32_t nenv;
	char msgid[QS_ID_MAX];
	char evpid[MAX_ENVS][QS_ID_MAX];
};

/* Counters of one worker, written by it and read by the parent. */
struct report {
	uint64_t puts;
	uint64_t envelopes;
	uint64_t deletes;
	uint64_t reads_exact;     /* messages compared byte for byte */
	uint64_t reads_gone;      /* doomed messages already deleted */
	uint64_t reads_absent;    /* deleted messages confirmed absent */
	uint64_t envelopes_exact;
	uint64_t envelopes_gone;  /* of doomed messages, already deleted */
	uint64_t failures;
	double seconds;
	char first_failure[512];
};

struct shared {
	struct slot slots[NMSGS];
	struct report reports[NWORKERS];
};

/* What a slot's message is, derived from its number alone. */
struct spec {
	uint32_t seed;
	size_t size;
	int doomed;
	uint32_t nenv;
};

struct worker {
	struct testq t;
	struct shared *sh;
	struct report *rep;
	unsigned index;
	uint64_t rng;
	uint8_t *want;            /* MAX_SIZE bytes */
	size_t doomed[NMSGS / NWORKERS + 1];
	size_t ndoomed;
};

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t
next_random(uint64_t *state)
{
	*state += 1;
	return mix64(*state);
}

static void
slot_spec(size_t i, struct spec *s)
{
	uint64_t h = mix64(RUN_SEED + i);

	s->seed = (uint32_t)h;
	s->size = (size_t)((h >> 32) % (MAX_SIZE + 1));
	s->doomed = (h >> 20) % 3 == 0;
	s->nenv = 1 + (uint32_t)((h >> 24) % MAX_ENVS);
}

/* Writes envelope j of slot i into buf and returns its length. */
static size_t
env_content(size_t i, uint32_t j, char *buf)
{
	int n = snprintf(buf, ENV_CAP, "rcpt%zu.%u@example.org slot %zu "
	    "envelope %u", i, j, i, j);

	return n > 0 ? (size_t)n : 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void __attribute__((format(printf, 2, 3)))
worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->rep->failures++ == 0) {
		va_start(ap, fmt);
		vsnprintf(w->rep->first_failure,
		    sizeof(w->rep->first_failure), fmt, ap);
		va_end(ap);
	}
}

static const char *
queue_error(const struct worker *w)
{
	return w->t.q != NULL ? qs_error(w->t.q) : w->t.err;
}

/* Stores len bytes as a new message, in pieces of random sizes. */
static int
put_pieces(struct worker *w, const uint8_t *data, size_t len, char *id)
{
	static const size_t sizes[] = { 1000, 4096, 65536, 100000 };
	struct qs_msg_writer *wr;
	size_t off = 0, n;
	int rc;

	if ((rc = qs_msg_create(w->t.q, &wr)) != QS_OK)
		return rc;
	strcpy(id, qs_msg_writer_id(wr));
	while (off < len) {
		n = sizes[next_random(&w->rng) % 4];
		n = n < len - off ? n : len - off;
		if ((rc = qs_msg_write(wr, data + off, n)) != QS_OK) {
			qs_msg_abort(wr);
			return rc;
		}
		off += n;
	}
	return qs_msg_commit(wr, NULL);
}

static void
put_slot(struct worker *w, size_t i)
{
	struct slot *s = &w->sh->slots[i];
	char env[ENV_CAP];
	struct spec sp;
	uint32_t j;
	int rc;

	slot_spec(i, &sp);
	testq_pattern(w->want, sp.size, sp.seed);
	rc = put_pieces(w, w->want, sp.size, s->msgid);
	if (rc != QS_OK) {
		worker_fail(w, "slot %zu: storing %zu bytes failed: %s: %s",
		    i, sp.size, qs_strerror(rc), queue_error(w));
		return;
	}
	w->rep->puts++;
	for (j = 0; j < sp.nenv; j++) {
		rc = qs_env_create(w->t.q, s->msgid, env,
		    env_content(i, j, env), s->evpid[j]);
		if (rc != QS_OK) {
			worker_fail(w, "slot %zu: envelope %u of message %s "
			    "failed: %s: %s", i, j, s->msgid, qs_strerror(rc),
			    queue_error(w));
			return;
		}
		w->rep->envelopes++;
	}
	s->nenv = sp.nenv;
	if (sp.doomed)
		w->doomed[w->ndoomed++] = i;
	__atomic_store_n(&s->state, sp.doomed ? SLOT_DOOMED : SLOT_KEPT,
	    __ATOMIC_RELEASE);
}

/*
 * Reads message i. Returns QS_OK when it read back exactly, otherwise
 * the status of the failing call, or QS_ERR_CORRUPT when the bytes
 * differ.
 */
static int
read_slot_message(struct worker *w, size_t i, const struct slot *s)
{
	struct spec sp;
	uint8_t *got;
	size_t len;
	int rc;

	slot_spec(i, &sp);
	rc = testq_get(w->t.q, s->msgid, 32768, &got, &len);
	if (rc == QS_OK) {
		testq_pattern(w->want, sp.size, sp.seed);
		if (len != sp.size || (len > 0 &&
		    memcmp(got, w->want, len) != 0))
			rc = QS_ERR_CORRUPT;
	}
	free(got);
	return rc;
}

/*
 * Loads envelope j of slot i. Returns QS_ERR_CORRUPT when the bytes
 * differ.
 */
static int
read_slot_envelope(struct worker *w, size_t i, const struct slot *s,
    uint32_t j)
{
	char want[ENV_CAP], got[ENV_CAP];
	size_t want_len = env_content(i, j, want), len;
	int rc;

	rc = qs_env_load(w->t.q, s->evpid[j], got, sizeof(got), &len);
	if (rc == QS_OK && (len != want_len || memcmp(got, want, len) != 0))
		rc = QS_ERR_CORRUPT;
	return rc;
}

static void
check_kept(struct worker *w, size_t i, const struct slot *s)
{
	uint32_t j;
	int rc;

	if ((rc = read_slot_message(w, i, s)) != QS_OK) {
		worker_fail(w, "slot %zu: kept message %s: %s: %s", i,
		    s->msgid, qs_strerror(rc), queue_error(w));
		return;
	}
	w->rep->reads_exact++;
	for (j = 0; j < s->nenv; j++) {
		if ((rc = read_slot_envelope(w, i, s, j)) != QS_OK) {
			worker_fail(w, "slot %zu: envelope %s of kept message: "
			    "%s: %s", i, s->evpid[j], qs_strerror(rc),
			    queue_error(w));
			return;
		}
		w->rep->envelopes_exact++;
	}
}

static void
check_doomed(struct worker *w, size_t i, const struct slot *s)
{
	uint32_t j;
	int rc;

	rc = read_slot_message(w, i, s);
	if (rc == QS_ERR_NOTFOUND)
		w->rep->reads_gone++;
	else if (rc == QS_OK)
		w->rep->reads_exact++;
	else
		worker_fail(w, "slot %zu: message %s, which its owner may be "
		    "deleting: %s: %s", i, s->msgid, qs_strerror(rc),
		    queue_error(w));
	for (j = 0; j < s->nenv; j++) {
		rc = read_slot_envelope(w, i, s, j);
		if (rc == QS_OK)
			w->rep->envelopes_exact++;
		else if (rc == QS_ERR_NOTFOUND)
			w->rep->envelopes_gone++;
		else
			worker_fail(w, "slot %zu: envelope %s, which its owner "
			    "may be deleting: %s: %s", i, s->evpid[j],
			    qs_strerror(rc), queue_error(w));
	}
}

static void
check_deleted(struct worker *w, size_t i, const struct slot *s)
{
	struct qs_msg_reader *r;
	uint32_t j;
	int rc;

	rc = qs_msg_open(w->t.q, s->msgid, &r);
	if (rc == QS_OK)
		qs_msg_close(r);
	if (rc != QS_ERR_NOTFOUND) {
		worker_fail(w, "slot %zu: message %s opens with status %s "
		    "after its delete returned", i, s->msgid,
		    qs_strerror(rc));
		return;
	}
	for (j = 0; j < s->nenv; j++) {
		rc = read_slot_envelope(w, i, s, j);
		if (rc != QS_ERR_NOTFOUND) {
			worker_fail(w, "slot %zu: envelope %s loads with "
			    "status %s after its message was deleted", i,
			    s->evpid[j], qs_strerror(rc));
			return;
		}
	}
	w->rep->reads_absent++;
}

/*
 * Checks a random slot below frontier, the slots that workers moving at
 * this worker's pace have filled. Half of the picks come from the last
 * RECENT_SLOTS of them, where deletes are still running.
 */
static void
check_random_slot(struct worker *w, size_t frontier)
{
	uint64_t x = next_random(&w->rng);
	size_t i;
	const struct slot *s;

	if (x % 2 == 0 && frontier > RECENT_SLOTS)
		i = frontier - 1 - (size_t)((x >> 1) % RECENT_SLOTS);
	else
		i = (size_t)((x >> 1) % frontier);
	s = &w->sh->slots[i];

	switch (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) {
	case SLOT_KEPT:
		check_kept(w, i, s);
		break;
	case SLOT_DOOMED:
	case SLOT_DELETING:
		check_doomed(w, i, s);
		break;
	case SLOT_DELETED:
		check_deleted(w, i, s);
		break;
	default:
		break;
	}
}

/* Deletes one of this worker's doomed messages. */
static void
delete_one(struct worker *w)
{
	uint64_t x = next_random(&w->rng);
	size_t k, i;
	struct slot *s;
	int rc;

	/* the newest half the time, to meet readers of recent slots */
	k = x % 2 == 0 ? w->ndoomed - 1 : (size_t)((x >> 1) % w->ndoomed);
	i = w->doomed[k];
	s = &w->sh->slots[i];

	w->doomed[k] = w->doomed[--w->ndoomed];
	__atomic_store_n(&s->state, SLOT_DELETING, __ATOMIC_RELEASE);
	if ((rc = qs_msg_delete(w->t.q, s->msgid)) != QS_OK) {
		worker_fail(w, "slot %zu: deleting message %s failed: %s: %s",
		    i, s->msgid, qs_strerror(rc), queue_error(w));
		return;
	}
	w->rep->deletes++;
	__atomic_store_n(&s->state, SLOT_DELETED, __ATOMIC_RELEASE);
	check_deleted(w, i, s);
}

static void
run_worker(struct worker *w)
{
	size_t i, r;

	for (i = w->index; i < NMSGS; i += NWORKERS) {
		put_slot(w, i);
		for (r = 0; r < READS_PER_PUT; r++)
			check_random_slot(w, i - w->index + NWORKERS);
		if (w->ndoomed > 0 && next_random(&w->rng) % 2 == 0)
			delete_one(w);
	}
	while (w->ndoomed > 0)
		delete_one(w);
}

/*
 * Body of a worker process: waits until the parent closes start_fd, so
 * that all workers open the queue at once, then runs and exits without
 * returning to the test runner.
 */
static void __attribute__((noreturn))
worker_main(const struct testq *t, struct shared *sh, unsigned index,
    int start_fd)
{
	struct worker *w = calloc(1, sizeof(*w));
	char c;
	double t0;

	if (w == NULL || (w->want = malloc(MAX_SIZE)) == NULL)
		_exit(2);
	alarm(WORKER_TIMEOUT);
	w->t = *t;
	w->t.q = NULL;
	w->sh = sh;
	w->rep = &sh->reports[index];
	w->index = index;
	w->rng = RUN_SEED * (index + 1);
	while (read(start_fd, &c, 1) == -1 && errno == EINTR)
		continue;
	t0 = now();
	if (testq_open(&w->t, conf) == NULL)
		worker_fail(w, "worker %u cannot open the queue: %s", index,
		    w->t.err);
	else
		run_worker(w);
	w->rep->seconds = now() - t0;
	testq_close(&w->t);
	_exit(w->rep->failures == 0 ? 0 : 1);
}

static int
setup(void **state)
{
	struct testq *t = malloc(sizeof(*t));

	if (t == NULL)
		return -1;
	testq_setup(t);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	testq_teardown(*state);
	free(*state);
	return 0;
}

static void
print_report(unsigned i, const struct report *r, int status)
{
	print_message("worker %u: %.1f s, %llu puts, %llu envelopes, "
	    "%llu deletes; reads: %llu exact, %llu deleted meanwhile, "
	    "%llu confirmed absent; envelopes: %llu exact, %llu "
	    "deleted meanwhile\n", i, r->seconds,
	    (unsigned long long)r->puts,
	    (unsigned long long)r->envelopes,
	    (unsigned long long)r->deletes,
	    (unsigned long long)r->reads_exact,
	    (unsigned long long)r->reads_gone,
	    (unsigned long long)r->reads_absent,
	    (unsigned long long)r->envelopes_exact,
	    (unsigned long long)r->envelopes_gone);
	if (r->failures > 0)
		print_error("worker %u: %llu failures, first: %s\n", i,
		    (unsigned long long)r->failures, r->first_failure);
	if (WIFSIGNALED(status))
		print_error("worker %u: killed by signal %d\n", i,
		    WTERMSIG(status));
}

/* Runs the workers and waits for all of them before checking any. */
static void
run_workers(const struct testq *t, struct shared *sh)
{
	pid_t pids[NWORKERS];
	int start[2], status[NWORKERS];
	unsigned i;

	assert_int_equal(pipe(start), 0);
	for (i = 0; i < NWORKERS; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			close(start[1]);
			worker_main(t, sh, i, start[0]);
		}
		if (pids[i] == -1)
			print_error("fork failed: %s\n", strerror(errno));
	}
	close(start[0]);
	close(start[1]);
	for (i = 0; i < NWORKERS; i++) {
		status[i] = -1;
		if (pids[i] > 0 && waitpid(pids[i], &status[i], 0) != pids[i])
			status[i] = -1;
		print_report(i, &sh->reports[i], status[i]);
	}
	for (i = 0; i < NWORKERS; i++) {
		const struct report *r = &sh->reports[i];

		assert_true(pids[i] > 0);
		assert_true(WIFEXITED(status[i]));
		assert_int_equal(WEXITSTATUS(status[i]), 0);
		assert_int_equal(r->failures, 0);
		assert_int_equal(r->puts, NMSGS / NWORKERS);
	}
}

/* Counts the entries of dir other than "." and "..". */
static size_t
count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		print_error("left in %s: %s\n", dir, de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* A kept message id and its slot. The id comes first, for strcmp. */
struct kept_entry {
	char id[QS_ID_MAX];
	size_t slot;
};

/* Kept messages, sorted by id. */
struct kept_index {
	struct kept_entry *entries;
	size_t n;
};

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Returns the slot of a kept message id, or NMSGS when there is none. */
static size_t
kept_slot(const struct kept_index *k, const char *id)
{
	const struct kept_entry *hit;

	hit = bsearch(id, k->entries, k->n, sizeof(*k->entries), compare_ids);
	return hit == NULL ? NMSGS : hit->slot;
}

/* Indexes kept slots. Every slot must have ended kept or deleted. */
static void
index_kept(const struct shared *sh, struct kept_index *k)
{
	size_t i, deleted = 0;

	k->entries = calloc(NMSGS, sizeof(*k->entries));
	assert_non_null(k->entries);
	k->n = 0;
	for (i = 0; i < NMSGS; i++) {
		if (sh->slots[i].state == SLOT_KEPT) {
			strcpy(k->entries[k->n].id, sh->slots[i].msgid);
			k->entries[k->n++].slot = i;
		} else if (sh->slots[i].state == SLOT_DELETED)
			deleted++;
	}
	assert_int_equal(k->n + deleted, NMSGS);
	qsort(k->entries, k->n, sizeof(*k->entries), compare_ids);
	for (i = 0; i + 1 < k->n; i++)
		assert_int_not_equal(strcmp(k->entries[i].id,
		    k->entries[i + 1].id), 0);
	print_message("%zu messages kept, %zu deleted\n", k->n, deleted);
}

struct walk {
	const struct kept_index *kept;
	const struct shared *sh;
	size_t seen;
	size_t unknown;
	char first_unknown[QS_ID_MAX];
};

static int
walk_message(void *arg, const char *id)
{
	struct walk *w = arg;

	w->seen++;
	if (kept_slot(w->kept, id) == NMSGS && w->unknown++ == 0)
		snprintf(w->first_unknown, QS_ID_MAX, "%s", id);
	return 0;
}

/* Counts envelopes whose id is not one of their kept message's. */
static int
walk_envelope(void *arg, const char *evpid)
{
	struct walk *w = arg;
	char msgid[QS_ID_MAX];
	size_t i;
	uint32_t j;
	int known = 0;

	w->seen++;
	if (qs_env_msgid(evpid, msgid, sizeof(msgid)) == QS_OK &&
	    (i = kept_slot(w->kept, msgid)) < NMSGS)
		for (j = 0; j < w->sh->slots[i].nenv; j++)
			known |= strcmp(w->sh->slots[i].evpid[j], evpid) == 0;
	if (!known && w->unknown++ == 0)
		snprintf(w->first_unknown, QS_ID_MAX, "%s", evpid);
	return 0;
}

/* Files and message directories under PATH/msg that nothing expects. */
static const struct kept_index *tree_kept;
static const struct shared *tree_sh;
static size_t tree_files, tree_unexpected;

static int
tree_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	const char *name = path + ftw->base;
	char parent[QS_ID_MAX];
	size_t i, plen;
	uint32_t j;
	int known = 0;

	if (flag == FTW_D && ftw->level == 2) {
		if (kept_slot(tree_kept, name) == NMSGS) {
			print_error("unexpected message directory %s\n", path);
			tree_unexpected++;
		}
		return 0;
	}
	if (flag != FTW_F)
		return 0;
	tree_files++;
	plen = (size_t)(ftw->base > 0 ? ftw->base - 1 : 0);
	snprintf(parent, sizeof(parent), "%.*s", 16,
	    plen >= 16 ? path + plen - 16 : "");
	i = kept_slot(tree_kept, parent);
	if (i < NMSGS) {
		known = strcmp(name, "message") == 0;
		for (j = 0; j < tree_sh->slots[i].nenv; j++)
			known |= strcmp(name, tree_sh->slots[i].evpid[j]) == 0;
	}
	if (!known) {
		print_error("unexpected file %s\n", path);
		tree_unexpected++;
	}
	return 0;
}

static void
check_tree(const struct testq *t, const struct shared *sh,
    const struct kept_index *k, size_t nenv)
{
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/msg", t->qdir);
	tree_kept = k;
	tree_sh = sh;
	tree_files = tree_unexpected = 0;
	assert_int_equal(nftw(dir, tree_entry, 16, FTW_PHYS), 0);
	assert_int_equal(tree_unexpected, 0);
	assert_int_equal(tree_files, k->n + nenv);
}

/* Every kept message and envelope reads back exactly. */
static size_t
check_kept_contents(struct testq *t, const struct shared *sh,
    const struct kept_index *k)
{
	struct worker w;
	size_t n, i, nenv = 0;
	struct walk one;
	uint32_t j;

	memset(&w, 0, sizeof(w));
	w.t = *t;
	w.sh = (struct shared *)sh;
	w.rep = calloc(1, sizeof(*w.rep));
	w.want = malloc(MAX_SIZE);
	assert_non_null(w.rep);
	assert_non_null(w.want);
	for (n = 0; n < k->n; n++) {
		const struct slot *s = &sh->slots[k->entries[n].slot];

		i = k->entries[n].slot;
		assert_int_equal(read_slot_message(&w, i, s), QS_OK);
		for (j = 0; j < s->nenv; j++)
			assert_int_equal(read_slot_envelope(&w, i, s, j),
			    QS_OK);
		memset(&one, 0, sizeof(one));
		one.kept = k;
		one.sh = sh;
		assert_int_equal(qs_env_walk(t->q, s->msgid, walk_envelope,
		    &one), QS_OK);
		assert_int_equal(one.seen, s->nenv);
		assert_int_equal(one.unknown, 0);
		nenv += s->nenv;
	}
	free(w.rep);
	free(w.want);
	return nenv;
}

static void
check_deleted_absent(struct testq *t, const struct shared *sh)
{
	struct qs_msg_reader *r;
	struct stat st;
	char dir[512];
	size_t i;

	for (i = 0; i < NMSGS; i++) {
		const struct slot *s = &sh->slots[i];

		if (s->state != SLOT_DELETED)
			continue;
		assert_int_equal(qs_msg_open(t->q, s->msgid, &r),
		    QS_ERR_NOTFOUND);
		snprintf(dir, sizeof(dir), "%s/msg/%.2s/%s", t->qdir,
		    s->msgid, s->msgid);
		assert_int_equal(stat(dir, &st), -1);
		assert_int_equal(errno, ENOENT);
	}
}

static void
check_queue(struct testq *t, const struct shared *sh)
{
	struct kept_index k;
	struct walk all;
	char tmp[512];
	size_t nenv;

	/* before any open, which removes files of dead processes */
	snprintf(tmp, sizeof(tmp), "%s/tmp", t->qdir);
	assert_int_equal(count_entries(tmp), 0);
	index_kept(sh, &k);
	if (testq_open(t, conf) == NULL)
		fail_msg("cannot open the queue to check it: %s", t->err);

	memset(&all, 0, sizeof(all));
	all.kept = &k;
	all.sh = sh;
	assert_int_equal(qs_msg_walk(t->q, walk_message, &all), QS_OK);
	if (all.unknown > 0)
		print_error("%zu unexpected messages, first %s\n", all.unknown,
		    all.first_unknown);
	assert_int_equal(all.unknown, 0);
	assert_int_equal(all.seen, k.n);

	nenv = check_kept_contents(t, sh, &k);
	memset(&all, 0, sizeof(all));
	all.kept = &k;
	all.sh = sh;
	assert_int_equal(qs_env_walk(t->q, NULL, walk_envelope, &all), QS_OK);
	if (all.unknown > 0)
		print_error("%zu unexpected envelopes, first %s\n", all.unknown,
		    all.first_unknown);
	assert_int_equal(all.unknown, 0);
	assert_int_equal(all.seen, nenv);

	check_deleted_absent(t, sh);
	check_tree(t, sh, &k, nenv);
	free(k.entries);
}

static void
workers_share_queue(void **state)
{
	struct testq *t = *state;
	struct shared *sh;
	double t0, t1;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	t0 = now();
	run_workers(t, sh);
	t1 = now();
	check_queue(t, sh);
	print_message("%d workers, %d messages: %.1f s running, %.1f s "
	    "checking\n", NWORKERS, NMSGS, t1 - t0, now() - t1);
	munmap(sh, sizeof(*sh));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(workers_share_queue, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
