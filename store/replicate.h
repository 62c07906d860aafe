/*
 * replicate.h — the replication client (DESIGN.md "Replication over HTTP").
 *
 * A replicator copies the change log of a source to a destination, each side
 * a local store (directory, or a handle the caller already has open) or the
 * /store/v1 API of a node (http:// or https:// URL):
 *
 *   pull   URL -> store   GET changes (long poll with follow), GET each
 *                         missing blob hashing it while it arrives (bytes
 *                         that do not hash to their CID are never stored),
 *                         then put the records exactly as sent (producer's
 *                         seq, session and node kept) and apply deletes.
 *   push   store -> URL   read the local change log, HEAD/PUT each blob the
 *                         peer lacks, POST the batch's change lines (409: upload
 *                         the blobs again and retry).
 *   local  store -> store the same with libstore on both sides (backups).
 *
 * The cursor (last source change seq applied) lives in the local store of the
 * pair, keyed by the remote URL (pull/push) or by "dir:<realpath>" (local):
 * in the destination for pull and local, in the source for push. It advances
 * only after a batch is durable at the destination, so a replicator killed at
 * any point resumes without loss; applying a change twice is a no-op. A
 * source whose last seq is below the cursor was reset: the cursor restarts
 * at 0. Filters (stream, time range) choose which records are copied; the
 * cursor advances past the others.
 *
 * Failures (connection, 5xx, hash mismatch, local I/O) are retried with
 * exponential back-off and jitter, each one logged and counted. Without
 * follow the run gives up after max_attempts failed rounds in a row and
 * returns the error with a message (repl_error()); with follow it never
 * gives up (it keeps logging). Authentication (401/403) and other permanent
 * refusals end a run without follow at once.
 *
 * Threading: a struct repl is driven by one thread (repl_run() on the
 * caller's thread, or repl_start() for a thread of its own); repl_stop() and
 * repl_drain() may be called from any thread. Stores passed in conf are
 * borrowed (store handles are thread-safe); curl_global_init() is the
 * caller's (before repl_new()).
 *
 * Errors (negative errno): -EINVAL bad configuration (both sides URLs,
 * bad URL, bad filter), -ENOENT source store missing, -EACCES the peer refused
 * the token, -EBADMSG a blob failed its hash on every attempt, -EIO
 * connection / HTTP / store failures after the attempts, -EPROTO the peer
 * answered something unusable, -EINTR stopped before catching up (no follow),
 * -ENOMEM.
 */
#ifndef SLUICE_STORE_REPLICATE_H
#define SLUICE_STORE_REPLICATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPL_BATCH_DFL       500                 /* changes per round */
#define REPL_BATCH_MAX       10000               /* the API's limit */
#define REPL_WAIT_S_DFL      25                  /* long poll with follow */
#define REPL_ATTEMPTS_DFL    8                   /* failed rounds before giving up */
#define REPL_BACKOFF_BASE_US (100LL * 1000)
#define REPL_BACKOFF_MAX_US  (10LL * 1000000)
#define REPL_URL_MAX         1024
#define REPL_ERR_MAX         512

struct store;
struct metrics;
struct repl;

struct repl_conf {
	const char *src;                /* directory or http(s):// URL */
	const char *dst;
	struct store *src_store;        /* optional open handle for a directory side */
	struct store *dst_store;        /* (borrowed; src/dst then only name the peer) */
	const char *token;              /* bearer token for PUT/POST, NULL = none */
	bool follow;                    /* keep following until repl_stop() */
	const char *stream;             /* copy only this stream (NULL = all) */
	int64_t from_us, to_us;         /* copy records overlapping [from, to); 0, 0 = all */
	unsigned max_attempts;          /* without follow; 0 = REPL_ATTEMPTS_DFL */
	size_t batch;                   /* 0 = REPL_BATCH_DFL */
	int wait_s;                     /* long poll; 0 = REPL_WAIT_S_DFL */
	struct metrics *metrics;        /* sluice_replicate_* series (may be NULL) */
};

struct repl_stats {
	uint64_t records;               /* records that changed the destination */
	uint64_t deletes;               /* deletes applied */
	uint64_t blobs;                 /* blobs transferred */
	uint64_t blob_bytes;
	uint64_t skipped;               /* puts whose blob the source no longer has */
	uint64_t rejected;              /* records the destination refused as invalid */
	uint64_t bad_hash;              /* blobs refused for a hash mismatch */
	uint64_t failures;              /* failed rounds (each logged) */
	uint64_t batches;
	uint64_t cursor;                /* last source change seq applied */
	uint64_t peer_last_seq;         /* source's newest seq when last asked */
};

/*
 * A producer's --push-to (ingest, canvas): follow the change log of the open
 * store st (directory dir) into url on a thread of its own, with the bearer
 * token from SLUICE_TOKEN. stream (may be NULL) limits what is pushed.
 * Errors are logged with the URL.
 */
int repl_push_start(struct store *st, const char *dir, const char *url, const char *stream,
                    struct metrics *m, struct repl **out);
/*
 * At a producer's exit: send what is left, waiting at most drain_us, then
 * stop and join (the caller still repl_free()s). -EIO, logged with the count
 * of unsent changes, when the peer did not get everything.
 */
int repl_push_finish(struct repl *p, int64_t drain_us);

/* Validate conf, open what it names (the destination store is created if
 * missing), read the cursor. conf strings are copied. */
int repl_new(const struct repl_conf *conf, struct repl **out);
/* Stop (if started), join, close owned stores, free; sets *r = NULL. */
void repl_free(struct repl **r);

/* Run on this thread until caught up (no follow) or stopped. */
int repl_run(struct repl *r);
/* Run on a thread of its own; repl_join() returns repl_run()'s result. */
int repl_start(struct repl *r);
int repl_join(struct repl *r);
/* True once a started run has returned (repl_join() will not block). */
bool repl_finished(const struct repl *r);
/* Ask the run to return soon (aborts transfers in flight). */
void repl_stop(struct repl *r);
/* With follow: return once caught up with the source's current last seq. */
void repl_drain(struct repl *r);

/* Stats (stable after the run returned; approximate while it runs). */
void repl_get_stats(const struct repl *r, struct repl_stats *out);
/* The last failure as one line ("" if none); valid until repl_free(). */
const char *repl_error(const struct repl *r);

/* ---- pure helpers (unit-tested) ---- */

/* True for "http://…" or "https://…" (else the side is a directory). */
bool repl_is_url(const char *s);
/* Copy a base URL without trailing slashes; -EINVAL (not http(s), empty
 * host, has '?' or '#'), -ENAMETOOLONG. */
int repl_url_base(const char *in, char *out, size_t len);
/* base + "/store/v1/changes?since=N&limit=M&wait=S" ; -ENAMETOOLONG. */
int repl_url_changes(const char *base, uint64_t since, size_t limit, int wait_s,
                     char *out, size_t len);
/* base + "/store/v1/blobs/<cid>"; -EINVAL for a bad CID. */
int repl_url_blob(const char *base, const char *cid, char *out, size_t len);
/* Back-off before retry `attempt` (0-based): base * 2^attempt capped at max,
 * then a uniform pick in [half, full] using rnd. */
int64_t repl_backoff_us(unsigned attempt, uint32_t rnd);
/*
 * Parse one raw response header line; 0 and *seq when it is
 * "X-Sluice-Last-Seq: N" (name case-insensitive, CRLF optional), -ENOENT for
 * another header, -EINVAL for a bad number.
 */
int repl_header_last_seq(const char *line, size_t len, uint64_t *seq);
/*
 * NDJSON splitting: the next non-empty line of buf[*off, len) without its
 * "\n" / "\r\n" (trailing blanks trimmed). 0 with *line, *line_len and *off
 * moved past it; -ENODATA at the end; -E2BIG for a line longer than max.
 */
int repl_ndjson_next(const char *buf, size_t len, size_t *off, size_t max,
                     const char **line, size_t *line_len);
/* True when a record passes the filters (stream NULL = any; from == to == 0
 * = any time; else start < to && start + duration > from). */
bool repl_filter_match(const char *stream, int64_t from_us, int64_t to_us,
                       const char *rec_stream, int64_t start_us, int64_t duration_us);

#endif
