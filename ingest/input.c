/*
 * input.c — libavformat input with timeouts, pacing and looping (see input.h).
 *
 * Model: struct input owns the AVFormatContext. Its interrupt callback reads
 * two things: the caller's stop flag and a deadline (monotonic µs, 0 = none)
 * that is armed around each blocking call (open, probe, read) of a live
 * input. Pacing keeps (monotonic start, media start) and sleeps in slices of
 * INPUT_SLEEP_SLICE_US so that stop is noticed quickly. Looping keeps a
 * timestamp offset (µs) added to every packet and the furthest end time seen.
 *
 * libavdevice (only lavfi needs it) is not linked: it drags in libavfilter and
 * ~80 more shared libraries whose relocation costs ~30 ms of CPU at every
 * start. A lavfi input dlopen()s it (RTLD_NODELETE: libavformat keeps pointers
 * into its device tables once registered) and registers the devices.
 */
#include "ingest/input.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavdevice/version_major.h>
#include <libavutil/avstring.h>
#include <libavutil/macros.h>

#include "common/log.h"
#include "common/timeutil.h"

#define INPUT_SLEEP_SLICE_US (100 * 1000LL)
#define INPUT_PACE_RESET_US (2 * 1000000LL) /* later than this: re-anchor pacing */
#define INPUT_MAX_STREAMS 32
#define INPUT_OPT_MAX 32
#define LAVFI_PREFIX "lavfi:"
#define AVDEVICE_SONAME "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR)

struct input {
	AVFormatContext *ic;
	void *avdevice;   /* dlopen handle, lavfi inputs only */
	enum input_kind kind;
	bool realtime, loop;
	int64_t read_timeout_us;
	atomic_int *stop;
	int64_t deadline; /* monotonic µs; 0 = no deadline */
	bool timed_out;
	uint64_t bytes;

	/* pacing */
	bool paced;
	int64_t pace_mono0, pace_media0;
	/* looping */
	int64_t loop_off_us;
	int64_t first_raw_us;
	int64_t max_end_us;
	uint64_t pass_packets;
	int64_t last_pts[INPUT_MAX_STREAMS];
	int64_t last_delta[INPUT_MAX_STREAMS];
};

enum input_kind
input_kind_of(const char *url)
{
	const char *q;

	if (strncmp(url, LAVFI_PREFIX, strlen(LAVFI_PREFIX)) == 0)
		return INPUT_LAVFI;
	if (strncmp(url, "file:", 5) == 0 || strstr(url, "://") == NULL)
		return INPUT_FILE;
	if (strncmp(url, "rtmp://", 7) == 0 || strncmp(url, "rtmps://", 8) == 0) {
		q = strchr(url, '?');
		if (q != NULL && (strstr(q, "?listen=1") != NULL || strstr(q, "&listen=1") != NULL))
			return INPUT_LISTEN;
	}
	return INPUT_LIVE;
}

bool
input_kind_is_live(enum input_kind k)
{
	return k == INPUT_LIVE || k == INPUT_LISTEN;
}

static int
interrupt_cb(void *opaque)
{
	struct input *in = opaque;

	if (atomic_load(in->stop))
		return 1;
	if (in->deadline != 0 && time_mono_us() > in->deadline) {
		in->timed_out = true;
		return 1;
	}
	return 0;
}

static int
map_err(struct input *in, int e)
{
	if (e == AVERROR_EXIT || e == AVERROR(EINTR))
		return atomic_load(in->stop) ? -EINTR : -ETIMEDOUT;
	if (in->timed_out)
		return -ETIMEDOUT;
	if (e == AVERROR_EOF)
		return -ENODATA;
	if (e == AVERROR(ENOMEM))
		return -ENOMEM;
	if (e == AVERROR_INVALIDDATA || e == AVERROR_STREAM_NOT_FOUND ||
	    e == AVERROR_DEMUXER_NOT_FOUND || e == AVERROR_PROTOCOL_NOT_FOUND)
		return -EINVAL;
	if (e < 0 && e > -4096)
		return e;
	return -EIO;
}

/* Load libavdevice and register its devices (idempotent). */
static int
load_devices(struct input *in)
{
	void (*reg)(void);

	in->avdevice = dlopen(AVDEVICE_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
	if (in->avdevice == NULL) {
		log_error("load %s: %s", AVDEVICE_SONAME, dlerror());
		return -ENOSYS;
	}
	reg = (void (*)(void))dlsym(in->avdevice, "avdevice_register_all");
	if (reg == NULL) {
		log_error("load %s: no avdevice_register_all", AVDEVICE_SONAME);
		return -ENOSYS;
	}
	reg();
	return 0;
}

/* Copy url into buf without a "listen=1" query item. */
static void
strip_listen(const char *url, char *buf, size_t len)
{
	char *q, *p;

	av_strlcpy(buf, url, len);
	q = strchr(buf, '?');
	if (q == NULL)
		return;
	p = strstr(q, "listen=1");
	if (p == NULL || (p[-1] != '?' && p[-1] != '&'))
		return;
	memmove(p, p + 8, strlen(p + 8) + 1);
	if (*p == '&')
		memmove(p, p + 1, strlen(p + 1) + 1);
	p = buf + strlen(buf);
	while (p > buf && (p[-1] == '?' || p[-1] == '&'))
		*--p = '\0';
}

int
input_open(const struct input_config *cfg, struct input **out)
{
	struct input *in = NULL;
	const AVInputFormat *fmt = NULL;
	AVDictionary *opts = NULL;
	char url[INPUT_URL_MAX];
	char tmo[INPUT_OPT_MAX];
	int64_t open_tmo = cfg->open_timeout_us > 0 ? cfg->open_timeout_us : INPUT_OPEN_TIMEOUT_US;
	int r, i;

	*out = NULL;
	if (strlen(cfg->url) >= sizeof(url))
		return -EINVAL;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return -ENOMEM;
	in->kind = input_kind_of(cfg->url);
	in->realtime = cfg->realtime || in->kind == INPUT_LAVFI;
	in->loop = cfg->loop && in->kind == INPUT_FILE;
	in->read_timeout_us = cfg->read_timeout_us > 0 ? cfg->read_timeout_us
	                                               : INPUT_READ_TIMEOUT_US;
	in->stop = cfg->stop;
	in->first_raw_us = AV_NOPTS_VALUE;
	in->max_end_us = INT64_MIN;
	for (i = 0; i < INPUT_MAX_STREAMS; i++)
		in->last_pts[i] = AV_NOPTS_VALUE;

	av_strlcpy(url, cfg->url, sizeof(url));
	snprintf(tmo, sizeof(tmo), "%lld", (long long)in->read_timeout_us);
	switch (in->kind) {
	case INPUT_LAVFI:
		r = load_devices(in);
		if (r < 0)
			goto out;
		fmt = av_find_input_format("lavfi");
		if (fmt == NULL) {
			log_error("open input \"%s\": lavfi device not available", cfg->url);
			r = -ENOSYS;
			goto out;
		}
		av_strlcpy(url, cfg->url + strlen(LAVFI_PREFIX), sizeof(url));
		break;
	case INPUT_LISTEN:
		strip_listen(cfg->url, url, sizeof(url));
		av_dict_set(&opts, "listen", "1", 0);
		break;
	case INPUT_LIVE:
		if (strncmp(url, "rtsp://", 7) == 0 || strncmp(url, "rtsps://", 8) == 0) {
			av_dict_set(&opts, "rtsp_transport", "tcp", 0);
			av_dict_set(&opts, "timeout", tmo, 0);
		} else {
			av_dict_set(&opts, "rw_timeout", tmo, 0);
		}
		break;
	case INPUT_FILE:
		break;
	}
	in->ic = avformat_alloc_context();
	if (in->ic == NULL) {
		r = -ENOMEM;
		goto out;
	}
	in->ic->interrupt_callback.callback = interrupt_cb;
	in->ic->interrupt_callback.opaque = in;
	in->deadline = in->kind == INPUT_LIVE ? time_mono_us() + open_tmo : 0;
	r = avformat_open_input(&in->ic, url, fmt, &opts);
	if (r < 0) {
		/* avformat_open_input frees the context on failure */
		r = map_err(in, r);
		log_error("open input \"%s\": %s", cfg->url,
		          r == -EINVAL ? "not a readable media input" : strerror(-r));
		goto out;
	}
	in->timed_out = false;
	in->deadline = input_kind_is_live(in->kind) ? time_mono_us() + open_tmo : 0;
	r = avformat_find_stream_info(in->ic, NULL);
	in->deadline = 0;
	if (r >= 0 && (in->timed_out || atomic_load(in->stop)))
		r = AVERROR_EXIT; /* an interrupted probe leaves the demuxer at "EOF" */
	if (r < 0) {
		r = map_err(in, r);
		log_error("probe input \"%s\": %s", cfg->url, strerror(-r));
		goto out;
	}
	r = 0;
out:
	av_dict_free(&opts);
	if (r < 0)
		input_close(&in);
	*out = in;
	return r;
}

AVFormatContext *
input_format(struct input *in)
{
	return in->ic;
}

enum input_kind
input_kind(const struct input *in)
{
	return in->kind;
}

bool
input_is_vod(const struct input *in)
{
	return in->kind == INPUT_LIVE &&
	       (strncmp(in->ic->url, "http://", 7) == 0 || strncmp(in->ic->url, "https://", 8) == 0) &&
	       in->ic->duration != AV_NOPTS_VALUE && in->ic->duration > 0;
}

uint64_t
input_bytes(const struct input *in)
{
	return in->bytes;
}

static int
sleep_until(struct input *in, int64_t target)
{
	struct timespec ts;
	int64_t d;

	for (;;) {
		if (atomic_load(in->stop))
			return -EINTR;
		d = target - time_mono_us();
		if (d <= 0)
			return 0;
		if (d > INPUT_SLEEP_SLICE_US)
			d = INPUT_SLEEP_SLICE_US;
		ts.tv_sec = (time_t)(d / 1000000);
		ts.tv_nsec = (long)(d % 1000000) * 1000;
		nanosleep(&ts, NULL);
	}
}

static int
pace(struct input *in, const AVPacket *pkt)
{
	AVStream *st = in->ic->streams[pkt->stream_index];
	int64_t ts = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
	int64_t us, now, target;

	if (ts == AV_NOPTS_VALUE)
		return 0;
	us = av_rescale_q(ts, st->time_base, AV_TIME_BASE_Q);
	now = time_mono_us();
	if (!in->paced) {
		in->paced = true;
		in->pace_mono0 = now;
		in->pace_media0 = us;
		return 0;
	}
	target = in->pace_mono0 + (us - in->pace_media0);
	if (now - target > INPUT_PACE_RESET_US) {
		in->pace_mono0 = now;
		in->pace_media0 = us;
		return 0;
	}
	return sleep_until(in, target);
}

/* Apply the loop offset and remember how far the timeline reached. */
static void
track(struct input *in, AVPacket *pkt)
{
	int i = pkt->stream_index;
	AVRational tb = in->ic->streams[i]->time_base;
	int64_t off, us, dur;

	if (in->loop_off_us != 0) {
		off = av_rescale_q(in->loop_off_us, AV_TIME_BASE_Q, tb);
		if (pkt->pts != AV_NOPTS_VALUE)
			pkt->pts += off;
		if (pkt->dts != AV_NOPTS_VALUE)
			pkt->dts += off;
	}
	if (pkt->pts == AV_NOPTS_VALUE || i >= INPUT_MAX_STREAMS)
		return;
	if (in->last_pts[i] != AV_NOPTS_VALUE && pkt->pts > in->last_pts[i])
		in->last_delta[i] = pkt->pts - in->last_pts[i];
	in->last_pts[i] = pkt->pts;
	dur = pkt->duration > 0 ? pkt->duration : in->last_delta[i];
	us = av_rescale_q(pkt->pts + dur, tb, AV_TIME_BASE_Q);
	if (us > in->max_end_us)
		in->max_end_us = us;
	if (in->first_raw_us == AV_NOPTS_VALUE)
		in->first_raw_us = av_rescale_q(pkt->pts, tb, AV_TIME_BASE_Q);
}

static int
rewind_loop(struct input *in)
{
	int r;

	if (in->pass_packets == 0 || in->first_raw_us == AV_NOPTS_VALUE)
		return -ENODATA;
	r = avformat_seek_file(in->ic, -1, INT64_MIN, in->ic->start_time != AV_NOPTS_VALUE
	                                                       ? in->ic->start_time
	                                                       : 0,
	                       INT64_MAX, 0);
	if (r < 0) {
		log_error("loop: seek to start of \"%s\": %s", in->ic->url, av_err2str(r));
		return -ENODATA;
	}
	in->loop_off_us = in->max_end_us - in->first_raw_us;
	in->pass_packets = 0;
	log_info("loop: restarting \"%s\" at offset %lld ms", in->ic->url,
	         (long long)(in->loop_off_us / 1000));
	return 0;
}

int
input_read(struct input *in, AVPacket *pkt)
{
	int r;

	for (;;) {
		if (atomic_load(in->stop))
			return -EINTR;
		in->timed_out = false;
		in->deadline = input_kind_is_live(in->kind) ? time_mono_us() + in->read_timeout_us
		                                            : 0;
		r = av_read_frame(in->ic, pkt);
		in->deadline = 0;
		if (r == AVERROR_EOF && in->loop) {
			r = rewind_loop(in);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0)
			return map_err(in, r);
		break;
	}
	in->pass_packets++;
	in->bytes += (uint64_t)pkt->size;
	track(in, pkt);
	if (in->realtime) {
		r = pace(in, pkt);
		if (r < 0) {
			av_packet_unref(pkt);
			return r;
		}
	}
	return 0;
}

void
input_close(struct input **pin)
{
	struct input *in = *pin;

	if (in == NULL)
		return;
	avformat_close_input(&in->ic);
	if (in->avdevice != NULL)
		dlclose(in->avdevice); /* stays mapped (RTLD_NODELETE) */
	free(in);
	*pin = NULL;
}
