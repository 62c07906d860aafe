/*
 * stream.c — framebuffer -> encoder -> segmenter, on its own thread.
 *
 * Model. One thread, one encoder, one segmenter, one snapshot buffer
 * (w*h uint32 wrapped as an AV_PIX_FMT_0RGB32 frame; the encoder converts
 * it to yuv420p with swscale). Frame n is due at start + n/fps on the
 * monotonic clock; pts = n in time base 1/fps, media time n/fps seconds,
 * and the segmenter maps media 0 to the wall-clock start of the session.
 * The stop flag is the only state shared with other threads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/frame.h>

#include "canvas/fb.h"
#include "canvas/stream.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "ingest/cut.h"
#include "ingest/encoder.h"
#include "ingest/segmenter.h"
#include "store/store.h"

#define STREAM_SLEEP_SLICE_US (50 * 1000LL)
#define STREAM_OUT_OFFSET_US (10 * 1000000LL) /* TS time of media 0 (as ingest) */

struct canvas_stream {
	struct canvas_stream_config cfg;
	char session[CUT_SESSION_LEN];
	pthread_t tid;
	_Atomic bool stop;
	int result;
	struct encoder *enc;
	struct segmenter *seg;
	int seg_idx;
	uint32_t *snap;
	AVFrame *frame;
	AVPacket *pkt;
	struct metric *m_frames, *m_skipped, *m_wipes;
};

static uint64_t
rand64(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 16) ^
	       (uint64_t)random();
}

/* Wall time of media 0: now, or after the stream's last stored segment. */
static int64_t
wall_origin(struct canvas_stream *s)
{
	struct store_record *last = NULL;
	int64_t now = time_now_us();
	size_t n = 0;

	if (store_latest(s->cfg.store, s->cfg.stream, "src", 1, &last, &n) == 0 && n == 1 &&
	    last[0].start_us + last[0].duration_us > now)
		now = last[0].start_us + last[0].duration_us;
	free(last);
	return now;
}

static int
drain(struct canvas_stream *s)
{
	int r;

	for (;;) {
		r = encoder_receive(s->enc, s->pkt);
		if (r == -EAGAIN || r == -ENODATA)
			return 0;
		if (r < 0)
			return r;
		s->pkt->stream_index = s->seg_idx;
		r = segmenter_write(s->seg, s->pkt);
		av_packet_unref(s->pkt);
		if (r < 0)
			return r;
	}
}

static void
sleep_until(struct canvas_stream *s, int64_t due_us)
{
	for (;;) {
		int64_t left = due_us - time_mono_us();
		struct timespec ts;
		if (left <= 0 || atomic_load(&s->stop))
			return;
		if (left > STREAM_SLEEP_SLICE_US)
			left = STREAM_SLEEP_SLICE_US;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1000);
		nanosleep(&ts, NULL);
	}
}

static void *
stream_main(void *arg)
{
	struct canvas_stream *s = arg;
	const int fps = s->cfg.fps;
	int64_t start = time_mono_us(), last_wipe = start, next_key = INT64_MIN, n = 0, due, late;
	int r = 0;

	pthread_setname_np(pthread_self(), "canvas-encode");
	while (!atomic_load(&s->stop)) {
		due = start + n * TIME_US_PER_SEC / fps;
		sleep_until(s, due);
		if (atomic_load(&s->stop))
			break;
		late = (time_mono_us() - start) * fps / TIME_US_PER_SEC;
		if (late > n + 1) {
			metric_add(s->m_skipped, (double)(late - n));
			n = late;
		}
		if (s->cfg.wipe_every_us > 0 && time_mono_us() - last_wipe >= s->cfg.wipe_every_us) {
			fb_fill(s->cfg.fb, s->cfg.wipe_px);
			last_wipe = time_mono_us();
			metric_inc(s->m_wipes);
			log_info("canvas wiped");
		}
		fb_snapshot(s->cfg.fb, s->snap);
		s->frame->pts = n;
		bool key = cut_grid_key(n * TIME_US_PER_SEC / fps, 0, s->cfg.target_us, &next_key);
		r = encoder_send(s->enc, s->frame, key);
		if (r == -EAGAIN) {
			r = drain(s);
			if (r == 0)
				r = encoder_send(s->enc, s->frame, key);
		}
		if (r == 0)
			r = drain(s);
		if (r < 0) {
			log_error("canvas encode: %s (frame %lld)", strerror(-r), (long long)n);
			break;
		}
		metric_inc(s->m_frames);
		n++;
	}
	if (encoder_send(s->enc, NULL, false) == 0)
		drain(s);
	segmenter_finish(s->seg);
	s->result = r;
	return NULL;
}

static void
stream_free(struct canvas_stream *s)
{
	segmenter_free(&s->seg);
	encoder_free(&s->enc);
	av_packet_free(&s->pkt);
	av_frame_free(&s->frame);
	free(s->snap);
	free(s);
}

int
canvas_stream_start(const struct canvas_stream_config *cfg, struct canvas_stream **out)
{
	struct canvas_stream *s = NULL;
	struct encoder_config ec;
	struct segmenter_config sc;
	const struct fb *fb = cfg->fb;
	int64_t gop;
	int r;

	if (cfg->fps < 1 || cfg->fps > CANVAS_FPS_MAX || cfg->target_us <= 0 || fb == NULL ||
	    fb->w < 2 || fb->h < 2)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->cfg = *cfg;
	s->snap = calloc((size_t)fb->w * fb->h, sizeof(uint32_t));
	s->frame = av_frame_alloc();
	s->pkt = av_packet_alloc();
	if (s->snap == NULL || s->frame == NULL || s->pkt == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	s->frame->format = AV_PIX_FMT_0RGB32;
	s->frame->width = (int)fb->w;
	s->frame->height = (int)fb->h;
	s->frame->data[0] = (uint8_t *)s->snap;
	s->frame->linesize[0] = (int)(fb->w * 4);

	gop = cfg->target_us * cfg->fps / TIME_US_PER_SEC;
	memset(&ec, 0, sizeof(ec));
	ec.width = (int)(fb->w & ~1u);
	ec.height = (int)(fb->h & ~1u);
	ec.time_base = (AVRational){ 1, cfg->fps };
	ec.framerate = (AVRational){ cfg->fps, 1 };
	ec.gop = gop < 1 ? 1 : gop > 100000 ? 100000 : (int)gop;
	ec.preset = CANVAS_PRESET;
	r = encoder_new(&ec, &s->enc);
	if (r < 0) {
		log_error("canvas encoder: %s", strerror(-r));
		goto fail;
	}
	r = cut_session_id(time_now_us(), rand64(), s->session, sizeof(s->session));
	if (r < 0)
		goto fail;
	memset(&sc, 0, sizeof(sc));
	sc.stream = cfg->stream;
	sc.variant = "src";
	sc.session = s->session;
	sc.target_us = cfg->target_us;
	sc.clock.wall_origin_us = wall_origin(s);
	sc.clock.media_origin_us = 0;
	sc.out_offset_us = STREAM_OUT_OFFSET_US;
	sc.metrics = cfg->metrics;
	r = segmenter_new(cfg->store, &sc, &s->seg);
	if (r < 0)
		goto fail;
	r = segmenter_add_stream(s->seg, encoder_params(s->enc), ec.time_base);
	if (r < 0)
		goto fail;
	s->seg_idx = r;
	s->m_frames = metrics_counter(cfg->metrics, "sluice_canvas_frames_total",
	                              "Canvas frames encoded.", NULL);
	s->m_skipped = metrics_counter(cfg->metrics, "sluice_canvas_frames_skipped_total",
	                               "Canvas frames skipped (encoder behind).", NULL);
	s->m_wipes = metrics_counter(cfg->metrics, "sluice_canvas_wipes_total",
	                             "Canvas wipes.", NULL);
	r = -pthread_create(&s->tid, NULL, stream_main, s);
	if (r < 0)
		goto fail;
	log_info("canvas stream \"%s\": %ux%u at %d fps, gop %d, session %s", cfg->stream,
	         (unsigned)ec.width, (unsigned)ec.height, cfg->fps, ec.gop, s->session);
	*out = s;
	return 0;
fail:
	stream_free(s);
	return r;
}

int
canvas_stream_stop(struct canvas_stream **sp)
{
	struct canvas_stream *s = *sp;
	int r;

	if (s == NULL)
		return 0;
	atomic_store(&s->stop, true);
	pthread_join(s->tid, NULL);
	r = s->result;
	stream_free(s);
	*sp = NULL;
	return r;
}
