/* How cnn_ddp's HDF5 files lie on disk: the file format they are written in (metadata that HDF5
 * checksums itself), and the check of a dataset's storage before anything reads it, so that damaged
 * metadata becomes one message instead of a crash inside H5Dread. */
#ifndef CNN_DDP_H5_STORAGE_H
#define CNN_DDP_H5_STORAGE_H

#include <hdf5.h>
#include <stdint.h>

#include "cnn_ddp/error.h"

/* Chunks above this are refused as damage (HDF5's own limit is 4 GiB; real files use KiB to MiB). */
#define CD_H5_MAX_CHUNK_BYTES (1ull << 30)

/* Sets the library-version bounds of a file access list used to create a file on disk: superblock
 * v3, v2 object headers, and checksummed chunk indexes and heaps (the 1.10 format). */
herr_t cd_h5_set_file_format(hid_t fapl);

/* Checks dataset `ds` of `path` (`what` names it: "/train/images") before a read: a simple dataspace,
 * the layout (compact, contiguous or chunked; no external files), chunk dimensions (1 and up, within
 * the maximum dimensions, at most CD_H5_MAX_CHUNK_BYTES), that every filter can be decoded by this
 * HDF5, and that the stored bytes fit a file of `file_size` bytes: the total, a contiguous extent, and
 * each chunk holding rows [first_row, first_row + rows) (all of them present, each inside the file and
 * of a plausible size). Refusals are CD_E_INPUT, one line naming the file and the dataset. */
cd_status cd_h5_check_storage(hid_t ds, const char *path, const char *what, int64_t file_size, int64_t first_row,
                              int64_t rows, cd_error *err);

#endif
