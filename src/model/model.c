/* The network: builds the layer list from a spec, lays the parameters out in one arena, owns the
 * activation and gradient buffers, and runs forward/backward through each layer's vtable. */
#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/rng.h"
#include "loss.h"

/* Layer i writes its output over its input (and its input gradient over its output gradient): an
 * elementwise layer whose input no other pass reads again. The conv or pool before a ReLU needs only
 * its own input and arg-max backward, so a ReLU in place changes no bit and saves a buffer's worth of
 * cache misses (its separate output was 8% of `cnn_ddp eval` of the exercise net). Not the first
 * layer: the input rows are the caller's. */
static int in_place(const cd_model *m, int i)
{
    const cd_layer_type t = m->layers[i].spec.type;
    return i > 0 && (t == CD_LAYER_RELU || t == CD_LAYER_FLATTEN);
}

void cd_model_free(cd_model *m)
{
    for (int i = CD_MAX_LAYERS; i >= 0; i--) { /* downwards: an alias is freed with the buffer below it */
        if (i == 0 || m->act[i] != m->act[i - 1]) cd_free(m->act[i]);
        if (i == 0 || m->grad[i] != m->grad[i - 1]) cd_free(m->grad[i]);
        if (i < CD_MAX_LAYERS) cd_free(m->argmax[i]);
    }
    cd_free(m->work);
    cd_free(m->probs);
    cd_free(m->sample_loss);
    cd_arena_free(&m->arena);
    memset(m, 0, sizeof *m);
}

/* Shapes, plans and the parameter layout of every layer: all of the build that allocates nothing.
 * *params gets the arena's length, *work the largest scratch any layer needs. */
static cd_status layout(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                        const cd_kernels *kernels, cd_model *m, size_t *params, size_t *work, cd_error *err)
{
    if (spec->n_layers < 1 || spec->n_layers > CD_MAX_LAYERS)
        return CD_FAIL(err, CD_E_INPUT, "model spec has %d layers (1..%d allowed)", spec->n_layers, CD_MAX_LAYERS);
    if (max_batch < 1) return CD_FAIL(err, CD_E_INTERNAL, "model batch %d < 1", max_batch);
    m->n_layers = spec->n_layers;
    m->input = input;
    m->classes = classes;
    m->max_batch = max_batch;
    m->kernels = kernels;

    int counts[CD_LAYER_TYPES] = {0};
    size_t offset = 0;
    *work = 0;
    cd_shape shape = input;
    for (int i = 0; i < m->n_layers; i++) {
        cd_layer *l = &m->layers[i];
        l->spec = spec->layers[i];
        if (l->spec.out == CD_SPEC_CLASSES) l->spec.out = classes; /* fc(classes) */
        l->in = shape;
        snprintf(l->name, sizeof l->name, "%s%d", cd_layer_type_name(l->spec.type), ++counts[l->spec.type]);
        const cd_layer_ops *ops = cd_layer_ops_for(l->spec.type);
        CD_TRY(ops->infer(l, i, err));
        if (ops->plan) ops->plan(l, kernels);
        if (l->weight_count) {
            l->weight_offset = offset;
            offset += l->weight_count;
            l->bias_offset = offset;
            offset += l->bias_count;
        }
        size_t w = ops->workspace(l, kernels, max_batch);
        if (w > *work) *work = w;
        shape = l->out;
    }
    if (m->layers[m->n_layers - 1].spec.type != CD_LAYER_LINEAR || cd_shape_size(shape) != (size_t)classes)
        return CD_FAIL(err, CD_E_INPUT, "model ends with %zu outputs, but the data has %d classes: end the spec with fc(%d)",
                       cd_shape_size(shape), classes, classes);
    *params = offset;
    return CD_OK;
}

/* Floats of activation, gradient and arg-max buffers per sample (the arg-max ints are as wide). */
static double per_sample_floats(const cd_model *m)
{
    double floats = 0;
    for (int i = 0; i <= m->n_layers; i++)
        if (i == 0 || !in_place(m, i - 1)) floats += 2.0 * (double)cd_shape_size(i == 0 ? m->input : m->layers[i - 1].out);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].spec.type == CD_LAYER_POOL) floats += (double)cd_shape_size(m->layers[i].out);
    return floats + m->classes;
}

cd_status cd_model_memory(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                          const cd_kernels *kernels, cd_model_bytes *out, cd_error *err)
{
    cd_model *m = NULL;
    CD_ALLOC(err, m, 1);
    size_t params, work;
    cd_status st = layout(spec, input, classes, max_batch, kernels, m, &params, &work, err);
    if (st == CD_OK) {
        /* params, grads, momentum (float) and a replica's int64 step sums */
        out->params = params;
        out->arenas = (double)params * (3.0 * sizeof(float) + sizeof(int64_t));
        out->activations = ((double)max_batch * per_sample_floats(m) + (double)work) * sizeof(float) +
                           (double)max_batch * sizeof(double);
        out->largest_layer[0] = '\0';
        size_t most = 0;
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i].weight_count + m->layers[i].bias_count > most) {
                most = m->layers[i].weight_count + m->layers[i].bias_count;
                snprintf(out->largest_layer, sizeof out->largest_layer, "%s", m->layers[i].name);
            }
    }
    cd_free(m);
    return st;
}

static cd_status build(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                       const cd_kernels *kernels, cd_model *m, cd_error *err)
{
    size_t offset, work;
    CD_TRY(layout(spec, input, classes, max_batch, kernels, m, &offset, &work, err));
    CD_TRY(cd_arena_init(&m->arena, offset, err));
    for (int i = 0; i <= m->n_layers; i++) {
        if (i > 0 && in_place(m, i - 1)) {
            m->act[i] = m->act[i - 1];
            m->grad[i] = m->grad[i - 1];
            continue;
        }
        size_t per = cd_shape_size(i == 0 ? input : m->layers[i - 1].out);
        CD_ALLOC(err, m->act[i], per * (size_t)max_batch);
        CD_ALLOC(err, m->grad[i], per * (size_t)max_batch);
    }
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].spec.type == CD_LAYER_POOL)
            CD_ALLOC(err, m->argmax[i], cd_shape_size(m->layers[i].out) * (size_t)max_batch);
    CD_ALLOC(err, m->work, work);
    CD_ALLOC(err, m->probs, (size_t)classes * (size_t)max_batch);
    CD_ALLOC(err, m->sample_loss, (size_t)max_batch);
    return CD_OK;
}

cd_status cd_model_build(const cd_model_spec *spec, cd_shape input, int classes, int max_batch,
                         const cd_kernels *kernels, cd_model *m, cd_error *err)
{
    memset(m, 0, sizeof *m);
    cd_status st = build(spec, input, classes, max_batch, kernels, m, err);
    if (st != CD_OK) cd_model_free(m);
    return st;
}

void cd_model_init_params(cd_model *m, uint64_t seed)
{
    uint32_t tensor = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const cd_layer *l = &m->layers[i];
        if (!l->weight_count) continue;
        /* PyTorch: kaiming_uniform(a=sqrt(5)) for weights and U(+-1/sqrt(fan_in)) for biases, which
         * both come to U(+-1/sqrt(fan_in)). */
        size_t fan_in = l->weight_count / l->bias_count;
        float bound = (float)(1.0 / sqrt((double)fan_in));
        float *w = m->arena.params + l->weight_offset;
        float *b = m->arena.params + l->bias_offset;
        for (size_t j = 0; j < l->weight_count; j++)
            w[j] = (2.0f * cd_rng_uniform(seed, cd_rng_stream_init(tensor), j) - 1.0f) * bound;
        tensor++;
        for (size_t j = 0; j < l->bias_count; j++)
            b[j] = (2.0f * cd_rng_uniform(seed, cd_rng_stream_init(tensor), j) - 1.0f) * bound;
        tensor++;
    }
    memset(m->arena.momentum, 0, sizeof(float) * m->arena.count);
    memset(m->arena.grads, 0, sizeof(float) * m->arena.count);
}

/* Layer i's tensors in this network's buffers, for samples first .. first + n - 1. */
static cd_layer_io layer_io(const cd_model *m, int i, int first, int n)
{
    const cd_layer *l = &m->layers[i];
    const int has_params = l->weight_count > 0;
    const size_t in = (size_t)first * cd_shape_size(l->in), out = (size_t)first * cd_shape_size(l->out);
    return (cd_layer_io){.n = n, .x = m->act[i] + in, .y = m->act[i + 1] + out, .dy = m->grad[i + 1] + out,
                         .dx = m->grad[i] + in,
                         .w = has_params ? m->arena.params + l->weight_offset : NULL,
                         .b = has_params ? m->arena.params + l->bias_offset : NULL,
                         .dw = has_params ? m->arena.grads + l->weight_offset : NULL,
                         .db = has_params ? m->arena.grads + l->bias_offset : NULL,
                         .argmax = m->argmax[i] ? m->argmax[i] + out : NULL, .work = m->work, .k = m->kernels};
}

/* Samples first .. first + n - 1 of act[0] through every layer, into the same rows of each act[i]. */
static void forward_range(cd_model *m, int first, int n)
{
    for (int i = 0; i < m->n_layers; i++) {
        cd_layer_io io = layer_io(m, i, first, n);
        if (m->inference) io.argmax = NULL; /* no backward pass follows: skip the arg-max bookkeeping */
        cd_layer_ops_for(m->layers[i].spec.type)->forward(&m->layers[i], &io);
    }
}

/* The largest power of two of samples whose activations (the input and every layer's output, floats)
 * fit PASS_ACTIVATIONS, between PASS_MIN and the model's batch. Every kernel works sample by sample
 * (the training sums too), so this changes no bit, only what stays in cache (1 MiB of floats: this
 * machine's L2). Training, CPU ms (perf stat task-clock) of 150 steps with start-up and evaluation,
 * median of 5 rounds alternating the pass sizes on an idle machine: exercise (50k floats a sample;
 * the rule gives 4) 4: 3391, 8: 3386, 16: 3473, 32: 3575; seed (11k; the rule gives 16) 4: 959,
 * 8: 936, 16: 925, 32: 946. */
enum { PASS_ACTIVATIONS = 1 << 18, PASS_MIN = 4, PREDICT_PASS_MIN = 8 };

int cd_model_pass_samples(const cd_model *m)
{
    size_t per = cd_shape_size(m->input);
    for (int i = 0; i < m->n_layers; i++) per += cd_shape_size(m->layers[i].out);
    int pass = PASS_MIN;
    while (pass * 2 <= m->max_batch && (size_t)pass * 2 * per <= PASS_ACTIVATIONS) pass *= 2;
    return pass < m->max_batch ? pass : m->max_batch;
}

void cd_model_forward(cd_model *m, const float *x, int n)
{
    if (x && x != m->act[0]) memcpy(m->act[0], x, sizeof(float) * (size_t)n * cd_shape_size(m->input));
    forward_range(m, 0, n);
}

const float *cd_model_logits(const cd_model *m) { return m->act[m->n_layers]; }

/* From the loss gradient at the logits down to the lowest layer with parameters. With acc, layers with
 * parameters add each sample's gradient there in fixed point (backward_fixed); without, they overwrite
 * arena.grads with the batch's float gradient (backward). */
static cd_status backward_pass(cd_model *m, int n, int64_t *acc, cd_error *err)
{
    const int lowest = cd_layers_lowest_with_params(m->layers, m->n_layers);
    for (int i = m->n_layers - 1; i >= lowest; i--) {
        const cd_layer *l = &m->layers[i];
        const cd_layer_ops *ops = cd_layer_ops_for(l->spec.type);
        cd_layer_io io = layer_io(m, i, 0, n);
        if (i == lowest) io.dx = NULL;
        if (!acc || l->weight_count == 0) {
            ops->backward(l, &io);
            continue;
        }
        io.dw_sum = acc + l->weight_offset;
        io.db_sum = acc + l->bias_offset;
        cd_status st = ops->backward_fixed(l, &io, err);
        if (st != CD_OK) {
            cd_error_prefix(err, "layer %d (%s): ", i + 1, cd_layer_type_name(l->spec.type));
            return st;
        }
    }
    return CD_OK;
}

double cd_model_loss_backward(cd_model *m, const uint8_t *labels, int n, float scale, int *correct)
{
    double loss = cd_softmax_xent(n, m->classes, m->act[m->n_layers], labels, scale, m->grad[m->n_layers], NULL,
                                  correct);
    cd_error unused;
    backward_pass(m, n, NULL, &unused); /* without sums nothing can fail */
    return loss;
}

cd_status cd_model_loss_backward_fixed(cd_model *m, const uint8_t *labels, int n, float scale, int64_t *acc,
                                       int64_t *loss_fx, int *correct, cd_error *err)
{
    cd_softmax_xent(n, m->classes, m->act[m->n_layers], labels, scale, m->grad[m->n_layers], m->sample_loss, correct);
    for (int j = 0; j < n; j++) {
        /* Losses travel as each sample's share of the step's mean loss, bounded like the gradients. */
        const double share = m->sample_loss[j] * (double)scale;
        if (!isfinite(share) || fabs(share) > CD_FIXED_LIMIT)
            return CD_FAIL(err, CD_E_NUMERIC, "sample %d: loss is %g: training diverged", j, m->sample_loss[j]);
        *loss_fx += cd_fixed_from_double(share);
    }
    return backward_pass(m, n, acc, err);
}

void cd_model_predict(cd_model *m, const float *x, int n, int32_t *pred)
{
    const size_t per = cd_shape_size(m->input);
    /* A batch in passes that stay in cache: a whole batch of 64 exercise-net samples is 13 MB of
     * activations, and its ReLU and pool passes then ran from memory (20% of `cnn_ddp eval`). */
    const int pass = cd_model_pass_samples(m) < PREDICT_PASS_MIN ? PREDICT_PASS_MIN : cd_model_pass_samples(m);
    m->inference = 1;
    for (int start = 0; start < n; start += m->max_batch) {
        const int b = n - start < m->max_batch ? n - start : m->max_batch;
        const float *xb = x + per * (size_t)start;
        if (xb != m->act[0]) memcpy(m->act[0], xb, sizeof(float) * (size_t)b * per);
        for (int first = 0; first < b; first += pass) forward_range(m, first, b - first < pass ? b - first : pass);
        const float *z = cd_model_logits(m);
        for (int i = 0; i < b; i++) {
            int best = 0; /* the first maximal logit, as the loss and the CUDA kernels choose */
            for (int c = 1; c < m->classes; c++)
                if (z[(size_t)i * m->classes + c] > z[(size_t)i * m->classes + best]) best = c;
            pred[start + i] = best;
        }
    }
    m->inference = 0;
}

size_t cd_model_param_count(const cd_model *m) { return m->arena.count; }
