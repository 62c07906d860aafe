/*
 * live.c — live.m3u8 window cache and shared rendered responses.
 *
 * Model:
 *   slots      lc->slot[hash(key) % LIVE_SLOTS]: mutex + current window.
 *   window     built by one request (store_latest, disc_sequence,
 *              edges_snapshots, playlist_media_holes with URIs
 *              "/seg/<cid>.ts"), refcounted (atomic); the slot holds one
 *              reference, each request using it one more. Freed (responses
 *              destroyed, snapshot references released) at zero.
 *   responses  w->resp[k], filled in order under w->mu and read without
 *              it (acquire loads); each holds one MHD reference that the
 *              window drops when freed. A response is the window text with
 *              each segment's base spliced in: the picked edge's URL, or
 *              the origin base when its snapshot has no edge.
 */
#include "origin/live.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/timeutil.h"
#include "origin/disc.h"
#include "origin/edges.h"
#include "origin/hls.h"
#include "origin/playlist.h"
#include "store/store.h"

#define LIVE_KEY_MAX   (STORE_STREAM_MAX + STORE_VARIANT_MAX + 2)
#define LIVE_URI_MAX   (5 + CID_HEX_LEN + 4)        /* "/seg/" cid ".ts" NUL */
#define LIVE_PICK_NONE UINT16_MAX                   /* no edge: origin base */

struct live_resp {
	struct MHD_Response *resp;
	char base[LIVE_BASE_MAX];
	uint16_t pick[LIVE_SNAPS_MAX];
	size_t ncount;
	struct {
		struct metric *m;
		double k;
	} count[LIVE_SNAPS_MAX];
};

struct live_win {
	atomic_uint refs;
	uint64_t version;
	size_t n;
	char *text;
	size_t len;
	size_t *holes;                      /* n: where each URI starts in text */
	const struct steer_snap **snaps;    /* n, one reference each */
	uint8_t *snap_of;                   /* n: index into dsnap */
	size_t nsnap;
	const struct steer_snap *dsnap[LIVE_SNAPS_MAX];
	pthread_mutex_t mu;                 /* serialises filling resp[] */
	_Atomic(struct live_resp *) resp[LIVE_RESPS_MAX];
};

struct live_slot {
	pthread_mutex_t mu;
	char key[LIVE_KEY_MAX];
	struct live_win *win;
};

struct livecache {
	struct origin *o;
	struct live_slot slot[LIVE_SLOTS];
};

int
livecache_new(struct origin *o, struct livecache **out)
{
	struct livecache *lc = calloc(1, sizeof(*lc));

	*out = NULL;
	if (lc == NULL)
		return -ENOMEM;
	lc->o = o;
	for (size_t i = 0; i < LIVE_SLOTS; i++)
		pthread_mutex_init(&lc->slot[i].mu, NULL);
	*out = lc;
	return 0;
}

static void
win_unref(struct livecache *lc, struct live_win *w)
{
	if (w == NULL || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	for (size_t k = 0; k < LIVE_RESPS_MAX; k++) {
		struct live_resp *lr = atomic_load(&w->resp[k]);
		if (lr == NULL)
			break;
		MHD_destroy_response(lr->resp);
		free(lr);
	}
	if (w->snaps != NULL)
		edges_snaps_release(lc->o->edges, w->snaps, w->n);
	pthread_mutex_destroy(&w->mu);
	free(w->snaps);
	free(w->snap_of);
	free(w->holes);
	free(w->text);
	free(w);
}

void
livecache_free(struct livecache **plc)
{
	struct livecache *lc;

	if (plc == NULL || *plc == NULL)
		return;
	lc = *plc;
	for (size_t i = 0; i < LIVE_SLOTS; i++) {
		win_unref(lc, lc->slot[i].win);
		pthread_mutex_destroy(&lc->slot[i].mu);
	}
	free(lc);
	*plc = NULL;
}

static uint64_t
key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* A new window (one reference, the caller's) for version ver; NULL if not cacheable. */
static struct live_win *
win_build(struct livecache *lc, const char *key, const char *stream, const char *variant,
          uint64_t ver)
{
	struct origin *o = lc->o;
	struct store_record *recs = NULL;
	struct playlist_media_opts opts = { .kind = PLAYLIST_LIVE, .disc_seq = 0 };
	struct live_win *w = NULL;
	char (*uri)[LIVE_URI_MAX] = NULL;
	const char **uris = NULL;
	size_t n = 0;
	bool ok = false;

	if (store_latest(o->store, stream, variant, o->conf.window, &recs, &n) != 0 || n == 0)
		goto out;
	if (disc_sequence(o->disc, &recs[0], &opts.disc_seq) != 0)
		goto out;
	w = calloc(1, sizeof(*w));
	uri = calloc(n, sizeof(*uri));
	uris = calloc(n, sizeof(*uris));
	if (w == NULL || uri == NULL || uris == NULL)
		goto out;
	atomic_init(&w->refs, 1);
	pthread_mutex_init(&w->mu, NULL);
	w->version = ver;
	w->holes = calloc(n, sizeof(*w->holes));
	w->snap_of = calloc(n, sizeof(*w->snap_of));
	w->snaps = calloc(n, sizeof(*w->snaps));
	if (w->holes == NULL || w->snap_of == NULL || w->snaps == NULL)
		goto out;
	if (edges_snapshots(o->edges, key, recs, n, w->snaps) != 0) {
		free(w->snaps);
		w->snaps = NULL;
		goto out;
	}
	w->n = n;
	for (size_t i = 0; i < n; i++) {
		size_t d = 0;
		while (d < w->nsnap && w->dsnap[d] != w->snaps[i])
			d++;
		if (d == w->nsnap) {
			if (w->nsnap == LIVE_SNAPS_MAX)
				goto out;
			w->dsnap[w->nsnap++] = w->snaps[i];
		}
		w->snap_of[i] = (uint8_t)d;
		snprintf(uri[i], sizeof(uri[i]), "/seg/%s.ts", recs[i].cid);
		uris[i] = uri[i];
	}
	if (playlist_media_holes(recs, n, uris, &opts, &w->text, &w->len, w->holes) != 0)
		goto out;
	ok = true;
out:
	if (!ok && w != NULL) {
		win_unref(lc, w);
		w = NULL;
	}
	free(uris);
	free(uri);
	free(recs);
	return w;
}

/* The slot's window for ver (building and installing one if needed), referenced. */
static struct live_win *
win_get(struct livecache *lc, const char *stream, const char *variant, uint64_t ver)
{
	char key[LIVE_KEY_MAX];
	struct live_slot *sl;
	struct live_win *w = NULL, *old = NULL;

	snprintf(key, sizeof(key), "%s/%s", stream, variant);
	sl = &lc->slot[key_hash(key) % LIVE_SLOTS];
	pthread_mutex_lock(&sl->mu);
	if (sl->win != NULL && sl->win->version == ver && strcmp(sl->key, key) == 0) {
		w = sl->win;
		atomic_fetch_add(&w->refs, 1);
	}
	pthread_mutex_unlock(&sl->mu);
	if (w != NULL)
		return w;
	w = win_build(lc, key, stream, variant, ver);
	if (w == NULL)
		return NULL;
	pthread_mutex_lock(&sl->mu);
	if (sl->win == NULL || strcmp(sl->key, key) != 0 || sl->win->version <= ver) {
		old = sl->win;
		sl->win = w;
		memcpy(sl->key, key, strlen(key) + 1);
		atomic_fetch_add(&w->refs, 1);
	}
	pthread_mutex_unlock(&sl->mu);
	win_unref(lc, old);
	return w;
}

static const char *
base_of(const struct live_win *w, const uint16_t *pick, size_t i, const char *origin_base)
{
	size_t d = w->snap_of[i];

	if (pick[d] == LIVE_PICK_NONE)
		return origin_base;
	return w->dsnap[d]->edges[pick[d]].url;
}

/* Render the response for (base, pick); NULL on out of memory. */
static struct live_resp *
resp_build(struct livecache *lc, const struct live_win *w, const char *base,
           const uint16_t *pick)
{
	struct live_resp *lr = calloc(1, sizeof(*lr));
	size_t total = w->len, prev = 0, at = 0;
	size_t segs[LIVE_SNAPS_MAX] = { 0 };
	char *buf;

	if (lr == NULL)
		return NULL;
	snprintf(lr->base, sizeof(lr->base), "%s", base);
	memcpy(lr->pick, pick, sizeof(lr->pick));
	for (size_t i = 0; i < w->n; i++) {
		total += strlen(base_of(w, pick, i, base));
		segs[w->snap_of[i]]++;
	}
	buf = malloc(total + 1);
	if (buf == NULL) {
		free(lr);
		return NULL;
	}
	for (size_t i = 0; i < w->n; i++) {
		const char *b = base_of(w, pick, i, base);
		size_t bl = strlen(b);
		memcpy(buf + at, w->text + prev, w->holes[i] - prev);
		at += w->holes[i] - prev;
		memcpy(buf + at, b, bl);
		at += bl;
		prev = w->holes[i];
	}
	memcpy(buf + at, w->text + prev, w->len - prev);
	at += w->len - prev;
	buf[at] = '\0';
	lr->resp = http_response_shared(HLS_CTYPE, "max-age=1", buf, at);
	if (lr->resp == NULL) {
		free(lr);
		return NULL;
	}
	/* steering decision counters: one handle per snapshot, counted per listed URI */
	for (size_t d = 0; d < w->nsnap; d++) {
		const char *id = pick[d] == LIVE_PICK_NONE ? NULL : w->dsnap[d]->edges[pick[d]].id;
		lr->count[lr->ncount].m = edges_decision_metric(lc->o->edges, id);
		lr->count[lr->ncount].k = (double)segs[d];
		lr->ncount++;
	}
	return lr;
}

static bool
resp_match(const struct live_resp *lr, const char *base, const uint16_t *pick, size_t nsnap)
{
	return memcmp(lr->pick, pick, nsnap * sizeof(pick[0])) == 0 && strcmp(lr->base, base) == 0;
}

bool
livecache_serve(struct livecache *lc, struct req *r, const char *stream, const char *variant,
                const char *sid, const char *pin, enum MHD_Result *ret)
{
	char viewer[HLS_SID_MAX + HTTP_ADDR_MAX], base[LIVE_BASE_MAX];
	uint16_t pick[LIVE_SNAPS_MAX];
	int64_t t0 = time_mono_us();
	struct live_win *w;
	struct live_resp *lr = NULL, *dup = NULL;
	bool have_viewer = false, owned = false;
	uint64_t ver;
	size_t k;

	if (store_last_seq(lc->o->store, &ver) != 0)
		return false;
	w = win_get(lc, stream, variant, ver);
	if (w == NULL)
		return false;
	for (size_t d = 0; d < LIVE_SNAPS_MAX; d++)
		pick[d] = LIVE_PICK_NONE;
	for (size_t d = 0; d < w->nsnap; d++) {
		const struct steer_snap *s = w->dsnap[d];
		const struct steer_edge *se;
		if (s->n == 0)
			continue;
		if (!have_viewer) {
			if (sid != NULL)
				snprintf(viewer, sizeof(viewer), "%s", sid);
			else
				http_client_addr(r, viewer, sizeof(viewer));
			have_viewer = true;
		}
		se = steer_choose(s, viewer, pin);
		if (se != NULL)
			pick[d] = (uint16_t)(se - s->edges);
	}
	http_base_url(r, base, sizeof(base));
	for (k = 0; k < LIVE_RESPS_MAX; k++) {
		lr = atomic_load_explicit(&w->resp[k], memory_order_acquire);
		if (lr == NULL || resp_match(lr, base, pick, w->nsnap))
			break;
	}
	if (lr == NULL) {
		lr = resp_build(lc, w, base, pick);
		if (lr == NULL) {
			win_unref(lc, w);
			*ret = http_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "live playlist: out of memory");
			return true;
		}
		owned = true;
		pthread_mutex_lock(&w->mu);
		for (k = 0; k < LIVE_RESPS_MAX; k++) {
			struct live_resp *cur = atomic_load_explicit(&w->resp[k], memory_order_acquire);
			if (cur == NULL) {
				atomic_store_explicit(&w->resp[k], lr, memory_order_release);
				owned = false;
				break;
			}
			if (resp_match(cur, base, pick, w->nsnap)) {
				dup = lr;       /* another request published the same one */
				lr = cur;
				owned = false;
				break;
			}
		}
		pthread_mutex_unlock(&w->mu);
		if (dup != NULL) {
			MHD_destroy_response(dup->resp);
			free(dup);
		}
	}
	for (size_t i = 0; i < lr->ncount; i++)
		metric_add(lr->count[i].m, lr->count[i].k);
	metric_observe(lc->o->playlist_seconds[1], (double)(time_mono_us() - t0) / 1e6);
	*ret = http_send_shared(r, MHD_HTTP_OK, lr->resp);
	if (owned) {
		MHD_destroy_response(lr->resp);
		free(lr);
	}
	win_unref(lc, w);
	return true;
}
