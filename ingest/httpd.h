/*
 * httpd.h — the small HTTP endpoint of ingest (--listen) and the canvas
 * (--http): GET /metrics (Prometheus text of the registry), GET /healthz
 * ("ok"), and whatever extra pages the caller's hooks serve (the canvas's
 * /snapshot.png).
 *
 * libmicrohttpd with its own internal thread: hooks run on that thread and
 * must be thread-safe, as the metrics registry is. Everything borrowed (the
 * registry, hooks->arg) must outlive httpd_stop().
 * Errors: 0 or negative errno (-EINVAL address, -EADDRINUSE, -ENOMEM).
 */
#ifndef SLUICE_INGEST_HTTPD_H
#define SLUICE_INGEST_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#define HTTPD_CONN_LIMIT 256
#define HTTPD_TIMEOUT_S  30

struct httpd;
struct metrics;

struct httpd_hooks {
	/*
	 * An extra GET/HEAD page: 0 with *body (malloc'd; the server frees it),
	 * *len and *ctype (static string) set; -ENOENT when url is not one of
	 * the caller's (404); any other negative errno answers 500.
	 */
	int (*page)(void *arg, const char *url, void **body, size_t *len, const char **ctype);
	/* Append dynamic series to the rendered /metrics text (realloc *buf). */
	int (*metrics_extra)(void *arg, char **buf, size_t *len);
	void *arg;
};

/* hooks may be NULL; it is copied. */
int httpd_start(const char *host, uint16_t port, struct metrics *m,
                const struct httpd_hooks *hooks, struct httpd **out);
void httpd_stop(struct httpd **h);

#endif
