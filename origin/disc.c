/*
 * disc.c — discontinuity-sequence anchors.
 *
 * Model: a fixed table of DISC_SLOTS anchors indexed by a hash of
 * "stream/variant" (a colliding key replaces the slot; it is recomputed from
 * the persisted anchor next time). A slot holds the anchor record, the
 * boundary count at it, and what was last persisted. The mutex guards the
 * table only; scans (store_query in chunks) and metadata writes happen with
 * copies, outside it. Two threads racing on one key compute the same
 * numbers; the anchor only moves forward.
 */
#include "origin/disc.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "origin/playlist.h"

#define DISC_KEY_MAX (STORE_STREAM_MAX + STORE_VARIANT_MAX + 8)
#define DISC_META_MAX (STORE_JSON_MAX + 64)

struct disc_slot {
	bool used;
	char key[DISC_KEY_MAX];
	struct store_record anchor;
	uint64_t count;
	bool persisted;
	int64_t persisted_start;
	uint64_t persisted_count;
};

struct disc {
	struct store *s;
	pthread_mutex_t mu;
	struct disc_slot slots[DISC_SLOTS];
};

int
disc_new(struct store *s, struct disc **out)
{
	struct disc *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (d == NULL)
		return -ENOMEM;
	d->s = s;
	pthread_mutex_init(&d->mu, NULL);
	*out = d;
	return 0;
}

void
disc_free(struct disc **pd)
{
	if (pd == NULL || *pd == NULL)
		return;
	pthread_mutex_destroy(&(*pd)->mu);
	free(*pd);
	*pd = NULL;
}

static size_t
slot_of(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	return (size_t)(h % DISC_SLOTS);
}

/*
 * Count boundaries between consecutive records with start in
 * [from_us, to_start]. If expect is non-NULL the first such record must be
 * it (same start and cid), else -ESTALE. *last gets the last record seen.
 */
static int
scan(struct store *s, const char *stream, const char *variant, int64_t from_us,
     int64_t to_start, const struct store_record *expect, uint64_t *boundaries,
     struct store_record *last)
{
	struct store_record prev;
	bool have_prev = false;
	int64_t from = from_us;
	uint64_t count = 0;
	int rc = 0;

	memset(&prev, 0, sizeof(prev));
	for (;;) {
		struct store_record *recs = NULL;
		size_t n = 0;
		bool trunc = false;
		int64_t before = have_prev ? prev.start_us : INT64_MIN;

		rc = store_query(s, stream, variant, from, to_start + 1, DISC_SCAN_CHUNK, &recs, &n,
		                 &trunc);
		if (rc != 0)
			break;
		for (size_t i = 0; i < n; i++) {
			const struct store_record *r = &recs[i];
			if (r->start_us < from_us || r->start_us > to_start)
				continue;
			if (have_prev && r->start_us <= prev.start_us)
				continue;
			if (!have_prev) {
				if (expect != NULL && (r->start_us != expect->start_us ||
				                       strcmp(r->cid, expect->cid) != 0)) {
					rc = -ESTALE;
					break;
				}
				have_prev = true;
				prev = *r;
				continue;
			}
			if (playlist_boundary(&prev, r))
				count++;
			prev = *r;
		}
		free(recs);
		if (rc != 0 || !trunc || n == 0 || !have_prev || prev.start_us == before)
			break;
		from = prev.start_us + 1;
	}
	if (rc == 0 && expect != NULL && !have_prev)
		rc = -ESTALE;
	if (rc == 0) {
		*boundaries = count;
		if (last != NULL)
			*last = prev;
	}
	return rc;
}

static int
meta_load(struct store *s, const char *key, struct store_record *anchor, uint64_t *count)
{
	char mkey[DISC_KEY_MAX + 8];
	void *val = NULL;
	size_t len = 0;
	json_t *root = NULL, *jc, *jr;
	char *rtext = NULL;
	int rc;

	snprintf(mkey, sizeof(mkey), "disc/%s", key);
	rc = store_meta_get(s, mkey, &val, &len);
	if (rc != 0)
		goto out;
	rc = -EINVAL;
	root = json_loadb(val, len, 0, NULL);
	jc = json_object_get(root, "count");
	jr = json_object_get(root, "rec");
	if (!json_is_integer(jc) || json_integer_value(jc) < 0 || !json_is_object(jr))
		goto out;
	rtext = json_dumps(jr, JSON_COMPACT);
	if (rtext == NULL)
		goto out;
	if (store_record_from_json(rtext, strlen(rtext), anchor, NULL, 0) != 0)
		goto out;
	*count = (uint64_t)json_integer_value(jc);
	rc = 0;
out:
	free(rtext);
	json_decref(root);
	free(val);
	return rc;
}

static void
meta_save(struct store *s, const char *key, const struct store_record *anchor, uint64_t count)
{
	char mkey[DISC_KEY_MAX + 8], rj[STORE_JSON_MAX], val[DISC_META_MAX];
	int n, rc;

	if (store_record_to_json(anchor, rj, sizeof(rj)) != 0)
		return;
	n = snprintf(val, sizeof(val), "{\"count\":%" PRIu64 ",\"rec\":%s}", count, rj);
	if (n < 0 || (size_t)n >= sizeof(val))
		return;
	snprintf(mkey, sizeof(mkey), "disc/%s", key);
	rc = store_meta_put(s, mkey, val, (size_t)n);
	if (rc != 0)
		log_warn("persist discontinuity anchor \"%s\": %s", key, strerror(-rc));
}

int
disc_sequence(struct disc *d, const struct store_record *first, uint64_t *out)
{
	char key[DISC_KEY_MAX];
	struct disc_slot *slot;
	struct store_record anchor;
	uint64_t acount = 0, b = 0, count = 0;
	bool have = false, persisted = false, save, forward;
	int64_t pstart = 0;
	uint64_t pcount = 0;
	int rc = -ESTALE;

	snprintf(key, sizeof(key), "%s/%s", first->stream, first->variant);
	slot = &d->slots[slot_of(key)];
	pthread_mutex_lock(&d->mu);
	if (slot->used && strcmp(slot->key, key) == 0) {
		anchor = slot->anchor;
		acount = slot->count;
		have = true;
		persisted = slot->persisted;
		pstart = slot->persisted_start;
		pcount = slot->persisted_count;
	}
	pthread_mutex_unlock(&d->mu);

	if (!have && meta_load(d->s, key, &anchor, &acount) == 0) {
		have = true;
		persisted = true;
		pstart = anchor.start_us;
		pcount = acount;
	}
	if (have) {
		if (first->start_us >= anchor.start_us) {
			rc = scan(d->s, first->stream, first->variant, anchor.start_us, first->start_us,
			          &anchor, &b, NULL);
			count = acount + b;
		} else {
			rc = scan(d->s, first->stream, first->variant, first->start_us, anchor.start_us,
			          first, &b, NULL);
			count = b > acount ? 0 : acount - b;
		}
		if (rc == -ESTALE)
			log_warn("discontinuity anchor of \"%s\" is gone; recounting from the oldest "
			         "record", key);
	}
	if (rc == -ESTALE) {
		rc = scan(d->s, first->stream, first->variant, 0, first->start_us, NULL, &count, NULL);
		have = false;
		persisted = false;
	}
	if (rc != 0)
		return rc;
	*out = count;

	forward = !have || first->start_us >= anchor.start_us;
	save = forward && (!persisted || count != pcount || first->start_us - pstart >= DISC_PERSIST_US);
	pthread_mutex_lock(&d->mu);
	if (!slot->used || strcmp(slot->key, key) != 0 ||
	    (forward && first->start_us >= slot->anchor.start_us)) {
		slot->used = true;
		snprintf(slot->key, sizeof(slot->key), "%s", key);
		slot->anchor = forward ? *first : anchor;
		slot->count = forward ? count : acount;
		slot->persisted = save || persisted;
		slot->persisted_start = save ? first->start_us : pstart;
		slot->persisted_count = save ? count : pcount;
	}
	pthread_mutex_unlock(&d->mu);
	if (save)
		meta_save(d->s, key, first, count);
	return 0;
}
