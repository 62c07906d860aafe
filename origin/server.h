/*
 * server.h — the origin's HTTP daemon (libmicrohttpd, one thread per
 * connection so long polls and slow clients block nobody else) and its
 * router. Handlers live in hls.h, api.h, storeapi.h, seg.h, web.h.
 *
 * Every method other than GET/HEAD/OPTIONS needs the bearer token when one
 * is configured (401 with {"error"}); request bodies are limited per route
 * (http.h), 413 beyond.
 */
#ifndef SLUICE_ORIGIN_SERVER_H
#define SLUICE_ORIGIN_SERVER_H

#include "origin/origin.h"

#define SERVER_CONN_TIMEOUT_S 120       /* idle keep-alive connections */
#define SERVER_CONNS_DFL      1024      /* connection (= thread) limit */
#define SERVER_PATH_MAX       1024

struct MHD_Daemon;

/* Bind and start serving; -EADDRINUSE / -EINVAL / -EIO. */
int server_start(struct origin *o, struct MHD_Daemon **out);
/* Stop accepting, finish connections, join threads; sets *d = NULL. */
void server_stop(struct MHD_Daemon **d);

#endif
