/*
 * http.c — /snapshot.png, /metrics, /healthz over libmicrohttpd.
 *
 * Every response body is built per request into a malloc'd buffer handed
 * to MHD (MHD_RESPMEM_MUST_FREE). Borrowed pointers live as long as the
 * daemon (the caller stops it before freeing them).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "canvas/fb.h"
#include "canvas/http.h"
#include "canvas/image.h"
#include "canvas/server.h"
#include "common/log.h"
#include "common/metrics.h"

struct canvas_http {
	struct MHD_Daemon *d;
	struct fb *fb;
	struct metrics *m;
	struct canvas_server *srv;
	struct metric *m_snap;
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
snapshot(struct canvas_http *h, struct MHD_Connection *c)
{
	uint32_t *px = malloc((size_t)h->fb->w * h->fb->h * sizeof(uint32_t));
	uint8_t *png = NULL;
	size_t len = 0;
	int r;

	if (px == NULL)
		return MHD_NO;
	fb_snapshot(h->fb, px);
	r = image_png_encode(px, h->fb->w, h->fb->h, &png, &len);
	free(px);
	if (r < 0) {
		static const char err[] = "snapshot failed\n";
		log_error("snapshot.png: %s", strerror(-r));
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", (void *)err,
		             sizeof(err) - 1, MHD_RESPMEM_PERSISTENT);
	}
	metric_inc(h->m_snap);
	return reply(c, MHD_HTTP_OK, "image/png", png, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result
answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
       const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	static const char ok[] = "ok\n", nf[] = "not found\n", na[] = "method not allowed\n";
	struct canvas_http *h = cls;
	char *buf = NULL;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", (void *)na,
		             sizeof(na) - 1, MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/healthz") == 0)
		return reply(c, MHD_HTTP_OK, "text/plain", (void *)ok, sizeof(ok) - 1,
		             MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/snapshot.png") == 0)
		return snapshot(h, c);
	if (strcmp(url, "/metrics") == 0) {
		if (metrics_render(h->m, &buf, &len) < 0)
			return MHD_NO;
		if (h->srv != NULL && canvas_server_render_top(h->srv, &buf, &len) < 0) {
			free(buf);
			return MHD_NO;
		}
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", buf, len,
		             MHD_RESPMEM_MUST_FREE);
	}
	return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", (void *)nf, sizeof(nf) - 1,
	             MHD_RESPMEM_PERSISTENT);
}

int
canvas_http_start(const char *host, uint16_t port, struct fb *fb, struct metrics *m,
                  struct canvas_server *srv, struct canvas_http **out)
{
	struct sockaddr_in sa;
	struct canvas_http *h;

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		log_error("--http \"%s:%u\": not an IPv4 address", host, (unsigned)port);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->fb = fb;
	h->m = m;
	h->srv = srv;
	h->m_snap = metrics_counter(m, "sluice_canvas_snapshots_total", "Snapshots served.", NULL);
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, port, NULL,
	                        NULL, answer, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CANVAS_HTTP_CONN_LIMIT,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CANVAS_HTTP_TIMEOUT_S,
	                        MHD_OPTION_END);
	if (h->d == NULL) {
		log_error("--http \"%s:%u\": cannot start HTTP server", host, (unsigned)port);
		free(h);
		return -EADDRINUSE;
	}
	*out = h;
	return 0;
}

void
canvas_http_stop(struct canvas_http **ph)
{
	struct canvas_http *h = *ph;

	if (h == NULL)
		return;
	MHD_stop_daemon(h->d);
	free(h);
	*ph = NULL;
}
