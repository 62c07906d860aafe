/*
 * fuzz_canvas_px.c — libFuzzer target for the Pixelflut parser.
 *
 * Feeds the input as a connection would deliver it (in two chunks split at
 * the first byte's value), parsing every complete line; checks that used
 * bytes always end at a newline, that PX_MORE only happens without one,
 * and that a parsed PX read-back/set survives format -> parse unchanged.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canvas/px_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_roundtrip(const struct px_cmd *c)
{
	char out[PX_REPLY_MAX];
	struct px_cmd d;
	size_t n, used;

	if (c->op != PX_OP_SET && c->op != PX_OP_GET)
		return;
	n = px_format_px(out, c->x, c->y, c->rgba >> 8);
	if (px_parse(out, n, &d, &used) != PX_DONE || used != n || d.x != c->x ||
	    d.y != c->y || d.op != PX_OP_SET || (d.rgba >> 8) != (c->rgba >> 8))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t split = size > 0 ? data[0] % (size + 1) : 0;
	size_t off = 0, avail, used;
	struct px_cmd c;
	enum px_result r;

	for (avail = split;; avail = size) {
		for (;;) {
			r = px_parse(buf + off, avail - off, &c, &used);
			if (r == PX_MORE) {
				if (used != 0 || memchr(buf + off, '\n', avail - off) != NULL)
					abort();
				break;
			}
			if (used == 0 || off + used > avail || buf[off + used - 1] != '\n')
				abort();
			if (r == PX_REJECT && c.reason == NULL)
				abort();
			if (r == PX_DONE)
				check_roundtrip(&c);
			off += used;
		}
		if (avail == size)
			break;
	}
	return 0;
}
