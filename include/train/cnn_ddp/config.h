/* A training run's configuration: every option's field, its defaults, and its printable form. The options
 * themselves (names, ranges, defaults, help) are described once in cnn_ddp/config_options.h. */
#ifndef CNN_DDP_CONFIG_H
#define CNN_DDP_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/limits.h"
#include "cnn_ddp/spec.h"

/* Where the model runs (see cnn_ddp/replica.h), and how a run sums its gradients across ranks. */
typedef enum cd_device_kind { CD_DEVICE_CPU = 0, CD_DEVICE_CUDA, CD_DEVICE_AUTO } cd_device_kind;
typedef enum cd_comm_kind { CD_COMM_AUTO = 0, CD_COMM_MPI, CD_COMM_NCCL } cd_comm_kind;

/* How the learning rate moves over the run. */
typedef enum cd_lr_schedule {
    CD_LR_MODEL_DEFAULT = 0, /* the model's recipe (cd_spec_default_recipe) */
    CD_LR_CONSTANT,
    CD_LR_COSINE, /* lr * (1 + cos(pi * step / total)) / 2, total = epochs * steps per epoch */
} cd_lr_schedule;

/* --progress: the live bar on a terminal, a plain line every --progress-every seconds, or nothing; auto
 * is the bar when rank 0's stdout is a terminal it was started on directly, lines otherwise. */
typedef enum cd_progress_mode { CD_PROGRESS_AUTO = 0, CD_PROGRESS_BAR, CD_PROGRESS_LINES, CD_PROGRESS_NONE } cd_progress_mode;

/* --resume: not at all, from the newest checkpoint of this run in --ckpt-dir, or from a named file. */
typedef enum cd_resume_kind { CD_RESUME_NONE = 0, CD_RESUME_NEWEST, CD_RESUME_FILE } cd_resume_kind;

typedef struct cd_train_config {
    char data[CD_PATH_MAX];
    char model[CD_SPEC_TEXT_MAX];
    int64_t epochs;
    int64_t max_steps;      /* 0: no limit beyond epochs */
    int batch;              /* global batch; 0: 64, or batch_per_rank times the ranks */
    int batch_per_rank;     /* --batch-per-rank (0: not given) */
    double lr;              /* 0: the model's default, cd_spec_default_recipe (0.01; exercise 0.05) */
    cd_lr_schedule lr_schedule;
    double momentum;
    uint64_t seed;
    cd_kernel_kind kernels;
    char metrics[CD_PATH_MAX]; /* "" : none */
    char memory_limit[32];     /* "": found from the cgroup / MemAvailable; "none": not checked */
    int quiet;
    int verbose;            /* --verbose: print the start-up plan (each conv layer's kernel path) */
    cd_progress_mode progress;
    double progress_every;  /* seconds between --progress lines */
    char ckpt_dir[CD_PATH_MAX];
    int64_t ckpt_every;     /* steps; 0: at the end of each epoch */
    int keep;
    int no_ckpt;
    int overwrite;          /* --overwrite: delete other runs' checkpoints in --ckpt-dir at start */
    cd_resume_kind resume;
    char resume_path[CD_PATH_MAX];
    int64_t check_every;    /* steps between cross-rank weight checksum comparisons (0: never) */
    double timeout_s;       /* a step (or eval/checkpoint) taking longer than this aborts the job */
    int64_t log_every;      /* steps between per-step metrics lines (0: none) */
    double process_start;   /* CLOCK_MONOTONIC seconds when main() began (0: unknown), for the start-up time */
    cd_device_kind device;  /* --device: cpu (default), cuda, auto (cuda when built with it and a GPU is visible) */
    cd_comm_kind comm;      /* --comm: auto (nccl on cuda, else mpi), mpi, nccl (cuda only) */
    double val_rows;        /* --val-rows: rows held out (>= 1, whole), or a fraction of the training rows (< 1) */
    char init_from[CD_PATH_MAX]; /* --init-from: a checkpoint whose weights start this run ("": none) */
} cd_train_config;

void cd_train_config_defaults(cd_train_config *cfg);
/* The effective configuration as "key=value" lines (stored in checkpoints and metrics): the keyed
 * options of the table, in its order, spelled as the first checkpoints spelled them. */
void cd_train_config_format(const cd_train_config *cfg, char *buf, size_t size);

#endif
