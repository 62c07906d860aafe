/*
 * api.h — the JSON API under /api/v1/:
 *   GET    /api/v1/streams                      all streams (array)
 *   GET    /api/v1/streams/<s>                  one stream (object)
 *   GET    /api/v1/streams/<s>/segments?variant=&from=&to=   records (array)
 *   GET    /api/v1/edges                        the edge registry (array)
 *   POST   /api/v1/edges                        {"id","url","capacity"}; 201/200
 *   PUT    /api/v1/edges/<id>/heartbeat         {"load","connections",...}
 *   POST   /api/v1/edges/<id>/drain             stop new segments to it
 *   DELETE /api/v1/edges/<id>                   drain and remove
 * Errors are {"error":"..."} with a 4xx/5xx status. Mutating calls need the
 * bearer token when one is configured (401).
 */
#ifndef SLUICE_ORIGIN_API_H
#define SLUICE_ORIGIN_API_H

#include "origin/http.h"

#define API_SEGMENTS_MAX 100000         /* records per segments answer */

/* path: the URL after "/api/v1/". Body (if any) is complete in r->body. */
enum MHD_Result api_handle(struct req *r, const char *path);

#endif
