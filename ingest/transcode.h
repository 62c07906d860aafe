/*
 * transcode.h — decode one video stream once, encode it into several H.264
 * outputs (the --transcode ladder, and the "src" encode of raw inputs).
 *
 * Keyframes are aligned across outputs: every output is forced to an IDR
 * frame at the same presentation times — either where the input had a
 * keyframe (TRANSCODE_KEYS_FOLLOW, for encoded inputs: so the ladder cuts
 * where the copied "src" cuts) or on a grid every target_us after origin_us
 * (TRANSCODE_KEYS_GRID, for raw inputs where we make "src" too). The
 * segmenters fed by these outputs therefore cut at the same PTS.
 *
 * Packets come out through cfg.emit(arg, output index, packet) in the input
 * stream's time base; the callback does not keep the packet.
 * Threading: one thread. Errors: 0 or negative errno; decoder errors on
 * single packets are counted and skipped, not returned.
 */
#ifndef SLUICE_INGEST_TRANSCODE_H
#define SLUICE_INGEST_TRANSCODE_H

#include <stddef.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

#include "store/store.h"

#define TRANSCODE_MAX_RUNGS 6
#define TRANSCODE_MIN_HEIGHT 64
#define TRANSCODE_MAX_HEIGHT 4320

struct transcode;

struct transcode_rung {
	char name[STORE_VARIANT_MAX + 1]; /* variant name, e.g. "720p" */
	int height;                       /* 0 = the input's size */
	int64_t bit_rate;                 /* 0 = constant quality */
};

/*
 * Parse "720p,360p" (pure): each item "<N>p" with N in
 * [TRANSCODE_MIN_HEIGHT, TRANSCODE_MAX_HEIGHT]; bit rates from a default
 * table scaled by area. -EINVAL on syntax, duplicates or too many items.
 */
int transcode_parse_ladder(const char *spec, struct transcode_rung *out, size_t max,
                           size_t *n);

/* Default bit rate for a rung height (bit/s). */
int64_t transcode_default_bitrate(int height);

enum transcode_keys { TRANSCODE_KEYS_FOLLOW = 0, TRANSCODE_KEYS_GRID = 1 };

struct transcode_config {
	const AVCodecParameters *par; /* input video stream */
	AVRational tb;                /* its packet time base */
	AVRational fps;               /* its frame rate (0/0: 30) */
	enum transcode_keys keys;
	int64_t target_us;            /* segment target (grid, gop) */
	int64_t origin_us;            /* grid origin, media µs */
	const char *preset;           /* x264 preset, NULL = default */
	int (*emit)(void *arg, int output, AVPacket *pkt);
	void *arg;
};

int transcode_new(const struct transcode_config *cfg, const struct transcode_rung *rungs,
                  size_t n, struct transcode **out);
/* Codec parameters of output i (for segmenter_add_stream). */
const AVCodecParameters *transcode_params(const struct transcode *tc, size_t i);
/* Decode one input packet and encode what comes out; pkt NULL drains everything. */
int transcode_packet(struct transcode *tc, const AVPacket *pkt);
void transcode_free(struct transcode **tc);

#endif
