/*
 * image.h — still images for the canvas: the framebuffer as PNG
 * (/snapshot.png, libavcodec's png encoder) and an image file as pixels
 * (--wipe-image: libavformat image2 demuxer + decoder + swscale).
 *
 * Pixels are 0x00RRGGBB uint32, row-major, w x h. Threading: reentrant.
 * Errors: 0 or negative errno (-ENOENT file missing, -EINVAL not an image
 * / bad size, -ENOSYS codec missing, -EIO, -ENOMEM).
 */
#ifndef SLUICE_CANVAS_IMAGE_H
#define SLUICE_CANVAS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Encode pixels as PNG into a malloc'd buffer (*png, *len); caller frees. */
int image_png_encode(const uint32_t *px, uint32_t w, uint32_t h, uint8_t **png, size_t *len);

/* Decode the first picture of path, scaled to w x h, into px (w*h). */
int image_load(const char *path, uint32_t w, uint32_t h, uint32_t *px);

#endif
