/*
 * cut.c — pure segmenting decisions (see cut.h).
 *
 * Model: nothing is kept here; the segmenter owns its state (open flag,
 * segment start, bytes) and asks cut_decide() per packet. Cuts depend only on
 * the primary stream's keyframe times, the target and the previous cut, so
 * several variants fed the same keyframe times cut at the same times.
 */
#include "ingest/cut.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

int64_t
cut_clock_wall(const struct cut_clock *c, int64_t media_us)
{
	return c->wall_origin_us + (media_us - c->media_origin_us);
}

enum cut_action
cut_decide(const struct cut_params *p, bool open, int64_t seg_start_us, size_t seg_bytes,
           bool primary, bool key, int64_t pkt_us)
{
	int64_t slack, elapsed, hard;

	if (!open)
		return (primary && key) ? CUT_START : CUT_DROP;
	if (!primary)
		return CUT_APPEND;
	elapsed = pkt_us - seg_start_us;
	slack = p->frame_us > 0 ? p->frame_us / 2 : CUT_DEFAULT_SLACK_US;
	if (key && elapsed + slack >= p->target_us)
		return CUT_SPLIT;
	hard = p->target_us * CUT_HARD_FACTOR;
	if (hard < CUT_HARD_MIN_US)
		hard = CUT_HARD_MIN_US;
	if (elapsed >= hard || (p->max_bytes > 0 && seg_bytes >= p->max_bytes))
		return key ? CUT_SPLIT : CUT_FORCE;
	return CUT_APPEND;
}

bool
cut_grid_key(int64_t media_us, int64_t origin_us, int64_t target_us, int64_t *next_us)
{
	int64_t k;

	if (*next_us != INT64_MIN && media_us < *next_us)
		return false;
	if (target_us <= 0 || media_us < origin_us) {
		*next_us = media_us + (target_us > 0 ? target_us : 1);
		return true;
	}
	k = (media_us - origin_us) / target_us + 1;
	*next_us = origin_us + k * target_us;
	/* a frame just before a grid point (within 1 ms) counts as on it */
	if (*next_us - media_us <= 1000)
		*next_us += target_us;
	return true;
}

int64_t
cut_backoff_us(unsigned attempt, uint32_t rnd)
{
	int64_t d = CUT_BACKOFF_BASE_US;
	int64_t half;

	while (attempt-- > 0 && d < CUT_BACKOFF_MAX_US)
		d *= 2;
	if (d > CUT_BACKOFF_MAX_US)
		d = CUT_BACKOFF_MAX_US;
	half = d / 2;
	return half + (int64_t)(rnd % (uint64_t)(half + 1));
}

uint64_t
cut_bandwidth(uint64_t bytes, int64_t duration_us)
{
	if (duration_us <= 0)
		return 0;
	return (uint64_t)((double)bytes * 8.0 * 1e6 / (double)duration_us + 0.5);
}

int
cut_session_id(int64_t now_us, uint64_t rnd, char *buf, size_t len)
{
	time_t t = (time_t)(now_us / 1000000);
	struct tm tm;
	int n;

	if (len < CUT_SESSION_LEN)
		return -ENOSPC;
	if (gmtime_r(&t, &tm) == NULL)
		return -EINVAL;
	n = snprintf(buf, len, "%04d%02d%02dT%02d%02d%02dZ-%016" PRIx64, tm.tm_year + 1900,
	             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rnd);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return 0;
}
