#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ingest/cut.h"
#include "ingest/transcode.h"

static void
test_clock(void **state)
{
	struct cut_clock c = { 1795000000000000LL, 5000000 };

	(void)state;
	assert_int_equal(cut_clock_wall(&c, 5000000), 1795000000000000LL);
	assert_int_equal(cut_clock_wall(&c, 7000000), 1795000002000000LL);
	/* media before the origin (B-frame reordering) maps before it */
	assert_int_equal(cut_clock_wall(&c, 4966667), 1795000000000000LL - 33333);
}

static void
test_decide(void **state)
{
	struct cut_params p = { 2000000, 33333, 1000000 };

	(void)state;
	/* nothing open: only a primary keyframe opens */
	assert_int_equal(cut_decide(&p, false, 0, 0, true, false, 0), CUT_DROP);
	assert_int_equal(cut_decide(&p, false, 0, 0, false, true, 0), CUT_DROP);
	assert_int_equal(cut_decide(&p, false, 0, 0, true, true, 0), CUT_START);
	/* keyframe before the target: append */
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 1000000), CUT_APPEND);
	/* at the target, and within half a frame of it */
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 2000000), CUT_SPLIT);
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 1990000), CUT_SPLIT);
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 1900000), CUT_APPEND);
	/* a non-key at the target does not cut; audio never cuts */
	assert_int_equal(cut_decide(&p, true, 0, 10, true, false, 2500000), CUT_APPEND);
	assert_int_equal(cut_decide(&p, true, 0, 10, false, true, 9000000), CUT_APPEND);
	/* hard limits: duration (max(8 x target, 20 s)) and bytes */
	assert_int_equal(cut_decide(&p, true, 0, 10, true, false, 20000000), CUT_FORCE);
	assert_int_equal(cut_decide(&p, true, 0, 1000000, true, false, 100000), CUT_FORCE);
	/* unknown frame duration: 1 ms slack */
	p.frame_us = 0;
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 1999500), CUT_SPLIT);
	assert_int_equal(cut_decide(&p, true, 0, 10, true, true, 1990000), CUT_APPEND);
}

static void
test_decide_sequence(void **state)
{
	/* 1 s GOP at 30 fps, 2 s target: cuts every 2 s exactly */
	struct cut_params p = { 2000000, 33333, 0 };
	int64_t start = 0, t;
	int i, cuts = 0;
	bool open = false;

	(void)state;
	for (i = 0; i < 300; i++) {
		t = (int64_t)i * 1000000 / 30;
		enum cut_action a = cut_decide(&p, open, start, 0, true, i % 30 == 0, t);
		if (a == CUT_START || a == CUT_SPLIT) {
			if (a == CUT_SPLIT) {
				assert_int_equal(t - start, 2000000);
				cuts++;
			}
			start = t;
			open = true;
		}
	}
	assert_int_equal(cuts, 4);
}

static void
test_grid(void **state)
{
	int64_t next = INT64_MIN;
	int i, keys = 0;

	(void)state;
	/* 30 fps from origin 1 s, 2 s grid: keys at frames 0, 60, 120 */
	for (i = 0; i < 150; i++) {
		int64_t t = 1000000 + (int64_t)i * 1000000 / 30;
		if (cut_grid_key(t, 1000000, 2000000, &next)) {
			assert_int_equal(i % 60, 0);
			keys++;
		}
	}
	assert_int_equal(keys, 3);
	/* a gap skips grid points without a burst of keys */
	next = INT64_MIN;
	assert_true(cut_grid_key(0, 0, 2000000, &next));
	assert_true(cut_grid_key(9000000, 0, 2000000, &next));
	assert_int_equal(next, 10000000);
	assert_false(cut_grid_key(9500000, 0, 2000000, &next));
}

static void
test_backoff(void **state)
{
	unsigned a;

	(void)state;
	assert_int_equal(cut_backoff_us(0, 0), CUT_BACKOFF_BASE_US / 2);
	assert_int_equal(cut_backoff_us(0, UINT32_MAX) <= CUT_BACKOFF_BASE_US, 1);
	assert_int_equal(cut_backoff_us(1, 0), CUT_BACKOFF_BASE_US);
	for (a = 0; a < 64; a++) {
		int64_t d = cut_backoff_us(a, 0x9e3779b9u * a);
		assert_true(d >= CUT_BACKOFF_BASE_US / 2);
		assert_true(d <= CUT_BACKOFF_MAX_US);
	}
	assert_true(cut_backoff_us(40, 0) >= CUT_BACKOFF_MAX_US / 2);
}

static void
test_bandwidth_session(void **state)
{
	char buf[CUT_SESSION_LEN];

	(void)state;
	assert_int_equal(cut_bandwidth(250000, 2000000), 1000000);
	assert_int_equal(cut_bandwidth(1, 0), 0);
	assert_int_equal(cut_session_id(1795000000000000LL, 0xabcdef, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "20261118T110640Z-0000000000abcdef");
	assert_int_equal(cut_session_id(0, 0, buf, 8), -ENOSPC);
}

static void
test_ladder(void **state)
{
	struct transcode_rung r[TRANSCODE_MAX_RUNGS];
	size_t n = 0;

	(void)state;
	assert_int_equal(transcode_parse_ladder("720p,360p", r, TRANSCODE_MAX_RUNGS, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(r[0].name, "720p");
	assert_int_equal(r[0].height, 720);
	assert_string_equal(r[1].name, "360p");
	assert_true(r[0].bit_rate > r[1].bit_rate);
	assert_int_equal(transcode_parse_ladder("720", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("720p,", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder(",720p", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("720p,720p", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("10p", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("xp", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("1p2p", r, TRANSCODE_MAX_RUNGS, &n), -EINVAL);
	assert_int_equal(transcode_parse_ladder("720p,480p,360p,240p,180p,144p,100p", r,
	                                        TRANSCODE_MAX_RUNGS, &n), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clock),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_decide_sequence),
		cmocka_unit_test(test_grid),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_bandwidth_session),
		cmocka_unit_test(test_ladder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
