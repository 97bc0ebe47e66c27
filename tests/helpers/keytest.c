#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers/keytest.h"

#define GREP_FILE_MAX (64 * 1024 * 1024)

int
keytest_write(const char *path, const void *data, size_t len, mode_t mode)
{
	const uint8_t *p = data;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fchmod(fd, mode) == -1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Reads all of fd into a malloc'd, NUL-terminated buffer. */
static int
read_fd(int fd, uint8_t **data, size_t *len)
{
	uint8_t *buf = NULL, *grown;
	size_t have = 0, cap = 0;
	ssize_t n;

	for (;;) {
		if (have + 1 >= cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if ((grown = realloc(buf, cap)) == NULL) {
				free(buf);
				return -1;
			}
			buf = grown;
		}
		n = read(fd, buf + have, cap - have - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return -1;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	*data = buf;
	*len = have;
	return 0;
}

int
keytest_load(const char *path, uint8_t **data, size_t *len)
{
	int fd, rc;

	*data = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = read_fd(fd, data, len);
	close(fd);
	return rc;
}

void
keytest_msg_path(const char *qdir, const char *msgid, char *path,
    size_t cap)
{
	snprintf(path, cap, "%s/msg/%.2s/%s/message", qdir, msgid, msgid);
}

void
keytest_env_path(const char *qdir, const char *evpid, char *path,
    size_t cap)
{
	snprintf(path, cap, "%s/msg/%.2s/%.16s/%s", qdir, evpid, evpid,
	    evpid);
}

int
keytest_blob_key_id(const char *path, char *hex)
{
	/* the key id is at offset 10 of the crypto-evp header */
	const size_t key_id_off = 10;
	uint8_t *blob;
	size_t len, header_len, i;

	if (keytest_load(path, &blob, &len) == -1)
		return -1;
	if (len < 8) {
		free(blob);
		return -1;
	}
	header_len = (size_t)blob[6] << 8 | blob[7];
	if (len < header_len + key_id_off + 8) {
		free(blob);
		return -1;
	}
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x",
		    blob[header_len + key_id_off + i]);
	free(blob);
	return 0;
}

const char *
keytest_build_dir(void)
{
	const char *build = getenv("QSTACK_BUILD");

	return build != NULL && build[0] != '\0' ? build : "build";
}

const char *
keytest_qstack(void)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/qstack", keytest_build_dir());
	return path;
}

/* Runs argv in a child with its output in two memory files. */
int
keytest_run(char *const argv[], char **out, char **err)
{
	int out_fd, err_fd, null_fd, status;
	size_t len;
	pid_t pid;

	*out = NULL;
	*err = NULL;
	out_fd = memfd_create("keytest-stdout", MFD_CLOEXEC);
	err_fd = memfd_create("keytest-stderr", MFD_CLOEXEC);
	fflush(NULL);
	if (out_fd == -1 || err_fd == -1 || (pid = fork()) == -1) {
		if (out_fd != -1)
			close(out_fd);
		if (err_fd != -1)
			close(err_fd);
		return -1;
	}
	if (pid == 0) {
		null_fd = open("/dev/null", O_RDONLY);
		if (null_fd == -1 || dup2(null_fd, 0) == -1 ||
		    dup2(out_fd, 1) == -1 || dup2(err_fd, 2) == -1)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	if (read_fd(out_fd, (uint8_t **)out, &len) == -1 ||
	    read_fd(err_fd, (uint8_t **)err, &len) == -1)
		status = -1;
	close(out_fd);
	close(err_fd);
	if (status == -1 || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

size_t
keytest_count_lines(const char *text)
{
	size_t n = 0;

	for (; *text != '\0'; text++)
		if (*text == '\n')
			n++;
	return n;
}

int
keytest_copy_file(const char *from, const char *to)
{
	uint8_t *data;
	size_t len;
	int rc;

	if (keytest_load(from, &data, &len) == -1)
		return -1;
	rc = keytest_write(to, data, len, 0755);
	free(data);
	return rc;
}

int
keytest_copy_dir(const char *src, const char *dst, const char *skip)
{
	char from[4096], to[4096];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int rc = 0;

	if (mkdir(dst, 0755) == -1 || chmod(dst, 0755) == -1)
		return -1;
	if ((d = opendir(src)) == NULL)
		return -1;
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (skip != NULL && strcmp(e->d_name, skip) == 0)
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		if (stat(from, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		rc = keytest_copy_file(from, to);
	}
	closedir(d);
	return rc;
}

static const void *grep_needle;
static size_t grep_len;
static time_t grep_since;
static int grep_found;

static int
grep_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	uint8_t *data;
	size_t len;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) ||
	    st->st_mtime < grep_since || st->st_size > GREP_FILE_MAX)
		return 0;
	if (keytest_load(path, &data, &len) == -1)
		return 0;
	if (memmem(data, len, grep_needle, grep_len) != NULL)
		grep_found = 1;
	free(data);
	return grep_found;
}

int
keytest_grep_since(const char *dir, const void *needle, size_t len,
    time_t since)
{
	grep_needle = needle;
	grep_len = len;
	grep_since = since;
	grep_found = 0;
	nftw(dir, grep_entry, 16, FTW_PHYS);
	return grep_found;
}
