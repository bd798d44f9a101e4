/* Test tool: sets or deletes one attribute of a dataset in an HDF5 data file, so the shell tests can make
 * every attribute case the reader must accept or refuse without Python. Usage:
 *   data_attrs FILE DATASET del NAME               (no-op when absent)
 *   data_attrs FILE DATASET f64 NAME V...          1-D float64 array (one value: still 1-D, length 1)
 *   data_attrs FILE DATASET f64scalar NAME V       scalar float64
 *   data_attrs FILE DATASET i64 NAME V             scalar int64
 *   data_attrs FILE DATASET str NAME TEXT          scalar fixed-length string
 *   data_attrs FILE DATASET strs NAME S...         1-D variable-length strings
 * An existing attribute of that name is replaced. Exit 0 on success, 1 with a message otherwise. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what)
{
    fprintf(stderr, "data_attrs: %s\n", what);
    return 1;
}

static int write_attr(hid_t ds, const char *name, hid_t ftype, hid_t mtype, int rank, hsize_t n, const void *v)
{
    hid_t space = rank ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(ds, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mtype, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return ok ? 0 : die("cannot write the attribute");
}

int main(int argc, char **argv)
{
    if (argc < 5) return die("usage: data_attrs FILE DATASET del|f64|f64scalar|i64|str|strs NAME [VALUES...]");
    const char *kind = argv[3], *name = argv[4];
    const int nv = argc - 5;
    hid_t file = H5Fopen(argv[1], H5F_ACC_RDWR, H5P_DEFAULT);
    if (file < 0) return die("cannot open the file");
    hid_t ds = H5Dopen2(file, argv[2], H5P_DEFAULT);
    if (ds < 0) return die("cannot open the dataset");
    if (H5Aexists(ds, name) > 0 && H5Adelete(ds, name) < 0) return die("cannot delete the attribute");
    int rc = 0;
    if (!strcmp(kind, "del")) {
        rc = 0;
    } else if (!strcmp(kind, "f64") || !strcmp(kind, "f64scalar")) {
        double *v = calloc((size_t)nv + 1, sizeof *v);
        for (int i = 0; i < nv; i++) v[i] = strtod(argv[5 + i], NULL);
        rc = write_attr(ds, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, strcmp(kind, "f64") == 0, (hsize_t)nv, v);
        free(v);
    } else if (!strcmp(kind, "i64") && nv == 1) {
        long long v = strtoll(argv[5], NULL, 10);
        rc = write_attr(ds, name, H5T_STD_I64LE, H5T_NATIVE_LLONG, 0, 1, &v);
    } else if (!strcmp(kind, "str") && nv == 1) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(argv[5]) + 1);
        rc = write_attr(ds, name, t, t, 0, 1, argv[5]);
        H5Tclose(t);
    } else if (!strcmp(kind, "strs")) {
        hid_t t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
        rc = write_attr(ds, name, t, t, 1, (hsize_t)nv, (const void *)(argv + 5));
        H5Tclose(t);
    } else {
        rc = die("unknown kind or wrong number of values");
    }
    H5Dclose(ds);
    if (H5Fclose(file) < 0) return die("cannot close the file");
    return rc;
}
