/*
 * sbuf.c — growable text buffer.
 *
 * Model: p holds len bytes plus a NUL once anything was appended; cap is the
 * allocation. Growth doubles (starting at SBUF_MIN) up to SBUF_MAX.
 */
#include "origin/sbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SBUF_MIN 1024u

void
sbuf_init(struct sbuf *b)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->err = 0;
}

static int
sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t need, cap;
	char *np;

	if (b->err != 0)
		return b->err;
	if (extra > SBUF_MAX || b->len + extra + 1 > SBUF_MAX) {
		b->err = -E2BIG;
		return b->err;
	}
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : SBUF_MIN;
	while (cap < need)
		cap *= 2;
	if (cap > SBUF_MAX)
		cap = SBUF_MAX;
	np = realloc(b->p, cap);
	if (np == NULL) {
		b->err = -ENOMEM;
		return b->err;
	}
	b->p = np;
	b->cap = cap;
	return 0;
}

void
sbuf_append(struct sbuf *b, const char *s, size_t n)
{
	if (sbuf_reserve(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void
sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_append(b, s, strlen(s));
}

void
sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err != 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->err = -EINVAL;
		return;
	}
	if (sbuf_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int
sbuf_take(struct sbuf *b, char **out, size_t *len)
{
	int rc = b->err;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (rc == 0 && b->p == NULL)
		rc = sbuf_reserve(b, 0);
	if (rc == 0) {
		b->p[b->len] = '\0';
		*out = b->p;
		if (len != NULL)
			*len = b->len;
		b->p = NULL;
	}
	sbuf_free(b);
	return rc;
}

void
sbuf_free(struct sbuf *b)
{
	free(b->p);
	sbuf_init(b);
}
