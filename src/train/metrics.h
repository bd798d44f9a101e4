#ifndef CNN_DDP_SRC_METRICS_H
#define CNN_DDP_SRC_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/report.h"

/* The JSON-lines metrics file (rank 0): a "config" object first, then "step" and "epoch" objects, and a
 * "final" one; a resumed run appends to the same file. Every record is one JSON object written by
 * jansson (escaping, UTF-8, unique keys), with "type" first and an ISO-8601 UTC "time" last; the
 * schema is in the README. */
typedef struct cd_metrics {
    FILE *file;
    char device[16];
} cd_metrics;

/* One typed member of a record. A non-finite REAL is written as null; a TEXT that is not valid UTF-8
 * has its bytes above 0x7f written as '?'. A key given twice keeps its last value (keys stay unique). */
typedef enum cd_metrics_kind { CD_MF_INT, CD_MF_REAL, CD_MF_BOOL, CD_MF_TEXT } cd_metrics_kind;
typedef struct cd_metrics_field {
    const char *key;
    cd_metrics_kind kind;
    int64_t i;     /* INT, BOOL (0 or not) */
    double r;      /* REAL */
    const char *s; /* TEXT */
} cd_metrics_field;
#define CD_MF_INT_OF(k, v) ((cd_metrics_field){.key = (k), .kind = CD_MF_INT, .i = (int64_t)(v)})
#define CD_MF_REAL_OF(k, v) ((cd_metrics_field){.key = (k), .kind = CD_MF_REAL, .r = (double)(v)})
#define CD_MF_BOOL_OF(k, v) ((cd_metrics_field){.key = (k), .kind = CD_MF_BOOL, .i = (v) != 0})
#define CD_MF_TEXT_OF(k, v) ((cd_metrics_field){.key = (k), .kind = CD_MF_TEXT, .s = (v)})

/* `device`: where the run computes ("cpu", "cuda"), recorded in the config and epoch objects. */
cd_status cd_metrics_open(cd_metrics *m, const char *path, int append, const char *config_lines, int world_size,
                          const char *device, cd_error *err);
/* {"type":TYPE, fields..., "time":"2026-01-02T03:04:05.678Z"} as one line, flushed; nothing without a file.
 * Every record below is one of these. */
void cd_metrics_record(cd_metrics *m, const char *type, const cd_metrics_field *fields, size_t n);
void cd_metrics_step(cd_metrics *m, int64_t step, double loss, double lr);
/* val_acc and val_loss with --val-rows, else test_acc and test_loss (when the data has a /test split). */
void cd_metrics_epoch(cd_metrics *m, const cd_epoch_summary *e, int world_size);
/* {"type":"note","name":value} */
void cd_metrics_note(cd_metrics *m, const char *name, double value);
/* {"type":"segment","ranks":N,"from_step":S,"event":"start"|"resumed"|"restart (REASON)...","history":H}: one
 * per start of the run on some ranks (launch/elastic.sh's restarts included); H is the history of the
 * checkpoint it resumed ("" for a fresh run). Self-contained: only json_string of this file. */
void cd_metrics_segment(cd_metrics *m, int ranks, int64_t from_step, const char *event, const char *history);

/* test_acc NaN: no /test split, neither it nor test_loss written. */
void cd_metrics_final(cd_metrics *m, int64_t step, double test_acc, double test_loss, double elapsed_s);
void cd_metrics_close(cd_metrics *m);
#endif
