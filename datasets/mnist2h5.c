/* mnist2h5: converts an IDX image set (MNIST, Fashion-MNIST, KMNIST, ...: ubyte images [N,rows,cols] and
 * ubyte labels [N], raw or gzip) into the HDF5 layout cnn_ddp reads: /train/images uint8 [N,rows,cols],
 * /train/labels uint8 [N], and /test/... likewise, with the attributes the trainer takes its
 * normalisation and classes from (mean/std on /train/images, num_classes/class_names on /train/labels)
 * and, given --sources, a record of the source files (prepare.sh's up-to-date check reads it back).
 * The output is written to OUT.tmp, synced and renamed, so OUT is either complete or absent. */
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
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
/* No filter by default: inflating is most of a run's start-up (the shared 22,699 MNIST training images:
 * 0.10-0.13 s to the first step with deflate level 4 against 0.04-0.05 s stored plain, on every rank of
 * every run), and the plain file is only 4.8x the compressed one (18.5 MB against 3.9 MB for them). */
#define DEFLATE_MAX 9

#define MAX_CLASSES 256 /* ubyte labels */

typedef struct options {
    const char *images, *labels, *test_images, *test_labels, *output;
    const char *classes_arg, *class_names, *sources, *print_sources, *deflate_arg;
    int deflate; /* 0: chunks stored plain; 1-9: the deflate (gzip) level */
    int classes; /* 0: max label + 1 over train and test */
} options;

/* What the train split's pass measured: exact integer sums for the per-channel statistics (one channel
 * for IDX), and the largest label of every split. */
typedef struct split_stats {
    uint64_t sum, sum_sq, count;
    int max_label;
} split_stats;

static void usage(FILE *to)
{
    fprintf(to,
            "usage: mnist2h5 --images FILE --labels FILE [--test-images FILE --test-labels FILE]\n"
            "                [--classes K] [--class-names NAME,NAME,...] [--sources TEXT] [--deflate L]\n"
            "                -o OUT.h5\n"
            "       mnist2h5 --print-sources FILE.h5\n"
            "\n"
            "Converts an IDX image set (ubyte images [N,rows,cols] and ubyte labels [N], raw or .gz:\n"
            "MNIST, Fashion-MNIST, ...) to HDF5: /train/images uint8 [N,rows,cols], /train/labels\n"
            "uint8 [N] and, with the test pair, /test/images and /test/labels. Datasets are chunked\n"
            "(~1 MiB) and stored plain, which reads fastest: --deflate L (1-9; 0, the default: none)\n"
            "compresses them with deflate (gzip) level L, for a file several times smaller that every\n"
            "run then spends start-up time inflating. Attributes written:\n"
            "  /train/images mean, std   float64 [1]: over every training pixel, in units of pixel/255\n"
            "                            (population std), computed exactly from integer sums\n"
            "  /train/labels num_classes int64: --classes, else the number of --class-names, else\n"
            "                            the largest label (train and test) + 1\n"
            "  /train/labels class_names strings [K], with --class-names (comma-separated)\n"
            "  / sources                 string: TEXT (prepare.sh stores sha256sum lines of the sources)\n"
            "A label >= K is refused. --print-sources prints FILE.h5's sources attribute (exit 1\n"
            "when it has none). OUT is written via OUT.tmp and a rename, so it is never left\n"
            "half-written. Bad input is refused with exit status 2.\n");
}

/* Whether s is a whole decimal integer in [lo, hi]; if so, *out is it. */
static int int_in_range(const char *s, int lo, int hi, int *out)
{
    char *end = NULL;
    const long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
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
        else if (strcmp(a, "--classes") == 0) slot = &opt->classes_arg;
        else if (strcmp(a, "--class-names") == 0) slot = &opt->class_names;
        else if (strcmp(a, "--sources") == 0) slot = &opt->sources;
        else if (strcmp(a, "--print-sources") == 0) slot = &opt->print_sources;
        else if (strcmp(a, "--deflate") == 0) slot = &opt->deflate_arg;
        else return CD_FAIL(err, CD_E_USAGE, "%s: unknown option (see --help)", a);
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            const int takes_value = slot == &opt->deflate_arg || slot == &opt->classes_arg ||
                                    slot == &opt->class_names || slot == &opt->sources;
            return CD_FAIL(err, CD_E_USAGE, "%s: needs %s", a, takes_value ? "a value" : "a file name");
        }
        *slot = argv[++i];
    }
    if (opt->print_sources) return CD_OK;
    if (opt->deflate_arg && !int_in_range(opt->deflate_arg, 0, DEFLATE_MAX, &opt->deflate))
        return CD_FAIL(err, CD_E_USAGE, "--deflate %s: must be a level in [0, %d] (0: no compression)",
                       opt->deflate_arg, DEFLATE_MAX);
    if (opt->classes_arg && !int_in_range(opt->classes_arg, 1, MAX_CLASSES, &opt->classes))
        return CD_FAIL(err, CD_E_USAGE, "--classes %s: must be an integer in [1, %d]", opt->classes_arg,
                       MAX_CLASSES);
    if (opt->class_names) {
        int names = 1;
        for (const char *p = opt->class_names; *p; p++) names += *p == ',';
        size_t len = strlen(opt->class_names);
        if (opt->class_names[0] == ',' || opt->class_names[len - 1] == ',' || strstr(opt->class_names, ",,"))
            return CD_FAIL(err, CD_E_USAGE, "--class-names: an empty name (names are comma-separated)");
        if (names > MAX_CLASSES)
            return CD_FAIL(err, CD_E_USAGE, "--class-names: %d names, more than %d classes", names, MAX_CLASSES);
        if (opt->classes && opt->classes != names)
            return CD_FAIL(err, CD_E_USAGE, "--class-names: %d names but --classes %d", names, opt->classes);
        opt->classes = names;
    }
    if (!opt->images) return CD_FAIL(err, CD_E_USAGE, "--images: required (see --help)");
    if (!opt->labels) return CD_FAIL(err, CD_E_USAGE, "--labels: required (see --help)");
    if (!opt->output) return CD_FAIL(err, CD_E_USAGE, "-o: required (see --help)");
    if (!opt->test_images != !opt->test_labels)
        return CD_FAIL(err, CD_E_USAGE, "%s: --test-images and --test-labels go together",
                       opt->test_images ? "--test-labels" : "--test-images");
    return CD_OK;
}

/* Creates a chunked uint8 dataset of shape [n, rows, cols] (rank 1 when labels), deflated at `deflate`
 * unless 0; on failure `why` holds HDF5's reason, taken before cleanup calls clear the error stack. */
static hid_t create_dataset(hid_t group, const char *name, int rank, int64_t n, int rows, int cols,
                            hsize_t chunk_rows, int deflate, char why[256])
{
    snprintf(why, 256, "HDF5 error");
    hsize_t dims[3] = {(hsize_t)n, (hsize_t)rows, (hsize_t)cols};
    hsize_t chunk[3] = {chunk_rows, (hsize_t)rows, (hsize_t)cols};
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 &&
        (deflate == 0 || H5Pset_deflate(dcpl, (unsigned)deflate) >= 0))
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
                                  const char *labels_path, int classes, int deflate, split_stats *stats,
                                  const char *out_path, cd_error *err)
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
    j->ds_images = create_dataset(j->group, "images", 3, n, rows, cols, (hsize_t)piece, deflate, why);
    if (j->ds_images < 0)
        return CD_FAIL(err, CD_E_IO, "%s: /%s/images: cannot create: %s", out_path, split, why);
    j->ds_labels = create_dataset(j->group, "labels", 1, n, 1, 1, (hsize_t)piece, deflate, why);
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
        for (int64_t i = 0; i < m; i++) {
            if (classes && j->lab[i] >= classes)
                return CD_FAIL(err, CD_E_INPUT, "%s: label %u at row %lld is outside 0-%d (%d classes)",
                               labels_path, j->lab[i], (long long)(first + i), classes - 1, classes);
            if (j->lab[i] > stats->max_label) stats->max_label = j->lab[i];
        }
        /* Integer sums in file order: exact, so the statistics do not depend on how rows are grouped. */
        for (int64_t k = 0; k < m * row_bytes; k++) {
            stats->sum += j->pix[k];
            stats->sum_sq += (uint64_t)j->pix[k] * j->pix[k];
        }
        stats->count += (uint64_t)(m * row_bytes);
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
                               int classes, int deflate, split_stats *stats, const char *out_path, cd_error *err)
{
    split_job j;
    memset(&j, 0, sizeof j);
    j.group = j.ds_images = j.ds_labels = H5I_INVALID_HID;
    memset(stats, 0, sizeof *stats);
    cd_status st =
        convert_split_in(&j, file, split, images_path, labels_path, classes, deflate, stats, out_path, err);
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

/* ---- attributes, written as h5py writes them (so the README's recipe and this converter agree):
 * strings variable-length UTF-8, num_classes an int64 scalar, mean/std float64 1-D ---- */

static hid_t vlen_utf8(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* Writes attribute `name` on object `path` of `file`: `n` values (n < 0: a scalar) of mem_type. */
static herr_t put_attr(hid_t file, const char *path, const char *name, hid_t file_type, hid_t mem_type,
                       hssize_t n, const void *values)
{
    hsize_t dims[1] = {(hsize_t)(n < 0 ? 1 : n)};
    hid_t space = n < 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
    hid_t obj = H5Oopen(file, path, H5P_DEFAULT);
    hid_t attr = H5I_INVALID_HID;
    if (space >= 0 && obj >= 0) attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, mem_type, values);
    if (attr >= 0 && H5Aclose(attr) < 0) rc = -1;
    if (obj >= 0) H5Oclose(obj);
    if (space >= 0) H5Sclose(space);
    return rc;
}

static herr_t put_strings(hid_t file, const char *path, const char *name, hssize_t n, const char *const *values)
{
    hid_t t = vlen_utf8();
    if (t < 0) return -1;
    herr_t rc = put_attr(file, path, name, t, t, n, values);
    H5Tclose(t);
    return rc;
}

/* The training pixels' mean and population std in units of pixel/255, from the exact integer sums:
 * var * n^2 = n * sum_sq - sum^2 is computed in 128-bit integers, so the only roundings are the final
 * conversion, division and square root. */
static void pixel_stats(const split_stats *s, double *mean, double *std)
{
    double scale = (double)s->count * 255.0;
    unsigned __int128 n_sq = (unsigned __int128)s->count * s->sum_sq;
    unsigned __int128 sq = (unsigned __int128)s->sum * s->sum;
    *mean = (double)s->sum / scale;
    *std = sqrt((double)(n_sq - sq)) / scale;
}

static cd_status write_attributes(hid_t file, const options *opt, const split_stats *train,
                                  const split_stats *test, const char *out_path, cd_error *err)
{
    char why[256];
    int max_label = train->max_label > test->max_label ? train->max_label : test->max_label;
    int64_t classes = opt->classes ? opt->classes : max_label + 1;
    double mean, std;
    pixel_stats(train, &mean, &std);
    if (std <= 0.0)
        return CD_FAIL(err, CD_E_INPUT, "%s: every training pixel is %.0f: no contrast to normalise by", opt->images,
                       mean * 255.0);
    if (put_attr(file, "/train/images", "mean", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &mean) < 0 ||
        put_attr(file, "/train/images", "std", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &std) < 0 ||
        put_attr(file, "/train/labels", "num_classes", H5T_STD_I64LE, H5T_NATIVE_INT64, -1, &classes) < 0)
        return CD_FAIL(err, CD_E_IO, "%s: cannot write attributes: %s", out_path, cd_h5_reason(why, 256));
    if (opt->class_names) {
        char *copy = strdup(opt->class_names);
        const char **names = calloc((size_t)classes, sizeof *names);
        herr_t rc = -1;
        if (copy && names) {
            int k = 0;
            for (char *tok = strtok(copy, ","); tok && k < classes; tok = strtok(NULL, ",")) names[k++] = tok;
            rc = put_strings(file, "/train/labels", "class_names", classes, names);
        }
        free(names);
        free(copy);
        if (rc < 0) return CD_FAIL(err, CD_E_IO, "%s: /train/labels: cannot write class_names: %s", out_path,
                                   cd_h5_reason(why, 256));
    }
    if (opt->sources && put_strings(file, "/", "sources", -1, &opt->sources) < 0)
        return CD_FAIL(err, CD_E_IO, "%s: cannot write the sources attribute: %s", out_path, cd_h5_reason(why, 256));
    return CD_OK;
}

/* --print-sources: the file's root attribute `sources`, on stdout. CD_E_INPUT when it is absent. */
static cd_status print_sources(const char *path, cd_error *err)
{
    char why[256];
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot open as HDF5: %s", path, cd_h5_reason(why, 256));
    cd_status st = CD_OK;
    hid_t attr = H5Aexists(file, "sources") > 0 ? H5Aopen(file, "sources", H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : H5I_INVALID_HID;
    hid_t mem = vlen_utf8();
    char *text = NULL;
    if (attr < 0) st = CD_FAIL(err, CD_E_INPUT, "%s: no sources attribute", path);
    else if (type < 0 || space < 0 || mem < 0 || H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) <= 0 ||
             H5Sget_simple_extent_npoints(space) != 1 || H5Aread(attr, mem, &text) < 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: the sources attribute is not one variable-length string", path);
    else printf("%s\n", text ? text : "");
    if (text) H5free_memory(text);
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (attr >= 0) H5Aclose(attr);
    H5Fclose(file);
    return st;
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
    split_stats train, test;
    memset(&test, 0, sizeof test);
    cd_status st = convert_split(file, "train", opt->images, opt->labels, opt->classes, opt->deflate, &train, tmp,
                                 err);
    if (st == CD_OK && opt->test_images)
        st = convert_split(file, "test", opt->test_images, opt->test_labels, opt->classes, opt->deflate, &test,
                           tmp, err);
    if (st == CD_OK) st = write_attributes(file, opt, &train, &test, tmp, err);
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
    if (opt.print_sources) {
        st = print_sources(opt.print_sources, &err);
        if (st != CD_OK) fprintf(stderr, "mnist2h5: %s\n", err.msg);
        return st == CD_OK ? 0 : 1;
    }

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
