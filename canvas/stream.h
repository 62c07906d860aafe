/*
 * stream.h — the canvas as a live stream: a thread that snapshots the
 * framebuffer at `fps`, encodes it (ingest's encoder: libx264 ultrafast,
 * zerolatency, keyframes on the segment grid) and feeds ingest's segmenter,
 * which stores MPEG-TS segments and their records (variant "src") like any
 * camera. It also wipes the canvas every `wipe_every_us` (black, or the
 * given pixels).
 *
 * When the encoder falls behind, frames are skipped (pts jump; counted) so
 * media time stays wall time. canvas_stream_stop() encodes no more frames,
 * drains the encoder and stores the open segment before returning.
 *
 * Metrics: sluice_canvas_frames_total, sluice_canvas_frames_skipped_total,
 * sluice_canvas_wipes_total, plus the segmenter's series.
 * Threading: start/stop from one thread. Errors: 0 or negative errno
 * (-EINVAL config, -ENOSYS no libx264, -ENOMEM).
 */
#ifndef SLUICE_CANVAS_STREAM_H
#define SLUICE_CANVAS_STREAM_H

#include <stdint.h>

#define CANVAS_FPS_MAX 120
#define CANVAS_PRESET "ultrafast"

struct fb;
struct metrics;
struct store;
struct canvas_stream;

struct canvas_stream_config {
	struct store *store;          /* borrowed */
	struct fb *fb;                /* borrowed */
	struct metrics *metrics;      /* borrowed, may be NULL */
	const char *stream;           /* copied by the segmenter */
	int fps;                      /* 1..CANVAS_FPS_MAX */
	int64_t target_us;            /* segment duration */
	int64_t wipe_every_us;        /* 0 = never */
	const uint32_t *wipe_px;      /* w*h pixels to wipe to, NULL = black; borrowed */
};

int canvas_stream_start(const struct canvas_stream_config *cfg, struct canvas_stream **out);
/* Finish the current segment, join, free. NULL-safe. Returns the thread's result. */
int canvas_stream_stop(struct canvas_stream **s);

#endif
