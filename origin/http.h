/*
 * http.h — request context and response helpers over libmicrohttpd.
 *
 * One struct req per HTTP request, allocated on the first access-handler
 * call and freed when MHD reports the request complete. A request body is
 * accumulated into req->body up to req->body_max bytes (then 413).
 * Every response goes through http_send*(), which adds the CORS header,
 * counts sluice_origin_requests_total{route,status} and destroys the
 * response. Handlers return the MHD_Result of the queue call.
 */
#ifndef SLUICE_ORIGIN_HTTP_H
#define SLUICE_ORIGIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <microhttpd.h>

#include "origin/origin.h"
#include "origin/sbuf.h"

#define HTTP_BODY_MAX_JSON (1u << 20)          /* API bodies */
#define HTTP_BODY_MAX_BLOB (64u << 20)         /* PUT /store/v1/blobs */
#define HTTP_BODY_MAX_NDJSON (32u << 20)       /* POST /store/v1/records */
#define HTTP_ERR_MAX 256
#define HTTP_ADDR_MAX 64

enum http_route {
	ROUTE_OTHER = 0, ROUTE_HEALTHZ, ROUTE_METRICS, ROUTE_STREAMS, ROUTE_SEGMENTS,
	ROUTE_MASTER, ROUTE_LIVE, ROUTE_DVR, ROUTE_REPLAY, ROUTE_SEG, ROUTE_EDGES,
	ROUTE_HEARTBEAT, ROUTE_CHANGES, ROUTE_BLOBS, ROUTE_RECORDS, ROUTE_INFO, ROUTE_WEB,
	ROUTE_COUNT
};

struct req {
	struct origin *o;
	struct MHD_Connection *conn;
	const char *method;
	const char *url;
	enum http_route route;
	bool head;
	bool started;                       /* first call done */
	bool failed;                        /* an early response was queued */
	bool parked;                        /* suspended by longpoll_park, no response yet */
	bool resumed;                       /* called again after a park: answer now */
	size_t body_max;
	struct sbuf body;
};

const char *http_route_name(enum http_route r);

/* Queue resp with status (adds CORS, counts, destroys resp). */
enum MHD_Result http_send(struct req *r, unsigned status, struct MHD_Response *resp);
/* Copy-free send of a malloc'd buffer (ownership passes to MHD). */
enum MHD_Result http_send_malloc(struct req *r, unsigned status, const char *ctype,
                                 const char *cache, char *buf, size_t len);
/*
 * A response that many requests may queue (MHD counts references): buf
 * (malloc'd, owned by the response from here on, freed on failure too) with
 * Content-Type, Cache-Control and the CORS headers. NULL on out of memory.
 * Its creator releases it with MHD_destroy_response when done sharing.
 */
struct MHD_Response *http_response_shared(const char *ctype, const char *cache, char *buf,
                                          size_t len);
/* Queue a shared response (counts; adds nothing, destroys nothing). */
enum MHD_Result http_send_shared(struct req *r, unsigned status, struct MHD_Response *resp);
/* Send a constant string. */
enum MHD_Result http_send_static(struct req *r, unsigned status, const char *ctype,
                                 const char *text);
/* {"error":"<message>"} with status (4xx/5xx). 5xx are logged. */
enum MHD_Result http_error(struct req *r, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Map a negative errno from store calls to an HTTP error response. */
enum MHD_Result http_errno(struct req *r, int rc, const char *what);

const char *http_arg(struct req *r, const char *name);
const char *http_header(struct req *r, const char *name);
/* True when no token is configured or the Bearer token matches. */
bool http_authorized(struct req *r);
/* Client IP address as text into buf (at least HTTP_ADDR_MAX). */
void http_client_addr(struct req *r, char *buf, size_t len);
/*
 * Base URL of this origin for absolute URIs: --public-url, else
 * "http://<Host>" if the Host header is sane, else "" (relative URIs).
 */
void http_base_url(struct req *r, char *buf, size_t len);
/* Percent-encode s for a query value into b. */
void http_urlencode(struct sbuf *b, const char *s);

#endif
