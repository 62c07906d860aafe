/*
 * server.h — the origin's HTTP daemon (libmicrohttpd, a pool of --threads
 * epoll event loops; change-feed long polls are parked, not waited on, so
 * they block nobody) and its router. Handlers live in hls.h, api.h, storeapi.h, seg.h, web.h.
 *
 * Every method other than GET/HEAD/OPTIONS needs the bearer token when one
 * is configured (401 with {"error"}); request bodies are limited per route
 * (http.h), 413 beyond.
 */
#ifndef SLUICE_ORIGIN_SERVER_H
#define SLUICE_ORIGIN_SERVER_H

#include "origin/origin.h"

#define SERVER_CONN_TIMEOUT_S 120       /* idle keep-alive connections */
#define SERVER_CONNS_DFL      1024      /* connection limit */
#define SERVER_THREADS_MAX    256       /* --threads: event-loop threads */
#define SERVER_BACKLOG        1024      /* listen(2) backlog */
/*
 * Per-connection MHD memory pool: request line + headers + the response
 * header, and the read buffer of upload bodies (streamed to the handler in
 * pieces of at most this). MHD zeroes the pool between keep-alive requests,
 * so it is kept small (its default, 32 KiB, cost ~9% of a playlist request).
 */
#define SERVER_CONN_MEMORY    (16u * 1024)
#define SERVER_PATH_MAX       1024

struct MHD_Daemon;

/* Bind and start serving; -EADDRINUSE / -EINVAL / -EIO. */
int server_start(struct origin *o, struct MHD_Daemon **out);
/* Stop accepting, finish connections, join threads; sets *d = NULL. */
void server_stop(struct MHD_Daemon **d);

#endif
