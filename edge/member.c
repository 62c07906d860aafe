/*
 * member.c — the membership thread.
 *
 * Model: one thread with one curl easy handle. State: registered or not.
 * The thread sleeps on a condition variable (CLOCK_MONOTONIC) so that
 * member_stop() wakes it at once. Only the thread touches the curl handle;
 * the final DELETE runs on the caller after the thread has been joined.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "edge/member.h"

struct member {
	struct member_config cfg;
	char *origin, *advertise, *id, *token, *id_esc;
	CURL *h;
	pthread_t thr;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool registered;
	uint64_t last_bytes;
	uint64_t last_hits, last_misses;
	int64_t last_us;
	uint64_t rnd;
};

static size_t
discard(char *p, size_t sz, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return sz * n;
}

/* HTTP request; returns the status code, or negative errno on transport failure. */
static long
do_http(struct member *m, const char *method, const char *path, const char *body)
{
	char url[1024];
	char auth[512];
	struct curl_slist *hdrs = NULL;
	long code = 0;

	snprintf(url, sizeof(url), "%s%s", m->origin, path);
	curl_easy_reset(m->h);
	curl_easy_setopt(m->h, CURLOPT_URL, url);
	curl_easy_setopt(m->h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(m->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(m->h, CURLOPT_TIMEOUT_MS, MEMBER_HTTP_TIMEOUT_MS);
	curl_easy_setopt(m->h, CURLOPT_CONNECTTIMEOUT_MS, MEMBER_HTTP_TIMEOUT_MS);
	curl_easy_setopt(m->h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(m->h, CURLOPT_USERAGENT, "sluice-edge");
	if (body) {
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(m->h, CURLOPT_POSTFIELDS, body);
	}
	if (m->token && m->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", m->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	if (hdrs)
		curl_easy_setopt(m->h, CURLOPT_HTTPHEADER, hdrs);
	CURLcode rc = curl_easy_perform(m->h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(m->h, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hdrs);
	if (rc != CURLE_OK) {
		log_debug("%s \"%s\": %s", method, url, curl_easy_strerror(rc));
		return -EIO;
	}
	return code;
}

static int
do_register(struct member *m)
{
	json_t *o = json_pack("{s:s,s:s,s:I}", "id", m->id, "url", m->advertise, "capacity",
	                      (json_int_t)m->cfg.capacity);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (body == NULL)
		return -ENOMEM;
	long code = do_http(m, "POST", "/api/v1/edges", body);
	free(body);
	if (code >= 200 && code < 300)
		return 0;
	return code < 0 ? (int)code : -EPROTO;
}

static long
do_heartbeat(struct member *m)
{
	struct edge_server_stats st;
	char path[512];
	int64_t now = time_mono_us();

	edge_server_stats(m->cfg.server, &st);
	double secs = (double)(now - m->last_us) / 1e6;
	double bps = secs > 0 ? (double)(st.bytes_sent - m->last_bytes) / secs : 0;
	uint64_t dh = st.hits - m->last_hits, dm = st.misses - m->last_misses;
	double ratio =
	        dh + dm ? (double)dh / (double)(dh + dm)
	                : (st.hits + st.misses ? (double)st.hits / (double)(st.hits + st.misses)
	                                       : 0.0);
	m->last_us = now;
	m->last_bytes = st.bytes_sent;
	m->last_hits = st.hits;
	m->last_misses = st.misses;
	json_t *o =
	        json_pack("{s:I,s:I,s:f,s:f}", "load", (json_int_t)st.connections, "connections",
	                  (json_int_t)st.connections, "bytes_per_sec", bps, "hit_ratio", ratio);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (body == NULL)
		return -ENOMEM;
	snprintf(path, sizeof(path), "/api/v1/edges/%s/heartbeat", m->id_esc);
	long code = do_http(m, "PUT", path, body);
	free(body);
	return code;
}

/* Sleep up to us; true when asked to stop. */
static bool
wait_stop(struct member *m, int64_t us)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = ts.tv_nsec + (us % 1000000) * 1000;
	ts.tv_sec += (time_t)(us / 1000000 + ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		if (pthread_cond_timedwait(&m->cv, &m->mu, &ts) == ETIMEDOUT)
			break;
	}
	bool stop = m->stop;
	pthread_mutex_unlock(&m->mu);
	return stop;
}

static int64_t
jitter(struct member *m, int64_t us)
{
	m->rnd = m->rnd * 6364136223846793005ULL + 1442695040888963407ULL;
	int64_t j = (int64_t)((m->rnd >> 33) % (uint64_t)(us / 4 + 1));
	return us - us / 8 + j;
}

static void *
member_main(void *arg)
{
	struct member *m = arg;
	int64_t backoff = MEMBER_BACKOFF_MIN_US;
	unsigned failures = 0;

	pthread_setname_np(pthread_self(), "edge-member");
	for (;;) {
		if (!m->registered) {
			int rc = do_register(m);
			if (rc == 0) {
				m->registered = true;
				backoff = MEMBER_BACKOFF_MIN_US;
				m->last_us = time_mono_us();
				log_info("registered at origin \"%s\" as \"%s\" (url=%s "
				         "capacity=%ld)",
				         m->origin, m->id, m->advertise, m->cfg.capacity);
				failures = 0;
				continue;
			}
			if (failures++ % 10 == 0)
				log_warn("register at origin \"%s\": %s; retrying (attempt %u)",
				         m->origin, rc == -EPROTO ? "rejected" : strerror(-rc),
				         failures);
			if (wait_stop(m, jitter(m, backoff)))
				break;
			backoff = backoff * 2 > MEMBER_BACKOFF_MAX_US ? MEMBER_BACKOFF_MAX_US
			                                              : backoff * 2;
			continue;
		}
		if (wait_stop(m, MEMBER_HEARTBEAT_US))
			break;
		long code = do_heartbeat(m);
		if (code == 404) {
			log_warn("heartbeat: origin \"%s\" does not know \"%s\"; registering again",
			         m->origin, m->id);
			m->registered = false;
		} else if (code < 200 || code >= 300) {
			log_debug("heartbeat to \"%s\": %ld", m->origin, code);
		}
	}
	return NULL;
}

static void
member_free(struct member *m)
{
	if (m->h)
		curl_easy_cleanup(m->h);
	curl_free(m->id_esc);
	free(m->origin);
	free(m->advertise);
	free(m->id);
	free(m->token);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int
member_start(const struct member_config *cfg, struct member **out)
{
	struct member *m = calloc(1, sizeof(*m));
	pthread_condattr_t ca;
	int rc = 0;

	if (m == NULL)
		return -ENOMEM;
	m->cfg = *cfg;
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	m->origin = strdup(cfg->origin);
	m->advertise = strdup(cfg->advertise);
	m->id = strdup(cfg->id);
	m->token = cfg->token ? strdup(cfg->token) : NULL;
	m->h = curl_easy_init();
	m->rnd = (uint64_t)time_now_us();
	if (!m->origin || !m->advertise || !m->id || (cfg->token && !m->token) || !m->h) {
		rc = -ENOMEM;
		goto fail;
	}
	size_t ol = strlen(m->origin);
	while (ol > 0 && m->origin[ol - 1] == '/')
		m->origin[--ol] = '\0';
	m->id_esc = curl_easy_escape(m->h, m->id, 0);
	if (m->id_esc == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&m->thr, NULL, member_main, m);
	if (rc != 0)
		goto fail;
	m->started = true;
	*out = m;
	return 0;
fail:
	member_free(m);
	return rc;
}

void
member_stop(struct member **mp)
{
	struct member *m = *mp;
	char path[512];

	if (m == NULL)
		return;
	*mp = NULL;
	if (m->started) {
		pthread_mutex_lock(&m->mu);
		m->stop = true;
		pthread_cond_signal(&m->cv);
		pthread_mutex_unlock(&m->mu);
		pthread_join(m->thr, NULL);
	}
	snprintf(path, sizeof(path), "/api/v1/edges/%s", m->id_esc);
	long code = do_http(m, "DELETE", path, NULL);
	if (code >= 200 && code < 300)
		log_info("deregistered \"%s\" at origin \"%s\"", m->id, m->origin);
	else if (m->registered)
		log_warn("deregister \"%s\" at origin \"%s\": %ld", m->id, m->origin, code);
	member_free(m);
}
