/*
 * sbuf.h — a growable text buffer for building responses and playlists.
 *
 * Owned by its user, one thread at a time. Appends never fail loudly: the
 * first allocation failure or size-limit hit is remembered in err and later
 * appends are ignored, so a builder checks once at the end (sbuf_take).
 * Limit: SBUF_MAX bytes per buffer.
 */
#ifndef SLUICE_ORIGIN_SBUF_H
#define SLUICE_ORIGIN_SBUF_H

#include <stddef.h>

#define SBUF_MAX (256u * 1024 * 1024)   /* bytes; beyond this err = -E2BIG */

struct sbuf {
	char *p;
	size_t len;
	size_t cap;
	int err;                            /* 0 or first negative errno */
};

void sbuf_init(struct sbuf *b);
void sbuf_append(struct sbuf *b, const char *s, size_t n);
void sbuf_puts(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Hand over the NUL-terminated text (*out, caller frees) and its length;
 * the buffer is reset. Returns b->err (then *out = NULL, text freed).
 */
int sbuf_take(struct sbuf *b, char **out, size_t *len);
void sbuf_free(struct sbuf *b);

#endif
