/* The IDX reader and the mnist2h5 converter: good raw and gzip files convert exactly; bad ones are
 * refused with exit status 2, one "mnist2h5: <file>: <problem>" line, and no output left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "cnn_ddp/data.h"
#include "cnn_ddp/idx.h"
#include "test_support.h"

typedef struct fixture {
    char *dir;
    char out[512];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = ts_make_temp_dir("mnist2h5");
    if (!f->dir) return -1;
    snprintf(f->out, sizeof f->out, "%s/out.h5", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ts_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static uint8_t pixel_at(int64_t row, int64_t k) { return (uint8_t)((row * 13 + k * 5) % 256); }
static uint8_t label_at(int64_t row) { return (uint8_t)((row * 3 + 1) % 10); }

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX file in memory: header (magic, count[, rows, cols]) then data; `extra` bytes of slack let a
 * test append trailing garbage. */
typedef struct idx_bytes {
    uint8_t *data;
    size_t len;
} idx_bytes;

static idx_bytes make_images(uint32_t magic, uint32_t count, uint32_t rows, uint32_t cols, uint32_t actual)
{
    size_t len = 16 + (size_t)actual * rows * cols;
    idx_bytes b = {calloc(len + 64, 1), len};
    put_be32(b.data, magic);
    put_be32(b.data + 4, count);
    put_be32(b.data + 8, rows);
    put_be32(b.data + 12, cols);
    for (uint32_t r = 0; r < actual; r++)
        for (uint32_t k = 0; k < rows * cols; k++) b.data[16 + (size_t)r * rows * cols + k] = pixel_at(r, k);
    return b;
}

static idx_bytes make_labels(uint32_t magic, uint32_t count, uint32_t actual)
{
    size_t len = 8 + actual;
    idx_bytes b = {calloc(len + 64, 1), len};
    put_be32(b.data, magic);
    put_be32(b.data + 4, count);
    for (uint32_t r = 0; r < actual; r++) b.data[8 + r] = label_at(r);
    return b;
}

static const char *save(fixture *f, const char *name, idx_bytes b, int gzip, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", f->dir, name);
    if (gzip) {
        gzFile gz = gzopen(path, "wb6");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, b.data, (unsigned)b.len), (int)b.len);
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        assert_int_equal(ts_write_file(path, b.data, b.len), 0);
    }
    free(b.data);
    return path;
}

static int run_converter(const char *args, char *out, size_t cap)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s/mnist2h5' %s", ts_bin_dir(), args);
    return ts_run(cmd, out, cap);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads the converted split back and compares every pixel and label with the generator. */
static void check_converted(const char *h5, const char *split, int64_t n, int rows, int cols)
{
    cd_error err = {0};
    cd_data_info info;
    assert_int_equal(cd_data_inspect(h5, split, &info, &err), CD_OK);
    assert_int_equal(info.count, n);
    assert_int_equal(info.height, rows);
    assert_int_equal(info.width, cols);
    cd_dataset d;
    assert_int_equal(cd_data_load(h5, split, 0, n, &d, &err), CD_OK);
    for (int64_t r = 0; r < n; r++) {
        assert_int_equal(d.labels[r], label_at(r));
        for (int64_t k = 0; k < (int64_t)rows * cols; k++)
            if (d.images[r * rows * cols + k] != pixel_at(r, k))
                fail_msg("/%s row %lld pixel %lld differs", split, (long long)r, (long long)k);
    }
    cd_data_free(&d);
}

/* The converter's output is uint8 and chunked: no filter by default, deflate at `level` with --deflate. */
static void check_storage(const char *h5, const char *dataset, unsigned want_level)
{
    hid_t file = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t ds = H5Dopen2(file, dataset, H5P_DEFAULT);
    assert_true(ds >= 0);
    hid_t type = H5Dget_type(ds);
    assert_true(H5Tequal(type, H5T_STD_U8LE) > 0);
    hid_t dcpl = H5Dget_create_plist(ds);
    assert_int_equal(H5Pget_layout(dcpl), H5D_CHUNKED);
    assert_int_equal(H5Pget_nfilters(dcpl), want_level ? 1 : 0);
    if (want_level) {
        unsigned flags = 0, level = 0;
        size_t nelmts = 1;
        assert_int_equal(H5Pget_filter2(dcpl, 0, &flags, &nelmts, &level, 0, NULL, NULL), H5Z_FILTER_DEFLATE);
        assert_int_equal(level, want_level);
    }
    H5Pclose(dcpl);
    H5Tclose(type);
    H5Dclose(ds);
    H5Fclose(file);
}

static void convert_good(fixture *f, int gzip, unsigned deflate)
{
    /* 2500 train rows span three 1024-row pieces; 7x9 images catch swapped rows and columns. */
    char ti[512], tl[512], vi[512], vl[512], args[4096], out[4096];
    save(f, "train-images", make_images(CD_IDX_MAGIC_IMAGES, 2500, 7, 9, 2500), gzip, ti, sizeof ti);
    save(f, "train-labels", make_labels(CD_IDX_MAGIC_LABELS, 2500, 2500), gzip, tl, sizeof tl);
    save(f, "test-images", make_images(CD_IDX_MAGIC_IMAGES, 300, 7, 9, 300), gzip, vi, sizeof vi);
    save(f, "test-labels", make_labels(CD_IDX_MAGIC_LABELS, 300, 300), gzip, vl, sizeof vl);
    char level[32] = "";
    if (deflate) snprintf(level, sizeof level, "--deflate %u", deflate);
    snprintf(args, sizeof args, "--images '%s' --labels '%s' --test-images '%s' --test-labels '%s' %s -o '%s'", ti,
             tl, vi, vl, level, f->out);
    int rc = run_converter(args, out, sizeof out);
    if (rc != 0) fail_msg("mnist2h5 exited %d: %s", rc, out);
    check_converted(f->out, "train", 2500, 7, 9);
    check_converted(f->out, "test", 300, 7, 9);
    check_storage(f->out, "/train/images", deflate);
    check_storage(f->out, "/train/labels", deflate);
    check_storage(f->out, "/test/images", deflate);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->out);
    assert_false(exists(tmp));
}

static void test_convert_raw(void **state) { convert_good(*state, 0, 0); }
static void test_convert_gzip(void **state) { convert_good(*state, 1, 0); }
/* Deflated chunks read back the same pixels; level 0 is the plain default. */
static void test_convert_deflate(void **state) { convert_good(*state, 1, 6); }

static void test_train_only(void **state)
{
    fixture *f = *state;
    char ti[512], tl[512], args[4096], out[4096];
    save(f, "i", make_images(CD_IDX_MAGIC_IMAGES, 5, 28, 28, 5), 1, ti, sizeof ti);
    save(f, "l", make_labels(CD_IDX_MAGIC_LABELS, 5, 5), 0, tl, sizeof tl);
    snprintf(args, sizeof args, "--images '%s' --labels '%s' -o '%s'", ti, tl, f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 0);
    check_converted(f->out, "train", 5, 28, 28);
    cd_error err = {0};
    cd_data_info info;
    assert_int_equal(cd_data_inspect(f->out, "test", &info, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "/test: missing group"));
}

/* Runs the converter on an images/labels pair (and `extra` options) and expects a refusal: exit 2, one
 * line naming `bad_file` with `problem`, and the previous output file untouched with no temporary left. */
static void expect_refusal_with(fixture *f, idx_bytes images, idx_bytes labels, int gzip, int bad_is_labels,
                                const char *extra, const char *problem)
{
    char ti[512], tl[512], args[4096], out[4096], want[600], tmp[600];
    save(f, "images.idx", images, gzip, ti, sizeof ti);
    save(f, "labels.idx", labels, gzip, tl, sizeof tl);
    const char *previous = "previous output\n";
    assert_int_equal(ts_write_file(f->out, previous, strlen(previous)), 0);
    snprintf(args, sizeof args, "--images '%s' --labels '%s' %s -o '%s'", ti, tl, extra, f->out);
    int rc = run_converter(args, out, sizeof out);
    snprintf(want, sizeof want, "mnist2h5: %s: ", bad_is_labels ? tl : ti);
    if (rc != 2) fail_msg("expected exit 2, got %d: %s", rc, out);
    if (strncmp(out, want, strlen(want)) != 0) fail_msg("expected \"%s...\", got: %s", want, out);
    if (!strstr(out, problem)) fail_msg("expected \"%s\" in: %s", problem, out);
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, ""); /* exactly one line: no HDF5 stack dump */

    FILE *in = fopen(f->out, "rb");
    assert_non_null(in);
    char got[64] = {0};
    assert_true(fread(got, 1, sizeof got - 1, in) > 0);
    fclose(in);
    assert_string_equal(got, previous);
    snprintf(tmp, sizeof tmp, "%s.tmp", f->out);
    assert_false(exists(tmp));
}

static void expect_refusal(fixture *f, idx_bytes images, idx_bytes labels, int gzip, int bad_is_labels,
                           const char *problem)
{
    expect_refusal_with(f, images, labels, gzip, bad_is_labels, "", problem);
}

static void test_refuses_bad_magic(void **state)
{
    expect_refusal(*state, make_images(0x00000802u, 10, 28, 28, 10), make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 0,
                   "bad magic number 0x00000802 (expected 0x00000803");
    expect_refusal(*state, make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10),
                   make_labels(CD_IDX_MAGIC_IMAGES, 10, 10), 1, 1, "bad magic number 0x00000803");
}

static void test_refuses_count_mismatch(void **state)
{
    expect_refusal(*state, make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10), make_labels(CD_IDX_MAGIC_LABELS, 9, 9),
                   0, 1, "9 labels but");
}

static void test_refuses_truncated(void **state)
{
    /* Header says 10 images, data holds 6.5: raw and gzip. */
    idx_bytes img = make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10);
    img.len = 16 + 6 * 784 + 392;
    expect_refusal(*state, img, make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 0,
                   "truncated: the header declares 10 images but the data ends in image 6");
    img = make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10);
    img.len = 16 + 6 * 784 + 392;
    expect_refusal(*state, img, make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 1, 0, "truncated");
    /* Labels cut short, and a header cut short. */
    idx_bytes lab = make_labels(CD_IDX_MAGIC_LABELS, 10, 10);
    lab.len = 8 + 4;
    expect_refusal(*state, make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10), lab, 0, 1,
                   "truncated: the header declares 10 labels but the data ends in label 4");
    img = make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10);
    img.len = 10;
    expect_refusal(*state, img, make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 0, "truncated");
}

static void test_refuses_truncated_gzip_stream(void **state)
{
    /* A .gz cut in the middle of its compressed stream. */
    fixture *f = *state;
    char full[512], tl[512], args[4096], out[4096];
    save(f, "whole.gz", make_images(CD_IDX_MAGIC_IMAGES, 50, 28, 28, 50), 1, full, sizeof full);
    FILE *in = fopen(full, "rb");
    assert_non_null(in);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    char cut[600];
    snprintf(cut, sizeof cut, "%s/cut.gz", f->dir);
    assert_int_equal(ts_write_file(cut, buf, n - 20), 0); /* gzip trailer is 8 bytes: cut into the data */
    save(f, "labels", make_labels(CD_IDX_MAGIC_LABELS, 50, 50), 1, tl, sizeof tl);
    snprintf(args, sizeof args, "--images '%s' --labels '%s' -o '%s'", cut, tl, f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 2);
    assert_non_null(strstr(out, cut));
    assert_non_null(strstr(out, "truncated"));
    assert_false(exists(f->out));
}

static void test_refuses_trailing_bytes(void **state)
{
    idx_bytes img = make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10);
    img.len += 5;
    expect_refusal(*state, img, make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 0,
                   "5 bytes follow the 10 images the header declares");
}

static void test_refuses_label_10(void **state)
{
    idx_bytes lab = make_labels(CD_IDX_MAGIC_LABELS, 10, 10);
    lab.data[8 + 7] = 10;
    expect_refusal_with(*state, make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10), lab, 0, 1, "--classes 10",
                        "label 10 at row 7 is outside 0-9 (10 classes)");
    expect_refusal_with(*state, make_images(CD_IDX_MAGIC_IMAGES, 10, 28, 28, 10),
                        make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 1, "--class-names a,b,c",
                        "label 4 at row 1 is outside 0-2 (3 classes)");
}

/* Images of one grey value cannot be normalised (std 0): refused rather than written. */
static void test_refuses_constant_images(void **state)
{
    idx_bytes img = make_images(CD_IDX_MAGIC_IMAGES, 10, 4, 4, 10);
    memset(img.data + 16, 7, 10 * 16);
    expect_refusal(*state, img, make_labels(CD_IDX_MAGIC_LABELS, 10, 10), 0, 0,
                   "every training pixel is 7: no contrast to normalise by");
}

static void test_refuses_bad_dims(void **state)
{
    expect_refusal(*state, make_images(CD_IDX_MAGIC_IMAGES, 3, 0, 28, 3), make_labels(CD_IDX_MAGIC_LABELS, 3, 3), 0,
                   0, "image size 0x28 is outside 1..4096");
    expect_refusal(*state, make_images(CD_IDX_MAGIC_IMAGES, 0, 28, 28, 0), make_labels(CD_IDX_MAGIC_LABELS, 0, 0), 0,
                   0, "zero images");
}

/* ---- the attributes the trainer reads (the data-file contract of issue 14) ---- */

static hid_t open_attr(const char *h5, const char *obj, const char *name, hid_t *file)
{
    *file = H5Fopen(h5, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(*file >= 0);
    if (H5Aexists_by_name(*file, obj, name, H5P_DEFAULT) <= 0) return H5I_INVALID_HID;
    return H5Aopen_by_name(*file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
}

static int has_attr(const char *h5, const char *obj, const char *name)
{
    hid_t file;
    hid_t a = open_attr(h5, obj, name, &file);
    if (a >= 0) H5Aclose(a);
    H5Fclose(file);
    return a >= 0;
}

/* A float64 1-D attribute of length 1 (one channel). */
static double f64_attr(const char *h5, const char *obj, const char *name)
{
    hid_t file;
    hid_t a = open_attr(h5, obj, name, &file);
    if (a < 0) fail_msg("%s: %s has no attribute %s", h5, obj, name);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    assert_true(H5Tequal(type, H5T_IEEE_F64LE) > 0);
    assert_int_equal(H5Sget_simple_extent_ndims(space), 1);
    assert_int_equal(H5Sget_simple_extent_npoints(space), 1);
    double v = 0;
    assert_true(H5Aread(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    H5Fclose(file);
    return v;
}

static int64_t i64_scalar_attr(const char *h5, const char *obj, const char *name)
{
    hid_t file;
    hid_t a = open_attr(h5, obj, name, &file);
    if (a < 0) fail_msg("%s: %s has no attribute %s", h5, obj, name);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    assert_int_equal(H5Tget_class(type), H5T_INTEGER);
    assert_int_equal(H5Sget_simple_extent_type(space), H5S_SCALAR);
    int64_t v = 0;
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    H5Fclose(file);
    return v;
}

/* The attribute's strings joined by '|' into out (variable-length UTF-8, as h5py writes them). */
static void strings_attr(const char *h5, const char *obj, const char *name, char *out, size_t cap)
{
    hid_t file;
    hid_t a = open_attr(h5, obj, name, &file);
    if (a < 0) fail_msg("%s: %s has no attribute %s", h5, obj, name);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    assert_int_equal(H5Tget_class(type), H5T_STRING);
    assert_true(H5Tis_variable_str(type) > 0);
    assert_int_equal(H5Tget_cset(type), H5T_CSET_UTF8);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    char **v = calloc((size_t)n, sizeof *v);
    assert_true(H5Aread(a, type, v) >= 0);
    out[0] = '\0';
    for (hssize_t i = 0; i < n; i++) {
        if (i) strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, v[i], cap - strlen(out) - 1);
        H5free_memory(v[i]);
    }
    free(v);
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    H5Fclose(file);
}

/* mean/std over the training pixels only (not the test split), against a plain two-pass computation in
 * double; num_classes, class_names and sources as given; --print-sources reads sources back. */
static void test_attributes(void **state)
{
    fixture *f = *state;
    char ti[512], tl[512], vi[512], vl[512], args[4096], out[4096];
    save(f, "ti", make_images(CD_IDX_MAGIC_IMAGES, 2500, 7, 9, 2500), 1, ti, sizeof ti);
    save(f, "tl", make_labels(CD_IDX_MAGIC_LABELS, 2500, 2500), 1, tl, sizeof tl);
    idx_bytes test_img = make_images(CD_IDX_MAGIC_IMAGES, 300, 7, 9, 300);
    memset(test_img.data + 16, 255, 300 * 63); /* white test images: must not enter the statistics */
    save(f, "vi", test_img, 0, vi, sizeof vi);
    save(f, "vl", make_labels(CD_IDX_MAGIC_LABELS, 300, 300), 0, vl, sizeof vl);
    snprintf(args, sizeof args,
             "--images '%s' --labels '%s' --test-images '%s' --test-labels '%s' -o '%s' "
             "--class-names 'zero,one,two,three,four,five,six,seven,eight,nine' "
             "--sources 'abc  train-images.gz\nde f  labels'",
             ti, tl, vi, vl, f->out);
    int rc = run_converter(args, out, sizeof out);
    if (rc != 0) fail_msg("mnist2h5 exited %d: %s", rc, out);

    double sum = 0, n = 2500.0 * 63;
    for (int64_t r = 0; r < 2500; r++)
        for (int64_t k = 0; k < 63; k++) sum += pixel_at(r, k) / 255.0;
    double mean = sum / n, ss = 0;
    for (int64_t r = 0; r < 2500; r++)
        for (int64_t k = 0; k < 63; k++) ss += (pixel_at(r, k) / 255.0 - mean) * (pixel_at(r, k) / 255.0 - mean);
    double std = sqrt(ss / n);
    double got_mean = f64_attr(f->out, "/train/images", "mean"), got_std = f64_attr(f->out, "/train/images", "std");
    if (fabs(got_mean - mean) > 1e-12 * mean || fabs(got_std - std) > 1e-12 * std)
        fail_msg("mean/std %.17g/%.17g, expected %.17g/%.17g", got_mean, got_std, mean, std);
    assert_false(has_attr(f->out, "/test/images", "mean"));
    assert_false(has_attr(f->out, "/train/images", "layout")); /* [N,H,W] needs none */
    assert_int_equal(i64_scalar_attr(f->out, "/train/labels", "num_classes"), 10);
    char text[1024];
    strings_attr(f->out, "/train/labels", "class_names", text, sizeof text);
    assert_string_equal(text, "zero|one|two|three|four|five|six|seven|eight|nine");
    strings_attr(f->out, "/", "sources", text, sizeof text);
    assert_string_equal(text, "abc  train-images.gz\nde f  labels");
    snprintf(args, sizeof args, "--print-sources '%s'", f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 0);
    assert_string_equal(out, "abc  train-images.gz\nde f  labels\n");

    /* Without names or --classes: K = the largest label of train and test + 1 (here a 12 in /test),
     * no class_names, no sources (--print-sources: exit 1). */
    idx_bytes lab = make_labels(CD_IDX_MAGIC_LABELS, 300, 300);
    lab.data[8 + 299] = 12;
    save(f, "vl", lab, 0, vl, sizeof vl);
    save(f, "vi", make_images(CD_IDX_MAGIC_IMAGES, 300, 7, 9, 300), 0, vi, sizeof vi);
    snprintf(args, sizeof args, "--images '%s' --labels '%s' --test-images '%s' --test-labels '%s' -o '%s'", ti, tl,
             vi, vl, f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 0);
    assert_int_equal(i64_scalar_attr(f->out, "/train/labels", "num_classes"), 13);
    assert_false(has_attr(f->out, "/train/labels", "class_names"));
    assert_false(has_attr(f->out, "/", "sources"));
    snprintf(args, sizeof args, "--print-sources '%s'", f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "no sources attribute"));
    /* --classes beyond the labels present: kept. */
    snprintf(args, sizeof args, "--images '%s' --labels '%s' --classes 47 -o '%s'", ti, tl, f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 0);
    assert_int_equal(i64_scalar_attr(f->out, "/train/labels", "num_classes"), 47);
}

static void test_usage(void **state)
{
    fixture *f = *state;
    char out[4096], args[1024];
    assert_int_equal(run_converter("--help", out, sizeof out), 0);
    assert_non_null(strstr(out, "usage: mnist2h5"));
    assert_int_equal(run_converter("--bogus x", out, sizeof out), 2);
    assert_non_null(strstr(out, "mnist2h5: --bogus: unknown option"));
    snprintf(args, sizeof args, "--images a --labels b -o '%s' --test-images c", f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "--test-labels"));
    const char *bad[][2] = {
        {"--classes 0", "--classes 0: must be an integer in [1, 256]"},
        {"--classes 257", "--classes 257: must be an integer in [1, 256]"},
        {"--classes 3x", "--classes 3x: must be an integer"},
        {"--class-names a,,b", "--class-names: an empty name"},
        {"--class-names a,b,", "--class-names: an empty name"},
        {"--class-names a,b --classes 3", "--class-names: 2 names but --classes 3"},
        {"--deflate 10", "--deflate 10: must be a level in [0, 9]"},
        {"--deflate -1", "--deflate -1: must be a level in [0, 9]"},
        {"--deflate fast", "--deflate fast: must be a level"},
        {"--deflate", "--deflate: needs a value"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(args, sizeof args, "--images a --labels b -o '%s' %s", f->out, bad[i][0]);
        assert_int_equal(run_converter(args, out, sizeof out), 2);
        if (!strstr(out, bad[i][1])) fail_msg("%s: expected \"%s\", got: %s", bad[i][0], bad[i][1], out);
    }
    snprintf(args, sizeof args, "--images '%s/none' --labels b -o '%s'", f->dir, f->out);
    assert_int_equal(run_converter(args, out, sizeof out), 2);
    assert_non_null(strstr(out, "/none: cannot open: No such file or directory"));
    assert_false(exists(f->out));
}

/* The IDX reader streams in pieces and checks the length at the end. */
static void test_idx_reader_pieces(void **state)
{
    fixture *f = *state;
    char p[512];
    save(f, "l.gz", make_labels(CD_IDX_MAGIC_LABELS, 25, 25), 1, p, sizeof p);
    cd_idx_file idx;
    cd_error err = {0};
    assert_int_equal(cd_idx_open(p, CD_IDX_MAGIC_LABELS, &idx, &err), CD_OK);
    assert_int_equal(idx.count, 25);
    assert_int_equal(idx.item_bytes, 1);
    uint8_t buf[25];
    assert_int_equal(cd_idx_read(&idx, 10, buf, &err), CD_OK);
    assert_int_equal(cd_idx_read(&idx, 15, buf + 10, &err), CD_OK);
    for (int i = 0; i < 25; i++) assert_int_equal(buf[i], label_at(i));
    assert_int_equal(cd_idx_read(&idx, 1, buf, &err), CD_E_INTERNAL); /* past the header's count */
    assert_int_equal(cd_idx_finish(&idx, &err), CD_OK);
    cd_idx_close(&idx);
}

/* The shared MNIST subset: 22,699 training and 10,000 test images, whose first labels are well known. */
static void test_real_mnist(void **state)
{
    fixture *f = *state;
    const char *dir = ts_mnist_idx_dir();
    char ti[512], tl[512], vi[512], vl[512], args[4096], out[4096];
    snprintf(ti, sizeof ti, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(tl, sizeof tl, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(vi, sizeof vi, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(vl, sizeof vl, "%s/t10k-labels-idx1-ubyte.gz", dir);
    if (!exists(ti) || !exists(tl) || !exists(vi) || !exists(vl)) {
        fprintf(stderr, "skipping: no MNIST IDX files in %s\n", dir);
        skip();
    }
    snprintf(args, sizeof args, "--images '%s' --labels '%s' --test-images '%s' --test-labels '%s' -o '%s'", ti,
             tl, vi, vl, f->out);
    int rc = run_converter(args, out, sizeof out);
    if (rc != 0) fail_msg("mnist2h5 exited %d: %s", rc, out);
    cd_error err = {0};
    cd_data_info info;
    assert_int_equal(cd_data_inspect(f->out, "train", &info, &err), CD_OK);
    assert_int_equal(info.count, 22699);
    assert_int_equal(info.height, 28);
    assert_int_equal(info.width, 28);
    assert_int_equal(cd_data_inspect(f->out, "test", &info, &err), CD_OK);
    assert_int_equal(info.count, 10000);
    /* The well-known MNIST normalisation (0.1307, 0.3081 over all 60,000) from this subset's pixels. */
    double mean = f64_attr(f->out, "/train/images", "mean"), std = f64_attr(f->out, "/train/images", "std");
    if (fabs(mean - 0.1307) > 0.002 || fabs(std - 0.3081) > 0.002) fail_msg("MNIST mean/std %g/%g", mean, std);
    assert_int_equal(i64_scalar_attr(f->out, "/train/labels", "num_classes"), 10);

    cd_dataset d;
    assert_int_equal(cd_data_load(f->out, "train", 0, 22699, &d, &err), CD_OK);
    const uint8_t first_train[5] = {5, 0, 4, 1, 9};
    for (int i = 0; i < 5; i++) assert_int_equal(d.labels[i], first_train[i]);
    int64_t per_class[10] = {0}, ink = 0; /* MNIST's ten digits */
    for (int64_t i = 0; i < d.count; i++) per_class[d.labels[i]]++;
    for (int64_t k = 0; k < 784; k++) ink += d.images[k];
    for (int c = 0; c < 10; c++) assert_true(per_class[c] > 1800 && per_class[c] < 2700);
    assert_true(ink > 20000 && ink < 60000); /* a handwritten digit, not a blank or garbage image */
    cd_data_free(&d);
    assert_int_equal(cd_data_load(f->out, "test", 9995, 5, &d, &err), CD_OK);
    cd_data_free(&d);
    assert_int_equal(cd_data_load(f->out, "test", 0, 5, &d, &err), CD_OK);
    const uint8_t first_test[5] = {7, 2, 1, 0, 4};
    for (int i = 0; i < 5; i++) assert_int_equal(d.labels[i], first_test[i]);
    cd_data_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_convert_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_convert_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_convert_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_train_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_magic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_truncated_gzip_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_trailing_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_label_10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_constant_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_bad_dims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idx_reader_pieces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_mnist, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
