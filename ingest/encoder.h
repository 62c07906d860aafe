/*
 * encoder.h — raw video frames in, H.264 packets out (libx264 via
 * libavcodec), with scaling (libswscale) to the configured size.
 *
 * Used by ingest for raw inputs (lavfi test sources) and the --transcode
 * ladder, and by the canvas for its framebuffer. Frames may be any pixel
 * format and size: they are converted to yuv420p at width x height. Packets
 * carry SPS/PPS in-band on every keyframe (no global header), Annex B, no
 * B-frames (tune zerolatency), so they can go straight into a segmenter.
 * Keyframes come every `gop` frames and wherever the caller forces one
 * (forced keyframes are IDR), which is how variants stay aligned.
 *
 * Threading: one thread at a time per encoder. Errors: 0 or negative errno
 * (-ENOSYS: libx264 missing, -EINVAL: bad config, -ENOMEM, -EIO).
 */
#ifndef SLUICE_INGEST_ENCODER_H
#define SLUICE_INGEST_ENCODER_H

#include <stdbool.h>
#include <stdint.h>

#include <libavcodec/avcodec.h>

struct encoder;

#define ENCODER_DEFAULT_PRESET "veryfast"

struct encoder_config {
	int width, height;     /* output size, even, > 0 */
	AVRational time_base;  /* of frame pts and of the packets produced */
	AVRational framerate;  /* nominal frame rate (rate control, gop) */
	int64_t bit_rate;      /* target bit/s; 0 = constant quality (crf 23) */
	int gop;               /* max frames between keyframes, > 0 */
	const char *preset;    /* x264 preset; NULL = ENCODER_DEFAULT_PRESET */
};

int encoder_new(const struct encoder_config *cfg, struct encoder **out);

/*
 * Encode one frame (not consumed; the caller keeps it). force_key makes it an
 * IDR frame. frame NULL starts draining. Frames whose pts does not increase
 * are dropped (returns 0). -EAGAIN: receive packets first.
 */
int encoder_send(struct encoder *e, const AVFrame *frame, bool force_key);

/* Next packet into pkt (stream_index 0): 0, -EAGAIN (send more), -ENODATA (drained). */
int encoder_receive(struct encoder *e, AVPacket *pkt);

/* Codec parameters of the output (valid after encoder_new). */
const AVCodecParameters *encoder_params(const struct encoder *e);

void encoder_free(struct encoder **e);

#endif
