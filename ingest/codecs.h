/*
 * codecs.h — RFC 6381 codec strings and H.264 parameter sets from bitstream
 * bytes. Pure: no I/O, no allocation, no libav types; unit-tested directly.
 * Functions return 0 or a negative errno: -ENOENT (nothing usable in the
 * bytes), -ENOSPC (output buffer too small), -EINVAL (malformed).
 */
#ifndef SLUICE_INGEST_CODECS_H
#define SLUICE_INGEST_CODECS_H

#include <stddef.h>
#include <stdint.h>

#define CODECS_ONE_MAX 32 /* one codec entry, e.g. "avc1.64001f", with NUL */

/*
 * "avc1.PPCCLL" from the first SPS found in either an avcC record
 * (first byte 1) or Annex B bytes (start codes), e.g. extradata or a
 * keyframe packet.
 */
int codecs_h264(const uint8_t *p, size_t n, char *out, size_t outlen);

/*
 * "mp4a.40.N": N is the audio object type from an AudioSpecificConfig
 * (asc, may be NULL/0), else profile + 1 (libavcodec's AAC profile numbering),
 * else 2 (AAC-LC).
 */
int codecs_aac(const uint8_t *asc, size_t n, int profile, char *out, size_t outlen);

/*
 * Copy the SPS and PPS NAL units of Annex B bytes into out, each with a
 * 4-byte start code. *outn receives the length. -ENOENT when no SPS or no PPS.
 */
int codecs_h264_param_sets(const uint8_t *p, size_t n, uint8_t *out, size_t outlen,
                           size_t *outn);

/*
 * Iterate Annex B NAL units: from offset pos, find the next unit; set
 * nal and nal_len (without start code) and advance pos. 0, or -ENOENT at end.
 */
int codecs_annexb_next(const uint8_t *p, size_t n, size_t *pos, const uint8_t **nal,
                       size_t *nal_len);

#endif
