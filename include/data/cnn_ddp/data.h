/* MNIST-style HDF5 datasets: /<split>/images uint8 [N,H,W] or [N,1,H,W], /<split>/labels uint8 [N]
 * (any integer type is accepted if its values fit; labels must be 0..9). A rank loads only the rows
 * it trains or evaluates on, through a hyperslab selection. */
#ifndef CNN_DDP_DATA_H
#define CNN_DDP_DATA_H

#include <stdint.h>
#include "cnn_ddp/error.h"

#define CD_NORM_MEAN 0.1307f
#define CD_NORM_STD 0.3081f
#define CD_CLASSES 10

typedef struct cd_data_info {
    int64_t count;   /* rows in the split */
    int height, width;
} cd_data_info;

typedef struct cd_dataset {
    int64_t first_row; /* rows [first_row, first_row + count) of the split are held */
    int64_t count;
    int height, width;
    uint8_t *images;   /* count * height * width */
    uint8_t *labels;   /* count */
} cd_dataset;

/* Opens `path`, checks /<split>/images and /<split>/labels exist with matching counts, integer pixel
 * type, rank 3 or 4 (channel 1) and a non-zero count. Every failure is CD_E_INPUT with a message of
 * the form "<path>: /<split>/labels: <problem>". Reads no pixel data. */
cd_status cd_data_inspect(const char *path, const char *split, cd_data_info *info, cd_error *err);

/* Loads rows [first, first + count) of the split (count 0 is allowed and loads nothing) and checks
 * every label in them is 0..9 ("<path>: /train/labels: label 12 at row 5 is outside 0-9"). */
cd_status cd_data_load(const char *path, const char *split, int64_t first, int64_t count,
                       cd_dataset *out, cd_error *err);
/* The same, calling beat(ctx) (beat may be NULL) between reads of a few tens of MB, so a watchdog sees
 * a long read of a big file as progress. */
cd_status cd_data_load_beating(const char *path, const char *split, int64_t first, int64_t count,
                               void (*beat)(void *ctx), void *ctx, cd_dataset *out, cd_error *err);
void cd_data_free(cd_dataset *data);

/* The sum mod 2^64 of a hash of each held row (its global index first_row + i, its pixels, its label):
 * the sums of any split of a data set's rows into blocks add up (mod 2^64) to the same value. */
uint64_t cd_data_rows_checksum(const cd_dataset *data);
/* 1 when `path` is an HDF5 file with a /<split> group (a data set, perhaps malformed), else 0. */
int cd_data_has_split(const char *path, const char *split);
/* How /<split>/images and /<split>/labels are stored, as one line for `info`: "images chunked
 * [1000,28,28], deflate(level 4), 9912422 bytes stored; labels contiguous, no filters, ...". Call it
 * only on a split cd_data_load has read (it asks HDF5 for the stored size, which walks the chunk index). */
cd_status cd_data_describe_storage(const char *path, const char *split, char *buf, size_t cap, cd_error *err);

/* out[i] = normalised image of local row rows[i] ((pixel/255 - mean)/std), as [n][1][H][W];
 * labels_out[i] = its label. rows are indices into the loaded block (0..count-1). */
void cd_data_gather(const cd_dataset *data, const uint32_t *rows, int n, float *out, uint8_t *labels_out);
/* The same for the contiguous local rows [first, first + n). */
void cd_data_gather_range(const cd_dataset *data, int64_t first, int n, float *out, uint8_t *labels_out);

#endif
