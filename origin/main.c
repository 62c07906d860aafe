/*
 * main.c — bin/sluice-origin: flags, start-up, signal wait, shutdown.
 *
 *   sluice-origin --listen ADDR:PORT --store DIR [--token T] [--pull-from URL]...
 *                 [--window N] [--health-interval 1s] [--web-dir DIR]
 *                 [--max-range 24h] [--public-url URL] [--max-conns N]
 *                 [--threads N]
 *
 * Model: main builds the origin context (store, metrics, discontinuity
 * cache, edge registry + prober thread), starts the HTTP daemon, then waits
 * in sigwait() for SIGINT/SIGTERM (blocked in every thread). Shutdown runs
 * in reverse order and frees everything. Exit 0 on a clean stop, 1 on a
 * start-up failure, 2 on bad usage.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "origin/disc.h"
#include "origin/edges.h"
#include "origin/live.h"
#include "origin/longpoll.h"
#include "origin/origin.h"
#include "origin/server.h"
#include "store/replicate.h"
#include "store/store.h"

#define ORIGIN_LISTEN_DFL   "0.0.0.0:8080"
#define ORIGIN_HEALTH_DFL   "1s"
#define ORIGIN_HEALTH_MIN   (50LL * 1000)
#define ORIGIN_HEALTH_MAX   (3600LL * 1000000)
#define ORIGIN_URL_MAX      255
#define ORIGIN_PULL_MAX     16          /* --pull-from peers */

enum {
	OPT_LISTEN = 1, OPT_STORE, OPT_TOKEN, OPT_PULL, OPT_WINDOW, OPT_HEALTH, OPT_WEB,
	OPT_RANGE, OPT_PUBLIC, OPT_CONNS, OPT_THREADS, OPT_HELP,
};

static const struct option options[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "pull-from", required_argument, NULL, OPT_PULL },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "health-interval", required_argument, NULL, OPT_HEALTH },
	{ "web-dir", required_argument, NULL, OPT_WEB },
	{ "max-range", required_argument, NULL, OPT_RANGE },
	{ "public-url", required_argument, NULL, OPT_PUBLIC },
	{ "max-conns", required_argument, NULL, OPT_CONNS },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice-origin --store DIR [--listen ADDR:PORT] [--token T]\n"
	        "                     [--pull-from URL]... [--window N] [--health-interval 1s]\n"
	        "                     [--web-dir DIR] [--max-range 24h] [--public-url URL]\n"
	        "                     [--max-conns N] [--threads N]\n"
	        "  --listen           default " ORIGIN_LISTEN_DFL "\n"
	        "  --token            bearer token for mutating endpoints (or SLUICE_TOKEN)\n"
	        "  --window           live playlist segments (default 6)\n"
	        "  --web-dir          player files (default SLUICE_WEB_DIR, else next to bin/)\n"
	        "  --public-url       base of the origin's own /seg URIs (default from Host)\n"
	        "  --threads          HTTP event-loop threads (default: one per core)\n");
}

static bool
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --web-dir, SLUICE_WEB_DIR, or origin/web relative to the executable. */
static void
find_web_dir(const char *flag, char *out, size_t len)
{
	static const char *const rel[] = { "../origin/web", "../../../origin/web",
	                                   "../../origin/web" };
	char exe[PATH_MAX], cand[PATH_MAX + 32];
	const char *v = flag_or_env(flag, "SLUICE_WEB_DIR", NULL);
	ssize_t n;

	if (v != NULL) {
		snprintf(out, len, "%s", v);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		snprintf(out, len, "origin/web");
		return;
	}
	exe[n] = '\0';
	dirname(exe);
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		int w = snprintf(cand, sizeof(cand), "%s/%s", exe, rel[i]);
		if (w > 0 && (size_t)w < len && is_dir(cand)) {
			memcpy(out, cand, (size_t)w + 1);
			return;
		}
	}
	if (snprintf(cand, sizeof(cand), "%s/%s", exe, rel[0]) < (int)len)
		memcpy(out, cand, strlen(cand) + 1);
	else
		snprintf(out, len, "origin/web");
}

static unsigned
default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > SERVER_THREADS_MAX ? SERVER_THREADS_MAX : (unsigned)n;
}

static void
register_metrics(struct origin *o)
{
	static const double bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	                                 0.25, 0.5, 1, 2.5 };
	static const char *const kinds[] = { "master", "live", "dvr", "replay" };
	char labels[32];

	for (size_t i = 0; i < 4; i++) {
		snprintf(labels, sizeof(labels), "kind=\"%s\"", kinds[i]);
		o->playlist_seconds[i] = metrics_histogram(
			o->metrics, "sluice_origin_playlist_seconds",
			"Time to build a playlist", labels, bounds, sizeof(bounds) / sizeof(bounds[0]));
	}
	o->seg_bytes = metrics_counter(o->metrics, "sluice_origin_segment_bytes_total",
	                               "Segment and blob bytes sent", NULL);
	o->changes_waits = metrics_counter(o->metrics, "sluice_origin_changes_long_polls_total",
	                                   "Change-feed requests that waited", NULL);
	o->body_too_large = metrics_counter(o->metrics, "sluice_origin_body_too_large_total",
	                                    "Request bodies refused for size", NULL);
	metric_set(metrics_gauge(o->metrics, "sluice_origin_up", "1 while the origin runs", NULL),
	           1);
}

int
main(int argc, char **argv)
{
	const char *listen = ORIGIN_LISTEN_DFL, *store_dir = NULL, *token = NULL;
	const char *health = ORIGIN_HEALTH_DFL, *web_flag = NULL, *range = NULL;
	const char *public_url = NULL;
	char web_dir[PATH_MAX], public_buf[ORIGIN_URL_MAX + 1];
	struct origin o;
	struct MHD_Daemon *d = NULL;
	sigset_t sigs;
	long long v;
	const char *pull_from[ORIGIN_PULL_MAX];
	struct repl *pullers[ORIGIN_PULL_MAX] = { NULL };
	size_t npull = 0;
	int opt, sig = 0, rc, status = 1;

	log_init("sluice-origin", LOG_INFO);
	memset(&o, 0, sizeof(o));
	o.conf.window = ORIGIN_WINDOW_DFL;
	o.conf.max_range_us = ORIGIN_MAX_RANGE_US;
	o.conf.threads_max = SERVER_CONNS_DFL;
	o.conf.threads = default_threads();
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN: listen = optarg; break;
		case OPT_STORE: store_dir = optarg; break;
		case OPT_TOKEN: token = optarg; break;
		case OPT_PULL:
			if (npull >= ORIGIN_PULL_MAX || !repl_is_url(optarg)) {
				fprintf(stderr, "sluice-origin: --pull-from: at most %d http(s) URLs\n",
				        ORIGIN_PULL_MAX);
				return 2;
			}
			pull_from[npull++] = optarg;
			break;
		case OPT_WINDOW:
			if (flag_int(optarg, 1, ORIGIN_WINDOW_MAX, &v) != 0) {
				fprintf(stderr, "sluice-origin: --window: 1..%d\n", ORIGIN_WINDOW_MAX);
				return 2;
			}
			o.conf.window = (size_t)v;
			break;
		case OPT_HEALTH: health = optarg; break;
		case OPT_WEB: web_flag = optarg; break;
		case OPT_RANGE: range = optarg; break;
		case OPT_PUBLIC: public_url = optarg; break;
		case OPT_CONNS:
			if (flag_int(optarg, 4, 65536, &v) != 0) {
				fprintf(stderr, "sluice-origin: --max-conns: 4..65536\n");
				return 2;
			}
			o.conf.threads_max = (unsigned)v;
			break;
		case OPT_THREADS:
			if (flag_int(optarg, 1, SERVER_THREADS_MAX, &v) != 0) {
				fprintf(stderr, "sluice-origin: --threads: 1..%d\n", SERVER_THREADS_MAX);
				return 2;
			}
			o.conf.threads = (unsigned)v;
			break;
		case OPT_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || store_dir == NULL) {
		fprintf(stderr, "sluice-origin: %s\n",
		        store_dir == NULL ? "--store DIR is required" : "unexpected argument");
		usage(stderr);
		return 2;
	}
	if (flag_hostport(listen, o.conf.host, sizeof(o.conf.host), &o.conf.port, 0) != 0) {
		fprintf(stderr, "sluice-origin: --listen \"%s\": want ADDR:PORT\n", listen);
		return 2;
	}
	if (duration_parse(health, &o.conf.health_interval_us) != 0 ||
	    o.conf.health_interval_us < ORIGIN_HEALTH_MIN ||
	    o.conf.health_interval_us > ORIGIN_HEALTH_MAX) {
		fprintf(stderr, "sluice-origin: --health-interval \"%s\": 50ms..1h\n", health);
		return 2;
	}
	if (range != NULL && (duration_parse(range, &o.conf.max_range_us) != 0 ||
	                      o.conf.max_range_us <= 0)) {
		fprintf(stderr, "sluice-origin: --max-range \"%s\": want a duration\n", range);
		return 2;
	}
	if (public_url != NULL) {
		size_t n = strlen(public_url);
		if (n == 0 || n > ORIGIN_URL_MAX ||
		    (strncmp(public_url, "http://", 7) != 0 && strncmp(public_url, "https://", 8) != 0)) {
			fprintf(stderr, "sluice-origin: --public-url: want http(s)://host[:port]\n");
			return 2;
		}
		memcpy(public_buf, public_url, n + 1);
		while (n > 0 && public_buf[n - 1] == '/')
			public_buf[--n] = '\0';
		o.conf.public_url = public_buf;
	}
	o.conf.token = flag_or_env(token, "SLUICE_TOKEN", NULL);
	if (o.conf.token != NULL && o.conf.token[0] == '\0')
		o.conf.token = NULL;
	find_web_dir(web_flag, web_dir, sizeof(web_dir));
	o.conf.web_dir = web_dir;
	o.conf.store_dir = store_dir;

	/* Signals: handled by sigwait() here only; SIGPIPE ignored. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("libcurl: global init failed");
		return 1;
	}
	rc = store_open(store_dir, STORE_OPEN_CREATE, &o.store);
	if (rc != 0) {
		log_error("open store \"%s\": %s", store_dir, strerror(-rc));
		goto out;
	}
	rc = metrics_new(&o.metrics);
	if (rc != 0)
		goto out;
	register_metrics(&o);
	rc = disc_new(o.store, &o.disc);
	if (rc != 0)
		goto out;
	rc = edges_new(o.store, o.metrics, o.conf.health_interval_us, &o.edges);
	if (rc != 0)
		goto out;
	rc = livecache_new(&o, &o.live);
	if (rc != 0)
		goto out;
	rc = longpoll_new(o.store, &o.longpoll);
	if (rc != 0)
		goto out;
	rc = edges_start(o.edges);
	if (rc != 0) {
		log_error("start edge prober: %s", strerror(-rc));
		goto out;
	}
	rc = server_start(&o, &d);
	if (rc != 0)
		goto out;
	for (size_t i = 0; i < npull; i++) {
		struct repl_conf rc_pull = { .src = pull_from[i], .dst = store_dir,
		                             .dst_store = o.store, .token = o.conf.token,
		                             .follow = true, .metrics = o.metrics };
		rc = repl_new(&rc_pull, &pullers[i]);
		if (rc == 0)
			rc = repl_start(pullers[i]);
		if (rc != 0) {
			log_error("--pull-from \"%s\": %s", pull_from[i], strerror(-rc));
			goto out;
		}
		log_info("pulling from %s", pull_from[i]);
	}
	log_info("listening on http://%s:%u (store %s, web %s%s)", o.conf.host,
	         (unsigned)o.conf.port, store_dir, web_dir, o.conf.token ? ", token set" : "");
	do {
		if (sigwait(&sigs, &sig) != 0)
			sig = 0;
	} while (sig != SIGINT && sig != SIGTERM);
	log_info("signal %d: shutting down", sig);
	status = 0;
out:
	o.stopping = 1;
	for (size_t i = 0; i < npull; i++)
		if (pullers[i] != NULL)
			repl_stop(pullers[i]);    /* all at once; repl_free joins */
	for (size_t i = 0; i < npull; i++)
		repl_free(&pullers[i]);
	longpoll_stop(o.longpoll);          /* parked long polls answer now */
	server_stop(&d);
	longpoll_free(&o.longpoll);
	livecache_free(&o.live);            /* releases steering snapshots: before edges */
	edges_free(&o.edges);
	disc_free(&o.disc);
	metrics_free(&o.metrics);
	store_close(&o.store);
	curl_global_cleanup();
	return status;
}
