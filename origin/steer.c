/*
 * steer.c — weighted rendezvous hashing and per-track snapshot history.
 *
 * Model:
 *   snapshots  refcounted, immutable arrays of edges. A snapshot is
 *              referenced by st->cur (the newest) and by each track
 *              transition that names it; it is freed at refs == 0.
 *   tracks     a fixed table of STEER_TRACKS_MAX slots, one per
 *              stream+variant key, found by hash + compare, evicted by
 *              least recent use. A track holds transitions sorted by
 *              first_seq: transition i applies to seqs in
 *              [first_seq_i, first_seq_{i+1}), the last one up to hi (the
 *              highest seq ever listed); seqs above hi are new and get the
 *              current snapshot, seqs below the first transition get a new
 *              first transition with the current snapshot.
 */
#include "origin/steer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct steer_trans {
	uint64_t first_seq;
	struct steer_snap *snap;
};

struct steer_track {
	bool used;
	char key[STEER_KEY_MAX + 1];
	uint64_t hash;
	uint64_t last_use;
	uint64_t hi;
	size_t n, cap;
	struct steer_trans *t;
};

struct steer {
	struct steer_snap *cur;
	uint64_t next_id;
	uint64_t clock;
	struct steer_track tracks[STEER_TRACKS_MAX];
};

static uint64_t
fnv1a(uint64_t h, const char *s)
{
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static uint64_t
mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t
steer_hash(const char *key, const char *edge_id)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, key);

	h = mix64(h);
	h = fnv1a(h ^ 0xff, edge_id);
	return mix64(h);
}

double
steer_score(double weight, uint64_t h)
{
	/* u in (0,1): 53 random bits, offset by half a step. */
	double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0;

	return -weight / log(u);
}

size_t
steer_rank(const struct steer_edge *edges, size_t n, const char *key, size_t *order, size_t k)
{
	double best[STEER_EDGES_MAX];
	size_t m = 0;

	if (k > STEER_EDGES_MAX)
		k = STEER_EDGES_MAX;
	for (size_t i = 0; i < n; i++) {
		double s = steer_score(edges[i].weight, steer_hash(key, edges[i].id));
		size_t pos = m;
		/* insertion into the top-k list, best first */
		while (pos > 0 && best[pos - 1] < s)
			pos--;
		if (pos >= k)
			continue;
		if (m < k)
			m++;
		for (size_t j = m - 1; j > pos; j--) {
			best[j] = best[j - 1];
			order[j] = order[j - 1];
		}
		best[pos] = s;
		order[pos] = i;
	}
	return m;
}

const struct steer_edge *
steer_choose(const struct steer_snap *snap, const char *key, const char *pin)
{
	size_t idx;

	if (snap == NULL || snap->n == 0)
		return NULL;
	if (pin != NULL && pin[0] != '\0') {
		for (size_t i = 0; i < snap->n; i++) {
			if (strcmp(snap->edges[i].id, pin) == 0)
				return &snap->edges[i];
		}
	}
	if (steer_rank(snap->edges, snap->n, key, &idx, 1) != 1)
		return NULL;
	return &snap->edges[idx];
}

static struct steer_snap *
snap_new(uint64_t id, const struct steer_edge *edges, size_t n)
{
	struct steer_snap *s = malloc(sizeof(*s) + n * sizeof(s->edges[0]));

	if (s == NULL)
		return NULL;
	s->id = id;
	s->refs = 1;
	s->n = n;
	if (n > 0)
		memcpy(s->edges, edges, n * sizeof(s->edges[0]));
	return s;
}

static void
snap_unref(struct steer_snap *s)
{
	if (s != NULL && --s->refs == 0)
		free(s);
}

int
steer_new(struct steer **out)
{
	struct steer *st = calloc(1, sizeof(*st));

	*out = NULL;
	if (st == NULL)
		return -ENOMEM;
	st->cur = snap_new(0, NULL, 0);
	if (st->cur == NULL) {
		free(st);
		return -ENOMEM;
	}
	st->next_id = 1;
	*out = st;
	return 0;
}

static void
track_clear(struct steer_track *t)
{
	for (size_t i = 0; i < t->n; i++)
		snap_unref(t->t[i].snap);
	free(t->t);
	memset(t, 0, sizeof(*t));
}

void
steer_free(struct steer **pst)
{
	struct steer *st;

	if (pst == NULL || *pst == NULL)
		return;
	st = *pst;
	for (size_t i = 0; i < STEER_TRACKS_MAX; i++)
		track_clear(&st->tracks[i]);
	snap_unref(st->cur);
	free(st);
	*pst = NULL;
}

const struct steer_snap *
steer_current(const struct steer *st)
{
	return st->cur;
}

static bool
same_set(const struct steer_snap *s, const struct steer_edge *edges, size_t n)
{
	if (s->n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct steer_edge *a = &s->edges[i], *b = &edges[i];
		double ratio;
		if (strcmp(a->id, b->id) != 0 || strcmp(a->url, b->url) != 0)
			return false;
		ratio = b->weight / a->weight;
		if (ratio > 1.0 + STEER_WEIGHT_SLACK || ratio < 1.0 / (1.0 + STEER_WEIGHT_SLACK))
			return false;
	}
	return true;
}

int
steer_set_edges(struct steer *st, const struct steer_edge *edges, size_t n)
{
	struct steer_snap *s;

	if (n > STEER_EDGES_MAX || (n > 0 && edges == NULL))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!(edges[i].weight > 0))
			return -EINVAL;
	}
	if (same_set(st->cur, edges, n))
		return 0;
	s = snap_new(st->next_id, edges, n);
	if (s == NULL)
		return -ENOMEM;
	st->next_id++;
	snap_unref(st->cur);
	st->cur = s;
	return 1;
}

static struct steer_track *
track_get(struct steer *st, const char *key)
{
	uint64_t h = fnv1a(0xcbf29ce484222325ULL, key);
	struct steer_track *victim = NULL;

	for (size_t i = 0; i < STEER_TRACKS_MAX; i++) {
		struct steer_track *t = &st->tracks[i];
		if (!t->used) {
			if (victim == NULL || victim->used)
				victim = t;
			continue;
		}
		if (t->hash == h && strcmp(t->key, key) == 0)
			return t;
		if (victim == NULL || (victim->used && t->last_use < victim->last_use))
			victim = t;
	}
	track_clear(victim);
	victim->used = true;
	victim->hash = h;
	memcpy(victim->key, key, strlen(key) + 1);
	return victim;
}

static int
track_insert(struct steer_track *t, size_t pos, uint64_t first_seq, struct steer_snap *snap)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4;
		struct steer_trans *nt;
		if (cap > STEER_TRANSITIONS_MAX + 1)
			cap = STEER_TRANSITIONS_MAX + 1;
		nt = realloc(t->t, cap * sizeof(*nt));
		if (nt == NULL)
			return -ENOMEM;
		t->t = nt;
		t->cap = cap;
	}
	memmove(&t->t[pos + 1], &t->t[pos], (t->n - pos) * sizeof(t->t[0]));
	t->t[pos].first_seq = first_seq;
	t->t[pos].snap = snap;
	snap->refs++;
	t->n++;
	if (t->n > STEER_TRANSITIONS_MAX) {
		/* drop the oldest change: only seqs far behind are re-assigned */
		snap_unref(t->t[0].snap);
		memmove(&t->t[0], &t->t[1], (t->n - 1) * sizeof(t->t[0]));
		t->n--;
	}
	return 0;
}

static const struct steer_snap *
track_lookup(const struct steer_track *t, uint64_t seq)
{
	size_t lo = 0, hi = t->n;

	/* last transition with first_seq <= seq (the caller made one exist) */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->t[mid].first_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return t->t[lo].snap;
}

int
steer_resolve(struct steer *st, const char *key, const uint64_t *seqs, size_t n,
              const struct steer_snap **snaps)
{
	struct steer_track *t;
	uint64_t mn, mx;
	int rc;

	if (key == NULL || strlen(key) > STEER_KEY_MAX || (n > 0 && (seqs == NULL || snaps == NULL)))
		return -EINVAL;
	if (n == 0)
		return 0;
	mn = mx = seqs[0];
	for (size_t i = 1; i < n; i++) {
		if (seqs[i] < mn)
			mn = seqs[i];
		if (seqs[i] > mx)
			mx = seqs[i];
	}
	t = track_get(st, key);
	t->last_use = ++st->clock;
	if (t->n == 0) {
		rc = track_insert(t, 0, mn, st->cur);
		if (rc != 0)
			return rc;
		t->hi = mx;
	}
	if (mn < t->t[0].first_seq) {
		if (t->t[0].snap == st->cur) {
			t->t[0].first_seq = mn;
		} else {
			rc = track_insert(t, 0, mn, st->cur);
			if (rc != 0)
				return rc;
		}
	}
	if (mx > t->hi) {
		if (t->t[t->n - 1].snap != st->cur) {
			rc = track_insert(t, t->n, t->hi + 1, st->cur);
			if (rc != 0)
				return rc;
		}
		t->hi = mx;
	}
	for (size_t i = 0; i < n; i++) {
		if (seqs[i] < t->t[0].first_seq)
			snaps[i] = st->cur;     /* only after dropping the oldest change */
		else
			snaps[i] = track_lookup(t, seqs[i]);
	}
	return 0;
}

void
steer_snap_ref(const struct steer_snap *s)
{
	if (s != NULL)
		((struct steer_snap *)s)->refs++;
}

void
steer_snap_unref(const struct steer_snap *s)
{
	snap_unref((struct steer_snap *)s);
}
