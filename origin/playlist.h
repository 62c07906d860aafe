/*
 * playlist.h — HLS playlist writers (RFC 8216), pure functions.
 *
 * Owns: the text of media and multivariant playlists and the rule for where a
 * discontinuity lies between two records. No I/O, no state, no locks: safe
 * from any thread. Output buffers are malloc'd, NUL-terminated, owned by the
 * caller (free()).
 *
 * Discontinuity rule (playlist_boundary): a boundary lies between two
 * consecutive records of one stream+variant when the later one starts a
 * session (discontinuity flag), the session id changes, or the time gap
 * between the end of the earlier and the start of the later exceeds
 * PLAYLIST_GAP_US (either direction). A media playlist writes
 * #EXT-X-DISCONTINUITY before each listed segment that has a boundary with
 * the listed segment before it (never before the first listed segment).
 * #EXT-X-DISCONTINUITY-SEQUENCE must therefore be the number of boundaries
 * in the stream's history up to and including the one just before the first
 * listed segment; the caller computes it (origin/disc.h) and passes it in.
 *
 * Errors: 0, -EINVAL (bad argument: no segments, NULL URI, non-positive
 * duration), -E2BIG (text longer than SBUF_MAX), -ENOMEM.
 */
#ifndef SLUICE_ORIGIN_PLAYLIST_H
#define SLUICE_ORIGIN_PLAYLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define PLAYLIST_VERSION 3              /* decimal EXTINF */
#define PLAYLIST_GAP_US  500000LL       /* > 0.5 s between segments = gap */

enum playlist_kind {
	PLAYLIST_LIVE = 0,                  /* sliding window, no ENDLIST */
	PLAYLIST_VOD = 1,                   /* PLAYLIST-TYPE:VOD + ENDLIST */
};

struct playlist_media_opts {
	enum playlist_kind kind;
	uint64_t disc_seq;                  /* EXT-X-DISCONTINUITY-SEQUENCE */
};

/* True when a discontinuity lies between prev and cur (see above). */
bool playlist_boundary(const struct store_record *prev, const struct store_record *cur);

/* EXT-X-TARGETDURATION for these records: max rounded EXTINF, at least 1. */
unsigned playlist_target_duration(const struct store_record *recs, size_t n);

/*
 * Media playlist of n >= 1 records (ascending by start), uris[i] the URI of
 * recs[i]. MEDIA-SEQUENCE is recs[0].seq.
 */
int playlist_media(const struct store_record *recs, size_t n, const char *const *uris,
                   const struct playlist_media_opts *opts, char **out, size_t *outlen);

/*
 * playlist_media, and when holes is non-NULL also holes[i] = the offset in
 * *out where uris[i] starts (a caller can splice a prefix, e.g. a base URL,
 * in front of each URI).
 */
int playlist_media_holes(const struct store_record *recs, size_t n, const char *const *uris,
                         const struct playlist_media_opts *opts, char **out, size_t *outlen,
                         size_t *holes);

struct playlist_variant {
	uint64_t bandwidth;                 /* bit/s; 0 is written as 1 */
	uint32_t width, height;             /* 0 = RESOLUTION omitted */
	const char *codecs;                 /* NULL or "" = CODECS omitted */
	const char *uri;
};

/* Multivariant playlist listing n >= 1 variant entries in order. */
int playlist_master(const struct playlist_variant *v, size_t n, char **out, size_t *outlen);

#endif
