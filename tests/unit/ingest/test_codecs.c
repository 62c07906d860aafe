#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ingest/codecs.h"

/* AUD, SPS (High 3.1), PPS, IDR slice start */
static const uint8_t annexb[] = {
	0, 0, 0, 1, 0x09, 0xf0,
	0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40,
	0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb,
	0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00,
};

static void
test_h264(void **state)
{
	static const uint8_t avcc[] = { 1, 0x4d, 0x40, 0x1e, 0xff, 0xe1 };
	static const uint8_t nosps[] = { 0, 0, 1, 0x65, 0x88 };
	char out[CODECS_ONE_MAX];

	(void)state;
	assert_int_equal(codecs_h264(annexb, sizeof(annexb), out, sizeof(out)), 0);
	assert_string_equal(out, "avc1.64001f");
	assert_int_equal(codecs_h264(avcc, sizeof(avcc), out, sizeof(out)), 0);
	assert_string_equal(out, "avc1.4d401e");
	assert_int_equal(codecs_h264(nosps, sizeof(nosps), out, sizeof(out)), -ENOENT);
	assert_int_equal(codecs_h264(NULL, 0, out, sizeof(out)), -ENOENT);
	assert_int_equal(codecs_h264(annexb, sizeof(annexb), out, 4), -ENOSPC);
}

static void
test_aac(void **state)
{
	static const uint8_t lc[] = { 0x12, 0x10 };   /* AOT 2, 44.1 kHz, stereo */
	static const uint8_t he[] = { 0x2b, 0x92 };   /* AOT 5 */
	char out[CODECS_ONE_MAX];

	(void)state;
	assert_int_equal(codecs_aac(lc, sizeof(lc), -1, out, sizeof(out)), 0);
	assert_string_equal(out, "mp4a.40.2");
	assert_int_equal(codecs_aac(he, sizeof(he), -1, out, sizeof(out)), 0);
	assert_string_equal(out, "mp4a.40.5");
	assert_int_equal(codecs_aac(NULL, 0, 1, out, sizeof(out)), 0);
	assert_string_equal(out, "mp4a.40.2");
	assert_int_equal(codecs_aac(NULL, 0, -99, out, sizeof(out)), 0);
	assert_string_equal(out, "mp4a.40.2");
}

static void
test_param_sets(void **state)
{
	static const uint8_t want[] = {
		0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40,
		0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb,
	};
	uint8_t out[64];
	size_t n = 0;

	(void)state;
	assert_int_equal(codecs_h264_param_sets(annexb, sizeof(annexb), out, sizeof(out), &n), 0);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	assert_int_equal(codecs_h264_param_sets(annexb, sizeof(annexb), out, 8, &n), -ENOSPC);
	assert_int_equal(codecs_h264_param_sets(annexb, 6, out, sizeof(out), &n), -ENOENT);
}

static void
test_nal_iter(void **state)
{
	const uint8_t *nal;
	size_t pos = 0, len, count = 0;

	(void)state;
	while (codecs_annexb_next(annexb, sizeof(annexb), &pos, &nal, &len) == 0)
		count++;
	assert_int_equal(count, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_h264),
		cmocka_unit_test(test_aac),
		cmocka_unit_test(test_param_sets),
		cmocka_unit_test(test_nal_iter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
