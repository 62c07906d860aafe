/*
 * timeutil.c — clocks, and parsers for the time/duration/size syntax.
 *
 * Model: no state. Every parser walks the string by hand (no sscanf/strtok,
 * no locale, no TZ): a decimal scanner collects the integer part (uint64 with
 * an overflow flag) and up to DEC_FRAC_MAX fractional digits (further digits
 * are checked but dropped, i.e. truncated), then a unit multiplier scales it
 * using 128-bit arithmetic and checks the result range. Syntax errors are
 * -EINVAL, values that do not fit int64 microseconds (or uint64 bytes) are
 * -ERANGE. Syntax is checked before range, so "99999999999999999999x" is
 * -EINVAL and "99999999999999999999" is -ERANGE.
 *
 * Choices where the syntax leaves room:
 *  - a fraction needs digits on both sides of the dot ("1.5", not ".5"/"1.");
 *  - fractions finer than a microsecond are truncated (toward zero);
 *  - RFC 3339: years 0000-9999, the calendar is validated (leap years by the
 *    Gregorian rule), offsets up to ±23:59; a leap second "23:59:60" (any
 *    :60) is accepted and clamped to :59.999999 of the same minute, since
 *    Unix time has no room for it;
 *  - unit letters are lower case for durations (us ms s m h d); size
 *    suffixes K M G T accept either case, optionally followed by "B" or "iB";
 *    a bare "B" is bytes.
 */
#include "common/timeutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define DEC_FRAC_MAX 18 /* fractional digits kept; 10^18 < 2^63 */
#define RFC3339_YEAR_MAX 9999
#define OFFSET_HOUR_MAX 23

#define US_PER_MS 1000LL
#define US_PER_MIN (60 * TIME_US_PER_SEC)
#define US_PER_HOUR (60 * US_PER_MIN)
#define US_PER_DAY (24 * US_PER_HOUR)
#define SEC_PER_DAY 86400LL

struct decnum {
	uint64_t ip;    /* integer part */
	uint64_t frac;  /* first nfrac fractional digits */
	unsigned nfrac; /* <= DEC_FRAC_MAX */
	bool ovf;       /* integer part did not fit uint64 */
};

static const uint64_t pow10_tab[DEC_FRAC_MAX + 1] = {
        1ULL,
        10ULL,
        100ULL,
        1000ULL,
        10000ULL,
        100000ULL,
        1000000ULL,
        10000000ULL,
        100000000ULL,
        1000000000ULL,
        10000000000ULL,
        100000000000ULL,
        1000000000000ULL,
        10000000000000ULL,
        100000000000000ULL,
        1000000000000000ULL,
        10000000000000000ULL,
        100000000000000000ULL,
        1000000000000000000ULL,
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int64_t
time_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * TIME_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t
time_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * TIME_US_PER_SEC + ts.tv_nsec / 1000;
}

/*
 * Scan "digits[.digits]" at p. Returns the position after the number, or NULL
 * when there is no valid number there (no leading digit, or a dot without a
 * digit after it).
 */
static const char *
scan_decimal(const char *p, struct decnum *d)
{
	memset(d, 0, sizeof(*d));
	if (!is_digit(*p))
		return NULL;
	for (; is_digit(*p); p++) {
		unsigned dig = (unsigned)(*p - '0');
		if (d->ip > (UINT64_MAX - dig) / 10)
			d->ovf = true;
		else
			d->ip = d->ip * 10 + dig;
	}
	if (*p != '.')
		return p;
	p++;
	if (!is_digit(*p))
		return NULL;
	for (; is_digit(*p); p++) {
		if (d->nfrac < DEC_FRAC_MAX) {
			d->frac = d->frac * 10 + (uint64_t)(*p - '0');
			d->nfrac++;
		}
	}
	return p;
}

/* *out = d * mult, truncated toward zero; -ERANGE if above max. */
static int
dec_scale(const struct decnum *d, uint64_t mult, uint64_t max, uint64_t *out)
{
	unsigned __int128 v;

	if (d->ovf)
		return -ERANGE;
	v = (unsigned __int128)d->ip * mult;
	v += (unsigned __int128)d->frac * mult / pow10_tab[d->nfrac];
	if (v > max)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int
duration_parse(const char *s, int64_t *out_us)
{
	struct decnum d;
	const char *p;
	uint64_t mult, v;
	int rc;

	if (s == NULL)
		return -EINVAL;
	p = scan_decimal(s, &d);
	if (p == NULL)
		return -EINVAL;
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = TIME_US_PER_SEC;
	else if (strcmp(p, "ms") == 0)
		mult = US_PER_MS;
	else if (strcmp(p, "us") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = US_PER_MIN;
	else if (strcmp(p, "h") == 0)
		mult = US_PER_HOUR;
	else if (strcmp(p, "d") == 0)
		mult = US_PER_DAY;
	else
		return -EINVAL;
	rc = dec_scale(&d, mult, INT64_MAX, &v);
	if (rc != 0)
		return rc;
	*out_us = (int64_t)v;
	return 0;
}

int
size_parse(const char *s, uint64_t *out)
{
	struct decnum d;
	const char *p;
	uint64_t mult = 1, v;
	int shift = -1;
	int rc;

	if (s == NULL)
		return -EINVAL;
	p = scan_decimal(s, &d);
	if (p == NULL)
		return -EINVAL;
	switch (*p) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	default:
		break;
	}
	if (shift >= 0) {
		mult = 1ULL << shift;
		p++;
		if (*p == 'i') { /* "KiB": the 'i' must be followed by 'B' */
			if (p[1] != 'B')
				return -EINVAL;
			p++;
		}
	}
	if (*p == 'B')
		p++;
	if (*p != '\0')
		return -EINVAL;
	rc = dec_scale(&d, mult, UINT64_MAX, &v);
	if (rc != 0)
		return rc;
	*out = v;
	return 0;
}

/*
 * Days since 1970-01-01 of the proleptic Gregorian date y-m-d. Works in
 * 400-year eras that start on March 1st, so the leap day is the last day of
 * its year: day-of-year from March is (153 * mp + 2) / 5 + d - 1 where
 * mp = 0 for March .. 11 for February; 719468 is the day number of
 * 1970-01-01 counted from 0000-03-01.
 */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;
	unsigned mp;

	if (m <= 2)
		y--;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	mp = m > 2 ? m - 3 : m + 9;
	doy = (153 * (int64_t)mp + 2) / 5 + (int64_t)d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
days_in_month(int64_t y, unsigned m)
{
	static const unsigned dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && is_leap(y))
		return 29;
	return dim[m - 1];
}

/* Exactly n digits at *pp into *out; advances *pp. */
static bool
fixed_digits(const char **pp, unsigned n, unsigned *out)
{
	const char *p = *pp;
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*pp = p + n;
	*out = v;
	return true;
}

static bool
looks_rfc3339(const char *s)
{
	return is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3]) && s[4] == '-';
}

static int
parse_rfc3339(const char *s, int64_t *out_us)
{
	unsigned year, mon, day, hour, min, sec, oh = 0, om = 0;
	int64_t frac_us = 0, off_sec = 0, t;
	const char *p = s;

	if (!fixed_digits(&p, 4, &year) || *p++ != '-' || !fixed_digits(&p, 2, &mon) ||
	    *p++ != '-' || !fixed_digits(&p, 2, &day))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (!fixed_digits(&p, 2, &hour) || *p++ != ':' || !fixed_digits(&p, 2, &min) ||
	    *p++ != ':' || !fixed_digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		unsigned n = 0;
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		for (; is_digit(*p); p++) {
			if (n < 6) {
				frac_us = frac_us * 10 + (*p - '0');
				n++;
			}
		}
		for (; n < 6; n++)
			frac_us *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		p++;
		if (!fixed_digits(&p, 2, &oh) || *p++ != ':' || !fixed_digits(&p, 2, &om))
			return -EINVAL;
		if (oh > OFFSET_HOUR_MAX || om > 59)
			return -EINVAL;
		off_sec = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (year > RFC3339_YEAR_MAX || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	if (sec == 60) { /* leap second: clamp to the last microsecond of :59 */
		sec = 59;
		frac_us = TIME_US_PER_SEC - 1;
	}
	t = days_from_civil(year, mon, day) * SEC_PER_DAY + hour * 3600 + min * 60 + sec;
	t -= off_sec;
	*out_us = t * TIME_US_PER_SEC + frac_us;
	return 0;
}

int
time_parse(const char *s, int64_t now_us, int64_t *out_us)
{
	struct decnum d;
	const char *p;
	int64_t dur, t;
	uint64_t v;
	int rc;

	if (s == NULL || s[0] == '\0')
		return -EINVAL;
	if (strcmp(s, "now") == 0) {
		*out_us = now_us;
		return 0;
	}
	if (s[0] == '-') {
		rc = duration_parse(s + 1, &dur);
		if (rc != 0)
			return rc;
		if (__builtin_sub_overflow(now_us, dur, &t))
			return -ERANGE;
		*out_us = t;
		return 0;
	}
	if (looks_rfc3339(s))
		return parse_rfc3339(s, out_us);
	p = scan_decimal(s, &d);
	if (p == NULL || *p != '\0')
		return -EINVAL;
	rc = dec_scale(&d, TIME_US_PER_SEC, INT64_MAX, &v);
	if (rc != 0)
		return rc;
	*out_us = (int64_t)v;
	return 0;
}

int
time_format_rfc3339(int64_t us, char *buf, size_t len)
{
	int64_t sec = us / TIME_US_PER_SEC, rem = us % TIME_US_PER_SEC;
	struct tm tm;
	time_t tt;
	int n;

	if (rem < 0) { /* floor toward -inf so the fraction is non-negative */
		rem += TIME_US_PER_SEC;
		sec--;
	}
	tt = (time_t)sec;
	if (gmtime_r(&tt, &tm) == NULL)
		return -ERANGE;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	             (int)(rem / US_PER_MS));
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENOSPC;
	return 0;
}
