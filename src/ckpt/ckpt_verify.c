/* Verifying a checkpoint without knowing the model: every tensor under /params and /optim is read
 * and checked against its checksum, each parameter must have a momentum tensor of the same shape
 * and vice versa, and the metadata checksum must hold. Reading the metadata alone, for directory scans. */
#include "ckpt_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct verify_ctx {
    const char *path;
    off_t file_size;
} verify_ctx;

static cd_status check_one(hid_t file, const char *path, const char *what, off_t file_size, ck_tensor *shape,
                           cd_error *err)
{
    ck_tensor t;
    CD_TRY(ck_tensor_open(file, path, what, file_size, &t, err));
    float *buf = cd_alloc_zeroed(t.count * sizeof *buf);
    cd_status st = buf ? ck_tensor_load(&t, path, what, buf, err)
                       : CD_FAIL(err, CD_E_NOMEM, "%s: %s: out of memory for %zu floats", path, what, t.count);
    cd_free(buf);
    ck_tensor_close(&t);
    *shape = t;
    return st;
}

static cd_status verify_param(hid_t file, const char *layer, const char *name, void *ctx, cd_error *err)
{
    verify_ctx *c = ctx;
    char pw[3 * CK_NAME_MAX], ow[3 * CK_NAME_MAX];
    snprintf(pw, sizeof pw, "/params/%s/%s", layer, name);
    snprintf(ow, sizeof ow, "/optim/%s/%s", layer, name);
    ck_tensor ps, os;
    CD_TRY(check_one(file, c->path, pw, c->file_size, &ps, err));
    if (ck_tensor_exists(file, "optim", layer, name) != 1)
        return CD_FAIL(err, CD_E_INPUT, "%s: missing %s", c->path, ow);
    CD_TRY(check_one(file, c->path, ow, c->file_size, &os, err));
    int same = ps.ndims == os.ndims;
    for (int d = 0; same && d < ps.ndims; d++) same = ps.dims[d] == os.dims[d];
    if (!same) {
        char a[96], b[96];
        ck_format_dims(a, sizeof a, ps.ndims, ps.dims);
        ck_format_dims(b, sizeof b, os.ndims, os.dims);
        return CD_FAIL(err, CD_E_INPUT, "%s: %s has shape %s but %s has %s (file is damaged)", c->path, pw, a, ow, b);
    }
    return CD_OK;
}

static cd_status has_param(hid_t file, const char *layer, const char *name, void *ctx, cd_error *err)
{
    const verify_ctx *c = ctx;
    if (ck_tensor_exists(file, "params", layer, name) != 1)
        return CD_FAIL(err, CD_E_INPUT, "%s: /optim/%s/%s has no parameter tensor /params/%s/%s (file is damaged)",
                       c->path, layer, name, layer, name);
    return CD_OK;
}

cd_status cd_ckpt_verify(const char *path, cd_ckpt_meta *meta, cd_error *err)
{
    cd_ckpt_meta *m = NULL;
    CD_ALLOC(err, m, 1);
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    hid_t file;
    verify_ctx c = {path, 0};
    cd_status st = ck_open_read(path, &file, &c.file_size, err);
    if (st == CD_OK) {
        st = ck_meta_read(file, path, m, err);
        if (st == CD_OK) st = ck_walk(file, path, "params", verify_param, &c, err);
        if (st == CD_OK) st = ck_walk(file, path, "optim", has_param, &c, err);
        H5Fclose(file);
    }
    cd_h5_quiet_end(&q);
    if (st == CD_OK && meta != NULL) *meta = *m;
    cd_free(m);
    return st;
}

cd_status cd_ckpt_read_meta(const char *path, cd_ckpt_meta *meta, cd_error *err)
{
    cd_ckpt_meta *m = NULL;
    CD_ALLOC(err, m, 1);
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    hid_t file;
    off_t size = 0;
    cd_status st = ck_open_read(path, &file, &size, err);
    if (st == CD_OK) {
        st = ck_meta_read(file, path, m, err);
        H5Fclose(file);
    }
    cd_h5_quiet_end(&q);
    if (st == CD_OK) *meta = *m;
    cd_free(m);
    return st;
}
