/* The per-layer table of a network (see model_summary.h). */
#include "model_summary.h"

#include <stdio.h>
#include <string.h>

/* The spec's word for a layer, with only the arguments that differ from their defaults. */
static void layer_spec(const cd_layer *l, char *buf, size_t size)
{
    const cd_layer_spec *s = &l->spec;
    const char *type = cd_layer_type_name(s->type);
    switch (s->type) {
    case CD_LAYER_CONV: {
        char more[48] = "";
        if (s->stride != 1) snprintf(more + strlen(more), sizeof more - strlen(more), ",s=%d", s->stride);
        if (s->pad != 0) snprintf(more + strlen(more), sizeof more - strlen(more), ",p=%d", s->pad);
        snprintf(buf, size, "%s(%d,k=%d%s)", type, s->out, s->k, more);
        break;
    }
    case CD_LAYER_POOL:
        if (s->stride != s->k) snprintf(buf, size, "%s(%d,s=%d)", type, s->k, s->stride);
        else snprintf(buf, size, "%s(%d)", type, s->k);
        break;
    case CD_LAYER_LINEAR:
        snprintf(buf, size, "%s(%d)", type, s->out);
        break;
    case CD_LAYER_RELU:
    case CD_LAYER_FLATTEN:
        snprintf(buf, size, "%s", type);
        break;
    }
}

/* CxHxW, or just the count of a flat output (fc, flatten). */
static void shape_text(cd_shape s, int flat, char *buf, size_t size)
{
    if (flat) snprintf(buf, size, "%d", s.c * s.h * s.w);
    else snprintf(buf, size, "%dx%dx%d", s.c, s.h, s.w);
}

static int is_flat(const cd_layer *l) { return l->spec.type == CD_LAYER_LINEAR || l->spec.type == CD_LAYER_FLATTEN; }

void cd_cli_model_summary(FILE *out, const char *indent, cd_shape input, const cd_layer *layers, int n_layers)
{
    /* Column widths from the contents, so a deep or wide network stays aligned. */
    size_t wn = strlen("layer"), ws = strlen("spec"), wo = strlen("output"), wp = strlen("params"), total = 0;
    char spec[64], shape[48], params[32];
    for (int k = 0; k < n_layers; k++) {
        const cd_layer *l = &layers[k];
        layer_spec(l, spec, sizeof spec);
        shape_text(l->out, is_flat(l), shape, sizeof shape);
        snprintf(params, sizeof params, "%zu", l->weight_count + l->bias_count);
        if (strlen(l->name) > wn) wn = strlen(l->name);
        if (strlen(spec) > ws) ws = strlen(spec);
        if (strlen(shape) > wo) wo = strlen(shape);
        if (strlen(params) > wp) wp = strlen(params);
        total += l->weight_count + l->bias_count;
    }
    fprintf(out, "%s%-*s  %-*s  %-*s  %*s\n", indent, (int)wn, "layer", (int)ws, "spec", (int)wo, "output", (int)wp,
            "params");
    for (int k = 0; k < n_layers; k++) {
        const cd_layer *l = &layers[k];
        layer_spec(l, spec, sizeof spec);
        shape_text(l->out, is_flat(l), shape, sizeof shape);
        fprintf(out, "%s%-*s  %-*s  %-*s  %*zu\n", indent, (int)wn, l->name, (int)ws, spec, (int)wo, shape, (int)wp,
                l->weight_count + l->bias_count);
    }
    fprintf(out, "%s%-*s  %zu parameters (%.1f KiB of float32), input %dx%dx%d\n", indent, (int)wn, "total", total,
            (double)total * 4.0 / 1024.0, input.c, input.h, input.w);
}
