/*
 * live.h — cache of live.m3u8 windows and of their rendered responses.
 *
 * Owns, per stream+variant (LIVE_SLOTS slots by hash; a colliding key
 * replaces the slot): the last --window records, their discontinuity
 * sequence and steering snapshots (a reference held on each, edges.h), the
 * playlist text with a hole before each segment URI, and up to
 * LIVE_RESPS_MAX ready MHD responses, one per (base URL, edge picked in each
 * snapshot). A window is valid for one value of the store's last change seq
 * (store_last_seq, read on every request: one short read transaction); any
 * change, from any process, makes the next request rebuild it.
 *
 * Per request the only work is: the seq check, the viewer's rendezvous pick
 * in each distinct snapshot of the window (usually one; none when it has no
 * edges), a lookup of the matching response, and MHD_queue_response of that
 * shared response. The text is byte-identical to hls_media's for the same
 * records, viewer and pin; steering is unchanged (a segment's snapshot is
 * fixed when a window first lists it, exactly as steer_resolve does).
 *
 * Threading: any MHD thread; a mutex per slot guards its window pointer,
 * windows are refcounted and immutable apart from their response list
 * (published with atomics under a per-window mutex).
 */
#ifndef SLUICE_ORIGIN_LIVE_H
#define SLUICE_ORIGIN_LIVE_H

#include <stdbool.h>

#include "origin/http.h"

#define LIVE_SLOTS      1024            /* cached stream+variant windows */
#define LIVE_RESPS_MAX  32              /* rendered responses kept per window */
#define LIVE_SNAPS_MAX  8               /* distinct steering snapshots per window */
#define LIVE_BASE_MAX   320             /* origin base URL chars */

struct livecache;

int livecache_new(struct origin *o, struct livecache **out);
/* Drops every window (and its snapshot references); sets *lc = NULL; NULL-safe. */
void livecache_free(struct livecache **lc);

/*
 * Answer GET live.m3u8 of stream/variant (names valid; sid valid or NULL;
 * pin valid or NULL) from the cache into *ret. Returns false, answering
 * nothing, when the window cannot be served from the cache (no records,
 * store error, too many snapshots): the caller then uses the uncached path,
 * which also words the errors.
 */
bool livecache_serve(struct livecache *lc, struct req *r, const char *stream,
                     const char *variant, const char *sid, const char *pin,
                     enum MHD_Result *ret);

#endif
