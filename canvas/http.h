/*
 * http.h — the canvas's HTTP endpoint (--http): GET /snapshot.png (the
 * framebuffer now, PNG), GET /metrics (the registry plus per-IP top
 * talkers), GET /healthz ("ok").
 *
 * Built on ingest/httpd.h (libmicrohttpd with its own internal thread);
 * everything it reads (fb, registry, server top talkers) is thread-safe.
 * Errors: 0 or negative errno (-EINVAL address, -EADDRINUSE, -ENOMEM).
 */
#ifndef SLUICE_CANVAS_HTTP_H
#define SLUICE_CANVAS_HTTP_H

#include <stdint.h>

struct fb;
struct metrics;
struct canvas_server;
struct canvas_http;

int canvas_http_start(const char *host, uint16_t port, struct fb *fb, struct metrics *m,
                      struct canvas_server *srv, struct canvas_http **out);
void canvas_http_stop(struct canvas_http **h);

#endif
