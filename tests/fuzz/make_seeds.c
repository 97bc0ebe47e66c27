/*
 * Writes the seed corpora of the fuzz targets into DIR/TARGET/, where
 * DIR is the first argument (tests/fuzz/corpus). The seeds are
 * configurations, blob headers, and streams made by the real
 * compress-zlib, compress-lz4 and crypto-evp modules. The read seeds are
 * message and envelope blobs that the real loader stored in a real fs
 * queue. make fuzz-seeds builds it and runs it through make_seeds.sh.
 *
 * Module seeds start with the two control bytes that fuzz_codec.h
 * describes. Encrypted seeds use the fixed key and blob identity of
 * fuzz_common.h, so that the targets can decrypt them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

/* Every seed stays below this size, so the corpora stay small. */
#define SEED_MAX (64 * 1024)

#define PAYLOAD_MAX (64 * 1024)

static const char *outdir;
static uint8_t payload[PAYLOAD_MAX];
static uint8_t encoded[2 * PAYLOAD_MAX];

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("make_seeds: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
make_dir(const char *path)
{
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		die("cannot create directory %s: %s", path, strerror(errno));
}

static void
write_file(const char *path, const void *a, size_t alen, const void *b,
    size_t blen)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL)
		die("cannot create %s: %s", path, strerror(errno));
	if (fwrite(a, 1, alen, f) != alen || fwrite(b, 1, blen, f) != blen ||
	    fclose(f) != 0)
		die("cannot write %s: %s", path, strerror(errno));
}

/* Writes prefix and data as seed NAME of TARGET. */
static void
put_seed(const char *target, const char *name, const void *prefix,
    size_t plen, const void *data, size_t len)
{
	char path[4096];

	if (plen + len >= SEED_MAX)
		die("seed %s/%s has %zu bytes, more than %d", target, name,
		    plen + len, SEED_MAX - 1);
	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	make_dir(path);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	write_file(path, prefix, plen, data, len);
}

/* Payload kinds. */
#define TEXT   0   /* mail-like header lines */
#define ZEROS  1
#define NOISE  2   /* bytes that do not compress */

static void
fill_payload(int kind, size_t len)
{
	struct fuzz_rng rng;
	size_t i = 0;
	int n;

	fuzz_rng_seed(&rng, len);
	while (kind == TEXT && i < len) {
		char line[128];

		n = snprintf(line, sizeof(line), "Received: from mx%u.example."
		    "org (mx%u.example.org [192.0.2.%u]) id %08x\r\n",
		    fuzz_rng_next(&rng) % 9, fuzz_rng_next(&rng) % 9,
		    fuzz_rng_next(&rng) % 250, fuzz_rng_next(&rng));
		memcpy(payload + i, line, len - i < (size_t)n ? len - i :
		    (size_t)n);
		i += (size_t)n;
	}
	for (i = 0; kind != TEXT && i < len; i++)
		payload[i] = kind == ZEROS ? 0 : (uint8_t)fuzz_rng_next(&rng);
}

static const char *const config_seeds[][2] = {
	{ "minimal", "queue backend fs path \"/var/spool/qstack\"\n" },
	{ "full", "# every statement\n"
	    "plugin-path \"/usr/lib/qstack/plugins\"\n"
	    "queue backend fs path \"/var/spool/qstack\"\n"
	    "queue compression zlib level 9\n"
	    "queue encryption key-file \"/etc/qstack/key\" cipher "
	    "aes-256-gcm digest sha256\n"
	    "queue decryption key \"old passphrase\"\n"
	    "queue limits max-message-size 100M max-ratio 1100\n" },
	{ "compression-default", "queue compression\n" },
	{ "compression-lz4", "queue compression lz4 level 12\n" },
	{ "encryption-options", "queue encryption key \"correct horse\" "
	    "cipher chacha20-poly1305 digest sha512\n" },
	{ "encryption-stdin", "queue encryption key - module evp\n" },
	{ "encryption-prompt", "queue encryption\n" },
	{ "decryption-keys", "queue decryption key-file \"/etc/old.key\"\n"
	    "queue decryption key \"older one\"\n" },
	{ "continuation", "# comment\nqueue backend fs \\\n"
	    "    path \"/q\" # trailing comment\n\n" },
	{ "escapes", "queue encryption key \"a \\\"quoted\\\" \\\\ pass\"\n" },
	{ "crlf", "queue backend fs path /q\r\nqueue compression lz4\r\n" },
	{ "limits", "queue limits max-message-size 0 max-ratio 3\n" },
	{ "bad-statement", "queue frobnicate\n" },
	{ "bad-quote", "queue backend fs path \"/q\n" },
	{ "bad-no-value", "queue compression zlib level\n" },
	{ "bad-twice", "queue compression\nqueue compression lz4\n" },
	{ "bad-relative", "plugin-path lib/plugins\n" },
	{ "bad-quoted-option", "queue encryption \"passphrase\"\n" },
	{ "bad-ratio", "queue limits max-ratio 0\n" },
	{ "bad-size", "queue limits max-message-size 12Q\n" },
	{ "bad-name", "queue backend Fs_Q\n" },
	{ "empty", "" },
};

static void
config_corpus(void)
{
	size_t i;

	for (i = 0; i < sizeof(config_seeds) / sizeof(config_seeds[0]); i++)
		put_seed("config", config_seeds[i][0], "", 0,
		    config_seeds[i][1], strlen(config_seeds[i][1]));
	put_seed("config", "bad-nul", "", 0, "queue\0backend fs\n", 17);
}

struct header_seed {
	const char *name;
	uint32_t kind;
	const char *stems[QS_LAYERS_MAX];
	uint16_t version;
	const char *body;        /* bytes after the header, or NULL */
};

static const struct header_seed header_seeds[] = {
	{ "message-plain", QS_BLOB_MESSAGE, { NULL }, 1, NULL },
	{ "envelope-plain", QS_BLOB_ENVELOPE, { NULL }, 1, NULL },
	{ "zlib", QS_BLOB_MESSAGE, { "compress-zlib" }, 1, NULL },
	{ "lz4", QS_BLOB_MESSAGE, { "compress-lz4" }, 1, NULL },
	{ "evp", QS_BLOB_ENVELOPE, { "crypto-evp" }, 1, NULL },
	{ "lz4-evp", QS_BLOB_MESSAGE, { "compress-lz4", "crypto-evp" }, 1,
	    NULL },
	{ "zlib-evp", QS_BLOB_ENVELOPE, { "compress-zlib", "crypto-evp" }, 1,
	    NULL },
	{ "four-layers", QS_BLOB_MESSAGE, { "compress-zlib", "compress-lz4",
	    "crypto-evp", "crypto-evp" }, 1, NULL },
	{ "long-name", QS_BLOB_MESSAGE,
	    { "compress-abcdefghijklmnopqrstuvwxyz0123456789" }, 1, NULL },
	{ "version-0", QS_BLOB_MESSAGE, { "compress-lz4" }, 0, NULL },
	{ "version-max", QS_BLOB_MESSAGE, { "crypto-evp" }, 65535, NULL },
	{ "with-body", QS_BLOB_MESSAGE, { "compress-zlib" }, 1,
	    "body bytes and a trailer follow the header" },
};

static void
header_corpus(void)
{
	uint8_t buf[QS_FRAME_HEADER_MAX];
	struct qs_frame f;
	size_t i, j, len;

	for (i = 0; i < sizeof(header_seeds) / sizeof(header_seeds[0]); i++) {
		const struct header_seed *s = &header_seeds[i];

		memset(&f, 0, sizeof(f));
		f.kind = s->kind;
		for (j = 0; j < QS_LAYERS_MAX && s->stems[j] != NULL; j++) {
			snprintf(f.layers[j].stem, sizeof(f.layers[j].stem),
			    "%s", s->stems[j]);
			f.layers[j].format_version = s->version;
		}
		f.nlayers = (uint32_t)j;
		if (qs_frame_encode(&f, buf, sizeof(buf), &len) != QS_OK)
			die("cannot encode header seed %s", s->name);
		put_seed("header", s->name, buf, len, s->body != NULL ?
		    s->body : "", s->body != NULL ? strlen(s->body) : 0);
	}
}

/*
 * Runs in[0..len) through a module stream with the fixed blob identity
 * and returns the output length.
 */
static size_t
encode(const struct qs_transform_ops *ops, void *stream, const uint8_t *in,
    size_t len)
{
	struct qs_blob_info blob;
	size_t off = 0, done = 0, used, made;
	int rc;

	fuzz_blob_info(&blob);
	if ((rc = ops->stream_begin(stream, &blob)) != QS_OK)
		die("stream_begin failed: %d", rc);
	while (off < len) {
		rc = ops->stream_update(stream, in + off, len - off, &used,
		    encoded + done, sizeof(encoded) - done, &made);
		if (rc != QS_OK || done + made == sizeof(encoded))
			die("stream_update failed: %d", rc);
		off += used;
		done += made;
	}
	do {
		rc = ops->stream_final(stream, encoded + done,
		    sizeof(encoded) - done, &made);
		done += made;
	} while (rc == QS_MORE && done < sizeof(encoded));
	if (rc != QS_OK)
		die("stream_final failed: %d", rc);
	return done;
}

struct encoder {
	const struct qs_transform_ops *ops;
	void *instance;
	void *stream;
};

/* Creates an encoding stream of module m with the given options. */
static void
encoder_new(struct encoder *e, const struct qs_module *m, const char *opt1,
    const char *val1, const char *opt2, const char *val2)
{
	const struct qs_transform_ops *ops = m->ops;
	static const uint8_t salt[32] = "fixed queue salt for fuzzing....";
	struct qs_param params[2] = {
		{ sizeof(struct qs_param), 0, opt1, val1 },
		{ sizeof(struct qs_param), 0, opt2, val2 },
	};
	struct qs_instance_args args;
	struct qs_key key;
	uint8_t raw[32];
	char err[512] = "";

	fuzz_key_bytes(raw);
	memset(&key, 0, sizeof(key));
	key.size = sizeof(key);
	key.type = QS_KEY_RAW;
	key.data = raw;
	key.len = sizeof(raw);
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.params = params;
	args.nparams = 0;
	if (opt1 != NULL)
		args.nparams = opt2 != NULL ? 2 : 1;
	args.keys = &key;
	args.nkeys = m->kind == QS_KIND_CRYPTO ? 1 : 0;
	args.queue_salt = salt;
	args.queue_salt_len = sizeof(salt);
	args.err = err;
	args.err_cap = sizeof(err);
	e->ops = ops;
	if (ops->instance_new(&args, &e->instance) != QS_OK)
		die("%s: instance_new failed: %s", m->name, err);
	if (ops->stream_new(e->instance, QS_ENCODE, &e->stream) != QS_OK)
		die("%s: stream_new failed", m->name);
}

static void
encoder_free(struct encoder *e)
{
	e->ops->stream_free(e->stream);
	e->ops->instance_free(e->instance);
}

struct payload_spec {
	const char *name;
	int kind;
	size_t len;
};

static const struct payload_spec payloads[] = {
	{ "empty", TEXT, 0 },
	{ "one", TEXT, 1 },
	{ "text-300", TEXT, 300 },
	{ "text-5000", TEXT, 5000 },
	{ "zeros-20000", ZEROS, 20000 },
	{ "noise-100", NOISE, 100 },
	{ "noise-3000", NOISE, 3000 },
	{ "text-60000", TEXT, 60000 },
};

#define NPAYLOADS (sizeof(payloads) / sizeof(payloads[0]))

static void
compress_corpus(const char *target, const char *stem, const char *levels[2])
{
	const struct qs_module *m = fuzz_module_open(stem);
	uint8_t control[FUZZ_CONTROL_LEN];
	char name[128];
	struct encoder enc;
	size_t i, j, len;

	for (j = 0; j < 2; j++) {
		encoder_new(&enc, m, "level", levels[j], NULL, NULL);
		for (i = 0; i < NPAYLOADS; i++) {
			fill_payload(payloads[i].kind, payloads[i].len);
			len = encode(m->ops, enc.stream, payload,
			    payloads[i].len);
			control[0] = 0;
			control[1] = (uint8_t)(7 * i + j);
			snprintf(name, sizeof(name), "decode-%s-level%s",
			    payloads[i].name, levels[j]);
			put_seed(target, name, control, sizeof(control),
			    encoded, len);
		}
		encoder_free(&enc);
	}
	for (i = 0; i < 5; i++) {
		fill_payload(payloads[i + 1].kind, payloads[i + 1].len);
		control[0] = (uint8_t)(FUZZ_ROUNDTRIP | (3 * i));
		control[1] = (uint8_t)i;
		snprintf(name, sizeof(name), "roundtrip-%s",
		    payloads[i + 1].name);
		put_seed(target, name, control, sizeof(control), payload,
		    payloads[i + 1].len);
	}
}

static const char *const evp_ciphers[] = {
	"aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "chacha20-poly1305",
	"aes-128-cbc", "aes-256-cbc", "aes-256-ctr", "bf-cbc",
};

static const char *const evp_digests[] = {
	"sha1", "sha256", "sha384", "sha512",
};

static void
evp_corpus(void)
{
	const struct qs_module *m = fuzz_module_open("crypto-evp");
	static const size_t sizes[] = { 0, 1, 300, 3000 };
	uint8_t control[FUZZ_CONTROL_LEN];
	char name[128];
	struct encoder enc;
	size_t c, i, d, len;

	for (c = 0; c < 8; c++) {
		d = c % 4;
		encoder_new(&enc, m, "cipher", evp_ciphers[c], "digest",
		    evp_digests[d]);
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			fill_payload(i == 3 ? NOISE : TEXT, sizes[i]);
			len = encode(m->ops, enc.stream, payload, sizes[i]);
			control[0] = 0;
			control[1] = (uint8_t)(4 * c + i);
			snprintf(name, sizeof(name), "decode-%s-%s-%zu",
			    evp_ciphers[c], evp_digests[d], sizes[i]);
			put_seed("evp", name, control, sizeof(control),
			    encoded, len);
		}
		encoder_free(&enc);
		fill_payload(TEXT, 40 * c);
		control[0] = (uint8_t)(FUZZ_ROUNDTRIP | (4 * c + d));
		control[1] = (uint8_t)c;
		snprintf(name, sizeof(name), "roundtrip-%s-%s", evp_ciphers[c],
		    evp_digests[d]);
		put_seed("evp", name, control, sizeof(control), payload,
		    40 * c);
	}
}

/* Queue configurations of the read seeds, after the backend line. */
static const char *const queue_configs[][2] = {
	{ "lz4-evp", "queue compression lz4\n"
	    "queue encryption key-file \"%s\"\n" },
	{ "zlib-evp-cbc", "queue compression zlib\nqueue encryption "
	    "key-file \"%s\" cipher aes-256-cbc digest sha512\n" },
	{ "evp-chacha", "queue encryption key-file \"%s\" cipher "
	    "chacha20-poly1305\n" },
	{ "lz4", "queue compression lz4\n" },
	{ "plain", "" },
};

static const struct payload_spec messages[] = {
	{ "empty", TEXT, 0 },
	{ "one", TEXT, 1 },
	{ "text-2000", TEXT, 2000 },
	{ "zeros-20000", ZEROS, 20000 },
	{ "noise-3000", NOISE, 3000 },
};

struct seed_queue {
	char dir[4096];
	char qdir[4200];
	char msg_path[4400];
	char env_path[4500];
	struct qs_queue *q;
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
copy_file(const char *from, const char *target, const char *name)
{
	static uint8_t buf[SEED_MAX];
	size_t len;
	FILE *f = fopen(from, "rb");

	if (f == NULL)
		die("cannot open %s: %s", from, strerror(errno));
	len = fread(buf, 1, sizeof(buf), f);
	if (ferror(f) || !feof(f))
		die("cannot read %s whole, or it has %d bytes or more", from,
		    SEED_MAX);
	fclose(f);
	put_seed(target, name, "", 0, buf, len);
}

/*
 * Opens a new fs queue with the fixed key and a placeholder message and
 * envelope at the fixed ids. The loader picks the id of a new blob at
 * random, so the seeds are stored by replacing these placeholders with
 * qs_msg_writer_new and qs_env_update instead.
 */
static void
open_seed_queue(struct seed_queue *s, const char *transforms)
{
	char conf[16384], key_path[4200], extra[8192], err[QS_ERR_MAX];
	const char *tmp = getenv("TMPDIR");
	struct qs_config *c;

	snprintf(s->dir, sizeof(s->dir), "%s/qstack-seeds-XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL)
		die("cannot create a directory in %s: %s", s->dir,
		    strerror(errno));
	snprintf(key_path, sizeof(key_path), "%s/key", s->dir);
	write_file(key_path, FUZZ_KEY_HEX "\n", 65, "", 0);
	chmod(key_path, 0600);
	snprintf(s->qdir, sizeof(s->qdir), "%s/q", s->dir);
	snprintf(extra, sizeof(extra), transforms, key_path);
	snprintf(conf, sizeof(conf), "queue backend fs path \"%s\"\n%s",
	    s->qdir, extra);
	if ((c = qs_config_parse(conf, strlen(conf), "seeds.conf", err,
	    sizeof(err))) == NULL)
		die("%s", err);
	qs_config_set_default_plugin_path(c, fuzz_plugin_dir());
	s->q = qs_open(c, err, sizeof(err));
	qs_config_free(c);
	if (s->q == NULL)
		die("%s", err);
	snprintf(s->msg_path, sizeof(s->msg_path), "%s/msg/%.2s", s->qdir,
	    FUZZ_MSGID);
	make_dir(s->msg_path);
	snprintf(s->msg_path, sizeof(s->msg_path), "%s/msg/%.2s/%s", s->qdir,
	    FUZZ_MSGID, FUZZ_MSGID);
	make_dir(s->msg_path);
	snprintf(s->env_path, sizeof(s->env_path), "%s/%s", s->msg_path,
	    FUZZ_EVPID);
	strcat(s->msg_path, "/message");
	write_file(s->msg_path, "placeholder", 11, "", 0);
	write_file(s->env_path, "placeholder", 11, "", 0);
}

static void
close_seed_queue(struct seed_queue *s)
{
	qs_close(s->q);
	nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Reads the fixed message back and compares it with the payload. */
static void
verify_message(struct seed_queue *s, size_t len)
{
	static uint8_t back[PAYLOAD_MAX + 1];
	struct qs_msg_reader *r;
	size_t got = 0, n;
	int rc;

	if ((rc = qs_msg_open(s->q, FUZZ_MSGID, &r)) != QS_OK)
		die("cannot open the message just stored: %s",
		    qs_error(s->q));
	do {
		rc = qs_msg_read(r, back + got, sizeof(back) - got, &n);
		got += n;
	} while (rc == QS_OK && n > 0 && got < sizeof(back));
	qs_msg_close(r);
	if (rc != QS_OK || got != len || memcmp(back, payload, len) != 0)
		die("message seed of %zu bytes does not read back", len);
}

static void
store_message(struct seed_queue *s, size_t len)
{
	struct qs_msg_writer *w;

	if (qs_msg_writer_new(s->q, FUZZ_MSGID, &w) != QS_OK ||
	    qs_msg_write(w, payload, len) != QS_OK ||
	    qs_msg_commit(w, NULL) != QS_OK)
		die("cannot store a message of %zu bytes: %s", len,
		    qs_error(s->q));
	verify_message(s, len);
}

static void
read_corpus(void)
{
	static uint8_t back[1024];
	struct seed_queue s;
	char name[128];
	size_t i, j, n;

	for (i = 0; i < sizeof(queue_configs) / sizeof(queue_configs[0]);
	    i++) {
		open_seed_queue(&s, queue_configs[i][1]);
		for (j = 0; j < sizeof(messages) / sizeof(messages[0]); j++) {
			fill_payload(messages[j].kind, messages[j].len);
			store_message(&s, messages[j].len);
			snprintf(name, sizeof(name), "%s-message-%s",
			    queue_configs[i][0], messages[j].name);
			copy_file(s.msg_path, "read", name);
		}
		for (j = 0; j < 2; j++) {
			fill_payload(TEXT, 200 * j);
			if (qs_env_update(s.q, FUZZ_EVPID, payload, 200 * j) !=
			    QS_OK ||
			    qs_env_load(s.q, FUZZ_EVPID, back, sizeof(back),
			    &n) != QS_OK || n != 200 * j ||
			    memcmp(back, payload, n) != 0)
				die("envelope of %zu bytes: %s", 200 * j,
				    qs_error(s.q));
			snprintf(name, sizeof(name), "%s-envelope-%zu",
			    queue_configs[i][0], 200 * j);
			copy_file(s.env_path, "read", name);
		}
		close_seed_queue(&s);
	}
}

int
main(int argc, char **argv)
{
	static const char *zlib_levels[2] = { "6", "1" };
	static const char *lz4_levels[2] = { "1", "9" };

	if (argc != 2)
		die("usage: make_seeds CORPUS-DIR");
	outdir = argv[1];
	make_dir(outdir);
	qs_set_log(NULL, NULL, QS_LOG_ERROR);
	config_corpus();
	header_corpus();
	compress_corpus("zlib", "compress-zlib", zlib_levels);
	compress_corpus("lz4", "compress-lz4", lz4_levels);
	evp_corpus();
	read_corpus();
	return 0;
}
