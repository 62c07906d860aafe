/* Unit tests for the Range parser in origin/seg.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "origin/seg.h"

static void
test_range(void **state)
{
	uint64_t s = 0, l = 0;

	(void)state;
	assert_int_equal(seg_parse_range(NULL, 100, &s, &l), 1);
	assert_int_equal(seg_parse_range("bytes=0-9", 100, &s, &l), 0);
	assert_int_equal(s, 0);
	assert_int_equal(l, 10);
	assert_int_equal(seg_parse_range("bytes=90-", 100, &s, &l), 0);
	assert_int_equal(s, 90);
	assert_int_equal(l, 10);
	assert_int_equal(seg_parse_range("bytes=50-500", 100, &s, &l), 0);
	assert_int_equal(l, 50);
	assert_int_equal(seg_parse_range("bytes=-30", 100, &s, &l), 0);
	assert_int_equal(s, 70);
	assert_int_equal(l, 30);
	assert_int_equal(seg_parse_range("bytes=-300", 100, &s, &l), 0);
	assert_int_equal(s, 0);
	assert_int_equal(l, 100);
	assert_int_equal(seg_parse_range("bytes=100-", 100, &s, &l), -ERANGE);
	assert_int_equal(seg_parse_range("bytes=-0", 100, &s, &l), -ERANGE);
	assert_int_equal(seg_parse_range("bytes=0-1,5-6", 100, &s, &l), 1);
	assert_int_equal(seg_parse_range("bytes=9-3", 100, &s, &l), 1);
	assert_int_equal(seg_parse_range("items=0-1", 100, &s, &l), 1);
	assert_int_equal(seg_parse_range("bytes=x-1", 100, &s, &l), 1);
	assert_int_equal(seg_parse_range("bytes=99999999999999999999-", 100, &s, &l), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
