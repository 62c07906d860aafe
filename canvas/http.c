/*
 * http.c — the canvas's pages on the shared small HTTP server
 * (ingest/httpd.h): /snapshot.png, plus per-IP top talkers appended to
 * /metrics; /healthz and the registry come from the server itself.
 *
 * Model: struct canvas_http owns the server and borrows fb, registry and
 * canvas server (the caller stops this before freeing them). Hooks run on
 * the server's thread; fb_snapshot and the top-talker table are thread-safe.
 */
#include "canvas/http.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "canvas/fb.h"
#include "canvas/image.h"
#include "canvas/server.h"
#include "common/log.h"
#include "common/metrics.h"
#include "ingest/httpd.h"

struct canvas_http {
	struct httpd *srv_http;
	struct fb *fb;
	struct canvas_server *srv;
	struct metric *m_snap;
};

static int
page(void *arg, const char *url, void **body, size_t *len, const char **ctype)
{
	struct canvas_http *h = arg;
	uint32_t *px;
	uint8_t *png = NULL;
	int r;

	if (strcmp(url, "/snapshot.png") != 0)
		return -ENOENT;
	px = malloc((size_t)h->fb->w * h->fb->h * sizeof(uint32_t));
	if (px == NULL)
		return -ENOMEM;
	fb_snapshot(h->fb, px);
	r = image_png_encode(px, h->fb->w, h->fb->h, &png, len);
	free(px);
	if (r < 0)
		return r;
	metric_inc(h->m_snap);
	*body = png;
	*ctype = "image/png";
	return 0;
}

static int
metrics_extra(void *arg, char **buf, size_t *len)
{
	struct canvas_http *h = arg;

	return h->srv != NULL ? canvas_server_render_top(h->srv, buf, len) : 0;
}

int
canvas_http_start(const char *host, uint16_t port, struct fb *fb, struct metrics *m,
                  struct canvas_server *srv, struct canvas_http **out)
{
	struct canvas_http *h;
	struct httpd_hooks hooks = { .page = page, .metrics_extra = metrics_extra };
	int r;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->fb = fb;
	h->srv = srv;
	h->m_snap = metrics_counter(m, "sluice_canvas_snapshots_total", "Snapshots served.", NULL);
	hooks.arg = h;
	r = httpd_start(host, port, m, &hooks, &h->srv_http);
	if (r < 0) {
		free(h);
		return r;
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
	httpd_stop(&h->srv_http);
	free(h);
	*ph = NULL;
}
