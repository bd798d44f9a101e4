/* Test tool: writes a generated image-classification data set of 3-channel 32x32 images in 16 classes, a
 * shape (square, disc, triangle, cross) in a colour (red, green, blue, yellow) at a random place and size
 * over dark noise, every pixel a pure function of (seed, row), so a test can rebuild it anywhere.
 *   make_shapes OUT.h5 [--train N] [--test N] [--seed S] [--layout NCHW|NHWC|none] [--no-test] [--no-names]
 * --layout none (the default) writes [N,3,32,32] without a layout attribute; NCHW the same with the
 * attribute; NHWC [N,32,32,3] with layout "NHWC". Labels are int32 with num_classes 16 and class_names on
 * /train/labels (--no-names: neither); no mean/std, so the trainer computes the normalisation. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SIDE = 32, CH = 3, SHAPES = 4, COLOURS = 4, CLASSES = SHAPES * COLOURS };
static const char *const shape_names[SHAPES] = {"square", "disc", "triangle", "cross"};
static const char *const colour_names[COLOURS] = {"red", "green", "blue", "yellow"};
static const int colours[COLOURS][CH] = {{210, 40, 40}, {40, 200, 50}, {50, 60, 220}, {215, 205, 40}};

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

typedef struct rng {
    uint64_t s;
} rng;
static int uniform(rng *r, int lo, int hi) { return lo + (int)((r->s = mix(r->s)) % (uint64_t)(hi - lo + 1)); }

static int inside(int shape, int x, int y, int cx, int cy, int rad)
{
    const int dx = x - cx, dy = y - cy, ax = dx < 0 ? -dx : dx, ay = dy < 0 ? -dy : dy;
    switch (shape) {
    case 0: return ax <= rad && ay <= rad;
    case 1: return dx * dx + dy * dy <= rad * rad;
    case 2: return dy >= -rad && dy <= rad && 2 * ax <= dy + rad; /* apex up */
    default: return (ax <= rad && ay <= rad / 3) || (ay <= rad && ax <= rad / 3);
    }
}

/* Row `row` of split `salt`: its label and [3][32][32] pixels. */
static int make_row(uint64_t seed, uint64_t salt, uint64_t row, uint8_t *px)
{
    rng r = {mix(seed * 1000003u + salt) ^ mix(row)};
    const int label = uniform(&r, 0, CLASSES - 1), shape = label / COLOURS, colour = label % COLOURS;
    const int rad = uniform(&r, 5, 10), cx = uniform(&r, rad + 1, SIDE - rad - 2), cy = uniform(&r, rad + 1, SIDE - rad - 2);
    int tint[CH];
    for (int c = 0; c < CH; c++) tint[c] = colours[colour][c] + uniform(&r, -25, 25);
    for (int y = 0; y < SIDE; y++)
        for (int x = 0; x < SIDE; x++) {
            const int in = inside(shape, x, y, cx, cy, rad);
            for (int c = 0; c < CH; c++) {
                int v = in ? tint[c] + uniform(&r, -15, 15) : uniform(&r, 0, 70);
                px[(c * SIDE + y) * SIDE + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        }
    return label;
}

static int fail(const char *what)
{
    fprintf(stderr, "make_shapes: %s\n", what);
    return 1;
}

static int write_split(hid_t file, const char *split, int n, uint64_t seed, uint64_t salt, const char *layout,
                       int names)
{
    const size_t px = (size_t)CH * SIDE * SIDE;
    uint8_t *img = malloc((size_t)n * px), *one = malloc(px);
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)n);
    if (!img || !one || !lab) return fail("out of memory");
    const int nhwc = !strcmp(layout, "NHWC");
    for (int i = 0; i < n; i++) {
        lab[i] = make_row(seed, salt, (uint64_t)i, one);
        uint8_t *dst = img + (size_t)i * px;
        if (!nhwc) memcpy(dst, one, px);
        else
            for (int c = 0; c < CH; c++)
                for (int k = 0; k < SIDE * SIDE; k++) dst[k * CH + c] = one[c * SIDE * SIDE + k];
    }
    hid_t g = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t d4[4] = {(hsize_t)n, CH, SIDE, SIDE}, d1 = (hsize_t)n;
    if (nhwc) d4[1] = SIDE, d4[3] = CH;
    hid_t s4 = H5Screate_simple(4, d4, NULL), s1 = H5Screate_simple(1, &d1, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk[4] = {d4[0] < 256 ? d4[0] : 256, d4[1], d4[2], d4[3]};
    H5Pset_chunk(dcpl, 4, chunk);
    H5Pset_deflate(dcpl, 1);
    hid_t di = H5Dcreate2(g, "images", H5T_STD_U8LE, s4, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hid_t dl = H5Dcreate2(g, "labels", H5T_STD_I32LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = g >= 0 && di >= 0 && dl >= 0 && H5Dwrite(di, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0 &&
             H5Dwrite(dl, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0;
    if (ok && strcmp(layout, "none") != 0) {
        hid_t t = H5Tcopy(H5T_C_S1), sc = H5Screate(H5S_SCALAR);
        H5Tset_size(t, strlen(layout) + 1);
        hid_t a = H5Acreate2(di, "layout", t, sc, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, t, layout) >= 0;
        H5Aclose(a), H5Sclose(sc), H5Tclose(t);
    }
    if (ok && names && !strcmp(split, "train")) {
        long long k = CLASSES;
        hid_t sc = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(dl, "num_classes", H5T_STD_I64LE, sc, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_LLONG, &k) >= 0;
        H5Aclose(a), H5Sclose(sc);
        char text[CLASSES][32];
        const char *ptr[CLASSES];
        for (int c = 0; c < CLASSES; c++) {
            snprintf(text[c], sizeof text[c], "%s %s", colour_names[c % COLOURS], shape_names[c / COLOURS]);
            ptr[c] = text[c];
        }
        hsize_t nk = CLASSES;
        hid_t t = H5Tcopy(H5T_C_S1), sn = H5Screate_simple(1, &nk, NULL);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        a = H5Acreate2(dl, "class_names", t, sn, H5P_DEFAULT, H5P_DEFAULT);
        ok = ok && a >= 0 && H5Awrite(a, t, ptr) >= 0;
        H5Aclose(a), H5Sclose(sn), H5Tclose(t);
    }
    H5Dclose(di), H5Dclose(dl), H5Pclose(dcpl), H5Sclose(s4), H5Sclose(s1), H5Gclose(g);
    free(img), free(one), free(lab);
    return ok ? 0 : fail("cannot write the data set");
}

int main(int argc, char **argv)
{
    if (argc < 2) return fail("usage: make_shapes OUT.h5 [--train N] [--test N] [--seed S] [--layout NCHW|NHWC|none] "
                              "[--no-test] [--no-names]");
    int train = 4000, test = 1000, no_test = 0, names = 1;
    uint64_t seed = 1;
    const char *layout = "none";
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--train") && i + 1 < argc) train = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--test") && i + 1 < argc) test = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--layout") && i + 1 < argc) layout = argv[++i];
        else if (!strcmp(argv[i], "--no-test")) no_test = 1;
        else if (!strcmp(argv[i], "--no-names")) names = 0;
        else return fail("unknown argument");
    }
    if (train < 1 || test < 1) return fail("--train and --test need a positive count");
    hid_t file = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return fail("cannot create the file");
    int rc = write_split(file, "train", train, seed, 1, layout, names);
    if (!rc && !no_test) rc = write_split(file, "test", test, seed, 2, layout, names);
    if (H5Fclose(file) < 0) rc = fail("cannot close the file");
    return rc;
}
