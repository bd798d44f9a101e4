/* What a run tells its user, behind a small interface so the library never prints: the trainer calls
 * these on rank 0 only, and the program decides what they look like (cli/console.c: a progress bar
 * on a terminal, plain lines in a log, nothing with --quiet). Any function may be NULL. */
#ifndef CNN_DDP_REPORT_H
#define CNN_DDP_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/layer.h"

/* The start-up facts. */
typedef struct cd_run_info {
    const char *model;        /* canonical spec */
    size_t n_params;
    int ranks;
    const char *kernels;      /* CPU kernel set */
    const char *device;       /* "cpu" | "cuda" */
    const char *device_name;  /* the replica's own description */
    int ranks_share_gpus;
    const char *grad_comm;    /* the comm backend that sums gradients: "self", "mpi", "nccl" */
    const char *config;       /* the effective configuration, key=value lines */
    const char *data;
    int64_t train_rows, test_rows, val_rows; /* test_rows 0: no /test split */
    int channels, height, width, classes;
    const char *norm;         /* "mean ... std ... (from the file)" or "(computed ...)" */
    int batch;                /* global */
    int64_t steps_per_epoch, skipped_per_epoch, epochs, total_steps;
    const cd_layer *layers;   /* the network, with each conv layer's kernel plan */
    int n_layers;
} cd_run_info;

/* Where the run stands after a step. */
typedef struct cd_progress {
    int64_t step, steps_per_epoch, epochs, total_steps;
    int batch;
    int64_t epoch_samples;   /* samples of the epoch in progress so far */
    double epoch_seconds;    /* their training time */
    double epoch_loss;       /* mean loss over them */
    double run_seconds;      /* since the run started */
} cd_progress;

/* With --val-rows the epoch reports the validation rows (has_val), else the test split (has_test; 0 when
 * the data has no /test). lr: the learning rate of the epoch's last step. */
typedef struct cd_epoch_summary {
    int64_t epoch, epochs, step;
    double loss, train_acc, test_acc, test_loss, img_per_s, elapsed_s;
    int has_test, has_val;
    double val_acc, val_loss;
    double lr;
} cd_epoch_summary;

typedef struct cd_reporter {
    void *ctx;
    void (*note)(void *ctx, const char *line);    /* "resumed from ...", "no checkpoint in ..." */
    void (*warning)(void *ctx, const char *line); /* something skipped that the user should know of */
    void (*banner)(void *ctx, const cd_run_info *info);
    void (*first_step)(void *ctx, double seconds_since_start);
    void (*step)(void *ctx, const cd_progress *p); /* after every step: the reporter decides what to draw */
    void (*epoch)(void *ctx, const cd_epoch_summary *e);
    void (*stopped)(void *ctx, int64_t step, const char *checkpoint); /* checkpoint "" when none */
    void (*final)(void *ctx, int64_t step, double test_acc, const char *checkpoint); /* test_acc NaN: no /test */
    /* In place of `final` when there was nothing to train (a finished run resumed): the outcome, one line. */
    void (*result)(void *ctx, const char *line);
} cd_reporter;

#endif
