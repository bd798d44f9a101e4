/* Reading the optional attributes of a data file's datasets (layout, mean, std, num_classes,
 * class_names), each checked for class, shape and value. Every refusal is CD_E_INPUT naming the file,
 * the dataset and the attribute: "<path>: /train/images: attribute mean has 1 value; expected 3". */
#ifndef CNN_DDP_SRC_H5_ATTRS_H
#define CNN_DDP_SRC_H5_ATTRS_H

#include <hdf5.h>
#include <stddef.h>
#include "cnn_ddp/error.h"

/* 1 present, 0 absent; < 0 HDF5 cannot tell (damaged): then CD_E_INPUT in *st. */
int cd_h5_attr_present(hid_t obj, const char *path, const char *what, const char *name, cd_status *st,
                       cd_error *err);
/* A scalar (or one-element) string attribute, fixed- or variable-length, into out[cap]. */
cd_status cd_h5_attr_string(hid_t obj, const char *path, const char *what, const char *name, char *out, size_t cap,
                            cd_error *err);
/* A scalar (or one-element) integer attribute. */
cd_status cd_h5_attr_int(hid_t obj, const char *path, const char *what, const char *name, long long *out,
                         cd_error *err);
/* A 1-D floating-point attribute of exactly n finite values. */
cd_status cd_h5_attr_doubles(hid_t obj, const char *path, const char *what, const char *name, int n, double *out,
                             cd_error *err);
/* A 1-D string attribute of exactly n strings (fixed- or variable-length), joined by "\n" into out[cap];
 * a string holding a newline is refused. */
cd_status cd_h5_attr_strings(hid_t obj, const char *path, const char *what, const char *name, int n, char *out,
                             size_t cap, cd_error *err);

#endif
