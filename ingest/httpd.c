/*
 * httpd.c — /metrics and /healthz over libmicrohttpd (see httpd.h).
 *
 * Model: struct httpd holds the MHD daemon, the registry pointer and the
 * caller's hooks; MHD's internal polling thread calls answer(), which builds
 * every dynamic body into a malloc'd buffer handed to MHD
 * (MHD_RESPMEM_MUST_FREE).
 */
#include "ingest/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "common/log.h"
#include "common/metrics.h"

struct httpd {
	struct MHD_Daemon *d;
	struct metrics *m;
	struct httpd_hooks hooks;
};

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned status, const char *ctype, void *body, size_t len,
      enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, body, mode);
	if (resp == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	static const char ok[] = "ok\n", nf[] = "not found\n", na[] = "method not allowed\n",
	                  ie[] = "internal error\n";
	struct httpd *h = cls;
	const char *ctype = NULL;
	void *body = NULL;
	char *buf = NULL;
	size_t len = 0;
	int r;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)ctx;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", (void *)na,
		             sizeof(na) - 1, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/healthz") == 0)
		return reply(c, MHD_HTTP_OK, "text/plain", (void *)ok, sizeof(ok) - 1,
		             MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics") == 0) {
		if (metrics_render(h->m, &buf, &len) < 0)
			return MHD_NO;
		if (h->hooks.metrics_extra != NULL &&
		    h->hooks.metrics_extra(h->hooks.arg, &buf, &len) < 0) {
			free(buf);
			return MHD_NO;
		}
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, len,
		             MHD_RESPMEM_MUST_FREE);
	}
	r = h->hooks.page != NULL ? h->hooks.page(h->hooks.arg, url, &body, &len, &ctype)
	                          : -ENOENT;
	if (r == 0)
		return reply(c, MHD_HTTP_OK, ctype, body, len, MHD_RESPMEM_MUST_FREE);
	if (r != -ENOENT) {
		log_error("GET \"%s\": %s", url, strerror(-r));
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", (void *)ie,
		             sizeof(ie) - 1, MHD_RESPMEM_PERSISTENT);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", (void *)nf, sizeof(nf) - 1,
	             MHD_RESPMEM_PERSISTENT);
}

int
httpd_start(const char *host, uint16_t port, struct metrics *m,
            const struct httpd_hooks *hooks, struct httpd **out)
{
	struct sockaddr_in sa;
	struct httpd *h;

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		log_error("listen \"%s:%u\": not an IPv4 address", host, port);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->m = m;
	if (hooks != NULL)
		h->hooks = *hooks;
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
	                        NULL, answer, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTPD_CONN_LIMIT,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTPD_TIMEOUT_S,
	                        MHD_OPTION_END);
	if (h->d == NULL) {
		log_error("listen \"%s:%u\": cannot start HTTP server", host, port);
		free(h);
		return -EADDRINUSE;
	}
	*out = h;
	return 0;
}

void
httpd_stop(struct httpd **ph)
{
	struct httpd *h = *ph;

	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
	*ph = NULL;
}
