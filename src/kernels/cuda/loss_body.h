/* Softmax cross-entropy element bodies (see hd.h): the per-sample work of src/model/loss.c, and the
 * per-chunk sum the trainer turns into the step's loss slot. Computed in double from float logits,
 * with the exp and log of cnn_ddp/portable_math.h, as loss.c computes it: the same loss and gradient
 * bits on the host and the device (libdevice's exp/log are not glibc's). */
#ifndef CD_CUDA_LOSS_BODY_H
#define CD_CUDA_LOSS_BODY_H

#include "cnn_ddp/portable_math.h"
#include "hd.h"

/* Sample i: writes dlogits[i][*], returns its loss, *hit = whether its first maximal logit is the label. */
CD_HD double cd_body_softmax_xent(int classes, const float *logits, const uint8_t *labels, float scale,
                                  float *dlogits, int i, int *hit)
{
    const float *z = logits + (size_t)i * classes;
    float *d = dlogits + (size_t)i * classes;
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (z[c] > z[best]) best = c;
    *hit = best == labels[i];
    double mx = z[best], sum = 0.0;
    for (int c = 0; c < classes; c++) sum += cd_exp((double)z[c] - mx);
    double log_sum = cd_log(sum);
    for (int c = 0; c < classes; c++) {
        double p = cd_exp((double)z[c] - mx - log_sum);
        d[c] = (float)((p - (c == labels[i] ? 1.0 : 0.0)) * (double)scale);
    }
    return log_sum + mx - (double)z[labels[i]];
}

/* Index of the first maximal logit of sample i (the prediction evaluation counts). */
CD_HD int cd_body_argmax(int classes, const float *logits, int i)
{
    const float *z = logits + (size_t)i * classes;
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (z[c] > z[best]) best = c;
    return best;
}

#endif
