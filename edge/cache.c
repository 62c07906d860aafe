/*
 * cache.c — the two tiers together, and the disk writer thread.
 *
 * Model: cache_insert() puts the entry into the memory tier and, when there
 * is a disk tier, appends a reference to a bounded FIFO (CACHE_DISK_QUEUE_MAX)
 * that the writer thread drains into the disk tier. A full queue skips the
 * disk copy (counted); it never blocks the caller. cache_free() stops the
 * writer after it has drained the queue.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "edge/cache.h"

struct wq_item {
	struct cache_entry *e;
	struct wq_item *next;
};

struct cache {
	struct cache_tier mem;
	struct cache_tier disk; /* ops NULL when memory only */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wq_item *qhead, *qtail;
	unsigned qlen;
	bool stop;
	atomic_ullong skips;
};

static void *
writer_main(void *arg)
{
	struct cache *c = arg;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->qhead == NULL && !c->stop)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->qhead == NULL && c->stop)
			break;
		struct wq_item *it = c->qhead;
		c->qhead = it->next;
		if (c->qhead == NULL)
			c->qtail = NULL;
		c->qlen--;
		pthread_mutex_unlock(&c->mu);
		c->disk.ops->insert(c->disk.impl, it->e);
		cache_entry_put(&it->e);
		free(it);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
cache_new(uint64_t mem_cap, const char *disk_dir, uint64_t disk_cap, struct cache **out)
{
	struct cache *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	atomic_init(&c->skips, 0);
	rc = cache_mem_new(mem_cap, &c->mem);
	if (rc != 0)
		goto fail;
	if (disk_dir != NULL) {
		rc = cache_disk_new(disk_dir, disk_cap, &c->disk);
		if (rc != 0) {
			log_error("disk cache \"%s\": %s", disk_dir, strerror(-rc));
			goto fail;
		}
		rc = -pthread_create(&c->writer, NULL, writer_main, c);
		if (rc != 0)
			goto fail;
		c->writer_started = true;
	}
	*out = c;
	return 0;
fail:
	cache_free(&c);
	return rc;
}

void
cache_free(struct cache **cp)
{
	struct cache *c = *cp;
	if (c == NULL)
		return;
	*cp = NULL;
	if (c->writer_started) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->writer, NULL);
	}
	while (c->qhead) {
		struct wq_item *it = c->qhead;
		c->qhead = it->next;
		cache_entry_put(&it->e);
		free(it);
	}
	if (c->mem.ops)
		c->mem.ops->destroy(c->mem.impl);
	if (c->disk.ops)
		c->disk.ops->destroy(c->disk.impl);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

int
cache_lookup_mem(struct cache *c, const char *cid, struct cache_hit *hit)
{
	return c->mem.ops->lookup(c->mem.impl, cid, hit);
}

int
cache_lookup(struct cache *c, const char *cid, struct cache_hit *hit)
{
	int rc = c->mem.ops->lookup(c->mem.impl, cid, hit);
	if (rc != 0 || c->disk.ops == NULL)
		return rc;
	return c->disk.ops->lookup(c->disk.impl, cid, hit);
}

int
cache_insert(struct cache *c, struct cache_entry *e)
{
	int rc = c->mem.ops->insert(c->mem.impl, e);
	if (rc != 0 || c->disk.ops == NULL)
		return rc;
	struct wq_item *it = malloc(sizeof(*it));
	if (it == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&c->mu);
	if (c->qlen >= CACHE_DISK_QUEUE_MAX || c->stop) {
		pthread_mutex_unlock(&c->mu);
		free(it);
		atomic_fetch_add(&c->skips, 1);
		return 0;
	}
	cache_entry_get(e);
	it->e = e;
	it->next = NULL;
	if (c->qtail)
		c->qtail->next = it;
	else
		c->qhead = it;
	c->qtail = it;
	c->qlen++;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int
cache_disk_load_verify(struct cache *c, const char *cid, struct cache_entry **out)
{
	*out = NULL;
	if (c->disk.ops == NULL)
		return 0;
	return cache_disk_tier_load_verify(c->disk.impl, cid, out);
}

uint64_t
cache_bytes(struct cache *c, enum cache_tier_id tier)
{
	const struct cache_tier *t = tier == CACHE_TIER_MEM ? &c->mem : &c->disk;
	return t->ops ? t->ops->bytes(t->impl) : 0;
}

uint64_t
cache_disk_write_skips(struct cache *c)
{
	return atomic_load(&c->skips);
}
