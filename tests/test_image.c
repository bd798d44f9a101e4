/* Image decoding for `predict`: PGM P2/P5 and PNG (read by libpng: grey, grey+alpha, RGB, RGBA, every row
 * filter, 16-bit, 1/2/4-bit, palette with tRNS, Adam7 interlacing) give known pixels; damaged and truncated
 * files are refused with a message naming the file and the problem. Valid PNGs of every kind are written
 * here with libpng's writer; damaged ones are built from zlib's compress and hand-made chunks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>
#include <zlib.h>

#include "cnn_ddp/image.h"
#include "test_support.h"

/* ---- building test files -------------------------------------------------------------------------- */

typedef struct buf {
    uint8_t data[1 << 16];
    size_t n;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->data);
    memcpy(b->data + b->n, p, n);
    b->n += n;
}

static void put32(buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}

static void chunk(buf *b, const char *type, const uint8_t *data, uint32_t len)
{
    put32(b, len);
    size_t start = b->n;
    put(b, type, 4);
    if (len) put(b, data, len);
    put32(b, (uint32_t)crc32(0L, b->data + start, (uInt)len + 4));
}

/* A PNG of `raw` (height rows of 1 filter byte + width*channels bytes), colour type `colour`. */
static void make_png(buf *b, int width, int height, int colour, int depth, int interlace, const uint8_t *raw,
                     size_t raw_size)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    b->n = 0;
    put(b, sig, 8);
    uint8_t ihdr[13] = {0};
    for (int i = 0; i < 4; i++) {
        ihdr[i] = (uint8_t)((uint32_t)width >> (24 - 8 * i));
        ihdr[4 + i] = (uint8_t)((uint32_t)height >> (24 - 8 * i));
    }
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)colour;
    ihdr[12] = (uint8_t)interlace;
    chunk(b, "IHDR", ihdr, 13);
    chunk(b, "tEXt", (const uint8_t *)"Comment\0test", 12); /* ancillary: skipped */
    uint8_t z[8192];
    uLongf zn = sizeof z;
    assert_int_equal(compress(z, &zn, raw, (uLong)raw_size), Z_OK);
    /* Two IDAT chunks: the stream is their concatenation. */
    chunk(b, "IDAT", z, (uint32_t)(zn / 2));
    chunk(b, "IDAT", z + zn / 2, (uint32_t)(zn - zn / 2));
    chunk(b, "IEND", NULL, 0);
}

/* libpng's writer into memory. */
static void write_cb(png_structp png, png_bytep data, size_t n) { put((buf *)png_get_io_ptr(png), data, n); }
static void flush_cb(png_structp png) { (void)png; }

/* A valid PNG of `samples` (height * width * channels values in the file's own range, 0..2^depth-1),
 * written by libpng with the given colour type, bit depth and interlacing; a palette (and tRNS) for
 * colour type 3. */
static void write_png(buf *b, int width, int height, int colour, int depth, int interlace, const unsigned *samples,
                      const png_color *palette, int n_palette, const png_byte *trns, int n_trns)
{
    const int channels = colour == 0 || colour == 3 ? 1 : colour == 4 ? 2 : colour == 2 ? 3 : 4;
    const size_t bytes_per = depth == 16 ? 2 : 1, stride = (size_t)width * (size_t)channels * bytes_per;
    static png_byte rows[64][64 * 8];
    png_bytep row_ptrs[64];
    assert_true(height <= 64 && stride <= sizeof rows[0]);
    for (int y = 0; y < height; y++) {
        for (int i = 0; i < width * channels; i++) {
            unsigned v = samples[(size_t)y * (size_t)width * (size_t)channels + (size_t)i];
            if (depth == 16) {
                rows[y][2 * i] = (png_byte)(v >> 8);
                rows[y][2 * i + 1] = (png_byte)v;
            } else {
                rows[y][i] = (png_byte)v;
            }
        }
        row_ptrs[y] = rows[y];
    }
    b->n = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng could not write the test PNG");
    png_set_write_fn(png, b, write_cb, flush_cb);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, depth, colour,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    if (trns) png_set_tRNS(png, info, trns, n_trns, NULL);
    png_write_info(png, info);
    if (depth < 8) png_set_packing(png); /* one sample per byte in, packed in the file */
    png_write_image(png, row_ptrs);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
}

static void expect_pixels(const buf *b, int width, int height, const uint8_t *want, const char *what)
{
    cd_image img;
    cd_error err = {0};
    cd_status st = cd_image_decode(b->data, b->n, "t.png", &img, &err);
    if (st != CD_OK) fail_msg("%s: %s", what, err.msg);
    if (img.width != width || img.height != height)
        fail_msg("%s: %dx%d, expected %dx%d", what, img.width, img.height, width, height);
    for (int i = 0; i < width * height; i++)
        if (img.pixels[i] != want[i]) fail_msg("%s: pixel %d is %d, expected %d", what, i, img.pixels[i], want[i]);
    cd_image_free(&img);
}

static cd_status decode(const buf *b, cd_image *img, cd_error *err)
{
    memset(err, 0, sizeof *err);
    return cd_image_decode(b->data, b->n, "t.png", img, err);
}

static void expect_refused(const uint8_t *data, size_t n, const char *reason)
{
    cd_image img;
    cd_error err = {0};
    cd_status st = cd_image_decode(data, n, "bad.img", &img, &err);
    if (st != CD_E_INPUT) fail_msg("expected CD_E_INPUT for '%s', got %d (%s)", reason, (int)st, err.msg);
    if (strncmp(err.msg, "bad.img: ", 9) != 0 || !strstr(err.msg, reason))
        fail_msg("expected 'bad.img: ...%s...', got '%s'", reason, err.msg);
    assert_null(img.pixels);
}

/* A 3x2 grey pattern. */
static const uint8_t grey6[6] = {0, 128, 255, 7, 200, 64};

/* ---- PGM ------------------------------------------------------------------------------------------ */

static void test_pgm_p5(void **state)
{
    (void)state;
    buf b = {.n = 0};
    const char *hdr = "P5\n# a comment\n3 2\n255\n";
    put(&b, hdr, strlen(hdr));
    put(&b, grey6, 6);
    cd_image img;
    cd_error err = {0};
    assert_int_equal(cd_image_decode(b.data, b.n, "t.pgm", &img, &err), CD_OK);
    assert_int_equal(img.width, 3);
    assert_int_equal(img.height, 2);
    assert_memory_equal(img.pixels, grey6, 6);
    cd_image_free(&img);
    /* A pixel byte that is whitespace right after the header is data, not separator. */
    b.n = 0;
    put(&b, "P5 1 1 255\n\n", 12);
    assert_int_equal(cd_image_decode(b.data, b.n, "t.pgm", &img, &err), CD_OK);
    assert_int_equal(img.pixels[0], '\n');
    cd_image_free(&img);
}

static void test_pgm_p2_and_maxval(void **state)
{
    (void)state;
    const char *text = "P2\n3 2\n255\n0 128 255\n7 200 64\n";
    cd_image img;
    cd_error err = {0};
    assert_int_equal(cd_image_decode((const uint8_t *)text, strlen(text), "t.pgm", &img, &err), CD_OK);
    assert_int_equal(img.width, 3);
    assert_int_equal(img.height, 2);
    assert_memory_equal(img.pixels, grey6, 6);
    cd_image_free(&img);
    /* maxval 15 is rescaled to 0..255 */
    const char *four = "P2 2 1 15 0 15";
    assert_int_equal(cd_image_decode((const uint8_t *)four, strlen(four), "t.pgm", &img, &err), CD_OK);
    assert_int_equal(img.pixels[0], 0);
    assert_int_equal(img.pixels[1], 255);
    cd_image_free(&img);
}

static void test_pgm_refusals(void **state)
{
    (void)state;
    const char *trunc = "P5\n28 28\n255\nabc";
    expect_refused((const uint8_t *)trunc, strlen(trunc), "truncated: 3 of 784 pixel bytes");
    const char *p2short = "P2\n2 2\n255\n1 2 3";
    expect_refused((const uint8_t *)p2short, strlen(p2short), "truncated or damaged at pixel 3 of 4");
    const char *over = "P2\n2 1\n100\n1 101";
    expect_refused((const uint8_t *)over, strlen(over), "pixel 1 is 101, above maxval 100");
    const char *wide = "P5\n2 1\n65535\n\1\1\1\1";
    expect_refused((const uint8_t *)wide, strlen(wide), "maxval 65535 is not supported");
    const char *nohdr = "P5\n28";
    expect_refused((const uint8_t *)nohdr, strlen(nohdr), "PGM header is truncated or damaged");
    const char *huge = "P5\n99999 99999\n255\n";
    expect_refused((const uint8_t *)huge, strlen(huge), "image size 99999x99999 is outside");
    const char *ppm = "P6\n1 1\n255\nabc";
    expect_refused((const uint8_t *)ppm, strlen(ppm), "type P6 is not supported");
    expect_refused((const uint8_t *)"GIF89a", 6, "not a PGM or PNG image");
    expect_refused((const uint8_t *)"", 0, "empty file");
}

/* ---- PNG ------------------------------------------------------------------------------------------ */

/* Grey 3x2 with every filter type on some row gives back the same pixels. */
static void test_png_grey_filters(void **state)
{
    (void)state;
    /* Row 0 unfiltered. Row 1 stored with each filter in turn, encoded here by hand. */
    const uint8_t *r0 = grey6, *r1 = grey6 + 3;
    for (int f = 0; f <= 4; f++) {
        uint8_t raw[8] = {0, r0[0], r0[1], r0[2], (uint8_t)f, 0, 0, 0};
        for (int x = 0; x < 3; x++) {
            int a = x ? r1[x - 1] : 0, up = r0[x], c = x ? r0[x - 1] : 0, pred = 0;
            if (f == 1) pred = a;
            if (f == 2) pred = up;
            if (f == 3) pred = (a + up) / 2;
            if (f == 4) {
                int p = a + up - c, pa = abs(p - a), pb = abs(p - up), pc = abs(p - c);
                pred = pa <= pb && pa <= pc ? a : pb <= pc ? up : c;
            }
            raw[5 + x] = (uint8_t)(r1[x] - pred);
        }
        buf b;
        make_png(&b, 3, 2, 0, 8, 0, raw, sizeof raw);
        cd_image img;
        cd_error err;
        if (decode(&b, &img, &err) != CD_OK) fail_msg("filter %d: %s", f, err.msg);
        assert_int_equal(img.width, 3);
        assert_int_equal(img.height, 2);
        assert_memory_equal(img.pixels, grey6, 6);
        cd_image_free(&img);
    }
}

/* RGB, RGBA and grey+alpha become grey by BT.601 luma, alpha over black. */
static void test_png_colour(void **state)
{
    (void)state;
    const uint8_t rgb[1 + 4 * 3] = {0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    buf b;
    make_png(&b, 4, 1, 2, 8, 0, rgb, sizeof rgb);
    cd_image img;
    cd_error err;
    assert_int_equal(decode(&b, &img, &err), CD_OK);
    const uint8_t want_rgb[4] = {76, 150, 29, 255}; /* 0.299, 0.587, 0.114 of 255, rounded */
    assert_memory_equal(img.pixels, want_rgb, 4);
    cd_image_free(&img);

    const uint8_t rgba[1 + 3 * 4] = {0, 255, 255, 255, 255, 255, 255, 255, 0, 200, 200, 200, 128};
    make_png(&b, 3, 1, 6, 8, 0, rgba, sizeof rgba);
    assert_int_equal(decode(&b, &img, &err), CD_OK);
    const uint8_t want_rgba[3] = {255, 0, 100};
    assert_memory_equal(img.pixels, want_rgba, 3);
    cd_image_free(&img);

    const uint8_t ga[1 + 2 * 2] = {0, 255, 255, 90, 0};
    make_png(&b, 2, 1, 4, 8, 0, ga, sizeof ga);
    assert_int_equal(decode(&b, &img, &err), CD_OK);
    assert_int_equal(img.pixels[0], 255);
    assert_int_equal(img.pixels[1], 0);
    cd_image_free(&img);
}

/* What a drawing tool writes: 16-bit grey, 1/2/4-bit grey, palette with tRNS, RGB(A) 16-bit, interlaced. */
static void test_png_libpng_kinds(void **state)
{
    (void)state;
    buf b;
    /* 16-bit grey: libpng scales to 8 bits (v * 255 / 65535, rounded). */
    const unsigned g16[6] = {0, 0x8080, 0xffff, 0x0707, 0xc8c8, 0x4040};
    write_png(&b, 3, 2, 0, 16, 0, g16, NULL, 0, NULL, 0);
    expect_pixels(&b, 3, 2, grey6, "16-bit grey");
    /* 1-bit grey: 0 and 1 are black and white. */
    const unsigned g1[10] = {0, 1, 1, 0, 1, 1, 0, 0, 0, 1};
    const uint8_t want1[10] = {0, 255, 255, 0, 255, 255, 0, 0, 0, 255};
    write_png(&b, 5, 2, 0, 1, 0, g1, NULL, 0, NULL, 0);
    expect_pixels(&b, 5, 2, want1, "1-bit grey");
    /* 2- and 4-bit grey are scaled to 0..255. */
    const unsigned g2[4] = {0, 1, 2, 3};
    const uint8_t want2[4] = {0, 85, 170, 255};
    write_png(&b, 4, 1, 0, 2, 0, g2, NULL, 0, NULL, 0);
    expect_pixels(&b, 4, 1, want2, "2-bit grey");
    const unsigned g4[3] = {0, 8, 15};
    const uint8_t want4[3] = {0, 136, 255};
    write_png(&b, 3, 1, 0, 4, 0, g4, NULL, 0, NULL, 0);
    expect_pixels(&b, 3, 1, want4, "4-bit grey");
    /* Palette, 8-bit and 4-bit indices: colours become luma; tRNS makes entry 3 half transparent. */
    const png_color pal[4] = {{0, 0, 0}, {255, 255, 255}, {255, 0, 0}, {200, 200, 200}};
    const png_byte trns[4] = {255, 255, 255, 128};
    const unsigned idx[4] = {0, 1, 2, 3};
    const uint8_t wantp[4] = {0, 255, 76, 100};
    write_png(&b, 4, 1, 3, 8, 0, idx, pal, 4, trns, 4);
    expect_pixels(&b, 4, 1, wantp, "palette + tRNS");
    write_png(&b, 4, 1, 3, 4, 0, idx, pal, 4, trns, 4);
    expect_pixels(&b, 4, 1, wantp, "4-bit palette + tRNS");
    /* 16-bit RGB and RGBA. */
    const unsigned rgb16[12] = {0xffff, 0, 0, 0, 0xffff, 0, 0, 0, 0xffff, 0xffff, 0xffff, 0xffff};
    const uint8_t want_rgb[4] = {76, 150, 29, 255};
    write_png(&b, 4, 1, 2, 16, 0, rgb16, NULL, 0, NULL, 0);
    expect_pixels(&b, 4, 1, want_rgb, "16-bit RGB");
    const unsigned rgba16[8] = {0xffff, 0xffff, 0xffff, 0xffff, 0xc8c8, 0xc8c8, 0xc8c8, 0x8080};
    const uint8_t want_rgba[2] = {255, 100};
    write_png(&b, 2, 1, 6, 16, 0, rgba16, NULL, 0, NULL, 0);
    expect_pixels(&b, 2, 1, want_rgba, "16-bit RGBA");
    /* 8-bit RGB and grey through libpng's writer too. */
    const unsigned rgb8[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    write_png(&b, 4, 1, 2, 8, 0, rgb8, NULL, 0, NULL, 0);
    expect_pixels(&b, 4, 1, want_rgb, "8-bit RGB");
    /* Adam7 interlaced: a 9x7 grey ramp (every pass non-empty) and interlaced RGB. */
    unsigned ramp[63];
    uint8_t want_ramp[63];
    for (int i = 0; i < 63; i++) want_ramp[i] = (uint8_t)(ramp[i] = (unsigned)(i * 4 + 3));
    write_png(&b, 9, 7, 0, 8, 1, ramp, NULL, 0, NULL, 0);
    expect_pixels(&b, 9, 7, want_ramp, "interlaced grey");
    unsigned ramp_rgb[63 * 3];
    for (int i = 0; i < 63; i++) ramp_rgb[3 * i] = ramp_rgb[3 * i + 1] = ramp_rgb[3 * i + 2] = ramp[i];
    write_png(&b, 9, 7, 2, 8, 1, ramp_rgb, NULL, 0, NULL, 0);
    expect_pixels(&b, 9, 7, want_ramp, "interlaced RGB");
    unsigned ramp16[63];
    for (int i = 0; i < 63; i++) ramp16[i] = ramp[i] * 257u;
    write_png(&b, 9, 7, 0, 16, 1, ramp16, NULL, 0, NULL, 0);
    expect_pixels(&b, 9, 7, want_ramp, "interlaced 16-bit grey");
}

static void test_png_refusals(void **state)
{
    (void)state;
    uint8_t raw[2 * (1 + 3)] = {0, 1, 2, 3, 0, 4, 5, 6};
    buf b;
    make_png(&b, 3, 2, 0, 8, 0, raw, sizeof raw);

    /* A flipped byte in the compressed data: zlib, reading the chunk as it arrives, catches it. */
    buf bad = b;
    bad.data[8 + 25 + 24 + 8] ^= 0x40; /* signature, IHDR, tEXt, then the first IDAT data byte */
    expect_refused(bad.data, bad.n, "PNG is damaged or truncated: IDAT: incorrect header check");
    /* A damaged CRC of the last IDAT chunk (a flipped data byte is caught by zlib first, above). */
    bad = b;
    bad.data[b.n - 12 - 1] ^= 0x40; /* the stored CRC of the last IDAT */
    expect_refused(bad.data, bad.n, "PNG is damaged or truncated: IDAT: CRC error");
    /* A flipped byte in the header: its CRC too. */
    bad = b;
    bad.data[8 + 8 + 3] ^= 0x01;
    expect_refused(bad.data, bad.n, "IHDR: CRC error");
    /* Cut short, anywhere: in the header, in the pixel data, before IEND. */
    for (size_t cut = 9; cut < b.n - 12; cut++) {
        cd_image img;
        cd_error err = {0};
        assert_int_equal(cd_image_decode(b.data, cut, "bad.img", &img, &err), CD_E_INPUT);
        if (strncmp(err.msg, "bad.img: PNG is damaged", 23) != 0) fail_msg("cut at %zu: '%s'", cut, err.msg);
        assert_null(img.pixels);
    }
    expect_refused(b.data, 20, "PNG is damaged or truncated: file is truncated");
    expect_refused(b.data, b.n - 20, "PNG is damaged or truncated");

    /* Fewer pixel bytes than the header's size needs (the IHDR says 3 rows). */
    make_png(&b, 3, 3, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG is damaged or truncated: Not enough image data");
    /* A bad filter byte. */
    uint8_t badf[4] = {9, 1, 2, 3};
    make_png(&b, 3, 1, 0, 8, 0, badf, sizeof badf);
    expect_refused(b.data, b.n, "PNG is damaged or truncated: bad adaptive filter value");
    /* Invalid headers: 0x0, 0 width, a huge declared size, a bad depth for the colour type. */
    make_png(&b, 0, 0, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG is damaged or truncated: Invalid IHDR data");
    make_png(&b, 0, 2, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG is damaged or truncated");
    make_png(&b, 99999, 99999, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "image size 99999x99999 is outside 1..8192 per side");
    make_png(&b, 3, 2, 2, 4, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG is damaged or truncated: Invalid IHDR data");
    /* A palette image without its palette. */
    make_png(&b, 3, 2, 3, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG is damaged or");
}

/* Reading from disk, and the PGM writer round trip; a missing file is one clear line. */
static void test_files(void **state)
{
    (void)state;
    char *dir = ts_make_temp_dir("image");
    char path[4200];
    snprintf(path, sizeof path, "%s/x.pgm", dir);
    cd_image img = {3, 2, (uint8_t *)(uintptr_t)grey6}, back;
    cd_error err = {0};
    assert_int_equal(cd_image_write_pgm(path, &img, &err), CD_OK);
    assert_int_equal(cd_image_read(path, &back, &err), CD_OK);
    assert_int_equal(back.width, 3);
    assert_int_equal(back.height, 2);
    assert_memory_equal(back.pixels, grey6, 6);
    cd_image_free(&back);

    uint8_t raw[2 * (1 + 3)] = {0, 0, 128, 255, 0, 7, 200, 64};
    buf b;
    make_png(&b, 3, 2, 0, 8, 0, raw, sizeof raw);
    snprintf(path, sizeof path, "%s/x.png", dir);
    assert_int_equal(ts_write_file(path, b.data, b.n), 0);
    assert_int_equal(cd_image_read(path, &back, &err), CD_OK);
    assert_memory_equal(back.pixels, grey6, 6);
    cd_image_free(&back);

    snprintf(path, sizeof path, "%s/missing.png", dir);
    assert_int_equal(cd_image_read(path, &back, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "missing.png: cannot open: No such file or directory"));
    ts_rmtree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pgm_p5),         cmocka_unit_test(test_pgm_p2_and_maxval),
        cmocka_unit_test(test_pgm_refusals),   cmocka_unit_test(test_png_grey_filters),
        cmocka_unit_test(test_png_colour),     cmocka_unit_test(test_png_libpng_kinds),
        cmocka_unit_test(test_png_refusals),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
