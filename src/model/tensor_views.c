/* The checkpoint's view of a model's arenas: one named tensor per weight and bias, so the trainer,
 * `eval` and `predict` name and shape them the same way. */
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/model.h"

int cd_model_tensor_views(const cd_model *m, cd_tensor_view *views)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const cd_layer *l = &m->layers[i];
        if (!l->weight_count) continue;
        cd_tensor_view *w = &views[n++], *b = &views[n++];
        memset(w, 0, sizeof *w);
        memset(b, 0, sizeof *b);
        snprintf(w->group, sizeof w->group, "%s", l->name);
        snprintf(b->group, sizeof b->group, "%s", l->name);
        snprintf(w->name, sizeof w->name, "weight");
        snprintf(b->name, sizeof b->name, "bias");
        w->offset = l->weight_offset;
        w->count = l->weight_count;
        w->ndims = l->weight_ndims;
        memcpy(w->dims, l->weight_dims, sizeof w->dims);
        b->offset = l->bias_offset;
        b->count = l->bias_count;
        b->ndims = 1;
        b->dims[0] = (int64_t)l->bias_count;
    }
    return n;
}
