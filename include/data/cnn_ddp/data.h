/* Image-classification data sets in HDF5: /<split>/images of integer pixels 0-255, shaped [N,H,W],
 * [N,C,H,W], or [N,H,W,C] when the dataset's string attribute `layout` says "NHWC" (never guessed from
 * the shape); /<split>/labels [N] of any integer type, values 0..K-1. Optional attributes: `mean` and
 * `std` on /train/images (float64 [C], per channel, in units of pixel/255), `num_classes` (integer) and
 * `class_names` (K strings) on /train/labels. A rank loads only the rows it trains or evaluates on,
 * through a hyperslab selection, and holds them as [n][C][H][W] uint8 whatever the file's layout. */
#ifndef CNN_DDP_DATA_H
#define CNN_DDP_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"

/* Channels of an image (pixels of one position). */
#define CD_MAX_CHANNELS 64
/* Classes of a data set: labels are held as uint8. */
#define CD_MAX_CLASSES 256
/* Bytes of the class names joined by "\n" (checkpoints store them as one string). */
#define CD_CLASS_NAMES_MAX 8192
/* Bytes of a normalisation as text: C values "%.17g", comma-separated. */
#define CD_NORM_TEXT_MAX (CD_MAX_CHANNELS * 26)

typedef enum cd_data_layout { CD_LAYOUT_NHW = 0, CD_LAYOUT_NCHW, CD_LAYOUT_NHWC } cd_data_layout;
/* "[N,H,W]", "NCHW", "NHWC" */
const char *cd_data_layout_name(cd_data_layout layout);

typedef struct cd_data_info {
    int64_t count;   /* rows in the split */
    int channels, height, width;
    cd_data_layout layout;
    int num_classes; /* the labels' num_classes attribute; 0 when absent */
    int has_norm;    /* the images carry mean and std attributes (both, checked) */
    double mean[CD_MAX_CHANNELS], std[CD_MAX_CHANNELS];
} cd_data_info;

typedef struct cd_dataset {
    int64_t first_row; /* rows [first_row, first_row + count) of the split are held */
    int64_t count;
    int height, width;
    uint8_t *images;   /* count * channels * height * width, [n][C][H][W] */
    uint8_t *labels;   /* count */
    int channels;      /* 0 reads as 1 */
    float *norm;       /* channels x 256: each pixel value's normalised float per channel (cd_data_set_norm);
                        * NULL: pixel / 255 */
} cd_dataset;

/* Opens `path`, checks /<split>/images and /<split>/labels exist with matching counts, integer pixel
 * type, a supported shape and layout attribute, a non-zero count, and the attributes it finds (mean/std
 * on the images, num_classes on the labels) for type, shape and value. Every failure is CD_E_INPUT with
 * a message of the form "<path>: /<split>/images: <problem>". Reads no pixel or label data. */
cd_status cd_data_inspect(const char *path, const char *split, cd_data_info *info, cd_error *err);

/* A whole data file as the trainer sees it: both splits inspected (/test may be absent: has_test 0), their
 * image shapes agreeing, the number of classes K (num_classes on /train/labels, else the largest label + 1
 * of each split, which must agree) and the class names (class_names on /train/labels, K strings, joined
 * by "\n"; "" when absent). Reads every label when num_classes is absent. */
typedef struct cd_data_set_info {
    cd_data_info train, test;
    int has_test;
    int classes;
    int classes_from_attr; /* 1: num_classes; 0: the largest label + 1 */
    char class_names[CD_CLASS_NAMES_MAX];
} cd_data_set_info;
cd_status cd_data_inspect_set(const char *path, cd_data_set_info *out, cd_error *err);
/* Name k of "\n"-joined names into out[cap] ("" when names is "" or has fewer lines). */
void cd_data_class_name(const char *names, int k, char *out, size_t cap);

/* Loads rows [first, first + count) of the split (count 0 is allowed and loads nothing) and checks
 * every label in them is 0..255 ("<path>: /train/labels: label 300 at row 5 is outside 0-255"). */
cd_status cd_data_load(const char *path, const char *split, int64_t first, int64_t count,
                       cd_dataset *out, cd_error *err);
/* The same with the data set's K (labels 0..classes-1: "label 12 at row 5 is outside 0-9"), calling
 * beat(ctx) (beat may be NULL) between reads of a few tens of MB, so a watchdog sees a long read of a
 * big file as progress. */
cd_status cd_data_load_beating(const char *path, const char *split, int64_t first, int64_t count, int classes,
                               void (*beat)(void *ctx), void *ctx, cd_dataset *out, cd_error *err);
void cd_data_free(cd_dataset *data);

/* The normalisation table of `data` from per-channel mean and std (units of pixel/255): the float
 * ((float)p / 255 - (float)mean[c]) / (float)std[c] for each channel c and pixel value p. */
cd_status cd_data_set_norm(cd_dataset *data, const double *mean, const double *std, cd_error *err);
/* Per channel, the exact sums of the pixels and of their squares over the held rows [first, first + n):
 * sums[2c] and sums[2c + 1]. Integers, so ranks' sums add up to the whole set's in any order. */
void cd_data_pixel_sums(const cd_dataset *data, int64_t first, int64_t n, int64_t *sums);
/* mean and (population) std per channel, in units of pixel/255, from the summed cd_data_pixel_sums of
 * `rows` rows of hw pixels a channel. CD_E_INPUT naming `path` when a channel is constant (std 0). */
cd_status cd_data_norm_from_sums(const int64_t *sums, int channels, int64_t rows, int64_t hw, const char *path,
                                 double *mean, double *std, cd_error *err);
/* "v0,v1,...": %.17g, so cd_data_norm_parse gives back the same doubles. */
void cd_data_norm_format(const double *v, int channels, char *out, size_t cap);
/* The number of values parsed into v (at most max); -1 when the text is not such a list. */
int cd_data_norm_parse(const char *text, double *v, int max);

/* The sum mod 2^64 of a hash of each held row (its global index first_row + i, its pixels, its label):
 * the sums of any split of a data set's rows into blocks add up (mod 2^64) to the same value. */
uint64_t cd_data_rows_checksum(const cd_dataset *data);
/* 1 when `path` is an HDF5 file with a /<split> group (a data set, perhaps malformed), else 0. */
int cd_data_has_split(const char *path, const char *split);
/* How /<split>/images and /<split>/labels are stored, as one line for `info`: "images chunked
 * [1000,28,28], deflate(level 4), 9912422 bytes stored; labels contiguous, no filters, ...". Call it
 * only on a split cd_data_load has read (it asks HDF5 for the stored size, which walks the chunk index). */
cd_status cd_data_describe_storage(const char *path, const char *split, char *buf, size_t cap, cd_error *err);

/* out[i] = normalised image of local row rows[i] (through data->norm), as [n][C][H][W];
 * labels_out[i] = its label. rows are indices into the loaded block (0..count-1). */
void cd_data_gather(const cd_dataset *data, const uint32_t *rows, int n, float *out, uint8_t *labels_out);
/* The same for the contiguous local rows [first, first + n). */
void cd_data_gather_range(const cd_dataset *data, int64_t first, int n, float *out, uint8_t *labels_out);

#endif
