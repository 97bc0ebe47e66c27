/*
 * Inputs that once broke qstack, kept so the bugs stay fixed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <cmocka.h>

#include "helpers/modhost.h"
#include "helpers/testq.h"

/* Decodes in through a begun stream; returns the final status. */
static int
decode(const struct qs_transform_ops *ops, void *stream, const uint8_t *in,
    size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct qs_blob_info blob = { .size = sizeof(blob),
	    .kind = QS_BLOB_MESSAGE, .id = "0123456789abcdef" };
	size_t used, made, total = 0;
	int rc;

	if ((rc = ops->stream_begin(stream, &blob)) != QS_OK)
		return rc;
	while (len > 0) {
		rc = ops->stream_update(stream, in, len, &used, out + total,
		    cap - total, &made);
		if (rc != QS_OK)
			return rc;
		in += used;
		len -= used;
		total += made;
	}
	do {
		rc = ops->stream_final(stream, out + total, cap - total, &made);
		total += made;
	} while (rc == QS_MORE);
	*out_len = total;
	return rc;
}

static size_t
encode(const struct qs_transform_ops *ops, void *instance, const uint8_t *in,
    size_t len, uint8_t *out, size_t cap)
{
	struct qs_blob_info blob = { .size = sizeof(blob),
	    .kind = QS_BLOB_MESSAGE, .id = "0123456789abcdef" };
	size_t used, made, total = 0;
	void *stream;
	int rc;

	assert_int_equal(ops->stream_new(instance, QS_ENCODE, &stream), QS_OK);
	assert_int_equal(ops->stream_begin(stream, &blob), QS_OK);
	while (len > 0) {
		assert_int_equal(ops->stream_update(stream, in, len, &used,
		    out + total, cap - total, &made), QS_OK);
		in += used;
		len -= used;
		total += made;
	}
	do {
		rc = ops->stream_final(stream, out + total, cap - total, &made);
		total += made;
	} while (rc == QS_MORE);
	assert_int_equal(rc, QS_OK);
	ops->stream_free(stream);
	return total;
}

/*
 * liblz4 1.9.4 kept a stale frame size in a reset decoder after a frame
 * that did not finish, so every later frame on the stream failed.
 */
static void
lz4_decoder_recovers_after_bad_frame(void **state)
{
	/* a frame that declares a content size and stops after 20 bytes */
	static const uint8_t sized[] = {
		0x04, 0x22, 0x4d, 0x18, 0x6c, 0x40, 0x2c, 0x01, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x54, 0x0a, 0x01, 0x00, 0x00, 0xf1,
	};
	const struct qs_transform_ops *ops;
	struct qs_instance_args args = { .size = sizeof(args) };
	struct modhost mh;
	uint8_t plain[300], frame[4096], out[4096];
	size_t frame_len, out_len, cut;
	char err[256];
	void *instance, *stream;

	args.err = err;
	args.err_cap = sizeof(err);
	assert_int_equal(modhost_open(&mh, "compress-lz4"), 0);
	ops = mh.module->ops;
	assert_int_equal(ops->instance_new(&args, &instance), QS_OK);
	assert_int_equal(ops->stream_new(instance, QS_DECODE, &stream), QS_OK);
	testq_pattern(plain, sizeof(plain), 4);
	frame_len = encode(ops, instance, plain, sizeof(plain), frame,
	    sizeof(frame));

	assert_int_not_equal(decode(ops, stream, sized, sizeof(sized), out,
	    sizeof(out), &out_len), QS_OK);
	assert_int_equal(decode(ops, stream, frame, frame_len, out,
	    sizeof(out), &out_len), QS_OK);
	assert_int_equal(out_len, sizeof(plain));
	assert_memory_equal(out, plain, sizeof(plain));

	/* an unfinished frame of the module's own format, at every cut */
	for (cut = 1; cut < frame_len; cut += 7) {
		assert_int_equal(decode(ops, stream, frame, cut, out,
		    sizeof(out), &out_len), QS_ERR_TRUNCATED);
		assert_int_equal(decode(ops, stream, frame, frame_len, out,
		    sizeof(out), &out_len), QS_OK);
		assert_int_equal(out_len, sizeof(plain));
	}
	ops->stream_free(stream);
	ops->instance_free(instance);
	modhost_close(&mh);
}

/*
 * A blob header naming the queue-fs backend as a layer made the loader
 * call backend functions through the transform table, and crash.
 */
static void
backend_named_as_layer_rejected(void **state)
{
	struct testq t;
	struct qs_msg_reader *r;
	uint8_t blob[64];
	char id[QS_ID_MAX], path[1024];
	size_t n = 0;
	uLong crc;
	FILE *f;

	testq_setup(&t);
	if (testq_open(&t, "") == NULL)
		fail_msg("%s", t.err);
	assert_int_equal(testq_put(t.q, (const uint8_t *)"x", 1, 1, id),
	    QS_OK);
	assert_int_equal(testq_find_blob(t.qdir, id, path, sizeof(path)), 0);

	memcpy(blob, "QSTK\x01\x01\x00\x14\x01", 9);
	n = 9;
	blob[n++] = 8;
	memcpy(blob + n, "queue-fs", 8);
	n += 8;
	blob[n++] = 0;
	blob[n++] = 1;
	blob[7] = (uint8_t)n;
	blob[n++] = 'x';
	memset(blob + n, 0, 8);
	blob[n + 7] = 1;
	crc = crc32(crc32(0, NULL, 0), blob, (uInt)n);
	n += 8;
	blob[n++] = (uint8_t)(crc >> 24);
	blob[n++] = (uint8_t)(crc >> 16);
	blob[n++] = (uint8_t)(crc >> 8);
	blob[n++] = (uint8_t)crc;
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(blob, 1, n, f), n);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(qs_msg_open(t.q, id, &r), QS_ERR_CORRUPT);
	assert_non_null(strstr(qs_error(t.q), "queue-fs"));
	testq_teardown(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lz4_decoder_recovers_after_bad_frame),
		cmocka_unit_test(backend_named_as_layer_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
