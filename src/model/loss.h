#ifndef CNN_DDP_SRC_LOSS_H
#define CNN_DDP_SRC_LOSS_H
#include <stdint.h>
/* Returns the sum over the n samples of -log softmax(z)[label]; dlogits = scale * (softmax - onehot);
 * sample_loss[i] (when not NULL) = sample i's loss; *correct = number of samples whose first maximal
 * logit is the label. */
double cd_softmax_xent(int n, int classes, const float *logits, const uint8_t *labels, float scale,
                       float *dlogits, double *sample_loss, int *correct);
#endif
