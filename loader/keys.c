/*
 * Reading keys: passphrases from the configuration, key files, standard
 * input and the terminal.
 *
 * Newline rule: key material read from a file, standard input or the
 * terminal loses exactly one trailing "\n" or "\r\n", and nothing else.
 * A passphrase written in the configuration is taken as written.
 *
 * A key file or standard input holding exactly 32 bytes, or 64
 * hexadecimal digits once the newline rule has been applied, is a raw
 * 256-bit key. Anything else is a passphrase. A typed passphrase is
 * always a passphrase.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "internal.h"

#define KEY_FILE_MAX 4096
#define RAW_KEY_LEN 32

/* Reads all of fd into buf, at most cap bytes. */
static int
read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	ssize_t n;

	*len = 0;
	for (;;) {
		if (*len == cap)
			return QS_ERR_LIMIT;
		n = read(fd, buf + *len, cap - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return QS_ERR_IO;
		if (n == 0)
			return QS_OK;
		*len += (size_t)n;
	}
}

static size_t
strip_newline(const uint8_t *buf, size_t len)
{
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	return len;
}

static int
hex_value(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Turns bytes read from a file or standard input into a key, following
 * the rules at the top of this file. buf is wiped by the caller.
 */
static int
classify_key(uint8_t *buf, size_t len, struct qs_key *key)
{
	size_t stripped = strip_newline(buf, len);
	size_t i;
	uint8_t *data;

	key->size = sizeof(*key);
	if (len == RAW_KEY_LEN) {
		key->type = QS_KEY_RAW;
		stripped = len;
	} else if (stripped == 2 * RAW_KEY_LEN) {
		key->type = QS_KEY_RAW;
		for (i = 0; i < stripped; i++)
			if (hex_value(buf[i]) < 0)
				key->type = QS_KEY_PASSPHRASE;
	} else {
		key->type = QS_KEY_PASSPHRASE;
	}
	if (stripped == 0)
		return QS_ERR_INVALID;
	data = malloc(stripped);
	if (data == NULL)
		return QS_ERR_NOMEM;
	if (key->type == QS_KEY_RAW && stripped == 2 * RAW_KEY_LEN) {
		for (i = 0; i < RAW_KEY_LEN; i++)
			data[i] = (uint8_t)(hex_value(buf[2 * i]) << 4 |
			    hex_value(buf[2 * i + 1]));
		stripped = RAW_KEY_LEN;
	} else {
		memcpy(data, buf, stripped);
	}
	key->data = data;
	key->len = stripped;
	return QS_OK;
}

static int
read_key_file(const struct qs_config *c, const struct qs_cfg_key *ck,
    struct qs_key *key, char *err, size_t cap)
{
	uint8_t buf[KEY_FILE_MAX];
	struct stat st;
	size_t len;
	int fd, rc;

	fd = open(ck->value, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		qs_errf(err, cap, "%s:%d: cannot open key file %s: %s; check "
		    "the key-file path", c->file, ck->line, ck->value,
		    strerror(errno));
		return QS_ERR_CONFIG;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		qs_errf(err, cap, "%s:%d: key file %s is not a regular file",
		    c->file, ck->line, ck->value);
		close(fd);
		return QS_ERR_CONFIG;
	}
	if ((st.st_mode & 077) != 0) {
		qs_errf(err, cap, "%s:%d: key file %s has mode %04o, so group "
		    "or others may read it; run chmod 600 %s", c->file,
		    ck->line, ck->value, (unsigned)(st.st_mode & 07777),
		    ck->value);
		close(fd);
		return QS_ERR_CONFIG;
	}
	rc = read_all(fd, buf, sizeof(buf), &len);
	close(fd);
	if (rc == QS_OK)
		rc = classify_key(buf, len, key);
	qs_wipe(buf, sizeof(buf));
	if (rc == QS_ERR_INVALID)
		qs_errf(err, cap, "%s:%d: key file %s is empty; write a "
		    "passphrase, 64 hex digits or 32 raw bytes into it",
		    c->file, ck->line, ck->value);
	else if (rc == QS_ERR_LIMIT)
		qs_errf(err, cap, "%s:%d: key file %s is larger than %d "
		    "bytes; is it the right file?", c->file, ck->line,
		    ck->value, KEY_FILE_MAX);
	else if (rc != QS_OK)
		qs_errf(err, cap, "%s:%d: cannot read key file %s: %s",
		    c->file, ck->line, ck->value, strerror(errno));
	return rc == QS_OK ? QS_OK : QS_ERR_CONFIG;
}

static int
read_key_stdin(const struct qs_config *c, const struct qs_cfg_key *ck,
    struct qs_key *key, char *err, size_t cap)
{
	uint8_t buf[KEY_FILE_MAX];
	size_t len;
	int rc;

	rc = read_all(STDIN_FILENO, buf, sizeof(buf), &len);
	if (rc == QS_OK)
		rc = classify_key(buf, len, key);
	qs_wipe(buf, sizeof(buf));
	if (rc != QS_OK)
		qs_errf(err, cap, "%s:%d: cannot read the key from standard "
		    "input: %s; pipe a passphrase or key of at most %d bytes",
		    c->file, ck->line, rc == QS_ERR_INVALID ? "it is empty" :
		    rc == QS_ERR_LIMIT ? "it is too long" : strerror(errno),
		    KEY_FILE_MAX);
	return rc == QS_OK ? QS_OK : QS_ERR_CONFIG;
}

/* Asks for the passphrase on the terminal with echo off. */
static int
read_key_prompt(const struct qs_config *c, const struct qs_cfg_key *ck,
    struct qs_key *key, char *err, size_t cap)
{
	uint8_t buf[KEY_FILE_MAX];
	struct termios saved, quiet;
	size_t len = 0;
	char prompt[QS_ERR_MAX];
	ssize_t n;
	int fd, rc;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd == -1 || tcgetattr(fd, &saved) == -1) {
		if (fd != -1)
			close(fd);
		qs_errf(err, cap, "%s:%d: queue encryption has no key and no "
		    "terminal is available to ask for one; add key \"...\", "
		    "key-file \"PATH\" or key -", c->file, ck->line);
		return QS_ERR_CONFIG;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	snprintf(prompt, sizeof(prompt), "passphrase for %s: ", c->file);
	if (write(fd, prompt, strlen(prompt)) < 0 ||
	    tcsetattr(fd, TCSAFLUSH, &quiet) == -1) {
		close(fd);
		qs_errf(err, cap, "cannot use the terminal to ask for the "
		    "passphrase: %s", strerror(errno));
		return QS_ERR_CONFIG;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0 || buf[len++] == '\n')
			break;
	}
	tcsetattr(fd, TCSAFLUSH, &saved);
	if (write(fd, "\n", 1) < 0)
		len = 0;
	close(fd);
	len = strip_newline(buf, len);
	rc = QS_ERR_INVALID;
	key->size = sizeof(*key);
	key->type = QS_KEY_PASSPHRASE;
	if (len > 0 && (key->data = malloc(len)) != NULL) {
		memcpy((uint8_t *)key->data, buf, len);
		key->len = len;
		rc = QS_OK;
	}
	qs_wipe(buf, sizeof(buf));
	if (rc != QS_OK)
		qs_errf(err, cap, "%s:%d: no passphrase was typed; type one or "
		    "configure key, key-file or key -", c->file, ck->line);
	return rc == QS_OK ? QS_OK : QS_ERR_CONFIG;
}

static int
read_one(const struct qs_config *c, const struct qs_cfg_key *ck,
    struct qs_key *key, char *err, size_t cap)
{
	size_t len;

	memset(key, 0, sizeof(*key));
	switch (ck->source) {
	case QS_KEYSRC_TEXT:
		len = strlen(ck->value);
		key->size = sizeof(*key);
		key->type = QS_KEY_PASSPHRASE;
		key->data = malloc(len);
		if (key->data == NULL)
			return QS_ERR_NOMEM;
		memcpy((uint8_t *)key->data, ck->value, len);
		key->len = len;
		return QS_OK;
	case QS_KEYSRC_FILE:
		return read_key_file(c, ck, key, err, cap);
	case QS_KEYSRC_STDIN:
		return read_key_stdin(c, ck, key, err, cap);
	case QS_KEYSRC_PROMPT:
		return read_key_prompt(c, ck, key, err, cap);
	}
	return QS_ERR_INVALID;
}

int
qs_keys_read(const struct qs_config *c, struct qs_key **keys,
    size_t *nkeys, char *err, size_t cap)
{
	struct qs_key *out;
	size_t i, n = 0, stdin_uses = 0;
	int rc;

	*keys = NULL;
	*nkeys = 0;
	if (c->key.source == QS_KEYSRC_STDIN)
		stdin_uses++;
	for (i = 0; i < c->nold_keys; i++)
		if (c->old_keys[i].source == QS_KEYSRC_STDIN)
			stdin_uses++;
	if (stdin_uses > 1) {
		qs_errf(err, cap, "%s: more than one key reads standard "
		    "input; put all but one in key files", c->file);
		return QS_ERR_CONFIG;
	}
	out = calloc(c->nold_keys + 1, sizeof(*out));
	if (out == NULL)
		return QS_ERR_NOMEM;
	if (c->key.source != 0) {
		if ((rc = read_one(c, &c->key, &out[n], err, cap)) != 0)
			goto fail;
		n++;
	}
	for (i = 0; i < c->nold_keys; i++) {
		rc = read_one(c, &c->old_keys[i], &out[n], err, cap);
		if (rc != 0)
			goto fail;
		n++;
	}
	*keys = out;
	*nkeys = n;
	return QS_OK;
fail:
	qs_keys_free(out, n);
	return rc;
}

void
qs_keys_free(struct qs_key *keys, size_t nkeys)
{
	size_t i;

	for (i = 0; i < nkeys; i++) {
		qs_wipe((void *)keys[i].data, keys[i].len);
		free((void *)keys[i].data);
	}
	free(keys);
}
