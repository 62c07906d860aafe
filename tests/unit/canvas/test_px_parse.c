#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "canvas/px_parse.h"

static enum px_result
parse_str(const char *s, struct px_cmd *c, size_t *used)
{
	memset(c, 0, sizeof(*c));
	return px_parse(s, strlen(s), c, used);
}

static void
test_set(void **state)
{
	struct px_cmd c;
	size_t used;

	(void)state;
	assert_int_equal(parse_str("PX 12 34 ff8000\n", &c, &used), PX_DONE);
	assert_int_equal(used, 16);
	assert_int_equal(c.op, PX_OP_SET);
	assert_int_equal(c.x, 12);
	assert_int_equal(c.y, 34);
	assert_int_equal(c.rgba, 0xff8000ffu);
	/* upper case hex, CRLF, extra blanks */
	assert_int_equal(parse_str("PX  1\t2   ABCDEF \r\n", &c, &used), PX_DONE);
	assert_int_equal(c.rgba, 0xabcdefffu);
	assert_int_equal(c.x, 1);
	assert_int_equal(c.y, 2);
}

static void
test_alpha_grey(void **state)
{
	struct px_cmd c;
	size_t used;

	(void)state;
	assert_int_equal(parse_str("PX 0 0 ff000080\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_BLEND);
	assert_int_equal(c.rgba, 0xff000080u);
	assert_int_equal(parse_str("PX 0 0 112233ff\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_SET); /* opaque alpha is a set */
	assert_int_equal(parse_str("PX 5 6 7f\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_SET);
	assert_int_equal(c.rgba, 0x7f7f7fffu);
}

static void
test_other_commands(void **state)
{
	struct px_cmd c;
	size_t used, n;

	(void)state;
	assert_int_equal(parse_str("PX 7 8\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_GET);
	assert_int_equal(c.x, 7);
	assert_int_equal(c.y, 8);
	assert_int_equal(parse_str("SIZE\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_SIZE);
	assert_int_equal(parse_str("HELP\r\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_HELP);
	assert_int_equal(parse_str("OFFSET 100 200\n", &c, &used), PX_DONE);
	assert_int_equal(c.op, PX_OP_OFFSET);
	assert_int_equal(c.x, 100);
	assert_int_equal(c.y, 200);
	assert_true(strlen(px_help_text(&n)) == n);
	assert_true(n < PX_REPLY_MAX);
}

static void
test_reject(void **state)
{
	static const char *bad[] = {
		"\n", "PX\n", "PX 1\n", "PX a 1 ffffff\n", "PX 1 b ffffff\n", "PX 1 2 fff\n",
		"PX 1 2 ggggggg\n", "PX 1 2 fffffffff\n", "PX 1 2 ffffff extra\n",
		"PX -1 2 ffffff\n", "PX 12345678 2 ffffff\n", "px 1 2 ffffff\n", "SIZE 1\n",
		"OFFSET 1\n", "OFFSET x y\n", "HELPME\n", "PX1 2 ffffff\n", "PXX 1 2 ff\n",
		"PX 1 2 zz\n", "PX 1x 2 ff\n",
	};
	struct px_cmd c;
	size_t used, i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_str(bad[i], &c, &used), PX_REJECT);
		assert_int_equal(used, strlen(bad[i]));
		assert_non_null(c.reason);
	}
}

static void
test_incremental(void **state)
{
	const char *s = "PX 1 2 aabbcc\nPX 3 4 ddeeff\nPX 5";
	size_t len = strlen(s), off = 0, used;
	struct px_cmd c;
	int n = 0;

	(void)state;
	/* every prefix of a line says MORE and consumes nothing */
	assert_int_equal(px_parse(s, 5, &c, &used), PX_MORE);
	assert_int_equal(used, 0);
	while (px_parse(s + off, len - off, &c, &used) == PX_DONE) {
		off += used;
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(off, 28);
	assert_int_equal(c.op, PX_OP_SET);
	assert_int_equal(c.x, 3);
}

static void
test_format(void **state)
{
	char out[PX_REPLY_MAX];
	size_t n;

	(void)state;
	n = px_format_px(out, 10, 2000, 0x00ab01ffu);
	assert_int_equal(n, strlen("PX 10 2000 ab01ff\n"));
	assert_memory_equal(out, "PX 10 2000 ab01ff\n", n);
	n = px_format_size(out, 1920, 1080);
	assert_memory_equal(out, "SIZE 1920 1080\n", n);
	n = px_format_px(out, 0, 0, 0);
	assert_memory_equal(out, "PX 0 0 000000\n", n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_alpha_grey),
		cmocka_unit_test(test_other_commands),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
