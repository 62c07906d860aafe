/*
 * fuzz_ingest_codecs.c — libFuzzer target for the H.264/AAC bitstream
 * readers in ingest/codecs.c (they see bytes from any camera or encoder).
 *
 * Invariants: no out-of-bounds access (ASan), output strings NUL-terminated
 * within their buffers, the Annex B iterator makes progress and stays in
 * bounds, parameter-set output never exceeds its buffer.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "ingest/codecs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[CODECS_ONE_MAX];
	uint8_t ps[256];
	size_t psn = 0, pos = 0, prev = 0;
	const uint8_t *nal;
	size_t nal_len;
	int guard = 0;

	if (codecs_h264(data, size, s, sizeof(s)) == 0)
		assert(memchr(s, '\0', sizeof(s)) != NULL && strncmp(s, "avc1.", 5) == 0);
	if (codecs_aac(data, size, size ? data[0] % 8 - 1 : -1, s, sizeof(s)) == 0)
		assert(memchr(s, '\0', sizeof(s)) != NULL && strncmp(s, "mp4a.40.", 8) == 0);
	if (codecs_h264_param_sets(data, size, ps, sizeof(ps), &psn) == 0)
		assert(psn <= sizeof(ps));
	while (codecs_annexb_next(data, size, &pos, &nal, &nal_len) == 0) {
		assert(pos > prev || (pos == prev && guard == 0));
		assert(nal >= data && nal + nal_len <= data + size);
		prev = pos;
		assert(++guard <= (int)size + 1);
	}
	return 0;
}
