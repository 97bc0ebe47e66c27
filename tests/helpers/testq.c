#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/testq.h"

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		perror(path);
		abort();
	}
	fputs(text, f);
	fclose(f);
	chmod(path, 0600);
}

void
testq_setup(struct testq *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/qstack-test.XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	snprintf(t->qdir, sizeof(t->qdir), "%s/q", t->dir);
	snprintf(t->keyfile, sizeof(t->keyfile), "%s/key1", t->dir);
	snprintf(t->keyfile2, sizeof(t->keyfile2), "%s/key2", t->dir);
	write_file(t->keyfile,
	    "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n");
	write_file(t->keyfile2,
	    "ffeeddccbbaa99887766554433221100"
	    "ffeeddccbbaa99887766554433221100\n");
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	return remove(path);
}

void
testq_teardown(struct testq *t)
{
	testq_close(t);
	nftw(t->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Replaces %K and %L in extra with the key file paths. */
static void
expand(const struct testq *t, const char *extra, char *out, size_t cap)
{
	size_t n = 0;

	for (; *extra != '\0' && n + 1 < cap; extra++) {
		const char *sub = NULL;

		if (extra[0] == '%' && extra[1] == 'K')
			sub = t->keyfile;
		else if (extra[0] == '%' && extra[1] == 'L')
			sub = t->keyfile2;
		if (sub == NULL) {
			out[n++] = *extra;
			continue;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s", sub);
		extra++;
	}
	out[n < cap ? n : cap - 1] = '\0';
}

struct qs_queue *
testq_open(struct testq *t, const char *extra)
{
	char text[4096], tail[2048];
	struct qs_config *c;

	testq_close(t);
	expand(t, extra != NULL ? extra : "", tail, sizeof(tail));
	snprintf(text, sizeof(text), "queue backend fs path \"%s\"\n%s\n",
	    t->qdir, tail);
	c = qs_config_parse(text, strlen(text), "test.conf", t->err,
	    sizeof(t->err));
	if (c == NULL)
		return NULL;
	t->q = qs_open(c, t->err, sizeof(t->err));
	qs_config_free(c);
	return t->q;
}

void
testq_close(struct testq *t)
{
	if (t->q != NULL)
		qs_close(t->q);
	t->q = NULL;
}

void
testq_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
	static const char words[] = "Received: from mail.example.org "
	    "by mx.example.net with ESMTPS id ";
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		/* mostly text, with some random bytes mixed in */
		if ((x >> 28) == 0)
			buf[i] = (uint8_t)(x >> 16);
		else
			buf[i] = (uint8_t)words[(i + (x >> 30)) %
			    (sizeof(words) - 1)];
	}
}

int
testq_put(struct qs_queue *q, const uint8_t *data, size_t len,
    size_t piece, char *id)
{
	struct qs_msg_writer *w;
	size_t off = 0;
	int rc;

	if ((rc = qs_msg_create(q, &w)) != QS_OK)
		return rc;
	strcpy(id, qs_msg_writer_id(w));
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;

		if ((rc = qs_msg_write(w, data + off, n)) != QS_OK) {
			qs_msg_abort(w);
			return rc;
		}
		off += n;
	}
	return qs_msg_commit(w, NULL);
}

int
testq_get(struct qs_queue *q, const char *id, size_t cap, uint8_t **data,
    size_t *len)
{
	struct qs_msg_reader *r;
	uint8_t *buf = NULL, *chunk;
	size_t have = 0, size = 0, n;
	int rc;

	*data = NULL;
	*len = 0;
	if ((rc = qs_msg_open(q, id, &r)) != QS_OK)
		return rc;
	chunk = malloc(cap);
	for (;;) {
		rc = qs_msg_read(r, chunk, cap, &n);
		if (rc != QS_OK || n == 0)
			break;
		if (have + n > size) {
			size = (have + n) * 2;
			buf = realloc(buf, size);
		}
		memcpy(buf + have, chunk, n);
		have += n;
	}
	free(chunk);
	qs_msg_close(r);
	*data = buf;
	*len = have;
	return rc;
}

static const char *find_id;
static size_t find_dir_len;
static char *find_out;
static size_t find_cap;
static int find_found;

static int
find_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	if (flag == FTW_F && strstr(path, find_id) != NULL &&
	    strstr(path + find_dir_len, "/tmp/") == NULL) {
		/* the message blob, not one of its envelopes */
		const char *base = path + ftw->base;

		if (strlen(base) > 0 && strstr(base, find_id) != NULL &&
		    strlen(base) > strlen(find_id))
			return 0;
		snprintf(find_out, find_cap, "%s", path);
		find_found = 1;
		return 1;
	}
	return 0;
}

int
testq_find_blob(const char *dir, const char *id, char *path, size_t cap)
{
	find_id = id;
	find_dir_len = strlen(dir);
	find_out = path;
	find_cap = cap;
	find_found = 0;
	nftw(dir, find_entry, 16, FTW_PHYS);
	return find_found ? 0 : -1;
}

static const void *grep_needle;
static size_t grep_len;
static int grep_found;

static int
grep_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	char *buf;
	FILE *f;
	size_t n;

	if (flag != FTW_F || st->st_size == 0)
		return 0;
	if ((f = fopen(path, "rb")) == NULL)
		return 0;
	buf = malloc((size_t)st->st_size);
	n = fread(buf, 1, (size_t)st->st_size, f);
	fclose(f);
	if (memmem(buf, n, grep_needle, grep_len) != NULL)
		grep_found = 1;
	free(buf);
	return grep_found;
}

int
testq_grep_tree(const char *dir, const void *needle, size_t len)
{
	grep_needle = needle;
	grep_len = len;
	grep_found = 0;
	nftw(dir, grep_entry, 16, FTW_PHYS);
	return grep_found;
}

char *
testq_read_file(const char *path, size_t *lenp)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1 ||
	    (buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (len < (size_t)st.st_size &&
	    (n = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

int
testq_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		return -1;
	if (fwrite(data, 1, len, f) != len) {
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}
