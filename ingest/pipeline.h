/*
 * pipeline.h — one input session: demuxed packets -> (optional encode /
 * transcode) -> one segmenter per variant, plus restream copies.
 *
 * Stream choice: the best video stream and the first audio stream in a codec
 * MPEG-TS/HLS players take (AAC, MP3, AC-3, E-AC-3); other streams are
 * discarded. Video in H.264/HEVC is copied into variant "src" (or cfg.variant);
 * any other video (raw lavfi frames, MJPEG, ...) is encoded with libx264,
 * keyframes every segment target. The ladder (cfg.rungs) is decoded once and
 * encoded with keyframes aligned to src. Audio is copied into every variant.
 *
 * The session starts at its first video keyframe (first packet without
 * video): that packet's time is the media origin, mapped to the wall clock
 * read at that moment; earlier packets are dropped.
 *
 * Threading: one thread. Errors: 0 or negative errno (-EINVAL: no usable
 * stream; -ENOMEM; encoder failures).
 */
#ifndef SLUICE_INGEST_PIPELINE_H
#define SLUICE_INGEST_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include <libavformat/avformat.h>

#include "ingest/transcode.h"
#include "store/store.h"

struct metrics;
struct pipeline;
struct restream;

struct pipeline_config {
	const char *stream;
	const char *variant;   /* of the copied/encoded source, NULL = "src" */
	const char *session;
	const char *tenant;    /* may be NULL */
	const char *device;    /* may be NULL */
	const char *preset;    /* x264 preset, NULL = default */
	int64_t target_us;
	const struct transcode_rung *rungs;
	size_t nrungs;
	int64_t out_offset_us; /* TS time of this session's origin */
	struct metrics *metrics;
	struct restream *restream; /* may be NULL */
};

int pipeline_new(struct store *st, const struct pipeline_config *cfg, AVFormatContext *ic,
                 struct pipeline **out);
/* Feed one demuxed packet (not consumed). */
int pipeline_packet(struct pipeline *p, const AVPacket *pkt);
/* Drain encoders and store the open segments. */
int pipeline_finish(struct pipeline *p);
/* Output TS time reached (for the next session's out_offset_us). */
int64_t pipeline_end_us(const struct pipeline *p);
/* Segments stored / store errors in this session, all variants. */
uint64_t pipeline_segments(const struct pipeline *p);
void pipeline_free(struct pipeline **p);

#endif
