/*
 * edges.c — edge registry, /healthz prober and steering glue.
 *
 * Model:
 *   e->list[0..n)  registered edges sorted by id (so the healthy set offered
 *                  to steer is in a stable order). Guarded by e->mu, as is
 *                  e->steer and every field below it in struct edges.
 *   prober         one thread: copy (id, url) of every edge under the lock,
 *                  probe all at once with a curl multi handle (no lock held),
 *                  apply results by (id, url) under the lock, recompute the
 *                  healthy set, then sleep on e->cv until the next round, a
 *                  wake-up (registration) or stop.
 *   persistence    store_meta_put/del outside the lock, after the registry
 *                  change; store_meta_list at start-up.
 *   health         recompute() derives healthy/state from probe counters and
 *                  heartbeat age, offers the healthy non-draining set to
 *                  steer and sets the sluice_origin_edges{state} gauges.
 */
#include "origin/edges.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"

#define EDGE_META_PREFIX   "edge/"
#define EDGE_META_KEY_MAX  (sizeof(EDGE_META_PREFIX) + STEER_ID_MAX + 1)
#define EDGE_DISTINCT_MAX  16           /* per-playlist steering counts tracked */
#define EDGE_SEG_PATH_LEN  (5 + CID_HEX_LEN + 3)   /* "/seg/" cid ".ts" */
#define EDGE_POLL_MS       100

struct edge {
	char id[STEER_ID_MAX + 1];
	char url[STEER_URL_MAX + 1];
	uint64_t capacity;
	bool draining;
	bool probed_ok;                     /* a probe succeeded since (re)registration */
	unsigned fails;                     /* probe failures in a row */
	int64_t last_probe_us;              /* wall clock, 0 = never */
	bool hb_ever;
	int64_t last_hb_mono;
	int64_t last_hb_us;                 /* wall clock */
	struct edge_load load;
	bool healthy;                       /* derived by recompute() */
};

struct probe {
	char id[STEER_ID_MAX + 1];
	char url[STEER_URL_MAX + 1];
	char target[STEER_URL_MAX + 16];
	CURL *easy;
	bool ok;
};

struct edges {
	struct store *store;
	struct metrics *metrics;
	int64_t interval_us;
	pthread_t thread;
	bool started;
	pthread_cond_t cv;
	struct metric *g_healthy, *g_unhealthy, *g_draining;
	struct metric *probes_ok, *probes_fail, *heartbeats;
	pthread_mutex_t mu;
	/* guarded by mu */
	bool stop;
	bool wake;
	struct steer *steer;
	size_t n;
	struct edge list[EDGES_MAX];
};

bool
edges_valid_id(const char *id)
{
	size_t n;

	if (id == NULL)
		return false;
	n = strlen(id);
	if (n == 0 || n > STEER_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int
edges_valid_url(const char *url, char *norm, size_t len)
{
	const char *h, *colon, *end;
	size_t n, hostlen;
	long port = 0;

	if (url == NULL || strncmp(url, "http://", 7) != 0)
		return -EINVAL;
	n = strlen(url);
	if (n > STEER_URL_MAX || n + 1 > len)
		return -EINVAL;
	end = url + n;
	if (end > url + 7 && end[-1] == '/')
		end--;
	h = url + 7;
	if (*h == '[') {
		const char *rb = memchr(h, ']', (size_t)(end - h));
		if (rb == NULL || rb + 1 >= end || rb[1] != ':')
			return -EINVAL;
		colon = rb + 1;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		if (colon == NULL)
			return -EINVAL;
	}
	hostlen = (size_t)(colon - h);
	if (hostlen == 0)
		return -EINVAL;
	for (const char *p = h; p < colon; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '[' || c == ']' || c == ':' || c == '_'))
			return -EINVAL;
	}
	if (colon + 1 >= end || end - (colon + 1) > 5)
		return -EINVAL;
	for (const char *p = colon + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		port = port * 10 + (*p - '0');
	}
	if (port < 1 || port > 65535)
		return -EINVAL;
	memcpy(norm, url, (size_t)(end - url));
	norm[end - url] = '\0';
	return 0;
}

static struct edge *
find_locked(struct edges *e, const char *id, size_t *pos)
{
	size_t lo = 0, hi = e->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(e->list[mid].id, id);
		if (c == 0) {
			if (pos != NULL)
				*pos = mid;
			return &e->list[mid];
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos != NULL)
		*pos = lo;
	return NULL;
}

static double
edge_weight(const struct edge *ed)
{
	double w;

	if (!ed->hb_ever)
		return (double)ed->capacity;
	w = (double)ed->capacity - ed->load.load;
	return w < 1.0 ? 1.0 : w;
}

static bool
hb_stale(const struct edges *e, const struct edge *ed, int64_t now_mono)
{
	return ed->hb_ever && now_mono - ed->last_hb_mono > EDGE_HB_MISSES * e->interval_us;
}

static void
recompute_locked(struct edges *e)
{
	struct steer_edge set[EDGES_MAX];
	size_t m = 0, nh = 0, nu = 0, nd = 0;
	int64_t now = time_mono_us();
	int rc;

	for (size_t i = 0; i < e->n; i++) {
		struct edge *ed = &e->list[i];
		ed->healthy = ed->probed_ok && ed->fails < EDGE_PROBE_FAILS && !hb_stale(e, ed, now);
		if (ed->draining)
			nd++;
		else if (ed->healthy)
			nh++;
		else
			nu++;
		if (!ed->healthy || ed->draining)
			continue;
		memcpy(set[m].id, ed->id, sizeof(set[m].id));
		memcpy(set[m].url, ed->url, sizeof(set[m].url));
		set[m].weight = edge_weight(ed);
		m++;
	}
	rc = steer_set_edges(e->steer, set, m);
	if (rc < 0)
		log_error("steering: new edge set: %s", strerror(-rc));
	else if (rc > 0)
		log_info("steering: edge set now has %zu healthy edge(s)", m);
	metric_set(e->g_healthy, (double)nh);
	metric_set(e->g_unhealthy, (double)nu);
	metric_set(e->g_draining, (double)nd);
}

static void
persist(struct edges *e, const struct edge *snapshot)
{
	char key[EDGE_META_KEY_MAX];
	json_t *obj;
	char *text = NULL;
	int rc = -ENOMEM;

	snprintf(key, sizeof(key), EDGE_META_PREFIX "%s", snapshot->id);
	obj = json_pack("{s:s,s:s,s:I,s:b}", "id", snapshot->id, "url", snapshot->url, "capacity",
	                (json_int_t)snapshot->capacity, "draining", snapshot->draining);
	if (obj != NULL)
		text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (text != NULL)
		rc = store_meta_put(e->store, key, text, strlen(text));
	free(text);
	if (rc != 0)
		log_error("persist edge \"%s\": %s", snapshot->id, strerror(-rc));
}

static int
insert_locked(struct edges *e, const char *id, const char *url, uint64_t capacity,
              bool draining, bool *created, struct edge *copy)
{
	size_t pos;
	struct edge *ed = find_locked(e, id, &pos);

	if (ed == NULL) {
		if (e->n >= EDGES_MAX)
			return -ENOSPC;
		memmove(&e->list[pos + 1], &e->list[pos], (e->n - pos) * sizeof(e->list[0]));
		e->n++;
		ed = &e->list[pos];
		memset(ed, 0, sizeof(*ed));
		snprintf(ed->id, sizeof(ed->id), "%s", id);
		if (created != NULL)
			*created = true;
	} else if (created != NULL) {
		*created = false;
	}
	snprintf(ed->url, sizeof(ed->url), "%s", url);
	ed->capacity = capacity;
	ed->draining = draining;
	/* (re)registration: probe afresh, forget heartbeat staleness */
	ed->probed_ok = false;
	ed->fails = 0;
	ed->hb_ever = false;
	if (copy != NULL)
		*copy = *ed;
	return 0;
}

static int
load_one(void *arg, const char *key, const void *val, size_t len)
{
	struct edges *e = arg;
	json_t *root = json_loadb(val, len, 0, NULL);
	const char *id = NULL, *url = NULL;
	json_int_t cap = 0;
	int draining = 0;
	char norm[STEER_URL_MAX + 1];

	if (root == NULL || json_unpack(root, "{s:s,s:s,s:I,s?b}", "id", &id, "url", &url,
	                                "capacity", &cap, "draining", &draining) != 0 ||
	    !edges_valid_id(id) || edges_valid_url(url, norm, sizeof(norm)) != 0 || cap <= 0) {
		log_warn("ignoring bad edge record \"%s\" in the store", key);
	} else {
		pthread_mutex_lock(&e->mu);
		if (insert_locked(e, id, norm, (uint64_t)cap, draining != 0, NULL, NULL) != 0)
			log_warn("edge \"%s\": registry full", id);
		pthread_mutex_unlock(&e->mu);
	}
	json_decref(root);
	return 0;
}

int
edges_new(struct store *s, struct metrics *m, int64_t interval_us, struct edges **out)
{
	struct edges *e;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->store = s;
	e->metrics = m;
	e->interval_us = interval_us;
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = steer_new(&e->steer);
	if (rc != 0) {
		edges_free(&e);
		return rc;
	}
	e->g_healthy = metrics_gauge(m, "sluice_origin_edges", "Registered edges by state",
	                             "state=\"healthy\"");
	e->g_unhealthy = metrics_gauge(m, "sluice_origin_edges", "Registered edges by state",
	                               "state=\"unhealthy\"");
	e->g_draining = metrics_gauge(m, "sluice_origin_edges", "Registered edges by state",
	                              "state=\"draining\"");
	e->probes_ok = metrics_counter(m, "sluice_origin_edge_probes_total",
	                               "Edge /healthz probes by result", "result=\"ok\"");
	e->probes_fail = metrics_counter(m, "sluice_origin_edge_probes_total",
	                                 "Edge /healthz probes by result", "result=\"fail\"");
	e->heartbeats = metrics_counter(m, "sluice_origin_edge_heartbeats_total",
	                                "Edge heartbeats received", NULL);
	rc = store_meta_list(s, EDGE_META_PREFIX, load_one, e);
	if (rc != 0 && rc != -ENOENT) {
		log_error("load edge registry: %s", strerror(-rc));
		edges_free(&e);
		return rc;
	}
	pthread_mutex_lock(&e->mu);
	if (e->n > 0)
		log_info("loaded %zu edge(s) from the store", e->n);
	recompute_locked(e);
	pthread_mutex_unlock(&e->mu);
	*out = e;
	return 0;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

/* Probe every target concurrently; sets probes[i].ok. */
static void
probe_all(struct edges *e, struct probe *probes, size_t n)
{
	CURLM *multi = curl_multi_init();
	int running = 0;
	long timeout_ms = EDGE_PROBE_TIMEOUT_MS;

	if (e->interval_us / 1000 < timeout_ms)
		timeout_ms = e->interval_us / 1000 > 50 ? e->interval_us / 1000 : 50;
	if (multi == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		CURL *c = curl_easy_init();
		probes[i].easy = c;
		probes[i].ok = false;
		if (c == NULL)
			continue;
		snprintf(probes[i].target, sizeof(probes[i].target), "%s/healthz", probes[i].url);
		curl_easy_setopt(c, CURLOPT_URL, probes[i].target);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(c, CURLOPT_PRIVATE, &probes[i]);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
		curl_multi_add_handle(multi, c);
	}
	do {
		CURLMcode mc = curl_multi_perform(multi, &running);
		if (mc != CURLM_OK)
			break;
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, EDGE_POLL_MS, NULL);
	} while (running > 0);
	for (;;) {
		int left = 0;
		CURLMsg *msg = curl_multi_info_read(multi, &left);
		struct probe *p = NULL;
		long code = 0;
		if (msg == NULL)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&p);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
		if (p != NULL)
			p->ok = msg->data.result == CURLE_OK && code == 200;
	}
	for (size_t i = 0; i < n; i++) {
		if (probes[i].easy == NULL)
			continue;
		curl_multi_remove_handle(multi, probes[i].easy);
		curl_easy_cleanup(probes[i].easy);
		probes[i].easy = NULL;
	}
	curl_multi_cleanup(multi);
}

static void
apply_probes_locked(struct edges *e, const struct probe *probes, size_t n)
{
	int64_t now = time_now_us();

	for (size_t i = 0; i < n; i++) {
		struct edge *ed = find_locked(e, probes[i].id, NULL);
		metric_inc(probes[i].ok ? e->probes_ok : e->probes_fail);
		if (ed == NULL || strcmp(ed->url, probes[i].url) != 0)
			continue;
		ed->last_probe_us = now;
		if (probes[i].ok) {
			if (!ed->probed_ok || ed->fails >= EDGE_PROBE_FAILS)
				log_info("edge \"%s\" (%s) answers its probe", ed->id, ed->url);
			ed->probed_ok = true;
			ed->fails = 0;
		} else {
			ed->fails++;
			if (ed->fails == EDGE_PROBE_FAILS)
				log_warn("edge \"%s\" (%s): %u probes failed in a row; unhealthy",
				         ed->id, ed->url, ed->fails);
		}
	}
}

static void
deadline_after(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void *
prober_main(void *arg)
{
	struct edges *e = arg;
	struct probe *probes = calloc(EDGES_MAX, sizeof(*probes));

	if (probes == NULL) {
		log_error("edge prober: out of memory; edges are never probed");
		return NULL;
	}
	pthread_mutex_lock(&e->mu);
	while (!e->stop) {
		struct timespec ts;
		size_t n = 0;
		for (size_t i = 0; i < e->n; i++) {
			memcpy(probes[n].id, e->list[i].id, sizeof(probes[n].id));
			memcpy(probes[n].url, e->list[i].url, sizeof(probes[n].url));
			n++;
		}
		e->wake = false;
		pthread_mutex_unlock(&e->mu);
		if (n > 0)
			probe_all(e, probes, n);
		pthread_mutex_lock(&e->mu);
		apply_probes_locked(e, probes, n);
		recompute_locked(e);
		deadline_after(&ts, e->interval_us);
		while (!e->stop && !e->wake) {
			if (pthread_cond_timedwait(&e->cv, &e->mu, &ts) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&e->mu);
	free(probes);
	return NULL;
}

int
edges_start(struct edges *e)
{
	int rc = pthread_create(&e->thread, NULL, prober_main, e);

	if (rc != 0)
		return -rc;
	e->started = true;
	return 0;
}

void
edges_free(struct edges **pe)
{
	struct edges *e;

	if (pe == NULL || *pe == NULL)
		return;
	e = *pe;
	if (e->started) {
		pthread_mutex_lock(&e->mu);
		e->stop = true;
		pthread_cond_broadcast(&e->cv);
		pthread_mutex_unlock(&e->mu);
		pthread_join(e->thread, NULL);
	}
	steer_free(&e->steer);
	pthread_cond_destroy(&e->cv);
	pthread_mutex_destroy(&e->mu);
	free(e);
	*pe = NULL;
}

int
edges_register(struct edges *e, const char *id, const char *url, uint64_t capacity,
               bool *created)
{
	char norm[STEER_URL_MAX + 1];
	struct edge copy;
	int rc;

	if (!edges_valid_id(id) || edges_valid_url(url, norm, sizeof(norm)) != 0 || capacity == 0 ||
	    capacity > EDGE_CAPACITY_MAX)
		return -EINVAL;
	pthread_mutex_lock(&e->mu);
	rc = insert_locked(e, id, norm, capacity, false, created, &copy);
	if (rc == 0) {
		recompute_locked(e);
		e->wake = true;
		pthread_cond_broadcast(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == 0) {
		log_info("edge \"%s\" %s at %s (capacity %" PRIu64 ")", id,
		         created && *created ? "registered" : "re-registered", norm, capacity);
		persist(e, &copy);
	}
	return rc;
}

int
edges_heartbeat(struct edges *e, const char *id, const struct edge_load *l)
{
	struct edge *ed;
	int rc = -ENOENT;

	pthread_mutex_lock(&e->mu);
	ed = find_locked(e, id, NULL);
	if (ed != NULL) {
		bool was_stale = hb_stale(e, ed, time_mono_us());
		ed->hb_ever = true;
		ed->last_hb_mono = time_mono_us();
		ed->last_hb_us = time_now_us();
		ed->load = *l;
		if (was_stale)
			log_info("edge \"%s\" heartbeats again", id);
		recompute_locked(e);
		rc = 0;
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == 0)
		metric_inc(e->heartbeats);
	return rc;
}

int
edges_drain(struct edges *e, const char *id)
{
	struct edge *ed, copy;
	int rc = -ENOENT;

	pthread_mutex_lock(&e->mu);
	ed = find_locked(e, id, NULL);
	if (ed != NULL) {
		ed->draining = true;
		copy = *ed;
		recompute_locked(e);
		rc = 0;
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == 0) {
		log_info("edge \"%s\" draining", id);
		persist(e, &copy);
	}
	return rc;
}

int
edges_remove(struct edges *e, const char *id)
{
	char key[EDGE_META_KEY_MAX];
	size_t pos;
	int rc = -ENOENT;

	if (!edges_valid_id(id))
		return -EINVAL;
	pthread_mutex_lock(&e->mu);
	if (find_locked(e, id, &pos) != NULL) {
		memmove(&e->list[pos], &e->list[pos + 1], (e->n - pos - 1) * sizeof(e->list[0]));
		e->n--;
		recompute_locked(e);
		rc = 0;
	}
	pthread_mutex_unlock(&e->mu);
	if (rc == 0) {
		int mrc;
		log_info("edge \"%s\" drained and removed", id);
		snprintf(key, sizeof(key), EDGE_META_PREFIX "%s", id);
		mrc = store_meta_del(e->store, key);
		if (mrc != 0 && mrc != -ENOENT)
			log_error("forget edge \"%s\" in the store: %s", id, strerror(-mrc));
	}
	return rc;
}

static json_t *
time_or_null(int64_t us)
{
	char buf[TIME_RFC3339_LEN];

	if (us == 0 || time_format_rfc3339(us, buf, sizeof(buf)) != 0)
		return json_null();
	return json_string(buf);
}

int
edges_list_json(struct edges *e, char **out, size_t *len)
{
	json_t *arr = json_array();
	int64_t now = time_mono_us();
	char *text;
	int rc = -ENOMEM;

	*out = NULL;
	if (arr == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->n; i++) {
		const struct edge *ed = &e->list[i];
		const char *state = ed->draining ? "draining" : ed->healthy ? "healthy" : "unhealthy";
		json_t *o = json_pack(
			"{s:s,s:s,s:b,s:b,s:s,s:f,s:I,s:f,s:f,s:f,s:f,s:o,s:o,s:I,s:b,s:b}",
			"id", ed->id, "url", ed->url, "healthy", ed->healthy && !ed->draining,
			"draining", ed->draining, "state", state, "load", ed->load.load,
			"capacity", (json_int_t)ed->capacity, "weight", edge_weight(ed),
			"connections", ed->load.connections, "bytes_per_sec", ed->load.bytes_per_sec,
			"hit_ratio", ed->load.hit_ratio, "last_heartbeat",
			time_or_null(ed->hb_ever ? ed->last_hb_us : 0), "last_probe",
			time_or_null(ed->last_probe_us), "probe_failures", (json_int_t)ed->fails,
			"probed", ed->probed_ok, "heartbeat_stale", hb_stale(e, ed, now));
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto unlock;
	}
	rc = 0;
unlock:
	pthread_mutex_unlock(&e->mu);
	if (rc == 0) {
		text = json_dumps(arr, JSON_COMPACT);
		if (text == NULL) {
			rc = -ENOMEM;
		} else {
			*out = text;
			*len = strlen(text);
		}
	}
	json_decref(arr);
	return rc;
}

struct pick_count {
	const char *id;                     /* points into a snapshot (under mu) */
	char copy[STEER_ID_MAX + 1];
	uint64_t count;
};

static void
count_pick(struct pick_count *pc, size_t *npc, const char *id, uint64_t k)
{
	for (size_t i = 0; i < *npc; i++) {
		if (strcmp(pc[i].id, id) == 0) {
			pc[i].count += k;
			return;
		}
	}
	if (*npc >= EDGE_DISTINCT_MAX)
		return;
	pc[*npc].id = id;
	pc[*npc].count = k;
	(*npc)++;
}

int
edges_segment_uris(struct edges *e, const char *track, const struct store_record *recs,
                   size_t n, const char *viewer, const char *pin, const char *origin_base,
                   char ***out)
{
	const struct steer_snap **snaps = NULL;
	const char **bases = NULL;
	uint64_t *seqs = NULL;
	struct pick_count pc[EDGE_DISTINCT_MAX];
	size_t npc = 0, total = 0, olen = strlen(origin_base);
	char **uris = NULL, *p;
	int rc = -ENOMEM;

	*out = NULL;
	snaps = calloc(n ? n : 1, sizeof(*snaps));
	bases = calloc(n ? n : 1, sizeof(*bases));
	seqs = calloc(n ? n : 1, sizeof(*seqs));
	if (snaps == NULL || bases == NULL || seqs == NULL)
		goto out;
	for (size_t i = 0; i < n; i++)
		seqs[i] = recs[i].seq;
	pthread_mutex_lock(&e->mu);
	rc = steer_resolve(e->steer, track, seqs, n, snaps);
	if (rc != 0)
		goto unlock;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && snaps[i] == snaps[i - 1]) {
			bases[i] = bases[i - 1];
		} else {
			const struct steer_edge *se = steer_choose(snaps[i], viewer, pin);
			bases[i] = se != NULL ? se->url : NULL;
		}
		total += (bases[i] != NULL ? strlen(bases[i]) : olen) + EDGE_SEG_PATH_LEN + 1;
	}
	rc = -ENOMEM;
	uris = malloc(n * sizeof(*uris) + total + 1);
	if (uris == NULL)
		goto unlock;
	p = (char *)(uris + n);
	for (size_t i = 0; i < n; i++) {
		const char *b = bases[i] != NULL ? bases[i] : origin_base;
		int w = snprintf(p, total + 1, "%s/seg/%s.ts", b, recs[i].cid);
		uris[i] = p;
		p += w + 1;
		total -= (size_t)w + 1;
		count_pick(pc, &npc, bases[i] != NULL ? bases[i] : "", 1);
	}
	/* map each counted base URL back to its edge id (or "origin") */
	for (size_t i = 0; i < npc; i++) {
		const char *id = "origin";
		for (size_t j = 0; j < n && pc[i].id[0] != '\0'; j++) {
			if (bases[j] == pc[i].id) {
				const struct steer_snap *s = snaps[j];
				for (size_t k = 0; k < s->n; k++) {
					if (s->edges[k].url == bases[j])
						id = s->edges[k].id;
				}
				break;
			}
		}
		snprintf(pc[i].copy, sizeof(pc[i].copy), "%s", id);
	}
	rc = 0;
unlock:
	pthread_mutex_unlock(&e->mu);
	if (rc == 0) {
		for (size_t i = 0; i < npc; i++) {
			char labels[STEER_ID_MAX + 16];
			snprintf(labels, sizeof(labels), "edge=\"%s\"", pc[i].copy);
			metric_add(metrics_counter(e->metrics, "sluice_origin_steering_decisions_total",
			                           "Segment URIs listed, by edge chosen", labels),
			           (double)pc[i].count);
		}
		*out = uris;
		uris = NULL;
	}
out:
	free(uris);
	free(seqs);
	free(bases);
	free(snaps);
	return rc;
}

int
edges_snapshots(struct edges *e, const char *track, const struct store_record *recs, size_t n,
                const struct steer_snap **snaps)
{
	uint64_t *seqs = calloc(n ? n : 1, sizeof(*seqs));
	int rc;

	if (seqs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		seqs[i] = recs[i].seq;
	pthread_mutex_lock(&e->mu);
	rc = steer_resolve(e->steer, track, seqs, n, snaps);
	if (rc == 0) {
		for (size_t i = 0; i < n; i++)
			steer_snap_ref(snaps[i]);
	}
	pthread_mutex_unlock(&e->mu);
	free(seqs);
	return rc;
}

void
edges_snaps_release(struct edges *e, const struct steer_snap **snaps, size_t n)
{
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < n; i++) {
		steer_snap_unref(snaps[i]);
		snaps[i] = NULL;
	}
	pthread_mutex_unlock(&e->mu);
}

struct metric *
edges_decision_metric(struct edges *e, const char *edge_id)
{
	char labels[STEER_ID_MAX + 16];

	snprintf(labels, sizeof(labels), "edge=\"%s\"", edge_id != NULL ? edge_id : "origin");
	return metrics_counter(e->metrics, "sluice_origin_steering_decisions_total",
	                       "Segment URIs listed, by edge chosen", labels);
}

int
edges_alternates(struct edges *e, const char *viewer, char ids[][STEER_ID_MAX + 1], size_t k,
                 size_t *n)
{
	size_t order[EDGE_ALTERNATES_MAX + 1], m;

	if (k > EDGE_ALTERNATES_MAX)
		k = EDGE_ALTERNATES_MAX;
	*n = 0;
	pthread_mutex_lock(&e->mu);
	{
		const struct steer_snap *s = steer_current(e->steer);
		m = steer_rank(s->edges, s->n, viewer, order, k + 1);
		for (size_t i = 1; i < m; i++) {
			memcpy(ids[*n], s->edges[order[i]].id, STEER_ID_MAX + 1);
			(*n)++;
		}
	}
	pthread_mutex_unlock(&e->mu);
	return 0;
}
