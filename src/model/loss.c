/* Softmax cross-entropy on logits. Computed per sample in double from float logits so the loss and its
 * gradient are accurate; the result per sample depends only on that sample's logits. exp and log are
 * cnn_ddp/portable_math.h's, which the CUDA kernel (src/kernels/cuda/loss_body.h) uses too, so the
 * CPU and the GPU compute the same bits (glibc's exp and log would differ from the device's in the
 * last bit, and glibc itself picks another exp on CPUs with FMA). */
#include "loss.h"

#include <stddef.h>

#include "cnn_ddp/portable_math.h"

double cd_softmax_xent(int n, int classes, const float *logits, const uint8_t *labels, float scale,
                       float *dlogits, double *sample_loss, int *correct)
{
    double total = 0.0;
    int hits = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float *d = dlogits + (size_t)i * classes;
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (z[c] > z[best]) best = c;
        hits += best == labels[i];
        double mx = z[best], sum = 0.0;
        for (int c = 0; c < classes; c++) sum += cd_exp((double)z[c] - mx);
        double log_sum = cd_log(sum);
        const double loss = log_sum + mx - (double)z[labels[i]];
        total += loss;
        if (sample_loss) sample_loss[i] = loss;
        for (int c = 0; c < classes; c++) {
            double p = cd_exp((double)z[c] - mx - log_sum);
            d[c] = (float)((p - (c == labels[i] ? 1.0 : 0.0)) * (double)scale);
        }
    }
    if (correct) *correct = hits;
    return total;
}
