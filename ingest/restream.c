/*
 * restream.c — RTMP/FLV copies of the stream, one thread per destination
 * (see restream.h).
 *
 * Model: struct restream holds the session's codec parameters (under mu,
 * with a generation number bumped by restream_begin) and the destinations.
 * Each struct rs_dest owns a ring of AVPacket pointers (RESTREAM_QUEUE_MAX,
 * under its own mutex + condition variable), its state, and its thread. The
 * producer enqueues only when the destination is UP and its ring has room,
 * else drops and counts. The thread: snapshot parameters -> open FLV output
 * (interrupt callback: stop flag + per-operation deadline) -> write header ->
 * pop and write packets (starting at a video keyframe, timestamps rebased to
 * the first packet) until an error or a new generation -> close -> on error
 * back off with jitter and retry. Packets in a ring are owned by the ring.
 */
#include "ingest/restream.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <libavformat/avformat.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "ingest/codecs.h"
#include "ingest/cut.h"

#define RS_MAGIC 0x52535444u /* "RSTD" */
#define RS_WAIT_US (200 * 1000LL)
#define RS_EXTRADATA_MAX 1024
#define RS_LABELS_MAX 32

struct restream;

struct rs_dest {
	unsigned magic;
	struct restream *rs;
	char *url;
	size_t idx;
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	AVPacket *q[RESTREAM_QUEUE_MAX];
	bool qvideo[RESTREAM_QUEUE_MAX];
	size_t head, n;
	atomic_int state;
	int64_t deadline; /* monotonic µs for the current I/O call; 0 none */
	struct metric *m_up, *m_sent, *m_dropped, *m_reconnects;
};

struct restream {
	pthread_mutex_t mu; /* parameters below */
	AVCodecParameters *vpar, *apar;
	AVRational vtb, atb;
	atomic_uint gen;
	atomic_int stop;
	struct rs_dest d[RESTREAM_MAX_DESTS];
	size_t n;
};

static void
rs_nap(struct rs_dest *d, int64_t us)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(us / 1000000);
	ts.tv_nsec += (long)(us % 1000000) * 1000;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&d->mu);
	if (!atomic_load(&d->rs->stop))
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	pthread_mutex_unlock(&d->mu);
}

static int
rs_interrupt(void *opaque)
{
	struct rs_dest *d = opaque;

	assert(d->magic == RS_MAGIC);
	if (atomic_load(&d->rs->stop))
		return 1;
	return d->deadline != 0 && time_mono_us() > d->deadline;
}

static void
set_state(struct rs_dest *d, enum restream_state s)
{
	atomic_store(&d->state, (int)s);
	if (d->m_up != NULL)
		metric_set(d->m_up, s == RESTREAM_UP ? 1 : 0);
}

static void
queue_clear(struct rs_dest *d)
{
	while (d->n > 0) {
		av_packet_free(&d->q[d->head]);
		d->head = (d->head + 1) % RESTREAM_QUEUE_MAX;
		d->n--;
	}
}

/* Pop one packet, waiting up to RS_WAIT_US. NULL when none. */
static AVPacket *
queue_pop(struct rs_dest *d, bool *video)
{
	AVPacket *p = NULL;

	pthread_mutex_lock(&d->mu);
	if (d->n == 0 && !atomic_load(&d->rs->stop)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)RS_WAIT_US * 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	}
	if (d->n > 0) {
		p = d->q[d->head];
		*video = d->qvideo[d->head];
		d->q[d->head] = NULL;
		d->head = (d->head + 1) % RESTREAM_QUEUE_MAX;
		d->n--;
	}
	pthread_mutex_unlock(&d->mu);
	return p;
}

struct rs_conn {
	AVFormatContext *oc;
	int vs, as;            /* output stream indexes, -1 none */
	AVRational vtb, atb;   /* input time bases */
	bool header;
	bool started;          /* a video keyframe (or any audio without video) went out */
	int64_t base_us;
	unsigned gen;
};

static void
conn_close(struct rs_conn *c)
{
	if (c->oc != NULL) {
		if (c->header)
			av_write_trailer(c->oc);
		avio_closep(&c->oc->pb);
		avformat_free_context(c->oc);
	}
	memset(c, 0, sizeof(*c));
}

/* 0 connected; -EAGAIN not ready (no session or no parameter sets yet); <0 error. */
static int
conn_open(struct rs_dest *d, struct rs_conn *c)
{
	struct restream *rs = d->rs;
	AVDictionary *opts = NULL;
	AVStream *st;
	int r = 0;

	memset(c, 0, sizeof(*c));
	c->vs = c->as = -1;
	r = avformat_alloc_output_context2(&c->oc, NULL, "flv", d->url);
	if (r < 0 || c->oc == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&rs->mu);
	c->gen = atomic_load(&rs->gen);
	if (c->gen == 0 || (rs->vpar == NULL && rs->apar == NULL) ||
	    (rs->vpar != NULL && rs->vpar->codec_id == AV_CODEC_ID_H264 &&
	     rs->vpar->extradata_size == 0)) {
		r = -EAGAIN;
	}
	if (r == 0 && rs->vpar != NULL) {
		st = avformat_new_stream(c->oc, NULL);
		if (st == NULL || avcodec_parameters_copy(st->codecpar, rs->vpar) < 0)
			r = -ENOMEM;
		else {
			st->codecpar->codec_tag = 0;
			st->time_base = (AVRational){ 1, 1000 };
			c->vs = st->index;
			c->vtb = rs->vtb;
		}
	}
	if (r == 0 && rs->apar != NULL &&
	    !(rs->apar->codec_id == AV_CODEC_ID_AAC && rs->apar->extradata_size == 0)) {
		st = avformat_new_stream(c->oc, NULL);
		if (st == NULL || avcodec_parameters_copy(st->codecpar, rs->apar) < 0)
			r = -ENOMEM;
		else {
			st->codecpar->codec_tag = 0;
			st->time_base = (AVRational){ 1, 1000 };
			c->as = st->index;
			c->atb = rs->atb;
		}
	}
	pthread_mutex_unlock(&rs->mu);
	if (r < 0)
		goto out;
	c->oc->interrupt_callback.callback = rs_interrupt;
	c->oc->interrupt_callback.opaque = d;
	set_state(d, RESTREAM_CONNECTING);
	d->deadline = time_mono_us() + RESTREAM_IO_TIMEOUT_US;
	r = avio_open2(&c->oc->pb, d->url, AVIO_FLAG_WRITE, &c->oc->interrupt_callback, NULL);
	if (r < 0) {
		log_warn("restream %zu: connect: %s", d->idx, av_err2str(r));
		r = -EIO;
		goto out;
	}
	av_dict_set(&opts, "flvflags", "no_duration_filesize", 0);
	r = avformat_write_header(c->oc, &opts);
	if (r < 0) {
		log_warn("restream %zu: FLV header: %s", d->idx, av_err2str(r));
		r = -EIO;
		goto out;
	}
	c->header = true;
	c->base_us = AV_NOPTS_VALUE;
	r = 0;
out:
	d->deadline = 0;
	av_dict_free(&opts);
	if (r < 0)
		conn_close(c);
	return r;
}

/* 0 written or skipped; -EIO connection broken. */
static int
conn_write(struct rs_dest *d, struct rs_conn *c, AVPacket *p, bool video)
{
	int os = video ? c->vs : c->as;
	AVRational tb = video ? c->vtb : c->atb;
	int64_t ts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
	int64_t us, shift;
	int r;

	if (os < 0 || ts == AV_NOPTS_VALUE)
		return 0;
	if (!c->started) {
		if (c->vs >= 0 && !(video && (p->flags & AV_PKT_FLAG_KEY)))
			return 0;
		c->started = true;
		c->base_us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
	}
	us = av_rescale_q(ts, tb, AV_TIME_BASE_Q);
	if (us < c->base_us)
		return 0;
	shift = av_rescale_q(c->base_us, AV_TIME_BASE_Q, tb);
	if (p->pts != AV_NOPTS_VALUE)
		p->pts -= shift;
	if (p->dts != AV_NOPTS_VALUE)
		p->dts -= shift;
	av_packet_rescale_ts(p, tb, c->oc->streams[os]->time_base);
	p->stream_index = os;
	d->deadline = time_mono_us() + RESTREAM_IO_TIMEOUT_US;
	r = av_interleaved_write_frame(c->oc, p);
	d->deadline = 0;
	if (r < 0 && (c->oc->pb->error < 0 || r == AVERROR_EXIT || r == AVERROR(EPIPE) ||
	              r == AVERROR(ECONNRESET) || r == AVERROR(EIO))) {
		log_warn("restream %zu: send: %s", d->idx, av_err2str(r));
		return -EIO;
	}
	if (r >= 0 && d->m_sent != NULL)
		metric_inc(d->m_sent);
	return 0;
}

static void *
dest_thread(void *arg)
{
	struct rs_dest *d = arg;
	struct restream *rs = d->rs;
	struct rs_conn c;
	unsigned attempt = 0;
	uint32_t rnd;
	AVPacket *p;
	bool video;
	int r;

	memset(&c, 0, sizeof(c));
	while (!atomic_load(&rs->stop)) {
		r = conn_open(d, &c);
		if (r == -EAGAIN) {
			set_state(d, RESTREAM_DOWN);
			rs_nap(d, RS_WAIT_US);
			continue;
		}
		if (r < 0) {
			set_state(d, RESTREAM_DOWN);
			if (d->m_reconnects != NULL)
				metric_inc(d->m_reconnects);
			if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
				rnd = (uint32_t)time_mono_us();
			rs_nap(d, cut_backoff_us(attempt, rnd));
			if (attempt < 32)
				attempt++;
			continue;
		}
		attempt = 0;
		pthread_mutex_lock(&d->mu);
		queue_clear(d);
		pthread_mutex_unlock(&d->mu);
		set_state(d, RESTREAM_UP);
		log_info("restream %zu: up", d->idx);
		r = 0;
		while (!atomic_load(&rs->stop) && c.gen == atomic_load(&rs->gen)) {
			p = queue_pop(d, &video);
			if (p == NULL)
				continue;
			r = conn_write(d, &c, p, video);
			av_packet_free(&p);
			if (r < 0)
				break;
		}
		set_state(d, RESTREAM_DOWN);
		d->deadline = time_mono_us() + RESTREAM_IO_TIMEOUT_US;
		conn_close(&c);
		d->deadline = 0;
		if (r < 0) {
			log_warn("restream %zu: down; reconnecting", d->idx);
			if (d->m_reconnects != NULL)
				metric_inc(d->m_reconnects);
			rs_nap(d, cut_backoff_us(0, (uint32_t)time_mono_us()));
		}
	}
	set_state(d, RESTREAM_DOWN);
	return NULL;
}

int
restream_new(const char *const *urls, size_t n, struct metrics *m, struct restream **out)
{
	struct restream *rs;
	struct rs_dest *d;
	char labels[RS_LABELS_MAX];
	size_t i;
	int r = 0;

	*out = NULL;
	if (n == 0 || n > RESTREAM_MAX_DESTS)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (rs == NULL)
		return -ENOMEM;
	pthread_mutex_init(&rs->mu, NULL);
	atomic_init(&rs->gen, 0);
	atomic_init(&rs->stop, 0);
	for (i = 0; i < n; i++) {
		d = &rs->d[i];
		d->magic = RS_MAGIC;
		d->rs = rs;
		d->idx = i;
		pthread_mutex_init(&d->mu, NULL);
		pthread_cond_init(&d->cv, NULL);
		atomic_init(&d->state, RESTREAM_DOWN);
		d->url = strdup(urls[i]);
		if (d->url == NULL) {
			r = -ENOMEM;
			break;
		}
		rs->n++;
		if (m != NULL) {
			snprintf(labels, sizeof(labels), "dest=\"%zu\"", i);
			d->m_up = metrics_gauge(m, "sluice_ingest_restream_up",
			                        "1 when the restream destination is connected",
			                        labels);
			d->m_sent = metrics_counter(m, "sluice_ingest_restream_packets_total",
			                            "Packets sent to the destination", labels);
			d->m_dropped = metrics_counter(m, "sluice_ingest_restream_dropped_total",
			                               "Packets dropped (destination down or slow)",
			                               labels);
			d->m_reconnects = metrics_counter(m, "sluice_ingest_restream_reconnects_total",
			                                  "Destination connection failures", labels);
		}
	}
	for (i = 0; r == 0 && i < rs->n; i++) {
		if (pthread_create(&rs->d[i].thr, NULL, dest_thread, &rs->d[i]) != 0) {
			r = -EAGAIN;
			break;
		}
		rs->d[i].started = true;
	}
	if (r < 0) {
		restream_free(&rs);
		return r;
	}
	log_info("restream: %zu destination(s)", rs->n);
	*out = rs;
	return 0;
}

int
restream_begin(struct restream *rs, const AVCodecParameters *video, AVRational vtb,
               const AVCodecParameters *audio, AVRational atb)
{
	int r = 0;

	pthread_mutex_lock(&rs->mu);
	avcodec_parameters_free(&rs->vpar);
	avcodec_parameters_free(&rs->apar);
	if (video != NULL) {
		rs->vpar = avcodec_parameters_alloc();
		if (rs->vpar == NULL || avcodec_parameters_copy(rs->vpar, video) < 0)
			r = -ENOMEM;
		rs->vtb = vtb;
	}
	if (audio != NULL && r == 0) {
		rs->apar = avcodec_parameters_alloc();
		if (rs->apar == NULL || avcodec_parameters_copy(rs->apar, audio) < 0)
			r = -ENOMEM;
		rs->atb = atb;
	}
	atomic_fetch_add(&rs->gen, 1);
	pthread_mutex_unlock(&rs->mu);
	return r;
}

/* H.264 without extradata (our own encoder): take SPS/PPS from a keyframe. */
static void
learn_extradata(struct restream *rs, const AVPacket *pkt)
{
	uint8_t ps[RS_EXTRADATA_MAX];
	size_t n = 0;

	if (!(pkt->flags & AV_PKT_FLAG_KEY))
		return;
	pthread_mutex_lock(&rs->mu);
	if (rs->vpar != NULL && rs->vpar->codec_id == AV_CODEC_ID_H264 &&
	    rs->vpar->extradata_size == 0 &&
	    codecs_h264_param_sets(pkt->data, (size_t)pkt->size, ps, sizeof(ps), &n) == 0) {
		rs->vpar->extradata = av_mallocz(n + AV_INPUT_BUFFER_PADDING_SIZE);
		if (rs->vpar->extradata != NULL) {
			memcpy(rs->vpar->extradata, ps, n);
			rs->vpar->extradata_size = (int)n;
		}
	}
	pthread_mutex_unlock(&rs->mu);
}

void
restream_packet(struct restream *rs, const AVPacket *pkt, int video)
{
	struct rs_dest *d;
	AVPacket *c;
	size_t i;
	bool queued;

	if (video)
		learn_extradata(rs, pkt);
	for (i = 0; i < rs->n; i++) {
		d = &rs->d[i];
		queued = false;
		if (atomic_load(&d->state) == RESTREAM_UP) {
			pthread_mutex_lock(&d->mu);
			if (d->n < RESTREAM_QUEUE_MAX) {
				c = av_packet_clone(pkt);
				if (c != NULL) {
					size_t tail = (d->head + d->n) % RESTREAM_QUEUE_MAX;
					d->q[tail] = c;
					d->qvideo[tail] = video != 0;
					d->n++;
					queued = true;
					pthread_cond_signal(&d->cv);
				}
			}
			pthread_mutex_unlock(&d->mu);
		}
		if (!queued && d->m_dropped != NULL)
			metric_inc(d->m_dropped);
	}
}

enum restream_state
restream_state(struct restream *rs, size_t i)
{
	return i < rs->n ? (enum restream_state)atomic_load(&rs->d[i].state) : RESTREAM_DOWN;
}

void
restream_free(struct restream **prs)
{
	struct restream *rs = *prs;
	struct rs_dest *d;
	size_t i;

	if (rs == NULL)
		return;
	atomic_store(&rs->stop, 1);
	for (i = 0; i < rs->n; i++) {
		d = &rs->d[i];
		pthread_mutex_lock(&d->mu);
		pthread_cond_broadcast(&d->cv);
		pthread_mutex_unlock(&d->mu);
	}
	for (i = 0; i < rs->n; i++) {
		d = &rs->d[i];
		if (d->started)
			pthread_join(d->thr, NULL);
		queue_clear(d);
		pthread_mutex_destroy(&d->mu);
		pthread_cond_destroy(&d->cv);
		free(d->url);
	}
	avcodec_parameters_free(&rs->vpar);
	avcodec_parameters_free(&rs->apar);
	pthread_mutex_destroy(&rs->mu);
	free(rs);
	*prs = NULL;
}
