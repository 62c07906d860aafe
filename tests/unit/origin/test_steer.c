/* Unit tests for origin/steer.c: weights, minimal movement, the invariant. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin/steer.h"

#define NKEYS 10000

static void
mkedge(struct steer_edge *e, const char *id, double w)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->url, sizeof(e->url), "http://%s:8081", id);
	e->weight = w;
}

static size_t
winner(const struct steer_edge *edges, size_t n, const char *key)
{
	size_t idx = 99;

	assert_int_equal(steer_rank(edges, n, key, &idx, 1), 1);
	return idx;
}

static void
test_weights(void **state)
{
	struct steer_edge e[3];
	size_t hits[3] = { 0, 0, 0 };
	char key[32];

	(void)state;
	mkedge(&e[0], "a", 1);
	mkedge(&e[1], "b", 2);
	mkedge(&e[2], "c", 5);
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "viewer-%d", i);
		hits[winner(e, 3, key)]++;
	}
	/* expected shares 1/8, 2/8, 5/8, within 2.5 percentage points */
	assert_true(fabs((double)hits[0] / NKEYS - 0.125) < 0.025);
	assert_true(fabs((double)hits[1] / NKEYS - 0.25) < 0.025);
	assert_true(fabs((double)hits[2] / NKEYS - 0.625) < 0.025);
}

static void
test_equal_weights(void **state)
{
	struct steer_edge e[4];
	size_t hits[4] = { 0 };
	char key[32], id[8];

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "e%d", i);
		mkedge(&e[i], id, 10);
	}
	for (int i = 0; i < NKEYS; i++) {
		snprintf(key, sizeof(key), "127.0.0.%d:%d", i % 250, i);
		hits[winner(e, 4, key)]++;
	}
	for (int i = 0; i < 4; i++)
		assert_true(fabs((double)hits[i] / NKEYS - 0.25) < 0.025);
}

static void
test_minimal_movement(void **state)
{
	struct steer_edge e[6];
	char key[32], id[8];
	size_t moved = 0, moved_wrong = 0;

	(void)state;
	for (int i = 0; i < 6; i++) {
		snprintf(id, sizeof(id), "edge%d", i);
		mkedge(&e[i], id, 1);
	}
	/* join: 5 -> 6 edges; only keys that now pick the new edge move */
	for (int i = 0; i < NKEYS; i++) {
		size_t before, after;
		snprintf(key, sizeof(key), "k%d", i);
		before = winner(e, 5, key);
		after = winner(e, 6, key);
		if (before != after) {
			moved++;
			if (after != 5)
				moved_wrong++;
		}
	}
	assert_int_equal(moved_wrong, 0);
	assert_true(fabs((double)moved / NKEYS - 1.0 / 6) < 0.02);
	/* leave: drop edge 0 (the others keep their index order shifted by one) */
	moved = 0;
	for (int i = 0; i < NKEYS; i++) {
		size_t before, after;
		snprintf(key, sizeof(key), "k%d", i);
		before = winner(e, 6, key);
		after = winner(e + 1, 5, key) + 1;
		if (before != after) {
			moved++;
			assert_int_equal(before, 0);  /* only the leaver's keys move */
		}
	}
	assert_true(fabs((double)moved / NKEYS - 1.0 / 6) < 0.02);
}

static void
test_rank_order(void **state)
{
	struct steer_edge e[5];
	size_t order[5], one;
	char id[8];

	(void)state;
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "x%d", i);
		mkedge(&e[i], id, 1 + i);
	}
	assert_int_equal(steer_rank(e, 5, "viewer", order, 3), 3);
	assert_int_equal(steer_rank(e, 5, "viewer", &one, 1), 1);
	assert_int_equal(order[0], one);
	assert_true(order[0] != order[1] && order[1] != order[2] && order[0] != order[2]);
	for (int i = 0; i < 2; i++) {
		double s0 = steer_score(e[order[i]].weight, steer_hash("viewer", e[order[i]].id));
		double s1 = steer_score(e[order[i + 1]].weight,
		                        steer_hash("viewer", e[order[i + 1]].id));
		assert_true(s0 >= s1);
	}
	assert_int_equal(steer_rank(e, 2, "viewer", order, 5), 2);
	assert_int_equal(steer_rank(e, 0, "viewer", order, 5), 0);
}

static void
test_set_edges_slack(void **state)
{
	struct steer *st = NULL;
	struct steer_edge e[2];
	uint64_t id;

	(void)state;
	assert_int_equal(steer_new(&st), 0);
	assert_int_equal(steer_current(st)->n, 0);
	mkedge(&e[0], "a", 10);
	mkedge(&e[1], "b", 10);
	assert_int_equal(steer_set_edges(st, e, 2), 1);
	id = steer_current(st)->id;
	e[0].weight = 11;                                   /* within the slack */
	assert_int_equal(steer_set_edges(st, e, 2), 0);
	assert_int_equal(steer_current(st)->id, id);
	e[0].weight = 20;                                   /* beyond it */
	assert_int_equal(steer_set_edges(st, e, 2), 1);
	assert_int_equal(steer_set_edges(st, e, 1), 1);     /* membership */
	e[0].weight = 0;
	assert_int_equal(steer_set_edges(st, e, 1), -EINVAL);
	steer_free(&st);
	assert_null(st);
}

#define VIEWERS 200

/* Edge id for each (viewer, seq) of a window [lo, hi]. */
static void
listing(struct steer *st, uint64_t lo, uint64_t hi, char out[][8][STEER_ID_MAX + 1])
{
	uint64_t seqs[8];
	const struct steer_snap *snaps[8];
	size_t n = (size_t)(hi - lo + 1);
	char key[32];

	for (size_t i = 0; i < n; i++)
		seqs[i] = lo + i;
	assert_int_equal(steer_resolve(st, "cam/src", seqs, n, snaps), 0);
	for (int v = 0; v < VIEWERS; v++) {
		snprintf(key, sizeof(key), "sid-%d", v);
		for (size_t i = 0; i < n; i++) {
			const struct steer_edge *e = steer_choose(snaps[i], key, NULL);
			snprintf(out[v][i], STEER_ID_MAX + 1, "%s", e ? e->id : "origin");
		}
	}
}

static void
test_invariant(void **state)
{
	static char before[VIEWERS][8][STEER_ID_MAX + 1], after[VIEWERS][8][STEER_ID_MAX + 1];
	struct steer *st = NULL;
	struct steer_edge e[3];
	size_t on_c = 0;

	(void)state;
	assert_int_equal(steer_new(&st), 0);
	mkedge(&e[0], "a", 1);
	mkedge(&e[1], "b", 1);
	mkedge(&e[2], "c", 1);
	assert_int_equal(steer_set_edges(st, e, 3), 1);
	listing(st, 100, 105, before);                      /* six segments listed */
	for (int v = 0; v < VIEWERS; v++)
		on_c += strcmp(before[v][0], "c") == 0;
	assert_true(on_c > 0);
	/* edge c dies */
	assert_int_equal(steer_set_edges(st, e, 2), 1);
	listing(st, 101, 106, after);                       /* reload: window moved by one */
	for (int v = 0; v < VIEWERS; v++) {
		for (int i = 0; i < 5; i++)                     /* seqs 101..105 unchanged */
			assert_string_equal(after[v][i], before[v][i + 1]);
		assert_string_not_equal(after[v][5], "c");      /* new seq 106 avoids c */
	}
	/* c comes back; later segments may use it again, listed ones stay */
	assert_int_equal(steer_set_edges(st, e, 3), 1);
	listing(st, 102, 107, before);
	for (int v = 0; v < VIEWERS; v++) {
		for (int i = 0; i < 5; i++)
			assert_string_equal(before[v][i], after[v][i + 1]);
	}
	/* an older range first listed now (DVR scrub back) is stable afterwards */
	listing(st, 90, 95, before);
	listing(st, 90, 95, after);
	for (int v = 0; v < VIEWERS; v++) {
		for (int i = 0; i < 6; i++)
			assert_string_equal(before[v][i], after[v][i]);
	}
	steer_free(&st);
}

static void
test_no_edges(void **state)
{
	struct steer *st = NULL;
	uint64_t seqs[2] = { 1, 2 };
	const struct steer_snap *snaps[2];

	(void)state;
	assert_int_equal(steer_new(&st), 0);
	assert_int_equal(steer_resolve(st, "s/v", seqs, 2, snaps), 0);
	assert_null(steer_choose(snaps[0], "viewer", NULL));
	assert_null(steer_choose(snaps[1], "viewer", "pinned"));
	steer_free(&st);
}

static void
test_pin(void **state)
{
	struct steer *st = NULL;
	struct steer_edge e[3];
	uint64_t seq = 5;
	const struct steer_snap *snap;

	(void)state;
	assert_int_equal(steer_new(&st), 0);
	mkedge(&e[0], "a", 1);
	mkedge(&e[1], "b", 1);
	mkedge(&e[2], "c", 1);
	assert_int_equal(steer_set_edges(st, e, 3), 1);
	assert_int_equal(steer_resolve(st, "s/v", &seq, 1, &snap), 0);
	assert_string_equal(steer_choose(snap, "anyone", "b")->id, "b");
	assert_string_equal(steer_choose(snap, "anyone", "zz")->id,
	                    steer_choose(snap, "anyone", NULL)->id);
	steer_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_equal_weights),
		cmocka_unit_test(test_minimal_movement),
		cmocka_unit_test(test_rank_order),
		cmocka_unit_test(test_set_edges_slack),
		cmocka_unit_test(test_invariant),
		cmocka_unit_test(test_no_edges),
		cmocka_unit_test(test_pin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
