/*
 * test_replicate.c — the replicator's pure helpers (URLs, back-off, header
 * and NDJSON parsing, filters) and one store -> store run (no network).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/replicate.h"
#include "store/store.h"
#include "tests/unit/store/store_test_util.h"

#define CID "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"

static void
test_urls(void **state)
{
	char b[64], u[128];

	(void)state;
	assert_true(repl_is_url("http://h:1"));
	assert_true(repl_is_url("https://h"));
	assert_false(repl_is_url("/var/store"));
	assert_false(repl_is_url("ftp://h"));
	assert_int_equal(repl_url_base("http://127.0.0.1:8080///", b, sizeof(b)), 0);
	assert_string_equal(b, "http://127.0.0.1:8080");
	assert_int_equal(repl_url_base("https://h/prefix/", b, sizeof(b)), 0);
	assert_string_equal(b, "https://h/prefix");
	assert_int_equal(repl_url_base("http://", b, sizeof(b)), -EINVAL);
	assert_int_equal(repl_url_base("http:///x", b, sizeof(b)), -EINVAL);
	assert_int_equal(repl_url_base("http://h/?a=1", b, sizeof(b)), -EINVAL);
	assert_int_equal(repl_url_base("http://h x", b, sizeof(b)), -EINVAL);
	assert_int_equal(repl_url_base("dir", b, sizeof(b)), -EINVAL);
	assert_int_equal(repl_url_base("http://a-very-long-host-name.example", b, 10),
	                 -ENAMETOOLONG);
	assert_int_equal(repl_url_changes("http://h", 42, 500, 25, u, sizeof(u)), 0);
	assert_string_equal(u, "http://h/store/v1/changes?since=42&limit=500&wait=25");
	assert_int_equal(repl_url_changes("http://h", 42, 500, 25, u, 20), -ENAMETOOLONG);
	assert_int_equal(repl_url_blob("http://h", CID, u, sizeof(u)), 0);
	assert_string_equal(u, "http://h/store/v1/blobs/" CID);
	assert_int_equal(repl_url_blob("http://h", "../etc", u, sizeof(u)), -EINVAL);
}

static void
test_backoff(void **state)
{
	int64_t prev_max = 0;

	(void)state;
	/* attempt 0: [base/2, base] */
	assert_int_equal(repl_backoff_us(0, 0), REPL_BACKOFF_BASE_US / 2);
	assert_int_equal(repl_backoff_us(0, REPL_BACKOFF_BASE_US / 2), REPL_BACKOFF_BASE_US);
	for (unsigned a = 0; a < 40; a++) {
		int64_t lo = repl_backoff_us(a, 0), hi = repl_backoff_us(a, UINT32_MAX);
		for (uint32_t r = 1; r < 2000000; r += 99991) {
			int64_t d = repl_backoff_us(a, r);
			assert_true(d >= lo / 1 && d <= REPL_BACKOFF_MAX_US);
		}
		assert_true(lo >= REPL_BACKOFF_BASE_US / 2);
		assert_true(hi <= REPL_BACKOFF_MAX_US);
		assert_true(hi >= prev_max / 2);        /* grows, then stays capped */
		if (hi > prev_max)
			prev_max = hi;
	}
	assert_int_equal(repl_backoff_us(39, 0), REPL_BACKOFF_MAX_US / 2);
	assert_int_equal(repl_backoff_us(UINT32_MAX, 0), REPL_BACKOFF_MAX_US / 2);
}

static void
test_header(void **state)
{
	static const char h1[] = "X-Sluice-Last-Seq: 1234\r\n";
	static const char h2[] = "x-sluice-last-seq:7";
	static const char h3[] = "Content-Type: application/x-ndjson\r\n";
	static const char h4[] = "X-Sluice-Last-Seq: 12a\r\n";
	static const char h5[] = "X-Sluice-Last-Seq: \r\n";
	static const char h6[] = "X-Sluice-Last-Seq: 99999999999999999999999\r\n";
	uint64_t v = 0;

	(void)state;
	assert_int_equal(repl_header_last_seq(h1, strlen(h1), &v), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(repl_header_last_seq(h2, strlen(h2), &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(repl_header_last_seq(h3, strlen(h3), &v), -ENOENT);
	assert_int_equal(repl_header_last_seq(h4, strlen(h4), &v), -EINVAL);
	assert_int_equal(repl_header_last_seq(h5, strlen(h5), &v), -EINVAL);
	assert_int_equal(repl_header_last_seq(h6, strlen(h6), &v), -EINVAL);
	assert_int_equal(repl_header_last_seq("X-Sl", 4, &v), -ENOENT);
	assert_int_equal(v, 7);
}

static void
test_ndjson(void **state)
{
	static const char buf[] = "{\"a\":1}\n\n  \r\n{\"b\":2}\r\n{\"c\":3}";
	const char *line;
	size_t off = 0, n;

	(void)state;
	assert_int_equal(repl_ndjson_next(buf, strlen(buf), &off, 100, &line, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(line, "{\"a\":1}", 7);
	assert_int_equal(repl_ndjson_next(buf, strlen(buf), &off, 100, &line, &n), 0);
	assert_memory_equal(line, "{\"b\":2}", 7);
	assert_int_equal(n, 7);
	assert_int_equal(repl_ndjson_next(buf, strlen(buf), &off, 100, &line, &n), 0);
	assert_memory_equal(line, "{\"c\":3}", 7);          /* last line without "\n" */
	assert_int_equal(repl_ndjson_next(buf, strlen(buf), &off, 100, &line, &n), -ENODATA);
	off = 0;
	assert_int_equal(repl_ndjson_next(buf, strlen(buf), &off, 6, &line, &n), -E2BIG);
	off = 0;
	assert_int_equal(repl_ndjson_next("", 0, &off, 6, &line, &n), -ENODATA);
}

static void
test_filter(void **state)
{
	(void)state;
	assert_true(repl_filter_match(NULL, 0, 0, "a", 5, 1));
	assert_true(repl_filter_match("a", 0, 0, "a", 5, 1));
	assert_false(repl_filter_match("a", 0, 0, "b", 5, 1));
	/* overlap of [start, start + dur) with [from, to) */
	assert_true(repl_filter_match(NULL, 10, 20, "a", 9, 2));
	assert_false(repl_filter_match(NULL, 10, 20, "a", 8, 2));
	assert_false(repl_filter_match(NULL, 10, 20, "a", 20, 2));
	assert_true(repl_filter_match(NULL, 10, 20, "a", 19, 2));
}

static void
put_rec(struct store *s, const char *stream, int64_t start_us, const char *bytes)
{
	struct store_record r;
	char cid[CID_BUF_LEN];

	assert_int_equal(store_blob_put(s, bytes, strlen(bytes), NULL, cid, NULL), 0);
	memset(&r, 0, sizeof(r));
	snprintf(r.stream, sizeof(r.stream), "%s", stream);
	snprintf(r.variant, sizeof(r.variant), "src");
	snprintf(r.session, sizeof(r.session), "s1");
	snprintf(r.cid, sizeof(r.cid), "%s", cid);
	r.start_us = start_us;
	r.duration_us = 1000000;
	assert_int_equal(store_record_put(s, &r, STORE_PUT_ASSIGN_SEQ, NULL, NULL), 0);
}

/* store -> store: copy, filters, resume from the cursor, deletes. */
static void
test_local_copy(void **state)
{
	struct fixture *f = *state;
	struct repl_conf c;
	struct repl_stats st;
	struct store_record got;
	struct repl *r = NULL;
	char dst[300];
	struct store *d = NULL;

	put_rec(f->s, "a", 1000000, "one");
	put_rec(f->s, "a", 2000000, "two");
	put_rec(f->s, "b", 1000000, "three");
	snprintf(dst, sizeof(dst), "%s-dst", f->dir);
	assert_int_equal(store_open(dst, STORE_OPEN_CREATE, &d), 0);

	memset(&c, 0, sizeof(c));
	c.src = f->dir;
	c.dst = dst;
	c.src_store = f->s;
	c.dst_store = d;
	c.stream = "a";
	assert_int_equal(repl_new(&c, &r), 0);
	assert_int_equal(repl_run(r), 0);
	repl_get_stats(r, &st);
	assert_int_equal(st.records, 2);
	assert_int_equal(st.blobs, 2);
	assert_int_equal(st.cursor, 3);                 /* passed over stream b too */
	repl_free(&r);
	assert_int_equal(store_record_get(d, "b", "src", 1000000, &got), -ENOENT);

	/* Resume: only what came later; the producer's fields are kept. */
	put_rec(f->s, "a", 3000000, "four");
	c.stream = NULL;
	assert_int_equal(repl_new(&c, &r), 0);
	assert_int_equal(repl_run(r), 0);
	repl_get_stats(r, &st);
	assert_int_equal(st.records, 1);                /* "b" is before the cursor */
	assert_int_equal(st.cursor, 4);
	repl_free(&r);
	assert_int_equal(store_record_get(d, "a", "src", 3000000, &got), 0);
	assert_int_equal(got.seq, 2);
	assert_string_equal(got.session, "s1");
	assert_string_equal(got.node, store_node_id(f->s));

	/* A delete at the source is applied. */
	assert_int_equal(store_gc(f->s, 2500000, "a", NULL, NULL), 0);
	assert_int_equal(repl_new(&c, &r), 0);
	assert_int_equal(repl_run(r), 0);
	repl_get_stats(r, &st);
	assert_int_equal(st.deletes, 1);                /* a@1s ended at 2s <= 2.5s */
	repl_free(&r);
	assert_int_equal(store_record_get(d, "a", "src", 1000000, &got), -ENOENT);
	assert_int_equal(store_record_get(d, "a", "src", 2000000, &got), 0);
	assert_int_equal(store_record_get(d, "a", "src", 3000000, &got), 0);

	/* Both sides URLs, or a bad filter: refused. */
	c.src = "http://a";
	c.dst = "http://b";
	assert_int_equal(repl_new(&c, &r), -EINVAL);
	c.src = f->dir;
	c.dst = dst;
	c.from_us = 5;
	c.to_us = 5;
	assert_int_equal(repl_new(&c, &r), -EINVAL);
	assert_null(r);
	store_close(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_ndjson),
		cmocka_unit_test(test_filter),
		cmocka_unit_test_setup_teardown(test_local_copy, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
