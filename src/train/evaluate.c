/* Evaluation through a replica: stage a batch, predict, count. */
#include "cnn_ddp/evaluate.h"

#include <math.h>

/* Softmax cross-entropy of one sample from its logits, in double, as an exact-summable integer. */
static int64_t sample_loss_fx(const float *z, int classes, int label)
{
    double m = z[0];
    for (int c = 1; c < classes; c++)
        if (z[c] > m) m = z[c];
    double sum = 0;
    for (int c = 0; c < classes; c++) sum += exp((double)z[c] - m);
    double loss = m + log(sum) - (double)z[label];
    if (!(loss < CD_EVAL_LOSS_MAX)) loss = CD_EVAL_LOSS_MAX; /* also NaN: a diverged model */
    return (int64_t)llround(loss * CD_EVAL_LOSS_SCALE);
}

cd_status cd_evaluate(cd_replica *r, const cd_dataset *data, int classes, int64_t *hits, int64_t *loss_fx,
                      int64_t *confusion, void (*beat)(void *ctx), void *ctx, cd_error *err)
{
    int32_t *pred = NULL;
    float *logits = NULL;
    CD_ALLOC(err, pred, r->max_batch);
    if (loss_fx && !r->ops->logits) loss_fx = NULL;
    if (loss_fx) {
        logits = cd_alloc_zeroed(sizeof(float) * (size_t)r->max_batch * (size_t)classes);
        if (!logits) {
            cd_free(pred);
            return CD_FAIL(err, CD_E_NOMEM, "out of memory for %d x %d logits", r->max_batch, classes);
        }
    }
    cd_status st = CD_OK;
    for (int64_t start = 0; start < data->count && st == CD_OK; start += r->max_batch) {
        const int n = (int)(data->count - start < r->max_batch ? data->count - start : r->max_batch);
        uint8_t *labels = r->ops->labels(r);
        cd_data_gather_range(data, start, n, r->ops->input(r), labels);
        st = r->ops->predict(r, n, pred, err);
        if (st == CD_OK && loss_fx) st = r->ops->logits(r, n, logits, err);
        for (int i = 0; st == CD_OK && i < n; i++) {
            *hits += pred[i] == labels[i];
            if (confusion) confusion[labels[i] * classes + pred[i]]++;
            if (loss_fx) *loss_fx += sample_loss_fx(logits + (size_t)i * classes, classes, labels[i]);
        }
        if (beat) beat(ctx);
    }
    cd_free(logits);
    cd_free(pred);
    return st;
}
