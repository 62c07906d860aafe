/*
 * flags.c — validation helpers for command-line flag values.
 *
 * Model: no state; each helper reads a NUL-terminated string by hand (no
 * strtol surprises: no leading blanks, no "0x", no trailing junk) and writes
 * its outputs only on success.
 */
#include "common/flags.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_PORT_MAX 65535
#define FLAG_PORT_DIGITS_MAX 5
#define FLAG_STREAM_MAX 64
#define FLAG_VARIANT_MAX 32
#define FLAG_ANY_HOST "0.0.0.0"

const char *
flag_or_env(const char *value, const char *env, const char *dflt)
{
	const char *e;

	if (value != NULL)
		return value;
	if (env != NULL) {
		e = getenv(env);
		if (e != NULL && e[0] != '\0')
			return e;
	}
	return dflt;
}

static bool
host_char_ok(char c)
{
	/* Printable, no blanks, none of the separators we parse around. */
	return c > ' ' && c < 0x7f && c != '[' && c != ']' && c != '/';
}

int
flag_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, int allow_zero)
{
	const char *h, *colon;
	size_t hlen;
	unsigned long pv = 0;
	size_t nd = 0;

	if (s == NULL)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
		if (hlen == 0)
			return -EINVAL;
		for (size_t i = 0, zone = 0; i < hlen; i++) {
			/* IPv6 address, optionally "%zone" (an interface name). */
			char c = h[i];
			bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			          (c >= 'A' && c <= 'F') || c == ':' || c == '.';
			if (c == '%' && zone == 0 && i > 0) {
				zone = 1;
				continue;
			}
			if (zone)
				ok = host_char_ok(c) && c != ':' && c != '%';
			if (!ok)
				return -EINVAL;
		}
		if (h[hlen - 1] == '%')
			return -EINVAL;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -EINVAL;
		h = s;
		hlen = (size_t)(colon - s);
		for (size_t i = 0; i < hlen; i++) {
			if (!host_char_ok(h[i]) || h[i] == ':')
				return -EINVAL;
		}
		if (hlen == 0) {
			h = FLAG_ANY_HOST;
			hlen = strlen(FLAG_ANY_HOST);
		}
	}
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || ++nd > FLAG_PORT_DIGITS_MAX)
			return -EINVAL;
		pv = pv * 10 + (unsigned long)(*p - '0');
	}
	if (nd == 0 || pv > FLAG_PORT_MAX || (pv == 0 && !allow_zero))
		return -EINVAL;
	if (hlen + 1 > hostlen)
		return -ENOSPC;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (uint16_t)pv;
	return 0;
}

int
flag_int(const char *s, long long min, long long max, long long *out)
{
	bool neg = false;
	unsigned long long v = 0, lim;
	const char *p = s;
	long long r;

	if (s == NULL)
		return -EINVAL;
	if (*p == '-' || *p == '+') {
		neg = *p == '-';
		p++;
	}
	if (*p < '0' || *p > '9')
		return -EINVAL;
	/* Magnitude limit: LLONG_MAX, or LLONG_MAX + 1 for negatives. */
	lim = neg ? (unsigned long long)LLONG_MAX + 1ULL : (unsigned long long)LLONG_MAX;
	for (; *p != '\0'; p++) {
		unsigned dig;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		dig = (unsigned)(*p - '0');
		if (v > (lim - dig) / 10)
			return -EINVAL;
		v = v * 10 + dig;
	}
	if (neg)
		r = v == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN : -(long long)v;
	else
		r = (long long)v;
	if (r < min || r > max)
		return -EINVAL;
	*out = r;
	return 0;
}

static int
name_check(const char *s, size_t maxlen)
{
	size_t n = 0;

	if (s == NULL)
		return -EINVAL;
	for (; s[n] != '\0'; n++) {
		char c = s[n];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		          (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok || n >= maxlen)
			return -EINVAL;
	}
	return n == 0 ? -EINVAL : 0;
}

int
flag_stream_name(const char *s)
{
	return name_check(s, FLAG_STREAM_MAX);
}

int
flag_variant_name(const char *s)
{
	return name_check(s, FLAG_VARIANT_MAX);
}
