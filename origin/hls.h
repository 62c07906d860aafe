/*
 * hls.h — HLS playlist endpoints built from the store's index:
 *   GET /hls/<s>/master.m3u8[?sid=][&seconds=N | &from=&to=]
 *   GET /hls/<s>/<v>/live.m3u8    last --window segments
 *   GET /hls/<s>/<v>/dvr.m3u8?seconds=N   the last N seconds (live)
 *   GET /hls/<s>/<v>/replay.m3u8?from=&to=  VOD of the range
 * Media playlists accept sid= (viewer key) and pin=<edge-id> (redundant
 * stream pinned to one edge). Stateless apart from the origin context.
 */
#ifndef SLUICE_ORIGIN_HLS_H
#define SLUICE_ORIGIN_HLS_H

#include "origin/http.h"

#define HLS_SID_MAX          64         /* viewer key chars from ?sid= */
#define HLS_DVR_DEFAULT_US   (600LL * 1000000)
#define HLS_SEGMENTS_MAX     200000     /* per playlist */
#define HLS_REDUNDANT        2          /* extra copies of each variant in master */
#define HLS_CTYPE            "application/vnd.apple.mpegurl"

enum MHD_Result hls_master(struct req *r, const char *stream);
/* kind: ROUTE_LIVE, ROUTE_DVR or ROUTE_REPLAY */
enum MHD_Result hls_media(struct req *r, const char *stream, const char *variant,
                          enum http_route kind);

#endif
