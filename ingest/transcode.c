/*
 * transcode.c — one decoder, N encoders (see transcode.h).
 *
 * Model: struct transcode owns the decoder, a frame, a packet, the encoders
 * (one per rung) and a small ring of input keyframe PTS (FOLLOW mode) or the
 * next grid point (GRID mode). For each decoded frame the keyframe decision
 * is made once and applied to every encoder, then every encoder is drained
 * into emit().
 */
#include "ingest/transcode.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ingest/cut.h"
#include "ingest/encoder.h"

#define TC_KEYRING 64
#define TC_REF_HEIGHT 720
#define TC_REF_BITRATE 2800000LL
#define TC_MIN_BITRATE 200000LL
#define TC_DEFAULT_FPS 30
#define TC_GOP_SEGMENTS 8 /* FOLLOW: encoder's own max gop, in segment targets */

struct transcode {
	struct transcode_config cfg;
	AVCodecContext *dec;
	AVFrame *frame;
	AVPacket *pkt;
	struct encoder *enc[TRANSCODE_MAX_RUNGS];
	size_t n;
	int64_t keyring[TC_KEYRING];
	size_t nkeys;
	int64_t next_grid;
	uint64_t decode_errors;
};

int64_t
transcode_default_bitrate(int height)
{
	int64_t b = TC_REF_BITRATE * height * height / (TC_REF_HEIGHT * TC_REF_HEIGHT);

	return b < TC_MIN_BITRATE ? TC_MIN_BITRATE : b;
}

int
transcode_parse_ladder(const char *spec, struct transcode_rung *out, size_t max, size_t *n)
{
	const char *p = spec;
	size_t cnt = 0, i, len;
	long h;
	char *end;

	if (spec == NULL || *spec == '\0')
		return -EINVAL;
	while (*p != '\0') {
		len = strcspn(p, ",");
		if (len == 0 || !isdigit((unsigned char)*p))
			return -EINVAL;
		h = strtol(p, &end, 10);
		if (end != p + len - 1 || (*end != 'p' && *end != 'P'))
			return -EINVAL;
		if (h < TRANSCODE_MIN_HEIGHT || h > TRANSCODE_MAX_HEIGHT || cnt >= max)
			return -EINVAL;
		for (i = 0; i < cnt; i++) {
			if (out[i].height == (int)h)
				return -EINVAL;
		}
		memset(&out[cnt], 0, sizeof(out[cnt]));
		snprintf(out[cnt].name, sizeof(out[cnt].name), "%ldp", h);
		out[cnt].height = (int)h;
		out[cnt].bit_rate = transcode_default_bitrate((int)h);
		cnt++;
		p += len;
		if (*p == ',') {
			p++;
			if (*p == '\0')
				return -EINVAL;
		}
	}
	*n = cnt;
	return 0;
}

static int
averr(int e)
{
	if (e == AVERROR(ENOMEM))
		return -ENOMEM;
	return e < 0 && e > -4096 ? e : -EIO;
}

int
transcode_new(const struct transcode_config *cfg, const struct transcode_rung *rungs, size_t n,
              struct transcode **out)
{
	struct transcode *tc = NULL;
	const AVCodec *codec;
	struct encoder_config ec;
	AVRational fps = cfg->fps;
	int r = 0, w, h;
	size_t i;

	*out = NULL;
	if (n == 0 || n > TRANSCODE_MAX_RUNGS || cfg->par->width <= 0 || cfg->par->height <= 0)
		return -EINVAL;
	if (fps.num <= 0 || fps.den <= 0)
		fps = (AVRational){ TC_DEFAULT_FPS, 1 };
	codec = avcodec_find_decoder(cfg->par->codec_id);
	if (codec == NULL) {
		log_error("no decoder for \"%s\"", avcodec_get_name(cfg->par->codec_id));
		return -ENOSYS;
	}
	tc = calloc(1, sizeof(*tc));
	if (tc == NULL)
		return -ENOMEM;
	tc->cfg = *cfg;
	tc->next_grid = INT64_MIN;
	tc->dec = avcodec_alloc_context3(codec);
	tc->frame = av_frame_alloc();
	tc->pkt = av_packet_alloc();
	if (tc->dec == NULL || tc->frame == NULL || tc->pkt == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = avcodec_parameters_to_context(tc->dec, cfg->par);
	if (r < 0) {
		r = averr(r);
		goto out;
	}
	tc->dec->pkt_timebase = cfg->tb;
	r = avcodec_open2(tc->dec, codec, NULL);
	if (r < 0) {
		log_error("open decoder \"%s\": %s", codec->name, av_err2str(r));
		r = averr(r);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (rungs[i].height > 0) {
			h = rungs[i].height & ~1;
			w = (int)((int64_t)cfg->par->width * h / cfg->par->height + 1) & ~1;
		} else {
			w = cfg->par->width & ~1;
			h = cfg->par->height & ~1;
		}
		memset(&ec, 0, sizeof(ec));
		ec.width = w;
		ec.height = h;
		ec.time_base = cfg->tb;
		ec.framerate = fps;
		ec.bit_rate = rungs[i].bit_rate;
		ec.gop = (int)av_rescale(cfg->target_us, fps.num, (int64_t)fps.den * 1000000);
		if (ec.gop < 1)
			ec.gop = 1;
		if (cfg->keys == TRANSCODE_KEYS_FOLLOW)
			ec.gop *= TC_GOP_SEGMENTS;
		ec.preset = cfg->preset;
		r = encoder_new(&ec, &tc->enc[i]);
		if (r < 0)
			goto out;
		tc->n++;
	}
	r = 0;
out:
	if (r < 0)
		transcode_free(&tc);
	*out = tc;
	return r;
}

const AVCodecParameters *
transcode_params(const struct transcode *tc, size_t i)
{
	return i < tc->n ? encoder_params(tc->enc[i]) : NULL;
}

static void
keyring_add(struct transcode *tc, int64_t pts)
{
	if (tc->nkeys == TC_KEYRING) {
		memmove(tc->keyring, tc->keyring + 1, (TC_KEYRING - 1) * sizeof(tc->keyring[0]));
		tc->nkeys--;
	}
	tc->keyring[tc->nkeys++] = pts;
}

/* True when pts was an input keyframe; forgets keyframes up to pts. */
static bool
keyring_take(struct transcode *tc, int64_t pts)
{
	bool hit = false;
	size_t i = 0, j;

	while (i < tc->nkeys && tc->keyring[i] <= pts) {
		if (tc->keyring[i] == pts)
			hit = true;
		i++;
	}
	for (j = 0; i + j < tc->nkeys; j++)
		tc->keyring[j] = tc->keyring[i + j];
	tc->nkeys = j;
	return hit;
}

static int
drain_encoders(struct transcode *tc)
{
	size_t i;
	int r;

	for (i = 0; i < tc->n; i++) {
		for (;;) {
			r = encoder_receive(tc->enc[i], tc->pkt);
			if (r == -EAGAIN || r == -ENODATA)
				break;
			if (r < 0)
				return r;
			r = tc->cfg.emit(tc->cfg.arg, (int)i, tc->pkt);
			av_packet_unref(tc->pkt);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int
encode_frame(struct transcode *tc, AVFrame *f)
{
	int64_t us;
	bool key;
	size_t i;
	int r;

	f->pts = f->best_effort_timestamp;
	if (f->pts == AV_NOPTS_VALUE)
		return 0;
	if (tc->cfg.keys == TRANSCODE_KEYS_FOLLOW) {
		key = keyring_take(tc, f->pts);
	} else {
		us = av_rescale_q(f->pts, tc->cfg.tb, AV_TIME_BASE_Q);
		key = cut_grid_key(us, tc->cfg.origin_us, tc->cfg.target_us, &tc->next_grid);
	}
	for (i = 0; i < tc->n; i++) {
		r = encoder_send(tc->enc[i], f, key);
		if (r < 0 && r != -EAGAIN)
			return r;
	}
	return drain_encoders(tc);
}

int
transcode_packet(struct transcode *tc, const AVPacket *pkt)
{
	size_t i;
	int r;

	if (pkt != NULL && (pkt->flags & AV_PKT_FLAG_KEY) && pkt->pts != AV_NOPTS_VALUE)
		keyring_add(tc, pkt->pts);
	r = avcodec_send_packet(tc->dec, pkt);
	if (r < 0 && r != AVERROR_EOF) {
		if (tc->decode_errors++ == 0)
			log_warn("decode: %s (further decode errors are counted)", av_err2str(r));
		if (pkt != NULL)
			return 0;
	}
	for (;;) {
		r = avcodec_receive_frame(tc->dec, tc->frame);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
			break;
		if (r < 0) {
			tc->decode_errors++;
			break;
		}
		r = encode_frame(tc, tc->frame);
		av_frame_unref(tc->frame);
		if (r < 0)
			return r;
	}
	if (pkt != NULL)
		return 0;
	for (i = 0; i < tc->n; i++)
		encoder_send(tc->enc[i], NULL, false);
	return drain_encoders(tc);
}

void
transcode_free(struct transcode **ptc)
{
	struct transcode *tc = *ptc;
	size_t i;

	if (tc == NULL)
		return;
	for (i = 0; i < TRANSCODE_MAX_RUNGS; i++)
		encoder_free(&tc->enc[i]);
	avcodec_free_context(&tc->dec);
	av_frame_free(&tc->frame);
	av_packet_free(&tc->pkt);
	free(tc);
	*ptc = NULL;
}
