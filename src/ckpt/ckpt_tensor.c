/* One tensor dataset of a checkpoint: find it, check its type and shape, read it and check its
 * checksum; and walking /params or /optim to visit every tensor a file holds. */
#include "ckpt_internal.h"

#include <stdio.h>
#include <string.h>

#include "cnn_ddp/arena.h"
#include "cnn_ddp/h5_storage.h"

/* Tensor descriptors come from the model, not the user: a bad one is a bug. */
cd_status ck_check_descriptors(const char *path, const cd_tensor_view *tensors, int n, size_t arena_count,
                               cd_error *err)
{
    if (n < 0) return CD_FAIL(err, CD_E_INTERNAL, "%s: negative tensor count %d", path, n);
    for (int i = 0; i < n; i++) {
        const cd_tensor_view *t = &tensors[i];
        size_t llen = strnlen(t->group, sizeof t->group), nlen = strnlen(t->name, sizeof t->name);
        if (llen == 0 || llen == sizeof t->group || nlen == 0 || nlen == sizeof t->name || strchr(t->group, '/') ||
            strchr(t->name, '/') || strcmp(t->group, ".") == 0 || strcmp(t->name, ".") == 0)
            return CD_FAIL(err, CD_E_INTERNAL, "%s: tensor %d has an invalid layer or tensor name", path, i);
        size_t product = 1;
        int bad = t->ndims < 1 || t->ndims > 4;
        for (int d = 0; !bad && d < t->ndims; d++) {
            bad = t->dims[d] < 1 || (size_t)t->dims[d] > arena_count / product;
            if (!bad) product *= (size_t)t->dims[d];
        }
        if (bad || product != t->count || t->offset > arena_count || t->count > arena_count - t->offset)
            return CD_FAIL(err, CD_E_INTERNAL,
                           "%s: tensor %s/%s: shape, count %zu and offset %zu do not fit an arena of %zu floats",
                           path, t->group, t->name, t->count, t->offset, arena_count);
        for (int j = 0; j < i; j++)
            if (strcmp(tensors[j].group, t->group) == 0 && strcmp(tensors[j].name, t->name) == 0)
                return CD_FAIL(err, CD_E_INTERNAL, "%s: tensor %s/%s is listed twice", path, t->group, t->name);
    }
    return CD_OK;
}

int ck_tensor_exists(hid_t file, const char *section, const char *layer, const char *name)
{
    /* One component at a time: H5Lexists fails, rather than answering no, when a parent is missing. */
    char p[3 * CK_NAME_MAX + 4];
    const char *parts[3] = {section, layer, name};
    size_t used = 0;
    for (int i = 0; i < 3; i++) {
        int n = snprintf(p + used, sizeof p - used, "/%s", parts[i]);
        if (n < 0 || (size_t)n >= sizeof p - used) return -1;
        used += (size_t)n;
        htri_t e = H5Lexists(file, p, H5P_DEFAULT);
        if (e <= 0) return e < 0 ? -1 : 0;
    }
    return 1;
}

cd_status ck_tensor_open(hid_t file, const char *path, const char *what, off_t file_size, ck_tensor *t,
                         cd_error *err)
{
    memset(t, 0, sizeof *t);
    t->ds = H5Dopen2(file, what, H5P_DEFAULT);
    if (t->ds < 0) return CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot open dataset (file is damaged)", path, what);

    hid_t type = H5Dget_type(t->ds);
    int is_f32 = type >= 0 && H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 4;
    if (type >= 0) H5Tclose(type);
    hid_t space = H5Dget_space(t->ds);
    hsize_t dims[H5S_MAX_RANK];
    int nd = space >= 0 && H5Sget_simple_extent_type(space) == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : -1;
    if (nd >= 1 && nd <= 4 && H5Sget_simple_extent_dims(space, dims, NULL) < 0) nd = -1;
    if (space >= 0) H5Sclose(space);
    if (!is_f32 || nd < 1 || nd > 4) {
        ck_tensor_close(t);
        return CD_FAIL(err, CD_E_INPUT, "%s: %s is not a float32 tensor of 1 to 4 dimensions", path, what);
    }

    /* Every element occupies 4 bytes of the file, so a count beyond the file size is damage; checking
     * it here keeps a corrupt shape from turning into a huge allocation. */
    size_t count = 1;
    size_t limit = (size_t)file_size / sizeof(float);
    for (int i = 0; i < nd; i++) {
        if (dims[i] == 0 || dims[i] > limit || count > limit / dims[i]) {
            ck_tensor_close(t);
            return CD_FAIL(err, CD_E_INPUT, "%s: %s has an impossible shape for a %lld-byte file (file is damaged)",
                           path, what, (long long)file_size);
        }
        count *= (size_t)dims[i];
        t->dims[i] = (int64_t)dims[i];
    }
    t->ndims = nd;
    t->count = count;
    /* Layout, filters and where the bytes lie, before H5Dread follows them. */
    cd_status st = cd_h5_check_storage(t->ds, path, what, (int64_t)file_size, 0, t->dims[0], err);
    if (st != CD_OK) ck_tensor_close(t);
    return st;
}

cd_status ck_tensor_load(const ck_tensor *t, const char *path, const char *what, float *dst, cd_error *err)
{
    if (H5Dread(t->ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dst) < 0) {
        char reason[CK_NAME_MAX];
        cd_h5_reason(reason, sizeof reason);
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read data (%s; file is damaged)", path, what, reason);
    }
    htri_t has = H5Aexists(t->ds, "checksum");
    if (has <= 0) return CD_FAIL(err, CD_E_INPUT, "%s: %s: no checksum attribute (file is damaged)", path, what);
    uint64_t stored = 0;
    hid_t attr = H5Aopen(t->ds, "checksum", H5P_DEFAULT);
    hid_t type = attr >= 0 ? H5Aget_type(attr) : H5I_INVALID_HID;
    hid_t space = attr >= 0 ? H5Aget_space(attr) : H5I_INVALID_HID;
    int ok = type >= 0 && space >= 0 && H5Tget_class(type) == H5T_INTEGER &&
             H5Sget_simple_extent_npoints(space) == 1 && H5Aread(attr, H5T_NATIVE_UINT64, &stored) >= 0;
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (attr >= 0) H5Aclose(attr);
    if (!ok) return CD_FAIL(err, CD_E_INPUT, "%s: %s: unreadable checksum attribute (file is damaged)", path, what);
    if ((uint64_t)cd_checksum_floats(dst, t->count) != stored)
        return CD_FAIL(err, CD_E_INPUT, "%s: %s: checksum mismatch (file is damaged)", path, what);
    return ck_tensor_check_finite(path, what, dst, t->count, err);
}

void ck_tensor_close(ck_tensor *t)
{
    if (t->ds >= 0) H5Dclose(t->ds);
    t->ds = H5I_INVALID_HID;
}

/* Name of link `idx` of group `g` into out[CK_NAME_MAX]; -1 if unreadable or too long. */
static int link_name(hid_t g, hsize_t idx, char *out)
{
    ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, idx, out, CK_NAME_MAX, H5P_DEFAULT);
    return len < 0 || len >= CK_NAME_MAX ? -1 : 0;
}

/* Opens child `name` of `g` and checks it is an object of `want` type (group or dataset). */
static hid_t open_child(hid_t g, const char *name, H5I_type_t want)
{
    hid_t obj = H5Oopen(g, name, H5P_DEFAULT);
    if (obj >= 0 && H5Iget_type(obj) != want) {
        H5Oclose(obj);
        return H5I_INVALID_HID;
    }
    return obj;
}

cd_status ck_walk(hid_t file, const char *path, const char *section, ck_walk_fn fn, void *ctx, cd_error *err)
{
    hid_t top = H5Lexists(file, section, H5P_DEFAULT) > 0 ? open_child(file, section, H5I_GROUP) : H5I_INVALID_HID;
    if (top < 0) return CD_FAIL(err, CD_E_INPUT, "%s: missing group /%s (file is damaged)", path, section);
    cd_status st = CD_OK;
    H5G_info_t info;
    if (H5Gget_info(top, &info) < 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: cannot list /%s (file is damaged)", path, section);
    for (hsize_t i = 0; st == CD_OK && i < info.nlinks; i++) {
        char layer[CK_NAME_MAX];
        hid_t lg = H5I_INVALID_HID;
        if (link_name(top, i, layer) < 0 || (lg = open_child(top, layer, H5I_GROUP)) < 0) {
            st = CD_FAIL(err, CD_E_INPUT, "%s: /%s holds an entry that is not a layer group (file is damaged)", path,
                         section);
            break;
        }
        H5G_info_t linfo;
        if (H5Gget_info(lg, &linfo) < 0)
            st = CD_FAIL(err, CD_E_INPUT, "%s: cannot list /%s/%s (file is damaged)", path, section, layer);
        for (hsize_t j = 0; st == CD_OK && j < linfo.nlinks; j++) {
            char name[CK_NAME_MAX];
            hid_t ds = H5I_INVALID_HID;
            if (link_name(lg, j, name) < 0 || (ds = open_child(lg, name, H5I_DATASET)) < 0) {
                st = CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s holds an entry that is not a tensor (file is damaged)",
                             path, section, layer);
                break;
            }
            H5Oclose(ds);
            st = fn(file, layer, name, ctx, err);
        }
        H5Oclose(lg);
    }
    H5Oclose(top);
    return st;
}
