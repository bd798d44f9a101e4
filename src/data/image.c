/* PGM and PNG decoding for single images (see image.h). Every length and size in a file is checked
 * before it is used, so a truncated or damaged file is refused with a message, never read past. */
#include "cnn_ddp/image.h"
#include "cnn_ddp/input_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <png.h>

/* Largest image file read: far above any digit image, small enough that a mistake costs little. */
#define MAX_FILE_BYTES ((size_t)64 << 20)


void cd_image_free(cd_image *img)
{
    if (!img) return;
    cd_free(img->pixels);
    img->pixels = NULL;
    img->width = img->height = 0;
}

static cd_status alloc_image(cd_image *out, const char *name, long width, long height, cd_error *err)
{
    if (width < 1 || height < 1 || width > CD_IMAGE_MAX_SIDE || height > CD_IMAGE_MAX_SIDE)
        return CD_FAIL(err, CD_E_INPUT, "%s: image size %ldx%ld is outside 1..%d per side", name, width, height,
                       CD_IMAGE_MAX_SIDE);
    out->width = (int)width;
    out->height = (int)height;
    CD_ALLOC(err, out->pixels, (size_t)width * (size_t)height);
    return CD_OK;
}

/* ---- PGM ------------------------------------------------------------------------------------------ */

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static int is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* Skips whitespace and '#' comments (to the end of the line). */
static void skip_space(cursor *c)
{
    while (c->p < c->end) {
        if (*c->p == '#') {
            while (c->p < c->end && *c->p != '\n') c->p++;
        } else if (is_space(*c->p)) {
            c->p++;
        } else {
            break;
        }
    }
}

/* A decimal number of at most 9 digits; returns -1 when there is none (end of file or a non-digit). */
static long read_number(cursor *c)
{
    skip_space(c);
    long v = 0;
    int digits = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++digits > 9) return -1;
        v = v * 10 + (*c->p++ - '0');
    }
    if (!digits) return -1;
    /* A number must end at whitespace, a comment or the end of the file ("12x" is not a number). */
    if (c->p < c->end && !is_space(*c->p) && *c->p != '#') return -1;
    return v;
}

static cd_status decode_pgm(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err)
{
    const int binary = bytes[1] == '5';
    cursor c = {bytes + 2, bytes + size};
    if (c.p < c.end && !is_space(*c.p) && *c.p != '#')
        return CD_FAIL(err, CD_E_INPUT, "%s: not a PGM image (bad magic number)", name);
    long width = read_number(&c), height = read_number(&c), maxval = read_number(&c);
    if (width < 0 || height < 0 || maxval < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: PGM header is truncated or damaged (expected width, height and maxval)",
                       name);
    if (maxval < 1 || maxval > 255)
        return CD_FAIL(err, CD_E_INPUT, "%s: PGM maxval %ld is not supported (only 8-bit images, maxval 1..255)", name,
                       maxval);
    CD_TRY(alloc_image(out, name, width, height, err));
    const size_t n = (size_t)width * (size_t)height;
    cd_status st = CD_OK;
    if (binary) {
        /* Exactly one whitespace byte separates the header from the pixels. */
        if (c.p >= c.end || !is_space(*c.p))
            st = CD_FAIL(err, CD_E_INPUT, "%s: PGM header is not followed by pixel data", name);
        else if ((size_t)(c.end - (c.p + 1)) < n)
            st = CD_FAIL(err, CD_E_INPUT, "%s: PGM is truncated: %zu of %zu pixel bytes", name,
                         (size_t)(c.end - (c.p + 1)), n);
        else
            memcpy(out->pixels, c.p + 1, n);
    } else {
        for (size_t i = 0; i < n && st == CD_OK; i++) {
            long v = read_number(&c);
            if (v < 0)
                st = CD_FAIL(err, CD_E_INPUT, "%s: PGM is truncated or damaged at pixel %zu of %zu", name, i, n);
            else if (v > maxval)
                st = CD_FAIL(err, CD_E_INPUT, "%s: PGM pixel %zu is %ld, above maxval %ld", name, i, v, maxval);
            else
                out->pixels[i] = (uint8_t)v;
        }
    }
    for (size_t i = 0; i < n && st == CD_OK; i++) {
        if (out->pixels[i] > maxval) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: PGM pixel %zu is %d, above maxval %ld", name, i, out->pixels[i], maxval);
            break;
        }
        /* Rescale to 0..255 with rounding so a maxval-15 image means the same as a maxval-255 one. */
        if (maxval != 255) out->pixels[i] = (uint8_t)((out->pixels[i] * 255 + maxval / 2) / maxval);
    }
    if (st != CD_OK) cd_image_free(out);
    return st;
}

/* ---- PNG (libpng) --------------------------------------------------------------------------------- */

/* libpng reads every valid PNG: each colour type, bit depth 1..16, palette, tRNS and Adam7 interlacing.
 * Transforms: png_set_expand (palette -> RGB, 1/2/4-bit grey -> 8-bit scaled to 0..255, tRNS -> alpha)
 * and png_set_scale_16 (16-bit -> 8-bit, v * 255 / 65535 rounded); no gamma correction, so sample values
 * mean what they mean in the file (as PGM's do). Grey is made here: BT.601 luma of the 8-bit values (a grey
 * source stays exact), alpha composited over black, MNIST's background. png_set_rgb_to_gray is not used:
 * it works in linear light, which would move grey-looking values away from what the file holds.
 *
 * Errors: libpng reports through on_error, which records the message and longjmps back into decode_png,
 * the one function that holds libpng state. The frames it skips are libpng's own; the only memory of
 * ours (the pixel buffer) is owned by the png_reader in decode_png's frame, volatile-qualified so its
 * value is defined after the longjmp, and freed on every path. */
typedef struct png_reader {
    const uint8_t *bytes;
    size_t size, pos;
    char msg[160];
    void *volatile buffer; /* row pointers then pixels; freed by decode_png */
} png_reader;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_reader *r = png_get_error_ptr(png);
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    png_longjmp(png, 1);
}

/* Warnings (a damaged ancillary chunk, which libpng skips) do not stop a digit from being read. */
static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep out, size_t n)
{
    png_reader *r = png_get_io_ptr(png);
    if (n > r->size - r->pos) png_error(png, "file is truncated");
    memcpy(out, r->bytes + r->pos, n);
    r->pos += n;
}

static void png_to_grey(uint8_t *const *rows, size_t width, size_t height, size_t channels, uint8_t *out)
{
    for (size_t y = 0; y < height; y++) {
        for (size_t x = 0; x < width; x++) {
            const uint8_t *p = rows[y] + x * channels;
            const unsigned grey = channels >= 3 ? (299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u : p[0];
            const unsigned alpha = channels == 2 || channels == 4 ? p[channels - 1] : 255u;
            out[y * width + x] = (uint8_t)((grey * alpha + 127u) / 255u);
        }
    }
}

static cd_status decode_png(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err)
{
    png_reader r = {.bytes = bytes, .size = size, .buffer = NULL};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for the PNG reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        cd_free(r.buffer);
        cd_image_free(out);
        return CD_FAIL(err, CD_E_INPUT, "%s: PNG is damaged or truncated: %s", name, r.msg);
    }
    png_set_read_fn(png, &r, on_png_read);
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (width > CD_IMAGE_MAX_SIDE || height > CD_IMAGE_MAX_SIDE) {
        png_destroy_read_struct(&png, &info, NULL);
        return CD_FAIL(err, CD_E_INPUT, "%s: image size %ux%u is outside 1..%d per side", name, (unsigned)width,
                       (unsigned)height, CD_IMAGE_MAX_SIDE);
    }
    png_set_expand(png);
    png_set_scale_16(png);
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const size_t channels = png_get_channels(png, info), stride = png_get_rowbytes(png, info);
    if (stride != (size_t)width * channels) png_error(png, "unexpected row layout after the 8-bit transforms");
    r.buffer = cd_alloc_zeroed((size_t)height * (sizeof(uint8_t *) + stride));
    if (!r.buffer) png_error(png, "out of memory for the pixels");
    uint8_t **rows = r.buffer;
    for (size_t y = 0; y < height; y++) rows[y] = (uint8_t *)(rows + height) + y * stride;
    png_read_image(png, rows);
    png_read_end(png, NULL); /* checks the chunks after the pixels, up to IEND */
    cd_status st = alloc_image(out, name, (long)width, (long)height, err);
    if (st == CD_OK) png_to_grey(rows, width, height, channels, out->pixels);
    png_destroy_read_struct(&png, &info, NULL);
    cd_free(r.buffer);
    return st;
}

/* ---- entry points --------------------------------------------------------------------------------- */

cd_status cd_image_decode(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    if (size >= 8 && !png_sig_cmp(bytes, 0, 8))
        return decode_png(bytes, size, name, out, err);
    if (size >= 2 && bytes[0] == 'P' && (bytes[1] == '2' || bytes[1] == '5')) return decode_pgm(bytes, size, name, out, err);
    if (size >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '7')
        return CD_FAIL(err, CD_E_INPUT, "%s: Netpbm type P%c is not supported (only greyscale PGM, P2 or P5)", name,
                       bytes[1]);
    if (size == 0) return CD_FAIL(err, CD_E_INPUT, "%s: empty file", name);
    return CD_FAIL(err, CD_E_INPUT, "%s: not a PGM or PNG image", name);
}

cd_status cd_image_read(const char *path, cd_image *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    CD_TRY(cd_input_file_check(path, err)); /* a FIFO would block fopen() */
    FILE *f = fopen(path, "rb");
    if (!f) return CD_FAIL(err, CD_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t cap = 0, size = 0;
    cd_status st = CD_OK;
    for (;;) {
        if (size == cap) {
            if (cap >= MAX_FILE_BYTES) {
                st = CD_FAIL(err, CD_E_INPUT, "%s: larger than %zu MiB: not a digit image", path, MAX_FILE_BYTES >> 20);
                break;
            }
            size_t grown = cap ? cap * 2 : 64 * 1024;
            uint8_t *next = cd_alloc_zeroed(grown);
            if (!next) {
                st = CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for %zu bytes", path, grown);
                break;
            }
            if (size) memcpy(next, buf, size);
            cd_free(buf);
            buf = next;
            cap = grown;
        }
        size_t got = fread(buf + size, 1, cap - size, f);
        size += got;
        if (got == 0) {
            if (ferror(f)) st = CD_FAIL(err, CD_E_INPUT, "%s: cannot read: %s", path, strerror(errno));
            break;
        }
    }
    fclose(f);
    if (st == CD_OK) st = cd_image_decode(buf, size, path, out, err);
    cd_free(buf);
    return st;
}

cd_status cd_image_write_pgm(const char *path, const cd_image *img, cd_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f) return CD_FAIL(err, CD_E_IO, "%s: cannot open for writing: %s", path, strerror(errno));
    const size_t n = (size_t)img->width * (size_t)img->height;
    int ok = fprintf(f, "P5\n%d %d\n255\n", img->width, img->height) > 0 && fwrite(img->pixels, 1, n, f) == n;
    int saved = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (!ok) return CD_FAIL(err, CD_E_IO, "%s: cannot write: %s", path, strerror(saved));
    return CD_OK;
}
