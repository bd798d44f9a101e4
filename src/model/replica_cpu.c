/* The CPU replica: the host cd_model itself, all of a rank's chunks at once through the kernel table. Its
 * parameters are the model's arena, so upload and download are copies only when the caller passes
 * other buffers. A chunk's failure (a diverged loss, a gradient fixed point cannot hold) is known at
 * once and returned by chunks(). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cnn_ddp/replica.h"

typedef struct cpu_replica {
    cd_replica base;
    cd_model *model;
    int64_t *acc;    /* the step buffer: n_params + CD_SLOTS */
    uint8_t *labels; /* staging: max_batch labels (the inputs stage in the model's act[0]) */
} cpu_replica;

static cpu_replica *cpu(cd_replica *r) { return (cpu_replica *)r->impl; }

static float *cpu_input(cd_replica *r) { return cpu(r)->model->act[0]; }
static uint8_t *cpu_labels(cd_replica *r) { return cpu(r)->labels; }

static cd_status cpu_begin_step(cd_replica *r, cd_error *err)
{
    (void)err;
    memset(cpu(r)->acc, 0, sizeof(int64_t) * (r->n_params + CD_SLOTS));
    return CD_OK;
}

/* n_chunks chunks (up to cd_model_pass_samples() samples) in one batched forward and backward pass: the
 * backward pass adds each sample's gradient in fixed point, so the batching changes no bits. */
static cd_status cpu_chunks(cd_replica *r, int first_chunk, int n_chunks, float scale, int64_t poison, cd_error *err)
{
    cpu_replica *c = cpu(r);
    cd_model *m = c->model;
    int64_t *slots = c->acc + r->n_params;
    if (n_chunks < 1 || n_chunks > r->max_chunks)
        return CD_FAIL(err, CD_E_INTERNAL, "cpu replica: %d chunks in one call (1..%d)", n_chunks, r->max_chunks);
    (void)first_chunk;
    const int n = n_chunks * r->chunk;
    cd_model_forward(m, m->act[0], n);
    int correct = 0;
    CD_TRY(cd_model_loss_backward_fixed(m, cpu_labels(r), n, scale, c->acc, &slots[CD_SLOT_LOSS], &correct, err));
    /* The fault injector's NaN, reported as the accumulation reports one. */
    if (poison >= 0 && (size_t)poison < r->n_params)
        return CD_FAIL(err, CD_E_NUMERIC, "gradient element %" PRId64 " (of %zu) is nan", poison, r->n_params);
    slots[CD_SLOT_CORRECT] += correct;
    return CD_OK;
}

static cd_status cpu_reduce_buffer(cd_replica *r, cd_memory memory, int stop, int error, int64_t **buf, cd_error *err)
{
    if (memory != CD_MEMORY_HOST)
        return CD_FAIL(err, CD_E_USAGE, "the CPU replica sums gradients in host memory: --comm nccl needs --device cuda");
    int64_t *acc = cpu(r)->acc;
    /* A failed step's partial sum must not reach the other ranks' integers (it could overflow them). */
    if (error) memset(acc, 0, sizeof(int64_t) * (r->n_params + CD_SLOTS));
    acc[r->n_params + CD_SLOT_ERROR] += error ? 1 : 0;
    acc[r->n_params + CD_SLOT_STOP] += stop ? 1 : 0;
    *buf = acc;
    return CD_OK;
}

static cd_status cpu_reduced(cd_replica *r, cd_memory memory, int64_t slots[CD_SLOTS], cd_error *err)
{
    (void)memory, (void)err;
    memcpy(slots, cpu(r)->acc + r->n_params, sizeof(int64_t) * CD_SLOTS);
    return CD_OK;
}

static cd_status cpu_failure(cd_replica *r, int *chunk, cd_error *err)
{
    (void)r, (void)err;
    *chunk = -1; /* this replica's failures were returned by chunks() */
    return CD_OK;
}

static cd_status cpu_update(cd_replica *r, float lr, float momentum, cd_error *err)
{
    (void)err;
    cd_model *m = cpu(r)->model;
    cd_fixed_to_float(cpu(r)->acc, m->arena.grads, r->n_params);
    m->kernels->sgd_momentum(r->n_params, m->arena.params, m->arena.momentum, m->arena.grads, lr, momentum);
    return CD_OK;
}

static cd_status cpu_predict(cd_replica *r, int n, int32_t *pred, cd_error *err)
{
    cd_model *m = cpu(r)->model;
    if (n < 1 || n > r->max_batch) return CD_FAIL(err, CD_E_INTERNAL, "cpu replica: predict %d (1..%d)", n, r->max_batch);
    cd_model_predict(m, m->act[0], n, pred);
    return CD_OK;
}

static cd_status cpu_logits(cd_replica *r, int n, float *out, cd_error *err)
{
    (void)err;
    const cd_model *m = cpu(r)->model;
    memcpy(out, cd_model_logits(m), sizeof(float) * (size_t)n * (size_t)m->classes);
    return CD_OK;
}

static cd_status cpu_upload(cd_replica *r, const float *params, const float *momentum, cd_error *err)
{
    (void)err;
    cd_model *m = cpu(r)->model;
    if (params != m->arena.params) memcpy(m->arena.params, params, sizeof(float) * r->n_params);
    if (momentum != m->arena.momentum) memcpy(m->arena.momentum, momentum, sizeof(float) * r->n_params);
    return CD_OK;
}

static cd_status cpu_download(cd_replica *r, float *params, float *momentum, cd_error *err)
{
    (void)err;
    cd_model *m = cpu(r)->model;
    if (params != m->arena.params) memcpy(params, m->arena.params, sizeof(float) * r->n_params);
    if (momentum != m->arena.momentum) memcpy(momentum, m->arena.momentum, sizeof(float) * r->n_params);
    return CD_OK;
}

static void cpu_free(cd_replica *r)
{
    if (!r) return;
    cd_free(cpu(r)->acc);
    cd_free(cpu(r)->labels);
    cd_free(cpu(r));
}

static const cd_replica_ops cpu_ops = {
    .input = cpu_input, .labels = cpu_labels, .begin_step = cpu_begin_step, .chunks = cpu_chunks,
    .reduce_buffer = cpu_reduce_buffer, .reduced = cpu_reduced, .failure = cpu_failure, .update = cpu_update,
    .predict = cpu_predict, .upload = cpu_upload, .download = cpu_download, .free = cpu_free,
    .logits = cpu_logits,
};

cd_status cd_replica_cpu(cd_model *model, int chunk, cd_replica **out, cd_error *err)
{
    *out = NULL;
    if (chunk < 1 || chunk > model->max_batch)
        return CD_FAIL(err, CD_E_INTERNAL, "cpu replica: chunk %d (1..%d)", chunk, model->max_batch);
    cpu_replica *c = NULL;
    CD_ALLOC(err, c, 1);
    c->model = model;
    c->acc = cd_alloc_zeroed(sizeof(int64_t) * (model->arena.count + CD_SLOTS));
    c->labels = cd_alloc_zeroed((size_t)model->max_batch);
    if (!c->acc || !c->labels) {
        cd_free(c->acc);
        cd_free(c->labels);
        cd_free(c);
        return CD_FAIL(err, CD_E_NOMEM, "out of memory allocating the step buffer (%zu values)",
                       model->arena.count + CD_SLOTS);
    }
    cd_replica *r = &c->base;
    r->ops = &cpu_ops;
    r->device = "cpu";
    snprintf(r->name, sizeof r->name, "cpu, %s kernels", model->kernels->name);
    r->n_params = model->arena.count;
    r->chunk = chunk;
    const int pass = cd_model_pass_samples(model);
    r->max_chunks = pass / chunk > 0 ? pass / chunk : 1;
    r->max_batch = model->max_batch;
    r->impl = c;
    *out = r;
    return CD_OK;
}
