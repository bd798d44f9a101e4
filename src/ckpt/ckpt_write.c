/* Writing a checkpoint crash-safely: the HDF5 file is assembled in memory, written to a hidden
 * temporary next to the target, flushed to disk, and only then renamed over the target; the directory
 * is flushed last. A crash at any point leaves either the old file or the complete new one under the
 * final name (and at worst a stale temporary, which listings ignore). */
#include "ckpt_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cnn_ddp/arena.h"
#include "cnn_ddp/h5_storage.h"

/* Bytes of HDF5 bookkeeping (object header, attributes, B-tree node) budgeted per dataset when sizing the
 * in-memory file image. */
enum { H5_OBJECT_OVERHEAD = 4096 };

#ifndef CNN_DDP_VERSION
#define CNN_DDP_VERSION "unknown"
#endif

/* Group `name` under `parent`, created on first use. */
static hid_t open_or_create_group(hid_t parent, const char *name)
{
    htri_t e = H5Lexists(parent, name, H5P_DEFAULT);
    if (e < 0) return H5I_INVALID_HID;
    return e ? H5Gopen2(parent, name, H5P_DEFAULT) : H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

/* Records why an HDF5 step failed (once: the first failure is the cause) and passes the result on. */
static int h5_ok(int64_t rc, char *reason)
{
    if (rc < 0 && reason[0] == '\0') cd_h5_reason(reason, CK_NAME_MAX);
    return rc >= 0;
}

/* /<section>/<layer>/<name>: float32 data plus its checksum attribute. 0 on success. */
static int write_tensor(hid_t section, const cd_tensor_view *t, const float *data, char *reason)
{
    hsize_t dims[4];
    for (int d = 0; d < t->ndims; d++) dims[d] = (hsize_t)t->dims[d];
    uint64_t sum = (uint64_t)cd_checksum_floats(data, t->count);
    hid_t layer, space = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    hid_t aspace = H5I_INVALID_HID, attr = H5I_INVALID_HID;
    int ok = h5_ok(layer = open_or_create_group(section, t->group), reason) &&
             h5_ok(space = H5Screate_simple(t->ndims, dims, NULL), reason) &&
             h5_ok(dcpl = H5Pcreate(H5P_DATASET_CREATE), reason) &&
             /* The data is written in full right away; filling it with zeros first is wasted work. */
             h5_ok(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER), reason) &&
             h5_ok(ds = H5Dcreate2(layer, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), reason) &&
             h5_ok(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), reason) &&
             h5_ok(aspace = H5Screate(H5S_SCALAR), reason) &&
             h5_ok(attr = H5Acreate2(ds, "checksum", H5T_STD_U64LE, aspace, H5P_DEFAULT, H5P_DEFAULT), reason) &&
             h5_ok(H5Awrite(attr, H5T_NATIVE_UINT64, &sum), reason);
    if (attr >= 0) H5Aclose(attr);
    if (aspace >= 0) H5Sclose(aspace);
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (space >= 0) H5Sclose(space);
    if (layer >= 0) H5Gclose(layer);
    return ok ? 0 : -1;
}

static cd_status fill_file(hid_t file, const char *path, const cd_ckpt_meta *meta, const cd_tensor_view *tensors,
                           int n, const float *params, const float *momentum, cd_error *err)
{
    CD_TRY(ck_meta_write(file, path, meta, err));
    static const char *const sections[2] = {"params", "optim"};
    const float *const arenas[2] = {params, momentum};
    for (int s = 0; s < 2; s++) {
        char reason[CK_NAME_MAX] = "";
        hid_t g = H5Gcreate2(file, sections[s], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (!h5_ok(g, reason))
            return CD_FAIL(err, CD_E_IO, "%s: cannot create group /%s (%s)", path, sections[s], reason);
        for (int i = 0; i < n; i++) {
            if (write_tensor(g, &tensors[i], arenas[s] + tensors[i].offset, reason) < 0) {
                H5Gclose(g);
                return CD_FAIL(err, CD_E_IO, "%s: cannot write /%s/%s/%s (%s)", path, sections[s], tensors[i].group,
                               tensors[i].name, reason);
            }
        }
        H5Gclose(g);
    }
    return CD_OK;
}

/* The whole file is assembled in memory (HDF5's core driver) and handed back as one image. HDF5 never
 * writes to disk itself: this HDF5 crashes at exit after a file whose close failed on a full disk,
 * and our own write(2) reports the OS's reason plainly. */
static cd_status build_image(const char *path, const cd_ckpt_meta *meta, const cd_tensor_view *tensors, int n,
                             const float *params, const float *momentum, unsigned char **image, size_t *size,
                             cd_error *err)
{
    *image = NULL;
    *size = 0;
    size_t floats = 0;
    for (int i = 0; i < n; i++) floats += tensors[i].count;
    /* Grow in one step of about the final size: tensors, attributes, and room for the metadata. */
    size_t increment = 2 * floats * sizeof(float) + sizeof(cd_ckpt_meta) + ((size_t)n + 1) * H5_OBJECT_OVERHEAD + (1u << 16);

    char reason[CK_NAME_MAX] = "";
    hid_t fapl = ck_fapl();
    hid_t file = H5I_INVALID_HID;
    if (h5_ok(fapl, reason) && h5_ok(H5Pset_fapl_core(fapl, increment, 0), reason) &&
        h5_ok(cd_h5_set_file_format(fapl), reason))
        h5_ok(file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl), reason);
    if (fapl >= 0) H5Pclose(fapl);
    if (file < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot start an HDF5 file in memory (%s)", path, reason);

    cd_status st = fill_file(file, path, meta, tensors, n, params, momentum, err);
    /* The image is only complete once everything cached has been flushed into it. */
    ssize_t len = -1;
    if (st == CD_OK && !(h5_ok(H5Fflush(file, H5F_SCOPE_GLOBAL), reason) &&
                         h5_ok(len = H5Fget_file_image(file, NULL, 0), reason) && len > 0))
        st = CD_FAIL(err, CD_E_IO, "%s: cannot finish the HDF5 image (%s)", path, reason);
    if (st == CD_OK) {
        *image = cd_alloc_zeroed((size_t)len);
        if (*image == NULL) st = CD_FAIL(err, CD_E_NOMEM, "%s: out of memory for a %zd-byte checkpoint", path, len);
    }
    if (st == CD_OK && H5Fget_file_image(file, *image, (size_t)len) != len)
        st = CD_FAIL(err, CD_E_IO, "%s: cannot copy the HDF5 image", path);
    if (st == CD_OK && ck_fix_superblock_checksum(*image, (size_t)len) != 0)
        st = CD_FAIL(err, CD_E_INTERNAL, "%s: the HDF5 image does not start with a superblock", path);
    H5Fclose(file);
    if (st != CD_OK) {
        cd_free(*image);
        *image = NULL;
        return st;
    }
    *size = (size_t)len;
    return CD_OK;
}

/* Writes all of buf to fd, then forces it to disk. */
static cd_status write_durably(int fd, const unsigned char *buf, size_t n, const char *path, const char *tmp,
                               cd_error *err)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n < (1u << 30) ? n : (1u << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot write %s: %s", path, tmp, strerror(errno));
        buf += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0) return CD_FAIL(err, CD_E_IO, "%s: cannot flush %s to disk: %s", path, tmp, strerror(errno));
    return CD_OK;
}

/* Makes the directory entry (the rename) itself durable. */
static cd_status fsync_dir(const char *path, const char *dir, cd_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return CD_FAIL(err, CD_E_IO, "%s: cannot open directory %s to flush it: %s", path, dir, strerror(errno));
    /* Some file systems cannot fsync a directory (EINVAL); there is nothing more to do there. */
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return CD_FAIL(err, CD_E_IO, "%s: cannot flush directory %s: %s", path, dir, strerror(e));
    }
    close(fd);
    return CD_OK;
}

cd_status cd_ckpt_write(const char *path, const cd_ckpt_meta *meta, const cd_tensor_view *tensors, int n_tensors,
                        const float *params, const float *momentum, size_t arena_count, cd_error *err)
{
    if (path == NULL || path[0] == '\0') return CD_FAIL(err, CD_E_USAGE, "empty checkpoint path");
    size_t len = strlen(path);
    if (path[len - 1] == '/') return CD_FAIL(err, CD_E_USAGE, "%s: checkpoint path names a directory", path);
    CD_TRY(ck_check_descriptors(path, tensors, n_tensors, arena_count, err));
    if (n_tensors > 0 && (params == NULL || momentum == NULL))
        return CD_FAIL(err, CD_E_INTERNAL, "%s: no parameter or momentum buffer given", path);

    /* The temporary lives in the target's directory so rename(2) is atomic (same file system), and
     * is hidden and pid-tagged so listings skip it and concurrent writers cannot collide. */
    char dir[CD_PATH_MAX], tmp[CD_PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dlen = slash ? (slash == path ? 1 : (int)(slash - path)) : 1;
    int n1 = snprintf(dir, sizeof dir, "%.*s", dlen, slash ? path : ".");
    int n2 = snprintf(tmp, sizeof tmp, "%.*s.%s.tmp-%ld", slash ? (int)(base - path) : 0, path, base, (long)getpid());
    if (n1 < 0 || n2 < 0 || (size_t)n1 >= sizeof dir || (size_t)n2 >= sizeof tmp)
        return CD_FAIL(err, CD_E_USAGE, "%s: checkpoint path is too long", path);

    cd_ckpt_meta m = *meta;
    if (m.version[0] == '\0') snprintf(m.version, sizeof m.version, "%s", CNN_DDP_VERSION);

    /* Create the temporary before the (possibly long) assembly, so a missing directory or a permission
     * problem is reported at once and in the OS's words. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) return CD_FAIL(err, CD_E_IO, "%s: cannot create %s: %s", path, tmp, strerror(errno));

    unsigned char *image = NULL;
    size_t size = 0;
    cd_h5_quiet q;
    cd_h5_quiet_begin(&q);
    cd_status st = build_image(path, &m, tensors, n_tensors, params, momentum, &image, &size, err);
    cd_h5_quiet_end(&q);
    if (st == CD_OK) st = write_durably(fd, image, size, path, tmp, err);
    cd_free(image);
    if (close(fd) != 0 && st == CD_OK)
        st = CD_FAIL(err, CD_E_IO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    if (st == CD_OK && rename(tmp, path) != 0)
        st = CD_FAIL(err, CD_E_IO, "%s: cannot move %s into place: %s", path, tmp, strerror(errno));
    if (st != CD_OK) {
        unlink(tmp);
        return st;
    }
    /* After the rename the new file is in place; this makes the rename itself survive a power cut. */
    return fsync_dir(path, dir, err);
}
