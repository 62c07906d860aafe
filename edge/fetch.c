/*
 * fetch.c — the fetcher thread: single-flight table + libcurl multi.
 *
 * Model: jobs (cid, sink, conn, gen) arrive on a locked queue. The thread
 * owns everything else without locks: the flight list (one struct flight per
 * CID in transfer, with its waiters, buffer, hasher and the upstreams tried)
 * and the upstream health table. A flight ends by delivering one
 * struct fetch_done per waiter and freeing itself.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "edge/fetch.h"

struct job {
	char cid[CID_BUF_LEN];
	void *sink;
	void *conn;
	uint32_t gen;
	struct job *next;
};

struct waiter {
	void *sink;
	void *conn;
	uint32_t gen;
};

struct flight {
	char cid[CID_BUF_LEN];
	struct waiter *w;
	unsigned nw, capw;
	CURL *easy;
	int up;         /* upstream index of the current attempt */
	uint32_t tried; /* bitmask */
	bool saw404;
	uint8_t *buf;
	size_t len, cap;
	bool too_big;
	struct cid_hasher h;
	char url[1024];
	struct flight *next;
};

struct fetcher {
	struct fetch_config cfg;
	int64_t bad_until[FETCH_MAX_UPSTREAMS];
	CURLM *multi;
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	struct job *jhead, *jtail;
	bool stop;
	struct flight *flights;
	unsigned nflights;
};

static void
deliver(struct fetcher *f, void *sink, void *conn, uint32_t gen, int status, struct cache_entry *e)
{
	struct fetch_done *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		/* Out of memory: the connection waits until it is closed. */
		log_error("fetch: out of memory delivering a result");
		return;
	}
	d->conn = conn;
	d->gen = gen;
	d->status = status;
	if (e) {
		cache_entry_get(e);
		d->e = e;
	}
	f->cfg.deliver(sink, d);
}

static size_t
on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct flight *fl = arg;
	size_t n = size * nmemb;
	if (fl->len + n > CACHE_MAX_OBJECT) {
		fl->too_big = true;
		return 0;
	}
	if (fl->len + n > fl->cap) {
		size_t nc = fl->cap ? fl->cap : 64 * 1024;
		while (nc < fl->len + n)
			nc *= 2;
		uint8_t *nb = realloc(fl->buf, nc);
		if (nb == NULL)
			return 0;
		fl->buf = nb;
		fl->cap = nc;
	}
	memcpy(fl->buf + fl->len, ptr, n);
	fl->len += n;
	if (cid_hasher_update(&fl->h, ptr, n) != 0)
		return 0;
	return n;
}

static void
flight_finish(struct fetcher *f, struct flight *fl, int status, struct cache_entry *e)
{
	for (unsigned i = 0; i < fl->nw; i++)
		deliver(f, fl->w[i].sink, fl->w[i].conn, fl->w[i].gen, status, e);
	struct flight **pp = &f->flights;
	while (*pp && *pp != fl)
		pp = &(*pp)->next;
	if (*pp)
		*pp = fl->next;
	f->nflights--;
	if (fl->easy) {
		curl_multi_remove_handle(f->multi, fl->easy);
		curl_easy_cleanup(fl->easy);
	}
	cid_hasher_abort(&fl->h);
	free(fl->buf);
	free(fl->w);
	free(fl);
}

/* Next upstream to try: first healthy untried, else first untried; -1 none. */
static int
pick_upstream(struct fetcher *f, struct flight *fl)
{
	int64_t now = time_mono_us();
	int any = -1;
	for (int i = 0; i < f->cfg.nupstreams; i++) {
		if (fl->tried & (1u << i))
			continue;
		if (f->bad_until[i] <= now)
			return i;
		if (any < 0)
			any = i;
	}
	return any;
}

/* Start the next attempt; 0 started, negative when no upstream is left. */
static int
flight_start(struct fetcher *f, struct flight *fl)
{
	int up = pick_upstream(f, fl);
	if (up < 0)
		return -ENOENT;
	fl->up = up;
	fl->tried |= 1u << up;
	fl->len = 0;
	fl->too_big = false;
	cid_hasher_abort(&fl->h);
	if (cid_hasher_init(&fl->h) != 0)
		return -ENOMEM;
	const char *base = f->cfg.upstreams[up];
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	snprintf(fl->url, sizeof(fl->url), "%.*s/seg/%s.ts", (int)bl, base, fl->cid);
	if (fl->easy) {
		curl_multi_remove_handle(f->multi, fl->easy);
		curl_easy_reset(fl->easy);
	} else {
		fl->easy = curl_easy_init();
		if (fl->easy == NULL)
			return -ENOMEM;
	}
	CURL *h = fl->easy;
	curl_easy_setopt(h, CURLOPT_URL, fl->url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, fl);
	curl_easy_setopt(h, CURLOPT_PRIVATE, fl);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, FETCH_CONNECT_MS);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, FETCH_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, FETCH_LOW_SPEED_SECS);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice-edge");
	if (curl_multi_add_handle(f->multi, h) != CURLM_OK)
		return -EIO;
	if (f->cfg.upstream_requests)
		metric_inc(f->cfg.upstream_requests);
	return 0;
}

static void
flight_retry_or_fail(struct fetcher *f, struct flight *fl, int status)
{
	if (flight_start(f, fl) == 0)
		return;
	flight_finish(f, fl, fl->saw404 ? 404 : status, NULL);
}

static void
on_transfer_done(struct fetcher *f, CURL *easy, CURLcode res)
{
	struct flight *fl = NULL;
	long code = 0;
	char got[CID_BUF_LEN];

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&fl);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	const char *up = f->cfg.upstreams[fl->up];

	if (res != CURLE_OK || code != 200) {
		if (res != CURLE_OK)
			log_warn("fetch \"%s\": %s (upstream=%s)", fl->url,
			         fl->too_big ? "object too large" : curl_easy_strerror(res), up);
		else if (code != 404)
			log_warn("fetch \"%s\": HTTP %ld (upstream=%s)", fl->url, code, up);
		if (res == CURLE_OK && code == 404)
			fl->saw404 = true;
		else if (!fl->too_big)
			f->bad_until[fl->up] = time_mono_us() + FETCH_PENALTY_US;
		flight_retry_or_fail(f, fl, 502);
		return;
	}
	f->bad_until[fl->up] = 0;
	if (cid_hasher_final(&fl->h, got) != 0) {
		flight_finish(f, fl, 502, NULL);
		return;
	}
	if (memcmp(got, fl->cid, CID_HEX_LEN) != 0) {
		log_warn("fetch \"%s\": content hash %s does not match (upstream=%s)", fl->url, got,
		         up);
		if (f->cfg.verify_failures)
			metric_inc(f->cfg.verify_failures);
		flight_finish(f, fl, 502, NULL);
		return;
	}
	struct cache_entry *e = NULL;
	uint8_t *data = fl->buf ? fl->buf : malloc(1);
	fl->buf = NULL;
	if (data == NULL || cache_entry_from_buf(fl->cid, data, fl->len, &e) != 0) {
		flight_finish(f, fl, 503, NULL);
		return;
	}
	cache_insert(f->cfg.cache, e);
	flight_finish(f, fl, 200, e);
	cache_entry_put(&e);
}

static int
add_waiter(struct flight *fl, struct job *j)
{
	if (fl->nw == fl->capw) {
		unsigned nc = fl->capw ? fl->capw * 2 : 4;
		struct waiter *nw = realloc(fl->w, nc * sizeof(*nw));
		if (nw == NULL)
			return -ENOMEM;
		fl->w = nw;
		fl->capw = nc;
	}
	fl->w[fl->nw++] = (struct waiter){j->sink, j->conn, j->gen};
	return 0;
}

static void
handle_job(struct fetcher *f, struct job *j)
{
	struct flight *fl;
	struct cache_hit hit;

	for (fl = f->flights; fl; fl = fl->next)
		if (memcmp(fl->cid, j->cid, CID_HEX_LEN) == 0)
			break;
	if (fl) {
		if (fl->nw >= FETCH_MAX_WAITERS || add_waiter(fl, j) != 0)
			deliver(f, j->sink, j->conn, j->gen, 503, NULL);
		return;
	}
	/* It may have arrived while the job was queued. */
	if (cache_lookup_mem(f->cfg.cache, j->cid, &hit) == 1) {
		deliver(f, j->sink, j->conn, j->gen, 200, hit.e);
		cache_entry_put(&hit.e);
		return;
	}
	struct cache_entry *e = NULL;
	if (cache_disk_load_verify(f->cfg.cache, j->cid, &e) == 1) {
		cache_insert(f->cfg.cache, e);
		deliver(f, j->sink, j->conn, j->gen, 200, e);
		cache_entry_put(&e);
		return;
	}
	if (f->nflights >= FETCH_MAX_FLIGHTS) {
		deliver(f, j->sink, j->conn, j->gen, 503, NULL);
		return;
	}
	fl = calloc(1, sizeof(*fl));
	if (fl == NULL || add_waiter(fl, j) != 0) {
		free(fl);
		deliver(f, j->sink, j->conn, j->gen, 503, NULL);
		return;
	}
	memcpy(fl->cid, j->cid, CID_BUF_LEN);
	fl->next = f->flights;
	f->flights = fl;
	f->nflights++;
	flight_retry_or_fail(f, fl, 502);
}

static void *
fetcher_main(void *arg)
{
	struct fetcher *f = arg;
	bool stop = false;

	while (!stop) {
		pthread_mutex_lock(&f->mu);
		struct job *jobs = f->jhead;
		f->jhead = f->jtail = NULL;
		stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		while (jobs) {
			struct job *j = jobs;
			jobs = j->next;
			if (stop)
				deliver(f, j->sink, j->conn, j->gen, 503, NULL);
			else
				handle_job(f, j);
			free(j);
		}
		if (stop)
			break;
		int running = 0;
		curl_multi_perform(f->multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(f->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				on_transfer_done(f, msg->easy_handle, msg->data.result);
		curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
	}
	while (f->flights)
		flight_finish(f, f->flights, 503, NULL);
	return NULL;
}

int
fetcher_new(const struct fetch_config *cfg, struct fetcher **out)
{
	struct fetcher *f = calloc(1, sizeof(*f));
	int rc = 0;

	if (f == NULL)
		return -ENOMEM;
	f->cfg = *cfg;
	pthread_mutex_init(&f->mu, NULL);
	f->multi = curl_multi_init();
	if (f->multi == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	rc = -pthread_create(&f->thr, NULL, fetcher_main, f);
	if (rc != 0)
		goto fail;
	f->started = true;
	*out = f;
	return 0;
fail:
	fetcher_free(&f);
	return rc;
}

void
fetcher_free(struct fetcher **fp)
{
	struct fetcher *f = *fp;
	if (f == NULL)
		return;
	*fp = NULL;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_mutex_unlock(&f->mu);
		curl_multi_wakeup(f->multi);
		pthread_join(f->thr, NULL);
	}
	while (f->jhead) {
		struct job *j = f->jhead;
		f->jhead = j->next;
		free(j);
	}
	if (f->multi)
		curl_multi_cleanup(f->multi);
	pthread_mutex_destroy(&f->mu);
	free(f);
}

int
fetcher_request(struct fetcher *f, const char *cid, void *sink, void *conn, uint32_t gen)
{
	struct job *j = malloc(sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	memcpy(j->cid, cid, CID_HEX_LEN);
	j->cid[CID_HEX_LEN] = '\0';
	j->sink = sink;
	j->conn = conn;
	j->gen = gen;
	j->next = NULL;
	pthread_mutex_lock(&f->mu);
	if (f->stop) {
		pthread_mutex_unlock(&f->mu);
		free(j);
		return -ESHUTDOWN;
	}
	if (f->jtail)
		f->jtail->next = j;
	else
		f->jhead = j;
	f->jtail = j;
	pthread_mutex_unlock(&f->mu);
	curl_multi_wakeup(f->multi);
	return 0;
}
