/*
 * cmd_export.c — `sluice export (--store DIR | --origin URL) --stream S
 * [--variant V] --from T --to T -o OUT.mp4` (DESIGN.md "Operator CLI").
 *
 * Model: a source yields the records overlapping [from, to) in start order
 * (store_query on a local store, or GET URL/api/v1/streams/S/segments from an
 * origin, paged when the answer says X-Sluice-Truncated) and the bytes of
 * each (the blob file, or GET URL/seg/<cid>.ts). Every segment's bytes are
 * hashed and must match its CID before they are used, whatever the source.
 * Each segment is then demuxed from memory (custom AVIOContext over the
 * buffer) and its packets are remuxed into one MP4 (libavformat, faststart)
 * written to OUT.tmp, renamed to OUT on success, removed on any failure.
 *
 * Tracks: the first video and first audio stream of the first segment
 * define the MP4's tracks; later segments map onto them by media type
 * (streams of another codec are skipped). AAC goes through aac_adtstoasc.
 *
 * Time: timestamps stay as the source wrote them inside a session, shifted
 * so the export starts at 0. At a discontinuity (record flag, session
 * change, or a jump of more than EXPORT_RESYNC_US between where a segment
 * starts and where the export ends so far) the new session is re-anchored to
 * follow the previous one, so the MP4's timeline is continuous.
 *
 * Trimming: the export starts at the last video keyframe at or before
 * `from` in the first segment (segments start with a keyframe, so at worst
 * the whole first segment is kept) and ends with the last packet whose
 * decode time is before `to` (decode order, so what is kept decodes).
 * Without video the start is cut at the first packet at or after `from`.
 *
 * Memory: one segment's bytes at a time (at most EXPORT_SEG_MAX); records
 * are an array held for the whole run. Single-threaded; no statics.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>
#include <libavutil/log.h>

#include "common/flags.h"
#include "common/timeutil.h"
#include "store/cid.h"
#include "store/store.h"
#include "tools/cli.h"

#define EXPORT_USAGE                                                                  \
	"sluice export (--store DIR | --origin URL) --stream S [--variant V] --from T " \
	"--to T -o OUT.mp4 [--verbose]"

#define EXPORT_SEG_MAX           (512ULL << 20)   /* bytes of one segment */
#define EXPORT_JSON_MAX          (256ULL << 20)   /* bytes of one segments answer */
#define EXPORT_PAGES_MAX         100000           /* segments API answers per export */
#define EXPORT_WINDOW_US         (3600 * TIME_US_PER_SEC) /* range of one API request */
#define EXPORT_AVIO_BUF          (64 * 1024)
#define EXPORT_RESYNC_US         (5 * TIME_US_PER_SEC)
#define EXPORT_CONNECT_TIMEOUT_S 10L
#define EXPORT_HTTP_TIMEOUT_S    120L
#define EXPORT_URL_MAX           2048
#define EXPORT_ORIGIN_MAX        1024
#define EXPORT_PATH_MAX          4096
#define EXPORT_ERR_MAX           (2 * EXPORT_PATH_MAX + 1024)   /* our one error line */
#define EXPORT_MSG_MAX           512                            /* a server's error text */
#define EXPORT_DEFAULT_FRAME_US  40000            /* when a video stream has no rate */
#define EXPORT_TMP_SUFFIX        ".tmp"
#define EXPORT_STREAMS_MAX       16               /* streams of a segment looked at */

/* ---- growable byte buffer with a hard limit ---- */

struct mem {
	uint8_t *data;
	size_t len, cap, max;
	bool over;                          /* a write hit max */
};

static void
mem_free(struct mem *m)
{
	free(m->data);
	m->data = NULL;
	m->len = m->cap = 0;
	m->over = false;
}

static int
mem_append(struct mem *m, const void *p, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (n > m->max - m->len) {
		m->over = true;
		return -EFBIG;
	}
	if (m->len + n + 1 > m->cap) {
		cap = m->cap ? m->cap : 64 * 1024;
		while (cap < m->len + n + 1)
			cap *= 2;
		d = realloc(m->data, cap);
		if (d == NULL)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	memcpy(m->data + m->len, p, n);
	m->len += n;
	m->data[m->len] = '\0';             /* JSON answers are parsed as text */
	return 0;
}

/* ---- HTTP (origin source) ---- */

struct http_answer {
	struct mem body;
	long status;
	bool truncated;                     /* X-Sluice-Truncated: 1 */
};

static size_t
http_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct http_answer *a = arg;

	if (mem_append(&a->body, p, size * n) != 0)
		return 0;                       /* curl aborts with CURLE_WRITE_ERROR */
	return size * n;
}

static size_t
http_header_cb(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "x-sluice-truncated:";
	struct http_answer *a = arg;
	size_t len = size * n;

	if (len >= sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0)
		a->truncated = true;
	return len;
}

/* The server's {"error": "..."} text, or the status when the body has none. */
static void
http_error_text(const struct http_answer *a, char *err, size_t errlen)
{
	json_t *root = NULL, *e;

	if (a->body.len > 0)
		root = json_loadb((const char *)a->body.data, a->body.len, 0, NULL);
	e = json_object_get(root, "error");
	if (json_is_string(e))
		snprintf(err, errlen, "%s (HTTP %ld)", json_string_value(e), a->status);
	else
		snprintf(err, errlen, "HTTP %ld", a->status);
	json_decref(root);
}

/*
 * GET url into a->body (at most max bytes). 0 on a 2xx answer; otherwise a
 * negative errno with the reason (transport, limit, or the server's error
 * text) in err.
 */
static int
http_get(CURL *c, const char *url, size_t max, struct http_answer *a, char *err, size_t errlen)
{
	CURLcode cc;

	mem_free(&a->body);
	a->body.max = max;
	a->status = 0;
	a->truncated = false;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (a->body.over)
			snprintf(err, errlen, "GET %s: answer larger than %zu bytes", url, max);
		else
			snprintf(err, errlen, "GET %s: %s", url, curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->status < 200 || a->status > 299) {
		char msg[EXPORT_MSG_MAX];

		http_error_text(a, msg, sizeof(msg));
		snprintf(err, errlen, "GET %s: %s", url, msg);
		return a->status == 404 ? -ENOENT : -EIO;
	}
	return 0;
}

/* ---- sources: records and segment bytes ---- */

struct source {
	struct store *store;                /* --store, or NULL */
	CURL *curl;                         /* --origin, or NULL */
	char origin[EXPORT_ORIGIN_MAX];     /* without trailing slash */
	struct http_answer ans;
};

/* Unix seconds with microseconds, as the origin's time parser reads them. */
static void
fmt_unix(int64_t us, char *buf, size_t len)
{
	if (us < 0)
		us = 0;                         /* "-1.5" would read as relative */
	snprintf(buf, len, "%" PRId64 ".%06" PRId64, (int64_t)(us / TIME_US_PER_SEC),
	         (int64_t)(us % TIME_US_PER_SEC));
}

/* Append the records of one JSON array answer with start > *after_us. */
static int
parse_records(const struct mem *body, struct store_record **recs, size_t *n, size_t *cap,
              int64_t *after_us, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb((const char *)body->data, body->len, 0, &je);
	char perr[EXPORT_MSG_MAX];
	int rc = -EPROTO;

	if (!json_is_array(root)) {
		snprintf(err, errlen, "segments answer: not a JSON array (%s)",
		         root == NULL ? je.text : "wrong type");
		goto out;
	}
	for (size_t i = 0; i < json_array_size(root); i++) {
		struct store_record r;
		char *text = json_dumps(json_array_get(root, i), JSON_COMPACT);

		if (text == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		rc = store_record_from_json(text, strlen(text), &r, perr, sizeof(perr));
		free(text);
		if (rc != 0) {
			snprintf(err, errlen, "segments answer: record %zu: %s", i, perr);
			rc = -EPROTO;
			goto out;
		}
		if (r.start_us <= *after_us)
			continue;                   /* already had it from the previous page */
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 64;
			struct store_record *p = realloc(*recs, ncap * sizeof(*p));

			if (p == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			*recs = p;
			*cap = ncap;
		}
		(*recs)[(*n)++] = r;
		*after_us = r.start_us;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * The span [first, last) of stream+variant from GET URL/api/v1/streams/S;
 * *known false (and 0) when the origin does not know the stream or variant.
 */
static int
origin_span(struct source *src, const char *stream, const char *variant, bool *known,
            int64_t *first_us, int64_t *last_us, char *err, size_t errlen)
{
	char url[EXPORT_URL_MAX];
	json_t *root = NULL, *vars, *v;
	size_t i;
	int rc;

	*known = false;
	snprintf(url, sizeof(url), "%s/api/v1/streams/%s", src->origin, stream);
	rc = http_get(src->curl, url, EXPORT_JSON_MAX, &src->ans, err, errlen);
	if (rc == -ENOENT && src->ans.status == 404)
		return 0;
	if (rc != 0)
		return rc;
	root = json_loadb((const char *)src->ans.body.data, src->ans.body.len, 0, NULL);
	vars = json_object_get(root, "variants");
	rc = -EPROTO;
	if (!json_is_array(vars)) {
		snprintf(err, errlen, "GET %s: answer has no variants array", url);
		goto out;
	}
	json_array_foreach(vars, i, v) {
		json_t *f = json_object_get(v, "first_us"), *l = json_object_get(v, "last_us");

		if (!json_is_string(json_object_get(v, "name")) ||
		    strcmp(json_string_value(json_object_get(v, "name")), variant) != 0)
			continue;
		if (!json_is_integer(f) || !json_is_integer(l)) {
			snprintf(err, errlen, "GET %s: variant \"%s\" has no first_us/last_us", url,
			         variant);
			goto out;
		}
		*first_us = json_integer_value(f);
		*last_us = json_integer_value(l);
		*known = true;
		break;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * Records from the origin's segments API: the range is clamped to the
 * stream's span and asked for in windows of EXPORT_WINDOW_US (the origin
 * limits one answer's range), each window paged while the answer says it
 * was truncated; records seen twice (overlapping two windows) are dropped.
 */
static int
origin_records(struct source *src, const char *stream, const char *variant, int64_t from_us,
               int64_t to_us, struct store_record **recs, size_t *n, char *err, size_t errlen)
{
	char url[EXPORT_URL_MAX], f[32], t[32];
	int64_t after = INT64_MIN, first = 0, last = 0;
	size_t cap = 0;
	bool known;
	int rc, pages = 0;

	rc = origin_span(src, stream, variant, &known, &first, &last, err, errlen);
	if (rc != 0 || !known)
		return rc;
	if (from_us < first)
		from_us = first;
	if (to_us > last + 1)
		to_us = last + 1;
	for (int64_t w = from_us; w < to_us; w += EXPORT_WINDOW_US) {
		int64_t w_to = to_us - w > EXPORT_WINDOW_US ? w + EXPORT_WINDOW_US : to_us;
		int64_t page_from = w, before;

		fmt_unix(w_to, t, sizeof(t));
		do {
			if (++pages > EXPORT_PAGES_MAX) {
				snprintf(err, errlen, "segments of \"%s\": more than %d answers",
				         stream, EXPORT_PAGES_MAX);
				return -E2BIG;
			}
			fmt_unix(page_from, f, sizeof(f));
			snprintf(url, sizeof(url),
			         "%s/api/v1/streams/%s/segments?variant=%s&from=%s&to=%s",
			         src->origin, stream, variant, f, t);
			rc = http_get(src->curl, url, EXPORT_JSON_MAX, &src->ans, err, errlen);
			if (rc != 0)
				return rc;
			before = after;
			rc = parse_records(&src->ans.body, recs, n, &cap, &after, err, errlen);
			if (rc != 0)
				return rc;
			page_from = after + 1;
		} while (src->ans.truncated && after > before && page_from < w_to);
	}
	return 0;
}

static int
source_records(struct source *src, const char *stream, const char *variant, int64_t from_us,
               int64_t to_us, struct store_record **recs, size_t *n, char *err, size_t errlen)
{
	int rc;

	*recs = NULL;
	*n = 0;
	if (src->curl != NULL)
		return origin_records(src, stream, variant, from_us, to_us, recs, n, err, errlen);
	rc = store_query(src->store, stream, variant, from_us, to_us, 0, recs, n, NULL);
	if (rc == -ENOENT) {
		*n = 0;
		return 0;                       /* unknown stream: no segments */
	}
	if (rc != 0)
		snprintf(err, errlen, "query \"%s\": %s", stream, strerror(-rc));
	return rc;
}

static int
read_blob(struct store *s, const struct store_record *r, struct mem *m, char *err,
          size_t errlen)
{
	uint8_t buf[EXPORT_AVIO_BUF];
	uint64_t size = 0;
	int fd = -1, rc;
	ssize_t k;

	rc = store_blob_open(s, r->cid, &fd, &size);
	if (rc != 0) {
		snprintf(err, errlen, "open blob \"%s\": %s", r->cid, strerror(-rc));
		return rc;
	}
	if (size > m->max) {
		snprintf(err, errlen, "blob \"%s\": %" PRIu64 " bytes, more than the limit of %zu",
		         r->cid, size, m->max);
		rc = -EFBIG;
		goto out;
	}
	while ((k = read(fd, buf, sizeof(buf))) != 0) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			snprintf(err, errlen, "read blob \"%s\": %s", r->cid, strerror(errno));
			goto out;
		}
		rc = mem_append(m, buf, (size_t)k);
		if (rc != 0) {
			snprintf(err, errlen, "blob \"%s\": %s", r->cid, strerror(-rc));
			goto out;
		}
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* The verified bytes of one segment into m (replaced). */
static int
source_fetch(struct source *src, const struct store_record *r, struct mem *m, char *err,
             size_t errlen)
{
	char url[EXPORT_URL_MAX], got[CID_BUF_LEN];
	const char *from;
	int rc;

	mem_free(m);
	m->max = EXPORT_SEG_MAX;
	if (src->curl != NULL) {
		snprintf(url, sizeof(url), "%s/seg/%s.ts", src->origin, r->cid);
		from = url;
		rc = http_get(src->curl, url, EXPORT_SEG_MAX, &src->ans, err, errlen);
		if (rc != 0)
			return rc;
		*m = src->ans.body;             /* take the buffer */
		memset(&src->ans.body, 0, sizeof(src->ans.body));
	} else {
		from = store_dir(src->store);
		rc = read_blob(src->store, r, m, err, errlen);
		if (rc != 0)
			return rc;
	}
	rc = cid_of(m->data, m->len, got);
	if (rc != 0) {
		snprintf(err, errlen, "hash segment \"%s\": %s", r->cid, strerror(-rc));
		return rc;
	}
	if (strcmp(got, r->cid) != 0) {
		snprintf(err, errlen, "segment \"%s\": hash mismatch: %zu bytes from %s hash to %s",
		         r->cid, m->len, from, got);
		return -EBADMSG;
	}
	return 0;
}

/* ---- demuxing one segment from memory ---- */

struct memio {
	const uint8_t *data;
	size_t len, pos;
};

static int
memio_read(void *arg, uint8_t *buf, int size)
{
	struct memio *mi = arg;
	size_t n = mi->len - mi->pos;

	if (n == 0)
		return AVERROR_EOF;
	if (n > (size_t)size)
		n = (size_t)size;
	memcpy(buf, mi->data + mi->pos, n);
	mi->pos += n;
	return (int)n;
}

static int64_t
memio_seek(void *arg, int64_t off, int whence)
{
	struct memio *mi = arg;
	int64_t base;

	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE:
		return (int64_t)mi->len;
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)mi->pos;
		break;
	case SEEK_END:
		base = (int64_t)mi->len;
		break;
	default:
		return AVERROR(EINVAL);
	}
	if (off < -base || base + off > (int64_t)mi->len)
		return AVERROR(EINVAL);
	mi->pos = (size_t)(base + off);
	return (int64_t)mi->pos;
}

struct demux {
	struct memio mi;
	AVIOContext *pb;
	AVFormatContext *ic;
};

static void
demux_close(struct demux *d)
{
	avformat_close_input(&d->ic);       /* custom pb: not closed by this */
	if (d->pb != NULL) {
		av_freep(&d->pb->buffer);
		avio_context_free(&d->pb);
	}
}

static int
demux_open(struct demux *d, const struct mem *m, const char *cid, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	int ret;

	memset(d, 0, sizeof(*d));
	d->mi.data = m->data;
	d->mi.len = m->len;
	buf = av_malloc(EXPORT_AVIO_BUF);
	d->ic = avformat_alloc_context();
	if (buf == NULL || d->ic == NULL)
		goto nomem;
	d->pb = avio_alloc_context(buf, EXPORT_AVIO_BUF, 0, &d->mi, memio_read, NULL, memio_seek);
	if (d->pb == NULL)
		goto nomem;
	buf = NULL;                         /* owned by pb */
	d->ic->pb = d->pb;
	d->ic->flags |= AVFMT_FLAG_CUSTOM_IO;
	ret = avformat_open_input(&d->ic, NULL, av_find_input_format("mpegts"), NULL);
	if (ret >= 0)
		ret = avformat_find_stream_info(d->ic, NULL);
	if (ret < 0) {
		snprintf(err, errlen, "segment \"%s\": not readable MPEG-TS: %s", cid,
		         av_err2str(ret));
		demux_close(d);
		return -EPROTO;
	}
	return 0;
nomem:
	av_free(buf);
	demux_close(d);
	snprintf(err, errlen, "segment \"%s\": out of memory", cid);
	return -ENOMEM;
}

/* ---- muxing ---- */

enum { TRACK_VIDEO, TRACK_AUDIO, TRACK_N };

struct track {
	int out;                            /* output stream index, -1 if none */
	enum AVCodecID codec;
	AVRational tb;                      /* working time base (first segment's) */
	AVBSFContext *bsf;                  /* aac_adtstoasc, or NULL */
	int64_t last_dts;                   /* output tb; AV_NOPTS_VALUE before any */
	int64_t frame_us;                   /* video packet duration when none given */
};

struct exporter {
	AVFormatContext *oc;
	struct track t[TRACK_N];
	bool header;                        /* avformat_write_header done */
	bool anchored;
	int64_t shift_us;                   /* input ts (µs) + shift = output ts (µs) */
	int64_t end_us;                     /* output end so far, µs */
	char session[STORE_SESSION_MAX + 1];
	AVPacket *pkt, *fpkt;
	uint64_t packets;
};

static int
track_kind(enum AVMediaType type)
{
	if (type == AVMEDIA_TYPE_VIDEO)
		return TRACK_VIDEO;
	if (type == AVMEDIA_TYPE_AUDIO)
		return TRACK_AUDIO;
	return -1;
}

/* The MP4's tracks from the first segment's streams; writes the header. */
static int
exporter_start(struct exporter *x, AVFormatContext *ic, const char *tmp, char *err,
               size_t errlen)
{
	AVDictionary *opts = NULL;
	int ret;

	ret = avformat_alloc_output_context2(&x->oc, NULL, "mp4", tmp);
	if (ret < 0)
		goto fail;
	for (unsigned i = 0; i < ic->nb_streams; i++) {
		AVStream *is = ic->streams[i], *os;
		int k = track_kind(is->codecpar->codec_type);
		struct track *t;

		if (k < 0 || x->t[k].out >= 0)
			continue;
		t = &x->t[k];
		os = avformat_new_stream(x->oc, NULL);
		if (os == NULL) {
			ret = AVERROR(ENOMEM);
			goto fail;
		}
		t->codec = is->codecpar->codec_id;
		t->tb = is->time_base;
		ret = avcodec_parameters_copy(os->codecpar, is->codecpar);
		if (ret < 0)
			goto fail;
		if (k == TRACK_AUDIO && t->codec == AV_CODEC_ID_AAC) {
			ret = av_bsf_alloc(av_bsf_get_by_name("aac_adtstoasc"), &t->bsf);
			if (ret < 0)
				goto fail;
			ret = avcodec_parameters_copy(t->bsf->par_in, is->codecpar);
			if (ret < 0)
				goto fail;
			t->bsf->time_base_in = t->tb;
			ret = av_bsf_init(t->bsf);
			if (ret < 0)
				goto fail;
			ret = avcodec_parameters_copy(os->codecpar, t->bsf->par_out);
			if (ret < 0)
				goto fail;
		}
		if (k == TRACK_VIDEO) {
			AVRational fr = is->avg_frame_rate.num > 0 ? is->avg_frame_rate
			                                           : is->r_frame_rate;
			t->frame_us = fr.num > 0 && fr.den > 0
			                      ? av_rescale(TIME_US_PER_SEC, fr.den, fr.num)
			                      : EXPORT_DEFAULT_FRAME_US;
		}
		os->codecpar->codec_tag = 0;
		os->time_base = t->tb;
		t->out = os->index;
	}
	if (x->oc->nb_streams == 0) {
		snprintf(err, errlen, "first segment has neither video nor audio");
		return -EPROTO;
	}
	ret = avio_open(&x->oc->pb, tmp, AVIO_FLAG_WRITE);
	if (ret < 0) {
		snprintf(err, errlen, "create \"%s\": %s", tmp, av_err2str(ret));
		return AVUNERROR(ret) > 0 ? -AVUNERROR(ret) : -EIO;
	}
	av_dict_set(&opts, "movflags", "+faststart", 0);
	ret = avformat_write_header(x->oc, &opts);
	av_dict_free(&opts);
	if (ret < 0)
		goto fail;
	x->header = true;
	return 0;
fail:
	snprintf(err, errlen, "set up MP4 \"%s\": %s", tmp, av_err2str(ret));
	return -EIO;
}

/* Write one packet (track tb, shifted) to the MP4; consumes pkt. */
static int
exporter_write(struct exporter *x, struct track *t, AVPacket *pkt, char *err, size_t errlen)
{
	AVStream *os = x->oc->streams[t->out];
	int64_t end;
	int ret;

	pkt->stream_index = t->out;
	av_packet_rescale_ts(pkt, t->tb, os->time_base);
	if (pkt->dts == AV_NOPTS_VALUE)
		pkt->dts = pkt->pts;
	if (t->last_dts != AV_NOPTS_VALUE && pkt->dts <= t->last_dts)
		pkt->dts = t->last_dts + 1;     /* MP4 needs strictly rising dts */
	if (pkt->pts == AV_NOPTS_VALUE || pkt->pts < pkt->dts)
		pkt->pts = pkt->dts;
	t->last_dts = pkt->dts;
	end = av_rescale_q(pkt->pts + (pkt->duration > 0 ? pkt->duration : 0), os->time_base,
	                   AV_TIME_BASE_Q);
	if (end > x->end_us)
		x->end_us = end;
	ret = av_interleaved_write_frame(x->oc, pkt);
	if (ret < 0) {
		snprintf(err, errlen, "write MP4: %s", av_err2str(ret));
		return -EIO;
	}
	x->packets++;
	return 0;
}

/* Pass pkt (track tb, shifted) through the track's filter, then write. */
static int
exporter_put(struct exporter *x, struct track *t, AVPacket *pkt, char *err, size_t errlen)
{
	int ret, rc;

	if (t->bsf == NULL)
		return exporter_write(x, t, pkt, err, errlen);
	ret = av_bsf_send_packet(t->bsf, pkt);
	if (ret < 0) {
		av_packet_unref(pkt);
		snprintf(err, errlen, "aac_adtstoasc: %s", av_err2str(ret));
		return -EPROTO;
	}
	while ((ret = av_bsf_receive_packet(t->bsf, x->fpkt)) >= 0) {
		rc = exporter_write(x, t, x->fpkt, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (ret != AVERROR(EAGAIN) && ret != AVERROR_EOF) {
		snprintf(err, errlen, "aac_adtstoasc: %s", av_err2str(ret));
		return -EPROTO;
	}
	return 0;
}

/* Input timestamp of a packet in µs (dts, else pts); AV_NOPTS_VALUE if none. */
static int64_t
pkt_dts_us(const AVPacket *p, AVRational tb)
{
	int64_t ts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;

	return ts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(ts, tb, AV_TIME_BASE_Q);
}

static int64_t
seg_t0_us(const AVFormatContext *ic)
{
	return ic->start_time != AV_NOPTS_VALUE ? ic->start_time : 0;
}

/*
 * Input time (µs) to start the first segment at: the last video keyframe
 * whose wall time is at or before from_us (the segment's first packet when
 * there is none, or the first packet at or after from_us without video).
 */
static int
first_cut(const struct mem *m, const struct store_record *r, int64_t from_us, int64_t *cut_us,
          char *err, size_t errlen)
{
	struct demux d;
	AVPacket *p = av_packet_alloc();
	int64_t t0, kf = AV_NOPTS_VALUE, any = AV_NOPTS_VALUE;
	bool video = false;
	int rc;

	if (p == NULL)
		return -ENOMEM;
	rc = demux_open(&d, m, r->cid, err, errlen);
	if (rc != 0)
		goto out;
	t0 = seg_t0_us(d.ic);
	*cut_us = INT64_MIN;
	while (av_read_frame(d.ic, p) >= 0) {
		AVStream *st = d.ic->streams[p->stream_index];
		int k = track_kind(st->codecpar->codec_type);
		int64_t ts = pkt_dts_us(p, st->time_base);

		if (k < 0 || ts == AV_NOPTS_VALUE) {
			av_packet_unref(p);
			continue;
		}
		if (k == TRACK_VIDEO) {
			video = true;
			if ((p->flags & AV_PKT_FLAG_KEY) && r->start_us + (ts - t0) <= from_us &&
			    (kf == AV_NOPTS_VALUE || ts > kf))
				kf = ts;
		} else if (r->start_us + (ts - t0) >= from_us &&
		           (any == AV_NOPTS_VALUE || ts < any)) {
			any = ts;
		}
		av_packet_unref(p);
	}
	if (video && kf != AV_NOPTS_VALUE)
		*cut_us = kf;
	else if (!video && any != AV_NOPTS_VALUE)
		*cut_us = any;
out:
	demux_close(&d);
	av_packet_free(&p);
	return rc;
}

/* Remux one verified segment's packets with wall time in [.., to_us). */
static int
exporter_segment(struct exporter *x, const struct store_record *r, const struct mem *m,
                 int64_t cut_us, int64_t to_us, const char *tmp, char *err, size_t errlen)
{
	struct demux d;
	int map[EXPORT_STREAMS_MAX];
	int64_t t0, start;
	unsigned nmap;
	int rc, ret;

	rc = demux_open(&d, m, r->cid, err, errlen);
	if (rc != 0)
		return rc;
	if (!x->header) {
		rc = exporter_start(x, d.ic, tmp, err, errlen);
		if (rc != 0)
			goto out;
	}
	/* Map this segment's streams onto the tracks: first of each kind, same codec. */
	nmap = d.ic->nb_streams < EXPORT_STREAMS_MAX ? d.ic->nb_streams : EXPORT_STREAMS_MAX;
	for (unsigned i = 0; i < nmap; i++) {
		int k = track_kind(d.ic->streams[i]->codecpar->codec_type);
		bool taken = false;

		map[i] = -1;
		if (k < 0 || x->t[k].out < 0 ||
		    d.ic->streams[i]->codecpar->codec_id != x->t[k].codec)
			continue;
		for (unsigned j = 0; j < i; j++)
			taken = taken || map[j] == k;
		if (!taken)
			map[i] = k;
	}
	t0 = seg_t0_us(d.ic);
	start = cut_us != INT64_MIN && cut_us > t0 ? cut_us : t0;
	if (!x->anchored || r->discontinuity || strcmp(r->session, x->session) != 0 ||
	    llabs(start + x->shift_us - x->end_us) > EXPORT_RESYNC_US) {
		x->shift_us = x->end_us - start;
		x->anchored = true;
	}
	snprintf(x->session, sizeof(x->session), "%s", r->session);
	while ((ret = av_read_frame(d.ic, x->pkt)) >= 0) {
		AVStream *st = d.ic->streams[x->pkt->stream_index];
		int k = (unsigned)x->pkt->stream_index < nmap ? map[x->pkt->stream_index] : -1;
		int64_t ts = pkt_dts_us(x->pkt, st->time_base), shift;
		struct track *t;

		if (k < 0 || ts == AV_NOPTS_VALUE || ts < start ||
		    r->start_us + (ts - t0) >= to_us) {
			av_packet_unref(x->pkt);
			continue;
		}
		t = &x->t[k];
		av_packet_rescale_ts(x->pkt, st->time_base, t->tb);
		if (x->pkt->duration <= 0 && k == TRACK_VIDEO)
			x->pkt->duration = av_rescale_q(t->frame_us, AV_TIME_BASE_Q, t->tb);
		shift = av_rescale_q(x->shift_us, AV_TIME_BASE_Q, t->tb);
		if (x->pkt->pts != AV_NOPTS_VALUE)
			x->pkt->pts += shift;
		if (x->pkt->dts != AV_NOPTS_VALUE)
			x->pkt->dts += shift;
		x->pkt->pos = -1;
		rc = exporter_put(x, t, x->pkt, err, errlen);
		av_packet_unref(x->pkt);
		if (rc != 0)
			goto out;
	}
	if (ret != AVERROR_EOF) {
		snprintf(err, errlen, "segment \"%s\": read: %s", r->cid, av_err2str(ret));
		rc = -EPROTO;
	}
out:
	demux_close(&d);
	return rc;
}

static int
exporter_finish(struct exporter *x, char *err, size_t errlen)
{
	int ret;

	if (x->packets == 0) {
		snprintf(err, errlen, "no audio or video packets in range");
		return -ENODATA;
	}
	for (int k = 0; k < TRACK_N; k++) {
		struct track *t = &x->t[k];

		if (t->bsf == NULL)
			continue;
		av_bsf_send_packet(t->bsf, NULL);   /* flush */
		while (av_bsf_receive_packet(t->bsf, x->fpkt) >= 0) {
			int rc = exporter_write(x, t, x->fpkt, err, errlen);

			if (rc != 0)
				return rc;
		}
	}
	ret = av_write_trailer(x->oc);
	x->header = false;
	if (ret >= 0)
		ret = avio_closep(&x->oc->pb);
	if (ret < 0) {
		snprintf(err, errlen, "finish MP4: %s", av_err2str(ret));
		return -EIO;
	}
	return 0;
}

static void
exporter_free(struct exporter *x)
{
	for (int k = 0; k < TRACK_N; k++)
		av_bsf_free(&x->t[k].bsf);
	if (x->oc != NULL) {
		if (x->oc->pb != NULL)
			avio_closep(&x->oc->pb);
		avformat_free_context(x->oc);
		x->oc = NULL;
	}
	av_packet_free(&x->pkt);
	av_packet_free(&x->fpkt);
}

/* ---- the command ---- */

struct export_args {
	const char *store, *origin, *stream, *variant, *out;
	int64_t from_us, to_us;
	bool verbose;
};

static bool
want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

static int
parse_args(int argc, char **argv, struct export_args *a)
{
	static const char ctx[] = "export";
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 'S' },
		{ "origin", required_argument, NULL, 'O' },
		{ "stream", required_argument, NULL, 's' },
		{ "variant", required_argument, NULL, 'v' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool have_from = false, have_to = false;
	int opt, rc;

	cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		rc = 0;
		switch (opt) {
		case 'S':
			a->store = optarg;
			break;
		case 'O':
			a->origin = optarg;
			break;
		case 's':
			a->stream = optarg;
			break;
		case 'v':
			a->variant = optarg;
			break;
		case 'f':
			rc = cli_time(ctx, EXPORT_USAGE, "--from", optarg, &a->from_us);
			have_from = true;
			break;
		case 't':
			rc = cli_time(ctx, EXPORT_USAGE, "--to", optarg, &a->to_us);
			have_to = true;
			break;
		case 'o':
			a->out = optarg;
			break;
		case 'V':
			a->verbose = true;
			break;
		default:
			return cli_usage(ctx, EXPORT_USAGE, "option \"%s\" is unknown or misses "
			                 "its value", argv[optind - 1]);
		}
		if (rc != 0)
			return rc;
	}
	if (optind < argc)
		return cli_usage(ctx, EXPORT_USAGE, "unexpected argument \"%s\"", argv[optind]);
	if ((a->store == NULL) == (a->origin == NULL))
		return cli_usage(ctx, EXPORT_USAGE, "give exactly one of --store and --origin");
	if (a->stream == NULL || a->out == NULL || !have_from || !have_to)
		return cli_usage(ctx, EXPORT_USAGE, "--stream, --from, --to and -o are required");
	if (flag_stream_name(a->stream) != 0)
		return cli_usage(ctx, EXPORT_USAGE, "--stream \"%s\": 1-64 of [A-Za-z0-9_-]",
		                 a->stream);
	if (flag_variant_name(a->variant) != 0)
		return cli_usage(ctx, EXPORT_USAGE, "--variant \"%s\": 1-32 of [A-Za-z0-9_-]",
		                 a->variant);
	if (a->from_us >= a->to_us)
		return cli_usage(ctx, EXPORT_USAGE, "--from must be before --to");
	if (a->out[0] == '\0' || strlen(a->out) + sizeof(EXPORT_TMP_SUFFIX) > EXPORT_PATH_MAX)
		return cli_usage(ctx, EXPORT_USAGE, "-o: need a file name of at most %d bytes",
		                 EXPORT_PATH_MAX - (int)sizeof(EXPORT_TMP_SUFFIX));
	if (a->origin != NULL) {
		size_t len = strlen(a->origin);

		if ((strncmp(a->origin, "http://", 7) != 0 &&
		     strncmp(a->origin, "https://", 8) != 0) || len >= EXPORT_ORIGIN_MAX)
			return cli_usage(ctx, EXPORT_USAGE, "--origin \"%s\": need an http:// or "
			                 "https:// URL", a->origin);
	}
	return 0;
}

static int
source_open(struct source *src, const struct export_args *a)
{
	size_t len;

	if (a->store != NULL)
		return cli_store_open("export", a->store, STORE_OPEN_READONLY, &src->store);
	len = strlen(a->origin);
	while (len > 0 && a->origin[len - 1] == '/')
		len--;
	snprintf(src->origin, sizeof(src->origin), "%.*s", (int)len, a->origin);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return cli_fail("export", "libcurl: initialisation failed");
	src->curl = curl_easy_init();
	if (src->curl == NULL) {
		curl_global_cleanup();
		return cli_fail("export", "libcurl: out of memory");
	}
	curl_easy_setopt(src->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(src->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(src->curl, CURLOPT_CONNECTTIMEOUT, EXPORT_CONNECT_TIMEOUT_S);
	curl_easy_setopt(src->curl, CURLOPT_TIMEOUT, EXPORT_HTTP_TIMEOUT_S);
	curl_easy_setopt(src->curl, CURLOPT_USERAGENT, "sluice-export");
	return 0;
}

static void
source_close(struct source *src)
{
	store_close(&src->store);
	if (src->curl != NULL) {
		curl_easy_cleanup(src->curl);
		src->curl = NULL;
		curl_global_cleanup();
	}
	mem_free(&src->ans.body);
}

int
cmd_export(int argc, char **argv)
{
	static const char ctx[] = "export";
	struct export_args a = { .variant = "src" };
	struct source src = { 0 };
	struct exporter x = { 0 };
	struct store_record *recs = NULL;
	struct mem seg = { 0 };
	char tmp[EXPORT_PATH_MAX], err[EXPORT_ERR_MAX] = "";
	int64_t cut = INT64_MIN;
	bool tmp_made = false;
	size_t n = 0;
	int rc, ret = CLI_EXIT_FAIL;

	if (want_help(argc, argv)) {
		printf("usage: %s\n", EXPORT_USAGE);
		return CLI_EXIT_OK;
	}
	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc;
	av_log_set_level(a.verbose ? AV_LOG_WARNING : AV_LOG_QUIET);
	snprintf(tmp, sizeof(tmp), "%s%s", a.out, EXPORT_TMP_SUFFIX);
	if (source_open(&src, &a) != 0)
		return CLI_EXIT_FAIL;
	for (int k = 0; k < TRACK_N; k++) {
		x.t[k].out = -1;
		x.t[k].last_dts = AV_NOPTS_VALUE;
	}
	x.pkt = av_packet_alloc();
	x.fpkt = av_packet_alloc();
	if (x.pkt == NULL || x.fpkt == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	rc = source_records(&src, a.stream, a.variant, a.from_us, a.to_us, &recs, &n, err,
	                    sizeof(err));
	if (rc != 0)
		goto out;
	if (n == 0) {
		snprintf(err, sizeof(err), "no segments of stream \"%s\" variant \"%s\" in range",
		         a.stream, a.variant);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		rc = source_fetch(&src, &recs[i], &seg, err, sizeof(err));
		if (rc != 0)
			goto out;
		if (i == 0) {
			rc = first_cut(&seg, &recs[i], a.from_us, &cut, err, sizeof(err));
			if (rc != 0)
				goto out;
		}
		tmp_made = true;
		rc = exporter_segment(&x, &recs[i], &seg, i == 0 ? cut : INT64_MIN, a.to_us, tmp,
		                      err, sizeof(err));
		if (rc != 0)
			goto out;
	}
	rc = exporter_finish(&x, err, sizeof(err));
	if (rc != 0)
		goto out;
	if (rename(tmp, a.out) != 0) {
		snprintf(err, sizeof(err), "rename \"%s\" to \"%s\": %s", tmp, a.out,
		         strerror(errno));
		goto out;
	}
	tmp_made = false;
	ret = CLI_EXIT_OK;
out:
	exporter_free(&x);                  /* without a trailer on failure */
	if (tmp_made)
		unlink(tmp);
	mem_free(&seg);
	free(recs);
	source_close(&src);
	if (ret != CLI_EXIT_OK)
		cli_fail(ctx, "%s", err[0] != '\0' ? err : "failed");
	return ret;
}
