/*
 * http.c — response helpers, request accessors and request metrics.
 *
 * Model: stateless helpers over struct req. The per-(route, status) counter
 * handles are cached in the origin context as atomics: the first request of
 * a pair registers it (registry mutex), later ones only load the pointer.
 */
#include "origin/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/token.h"

#define HTTP_HOST_MAX 200
#define HTTP_EXPOSE   "Content-Length, Content-Range, ETag, X-Sluice-Last-Seq"

static const char *const route_names[ROUTE_COUNT] = {
	"other", "healthz", "metrics", "streams", "segments", "master", "live", "dvr",
	"replay", "seg", "edges", "heartbeat", "store_changes", "store_blobs",
	"store_records", "store_info", "web",
};

static const unsigned statuses[] = {
	200, 201, 204, 206, 304, 400, 401, 403, 404, 405, 409, 413, 416, 500, 503, 0,
};

_Static_assert(ROUTE_COUNT <= ORIGIN_ROUTES, "route slots");
_Static_assert(sizeof(statuses) / sizeof(statuses[0]) <= ORIGIN_STATUSES, "status slots");

const char *
http_route_name(enum http_route r)
{
	if ((int)r < 0 || r >= ROUTE_COUNT)
		return "other";
	return route_names[r];
}

static void
count_request(struct req *r, unsigned status)
{
	size_t si = 0, ns = sizeof(statuses) / sizeof(statuses[0]);
	struct metric *m;

	while (si < ns - 1 && statuses[si] != status)
		si++;
	m = atomic_load(&r->o->req_metric[r->route][si]);
	if (m == NULL) {
		char labels[96];
		if (statuses[si] != 0)
			snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"",
			         http_route_name(r->route), status);
		else
			snprintf(labels, sizeof(labels), "route=\"%s\",status=\"other\"",
			         http_route_name(r->route));
		m = metrics_counter(r->o->metrics, "sluice_origin_requests_total",
		                    "HTTP requests by route and status", labels);
		if (m == NULL)
			return;
		atomic_store(&r->o->req_metric[r->route][si], m);
	}
	metric_inc(m);
}

enum MHD_Result
http_send(struct req *r, unsigned status, struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (resp == NULL) {
		log_error("create response: out of memory (url=\"%s\")", r->url);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(resp, "Access-Control-Expose-Headers", HTTP_EXPOSE);
	count_request(r, status);
	ret = MHD_queue_response(r->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

struct MHD_Response *
http_response_shared(const char *ctype, const char *cache, char *buf, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(buf);
		return NULL;
	}
	if (MHD_add_response_header(resp, "Content-Type", ctype) != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", cache) != MHD_YES ||
	    MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*") != MHD_YES ||
	    MHD_add_response_header(resp, "Access-Control-Expose-Headers", HTTP_EXPOSE) !=
	    MHD_YES) {
		MHD_destroy_response(resp);
		return NULL;
	}
	return resp;
}

enum MHD_Result
http_send_shared(struct req *r, unsigned status, struct MHD_Response *resp)
{
	count_request(r, status);
	return MHD_queue_response(r->conn, status, resp);
}

enum MHD_Result
http_send_malloc(struct req *r, unsigned status, const char *ctype, const char *cache,
                 char *buf, size_t len)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(buf);
		return http_send(r, status, NULL);
	}
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	if (cache != NULL)
		MHD_add_response_header(resp, "Cache-Control", cache);
	return http_send(r, status, resp);
}

enum MHD_Result
http_send_static(struct req *r, unsigned status, const char *ctype, const char *text)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
	                                       MHD_RESPMEM_PERSISTENT);
	if (resp != NULL) {
		MHD_add_response_header(resp, "Content-Type", ctype);
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	}
	return http_send(r, status, resp);
}

enum MHD_Result
http_error(struct req *r, unsigned status, const char *fmt, ...)
{
	char msg[HTTP_ERR_MAX];
	json_t *obj;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status >= 500)
		log_error("%s %s: %s", r->method, r->url, msg);
	else
		log_debug("%s %s: %u %s", r->method, r->url, status, msg);
	obj = json_pack("{s:s}", "error", msg);
	text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (text == NULL)
		return http_send_static(r, status, "application/json", "{\"error\":\"internal\"}");
	return http_send_malloc(r, status, "application/json", "no-store", text, strlen(text));
}

enum MHD_Result
http_errno(struct req *r, int rc, const char *what)
{
	switch (rc) {
	case -ENOENT:
		return http_error(r, MHD_HTTP_NOT_FOUND, "%s: not found", what);
	case -EINVAL:
		return http_error(r, MHD_HTTP_BAD_REQUEST, "%s: invalid argument", what);
	case -EBADMSG:
		return http_error(r, MHD_HTTP_BAD_REQUEST, "%s: hash mismatch", what);
	case -ENOSPC:
		return http_error(r, MHD_HTTP_INSUFFICIENT_STORAGE, "%s: no space", what);
	default:
		return http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "%s: %s", what, strerror(-rc));
	}
}

const char *
http_arg(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool
http_authorized(struct req *r)
{
	return token_check_bearer(http_header(r, MHD_HTTP_HEADER_AUTHORIZATION), r->o->conf.token);
}

void
http_client_addr(struct req *r, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	snprintf(buf, len, "unknown");
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)len);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)len);
	}
}

static bool
host_ok(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > HTTP_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_'))
			return false;
	}
	return true;
}

void
http_base_url(struct req *r, char *buf, size_t len)
{
	const char *host;

	if (r->o->conf.public_url != NULL && r->o->conf.public_url[0] != '\0') {
		snprintf(buf, len, "%s", r->o->conf.public_url);
		return;
	}
	host = http_header(r, MHD_HTTP_HEADER_HOST);
	if (host != NULL && host_ok(host))
		snprintf(buf, len, "http://%s", host);
	else if (len > 0)
		buf[0] = '\0';
}

void
http_urlencode(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			sbuf_append(b, (const char *)&c, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			sbuf_append(b, e, 3);
		}
	}
}
