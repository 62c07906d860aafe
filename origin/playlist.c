/*
 * playlist.c — HLS media and multivariant playlist text.
 *
 * Model: stateless writers over arrays the caller owns. Each builds into an
 * sbuf and hands the text over. Times are int64 microseconds; EXTINF is
 * written with millisecond precision, PROGRAM-DATE-TIME in RFC 3339 UTC.
 */
#include "origin/playlist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/timeutil.h"
#include "origin/sbuf.h"

bool
playlist_boundary(const struct store_record *prev, const struct store_record *cur)
{
	int64_t gap;

	if (cur->discontinuity)
		return true;
	if (strcmp(prev->session, cur->session) != 0)
		return true;
	gap = cur->start_us - (prev->start_us + prev->duration_us);
	return gap > PLAYLIST_GAP_US || gap < -PLAYLIST_GAP_US;
}

static unsigned
round_secs(int64_t us)
{
	if (us <= 0)
		return 0;
	return (unsigned)((us + TIME_US_PER_SEC / 2) / TIME_US_PER_SEC);
}

unsigned
playlist_target_duration(const struct store_record *recs, size_t n)
{
	unsigned td = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned r = round_secs(recs[i].duration_us);
		if (r > td)
			td = r;
	}
	return td;
}

int
playlist_media(const struct store_record *recs, size_t n, const char *const *uris,
               const struct playlist_media_opts *opts, char **out, size_t *outlen)
{
	return playlist_media_holes(recs, n, uris, opts, out, outlen, NULL);
}

int
playlist_media_holes(const struct store_record *recs, size_t n, const char *const *uris,
                     const struct playlist_media_opts *opts, char **out, size_t *outlen,
                     size_t *holes)
{
	struct sbuf b;
	char when[TIME_RFC3339_LEN];

	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (recs == NULL || uris == NULL || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (uris[i] == NULL || recs[i].duration_us <= 0)
			return -EINVAL;
	}
	sbuf_init(&b);
	sbuf_printf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n#EXT-X-TARGETDURATION:%u\n",
	            PLAYLIST_VERSION, playlist_target_duration(recs, n));
	if (opts->kind == PLAYLIST_VOD)
		sbuf_puts(&b, "#EXT-X-PLAYLIST-TYPE:VOD\n");
	sbuf_printf(&b, "#EXT-X-MEDIA-SEQUENCE:%" PRIu64 "\n", recs[0].seq);
	sbuf_printf(&b, "#EXT-X-DISCONTINUITY-SEQUENCE:%" PRIu64 "\n", opts->disc_seq);
	for (size_t i = 0; i < n; i++) {
		const struct store_record *r = &recs[i];
		if (i > 0 && playlist_boundary(&recs[i - 1], r))
			sbuf_puts(&b, "#EXT-X-DISCONTINUITY\n");
		if (time_format_rfc3339(r->start_us, when, sizeof(when)) != 0)
			when[0] = '\0';
		if (when[0] != '\0')
			sbuf_printf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", when);
		sbuf_printf(&b, "#EXTINF:%" PRId64 ".%03" PRId64 ",\n",
		            (int64_t)(r->duration_us / TIME_US_PER_SEC),
		            (int64_t)((r->duration_us % TIME_US_PER_SEC) / 1000));
		if (holes != NULL)
			holes[i] = b.len;
		sbuf_puts(&b, uris[i]);
		sbuf_puts(&b, "\n");
	}
	if (opts->kind == PLAYLIST_VOD)
		sbuf_puts(&b, "#EXT-X-ENDLIST\n");
	return sbuf_take(&b, out, outlen);
}

int
playlist_master(const struct playlist_variant *v, size_t n, char **out, size_t *outlen)
{
	struct sbuf b;

	*out = NULL;
	if (outlen != NULL)
		*outlen = 0;
	if (v == NULL || n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (v[i].uri == NULL)
			return -EINVAL;
	}
	sbuf_init(&b);
	sbuf_printf(&b, "#EXTM3U\n#EXT-X-VERSION:%d\n", PLAYLIST_VERSION);
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%" PRIu64,
		            v[i].bandwidth ? v[i].bandwidth : 1);
		if (v[i].width > 0 && v[i].height > 0)
			sbuf_printf(&b, ",RESOLUTION=%" PRIu32 "x%" PRIu32, v[i].width, v[i].height);
		if (v[i].codecs != NULL && v[i].codecs[0] != '\0' &&
		    strchr(v[i].codecs, '"') == NULL)
			sbuf_printf(&b, ",CODECS=\"%s\"", v[i].codecs);
		sbuf_printf(&b, "\n%s\n", v[i].uri);
	}
	return sbuf_take(&b, out, outlen);
}
