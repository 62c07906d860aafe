/*
 * Unit tests for the media playlist writer with URI slots
 * (playlist_media_holes, origin/playlist.h), the writer behind both
 * playlist_media and the live window cache (origin/live.c):
 *   - its text equals playlist_media's for the same records and URIs;
 *   - holes[i] is exactly where uris[i] starts;
 *   - a template written once and filled with different text in each slot
 *     equals the plain writer's output for the filled URIs (how live.c
 *     splices a per-viewer base in front of "/seg/<cid>.ts");
 *   - argument errors and the size limit.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "origin/playlist.h"
#include "origin/sbuf.h"

#define SEC        1000000LL
#define T0         (1795000000LL * SEC)
#define NREC_MAX   64                   /* records per randomised case */
#define URI_MAX    96                   /* bytes of one generated URI */
#define RAND_CASES 300                  /* randomised comparisons */
#define BIG_N      5000                 /* records in the long-window case */

static void
mkrec(struct store_record *r, uint64_t seq, int64_t start, int64_t dur, const char *session,
      bool disc)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->stream, sizeof(r->stream), "cam");
	snprintf(r->variant, sizeof(r->variant), "src");
	r->seq = seq;
	r->start_us = start;
	r->duration_us = dur;
	snprintf(r->session, sizeof(r->session), "%s", session);
	r->discontinuity = disc;
}

/* Deterministic generator (LCG), so a failure reproduces. */
static uint32_t
rnd(uint64_t *st)
{
	*st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(*st >> 33);
}

/* template with fill[i] inserted at holes[i]; caller frees */
static char *
splice(const char *text, size_t len, const size_t *holes, size_t n, const char *const *fill,
       size_t *outlen)
{
	struct sbuf b;
	size_t prev = 0;
	char *out = NULL;

	sbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		assert_true(holes[i] >= prev && holes[i] <= len);
		sbuf_append(&b, text + prev, holes[i] - prev);
		sbuf_puts(&b, fill[i]);
		prev = holes[i];
	}
	sbuf_append(&b, text + prev, len - prev);
	assert_int_equal(sbuf_take(&b, &out, outlen), 0);
	return out;
}

/* holes[i] is where uris[i] starts, on a line of its own, after its EXTINF line */
static void
check_holes(const char *text, size_t len, const size_t *holes, size_t n,
            const char *const *uris)
{
	for (size_t i = 0; i < n; i++) {
		size_t ul = strlen(uris[i]);
		const char *line;
		assert_true(holes[i] > 0 && holes[i] + ul < len);
		if (i > 0)
			assert_true(holes[i] > holes[i - 1] + strlen(uris[i - 1]));
		assert_memory_equal(text + holes[i], uris[i], ul);
		assert_int_equal(text[holes[i] - 1], '\n');
		assert_int_equal(text[holes[i] + ul], '\n');
		/* the line before the slot is this segment's EXTINF */
		line = text + holes[i] - 1;
		while (line > text && line[-1] != '\n')
			line--;
		assert_true(strncmp(line, "#EXTINF:", 8) == 0);
	}
}

/* Both writers on (recs, uris, opts): identical text; holes consistent. */
static void
compare_writers(const struct store_record *recs, size_t n, const char *const *uris,
                const struct playlist_media_opts *o)
{
	char *plain = NULL, *slots = NULL;
	size_t plen = 0, slen = 0;
	size_t *holes = calloc(n, sizeof(*holes));

	assert_non_null(holes);
	assert_int_equal(playlist_media(recs, n, uris, o, &plain, &plen), 0);
	assert_int_equal(playlist_media_holes(recs, n, uris, o, &slots, &slen, holes), 0);
	assert_int_equal(plen, slen);
	assert_int_equal(strlen(slots), slen);
	assert_string_equal(plain, slots);
	check_holes(slots, slen, holes, n, uris);
	free(plain);
	free(slots);
	/* holes == NULL is the plain writer; outlen may be NULL */
	assert_int_equal(playlist_media_holes(recs, n, uris, o, &slots, NULL, NULL), 0);
	assert_int_equal(strlen(slots), plen);
	free(slots);
	free(holes);
}

static void
test_equal_fixed(void **state)
{
	struct store_record r[5];
	const char *uris[5] = { "u0", "http://e1:81/seg/a.ts", "", "/seg/b.ts",
	                        "https://edge.example/seg/c.ts?x=1" };
	struct playlist_media_opts live = { .kind = PLAYLIST_LIVE, .disc_seq = 7 };
	struct playlist_media_opts vod = { .kind = PLAYLIST_VOD, .disc_seq = 0 };

	(void)state;
	mkrec(&r[0], 41, T0, 2 * SEC, "a", true);
	mkrec(&r[1], 42, T0 + 2 * SEC, 2600000, "a", false);
	mkrec(&r[2], 43, T0 + 4600000, 2 * SEC, "b", true);        /* new session */
	mkrec(&r[3], 44, T0 + 6600000, 2 * SEC, "b", false);
	mkrec(&r[4], 45, T0 + 20 * SEC, 1, "b", false);            /* gap, 1 us long */
	for (size_t n = 1; n <= 5; n++) {
		compare_writers(r, n, uris, &live);
		compare_writers(r, n, uris, &vod);
	}
	/* a start time far past what RFC 3339 can write: both writers agree */
	r[3].start_us = INT64_MAX - 10 * SEC;
	compare_writers(r, 5, uris, &live);
}

static void
test_equal_random(void **state)
{
	static const char *const sessions[] = { "s1", "s2", "a-long-session-id-0123456789" };
	struct store_record r[NREC_MAX];
	char ubuf[NREC_MAX][URI_MAX];
	const char *uris[NREC_MAX];
	uint64_t st = 0x5eed;

	(void)state;
	for (int c = 0; c < RAND_CASES; c++) {
		size_t n = 1 + rnd(&st) % NREC_MAX;
		struct playlist_media_opts o = {
			.kind = rnd(&st) % 2 ? PLAYLIST_VOD : PLAYLIST_LIVE,
			.disc_seq = rnd(&st) % 3 == 0 ? UINT64_MAX - rnd(&st) % 4 : rnd(&st) % 100,
		};
		uint64_t seq = rnd(&st) % 3 == 0 ? UINT64_MAX - NREC_MAX : rnd(&st);
		int64_t t = T0 + (int64_t)(rnd(&st) % 100000) * SEC;
		for (size_t i = 0; i < n; i++) {
			int64_t dur = 1 + (int64_t)(rnd(&st) % (12 * SEC));
			uint32_t k = rnd(&st) % 8;
			if (k == 0)
				t += PLAYLIST_GAP_US + 1 + rnd(&st) % (5 * SEC);      /* gap */
			else if (k == 1)
				t -= rnd(&st) % (2 * SEC);                            /* overlap */
			size_t si = rnd(&st) % 2 == 0 ? 0 : 1 + rnd(&st) % 2;
			mkrec(&r[i], seq + i, t, dur, sessions[si], rnd(&st) % 10 == 0);
			t += dur;
			switch (rnd(&st) % 4) {
			case 0: ubuf[i][0] = '\0'; break;
			case 1:
				snprintf(ubuf[i], URI_MAX, "/seg/%08x%08x.ts", rnd(&st), rnd(&st));
				break;
			default:
				snprintf(ubuf[i], URI_MAX, "http://127.0.0.%u:%u/seg/%08x.ts",
				         rnd(&st) % 250, 1024 + rnd(&st) % 60000, rnd(&st));
			}
			uris[i] = ubuf[i];
		}
		compare_writers(r, n, uris, &o);
	}
}

/*
 * One template, slots filled in several ways: each result equals the plain
 * writer's text for the filled URIs.
 */
static void
test_fill_slots(void **state)
{
	enum { N = 6 };
	struct store_record r[N];
	const char *paths[N] = { "/seg/0.ts", "/seg/1.ts", "/seg/2.ts", "/seg/3.ts", "/seg/4.ts",
	                         "/seg/5.ts" };
	const char *empty[N] = { "", "", "", "", "", "" };
	static const char *const bases[][N] = {
		/* no edge anywhere: the origin's base for every segment */
		{ "http://o:8080", "http://o:8080", "http://o:8080", "http://o:8080",
		  "http://o:8080", "http://o:8080" },
		/* two steering snapshots: the old segments on e1, new ones on e2 */
		{ "http://e1:81", "http://e1:81", "http://e1:81", "http://edge-two.example:8443",
		  "http://edge-two.example:8443", "http://edge-two.example:8443" },
		/* every slot different, one empty (a relative URI) */
		{ "", "http://a", "http://bb", "http://ccc:1", "https://dddd/x", "http://e" },
	};
	struct playlist_media_opts o = { .kind = PLAYLIST_LIVE, .disc_seq = 3 };
	size_t holes[N], eholes[N];
	char *tmpl = NULL, *etmpl = NULL;
	size_t tlen = 0, elen = 0;

	(void)state;
	for (size_t i = 0; i < N; i++)
		mkrec(&r[i], 100 + i, T0 + (int64_t)i * 2 * SEC, 2 * SEC, i < 3 ? "x" : "y",
		      i == 3);
	assert_int_equal(playlist_media_holes(r, N, paths, &o, &tmpl, &tlen, holes), 0);
	assert_int_equal(playlist_media_holes(r, N, empty, &o, &etmpl, &elen, eholes), 0);
	assert_int_equal(elen + N * strlen("/seg/0.ts"), tlen);
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		char full[N][64];
		const char *fulls[N];
		char *want = NULL, *got = NULL, *got2 = NULL;
		size_t wlen = 0, glen = 0, g2len = 0;
		for (size_t i = 0; i < N; i++) {
			snprintf(full[i], sizeof(full[i]), "%s%s", bases[b][i], paths[i]);
			fulls[i] = full[i];
		}
		assert_int_equal(playlist_media(r, N, fulls, &o, &want, &wlen), 0);
		/* live.c's way: the path is in the template, the base goes in the slot */
		got = splice(tmpl, tlen, holes, N, bases[b], &glen);
		assert_int_equal(glen, wlen);
		assert_string_equal(got, want);
		/* an empty template: the whole URI goes in the slot */
		got2 = splice(etmpl, elen, eholes, N, fulls, &g2len);
		assert_int_equal(g2len, wlen);
		assert_string_equal(got2, want);
		free(want);
		free(got);
		free(got2);
	}
	/* the template itself is untouched by filling */
	check_holes(tmpl, tlen, holes, N, paths);
	free(tmpl);
	free(etmpl);
}

/* A long window: many slots, offsets stay exact. */
static void
test_many_slots(void **state)
{
	struct store_record *r = calloc(BIG_N, sizeof(*r));
	char (*ubuf)[40] = calloc(BIG_N, sizeof(*ubuf));
	const char **uris = calloc(BIG_N, sizeof(*uris));
	struct playlist_media_opts o = { .kind = PLAYLIST_VOD, .disc_seq = 1 };

	(void)state;
	assert_non_null(r);
	assert_non_null(ubuf);
	assert_non_null(uris);
	for (size_t i = 0; i < BIG_N; i++) {
		mkrec(&r[i], i, T0 + (int64_t)i * SEC, SEC, i % 1000 < 500 ? "a" : "b", false);
		snprintf(ubuf[i], sizeof(ubuf[i]), "/seg/%zu.ts", i);
		uris[i] = ubuf[i];
	}
	compare_writers(r, BIG_N, uris, &o);
	free(uris);
	free(ubuf);
	free(r);
}

static void
test_errors(void **state)
{
	struct store_record r[3];
	const char *uris[3] = { "a", "b", NULL };
	struct playlist_media_opts o = { .kind = PLAYLIST_LIVE };
	size_t holes[3] = { 0, 0, 0 };
	char *text = (char *)1;
	size_t len = 99;

	(void)state;
	for (size_t i = 0; i < 3; i++)
		mkrec(&r[i], i, T0 + (int64_t)i * SEC, SEC, "a", false);
	/* no records */
	assert_int_equal(playlist_media_holes(r, 0, uris, &o, &text, &len, holes), -EINVAL);
	assert_null(text);
	assert_int_equal(len, 0);
	text = (char *)1;
	assert_int_equal(playlist_media_holes(NULL, 1, uris, &o, &text, &len, holes), -EINVAL);
	assert_null(text);
	assert_int_equal(playlist_media_holes(r, 1, NULL, &o, &text, &len, holes), -EINVAL);
	/* a NULL URI anywhere, not only first */
	len = 99;
	assert_int_equal(playlist_media_holes(r, 3, uris, &o, &text, &len, holes), -EINVAL);
	assert_null(text);
	assert_int_equal(len, 0);
	assert_int_equal(playlist_media(r, 3, uris, &o, &text, &len), -EINVAL);
	uris[2] = "c";
	/* non-positive duration anywhere */
	r[1].duration_us = 0;
	assert_int_equal(playlist_media_holes(r, 3, uris, &o, &text, NULL, holes), -EINVAL);
	r[1].duration_us = -SEC;
	assert_int_equal(playlist_media_holes(r, 3, uris, &o, &text, NULL, holes), -EINVAL);
	assert_int_equal(playlist_media(r, 3, uris, &o, &text, NULL), -EINVAL);
	assert_null(text);
	r[1].duration_us = SEC;
	assert_int_equal(playlist_media_holes(r, 3, uris, &o, &text, &len, holes), 0);
	assert_non_null(text);
	check_holes(text, len, holes, 3, uris);
	free(text);
}

/*
 * Past SBUF_MAX the writers fail with -E2BIG and hand out nothing (never a
 * truncated playlist).
 */
static void
test_size_limit(void **state)
{
	struct store_record r[2];
	const char *uris[2];
	struct playlist_media_opts o = { .kind = PLAYLIST_VOD };
	size_t half = SBUF_MAX / 2, holes[2];
	char *big = malloc(half + 1), *text = (char *)1;
	size_t len = 99;

	(void)state;
	assert_non_null(big);
	memset(big, 'u', half);
	big[half] = '\0';
	mkrec(&r[0], 0, T0, SEC, "a", false);
	mkrec(&r[1], 1, T0 + SEC, SEC, "a", false);
	uris[0] = big;
	uris[1] = big;
	assert_int_equal(playlist_media_holes(r, 2, uris, &o, &text, &len, holes), -E2BIG);
	assert_null(text);
	assert_int_equal(len, 0);
	text = (char *)1;
	assert_int_equal(playlist_media(r, 2, uris, &o, &text, &len), -E2BIG);
	assert_null(text);
	/* one of them fits */
	assert_int_equal(playlist_media_holes(r, 1, uris, &o, &text, &len, holes), 0);
	assert_true(len > half);
	assert_int_equal(text[holes[0] + half], '\n');
	free(text);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_fixed),
		cmocka_unit_test(test_equal_random),
		cmocka_unit_test(test_fill_slots),
		cmocka_unit_test(test_many_slots),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
