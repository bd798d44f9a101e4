/* IDX files (the format MNIST is distributed in), raw or gzip-compressed, read a piece at a time so a
 * multi-gigabyte file never has to fit in memory. Only unsigned-byte IDX files are supported. */
#ifndef CNN_DDP_IDX_H
#define CNN_DDP_IDX_H

#include <stdint.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/limits.h"

#define CD_IDX_MAGIC_IMAGES 0x00000803u /* ubyte, 3 dimensions: [N, rows, cols] */
#define CD_IDX_MAGIC_LABELS 0x00000801u /* ubyte, 1 dimension: [N] */
#define CD_IDX_MAX_SIDE CD_MAX_IMAGE_SIDE

struct gzFile_s; /* zlib's handle, kept opaque so users need not include zlib.h */

typedef struct cd_idx_file {
    struct gzFile_s *gz;
    const char *path;   /* borrowed: the caller keeps the string alive while the file is open */
    uint32_t magic;
    int64_t count;      /* items the header declares */
    int rows, cols;     /* 1 x 1 for label files */
    int64_t item_bytes; /* rows * cols */
    int64_t next;       /* items read so far */
} cd_idx_file;

/* Opens `path` and checks its header against `magic` (CD_IDX_MAGIC_IMAGES or CD_IDX_MAGIC_LABELS) and
 * sane dimensions (rows, cols in 1..CD_IDX_MAX_SIDE). Failures are CD_E_INPUT, "<path>: <problem>". */
cd_status cd_idx_open(const char *path, uint32_t magic, cd_idx_file *f, cd_error *err);
/* Reads the next n items (n * item_bytes bytes) into buf; a file that ends early is CD_E_INPUT. */
cd_status cd_idx_read(cd_idx_file *f, int64_t n, uint8_t *buf, cd_error *err);
/* After every item was read: checks that nothing follows the declared data and the gzip stream (if
 * any) ended cleanly, so a file whose length does not match its header is refused. */
cd_status cd_idx_finish(cd_idx_file *f, cd_error *err);
void cd_idx_close(cd_idx_file *f);

#endif
