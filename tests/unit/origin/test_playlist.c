/* Unit tests for origin/playlist.c against RFC 8216 rules. */
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

#define SEC 1000000LL
#define T0  (1795000000LL * SEC)

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

static size_t
count(const char *text, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(text, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void
test_boundary(void **state)
{
	struct store_record a, b;

	(void)state;
	mkrec(&a, 1, T0, 2 * SEC, "s1", false);
	mkrec(&b, 2, T0 + 2 * SEC, 2 * SEC, "s1", false);
	assert_false(playlist_boundary(&a, &b));
	b.start_us = T0 + 2 * SEC + PLAYLIST_GAP_US;        /* exactly 0.5 s: not a gap */
	assert_false(playlist_boundary(&a, &b));
	b.start_us = T0 + 2 * SEC + PLAYLIST_GAP_US + 1;
	assert_true(playlist_boundary(&a, &b));
	b.start_us = T0 + 2 * SEC;
	snprintf(b.session, sizeof(b.session), "s2");
	assert_true(playlist_boundary(&a, &b));
	snprintf(b.session, sizeof(b.session), "s1");
	b.discontinuity = true;
	assert_true(playlist_boundary(&a, &b));
}

static void
test_media_live(void **state)
{
	struct store_record r[5];
	const char *uris[5] = { "u0", "u1", "u2", "u3", "u4" };
	struct playlist_media_opts o = { .kind = PLAYLIST_LIVE, .disc_seq = 7 };
	char *text = NULL, *p;
	size_t len = 0;

	(void)state;
	mkrec(&r[0], 41, T0, 2 * SEC, "a", true);           /* first listed: no tag */
	mkrec(&r[1], 42, T0 + 2 * SEC, 2600000, "a", false); /* 2.6 s rounds to 3 */
	mkrec(&r[2], 43, T0 + 4600000, 2 * SEC, "b", true);  /* new session */
	mkrec(&r[3], 44, T0 + 6600000, 2 * SEC, "b", false);
	mkrec(&r[4], 45, T0 + 20 * SEC, 2 * SEC, "b", false); /* time gap */
	assert_int_equal(playlist_media(r, 5, uris, &o, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_true(strncmp(text, "#EXTM3U\n", 8) == 0);
	assert_non_null(strstr(text, "#EXT-X-VERSION:3\n"));
	assert_non_null(strstr(text, "#EXT-X-TARGETDURATION:3\n"));
	assert_non_null(strstr(text, "#EXT-X-MEDIA-SEQUENCE:41\n"));
	assert_non_null(strstr(text, "#EXT-X-DISCONTINUITY-SEQUENCE:7\n"));
	assert_int_equal(count(text, "#EXT-X-PROGRAM-DATE-TIME:"), 5);
	assert_int_equal(count(text, "#EXTINF:"), 5);
	assert_int_equal(count(text, "#EXT-X-DISCONTINUITY\n"), 2);
	assert_null(strstr(text, "#EXT-X-ENDLIST"));
	assert_null(strstr(text, "#EXT-X-PLAYLIST-TYPE"));
	assert_non_null(strstr(text, "#EXTINF:2.600,\nu1\n"));
	assert_non_null(strstr(text, "#EXT-X-PROGRAM-DATE-TIME:2026-11-18T11:06:40.000Z\n#EXTINF"));
	/* the discontinuity tag precedes the segment's PROGRAM-DATE-TIME */
	p = strstr(text, "#EXT-X-DISCONTINUITY\n");
	assert_non_null(p);
	assert_true(strncmp(p + strlen("#EXT-X-DISCONTINUITY\n"), "#EXT-X-PROGRAM-DATE-TIME:", 25) == 0);
	/* every segment header line ends before its URI, one URI per EXTINF */
	assert_non_null(strstr(text, "u2\n"));
	free(text);
}

static void
test_media_vod(void **state)
{
	struct store_record r[2];
	const char *uris[2] = { "http://e/seg/a.ts", "http://e/seg/b.ts" };
	struct playlist_media_opts o = { .kind = PLAYLIST_VOD, .disc_seq = 0 };
	char *text = NULL;

	(void)state;
	mkrec(&r[0], 0, T0, 1999000, "a", true);
	mkrec(&r[1], 1, T0 + 1999000, 2001000, "a", false);
	assert_int_equal(playlist_media(r, 2, uris, &o, &text, NULL), 0);
	assert_non_null(strstr(text, "#EXT-X-PLAYLIST-TYPE:VOD\n"));
	assert_non_null(strstr(text, "#EXT-X-TARGETDURATION:2\n"));
	assert_non_null(strstr(text, "#EXT-X-MEDIA-SEQUENCE:0\n"));
	assert_int_equal(count(text, "#EXT-X-DISCONTINUITY\n"), 0);
	assert_true(strcmp(text + strlen(text) - 15, "#EXT-X-ENDLIST\n") == 0);
	free(text);
}

static void
test_target_duration(void **state)
{
	struct store_record r[3];

	(void)state;
	mkrec(&r[0], 0, T0, 400000, "a", false);
	assert_int_equal(playlist_target_duration(r, 1), 1);       /* at least 1 */
	mkrec(&r[1], 1, T0, 6499999, "a", false);
	mkrec(&r[2], 2, T0, 4500000, "a", false);
	assert_int_equal(playlist_target_duration(r, 3), 6);
	r[1].duration_us = 6500000;
	assert_int_equal(playlist_target_duration(r, 3), 7);
}

static void
test_errors(void **state)
{
	struct store_record r[1];
	const char *uris[1] = { NULL };
	struct playlist_media_opts o = { .kind = PLAYLIST_LIVE };
	struct playlist_variant v = { .bandwidth = 1, .uri = NULL };
	char *text = (char *)1;

	(void)state;
	mkrec(&r[0], 0, T0, SEC, "a", false);
	assert_int_equal(playlist_media(r, 0, uris, &o, &text, NULL), -EINVAL);
	assert_null(text);
	assert_int_equal(playlist_media(r, 1, uris, &o, &text, NULL), -EINVAL);
	uris[0] = "x";
	r[0].duration_us = 0;
	assert_int_equal(playlist_media(r, 1, uris, &o, &text, NULL), -EINVAL);
	assert_int_equal(playlist_master(&v, 1, &text, NULL), -EINVAL);
	assert_int_equal(playlist_master(NULL, 0, &text, NULL), -EINVAL);
}

static void
test_master(void **state)
{
	struct playlist_variant v[3] = {
		{ .bandwidth = 2500000, .width = 1280, .height = 720, .codecs = "avc1.64001f,mp4a.40.2",
		  .uri = "720p/live.m3u8" },
		{ .bandwidth = 0, .uri = "src/live.m3u8" },
		{ .bandwidth = 2500000, .width = 1280, .height = 720, .codecs = "avc1.64001f,mp4a.40.2",
		  .uri = "720p/live.m3u8?pin=e2" },
	};
	char *text = NULL;

	(void)state;
	assert_int_equal(playlist_master(v, 3, &text, NULL), 0);
	assert_true(strncmp(text, "#EXTM3U\n#EXT-X-VERSION:3\n", 25) == 0);
	assert_non_null(strstr(text, "#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,"
	                             "CODECS=\"avc1.64001f,mp4a.40.2\"\n720p/live.m3u8\n"));
	assert_non_null(strstr(text, "#EXT-X-STREAM-INF:BANDWIDTH=1\nsrc/live.m3u8\n"));
	assert_non_null(strstr(text, "\n720p/live.m3u8?pin=e2\n"));
	assert_int_equal(count(text, "#EXT-X-STREAM-INF:"), 3);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boundary),
		cmocka_unit_test(test_media_live),
		cmocka_unit_test(test_media_vod),
		cmocka_unit_test(test_target_duration),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_master),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
