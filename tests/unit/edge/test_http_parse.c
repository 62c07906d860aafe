/*
 * test_http_parse.c — the edge's incremental HTTP/1.1 request parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "edge/http_parse.h"

struct outcome {
	enum http_parse_result res;
	int status;
	uint32_t head_len;
	enum http_method method;
	struct http_span target;
	uint8_t keep_alive;
	uint16_t nheaders;
	struct http_span range;
};

static struct outcome
summarize(const struct http_request *r, enum http_parse_result res)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	o.res = res;
	if (res == HTTP_PARSE_REJECT)
		o.status = r->status;
	if (res == HTTP_PARSE_DONE) {
		o.head_len = r->head_len;
		o.method = r->method;
		o.target = r->target;
		o.keep_alive = r->keep_alive;
		o.nheaders = r->nheaders;
		o.range = r->range;
	}
	return o;
}

static struct outcome
one_shot(const char *buf, size_t len, struct http_request *r)
{
	http_request_init(r);
	return summarize(r, http_parse(r, buf, len));
}

/* Feed buf in two pieces split at k. */
static struct outcome
split_at(const char *buf, size_t len, size_t k)
{
	struct http_request r;
	http_request_init(&r);
	enum http_parse_result res = http_parse(&r, buf, k);
	if (res == HTTP_PARSE_MORE)
		res = http_parse(&r, buf, len);
	return summarize(&r, res);
}

/* Feed one byte at a time. */
static struct outcome
bytewise(const char *buf, size_t len)
{
	struct http_request r;
	enum http_parse_result res = HTTP_PARSE_MORE;
	http_request_init(&r);
	for (size_t i = 1; i <= len && res == HTTP_PARSE_MORE; i++)
		res = http_parse(&r, buf, i);
	return summarize(&r, res);
}

static void
assert_same(struct outcome a, struct outcome b)
{
	assert_int_equal(a.res, b.res);
	assert_int_equal(a.status, b.status);
	assert_int_equal(a.head_len, b.head_len);
	assert_int_equal(a.method, b.method);
	assert_int_equal(a.target.off, b.target.off);
	assert_int_equal(a.target.len, b.target.len);
	assert_int_equal(a.keep_alive, b.keep_alive);
	assert_int_equal(a.nheaders, b.nheaders);
	assert_int_equal(a.range.off, b.range.off);
	assert_int_equal(a.range.len, b.range.len);
}

static struct outcome
parse_str(const char *s, struct http_request *r)
{
	return one_shot(s, strlen(s), r);
}

static void
expect_status(const char *s, int status)
{
	struct http_request r;
	struct outcome o = parse_str(s, &r);
	assert_int_equal(o.res, HTTP_PARSE_REJECT);
	assert_int_equal(o.status, status);
	assert_non_null(r.reason);
	/* and the same when fed byte by byte */
	assert_same(o, bytewise(s, strlen(s)));
}

static void
test_simple_get(void **state)
{
	(void)state;
	const char *s = "GET /seg/abc.ts HTTP/1.1\r\nHost: example\r\nRange: bytes=0-1\r\n"
	                "If-None-Match: \"x\"\r\nX-Pad:   v  \r\n\r\nGET /next";
	struct http_request r;
	struct outcome o = parse_str(s, &r);
	assert_int_equal(o.res, HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_GET);
	assert_int_equal(r.head_len, strlen(s) - strlen("GET /next"));
	assert_memory_equal(s + r.target.off, "/seg/abc.ts", r.target.len);
	assert_int_equal(r.target.len, 11);
	assert_int_equal(r.version_minor, 1);
	assert_true(r.keep_alive);
	assert_int_equal(r.nheaders, 4);
	assert_memory_equal(s + r.range.off, "bytes=0-1", r.range.len);
	assert_memory_equal(s + r.if_none_match.off, "\"x\"", r.if_none_match.len);
	assert_true(http_span_ieq(s, r.headers[0].name, "host"));
	assert_memory_equal(s + r.headers[3].value.off, "v", r.headers[3].value.len);
	assert_int_equal(r.headers[3].value.len, 1);
	/* calling again after DONE returns DONE */
	assert_int_equal(http_parse(&r, s, strlen(s)), HTTP_PARSE_DONE);
}

static void
test_need_more(void **state)
{
	(void)state;
	struct http_request r;
	const char *s = "GET / HTTP/1.1\r\nHost: x\r\n";
	assert_int_equal(parse_str(s, &r).res, HTTP_PARSE_MORE);
	assert_int_equal(parse_str("", &r).res, HTTP_PARSE_MORE);
	assert_int_equal(parse_str("GET", &r).res, HTTP_PARSE_MORE);
}

static const char *const corpus[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD /seg/x.ts HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "GET / HTTP/1.0\r\n\r\n",
        "\r\n\r\nGET / HTTP/1.1\nHost: x\n\n",
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n",
        "G\x01T / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\rY\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nRange: bytes=3-4\r\n\r\n",
        "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
};

static void
test_split_at_every_byte(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(corpus) / sizeof(corpus[0]); c++) {
		const char *s = corpus[c];
		size_t n = strlen(s);
		struct http_request r;
		struct outcome whole = one_shot(s, n, &r);
		assert_int_not_equal(whole.res, HTTP_PARSE_MORE);
		for (size_t k = 0; k <= n; k++)
			assert_same(whole, split_at(s, n, k));
		assert_same(whole, bytewise(s, n));
	}
}

static void
test_pipelined(void **state)
{
	(void)state;
	const char *s = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	                "HEAD /bb HTTP/1.1\r\nHost: x\r\n\r\n"
	                "GET /ccc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	size_t n = strlen(s), off = 0;
	const char *targets[] = {"/a", "/bb", "/ccc"};
	for (int i = 0; i < 3; i++) {
		struct http_request r;
		http_request_init(&r);
		assert_int_equal(http_parse(&r, s + off, n - off), HTTP_PARSE_DONE);
		assert_int_equal(r.target.len, strlen(targets[i]));
		assert_memory_equal(s + off + r.target.off, targets[i], r.target.len);
		assert_int_equal(r.method, i == 1 ? HTTP_M_HEAD : HTTP_M_GET);
		assert_int_equal(r.keep_alive, i == 2 ? 0 : 1);
		off += r.head_len;
	}
	assert_int_equal(off, n);
}

static void
test_methods(void **state)
{
	(void)state;
	struct http_request r;
	expect_status("G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET\r\n\r\n", 400);
	assert_int_equal(parse_str("POST / HTTP/1.1\r\nHost: x\r\n\r\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_OTHER);
	assert_int_equal(parse_str("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_UNKNOWN);
	assert_int_equal(parse_str("get / HTTP/1.1\r\nHost: x\r\n\r\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_UNKNOWN); /* methods are case-sensitive */
	assert_int_equal(parse_str("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", &r).res,
	                 HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_OPTIONS);
}

static void
test_versions(void **state)
{
	(void)state;
	struct http_request r;
	expect_status("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
	expect_status("GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
	expect_status("GET / HTTP/1.1x\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / http/1.1\r\nHost: x\r\n\r\n", 400);
	expect_status("GET /\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400);
	assert_int_equal(parse_str("GET / HTTP/1.0\r\n\r\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.version_minor, 0);
	assert_false(r.keep_alive);
	assert_int_equal(parse_str("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r).res,
	                 HTTP_PARSE_DONE);
	assert_true(r.keep_alive);
	assert_int_equal(
	        parse_str("GET / HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\n", &r).res,
	        HTTP_PARSE_DONE);
	assert_false(r.keep_alive);
	assert_int_equal(parse_str("GET / HTTP/1.3\r\nHost: x\r\n\r\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.version_minor, 1);
}

static void
test_header_syntax(void **state)
{
	(void)state;
	struct http_request r;
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400);  /* obs-fold */
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400); /* obs-fold */
	expect_status("GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
	expect_status("GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400);
	/* obs-text in values is allowed */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n", &r).res,
	                 HTTP_PARSE_DONE);
	/* empty value */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: x\r\nX:\r\n\r\n", &r).res,
	                 HTTP_PARSE_DONE);
	assert_int_equal(r.headers[1].value.len, 0);
}

static void
test_bodies(void **state)
{
	(void)state;
	struct http_request r;
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n", 400);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	              501);
	expect_status("GET / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: gzip\r\n\r\n", 501);
	assert_int_equal(
	        parse_str("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 000\r\n\r\n", &r).res,
	        HTTP_PARSE_DONE);
}

static void
test_limits(void **state)
{
	(void)state;
	char *buf = malloc(64 * 1024);
	struct http_request r;
	size_t n;

	assert_non_null(buf);
	/* request line of exactly the limit (bytes before LF, CR included) is fine */
	n = (size_t)snprintf(buf, 64 * 1024, "GET /");
	size_t tail = strlen(" HTTP/1.1\r");
	while (n < HTTP_MAX_REQUEST_LINE - tail)
		buf[n++] = 'a';
	n += (size_t)snprintf(buf + n, 64 * 1024 - n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(one_shot(buf, n, &r).res, HTTP_PARSE_DONE);
	/* one more byte: 414, also when incomplete */
	memmove(buf + 6, buf + 5, n - 5);
	buf[5] = 'a';
	n++;
	expect_status(buf, 414);
	assert_int_equal(one_shot(buf, HTTP_MAX_REQUEST_LINE + 1, &r).res, HTTP_PARSE_REJECT);
	assert_int_equal(r.status, 414);
	assert_int_equal(one_shot(buf, HTTP_MAX_REQUEST_LINE, &r).res, HTTP_PARSE_MORE);

	/* 64 headers fine, 65 -> 431 */
	n = (size_t)snprintf(buf, 64 * 1024, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (int i = 1; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, 64 * 1024 - n, "X-%d: v\r\n", i);
	memcpy(buf + n, "\r\n", 3);
	assert_int_equal(one_shot(buf, n + 2, &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.nheaders, HTTP_MAX_HEADERS);
	n += (size_t)snprintf(buf + n, 64 * 1024 - n, "X-last: v\r\n\r\n");
	expect_status(buf, 431);

	/* header bytes over the limit -> 431, also while incomplete */
	n = (size_t)snprintf(buf, 64 * 1024, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	while (n < HTTP_MAX_HEADER_BYTES + 100)
		buf[n++] = 'b';
	buf[n] = '\0';
	assert_int_equal(one_shot(buf, n, &r).res, HTTP_PARSE_REJECT);
	assert_int_equal(r.status, 431);
	memcpy(buf + n, "\r\n\r\n", 5);
	expect_status(buf, 431);
	free(buf);
}

static void
test_lenient_lines(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(parse_str("\r\nGET / HTTP/1.1\nHost: x\n\n", &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.method, HTTP_M_GET);
	assert_int_equal(r.head_len, strlen("\r\nGET / HTTP/1.1\nHost: x\n\n"));
}

static void
test_range_header(void **state)
{
	(void)state;
	struct http_request r;
	const char *s = "GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=1-2\r\nRange: bytes=3-4\r\n\r\n";
	assert_int_equal(parse_str(s, &r).res, HTTP_PARSE_DONE);
	assert_int_equal(r.range.len, 0); /* two Range fields: ignored */
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nHost: x\r\nRange:\r\n\r\n", &r).res,
	                 HTTP_PARSE_DONE);
	assert_int_equal(r.range.len, 0);
}

static void
test_http_range(void **state)
{
	(void)state;
	uint64_t a = 0, b = 0;
#define R(s, size) http_range(s, strlen(s), size, &a, &b)
	assert_int_equal(R("bytes=0-0", 100), HTTP_RANGE_OK);
	assert_true(a == 0 && b == 0);
	assert_int_equal(R("bytes=-1", 100), HTTP_RANGE_OK);
	assert_true(a == 99 && b == 99);
	assert_int_equal(R("bytes=10-", 100), HTTP_RANGE_OK);
	assert_true(a == 10 && b == 99);
	assert_int_equal(R("bytes=10-1000", 100), HTTP_RANGE_OK);
	assert_true(a == 10 && b == 99);
	assert_int_equal(R("bytes=-1000", 100), HTTP_RANGE_OK);
	assert_true(a == 0 && b == 99);
	assert_int_equal(R("BYTES=5-6", 100), HTTP_RANGE_OK);
	assert_true(a == 5 && b == 6);
	assert_int_equal(R("bytes=100-", 100), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=100-200", 100), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=-0", 100), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=0-0", 0), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=-5", 0), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=99999999999999999999999-", 100), HTTP_RANGE_UNSAT);
	assert_int_equal(R("bytes=5-2", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("bytes=abc", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("bytes=-", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("bytes=1-2,4-5", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("items=1-2", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("bytes 1-2", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("bytes=1-2x", 100), HTTP_RANGE_NONE);
	assert_int_equal(R("", 100), HTTP_RANGE_NONE);
#undef R
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_simple_get),
	        cmocka_unit_test(test_need_more),
	        cmocka_unit_test(test_split_at_every_byte),
	        cmocka_unit_test(test_pipelined),
	        cmocka_unit_test(test_methods),
	        cmocka_unit_test(test_versions),
	        cmocka_unit_test(test_header_syntax),
	        cmocka_unit_test(test_bodies),
	        cmocka_unit_test(test_limits),
	        cmocka_unit_test(test_lenient_lines),
	        cmocka_unit_test(test_range_header),
	        cmocka_unit_test(test_http_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
