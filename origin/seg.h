/*
 * seg.h — serving immutable blobs by CID: /seg/<cid>.ts and
 * /store/v1/blobs/<cid>, zero-copy from the blob file (sendfile via
 * MHD_create_response_from_fd_at_offset64), with a single byte Range
 * (206 / 416), ETag "<cid>" and If-None-Match (304).
 */
#ifndef SLUICE_ORIGIN_SEG_H
#define SLUICE_ORIGIN_SEG_H

#include <stdint.h>

#include "origin/http.h"

#define SEG_CACHE_CONTROL "public, max-age=31536000, immutable"

/*
 * Parse a Range header value against size. Returns 0 with [*start,
 * *start+*len) for one satisfiable range, 1 when the header should be
 * ignored (absent, multi-range, not bytes, malformed), -ERANGE when
 * unsatisfiable (416). Pure.
 */
int seg_parse_range(const char *hdr, uint64_t size, uint64_t *start, uint64_t *len);

/* Serve blob cid (already validated) with the given Content-Type. */
enum MHD_Result seg_serve(struct req *r, const char *cid, const char *ctype);

#endif
