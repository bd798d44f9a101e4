#ifndef CNN_DDP_SRC_METRICS_H
#define CNN_DDP_SRC_METRICS_H
#include <stdint.h>
#include <stdio.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/report.h"

/* The JSON-lines metrics file (rank 0): a "config" object first, then "step" and "epoch" objects, and a
 * "final" one. A resumed run appends to the same file. */
typedef struct cd_metrics {
    FILE *file;
    char device[16];
} cd_metrics;

/* `device`: where the run computes ("cpu", "cuda"), recorded in the config and epoch objects. */
cd_status cd_metrics_open(cd_metrics *m, const char *path, int append, const char *config_lines, int world_size,
                          const char *device, cd_error *err);
void cd_metrics_step(cd_metrics *m, int64_t step, double loss, double lr);
/* val_acc and val_loss with --val-rows, else test_acc (when the data has a /test split). */
void cd_metrics_epoch(cd_metrics *m, const cd_epoch_summary *e, int world_size);
/* {"type":"note","name":value} */
void cd_metrics_note(cd_metrics *m, const char *name, double value);
/* {"type":"segment","ranks":N,"from_step":S,"event":"start"|"resumed"|"restart (REASON)...","history":H}: one
 * per start of the run on some ranks (launch/elastic.sh's restarts included); H is the history of the
 * checkpoint it resumed ("" for a fresh run). Self-contained: only json_string of this file. */
void cd_metrics_segment(cd_metrics *m, int ranks, int64_t from_step, const char *event, const char *history);
/* test_acc NaN: no /test split, none written. */
void cd_metrics_final(cd_metrics *m, int64_t step, double test_acc, double elapsed_s);
void cd_metrics_close(cd_metrics *m);
#endif
