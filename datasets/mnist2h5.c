/* mnist2h5: converts MNIST IDX files (raw or gzip) into the HDF5 layout cnn_ddp reads:
 * /train/images uint8 [N,rows,cols], /train/labels uint8 [N], and /test/... likewise.
 * The output is written to OUT.tmp, synced and renamed, so OUT is either complete or absent. */
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cnn_ddp/h5_quiet.h"
#include "cnn_ddp/h5_storage.h"

#include "cnn_ddp/error.h"
#include "cnn_ddp/idx.h"

#define CHUNK_TARGET_BYTES (1 << 20) /* ~1 MiB chunks: 1024 rows of 28x28 */
#define CHUNK_MAX_ROWS 1024
#define DEFLATE_LEVEL 4

typedef struct options {
    const char *images, *labels, *test_images, *test_labels, *output;
} options;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: mnist2h5 --images FILE --labels FILE [--test-images FILE --test-labels FILE] -o OUT.h5\n"
            "\n"
            "Converts MNIST IDX files (raw or .gz) to HDF5: /train/images uint8 [N,rows,cols],\n"
            "/train/labels uint8 [N] and, with the test pair, /test/images and /test/labels.\n"
            "Datasets are chunked and deflate-compressed. OUT is written via OUT.tmp and a rename,\n"
            "so it is never left half-written. Bad input is refused with exit status 2.\n");
}

static cd_status parse_args(int argc, char **argv, options *opt, int *help, cd_error *err)
{
    memset(opt, 0, sizeof *opt);
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            *help = 1;
            return CD_OK;
        }
        if (strcmp(a, "--images") == 0) slot = &opt->images;
        else if (strcmp(a, "--labels") == 0) slot = &opt->labels;
        else if (strcmp(a, "--test-images") == 0) slot = &opt->test_images;
        else if (strcmp(a, "--test-labels") == 0) slot = &opt->test_labels;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) slot = &opt->output;
        else return CD_FAIL(err, CD_E_USAGE, "%s: unknown option (see --help)", a);
        if (i + 1 >= argc || argv[i + 1][0] == '\0')
            return CD_FAIL(err, CD_E_USAGE, "%s: needs a file name", a);
        *slot = argv[++i];
    }
    if (!opt->images) return CD_FAIL(err, CD_E_USAGE, "--images: required (see --help)");
    if (!opt->labels) return CD_FAIL(err, CD_E_USAGE, "--labels: required (see --help)");
    if (!opt->output) return CD_FAIL(err, CD_E_USAGE, "-o: required (see --help)");
    if (!opt->test_images != !opt->test_labels)
        return CD_FAIL(err, CD_E_USAGE, "%s: --test-images and --test-labels go together",
                       opt->test_images ? "--test-labels" : "--test-images");
    return CD_OK;
}

/* Creates a chunked, deflate-compressed uint8 dataset of shape [n, rows, cols] (rank 1 when labels);
 * on failure `why` holds HDF5's reason, taken before cleanup calls clear the error stack. */
static hid_t create_dataset(hid_t group, const char *name, int rank, int64_t n, int rows, int cols,
                            hsize_t chunk_rows, char why[256])
{
    snprintf(why, 256, "HDF5 error");
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)rows, (hsize_t)cols};
    hsize_t chunk[3] = {chunk_rows, (hsize_t)rows, (hsize_t)cols};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 &&
        H5Pset_deflate(dcpl, DEFLATE_LEVEL) >= 0)
        ds = H5Dcreate2(group, name, H5T_STD_U8LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (ds < 0) cd_h5_reason(why, 256);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    return ds;
}

/* Writes rows [first, first + n) of a dataset from buf. */
static herr_t write_rows(hid_t ds, int rank, int64_t first, int64_t n, int rows, int cols, const uint8_t *buf,
                         char why[256])
{
    snprintf(why, 256, "HDF5 error");
    hsize_t start[3] = {(hsize_t)first, 0, 0};
    hsize_t count[3] = {(hsize_t)n, (hsize_t)rows, (hsize_t)cols};
    hid_t file_space = H5Dget_space(ds);
    hid_t mem_space = H5Screate_simple(rank, count, NULL);
    herr_t st = -1;
    if (file_space >= 0 && mem_space >= 0 &&
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        st = H5Dwrite(ds, H5T_NATIVE_UCHAR, mem_space, file_space, H5P_DEFAULT, buf);
    if (st < 0) cd_h5_reason(why, 256);
    if (mem_space >= 0) H5Sclose(mem_space);
    if (file_space >= 0) H5Sclose(file_space);
    return st;
}

typedef struct split_job {
    cd_idx_file images, labels;
    hid_t group, ds_images, ds_labels;
    uint8_t *pix, *lab;
} split_job;

static void split_job_close(split_job *j)
{
    cd_idx_close(&j->images);
    cd_idx_close(&j->labels);
    if (j->ds_images >= 0) H5Dclose(j->ds_images);
    if (j->ds_labels >= 0) H5Dclose(j->ds_labels);
    if (j->group >= 0) H5Gclose(j->group);
    free(j->pix);
    free(j->lab);
}

static cd_status convert_split_in(split_job *j, hid_t file, const char *split, const char *images_path,
                                  const char *labels_path, const char *out_path, cd_error *err)
{
    char why[256];
    CD_TRY(cd_idx_open(images_path, CD_IDX_MAGIC_IMAGES, &j->images, err));
    CD_TRY(cd_idx_open(labels_path, CD_IDX_MAGIC_LABELS, &j->labels, err));
    int64_t n = j->images.count;
    if (n == 0) return CD_FAIL(err, CD_E_INPUT, "%s: the header declares zero images", images_path);
    if (j->labels.count != n)
        return CD_FAIL(err, CD_E_INPUT, "%s: %lld labels but %s holds %lld images", labels_path,
                       (long long)j->labels.count, images_path, (long long)n);
    int rows = j->images.rows, cols = j->images.cols;
    int64_t row_bytes = j->images.item_bytes;
    int64_t piece = CHUNK_TARGET_BYTES / row_bytes;
    if (piece < 1) piece = 1;
    if (piece > CHUNK_MAX_ROWS) piece = CHUNK_MAX_ROWS;
    if (piece > n) piece = n;

    j->group = H5Gcreate2(file, split, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (j->group < 0)
        return CD_FAIL(err, CD_E_IO, "%s: /%s: cannot create group: %s", out_path, split, cd_h5_reason(why, 256));
    j->ds_images = create_dataset(j->group, "images", 3, n, rows, cols, (hsize_t)piece, why);
    if (j->ds_images < 0)
        return CD_FAIL(err, CD_E_IO, "%s: /%s/images: cannot create: %s", out_path, split, why);
    j->ds_labels = create_dataset(j->group, "labels", 1, n, 1, 1, (hsize_t)piece, why);
    if (j->ds_labels < 0)
        return CD_FAIL(err, CD_E_IO, "%s: /%s/labels: cannot create: %s", out_path, split, why);

    /* Stream one chunk's worth of rows at a time, so memory stays bounded by the chunk size. */
    j->pix = malloc((size_t)(piece * row_bytes));
    j->lab = malloc((size_t)piece);
    if (!j->pix || !j->lab)
        return CD_FAIL(err, CD_E_NOMEM, "out of memory for %lld rows of %dx%d", (long long)piece, rows, cols);
    for (int64_t first = 0; first < n; first += piece) {
        int64_t m = n - first < piece ? n - first : piece;
        CD_TRY(cd_idx_read(&j->images, m, j->pix, err));
        CD_TRY(cd_idx_read(&j->labels, m, j->lab, err));
        for (int64_t i = 0; i < m; i++)
            if (j->lab[i] > 9)
                return CD_FAIL(err, CD_E_INPUT, "%s: label %u at row %lld is outside 0-9", labels_path,
                               j->lab[i], (long long)(first + i));
        if (write_rows(j->ds_images, 3, first, m, rows, cols, j->pix, why) < 0)
            return CD_FAIL(err, CD_E_IO, "%s: /%s/images: write failed: %s", out_path, split, why);
        if (write_rows(j->ds_labels, 1, first, m, 1, 1, j->lab, why) < 0)
            return CD_FAIL(err, CD_E_IO, "%s: /%s/labels: write failed: %s", out_path, split, why);
    }
    CD_TRY(cd_idx_finish(&j->images, err));
    CD_TRY(cd_idx_finish(&j->labels, err));
    return CD_OK;
}

static cd_status convert_split(hid_t file, const char *split, const char *images_path, const char *labels_path,
                               const char *out_path, cd_error *err)
{
    split_job j;
    memset(&j, 0, sizeof j);
    j.group = j.ds_images = j.ds_labels = H5I_INVALID_HID;
    cd_status st = convert_split_in(&j, file, split, images_path, labels_path, out_path, err);
    split_job_close(&j);
    return st;
}

/* fsync a file or directory by name; the rename is only durable once both are on disk. */
static cd_status sync_path(const char *path, int flags, cd_error *err)
{
    int fd = open(path, flags);
    if (fd < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot open to sync", path);
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return CD_FAIL(err, CD_E_IO, "%s: fsync failed", path);
    return CD_OK;
}

static cd_status convert(const options *opt, const char *tmp, cd_error *err)
{
    char why[256];
    /* The checksummed 1.10 format (see cd_h5_set_file_format): damage to the chunk index is then
     * refused by HDF5 itself instead of being followed. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    hid_t file = H5I_INVALID_HID;
    if (fapl >= 0 && cd_h5_set_file_format(fapl) >= 0) file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (file < 0) cd_h5_reason(why, 256);
    if (fapl >= 0) H5Pclose(fapl);
    if (file < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot create: %s", tmp, why);
    cd_status st = convert_split(file, "train", opt->images, opt->labels, tmp, err);
    if (st == CD_OK && opt->test_images)
        st = convert_split(file, "test", opt->test_images, opt->test_labels, tmp, err);
    if (H5Fclose(file) < 0 && st == CD_OK)
        st = CD_FAIL(err, CD_E_IO, "%s: close failed: %s", tmp, cd_h5_reason(why, 256));
    if (st != CD_OK) return st;
    CD_TRY(sync_path(tmp, O_RDONLY, err));
    if (rename(tmp, opt->output) != 0)
        return CD_FAIL(err, CD_E_IO, "%s: cannot rename to %s", tmp, opt->output);

    char *dir = strdup(opt->output);
    if (!dir) return CD_FAIL(err, CD_E_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else if (slash) *slash = '\0';
    else strcpy(dir, ".");
    st = sync_path(dir, O_RDONLY | O_DIRECTORY, err);
    free(dir);
    return st;
}

int main(int argc, char **argv)
{
    cd_error err;
    memset(&err, 0, sizeof err);
    options opt;
    int help = 0;
    cd_status st = parse_args(argc, argv, &opt, &help, &err);
    if (help) {
        usage(stdout);
        return 0;
    }
    if (st != CD_OK) {
        fprintf(stderr, "mnist2h5: %s\n", err.msg);
        return cd_status_exit_code(st);
    }
    /* Our messages replace HDF5's multi-line stack dumps. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    size_t len = strlen(opt.output) + 5;
    char *tmp = malloc(len);
    if (!tmp) {
        fprintf(stderr, "mnist2h5: out of memory\n");
        return 1;
    }
    snprintf(tmp, len, "%s.tmp", opt.output);
    st = convert(&opt, tmp, &err);
    if (st != CD_OK) {
        unlink(tmp);
        fprintf(stderr, "mnist2h5: %s\n", err.msg);
    }
    free(tmp);
    return cd_status_exit_code(st);
}
