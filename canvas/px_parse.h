/*
 * px_parse.h — the Pixelflut line parser (DESIGN.md "Canvas").
 *
 * Pure: no I/O, no allocation, no state between calls. Incremental and
 * zero-copy: px_parse() looks at the bytes a connection has buffered and
 * either recognises one complete command (PX_DONE), finds no newline yet
 * (PX_MORE: call again with more bytes; nothing is consumed), or rejects
 * the line (PX_REJECT, with a reason; the line is consumed, the caller
 * counts it and goes on). Lines end with "\n"; a "\r" before it is ignored.
 * Words are separated by one or more spaces or tabs.
 *
 *   PX x y rrggbb     set        (PX_OP_SET,   rgba = 0xRRGGBBff)
 *   PX x y rrggbbaa   blend      (PX_OP_BLEND, rgba = 0xRRGGBBAA; alpha 0xff acts as set)
 *   PX x y ww         grey       (PX_OP_SET,   rgba = 0xWWWWWWff)
 *   PX x y            read back  (PX_OP_GET)
 *   SIZE              (PX_OP_SIZE)       HELP   (PX_OP_HELP)
 *   OFFSET x y        (PX_OP_OFFSET)
 *
 * Coordinates are decimal, at most PX_COORD_DIGITS digits (so never
 * overflow); range checks against the canvas are the caller's. A buffer
 * holding more than PX_LINE_MAX bytes without a newline is the caller's cue
 * to close the connection (px_parse() keeps answering PX_MORE).
 *
 * Threading: reentrant.
 */
#ifndef SLUICE_CANVAS_PX_PARSE_H
#define SLUICE_CANVAS_PX_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define PX_LINE_MAX 4096     /* bytes without newline before the connection closes */
#define PX_COORD_DIGITS 7    /* at most 9,999,999 */
#define PX_REPLY_MAX 512     /* largest reply (HELP) in bytes */

enum px_result { PX_MORE = 0, PX_DONE = 1, PX_REJECT = 2 };

enum px_op { PX_OP_SET = 1, PX_OP_BLEND, PX_OP_GET, PX_OP_SIZE, PX_OP_HELP, PX_OP_OFFSET };

struct px_cmd {
	enum px_op op;
	uint32_t x, y;
	uint32_t rgba;          /* 0xRRGGBBAA */
	const char *reason;     /* on PX_REJECT: static text */
};

/*
 * Parse one line from buf[0, len). PX_DONE and PX_REJECT set *used to the
 * bytes consumed (through the newline); PX_MORE leaves *used 0.
 */
enum px_result px_parse(const char *buf, size_t len, struct px_cmd *cmd, size_t *used);

/* The HELP reply text (static, ends with "\n", shorter than PX_REPLY_MAX). */
const char *px_help_text(size_t *len);

/*
 * Format "PX x y rrggbb\n" into out (>= PX_REPLY_MAX bytes); returns the length.
 * xrgb is 0x00RRGGBB.
 */
size_t px_format_px(char *out, uint32_t x, uint32_t y, uint32_t xrgb);
/* "SIZE w h\n"; returns the length. */
size_t px_format_size(char *out, uint32_t w, uint32_t h);

#endif
