/* The learning rate along a run. */
#ifndef CNN_DDP_LR_SCHEDULE_H
#define CNN_DDP_LR_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/config.h"

/* The learning rate of global step `step` (0-based) of a run of `total` steps. Computed in double from
 * the step alone, so every rank, a resumed run and a GPU run use the same value. */
double cd_lr_at(double lr, cd_lr_schedule schedule, int64_t step, int64_t total);
/* "constant", or "cosine/<total>": the schedule's identity, stored in checkpoints and compared on
 * resume (a cosine run resumed with another --epochs would follow another curve). */
void cd_lr_schedule_format(cd_lr_schedule schedule, int64_t total, char *buf, size_t size);

#endif
