/*
 * timeutil.h — clocks and the time/duration/size syntax of DESIGN.md.
 *
 * Pure functions (no I/O, no state) except the two clock readers. Time inside
 * sluice is int64 microseconds since the Unix epoch, UTC. All parsers take a
 * NUL-terminated string, accept the whole string or nothing, and return 0 or
 * -EINVAL (syntax) / -ERANGE (out of range). Output is written only on success.
 */
#ifndef SLUICE_TIMEUTIL_H
#define SLUICE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#define TIME_US_PER_SEC 1000000LL

int64_t time_now_us(void);  /* CLOCK_REALTIME */
int64_t time_mono_us(void); /* CLOCK_MONOTONIC */

/*
 * Absolute time: RFC 3339 ("2026-11-21T10:00:00Z", "…T10:00:00.25+01:00",
 * lowercase t/z and a space separator accepted), Unix seconds ("1795000000",
 * "1795000000.25"), "now", or relative to now_us: "-30s", "-15m", "-2h",
 * "-1d" (any duration form after the minus sign).
 * Fractions need a digit on both sides of the dot and are truncated to the
 * microsecond. RFC 3339 years are 0000-9999; a leap second ":60" is accepted
 * and clamped to :59.999999.
 */
int time_parse(const char *s, int64_t now_us, int64_t *out_us);

/* Duration: "2" (seconds), "2s", "500ms", "15m", "2h", "14d", "1.5s", "250us". */
int duration_parse(const char *s, int64_t *out_us);

/* Size in bytes: "4096", "4K", "512M", "1G", "2T" (powers of 1024; "KiB"/"KB" too). */
int size_parse(const char *s, uint64_t *out);

/*
 * RFC 3339 UTC with millisecond precision: "2026-11-21T10:00:00.123Z"
 * (24 chars + NUL; buf needs >= 32). Returns -ENOSPC if len is too small.
 */
#define TIME_RFC3339_LEN 32
int time_format_rfc3339(int64_t us, char *buf, size_t len);

#endif
