/* PGM and PNG decoding for single images (see image.h). Every length and size in a file is checked
 * before it is used, so a truncated or damaged file is refused with a message, never read past. */
#include "cnn_ddp/image.h"
#include "cnn_ddp/input_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* Largest image file read: far above any digit image, small enough that a mistake costs little. */
#define MAX_FILE_BYTES ((size_t)64 << 20)

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

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

/* ---- PNG ------------------------------------------------------------------------------------------ */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static int paeth(int a, int b, int c)
{
    int p = a + b - c, pa = p > a ? p - a : a - p, pb = p > b ? p - b : b - p, pc = p > c ? p - c : c - p;
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

/* Undoes the per-row filters in place; raw holds height rows of (1 filter byte + stride bytes). */
static cd_status unfilter(uint8_t *raw, size_t stride, int height, int bpp, const char *name, cd_error *err)
{
    const uint8_t *prev = NULL;
    for (int y = 0; y < height; y++) {
        uint8_t *row = raw + (size_t)y * (stride + 1);
        const int filter = row[0];
        uint8_t *cur = row + 1;
        for (size_t x = 0; x < stride; x++) {
            int a = x >= (size_t)bpp ? cur[x - (size_t)bpp] : 0;
            int b = prev ? prev[x] : 0;
            int c = prev && x >= (size_t)bpp ? prev[x - (size_t)bpp] : 0;
            int add;
            switch (filter) {
            case 0: add = 0; break;
            case 1: add = a; break;
            case 2: add = b; break;
            case 3: add = (a + b) / 2; break;
            case 4: add = paeth(a, b, c); break;
            default: return CD_FAIL(err, CD_E_INPUT, "%s: PNG row %d has unknown filter type %d (file is damaged)", name, y, filter);
            }
            cur[x] = (uint8_t)(cur[x] + add);
        }
        prev = cur;
    }
    return CD_OK;
}

/* Inflates the zlib stream into exactly `expected` bytes; more or less data is damage. */
static cd_status inflate_exact(const uint8_t *z, size_t zsize, uint8_t *dst, size_t expected, const char *name,
                               cd_error *err)
{
    z_stream s;
    memset(&s, 0, sizeof s);
    if (inflateInit(&s) != Z_OK) return CD_FAIL(err, CD_E_NOMEM, "%s: cannot start zlib inflate", name);
    s.next_in = (Bytef *)(uintptr_t)z;
    s.avail_in = (uInt)zsize;
    s.next_out = dst;
    s.avail_out = (uInt)(expected + 1); /* one spare byte tells "too much data" from "just enough" */
    int rc = inflate(&s, Z_FINISH);
    size_t got = s.total_out;
    cd_status st = CD_OK;
    if (rc == Z_STREAM_END && got == expected) {
        st = CD_OK;
    } else if (rc == Z_STREAM_END || (rc == Z_BUF_ERROR && s.avail_out == 0)) {
        st = CD_FAIL(err, CD_E_INPUT, "%s: PNG pixel data is %s than the header's size needs (file is damaged)", name,
                     got < expected ? "shorter" : "longer");
    } else if (rc == Z_BUF_ERROR) {
        st = CD_FAIL(err, CD_E_INPUT, "%s: PNG pixel data ends early: %zu of %zu bytes (file is truncated)", name, got,
                     expected);
    } else {
        st = CD_FAIL(err, CD_E_INPUT, "%s: PNG pixel data does not inflate: %s (file is damaged)", name,
                     s.msg ? s.msg : "zlib error");
    }
    inflateEnd(&s);
    return st;
}

typedef struct png_header {
    uint32_t width, height;
    int depth, colour, interlace;
} png_header;

static cd_status check_header(const uint8_t *d, uint32_t len, const char *name, png_header *h, cd_error *err)
{
    if (len != 13) return CD_FAIL(err, CD_E_INPUT, "%s: PNG IHDR has length %u, not 13 (file is damaged)", name, len);
    h->width = be32(d);
    h->height = be32(d + 4);
    h->depth = d[8];
    h->colour = d[9];
    h->interlace = d[12];
    if (d[10] != 0 || d[11] != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: PNG compression/filter method %d/%d is not standard (file is damaged)", name,
                       d[10], d[11]);
    if (h->colour == 3)
        return CD_FAIL(err, CD_E_INPUT, "%s: palette PNGs are not supported; save it as 8-bit greyscale or RGB", name);
    if (h->colour != 0 && h->colour != 2 && h->colour != 4 && h->colour != 6)
        return CD_FAIL(err, CD_E_INPUT, "%s: PNG colour type %d is invalid (file is damaged)", name, h->colour);
    if (h->depth != 8)
        return CD_FAIL(err, CD_E_INPUT, "%s: %d-bit PNGs are not supported; save it with 8 bits per channel", name,
                       h->depth);
    if (h->interlace != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: interlaced PNGs are not supported; save it without interlacing", name);
    if (h->width < 1 || h->height < 1 || h->width > CD_IMAGE_MAX_SIDE || h->height > CD_IMAGE_MAX_SIDE)
        return CD_FAIL(err, CD_E_INPUT, "%s: image size %ux%u is outside 1..%d per side", name, h->width, h->height,
                       CD_IMAGE_MAX_SIDE);
    return CD_OK;
}

/* Grey from the unfiltered rows: luma for colour, then alpha over black. */
static void to_grey(const uint8_t *raw, const png_header *h, int channels, uint8_t *out)
{
    const size_t stride = (size_t)h->width * (size_t)channels;
    for (uint32_t y = 0; y < h->height; y++) {
        const uint8_t *row = raw + (size_t)y * (stride + 1) + 1;
        for (uint32_t x = 0; x < h->width; x++) {
            const uint8_t *px = row + (size_t)x * (size_t)channels;
            unsigned grey, alpha = 255;
            if (h->colour == 0 || h->colour == 4) {
                grey = px[0];
                if (h->colour == 4) alpha = px[1];
            } else {
                grey = (299u * px[0] + 587u * px[1] + 114u * px[2] + 500u) / 1000u;
                if (h->colour == 6) alpha = px[3];
            }
            out[(size_t)y * h->width + x] = (uint8_t)((grey * alpha + 127u) / 255u);
        }
    }
}

static cd_status decode_png(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err)
{
    png_header h = {0};
    int have_header = 0, have_end = 0;
    size_t zsize = 0, pos = sizeof png_signature;
    uint8_t *z = NULL, *raw = NULL;
    cd_status st = CD_OK;
    /* Compressed data cannot be larger than the file that holds it. */
    z = cd_alloc_zeroed(size);
    if (!z) return CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for %zu bytes", name, size);
    while (st == CD_OK && !have_end) {
        if (size - pos < 12) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: PNG is truncated (no IEND chunk)", name);
            break;
        }
        const uint32_t len = be32(bytes + pos);
        const uint8_t *type = bytes + pos + 4, *data = bytes + pos + 8;
        char tname[5];
        for (int i = 0; i < 4; i++) tname[i] = (type[i] >= 'A' && type[i] <= 'z') ? (char)type[i] : '?';
        tname[4] = '\0';
        if (len > size - pos - 12) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: PNG chunk %s is truncated (%u bytes announced)", name, tname, len);
            break;
        }
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), type, (uInt)len + 4);
        if (crc != be32(data + len)) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: PNG chunk %s: CRC mismatch (file is damaged)", name, tname);
            break;
        }
        if (!have_header && memcmp(type, "IHDR", 4) != 0) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: PNG does not start with an IHDR chunk (file is damaged)", name);
        } else if (!memcmp(type, "IHDR", 4)) {
            if (have_header) st = CD_FAIL(err, CD_E_INPUT, "%s: PNG has two IHDR chunks (file is damaged)", name);
            else st = check_header(data, len, name, &h, err);
            have_header = 1;
        } else if (!memcmp(type, "IDAT", 4)) {
            memcpy(z + zsize, data, len);
            zsize += len;
        } else if (!memcmp(type, "IEND", 4)) {
            have_end = 1;
        } else if (!(type[0] & 0x20) && memcmp(type, "PLTE", 4) != 0) {
            /* An unknown critical chunk (upper-case first letter) changes how the image must be read. */
            st = CD_FAIL(err, CD_E_INPUT, "%s: PNG has an unknown critical chunk %s", name, tname);
        }
        pos += (size_t)len + 12;
    }
    if (st == CD_OK && zsize == 0) st = CD_FAIL(err, CD_E_INPUT, "%s: PNG has no IDAT image data (file is damaged)", name);
    const int channels = h.colour == 0 ? 1 : h.colour == 4 ? 2 : h.colour == 2 ? 3 : 4;
    const size_t stride = (size_t)h.width * (size_t)channels, expected = (size_t)h.height * (stride + 1);
    if (st == CD_OK) {
        raw = cd_alloc_zeroed(expected + 1);
        if (!raw) st = CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for %zu bytes", name, expected + 1);
    }
    if (st == CD_OK) st = inflate_exact(z, zsize, raw, expected, name, err);
    if (st == CD_OK) st = unfilter(raw, stride, (int)h.height, channels, name, err);
    if (st == CD_OK) st = alloc_image(out, name, (long)h.width, (long)h.height, err);
    if (st == CD_OK) to_grey(raw, &h, channels, out->pixels);
    cd_free(z);
    cd_free(raw);
    return st;
}

/* ---- entry points --------------------------------------------------------------------------------- */

cd_status cd_image_decode(const uint8_t *bytes, size_t size, const char *name, cd_image *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    if (size >= sizeof png_signature && !memcmp(bytes, png_signature, sizeof png_signature))
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
