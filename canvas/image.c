/*
 * image.c — PNG out, any image in.
 *
 * Each call builds and frees its own codec contexts (cold paths: a
 * snapshot request, a periodic wipe). 0x00RRGGBB in native-endian memory
 * is AV_PIX_FMT_0RGB32 for swscale; for PNG we write RGB24 rows directly.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "canvas/fb.h"
#include "canvas/image.h"
#include "common/log.h"

static int
averr(int e)
{
	if (e == AVERROR(ENOMEM))
		return -ENOMEM;
	if (e == AVERROR(ENOENT))
		return -ENOENT;
	if (e == AVERROR_INVALIDDATA)
		return -EINVAL;
	return -EIO;
}

int
image_png_encode(const uint32_t *px, uint32_t w, uint32_t h, uint8_t **png, size_t *len)
{
	const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
	AVCodecContext *cc = NULL;
	AVFrame *f = NULL;
	AVPacket *pkt = NULL;
	uint32_t x, y;
	int r;

	if (codec == NULL)
		return -ENOSYS;
	if (w == 0 || h == 0 || w > FB_MAX_DIM || h > FB_MAX_DIM)
		return -EINVAL;
	cc = avcodec_alloc_context3(codec);
	f = av_frame_alloc();
	pkt = av_packet_alloc();
	if (cc == NULL || f == NULL || pkt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	cc->width = (int)w;
	cc->height = (int)h;
	cc->pix_fmt = AV_PIX_FMT_RGB24;
	cc->time_base = (AVRational){ 1, 1 };
	r = avcodec_open2(cc, codec, NULL);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	f->width = (int)w;
	f->height = (int)h;
	f->format = AV_PIX_FMT_RGB24;
	r = av_frame_get_buffer(f, 0);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	for (y = 0; y < h; y++) {
		uint8_t *row = f->data[0] + (size_t)y * (size_t)f->linesize[0];
		for (x = 0; x < w; x++) {
			uint32_t v = px[(size_t)y * w + x];
			row[3 * x] = (uint8_t)(v >> 16);
			row[3 * x + 1] = (uint8_t)(v >> 8);
			row[3 * x + 2] = (uint8_t)v;
		}
	}
	f->pts = 0;
	r = avcodec_send_frame(cc, f);
	if (r >= 0)
		r = avcodec_send_frame(cc, NULL);
	if (r >= 0)
		r = avcodec_receive_packet(cc, pkt);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	*png = malloc((size_t)pkt->size);
	if (*png == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(*png, pkt->data, (size_t)pkt->size);
	*len = (size_t)pkt->size;
	r = 0;
out:
	av_packet_free(&pkt);
	av_frame_free(&f);
	avcodec_free_context(&cc);
	return r;
}

int
image_load(const char *path, uint32_t w, uint32_t h, uint32_t *px)
{
	AVFormatContext *ic = NULL;
	AVCodecContext *dc = NULL;
	const AVCodec *codec;
	AVPacket *pkt = NULL;
	AVFrame *f = NULL;
	struct SwsContext *sws = NULL;
	uint8_t *dst[4] = { (uint8_t *)px, NULL, NULL, NULL };
	int dls[4] = { (int)(w * 4), 0, 0, 0 };
	int r, si;
	bool got = false;

	r = avformat_open_input(&ic, path, NULL, NULL);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	r = avformat_find_stream_info(ic, NULL);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	si = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
	if (si < 0) {
		r = -EINVAL;
		goto out;
	}
	dc = avcodec_alloc_context3(codec);
	pkt = av_packet_alloc();
	f = av_frame_alloc();
	if (dc == NULL || pkt == NULL || f == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = avcodec_parameters_to_context(dc, ic->streams[si]->codecpar);
	if (r >= 0)
		r = avcodec_open2(dc, codec, NULL);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	while (!got && av_read_frame(ic, pkt) >= 0) {
		if (pkt->stream_index == si && avcodec_send_packet(dc, pkt) >= 0 &&
		    avcodec_receive_frame(dc, f) >= 0)
			got = true;
		av_packet_unref(pkt);
	}
	if (!got && avcodec_send_packet(dc, NULL) >= 0 && avcodec_receive_frame(dc, f) >= 0)
		got = true;
	if (!got) {
		r = -EINVAL;
		goto out;
	}
	sws = sws_getContext(f->width, f->height, f->format, (int)w, (int)h, AV_PIX_FMT_0RGB32,
	                     SWS_BILINEAR, NULL, NULL, NULL);
	if (sws == NULL) {
		r = -EINVAL;
		goto out;
	}
	sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dls);
	r = 0;
out:
	if (r < 0)
		log_error("load image \"%s\": %s", path, strerror(-r));
	sws_freeContext(sws);
	av_frame_free(&f);
	av_packet_free(&pkt);
	avcodec_free_context(&dc);
	avformat_close_input(&ic);
	return r;
}
