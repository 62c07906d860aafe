/*
 * server.c — MHD daemon setup, per-request context and routing.
 *
 * Model: an epoll event loop per thread of a pool of --threads threads
 * (default: one per core); a handler never blocks for long (a change-feed
 * long poll parks its connection, longpoll.h). MHD calls on_request() first with
 * the headers (we allocate struct req, route it, check auth and declared
 * body size), then with body chunks (appended to req->body up to
 * req->body_max; past it the rest is discarded and 413 answered), then a
 * last time with no data, when the handler runs and queues its response.
 * A parked request is called once more after its resume and answered then.
 * on_completed() frees the req. Nothing is shared between requests except
 * the origin context.
 */
#include "origin/server.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/metrics.h"
#include "origin/api.h"
#include "origin/hls.h"
#include "origin/http.h"
#include "origin/seg.h"
#include "origin/storeapi.h"
#include "origin/web.h"
#include "store/cid.h"

#define REQ_MAGIC 0x6f726967u           /* "orig" */

struct req_box {
	unsigned magic;
	struct req r;
};

static bool
is_get(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

static enum MHD_Result
metrics_page(struct req *r)
{
	char *text = NULL;
	size_t len = 0;
	int rc = metrics_render(r->o->metrics, &text, &len);

	if (rc != 0)
		return http_errno(r, rc, "metrics");
	return http_send_malloc(r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
	                        "no-store", text, len);
}

static enum MHD_Result
options(struct req *r)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL,
	                                                            MHD_RESPMEM_PERSISTENT);
	if (resp != NULL) {
		MHD_add_response_header(resp, "Access-Control-Allow-Methods",
		                        "GET, HEAD, POST, PUT, DELETE, OPTIONS");
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
		                        "Authorization, Content-Type, Range");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	}
	return http_send(r, MHD_HTTP_NO_CONTENT, resp);
}

/* /hls/<s>/master.m3u8 or /hls/<s>/<v>/<kind>.m3u8 */
static enum MHD_Result
route_hls(struct req *r, const char *path)
{
	char buf[SERVER_PATH_MAX];
	char *s, *v, *f, *slash;
	size_t len = strlen(path);

	r->route = ROUTE_MASTER;
	if (len + 1 > sizeof(buf))
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such playlist");
	memcpy(buf, path, len + 1);
	s = buf;
	slash = strchr(s, '/');
	if (slash == NULL)
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such playlist");
	*slash = '\0';
	v = slash + 1;
	if (!is_get(r->method))
		return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (strcmp(v, "master.m3u8") == 0)
		return hls_master(r, s);
	slash = strchr(v, '/');
	if (slash == NULL)
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such playlist");
	*slash = '\0';
	f = slash + 1;
	if (strcmp(f, "live.m3u8") == 0)
		r->route = ROUTE_LIVE;
	else if (strcmp(f, "dvr.m3u8") == 0)
		r->route = ROUTE_DVR;
	else if (strcmp(f, "replay.m3u8") == 0)
		r->route = ROUTE_REPLAY;
	else
		return http_error(r, MHD_HTTP_NOT_FOUND, "no such playlist");
	return hls_media(r, s, v, r->route);
}

static enum MHD_Result
route_seg(struct req *r, const char *name)
{
	size_t n = strlen(name);
	char cid[CID_BUF_LEN];

	r->route = ROUTE_SEG;
	if (!is_get(r->method))
		return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
	if (n != CID_HEX_LEN + 3 || strcmp(name + CID_HEX_LEN, ".ts") != 0 ||
	    !cid_valid_n(name, CID_HEX_LEN))
		return http_error(r, MHD_HTTP_BAD_REQUEST, "bad segment name");
	memcpy(cid, name, CID_HEX_LEN);
	cid[CID_HEX_LEN] = '\0';
	return seg_serve(r, cid, "video/mp2t");
}

static enum MHD_Result
dispatch(struct req *r)
{
	const char *u = r->url;

	if (strcmp(r->method, "OPTIONS") == 0)
		return options(r);
	if (strcmp(u, "/healthz") == 0) {
		r->route = ROUTE_HEALTHZ;
		return http_send_static(r, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok");
	}
	if (strcmp(u, "/metrics") == 0) {
		r->route = ROUTE_METRICS;
		return metrics_page(r);
	}
	if (strncmp(u, "/api/v1/", 8) == 0)
		return api_handle(r, u + 8);
	if (strncmp(u, "/store/v1/", 10) == 0)
		return storeapi_handle(r, u + 10);
	if (strncmp(u, "/hls/", 5) == 0)
		return route_hls(r, u + 5);
	if (strncmp(u, "/seg/", 5) == 0)
		return route_seg(r, u + 5);
	if (strcmp(u, "/") == 0 || strcmp(u, "/index.html") == 0 || strncmp(u, "/web/", 5) == 0) {
		r->route = ROUTE_WEB;
		if (!is_get(r->method))
			return http_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
		return web_serve(r, u[1] == 'w' ? u + 5 : NULL);
	}
	return http_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
}

static size_t
body_limit(const char *url)
{
	if (strncmp(url, "/store/v1/blobs/", 16) == 0)
		return HTTP_BODY_MAX_BLOB;
	if (strcmp(url, "/store/v1/records") == 0)
		return HTTP_BODY_MAX_NDJSON;
	return HTTP_BODY_MAX_JSON;
}

static enum http_route
guess_route(const char *url)
{
	if (strncmp(url, "/store/v1/blobs/", 16) == 0)
		return ROUTE_BLOBS;
	if (strcmp(url, "/store/v1/records") == 0)
		return ROUTE_RECORDS;
	if (strncmp(url, "/api/v1/edges", 13) == 0)
		return strstr(url, "/heartbeat") != NULL ? ROUTE_HEARTBEAT : ROUTE_EDGES;
	return ROUTE_OTHER;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size,
           void **con_cls)
{
	struct origin *o = cls;
	struct req_box *box = *con_cls;
	struct req *r;

	(void)version;
	if (box == NULL) {
		const char *cl;
		box = calloc(1, sizeof(*box));
		if (box == NULL)
			return MHD_NO;
		box->magic = REQ_MAGIC;
		r = &box->r;
		r->o = o;
		r->conn = conn;
		r->method = method;
		r->url = url;
		r->head = strcmp(method, "HEAD") == 0;
		r->body_max = body_limit(url);
		sbuf_init(&r->body);
		*con_cls = box;
		/* GET/HEAD/OPTIONS are answered on the next call: a response queued
		 * on this first call counts as "early" and makes MHD close the
		 * connection (no keep-alive) */
		if (is_get(method) || strcmp(method, "OPTIONS") == 0)
			return MHD_YES;
		r->route = guess_route(url);
		if (!http_authorized(r)) {
			r->failed = true;
			return http_error(r, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token");
		}
		cl = http_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL && strtoull(cl, NULL, 10) > r->body_max) {
			r->failed = true;
			return http_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %zu bytes",
			                  r->body_max);
		}
		return MHD_YES;
	}
	if (box->magic != REQ_MAGIC)
		return MHD_NO;
	r = &box->r;
	if (r->parked) {
		/* resumed by the long-poll waiter: answer now, without waiting again */
		r->parked = false;
		r->resumed = true;
		return dispatch(r);
	}
	if (*upload_data_size > 0) {
		if (!r->failed && r->body.len + *upload_data_size <= r->body_max)
			sbuf_append(&r->body, upload_data, *upload_data_size);
		else
			r->started = true;      /* over the limit: discard, answer 413 at the end */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (r->failed)
		return MHD_YES;
	r->failed = true;                   /* answered below; later calls do nothing */
	if (r->started) {
		metric_inc(o->body_too_large);
		return http_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "body larger than %zu bytes",
		                  r->body_max);
	}
	if (r->body.err != 0)
		return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "body: out of memory");
	return dispatch(r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
	struct req_box *box = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (box == NULL)
		return;
	if (box->magic == REQ_MAGIC) {
		sbuf_free(&box->r.body);
		box->magic = 0;
		free(box);
	}
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	size_t n;

	(void)cls;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	log_warn("http: %s", buf);
}

int
server_start(struct origin *o, struct MHD_Daemon **out)
{
	struct addrinfo hints, *ai = NULL;
	char port[8];
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
	                 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;
	int rc;

	*out = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%u", (unsigned)o->conf.port);
	rc = getaddrinfo(o->conf.host, port, &hints, &ai);
	if (rc != 0) {
		log_error("listen address \"%s\": %s", o->conf.host, gai_strerror(rc));
		return -EINVAL;
	}
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, o->conf.port, NULL, NULL, on_request, o,
	                     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, o,
	                     MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	                     MHD_OPTION_THREAD_POOL_SIZE, o->conf.threads > 1 ? o->conf.threads : 0u,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->conf.threads_max,
	                     MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)SERVER_BACKLOG,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVER_CONN_TIMEOUT_S,
	                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVER_CONN_MEMORY,
	                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, o,
	                     MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
	                     MHD_OPTION_END);
	freeaddrinfo(ai);
	if (d == NULL) {
		log_error("listen on %s:%u: cannot start the HTTP server (address in use?)",
		          o->conf.host, (unsigned)o->conf.port);
		return -EADDRINUSE;
	}
	*out = d;
	return 0;
}

void
server_stop(struct MHD_Daemon **d)
{
	if (d == NULL || *d == NULL)
		return;
	MHD_stop_daemon(*d);
	*d = NULL;
}
