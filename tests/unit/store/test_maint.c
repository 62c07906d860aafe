/*
 * test_maint.c — gc (shared blobs, tombstones), fsck (clean, damaged,
 * repair) and stats.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_test_util.h"

#define S 1000000LL

static void
test_gc_shared_blob(void **state)
{
	struct fixture *f = *state;
	char shared[CID_BUF_LEN], own[CID_BUF_LEN];
	struct store_record r;
	struct store_change *ch = NULL;
	struct store_stats st;
	struct store_fsck_report rep;
	uint64_t recs = 0, blobs = 0, last = 0;
	size_t n = 0;

	put_text(f->s, "shared", shared);
	put_text(f->s, "own", own);
	mkrec(&r, "cam", "src", 100, 2, shared);      /* old */
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	mkrec(&r, "cam", "src", 102, 2, own);         /* old, own blob */
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	mkrec(&r, "other", "src", 500, 2, shared);    /* newer, same blob */
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);

	/* Cut at 200 s: the two cam records go, "own" goes, "shared" stays. */
	assert_int_equal(store_gc(f->s, 200 * S, NULL, &recs, &blobs), 0);
	assert_int_equal(recs, 2);
	assert_int_equal(blobs, 1);
	assert_int_equal(store_blob_stat(f->s, shared, NULL), 0);
	assert_int_equal(store_blob_stat(f->s, own, NULL), -ENOENT);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.records, 1);
	assert_int_equal(st.blobs, 1);
	assert_int_equal(st.blob_bytes, 6);
	assert_int_equal(st.streams, 1);
	/* Tombstones in the change log. */
	assert_int_equal(store_changes(f->s, 3, 0, &ch, &n, &last), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ch[0].op, STORE_OP_DELETE);
	assert_int_equal(ch[1].op, STORE_OP_DELETE);
	free(ch);
	/* A segment that ends after the cut-off stays. */
	assert_int_equal(store_gc(f->s, 501 * S, NULL, &recs, &blobs), 0);
	assert_int_equal(recs, 0);
	/* Per stream: other stream untouched by a gc of "cam". */
	assert_int_equal(store_gc(f->s, 1000 * S, "cam", &recs, &blobs), 0);
	assert_int_equal(recs, 0);
	assert_int_equal(store_gc(f->s, 1000 * S, NULL, &recs, &blobs), 0);
	assert_int_equal(recs, 1);
	assert_int_equal(blobs, 1);
	assert_int_equal(store_blob_stat(f->s, shared, NULL), -ENOENT);
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.bad_refcount + rep.missing_blob + rep.bad_hash, 0);
	assert_int_equal(rep.tmp_files, 0);
	/* The sequence counter survives: a new put continues it. */
	mkrec(&r, "cam", "src", 2000, 2, own);
	put_text(f->s, "own", own);
	assert_int_equal(store_record_put(f->s, &r, STORE_PUT_ASSIGN_SEQ, NULL, &r), 0);
	assert_int_equal(r.seq, 1);   /* gc'd records had seq 0: the next is 1, not 0 again */
}

static void
test_gc_many(void **state)
{
	struct fixture *f = *state;
	struct store_record *recs = calloc(5000, sizeof(*recs));
	char cid[CID_BUF_LEN];
	uint64_t nr = 0, nb = 0;
	struct store_stats st;

	put_text(f->s, "x", cid);
	for (int i = 0; i < 5000; i++)
		mkrec(&recs[i], i % 2 ? "a" : "b", "src", i, 1, cid);
	assert_int_equal(store_record_put_many(f->s, recs, 5000, 0, NULL), 0);
	assert_int_equal(store_gc(f->s, 4000 * S, NULL, &nr, &nb), 0);
	assert_int_equal(nr, 4000);
	assert_int_equal(nb, 0);
	assert_int_equal(store_stats(f->s, &st), 0);
	assert_int_equal(st.records, 1000);
	free(recs);
}

static void
test_gc_orphans(void **state)
{
	struct fixture *f = *state;
	char old[CID_BUF_LEN], fresh[CID_BUF_LEN], used[CID_BUF_LEN], path[512];
	struct timespec ts[2] = { { .tv_sec = 1000000000 }, { .tv_sec = 1000000000 } };
	struct store_record r;
	uint64_t nr = 0, nb = 0;

	put_text(f->s, "orphan old", old);
	put_text(f->s, "orphan fresh", fresh);
	put_text(f->s, "used", used);
	mkrec(&r, "cam", "src", 5000000000LL, 2, used);   /* far future: never expires */
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	assert_int_equal(store_blob_path(f->s, old, path, sizeof(path)), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(store_blob_path(f->s, used, path, sizeof(path)), 0);
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	/* Per-stream gc leaves orphans alone. */
	assert_int_equal(store_gc(f->s, 2000000000LL * S, "cam", &nr, &nb), 0);
	assert_int_equal(nb, 0);
	assert_int_equal(store_gc(f->s, 2000000000LL * S, NULL, &nr, &nb), 0);
	assert_int_equal(nr, 0);
	assert_int_equal(nb, 1);
	assert_int_equal(store_blob_stat(f->s, old, NULL), -ENOENT);
	assert_int_equal(store_blob_stat(f->s, fresh, NULL), 0);   /* within the grace */
	assert_int_equal(store_blob_stat(f->s, used, NULL), 0);    /* referenced */
}

struct seen {
	int bad_hash, missing;
	char cid[CID_BUF_LEN];
};

static void
fsck_cb(void *arg, const char *kind, const char *cid, const char *detail)
{
	struct seen *s = arg;

	(void)detail;
	if (strcmp(kind, "bad_hash") == 0) {
		s->bad_hash++;
		snprintf(s->cid, sizeof(s->cid), "%s", cid);
	}
	if (strcmp(kind, "missing_blob") == 0)
		s->missing++;
}

static void
test_fsck(void **state)
{
	struct fixture *f = *state;
	char a[CID_BUF_LEN], b[CID_BUF_LEN], path[512];
	struct store_fsck_report rep;
	struct store_record r;
	struct seen seen = { 0 };
	int fd;

	put_text(f->s, "blob a", a);
	put_text(f->s, "blob b", b);
	mkrec(&r, "cam", "src", 0, 2, a);
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	mkrec(&r, "cam", "src", 2, 2, b);
	assert_int_equal(store_record_put(f->s, &r, 0, NULL, NULL), 0);
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.blobs_checked, 2);
	assert_int_equal(rep.records_checked, 2);
	assert_int_equal(rep.bad_hash + rep.missing_blob + rep.bad_refcount + rep.orphan_files +
	                 rep.tmp_files, 0);
	/* Flip a byte of a, remove b, leave a tmp file. */
	assert_int_equal(store_blob_path(f->s, a, path, sizeof(path)), 0);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "B", 1, 0), 1);
	close(fd);
	assert_int_equal(store_blob_path(f->s, b, path, sizeof(path)), 0);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/tmp/blob-999999999-dead", f->dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_fsck_verbose(f->s, false, &rep, fsck_cb, &seen), 0);
	assert_int_equal(rep.bad_hash, 1);
	assert_int_equal(rep.missing_blob, 1);
	assert_int_equal(rep.tmp_files, 1);
	assert_int_equal(seen.bad_hash, 1);
	assert_int_equal(seen.missing, 1);
	assert_string_equal(seen.cid, a);
	/* Repair removes the stale tmp file (its pid does not exist). */
	assert_int_equal(store_fsck(f->s, true, &rep), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_fsck(f->s, false, &rep), 0);
	assert_int_equal(rep.tmp_files, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gc_shared_blob, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_gc_many, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_gc_orphans, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_fsck, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
