/*
 * disc.h — EXT-X-DISCONTINUITY-SEQUENCE for a media playlist, computed
 * cheaply and consistently across reloads.
 *
 * The number for a playlist whose first segment is record K is the count of
 * boundaries (playlist_boundary) between consecutive records of the
 * stream+variant from its first record up to K. Computing it by scanning the
 * whole history on every reload would be O(history), so this module keeps,
 * per stream+variant, an anchor (a record and the count at it): the count at
 * K is the anchor's count plus the boundaries scanned between anchor and K
 * (or minus them, for K before the anchor). Live reloads move the anchor
 * forward, so each scan covers a few records. Anchors are also persisted in
 * the store's metadata (key "disc/<stream>/<variant>", when the count
 * changes or the anchor moved DISC_PERSIST_US on) so the numbers stay the
 * same across an origin restart even after retention deleted old records.
 * If a persisted anchor's record is gone the count restarts from the oldest
 * surviving record (logged).
 *
 * Threading: any thread; an internal mutex guards the anchor table, store
 * scans run outside it. Errors: negative errno from the store.
 */
#ifndef SLUICE_ORIGIN_DISC_H
#define SLUICE_ORIGIN_DISC_H

#include <stdint.h>

#include "store/store.h"

#define DISC_SLOTS      1024                    /* cached anchors */
#define DISC_SCAN_CHUNK 4096                    /* records per store_query */
#define DISC_PERSIST_US (600LL * 1000000)       /* persist after 10 min of movement */

struct disc;

int disc_new(struct store *s, struct disc **out);
void disc_free(struct disc **d);        /* sets *d = NULL; NULL-safe */

/* Discontinuity sequence for a playlist whose first listed record is first. */
int disc_sequence(struct disc *d, const struct store_record *first, uint64_t *out);

#endif
