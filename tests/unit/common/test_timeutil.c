/*
 * test_timeutil.c — time, duration and size parsing; RFC 3339 formatting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/timeutil.h"

#define S(x) ((int64_t)(x)*TIME_US_PER_SEC)
#define NOW S(1795255200) /* 2026-11-21T10:00:00Z */
#define SENTINEL ((int64_t)0x5a5a5a5a5a5a)

struct tcase {
	const char *in;
	int rc;
	int64_t want;
};

static void
check_time(const struct tcase *tc, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int64_t out = SENTINEL;
		int rc = time_parse(tc[i].in, NOW, &out);
		if (rc != tc[i].rc || (rc == 0 && out != tc[i].want)) {
			print_error("time_parse(\"%s\"): rc %d out %lld, want rc %d out %lld\n",
			            tc[i].in, rc, (long long)out, tc[i].rc, (long long)tc[i].want);
			fail();
		}
		if (rc != 0)
			assert_int_equal(out, SENTINEL); /* untouched on failure */
	}
}

static void
test_time_rfc3339_valid(void **state)
{
	static const struct tcase tc[] = {
	        {"2026-11-21T10:00:00Z", 0, S(1795255200)},
	        {"2026-11-21t10:00:00z", 0, S(1795255200)},
	        {"2026-11-21 10:00:00Z", 0, S(1795255200)},
	        {"2026-11-21T10:00:00.25Z", 0, S(1795255200) + 250000},
	        {"2026-11-21T10:00:00.123Z", 0, S(1795255200) + 123000},
	        {"2026-11-21T10:00:00.000001Z", 0, S(1795255200) + 1},
	        {"2026-11-21T10:00:00.1234567Z", 0, S(1795255200) + 123456},
	        {"2026-11-21T10:00:00.999999999999999999999Z", 0, S(1795255200) + 999999},
	        {"2026-11-21T10:00:00.5+01:00", 0, S(1795255200 - 3600) + 500000},
	        {"2026-11-21T10:00:00-05:30", 0, S(1795255200 + 5 * 3600 + 30 * 60)},
	        {"2026-11-21T10:00:00+00:00", 0, S(1795255200)},
	        {"2026-11-21T10:00:00-00:00", 0, S(1795255200)},
	        {"2026-11-21T10:00:00+23:59", 0, S(1795255200 - 23 * 3600 - 59 * 60)},
	        {"2024-02-29T00:00:00Z", 0, S(1709164800)},
	        {"2000-02-29T00:00:00Z", 0, S(951868800 - 86400)},
	        {"2000-03-01T00:00:00Z", 0, S(951868800)},
	        {"2100-03-01T00:00:00Z", 0, S(4107542400LL)},
	        {"1970-01-01T00:00:00Z", 0, 0},
	        {"1969-12-31T23:59:59Z", 0, S(-1)},
	        {"1969-12-31T23:59:59.5Z", 0, -500000},
	        {"1600-02-29T12:00:00Z", 0, S(-11670955200LL)},
	        {"0000-01-01T00:00:00Z", 0, S(-62167219200LL)},
	        {"9999-12-31T23:59:59Z", 0, S(253402300799LL)},
	        {"2026-12-31T23:59:59Z", 0, S(1798761599)},
	        {"2026-01-31T00:00:00Z", 0, S(1769817600)},
	        {"2026-04-30T00:00:00Z", 0, S(1777507200)},
	        /* leap second: clamped to the last microsecond of :59 */
	        {"2016-12-31T23:59:60Z", 0, S(1483228799) + 999999},
	        {"2016-12-31T23:59:60.5Z", 0, S(1483228799) + 999999},
	};
	(void)state;
	check_time(tc, sizeof(tc) / sizeof(tc[0]));
}

static void
test_time_rfc3339_invalid(void **state)
{
	static const struct tcase tc[] = {
	        {"2026-02-29T00:00:00Z", -EINVAL, 0},
	        {"2100-02-29T00:00:00Z", -EINVAL, 0},
	        {"2026-13-01T00:00:00Z", -EINVAL, 0},
	        {"2026-00-01T00:00:00Z", -EINVAL, 0},
	        {"2026-01-00T00:00:00Z", -EINVAL, 0},
	        {"2026-01-32T00:00:00Z", -EINVAL, 0},
	        {"2026-04-31T00:00:00Z", -EINVAL, 0},
	        {"2026-06-31T00:00:00Z", -EINVAL, 0},
	        {"2026-11-21T24:00:00Z", -EINVAL, 0},
	        {"2026-11-21T10:60:00Z", -EINVAL, 0},
	        {"2026-11-21T10:00:61Z", -EINVAL, 0},
	        {"2026-11-21T10:00:00", -EINVAL, 0},   /* no offset */
	        {"2026-11-21T10:00:00ZZ", -EINVAL, 0}, /* trailing junk */
	        {"2026-11-21T10:00:00Z ", -EINVAL, 0},
	        {"2026-11-21T10:00:00Zjunk", -EINVAL, 0},
	        {"2026-11-21T10:00:00+01:00x", -EINVAL, 0},
	        {"2026-11-21T10:00:00.Z", -EINVAL, 0}, /* empty fraction */
	        {"2026-11-21T10:00:00,5Z", -EINVAL, 0},
	        {"2026-11-21T10:00:00+1:00", -EINVAL, 0},
	        {"2026-11-21T10:00:00+01", -EINVAL, 0},
	        {"2026-11-21T10:00:00+0100", -EINVAL, 0},
	        {"2026-11-21T10:00:00+24:00", -EINVAL, 0},
	        {"2026-11-21T10:00:00+01:60", -EINVAL, 0},
	        {"2026-11-21T10:00Z", -EINVAL, 0},
	        {"2026-11-21", -EINVAL, 0},
	        {"2026-11-21T", -EINVAL, 0},
	        {"2026-11-21X10:00:00Z", -EINVAL, 0},
	        {"2026-1-21T10:00:00Z", -EINVAL, 0},
	        {"2026-11-2T10:00:00Z", -EINVAL, 0},
	        {"2026-11-21T1:00:00Z", -EINVAL, 0},
	        {"20261-11-21T10:00:00Z", -EINVAL, 0},
	        {"2026-", -EINVAL, 0},
	        {"2026-+1-21T10:00:00Z", -EINVAL, 0},
	        {" 2026-11-21T10:00:00Z", -EINVAL, 0},
	};
	(void)state;
	check_time(tc, sizeof(tc) / sizeof(tc[0]));
}

static void
test_time_unix_relative(void **state)
{
	static const struct tcase tc[] = {
	        {"1795000000", 0, S(1795000000)},
	        {"1795000000.25", 0, S(1795000000) + 250000},
	        {"1795000000.1234567", 0, S(1795000000) + 123456},
	        {"0", 0, 0},
	        {"0.000001", 0, 1},
	        {"0.0000009", 0, 0},
	        {"2026", 0, S(2026)},
	        {"9223372036854", 0, S(9223372036854LL)},
	        {"9223372036854.775807", 0, INT64_MAX},
	        {"9223372036854.775808", -ERANGE, 0},
	        {"9223372036855", -ERANGE, 0},
	        {"99999999999999999999999999", -ERANGE, 0},
	        {"99999999999999999999999999x", -EINVAL, 0},
	        {"now", 0, NOW},
	        {"-30s", 0, NOW - S(30)},
	        {"-15m", 0, NOW - S(15 * 60)},
	        {"-2h", 0, NOW - S(2 * 3600)},
	        {"-1d", 0, NOW - S(86400)},
	        {"-30", 0, NOW - S(30)},
	        {"-500ms", 0, NOW - 500000},
	        {"-1.5s", 0, NOW - 1500000},
	        {"-0s", 0, NOW},
	        {"-106751991d", 0, NOW - 106751991LL * 86400 * TIME_US_PER_SEC},
	        {"-106751992d", -ERANGE, 0},
	        {"-99999999999999999999s", -ERANGE, 0},
	        {"", -EINVAL, 0},
	        {"abc", -EINVAL, 0},
	        {"now ", -EINVAL, 0},
	        {"NOW", -EINVAL, 0},
	        {"nowx", -EINVAL, 0},
	        {"-", -EINVAL, 0},
	        {"--30s", -EINVAL, 0},
	        {"+30s", -EINVAL, 0},
	        {"-30x", -EINVAL, 0},
	        {"-30 s", -EINVAL, 0},
	        {"1795000000.", -EINVAL, 0},
	        {".25", -EINVAL, 0},
	        {"1795000000.25.5", -EINVAL, 0},
	        {"1795000000s", -EINVAL, 0},
	        {" 1795000000", -EINVAL, 0},
	        {"1795000000 ", -EINVAL, 0},
	        {"0x10", -EINVAL, 0},
	        {"1e9", -EINVAL, 0},
	};
	(void)state;
	check_time(tc, sizeof(tc) / sizeof(tc[0]));
}

static void
test_time_parse_null(void **state)
{
	int64_t out = SENTINEL;
	(void)state;
	assert_int_equal(time_parse(NULL, NOW, &out), -EINVAL);
	assert_int_equal(duration_parse(NULL, &out), -EINVAL);
	assert_int_equal(out, SENTINEL);
	/* relative time below INT64_MIN */
	assert_int_equal(time_parse("-1s", INT64_MIN + 5, &out), -ERANGE);
	assert_int_equal(out, SENTINEL);
}

static void
test_duration(void **state)
{
	static const struct tcase tc[] = {
	        {"2", 0, S(2)},
	        {"2s", 0, S(2)},
	        {"0", 0, 0},
	        {"500ms", 0, 500000},
	        {"250us", 0, 250},
	        {"15m", 0, S(900)},
	        {"2h", 0, S(7200)},
	        {"14d", 0, S(14 * 86400)},
	        {"1.5s", 0, 1500000},
	        {"1.5", 0, 1500000},
	        {"0.5ms", 0, 500},
	        {"1.5us", 0, 1},
	        {"0.1m", 0, S(6)},
	        {"1.25h", 0, S(4500)},
	        {"0.5d", 0, S(43200)},
	        {"00010s", 0, S(10)},
	        {"9223372036854775807us", 0, INT64_MAX},
	        {"9223372036854775808us", -ERANGE, 0},
	        {"9223372036854775s", -ERANGE, 0},
	        {"106751991d", 0, 106751991LL * 86400 * TIME_US_PER_SEC},
	        {"106751992d", -ERANGE, 0},
	        {"18446744073709551616", -ERANGE, 0},
	        {"", -EINVAL, 0},
	        {"s", -EINVAL, 0},
	        {"-1s", -EINVAL, 0},
	        {"+1s", -EINVAL, 0},
	        {"1S", -EINVAL, 0},
	        {"1 s", -EINVAL, 0},
	        {"1sec", -EINVAL, 0},
	        {"1ss", -EINVAL, 0},
	        {"1mss", -EINVAL, 0},
	        {"1w", -EINVAL, 0},
	        {"1.s", -EINVAL, 0},
	        {".5s", -EINVAL, 0},
	        {"1..5s", -EINVAL, 0},
	        {"1h30m", -EINVAL, 0},
	        {"abc", -EINVAL, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		int64_t out = SENTINEL;
		int rc = duration_parse(tc[i].in, &out);
		if (rc != tc[i].rc || (rc == 0 && out != tc[i].want)) {
			print_error("duration_parse(\"%s\"): rc %d out %lld, want rc %d %lld\n",
			            tc[i].in, rc, (long long)out, tc[i].rc, (long long)tc[i].want);
			fail();
		}
		if (rc != 0)
			assert_int_equal(out, SENTINEL);
	}
}

static void
test_size(void **state)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t want;
	} tc[] = {
	        {"4096", 0, 4096},
	        {"0", 0, 0},
	        {"4K", 0, 4096},
	        {"4k", 0, 4096},
	        {"4KiB", 0, 4096},
	        {"4KB", 0, 4096},
	        {"4096B", 0, 4096},
	        {"512M", 0, 512ULL << 20},
	        {"512MiB", 0, 512ULL << 20},
	        {"1G", 0, 1ULL << 30},
	        {"1g", 0, 1ULL << 30},
	        {"1GB", 0, 1ULL << 30},
	        {"2T", 0, 2ULL << 40},
	        {"2TiB", 0, 2ULL << 40},
	        {"1.5K", 0, 1536},
	        {"1.5G", 0, 3ULL << 29},
	        {"18446744073709551615", 0, UINT64_MAX},
	        {"18446744073709551616", -ERANGE, 0},
	        {"16777215T", 0, 16777215ULL << 40},
	        {"16777216T", -ERANGE, 0},
	        {"", -EINVAL, 0},
	        {"K", -EINVAL, 0},
	        {"-1", -EINVAL, 0},
	        {"4Ki", -EINVAL, 0},
	        {"4KiBx", -EINVAL, 0},
	        {"4KK", -EINVAL, 0},
	        {"4Kb", -EINVAL, 0},
	        {"4 K", -EINVAL, 0},
	        {"4P", -EINVAL, 0},
	        {"4BB", -EINVAL, 0},
	        {"0x10", -EINVAL, 0},
	        {"1.K", -EINVAL, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(tc) / sizeof(tc[0]); i++) {
		uint64_t out = 777;
		int rc = size_parse(tc[i].in, &out);
		if (rc != tc[i].rc || (rc == 0 && out != tc[i].want)) {
			print_error("size_parse(\"%s\"): rc %d out %llu, want rc %d %llu\n",
			            tc[i].in, rc, (unsigned long long)out, tc[i].rc,
			            (unsigned long long)tc[i].want);
			fail();
		}
		if (rc != 0)
			assert_int_equal(out, 777);
	}
	assert_int_equal(size_parse(NULL, NULL), -EINVAL);
}

static void
test_format(void **state)
{
	char buf[TIME_RFC3339_LEN];
	(void)state;

	assert_int_equal(time_format_rfc3339(S(1795255200) + 123456, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2026-11-21T10:00:00.123Z");
	assert_int_equal(strlen(buf), 24);
	assert_int_equal(time_format_rfc3339(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	assert_int_equal(time_format_rfc3339(-1, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	assert_int_equal(time_format_rfc3339(S(1709164800), buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2024-02-29T00:00:00.000Z");
	assert_int_equal(time_format_rfc3339(0, buf, 25), 0);
	assert_int_equal(time_format_rfc3339(0, buf, 24), -ENOSPC);
	assert_int_equal(time_format_rfc3339(0, buf, 0), -ENOSPC);
}

/* Formatting then parsing gives the value truncated (floored) to the ms. */
static void
test_format_roundtrip(void **state)
{
	const int64_t lo = S(-62167219200LL);     /* 0000-01-01 */
	const int64_t hi = S(253402300799LL + 1); /* 10000-01-01 */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char buf[TIME_RFC3339_LEN];
	(void)state;

	for (int i = 0; i < 200000; i++) {
		int64_t v, back = 0, want;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = lo + (int64_t)(x % (uint64_t)(hi - lo));
		assert_int_equal(time_format_rfc3339(v, buf, sizeof(buf)), 0);
		assert_int_equal(time_parse(buf, 0, &back), 0);
		want = v - (((v % 1000) + 1000) % 1000);
		if (back != want) {
			print_error("%lld -> %s -> %lld\n", (long long)v, buf, (long long)back);
			fail();
		}
	}
}

/* Every day of 1900..2100 through the parser agrees with gmtime_r. */
static void
test_calendar_days(void **state)
{
	char in[64], out[TIME_RFC3339_LEN];
	static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	(void)state;

	for (int y = 1900; y <= 2100; y++) {
		for (int m = 1; m <= 12; m++) {
			int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
			int nd = dim[m - 1] + (m == 2 && leap);
			for (int d = 1; d <= nd + 1; d++) {
				int64_t v = 0;
				int rc;
				snprintf(in, sizeof(in), "%04d-%02d-%02dT12:34:56.789Z", y, m, d);
				rc = time_parse(in, 0, &v);
				if (d > nd) {
					assert_int_equal(rc, -EINVAL);
					continue;
				}
				assert_int_equal(rc, 0);
				assert_int_equal(time_format_rfc3339(v, out, sizeof(out)), 0);
				assert_string_equal(in, out);
			}
		}
	}
}

static void
test_clocks(void **state)
{
	int64_t a, b;
	(void)state;
	a = time_now_us();
	assert_true(a > S(1600000000));
	a = time_mono_us();
	b = time_mono_us();
	assert_true(b >= a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_time_rfc3339_valid),
	        cmocka_unit_test(test_time_rfc3339_invalid),
	        cmocka_unit_test(test_time_unix_relative),
	        cmocka_unit_test(test_time_parse_null),
	        cmocka_unit_test(test_duration),
	        cmocka_unit_test(test_size),
	        cmocka_unit_test(test_format),
	        cmocka_unit_test(test_format_roundtrip),
	        cmocka_unit_test(test_calendar_days),
	        cmocka_unit_test(test_clocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
