/* Evaluation through a replica, written once for the trainer's per-epoch test and `cnn_ddp eval`. */
#ifndef CNN_DDP_EVALUATE_H
#define CNN_DDP_EVALUATE_H

#include <stdint.h>
#include "cnn_ddp/data.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/replica.h"

/* Per-sample losses are summed as integers in units of 1/CD_EVAL_LOSS_SCALE (each capped at
 * CD_EVAL_LOSS_MAX), so the sum is the same for any split of the rows over ranks. */
#define CD_EVAL_LOSS_SCALE 16777216.0
#define CD_EVAL_LOSS_MAX 1e6

/* Predicts every row of `data` through `r` in batches of up to r->max_batch: *hits += correct
 * predictions; when loss_fx != NULL, *loss_fx += each sample's softmax cross-entropy (in double, from
 * its logits) in units of 1/CD_EVAL_LOSS_SCALE; when confusion != NULL, confusion[true * classes +
 * predicted] += 1. `beat` (may be NULL) is called after each batch with `ctx`, so a watchdog sees
 * progress. Local: no comm. */
cd_status cd_evaluate(cd_replica *r, const cd_dataset *data, int classes, int64_t *hits, int64_t *loss_fx,
                      int64_t *confusion, void (*beat)(void *ctx), void *ctx, cd_error *err);

#endif
