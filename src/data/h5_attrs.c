/* Typed, checked reads of data-file attributes (see h5_attrs.h). The caller has HDF5's error printing
 * off (cd_h5_quiet). */
#include "h5_attrs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/h5_quiet.h"

int cd_h5_attr_present(hid_t obj, const char *path, const char *what, const char *name, cd_status *st, cd_error *err)
{
    htri_t e = H5Aexists(obj, name);
    if (e < 0) {
        char why[256];
        *st = CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (%s)", path, what, name, cd_h5_reason(why, 256));
        return -1;
    }
    *st = CD_OK;
    return e > 0;
}

static const char *class_word(H5T_class_t c)
{
    switch (c) {
    case H5T_INTEGER: return "an integer";
    case H5T_FLOAT: return "a floating-point";
    case H5T_STRING: return "a string";
    default: return "a non-numeric";
    }
}

/* Opens the attribute, checks its class and returns its element count (scalar: 1) and rank. */
static cd_status open_checked(hid_t obj, const char *path, const char *what, const char *name, H5T_class_t want,
                              const char *want_word, hid_t *attr, hid_t *type, hssize_t *points, int *rank,
                              cd_error *err)
{
    *attr = H5Aopen(obj, name, H5P_DEFAULT);
    *type = H5I_INVALID_HID;
    if (*attr < 0) return CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (file is damaged)", path, what, name);
    *type = H5Aget_type(*attr);
    hid_t space = H5Aget_space(*attr);
    H5T_class_t cls = *type >= 0 ? H5Tget_class(*type) : H5T_NO_CLASS;
    *points = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    *rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (space >= 0) H5Sclose(space);
    cd_status st = CD_OK;
    if (*type < 0 || *points < 0 || *rank < 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (file is damaged)", path, what, name);
    else if (cls != want)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s is %s attribute; expected %s", path, what, name,
                     class_word(cls), want_word);
    if (st != CD_OK) {
        if (*type >= 0) H5Tclose(*type);
        H5Aclose(*attr);
        *attr = *type = H5I_INVALID_HID;
    }
    return st;
}

/* String number i of a string attribute of `points` elements, read whole into *all (freed by the caller
 * with free_strings). */
typedef struct strings {
    int var;
    size_t fsize;
    hssize_t n;
    char **vptr; /* variable-length */
    char *fixed; /* fixed: n * (fsize + 1) */
    hid_t mtype;
} strings;

static void free_strings(strings *s)
{
    if (s->vptr) {
        for (hssize_t i = 0; i < s->n; i++)
            if (s->vptr[i]) H5free_memory(s->vptr[i]);
        cd_free(s->vptr);
    }
    cd_free(s->fixed);
    if (s->mtype >= 0) H5Tclose(s->mtype);
}

static herr_t read_strings(hid_t attr, hid_t ftype, hssize_t n, strings *s)
{
    memset(s, 0, sizeof *s);
    s->mtype = H5I_INVALID_HID;
    s->n = n;
    htri_t var = H5Tis_variable_str(ftype);
    H5T_cset_t cset = H5Tget_cset(ftype);
    if (var < 0 || cset < 0) return -1;
    s->var = var > 0;
    s->fsize = H5Tget_size(ftype);
    s->mtype = H5Tcopy(H5T_C_S1);
    if (s->mtype < 0 || H5Tset_cset(s->mtype, cset) < 0) return -1;
    if (s->var) {
        s->vptr = cd_alloc_zeroed(sizeof(char *) * (size_t)n);
        if (!s->vptr || H5Tset_size(s->mtype, H5T_VARIABLE) < 0) return -1;
        return H5Aread(attr, s->mtype, s->vptr);
    }
    if (s->fsize == 0 || s->fsize > 65536) return -1;
    s->fixed = cd_alloc_zeroed((s->fsize + 1) * (size_t)n);
    if (!s->fixed || H5Tset_size(s->mtype, s->fsize + 1) < 0 || H5Tset_strpad(s->mtype, H5T_STR_NULLTERM) < 0)
        return -1;
    return H5Aread(attr, s->mtype, s->fixed);
}

static const char *string_at(const strings *s, hssize_t i)
{
    if (s->var) return s->vptr[i] ? s->vptr[i] : "";
    return s->fixed + (size_t)i * (s->fsize + 1);
}

cd_status cd_h5_attr_string(hid_t obj, const char *path, const char *what, const char *name, char *out, size_t cap,
                            cd_error *err)
{
    hid_t attr, type;
    hssize_t points = 0;
    int rank = 0;
    CD_TRY(open_checked(obj, path, what, name, H5T_STRING, "a string", &attr, &type, &points, &rank, err));
    cd_status st = CD_OK;
    if (points != 1) {
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s holds %lld strings; expected one", path, what, name,
                     (long long)points);
    } else {
        strings s;
        herr_t rc = read_strings(attr, type, 1, &s);
        if (rc < 0) st = CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (file is damaged)", path, what, name);
        else snprintf(out, cap, "%s", string_at(&s, 0));
        free_strings(&s);
    }
    H5Tclose(type);
    H5Aclose(attr);
    return st;
}

cd_status cd_h5_attr_int(hid_t obj, const char *path, const char *what, const char *name, long long *out,
                         cd_error *err)
{
    hid_t attr, type;
    hssize_t points = 0;
    int rank = 0;
    CD_TRY(open_checked(obj, path, what, name, H5T_INTEGER, "an integer", &attr, &type, &points, &rank, err));
    cd_status st = CD_OK;
    if (points != 1)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s holds %lld values; expected one integer", path, what, name,
                     (long long)points);
    else if (H5Aread(attr, H5T_NATIVE_LLONG, out) < 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s does not fit a 64-bit integer", path, what, name);
    H5Tclose(type);
    H5Aclose(attr);
    return st;
}

cd_status cd_h5_attr_doubles(hid_t obj, const char *path, const char *what, const char *name, int n, double *out,
                             cd_error *err)
{
    hid_t attr, type;
    hssize_t points = 0;
    int rank = 0;
    CD_TRY(open_checked(obj, path, what, name, H5T_FLOAT, "a float64 array", &attr, &type, &points, &rank, err));
    cd_status st = CD_OK;
    if (rank != 1 || points != n)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s has %lld value%s%s; expected a 1-D array of %d (one per "
                     "channel)", path, what, name, (long long)points, points == 1 ? "" : "s",
                     rank == 1 ? "" : rank == 0 ? " (a scalar)" : " (not 1-D)", n);
    else if (H5Aread(attr, H5T_NATIVE_DOUBLE, out) < 0)
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (file is damaged)", path, what, name);
    for (int i = 0; st == CD_OK && i < n; i++)
        if (!isfinite(out[i]))
            st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s value %d is %g; expected a finite number", path, what,
                         name, i, out[i]);
    H5Tclose(type);
    H5Aclose(attr);
    return st;
}

cd_status cd_h5_attr_strings(hid_t obj, const char *path, const char *what, const char *name, int n, char *out,
                             size_t cap, cd_error *err)
{
    hid_t attr, type;
    hssize_t points = 0;
    int rank = 0;
    CD_TRY(open_checked(obj, path, what, name, H5T_STRING, "an array of strings", &attr, &type, &points, &rank, err));
    cd_status st = CD_OK;
    if (rank > 1 || points != n) {
        st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s holds %lld names; expected %d (one per class)", path, what,
                     name, (long long)points, n);
    } else {
        strings s;
        if (read_strings(attr, type, points, &s) < 0)
            st = CD_FAIL(err, CD_E_INPUT, "%s: %s: cannot read attribute %s (file is damaged)", path, what, name);
        size_t used = 0;
        out[0] = '\0';
        for (hssize_t i = 0; st == CD_OK && i < points; i++) {
            const char *v = string_at(&s, i);
            if (strchr(v, '\n'))
                st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s: name %lld holds a newline", path, what, name,
                             (long long)i);
            else if (used + strlen(v) + 2 > cap)
                st = CD_FAIL(err, CD_E_INPUT, "%s: %s: attribute %s: the names are longer than %zu bytes together",
                             path, what, name, cap - 1);
            else
                used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "\n" : "", v);
        }
        free_strings(&s);
    }
    H5Tclose(type);
    H5Aclose(attr);
    return st;
}
