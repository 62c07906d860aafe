/*
 * http_parse.h — incremental, zero-copy HTTP/1.1 request-head parser.
 *
 * The caller owns a byte buffer that holds the request from its first byte
 * (offset 0) and grows as data arrives; it calls http_parse() with the whole
 * buffer each time. The parser remembers how far it has looked, so every byte
 * is examined once. Results point into the buffer as spans (offset, length)
 * relative to the request start, so the caller may move the buffer between
 * calls. The parser never allocates and does no I/O.
 *
 * Answers: HTTP_PARSE_DONE (req complete, req->head_len bytes consumed),
 * HTTP_PARSE_MORE (need more bytes), HTTP_PARSE_REJECT (req->status and
 * req->reason say why; the connection should answer and close).
 * The same bytes give the same answer however they are split across calls.
 *
 * Request bodies are not accepted: Content-Length other than 0 -> 400,
 * Transfer-Encoding -> 501. Limits are the HTTP_MAX_* constants below.
 * Thread-safe per struct (no shared state).
 */
#ifndef SLUICE_EDGE_HTTP_PARSE_H
#define SLUICE_EDGE_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_REQUEST_LINE 2048 /* bytes before the first LF -> 414 */
#define HTTP_MAX_HEADER_BYTES 8192 /* header section bytes -> 431 */
#define HTTP_MAX_HEADERS 64        /* header fields -> 431 */

enum http_parse_result {
	HTTP_PARSE_MORE = 0,
	HTTP_PARSE_DONE = 1,
	HTTP_PARSE_REJECT = 2,
};

enum http_method {
	HTTP_M_NONE = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_OPTIONS,
	HTTP_M_OTHER,   /* a standard method we do not allow here -> 405 */
	HTTP_M_UNKNOWN, /* a syntactically valid token we do not know -> 501 */
};

struct http_span {
	uint32_t off;
	uint32_t len;
};

struct http_header {
	struct http_span name;
	struct http_span value; /* leading/trailing OWS trimmed */
};

struct http_request {
	/* parser state (private) */
	uint32_t pos;        /* bytes examined so far */
	uint32_t line_start; /* start of the current line */
	uint32_t hdr_start;  /* start of the header section */
	uint8_t state;

	/* results */
	enum http_method method;
	struct http_span method_tok;
	struct http_span target;
	uint8_t version_minor; /* HTTP/1.x */
	uint8_t keep_alive;    /* after Connection: and version defaults */
	uint8_t has_host;
	uint8_t conn_close;
	uint8_t conn_keepalive;
	uint16_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
	struct http_span range;         /* len 0 when absent */
	struct http_span if_none_match; /* len 0 when absent */
	uint32_t head_len;              /* bytes of the whole head, when DONE */

	/* when REJECT */
	int status;
	const char *reason;
};

/* Reset to parse a new request (start of buffer = offset 0). */
void http_request_init(struct http_request *r);

/*
 * Continue parsing buf[0..len). len must not shrink between calls for one
 * request and bytes already given must not change.
 */
enum http_parse_result http_parse(struct http_request *r, const char *buf, size_t len);

/* Case-insensitive compare of a span with a NUL-terminated lowercase string. */
int http_span_ieq(const char *buf, struct http_span s, const char *lower);

enum http_range_result {
	HTTP_RANGE_NONE = 0,  /* absent, invalid or multi-range: answer 200 full */
	HTTP_RANGE_OK = 1,    /* answer 206 [*first, *last] */
	HTTP_RANGE_UNSAT = 2, /* answer 416 */
};

/*
 * Interpret a Range header value (RFC 9110 14.1.2) for a representation of
 * size bytes. Single ranges only: "bytes=a-b", "bytes=a-", "bytes=-n".
 */
enum http_range_result http_range(const char *v, size_t vlen, uint64_t size, uint64_t *first,
                                  uint64_t *last);

#endif
