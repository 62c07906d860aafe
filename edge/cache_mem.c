/*
 * cache_mem.c — memory tier: hash table by CID + LRU list, bounded by bytes.
 *
 * Model: one mutex guards the table, the LRU list and the byte count. An
 * indexed entry holds one reference of its own; lookup takes another for the
 * caller and moves the entry to the LRU head. Insert evicts from the tail
 * until the new entry fits (an entry larger than the whole capacity is simply
 * not kept; the request is still served from the caller's reference).
 * Evicted entries leave the index at once and are freed by the last
 * cache_entry_put().
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "edge/cache.h"

#define MEM_MIN_BUCKETS 1024u
#define MEM_MAX_BUCKETS (1u << 20)
#define MEM_AVG_OBJECT (64u << 10)

struct cache_mem {
	pthread_mutex_t mu;
	struct cache_entry **buckets;
	uint32_t mask;
	uint64_t cap;
	uint64_t bytes;
	struct cache_entry *head, *tail; /* head = most recently used */
};

static uint32_t
cid_hash(const char *cid)
{
	uint32_t h = 0;
	for (int i = 0; i < 8; i++) {
		char c = cid[i];
		uint32_t d =
		        (c >= '0' && c <= '9') ? (uint32_t)(c - '0') : (uint32_t)(c - 'a' + 10);
		h = (h << 4) | (d & 0xf);
	}
	return h;
}

int
cache_entry_new(const char *cid, uint8_t *data, uint64_t size, struct cache_entry **out)
{
	struct cache_entry *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->magic = CACHE_ENTRY_MAGIC;
	atomic_init(&e->refs, 1);
	e->size = size;
	e->data = data;
	e->fd = -1;
	memcpy(e->cid, cid, CID_HEX_LEN);
	e->cid[CID_HEX_LEN] = '\0';
	*out = e;
	return 0;
}

int
cache_entry_from_buf(const char *cid, uint8_t *buf, uint64_t size, struct cache_entry **out)
{
	int fd = -1, rc;
	void *map = MAP_FAILED;

	if (size < CACHE_FD_MIN)
		goto plain;
	fd = memfd_create("sluice-seg", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) != 0)
		goto plain;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto plain;
	memcpy(map, buf, size);
	rc = cache_entry_new(cid, map, size, out);
	if (rc != 0)
		goto plain;
	(*out)->fd = fd;
	free(buf);
	return 0;
plain:
	if (map != MAP_FAILED)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
	rc = cache_entry_new(cid, buf, size, out);
	if (rc != 0)
		free(buf);
	return rc;
}

void
cache_entry_get(struct cache_entry *e)
{
	atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void
cache_entry_put(struct cache_entry **ep)
{
	struct cache_entry *e = *ep;
	if (e == NULL)
		return;
	*ep = NULL;
	if (e->magic != CACHE_ENTRY_MAGIC)
		abort();
	if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1) {
		e->magic = 0;
		if (e->fd >= 0) {
			munmap(e->data, e->size);
			close(e->fd);
		} else {
			free(e->data);
		}
		free(e);
	}
}

static void
lru_unlink(struct cache_mem *m, struct cache_entry *e)
{
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		m->head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		m->tail = e->lprev;
	e->lprev = e->lnext = NULL;
}

static void
lru_push_head(struct cache_mem *m, struct cache_entry *e)
{
	e->lprev = NULL;
	e->lnext = m->head;
	if (m->head)
		m->head->lprev = e;
	m->head = e;
	if (m->tail == NULL)
		m->tail = e;
}

static struct cache_entry **
find_slot(struct cache_mem *m, const char *cid)
{
	struct cache_entry **pp = &m->buckets[cid_hash(cid) & m->mask];
	while (*pp && memcmp((*pp)->cid, cid, CID_HEX_LEN) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

/* Under m->mu: drop e from the index; returns the index's reference. */
static struct cache_entry *
unindex(struct cache_mem *m, struct cache_entry *e)
{
	struct cache_entry **pp = find_slot(m, e->cid);
	if (*pp == e)
		*pp = e->hnext;
	e->hnext = NULL;
	lru_unlink(m, e);
	e->indexed = false;
	m->bytes -= e->size;
	return e;
}

static int
mem_lookup(void *impl, const char *cid, struct cache_hit *hit)
{
	struct cache_mem *m = impl;
	int found = 0;

	pthread_mutex_lock(&m->mu);
	struct cache_entry *e = *find_slot(m, cid);
	if (e) {
		cache_entry_get(e);
		if (m->head != e) {
			lru_unlink(m, e);
			lru_push_head(m, e);
		}
		found = 1;
	}
	pthread_mutex_unlock(&m->mu);
	if (found) {
		hit->tier = CACHE_TIER_MEM;
		hit->e = e;
		hit->fd = -1;
		hit->size = e->size;
		hit->verified = true;
	}
	return found;
}

static int
mem_insert(void *impl, struct cache_entry *e)
{
	struct cache_mem *m = impl;
	struct cache_entry *victims = NULL;

	if (e->size > m->cap)
		return 0;
	pthread_mutex_lock(&m->mu);
	struct cache_entry **pp = find_slot(m, e->cid);
	if (*pp != NULL) {
		pthread_mutex_unlock(&m->mu);
		return 0; /* already there */
	}
	while (m->bytes + e->size > m->cap && m->tail) {
		struct cache_entry *v = unindex(m, m->tail);
		v->hnext = victims; /* reuse hnext as a private list */
		victims = v;
	}
	pp = find_slot(m, e->cid);
	cache_entry_get(e);
	e->hnext = NULL;
	*pp = e;
	e->indexed = true;
	lru_push_head(m, e);
	m->bytes += e->size;
	pthread_mutex_unlock(&m->mu);

	while (victims) {
		struct cache_entry *v = victims;
		victims = v->hnext;
		v->hnext = NULL;
		cache_entry_put(&v);
	}
	return 0;
}

static uint64_t
mem_bytes(void *impl)
{
	struct cache_mem *m = impl;
	pthread_mutex_lock(&m->mu);
	uint64_t b = m->bytes;
	pthread_mutex_unlock(&m->mu);
	return b;
}

static void
mem_destroy(void *impl)
{
	struct cache_mem *m = impl;
	if (m == NULL)
		return;
	while (m->tail) {
		struct cache_entry *v = unindex(m, m->tail);
		cache_entry_put(&v);
	}
	free(m->buckets);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

static const struct cache_tier_ops mem_ops = {
        .name = "mem",
        .lookup = mem_lookup,
        .insert = mem_insert,
        .bytes = mem_bytes,
        .destroy = mem_destroy,
};

int
cache_mem_new(uint64_t capacity, struct cache_tier *out)
{
	struct cache_mem *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	uint64_t want = capacity / MEM_AVG_OBJECT;
	uint32_t n = MEM_MIN_BUCKETS;
	while (n < want && n < MEM_MAX_BUCKETS)
		n <<= 1;
	m->buckets = calloc(n, sizeof(*m->buckets));
	if (m->buckets == NULL) {
		free(m);
		return -ENOMEM;
	}
	m->mask = n - 1;
	m->cap = capacity;
	pthread_mutex_init(&m->mu, NULL);
	out->ops = &mem_ops;
	out->impl = m;
	return 0;
}
