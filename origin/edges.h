/*
 * edges.h — the origin's edge registry, health prober and steering glue.
 *
 * Owns: the registered edges (id, url, capacity, draining, last heartbeat
 * load, probe results), their persistence in the store's metadata (keys
 * "edge/<id>", JSON {"id","url","capacity","draining"}), a prober thread
 * that GETs every edge's /healthz each health interval (libcurl multi, all
 * edges concurrently, EDGE_PROBE_TIMEOUT_MS each), and the struct steer that
 * turns the healthy set into per-viewer segment URIs.
 *
 * Health: an edge is healthy when its last probe round succeeded at least
 * once since registration, fewer than EDGE_PROBE_FAILS probes in a row
 * failed, and — if it ever sent a heartbeat — its last heartbeat is no
 * older than EDGE_HB_MISSES intervals (a stale edge recovers with its next
 * heartbeat or a re-registration). New and reloaded edges are probed at
 * once and are unhealthy until their first successful probe. Weight = spare
 * capacity (capacity - load, at least 1) once heartbeats arrive, else the
 * registered capacity.
 *
 * Threading: every function may be called from any thread; one mutex guards
 * the registry and the steering state; probes and store writes run outside
 * it. Errors: -EINVAL (bad id/url/capacity), -ENOENT (unknown edge),
 * -ENOSPC (EDGES_MAX reached), -ENOMEM, store errors.
 */
#ifndef SLUICE_ORIGIN_EDGES_H
#define SLUICE_ORIGIN_EDGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "origin/steer.h"
#include "store/store.h"

#define EDGES_MAX             STEER_EDGES_MAX
#define EDGE_PROBE_TIMEOUT_MS 1000
#define EDGE_PROBE_FAILS      2         /* failures in a row -> unhealthy */
#define EDGE_HB_MISSES        3         /* intervals without heartbeat -> unhealthy */
#define EDGE_CAPACITY_MAX     1000000000ULL
#define EDGE_ALTERNATES_MAX   4

struct metrics;
struct edges;

struct edge_load {
	double load;                        /* active connections */
	double connections;
	double bytes_per_sec;
	double hit_ratio;
};

int edges_new(struct store *s, struct metrics *m, int64_t interval_us, struct edges **out);
/* Start the prober thread. */
int edges_start(struct edges *e);
/* Stop the prober (if started) and free everything; sets *e = NULL. */
void edges_free(struct edges **e);

bool edges_valid_id(const char *id);
/* "http://host:port" (optional trailing '/' removed) into norm. */
int edges_valid_url(const char *url, char *norm, size_t len);

/* Register or re-register (*created tells which). Persists. */
int edges_register(struct edges *e, const char *id, const char *url, uint64_t capacity,
                   bool *created);
int edges_heartbeat(struct edges *e, const char *id, const struct edge_load *l);
/* Stop steering new segments to it (persisted); -ENOENT if unknown. */
int edges_drain(struct edges *e, const char *id);
/* Drain and remove from the registry and the store. */
int edges_remove(struct edges *e, const char *id);
/* JSON array of the registry (malloc'd text). */
int edges_list_json(struct edges *e, char **out, size_t *len);

/*
 * Segment URIs for the listed records (one stream+variant, track key
 * "stream/variant") as seen by viewer, optionally pinned to an edge id:
 * "<edge-url>/seg/<cid>.ts", or "<origin_base>/seg/<cid>.ts" when the
 * segment's snapshot has no edge. *out is one malloc'd block (free()) of n
 * string pointers followed by the strings.
 */
int edges_segment_uris(struct edges *e, const char *track, const struct store_record *recs,
                       size_t n, const char *viewer, const char *pin, const char *origin_base,
                       char ***out);
/*
 * The steering snapshot of each listed record of track (first sight
 * recorded exactly as by edges_segment_uris), each with a reference taken:
 * snaps[i] stays valid, unchanged and readable without any lock until
 * edges_snaps_release(snaps, n). Lets a caller cache a window's steering.
 */
int edges_snapshots(struct edges *e, const char *track, const struct store_record *recs,
                    size_t n, const struct steer_snap **snaps);
void edges_snaps_release(struct edges *e, const struct steer_snap **snaps, size_t n);
/* sluice_origin_steering_decisions_total{edge=<id>} ("origin" when id is NULL). */
struct metric *edges_decision_metric(struct edges *e, const char *edge_id);
/* Ids of the viewer's next k edges after its first choice, current set. */
int edges_alternates(struct edges *e, const char *viewer, char ids[][STEER_ID_MAX + 1],
                     size_t k, size_t *n);

#endif
