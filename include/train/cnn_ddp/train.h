/* The training run: data-parallel SGD over the ranks of a cd_comm, with evaluation, metrics and
 * checkpoints. Results depend on (data, model, seed, shards, batch, lr, momentum, kernel set) only,
 * never on the number of ranks or on where a run was stopped and resumed. */
#ifndef CNN_DDP_TRAIN_H
#define CNN_DDP_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/comm.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/kernels.h"
#include "cnn_ddp/spec.h"

#define CD_PATH_MAX 4096

/* Where the model runs, and how a GPU run sums its gradients across ranks (see cnn_ddp/cuda.h). */
typedef enum cd_device_kind { CD_DEVICE_CPU = 0, CD_DEVICE_CUDA, CD_DEVICE_AUTO } cd_device_kind;
typedef enum cd_comm_kind { CD_COMM_AUTO = 0, CD_COMM_MPI, CD_COMM_NCCL } cd_comm_kind;

/* How the learning rate moves over the run. */
typedef enum cd_lr_schedule {
    CD_LR_MODEL_DEFAULT = 0, /* the model's recipe (cd_spec_default_recipe) */
    CD_LR_CONSTANT,
    CD_LR_COSINE, /* lr * (1 + cos(pi * step / total)) / 2, total = epochs * steps per epoch */
} cd_lr_schedule;

typedef struct cd_train_config {
    char data[CD_PATH_MAX];
    char model[CD_SPEC_TEXT_MAX];
    int64_t epochs;
    int64_t max_steps;      /* 0: no limit beyond epochs */
    int batch;              /* global batch */
    double lr;              /* 0: the model's default, cd_spec_default_recipe (0.01; exercise 0.05) */
    cd_lr_schedule lr_schedule;
    double momentum;
    uint64_t seed;
    cd_kernel_kind kernels;
    int shards;
    char metrics[CD_PATH_MAX]; /* "" : none */
    int quiet;
    char ckpt_dir[CD_PATH_MAX];
    int64_t ckpt_every;     /* steps; 0: at the end of each epoch */
    int keep;
    int no_ckpt;
    int resume;             /* 0 none, 1 newest in ckpt_dir, 2 the file resume_path */
    char resume_path[CD_PATH_MAX];
    int64_t check_every;    /* steps between cross-rank weight checksum comparisons (0: never) */
    double timeout_s;       /* a step (or eval/checkpoint) taking longer than this aborts the job */
    int64_t log_every;      /* steps between per-step metrics lines (0: none) */
    double process_start;   /* CLOCK_MONOTONIC seconds when main() began (0: unknown), for the start-up time */
    cd_device_kind device;  /* --device: cpu (default), cuda, auto (cuda when built with it and a GPU is visible) */
    cd_comm_kind comm;      /* --comm: auto (nccl on cuda, else mpi), mpi, nccl (cuda only) */
} cd_train_config;

void cd_train_config_defaults(cd_train_config *cfg);
/* The effective configuration as "key=value" lines (stored in checkpoints and metrics). */
void cd_train_config_format(const cd_train_config *cfg, char *buf, size_t size);

/* Runs training. Returns CD_E_STOPPED when a SIGINT/SIGTERM stopped it (after checkpointing). */
cd_status cd_train_run(const cd_train_config *cfg, cd_comm *comm, cd_error *err);

/* Signal handling: SIGINT/SIGTERM set a flag checked at step boundaries. (A signal handler can only
 * talk to the program through a static flag: this is the one piece of global mutable state.) */
void cd_signals_install(void);
int cd_signals_pending(void);

/* The learning rate of global step `step` (0-based) of a run of `total` steps. Computed in double from
 * the step alone, so every rank, a resumed run and a GPU run use the same value. */
double cd_lr_at(double lr, cd_lr_schedule schedule, int64_t step, int64_t total);
/* "constant", or "cosine/<total>": the schedule's identity, stored in checkpoints and compared on
 * resume (a cosine run resumed with another --epochs would follow another curve). */
void cd_lr_schedule_format(cd_lr_schedule schedule, int64_t total, char *buf, size_t size);

#endif
