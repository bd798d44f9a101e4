/* The HDF5 data reader: every accepted layout loads the exact rows asked for, every bad file is refused
 * with CD_E_INPUT and a message naming the file, the dataset and the problem, and gather normalises. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <hdf5.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/data.h"
#include "test_support.h"

enum { H = 28, W = 28 };

/* What one generated file looks like; zero-initialised fields give a good uint8 [N,28,28] file. */
typedef struct file_spec {
    int n_images, n_labels;
    int height, width;
    int rank;       /* 3 or 4 (0 means 3); 2 for a bad rank */
    int channels;   /* for rank 4 (0 means 1) */
    int chunked;    /* chunk 4 rows + deflate */
    hid_t pixel_type, label_type; /* 0 means H5T_STD_U8LE */
    int no_group, no_images, no_labels;
    int bad_label_row, bad_label_value; /* label value written at that row when bad_label_value != 0 */
    int bad_pixel_value;                /* written at row 2, pixel 0 when non-zero */
    const char *split;                  /* 0 means "train" */
} file_spec;

static int pixel_at(int64_t row, int64_t k) { return (int)((row * 31 + k * 7) % 256); }
static int label_at(int64_t row) { return (int)((row * 7 + 3) % 10); }

static void write_dataset(hid_t group, const char *name, hid_t type, int rank, const hsize_t *dims, int chunked,
                          const int *values)
{
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked) {
        hsize_t chunk[4];
        for (int i = 0; i < rank; i++) chunk[i] = dims[i];
        chunk[0] = dims[0] < 4 ? (dims[0] ? dims[0] : 1) : 4;
        if (dims[0] == 0) {
            hsize_t maxd[4];
            for (int i = 0; i < rank; i++) maxd[i] = dims[i];
            maxd[0] = H5S_UNLIMITED;
            H5Sclose(space);
            space = H5Screate_simple(rank, dims, maxd);
        }
        assert_true(H5Pset_chunk(dcpl, rank, chunk) >= 0);
        assert_true(H5Pset_deflate(dcpl, 4) >= 0);
    }
    hid_t ds = H5Dcreate2(group, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    hsize_t total = 1;
    for (int i = 0; i < rank; i++) total *= dims[i];
    if (total > 0) assert_true(H5Dwrite(ds, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
}

static void write_h5(const char *path, const file_spec *s)
{
    int n_img = s->n_images, n_lab = s->n_labels;
    int hh = s->height ? s->height : H, ww = s->width ? s->width : W;
    int rank = s->rank ? s->rank : 3, ch = s->channels ? s->channels : 1;
    hid_t ptype = s->pixel_type ? s->pixel_type : H5T_STD_U8LE;
    hid_t ltype = s->label_type ? s->label_type : H5T_STD_U8LE;
    const char *split = s->split ? s->split : "train";

    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    if (!s->no_group) {
        hid_t g = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(g >= 0);
        if (!s->no_images) {
            hsize_t dims[4];
            if (rank == 2) {
                dims[0] = (hsize_t)n_img;
                dims[1] = (hsize_t)(hh * ww);
            } else if (rank == 3) {
                dims[0] = (hsize_t)n_img;
                dims[1] = (hsize_t)hh;
                dims[2] = (hsize_t)ww;
            } else {
                dims[0] = (hsize_t)n_img;
                dims[1] = (hsize_t)ch;
                dims[2] = (hsize_t)hh;
                dims[3] = (hsize_t)ww;
            }
            size_t per = (size_t)hh * ww * (rank == 4 ? ch : 1);
            int *pix = calloc((size_t)n_img * per + 1, sizeof *pix);
            for (int r = 0; r < n_img; r++)
                for (size_t k = 0; k < per; k++) pix[(size_t)r * per + k] = pixel_at(r, (int64_t)k);
            if (s->bad_pixel_value && n_img > 2) pix[2 * per] = s->bad_pixel_value;
            write_dataset(g, "images", ptype, rank, dims, s->chunked, pix);
            free(pix);
        }
        if (!s->no_labels) {
            int *lab = calloc((size_t)n_lab + 1, sizeof *lab);
            for (int r = 0; r < n_lab; r++) lab[r] = label_at(r);
            if (s->bad_label_value) lab[s->bad_label_row] = s->bad_label_value;
            hsize_t d = (hsize_t)n_lab;
            write_dataset(g, "labels", ltype, 1, &d, s->chunked, lab);
            free(lab);
        }
        H5Gclose(g);
    }
    H5Fclose(file);
}

typedef struct fixture {
    char *dir;
    char path[4096];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->dir = ts_make_temp_dir("data");
    if (!f->dir) return -1;
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

static const char *make_file(fixture *f, const char *name, const file_spec *s)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    write_h5(f->path, s);
    return f->path;
}

/* Loads rows [first, first + count) and checks every pixel and label against the generator. */
static void check_layout(fixture *f, const char *name, file_spec s)
{
    const char *path = make_file(f, name, &s);
    int hh = s.height ? s.height : H, ww = s.width ? s.width : W;
    cd_error err = {0};
    cd_data_info info;
    assert_int_equal(cd_data_inspect(path, "train", &info, &err), CD_OK);
    assert_int_equal(info.count, s.n_images);
    assert_int_equal(info.height, hh);
    assert_int_equal(info.width, ww);

    int64_t first = 5, count = 6;
    cd_dataset d;
    assert_int_equal(cd_data_load(path, "train", first, count, &d, &err), CD_OK);
    assert_int_equal(d.first_row, first);
    assert_int_equal(d.count, count);
    assert_int_equal(d.height, hh);
    assert_int_equal(d.width, ww);
    for (int64_t r = 0; r < count; r++) {
        assert_int_equal(d.labels[r], label_at(first + r));
        for (int64_t k = 0; k < (int64_t)hh * ww; k++)
            if (d.images[r * hh * ww + k] != pixel_at(first + r, k))
                fail_msg("%s: row %lld pixel %lld: got %d want %d", name, (long long)(first + r), (long long)k,
                         d.images[r * hh * ww + k], pixel_at(first + r, k));
    }
    cd_data_free(&d);
    assert_null(d.images);

    /* The whole split, too, so the hyperslab end is right. */
    assert_int_equal(cd_data_load(path, "train", 0, s.n_images, &d, &err), CD_OK);
    assert_int_equal(d.labels[s.n_images - 1], label_at(s.n_images - 1));
    assert_int_equal(d.images[(int64_t)(s.n_images - 1) * hh * ww + 3], pixel_at(s.n_images - 1, 3));
    cd_data_free(&d);
}

static void test_layout_n_h_w_contiguous(void **state)
{
    check_layout(*state, "nhw.h5", (file_spec){.n_images = 17, .n_labels = 17});
}

static void test_layout_n_1_h_w_contiguous(void **state)
{
    check_layout(*state, "n1hw.h5", (file_spec){.n_images = 17, .n_labels = 17, .rank = 4});
}

static void test_layout_n_h_w_chunked_deflate(void **state)
{
    check_layout(*state, "nhw_chunked.h5", (file_spec){.n_images = 17, .n_labels = 17, .chunked = 1});
}

static void test_layout_n_1_h_w_chunked_deflate(void **state)
{
    check_layout(*state, "n1hw_chunked.h5", (file_spec){.n_images = 17, .n_labels = 17, .rank = 4, .chunked = 1});
}

static void test_layout_uint16_pixels_int32_labels(void **state)
{
    check_layout(*state, "u16.h5",
                 (file_spec){.n_images = 17, .n_labels = 17, .chunked = 1, .pixel_type = H5T_STD_U16BE,
                             .label_type = H5T_STD_I32LE});
}

static void test_layout_non_square(void **state)
{
    /* 6 rows by 5 columns: catches a swapped height and width. */
    check_layout(*state, "6x5.h5", (file_spec){.n_images = 12, .n_labels = 12, .height = 6, .width = 5});
}

static void test_load_zero_rows_and_out_of_range(void **state)
{
    fixture *f = *state;
    const char *path = make_file(f, "small.h5", &(file_spec){.n_images = 10, .n_labels = 10});
    cd_error err = {0};
    cd_dataset d;
    assert_int_equal(cd_data_load(path, "train", 10, 0, &d, &err), CD_OK);
    assert_int_equal(d.count, 0);
    assert_int_equal(d.height, H);
    assert_null(d.images);
    cd_data_free(&d);
    assert_int_equal(cd_data_load(path, "train", 8, 3, &d, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "rows [8, 11) requested but the split has 10"));
    assert_null(d.images);
}

/* Expects `call` to fail with CD_E_INPUT and a message holding the path and each of up to two fragments. */
static void expect_input_error(cd_status st, const cd_error *err, const char *path, const char *frag1,
                               const char *frag2)
{
    if (st != CD_E_INPUT) fail_msg("expected CD_E_INPUT, got %d: %s", (int)st, err->msg);
    if (strncmp(err->msg, path, strlen(path)) != 0) fail_msg("message does not start with the path: %s", err->msg);
    if (frag1 && !strstr(err->msg, frag1)) fail_msg("message lacks \"%s\": %s", frag1, err->msg);
    if (frag2 && !strstr(err->msg, frag2)) fail_msg("message lacks \"%s\": %s", frag2, err->msg);
    if (strchr(err->msg, '\n')) fail_msg("message is not one line: %s", err->msg);
}

static void expect_inspect_error(fixture *f, const char *name, file_spec s, const char *frag1, const char *frag2)
{
    const char *path = make_file(f, name, &s);
    cd_error err = {0};
    cd_data_info info;
    expect_input_error(cd_data_inspect(path, "train", &info, &err), &err, path, frag1, frag2);
    cd_dataset d;
    memset(&err, 0, sizeof err);
    expect_input_error(cd_data_load(path, "train", 0, 1, &d, &err), &err, path, frag1, frag2);
    assert_null(d.images);
}

static void test_missing_group(void **state)
{
    expect_inspect_error(*state, "nogroup.h5", (file_spec){.n_images = 4, .n_labels = 4, .split = "test"},
                         ": /train: missing group", NULL);
}

static void test_missing_images(void **state)
{
    expect_inspect_error(*state, "noimages.h5", (file_spec){.n_images = 4, .n_labels = 4, .no_images = 1},
                         ": /train/images: missing dataset", NULL);
}

static void test_missing_labels(void **state)
{
    expect_inspect_error(*state, "nolabels.h5", (file_spec){.n_images = 4, .n_labels = 4, .no_labels = 1},
                         ": /train/labels: missing dataset", NULL);
}

static void test_count_mismatch(void **state)
{
    expect_inspect_error(*state, "mismatch.h5", (file_spec){.n_images = 10, .n_labels = 9},
                         ": /train/labels: 9 labels but /train/images has 10 rows", NULL);
}

static void test_float_pixels(void **state)
{
    expect_inspect_error(*state, "float.h5",
                         (file_spec){.n_images = 4, .n_labels = 4, .pixel_type = H5T_IEEE_F32LE},
                         ": /train/images: ", "pixel type is floating-point");
}

static void test_float_labels(void **state)
{
    expect_inspect_error(*state, "floatlab.h5",
                         (file_spec){.n_images = 4, .n_labels = 4, .label_type = H5T_IEEE_F64LE},
                         ": /train/labels: ", "label type is floating-point");
}

static void test_zero_samples(void **state)
{
    expect_inspect_error(*state, "empty.h5", (file_spec){.n_images = 0, .n_labels = 0, .chunked = 1},
                         ": /train/images: zero samples", NULL);
}

static void test_wrong_rank(void **state)
{
    expect_inspect_error(*state, "rank2.h5", (file_spec){.n_images = 4, .n_labels = 4, .rank = 2},
                         ": /train/images: shape [4,784] has rank 2", NULL);
}

static void test_wrong_channels(void **state)
{
    expect_inspect_error(*state, "c65.h5", (file_spec){.n_images = 4, .n_labels = 4, .rank = 4, .channels = 65},
                         ": /train/images: shape [4,65,28,28] (NCHW) has 65 channels; cnn_ddp takes 1 to 64", NULL);
}

static void test_label_out_of_range(void **state)
{
    fixture *f = *state;
    const char *path =
        make_file(f, "label12.h5", &(file_spec){.n_images = 10, .n_labels = 10, .bad_label_row = 7, .bad_label_value = 12});
    cd_error err = {0};
    cd_data_info info;
    /* inspect reads no data; a load that avoids the bad row succeeds. */
    assert_int_equal(cd_data_inspect(path, "train", &info, &err), CD_OK);
    cd_dataset d;
    assert_int_equal(cd_data_load_beating(path, "train", 0, 7, 10, NULL, NULL, &d, &err), CD_OK);
    cd_data_free(&d);
    expect_input_error(cd_data_load_beating(path, "train", 5, 5, 10, NULL, NULL, &d, &err), &err, path,
                       ": /train/labels: label 12 at row 7 is outside 0-9", NULL);
    assert_null(d.images);
    assert_null(d.labels);

    path = make_file(f, "labelneg.h5",
                     &(file_spec){.n_images = 10, .n_labels = 10, .label_type = H5T_STD_I8LE, .bad_label_row = 3,
                                  .bad_label_value = -1});
    expect_input_error(cd_data_load(path, "train", 0, 10, &d, &err), &err, path, "label -1 at row 3", NULL);
}

static void test_pixel_out_of_range(void **state)
{
    fixture *f = *state;
    const char *path = make_file(f, "pix300.h5", &(file_spec){.n_images = 6, .n_labels = 6,
                                                               .pixel_type = H5T_STD_U16LE, .bad_pixel_value = 300});
    cd_error err = {0};
    cd_dataset d;
    /* A uint16 300 must not be clipped silently to 255. */
    expect_input_error(cd_data_load(path, "train", 0, 6, &d, &err), &err, path,
                       ": /train/images: a pixel in rows [0, 6) is outside 0-255", NULL);
    assert_int_equal(cd_data_load(path, "train", 3, 3, &d, &err), CD_OK);
    cd_data_free(&d);
}

static void test_text_file(void **state)
{
    fixture *f = *state;
    snprintf(f->path, sizeof f->path, "%s/notes.h5", f->dir);
    const char *text = "this is not HDF5\n";
    assert_int_equal(ts_write_file(f->path, text, strlen(text)), 0);
    cd_error err = {0};
    cd_data_info info;
    expect_input_error(cd_data_inspect(f->path, "train", &info, &err), &err, f->path, ": not an HDF5 file", NULL);
}

static void test_missing_file(void **state)
{
    fixture *f = *state;
    snprintf(f->path, sizeof f->path, "%s/absent.h5", f->dir);
    cd_error err = {0};
    cd_data_info info;
    expect_input_error(cd_data_inspect(f->path, "train", &info, &err), &err, f->path, ": cannot open", NULL);
}

static void test_truncated_file(void **state)
{
    fixture *f = *state;
    const char *path = make_file(f, "whole.h5", &(file_spec){.n_images = 40, .n_labels = 40, .chunked = 1});
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    assert_true(n > 4096);
    char cut[4200];
    snprintf(cut, sizeof cut, "%s/cut.h5", f->dir);
    assert_int_equal(ts_write_file(cut, buf, n / 2), 0);
    cd_error err = {0};
    cd_data_info info;
    expect_input_error(cd_data_inspect(cut, "train", &info, &err), &err, cut, ": truncated file", NULL);
}

/* Counts calls to the caller's own HDF5 error handler. */
static herr_t counting_handler(hid_t stack, void *data)
{
    (void)stack;
    (*(int *)data)++;
    return 0;
}

static void test_hdf5_error_printing_is_silenced_and_restored(void **state)
{
    fixture *f = *state;
    const char *path = make_file(f, "nolab2.h5", &(file_spec){.n_images = 4, .n_labels = 4, .no_labels = 1});
    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    int calls = 0;
    H5Eset_auto2(H5E_DEFAULT, counting_handler, &calls);
    cd_error err = {0};
    cd_data_info info;
    assert_int_equal(cd_data_inspect(path, "nope", &info, &err), CD_E_INPUT);
    assert_int_equal(cd_data_inspect(path, "train", &info, &err), CD_E_INPUT);
    H5E_auto2_t now_func;
    void *now_data;
    H5Eget_auto2(H5E_DEFAULT, &now_func, &now_data);
    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    assert_int_equal(calls, 0);
    assert_true(now_func == counting_handler);
    assert_ptr_equal(now_data, &calls);
}

static void test_gather_normalises(void **state)
{
    (void)state;
    enum { N = 3, HH = 2, WW = 3 };
    uint8_t images[N * HH * WW] = {0, 255, 128, 1, 2, 3, 10, 20, 30, 40, 50, 60, 200, 201, 202, 203, 204, 205};
    uint8_t labels[N] = {4, 9, 0};
    cd_dataset d = {.first_row = 100, .count = N, .height = HH, .width = WW, .images = images, .labels = labels,
                    .channels = 1};
    cd_error err = {0};
    assert_int_equal(cd_data_set_norm(&d, (double[]){0.1307}, (double[]){0.3081}, &err), CD_OK);
    float out[2 * HH * WW];
    uint8_t lab[2];
    uint32_t rows[2] = {2, 0};
    cd_data_gather(&d, rows, 2, out, lab);
    assert_int_equal(lab[0], 0);
    assert_int_equal(lab[1], 4);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < HH * WW; k++) {
            float want = ((float)images[rows[i] * HH * WW + k] / 255.0f - 0.1307f) / 0.3081f;
            assert_true(out[i * HH * WW + k] == want); /* bit-identical to the definition */
        }
    /* Known values: black and white pixels. */
    assert_float_equal(out[HH * WW + 0], -0.424212917f, 1e-6);
    assert_float_equal(out[HH * WW + 1], 2.821486531f, 1e-6);

    cd_data_gather_range(&d, 1, 2, out, lab);
    assert_int_equal(lab[0], 9);
    assert_int_equal(lab[1], 0);
    for (int k = 0; k < 2 * HH * WW; k++) {
        float want = ((float)images[HH * WW + k] / 255.0f - 0.1307f) / 0.3081f;
        assert_true(out[k] == want);
    }
    cd_free(d.norm);
}

/* The start-up normalisation: exact per-channel sums whatever the split of the rows, the population mean
 * and std from them, a constant channel refused, and the checkpoint text giving back the same doubles. */
static void test_normalisation_from_sums(void **state)
{
    (void)state;
    enum { N = 5, C = 2, HW = 3 };
    uint8_t images[N * C * HW];
    for (int i = 0; i < N * C * HW; i++) images[i] = (uint8_t)((i * 37) % 256);
    for (int r = 0; r < N; r++) /* channel 1 constant */
        for (int k = 0; k < HW; k++) images[(r * C + 1) * HW + k] = 9;
    uint8_t labels[N] = {0};
    cd_dataset d = {.count = N, .height = 1, .width = HW, .images = images, .labels = labels, .channels = C};
    int64_t all[2 * C], a[2 * C], b[2 * C];
    cd_data_pixel_sums(&d, 0, N, all);
    cd_data_pixel_sums(&d, 0, 2, a);
    cd_data_pixel_sums(&d, 2, 3, b);
    int64_t s0 = 0, q0 = 0;
    for (int r = 0; r < N; r++)
        for (int k = 0; k < HW; k++) s0 += images[r * C * HW + k], q0 += images[r * C * HW + k] * images[r * C * HW + k];
    assert_true(all[0] == s0 && all[1] == q0 && all[2] == 9 * N * HW && all[3] == 81 * N * HW);
    for (int i = 0; i < 2 * C; i++) assert_true(a[i] + b[i] == all[i]);
    double mean[C], std[C];
    cd_error err = {0};
    expect_input_error(cd_data_norm_from_sums(all, C, N, HW, "x.h5", mean, std, &err), &err, "x.h5",
                       "x.h5: /train/images: channel 1 is constant over the 5 training rows (every pixel 9)", NULL);
    assert_int_equal(cd_data_norm_from_sums(all, 1, N, HW, "x.h5", mean, std, &err), CD_OK);
    const double m = (double)s0 / (N * HW), var = (double)q0 / (N * HW) - m * m;
    assert_true(fabs(mean[0] - m / 255) < 1e-15 && fabs(std[0] - sqrt(var) / 255) < 1e-15);
    double v[3] = {0.1307, 1.0 / 3.0, 1e-300}, back[3];
    char text[CD_NORM_TEXT_MAX];
    cd_data_norm_format(v, 3, text, sizeof text);
    assert_int_equal(cd_data_norm_parse(text, back, 3), 3);
    assert_memory_equal(v, back, sizeof v);
    assert_int_equal(cd_data_norm_parse("1,x", back, 3), -1);
    assert_int_equal(cd_data_norm_parse("1,2,3,4", back, 3), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout_n_h_w_contiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_n_1_h_w_contiguous, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_n_h_w_chunked_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_n_1_h_w_chunked_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_uint16_pixels_int32_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layout_non_square, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_zero_rows_and_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_images, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_float_pixels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_float_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_rank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_channels, setup, teardown),
        cmocka_unit_test(test_normalisation_from_sums),
        cmocka_unit_test_setup_teardown(test_label_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pixel_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hdf5_error_printing_is_silenced_and_restored, setup, teardown),
        cmocka_unit_test(test_gather_normalises),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
