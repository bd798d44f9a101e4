/* Names of the conv paths (cd_conv_path) and a plan's one-line description, for logs and benchmarks. */
#include <stdio.h>

#include "cnn_ddp/kernels.h"

static const char *const path_names[CD_CONV_PATH_COUNT] = {
    [CD_CONV_SCALAR] = "scalar",
    [CD_CONV_POINTWISE] = "pointwise",
    [CD_CONV_IM2COL] = "im2col",
    [CD_CONV_DIRECT] = "direct",
    [CD_CONV_COL2IM] = "col2im",
    [CD_CONV_DATA_AS_CONV] = "as-conv",
    [CD_CONV_IM2COL_DOT] = "im2col-dot",
    [CD_CONV_IM2COL_WGRAD] = "im2col-wgrad",
    [CD_CONV_DIRECT_DOT] = "direct-dot",
    [CD_CONV_DIRECT_WGRAD] = "direct-wgrad",
    [CD_CONV_ROWS] = "rows",
    [CD_CONV_ROWS_WGRAD] = "rows-wgrad",
};

const char *cd_conv_path_name(cd_conv_path p)
{
    return (unsigned)p < CD_CONV_PATH_COUNT ? path_names[p] : "?";
}

void cd_conv_plan_describe(const cd_conv_plan *p, char *buf, size_t size)
{
    if (!size) return;
    snprintf(buf, size, "forward %s, data %s, weights %s", cd_conv_path_name(p->forward),
             cd_conv_path_name(p->backward_data), cd_conv_path_name(p->backward_weights));
}
