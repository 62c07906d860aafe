/*
 * test_record.c — records, range queries, conflicts, latest, streams, change
 * log, cursors and metadata.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>

#include "store_test_util.h"

#define S 1000000LL

static void
put(struct store *s, const char *stream, const char *variant, int64_t start, int64_t dur,
    const char *cid)
{
	struct store_record r;

	mkrec(&r, stream, variant, start, dur, cid);
	assert_int_equal(store_record_put(s, &r, 0, NULL, NULL), 0);
}

static size_t
q(struct store *s, const char *stream, int64_t from, int64_t to, int64_t *starts)
{
	struct store_record *out = NULL;
	size_t n = 0;

	assert_int_equal(store_query(s, stream, "src", from * S, to * S, 0, &out, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		starts[i] = out[i].start_us / S;
	free(out);
	return n;
}

static void
test_record_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct store_record r, got, out;
	char cid[CID_BUF_LEN];
	bool created = false;

	put_text(f->s, "segment one", cid);
	mkrec(&r, "cam-1", "720p", 1795000000, 2, cid);
	r.duration_us = 2002000;
	r.seq = 42;
	snprintf(r.session, sizeof(r.session), "sess-a");
	r.discontinuity = true;
	snprintf(r.tenant, sizeof(r.tenant), "acme");
	snprintf(r.device, sizeof(r.device), "door");
	snprintf(r.codecs, sizeof(r.codecs), "avc1.64001f,mp4a.40.2");
	r.width = 1280;
	r.height = 720;
	r.bandwidth = 2500000;
	snprintf(r.node, sizeof(r.node), "0123456789abcdef0123456789abcdef");
	assert_int_equal(store_record_put(f->s, &r, 0, &created, &out), 0);
	assert_true(created);
	r.size = 11;   /* taken from the blob */
	assert_memory_equal(&out, &r, sizeof(r));
	assert_int_equal(store_record_get(f->s, "cam-1", "720p", r.start_us, &got), 0);
	assert_memory_equal(&got, &r, sizeof(r));
	/* Same key, same cid: no-op. */
	assert_int_equal(store_record_put(f->s, &r, 0, &created, NULL), 0);
	assert_false(created);
	assert_int_equal(store_record_get(f->s, "cam-1", "720p", r.start_us + 1, &got), -ENOENT);
	/* Missing blob, bad fields, wrong size. */
	mkrec(&r, "cam-1", "720p", 5, 2,
	      "0000000000000000000000000000000000000000000000000000000000000000");
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), -ENOENT);
	mkrec(&r, "cam 1", "src", 5, 2, cid);
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), -EINVAL);
	mkrec(&r, "cam", "src", 5, 0, cid);
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), -EINVAL);
	mkrec(&r, "cam", "src", 5, 2, cid);
	r.size = 12;
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), -EINVAL);
}

static void
test_assign_seq(void **state)
{
	struct fixture *f = *state;
	struct store_record r, out;
	char cid[CID_BUF_LEN];

	put_text(f->s, "x", cid);
	for (int i = 0; i < 4; i++) {
		mkrec(&r, "cam", "src", 100 + 2 * i, 2, cid);
		snprintf(r.session, sizeof(r.session), "%s", i < 2 ? "a" : "b");
		r.seq = 999;   /* overridden */
		assert_int_equal(store_record_put(f->s, &r, STORE_PUT_ASSIGN_SEQ, NULL, &out), 0);
		assert_int_equal(out.seq, (uint64_t)i);
		assert_int_equal(out.discontinuity, i == 0 || i == 2);
		assert_string_equal(out.node, store_node_id(f->s));
	}
}

static void
test_range_boundaries(void **state)
{
	struct fixture *f = *state;
	char cid[CID_BUF_LEN];
	int64_t st[64];
	size_t n;

	put_text(f->s, "x", cid);
	put(f->s, "cam", "src", 0, 2, cid);
	put(f->s, "cam", "src", 2, 2, cid);
	put(f->s, "cam", "src", 4, 2, cid);
	/* [2,4): the segment ending exactly at 2 and the one starting at 4 are out. */
	n = q(f->s, "cam", 2, 4, st);
	assert_int_equal(n, 1);
	assert_int_equal(st[0], 2);
	/* [3,5): overlaps 2..4 and 4..6. */
	n = q(f->s, "cam", 3, 5, st);
	assert_int_equal(n, 2);
	assert_int_equal(st[0], 2);
	assert_int_equal(st[1], 4);
	/* A point [3,3) finds the segment holding it; beyond the end nothing. */
	assert_int_equal(q(f->s, "cam", 3, 3, st), 1);
	assert_int_equal(q(f->s, "cam", 4, 4, st), 0);   /* 4 < 4 fails for both */
	assert_int_equal(q(f->s, "cam", 6, 100, st), 0);
	/* A segment spanning both ends. */
	put(f->s, "cam", "src", 100, 30, cid);
	n = q(f->s, "cam", 110, 120, st);
	assert_int_equal(n, 1);
	assert_int_equal(st[0], 100);
	/* A long segment starting well before `from`, many short ones between. */
	put(f->s, "long", "src", 1000, 600, cid);
	for (int i = 0; i < 200; i++)
		put(f->s, "long", "src", 1001 + i, 1, cid);
	n = q(f->s, "long", 1500, 1510, st);
	assert_int_equal(n, 1);
	assert_int_equal(st[0], 1000);
	n = q(f->s, "long", 1100, 1102, st);
	assert_int_equal(n, 3);
	assert_int_equal(st[0], 1000);
	assert_int_equal(st[1], 1100);
	assert_int_equal(st[2], 1101);
	/* Negative times sort correctly. */
	put(f->s, "neg", "src", -10, 2, cid);
	put(f->s, "neg", "src", 5, 2, cid);
	n = q(f->s, "neg", -100, 100, st);
	assert_int_equal(n, 2);
	assert_int_equal(st[0], -10);
}

static void
test_query_misc(void **state)
{
	struct fixture *f = *state;
	struct store_record *out = NULL;
	char cid[CID_BUF_LEN];
	bool trunc = false;
	size_t n = 0;

	put_text(f->s, "x", cid);
	for (int i = 0; i < 10; i++) {
		put(f->s, "cam", "lo", 2 * i, 2, cid);
		put(f->s, "cam", "hi", 2 * i, 2, cid);
	}
	put(f->s, "cam2", "src", 0, 2, cid);   /* a stream whose name extends "cam" */
	assert_int_equal(store_query(f->s, "cam", "lo", 0, 100 * S, 3, &out, &n, &trunc), 0);
	assert_int_equal(n, 3);
	assert_true(trunc);
	free(out);
	/* Every variant: ordered by variant, then start. */
	assert_int_equal(store_query(f->s, "cam", NULL, 0, 4 * S, 0, &out, &n, &trunc), 0);
	assert_int_equal(n, 4);
	assert_false(trunc);
	assert_string_equal(out[0].variant, "hi");
	assert_string_equal(out[2].variant, "lo");
	assert_int_equal(out[3].start_us, 2 * S);
	free(out);
	assert_int_equal(store_query(f->s, "nope", NULL, 0, S, 0, &out, &n, NULL), -ENOENT);
	assert_int_equal(store_query(f->s, "cam", "mid", 0, S, 0, &out, &n, NULL), -ENOENT);
	assert_int_equal(store_query(f->s, "cam", "lo", 5, 4, 0, &out, &n, NULL), -EINVAL);
	assert_int_equal(store_query(f->s, "c/m", NULL, 0, S, 0, &out, &n, NULL), -EINVAL);
	/* Latest. */
	assert_int_equal(store_latest(f->s, "cam", "lo", 3, &out, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].start_us, 14 * S);
	assert_int_equal(out[2].start_us, 18 * S);
	free(out);
	assert_int_equal(store_latest(f->s, "cam2", "src", 50, &out, &n), 0);
	assert_int_equal(n, 1);
	free(out);
	assert_int_equal(store_latest(f->s, "nope", "src", 3, &out, &n), -ENOENT);
}

static void
test_conflict_order(void **state)
{
	struct fixture *f = *state;
	char a[CID_BUF_LEN], b[CID_BUF_LEN], lo[CID_BUF_LEN], hi[CID_BUF_LEN];
	struct store_record r, out;
	struct store_fsck_report rep;
	bool created;

	put_text(f->s, "version a", a);
	put_text(f->s, "version b", b);
	snprintf(lo, sizeof(lo), "%s", strcmp(a, b) < 0 ? a : b);
	snprintf(hi, sizeof(hi), "%s", strcmp(a, b) < 0 ? b : a);
	/* Order 1 on stream x: larger first, then smaller replaces it. */
	mkrec(&r, "x", "src", 10, 2, hi);
	assert_int_equal(store_record_put(f->s, &r, 0, &created, &out), 0);
	assert_true(created);
	mkrec(&r, "x", "src", 10, 2, lo);
	assert_int_equal(store_record_put(f->s, &r, 0, &created, &out), 0);
	assert_true(created);
	assert_string_equal(out.cid, lo);
	/* Order 2 on stream y: smaller first, larger loses. */
	mkrec(&r, "y", "src", 10, 2, lo);
	assert_int_equal(store_record_put(f->s, &r, 0, &created, &out), 0);
	mkrec(&r, "y", "src", 10, 2, hi);
	assert_int_equal(store_record_put(f->s, &r, 0, &created, &out), 0);
	assert_false(created);
	assert_string_equal(out.cid, lo);
	assert_int_equal(store_record_get(f->s, "x", "src", 10 * S, &out), 0);
	assert_string_equal(out.cid, lo);
	assert_int_equal(store_record_get(f->s, "y", "src", 10 * S, &out), 0);
	assert_string_equal(out.cid, lo);
	/* Reference counts follow the winners; the loser's blob went away. */
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.bad_refcount, 0);
	assert_int_equal(rep.missing_blob, 0);
	assert_int_equal(store_blob_stat(f->s, hi, NULL), -ENOENT);
}

static void
test_streams(void **state)
{
	struct fixture *f = *state;
	struct store_stream_info *si = NULL, one;
	struct store_record r;
	char cid[CID_BUF_LEN];
	size_t n = 0;

	put_text(f->s, "x", cid);
	for (int i = 0; i < 3; i++) {
		mkrec(&r, "cam", "720p", 100 + 2 * i, 2, cid);
		snprintf(r.tenant, sizeof(r.tenant), "acme");
		snprintf(r.codecs, sizeof(r.codecs), "avc1.64001f");
		r.width = 1280;
		r.height = 720;
		r.bandwidth = 2000000 + (uint64_t)i;
		assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
		mkrec(&r, "cam", "360p", 100 + 2 * i, 2, cid);
		r.bandwidth = 800000;
		assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	}
	put(f->s, "other", "src", 5, 2, cid);
	assert_int_equal(store_streams(f->s, &si, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(si[0].stream, "cam");
	assert_string_equal(si[0].tenant, "acme");
	assert_int_equal(si[0].segments, 6);
	assert_int_equal(si[0].first_us, 100 * S);
	assert_int_equal(si[0].last_us, 106 * S);
	assert_int_equal(si[0].nvariants, 2);
	assert_string_equal(si[0].variants[0].name, "360p");
	assert_string_equal(si[0].variants[1].name, "720p");
	assert_int_equal(si[0].variants[1].bandwidth, 2000002);
	assert_int_equal(si[0].variants[1].width, 1280);
	assert_int_equal(si[0].variants[1].height, 720);
	assert_string_equal(si[0].variants[1].codecs, "avc1.64001f");
	assert_int_equal(si[0].variants[1].segments, 3);
	assert_string_equal(si[1].stream, "other");
	store_streams_free(&si, n);
	assert_null(si);
	assert_int_equal(store_stream_get(f->s, "other", &one), 0);
	assert_int_equal(one.segments, 1);
	assert_int_equal(one.nvariants, 1);
	store_stream_info_clear(&one);
	assert_int_equal(store_stream_get(f->s, "ot", &one), -ENOENT);
}

static void
test_changes(void **state)
{
	struct fixture *f = *state;
	struct store_change *ch = NULL;
	struct store_record r;
	char cid[CID_BUF_LEN], cid2[CID_BUF_LEN];
	uint64_t last = 0;
	size_t n = 0;

	assert_int_equal(store_last_seq(f->s, &last), 0);
	assert_int_equal(last, 0);
	assert_int_equal(store_changes_wait(f->s, 0, 30, NULL), -ETIMEDOUT);
	put_text(f->s, "one", cid);
	put_text(f->s, "two", cid2);
	put(f->s, "cam", "src", 0, 2, cid);
	put(f->s, "cam", "src", 2, 2, cid2);
	put(f->s, "cam", "src", 2, 2, cid2);   /* no-op: no change */
	assert_int_equal(store_changes_wait(f->s, 0, 1000, NULL), 0);
	mkrec(&r, "cam", "src", 0, 2, cid);
	assert_int_equal(store_record_delete(f->s, &r), 0);
	assert_int_equal(store_record_delete(f->s, &r), -ENOENT);
	mkrec(&r, "cam", "src", 2, 2, cid);    /* wrong cid: not deleted */
	assert_int_equal(store_record_delete(f->s, &r), -ENOENT);
	assert_int_equal(store_changes(f->s, 0, 0, &ch, &n, &last), 0);
	assert_int_equal(n, 3);
	assert_int_equal(last, 3);
	assert_int_equal(ch[0].seq, 1);
	assert_int_equal(ch[0].op, STORE_OP_PUT);
	assert_string_equal(ch[0].rec.cid, cid);
	assert_int_equal(ch[0].rec.start_us, 0);
	assert_int_equal(ch[0].rec.size, 3);
	assert_int_equal(ch[1].seq, 2);
	assert_string_equal(ch[1].rec.cid, cid2);
	assert_int_equal(ch[2].seq, 3);
	assert_int_equal(ch[2].op, STORE_OP_DELETE);
	assert_string_equal(ch[2].rec.stream, "cam");
	assert_string_equal(ch[2].rec.cid, cid);
	free(ch);
	assert_int_equal(store_changes(f->s, 1, 1, &ch, &n, &last), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ch[0].seq, 2);
	free(ch);
	assert_int_equal(store_changes(f->s, 3, 10, &ch, &n, &last), 0);
	assert_int_equal(n, 0);
	assert_null(ch);
	assert_int_equal(store_changes_wait(f->s, 3, 20, NULL), -ETIMEDOUT);
	{
		volatile int stop = 1;

		assert_int_equal(store_changes_wait(f->s, 3, 1000, &stop), -EINTR);
	}
}

static void
test_put_many(void **state)
{
	struct fixture *f = *state;
	struct store_record recs[100];
	struct store_stats st;
	char cid[CID_BUF_LEN];
	size_t made = 0;

	put_text(f->s, "x", cid);
	for (int i = 0; i < 100; i++)
		mkrec(&recs[i], "bulk", "src", 2 * i, 2, cid);
	assert_int_equal(store_record_put_many(f->s, recs, 100, STORE_PUT_ASSIGN_SEQ, &made), 0);
	assert_int_equal(made, 100);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.records, 100);
	assert_int_equal(st.last_seq, 100);
	/* All or nothing: a bad record aborts the whole batch. */
	for (int i = 0; i < 100; i++)
		mkrec(&recs[i], "bulk2", "src", 2 * i, 2, cid);
	recs[50].duration_us = 0;
	assert_int_equal(store_record_put_many(f->s, recs, 100, 0, &made), -EINVAL);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.records, 100);
}

static int
count_cb(void *arg, const char *key, const void *val, size_t len)
{
	int *n = arg;

	(void)val;
	(void)len;
	assert_true(strncmp(key, "edge/", 5) == 0);
	(*n)++;
	return 0;
}

static void
test_cursors_meta(void **state)
{
	struct fixture *f = *state;
	uint64_t seq = 99;
	void *val = NULL;
	size_t len = 0;
	int n = 0;

	assert_int_equal(store_cursor_get(f->s, "http://peer:8080", &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(store_cursor_set(f->s, "http://peer:8080", 1234), 0);
	assert_int_equal(store_cursor_set(f->s, "http://other", 7), 0);
	assert_int_equal(store_cursor_get(f->s, "http://peer:8080", &seq), 0);
	assert_int_equal(seq, 1234);
	assert_int_equal(store_cursor_set(f->s, "http://peer:8080", 1235), 0);
	assert_int_equal(store_cursor_get(f->s, "http://peer:8080", &seq), 0);
	assert_int_equal(seq, 1235);
	assert_int_equal(store_cursor_set(f->s, "", 1), -EINVAL);

	assert_int_equal(store_meta_get(f->s, "edge/e1", &val, &len), -ENOENT);
	assert_int_equal(store_meta_put(f->s, "edge/e1", "{\"a\":1}", 7), 0);
	assert_int_equal(store_meta_put(f->s, "edge/e2", "{}", 2), 0);
	assert_int_equal(store_meta_put(f->s, "edgf", "x", 1), 0);
	assert_int_equal(store_meta_put(f->s, "edgd", "x", 1), 0);
	assert_int_equal(store_meta_get(f->s, "edge/e1", &val, &len), 0);
	assert_int_equal(len, 7);
	assert_memory_equal(val, "{\"a\":1}", 7);
	free(val);
	assert_int_equal(store_meta_list(f->s, "edge/", count_cb, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_meta_del(f->s, "edge/e1"), 0);
	assert_int_equal(store_meta_del(f->s, "edge/e1"), -ENOENT);
	n = 0;
	assert_int_equal(store_meta_list(f->s, "edge/", count_cb, &n), 0);
	assert_int_equal(n, 1);
}

#define THREADS 4
#define PER_THREAD 50

struct worker {
	struct store *s;
	int id;
	int rc;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct store_record r;
	char text[64], cid[CID_BUF_LEN];

	for (int i = 0; i < PER_THREAD && w->rc == 0; i++) {
		snprintf(text, sizeof(text), "t%d-%d", w->id, i % 10);
		w->rc = store_blob_put(w->s, text, strlen(text), NULL, cid, NULL);
		if (w->rc != 0)
			break;
		mkrec(&r, "mt", "src", w->id * 1000 + i, 1, cid);
		w->rc = store_record_put(w->s, &r, STORE_PUT_ASSIGN_SEQ, NULL, NULL);
	}
	return NULL;
}

static void
test_threads_share_handle(void **state)
{
	struct fixture *f = *state;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct store_record *out = NULL;
	struct store_fsck_report rep;
	size_t n = 0;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = f->s, .id = i, .rc = 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 0);
	}
	assert_int_equal(store_query(f->s, "mt", "src", INT64_MIN, INT64_MAX, 0, &out, &n, NULL), 0);
	assert_int_equal(n, THREADS * PER_THREAD);
	for (size_t i = 1; i < n; i++)
		assert_true(out[i].start_us > out[i - 1].start_us);
	free(out);
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.bad_refcount + rep.missing_blob + rep.bad_hash, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_roundtrip, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_assign_seq, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_range_boundaries, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_query_misc, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_conflict_order, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_streams, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_changes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_put_many, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cursors_meta, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_threads_share_handle, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
