/*
 * steer.h — which edge serves which viewer: weighted rendezvous hashing over
 * snapshots of the healthy edge set, with the steering invariant.
 *
 * Owns: immutable edge-set snapshots (id, url, weight of each healthy,
 * non-draining edge) and, per stream+variant "track", the media-sequence
 * ranges that each snapshot applies to.
 *
 * Invariant: a segment's snapshot is fixed the first time the segment is
 * listed (steer_resolve); a viewer's edge for that segment is the rendezvous
 * winner over that snapshot, so its URI never changes on reloads, while
 * segments first listed after an edge died use a newer snapshot without it.
 * A track keeps at most STEER_TRANSITIONS_MAX snapshot changes; dropping the
 * oldest re-assigns only segments older than every remaining change (far
 * behind any live window). At most STEER_TRACKS_MAX tracks (least recently
 * used evicted).
 *
 * Pure: no I/O, no locks. A struct steer is used by one thread at a time
 * (the origin holds a mutex around every call and while it reads snapshots
 * returned by steer_resolve/steer_current). Errors: -EINVAL, -ENOMEM.
 */
#ifndef SLUICE_ORIGIN_STEER_H
#define SLUICE_ORIGIN_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STEER_ID_MAX          64        /* edge id chars */
#define STEER_URL_MAX         255       /* edge base URL chars */
#define STEER_EDGES_MAX       256       /* edges per snapshot */
#define STEER_TRACKS_MAX      1024      /* stream+variant tracks remembered */
#define STEER_TRANSITIONS_MAX 1024      /* snapshot changes per track */
#define STEER_KEY_MAX         128       /* track key "stream/variant" */
#define STEER_WEIGHT_SLACK    0.25      /* relative weight change that makes a new snapshot */

struct steer_edge {
	char id[STEER_ID_MAX + 1];
	char url[STEER_URL_MAX + 1];
	double weight;                      /* > 0 */
};

struct steer_snap {
	uint64_t id;                        /* increasing; 0 = the initial empty set */
	unsigned refs;                      /* private */
	size_t n;
	struct steer_edge edges[];
};

struct steer;

int steer_new(struct steer **out);
void steer_free(struct steer **st);     /* sets *st = NULL; NULL-safe */

/* 64-bit hash of (viewer key, edge id); pure. */
uint64_t steer_hash(const char *key, const char *edge_id);
/* Rendezvous score of an edge for a hash: -weight / ln(u), u in (0,1). */
double steer_score(double weight, uint64_t h);
/*
 * Indices of the best k edges for key, best first, into order[]; returns
 * how many were written (min(k, n)).
 */
size_t steer_rank(const struct steer_edge *edges, size_t n, const char *key,
                  size_t *order, size_t k);
/*
 * The edge serving key in snap: the pinned edge if pin names one in snap,
 * else the rendezvous winner. NULL when snap is empty.
 */
const struct steer_edge *steer_choose(const struct steer_snap *snap, const char *key,
                                      const char *pin);

/*
 * Offer the current healthy set. A new snapshot becomes current when the
 * membership (ids or urls) differs or a weight moved by more than
 * STEER_WEIGHT_SLACK. Returns 1 when a new snapshot was made, 0 when the
 * current one still applies, or a negative errno.
 */
int steer_set_edges(struct steer *st, const struct steer_edge *edges, size_t n);
const struct steer_snap *steer_current(const struct steer *st);

/*
 * For the listed media sequences seqs[0..n) of track key (any order),
 * record first sight and write each segment's snapshot into snaps[i].
 * Pointers stay valid until the next steer_set_edges/steer_resolve/steer_free.
 */
int steer_resolve(struct steer *st, const char *key, const uint64_t *seqs, size_t n,
                  const struct steer_snap **snaps);

/*
 * Take / drop a reference on a snapshot (under the same lock as the other
 * calls). A referenced snapshot stays valid and unchanged across later calls
 * and may be read without the lock (snapshots are immutable).
 */
void steer_snap_ref(const struct steer_snap *s);
void steer_snap_unref(const struct steer_snap *s);

#endif
