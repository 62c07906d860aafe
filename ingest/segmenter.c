/*
 * segmenter.c — packets -> in-memory MPEG-TS -> store (see segmenter.h).
 *
 * Model: struct segmenter holds the declared streams (codec parameters after
 * the optional mp4->annexb filter, packet time base, a fixed timestamp shift)
 * and at most one open segment: an mpegts AVFormatContext writing through a
 * custom AVIOContext into a growable memory buffer (struct membuf, capped at
 * SEGMENTER_MAX_BYTES; its capacity is kept from one segment to the next).
 * cut_decide() tells per packet whether to append, open
 * or close-and-open. Closing writes the trailer, hashes and stores the bytes,
 * then writes the record. Lifetimes: the muxer lives from one forced/final
 * close to the next (it is kept across cuts at video keyframes, see
 * seg_close()); streams live as long as the segmenter. The AVIOContext is in
 * direct mode, so the muxer's TS packets are copied once, into buf.
 */
#include "ingest/segmenter.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "ingest/codecs.h"

#define SEG_AVIO_BUF 65536
#define SEG_BUF_INIT (512 * 1024)
#define SEG_MAX_FRAME_US (1000 * 1000) /* pts deltas above this are not frame rates */
#define SEG_CODECS_PROBE_MAX 4096      /* bytes of a keyframe scanned for an SPS */
#define SEG_LABELS_MAX 160

struct membuf {
	uint8_t *data;
	size_t len, cap;
	int err;
};

struct seg_stream {
	AVCodecParameters *par; /* as muxed (after bsf) */
	AVRational tb;          /* of packets as given and as filtered */
	AVBSFContext *bsf;      /* NULL when bytes are muxed as they come */
	int64_t shift;          /* added to pts/dts, in tb */
	char codec[CODECS_ONE_MAX];
	int64_t last_pts_us;
};

struct segmenter {
	struct store *store;
	char stream[STORE_STREAM_MAX + 1];
	char variant[STORE_VARIANT_MAX + 1];
	char session[STORE_SESSION_MAX + 1];
	char tenant[STORE_TENANT_MAX + 1];
	char device[STORE_DEVICE_MAX + 1];
	int64_t target_us;
	struct cut_clock clock;
	int64_t out_offset_us;
	void (*on_segment)(void *arg, const struct store_record *rec);
	void *on_segment_arg;

	struct seg_stream st[SEGMENTER_MAX_STREAMS];
	int nst;
	int primary;           /* index of the stream that drives cuts, -1 none */
	int64_t frame_us;      /* estimated primary frame duration */
	bool first_done;       /* first segment of the session stored */

	/* the open segment */
	AVFormatContext *oc;
	struct membuf buf;
	bool open;
	int64_t seg_start_us;  /* media time of its first primary packet */
	int64_t seg_end_us;    /* max primary pts + duration seen */
	int64_t end_us;        /* max over the session, media time */

	const AVOutputFormat *ofmt; /* mpegts, looked up once */
	AVPacket *tmp;
	AVPacket *filt;
	struct segmenter_stats stats;
	struct metric *m_segments, *m_bytes, *m_store_errors, *m_mux_errors;
};

static int
averr(int e)
{
	if (e == AVERROR(ENOMEM))
		return -ENOMEM;
	return e < 0 && e > -4096 ? e : -EIO;
}

static void
copy_name(char *dst, size_t len, const char *src)
{
	av_strlcpy(dst, src != NULL ? src : "", len);
}

int
segmenter_new(struct store *st, const struct segmenter_config *cfg, struct segmenter **out)
{
	struct segmenter *sg = NULL;
	char labels[SEG_LABELS_MAX];
	const char *variant = cfg->variant != NULL ? cfg->variant : "src";
	int r = 0;

	*out = NULL;
	if (cfg->stream == NULL || flag_stream_name(cfg->stream) < 0 ||
	    flag_variant_name(variant) < 0 || cfg->session == NULL ||
	    strlen(cfg->session) > STORE_SESSION_MAX || cfg->target_us <= 0)
		return -EINVAL;
	sg = calloc(1, sizeof(*sg));
	if (sg == NULL)
		return -ENOMEM;
	sg->store = st;
	copy_name(sg->stream, sizeof(sg->stream), cfg->stream);
	copy_name(sg->variant, sizeof(sg->variant), variant);
	copy_name(sg->session, sizeof(sg->session), cfg->session);
	copy_name(sg->tenant, sizeof(sg->tenant), cfg->tenant);
	copy_name(sg->device, sizeof(sg->device), cfg->device);
	sg->target_us = cfg->target_us;
	sg->clock = cfg->clock;
	sg->out_offset_us = cfg->out_offset_us;
	sg->on_segment = cfg->on_segment;
	sg->on_segment_arg = cfg->on_segment_arg;
	sg->primary = -1;
	sg->end_us = cfg->clock.media_origin_us;
	sg->tmp = av_packet_alloc();
	sg->filt = av_packet_alloc();
	if (sg->tmp == NULL || sg->filt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	sg->ofmt = av_guess_format("mpegts", NULL, NULL);
	if (sg->ofmt == NULL) {
		r = -ENOSYS;
		goto out;
	}
	if (cfg->metrics != NULL) {
		snprintf(labels, sizeof(labels), "stream=\"%s\",variant=\"%s\"", sg->stream,
		         sg->variant);
		sg->m_segments = metrics_counter(cfg->metrics, "sluice_ingest_segments_total",
		                                 "Segments stored", labels);
		sg->m_bytes = metrics_counter(cfg->metrics, "sluice_ingest_segment_bytes_total",
		                              "Bytes of stored segments", labels);
		sg->m_store_errors = metrics_counter(cfg->metrics,
		                                     "sluice_ingest_store_errors_total",
		                                     "Segments the store refused", labels);
		sg->m_mux_errors = metrics_counter(cfg->metrics, "sluice_ingest_mux_errors_total",
		                                   "Packets the muxer rejected", labels);
	}
out:
	if (r < 0)
		segmenter_free(&sg);
	*out = sg;
	return r;
}

static void
set_codec_string(struct seg_stream *s)
{
	const AVCodecParameters *p = s->par;

	s->codec[0] = '\0';
	switch (p->codec_id) {
	case AV_CODEC_ID_H264:
		if (codecs_h264(p->extradata, (size_t)p->extradata_size, s->codec,
		                sizeof(s->codec)) < 0)
			s->codec[0] = '\0'; /* found later in a keyframe */
		break;
	case AV_CODEC_ID_HEVC:
		if (snprintf(s->codec, sizeof(s->codec), "hvc1.%d.6.L%d.B0",
		             p->profile > 0 ? p->profile % 100 : 1,
		             p->level > 0 ? p->level % 1000 : 93) < 0)
			s->codec[0] = '\0';
		break;
	case AV_CODEC_ID_AAC:
		codecs_aac(p->extradata, (size_t)p->extradata_size, p->profile, s->codec,
		           sizeof(s->codec));
		break;
	case AV_CODEC_ID_MP3:
		snprintf(s->codec, sizeof(s->codec), "mp4a.40.34");
		break;
	case AV_CODEC_ID_AC3:
		snprintf(s->codec, sizeof(s->codec), "ac-3");
		break;
	case AV_CODEC_ID_EAC3:
		snprintf(s->codec, sizeof(s->codec), "ec-3");
		break;
	default:
		break;
	}
}

static int
setup_bsf(struct seg_stream *s, const AVCodecParameters *par)
{
	const char *name = NULL;
	const AVBitStreamFilter *f;
	int r;

	if (par->extradata_size > 0 && par->extradata[0] == 1) {
		if (par->codec_id == AV_CODEC_ID_H264)
			name = "h264_mp4toannexb";
		else if (par->codec_id == AV_CODEC_ID_HEVC)
			name = "hevc_mp4toannexb";
	}
	if (name == NULL)
		return avcodec_parameters_copy(s->par, par) < 0 ? -ENOMEM : 0;
	f = av_bsf_get_by_name(name);
	if (f == NULL)
		return -ENOSYS;
	r = av_bsf_alloc(f, &s->bsf);
	if (r < 0)
		return averr(r);
	r = avcodec_parameters_copy(s->bsf->par_in, par);
	if (r < 0)
		return averr(r);
	s->bsf->time_base_in = s->tb;
	r = av_bsf_init(s->bsf);
	if (r < 0)
		return averr(r);
	r = avcodec_parameters_copy(s->par, s->bsf->par_out);
	return r < 0 ? averr(r) : 0;
}

int
segmenter_add_stream(struct segmenter *sg, const AVCodecParameters *par, AVRational tb)
{
	struct seg_stream *s;
	int r;

	if (par->codec_type != AVMEDIA_TYPE_VIDEO && par->codec_type != AVMEDIA_TYPE_AUDIO)
		return -EINVAL;
	if (sg->nst >= SEGMENTER_MAX_STREAMS)
		return -E2BIG;
	if (tb.num <= 0 || tb.den <= 0)
		return -EINVAL;
	s = &sg->st[sg->nst];
	memset(s, 0, sizeof(*s));
	s->tb = tb;
	s->par = avcodec_parameters_alloc();
	if (s->par == NULL)
		return -ENOMEM;
	r = setup_bsf(s, par);
	if (r < 0) {
		av_bsf_free(&s->bsf);
		avcodec_parameters_free(&s->par);
		return r;
	}
	s->shift = av_rescale_q(sg->out_offset_us - sg->clock.media_origin_us, AV_TIME_BASE_Q, tb);
	s->last_pts_us = INT64_MIN;
	set_codec_string(s);
	if (par->codec_type == AVMEDIA_TYPE_VIDEO &&
	    (sg->primary < 0 || sg->st[sg->primary].par->codec_type != AVMEDIA_TYPE_VIDEO))
		sg->primary = sg->nst;
	if (sg->primary < 0)
		sg->primary = sg->nst;
	return sg->nst++;
}

/* ---- the in-memory AVIOContext ---- */

static int
membuf_write(void *opaque, uint8_t *data, int len)
{
	struct membuf *b = opaque;
	size_t need, cap;
	uint8_t *p;

	if (len <= 0)
		return 0;
	need = b->len + (size_t)len;
	if (need > SEGMENTER_MAX_BYTES) {
		b->err = -EFBIG;
		return AVERROR(EFBIG);
	}
	if (need > b->cap) {
		cap = b->cap ? b->cap : SEG_BUF_INIT;
		while (cap < need)
			cap *= 2;
		if (cap > SEGMENTER_MAX_BYTES)
			cap = SEGMENTER_MAX_BYTES;
		p = realloc(b->data, cap);
		if (p == NULL) {
			b->err = -ENOMEM;
			return AVERROR(ENOMEM);
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, (size_t)len);
	b->len = need;
	return len;
}

static void
seg_discard(struct segmenter *sg)
{
	if (sg->oc != NULL) {
		if (sg->oc->pb != NULL) {
			av_freep(&sg->oc->pb->buffer);
			avio_context_free(&sg->oc->pb);
		}
		avformat_free_context(sg->oc);
		sg->oc = NULL;
	}
	/* keep the buffer's capacity for the next segment */
	sg->buf.len = 0;
	sg->buf.err = 0;
	sg->open = false;
}

static int
seg_open(struct segmenter *sg, int64_t start_us)
{
	AVFormatContext *oc = NULL;
	uint8_t *iobuf = NULL;
	AVStream *os;
	int i, r;

	if (sg->oc != NULL) {
		/* kept from the previous segment: only its bytes were taken */
		sg->open = true;
		sg->seg_start_us = start_us;
		sg->seg_end_us = start_us;
		return 0;
	}
	r = avformat_alloc_output_context2(&oc, sg->ofmt, NULL, NULL);
	if (r < 0 || oc == NULL)
		return averr(r);
	sg->oc = oc;
	iobuf = av_malloc(SEG_AVIO_BUF);
	if (iobuf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	oc->pb = avio_alloc_context(iobuf, SEG_AVIO_BUF, 1, &sg->buf, NULL, membuf_write, NULL);
	if (oc->pb == NULL) {
		av_free(iobuf);
		r = -ENOMEM;
		goto out;
	}
	oc->pb->direct = 1; /* TS packets go straight into buf, not via iobuf first */
	oc->flags |= AVFMT_FLAG_CUSTOM_IO;
	oc->avoid_negative_ts = AVFMT_AVOID_NEG_TS_DISABLED;
	for (i = 0; i < sg->nst; i++) {
		os = avformat_new_stream(oc, NULL);
		if (os == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = avcodec_parameters_copy(os->codecpar, sg->st[i].par);
		if (r < 0) {
			r = averr(r);
			goto out;
		}
		os->codecpar->codec_tag = 0;
		os->time_base = sg->st[i].tb;
	}
	r = avformat_write_header(oc, NULL);
	if (r < 0) {
		log_error("mpegts header: %s (stream=%s variant=%s)", av_err2str(r), sg->stream,
		          sg->variant);
		r = averr(r);
		goto out;
	}
	r = 0;
	sg->open = true;
	sg->seg_start_us = start_us;
	sg->seg_end_us = start_us;
out:
	if (r < 0)
		seg_discard(sg);
	return r;
}

static void
build_codecs(const struct segmenter *sg, char *out, size_t len)
{
	size_t w = 0;
	int i, pass, n;

	out[0] = '\0';
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < sg->nst; i++) {
			bool video = sg->st[i].par->codec_type == AVMEDIA_TYPE_VIDEO;
			if ((pass == 0) != video || sg->st[i].codec[0] == '\0')
				continue;
			n = snprintf(out + w, len - w, "%s%s", w ? "," : "", sg->st[i].codec);
			if (n < 0 || (size_t)n >= len - w)
				return;
			w += (size_t)n;
		}
	}
}

static void
store_segment(struct segmenter *sg, int64_t duration_us)
{
	struct store_record rec, stored;
	const AVCodecParameters *vp = NULL;
	char cid[CID_BUF_LEN];
	int i, r;

	memset(&rec, 0, sizeof(rec));
	r = store_blob_put(sg->store, sg->buf.data, sg->buf.len, NULL, cid, NULL);
	if (r < 0)
		goto fail;
	copy_name(rec.stream, sizeof(rec.stream), sg->stream);
	copy_name(rec.variant, sizeof(rec.variant), sg->variant);
	copy_name(rec.session, sizeof(rec.session), sg->session);
	copy_name(rec.tenant, sizeof(rec.tenant), sg->tenant);
	copy_name(rec.device, sizeof(rec.device), sg->device);
	copy_name(rec.cid, sizeof(rec.cid), cid);
	rec.start_us = cut_clock_wall(&sg->clock, sg->seg_start_us);
	rec.duration_us = duration_us;
	rec.discontinuity = !sg->first_done;
	rec.size = sg->buf.len;
	build_codecs(sg, rec.codecs, sizeof(rec.codecs));
	for (i = 0; i < sg->nst && vp == NULL; i++) {
		if (sg->st[i].par->codec_type == AVMEDIA_TYPE_VIDEO)
			vp = sg->st[i].par;
	}
	if (vp != NULL) {
		rec.width = vp->width > 0 ? (uint32_t)vp->width : 0;
		rec.height = vp->height > 0 ? (uint32_t)vp->height : 0;
	}
	rec.bandwidth = cut_bandwidth(rec.size, duration_us);
	r = store_record_put(sg->store, &rec, STORE_PUT_ASSIGN_SEQ, NULL, &stored);
	if (r < 0)
		goto fail;
	sg->first_done = true;
	sg->stats.segments++;
	sg->stats.bytes += rec.size;
	if (sg->m_segments != NULL) {
		metric_inc(sg->m_segments);
		metric_add(sg->m_bytes, (double)rec.size);
	}
	log_info("segment stored: stream=%s variant=%s seq=%" PRIu64 " start_us=%" PRId64
	         " duration_us=%" PRId64 " size=%" PRIu64 " disc=%d cid=%.12s session=%s",
	         stored.stream, stored.variant, stored.seq, stored.start_us, stored.duration_us,
	         stored.size, stored.discontinuity ? 1 : 0, stored.cid, stored.session);
	if (sg->on_segment != NULL)
		sg->on_segment(sg->on_segment_arg, &stored);
	return;
fail:
	sg->stats.store_errors++;
	if (sg->m_store_errors != NULL)
		metric_inc(sg->m_store_errors);
	log_error("store segment: %s (stream=%s variant=%s size=%zu); continuing", strerror(-r),
	          sg->stream, sg->variant, sg->buf.len);
}

/*
 * Close the open segment; end_us is where the next one starts (or the end).
 * keep: a cut at a video keyframe, where the next segment follows at once.
 * The muxer is then flushed (its buffered audio belongs to this segment) and
 * kept for the next segment instead of being rebuilt: the keyframe that
 * starts the next segment makes the mpegts muxer write PAT/PMT first, so
 * each segment still starts with them; continuity counters just carry on,
 * as in one HLS stream cut into files.
 */
static void
seg_close(struct segmenter *sg, int64_t end_us, bool keep)
{
	int64_t dur;
	int r;

	if (!sg->open)
		return;
	if (keep)
		r = av_write_frame(sg->oc, NULL);
	else
		r = av_write_trailer(sg->oc);
	if (r >= 0) {
		avio_flush(sg->oc->pb);
		r = sg->buf.err;
	}
	if (r < 0 || sg->oc->pb->error != 0)
		keep = false;
	dur = end_us - sg->seg_start_us;
	if (dur <= 0)
		dur = sg->frame_us > 0 ? sg->frame_us : 1000;
	if (r < 0 || sg->buf.len == 0) {
		sg->stats.store_errors++;
		if (sg->m_store_errors != NULL)
			metric_inc(sg->m_store_errors);
		log_error("mpegts segment: %s (stream=%s variant=%s); dropped",
		          r < 0 ? av_err2str(r) : "empty", sg->stream, sg->variant);
	} else {
		store_segment(sg, dur);
	}
	if (keep) {
		sg->buf.len = 0;
		sg->open = false;
		return;
	}
	seg_discard(sg);
}

static void
note_keyframe_codec(struct seg_stream *s, const AVPacket *pkt)
{
	size_t n;

	if (s->codec[0] != '\0' || s->par->codec_id != AV_CODEC_ID_H264)
		return;
	n = (size_t)pkt->size < SEG_CODECS_PROBE_MAX ? (size_t)pkt->size : SEG_CODECS_PROBE_MAX;
	if (codecs_h264(pkt->data, n, s->codec, sizeof(s->codec)) < 0)
		s->codec[0] = '\0';
}

static int
mux_packet(struct segmenter *sg, const AVPacket *pkt)
{
	struct seg_stream *s = &sg->st[pkt->stream_index];
	bool primary = pkt->stream_index == sg->primary;
	bool key = (pkt->flags & AV_PKT_FLAG_KEY) != 0;
	struct cut_params cp = { sg->target_us, sg->frame_us, SEGMENTER_MAX_BYTES / 2 };
	int64_t ts = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
	int64_t pts_us, dur_us;
	enum cut_action a;
	int r;

	if (ts == AV_NOPTS_VALUE) {
		sg->stats.dropped++;
		return 0;
	}
	pts_us = av_rescale_q(ts, s->tb, AV_TIME_BASE_Q);
	dur_us = pkt->duration > 0 ? av_rescale_q(pkt->duration, s->tb, AV_TIME_BASE_Q) : 0;
	if (primary) {
		if (dur_us > 0)
			sg->frame_us = dur_us;
		else if (s->last_pts_us != INT64_MIN && pts_us > s->last_pts_us &&
		         pts_us - s->last_pts_us < SEG_MAX_FRAME_US)
			sg->frame_us = pts_us - s->last_pts_us;
		if (dur_us == 0)
			dur_us = sg->frame_us;
		s->last_pts_us = pts_us;
	}
	a = cut_decide(&cp, sg->open, sg->seg_start_us, sg->buf.len, primary, key, pts_us);
	switch (a) {
	case CUT_DROP:
		sg->stats.dropped++;
		return 0;
	case CUT_FORCE:
		sg->stats.forced_cuts++;
		log_warn("no keyframe for %" PRId64 " ms: cutting anyway (stream=%s variant=%s)",
		         (pts_us - sg->seg_start_us) / 1000, sg->stream, sg->variant);
		/* fall through */
	case CUT_SPLIT:
		seg_close(sg, pts_us, a == CUT_SPLIT && key &&
		                      s->par->codec_type == AVMEDIA_TYPE_VIDEO);
		/* fall through */
	case CUT_START:
		r = seg_open(sg, pts_us);
		if (r < 0)
			return r == -ENOMEM ? r : 0;
		break;
	case CUT_APPEND:
		break;
	}
	if (!sg->open)
		return 0;
	if (primary && key)
		note_keyframe_codec(s, pkt);
	if (primary && pts_us + dur_us > sg->seg_end_us)
		sg->seg_end_us = pts_us + dur_us;
	if (primary && pts_us + dur_us > sg->end_us)
		sg->end_us = pts_us + dur_us;

	av_packet_unref(sg->tmp);
	r = av_packet_ref(sg->tmp, pkt);
	if (r < 0)
		return -ENOMEM;
	if (sg->tmp->pts != AV_NOPTS_VALUE)
		sg->tmp->pts += s->shift;
	if (sg->tmp->dts != AV_NOPTS_VALUE)
		sg->tmp->dts += s->shift;
	av_packet_rescale_ts(sg->tmp, s->tb, sg->oc->streams[pkt->stream_index]->time_base);
	r = av_write_frame(sg->oc, sg->tmp); /* input is interleaved already */
	if (r < 0) {
		sg->stats.mux_errors++;
		if (sg->m_mux_errors != NULL)
			metric_inc(sg->m_mux_errors);
		log_debug("mux packet: %s (stream=%s variant=%s)", av_err2str(r), sg->stream,
		          sg->variant);
	}
	av_packet_unref(sg->tmp);
	return 0;
}

int
segmenter_write(struct segmenter *sg, const AVPacket *pkt)
{
	struct seg_stream *s;
	int r;

	if (pkt->stream_index < 0 || pkt->stream_index >= sg->nst)
		return -EINVAL;
	s = &sg->st[pkt->stream_index];
	if (s->bsf == NULL)
		return mux_packet(sg, pkt);
	av_packet_unref(sg->filt);
	r = av_packet_ref(sg->filt, pkt);
	if (r < 0)
		return -ENOMEM;
	r = av_bsf_send_packet(s->bsf, sg->filt);
	if (r < 0) {
		av_packet_unref(sg->filt);
		sg->stats.mux_errors++;
		return 0;
	}
	for (;;) {
		r = av_bsf_receive_packet(s->bsf, sg->filt);
		if (r < 0)
			break;
		sg->filt->stream_index = pkt->stream_index;
		r = mux_packet(sg, sg->filt);
		av_packet_unref(sg->filt);
		if (r < 0)
			return r;
	}
	return 0;
}

int
segmenter_finish(struct segmenter *sg)
{
	seg_close(sg, sg->seg_end_us, false);
	return 0;
}

int64_t
segmenter_end_us(const struct segmenter *sg)
{
	return sg->end_us - sg->clock.media_origin_us + sg->out_offset_us;
}

void
segmenter_get_stats(const struct segmenter *sg, struct segmenter_stats *out)
{
	*out = sg->stats;
}

void
segmenter_free(struct segmenter **psg)
{
	struct segmenter *sg = *psg;
	int i;

	if (sg == NULL)
		return;
	seg_discard(sg);
	free(sg->buf.data);
	for (i = 0; i < sg->nst; i++) {
		av_bsf_free(&sg->st[i].bsf);
		avcodec_parameters_free(&sg->st[i].par);
	}
	av_packet_free(&sg->tmp);
	av_packet_free(&sg->filt);
	free(sg);
	*psg = NULL;
}
