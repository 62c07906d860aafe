/*
 * server.h — the edge's io_uring HTTP/1.1 server.
 *
 * edge_server_new() binds one SO_REUSEPORT listener per thread, creates one
 * io_uring per thread and starts the threads and the fetcher (fetch.h). Each
 * thread owns its ring, its listener, its provided-buffer ring and a pool of
 * connections; threads share only the cache, the fetcher and the metrics.
 * Served: GET/HEAD /seg/<cid>.ts (Range, keep-alive, pipelining), /healthz,
 * /metrics, OPTIONS (CORS). No blocking work runs on a ring thread.
 *
 * edge_server_drain() (from the main thread) stops accepting, lets in-flight
 * responses finish (bounded by EDGE_DRAIN_US) and returns when the threads
 * have exited. edge_server_free() then releases everything.
 * Errors: 0 or negative errno.
 */
#ifndef SLUICE_EDGE_SERVER_H
#define SLUICE_EDGE_SERVER_H

#include <stdint.h>

#include "common/metrics.h"
#include "edge/cache.h"
#include "edge/fetch.h"

#define EDGE_MAX_THREADS 64
#define EDGE_DRAIN_US (5 * 1000000LL)

struct edge_server_config {
	const char *host; /* listen address */
	uint16_t port;
	int threads;
	struct cache *cache;
	struct metrics *metrics;
	const char *upstreams[FETCH_MAX_UPSTREAMS];
	int nupstreams;
};

/* Numbers for the heartbeat. */
struct edge_server_stats {
	int64_t connections;
	uint64_t bytes_sent;
	uint64_t hits;
	uint64_t misses;
};

struct edge_server;

int edge_server_new(const struct edge_server_config *cfg, struct edge_server **out);
void edge_server_stats(struct edge_server *s, struct edge_server_stats *out);
void edge_server_drain(struct edge_server *s);
void edge_server_free(struct edge_server **s);

#endif
