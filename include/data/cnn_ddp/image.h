/* Single images for `cnn_ddp predict`: 8-bit PGM (P2 text, P5 binary) and any valid PNG (read by
 * libpng: every colour type, bit depths 1..16, palette, tRNS, interlaced), decoded to one grey byte
 * per pixel (16-bit samples are scaled to 8 bits by libpng).
 *
 * Colour becomes grey by the ITU-R BT.601 luma weights (0.299 R + 0.587 G + 0.114 B); an alpha channel
 * is composited over black, MNIST's background. Pixel values are kept as they are: MNIST digits are
 * white ink (255) on black (0), so a dark-on-light drawing must be inverted by the caller on request. */
#ifndef CNN_DDP_IMAGE_H
#define CNN_DDP_IMAGE_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"

/* Largest side accepted, so a damaged header cannot ask for a huge allocation. */
#define CD_IMAGE_MAX_SIDE 8192

typedef struct cd_image {
    int width, height;
    uint8_t *pixels; /* height * width grey values, row-major, 0 = black */
} cd_image;

/* Decodes a PGM or PNG held in memory; `name` labels messages. CD_E_INPUT with one line naming the
 * image and the problem ("digit.png: PNG is damaged or truncated: IDAT: CRC error"). */
cd_status cd_image_decode(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err);
/* Reads and decodes `path` (CD_E_INPUT also for a missing or unreadable file). */
cd_status cd_image_read(const char *path, cd_image *out, cd_error *err);
/* Writes the image as a binary PGM (P5, maxval 255). */
cd_status cd_image_write_pgm(const char *path, const cd_image *img, cd_error *err);
void cd_image_free(cd_image *img);

#endif
