/*
 * hls.c — playlist handlers.
 *
 * Model: per request, read records from the store (store_latest for live,
 * store_query for dvr/replay), compute the discontinuity sequence
 * (disc.h), get each segment's URI from the steering state (edges.h), and
 * write the text with the pure writers (playlist.h). live.m3u8 is served
 * from the window cache (live.h) when it can be; this uncached path is its
 * fallback and serves dvr/replay.
 */
#include "origin/hls.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/flags.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "origin/disc.h"
#include "origin/edges.h"
#include "origin/live.h"
#include "origin/playlist.h"
#include "store/store.h"

#define HLS_BASE_MAX 320

static bool
sid_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HLS_SID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

/* Viewer key: ?sid= if valid, else the client address. -EINVAL on a bad sid. */
static int
viewer_key(struct req *r, char *buf, size_t len)
{
	const char *sid = http_arg(r, "sid");

	if (sid != NULL) {
		if (!sid_ok(sid))
			return -EINVAL;
		snprintf(buf, len, "%s", sid);
		return 0;
	}
	http_client_addr(r, buf, len);
	return 0;
}

/* ?sid= absent or valid. */
static bool
sid_valid(struct req *r)
{
	const char *sid = http_arg(r, "sid");

	return sid == NULL || sid_ok(sid);
}

static void
observe(struct req *r, int idx, int64_t t0)
{
	metric_observe(r->o->playlist_seconds[idx], (double)(time_mono_us() - t0) / 1e6);
}

static int
parse_range(struct req *r, int64_t *from, int64_t *to, char *err, size_t errlen)
{
	const char *f = http_arg(r, "from"), *t = http_arg(r, "to");
	int64_t now = time_now_us();

	if (f == NULL || t == NULL) {
		snprintf(err, errlen, "from and to are required");
		return -EINVAL;
	}
	if (time_parse(f, now, from) != 0) {
		snprintf(err, errlen, "bad time in from");
		return -EINVAL;
	}
	if (time_parse(t, now, to) != 0) {
		snprintf(err, errlen, "bad time in to");
		return -EINVAL;
	}
	if (*from >= *to) {
		snprintf(err, errlen, "from must be before to");
		return -EINVAL;
	}
	if (*to - *from > r->o->conf.max_range_us) {
		snprintf(err, errlen, "range longer than the limit of %" PRId64 " s",
		         (int64_t)(r->o->conf.max_range_us / TIME_US_PER_SEC));
		return -E2BIG;
	}
	return 0;
}

enum MHD_Result
hls_master(struct req *r, const char *stream)
{
	struct store_stream_info si;
	char viewer[HLS_SID_MAX + HTTP_ADDR_MAX], alt[EDGE_ALTERNATES_MAX][STEER_ID_MAX + 1];
	char err[HTTP_ERR_MAX];
	const char *sid = http_arg(r, "sid"), *secs = http_arg(r, "seconds");
	const char *from = http_arg(r, "from"), *to = http_arg(r, "to");
	struct playlist_variant *pv = NULL;
	struct sbuf ub;
	char *text = NULL, *uris = NULL;
	size_t nalt = 0, len = 0, npv = 0;
	size_t *offs = NULL;
	int64_t t0 = time_mono_us(), f, t;
	enum MHD_Result ret;
	int rc;

	if (flag_stream_name(stream) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad stream name");
	if (viewer_key(r, viewer, sizeof(viewer)) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad sid");
	if (from != NULL || to != NULL) {
		rc = parse_range(r, &f, &t, err, sizeof(err));
		if (rc != 0)
			return http_error(r, MHD_HTTP_BAD_REQUEST, "%s", err);
	} else if (secs != NULL) {
		int64_t us;
		if (duration_parse(secs, &us) != 0 || us <= 0 || us > r->o->conf.max_range_us)
			return http_error(r, MHD_HTTP_BAD_REQUEST, "bad seconds");
	}
	rc = store_stream_get(r->o->store, stream, &si);
	if (rc == -ENOENT)
		return http_error(r, MHD_HTTP_NOT_FOUND, "unknown stream \"%s\"", stream);
	if (rc != 0)
		return http_errno(r, rc, "stream");
	if (si.nvariants == 0) {
		store_stream_info_clear(&si);
		return http_error(r, MHD_HTTP_NOT_FOUND, "stream \"%s\" has no variants", stream);
	}
	edges_alternates(r->o->edges, viewer, alt, HLS_REDUNDANT, &nalt);
	pv = calloc(si.nvariants * (1 + nalt), sizeof(*pv));
	offs = calloc(si.nvariants * (1 + nalt), sizeof(*offs));
	if (pv == NULL || offs == NULL) {
		ret = http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		goto out;
	}
	/* URIs into one buffer; offsets resolved after it stops growing */
	sbuf_init(&ub);
	for (size_t copy = 0; copy <= nalt; copy++) {
		for (size_t i = 0; i < si.nvariants; i++) {
			const struct store_variant_info *v = &si.variants[i];
			char sep = '?';
			offs[npv] = ub.len;
			if (from != NULL) {
				sbuf_printf(&ub, "%s/replay.m3u8?from=", v->name);
				http_urlencode(&ub, from);
				sbuf_puts(&ub, "&to=");
				http_urlencode(&ub, to);
				sep = '&';
			} else if (secs != NULL) {
				sbuf_printf(&ub, "%s/dvr.m3u8?seconds=", v->name);
				http_urlencode(&ub, secs);
				sep = '&';
			} else {
				sbuf_printf(&ub, "%s/live.m3u8", v->name);
			}
			if (sid != NULL) {
				sbuf_printf(&ub, "%csid=", sep);
				http_urlencode(&ub, sid);
				sep = '&';
			}
			if (copy > 0)
				sbuf_printf(&ub, "%cpin=%s", sep, alt[copy - 1]);
			sbuf_append(&ub, "", 1);    /* keep the NUL inside */
			pv[npv].bandwidth = v->bandwidth;
			pv[npv].width = v->width;
			pv[npv].height = v->height;
			pv[npv].codecs = v->codecs;
			npv++;
		}
	}
	rc = sbuf_take(&ub, &uris, NULL);
	if (rc != 0) {
		ret = http_errno(r, rc, "master playlist");
		goto out;
	}
	for (size_t i = 0; i < npv; i++)
		pv[i].uri = uris + offs[i];
	rc = playlist_master(pv, npv, &text, &len);
	if (rc != 0) {
		ret = http_errno(r, rc, "master playlist");
		goto out;
	}
	observe(r, 0, t0);
	ret = http_send_malloc(r, MHD_HTTP_OK, HLS_CTYPE, "max-age=1", text, len);
out:
	free(uris);
	free(offs);
	free(pv);
	store_stream_info_clear(&si);
	return ret;
}

static int
load_records(struct req *r, const char *stream, const char *variant, enum http_route kind,
             struct store_record **recs, size_t *n, unsigned *status, char *err, size_t errlen)
{
	int64_t from = 0, to = 0;
	bool trunc = false;
	int rc;

	*status = MHD_HTTP_BAD_REQUEST;
	if (kind == ROUTE_LIVE) {
		rc = store_latest(r->o->store, stream, variant, r->o->conf.window, recs, n);
	} else if (kind == ROUTE_DVR) {
		const char *secs = http_arg(r, "seconds");
		int64_t span = HLS_DVR_DEFAULT_US;
		struct store_record *last = NULL;
		size_t nl = 0;
		if (secs != NULL && (duration_parse(secs, &span) != 0 || span <= 0)) {
			snprintf(err, errlen, "bad seconds");
			return -EINVAL;
		}
		if (span > r->o->conf.max_range_us) {
			snprintf(err, errlen, "seconds longer than the limit of %" PRId64,
			         (int64_t)(r->o->conf.max_range_us / TIME_US_PER_SEC));
			return -E2BIG;
		}
		rc = store_latest(r->o->store, stream, variant, 1, &last, &nl);
		if (rc == 0 && nl == 1) {
			to = last[0].start_us + last[0].duration_us;
			from = to - span;
			rc = store_query(r->o->store, stream, variant, from, to, HLS_SEGMENTS_MAX, recs,
			                 n, &trunc);
		} else if (rc == 0) {
			*n = 0;
		}
		free(last);
	} else {
		rc = parse_range(r, &from, &to, err, errlen);
		if (rc != 0)
			return rc;
		rc = store_query(r->o->store, stream, variant, from, to, HLS_SEGMENTS_MAX, recs, n,
		                 &trunc);
	}
	if (rc == 0 && trunc) {
		free(*recs);
		*recs = NULL;
		snprintf(err, errlen, "more than %d segments; ask for a shorter range",
		         HLS_SEGMENTS_MAX);
		return -E2BIG;
	}
	if (rc == -ENOENT || (rc == 0 && *n == 0)) {
		free(*recs);
		*recs = NULL;
		*status = MHD_HTTP_NOT_FOUND;
		snprintf(err, errlen, kind == ROUTE_REPLAY ? "no segments of %s/%s in range"
		                                           : "no segments of %s/%s",
		         stream, variant);
		return -ENOENT;
	}
	if (rc != 0) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		snprintf(err, errlen, "index: %s", strerror(-rc));
	}
	return rc;
}

enum MHD_Result
hls_media(struct req *r, const char *stream, const char *variant, enum http_route kind)
{
	char viewer[HLS_SID_MAX + HTTP_ADDR_MAX], base[HLS_BASE_MAX], track[STEER_KEY_MAX + 1];
	char err[HTTP_ERR_MAX];
	const char *pin = http_arg(r, "pin");
	struct store_record *recs = NULL;
	struct playlist_media_opts opts = { .kind = PLAYLIST_LIVE, .disc_seq = 0 };
	char **uris = NULL, *text = NULL;
	size_t n = 0, len = 0;
	unsigned status;
	int64_t t0 = time_mono_us();
	enum MHD_Result ret;
	int rc;

	if (flag_stream_name(stream) != 0 || flag_variant_name(variant) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad stream or variant name");
	if (!sid_valid(r))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad sid");
	if (pin != NULL && !edges_valid_id(pin))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad pin");
	if (kind == ROUTE_LIVE &&
	    livecache_serve(r->o->live, r, stream, variant, http_arg(r, "sid"), pin, &ret))
		return ret;
	if (viewer_key(r, viewer, sizeof(viewer)) != 0)
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad sid");
	rc = load_records(r, stream, variant, kind, &recs, &n, &status, err, sizeof(err));
	if (rc != 0)
		return http_error(r, status, "%s", err);
	rc = disc_sequence(r->o->disc, &recs[0], &opts.disc_seq);
	if (rc != 0) {
		ret = http_errno(r, rc, "discontinuity sequence");
		goto out;
	}
	http_base_url(r, base, sizeof(base));
	snprintf(track, sizeof(track), "%s/%s", stream, variant);
	rc = edges_segment_uris(r->o->edges, track, recs, n, viewer, pin, base, &uris);
	if (rc != 0) {
		ret = http_errno(r, rc, "segment URIs");
		goto out;
	}
	if (kind == ROUTE_REPLAY)
		opts.kind = PLAYLIST_VOD;
	rc = playlist_media(recs, n, (const char *const *)uris, &opts, &text, &len);
	if (rc != 0) {
		ret = http_errno(r, rc, "media playlist");
		goto out;
	}
	observe(r, kind == ROUTE_LIVE ? 1 : kind == ROUTE_DVR ? 2 : 3, t0);
	ret = http_send_malloc(r, MHD_HTTP_OK, HLS_CTYPE,
	                       kind == ROUTE_REPLAY ? "max-age=10" : "max-age=1", text, len);
out:
	free(uris);
	free(recs);
	return ret;
}
