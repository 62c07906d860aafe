/*
 * store.h — the segment store: content-addressed blob files plus an LMDB
 * index of segment records, a change log and replication cursors.
 *
 * On disk (one directory, see DESIGN.md "Store"):
 *   DIR/node-id          128-bit random node id, 32 hex chars
 *   DIR/index/           LMDB environment
 *   DIR/blobs/ab/<cid>   immutable segment bytes
 *   DIR/tmp/             in-flight writes
 *
 * Ownership: store_open() returns a handle the caller frees with
 * store_close(). Records and arrays returned are malloc'd copies the caller
 * frees (free() for arrays of plain structs; helpers below otherwise).
 * Nothing returned points into LMDB memory.
 *
 * Threading: one handle may be shared by all threads of a process; every call
 * opens its own short LMDB transaction (MDB_NOTLS). Several processes may open
 * the same store at once (LMDB locking); writers serialise on LMDB's writer
 * lock. No call blocks longer than its own disk I/O, except
 * store_changes_wait() which waits without holding a transaction.
 *
 * Durability: a blob put returns after the file is fsynced, renamed into
 * blobs/ and the directory fsynced. A record put returns after its LMDB
 * transaction commits (synchronous). So a record acknowledged by
 * store_record_put() survives kill -9 and power loss with its blob.
 *
 * Conflicts: records are keyed by (stream, variant, start_us). Putting the
 * same key with the same CID is a no-op (returns 0, *created = false).
 * Putting the same key with a different CID keeps the record whose CID is
 * lexicographically smaller (STORE_RULE_MIN_CID) — on every node, whatever
 * the arrival order, so replicas converge. The loser is not an error: the put
 * returns 0 and reports it with *created = false (and the loser's blob
 * reference is not taken).
 *
 * Errors: 0 on success or a negative errno:
 *   -ENOENT   store dir / record / blob / stream not found
 *   -ENOTDIR  path exists but is not a sluice store
 *   -EINVAL   bad argument (name syntax, CID syntax, from > to, …)
 *   -EBADMSG  bytes do not hash to the expected CID
 *   -ENOSPC   disk or LMDB map full (nothing half-written remains)
 *   -EROFS    write on a handle opened STORE_OPEN_READONLY
 *   -EFBIG    blob larger than the store accepts (4 GiB)
 *   -EIO      other I/O or LMDB failure (details logged)
 *   -ENOMEM
 */
#ifndef SLUICE_STORE_H
#define SLUICE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/cid.h"

#define STORE_STREAM_MAX  64    /* chars, without NUL */
#define STORE_VARIANT_MAX 32
#define STORE_SESSION_MAX 64
#define STORE_TENANT_MAX  64
#define STORE_DEVICE_MAX  64
#define STORE_CODECS_MAX  127
#define STORE_NODE_LEN    32    /* hex chars of a node id */

struct store;

struct store_record {
	char stream[STORE_STREAM_MAX + 1];
	char variant[STORE_VARIANT_MAX + 1];
	int64_t start_us;
	int64_t duration_us;
	uint64_t seq;                     /* media sequence per stream+variant */
	char session[STORE_SESSION_MAX + 1];
	bool discontinuity;               /* first segment of its session */
	char cid[CID_BUF_LEN];
	uint64_t size;                    /* bytes of the blob */
	char tenant[STORE_TENANT_MAX + 1];
	char device[STORE_DEVICE_MAX + 1];
	char codecs[STORE_CODECS_MAX + 1];/* RFC 6381, e.g. "avc1.64001f,mp4a.40.2" */
	uint32_t width;
	uint32_t height;
	uint64_t bandwidth;               /* bit/s */
	char node[STORE_NODE_LEN + 1];    /* producer node id */
};

/* One change-log entry. For op DELETE only the key fields and cid are set. */
enum store_op { STORE_OP_PUT = 1, STORE_OP_DELETE = 2 };
struct store_change {
	uint64_t seq;                     /* local change-log sequence, from 1 */
	enum store_op op;
	struct store_record rec;
};

struct store_variant_info {
	char name[STORE_VARIANT_MAX + 1];
	uint64_t bandwidth;               /* max seen, bit/s */
	uint32_t width, height;
	char codecs[STORE_CODECS_MAX + 1];
	int64_t first_us, last_us;        /* first start, last start+duration */
	uint64_t segments;
};

struct store_stream_info {
	char stream[STORE_STREAM_MAX + 1];
	char tenant[STORE_TENANT_MAX + 1];
	int64_t first_us, last_us;
	uint64_t segments;                /* all variants */
	size_t nvariants;
	struct store_variant_info *variants; /* owned; store_streams_free() */
};

struct store_stats {
	char node[STORE_NODE_LEN + 1];
	uint64_t records;
	uint64_t blobs;
	uint64_t blob_bytes;
	uint64_t streams;
	uint64_t last_seq;                /* change log */
	uint64_t map_size, map_used;      /* LMDB bytes */
};

struct store_fsck_report {
	uint64_t blobs_checked;
	uint64_t records_checked;
	uint64_t bad_hash;                /* blob bytes do not match name */
	uint64_t missing_blob;            /* record without blob file */
	uint64_t bad_refcount;            /* blobs db count != records referencing */
	uint64_t orphan_files;            /* blob files with no blobs-db entry */
	uint64_t tmp_files;               /* leftovers in tmp/ (removed if repair) */
};

/* ---- lifecycle ---- */

/* Create the layout (idempotent: an existing store is left as is). */
int store_init(const char *dir);

#define STORE_OPEN_CREATE   0x1       /* store_init() first if missing */
#define STORE_OPEN_READONLY 0x2
int store_open(const char *dir, unsigned flags, struct store **out);
void store_close(struct store **s);   /* sets *s = NULL; NULL-safe */

const char *store_dir(const struct store *s);
const char *store_node_id(const struct store *s);   /* 32 hex chars */

/* ---- blobs ---- */

/*
 * Put bytes; cid_out gets their CID. If expect_cid is non-NULL the bytes must
 * hash to it (else -EBADMSG and nothing is stored). created (may be NULL) is
 * true when the blob was new. A put is idempotent.
 */
int store_blob_put(struct store *s, const void *buf, size_t len,
                   const char *expect_cid, char cid_out[CID_BUF_LEN],
                   bool *created);
/* Same, reading fd to EOF (hashing while writing). size_out may be NULL. */
int store_blob_put_fd(struct store *s, int fd, const char *expect_cid,
                      char cid_out[CID_BUF_LEN], uint64_t *size_out,
                      bool *created);
/* Open a blob read-only for zero-copy serving; caller closes *fd. */
int store_blob_open(struct store *s, const char *cid, int *fd, uint64_t *size);
/* 0 if the blob file exists (size_out may be NULL), -ENOENT if not. */
int store_blob_stat(struct store *s, const char *cid, uint64_t *size_out);
/* Path of a blob file into buf (exists or not). */
int store_blob_path(const struct store *s, const char *cid, char *buf, size_t len);

/* ---- records ---- */

#define STORE_PUT_ASSIGN_SEQ 0x1  /* seq := last seq of stream+variant + 1;
                                     discontinuity := no previous record or
                                     previous session differs; node := ours
                                     if empty. All inside the write txn. */
/*
 * Put a record whose blob is already stored (-ENOENT if the blob file is
 * missing; size is taken from the blob when rec->size is 0, -EINVAL when a
 * nonzero rec->size differs from the blob's). Appends a PUT change. created
 * (may be NULL): true if the index changed. rec_out (may be NULL) receives
 * the record as stored (with assigned fields, or the winner of a conflict).
 * A put that loses a conflict does not need its blob. A winning put that
 * replaces a record drops the old record's blob reference (the blob file
 * goes when no record uses it any more).
 * Race note: if a concurrent gc removes a blob between store_blob_put() of
 * already-known bytes and this call, this returns -ENOENT; put the blob
 * again and retry.
 */
int store_record_put(struct store *s, const struct store_record *rec,
                     unsigned flags, bool *created, struct store_record *rec_out);

/*
 * Put n records in one write transaction (all or nothing; for bulk loads and
 * replication batches). *created_n (may be NULL) counts records that changed
 * the index.
 */
int store_record_put_many(struct store *s, const struct store_record *recs, size_t n,
                          unsigned flags, size_t *created_n);

int store_record_get(struct store *s, const char *stream, const char *variant,
                     int64_t start_us, struct store_record *out);

/*
 * Records of stream+variant overlapping [from_us, to_us)
 * (start < to && start + duration > from), ascending by start. At most `max`
 * (0 = no limit); *truncated (may be NULL) tells if more existed.
 * *out is malloc'd (free()), *n its length (0 -> *out may be NULL).
 * variant NULL means every variant (ordered by variant, then start).
 */
int store_query(struct store *s, const char *stream, const char *variant,
                int64_t from_us, int64_t to_us, size_t max,
                struct store_record **out, size_t *n, bool *truncated);

/* The last n records of stream+variant, ascending by start. */
int store_latest(struct store *s, const char *stream, const char *variant,
                 size_t n, struct store_record **out, size_t *count);

/* ---- streams ---- */

int store_streams(struct store *s, struct store_stream_info **out, size_t *n);
/* One stream; -ENOENT if unknown. Free with store_stream_info_clear(). */
int store_stream_get(struct store *s, const char *stream,
                     struct store_stream_info *out);
void store_stream_info_clear(struct store_stream_info *si);
void store_streams_free(struct store_stream_info **arr, size_t n);

/* ---- change log and replication ---- */

/* Changes with seq > since, at most limit; *last_seq = newest seq in the log. */
int store_changes(struct store *s, uint64_t since, size_t limit,
                  struct store_change **out, size_t *n, uint64_t *last_seq);
/* Newest change seq (0 when empty). */
int store_last_seq(struct store *s, uint64_t *last_seq);
/*
 * Wait until the log has a change with seq > since, or timeout_ms passes.
 * Polls without holding any transaction. 0 when changes exist, -ETIMEDOUT.
 * stop (may be NULL) is checked each poll; when it reads nonzero returns
 * -EINTR.
 */
int store_changes_wait(struct store *s, uint64_t since, int timeout_ms,
                       const volatile int *stop);
/*
 * Apply a DELETE that came from a peer (by key; only if the stored record has
 * the same cid). Appends a local DELETE change when something was removed.
 */
int store_record_delete(struct store *s, const struct store_record *key);

/* Per-peer cursors (peer: any string up to 255 bytes, e.g. the peer URL). */
int store_cursor_get(struct store *s, const char *peer, uint64_t *seq); /* 0 if none */
int store_cursor_set(struct store *s, const char *peer, uint64_t seq);

/* ---- small key/value metadata (e.g. the origin's edge registry) ---- */

int store_meta_put(struct store *s, const char *key, const void *val, size_t len);
/* *val malloc'd; -ENOENT if missing. */
int store_meta_get(struct store *s, const char *key, void **val, size_t *len);
int store_meta_del(struct store *s, const char *key);   /* -ENOENT if missing */
/* Calls cb for every key starting with prefix; cb returning nonzero stops. */
typedef int (*store_meta_cb)(void *arg, const char *key, const void *val, size_t len);
int store_meta_list(struct store *s, const char *prefix, store_meta_cb cb, void *arg);

/* ---- maintenance ---- */

int store_stats(struct store *s, struct store_stats *out);
/* repair: remove tmp/ leftovers and fix reference counts. */
int store_fsck(struct store *s, bool repair, struct store_fsck_report *out);
/*
 * Same, calling cb (may be NULL) once per problem found: kind is one of
 * "bad_hash", "missing_blob", "bad_refcount", "orphan_file", "tmp_file";
 * cid is the blob concerned (NULL for tmp files); detail is a short text.
 * Problems that make a store unhealthy: bad_hash, missing_blob,
 * bad_refcount. Orphan and tmp files are normal leftovers of interrupted
 * puts (kill -9 between blob and record) and harmless.
 */
typedef void (*store_fsck_cb)(void *arg, const char *kind, const char *cid,
                              const char *detail);
int store_fsck_verbose(struct store *s, bool repair, struct store_fsck_report *out,
                       store_fsck_cb cb, void *arg);
/*
 * Delete records with start + duration <= cutoff_us (stream NULL = all),
 * each as a DELETE change, then blobs whose reference count reached zero.
 * Counts (may be NULL) report what was removed.
 */
int store_gc(struct store *s, int64_t cutoff_us, const char *stream,
             uint64_t *records_removed, uint64_t *blobs_removed);

/* ---- JSON (DESIGN.md field names), for CLI, HTTP API and change feed ---- */

/*
 * A record as one JSON object, no newline, NUL-terminated, with exactly the
 * DESIGN.md names. -ENOSPC when len is too small (STORE_JSON_MAX suffices).
 */
#define STORE_JSON_MAX 1536
int store_record_to_json(const struct store_record *r, char *buf, size_t len);
/*
 * A change-feed line (no newline): {"seq":N,"op":"put",...record fields...}.
 * The change log's seq takes the "seq" name, so the record's own media
 * sequence is written as "media_seq" in change lines (a JSON object cannot
 * hold "seq" twice). Deletes carry the key fields and "cid".
 */
int store_change_to_json(const struct store_change *c, char *buf, size_t len);
/*
 * Parse a record object (extra fields ignored) — or, when ch is non-NULL, a
 * change line into ch (ch->rec.seq from "media_seq"). Validates names and
 * CID. -EINVAL with a reason in err (may be NULL).
 */
int store_record_from_json(const char *json, size_t len, struct store_record *out,
                           char *err, size_t errlen);
int store_change_from_json(const char *json, size_t len, struct store_change *ch,
                           char *err, size_t errlen);

/* True for a stream / variant name: 1..max of [A-Za-z0-9_-]. */
bool store_name_valid(const char *s, size_t max);

/* Record field checks (names, cid, duration > 0). -EINVAL with reason. */
int store_record_validate(const struct store_record *r, char *err, size_t errlen);

#endif
