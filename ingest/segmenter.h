/*
 * segmenter.h — encoded packets in, MPEG-TS segments out, into the store.
 *
 * A segmenter owns one variant of one session of one stream. Its caller
 * declares the elementary streams (codec parameters + packet time base), then
 * feeds encoded packets (from a demuxer or an encoder) in decode order. The
 * segmenter muxes MPEG-TS into memory through its own AVIOContext (no
 * temporary files), cuts at keyframes of the primary stream (first video
 * stream, else the first stream) once the target duration is reached (see
 * cut.h), then puts each segment's bytes into the store (store_blob_put) and
 * its record (store_record_put with STORE_PUT_ASSIGN_SEQ): wall-clock start
 * mapped from the session clock, duration from PTS, session, discontinuity on
 * the session's first segment, RFC 6381 codecs, width, height and measured
 * bandwidth. H.264/HEVC given in MP4 form (avcC/hvcC extradata) is converted to
 * Annex B with SPS/PPS in-band (h264_mp4toannexb / hevc_mp4toannexb).
 *
 * Timestamps: output TS timestamps are input media time shifted by a fixed
 * amount (cfg.out_offset_us - cfg.clock.media_origin_us), so they stay
 * monotonic across cuts; callers that start a new session may pass the
 * previous session's segmenter_end_us() as the new out_offset_us to keep the
 * TS timeline monotonic across sessions too.
 *
 * Threading: a segmenter is used by one thread at a time. The store handle
 * may be shared (store.h is thread-safe).
 *
 * Errors: 0 or a negative errno. A store failure (e.g. -ENOSPC, disk full) is
 * logged, counted, and not returned: the next segment is tried normally. A
 * packet the muxer rejects is dropped and counted. Only misuse (-EINVAL) and
 * -ENOMEM are returned by segmenter_write().
 */
#ifndef SLUICE_INGEST_SEGMENTER_H
#define SLUICE_INGEST_SEGMENTER_H

#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "ingest/cut.h"
#include "store/store.h"

struct metrics;
struct segmenter;

#define SEGMENTER_MAX_STREAMS 8
#define SEGMENTER_MAX_BYTES (256u * 1024 * 1024) /* one segment, hard limit */

struct segmenter_config {
	const char *stream;      /* required */
	const char *variant;     /* NULL -> "src" */
	const char *session;     /* required, <= STORE_SESSION_MAX chars */
	const char *tenant;      /* may be NULL */
	const char *device;      /* may be NULL */
	int64_t target_us;       /* target segment duration, > 0 */
	struct cut_clock clock;  /* media origin <-> wall clock */
	int64_t out_offset_us;   /* TS time of the media origin (>= 0) */
	struct metrics *metrics; /* may be NULL; counters labelled by variant */
	/* Called after each stored segment with the record as stored (may be NULL). */
	void (*on_segment)(void *arg, const struct store_record *rec);
	void *on_segment_arg;
};

struct segmenter_stats {
	uint64_t segments;       /* stored */
	uint64_t bytes;          /* stored bytes */
	uint64_t store_errors;
	uint64_t mux_errors;     /* packets rejected by the muxer */
	uint64_t dropped;        /* packets before the first keyframe */
	uint64_t forced_cuts;    /* cuts not at a keyframe (hard limit) */
};

/* Strings in cfg are copied. -EINVAL on bad names or target. */
int segmenter_new(struct store *st, const struct segmenter_config *cfg, struct segmenter **out);

/*
 * Declare an elementary stream (before the first packet). par is copied.
 * Returns the stream index (>= 0) packets must carry in stream_index, or
 * -EINVAL (unsupported media type), -E2BIG (too many), -ENOMEM.
 */
int segmenter_add_stream(struct segmenter *sg, const AVCodecParameters *par, AVRational tb);

/* Feed one packet (not consumed; the caller keeps ownership). */
int segmenter_write(struct segmenter *sg, const AVPacket *pkt);

/* Close and store the open segment, if any (end of input, signal, reconnect). */
int segmenter_finish(struct segmenter *sg);

/* Media end time (µs) of the last packet seen, in output TS time. */
int64_t segmenter_end_us(const struct segmenter *sg);

void segmenter_get_stats(const struct segmenter *sg, struct segmenter_stats *out);

/* Discards an unfinished segment (call segmenter_finish() first to keep it). */
void segmenter_free(struct segmenter **sg);

#endif
