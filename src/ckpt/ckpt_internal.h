/* Private to src/ckpt: the pieces the writer, the reader and the verifier share. */
#ifndef CNN_DDP_CKPT_INTERNAL_H
#define CNN_DDP_CKPT_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>
#include <sys/types.h>

#include "cnn_ddp/h5_quiet.h"

#include "cnn_ddp/ckpt.h"

/* Longest link name accepted when walking a file we did not necessarily write. */
#define CK_NAME_MAX 256

/* HDF5 prints its error stack to stderr by default; library code must not print, so every public
 * call silences it for its duration and puts the previous handler back. */

/* File access properties every checkpoint open uses (strong close, no file locking); caller closes. */
hid_t ck_fapl(void);

/* Opens `path` read-only. Refuses missing, empty, non-HDF5 and truncated files with one clear message.
 * *file_size gets the size in bytes (tensors larger than the file are damaged, not allocated). */
cd_status ck_open_read(const char *path, hid_t *file, off_t *file_size, cd_error *err);

/* Root attributes (ckpt.h lists them), including format, format_version and meta_checksum. */
cd_status ck_meta_write(hid_t file, const char *path, const cd_ckpt_meta *meta, cd_error *err);
/* Checks format and format_version, reads every attribute and checks meta_checksum. */
cd_status ck_meta_read(hid_t file, const char *path, cd_ckpt_meta *meta, cd_error *err);

/* After the checksums pass: what the metadata alone says must hold (a non-negative position that is
 * whole epochs plus a part of one, totals that fit it, finite lr and momentum; ckpt_sanity.c), and
 * that a tensor holds only finite values ("element 12 (of 250) is nan"). CD_E_INPUT naming the
 * field or tensor and the value. */
cd_status ck_meta_check(const char *path, const cd_ckpt_meta *meta, cd_error *err);
cd_status ck_tensor_check_finite(const char *path, const char *what, const float *v, size_t n, cd_error *err);

/* Checks tensor descriptors against the arena (names usable as HDF5 links, dims matching count,
 * inside the arena, no duplicates). They come from the model, so a bad one is CD_E_INTERNAL. */
cd_status ck_check_descriptors(const char *path, const cd_tensor_view *tensors, int n, size_t arena_count,
                               cd_error *err);

/* 1 if /<section>/<layer>/<name> exists, 0 if not, -1 on error. */
int ck_tensor_exists(hid_t file, const char *section, const char *layer, const char *name);

/* A float32 dataset opened for checking: shape, element count, handle. */
typedef struct ck_tensor {
    hid_t ds;
    int ndims;
    int64_t dims[4];
    size_t count;
} ck_tensor;
/* Opens /<section>/<layer>/<name> and checks it is a float32 tensor of 1..4 dims that fits in a file
 * of `file_size` bytes. `what` ("/params/conv1/weight") names it in messages. */
cd_status ck_tensor_open(hid_t file, const char *path, const char *what, off_t file_size, ck_tensor *t,
                         cd_error *err);
/* Reads the whole tensor into dst (t->count floats) and checks its "checksum" attribute. */
cd_status ck_tensor_load(const ck_tensor *t, const char *path, const char *what, float *dst,
                         cd_error *err);
void ck_tensor_close(ck_tensor *t);

/* Calls fn for every /<section>/<layer>/<name> dataset in name order; anything else in that tree is
 * refused as damage. */
typedef cd_status (*ck_walk_fn)(hid_t file, const char *layer, const char *name, void *ctx, cd_error *err);
cd_status ck_walk(hid_t file, const char *path, const char *section, ck_walk_fn fn, void *ctx,
                  cd_error *err);

/* Recomputes the checksum of a v2/v3 superblock at the start of a file image (H5Fget_file_image leaves
 * a stale one); 0 when done or not needed, -1 when the image does not start with a superblock. */
int ck_fix_superblock_checksum(unsigned char *image, size_t size);

/* "[10,1,5,5]" */
void ck_format_dims(char *buf, size_t cap, int ndims, const int64_t *dims);

#endif
