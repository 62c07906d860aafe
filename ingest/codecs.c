/*
 * codecs.c — codec strings and parameter sets from raw bytes (see codecs.h).
 *
 * Model: stateless scanners over caller-owned buffers. Annex B units are
 * found by their 00 00 01 start codes (a 4-byte 00 00 00 01 is the same code
 * with a leading zero, trimmed from the previous unit).
 */
#include "ingest/codecs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define H264_NAL_SPS 7
#define H264_NAL_PPS 8
#define H264_SPS_MIN 4 /* header byte + profile, constraints, level */

static size_t
find_start(const uint8_t *p, size_t n, size_t from)
{
	size_t i;

	for (i = from; i + 3 <= n; i++) {
		if (p[i] == 0 && p[i + 1] == 0 && p[i + 2] == 1)
			return i;
	}
	return n;
}

int
codecs_annexb_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **nal,
                   size_t *nal_len)
{
	size_t s, e;

	s = find_start(p, n, *pos);
	if (s >= n)
		return -ENOENT;
	s += 3;
	e = find_start(p, n, s);
	*pos = e;
	/* trailing zeros belong to the next start code (or are padding) */
	while (e > s && p[e - 1] == 0)
		e--;
	*nal = p + s;
	*nal_len = e - s;
	return 0;
}

static int
format_avc1(const uint8_t *sps, size_t len, char *out, size_t outlen)
{
	int r;

	if (len < H264_SPS_MIN)
		return -EINVAL;
	r = snprintf(out, outlen, "avc1.%02x%02x%02x", sps[1], sps[2], sps[3]);
	return (r < 0 || (size_t)r >= outlen) ? -ENOSPC : 0;
}

int
codecs_h264(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	size_t pos = 0, len;
	const uint8_t *nal;

	if (p == NULL || n == 0)
		return -ENOENT;
	if (p[0] == 1) {
		/* avcC: version, profile, compat, level, ... */
		if (n < 4)
			return -EINVAL;
		return snprintf(out, outlen, "avc1.%02x%02x%02x", p[1], p[2], p[3]) >= (int)outlen
		               ? -ENOSPC
		               : 0;
	}
	while (codecs_annexb_next(p, n, &pos, &nal, &len) == 0) {
		if (len > 0 && (nal[0] & 0x1f) == H264_NAL_SPS)
			return format_avc1(nal, len, out, outlen);
	}
	return -ENOENT;
}

int
codecs_aac(const uint8_t *asc, size_t n, int profile, char *out, size_t outlen)
{
	int aot = 2, r;

	if (asc != NULL && n >= 1) {
		aot = asc[0] >> 3;
		if (aot == 31 && n >= 2) /* escape: 32 + next 6 bits */
			aot = 32 + (((asc[0] & 0x07) << 3) | (asc[1] >> 5));
	} else if (profile >= 0) {
		aot = profile + 1;
	}
	if (aot <= 0)
		aot = 2;
	r = snprintf(out, outlen, "mp4a.40.%d", aot);
	return (r < 0 || (size_t)r >= outlen) ? -ENOSPC : 0;
}

int
codecs_h264_param_sets(const uint8_t *p, size_t n, uint8_t *out, size_t outlen,
                       size_t *outn)
{
	static const uint8_t sc[4] = { 0, 0, 0, 1 };
	size_t pos = 0, len, w = 0;
	const uint8_t *nal;
	int have_sps = 0, have_pps = 0, t;

	while (codecs_annexb_next(p, n, &pos, &nal, &len) == 0) {
		if (len == 0)
			continue;
		t = nal[0] & 0x1f;
		if (t != H264_NAL_SPS && t != H264_NAL_PPS)
			continue;
		if (w + sizeof(sc) + len > outlen)
			return -ENOSPC;
		memcpy(out + w, sc, sizeof(sc));
		memcpy(out + w + sizeof(sc), nal, len);
		w += sizeof(sc) + len;
		if (t == H264_NAL_SPS)
			have_sps = 1;
		else
			have_pps = 1;
	}
	if (!have_sps || !have_pps)
		return -ENOENT;
	*outn = w;
	return 0;
}
