/*
 * fb.c — framebuffer storage and whole-canvas operations.
 *
 * One calloc'd array of relaxed atomics (see fb.h for the intended races).
 */
#include <errno.h>
#include <stdlib.h>

#include "canvas/fb.h"

int
fb_new(uint32_t w, uint32_t h, struct fb **out)
{
	struct fb *f;

	if (w == 0 || h == 0 || w > FB_MAX_DIM || h > FB_MAX_DIM)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->px = calloc((size_t)w * h, sizeof(*f->px));
	if (f->px == NULL) {
		free(f);
		return -ENOMEM;
	}
	f->w = w;
	f->h = h;
	*out = f;
	return 0;
}

void
fb_free(struct fb **f)
{
	if (*f == NULL)
		return;
	free((void *)(*f)->px);
	free(*f);
	*f = NULL;
}

uint32_t
fb_blend_value(uint32_t dst, uint32_t rgba)
{
	uint32_t a = rgba & 0xffu, na = 255u - a, out = 0;
	int sh;

	for (sh = 16; sh >= 0; sh -= 8) {
		uint32_t s = (rgba >> (sh + 8)) & 0xffu, d = (dst >> sh) & 0xffu;
		uint32_t v = (s * a + d * na + 127u) / 255u;
		out |= v << sh;
	}
	return out;
}

void
fb_blend(struct fb *f, uint32_t x, uint32_t y, uint32_t rgba)
{
	fb_set(f, x, y, fb_blend_value(fb_get(f, x, y), rgba));
}

void
fb_snapshot(const struct fb *f, uint32_t *dst)
{
	size_t i, n = (size_t)f->w * f->h;

	for (i = 0; i < n; i++)
		dst[i] = atomic_load_explicit(&f->px[i], memory_order_relaxed);
}

void
fb_fill(struct fb *f, const uint32_t *src)
{
	size_t i, n = (size_t)f->w * f->h;

	for (i = 0; i < n; i++)
		atomic_store_explicit(&f->px[i], src != NULL ? src[i] & 0xffffffu : 0u,
		                      memory_order_relaxed);
}
