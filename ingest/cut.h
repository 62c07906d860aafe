/*
 * cut.h — the segmenter's pure decisions: where a segment starts and ends,
 * how media time maps to wall-clock time, when encoders force a keyframe,
 * how long to back off before reconnecting, and the measured bandwidth.
 *
 * No I/O, no state outside the caller's structs, no allocation: every
 * function here is unit-tested directly (tests/unit/ingest/test_cut.c).
 * Times are int64 microseconds; "media" time is the input's timeline
 * rescaled to microseconds, "wall" time is microseconds since the Unix epoch.
 */
#ifndef SLUICE_INGEST_CUT_H
#define SLUICE_INGEST_CUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A segment with no keyframe for this many targets is cut anyway. */
#define CUT_HARD_FACTOR 8
/* Floor of the hard limit, so short targets still allow long GOPs. */
#define CUT_HARD_MIN_US (20 * 1000000LL)
/* Tolerance when no frame duration is known. */
#define CUT_DEFAULT_SLACK_US 1000

/* Session clock: media time media_origin_us happened at wall_origin_us. */
struct cut_clock {
	int64_t wall_origin_us;
	int64_t media_origin_us;
};

/* Wall-clock time of a media timestamp (both microseconds). */
int64_t cut_clock_wall(const struct cut_clock *c, int64_t media_us);

enum cut_action {
	CUT_DROP = 0,   /* no segment open and this packet cannot open one */
	CUT_APPEND,     /* write into the open segment */
	CUT_START,      /* open the first segment with this packet */
	CUT_SPLIT,      /* close the open segment, open a new one with this packet */
	CUT_FORCE,      /* like SPLIT, but not at a keyframe (hard limit hit) */
};

struct cut_params {
	int64_t target_us;      /* target segment duration (> 0) */
	int64_t frame_us;       /* estimated frame duration; 0 if unknown */
	size_t max_bytes;       /* hard byte limit of one segment */
};

/*
 * Decide what to do with one packet. open: a segment is open, started at
 * media time seg_start_us and holding seg_bytes so far. primary: packet of
 * the stream that drives cuts (the first video stream, else the first
 * stream). key: the packet is a keyframe. pkt_us: its presentation time.
 * Segments open only at a primary keyframe and are cut at the first primary
 * keyframe at or after the target duration (within half a frame).
 */
enum cut_action cut_decide(const struct cut_params *p, bool open, int64_t seg_start_us,
                           size_t seg_bytes, bool primary, bool key, int64_t pkt_us);

/*
 * Keyframe grid for encoders that produce the stream themselves: returns true
 * when the frame at media_us must be a keyframe so that cuts fall every
 * target_us after origin_us. *next_us carries the next grid point between
 * calls (set it to INT64_MIN before the first frame).
 */
bool cut_grid_key(int64_t media_us, int64_t origin_us, int64_t target_us, int64_t *next_us);

/* Back-off policy for reconnects (exponential, equal jitter). */
#define CUT_BACKOFF_BASE_US (500 * 1000LL)
#define CUT_BACKOFF_MAX_US (30 * 1000000LL)
/* Delay before retry number attempt (0-based); rnd is any random 32 bits. */
int64_t cut_backoff_us(unsigned attempt, uint32_t rnd);

/* Bits per second of bytes over duration_us (0 when duration_us <= 0). */
uint64_t cut_bandwidth(uint64_t bytes, int64_t duration_us);

/*
 * Session id: "<UTC yyyymmddThhmmssZ>-<16 hex of rnd>", unique per run and
 * reconnect. -ENOSPC if len < CUT_SESSION_LEN.
 */
#define CUT_SESSION_LEN 40
int cut_session_id(int64_t now_us, uint64_t rnd, char *buf, size_t len);

#endif
