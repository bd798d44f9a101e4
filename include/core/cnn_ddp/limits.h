/* The limits the program enforces, named once. Each one bounds a user-controlled number so that a
 * fixed-size buffer or an int64 sum can never overflow; a value past a limit is refused with a message
 * that names the flag or the file, never truncated silently. */
#ifndef CNN_DDP_LIMITS_H
#define CNN_DDP_LIMITS_H

/* Bytes of a path, including its terminating NUL (Linux's PATH_MAX). */
#define CD_PATH_MAX 4096
/* The global batch (--batch, or --batch-per-rank times the ranks): the fixed-point sum of that many
 * per-sample gradients must stay inside int64 (see fixed_point.h). */
#define CD_MAX_BATCH 4096
/* Ranks of a job: no more than the global batch, since every rank owns at least one sample a step. */
#define CD_MAX_RANKS CD_MAX_BATCH
/* Height or width of an image in a data set or an IDX file. */
#define CD_MAX_IMAGE_SIDE 4096
/* Checkpoint files considered in one directory when resuming. */
#define CD_MAX_CKPTS 256
/* Layers of a model. */
#define CD_MAX_LAYERS 64

#endif
