/*
 * The SpamAssassin "easy ham" corpus (2,403 real messages, shipped by
 * Debian's golang-github-gatherstars-com-jwz-dev) through lz4 and
 * AES-256-GCM, each message with one envelope, read back after the
 * queue is reopened.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "helpers/testq.h"

#define HAM_DIR "/usr/share/gocode/src/github.com/gatherstars-com/jwz/" \
    "test/testdata/ham"
#define HAM_COUNT 2403

struct stored {
	char name[256];
	char id[QS_ID_MAX];
	char evpid[QS_ID_MAX];
};

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;

	if (stat(path, &st) == -1 || (f = fopen(path, "rb")) == NULL)
		return NULL;
	*len = (size_t)st.st_size;
	buf = malloc(*len + 1);
	if (fread(buf, 1, *len, f) != *len) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static void
ham_corpus_lz4_evp(void **state)
{
	const char *conf = "queue compression lz4\n"
	    "queue encryption key \"corpus passphrase\"";
	struct testq t;
	struct stored *s = calloc(HAM_COUNT + 16, sizeof(*s));
	struct dirent *de;
	size_t n = 0, i, len, got_len;
	uint64_t bytes = 0;
	char path[1024];
	uint8_t *data, *got;
	DIR *d = opendir(HAM_DIR);

	if (d == NULL)
		fail_msg("%s is missing: install "
		    "golang-github-gatherstars-com-jwz-dev", HAM_DIR);
	testq_setup(&t);
	if (testq_open(&t, conf) == NULL)
		fail_msg("%s", t.err);
	while ((de = readdir(d)) != NULL && n < HAM_COUNT + 16) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(s[n].name, sizeof(s[n].name), "%s", de->d_name);
		snprintf(path, sizeof(path), "%s/%s", HAM_DIR, de->d_name);
		data = slurp(path, &len);
		assert_non_null(data);
		assert_int_equal(testq_put(t.q, data, len, 8192, s[n].id),
		    QS_OK);
		assert_int_equal(qs_env_create(t.q, s[n].id, de->d_name,
		    strlen(de->d_name), s[n].evpid), QS_OK);
		bytes += len;
		free(data);
		n++;
	}
	closedir(d);
	assert_int_equal(n, HAM_COUNT);
	testq_close(&t);
	assert_non_null(testq_open(&t, conf));
	for (i = 0; i < n; i++) {
		char env[256];

		snprintf(path, sizeof(path), "%s/%s", HAM_DIR, s[i].name);
		data = slurp(path, &len);
		assert_int_equal(testq_get(t.q, s[i].id, 65536, &got,
		    &got_len), QS_OK);
		assert_int_equal(got_len, len);
		assert_memory_equal(got, data, len);
		assert_int_equal(qs_env_load(t.q, s[i].evpid, env,
		    sizeof(env), &len), QS_OK);
		assert_int_equal(len, strlen(s[i].name));
		assert_memory_equal(env, s[i].name, len);
		free(got);
		free(data);
	}
	printf("ham corpus: %zu messages, %llu bytes\n", n,
	    (unsigned long long)bytes);
	testq_teardown(&t);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ham_corpus_lz4_evp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
