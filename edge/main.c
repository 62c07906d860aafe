/*
 * main.c — bin/sluice-edge: flags, start-up, signal handling, drain.
 *
 * The main thread parses flags, builds the cache, the server (ring threads +
 * fetcher) and the membership thread, then waits in sigwait(2) for SIGTERM or
 * SIGINT. On either: deregister at the origin, stop accepting, let in-flight
 * responses finish (bounded by EDGE_DRAIN_US), free everything, exit 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/flags.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/timeutil.h"
#include "edge/cache.h"
#include "edge/member.h"
#include "edge/server.h"

#define EDGE_DEFAULT_LISTEN "0.0.0.0:8081"
#define EDGE_DEFAULT_MEM (256ULL << 20)
#define EDGE_DEFAULT_DISK (1ULL << 30)
#define EDGE_DEFAULT_CAPACITY 1000
#define EDGE_UPSTREAMS_MAX 1024 /* bytes of the joined --upstream values */

static const char usage[] =
        "usage: sluice-edge --listen ADDR:PORT --upstream URL[,URL...]\n"
        "                   [--origin URL --advertise URL --id ID --capacity N]\n"
        "                   [--cache-dir DIR] [--cache-mem SIZE] [--cache-disk SIZE]\n"
        "                   [--token T] [--threads N]\n"
        "  --listen      address to serve on (default " EDGE_DEFAULT_LISTEN ")\n"
        "  --upstream    origins/peers to pull /seg/<cid>.ts from, in order of preference\n"
        "  --origin      origin to register at and send heartbeats to\n"
        "  --advertise   URL viewers use to reach this edge (default http://127.0.0.1:PORT)\n"
        "  --id          edge id (default HOSTNAME-PORT)\n"
        "  --capacity    capacity weight reported at registration (default 1000)\n"
        "  --cache-dir   directory for the disk cache tier (none when omitted)\n"
        "  --cache-mem   memory cache size (default 256M)\n"
        "  --cache-disk  disk cache size (default 1G)\n"
        "  --token       bearer token for the origin (or SLUICE_TOKEN)\n"
        "  --threads     ring threads (default: number of cores)\n";

struct opts {
	char host[128];
	uint16_t port;
	char upstream_buf[EDGE_UPSTREAMS_MAX];
	const char *upstreams[FETCH_MAX_UPSTREAMS];
	int nupstreams;
	const char *origin, *advertise, *id, *token, *cache_dir;
	long capacity;
	uint64_t cache_mem, cache_disk;
	int threads;
	char id_buf[300];
	char adv_buf[160];
};

static int
bad(const char *what, const char *val)
{
	fprintf(stderr, "sluice-edge: bad %s \"%s\"\n%s", what, val ? val : "", usage);
	return 2;
}

static int
add_upstreams(struct opts *o, const char *v)
{
	size_t used = 0;
	for (int i = 0; i < o->nupstreams; i++)
		used += strlen(o->upstreams[i]) + 1;
	size_t n = strlen(v);
	if (used + n + 1 > sizeof(o->upstream_buf))
		return -ENOSPC;
	char *dst = o->upstream_buf + used;
	memcpy(dst, v, n + 1);
	char *save = NULL;
	for (char *tok = strtok_r(dst, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nupstreams >= FETCH_MAX_UPSTREAMS)
			return -E2BIG;
		if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0)
			return -EINVAL;
		o->upstreams[o->nupstreams++] = tok;
	}
	return 0;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	        {"listen", required_argument, NULL, 'l'},
	        {"upstream", required_argument, NULL, 'u'},
	        {"origin", required_argument, NULL, 'o'},
	        {"advertise", required_argument, NULL, 'a'},
	        {"id", required_argument, NULL, 'i'},
	        {"capacity", required_argument, NULL, 'c'},
	        {"cache-dir", required_argument, NULL, 'd'},
	        {"cache-mem", required_argument, NULL, 'm'},
	        {"cache-disk", required_argument, NULL, 'D'},
	        {"token", required_argument, NULL, 't'},
	        {"threads", required_argument, NULL, 'T'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *listen = EDGE_DEFAULT_LISTEN;
	long long v;
	int ch;

	o->capacity = EDGE_DEFAULT_CAPACITY;
	o->cache_mem = EDGE_DEFAULT_MEM;
	o->cache_disk = EDGE_DEFAULT_DISK;
	long nproc = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = nproc < 1 ? 1 : (nproc > EDGE_MAX_THREADS ? EDGE_MAX_THREADS : (int)nproc);
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen = optarg;
			break;
		case 'u':
			if (add_upstreams(o, optarg) != 0)
				return bad("--upstream", optarg);
			break;
		case 'o':
			o->origin = optarg;
			break;
		case 'a':
			o->advertise = optarg;
			break;
		case 'i':
			if (optarg[0] == '\0' || strlen(optarg) > 128)
				return bad("--id", optarg);
			o->id = optarg;
			break;
		case 'c':
			if (flag_int(optarg, 0, 1000000000, &v) != 0)
				return bad("--capacity", optarg);
			o->capacity = (long)v;
			break;
		case 'd':
			o->cache_dir = optarg;
			break;
		case 'm':
			if (size_parse(optarg, &o->cache_mem) != 0)
				return bad("--cache-mem", optarg);
			break;
		case 'D':
			if (size_parse(optarg, &o->cache_disk) != 0)
				return bad("--cache-disk", optarg);
			break;
		case 't':
			o->token = optarg;
			break;
		case 'T':
			if (flag_int(optarg, 1, EDGE_MAX_THREADS, &v) != 0)
				return bad("--threads", optarg);
			o->threads = (int)v;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fprintf(stderr, "sluice-edge: unknown or incomplete flag \"%s\"\n%s",
			        argv[optind - 1], usage);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sluice-edge: unexpected argument \"%s\"\n%s", argv[optind], usage);
		return 2;
	}
	if (flag_hostport(listen, o->host, sizeof(o->host), &o->port, 0) != 0)
		return bad("--listen", listen);
	if (o->nupstreams == 0) {
		fprintf(stderr, "sluice-edge: --upstream is required\n%s", usage);
		return 2;
	}
	if (o->origin && strncmp(o->origin, "http://", 7) != 0 &&
	    strncmp(o->origin, "https://", 8) != 0)
		return bad("--origin", o->origin);
	o->token = flag_or_env(o->token, "SLUICE_TOKEN", NULL);
	if (o->id == NULL) {
		char hn[256];
		if (gethostname(hn, sizeof(hn)) != 0)
			memcpy(hn, "edge", 5);
		hn[sizeof(hn) - 1] = '\0';
		snprintf(o->id_buf, sizeof(o->id_buf), "%s-%u", hn, o->port);
		o->id = o->id_buf;
	}
	if (o->advertise == NULL) {
		snprintf(o->adv_buf, sizeof(o->adv_buf), "http://127.0.0.1:%u", o->port);
		o->advertise = o->adv_buf;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct metrics *m = NULL;
	struct cache *cache = NULL;
	struct edge_server *srv = NULL;
	struct member *mem = NULL;
	sigset_t set;
	int rc, sig = 0, status = 1;

	memset(&o, 0, sizeof(o));
	rc = parse_opts(argc, argv, &o);
	if (rc != 0)
		return rc == 1 ? 0 : rc;
	log_init("sluice-edge", LOG_INFO);

	/* Connections, memfd-backed cache objects and pipes all take descriptors. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("curl_global_init failed");
		return 1;
	}
	rc = metrics_new(&m);
	if (rc != 0)
		goto out;
	rc = cache_new(o.cache_mem, o.cache_dir, o.cache_disk, &cache);
	if (rc != 0) {
		log_error("cache: %s (dir=%s)", strerror(-rc), o.cache_dir ? o.cache_dir : "-");
		goto out;
	}
	struct edge_server_config sc;
	memset(&sc, 0, sizeof(sc));
	sc.host = o.host;
	sc.port = o.port;
	sc.threads = o.threads;
	sc.cache = cache;
	sc.metrics = m;
	for (int i = 0; i < o.nupstreams; i++)
		sc.upstreams[i] = o.upstreams[i];
	sc.nupstreams = o.nupstreams;
	rc = edge_server_new(&sc, &srv);
	if (rc != 0) {
		log_error("start server on %s:%u: %s", o.host, o.port, strerror(-rc));
		goto out;
	}
	log_info("listening on %s:%u (threads=%d cache-mem=%llu cache-dir=%s upstreams=%d)", o.host,
	         o.port, o.threads, (unsigned long long)o.cache_mem,
	         o.cache_dir ? o.cache_dir : "-", o.nupstreams);
	if (o.origin) {
		struct member_config mc = {
		        .origin = o.origin,
		        .advertise = o.advertise,
		        .id = o.id,
		        .token = o.token,
		        .capacity = o.capacity,
		        .server = srv,
		};
		rc = member_start(&mc, &mem);
		if (rc != 0) {
			log_error("membership: %s", strerror(-rc));
			goto out;
		}
	}
	if (sigwait(&set, &sig) != 0)
		sig = SIGTERM;
	log_info("%s: draining", sig == SIGINT ? "SIGINT" : "SIGTERM");
	member_stop(&mem);
	edge_server_drain(srv);
	status = 0;
out:
	member_stop(&mem);
	edge_server_free(&srv);
	cache_free(&cache);
	metrics_free(&m);
	curl_global_cleanup();
	if (status == 0)
		log_info("stopped");
	return status;
}
