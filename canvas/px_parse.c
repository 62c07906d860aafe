/*
 * px_parse.c — Pixelflut lines to commands.
 *
 * Model: find the newline with memchr (the only scan over the bytes that is
 * not also the parse), then walk the line once with a cursor: keyword,
 * decimal words, hex word, end. Hex digits go through a 256-entry constant
 * table. No copies, no libc number parsing, no locale.
 */
#include <string.h>

#include "canvas/px_parse.h"

#define HEX_BAD 0xff

static const uint8_t hexval[256] = {
	['0'] = 0 + 1, ['1'] = 1 + 1, ['2'] = 2 + 1, ['3'] = 3 + 1, ['4'] = 4 + 1,
	['5'] = 5 + 1, ['6'] = 6 + 1, ['7'] = 7 + 1, ['8'] = 8 + 1, ['9'] = 9 + 1,
	['a'] = 10 + 1, ['b'] = 11 + 1, ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1,
	['f'] = 15 + 1, ['A'] = 10 + 1, ['B'] = 11 + 1, ['C'] = 12 + 1, ['D'] = 13 + 1,
	['E'] = 14 + 1, ['F'] = 15 + 1,
}; /* value + 1; 0 = not a hex digit */

static const char help_text[] =
	"sluice canvas (Pixelflut). Commands, one per line:\n"
	"PX x y rrggbb | PX x y rrggbbaa (blend) | PX x y ww (grey) -- paint\n"
	"PX x y -- read back: PX x y rrggbb\n"
	"SIZE -- SIZE w h\n"
	"OFFSET x y -- add to later PX coordinates on this connection\n"
	"HELP -- this text\n";

_Static_assert(sizeof(help_text) < PX_REPLY_MAX, "HELP must fit a reply slot");

static inline int
is_sep(char c)
{
	return c == ' ' || c == '\t';
}

static inline const char *
skip_sep(const char *p, const char *end)
{
	while (p < end && is_sep(*p))
		p++;
	return p;
}

/* Decimal word at *pp; returns 0 and advances, or -1. */
static inline int
parse_dec(const char **pp, const char *end, uint32_t *out)
{
	const char *p = *pp;
	uint32_t v = 0;
	int n = 0;

	while (p < end && (unsigned)(*p - '0') < 10) {
		if (++n > PX_COORD_DIGITS)
			return -1;
		v = v * 10 + (uint32_t)(*p - '0');
		p++;
	}
	if (n == 0 || (p < end && !is_sep(*p)))
		return -1;
	*pp = p;
	*out = v;
	return 0;
}

static enum px_result
reject(struct px_cmd *cmd, const char *why)
{
	cmd->reason = why;
	return PX_REJECT;
}

/* Hex word [p, end) of length 2, 6 or 8 (end = end of word). */
static enum px_result
parse_colour(const char *p, size_t n, struct px_cmd *cmd)
{
	uint32_t v = 0;
	size_t i;

	if (n != 2 && n != 6 && n != 8)
		return reject(cmd, "colour must be ww, rrggbb or rrggbbaa");
	for (i = 0; i < n; i++) {
		uint8_t d = hexval[(unsigned char)p[i]];
		if (d == 0)
			return reject(cmd, "colour is not hex");
		v = (v << 4) | (uint32_t)(d - 1);
	}
	if (n == 2) {
		cmd->op = PX_OP_SET;
		cmd->rgba = (v << 24) | (v << 16) | (v << 8) | 0xffu;
	} else if (n == 6) {
		cmd->op = PX_OP_SET;
		cmd->rgba = (v << 8) | 0xffu;
	} else {
		cmd->op = (v & 0xffu) == 0xffu ? PX_OP_SET : PX_OP_BLEND;
		cmd->rgba = v;
	}
	return PX_DONE;
}

static enum px_result
parse_line(const char *p, const char *end, struct px_cmd *cmd)
{
	const char *w;

	if (end > p && end[-1] == '\r')
		end--;
	p = skip_sep(p, end);
	if (end - p >= 2 && p[0] == 'P' && p[1] == 'X' && (end - p == 2 || is_sep(p[2]))) {
		p = skip_sep(p + 2, end);
		if (parse_dec(&p, end, &cmd->x) < 0)
			return reject(cmd, "bad x");
		p = skip_sep(p, end);
		if (parse_dec(&p, end, &cmd->y) < 0)
			return reject(cmd, "bad y");
		p = skip_sep(p, end);
		if (p == end) {
			cmd->op = PX_OP_GET;
			cmd->rgba = 0;
			return PX_DONE;
		}
		w = p;
		while (p < end && !is_sep(*p))
			p++;
		if (skip_sep(p, end) != end)
			return reject(cmd, "trailing words");
		return parse_colour(w, (size_t)(p - w), cmd);
	}
	w = p;
	while (p < end && !is_sep(*p))
		p++;
	if (p - w == 4 && memcmp(w, "SIZE", 4) == 0) {
		cmd->op = PX_OP_SIZE;
	} else if (p - w == 4 && memcmp(w, "HELP", 4) == 0) {
		cmd->op = PX_OP_HELP;
	} else if (p - w == 6 && memcmp(w, "OFFSET", 6) == 0) {
		p = skip_sep(p, end);
		if (parse_dec(&p, end, &cmd->x) < 0)
			return reject(cmd, "bad offset x");
		p = skip_sep(p, end);
		if (parse_dec(&p, end, &cmd->y) < 0)
			return reject(cmd, "bad offset y");
		cmd->op = PX_OP_OFFSET;
	} else {
		return reject(cmd, p == w ? "empty line" : "unknown command");
	}
	if (skip_sep(p, end) != end)
		return reject(cmd, "trailing words");
	return PX_DONE;
}

enum px_result
px_parse(const char *buf, size_t len, struct px_cmd *cmd, size_t *used)
{
	const char *nl = memchr(buf, '\n', len);

	*used = 0;
	cmd->reason = NULL;
	if (nl == NULL)
		return PX_MORE;
	*used = (size_t)(nl - buf) + 1;
	return parse_line(buf, nl, cmd);
}

const char *
px_help_text(size_t *len)
{
	*len = sizeof(help_text) - 1;
	return help_text;
}

static size_t
put_dec(char *out, uint32_t v)
{
	char tmp[10];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

size_t
px_format_px(char *out, uint32_t x, uint32_t y, uint32_t xrgb)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int i;

	memcpy(out, "PX ", 3);
	n = 3;
	n += put_dec(out + n, x);
	out[n++] = ' ';
	n += put_dec(out + n, y);
	out[n++] = ' ';
	for (i = 20; i >= 0; i -= 4)
		out[n++] = hex[(xrgb >> i) & 0xfu];
	out[n++] = '\n';
	return n;
}

size_t
px_format_size(char *out, uint32_t w, uint32_t h)
{
	size_t n;

	memcpy(out, "SIZE ", 5);
	n = 5;
	n += put_dec(out + n, w);
	out[n++] = ' ';
	n += put_dec(out + n, h);
	out[n++] = '\n';
	return n;
}
