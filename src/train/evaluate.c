/* Evaluation through a replica: stage a batch, predict, count. */
#include "cnn_ddp/evaluate.h"

cd_status cd_evaluate(cd_replica *r, const cd_dataset *data, int classes, int64_t *hits, int64_t *confusion,
                      void (*beat)(void *ctx), void *ctx, cd_error *err)
{
    int32_t *pred = NULL;
    CD_ALLOC(err, pred, r->max_batch);
    cd_status st = CD_OK;
    for (int64_t start = 0; start < data->count && st == CD_OK; start += r->max_batch) {
        const int n = (int)(data->count - start < r->max_batch ? data->count - start : r->max_batch);
        uint8_t *labels = r->ops->labels(r);
        cd_data_gather_range(data, start, n, r->ops->input(r), labels);
        st = r->ops->predict(r, n, pred, err);
        for (int i = 0; st == CD_OK && i < n; i++) {
            *hits += pred[i] == labels[i];
            if (confusion) confusion[labels[i] * classes + pred[i]]++;
        }
        if (beat) beat(ctx);
    }
    cd_free(pred);
    return st;
}
