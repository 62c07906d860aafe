/*
 * fuzz_common_time.c — time_parse, duration_parse and size_parse on
 * arbitrary bytes, with invariants:
 *  - results are 0, -EINVAL or -ERANGE, and outputs are untouched on error;
 *  - an accepted time formats as RFC 3339 and, when inside years 0000-9999,
 *    reparses to the same value truncated to the millisecond;
 *  - "-<x>" as a time equals now minus duration_parse("<x>");
 *  - an accepted duration "<x>" also parses as the time "-<x>" (now = max);
 *  - an accepted size without a unit letter reparses after appending "B".
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"

#define FUZZ_INPUT_MAX 256
#define NOW_US ((int64_t)1795255200 * TIME_US_PER_SEC)
#define RFC_MIN_US ((int64_t)-62167219200LL * TIME_US_PER_SEC)
#define RFC_END_US ((int64_t)253402300800LL * TIME_US_PER_SEC)
#define UNTOUCHED ((int64_t)0x1234567)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_rc(int rc)
{
	if (rc != 0 && rc != -EINVAL && rc != -ERANGE)
		abort();
}

static void
fuzz_time(const char *s)
{
	char buf[TIME_RFC3339_LEN];
	int64_t t = UNTOUCHED, back = 0, d = 0;
	int rc = time_parse(s, NOW_US, &t);

	check_rc(rc);
	if (rc != 0) {
		if (t != UNTOUCHED)
			abort();
		return;
	}
	if (s[0] == '-') {
		if (duration_parse(s + 1, &d) != 0 || t != NOW_US - d)
			abort();
	}
	if (time_format_rfc3339(t, buf, sizeof(buf)) != 0)
		abort();
	if (t >= RFC_MIN_US && t < RFC_END_US) {
		int64_t want = t - (((t % 1000) + 1000) % 1000);
		if (time_parse(buf, 0, &back) != 0 || back != want)
			abort();
	}
}

static void
fuzz_duration(const char *s, size_t n)
{
	char neg[FUZZ_INPUT_MAX + 2];
	int64_t d = UNTOUCHED, t = 0;
	int rc = duration_parse(s, &d);

	check_rc(rc);
	if (rc != 0) {
		if (d != UNTOUCHED)
			abort();
		return;
	}
	if (d < 0)
		abort();
	neg[0] = '-';
	memcpy(neg + 1, s, n + 1);
	if (time_parse(neg, INT64_MAX, &t) != 0 || t != INT64_MAX - d)
		abort();
}

static void
fuzz_size(const char *s, size_t n)
{
	char withb[FUZZ_INPUT_MAX + 2];
	uint64_t v = 12345, v2 = 0;
	int rc = size_parse(s, &v);

	check_rc(rc);
	if (rc != 0) {
		if (v != 12345)
			abort();
		return;
	}
	if (n > 0 && s[n - 1] >= '0' && s[n - 1] <= '9') {
		memcpy(withb, s, n);
		withb[n] = 'B';
		withb[n + 1] = '\0';
		if (size_parse(withb, &v2) != 0 || v2 != v)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[FUZZ_INPUT_MAX + 1];

	if (size > FUZZ_INPUT_MAX)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_time(s);
	fuzz_duration(s, strlen(s));
	fuzz_size(s, strlen(s));
	return 0;
}
