/*
 * main.c — bin/sluice-ingest: flags, signals, the session loop.
 *
 * Model: the main thread runs sessions one after another: open the input,
 * build a pipeline, read packets into it until end, error or stop, finish
 * (the open segment is stored), then either exit (file end, signal, file
 * error) or back off and reconnect (live input). SIGINT/SIGTERM are blocked
 * in every thread and taken by a signal thread with sigwait(), which sets
 * ctx.stop; every blocking FFmpeg call watches it through its interrupt
 * callback. Exit status: 0 at end of a file (or of an HLS VOD playlist) or on
 * a signal, 1 when a file
 * input cannot be opened or read, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>
#include <libavutil/log.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "ingest/cut.h"
#include "ingest/httpd.h"
#include "ingest/input.h"
#include "ingest/pipeline.h"
#include "ingest/restream.h"
#include "ingest/transcode.h"
#include "store/replicate.h"
#include "store/store.h"

#define DEFAULT_SEGMENT_US (2 * 1000000LL)
#define MIN_SEGMENT_US (100 * 1000LL)
#define MAX_SEGMENT_US (60 * 1000000LL)
#define HOST_MAX 64
#define SLEEP_SLICE_US (100 * 1000LL)
#define BITRATE_WINDOW_US 1000000LL
#define OUT_OFFSET0_US (10 * 1000000LL) /* TS time of the first session's origin */
#define SESSION_OK_US (5 * 1000000LL)   /* a session this long resets the back-off */
#define PUSH_DRAIN_US (30 * 1000000LL)  /* --push-to: time to send what is left at exit */

enum { OPT_INPUT = 256, OPT_STREAM, OPT_VARIANT, OPT_STORE, OPT_SEGMENT, OPT_TENANT,
       OPT_DEVICE, OPT_TRANSCODE, OPT_REALTIME, OPT_LOOP, OPT_LISTEN, OPT_PUSH_TO,
       OPT_RESTREAM, OPT_PRESET, OPT_READ_TIMEOUT, OPT_HELP };

struct opts {
	const char *input, *stream, *variant, *store, *tenant, *device, *listen, *push_to;
	const char *preset;
	int64_t segment_us;
	int64_t read_timeout_us;
	struct transcode_rung rungs[TRANSCODE_MAX_RUNGS];
	size_t nrungs;
	bool realtime, loop;
	const char *restream[RESTREAM_MAX_DESTS];
	size_t nrestream;
};

struct ctx {
	struct opts o;
	atomic_int stop;
	struct store *store;
	struct metrics *metrics;
	struct restream *restream;
	struct metric *m_sessions, *m_reconnects, *m_input_bytes, *m_bitrate, *m_input_errors;
};

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: sluice-ingest --input URL --stream S [--variant V] --store DIR\n"
	        "         [--segment 2s] [--tenant T] [--device D] [--transcode 720p,360p]\n"
	        "         [--realtime] [--loop] [--listen ADDR:PORT] [--push-to URL]\n"
	        "         [--restream URL]... [--preset X264_PRESET] [--read-timeout 10s]\n"
	        "inputs: FILE, lavfi:GRAPH, rtsp://, rtmp:// (?listen=1 to accept a push),\n"
	        "        srt://, http(s):// (HLS)\n");
}

static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "input", required_argument, NULL, OPT_INPUT },
		{ "stream", required_argument, NULL, OPT_STREAM },
		{ "variant", required_argument, NULL, OPT_VARIANT },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "segment", required_argument, NULL, OPT_SEGMENT },
		{ "tenant", required_argument, NULL, OPT_TENANT },
		{ "device", required_argument, NULL, OPT_DEVICE },
		{ "transcode", required_argument, NULL, OPT_TRANSCODE },
		{ "realtime", no_argument, NULL, OPT_REALTIME },
		{ "loop", no_argument, NULL, OPT_LOOP },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "push-to", required_argument, NULL, OPT_PUSH_TO },
		{ "restream", required_argument, NULL, OPT_RESTREAM },
		{ "preset", required_argument, NULL, OPT_PRESET },
		{ "read-timeout", required_argument, NULL, OPT_READ_TIMEOUT },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	size_t i;
	int c;

	memset(o, 0, sizeof(*o));
	o->variant = "src";
	o->segment_us = DEFAULT_SEGMENT_US;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case OPT_INPUT: o->input = optarg; break;
		case OPT_STREAM: o->stream = optarg; break;
		case OPT_VARIANT: o->variant = optarg; break;
		case OPT_STORE: o->store = optarg; break;
		case OPT_TENANT: o->tenant = optarg; break;
		case OPT_DEVICE: o->device = optarg; break;
		case OPT_LISTEN: o->listen = optarg; break;
		case OPT_PUSH_TO: o->push_to = optarg; break;
		case OPT_PRESET: o->preset = optarg; break;
		case OPT_REALTIME: o->realtime = true; break;
		case OPT_LOOP: o->loop = true; break;
		case OPT_SEGMENT:
			if (duration_parse(optarg, &o->segment_us) < 0 ||
			    o->segment_us < MIN_SEGMENT_US || o->segment_us > MAX_SEGMENT_US) {
				fprintf(stderr, "sluice-ingest: bad --segment \"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_READ_TIMEOUT:
			if (duration_parse(optarg, &o->read_timeout_us) < 0 ||
			    o->read_timeout_us < MIN_SEGMENT_US) {
				fprintf(stderr, "sluice-ingest: bad --read-timeout \"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_TRANSCODE:
			if (transcode_parse_ladder(optarg, o->rungs, TRANSCODE_MAX_RUNGS,
			                           &o->nrungs) < 0) {
				fprintf(stderr, "sluice-ingest: bad --transcode \"%s\"\n", optarg);
				return -EINVAL;
			}
			break;
		case OPT_RESTREAM:
			if (o->nrestream >= RESTREAM_MAX_DESTS) {
				fprintf(stderr, "sluice-ingest: at most %d --restream\n",
				        RESTREAM_MAX_DESTS);
				return -EINVAL;
			}
			o->restream[o->nrestream++] = optarg;
			break;
		case OPT_HELP:
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "sluice-ingest: bad option \"%s\"\n", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice-ingest: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (o->input == NULL || o->stream == NULL || o->store == NULL) {
		fprintf(stderr, "sluice-ingest: --input, --stream and --store are required\n");
		return -EINVAL;
	}
	if (flag_stream_name(o->stream) < 0 || flag_variant_name(o->variant) < 0) {
		fprintf(stderr, "sluice-ingest: bad --stream or --variant name\n");
		return -EINVAL;
	}
	for (i = 0; i < o->nrungs; i++) {
		if (strcmp(o->rungs[i].name, o->variant) == 0) {
			fprintf(stderr, "sluice-ingest: --transcode rung equals --variant\n");
			return -EINVAL;
		}
	}
	if ((o->tenant != NULL && strlen(o->tenant) > STORE_TENANT_MAX) ||
	    (o->device != NULL && strlen(o->device) > STORE_DEVICE_MAX)) {
		fprintf(stderr, "sluice-ingest: --tenant/--device too long\n");
		return -EINVAL;
	}
	return 0;
}

static void *
signal_thread(void *arg)
{
	struct ctx *c = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGUSR1 && atomic_load(&c->stop) == 2)
			return NULL; /* asked to exit by main */
		if (sig == SIGINT || sig == SIGTERM) {
			log_info("signal %d: finishing the current segment", sig);
			atomic_store(&c->stop, 1);
		}
	}
}

static uint64_t
rand64(void)
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = (uint64_t)time_mono_us() ^ ((uint64_t)time_now_us() << 17);
	return v;
}

/* Sleep, waking early on stop. -EINTR when stopped. */
static int
nap(struct ctx *c, int64_t us)
{
	int64_t end = time_mono_us() + us, d;
	struct timespec ts;

	while (!atomic_load(&c->stop)) {
		d = end - time_mono_us();
		if (d <= 0)
			return 0;
		if (d > SLEEP_SLICE_US)
			d = SLEEP_SLICE_US;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)d * 1000;
		nanosleep(&ts, NULL);
	}
	return -EINTR;
}

static void
setup_metrics(struct ctx *c)
{
	c->m_sessions = metrics_counter(c->metrics, "sluice_ingest_sessions_total",
	                                "Input sessions started", NULL);
	c->m_reconnects = metrics_counter(c->metrics, "sluice_ingest_reconnects_total",
	                                  "Reconnect attempts after an input failure", NULL);
	c->m_input_errors = metrics_counter(c->metrics, "sluice_ingest_input_errors_total",
	                                    "Input open/read failures", NULL);
	c->m_input_bytes = metrics_counter(c->metrics, "sluice_ingest_input_bytes_total",
	                                   "Bytes read from the input", NULL);
	c->m_bitrate = metrics_gauge(c->metrics, "sluice_ingest_input_bitrate_bps",
	                             "Input bit rate over the last second", NULL);
}

enum sess_end { SESS_STOP, SESS_EOF, SESS_FATAL, SESS_RETRY };

/* One session; *out_off carries the TS timeline between sessions. */
static enum sess_end
run_session(struct ctx *c, struct input *in, int64_t *out_off, int64_t *dur_us)
{
	struct pipeline_config pc;
	struct pipeline *pl = NULL;
	char session[CUT_SESSION_LEN];
	AVPacket *pkt = av_packet_alloc();
	enum sess_end end = SESS_RETRY;
	enum input_kind kind = input_kind(in);
	int64_t t0 = time_mono_us(), win_t = t0;
	uint64_t win_b = 0, b;
	int r;

	*dur_us = 0;
	if (pkt == NULL)
		return input_kind_is_live(kind) ? SESS_RETRY : SESS_FATAL;
	cut_session_id(time_now_us(), rand64(), session, sizeof(session));
	memset(&pc, 0, sizeof(pc));
	pc.stream = c->o.stream;
	pc.variant = c->o.variant;
	pc.session = session;
	pc.tenant = c->o.tenant;
	pc.device = c->o.device;
	pc.preset = c->o.preset;
	pc.target_us = c->o.segment_us;
	pc.rungs = c->o.rungs;
	pc.nrungs = c->o.nrungs;
	pc.out_offset_us = *out_off;
	pc.metrics = c->metrics;
	pc.restream = c->restream;
	r = pipeline_new(c->store, &pc, input_format(in), &pl);
	if (r < 0) {
		end = input_kind_is_live(kind) ? SESS_RETRY : SESS_FATAL;
		goto out;
	}
	metric_inc(c->m_sessions);
	log_info("session %s: input \"%s\" open", session, c->o.input);
	for (;;) {
		r = input_read(in, pkt);
		if (r == -EINTR) {
			end = SESS_STOP;
			break;
		}
		if (r == -ENODATA) {
			end = input_kind_is_live(kind) && !input_is_vod(in) ? SESS_RETRY : SESS_EOF;
			if (end == SESS_RETRY)
				log_warn("input \"%s\": ended; reconnecting", c->o.input);
			break;
		}
		if (r < 0) {
			metric_inc(c->m_input_errors);
			if (input_kind_is_live(kind)) {
				log_warn("read input \"%s\": %s; reconnecting", c->o.input, strerror(-r));
				end = SESS_RETRY;
			} else {
				log_error("read input \"%s\": %s", c->o.input,
				          r == -EINVAL ? "corrupt or unreadable data" : strerror(-r));
				end = SESS_FATAL;
			}
			break;
		}
		metric_add(c->m_input_bytes, (double)pkt->size);
		r = pipeline_packet(pl, pkt);
		av_packet_unref(pkt);
		if (r < 0) {
			log_error("session %s: %s", session, strerror(-r));
			end = input_kind_is_live(kind) ? SESS_RETRY : SESS_FATAL;
			break;
		}
		if (time_mono_us() - win_t >= BITRATE_WINDOW_US) {
			b = input_bytes(in);
			metric_set(c->m_bitrate, (double)(b - win_b) * 8e6 /
			                                 (double)(time_mono_us() - win_t));
			win_b = b;
			win_t = time_mono_us();
		}
	}
	pipeline_finish(pl);
	*out_off = pipeline_end_us(pl) + c->o.segment_us;
	log_info("session %s: ended (%" PRIu64 " segments)", session, pipeline_segments(pl));
out:
	*dur_us = time_mono_us() - t0;
	pipeline_free(&pl);
	av_packet_free(&pkt);
	return end;
}

static int
run(struct ctx *c)
{
	struct input_config ic;
	struct input *in = NULL;
	int64_t out_off = OUT_OFFSET0_US, dur, delay;
	unsigned attempt = 0;
	enum sess_end end;
	int r;

	memset(&ic, 0, sizeof(ic));
	ic.url = c->o.input;
	ic.realtime = c->o.realtime;
	ic.loop = c->o.loop;
	ic.read_timeout_us = c->o.read_timeout_us;
	ic.stop = &c->stop;
	while (!atomic_load(&c->stop)) {
		r = input_open(&ic, &in);
		if (r == -EINTR)
			break;
		if (r < 0) {
			metric_inc(c->m_input_errors);
			if (!input_kind_is_live(input_kind_of(c->o.input)))
				return 1;
			end = SESS_RETRY;
			dur = 0;
		} else {
			end = run_session(c, in, &out_off, &dur);
			input_close(&in);
		}
		if (end == SESS_STOP || end == SESS_EOF)
			return 0;
		if (end == SESS_FATAL)
			return 1;
		if (dur >= SESSION_OK_US)
			attempt = 0;
		delay = cut_backoff_us(attempt, (uint32_t)rand64());
		if (attempt < 32)
			attempt++;
		metric_inc(c->m_reconnects);
		log_warn("input \"%s\": reconnect %u in %" PRId64 " ms", c->o.input, attempt,
		         delay / 1000);
		if (nap(c, delay) < 0)
			break;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ctx c;
	struct httpd *h = NULL;
	char host[HOST_MAX];
	uint16_t port;
	pthread_t sigt;
	sigset_t set;
	struct repl *pusher = NULL;
	int rc = 1, r;
	bool sig_started = false, curl_started = false;

	memset(&c, 0, sizeof(c));
	log_init("sluice-ingest", LOG_INFO);
	if (parse(argc, argv, &c.o) < 0) {
		usage(stderr);
		return 2;
	}
	if (c.o.push_to != NULL && !repl_is_url(c.o.push_to)) {
		fprintf(stderr, "sluice-ingest: --push-to \"%s\": want http(s)://host[:port]\n",
		        c.o.push_to);
		return 2;
	}
	if (c.o.listen != NULL &&
	    flag_hostport(c.o.listen, host, sizeof(host), &port, 0) < 0) {
		fprintf(stderr, "sluice-ingest: bad --listen \"%s\"\n", c.o.listen);
		usage(stderr);
		return 2;
	}
	av_log_set_level(log_get_level() == LOG_DEBUG ? AV_LOG_INFO : AV_LOG_ERROR);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	atomic_init(&c.stop, 0);
	if (pthread_create(&sigt, NULL, signal_thread, &c) != 0) {
		log_error("start signal thread: %s", strerror(errno));
		goto out;
	}
	sig_started = true;
	r = metrics_new(&c.metrics);
	if (r < 0)
		goto out;
	setup_metrics(&c);
	if (c.o.push_to != NULL) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_error("libcurl: global init failed");
			goto out;
		}
		curl_started = true;
	}
	r = store_open(c.o.store, STORE_OPEN_CREATE, &c.store);
	if (r < 0) {
		log_error("open store \"%s\": %s", c.o.store, strerror(-r));
		goto out;
	}
	if (c.o.listen != NULL && httpd_start(host, port, c.metrics, NULL, &h) < 0)
		goto out;
	if (c.o.push_to != NULL &&
	    repl_push_start(c.store, c.o.store, c.o.push_to, NULL, c.metrics, &pusher) < 0)
		goto out;
	if (c.o.nrestream > 0 &&
	    restream_new(c.o.restream, c.o.nrestream, c.metrics, &c.restream) < 0)
		goto out;
	rc = run(&c);
	if (pusher != NULL && repl_push_finish(pusher, PUSH_DRAIN_US) < 0 && rc == 0)
		rc = 1;
	log_info("exiting with status %d", rc);
out:
	repl_free(&pusher);
	if (curl_started)
		curl_global_cleanup();
	restream_free(&c.restream);
	httpd_stop(&h);
	store_close(&c.store);
	metrics_free(&c.metrics);
	if (sig_started) {
		atomic_store(&c.stop, 2);
		pthread_kill(sigt, SIGUSR1);
		pthread_join(sigt, NULL);
	}
	return rc;
}
