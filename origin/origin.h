/*
 * origin.h — the origin's shared context: configuration, the store, the
 * metrics registry, the edge registry and the discontinuity cache.
 *
 * Lifetime: built by main.c before the HTTP daemon starts and torn down
 * after it stops; request handlers (any MHD thread) only read the pointers.
 * Mutable shared state lives inside the modules that own it (edges.h,
 * disc.h, metrics.h), each with its own lock or atomics. `stopping` is set
 * once at shutdown so long polls return.
 */
#ifndef SLUICE_ORIGIN_ORIGIN_H
#define SLUICE_ORIGIN_ORIGIN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ORIGIN_HOST_MAX     255         /* listen address chars */
#define ORIGIN_WINDOW_DFL   6           /* live.m3u8 segments */
#define ORIGIN_WINDOW_MAX   1000
#define ORIGIN_MAX_RANGE_US (24LL * 3600 * 1000000)   /* replay / API range */
#define ORIGIN_ROUTES       20          /* metric label slots, see http.h */
#define ORIGIN_STATUSES     16

struct store;
struct metrics;
struct metric;
struct edges;
struct disc;
struct longpoll;
struct livecache;

struct origin_conf {
	char host[ORIGIN_HOST_MAX + 1];
	uint16_t port;
	const char *store_dir;
	const char *token;                  /* NULL or "" = no auth */
	size_t window;
	int64_t health_interval_us;
	int64_t max_range_us;
	const char *web_dir;
	const char *public_url;             /* NULL = from the Host header */
	unsigned threads_max;               /* connection limit */
	unsigned threads;                   /* event-loop threads (MHD thread pool) */
};

struct origin {
	struct origin_conf conf;
	struct store *store;
	struct metrics *metrics;
	struct edges *edges;
	struct disc *disc;
	struct longpoll *longpoll;          /* parked change-feed requests */
	struct livecache *live;             /* live.m3u8 windows and rendered responses */
	volatile int stopping;
	/* requests_total{route,status}, registered lazily (same handle on races) */
	_Atomic(struct metric *) req_metric[ORIGIN_ROUTES][ORIGIN_STATUSES];
	struct metric *playlist_seconds[4];  /* master, live, dvr, replay */
	struct metric *seg_bytes;
	struct metric *changes_waits;
	struct metric *body_too_large;
};

#endif
