/* Evaluation through a replica, written once for the trainer's per-epoch test and `cnn_ddp eval`. */
#ifndef CNN_DDP_EVALUATE_H
#define CNN_DDP_EVALUATE_H

#include <stdint.h>
#include "cnn_ddp/data.h"
#include "cnn_ddp/error.h"
#include "cnn_ddp/replica.h"

/* Predicts every row of `data` through `r` in batches of up to r->max_batch: *hits += correct
 * predictions and, when confusion != NULL, confusion[true * classes + predicted] += 1. `beat` (may be
 * NULL) is called after each batch with `ctx`, so a watchdog sees progress. Local: no comm. */
cd_status cd_evaluate(cd_replica *r, const cd_dataset *data, int classes, int64_t *hits, int64_t *confusion,
                      void (*beat)(void *ctx), void *ctx, cd_error *err);

#endif
