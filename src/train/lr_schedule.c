/* The learning-rate schedules: constant, and a cosine decay to 0 over the run. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "cnn_ddp/lr_schedule.h"

double cd_lr_at(double lr, cd_lr_schedule schedule, int64_t step, int64_t total)
{
    if (schedule != CD_LR_COSINE || total <= 0) return lr;
    if (step >= total) return 0.0;
    /* pi to double precision, spelled out: M_PI is not C17. */
    return lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)step / (double)total));
}

void cd_lr_schedule_format(cd_lr_schedule schedule, int64_t total, char *buf, size_t size)
{
    if (schedule == CD_LR_COSINE) snprintf(buf, size, "cosine/%" PRId64, total);
    else snprintf(buf, size, "constant");
}
