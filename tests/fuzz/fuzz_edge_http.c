/*
 * fuzz_edge_http.c — the edge's HTTP request parser, incremental vs one-shot.
 *
 * Input: byte 0 seeds the chunk splitter; the rest is a byte stream of
 * (possibly pipelined) requests. The stream is parsed once with all bytes
 * present and once fed in pseudo-random chunks; the sequence of results
 * (done/more/reject, status, head length, method, spans) must be identical,
 * and every span must lie inside the consumed head.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "edge/http_parse.h"

#define MAX_REQS 64

struct rec {
	enum http_parse_result res;
	int status;
	uint32_t head_len;
	enum http_method method;
	struct http_span target, range, inm;
	uint8_t keep_alive, version_minor;
	uint16_t nheaders;
};

static struct rec
rec_of(const struct http_request *r, enum http_parse_result res)
{
	struct rec o;
	memset(&o, 0, sizeof(o));
	o.res = res;
	if (res == HTTP_PARSE_REJECT) {
		o.status = r->status;
		if (r->reason == NULL || (r->status < 400 || r->status > 505))
			abort();
	}
	if (res == HTTP_PARSE_DONE) {
		o.head_len = r->head_len;
		o.method = r->method;
		o.target = r->target;
		o.range = r->range;
		o.inm = r->if_none_match;
		o.keep_alive = r->keep_alive;
		o.version_minor = r->version_minor;
		o.nheaders = r->nheaders;
		if (r->nheaders > HTTP_MAX_HEADERS)
			abort();
		if (r->target.off + r->target.len > r->head_len || r->target.len == 0)
			abort();
		if (r->range.off + r->range.len > r->head_len)
			abort();
		for (unsigned i = 0; i < r->nheaders; i++)
			if (r->headers[i].value.off + r->headers[i].value.len > r->head_len ||
			    r->headers[i].name.off + r->headers[i].name.len > r->head_len)
				abort();
	}
	return o;
}

static size_t
one_shot(const uint8_t *d, size_t n, struct rec *out)
{
	size_t off = 0, k = 0;
	struct http_request r;
	while (k < MAX_REQS) {
		http_request_init(&r);
		enum http_parse_result res = http_parse(&r, (const char *)d + off, n - off);
		out[k++] = rec_of(&r, res);
		if (res != HTTP_PARSE_DONE)
			break;
		off += r.head_len;
	}
	return k;
}

static size_t
chunked(const uint8_t *d, size_t n, uint32_t seed, struct rec *out)
{
	size_t off = 0, avail = 0, k = 0;
	struct http_request r;
	uint32_t x = seed * 2654435761u + 1;

	http_request_init(&r);
	while (k < MAX_REQS) {
		/* next chunk: 0..64 bytes, sometimes large */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		size_t step = (x & 7) == 0 ? (x >> 8) % 4096 : (x >> 8) % 65;
		avail = avail + step > n ? n : avail + step;
		enum http_parse_result res = http_parse(&r, (const char *)d + off, avail - off);
		if (res == HTTP_PARSE_MORE && avail < n)
			continue;
		out[k++] = rec_of(&r, res);
		if (res != HTTP_PARSE_DONE)
			break;
		off += r.head_len;
		if (avail < off)
			abort();
		http_request_init(&r);
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rec a[MAX_REQS], b[MAX_REQS];
	if (size < 1)
		return 0;
	uint32_t seed = data[0];
	data++;
	size--;
	size_t na = one_shot(data, size, a);
	size_t nb = chunked(data, size, seed, b);
	if (na != nb || memcmp(a, b, na * sizeof(a[0])) != 0)
		abort();
	/* Range interpretation must be total and consistent. */
	uint64_t first = 0, last = 0;
	uint64_t sz = size;
	if (http_range((const char *)data, size, sz, &first, &last) == HTTP_RANGE_OK &&
	    (first > last || last >= sz))
		abort();
	return 0;
}
