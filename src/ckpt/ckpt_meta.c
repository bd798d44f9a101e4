/* The root attributes of a checkpoint: one table drives writing, reading and the meta_checksum, so a
 * field added to the table is written, read and protected alike. */
#include "ckpt_internal.h"

#include "cnn_ddp/arena.h"

#include <stddef.h>
#include <string.h>

typedef enum field_kind { F_STR, F_I64, F_U64, F_F64 } field_kind;

typedef struct field {
    const char *name;
    field_kind kind;
    size_t offset;
    size_t cap; /* bytes available for a string, including its NUL */
    int identity; /* part of the run identity (cd_ckpt_run_id) */
    /* Only when set: a string written, hashed (run id, meta_checksum) and required only when not "", so
     * files and run ids of runs that do not use it are those of before the field existed. */
    int if_set;
} field;

#define FIELD(kind, member) {#member, kind, offsetof(cd_ckpt_meta, member), sizeof(((cd_ckpt_meta *)0)->member), 0, 0}
#define IDENT(kind, member) {#member, kind, offsetof(cd_ckpt_meta, member), sizeof(((cd_ckpt_meta *)0)->member), 1, 0}
#define ID_IF_SET(member) {#member, F_STR, offsetof(cd_ckpt_meta, member), sizeof(((cd_ckpt_meta *)0)->member), 1, 1}
#define STR_IF_SET(member) {#member, F_STR, offsetof(cd_ckpt_meta, member), sizeof(((cd_ckpt_meta *)0)->member), 0, 1}

static const field k_fields[] = {
    FIELD(F_STR, version),       IDENT(F_STR, model),         FIELD(F_I64, step),
    FIELD(F_I64, epoch),         FIELD(F_I64, step_in_epoch), IDENT(F_U64, seed),
    FIELD(F_I64, ranks),         IDENT(F_I64, batch),         IDENT(F_F64, lr),
    IDENT(F_F64, momentum),      FIELD(F_I64, epoch_loss_fx), FIELD(F_I64, epoch_correct),
    FIELD(F_I64, epoch_samples), FIELD(F_F64, epoch_seconds), FIELD(F_STR, config),
    IDENT(F_STR, lr_schedule),   FIELD(F_STR, data),          IDENT(F_I64, data_rows),
    IDENT(F_I64, data_height),   IDENT(F_I64, data_width),    IDENT(F_U64, data_checksum),
    IDENT(F_I64, data_channels), IDENT(F_I64, classes),       IDENT(F_STR, norm_mean),
    IDENT(F_STR, norm_std),      FIELD(F_STR, class_names),   IDENT(F_I64, val_rows),
    ID_IF_SET(init_from),        STR_IF_SET(init_from_path),
    STR_IF_SET(history),
};
#define N_FIELDS (sizeof k_fields / sizeof k_fields[0])

/* ---- canonical serialisation, hashed with FNV-1a 64 (the same hash as the tensor checksums) ---- */

typedef struct fnv {
    uint64_t h;
} fnv;

static void fnv_bytes(fnv *f, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        f->h ^= p[i];
        f->h *= 1099511628211ull;
    }
}

/* Little-endian regardless of the host, so the checksum describes the values, not the machine. */
static void fnv_u64(fnv *f, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    fnv_bytes(f, b, sizeof b);
}

/* name, NUL, kind letter, then the value (strings: length then bytes; numbers: 8 bytes). */
static void fnv_field(fnv *f, const char *name, char kind, const void *value)
{
    fnv_bytes(f, name, strlen(name) + 1);
    fnv_bytes(f, &kind, 1);
    if (kind == 's') {
        size_t len = strlen(value);
        fnv_u64(f, (uint64_t)len);
        fnv_bytes(f, value, len);
    } else {
        uint64_t bits;
        memcpy(&bits, value, sizeof bits); /* int64, uint64 and double alike: the exact bits */
        fnv_u64(f, bits);
    }
}

static const char k_kind_letter[] = {[F_STR] = 's', [F_I64] = 'i', [F_U64] = 'u', [F_F64] = 'd'};

/* An if_set field left "": not written, not hashed. */
static int is_unset(const field *fd, const cd_ckpt_meta *meta)
{
    return fd->if_set && ((const char *)meta + fd->offset)[0] == '\0';
}

uint64_t cd_ckpt_run_id(const cd_ckpt_meta *meta)
{
    fnv f = {CD_FNV1A64_OFFSET};
    fnv_field(&f, "run_id", 's', "cnn_ddp-run-1");
    for (size_t i = 0; i < N_FIELDS; i++)
        if (k_fields[i].identity && !is_unset(&k_fields[i], meta))
            fnv_field(&f, k_fields[i].name, k_kind_letter[k_fields[i].kind], (const char *)meta + k_fields[i].offset);
    return f.h;
}

void cd_ckpt_run_id_text(uint64_t run_id, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) out[i] = hex[(run_id >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

static uint64_t meta_checksum(const cd_ckpt_meta *meta)
{
    fnv f = {CD_FNV1A64_OFFSET};
    int64_t version = CD_CKPT_FORMAT_VERSION;
    fnv_field(&f, "format", 's', CD_CKPT_FORMAT);
    fnv_field(&f, "format_version", 'i', &version);
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!is_unset(&k_fields[i], meta))
            fnv_field(&f, k_fields[i].name, k_kind_letter[k_fields[i].kind], (const char *)meta + k_fields[i].offset);
    return f.h;
}

/* ---- writing ---- */

static herr_t put_scalar(hid_t file, const char *name, hid_t file_type, hid_t mem_type, const void *value)
{
    hid_t space = H5Screate(H5S_SCALAR);
    if (space < 0) return -1;
    hid_t attr = H5Acreate2(file, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = attr < 0 ? -1 : H5Awrite(attr, mem_type, value);
    if (attr >= 0 && H5Aclose(attr) < 0) rc = -1;
    H5Sclose(space);
    return rc;
}

/* Fixed-length, NUL-terminated: simplest to read back exactly, and h5dump shows it as text. */
static herr_t put_string(hid_t file, const char *name, const char *value)
{
    hid_t type = H5Tcopy(H5T_C_S1);
    if (type < 0) return -1;
    herr_t rc = H5Tset_size(type, strlen(value) + 1);
    if (rc >= 0) rc = H5Tset_strpad(type, H5T_STR_NULLTERM);
    if (rc >= 0) rc = H5Tset_cset(type, H5T_CSET_UTF8);
    if (rc >= 0) rc = put_scalar(file, name, type, type, value);
    H5Tclose(type);
    return rc;
}

cd_status ck_meta_write(hid_t file, const char *path, const cd_ckpt_meta *meta, cd_error *err)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (k_fields[i].kind == F_STR &&
            strnlen((const char *)meta + k_fields[i].offset, k_fields[i].cap) == k_fields[i].cap)
            return CD_FAIL(err, CD_E_INTERNAL, "%s: checkpoint metadata field %s is not NUL-terminated", path,
                           k_fields[i].name);

    char reason[CK_NAME_MAX];
    int64_t version = CD_CKPT_FORMAT_VERSION;
    uint64_t sum = meta_checksum(meta);
    if (put_string(file, "format", CD_CKPT_FORMAT) < 0 ||
        put_scalar(file, "format_version", H5T_STD_I64LE, H5T_NATIVE_INT64, &version) < 0)
        goto h5_failed;
    for (size_t i = 0; i < N_FIELDS; i++) {
        const field *fd = &k_fields[i];
        const void *value = (const char *)meta + fd->offset;
        if (is_unset(fd, meta)) continue;
        herr_t rc = -1;
        switch (fd->kind) {
        case F_STR: rc = put_string(file, fd->name, value); break;
        case F_I64: rc = put_scalar(file, fd->name, H5T_STD_I64LE, H5T_NATIVE_INT64, value); break;
        case F_U64: rc = put_scalar(file, fd->name, H5T_STD_U64LE, H5T_NATIVE_UINT64, value); break;
        case F_F64: rc = put_scalar(file, fd->name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, value); break;
        }
        if (rc < 0) goto h5_failed;
    }
    if (put_scalar(file, "meta_checksum", H5T_STD_U64LE, H5T_NATIVE_UINT64, &sum) < 0) goto h5_failed;
    return CD_OK;

h5_failed:
    cd_h5_reason(reason, sizeof reason);
    return CD_FAIL(err, CD_E_IO, "%s: cannot write checkpoint attributes (%s)", path, reason);
}

/* ---- reading ---- */

/* Opens a scalar root attribute of the given class; *attr < 0 with CD_OK means "absent". */
static cd_status open_attr(hid_t file, const char *path, const char *name, H5T_class_t cls, hid_t *attr,
                           cd_error *err)
{
    *attr = H5I_INVALID_HID;
    htri_t exists = H5Aexists(file, name);
    if (exists < 0) {
        char why[CK_NAME_MAX];
        return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute %s (%s; file is damaged)", path, name,
                       cd_h5_reason(why, sizeof why));
    }
    if (exists == 0) return CD_OK;
    *attr = H5Aopen(file, name, H5P_DEFAULT);
    if (*attr < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute %s (file is damaged)", path, name);
    hid_t space = H5Aget_space(*attr);
    hid_t type = H5Aget_type(*attr);
    hssize_t points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    H5T_class_t got = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (points != 1 || got != cls) {
        H5Aclose(*attr);
        *attr = H5I_INVALID_HID;
        return CD_FAIL(err, CD_E_INPUT, "%s: attribute %s has the wrong type or size (file is damaged)", path, name);
    }
    return CD_OK;
}

/* Reads a string attribute, fixed- or variable-length, into out[cap]. */
static cd_status read_string(hid_t attr, const char *path, const char *name, char *out, size_t cap, cd_error *err)
{
    hid_t ftype = H5Aget_type(attr);
    if (ftype < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute %s (file is damaged)", path, name);
    htri_t is_var = H5Tis_variable_str(ftype);
    size_t fsize = H5Tget_size(ftype);
    H5T_cset_t cset = H5Tget_cset(ftype);
    H5Tclose(ftype);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    herr_t rc = mtype < 0 || is_var < 0 || cset < 0 ? -1 : 0;
    /* HDF5 converts between ASCII and UTF-8 strings only by refusing: read in the file's own set. */
    if (rc >= 0) rc = H5Tset_cset(mtype, cset);
    if (rc >= 0 && is_var > 0) {
        char *s = NULL;
        rc = H5Tset_size(mtype, H5T_VARIABLE);
        if (rc >= 0) rc = H5Aread(attr, mtype, &s);
        if (rc >= 0 && s != NULL && strlen(s) >= cap) rc = -2;
        if (rc >= 0) snprintf(out, cap, "%s", s ? s : "");
        if (s != NULL) H5free_memory(s);
    } else if (rc >= 0) {
        /* One byte more than stored, NUL-terminated, so a NUL- or space-padded string keeps every byte. */
        if (fsize == 0 || fsize + 1 > cap) rc = -2;
        if (rc >= 0) rc = H5Tset_size(mtype, fsize + 1);
        if (rc >= 0) rc = H5Tset_strpad(mtype, H5T_STR_NULLTERM);
        if (rc >= 0) rc = H5Aread(attr, mtype, out);
        if (rc >= 0) out[fsize] = '\0';
    }
    if (mtype >= 0) H5Tclose(mtype);
    if (rc == -2) return CD_FAIL(err, CD_E_INPUT, "%s: attribute %s is longer than %zu bytes", path, name, cap - 1);
    if (rc < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute %s (file is damaged)", path, name);
    return CD_OK;
}

static cd_status read_field(hid_t file, const char *path, const field *fd, void *value, cd_error *err)
{
    static const H5T_class_t cls[] = {[F_STR] = H5T_STRING, [F_I64] = H5T_INTEGER, [F_U64] = H5T_INTEGER,
                                      [F_F64] = H5T_FLOAT};
    hid_t attr;
    CD_TRY(open_attr(file, path, fd->name, cls[fd->kind], &attr, err));
    if (attr < 0 && fd->if_set) return CD_OK; /* absent: "" (meta is zeroed) */
    if (attr < 0) return CD_FAIL(err, CD_E_INPUT, "%s: missing attribute %s (file is damaged)", path, fd->name);
    cd_status st = CD_OK;
    herr_t rc = 0;
    switch (fd->kind) {
    case F_STR: st = read_string(attr, path, fd->name, value, fd->cap, err); break;
    case F_I64: rc = H5Aread(attr, H5T_NATIVE_INT64, value); break;
    case F_U64: rc = H5Aread(attr, H5T_NATIVE_UINT64, value); break;
    case F_F64: rc = H5Aread(attr, H5T_NATIVE_DOUBLE, value); break;
    }
    H5Aclose(attr);
    if (rc < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute %s (file is damaged)", path, fd->name);
    return st;
}

cd_status ck_meta_read(hid_t file, const char *path, cd_ckpt_meta *meta, cd_error *err)
{
    memset(meta, 0, sizeof *meta);

    /* Identity first: anything without our format tag is somebody else's HDF5 file. */
    hid_t attr;
    char format[64] = "";
    /* Metadata HDF5 cannot read (its own checksums fail) is damage, not somebody else's file. */
    if (H5Aexists(file, "format") < 0) return open_attr(file, path, "format", H5T_STRING, &attr, err);
    if (open_attr(file, path, "format", H5T_STRING, &attr, err) != CD_OK || attr < 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: not a cnn_ddp checkpoint", path);
    cd_status st = read_string(attr, path, "format", format, sizeof format, err);
    H5Aclose(attr);
    if (st != CD_OK || strcmp(format, CD_CKPT_FORMAT) != 0)
        return CD_FAIL(err, CD_E_INPUT, "%s: not a cnn_ddp checkpoint", path);

    int64_t version = 0;
    CD_TRY(open_attr(file, path, "format_version", H5T_INTEGER, &attr, err));
    if (attr < 0) return CD_FAIL(err, CD_E_INPUT, "%s: missing attribute format_version (file is damaged)", path);
    herr_t rc = H5Aread(attr, H5T_NATIVE_INT64, &version);
    H5Aclose(attr);
    if (rc < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute format_version (file is damaged)", path);
    if (version != CD_CKPT_FORMAT_VERSION)
        return CD_FAIL(err, CD_E_INPUT, "%s: checkpoint format_version %lld, this build reads version %d", path,
                       (long long)version, CD_CKPT_FORMAT_VERSION);

    for (size_t i = 0; i < N_FIELDS; i++)
        CD_TRY(read_field(file, path, &k_fields[i], (char *)meta + k_fields[i].offset, err));

    uint64_t stored = 0;
    CD_TRY(open_attr(file, path, "meta_checksum", H5T_INTEGER, &attr, err));
    if (attr < 0) return CD_FAIL(err, CD_E_INPUT, "%s: missing attribute meta_checksum (file is damaged)", path);
    rc = H5Aread(attr, H5T_NATIVE_UINT64, &stored);
    H5Aclose(attr);
    if (rc < 0) return CD_FAIL(err, CD_E_INPUT, "%s: cannot read attribute meta_checksum (file is damaged)", path);
    if (stored != meta_checksum(meta))
        return CD_FAIL(err, CD_E_INPUT, "%s: metadata checksum mismatch (file is damaged)", path);
    return ck_meta_check(path, meta, err);
}
