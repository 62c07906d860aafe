/*
 * replicate.c — the replication client (see replicate.h).
 *
 * Model: a struct repl has two sides (struct side): a store (owned or
 * borrowed) or a base URL. One libcurl easy handle, reused for every request
 * (keep-alive), belongs to the thread running the replicator. A run is a loop
 * of rounds:
 *
 *   round   read up to `batch` changes past the cursor from the source (HTTP
 *           GET with long poll, or store_changes + store_changes_wait), then
 *           walk them in order: filtered-out changes are passed over; a put
 *           first gets its blob to the destination (a blob the source no
 *           longer has means the record is gone there: skipped); accepted
 *           changes collect in a run that is flushed to the destination
 *           (put_many / delete in order, or one POST of change lines).
 *           The cursor moves to the last change whose effects are durable.
 *   failure the round stops at the failing change (the part before it is
 *           flushed and the cursor saved), then the run backs off
 *           (repl_backoff_us) and tries again; consecutive failures are
 *           counted against max_attempts without follow.
 *
 * stop/drain are ints written by other threads with atomic builtins and read
 * by the run (and by libcurl's progress callback, which aborts transfers on
 * stop). Stats are plain counters written by the run thread only.
 */
#include "store/replicate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "store/cid.h"
#include "store/store.h"

#define REPL_MAGIC           0x7265706cu         /* "repl" */
#define REPL_FEED_MAX        (64u << 20)         /* changes response bytes */
#define REPL_BLOB_MAX        (64u << 20)         /* blob bytes over HTTP (the API's PUT limit) */
#define REPL_REPLY_MAX       (64u << 10)         /* other response bodies */
#define REPL_LINE_MAX        16384               /* one NDJSON line */
#define REPL_CONNECT_MS      5000L
#define REPL_REQ_TIMEOUT_S   120L                /* whole request, without long poll */
#define REPL_LOW_SPEED_TIME  30L                 /* s below 1 B/s aborts a transfer */
#define REPL_CONFLICT_TRIES  3                   /* POST after 409, blobs uploaded again */
#define REPL_LOCAL_WAIT_MS   1000                /* store_changes_wait per round */
#define REPL_NAP_SLICE_US    (100LL * 1000)
#define REPL_IDLE_MIN_US     (200LL * 1000)      /* least time between empty follow rounds */
#define REPL_PEER_MAX        255                 /* cursor key, see store_cursor_set */
#define REPL_AUTH_MAX        (REPL_URL_MAX + 32)
#define REPL_LABELS_MAX      (2 * REPL_PEER_MAX + 64)

enum side_kind { SIDE_STORE, SIDE_HTTP };

struct side {
	enum side_kind kind;
	struct store *store;            /* SIDE_STORE */
	bool owned;
	char url[REPL_URL_MAX];         /* SIDE_HTTP: base; SIDE_STORE: the dir as given */
};

struct repl_metrics {
	struct metric *records, *deletes, *blobs, *blob_bytes, *skipped, *rejected;
	struct metric *bad_hash, *failures, *cursor, *peer_last;
};

struct buf {
	char *p;
	size_t len, cap, max;
	bool overflow;
};

struct repl {
	uint32_t magic;
	struct side src, dst;
	struct store *local;            /* where the cursor lives */
	char peer[REPL_PEER_MAX + 1];   /* cursor key */
	char *token;
	char *stream;
	int64_t from_us, to_us;
	bool follow;
	unsigned max_attempts;
	size_t batch;
	int wait_s;
	CURL *curl;
	int stop, drain;                /* atomic builtins */
	int finished;
	pthread_t thread;
	bool started;
	int result;
	struct repl_stats st;
	struct repl_metrics m;
	char err[REPL_ERR_MAX];
};

/* ---- pure helpers ---- */

bool
repl_is_url(const char *s)
{
	return s != NULL && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0);
}

int
repl_url_base(const char *in, char *out, size_t len)
{
	size_t n, skip;

	if (!repl_is_url(in))
		return -EINVAL;
	skip = in[4] == 's' ? 8 : 7;
	n = strlen(in);
	while (n > skip && in[n - 1] == '/')
		n--;
	if (n == skip || in[skip] == '/' || memchr(in, '?', n) != NULL ||
	    memchr(in, '#', n) != NULL)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)in[i] <= ' ' || in[i] == 0x7f)
			return -EINVAL;
	if (n + 1 > len)
		return -ENAMETOOLONG;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

int
repl_url_changes(const char *base, uint64_t since, size_t limit, int wait_s, char *out,
                 size_t len)
{
	int w = snprintf(out, len, "%s/store/v1/changes?since=%" PRIu64 "&limit=%zu&wait=%d",
	                 base, since, limit, wait_s);

	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

int
repl_url_blob(const char *base, const char *cid, char *out, size_t len)
{
	int w;

	if (!cid_valid(cid))
		return -EINVAL;
	w = snprintf(out, len, "%s/store/v1/blobs/%s", base, cid);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

int64_t
repl_backoff_us(unsigned attempt, uint32_t rnd)
{
	int64_t d = REPL_BACKOFF_BASE_US, half;

	while (attempt-- > 0 && d < REPL_BACKOFF_MAX_US)
		d *= 2;
	if (d > REPL_BACKOFF_MAX_US)
		d = REPL_BACKOFF_MAX_US;
	half = d / 2;
	return half + (int64_t)(rnd % (uint64_t)(half + 1));
}

int
repl_header_last_seq(const char *line, size_t len, uint64_t *seq)
{
	static const char name[] = "x-sluice-last-seq:";
	const size_t nl = sizeof(name) - 1;
	uint64_t v = 0;
	size_t i;

	if (len < nl || strncasecmp(line, name, nl) != 0)
		return -ENOENT;
	i = nl;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	while (len > i && (line[len - 1] == '\r' || line[len - 1] == '\n' ||
	                   line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (i == len)
		return -EINVAL;
	for (; i < len; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	*seq = v;
	return 0;
}

int
repl_ndjson_next(const char *buf, size_t len, size_t *off, size_t max, const char **line,
                 size_t *line_len)
{
	while (*off < len) {
		const char *p = buf + *off;
		const char *nl = memchr(p, '\n', len - *off);
		size_t n = nl != NULL ? (size_t)(nl - p) : len - *off;

		*off += n + (nl != NULL ? 1 : 0);
		while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		if (n > max)
			return -E2BIG;
		*line = p;
		*line_len = n;
		return 0;
	}
	return -ENODATA;
}

bool
repl_filter_match(const char *stream, int64_t from_us, int64_t to_us, const char *rec_stream,
                  int64_t start_us, int64_t duration_us)
{
	if (stream != NULL && strcmp(stream, rec_stream) != 0)
		return false;
	if (from_us == 0 && to_us == 0)
		return true;
	return start_us < to_us && start_us + duration_us > from_us;
}

/* ---- small utilities ---- */

static bool
stopping(const struct repl *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE) != 0;
}

static void
set_err(struct repl *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_err(struct repl *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

static uint32_t
rand32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (uint32_t)time_mono_us();
	return v;
}

/* Sleep us, in slices, returning early (-EINTR) on stop. */
static int
nap(struct repl *r, int64_t us)
{
	int64_t end = time_mono_us() + us, d;
	struct timespec ts;

	while (!stopping(r)) {
		d = end - time_mono_us();
		if (d <= 0)
			return 0;
		if (d > REPL_NAP_SLICE_US)
			d = REPL_NAP_SLICE_US;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)d * 1000;
		nanosleep(&ts, NULL);
	}
	return -EINTR;
}

static void
buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n > b->max - b->len) {
		b->overflow = true;
		return -EFBIG;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;
		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* ---- metrics ---- */

static void
register_metrics(struct repl *r, struct metrics *m, const char *dir)
{
	char esc[2 * REPL_PEER_MAX + 2], lab[REPL_LABELS_MAX], lab2[REPL_LABELS_MAX + 32];

	if (m == NULL)
		return;
	if (metrics_escape_label(r->peer, esc, sizeof(esc)) != 0)
		snprintf(esc, sizeof(esc), "?");
	snprintf(lab, sizeof(lab), "peer=\"%s\",direction=\"%s\"", esc, dir);
	r->m.records = metrics_counter(m, "sluice_replicate_records_total",
	                               "Records that changed the destination", lab);
	r->m.deletes = metrics_counter(m, "sluice_replicate_deletes_total",
	                               "Deletes applied at the destination", lab);
	r->m.blobs = metrics_counter(m, "sluice_replicate_blobs_total", "Blobs transferred", lab);
	r->m.blob_bytes = metrics_counter(m, "sluice_replicate_blob_bytes_total",
	                                  "Blob bytes transferred", lab);
	r->m.failures = metrics_counter(m, "sluice_replicate_failures_total",
	                                "Failed replication rounds (retried with back-off)", lab);
	r->m.cursor = metrics_gauge(m, "sluice_replicate_cursor",
	                            "Last source change seq applied", lab);
	r->m.peer_last = metrics_gauge(m, "sluice_replicate_source_last_seq",
	                               "Newest change seq of the source when last asked", lab);
	snprintf(lab2, sizeof(lab2), "%s,reason=\"gone\"", lab);
	r->m.skipped = metrics_counter(m, "sluice_replicate_skipped_total",
	                               "Changes not copied", lab2);
	snprintf(lab2, sizeof(lab2), "%s,reason=\"invalid\"", lab);
	r->m.rejected = metrics_counter(m, "sluice_replicate_skipped_total",
	                                "Changes not copied", lab2);
	r->m.bad_hash = metrics_counter(m, "sluice_replicate_bad_hash_total",
	                                "Blobs refused because their bytes did not hash to the CID",
	                                lab);
}

/* ---- HTTP ---- */

struct xfer {
	struct repl *r;
	struct buf body;
	struct cid_hasher h;            /* blob downloads */
	bool hashing;
	int hash_err;
	uint64_t last_seq;
	bool have_last_seq;
	int fd;                         /* upload source, -1 when none */
};

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;

	if (buf_append(&x->body, p, n) != 0)
		return 0;                       /* aborts the transfer */
	if (x->hashing && x->hash_err == 0)
		x->hash_err = cid_hasher_update(&x->h, p, n);
	return n;
}

static size_t
on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	uint64_t v;

	if (repl_header_last_seq(p, n, &v) == 0) {
		x->last_seq = v;
		x->have_last_seq = true;
	}
	return n;
}

static size_t
on_read(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	ssize_t n;

	do {
		n = read(x->fd, p, size * nmemb);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? CURL_READFUNC_ABORT : (size_t)n;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct xfer *x = arg;

	(void)dt, (void)dn, (void)ut, (void)un;
	return stopping(x->r) ? 1 : 0;
}

/* The "error" of a JSON error body, else the start of the body. */
static void
reply_text(const struct buf *b, char *out, size_t len)
{
	json_t *j = b->len > 0 ? json_loadb(b->p, b->len, 0, NULL) : NULL;
	const char *e = j != NULL ? json_string_value(json_object_get(j, "error")) : NULL;

	if (e != NULL)
		snprintf(out, len, "%s", e);
	else if (b->len > 0)
		snprintf(out, len, "%.*s", (int)(b->len > 200 ? 200 : b->len), b->p);
	else
		snprintf(out, len, "empty reply");
	json_decref(j);
	for (char *c = out; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

enum method { M_GET, M_HEAD, M_PUT, M_POST };

static const char *const method_names[] = { "GET", "HEAD", "PUT", "POST" };

/*
 * One request. *status gets the HTTP status (0 when there was none).
 * Returns 0 when a status arrived, -EINTR on stop, -EFBIG when the body
 * passed its limit, -EIO for a transport failure (message in r->err).
 */
static int
http_do(struct repl *r, enum method m, const char *url, struct xfer *x, const void *post,
        size_t post_len, uint64_t upload_len, long timeout_s, long *status)
{
	struct curl_slist *hdrs = NULL, *h;
	char auth[REPL_AUTH_MAX];
	CURLcode cc;
	int rc = 0;

	*status = 0;
	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "sluice-replicate/1");
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS, REPL_CONNECT_MS);
	curl_easy_setopt(r->curl, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->curl, CURLOPT_LOW_SPEED_TIME,
	                 timeout_s > REPL_LOW_SPEED_TIME ? timeout_s : REPL_LOW_SPEED_TIME);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, x);
	h = curl_slist_append(hdrs, "Expect:");
	if (h == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	hdrs = h;
	if ((m == M_PUT || m == M_POST) && r->token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", r->token);
		h = curl_slist_append(hdrs, auth);
		if (h == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = h;
	}
	switch (m) {
	case M_GET:
		break;
	case M_HEAD:
		curl_easy_setopt(r->curl, CURLOPT_NOBODY, 1L);
		break;
	case M_PUT:
		curl_easy_setopt(r->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(r->curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(r->curl, CURLOPT_READDATA, x);
		curl_easy_setopt(r->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)upload_len);
		h = curl_slist_append(hdrs, "Content-Type: application/octet-stream");
		if (h == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = h;
		break;
	case M_POST:
		curl_easy_setopt(r->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post_len);
		h = curl_slist_append(hdrs, "Content-Type: application/x-ndjson");
		if (h == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		hdrs = h;
		break;
	}
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
	cc = curl_easy_perform(r->curl);
	if (cc == CURLE_ABORTED_BY_CALLBACK && stopping(r)) {
		rc = -EINTR;
		goto out;
	}
	if (cc == CURLE_WRITE_ERROR && x->body.overflow) {
		set_err(r, "%s \"%s\": reply larger than %zu bytes", method_names[m], url,
		        x->body.max);
		rc = -EFBIG;
		goto out;
	}
	if (cc != CURLE_OK) {
		set_err(r, "%s \"%s\": %s", method_names[m], url, curl_easy_strerror(cc));
		rc = -EIO;
		goto out;
	}
	curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(hdrs);
	return rc;
}

/* Map an unexpected HTTP status to an errno, with a message in r->err. */
static int
http_status_err(struct repl *r, enum method m, const char *url, long status,
                const struct buf *body)
{
	char text[256];

	reply_text(body, text, sizeof(text));
	set_err(r, "%s \"%s\": %ld %s", method_names[m], url, status, text);
	if (status == 401 || status == 403)
		return -EACCES;
	if (status >= 500 || status == 408 || status == 429)
		return -EIO;
	return -EPROTO;
}

static void
xfer_init(struct xfer *x, struct repl *r, size_t max)
{
	memset(x, 0, sizeof(*x));
	x->r = r;
	x->body.max = max;
	x->fd = -1;
}

static void
xfer_clear(struct xfer *x)
{
	if (x->hashing)
		cid_hasher_abort(&x->h);
	buf_free(&x->body);
}

/* ---- reading changes ---- */

static int
changes_http(struct repl *r, uint64_t since, int wait_s, struct store_change **out, size_t *n,
             uint64_t *last)
{
	char url[REPL_URL_MAX + 128], err[160];
	struct store_change *ch = NULL;
	const char *line;
	size_t off = 0, cnt = 0, ll, cap = 0;
	struct xfer x;
	long status;
	int rc;

	*out = NULL;
	*n = 0;
	xfer_init(&x, r, REPL_FEED_MAX);
	rc = repl_url_changes(r->src.url, since, r->batch, wait_s, url, sizeof(url));
	if (rc != 0)
		goto out;
	rc = http_do(r, M_GET, url, &x, NULL, 0, 0, REPL_REQ_TIMEOUT_S + wait_s, &status);
	if (rc != 0)
		goto out;
	if (status != 200) {
		rc = http_status_err(r, M_GET, url, status, &x.body);
		goto out;
	}
	if (!x.have_last_seq) {
		set_err(r, "GET \"%s\": no X-Sluice-Last-Seq header (not a sluice store API?)", url);
		rc = -EPROTO;
		goto out;
	}
	for (size_t i = 0; i < x.body.len; i++)
		cap += x.body.p[i] == '\n';
	cap++;
	ch = calloc(cap, sizeof(*ch));
	if (ch == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	while ((rc = repl_ndjson_next(x.body.p, x.body.len, &off, REPL_LINE_MAX, &line, &ll)) ==
	       0) {
		if (cnt == cap)
			break;
		err[0] = '\0';
		rc = store_change_from_json(line, ll, &ch[cnt], err, sizeof(err));
		if (rc != 0) {
			set_err(r, "GET \"%s\": change line %zu: %s", url, cnt + 1,
			        err[0] ? err : "unreadable");
			rc = -EPROTO;
			goto out;
		}
		if (cnt > 0 && ch[cnt].seq <= ch[cnt - 1].seq) {
			set_err(r, "GET \"%s\": change seqs out of order at line %zu", url, cnt + 1);
			rc = -EPROTO;
			goto out;
		}
		cnt++;
	}
	if (rc == -E2BIG) {
		set_err(r, "GET \"%s\": change line longer than %d bytes", url, REPL_LINE_MAX);
		rc = -EPROTO;
		goto out;
	}
	rc = 0;
	*out = ch;
	*n = cnt;
	*last = x.last_seq;
	ch = NULL;
out:
	free(ch);
	xfer_clear(&x);
	return rc;
}

static int
changes_store(struct repl *r, uint64_t since, int wait_s, struct store_change **out,
              size_t *n, uint64_t *last)
{
	int rc = store_changes(r->src.store, since, r->batch, out, n, last);

	if (rc == 0 && *n == 0 && wait_s > 0) {
		free(*out);
		*out = NULL;
		/* short waits: the round loop then sees drain and stop promptly */
		rc = store_changes_wait(r->src.store, since, REPL_LOCAL_WAIT_MS, &r->stop);
		if (rc == -ETIMEDOUT || rc == -EINTR)
			return 0;
		if (rc == 0)
			rc = store_changes(r->src.store, since, r->batch, out, n, last);
	}
	if (rc != 0)
		set_err(r, "read changes of \"%s\": %s", r->src.url, strerror(-rc));
	return rc;
}

/* ---- blobs ---- */

/* HTTP source -> store destination. -ENOENT when the source has no such blob. */
static int
blob_pull(struct repl *r, const char *cid)
{
	char url[REPL_URL_MAX + 96], got[CID_BUF_LEN];
	struct xfer x;
	bool created = false;
	long status;
	int rc;

	xfer_init(&x, r, REPL_BLOB_MAX);
	rc = repl_url_blob(r->src.url, cid, url, sizeof(url));
	if (rc != 0)
		goto out;
	rc = cid_hasher_init(&x.h);
	if (rc != 0)
		goto out;
	x.hashing = true;
	rc = http_do(r, M_GET, url, &x, NULL, 0, 0, REPL_REQ_TIMEOUT_S, &status);
	if (rc == -EFBIG) {
		rc = -EPROTO;                   /* will not fit however often we ask */
		goto out;
	}
	if (rc != 0)
		goto out;
	if (status == 404) {
		rc = -ENOENT;
		goto out;
	}
	if (status != 200) {
		rc = http_status_err(r, M_GET, url, status, &x.body);
		goto out;
	}
	if (x.hash_err != 0) {
		rc = x.hash_err;
		goto out;
	}
	x.hashing = false;
	rc = cid_hasher_final(&x.h, got);
	if (rc != 0)
		goto out;
	if (strcmp(got, cid) != 0) {
		r->st.bad_hash++;
		metric_inc(r->m.bad_hash);
		set_err(r, "blob %s from \"%s\": hash mismatch (the %zu bytes received hash to "
		        "%.16s…); not stored", cid, r->src.url, x.body.len, got);
		rc = -EBADMSG;
		goto out;
	}
	rc = store_blob_put(r->dst.store, x.body.p ? x.body.p : "", x.body.len, cid, got,
	                    &created);
	if (rc == -EBADMSG) {
		r->st.bad_hash++;
		metric_inc(r->m.bad_hash);
		set_err(r, "blob %s from \"%s\": hash mismatch; not stored", cid, r->src.url);
		goto out;
	}
	if (rc != 0) {
		set_err(r, "store blob %s in \"%s\": %s", cid, r->dst.url, strerror(-rc));
		goto out;
	}
	r->st.blobs++;
	r->st.blob_bytes += x.body.len;
	metric_inc(r->m.blobs);
	metric_add(r->m.blob_bytes, (double)x.body.len);
out:
	xfer_clear(&x);
	return rc;
}

/* Store source -> HTTP destination (force: skip the HEAD). -ENOENT: gone locally. */
static int
blob_push(struct repl *r, const char *cid, bool force)
{
	char url[REPL_URL_MAX + 96];
	struct xfer x;
	uint64_t size = 0;
	long status;
	int fd = -1, rc;

	xfer_init(&x, r, REPL_REPLY_MAX);
	rc = repl_url_blob(r->dst.url, cid, url, sizeof(url));
	if (rc != 0)
		goto out;
	if (!force) {
		rc = http_do(r, M_HEAD, url, &x, NULL, 0, 0, REPL_REQ_TIMEOUT_S, &status);
		if (rc != 0)
			goto out;
		if (status == 200)
			goto out;
		if (status != 404) {
			rc = http_status_err(r, M_HEAD, url, status, &x.body);
			goto out;
		}
	}
	rc = store_blob_open(r->src.store, cid, &fd, &size);
	if (rc != 0) {
		if (rc != -ENOENT)
			set_err(r, "open blob %s in \"%s\": %s", cid, r->src.url, strerror(-rc));
		goto out;
	}
	x.fd = fd;
	buf_free(&x.body);
	x.body.max = REPL_REPLY_MAX;
	rc = http_do(r, M_PUT, url, &x, NULL, 0, size, REPL_REQ_TIMEOUT_S, &status);
	if (rc != 0)
		goto out;
	if (status == 400) {
		r->st.bad_hash++;
		metric_inc(r->m.bad_hash);
	}
	if (status != 200 && status != 201) {
		rc = http_status_err(r, M_PUT, url, status, &x.body);
		goto out;
	}
	r->st.blobs++;
	r->st.blob_bytes += size;
	metric_inc(r->m.blobs);
	metric_add(r->m.blob_bytes, (double)size);
out:
	if (fd >= 0)
		close(fd);
	xfer_clear(&x);
	return rc;
}

/* Store source -> store destination. -ENOENT: gone at the source. */
static int
blob_local(struct repl *r, const char *cid)
{
	char got[CID_BUF_LEN];
	uint64_t size = 0;
	bool created = false;
	int fd = -1, rc;

	if (store_blob_stat(r->dst.store, cid, NULL) == 0)
		return 0;
	rc = store_blob_open(r->src.store, cid, &fd, &size);
	if (rc != 0) {
		if (rc != -ENOENT)
			set_err(r, "open blob %s in \"%s\": %s", cid, r->src.url, strerror(-rc));
		return rc;
	}
	rc = store_blob_put_fd(r->dst.store, fd, cid, got, &size, &created);
	close(fd);
	if (rc == -EBADMSG) {
		r->st.bad_hash++;
		metric_inc(r->m.bad_hash);
		set_err(r, "blob %s in \"%s\": hash mismatch; not stored", cid, r->src.url);
		return rc;
	}
	if (rc != 0) {
		set_err(r, "copy blob %s into \"%s\": %s", cid, r->dst.url, strerror(-rc));
		return rc;
	}
	r->st.blobs++;
	r->st.blob_bytes += size;
	metric_inc(r->m.blobs);
	metric_add(r->m.blob_bytes, (double)size);
	return 0;
}

/* Make sure the destination has the blob. -ENOENT: the source lacks it. */
static int
blob_ensure(struct repl *r, const char *cid)
{
	if (r->src.kind == SIDE_HTTP) {
		if (store_blob_stat(r->dst.store, cid, NULL) == 0)
			return 0;
		return blob_pull(r, cid);
	}
	if (r->dst.kind == SIDE_HTTP)
		return blob_push(r, cid, false);
	return blob_local(r, cid);
}

/* ---- applying a run of changes at the destination ---- */

static int
flush_store_puts(struct repl *r, const struct store_change *run, size_t n)
{
	struct store_record *recs = NULL;
	size_t made = 0;
	bool created;
	int rc;

	recs = calloc(n, sizeof(*recs));
	if (recs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		recs[i] = run[i].rec;
	rc = store_record_put_many(r->dst.store, recs, n, 0, &made);
	if (rc == -EINVAL) {
		/* find the invalid ones: put one by one, skipping those */
		made = 0;
		for (size_t i = 0; i < n; i++) {
			rc = store_record_put(r->dst.store, &recs[i], 0, &created, NULL);
			if (rc == -EINVAL) {
				log_warn("record %s/%s@%" PRId64 " (cid %s) from \"%s\": refused as "
				         "invalid; skipped", recs[i].stream, recs[i].variant,
				         recs[i].start_us, recs[i].cid, r->src.url);
				r->st.rejected++;
				metric_inc(r->m.rejected);
				rc = 0;
				continue;
			}
			if (rc != 0)
				break;
			made += created ? 1 : 0;
		}
	}
	if (rc != 0)
		set_err(r, "put records into \"%s\": %s", r->dst.url, strerror(-rc));
	r->st.records += made;
	metric_add(r->m.records, (double)made);
	free(recs);
	return rc;
}

static int
flush_store(struct repl *r, const struct store_change *run, size_t n)
{
	size_t i = 0, j;
	int rc = 0;

	while (i < n) {
		if (run[i].op == STORE_OP_PUT) {
			for (j = i; j < n && run[j].op == STORE_OP_PUT; j++)
				;
			rc = flush_store_puts(r, run + i, j - i);
			if (rc != 0)
				return rc;
			i = j;
			continue;
		}
		rc = store_record_delete(r->dst.store, &run[i].rec);
		if (rc == 0) {
			r->st.deletes++;
			metric_inc(r->m.deletes);
		} else if (rc != -ENOENT) {
			set_err(r, "delete record in \"%s\": %s", r->dst.url, strerror(-rc));
			return rc;
		}
		i++;
	}
	return 0;
}

static int
flush_http(struct repl *r, const struct store_change *run, size_t n)
{
	char url[REPL_URL_MAX + 32], line[STORE_JSON_MAX + 64];
	struct buf body = { .max = SIZE_MAX };
	json_t *j = NULL;
	struct xfer x;
	long status = 0;
	int rc = 0;

	xfer_init(&x, r, REPL_REPLY_MAX);
	snprintf(url, sizeof(url), "%s/store/v1/records", r->dst.url);
	for (size_t i = 0; i < n; i++) {
		rc = store_change_to_json(&run[i], line, sizeof(line) - 1);
		if (rc != 0)
			goto out;
		rc = buf_append(&body, line, strlen(line));
		if (rc == 0)
			rc = buf_append(&body, "\n", 1);
		if (rc != 0)
			goto out;
	}
	for (int attempt = 0;; attempt++) {
		buf_free(&x.body);
		x.body.max = REPL_REPLY_MAX;
		rc = http_do(r, M_POST, url, &x, body.p, body.len, 0, REPL_REQ_TIMEOUT_S, &status);
		if (rc != 0)
			goto out;
		if (status != 409 || attempt >= REPL_CONFLICT_TRIES)
			break;
		/* a blob vanished at the peer since we asked: upload them all again */
		log_warn("POST \"%s\": 409 (a blob is missing); uploading the batch's blobs again",
		         url);
		for (size_t i = 0; i < n; i++) {
			if (run[i].op != STORE_OP_PUT)
				continue;
			rc = blob_push(r, run[i].rec.cid, true);
			if (rc != 0 && rc != -ENOENT)
				goto out;
		}
	}
	if (status != 200) {
		rc = http_status_err(r, M_POST, url, status, &x.body);
		goto out;
	}
	j = x.body.len > 0 ? json_loadb(x.body.p, x.body.len, 0, NULL) : NULL;
	if (j != NULL) {
		json_int_t c = json_integer_value(json_object_get(j, "created"));
		if (c > 0) {
			r->st.records += (uint64_t)c;
			metric_add(r->m.records, (double)c);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (run[i].op == STORE_OP_DELETE) {
			r->st.deletes++;            /* sent; the peer applies it if it matches */
			metric_inc(r->m.deletes);
		}
	}
out:
	json_decref(j);
	buf_free(&body);
	xfer_clear(&x);
	return rc;
}

static int
flush_run(struct repl *r, const struct store_change *run, size_t n)
{
	if (n == 0)
		return 0;
	if (r->dst.kind == SIDE_HTTP)
		return flush_http(r, run, n);
	return flush_store(r, run, n);
}

static int
save_cursor(struct repl *r, uint64_t seq)
{
	int rc;

	if (seq == r->st.cursor)
		return 0;
	rc = store_cursor_set(r->local, r->peer, seq);
	if (rc != 0) {
		set_err(r, "save cursor of \"%s\": %s", r->peer, strerror(-rc));
		return rc;
	}
	r->st.cursor = seq;
	metric_set(r->m.cursor, (double)seq);
	return 0;
}

/* ---- rounds ---- */

static bool
change_selected(const struct repl *r, const struct store_change *c)
{
	if (c->op == STORE_OP_DELETE)
		return repl_filter_match(r->stream, 0, 0, c->rec.stream, 0, 0);
	return repl_filter_match(r->stream, r->from_us, r->to_us, c->rec.stream, c->rec.start_us,
	                         c->rec.duration_us);
}

/* Apply one batch. 0 when all of it is durable and the cursor saved. */
static int
apply_batch(struct repl *r, const struct store_change *ch, size_t n)
{
	struct store_change *run = NULL;
	uint64_t upto = r->st.cursor;
	size_t nrun = 0;
	int rc = 0, frc;

	run = calloc(n ? n : 1, sizeof(*run));
	if (run == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n && !stopping(r); i++) {
		const struct store_change *c = &ch[i];

		if (change_selected(r, c) && c->op == STORE_OP_PUT) {
			rc = blob_ensure(r, c->rec.cid);
			if (rc == -ENOENT) {
				/* the source dropped it since (gc, or a conflict winner replaced
				 * it): a later change in its log says so */
				log_debug("blob %s of %s/%s: gone at \"%s\"; record skipped", c->rec.cid,
				          c->rec.stream, c->rec.variant, r->src.url);
				r->st.skipped++;
				metric_inc(r->m.skipped);
				rc = 0;
			} else if (rc != 0) {
				break;
			} else {
				run[nrun++] = *c;
			}
		} else if (change_selected(r, c)) {
			run[nrun++] = *c;
		}
		upto = c->seq;
	}
	frc = flush_run(r, run, nrun);
	if (frc == 0)
		frc = save_cursor(r, upto);
	free(run);
	return rc != 0 ? rc : frc;
}

static int
read_changes(struct repl *r, uint64_t since, int wait_s, struct store_change **ch, size_t *n,
             uint64_t *last)
{
	if (r->src.kind == SIDE_HTTP)
		return changes_http(r, since, wait_s, ch, n, last);
	return changes_store(r, since, wait_s, ch, n, last);
}

/* One round: 0 with *caught_up when nothing was left past the cursor. */
static int
round_once(struct repl *r, bool *caught_up, uint64_t *target, bool *have_target)
{
	struct store_change *ch = NULL;
	size_t n = 0;
	uint64_t last = 0;
	int wait_s = 0, rc;

	*caught_up = false;
	if (r->follow && !__atomic_load_n(&r->drain, __ATOMIC_ACQUIRE))
		wait_s = r->wait_s;
	rc = read_changes(r, r->st.cursor, wait_s, &ch, &n, &last);
	if (rc != 0)
		goto out;
	if (stopping(r))
		goto out;
	if (n > 0 || wait_s == 0 || r->src.kind == SIDE_HTTP) {
		r->st.peer_last_seq = last;
		metric_set(r->m.peer_last, (double)last);
	}
	if (last < r->st.cursor && n == 0 && (wait_s == 0 || r->src.kind == SIDE_HTTP)) {
		log_warn("source \"%s\" has last seq %" PRIu64 " below our cursor %" PRIu64
		         " (store reset?): starting again from 0", r->src.url, last, r->st.cursor);
		rc = store_cursor_set(r->local, r->peer, 0);
		if (rc == 0)
			r->st.cursor = 0;
		goto out;
	}
	if (!*have_target) {
		*target = last;
		*have_target = true;
	}
	if (n > 0) {
		r->st.batches++;
		rc = apply_batch(r, ch, n);
		if (rc != 0)
			goto out;
	}
	*caught_up = n == 0 || r->st.cursor >= last;
out:
	free(ch);
	return rc;
}

static bool
permanent(int rc)
{
	return rc == -EACCES || rc == -EPROTO || rc == -EINVAL || rc == -EROFS;
}

int
repl_run(struct repl *r)
{
	uint64_t target = 0;
	unsigned fails = 0;
	bool caught_up, have_target = false;
	int64_t t0, delay;
	int rc = 0;

	if (r == NULL || r->magic != REPL_MAGIC)
		return -EINVAL;
	for (;;) {
		if (stopping(r)) {
			rc = r->follow ? 0 : -EINTR;
			if (rc != 0)
				set_err(r, "stopped before catching up with \"%s\"", r->src.url);
			break;
		}
		t0 = time_mono_us();
		r->err[0] = '\0';
		rc = round_once(r, &caught_up, &target, &have_target);
		if (rc == -EINTR || (rc == 0 && stopping(r)))
			continue;
		if (rc != 0) {
			if (r->err[0] == '\0')
				set_err(r, "replicate \"%s\" -> \"%s\": %s", r->src.url, r->dst.url,
				        strerror(-rc));
			r->st.failures++;
			metric_inc(r->m.failures);
			fails++;
			if (!r->follow && (permanent(rc) || fails >= r->max_attempts)) {
				if (!permanent(rc)) {
					size_t l = strlen(r->err);
					snprintf(r->err + l, sizeof(r->err) - l, " (gave up after %u attempts)",
					         fails);
				}
				break;              /* the caller reports r->err */
			}
			delay = repl_backoff_us(fails - 1 < 16 ? fails - 1 : 16, rand32());
			if (r->follow)
				log_warn("%s; retry %u in %" PRId64 " ms", r->err, fails, delay / 1000);
			else
				log_warn("%s; retry %u of %u in %" PRId64 " ms", r->err, fails,
				         r->max_attempts - 1, delay / 1000);
			nap(r, delay);
			continue;
		}
		fails = 0;
		if (!r->follow && (caught_up || (have_target && r->st.cursor >= target)))
			break;
		if (r->follow && caught_up && __atomic_load_n(&r->drain, __ATOMIC_ACQUIRE) &&
		    r->st.cursor >= r->st.peer_last_seq)
			break;
		if (r->follow && caught_up && time_mono_us() - t0 < REPL_IDLE_MIN_US)
			nap(r, REPL_IDLE_MIN_US);
	}
	if (rc == 0)
		r->err[0] = '\0';
	return rc;
}

/* ---- lifecycle ---- */

static int
side_open(struct side *sd, const char *spec, struct store *given, bool create, bool readonly)
{
	int rc;

	if (repl_is_url(spec)) {
		sd->kind = SIDE_HTTP;
		return repl_url_base(spec, sd->url, sizeof(sd->url));
	}
	sd->kind = SIDE_STORE;
	if (snprintf(sd->url, sizeof(sd->url), "%s", spec) >= (int)sizeof(sd->url))
		return -ENAMETOOLONG;
	if (given != NULL) {
		sd->store = given;
		return 0;
	}
	rc = store_open(spec, (create ? STORE_OPEN_CREATE : 0) | (readonly ? STORE_OPEN_READONLY : 0),
	                &sd->store);
	if (rc == 0)
		sd->owned = true;
	return rc;
}

void
repl_free(struct repl **rp)
{
	struct repl *r = rp != NULL ? *rp : NULL;

	if (r == NULL)
		return;
	if (r->started) {
		repl_stop(r);
		repl_join(r);
	}
	if (r->src.owned)
		store_close(&r->src.store);
	if (r->dst.owned)
		store_close(&r->dst.store);
	if (r->curl != NULL)
		curl_easy_cleanup(r->curl);
	free(r->token);
	free(r->stream);
	r->magic = 0;
	free(r);
	*rp = NULL;
}

int
repl_new(const struct repl_conf *conf, struct repl **out)
{
	struct repl *r = NULL;
	char real[PATH_MAX];
	const char *dir;
	int rc;

	*out = NULL;
	if (conf->src == NULL || conf->dst == NULL)
		return -EINVAL;
	if (repl_is_url(conf->src) && repl_is_url(conf->dst))
		return -EINVAL;
	if (conf->stream != NULL && !store_name_valid(conf->stream, STORE_STREAM_MAX))
		return -EINVAL;
	if ((conf->from_us != 0 || conf->to_us != 0) && conf->from_us >= conf->to_us)
		return -EINVAL;
	if (conf->batch > REPL_BATCH_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->magic = REPL_MAGIC;
	r->follow = conf->follow;
	r->from_us = conf->from_us;
	r->to_us = conf->to_us;
	r->max_attempts = conf->max_attempts ? conf->max_attempts : REPL_ATTEMPTS_DFL;
	r->batch = conf->batch ? conf->batch : REPL_BATCH_DFL;
	r->wait_s = conf->wait_s > 0 ? conf->wait_s : REPL_WAIT_S_DFL;
	if ((conf->token != NULL && conf->token[0] != '\0' &&
	     (r->token = strdup(conf->token)) == NULL) ||
	    (conf->stream != NULL && (r->stream = strdup(conf->stream)) == NULL)) {
		rc = -ENOMEM;
		goto out;
	}
	if (r->token != NULL && strpbrk(r->token, "\r\n") != NULL) {
		rc = -EINVAL;
		goto out;
	}
	/* source: must exist; push writes its cursor there, local reads only */
	rc = side_open(&r->src, conf->src, conf->src_store, false, !repl_is_url(conf->dst));
	if (rc != 0)
		goto out;
	rc = side_open(&r->dst, conf->dst, conf->dst_store, true, false);
	if (rc != 0)
		goto out;
	if (r->src.kind == SIDE_HTTP || r->dst.kind == SIDE_STORE) {
		r->local = r->dst.store;
		if (r->src.kind == SIDE_HTTP) {
			snprintf(r->peer, sizeof(r->peer), "%.*s", REPL_PEER_MAX, r->src.url);
		} else {
			dir = realpath(store_dir(r->src.store), real) ? real : store_dir(r->src.store);
			snprintf(r->peer, sizeof(r->peer), "dir:%.*s", REPL_PEER_MAX - 4, dir);
		}
	} else {
		r->local = r->src.store;
		snprintf(r->peer, sizeof(r->peer), "%.*s", REPL_PEER_MAX, r->dst.url);
	}
	if (r->src.kind == SIDE_HTTP || r->dst.kind == SIDE_HTTP) {
		r->curl = curl_easy_init();
		if (r->curl == NULL) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = store_cursor_get(r->local, r->peer, &r->st.cursor);
	if (rc != 0)
		goto out;
	register_metrics(r, conf->metrics,
	                 r->src.kind == SIDE_HTTP ? "pull" : r->dst.kind == SIDE_HTTP ? "push"
	                                                                               : "local");
	metric_set(r->m.cursor, (double)r->st.cursor);
	*out = r;
	r = NULL;
out:
	repl_free(&r);
	return rc;
}

static void *
repl_thread(void *arg)
{
	struct repl *r = arg;

	r->result = repl_run(r);
	if (r->result != 0 && r->follow)
		log_error("replication \"%s\" -> \"%s\" ended: %s", r->src.url, r->dst.url,
		          r->err[0] ? r->err : strerror(-r->result));
	__atomic_store_n(&r->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

int
repl_start(struct repl *r)
{
	int rc;

	if (r->started)
		return -EALREADY;
	rc = pthread_create(&r->thread, NULL, repl_thread, r);
	if (rc != 0)
		return -rc;
	r->started = true;
	return 0;
}

int
repl_join(struct repl *r)
{
	if (!r->started)
		return -EINVAL;
	pthread_join(r->thread, NULL);
	r->started = false;
	return r->result;
}

bool
repl_finished(const struct repl *r)
{
	return __atomic_load_n(&r->finished, __ATOMIC_ACQUIRE) != 0;
}

void
repl_stop(struct repl *r)
{
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
}

void
repl_drain(struct repl *r)
{
	__atomic_store_n(&r->drain, 1, __ATOMIC_RELEASE);
}

void
repl_get_stats(const struct repl *r, struct repl_stats *out)
{
	*out = r->st;
}

const char *
repl_error(const struct repl *r)
{
	return r->err;
}

/* ---- producers' --push-to ---- */

#define REPL_PUSH_POLL_US (100 * 1000LL)

int
repl_push_start(struct store *st, const char *dir, const char *url, const char *stream,
                struct metrics *m, struct repl **out)
{
	struct repl_conf rc = { .src = dir, .dst = url, .src_store = st,
	                        .token = flag_or_env(NULL, "SLUICE_TOKEN", NULL),
	                        .follow = true, .stream = stream, .metrics = m };
	int r = repl_new(&rc, out);

	if (r == 0)
		r = repl_start(*out);
	if (r < 0) {
		log_error("--push-to \"%s\": %s", url, strerror(-r));
		repl_free(out);
		return r;
	}
	log_info("pushing to %s", url);
	return 0;
}

int
repl_push_finish(struct repl *p, int64_t drain_us)
{
	int64_t end = time_mono_us() + drain_us;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = REPL_PUSH_POLL_US * 1000 };
	struct repl_stats st;
	int r;

	repl_drain(p);
	while (!repl_finished(p) && time_mono_us() < end)
		nanosleep(&ts, NULL);
	repl_stop(p);
	r = repl_join(p);
	repl_get_stats(p, &st);
	if (st.cursor < st.peer_last_seq || r < 0) {
		log_error("--push-to: %" PRIu64 " changes not sent (%s)",
		          st.peer_last_seq - (st.cursor < st.peer_last_seq ? st.cursor : 0),
		          repl_error(p)[0] ? repl_error(p) : "time limit");
		return -EIO;
	}
	log_info("--push-to: sent %" PRIu64 " records, %" PRIu64 " blobs; cursor %" PRIu64,
	         st.records, st.blobs, st.cursor);
	return 0;
}
