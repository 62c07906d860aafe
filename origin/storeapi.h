/*
 * storeapi.h — the store's replication API as served by the origin
 * (DESIGN.md "Replication over HTTP"):
 *   GET  /store/v1/changes?since=N&limit=M&wait=S   NDJSON change lines,
 *        long poll up to S seconds (STOREAPI_WAIT_MAX), X-Sluice-Last-Seq
 *   GET|HEAD /store/v1/blobs/<cid>                    bytes / existence
 *   PUT  /store/v1/blobs/<cid>                        upload: 400 hash
 *        mismatch, 201 new, 200 known (body <= HTTP_BODY_MAX_BLOB)
 *   POST /store/v1/records                            NDJSON records (or
 *        change lines with "op"); 409 when a record's blob is missing
 *   GET  /store/v1/info                               node, last_seq, counts
 * The long poll blocks no thread: the connection is parked (suspended,
 * longpoll.h) and answered when a change arrives or the wait ends; no LMDB
 * transaction is held while waiting; it returns early at shutdown.
 */
#ifndef SLUICE_ORIGIN_STOREAPI_H
#define SLUICE_ORIGIN_STOREAPI_H

#include "origin/http.h"

#define STOREAPI_LIMIT_DFL 1000
#define STOREAPI_LIMIT_MAX 10000
#define STOREAPI_WAIT_MAX_US (60LL * 1000000)
#define STOREAPI_LINE_MAX  16384

/* path: the URL after "/store/v1/". */
enum MHD_Result storeapi_handle(struct req *r, const char *path);

#endif
