/*
 * cache.h — the edge's object cache: a memory tier and a disk tier by CID.
 *
 * Objects are immutable byte strings named by their CID (verified before they
 * get here). Each tier sits behind struct cache_tier_ops. A memory object is a
 * refcounted struct cache_entry: the index holds one reference, every reader
 * (a send in flight) holds one; eviction drops the index's reference, so bytes
 * are freed only when the last send is done. The disk tier keeps blob files
 * DIR/ab/<cid> (written to DIR/tmp, renamed into place) and an in-memory index
 * rebuilt from the directory at start; files found at start are "unverified"
 * until they are hashed once (cache_disk_load_verify, off the ring threads).
 *
 * Threading: every function is safe from any thread (one mutex per tier; held
 * only for index work, never across I/O). cache_insert() queues the disk write
 * to the cache's own writer thread; lookups never block on disk I/O except
 * open(2) of a verified file. Errors: 0 or negative errno.
 */
#ifndef SLUICE_EDGE_CACHE_H
#define SLUICE_EDGE_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/cid.h"

#define CACHE_ENTRY_MAGIC 0x43454e54u /* "CENT" */
#define CACHE_DISK_QUEUE_MAX 256      /* pending disk writes; beyond: skipped */
#define CACHE_MAX_OBJECT (256u << 20)
#define CACHE_FD_MIN (64u << 10) /* objects this large live in a memfd */

enum cache_tier_id { CACHE_TIER_MEM = 0, CACHE_TIER_DISK = 1 };

struct cache_entry {
	uint32_t magic;
	atomic_uint refs;
	uint64_t size;
	uint8_t *data; /* malloc'd, or the mapping of fd; owned by the entry */
	int fd;        /* memfd holding the bytes (for splice), or -1 */
	char cid[CID_BUF_LEN];
	/* memory-tier index (under the tier's mutex) */
	struct cache_entry *hnext;
	struct cache_entry *lprev, *lnext;
	bool indexed;
};

struct cache_hit {
	enum cache_tier_id tier;
	struct cache_entry *e; /* memory tier: one reference, drop with cache_entry_put */
	int fd;                /* disk tier, verified: open file (caller closes), else -1 */
	uint64_t size;
	bool verified; /* disk tier: false -> must go through cache_disk_load_verify */
};

struct cache_tier_ops {
	const char *name;
	/* 1 and *hit filled when present, 0 when absent, negative errno on error. */
	int (*lookup)(void *impl, const char *cid, struct cache_hit *hit);
	/* Keep a copy/reference of e (mem: reference; disk: writes a file). */
	int (*insert)(void *impl, struct cache_entry *e);
	uint64_t (*bytes)(void *impl);
	void (*destroy)(void *impl);
};

struct cache_tier {
	const struct cache_tier_ops *ops;
	void *impl;
};

struct cache;

/* New entry owning data (malloc'd, size bytes); refs = 1 (the caller's). */
int cache_entry_new(const char *cid, uint8_t *data, uint64_t size, struct cache_entry **out);
/*
 * New entry from a malloc'd buffer (ownership passes in, also on error):
 * objects of CACHE_FD_MIN bytes or more are copied into a memfd (mapped at
 * e->data, so they can be spliced to sockets without a user-space copy) and
 * buf is freed; smaller ones keep buf. refs = 1.
 */
int cache_entry_from_buf(const char *cid, uint8_t *buf, uint64_t size, struct cache_entry **out);
void cache_entry_get(struct cache_entry *e);
/* Drop one reference; frees on the last. Sets *e = NULL. */
void cache_entry_put(struct cache_entry **e);

/* Memory tier (cache_mem.c) and disk tier (cache_disk.c) constructors. */
int cache_mem_new(uint64_t capacity, struct cache_tier *out);
int cache_disk_new(const char *dir, uint64_t capacity, struct cache_tier *out);

/*
 * Both tiers; disk_dir may be NULL (memory only). Starts the disk writer
 * thread when there is a disk tier.
 */
int cache_new(uint64_t mem_cap, const char *disk_dir, uint64_t disk_cap, struct cache **out);
void cache_free(struct cache **c);

/* Memory first, then disk. 1 hit, 0 miss. */
int cache_lookup(struct cache *c, const char *cid, struct cache_hit *hit);
/* Only the memory tier. */
int cache_lookup_mem(struct cache *c, const char *cid, struct cache_hit *hit);

/* Insert a verified entry into memory and queue it for the disk tier. */
int cache_insert(struct cache *c, struct cache_entry *e);

/*
 * Blocking (never on a ring thread): if the disk tier has cid, read it, hash
 * it and, when it matches, return a new entry (refs = 1) in *out and mark the
 * file verified; a file that does not match is deleted. 1 loaded, 0 absent or
 * deleted, negative errno on error.
 */
int cache_disk_load_verify(struct cache *c, const char *cid, struct cache_entry **out);

uint64_t cache_bytes(struct cache *c, enum cache_tier_id tier);
uint64_t cache_disk_write_skips(struct cache *c);

/* For the disk tier implementation: the same, on the tier itself. */
int cache_disk_tier_load_verify(void *impl, const char *cid, struct cache_entry **out);

#endif
