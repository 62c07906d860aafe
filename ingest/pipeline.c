/*
 * pipeline.c — per-session wiring (see pipeline.h).
 *
 * Model: before the first keyframe only the chosen stream indexes and the
 * input's codec parameters are known. At the first keyframe the session
 * clock is fixed and the parts are built: segs[0] is the source variant,
 * segs[1..] the ladder; tc (optional) is the decoder+encoders whose output 0
 * is the encoded source when the input is not H.264/HEVC (raw), else output
 * i is ladder rung i. seg_v/seg_a hold each segmenter's video/audio index.
 */
#include "ingest/pipeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "ingest/restream.h"
#include "ingest/segmenter.h"

#define PL_MAX_SEGS (TRANSCODE_MAX_RUNGS + 1)

struct pipeline {
	struct store *store;
	struct pipeline_config cfg;
	AVFormatContext *ic;
	int vi, ai;            /* input stream indexes, -1 none */
	bool raw;              /* video must be encoded to make src */
	bool started;
	struct segmenter *segs[PL_MAX_SEGS];
	int seg_v[PL_MAX_SEGS], seg_a[PL_MAX_SEGS];
	size_t nsegs;
	struct transcode *tc;
	AVPacket *pkt;
	int64_t end_us;
};

static bool
audio_ok(enum AVCodecID id)
{
	return id == AV_CODEC_ID_AAC || id == AV_CODEC_ID_MP3 || id == AV_CODEC_ID_AC3 ||
	       id == AV_CODEC_ID_EAC3;
}

int
pipeline_new(struct store *st, const struct pipeline_config *cfg, AVFormatContext *ic,
             struct pipeline **out)
{
	struct pipeline *p;
	unsigned i;
	enum AVCodecID vid;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->store = st;
	p->cfg = *cfg;
	p->ic = ic;
	p->end_us = cfg->out_offset_us;
	p->vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (p->vi < 0)
		p->vi = -1;
	p->ai = -1;
	for (i = 0; i < ic->nb_streams; i++) {
		if (p->ai < 0 && ic->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO &&
		    audio_ok(ic->streams[i]->codecpar->codec_id))
			p->ai = (int)i;
	}
	for (i = 0; i < ic->nb_streams; i++) {
		if ((int)i != p->vi && (int)i != p->ai)
			ic->streams[i]->discard = AVDISCARD_ALL;
	}
	if (p->vi < 0 && p->ai < 0) {
		log_error("input \"%s\": no video or usable audio stream", ic->url);
		free(p);
		return -EINVAL;
	}
	if (p->vi >= 0) {
		vid = ic->streams[p->vi]->codecpar->codec_id;
		p->raw = vid != AV_CODEC_ID_H264 && vid != AV_CODEC_ID_HEVC;
		if (p->raw && (ic->streams[p->vi]->codecpar->width <= 0 ||
		               ic->streams[p->vi]->codecpar->height <= 0)) {
			log_error("input \"%s\": video without a size", ic->url);
			free(p);
			return -EINVAL;
		}
	}
	p->pkt = av_packet_alloc();
	if (p->pkt == NULL) {
		free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

static int
emit(void *arg, int output, AVPacket *pkt)
{
	struct pipeline *p = arg;
	size_t si = p->raw ? (size_t)output : (size_t)output + 1;

	if (si >= p->nsegs)
		return 0;
	if (si == 0 && p->cfg.restream != NULL)
		restream_packet(p->cfg.restream, pkt, 1);
	pkt->stream_index = p->seg_v[si];
	return segmenter_write(p->segs[si], pkt);
}

/*
 * Now, or the end of the stream's last stored segment if that is later (a
 * file ingested faster than real time maps into the future; a second run
 * must not overlap it), so start times stay monotonic per stream.
 */
static int64_t
wall_origin(struct pipeline *p)
{
	struct store_record *last = NULL;
	int64_t now = time_now_us();
	size_t n = 0;

	if (store_latest(p->store, p->cfg.stream, p->cfg.variant != NULL ? p->cfg.variant : "src",
	                 1, &last, &n) == 0 && n == 1 &&
	    last[0].start_us + last[0].duration_us > now)
		now = last[0].start_us + last[0].duration_us;
	free(last);
	return now;
}

static int
build(struct pipeline *p, int64_t origin_us)
{
	struct transcode_rung outs[TRANSCODE_MAX_RUNGS];
	struct transcode_config tcc;
	struct segmenter_config sc;
	AVStream *vs = p->vi >= 0 ? p->ic->streams[p->vi] : NULL;
	AVStream *as = p->ai >= 0 ? p->ic->streams[p->ai] : NULL;
	const AVCodecParameters *vpar;
	size_t nouts = 0, i;
	int r;

	if (vs != NULL && (p->raw || p->cfg.nrungs > 0)) {
		if (p->raw) {
			memset(&outs[0], 0, sizeof(outs[0]));
			nouts = 1;
		}
		for (i = 0; i < p->cfg.nrungs && nouts < TRANSCODE_MAX_RUNGS; i++)
			outs[nouts++] = p->cfg.rungs[i];
		memset(&tcc, 0, sizeof(tcc));
		tcc.par = vs->codecpar;
		tcc.tb = vs->time_base;
		tcc.fps = vs->avg_frame_rate.num > 0 ? vs->avg_frame_rate : vs->r_frame_rate;
		tcc.keys = p->raw ? TRANSCODE_KEYS_GRID : TRANSCODE_KEYS_FOLLOW;
		tcc.target_us = p->cfg.target_us;
		tcc.origin_us = origin_us;
		tcc.preset = p->cfg.preset;
		tcc.emit = emit;
		tcc.arg = p;
		r = transcode_new(&tcc, outs, nouts, &p->tc);
		if (r < 0)
			return r;
	}
	memset(&sc, 0, sizeof(sc));
	sc.stream = p->cfg.stream;
	sc.session = p->cfg.session;
	sc.tenant = p->cfg.tenant;
	sc.device = p->cfg.device;
	sc.target_us = p->cfg.target_us;
	sc.clock.wall_origin_us = wall_origin(p);
	sc.clock.media_origin_us = origin_us;
	sc.out_offset_us = p->cfg.out_offset_us;
	sc.metrics = p->cfg.metrics;
	for (i = 0; i < 1 + (vs != NULL ? p->cfg.nrungs : 0); i++) {
		sc.variant = i == 0 ? p->cfg.variant : p->cfg.rungs[i - 1].name;
		r = segmenter_new(p->store, &sc, &p->segs[i]);
		if (r < 0)
			return r;
		p->nsegs++;
		p->seg_v[i] = p->seg_a[i] = -1;
		if (vs != NULL) {
			if (i == 0 && !p->raw)
				vpar = vs->codecpar;
			else
				vpar = transcode_params(p->tc, p->raw ? i : i - 1);
			r = segmenter_add_stream(p->segs[i], vpar, vs->time_base);
			if (r < 0)
				return r;
			p->seg_v[i] = r;
		}
		if (as != NULL) {
			r = segmenter_add_stream(p->segs[i], as->codecpar, as->time_base);
			if (r < 0)
				return r;
			p->seg_a[i] = r;
		}
	}
	if (p->cfg.restream != NULL) {
		vpar = vs == NULL ? NULL : p->raw ? transcode_params(p->tc, 0) : vs->codecpar;
		restream_begin(p->cfg.restream, vpar, vs != NULL ? vs->time_base : (AVRational){ 1, 1 },
		               as != NULL ? as->codecpar : NULL,
		               as != NULL ? as->time_base : (AVRational){ 1, 1 });
	}
	p->started = true;
	log_info("session %s: started (video=%s%s audio=%s variants=%zu)", p->cfg.session,
	         vs != NULL ? avcodec_get_name(vs->codecpar->codec_id) : "none",
	         p->raw ? " encoded" : "", as != NULL ? avcodec_get_name(as->codecpar->codec_id)
	                                             : "none",
	         p->nsegs);
	return 0;
}

int
pipeline_packet(struct pipeline *p, const AVPacket *in)
{
	AVStream *st;
	int64_t ts;
	size_t i;
	int r;

	if (in->stream_index != p->vi && in->stream_index != p->ai)
		return 0;
	st = p->ic->streams[in->stream_index];
	if (!p->started) {
		ts = in->pts != AV_NOPTS_VALUE ? in->pts : in->dts;
		if (ts == AV_NOPTS_VALUE)
			return 0;
		if (p->vi >= 0 && (in->stream_index != p->vi || !(in->flags & AV_PKT_FLAG_KEY)))
			return 0;
		r = build(p, av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q));
		if (r < 0)
			return r;
	}
	if (in->stream_index == p->ai) {
		if (p->cfg.restream != NULL)
			restream_packet(p->cfg.restream, in, 0);
		for (i = 0; i < p->nsegs; i++) {
			av_packet_unref(p->pkt);
			if (av_packet_ref(p->pkt, in) < 0)
				return -ENOMEM;
			p->pkt->stream_index = p->seg_a[i];
			r = segmenter_write(p->segs[i], p->pkt);
			av_packet_unref(p->pkt);
			if (r < 0)
				return r;
		}
		return 0;
	}
	if (!p->raw) {
		if (p->cfg.restream != NULL)
			restream_packet(p->cfg.restream, in, 1);
		av_packet_unref(p->pkt);
		if (av_packet_ref(p->pkt, in) < 0)
			return -ENOMEM;
		p->pkt->stream_index = p->seg_v[0];
		r = segmenter_write(p->segs[0], p->pkt);
		av_packet_unref(p->pkt);
		if (r < 0)
			return r;
	}
	if (p->tc != NULL)
		return transcode_packet(p->tc, in);
	return 0;
}

int
pipeline_finish(struct pipeline *p)
{
	int64_t e;
	size_t i;
	int r = 0;

	if (p->tc != NULL)
		r = transcode_packet(p->tc, NULL);
	for (i = 0; i < p->nsegs; i++) {
		segmenter_finish(p->segs[i]);
		e = segmenter_end_us(p->segs[i]);
		if (e > p->end_us)
			p->end_us = e;
	}
	return r;
}

int64_t
pipeline_end_us(const struct pipeline *p)
{
	return p->end_us;
}

uint64_t
pipeline_segments(const struct pipeline *p)
{
	struct segmenter_stats s;
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < p->nsegs; i++) {
		segmenter_get_stats(p->segs[i], &s);
		n += s.segments;
	}
	return n;
}

void
pipeline_free(struct pipeline **pp)
{
	struct pipeline *p = *pp;
	size_t i;

	if (p == NULL)
		return;
	transcode_free(&p->tc);
	for (i = 0; i < PL_MAX_SEGS; i++)
		segmenter_free(&p->segs[i]);
	av_packet_free(&p->pkt);
	free(p);
	*pp = NULL;
}
