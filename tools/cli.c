/*
 * cli.c — error and flag helpers shared by the sluice subcommands.
 */
#include "tools/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "store/store.h"

int
cli_fail(const char *ctx, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sluice: %s: %s\n", ctx, msg);
	return CLI_EXIT_FAIL;
}

int
cli_usage(const char *ctx, const char *usage, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sluice: %s: %s\nusage: %s\n", ctx, msg, usage);
	return CLI_EXIT_USAGE;
}

int
cli_store_open(const char *ctx, const char *dir, unsigned flags, struct store **out)
{
	int rc = store_open(dir, flags, out);

	if (rc == 0)
		return 0;
	if (rc == -ENOTDIR)
		return cli_fail(ctx, "store \"%s\": not a sluice store (create one with "
		                "\"sluice store init %s\")", dir, dir);
	return cli_fail(ctx, "store \"%s\": %s", dir, strerror(-rc));
}

int
cli_time(const char *ctx, const char *usage, const char *flag, const char *s, int64_t *out_us)
{
	if (time_parse(s, time_now_us(), out_us) != 0)
		return cli_usage(ctx, usage, "%s \"%s\": not a time (RFC 3339, Unix seconds, "
		                 "now, -30s)", flag, s);
	return 0;
}

int
cli_duration(const char *ctx, const char *usage, const char *flag, const char *s,
             int64_t *out_us)
{
	if (duration_parse(s, out_us) != 0)
		return cli_usage(ctx, usage, "%s \"%s\": not a duration (2, 2s, 500ms, 15m, 14d)",
		                 flag, s);
	return 0;
}

int
cli_uint(const char *ctx, const char *usage, const char *flag, const char *s, uint64_t max,
         uint64_t *out)
{
	unsigned long long v;
	char *end = NULL;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	return cli_usage(ctx, usage, "%s \"%s\": not a number in 0..%llu", flag, s,
	                 (unsigned long long)max);
}

void
cli_getopt_reset(void)
{
	optind = 0;   /* glibc: full reinitialisation */
	opterr = 0;
}
