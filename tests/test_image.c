/* Image decoding for `predict`: PGM P2/P5 and PNG (grey, grey+alpha, RGB, RGBA, every row filter) give
 * known pixels; damaged, truncated and unsupported files are refused with a message naming the problem.
 * PNGs are built here from zlib's compress and hand-made chunks with their CRCs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static void test_png_refusals(void **state)
{
    (void)state;
    uint8_t raw[2 * (1 + 3)] = {0, 1, 2, 3, 0, 4, 5, 6};
    buf b;
    make_png(&b, 3, 2, 0, 8, 0, raw, sizeof raw);

    /* A flipped byte in the compressed data: the CRC catches it. */
    buf bad = b;
    bad.data[8 + 25 + 24 + 8] ^= 0x40; /* signature, IHDR, tEXt, then the first IDAT data byte */
    expect_refused(bad.data, bad.n, "PNG chunk IDAT: CRC mismatch (file is damaged)");
    /* Cut short, anywhere. */
    expect_refused(b.data, b.n - 12, "PNG is truncated (no IEND chunk)");
    expect_refused(b.data, b.n - 20, "PNG chunk IDAT is truncated");
    expect_refused(b.data, 20, "truncated");

    /* Fewer pixel bytes than the header's size needs (the IHDR says 3 rows). */
    make_png(&b, 3, 3, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG pixel data is shorter than the header's size needs");
    /* More than it needs. */
    make_png(&b, 3, 1, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "PNG pixel data is longer than the header's size needs");
    /* A bad filter byte. */
    uint8_t badf[4] = {9, 1, 2, 3};
    make_png(&b, 3, 1, 0, 8, 0, badf, sizeof badf);
    expect_refused(b.data, b.n, "PNG row 0 has unknown filter type 9");
    /* What is not supported says so. */
    make_png(&b, 3, 2, 3, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "palette PNGs are not supported");
    make_png(&b, 3, 2, 0, 16, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "16-bit PNGs are not supported");
    make_png(&b, 3, 2, 0, 8, 1, raw, sizeof raw);
    expect_refused(b.data, b.n, "interlaced PNGs are not supported");
    make_png(&b, 0, 2, 0, 8, 0, raw, sizeof raw);
    expect_refused(b.data, b.n, "image size 0x2 is outside");
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
        cmocka_unit_test(test_png_colour),     cmocka_unit_test(test_png_refusals),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
