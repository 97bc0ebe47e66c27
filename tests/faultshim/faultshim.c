/*
 * faultshim: an LD_PRELOAD library for fault-injection tests. It makes
 * the Nth matching call of one function fail with a chosen errno and
 * lets every other call through unchanged. Set in the environment:
 *
 *   QS_FAULT_CALL   write, read, fsync or rename. read also covers
 *                   __read_chk, fsync also covers fdatasync, and rename
 *                   covers rename, renameat and renameat2.
 *   QS_FAULT_NTH    which matching call fails, counting from 1
 *   QS_FAULT_ERRNO  ENOSPC, EIO or a decimal errno value
 *   QS_FAULT_PATH   absolute path without symbolic links. Only calls on
 *                   this file, or on files under this directory, count.
 *   QS_FAULT_LOG    optional file. The shim appends "fired CALL N PATH"
 *                   when it injects the fault and "calls CALL COUNT" at
 *                   exit, with the number of matching calls.
 *
 * A call matches when the file behind its descriptor, as
 * /proc/self/fd/N names it, lies under QS_FAULT_PATH. A rename matches
 * when its old or its new name does. Because of this filter, the calls
 * of the dynamic loader and OpenSSL, the reads of the configuration and
 * key files and the error output on stderr never count. N then numbers
 * only the program's own operations on the queue or the input file.
 * Without QS_FAULT_CALL the shim does nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALL_NONE   0
#define CALL_WRITE  1
#define CALL_READ   2
#define CALL_FSYNC  3
#define CALL_RENAME 4

static const char *const call_names[] = {
	"none", "write", "read", "fsync", "rename",
};

static int configured;
static int fault_call = CALL_NONE;
static long fault_nth;
static int fault_errno;
static const char *fault_path;
static size_t fault_path_len;
static const char *fault_log;
static long matched;

static ssize_t (*next_write)(int, const void *, size_t);
static ssize_t (*next_read)(int, void *, size_t);
static ssize_t (*next_read_chk)(int, void *, size_t, size_t);
static int (*next_fsync)(int);
static int (*next_fdatasync)(int);
static int (*next_rename)(const char *, const char *);
static int (*next_renameat)(int, const char *, int, const char *);
static int (*next_renameat2)(int, const char *, int, const char *,
    unsigned int);

static int
parse_errno(const char *text)
{
	if (text == NULL || strcmp(text, "EIO") == 0)
		return EIO;
	if (strcmp(text, "ENOSPC") == 0)
		return ENOSPC;
	if (strcmp(text, "EDQUOT") == 0)
		return EDQUOT;
	return atoi(text) > 0 ? atoi(text) : EIO;
}

static void
configure(void)
{
	const char *call, *nth;
	size_t i;

	if (configured)
		return;
	configured = 1;
	call = getenv("QS_FAULT_CALL");
	nth = getenv("QS_FAULT_NTH");
	fault_path = getenv("QS_FAULT_PATH");
	fault_log = getenv("QS_FAULT_LOG");
	fault_errno = parse_errno(getenv("QS_FAULT_ERRNO"));
	if (call == NULL || nth == NULL || fault_path == NULL ||
	    fault_path[0] != '/')
		return;
	fault_nth = atol(nth);
	fault_path_len = strlen(fault_path);
	while (fault_path_len > 1 && fault_path[fault_path_len - 1] == '/')
		fault_path_len--;
	for (i = 1; i < sizeof(call_names) / sizeof(call_names[0]); i++) {
		if (strcmp(call, call_names[i]) == 0)
			fault_call = (int)i;
	}
}

/* Returns 1 when path is fault_path or lies under it. */
static int
under_fault_path(const char *path)
{
	if (strncmp(path, fault_path, fault_path_len) != 0)
		return 0;
	return path[fault_path_len] == '\0' || path[fault_path_len] == '/';
}

/* Writes the path of descriptor fd into buf. Returns 0 or -1. */
static int
fd_path(int fd, char *buf, size_t cap)
{
	char link[64];
	ssize_t n;

	if (fd == AT_FDCWD)
		return getcwd(buf, cap) != NULL ? 0 : -1;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, cap - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Writes the absolute form of name, relative to dirfd, into buf. */
static int
at_path(int dirfd, const char *name, char *buf, size_t cap)
{
	size_t used;

	if (name[0] == '/') {
		snprintf(buf, cap, "%s", name);
		return 0;
	}
	if (fd_path(dirfd, buf, cap) != 0)
		return -1;
	used = strlen(buf);
	snprintf(buf + used, cap - used, "/%s", name);
	return 0;
}

static void
append_log(const char *line)
{
	int fd, saved = errno;

	if (fault_log == NULL)
		return;
	fd = open(fault_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (next_write == NULL)
			next_write = dlsym(RTLD_NEXT, "write");
		if (next_write != NULL)
			next_write(fd, line, strlen(line));
		close(fd);
	}
	errno = saved;
}

/*
 * Counts a call of kind call on path. Returns 1 when that call must
 * fail. A NULL path, one that could not be resolved, never counts.
 */
static int
must_fail(int call, const char *path)
{
	char line[PATH_MAX + 64];

	if (fault_call != call || path == NULL || !under_fault_path(path))
		return 0;
	if (__atomic_add_fetch(&matched, 1, __ATOMIC_RELAXED) != fault_nth)
		return 0;
	snprintf(line, sizeof(line), "fired %s %ld %s\n", call_names[call],
	    fault_nth, path);
	append_log(line);
	return 1;
}

static int
fd_must_fail(int call, int fd)
{
	char path[PATH_MAX];
	int saved = errno, fail;

	configure();
	if (fault_call != call)
		return 0;
	fail = must_fail(call, fd_path(fd, path, sizeof(path)) == 0 ?
	    path : NULL);
	errno = saved;
	return fail;
}

static int
rename_must_fail(int olddir, const char *oldname, int newdir,
    const char *newname)
{
	char oldpath[PATH_MAX], newpath[PATH_MAX];
	const char *path = NULL;
	int saved = errno, fail;

	configure();
	if (fault_call != CALL_RENAME)
		return 0;
	if (at_path(olddir, oldname, oldpath, sizeof(oldpath)) == 0 &&
	    under_fault_path(oldpath))
		path = oldpath;
	else if (at_path(newdir, newname, newpath, sizeof(newpath)) == 0 &&
	    under_fault_path(newpath))
		path = newpath;
	fail = must_fail(CALL_RENAME, path);
	errno = saved;
	return fail;
}

/* Looks up the next definition of name, or fails with ENOSYS. */
#define NEXT(var, name)                                                 \
	do {                                                            \
		if ((var) == NULL)                                      \
			(var) = dlsym(RTLD_NEXT, (name));               \
		if ((var) == NULL) {                                    \
			errno = ENOSYS;                                 \
			return -1;                                      \
		}                                                       \
	} while (0)

ssize_t
write(int fd, const void *buf, size_t len)
{
	NEXT(next_write, "write");
	if (fd_must_fail(CALL_WRITE, fd)) {
		errno = fault_errno;
		return -1;
	}
	return next_write(fd, buf, len);
}

ssize_t
read(int fd, void *buf, size_t len)
{
	NEXT(next_read, "read");
	if (fd_must_fail(CALL_READ, fd)) {
		errno = fault_errno;
		return -1;
	}
	return next_read(fd, buf, len);
}

ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);

ssize_t
__read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	NEXT(next_read_chk, "__read_chk");
	if (fd_must_fail(CALL_READ, fd)) {
		errno = fault_errno;
		return -1;
	}
	return next_read_chk(fd, buf, len, buflen);
}

int
fsync(int fd)
{
	NEXT(next_fsync, "fsync");
	if (fd_must_fail(CALL_FSYNC, fd)) {
		errno = fault_errno;
		return -1;
	}
	return next_fsync(fd);
}

int
fdatasync(int fd)
{
	NEXT(next_fdatasync, "fdatasync");
	if (fd_must_fail(CALL_FSYNC, fd)) {
		errno = fault_errno;
		return -1;
	}
	return next_fdatasync(fd);
}

int
rename(const char *oldname, const char *newname)
{
	NEXT(next_rename, "rename");
	if (rename_must_fail(AT_FDCWD, oldname, AT_FDCWD, newname)) {
		errno = fault_errno;
		return -1;
	}
	return next_rename(oldname, newname);
}

int
renameat(int olddir, const char *oldname, int newdir, const char *newname)
{
	NEXT(next_renameat, "renameat");
	if (rename_must_fail(olddir, oldname, newdir, newname)) {
		errno = fault_errno;
		return -1;
	}
	return next_renameat(olddir, oldname, newdir, newname);
}

int
renameat2(int olddir, const char *oldname, int newdir, const char *newname,
    unsigned int flags)
{
	NEXT(next_renameat2, "renameat2");
	if (rename_must_fail(olddir, oldname, newdir, newname)) {
		errno = fault_errno;
		return -1;
	}
	return next_renameat2(olddir, oldname, newdir, newname, flags);
}

__attribute__((constructor)) static void
read_environment(void)
{
	configure();
}

/* Appends the number of matching calls to the log at exit. */
__attribute__((destructor)) static void
report_count(void)
{
	char line[64];

	if (fault_call == CALL_NONE)
		return;
	snprintf(line, sizeof(line), "calls %s %ld\n", call_names[fault_call],
	    matched);
	append_log(line);
}
