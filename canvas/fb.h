/*
 * fb.h — the shared framebuffer: width x height pixels, 0x00RRGGBB each.
 *
 * Threading: every pixel is an _Atomic uint32_t accessed with
 * memory_order_relaxed. Writers on different threads race on purpose (that
 * is Pixelflut: the last writer wins, a blend may read a pixel another
 * player is changing and lose that change); relaxed atomics make the race
 * well-defined with no cost on x86. Snapshots are not a consistent instant
 * of the whole canvas and need not be. Size is fixed for the fb's life.
 * Errors: 0 or negative errno (-EINVAL size, -ENOMEM).
 */
#ifndef SLUICE_CANVAS_FB_H
#define SLUICE_CANVAS_FB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define FB_MAX_DIM 8192

struct fb {
	uint32_t w, h;
	_Atomic uint32_t *px;   /* w * h, row-major */
};

int fb_new(uint32_t w, uint32_t h, struct fb **out);   /* all black */
void fb_free(struct fb **f);

static inline void
fb_set(struct fb *f, uint32_t x, uint32_t y, uint32_t xrgb)
{
	atomic_store_explicit(&f->px[(size_t)y * f->w + x], xrgb, memory_order_relaxed);
}

static inline uint32_t
fb_get(const struct fb *f, uint32_t x, uint32_t y)
{
	return atomic_load_explicit(&f->px[(size_t)y * f->w + x], memory_order_relaxed);
}

/* Blend 0xRRGGBBAA over the pixel: out = (src*a + dst*(255-a)) / 255 per channel. */
uint32_t fb_blend_value(uint32_t dst_xrgb, uint32_t rgba);
void fb_blend(struct fb *f, uint32_t x, uint32_t y, uint32_t rgba);

/* Copy all pixels into dst (w*h uint32, 0x00RRGGBB). */
void fb_snapshot(const struct fb *f, uint32_t *dst);
/* Overwrite all pixels from src (w*h), or with black when src is NULL. */
void fb_fill(struct fb *f, const uint32_t *src);

#endif
