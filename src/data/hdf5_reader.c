/* Reads image-classification splits from HDF5 with validation. Every HDF5 call runs with HDF5's own error
 * printing switched off (saved and restored per call, so callers' settings survive), and every failure
 * becomes one CD_E_INPUT line "<path>: /<split>/<dataset>: <problem>". Only the requested rows are read,
 * through a hyperslab, so a rank holds just its part of the data. */
#include "cnn_ddp/data.h"
#include "cnn_ddp/limits.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cnn_ddp/h5_quiet.h"
#include "cnn_ddp/input_file.h"
#include "cnn_ddp/h5_storage.h"
#include "h5_attrs.h"

#define LABEL_BLOCK 65536     /* labels are range-checked this many rows at a time */
/* Images are read this many bytes at a time (whole rows), with a beat between reads, so that a big
 * file read is progress a watchdog can see; one read of MNIST's 47 MB takes ~0.1 s here. */
#define IMAGE_BLOCK_BYTES (64 << 20)

typedef struct split_handles {
    hid_t file, group, images, labels;
    int images_rank; /* 3: [N,H,W]; 4: [N,C,H,W] or [N,H,W,C] */
    void (*beat)(void *ctx); /* may be NULL: called between reads */
    void *beat_ctx;
    int64_t file_size;
    cd_data_info info;
} split_handles;

static void close_split(split_handles *h)
{
    if (h->labels >= 0) H5Dclose(h->labels);
    if (h->images >= 0) H5Dclose(h->images);
    if (h->group >= 0) H5Gclose(h->group);
    if (h->file >= 0) H5Fclose(h->file);
    h->file = h->group = h->images = h->labels = H5I_INVALID_HID;
}

static const char *class_name(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "integer";
    case H5T_FLOAT: return "floating-point";
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum";
    case H5T_ARRAY: return "array";
    default: return "non-numeric";
    }
}

static void format_shape(char *buf, size_t cap, int rank, const hsize_t *dims)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
}

static cd_status open_dataset(const char *path, const char *split, hid_t group, const char *name, hid_t *ds,
                              cd_error *err)
{
    char why[256];
    htri_t exists = H5Lexists(group, name, H5P_DEFAULT);
    if (exists <= 0) return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s: missing dataset", path, split, name);
    *ds = H5Dopen2(group, name, H5P_DEFAULT);
    if (*ds < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s: not a readable dataset (%s)", path, split, name,
                       cd_h5_reason(why, 256));
    return CD_OK;
}

/* Checks the dataset's element type is integer; `what` names the values for the message. */
static cd_status check_integer(const char *path, const char *split, const char *name, hid_t ds,
                               const char *what, cd_error *err)
{
    hid_t type = H5Dget_type(ds);
    H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    size_t size = type >= 0 ? H5Tget_size(type) : 0;
    if (type >= 0) H5Tclose(type);
    if (cls != H5T_INTEGER)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s: %s type is %s; expected an integer type such as uint8",
                       path, split, name, what, class_name(cls));
    if (size > 8)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s: %zu-byte integers are not supported", path, split, name,
                       size);
    return CD_OK;
}

static cd_status get_shape(const char *path, const char *split, const char *name, hid_t ds, int *rank,
                           hsize_t dims[H5S_MAX_RANK], cd_error *err)
{
    char why[256];
    hid_t space = H5Dget_space(ds);
    int r = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
    if (r < 0) cd_h5_reason(why, 256);
    if (space >= 0) H5Sclose(space);
    if (r < 0) return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s: cannot read the shape (%s)", path, split, name, why);
    *rank = r;
    return CD_OK;
}

const char *cd_data_layout_name(cd_data_layout layout)
{
    return layout == CD_LAYOUT_NHWC ? "NHWC" : layout == CD_LAYOUT_NCHW ? "NCHW" : "[N,H,W]";
}

/* The images' `layout` attribute: absent means [N,H,W] or [N,C,H,W] by the rank; "NCHW" and "NHWC" say it
 * for rank 4 (never guessed from the shape). */
static cd_status read_layout(const char *path, const char *split, hid_t images, int rank, const char *shape,
                             cd_data_layout *layout, cd_error *err)
{
    char what[64], value[64];
    snprintf(what, sizeof what, "/%s/images", split);
    cd_status st;
    *layout = rank == 3 ? CD_LAYOUT_NHW : CD_LAYOUT_NCHW;
    int present = cd_h5_attr_present(images, path, what, "layout", &st, err);
    if (present <= 0) return st;
    CD_TRY(cd_h5_attr_string(images, path, what, "layout", value, sizeof value, err));
    if (rank == 4 && strcmp(value, "NHWC") == 0) *layout = CD_LAYOUT_NHWC;
    else if (rank == 4 && strcmp(value, "NCHW") == 0) *layout = CD_LAYOUT_NCHW;
    else if (rank == 4 || (strcmp(value, "NCHW") != 0 && strcmp(value, "NHWC") != 0))
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute layout is \"%s\"; expected \"NCHW\" or \"NHWC\"", path,
                       what, value);
    else
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute layout is \"%s\" but the shape %s has no channel axis", path,
                       what, value, shape);
    return CD_OK;
}

/* The images' mean and std attributes: both or neither; C finite values each, std > 0. */
static cd_status read_norm(const char *path, const char *split, hid_t images, cd_data_info *info, cd_error *err)
{
    char what[64];
    snprintf(what, sizeof what, "/%s/images", split);
    cd_status st;
    int has_mean = cd_h5_attr_present(images, path, what, "mean", &st, err);
    CD_TRY(st);
    int has_std = cd_h5_attr_present(images, path, what, "std", &st, err);
    CD_TRY(st);
    if (!has_mean && !has_std) return CD_OK;
    if (has_mean != has_std)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s is present but %s is not; store both (float64, one "
                       "per channel) or neither", path, what, has_mean ? "mean" : "std", has_mean ? "std" : "mean");
    CD_TRY(cd_h5_attr_doubles(images, path, what, "mean", info->channels, info->mean, err));
    CD_TRY(cd_h5_attr_doubles(images, path, what, "std", info->channels, info->std, err));
    for (int c = 0; c < info->channels; c++)
        if (!(info->std[c] > 0))
            return CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute std value %d is %g; expected > 0", path, what, c,
                           info->std[c]);
    info->has_norm = 1;
    return CD_OK;
}

/* The labels' num_classes attribute: 2 to CD_MAX_CLASSES. */
static cd_status read_num_classes(const char *path, const char *split, hid_t labels, cd_data_info *info,
                                  cd_error *err)
{
    char what[64];
    snprintf(what, sizeof what, "/%s/labels", split);
    cd_status st;
    if (cd_h5_attr_present(labels, path, what, "num_classes", &st, err) <= 0) return st;
    long long k = 0;
    CD_TRY(cd_h5_attr_int(labels, path, what, "num_classes", &k, err));
    if (k < 2 || k > CD_MAX_CLASSES)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute num_classes is %lld; cnn_ddp takes 2 to %d classes", path,
                       what, k, CD_MAX_CLASSES);
    info->num_classes = (int)k;
    return CD_OK;
}

static cd_status open_split_in(const char *path, const char *split, split_handles *h, cd_error *err)
{
    char why[256], shape[160];
    if (split == NULL || split[0] == '\0' || strchr(split, '/'))
        return CD_FAIL(err, CD_E_INTERNAL, "%s: bad split name \"%s\"", path, split ? split : "(null)");
    CD_TRY(cd_input_file_check(path, err)); /* a FIFO would block fopen() */
    FILE *probe = fopen(path, "rb");
    if (!probe) return CD_FAIL(err, CD_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    int stat_rc = fstat(fileno(probe), &sb);
    fclose(probe);
    if (stat_rc != 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot stat: %s", path, strerror(errno));
    h->file_size = (int64_t)sb.st_size;
    if (H5Fis_hdf5(path) <= 0) return CD_FAIL(err, CD_E_INPUT, "%s: not an HDF5 file", path);

    /* Read-only access needs no lock, and locks fail on some parallel file systems. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl >= 0) H5Pset_file_locking(fapl, 0, 1);
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    const char *reason = h->file < 0 ? cd_h5_reason(why, 256) : ""; /* before any other call clears the stack */
    if (fapl >= 0) H5Pclose(fapl);
    if (h->file < 0) {
        if (strncmp(reason, "truncated file", 14) == 0) /* HDF5 already says "truncated file: eof = ..." */
            return CD_FAIL(err, CD_E_INPUT, "%s: %s", path, reason);
        if (strstr(reason, "truncated"))
            return CD_FAIL(err, CD_E_INPUT, "%s: truncated file (%s)", path, reason);
        return CD_FAIL(err, CD_E_INPUT, "%s: damaged HDF5 file (%s)", path, reason);
    }

    if (H5Lexists(h->file, split, H5P_DEFAULT) <= 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s: missing group", path, split);
    h->group = H5Gopen2(h->file, split, H5P_DEFAULT);
    if (h->group < 0) return CD_FAIL(err, CD_E_INPUT, "%s: /%s: not a group", path, split);
    CD_TRY(open_dataset(path, split, h->group, "images", &h->images, err));
    CD_TRY(open_dataset(path, split, h->group, "labels", &h->labels, err));

    CD_TRY(check_integer(path, split, "images", h->images, "pixel", err));
    hsize_t dims[H5S_MAX_RANK];
    int rank = 0;
    CD_TRY(get_shape(path, split, "images", h->images, &rank, dims, err));
    format_shape(shape, sizeof shape, rank, dims);
    if (rank != 3 && rank != 4)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: shape %s has rank %d; expected [N,H,W], [N,C,H,W] or "
                       "[N,H,W,C] (with layout \"NHWC\")", path, split, shape, rank);
    CD_TRY(read_layout(path, split, h->images, rank, shape, &h->info.layout, err));
    const int nhwc = h->info.layout == CD_LAYOUT_NHWC;
    hsize_t channels = rank == 3 ? 1 : nhwc ? dims[3] : dims[1];
    hsize_t height = rank == 3 ? dims[1] : nhwc ? dims[1] : dims[2];
    hsize_t width = rank == 3 ? dims[2] : nhwc ? dims[2] : dims[3];
    if (channels < 1 || channels > CD_MAX_CHANNELS)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: shape %s (%s) has %llu channels; cnn_ddp takes 1 to %d", path,
                       split, shape, cd_data_layout_name(h->info.layout), (unsigned long long)channels, CD_MAX_CHANNELS);
    if (height < 1 || height > CD_MAX_IMAGE_SIDE || width < 1 || width > CD_MAX_IMAGE_SIDE)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: image size %llux%llu is outside 1..%d per side", path,
                       split, (unsigned long long)height, (unsigned long long)width, CD_MAX_IMAGE_SIDE);
    if (dims[0] == 0) return CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: zero samples", path, split);
    if (dims[0] > (hsize_t)INT64_MAX / (channels * height * width))
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: shape %s is too large", path, split, shape);
    h->images_rank = rank;
    h->info.count = (int64_t)dims[0];
    h->info.channels = (int)channels;
    h->info.height = (int)height;
    h->info.width = (int)width;
    CD_TRY(read_norm(path, split, h->images, &h->info, err));

    CD_TRY(check_integer(path, split, "labels", h->labels, "label", err));
    CD_TRY(get_shape(path, split, "labels", h->labels, &rank, dims, err));
    if (rank != 1) {
        format_shape(shape, sizeof shape, rank, dims);
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: shape %s has rank %d; expected [N]", path, split,
                       shape, rank);
    }
    if ((int64_t)dims[0] != h->info.count)
        return CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: %llu labels but /%s/images has %lld rows", path, split,
                       (unsigned long long)dims[0], split, (long long)h->info.count);
    return read_num_classes(path, split, h->labels, &h->info, err);
}

/* The stored bytes behind rows [first, first + count) of both datasets, checked before any read. */
static cd_status check_storage(const char *path, const char *split, const split_handles *h, int64_t first,
                               int64_t count, cd_error *err)
{
    char what[96];
    snprintf(what, sizeof what, "/%s/images", split);
    CD_TRY(cd_h5_check_storage(h->images, path, what, h->file_size, first, count, err));
    snprintf(what, sizeof what, "/%s/labels", split);
    return cd_h5_check_storage(h->labels, path, what, h->file_size, first, count, err);
}

static cd_status open_split(const char *path, const char *split, split_handles *h, cd_error *err)
{
    h->file = h->group = h->images = h->labels = H5I_INVALID_HID;
    memset(&h->info, 0, sizeof h->info);
    cd_status st = open_split_in(path, split, h, err);
    if (st != CD_OK) close_split(h);
    return st;
}

cd_status cd_data_inspect(const char *path, const char *split, cd_data_info *info, cd_error *err)
{
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    split_handles h;
    cd_status st = open_split(path, split, &h, err);
    if (st == CD_OK) {
        st = check_storage(path, split, &h, 0, h.info.count, err);
        if (st == CD_OK) *info = h.info;
        close_split(&h);
    }
    cd_h5_quiet_end(&q);
    return st;
}

/* Range exceptions during type conversion (e.g. uint16 pixel 300 -> uint8) abort the read instead of
 * being silently clipped; the flag tells the caller why the read failed. */
static H5T_conv_ret_t range_guard(H5T_conv_except_t kind, hid_t src, hid_t dst, void *src_buf, void *dst_buf,
                                  void *flag)
{
    (void)src;
    (void)dst;
    (void)src_buf;
    (void)dst_buf;
    if (kind == H5T_CONV_EXCEPT_RANGE_HI || kind == H5T_CONV_EXCEPT_RANGE_LOW) {
        *(int *)flag = 1;
        return H5T_CONV_ABORT;
    }
    return H5T_CONV_UNHANDLED;
}

/* Reads rows [first, first + n) of ds as mem_type into buf. On failure `why` says what HDF5 reported
 * and *out_of_range whether a value did not fit mem_type. */
static herr_t read_rows(hid_t ds, int rank, int64_t first, int64_t n, hid_t mem_type, void *buf,
                        int *out_of_range, char why[256])
{
    snprintf(why, 256, "unknown HDF5 error");
    hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK] = {0};
    hid_t file_space = H5Dget_space(ds);
    if (file_space < 0) {
        cd_h5_reason(why, 256);
        return -1;
    }
    H5Sget_simple_extent_dims(file_space, count, NULL);
    start[0] = (hsize_t)first;
    count[0] = (hsize_t)n;
    /* A memory space shaped like the selection keeps HDF5 on its fast path (a flat one measured several times slower). */
    hid_t mem_space = H5Screate_simple(rank, count, NULL);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    herr_t st = -1;
    *out_of_range = 0;
    if (mem_space >= 0 && dxpl >= 0 && H5Pset_type_conv_cb(dxpl, range_guard, out_of_range) >= 0 &&
        H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        st = H5Dread(ds, mem_type, mem_space, file_space, dxpl, buf);
    if (st < 0) cd_h5_reason(why, 256);
    if (dxpl >= 0) H5Pclose(dxpl);
    if (mem_space >= 0) H5Sclose(mem_space);
    H5Sclose(file_space);
    return st;
}

/* Labels of rows [first, first + count) as int64, a block at a time: each block to visit(ctx, at, n, values). */
typedef cd_status (*label_visit)(void *ctx, int64_t at, int64_t n, const long long *values, cd_error *err);

static cd_status scan_labels(const char *path, const char *split, const split_handles *h, int64_t first,
                             int64_t count, const char *range, label_visit visit, void *ctx, cd_error *err)
{
    char why[256];
    int64_t block = count < LABEL_BLOCK ? count : LABEL_BLOCK;
    long long *tmp = NULL;
    if (block < 1) return CD_OK;
    CD_ALLOC(err, tmp, block);
    cd_status st = CD_OK;
    /* Read as 64-bit so a value like 266 is reported, not wrapped into a valid-looking uint8. */
    for (int64_t at = 0; at < count && st == CD_OK; at += block) {
        int64_t n = count - at < block ? count - at : block;
        int out_of_range = 0;
        if (read_rows(h->labels, 1, first + at, n, H5T_NATIVE_LLONG, tmp, &out_of_range, why) < 0) {
            if (out_of_range)
                st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: a label in rows [%lld, %lld) is outside %s",
                             path, split, (long long)(first + at), (long long)(first + at + n), range);
            else
                st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: reading rows [%lld, %lld) failed (%s)", path,
                             split, (long long)(first + at), (long long)(first + at + n), why);
            break;
        }
        st = visit(ctx, first + at, n, tmp, err);
    }
    cd_free(tmp);
    return st;
}

typedef struct label_sink {
    const char *path, *split;
    int classes;
    int64_t first;  /* of the held rows */
    uint8_t *labels; /* NULL: only range-check (and track the maximum) */
    long long max;
} label_sink;

static cd_status keep_labels(void *ctx, int64_t at, int64_t n, const long long *v, cd_error *err)
{
    label_sink *k = ctx;
    for (int64_t i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] >= k->classes) {
            if (k->classes == CD_MAX_CLASSES && v[i] >= 0)
                return CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: label %lld at row %lld is outside 0-%d (cnn_ddp "
                               "takes at most %d classes)", k->path, k->split, v[i], (long long)(at + i),
                               k->classes - 1, CD_MAX_CLASSES);
            return CD_FAIL(err, CD_E_INPUT, "%s: /%s/labels: label %lld at row %lld is outside 0-%d", k->path, k->split,
                           v[i], (long long)(at + i), k->classes - 1);
        }
        if (v[i] > k->max) k->max = v[i];
        if (k->labels) k->labels[at + i - k->first] = (uint8_t)v[i];
    }
    return CD_OK;
}

static cd_status load_labels(const char *path, const char *split, const split_handles *h, int64_t first,
                             int64_t count, int classes, uint8_t *labels, cd_error *err)
{
    char range[32];
    snprintf(range, sizeof range, "0-%d", classes - 1);
    label_sink k = {.path = path, .split = split, .classes = classes, .first = first, .labels = labels, .max = -1};
    return scan_labels(path, split, h, first, count, range, keep_labels, &k, err);
}

/* [n][H][W][C] -> [n][C][H][W] */
static void nhwc_to_nchw(const uint8_t *src, uint8_t *dst, int64_t n, int channels, int64_t hw)
{
    for (int64_t r = 0; r < n; r++, src += hw * channels, dst += hw * channels)
        for (int64_t k = 0; k < hw; k++)
            for (int c = 0; c < channels; c++) dst[(int64_t)c * hw + k] = src[k * channels + c];
}

static cd_status load_in(const char *path, const char *split, const split_handles *h, int64_t first,
                         int64_t count, int classes, cd_dataset *out, cd_error *err)
{
    char why[256];
    const int64_t hw = (int64_t)h->info.height * h->info.width, px = hw * h->info.channels;
    const int nhwc = h->info.layout == CD_LAYOUT_NHWC;
    CD_ALLOC(err, out->images, count * px);
    CD_ALLOC(err, out->labels, count);
    CD_TRY(load_labels(path, split, h, first, count, classes, out->labels, err));
    if (h->beat) h->beat(h->beat_ctx);
    const int64_t block = px > 0 && IMAGE_BLOCK_BYTES / px > 0 ? IMAGE_BLOCK_BYTES / px : 1;
    uint8_t *staging = NULL; /* NHWC rows before their transposition */
    if (nhwc) CD_ALLOC(err, staging, (count < block ? count : block) * px);
    cd_status st = CD_OK;
    for (int64_t at = 0; at < count && st == CD_OK; at += block) {
        const int64_t n = count - at < block ? count - at : block, lo = first + at;
        int out_of_range = 0;
        uint8_t *dst = out->images + at * px;
        if (read_rows(h->images, h->images_rank, lo, n, H5T_NATIVE_UCHAR, nhwc ? staging : dst, &out_of_range,
                      why) < 0) {
            if (out_of_range)
                st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: a pixel in rows [%lld, %lld) is outside 0-255", path,
                             split, (long long)lo, (long long)(lo + n));
            else
                st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: reading rows [%lld, %lld) failed (%s)", path, split,
                             (long long)lo, (long long)(lo + n), why);
            break;
        }
        if (nhwc) nhwc_to_nchw(staging, dst, n, h->info.channels, hw);
        if (h->beat) h->beat(h->beat_ctx);
    }
    cd_free(staging);
    return st;
}

cd_status cd_data_load(const char *path, const char *split, int64_t first, int64_t count, cd_dataset *out,
                       cd_error *err)
{
    return cd_data_load_beating(path, split, first, count, CD_MAX_CLASSES, NULL, NULL, out, err);
}

cd_status cd_data_load_beating(const char *path, const char *split, int64_t first, int64_t count, int classes,
                               void (*beat)(void *ctx), void *ctx, cd_dataset *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    if (first < 0 || count < 0 || classes < 1 || classes > CD_MAX_CLASSES)
        return CD_FAIL(err, CD_E_INTERNAL, "%s: /%s: bad row range first=%lld count=%lld (classes %d)", path,
                       split ? split : "(null)", (long long)first, (long long)count, classes);
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    split_handles h = {.beat = beat, .beat_ctx = ctx};
    cd_status st = open_split(path, split, &h, err);
    if (st == CD_OK) {
        if (first > h.info.count || count > h.info.count - first) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/images: rows [%lld, %lld) requested but the split has %lld",
                         path, split, (long long)first, (long long)(first + count), (long long)h.info.count);
        } else {
            out->first_row = first;
            out->count = count;
            out->channels = h.info.channels;
            out->height = h.info.height;
            out->width = h.info.width;
            st = check_storage(path, split, &h, first, count, err);
            if (st == CD_OK && count > 0) st = load_in(path, split, &h, first, count, classes, out, err);
        }
        close_split(&h);
    }
    cd_h5_quiet_end(&q);
    if (st != CD_OK) cd_data_free(out);
    return st;
}

/* The largest label of a split (every label read), refusing a negative one. */
static cd_status label_max(const char *path, const char *split, long long *max, cd_error *err)
{
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    split_handles h = {0};
    cd_status st = open_split(path, split, &h, err);
    if (st == CD_OK) {
        st = check_storage(path, split, &h, 0, h.info.count, err);
        label_sink k = {.path = path, .split = split, .classes = CD_MAX_CLASSES, .max = -1};
        char range[32];
        snprintf(range, sizeof range, "0-%d", CD_MAX_CLASSES - 1);
        if (st == CD_OK) st = scan_labels(path, split, &h, 0, h.info.count, range, keep_labels, &k, err);
        *max = k.max;
        close_split(&h);
    }
    cd_h5_quiet_end(&q);
    return st;
}

/* class_names on /train/labels, K of them. */
static cd_status class_names(const char *path, int classes, char *out, size_t cap, cd_error *err)
{
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    split_handles h = {0};
    out[0] = '\0';
    cd_status st = open_split(path, "train", &h, err);
    if (st == CD_OK) {
        if (cd_h5_attr_present(h.labels, path, "/train/labels", "class_names", &st, err) > 0)
            st = cd_h5_attr_strings(h.labels, path, "/train/labels", "class_names", classes, out, cap, err);
        close_split(&h);
    }
    cd_h5_quiet_end(&q);
    return st;
}

cd_status cd_data_inspect_set(const char *path, cd_data_set_info *out, cd_error *err)
{
    memset(out, 0, sizeof *out);
    CD_TRY(cd_data_inspect(path, "train", &out->train, err));
    out->has_test = cd_data_has_split(path, "test");
    if (out->has_test) CD_TRY(cd_data_inspect(path, "test", &out->test, err));
    const cd_data_info *a = &out->train, *b = &out->test;
    if (out->has_test && (a->channels != b->channels || a->height != b->height || a->width != b->width))
        return CD_FAIL(err, CD_E_INPUT, "%s: /test/images are %dx%dx%d (CxHxW) but /train/images are %dx%dx%d", path,
                       b->channels, b->height, b->width, a->channels, a->height, a->width);
    if (a->num_classes) {
        if (out->has_test && b->num_classes && b->num_classes != a->num_classes)
            return CD_FAIL(err, CD_E_INPUT, "%s: /test/labels: attribute num_classes is %d but /train/labels' is %d",
                           path, b->num_classes, a->num_classes);
        out->classes = a->num_classes;
        out->classes_from_attr = 1;
    } else {
        long long train_max = -1, test_max = -1;
        CD_TRY(label_max(path, "train", &train_max, err));
        if (out->has_test) CD_TRY(label_max(path, "test", &test_max, err));
        if (out->has_test && test_max != train_max)
            return CD_FAIL(err, CD_E_INPUT, "%s: /test/labels: the largest label is %lld but /train/labels' is %lld, so "
                           "the splits disagree on the number of classes (store the attribute num_classes on "
                           "/train/labels to say it)", path, test_max, train_max);
        if (train_max < 1)
            return CD_FAIL(err, CD_E_INPUT, "%s: /train/labels: every label is 0: one class, nothing to learn", path);
        out->classes = (int)train_max + 1;
    }
    return class_names(path, out->classes, out->class_names, sizeof out->class_names, err);
}

void cd_data_class_name(const char *names, int k, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = names;
    for (int i = 0; i < k && p; i++) {
        p = strchr(p, '\n');
        if (p) p++;
    }
    if (!p || !*names) return;
    const char *end = strchr(p, '\n');
    snprintf(out, cap, "%.*s", end ? (int)(end - p) : (int)strlen(p), p);
}

void cd_data_free(cd_dataset *data)
{
    if (!data) return;
    cd_free(data->images);
    cd_free(data->labels);
    cd_free(data->norm);
    memset(data, 0, sizeof *data);
}
