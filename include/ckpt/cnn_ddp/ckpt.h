/* Checkpoints: HDF5 files holding the parameter and momentum arenas, cut into named tensors, plus the
 * run's identity and exact position. Written crash-safely (temporary file in the same directory,
 * fsync, rename, fsync of the directory) and self-checking (a checksum attribute on every tensor
 * and one over the metadata). Knows nothing of the training loop: it moves the buffers it is given.
 *
 * Layout:
 *   /params/<layer>/<tensor>   float32, e.g. /params/conv1/weight [10,1,5,5], /params/conv1/bias [10]
 *   /optim/<layer>/<tensor>    float32 momentum buffers, same shapes
 *   each dataset: attribute "checksum" (uint64, standard FNV-1a 64 of its little-endian float32 bytes)
 *   root attributes: format ("cnn_ddp-checkpoint"), format_version, version, model, step, epoch,
 *   step_in_epoch, seed, ranks, batch, lr, lr_schedule, momentum, epoch_loss_fx, epoch_correct, epoch_samples,
 *   epoch_seconds, config, data, data_rows, data_height, data_width, data_checksum, data_channels, classes,
 *   norm_mean, norm_std, class_names, val_rows, init_from and init_from_path (only when set: a run
 *   started with --init-from), meta_checksum (over all of the above).
 * The run identity (what shapes the weights: model, seed, batch, lr, momentum, lr_schedule and the training
 * data's rows, image shape, channels, classes, normalisation, checksum and held-out validation rows) hashes to the run id (cd_ckpt_run_id); pruning and the
 * directory's ownership go by it. */
#ifndef CNN_DDP_CKPT_H
#define CNN_DDP_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"
#include "cnn_ddp/limits.h"
#include "cnn_ddp/tensor.h"

#define CD_CKPT_FORMAT "cnn_ddp-checkpoint"
#define CD_CKPT_FORMAT_VERSION 6 /* 2: lr_schedule; 3: one data block per sample, per-sample sums, ranks;
                                  * 4: checksums are standard FNV-1a 64 (3 used an offset basis missing a digit);
                                  * 5: the training data's identity (data_*), so runs can be told apart;
                                  * 6: channels, classes, normalisation, class names, validation rows */
#define CD_CKPT_CONFIG_MAX 4096
/* The run history ("4 ranks steps 0-120; restart (rank 3 killed by signal 9); 3 ranks steps 120-260"). */
#define CD_CKPT_HISTORY_MAX 4096

typedef struct cd_ckpt_meta {
    char version[32];   /* library version that wrote it */
    char model[1024];   /* canonical model spec */
    int64_t step;       /* global steps completed */
    int64_t epoch;      /* epoch the next step belongs to */
    int64_t step_in_epoch;
    uint64_t seed;
    int64_t ranks, batch; /* the ranks that wrote it, the global batch */
    double lr, momentum;
    char lr_schedule[32]; /* "constant" or "cosine/<steps>" (cd_lr_schedule_format) */
    /* running totals of the epoch in progress, so a resumed run logs the same epoch figures */
    int64_t epoch_loss_fx, epoch_correct, epoch_samples;
    double epoch_seconds;
    char config[CD_CKPT_CONFIG_MAX]; /* the effective configuration, as text (may be empty) */
    /* The training split it was trained on: the path (for messages only, not identity), its rows, the
     * image shape, and an order-independent checksum of its rows (cd_data_rows_checksum). */
    char data[CD_PATH_MAX];
    int64_t data_rows, data_height, data_width;
    uint64_t data_checksum;
    int64_t data_channels, classes; /* C of the images, K of the labels */
    /* The input normalisation, per channel, in units of pixel/255: "%.17g" values, comma-separated. */
    char norm_mean[1700], norm_std[1700];
    char class_names[8192]; /* "\n"-joined, "" when the data has none; not part of the identity */
    int64_t val_rows;       /* training rows held out for validation (--val-rows); data_rows excludes them */
    /* --init-from: "run <id> params <checksum>" of the checkpoint whose weights started the run (identity),
     * and its path (messages only); both "" (and absent from the file) for a run started from scratch. */
    char init_from[64];
    char init_from_path[CD_PATH_MAX];
    /* Each segment's rank count and steps and what ended it, "; "-joined, oldest first; not part of the
     * identity. Optional on read: a file written before it existed reads as "" and keeps its checksum. */
    char history[CD_CKPT_HISTORY_MAX];
} cd_ckpt_meta;

/* The run id: a hash of the identity fields (model, seed, batch, lr, momentum, lr_schedule, data_rows,
 * data_height, data_width, data_checksum, data_channels, classes, norm_mean, norm_std, val_rows, and
 * init_from when set), never of the position, the rank count or the data path. */
uint64_t cd_ckpt_run_id(const cd_ckpt_meta *meta);
/* "%016llx" of the run id: the short name messages and `info` give a run. */
void cd_ckpt_run_id_text(uint64_t run_id, char out[17]);

/* Reads and checks only the metadata (format, version, meta_checksum), no tensor: what a directory scan
 * needs to tell whose a file is. */
cd_status cd_ckpt_read_meta(const char *path, cd_ckpt_meta *meta, cd_error *err);

/* Writes `path` atomically: `<dir>/.<name>.tmp-<pid>` first, fsync, rename over `path`, fsync the
 * directory. On failure the temporary is removed and any existing `path` is untouched. */
cd_status cd_ckpt_write(const char *path, const cd_ckpt_meta *meta, const cd_tensor_view *tensors,
                        int n_tensors, const float *params, const float *momentum, size_t arena_count,
                        cd_error *err);

/* Reads and verifies the whole file: format, every checksum, and that each expected tensor exists
 * with exactly the expected dims. Fills meta, params and momentum (arena_count floats each) only if
 * everything verifies. CD_E_INPUT naming the file and what is wrong ("checkpoints/step-100.h5:
 * /params/conv1/weight: checksum mismatch (file is damaged)"). */
cd_status cd_ckpt_read(const char *path, const cd_tensor_view *tensors, int n_tensors, cd_ckpt_meta *meta,
                       float *params, float *momentum, size_t arena_count, cd_error *err);

/* Verifies every checksum without knowing the model; fills meta. Used by `info` and by resume's search.
 * Both readers also refuse, once the checksums pass, a file whose values are impossible: a non-finite
 * tensor element, or metadata the training loop cannot write (position, totals, lr, momentum). A path
 * that is not a regular file (a FIFO) is refused before it is opened. */
cd_status cd_ckpt_verify(const char *path, cd_ckpt_meta *meta, cd_error *err);

/* Checkpoints in `dir` ("step-<S>.h5" and "final.h5"), newest first (final.h5, then by step
 * descending): up to max paths into paths[], their number into *found. A directory that does not
 * exist holds none (CD_OK); one that cannot be read, or memory running out, is an error. */
cd_status cd_ckpt_list(const char *dir, char (*paths)[CD_PATH_MAX], int max, int *found, cd_error *err);

/* Deletes all but the newest `keep` step-<S>.h5 files of run `run_id` (final.h5 is never deleted; files of
 * other runs and files whose metadata cannot be read are never deleted). `written`, when not NULL, is
 * the name (no directory) of the file just written: it is kept whatever its step, and counts. */
cd_status cd_ckpt_prune(const char *dir, int keep, uint64_t run_id, const char *written, cd_error *err);

/* A job's hold on a checkpoint directory: flock(LOCK_EX | LOCK_NB) on <dir>/.cnn_ddp.lock, kept open
 * for the life of the run (the file itself stays; it holds the holder's pid and host). */
#define CD_CKPT_LOCK_NAME ".cnn_ddp.lock"
typedef struct cd_ckpt_lock {
    int fd; /* -1: not held */
} cd_ckpt_lock;
/* CD_E_USAGE naming the directory and the holder when another live process holds it. */
cd_status cd_ckpt_lock_dir(const char *dir, cd_ckpt_lock *lock, cd_error *err);
void cd_ckpt_unlock_dir(cd_ckpt_lock *lock);
/* Under the lock: removes the temporaries a killed writer left (".<final.h5|step-<S>.h5>.tmp-<pid>" and
 * the directory probe ".cnn_ddp-probe-<pid>") whose pid is not a live process here; *removed counts them. */
cd_status cd_ckpt_remove_stale_temps(const char *dir, int *removed, cd_error *err);

/* mkdir -p */
cd_status cd_ckpt_make_dir(const char *dir, cd_error *err);
/* Before training: makes dir and creates and removes a probe file in it, so that a directory that
 * cannot hold checkpoints (a file, /dev/null, a read-only mount, a name too long for step files) is
 * refused at once rather than when the first checkpoint is due. CD_E_USAGE naming --ckpt-dir. */
cd_status cd_ckpt_probe_dir(const char *dir, cd_error *err);

#endif
