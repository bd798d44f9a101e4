/* Reading a checkpoint into a model's arenas: everything is checked against temporaries first
 * (format, metadata checksum, each expected tensor's presence, shape and checksum, no unknown
 * tensors), and the caller's buffers are written only once the whole file has proven good. */
#include "ckpt_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct expect_ctx {
    const char *path;
    const char *section;
    const cd_tensor_view *tensors;
    int n;
} expect_ctx;

/* A tensor in the file that the model does not have means the file belongs to another model. */
static cd_status expect_known(hid_t file, const char *layer, const char *name, void *ctx, cd_error *err)
{
    (void)file;
    const expect_ctx *c = ctx;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->tensors[i].group, layer) == 0 && strcmp(c->tensors[i].name, name) == 0) return CD_OK;
    return CD_FAIL(err, CD_E_INPUT, "%s: /%s/%s/%s is not a tensor of this model", c->path, c->section, layer, name);
}

static cd_status load_expected(hid_t file, const char *path, off_t file_size, const char *section,
                               const cd_tensor_view *t, float *arena, cd_error *err)
{
    char what[96];
    snprintf(what, sizeof what, "/%s/%s/%s", section, t->group, t->name);
    int e = ck_tensor_exists(file, section, t->group, t->name);
    if (e < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot look up %s (file is damaged)", path, what);
    if (e == 0) return CD_FAIL(err, CD_E_INPUT, "%s: missing %s", path, what);

    ck_tensor ft;
    CD_TRY(ck_tensor_open(file, path, what, file_size, &ft, err));
    int same = ft.ndims == t->ndims;
    for (int d = 0; same && d < t->ndims; d++) same = ft.dims[d] == t->dims[d];
    if (!same) {
        char got[96], want[96];
        ck_format_dims(got, sizeof got, ft.ndims, ft.dims);
        ck_format_dims(want, sizeof want, t->ndims, t->dims);
        ck_tensor_close(&ft);
        return CD_FAIL(err, CD_E_INPUT, "%s: %s has shape %s, this model needs %s", path, what, got, want);
    }
    cd_status st = ck_tensor_load(&ft, path, what, arena + t->offset, err);
    ck_tensor_close(&ft);
    return st;
}

static cd_status read_all(hid_t file, const char *path, off_t file_size, const cd_tensor_view *tensors, int n,
                          cd_ckpt_meta *meta, float *params, float *momentum, cd_error *err)
{
    CD_TRY(ck_meta_read(file, path, meta, err));
    static const char *const sections[2] = {"params", "optim"};
    float *const arenas[2] = {params, momentum};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < n; i++)
            CD_TRY(load_expected(file, path, file_size, sections[s], &tensors[i], arenas[s], err));
    for (int s = 0; s < 2; s++) {
        expect_ctx c = {path, sections[s], tensors, n};
        CD_TRY(ck_walk(file, path, sections[s], expect_known, &c, err));
    }
    return CD_OK;
}

cd_status cd_ckpt_read(const char *path, const cd_tensor_view *tensors, int n_tensors, cd_ckpt_meta *meta,
                       float *params, float *momentum, size_t arena_count, cd_error *err)
{
    CD_TRY(ck_check_descriptors(path, tensors, n_tensors, arena_count, err));

    cd_ckpt_meta *m = NULL;
    float *p = NULL, *mo = NULL;
    CD_ALLOC(err, m, 1);
    p = cd_alloc_zeroed(arena_count * sizeof *p);
    mo = cd_alloc_zeroed(arena_count * sizeof *mo);
    if (arena_count > 0 && (p == NULL || mo == NULL)) {
        cd_free(m);
        cd_free(p);
        cd_free(mo);
        return CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for %zu floats of checkpoint data", path, 2 * arena_count);
    }

    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    hid_t file;
    off_t size = 0;
    cd_status st = ck_open_read(path, &file, &size, err);
    if (st == CD_OK) {
        st = read_all(file, path, size, tensors, n_tensors, m, p, mo, err);
        H5Fclose(file);
    }
    cd_h5_quiet_end(&q);

    if (st == CD_OK) {
        *meta = *m;
        /* Only the tensors' ranges: any part of the arena no tensor covers is not ours to change. */
        for (int i = 0; i < n_tensors; i++) {
            size_t at = tensors[i].offset, bytes = tensors[i].count * sizeof(float);
            memcpy(params + at, p + at, bytes);
            memcpy(momentum + at, mo + at, bytes);
        }
    }
    cd_free(m);
    cd_free(p);
    cd_free(mo);
    return st;
}
