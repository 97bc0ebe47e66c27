/*
 * Status strings, logging, random bytes and the services table that
 * every module receives.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "internal.h"

static const struct {
	int code;
	const char *text;
} status_text[] = {
	{ QS_OK, "ok" },
	{ QS_MORE, "more output pending" },
	{ QS_ERR_INVALID, "invalid argument" },
	{ QS_ERR_NOMEM, "out of memory" },
	{ QS_ERR_AUTH, "authentication failed" },
	{ QS_ERR_CORRUPT, "corrupt" },
	{ QS_ERR_TRUNCATED, "truncated" },
	{ QS_ERR_UNSUPPORTED, "unsupported" },
	{ QS_ERR_IO, "I/O error" },
	{ QS_ERR_LIMIT, "limit exceeded" },
	{ QS_ERR_NOKEY, "key not found" },
	{ QS_ERR_NOTFOUND, "not found" },
	{ QS_ERR_EXISTS, "already exists" },
	{ QS_ERR_MODULE, "module misbehaved" },
	{ QS_ERR_CONFIG, "invalid configuration" },
	{ QS_ERR_STOP, "stopped" },
};

QS_API const char *
qs_strerror(int status)
{
	size_t i;

	for (i = 0; i < sizeof(status_text) / sizeof(status_text[0]); i++)
		if (status_text[i].code == status)
			return status_text[i].text;
	return "unknown status";
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static qs_log_fn log_fn;
static void *log_arg;
static int log_max = QS_LOG_WARN;

QS_API void
qs_set_log(qs_log_fn fn, void *arg, int max_level)
{
	pthread_mutex_lock(&log_lock);
	log_fn = fn;
	log_arg = arg;
	log_max = max_level;
	pthread_mutex_unlock(&log_lock);
}

static void
host_log(int level, const char *module, const char *msg)
{
	pthread_mutex_lock(&log_lock);
	if (level <= log_max) {
		if (log_fn != NULL)
			log_fn(log_arg, level, module, msg);
		else
			fprintf(stderr, "qstack: %s: %s\n", module, msg);
	}
	pthread_mutex_unlock(&log_lock);
}

void
qs_log(int level, const char *module, const char *fmt, ...)
{
	char msg[QS_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	host_log(level, module, msg);
}

void
qs_verrf(char *err, size_t cap, const char *fmt, va_list ap)
{
	if (err != NULL && cap > 0)
		vsnprintf(err, cap, fmt, ap);
}

void
qs_errf(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qs_verrf(err, cap, fmt, ap);
	va_end(ap);
}

int
qs_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return QS_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return QS_OK;
}

void
qs_wipe(void *buf, size_t len)
{
	if (buf != NULL)
		explicit_bzero(buf, len);
}

const struct qs_host qs_host_services = {
	.size = sizeof(struct qs_host),
	.abi_version = QS_ABI_VERSION,
	.log = host_log,
	.random = qs_random,
};
