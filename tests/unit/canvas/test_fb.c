#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "canvas/fb.h"

static void
test_new_set_get(void **state)
{
	struct fb *f = NULL;

	(void)state;
	assert_int_equal(fb_new(0, 10, &f), -EINVAL);
	assert_int_equal(fb_new(FB_MAX_DIM + 1, 10, &f), -EINVAL);
	assert_int_equal(fb_new(4, 3, &f), 0);
	assert_int_equal(fb_get(f, 3, 2), 0);
	fb_set(f, 3, 2, 0x123456);
	assert_int_equal(fb_get(f, 3, 2), 0x123456);
	assert_int_equal(fb_get(f, 2, 3 - 1), 0);
	fb_free(&f);
	assert_null(f);
	fb_free(&f);
}

static void
test_blend(void **state)
{
	struct fb *f = NULL;

	(void)state;
	assert_int_equal(fb_blend_value(0x000000, 0xff000080u), 0x800000);
	assert_int_equal(fb_blend_value(0xffffff, 0x00000000u), 0xffffff);
	assert_int_equal(fb_blend_value(0x000000, 0x00ff00ffu), 0x00ff00);
	assert_int_equal(fb_blend_value(0x0000ff, 0xff000080u), 0x80007f);
	assert_int_equal(fb_new(2, 2, &f), 0);
	fb_set(f, 1, 1, 0xffffff);
	fb_blend(f, 1, 1, 0x00000080u);
	assert_int_equal(fb_get(f, 1, 1), 0x7f7f7f);
	fb_free(&f);
}

static void
test_fill_snapshot(void **state)
{
	uint32_t src[6] = { 1, 2, 3, 0xff000004u, 5, 6 }, out[6];
	struct fb *f = NULL;

	(void)state;
	assert_int_equal(fb_new(3, 2, &f), 0);
	fb_fill(f, src);
	fb_snapshot(f, out);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[3], 4); /* the X byte is dropped */
	assert_int_equal(out[5], 6);
	fb_fill(f, NULL);
	fb_snapshot(f, out);
	assert_int_equal(out[5], 0);
	fb_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_set_get),
		cmocka_unit_test(test_blend),
		cmocka_unit_test(test_fill_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
