/*
 * http_parse.c — the request-head parser.
 *
 * Model: the head is a sequence of lines ending in LF (a CR right before the
 * LF is stripped; a bare LF is accepted, RFC 9112 2.2). The parser keeps
 * r->pos, the first byte not yet looked at, and handles one complete line at a
 * time: request line (state RL), then header lines (state HDR) until the empty
 * line (DONE). Limits are checked before the syntax of a line, and a partial
 * line is only checked against limits, in the same units as a complete one, so
 * the answer does not depend on how the bytes were split:
 *   request line: bytes before its LF, counted from the request start, > 2 KiB
 *   header section: bytes from its start through the current line, > 8 KiB
 * A reject is sticky: later calls return it again.
 */
#include "edge/http_parse.h"

#include <string.h>

enum { ST_RL = 0, ST_HDR = 1, ST_DONE = 2, ST_REJECT = 3 };

static const char *const m_other[] = {"POST", "PUT", "DELETE", "PATCH", "CONNECT", "TRACE"};

void
http_request_init(struct http_request *r)
{
	r->pos = 0;
	r->line_start = 0;
	r->hdr_start = 0;
	r->state = ST_RL;
	r->method = HTTP_M_NONE;
	r->method_tok = (struct http_span){0, 0};
	r->target = (struct http_span){0, 0};
	r->version_minor = 0;
	r->keep_alive = 0;
	r->has_host = 0;
	r->conn_close = 0;
	r->conn_keepalive = 0;
	r->nheaders = 0;
	r->range = (struct http_span){0, 0};
	r->if_none_match = (struct http_span){0, 0};
	r->head_len = 0;
	r->status = 0;
	r->reason = NULL;
}

static int
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int
is_lower_eq(const char *a, size_t alen, const char *lower)
{
	size_t n = strlen(lower);
	if (alen != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)lower[i])
			return 0;
	}
	return 1;
}

int
http_span_ieq(const char *buf, struct http_span s, const char *lower)
{
	return is_lower_eq(buf + s.off, s.len, lower);
}

static enum http_parse_result
reject(struct http_request *r, int status, const char *reason)
{
	r->state = ST_REJECT;
	r->status = status;
	r->reason = reason;
	return HTTP_PARSE_REJECT;
}

static enum http_parse_result
parse_request_line(struct http_request *r, const char *buf, uint32_t s, uint32_t e)
{
	uint32_t i = s;

	while (i < e && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == s || i >= e || buf[i] != ' ')
		return reject(r, 400, "bad method");
	r->method_tok = (struct http_span){s, i - s};
	const char *m = buf + s;
	uint32_t mlen = i - s;
	if (mlen == 3 && memcmp(m, "GET", 3) == 0)
		r->method = HTTP_M_GET;
	else if (mlen == 4 && memcmp(m, "HEAD", 4) == 0)
		r->method = HTTP_M_HEAD;
	else if (mlen == 7 && memcmp(m, "OPTIONS", 7) == 0)
		r->method = HTTP_M_OPTIONS;
	else {
		r->method = HTTP_M_UNKNOWN;
		for (size_t k = 0; k < sizeof(m_other) / sizeof(m_other[0]); k++)
			if (strlen(m_other[k]) == mlen && memcmp(m, m_other[k], mlen) == 0)
				r->method = HTTP_M_OTHER;
	}

	i++; /* SP */
	uint32_t ts = i;
	while (i < e && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f)
		i++;
	if (i == ts || i >= e || buf[i] != ' ')
		return reject(r, 400, "bad request target");
	r->target = (struct http_span){ts, i - ts};
	i++; /* SP */

	if (e - i != 8 || memcmp(buf + i, "HTTP/", 5) != 0 || buf[i + 6] != '.' ||
	    buf[i + 5] < '0' || buf[i + 5] > '9' || buf[i + 7] < '0' || buf[i + 7] > '9')
		return reject(r, 400, "bad HTTP version");
	if (buf[i + 5] != '1')
		return reject(r, 505, "HTTP version not supported");
	r->version_minor = (uint8_t)(buf[i + 7] == '0' ? 0 : 1);
	return HTTP_PARSE_MORE;
}

static void
parse_connection(struct http_request *r, const char *v, uint32_t vlen)
{
	uint32_t i = 0;
	while (i < vlen) {
		while (i < vlen && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		uint32_t s = i;
		while (i < vlen && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
			i++;
		if (is_lower_eq(v + s, i - s, "close"))
			r->conn_close = 1;
		else if (is_lower_eq(v + s, i - s, "keep-alive"))
			r->conn_keepalive = 1;
	}
}

static enum http_parse_result
parse_header(struct http_request *r, const char *buf, uint32_t s, uint32_t e)
{
	uint32_t i = s;

	if (buf[s] == ' ' || buf[s] == '\t')
		return reject(r, 400, "obsolete line folding");
	if (r->nheaders >= HTTP_MAX_HEADERS)
		return reject(r, 431, "too many header fields");
	while (i < e && is_tchar((unsigned char)buf[i]))
		i++;
	if (i == s || i >= e || buf[i] != ':')
		return reject(r, 400, "bad header field name");
	struct http_span name = {s, i - s};
	i++;
	while (i < e && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	uint32_t vs = i, ve = i;
	for (; i < e; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return reject(r, 400, "bad character in header field value");
		if (c != ' ' && c != '\t')
			ve = i + 1;
	}
	struct http_span val = {vs, ve - vs};
	r->headers[r->nheaders].name = name;
	r->headers[r->nheaders].value = val;
	r->nheaders++;

	const char *n = buf + name.off;
	switch (name.len) {
	case 4:
		if (is_lower_eq(n, 4, "host")) {
			if (r->has_host)
				return reject(r, 400, "duplicate Host");
			r->has_host = 1;
		}
		break;
	case 5:
		if (is_lower_eq(n, 5, "range")) {
			if (r->range.off != 0) /* a second Range: ignore ranges */
				r->range = (struct http_span){1, 0};
			else
				r->range = val.len ? val : (struct http_span){1, 0};
		}
		break;
	case 10:
		if (is_lower_eq(n, 10, "connection"))
			parse_connection(r, buf + val.off, val.len);
		break;
	case 13:
		if (is_lower_eq(n, 13, "if-none-match"))
			r->if_none_match = val;
		break;
	case 14:
		if (is_lower_eq(n, 14, "content-length")) {
			if (val.len == 0)
				return reject(r, 400, "bad Content-Length");
			for (uint32_t k = 0; k < val.len; k++) {
				char c = buf[val.off + k];
				if (c < '0' || c > '9')
					return reject(r, 400, "bad Content-Length");
				if (c != '0')
					return reject(r, 400, "request body not allowed");
			}
		}
		break;
	case 17:
		if (is_lower_eq(n, 17, "transfer-encoding"))
			return reject(r, 501, "request bodies (Transfer-Encoding) not supported");
		break;
	default:
		break;
	}
	return HTTP_PARSE_MORE;
}

enum http_parse_result
http_parse(struct http_request *r, const char *buf, size_t len)
{
	if (r->state == ST_REJECT)
		return HTTP_PARSE_REJECT;
	if (r->state == ST_DONE)
		return HTTP_PARSE_DONE;
	if (len > UINT32_MAX / 2)
		return reject(r, 431, "request head too large");

	for (;;) {
		const char *lf = r->pos < len ? memchr(buf + r->pos, '\n', len - r->pos) : NULL;
		if (lf == NULL) {
			r->pos = (uint32_t)len;
			if (r->state == ST_RL && len > HTTP_MAX_REQUEST_LINE)
				return reject(r, 414, "request line too long");
			if (r->state == ST_HDR && len - r->hdr_start > HTTP_MAX_HEADER_BYTES)
				return reject(r, 431, "header section too large");
			return HTTP_PARSE_MORE;
		}
		uint32_t end = (uint32_t)(lf - buf);
		uint32_t s = r->line_start;
		uint32_t e = end;
		r->pos = end + 1;
		r->line_start = end + 1;
		if (e > s && buf[e - 1] == '\r')
			e--;

		if (r->state == ST_RL) {
			if (end > HTTP_MAX_REQUEST_LINE)
				return reject(r, 414, "request line too long");
			if (e == s)
				continue; /* empty line(s) before the request line */
			if (parse_request_line(r, buf, s, e) == HTTP_PARSE_REJECT)
				return HTTP_PARSE_REJECT;
			r->state = ST_HDR;
			r->hdr_start = r->pos;
			continue;
		}

		if (r->pos - r->hdr_start > HTTP_MAX_HEADER_BYTES)
			return reject(r, 431, "header section too large");
		if (e == s) {
			if (r->version_minor == 1 && !r->has_host)
				return reject(r, 400, "missing Host");
			if (r->range.len == 0)
				r->range = (struct http_span){0, 0};
			r->keep_alive = r->version_minor == 1
			                        ? !r->conn_close
			                        : (r->conn_keepalive && !r->conn_close);
			r->head_len = r->pos;
			r->state = ST_DONE;
			return HTTP_PARSE_DONE;
		}
		if (parse_header(r, buf, s, e) == HTTP_PARSE_REJECT)
			return HTTP_PARSE_REJECT;
	}
}

/* Digits at v[*i..]; saturates at UINT64_MAX. Returns the count of digits. */
static size_t
parse_u64(const char *v, size_t vlen, size_t *i, uint64_t *out)
{
	uint64_t x = 0;
	size_t n = 0;
	while (*i < vlen && v[*i] >= '0' && v[*i] <= '9') {
		uint64_t d = (uint64_t)(v[*i] - '0');
		x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
		(*i)++;
		n++;
	}
	*out = x;
	return n;
}

enum http_range_result
http_range(const char *v, size_t vlen, uint64_t size, uint64_t *first, uint64_t *last)
{
	size_t i = 0;
	uint64_t a = 0, b = 0;

	if (vlen < 6 || !is_lower_eq(v, 5, "bytes") || v[5] != '=')
		return HTTP_RANGE_NONE;
	i = 6;
	for (size_t k = i; k < vlen; k++)
		if (v[k] == ',')
			return HTTP_RANGE_NONE; /* multi-range: full answer */
	while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
		i++;
	size_t na = parse_u64(v, vlen, &i, &a);
	if (i >= vlen || v[i] != '-')
		return HTTP_RANGE_NONE;
	i++;
	size_t nb = parse_u64(v, vlen, &i, &b);
	while (i < vlen && (v[i] == ' ' || v[i] == '\t'))
		i++;
	if (i != vlen || (na == 0 && nb == 0))
		return HTTP_RANGE_NONE;
	if (na == 0) { /* suffix: last b bytes */
		if (b == 0 || size == 0)
			return HTTP_RANGE_UNSAT;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return HTTP_RANGE_OK;
	}
	if (nb != 0 && b < a)
		return HTTP_RANGE_NONE;
	if (a >= size)
		return HTTP_RANGE_UNSAT;
	*first = a;
	*last = (nb == 0 || b >= size) ? size - 1 : b;
	return HTTP_RANGE_OK;
}
