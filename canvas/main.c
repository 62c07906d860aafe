/*
 * main.c — bin/sluice-canvas: a Pixelflut canvas served as a live stream.
 *
 * Wiring: framebuffer (fb.h) <- Pixelflut ring threads (server.h);
 * framebuffer -> encoder thread -> store (stream.h); HTTP snapshot/metrics
 * (http.h); optional --push-to replicator (store/replicate.h). The main
 * thread blocks SIGTERM/SIGINT before any thread starts and waits for them
 * with sigwait(); then it stops the server, lets the encoder store its open
 * segment, drains the pusher and exits 0.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libavutil/log.h>

#include "canvas/fb.h"
#include "canvas/http.h"
#include "canvas/image.h"
#include "canvas/server.h"
#include "canvas/stream.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "store/replicate.h"
#include "store/store.h"

#define HOST_MAX 64
#define SIZE_ARG_MAX 32
#define DEFAULT_LISTEN "0.0.0.0:1234"
#define DEFAULT_HTTP "0.0.0.0:8083"
#define DEFAULT_W 1920
#define DEFAULT_H 1080
#define DEFAULT_FPS 30
#define DEFAULT_SEGMENT_US (2 * 1000000LL)
#define MIN_SEGMENT_US (100 * 1000LL)
#define MAX_SEGMENT_US (60 * 1000000LL)
#define DEFAULT_MAX_PER_IP 10
#define MAX_PER_IP 100000
#define DEFAULT_WIPE_US (3600 * 1000000LL)
#define PUSH_DRAIN_US (30 * 1000000LL)

struct opts {
	const char *listen, *store, *http, *stream, *wipe_image, *push_to;
	uint32_t w, h;
	int fps, threads, max_per_ip;
	int64_t segment_us, wipe_us;
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: sluice-canvas --listen ADDR:PORT --store DIR [--http ADDR:PORT] "
	        "[--size 1920x1080] [--fps 30] [--stream canvas] [--segment 2s] "
	        "[--max-conns-per-ip 10] [--wipe-every 1h] [--wipe-image FILE] "
	        "[--push-to URL] [--threads N]\n");
}

static int
parse_size(const char *s, uint32_t *w, uint32_t *h)
{
	char a[SIZE_ARG_MAX];
	const char *x = strchr(s, 'x');
	long long vw, vh;
	size_t n;

	if (x == NULL || (n = (size_t)(x - s)) == 0 || n >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, n);
	a[n] = '\0';
	if (flag_int(a, 2, FB_MAX_DIM, &vw) < 0 || flag_int(x + 1, 2, FB_MAX_DIM, &vh) < 0)
		return -EINVAL;
	*w = (uint32_t)vw;
	*h = (uint32_t)vh;
	return 0;
}

static int
bad(const char *flag, const char *v)
{
	log_error("bad %s \"%s\"", flag, v);
	return -EINVAL;
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "store", required_argument, NULL, 's' },
		{ "http", required_argument, NULL, 'H' },
		{ "size", required_argument, NULL, 'z' },
		{ "fps", required_argument, NULL, 'f' },
		{ "stream", required_argument, NULL, 'n' },
		{ "segment", required_argument, NULL, 'g' },
		{ "max-conns-per-ip", required_argument, NULL, 'm' },
		{ "wipe-every", required_argument, NULL, 'w' },
		{ "wipe-image", required_argument, NULL, 'i' },
		{ "push-to", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	long long v;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	o->listen = DEFAULT_LISTEN;
	o->http = DEFAULT_HTTP;
	o->stream = "canvas";
	o->w = DEFAULT_W;
	o->h = DEFAULT_H;
	o->fps = DEFAULT_FPS;
	o->segment_us = DEFAULT_SEGMENT_US;
	o->max_per_ip = DEFAULT_MAX_PER_IP;
	o->wipe_us = DEFAULT_WIPE_US;
	o->threads = ncpu < 1 ? 1 : ncpu > CANVAS_THREADS_MAX ? CANVAS_THREADS_MAX : (int)ncpu;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 's': o->store = optarg; break;
		case 'H': o->http = optarg; break;
		case 'n':
			if (flag_stream_name(optarg) < 0)
				return bad("--stream", optarg);
			o->stream = optarg;
			break;
		case 'z':
			if (parse_size(optarg, &o->w, &o->h) < 0)
				return bad("--size", optarg);
			break;
		case 'f':
			if (flag_int(optarg, 1, CANVAS_FPS_MAX, &v) < 0)
				return bad("--fps", optarg);
			o->fps = (int)v;
			break;
		case 'g':
			if (duration_parse(optarg, &o->segment_us) < 0 ||
			    o->segment_us < MIN_SEGMENT_US || o->segment_us > MAX_SEGMENT_US)
				return bad("--segment", optarg);
			break;
		case 'm':
			if (flag_int(optarg, 1, MAX_PER_IP, &v) < 0)
				return bad("--max-conns-per-ip", optarg);
			o->max_per_ip = (int)v;
			break;
		case 'w':
			if (duration_parse(optarg, &o->wipe_us) < 0 || o->wipe_us < 0)
				return bad("--wipe-every", optarg);
			break;
		case 'i': o->wipe_image = optarg; break;
		case 'p': o->push_to = optarg; break;
		case 't':
			if (flag_int(optarg, 1, CANVAS_THREADS_MAX, &v) < 0)
				return bad("--threads", optarg);
			o->threads = (int)v;
			break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind != argc)
		return bad("argument", argv[optind]);
	if (o->store == NULL) {
		log_error("--store is required");
		return -EINVAL;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct metrics *m = NULL;
	struct store *st = NULL;
	struct fb *fb = NULL;
	struct canvas_server *srv = NULL;
	struct canvas_stream *cs = NULL;
	struct canvas_http *http = NULL;
	struct repl *pusher = NULL;
	uint32_t *wipe_px = NULL;
	struct canvas_server_config scfg;
	struct canvas_stream_config ccfg;
	char host[HOST_MAX], hhost[HOST_MAX];
	uint16_t port, hport;
	sigset_t set;
	int rc = 1, r, sig;
	bool curl_started = false;

	memset(&o, 0, sizeof(o));
	log_init("sluice-canvas", LOG_INFO);
	if (parse(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	if (flag_hostport(o.listen, host, sizeof(host), &port, 0) < 0) {
		log_error("bad --listen \"%s\"", o.listen);
		usage(stderr);
		return 2;
	}
	if (flag_hostport(o.http, hhost, sizeof(hhost), &hport, 0) < 0) {
		log_error("bad --http \"%s\"", o.http);
		usage(stderr);
		return 2;
	}
	av_log_set_level(AV_LOG_ERROR);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (metrics_new(&m) < 0 || fb_new(o.w, o.h, &fb) < 0) {
		log_error("out of memory");
		goto out;
	}
	if (o.wipe_image != NULL) {
		wipe_px = calloc((size_t)o.w * o.h, sizeof(uint32_t));
		if (wipe_px == NULL || image_load(o.wipe_image, o.w, o.h, wipe_px) < 0)
			goto out;
		fb_fill(fb, wipe_px);
	}
	r = store_open(o.store, STORE_OPEN_CREATE, &st);
	if (r < 0) {
		log_error("open store \"%s\": %s", o.store, strerror(-r));
		goto out;
	}
	if (o.push_to != NULL) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
			log_error("curl_global_init failed");
			goto out;
		}
		curl_started = true;
		if (repl_push_start(st, o.store, o.push_to, o.stream, m, &pusher) < 0)
			goto out;
	}
	memset(&scfg, 0, sizeof(scfg));
	scfg.host = host;
	scfg.port = port;
	scfg.threads = o.threads;
	scfg.max_conns_per_ip = o.max_per_ip;
	scfg.fb = fb;
	scfg.metrics = m;
	r = canvas_server_start(&scfg, &srv);
	if (r < 0) {
		log_error("pixelflut server on %s: %s", o.listen, strerror(-r));
		goto out;
	}
	r = canvas_http_start(hhost, hport, fb, m, srv, &http);
	if (r < 0)
		goto out;
	memset(&ccfg, 0, sizeof(ccfg));
	ccfg.store = st;
	ccfg.fb = fb;
	ccfg.metrics = m;
	ccfg.stream = o.stream;
	ccfg.fps = o.fps;
	ccfg.target_us = o.segment_us;
	ccfg.wipe_every_us = o.wipe_us;
	ccfg.wipe_px = wipe_px;
	r = canvas_stream_start(&ccfg, &cs);
	if (r < 0) {
		log_error("canvas stream: %s", strerror(-r));
		goto out;
	}
	log_info("pixelflut on %s:%u (%d threads, %ux%u), http on %s:%u, store %s", host,
	         (unsigned)port, o.threads, (unsigned)o.w, (unsigned)o.h, hhost, (unsigned)hport,
	         o.store);
	do {
		r = sigwait(&set, &sig);
	} while (r != 0);
	log_info("signal %d: finishing the current segment", sig);
	rc = 0;
	canvas_server_stop(&srv);
	if (canvas_stream_stop(&cs) < 0)
		rc = 1;
	if (pusher != NULL && repl_push_finish(pusher, PUSH_DRAIN_US) < 0)
		rc = 1;
	log_info("exiting with status %d", rc);
out:
	canvas_server_stop(&srv);
	canvas_stream_stop(&cs);
	canvas_http_stop(&http);
	repl_free(&pusher);
	if (curl_started)
		curl_global_cleanup();
	store_close(&st);
	free(wipe_px);
	fb_free(&fb);
	metrics_free(&m);
	return rc;
}
