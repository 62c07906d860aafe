/*
 * member.h — the edge's membership at an origin: register, heartbeat, leave.
 *
 * member_start() starts one thread that registers (POST <origin>/api/v1/edges
 * {"id","url","capacity"}), retrying with jittered back-off up to
 * MEMBER_BACKOFF_MAX_US while the origin is unreachable, then sends a
 * heartbeat every MEMBER_HEARTBEAT_US (PUT /api/v1/edges/<id>/heartbeat,
 * {"load","connections","bytes_per_sec","hit_ratio"}); a heartbeat answered
 * 404 means the origin forgot us and registration starts again. Serving never
 * waits on any of this. member_stop() stops the thread and deregisters
 * (DELETE /api/v1/edges/<id>, bounded by MEMBER_HTTP_TIMEOUT_MS).
 * Requests carry "Authorization: Bearer <token>" when a token is set.
 * Errors: 0 or negative errno.
 */
#ifndef SLUICE_EDGE_MEMBER_H
#define SLUICE_EDGE_MEMBER_H

#include "edge/server.h"

#define MEMBER_HEARTBEAT_US 1000000LL
#define MEMBER_BACKOFF_MIN_US 500000LL
#define MEMBER_BACKOFF_MAX_US 10000000LL
#define MEMBER_HTTP_TIMEOUT_MS 2000L

struct member_config {
	const char *origin;    /* base URL */
	const char *advertise; /* our URL as viewers reach it */
	const char *id;
	const char *token; /* NULL or "" for none */
	long capacity;
	struct edge_server *server; /* for stats */
};

struct member;

int member_start(const struct member_config *cfg, struct member **out);
/* Stop heartbeats and deregister. Sets *m = NULL. */
void member_stop(struct member **m);

#endif
