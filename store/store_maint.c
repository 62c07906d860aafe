/*
 * store_maint.c — stats, fsck and gc.
 *
 * fsck copies the blobs db (cid, size, refcount) and every record's cid out
 * of one read transaction, ends it, and only then touches files: rehashes
 * every file under blobs/, compares per-cid record counts with the stored
 * reference counts, and lists tmp/. Repair recounts inside one write
 * transaction (so concurrent writers cannot skew it).
 *
 * gc deletes expired records in batches of STORE_GC_BATCH per write
 * transaction (each delete a DELETE change; blobs whose last reference goes
 * are trashed and unlinked after commit), then sweeps orphan blob files
 * (no blobs-db entry, untouched for STORE_ORPHAN_GRACE_US) and stale tmp/
 * files.
 */
#include "store/store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"

#define STORE_GC_BATCH     2000
#define STORE_HASH_CHUNK   (1024 * 1024)
#define STORE_FANOUT       256

struct blob_ent {
	unsigned char raw[STORE_CID_RAW];
	uint64_t size, refs;
};

static int
raw_cmp(const void *a, const void *b)
{
	return memcmp(a, b, STORE_CID_RAW);
}

/* ---- stats ---- */

int
store_stats(struct store *s, struct store_stats *out)
{
	struct store_stream_info *si = NULL;
	MDB_stat st;
	MDB_envinfo ei;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t nsi = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->node, sizeof(out->node), "%s", s->node);
	rc = store_mdb_err(mdb_txn_begin(s->e->env, NULL, MDB_RDONLY, &txn), "begin read txn");
	if (rc != 0)
		return rc;
	if ((rc = mdb_stat(txn, s->e->segments, &st)) != 0)
		goto mdb;
	out->records = st.ms_entries;
	if ((rc = mdb_stat(txn, s->e->blobs, &st)) != 0)
		goto mdb;
	out->blobs = st.ms_entries;
	k.mv_data = "blob_bytes";
	k.mv_size = strlen("blob_bytes");
	rc = mdb_get(txn, s->e->info, &k, &v);
	if (rc == 0 && v.mv_size == 8)
		out->blob_bytes = store_get_le64(v.mv_data);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		goto mdb;
	if ((rc = mdb_cursor_open(txn, s->e->changes, &c)) != 0)
		goto mdb;
	rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8) {
		const unsigned char *p = k.mv_data;

		for (int i = 0; i < 8; i++)
			out->last_seq = out->last_seq << 8 | p[i];
	} else if (rc != MDB_NOTFOUND) {
		goto mdb;
	}
	mdb_cursor_close(c);
	c = NULL;
	if ((rc = mdb_env_info(s->e->env, &ei)) != 0 || (rc = mdb_env_stat(s->e->env, &st)) != 0)
		goto mdb;
	out->map_size = ei.me_mapsize;
	out->map_used = (uint64_t)(ei.me_last_pgno + 1) * st.ms_psize;
	mdb_txn_abort(txn);
	rc = store_streams(s, &si, &nsi);
	if (rc != 0)
		return rc;
	out->streams = nsi;
	store_streams_free(&si, nsi);
	return 0;
mdb:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return store_mdb_err(rc, "stats");
}

/* ---- fsck ---- */

struct fsck_ctx {
	struct store *s;
	struct store_fsck_report *rep;
	store_fsck_cb cb;
	void *arg;
	struct blob_ent *ents;     /* blobs db copy, sorted by cid */
	size_t nents;
	unsigned char (*rcids)[STORE_CID_RAW];  /* every record's cid, sorted */
	size_t nrcids;
	unsigned char *buf;
};

static void
problem(struct fsck_ctx *f, const char *kind, const char *cid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
problem(struct fsck_ctx *f, const char *kind, const char *cid, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (f->cb != NULL)
		f->cb(f->arg, kind, cid, detail);
}

static int
fsck_load(struct fsck_ctx *f)
{
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_stat st;
	MDB_val k, v;
	size_t i;
	int rc;

	rc = mdb_txn_begin(f->s->e->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return store_mdb_err(rc, "begin read txn");
	if ((rc = mdb_stat(txn, f->s->e->blobs, &st)) != 0)
		goto mdb;
	f->ents = calloc(st.ms_entries + 1, sizeof(*f->ents));
	if ((rc = mdb_stat(txn, f->s->e->segments, &st)) != 0)
		goto mdb;
	f->rcids = calloc(st.ms_entries + 1, sizeof(*f->rcids));
	if (f->ents == NULL || f->rcids == NULL) {
		mdb_txn_abort(txn);
		return -ENOMEM;
	}
	if ((rc = mdb_cursor_open(txn, f->s->e->blobs, &c)) != 0)
		goto mdb;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != STORE_CID_RAW || v.mv_size < 16)
			continue;
		memcpy(f->ents[f->nents].raw, k.mv_data, STORE_CID_RAW);
		f->ents[f->nents].size = store_get_le64(v.mv_data);
		f->ents[f->nents].refs = store_get_le64((const unsigned char *)v.mv_data + 8);
		f->nents++;
	}
	mdb_cursor_close(c);
	c = NULL;
	if ((rc = mdb_cursor_open(txn, f->s->e->segments, &c)) != 0)
		goto mdb;
	i = 0;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && i < st.ms_entries;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct store_record r;

		if (store_rec_unpack(v.mv_data, v.mv_size, &r) != 0)
			continue;
		store_hex_to_raw(r.cid, f->rcids[i++]);
	}
	f->nrcids = i;
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	qsort(f->rcids, f->nrcids, sizeof(*f->rcids), raw_cmp);
	return 0;
mdb:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return store_mdb_err(rc, "fsck read");
}

static struct blob_ent *
find_ent(struct fsck_ctx *f, const unsigned char raw[STORE_CID_RAW])
{
	return bsearch(raw, f->ents, f->nents, sizeof(*f->ents), raw_cmp);
}

/* Rehash one blob file; 0 = matches, 1 = mismatch, <0 error. */
static int
hash_file(struct fsck_ctx *f, const char *path, const char *cid)
{
	struct cid_hasher h;
	char got[CID_BUF_LEN];
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = cid_hasher_init(&h);
	while (rc == 0) {
		ssize_t n = read(fd, f->buf, STORE_HASH_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		rc = cid_hasher_update(&h, f->buf, (size_t)n);
	}
	close(fd);
	if (rc != 0) {
		cid_hasher_abort(&h);
		return rc;
	}
	if ((rc = cid_hasher_final(&h, got)) != 0)
		return rc;
	return strcmp(got, cid) == 0 ? 0 : 1;
}

static int
fsck_files(struct fsck_ctx *f)
{
	char dir[STORE_DIR_MAX + 16], path[STORE_PATH_MAX];
	unsigned char raw[STORE_CID_RAW];
	struct dirent *de;
	DIR *d;
	int rc;

	for (int i = 0; i < STORE_FANOUT; i++) {
		snprintf(dir, sizeof(dir), "%s/blobs/%02x", f->s->dir, i);
		d = opendir(dir);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (!cid_valid(de->d_name) || strncmp(de->d_name, dir + strlen(dir) - 2, 2) != 0) {
				f->rep->orphan_files++;
				problem(f, "orphan_file", NULL, "unexpected file \"%s\"", path);
				continue;
			}
			f->rep->blobs_checked++;
			rc = hash_file(f, path, de->d_name);
			if (rc < 0) {
				f->rep->bad_hash++;
				problem(f, "bad_hash", de->d_name, "cannot read: %s", strerror(-rc));
			} else if (rc == 1) {
				f->rep->bad_hash++;
				problem(f, "bad_hash", de->d_name, "bytes do not hash to the name");
			}
			store_hex_to_raw(de->d_name, raw);
			if (find_ent(f, raw) == NULL) {
				f->rep->orphan_files++;
				problem(f, "orphan_file", de->d_name, "blob file without index entry");
			}
		}
		closedir(d);
	}
	return 0;
}

static void
fsck_refs(struct fsck_ctx *f)
{
	char cid[CID_BUF_LEN];
	size_t i = 0, j;

	f->rep->records_checked = f->nrcids;
	while (i < f->nrcids) {
		struct blob_ent *e;
		uint64_t cnt;

		for (j = i + 1; j < f->nrcids && raw_cmp(f->rcids[i], f->rcids[j]) == 0; j++)
			;
		cnt = j - i;
		store_raw_to_hex(f->rcids[i], cid);
		if (store_blob_stat(f->s, cid, NULL) != 0) {
			f->rep->missing_blob += cnt;
			problem(f, "missing_blob", cid, "blob file missing for %llu record(s)",
			        (unsigned long long)cnt);
		}
		e = find_ent(f, f->rcids[i]);
		if (e == NULL || e->refs != cnt) {
			f->rep->bad_refcount++;
			problem(f, "bad_refcount", cid, "refcount %llu, records %llu",
			        (unsigned long long)(e ? e->refs : 0), (unsigned long long)cnt);
		}
		if (e != NULL)
			e->refs = UINT64_MAX;   /* seen */
		i = j;
	}
	for (i = 0; i < f->nents; i++) {
		if (f->ents[i].refs == UINT64_MAX)
			continue;
		store_raw_to_hex(f->ents[i].raw, cid);
		f->rep->bad_refcount++;
		problem(f, "bad_refcount", cid, "refcount %llu, records 0",
		        (unsigned long long)f->ents[i].refs);
	}
}

static void
fsck_tmp(struct fsck_ctx *f, bool repair)
{
	char dir[STORE_DIR_MAX + 16], path[STORE_PATH_MAX];
	int64_t now = store_now_us();
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", f->s->dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		bool stale;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0)
			continue;
		f->rep->tmp_files++;
		stale = store_tmp_is_stale(de->d_name,
		                           (int64_t)st.st_mtim.tv_sec * 1000000LL +
		                           st.st_mtim.tv_nsec / 1000, now);
		problem(f, "tmp_file", NULL, "\"%s\"%s%s", de->d_name,
		        stale ? " (stale)" : " (in use)", stale && repair ? ", removed" : "");
		if (stale && repair)
			unlink(path);
	}
	closedir(d);
}

/* Recount every cid's records inside one write txn and fix the blobs db. */
static int
fsck_repair_refs(struct store *s)
{
	unsigned char (*rc_arr)[STORE_CID_RAW] = NULL;
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_stat st;
	MDB_val k, v;
	size_t n = 0;
	uint64_t bytes = 0;
	int rc;

	rc = mdb_txn_begin(s->e->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_err(rc, "begin write txn");
	if ((rc = mdb_stat(txn, s->e->segments, &st)) != 0)
		goto mdb;
	rc_arr = calloc(st.ms_entries + 1, sizeof(*rc_arr));
	if (rc_arr == NULL) {
		mdb_txn_abort(txn);
		return -ENOMEM;
	}
	if ((rc = mdb_cursor_open(txn, s->e->segments, &c)) != 0)
		goto mdb;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < st.ms_entries;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct store_record r;

		if (store_rec_unpack(v.mv_data, v.mv_size, &r) == 0)
			store_hex_to_raw(r.cid, rc_arr[n++]);
	}
	mdb_cursor_close(c);
	c = NULL;
	qsort(rc_arr, n, sizeof(*rc_arr), raw_cmp);
	/* Drop every entry, then write the recounted ones. */
	if ((rc = mdb_drop(txn, s->e->blobs, 0)) != 0)
		goto mdb;
	for (size_t i = 0, j; i < n; i = j) {
		unsigned char buf[16];
		char cid[CID_BUF_LEN];
		uint64_t size = 0;

		for (j = i + 1; j < n && raw_cmp(rc_arr[i], rc_arr[j]) == 0; j++)
			;
		store_raw_to_hex(rc_arr[i], cid);
		store_blob_stat(s, cid, &size);
		bytes += size;
		store_put_le64(buf, size);
		store_put_le64(buf + 8, j - i);
		k.mv_data = rc_arr[i];
		k.mv_size = STORE_CID_RAW;
		v.mv_data = buf;
		v.mv_size = 16;
		if ((rc = mdb_put(txn, s->e->blobs, &k, &v, 0)) != 0)
			goto mdb;
	}
	{
		unsigned char buf[8];

		store_put_le64(buf, bytes);
		k.mv_data = "blob_bytes";
		k.mv_size = strlen("blob_bytes");
		v.mv_data = buf;
		v.mv_size = 8;
		if ((rc = mdb_put(txn, s->e->info, &k, &v, 0)) != 0)
			goto mdb;
	}
	free(rc_arr);
	return store_mdb_err(mdb_txn_commit(txn), "commit repair");
mdb:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	free(rc_arr);
	return store_mdb_err(rc, "repair refcounts");
}

int
store_fsck_verbose(struct store *s, bool repair, struct store_fsck_report *out,
                   store_fsck_cb cb, void *arg)
{
	struct fsck_ctx f = { .s = s, .rep = out, .cb = cb, .arg = arg };
	int rc;

	memset(out, 0, sizeof(*out));
	if (repair && s->readonly)
		return -EROFS;
	f.buf = malloc(STORE_HASH_CHUNK);
	if (f.buf == NULL)
		return -ENOMEM;
	rc = fsck_load(&f);
	if (rc != 0)
		goto out;
	fsck_files(&f);
	fsck_refs(&f);
	fsck_tmp(&f, repair);
	if (repair && out->bad_refcount > 0)
		rc = fsck_repair_refs(s);
out:
	free(f.ents);
	free(f.rcids);
	free(f.buf);
	return rc;
}

int
store_fsck(struct store *s, bool repair, struct store_fsck_report *out)
{
	return store_fsck_verbose(s, repair, out, NULL, NULL);
}

/* ---- gc ---- */

/* One batch: up to STORE_GC_BATCH expired records removed in one txn. */
static int
gc_batch(struct store *s, int64_t cutoff_us, const char *stream, uint64_t *recs,
         uint64_t *blobs, bool *more)
{
	struct store_record *cand = NULL;
	struct trash t = { 0 };
	MDB_txn *txn = NULL;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t n = 0, sl = stream ? strlen(stream) : 0;
	char key[STORE_KEY_MAX];
	int rc;

	*more = false;
	cand = calloc(STORE_GC_BATCH, sizeof(*cand));
	if (cand == NULL)
		return -ENOMEM;
	rc = mdb_txn_begin(s->e->env, NULL, 0, &txn);
	if (rc != 0) {
		free(cand);
		return store_mdb_err(rc, "begin write txn");
	}
	if ((rc = mdb_cursor_open(txn, s->e->segments, &c)) != 0)
		goto mdb;
	if (stream != NULL) {
		memcpy(key, stream, sl);
		key[sl] = '\0';
		k.mv_data = key;
		k.mv_size = sl + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	/*
	 * Walk keys in order; within a stream+variant, starts ascend, so once
	 * start >= cutoff jump to the next variant's prefix.
	 */
	while (rc == 0 && n < STORE_GC_BATCH) {
		struct store_record r;

		if (stream != NULL && (k.mv_size <= sl + 1 || memcmp(k.mv_data, key, sl + 1) != 0))
			break;
		memset(&r, 0, sizeof(r));
		if (store_seg_key_parse(k.mv_data, k.mv_size, &r) != 0 ||
		    store_rec_unpack(v.mv_data, v.mv_size, &r) != 0) {
			rc = MDB_CORRUPTED;
			goto mdb;
		}
		if (r.start_us >= cutoff_us) {
			char next[STORE_KEY_MAX];
			size_t nl = store_seg_key(next, r.stream, r.variant, INT64_MAX);

			/* Past the last possible start of this prefix. */
			k.mv_data = next;
			k.mv_size = nl;
			rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			if (rc == 0 && k.mv_size == nl && memcmp(k.mv_data, next, nl) == 0)
				rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		if (r.start_us + r.duration_us <= cutoff_us)
			cand[n++] = r;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto mdb;
	mdb_cursor_close(c);
	c = NULL;
	*more = n == STORE_GC_BATCH;
	for (size_t i = 0; i < n; i++)
		if ((rc = store_rec_remove(s, txn, &cand[i], &t)) != 0)
			goto fail;
	if (n == 0) {
		mdb_txn_abort(txn);
		txn = NULL;
	} else {
		rc = store_mdb_err(mdb_txn_commit(txn), "commit gc");
		txn = NULL;
		if (rc != 0)
			goto fail;
	}
	*recs += n;
	*blobs += t.n;
	store_trash_commit(s, &t);
	store_trash_free(&t);
	free(cand);
	return 0;
mdb:
	rc = store_mdb_err(rc, "gc scan");
fail:
	if (c != NULL)
		mdb_cursor_close(c);
	if (txn != NULL)
		mdb_txn_abort(txn);
	store_trash_rollback(s, &t);
	store_trash_free(&t);
	free(cand);
	return rc;
}

/* Trash blob files that have no index entry and were not touched lately. */
static int
gc_orphans(struct store *s, int64_t older_than_us, uint64_t *blobs)
{
	char dir[STORE_DIR_MAX + 16], path[STORE_PATH_MAX];
	unsigned char (*cand)[STORE_CID_RAW] = NULL;
	size_t ncand, cap = 0;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int rc = 0;

	for (int i = 0; i < STORE_FANOUT && rc == 0; i++) {
		struct trash t = { 0 };
		MDB_txn *txn = NULL;
		MDB_val k, v;

		snprintf(dir, sizeof(dir), "%s/blobs/%02x", s->dir, i);
		d = opendir(dir);
		if (d == NULL)
			continue;
		/* Candidates: old files; the index is checked below. */
		ncand = 0;
		while ((de = readdir(d)) != NULL) {
			if (!cid_valid(de->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			if (stat(path, &st) != 0 ||
			    (int64_t)st.st_mtim.tv_sec * 1000000LL + st.st_mtim.tv_nsec / 1000 >=
			    older_than_us)
				continue;
			if (ncand == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				void *a = realloc(cand, ncap * sizeof(*cand));

				if (a == NULL) {
					rc = -ENOMEM;
					break;
				}
				cand = a;
				cap = ncap;
			}
			store_hex_to_raw(de->d_name, cand[ncand++]);
		}
		closedir(d);
		if (rc != 0 || ncand == 0)
			continue;
		/* Drop the referenced ones under a read txn (no writer lock). */
		rc = store_mdb_err(mdb_txn_begin(s->e->env, NULL, MDB_RDONLY, &txn), "begin txn");
		if (rc != 0)
			break;
		for (size_t j = 0; j < ncand;) {
			k.mv_data = cand[j];
			k.mv_size = STORE_CID_RAW;
			if (mdb_get(txn, s->e->blobs, &k, &v) == 0)
				memcpy(cand[j], cand[--ncand], STORE_CID_RAW);
			else
				j++;
		}
		mdb_txn_abort(txn);
		txn = NULL;
		if (ncand == 0)
			continue;
		/* Re-check and trash inside one write txn. */
		rc = store_mdb_err(mdb_txn_begin(s->e->env, NULL, 0, &txn), "begin write txn");
		if (rc != 0)
			break;
		for (size_t j = 0; j < ncand && rc == 0; j++) {
			char cid[CID_BUF_LEN];

			k.mv_data = cand[j];
			k.mv_size = STORE_CID_RAW;
			if (mdb_get(txn, s->e->blobs, &k, &v) == 0)
				continue;   /* referenced meanwhile */
			store_raw_to_hex(cand[j], cid);
			rc = store_trash_add(s, &t, cid);
		}
		if (rc == 0) {
			rc = store_mdb_err(mdb_txn_commit(txn), "commit gc");
		} else {
			mdb_txn_abort(txn);
		}
		if (rc == 0) {
			*blobs += t.n;
			store_trash_commit(s, &t);
		} else {
			store_trash_rollback(s, &t);
		}
		store_trash_free(&t);
	}
	free(cand);
	return rc;
}

static void
gc_tmp(struct store *s)
{
	char dir[STORE_DIR_MAX + 16], path[STORE_PATH_MAX];
	int64_t now = store_now_us();
	struct dirent *de;
	struct stat st;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tmp", s->dir);
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		if (store_tmp_is_stale(de->d_name, (int64_t)st.st_mtim.tv_sec * 1000000LL +
		                       st.st_mtim.tv_nsec / 1000, now))
			unlink(path);
	}
	closedir(d);
}

int
store_gc(struct store *s, int64_t cutoff_us, const char *stream, uint64_t *records_removed,
         uint64_t *blobs_removed)
{
	uint64_t recs = 0, blobs = 0;
	bool more = true;
	int64_t orphan_cut;
	int rc = 0;

	if (records_removed != NULL)
		*records_removed = 0;
	if (blobs_removed != NULL)
		*blobs_removed = 0;
	if (s->readonly)
		return -EROFS;
	if (stream != NULL && !store_name_valid(stream, STORE_STREAM_MAX))
		return -EINVAL;
	while (more && rc == 0)
		rc = gc_batch(s, cutoff_us, stream, &recs, &blobs, &more);
	if (rc == 0 && stream == NULL) {
		orphan_cut = store_now_us() - STORE_ORPHAN_GRACE_US;
		if (cutoff_us < orphan_cut)
			orphan_cut = cutoff_us;
		rc = gc_orphans(s, orphan_cut, &blobs);
		gc_tmp(s);
	}
	if (records_removed != NULL)
		*records_removed = recs;
	if (blobs_removed != NULL)
		*blobs_removed = blobs;
	return rc;
}
