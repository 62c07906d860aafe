/*
 * httpd.h — the ingest's small HTTP endpoint (--listen): GET /metrics
 * (Prometheus text of the registry) and GET /healthz ("ok").
 *
 * libmicrohttpd with its own internal thread; the metrics registry is
 * thread-safe. Errors: 0 or negative errno (-EADDRINUSE, -EINVAL, -EIO).
 */
#ifndef SLUICE_INGEST_HTTPD_H
#define SLUICE_INGEST_HTTPD_H

#include <stdint.h>

struct httpd;
struct metrics;

int httpd_start(const char *host, uint16_t port, struct metrics *m, struct httpd **out);
void httpd_stop(struct httpd **h);

#endif
