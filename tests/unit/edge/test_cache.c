/*
 * test_cache.c — edge cache tiers: LRU by bytes, refcounts across eviction,
 * disk files surviving a restart and lazy re-verification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "edge/cache.h"
#include "store/cid.h"

static struct cache_entry *
make_entry(size_t size, int seed)
{
	uint8_t *d = malloc(size ? size : 1);
	char cid[CID_BUF_LEN];
	struct cache_entry *e = NULL;
	assert_non_null(d);
	for (size_t i = 0; i < size; i++)
		d[i] = (uint8_t)(i * 31 + (size_t)seed);
	assert_int_equal(cid_of(d, size, cid), 0);
	assert_int_equal(cache_entry_new(cid, d, size, &e), 0);
	return e;
}

static void
test_mem_lru_and_refs(void **state)
{
	(void)state;
	struct cache *c = NULL;
	struct cache_hit hit;
	assert_int_equal(cache_new(1000, NULL, 0, &c), 0);
	struct cache_entry *a = make_entry(400, 1), *b = make_entry(400, 2),
	                   *d = make_entry(400, 3);
	struct cache_entry *big = make_entry(2000, 4);
	assert_int_equal(cache_insert(c, a), 0);
	assert_int_equal(cache_insert(c, b), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_MEM), 800);
	/* touch a so that b is the least recently used */
	assert_int_equal(cache_lookup(c, a->cid, &hit), 1);
	assert_ptr_equal(hit.e, a);
	cache_entry_put(&hit.e);
	/* keep a reference to b across its eviction */
	assert_int_equal(cache_lookup(c, b->cid, &hit), 1);
	struct cache_entry *held = hit.e;
	assert_int_equal(cache_lookup(c, a->cid, &hit), 1);
	cache_entry_put(&hit.e);
	assert_int_equal(cache_insert(c, d), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_MEM), 800);
	assert_int_equal(cache_lookup(c, b->cid, &hit), 0);
	assert_int_equal(held->data[1], (uint8_t)(31 + 2)); /* still readable */
	cache_entry_put(&held);
	assert_null(held);
	/* larger than the whole cache: not kept, nothing evicted */
	assert_int_equal(cache_insert(c, big), 0);
	assert_int_equal(cache_lookup(c, big->cid, &hit), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_MEM), 800);
	/* inserting the same CID twice keeps one */
	assert_int_equal(cache_insert(c, d), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_MEM), 800);
	cache_entry_put(&a);
	cache_entry_put(&b);
	cache_entry_put(&d);
	cache_entry_put(&big);
	cache_free(&c);
	assert_null(c);
}

static void
wait_disk_bytes(struct cache *c, uint64_t want)
{
	for (int i = 0; i < 500 && cache_bytes(c, CACHE_TIER_DISK) != want; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(cache_bytes(c, CACHE_TIER_DISK), want);
}

static void
test_disk_restart_and_verify(void **state)
{
	(void)state;
	char dir[] = "/tmp/sluice-edge-cache-XXXXXX";
	char path[512];
	struct cache *c = NULL;
	struct cache_hit hit;
	struct cache_entry *got = NULL;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(cache_new(100, dir, 1 << 20, &c), 0);
	struct cache_entry *a = make_entry(5000, 5), *b = make_entry(3000, 6);
	assert_int_equal(cache_insert(c, a), 0);
	assert_int_equal(cache_insert(c, b), 0);
	wait_disk_bytes(c, 8000);
	/* a verified file is served straight from disk */
	assert_int_equal(cache_lookup(c, a->cid, &hit), 1);
	assert_int_equal(hit.tier, CACHE_TIER_DISK);
	assert_true(hit.verified);
	assert_true(hit.fd >= 0);
	assert_int_equal(hit.size, 5000);
	close(hit.fd);
	cache_free(&c);

	/* corrupt b on disk, restart */
	snprintf(path, sizeof(path), "%s/%.2s/%s", dir, b->cid, b->cid);
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fputc('X', f);
	fclose(f);
	assert_int_equal(cache_new(100, dir, 1 << 20, &c), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_DISK), 8000);
	assert_int_equal(cache_lookup(c, a->cid, &hit), 1);
	assert_false(hit.verified);
	assert_int_equal(hit.fd, -1);
	assert_int_equal(cache_disk_load_verify(c, a->cid, &got), 1);
	assert_int_equal(got->size, 5000);
	assert_memory_equal(got->data, a->data, 5000);
	cache_entry_put(&got);
	assert_int_equal(cache_lookup(c, a->cid, &hit), 1);
	assert_true(hit.verified);
	close(hit.fd);
	assert_int_equal(cache_disk_load_verify(c, b->cid, &got), 0);
	assert_null(got);
	struct stat st;
	assert_int_not_equal(stat(path, &st), 0); /* deleted */
	assert_int_equal(cache_lookup(c, b->cid, &hit), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_DISK), 5000);
	cache_free(&c);

	/* a smaller disk capacity evicts at start */
	assert_int_equal(cache_new(100, dir, 1000, &c), 0);
	assert_int_equal(cache_bytes(c, CACHE_TIER_DISK), 0);
	cache_free(&c);
	cache_entry_put(&a);
	cache_entry_put(&b);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_mem_lru_and_refs),
	        cmocka_unit_test(test_disk_restart_and_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
