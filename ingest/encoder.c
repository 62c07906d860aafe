/*
 * encoder.c — libx264 through libavcodec, plus a cached swscale context.
 *
 * Model: struct encoder owns an opened AVCodecContext, the output codec
 * parameters, one reusable yuv420p frame for scaled pictures (made writable
 * before each use, because the codec may still reference it) and the last
 * pts sent (to drop non-increasing timestamps, which x264 rejects).
 */
#include "ingest/encoder.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "common/log.h"

#define ENC_CRF "23"
#define ENC_VBV_FACTOR 2 /* buffer = FACTOR x bit_rate */

struct encoder {
	AVCodecContext *cc;
	AVCodecParameters *par;
	struct SwsContext *sws;
	AVFrame *scaled;
	AVFrame *ref;
	int64_t last_pts;
	bool draining;
};

static int
averr(int e)
{
	if (e == AVERROR(ENOMEM))
		return -ENOMEM;
	if (e == AVERROR(EAGAIN))
		return -EAGAIN;
	if (e == AVERROR_EOF)
		return -ENODATA;
	return e < 0 && e > -4096 ? e : -EIO;
}

int
encoder_new(const struct encoder_config *cfg, struct encoder **out)
{
	const AVCodec *codec;
	struct encoder *e = NULL;
	AVDictionary *opts = NULL;
	char gopbuf[64];
	int r = 0;

	*out = NULL;
	if (cfg->width <= 0 || cfg->height <= 0 || (cfg->width | cfg->height) & 1 ||
	    cfg->time_base.num <= 0 || cfg->time_base.den <= 0 || cfg->gop <= 0)
		return -EINVAL;
	codec = avcodec_find_encoder_by_name("libx264");
	if (codec == NULL) {
		log_error("encoder \"libx264\": not available in this libavcodec");
		return -ENOSYS;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->last_pts = AV_NOPTS_VALUE;
	e->cc = avcodec_alloc_context3(codec);
	e->par = avcodec_parameters_alloc();
	e->scaled = av_frame_alloc();
	e->ref = av_frame_alloc();
	if (e->cc == NULL || e->par == NULL || e->scaled == NULL || e->ref == NULL) {
		r = -ENOMEM;
		goto out;
	}
	e->cc->width = cfg->width;
	e->cc->height = cfg->height;
	e->cc->pix_fmt = AV_PIX_FMT_YUV420P;
	e->cc->time_base = cfg->time_base;
	e->cc->framerate = cfg->framerate.num > 0 ? cfg->framerate : (AVRational){ 30, 1 };
	e->cc->gop_size = cfg->gop;
	e->cc->keyint_min = 1;
	e->cc->max_b_frames = 0;
	e->cc->sample_aspect_ratio = (AVRational){ 1, 1 };
	if (cfg->bit_rate > 0) {
		e->cc->bit_rate = cfg->bit_rate;
		e->cc->rc_max_rate = cfg->bit_rate;
		e->cc->rc_buffer_size = (int)(cfg->bit_rate * ENC_VBV_FACTOR);
	} else {
		av_dict_set(&opts, "crf", ENC_CRF, 0);
	}
	av_dict_set(&opts, "preset", cfg->preset != NULL ? cfg->preset : ENCODER_DEFAULT_PRESET, 0);
	av_dict_set(&opts, "tune", "zerolatency", 0);
	av_dict_set(&opts, "forced-idr", "1", 0);
	snprintf(gopbuf, sizeof(gopbuf), "scenecut=0:keyint=%d:min-keyint=1", cfg->gop);
	av_dict_set(&opts, "x264-params", gopbuf, 0);
	r = avcodec_open2(e->cc, codec, &opts);
	if (r < 0) {
		log_error("open encoder \"libx264\" %dx%d: %s", cfg->width, cfg->height,
		          av_err2str(r));
		r = averr(r);
		goto out;
	}
	r = avcodec_parameters_from_context(e->par, e->cc);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	e->scaled->format = AV_PIX_FMT_YUV420P;
	e->scaled->width = cfg->width;
	e->scaled->height = cfg->height;
	r = av_frame_get_buffer(e->scaled, 0);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	r = 0;
out:
	av_dict_free(&opts);
	if (r < 0)
		encoder_free(&e);
	*out = e;
	return r;
}

static int
scale_into(struct encoder *e, const AVFrame *f)
{
	int r;

	e->sws = sws_getCachedContext(e->sws, f->width, f->height, f->format, e->cc->width,
	                              e->cc->height, AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL,
	                              NULL, NULL);
	if (e->sws == NULL)
		return -EINVAL;
	r = av_frame_make_writable(e->scaled);
	if (r < 0)
		return averr(r);
	sws_scale(e->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
	          e->scaled->data, e->scaled->linesize);
	return 0;
}

int
encoder_send(struct encoder *e, const AVFrame *frame, bool force_key)
{
	AVFrame *in;
	int r;

	if (frame == NULL) {
		if (e->draining)
			return 0;
		e->draining = true;
		r = avcodec_send_frame(e->cc, NULL);
		return r < 0 && r != AVERROR_EOF ? averr(r) : 0;
	}
	if (frame->pts == AV_NOPTS_VALUE ||
	    (e->last_pts != AV_NOPTS_VALUE && frame->pts <= e->last_pts))
		return 0;
	if (frame->width == e->cc->width && frame->height == e->cc->height &&
	    frame->format == AV_PIX_FMT_YUV420P) {
		r = av_frame_ref(e->ref, frame);
		if (r < 0)
			return averr(r);
		in = e->ref;
	} else {
		r = scale_into(e, frame);
		if (r < 0)
			return r;
		in = e->scaled;
	}
	in->pts = frame->pts;
	in->pict_type = force_key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	r = avcodec_send_frame(e->cc, in);
	if (in == e->ref)
		av_frame_unref(e->ref);
	if (r < 0)
		return averr(r);
	e->last_pts = frame->pts;
	return 0;
}

int
encoder_receive(struct encoder *e, AVPacket *pkt)
{
	int r = avcodec_receive_packet(e->cc, pkt);

	if (r < 0)
		return averr(r);
	pkt->stream_index = 0;
	if (pkt->duration <= 0 && e->cc->framerate.num > 0)
		pkt->duration = av_rescale_q(1, av_inv_q(e->cc->framerate), e->cc->time_base);
	return 0;
}

const AVCodecParameters *
encoder_params(const struct encoder *e)
{
	return e->par;
}

void
encoder_free(struct encoder **pe)
{
	struct encoder *e = *pe;

	if (e == NULL)
		return;
	avcodec_free_context(&e->cc);
	avcodec_parameters_free(&e->par);
	sws_freeContext(e->sws);
	av_frame_free(&e->scaled);
	av_frame_free(&e->ref);
	free(e);
	*pe = NULL;
}
