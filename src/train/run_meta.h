/* What a checkpoint says about the run that wrote it: the identity that shapes its results (a resume
 * must match it) and the position it reached (a resume continues from it); writing one, resuming one. */
#ifndef CNN_DDP_SRC_RUN_META_H
#define CNN_DDP_SRC_RUN_META_H

#include <stdint.h>
#include "cnn_ddp/ckpt.h"
#include "cnn_ddp/config.h"
#include "cnn_ddp/comm.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/report.h"
#include "cnn_ddp/tensor.h"

/* Everything the weights depend on besides the kernel set. */
typedef struct cd_run_identity {
    const char *model;      /* canonical spec */
    const char *data;       /* --data: named in messages, not part of the identity */
    const char *data_abs;   /* its absolute path, which checkpoints record (NULL: data) */
    int64_t data_rows;      /* training rows */
    int data_height, data_width;
    uint64_t data_checksum; /* cd_data_rows_checksum summed over the ranks */
    int data_channels, classes;
    char norm_mean[1700], norm_std[1700]; /* cd_data_norm_format: what the inputs were normalised with */
    const char *class_names; /* "\n"-joined; recorded, not part of the identity */
    int64_t val_rows;        /* held out of the training rows (--val-rows) */
    const char *history;     /* the run history up to this checkpoint (cd_run_history); recorded, not identity */
    int ranks;              /* recorded, not checked: any rank count gives the same bits */
    int batch;              /* global */
    uint64_t seed;
    double lr, momentum;
    char lr_schedule[32];   /* cd_lr_schedule_format */
    int64_t steps_per_epoch;
    char init_from[64];         /* --init-from: "run <id> params <checksum>" of its checkpoint, "" for none */
    const char *init_from_path; /* --init-from's path: recorded, not part of the identity */
} cd_run_identity;

/* Where a run stands: global steps done and the running totals of the epoch in progress, so a
 * resumed run logs the same epoch figures. */
typedef struct cd_position {
    int64_t step;
    int64_t epoch_loss_fx, epoch_correct, epoch_samples;
    double epoch_seconds;
} cd_position;

/* The host arenas as a checkpoint sees them: named tensors over params and momentum. */
typedef struct cd_run_arenas {
    const cd_tensor_view *tensors;
    int n_tensors;
    float *params, *momentum;
    size_t n_params;
} cd_run_arenas;

void cd_run_meta_fill(const cd_run_identity *id, const cd_position *pos, const cd_train_config *cfg,
                      cd_ckpt_meta *meta);
/* CD_E_INPUT naming `path` and the first field that differs ("checkpoint has --seed 1, this run
 * --seed 7"). */
cd_status cd_run_meta_check(const cd_run_identity *id, const cd_ckpt_meta *meta, const char *path, cd_error *err);
/* The first identity field in which `meta` differs from this run, as a phrase ("checkpoint has --seed 1, this
 * run --seed 7"); 0 (and out "") when it is this run's. */
int cd_run_meta_diff(const cd_run_identity *id, const cd_ckpt_meta *meta, char *out, size_t cap);
/* This run's id (cd_ckpt_run_id of the metadata it writes). */
uint64_t cd_run_id(const cd_run_identity *id);
/* CD_E_INPUT when the checkpoint's position does not fit this data set's steps per epoch, or lies
 * past this run's --epochs. */
cd_status cd_run_meta_check_position(const cd_run_identity *id, int64_t epochs, const cd_ckpt_meta *meta,
                                     const char *path, cd_error *err);
cd_position cd_run_meta_position(const cd_ckpt_meta *meta);

/* The run history a checkpoint at step `to` records: `before` (the resumed checkpoint's; "" for a fresh
 * run), then `event` when not NULL (what started this segment: "resumed", "restart (rank 3 killed by
 * signal 9)"), then this segment, "<ranks> ranks steps <from>-<to>", "; "-joined. Over `cap`, the oldest
 * entries give way to "...". */
void cd_run_history(const char *before, const char *event, int ranks, int64_t from, int64_t to, char *out,
                    size_t cap);

/* Collective. Rank 0 finds the checkpoint --resume names (a file, or the newest of --ckpt-dir of this run
 * that verifies), reads it into `arenas` and checks it continues this run; every rank then receives the
 * weights and the position. *resumed is 0 (and *pos untouched) when there was none to resume. */
enum { CD_RESUMED_NONE = 0, CD_RESUMED = 1, CD_RESUMED_FINISHED = 2 };
/* *resumed is CD_RESUMED_FINISHED when the checkpoint is already at or past `last_step`: the run is done,
 * and the caller changes nothing. */
/* history (CD_CKPT_HISTORY_MAX bytes) gets the checkpoint's run history, "" when there was none. */
cd_status cd_resume(const cd_train_config *cfg, const cd_run_identity *id, int64_t last_step, cd_comm *comm,
                    const cd_run_arenas *arenas, const cd_reporter *rep, cd_position *pos, int *resumed,
                    char *history, cd_error *err);

/* Collective, for --init-from: rank 0 reads the weights of cfg->init_from into the arenas' params (every
 * tensor of this model, the same shapes, verified; CD_E_INPUT "--init-from: PATH: ..." naming the first
 * tensor that differs), every rank receives them, momentum is zeroed, and `ident` gets the source's
 * "run <id> params <checksum>" for this run's identity. `note` (rank 0) says what was loaded. */
cd_status cd_init_from(const cd_train_config *cfg, cd_comm *comm, const cd_run_arenas *arenas, char ident[64],
                       char *note, size_t note_cap, cd_error *err);

/* Rank 0 only (others return CD_OK at once), before anything is written, unless --no-ckpt: makes and
 * probes --ckpt-dir, takes its lock (held in *lock until cd_ckpt_unlock_dir), removes stale temporaries,
 * and refuses (CD_E_USAGE) a directory holding checkpoints of another run, naming it and what differs;
 * with --overwrite those checkpoints are deleted instead. Damaged files are reported and left alone. */
cd_status cd_claim_ckpt_dir(const cd_train_config *cfg, const cd_run_identity *id, int rank, const cd_reporter *rep,
                            cd_ckpt_lock *lock, cd_error *err);

/* Rank 0 only (other ranks return CD_OK at once): writes final.h5 or step-<S>.h5 in --ckpt-dir
 * crash-safely and prunes old step files; `written` gets the path. */
cd_status cd_write_checkpoint(const cd_train_config *cfg, const cd_run_identity *id, const cd_position *pos,
                              const cd_run_arenas *arenas, int rank, int final, char written[CD_PATH_MAX],
                              cd_error *err);

#endif
