/*
 * fetch.h — pull-through of cache misses from the upstreams.
 *
 * One fetcher thread runs a libcurl multi handle. Ring threads hand it misses
 * with fetcher_request() (never blocks: a mutex-protected queue plus
 * curl_multi_wakeup). For each CID at most one upstream transfer is in flight
 * (single-flight table); later requests for it wait on that transfer, up to
 * FETCH_MAX_WAITERS (beyond: answered 503 at once). Before going upstream the
 * fetcher loads and re-hashes a disk-tier copy if there is one. Bytes from an
 * upstream are hashed while they arrive and cached only when the hash equals
 * the CID; otherwise every waiter gets 502 and verify_failures is bumped.
 * Upstreams are tried in order, skipping ones marked unhealthy (for
 * FETCH_PENALTY_US after an error, a 5xx or a timeout) unless all are.
 *
 * Results travel back through cfg->deliver(sink, done), called on the fetcher
 * thread; the sink takes ownership of done (and of the reference in done->e)
 * and must not block. Errors: 0 or negative errno.
 */
#ifndef SLUICE_EDGE_FETCH_H
#define SLUICE_EDGE_FETCH_H

#include <stdint.h>

#include "common/metrics.h"
#include "edge/cache.h"

#define FETCH_MAX_UPSTREAMS 16
#define FETCH_MAX_WAITERS 4096
#define FETCH_MAX_FLIGHTS 4096 /* distinct CIDs in flight; beyond: 503 */
#define FETCH_PENALTY_US (3 * 1000000LL)
#define FETCH_CONNECT_MS 2000L
#define FETCH_TIMEOUT_MS 30000L
#define FETCH_LOW_SPEED_SECS 5L

struct fetch_done {
	void *conn; /* as given to fetcher_request */
	uint32_t gen;
	int status;            /* 200 with e, else 404 / 502 / 503 */
	struct cache_entry *e; /* one reference, or NULL */
	struct fetch_done *next;
};

struct fetch_config {
	const char *upstreams[FETCH_MAX_UPSTREAMS]; /* base URLs, no trailing '/' needed */
	int nupstreams;
	struct cache *cache;
	void (*deliver)(void *sink, struct fetch_done *done);
	struct metric *upstream_requests;
	struct metric *verify_failures;
};

struct fetcher;

int fetcher_new(const struct fetch_config *cfg, struct fetcher **out);
/* Stops the thread; pending waiters are answered 503. Sets *f = NULL. */
void fetcher_free(struct fetcher **f);

/* Queue a miss. 0, or -ENOMEM / -ESHUTDOWN (then no answer will come). */
int fetcher_request(struct fetcher *f, const char *cid, void *sink, void *conn, uint32_t gen);

#endif
