/* The CUDA replica against the CPU replica (scalar kernels) on a real GPU, both driven through the same
 * replica ops: one step's int64 gradient sum, its loss and hit slots, the update, predictions and failure
 * reports must match bit for bit (both losses take exp and log from cnn_ddp/portable_math.h); and the NCCL comm
 * backend must sum the device buffer as the host path does. Both come from the CUDA backend library,
 * opened as the trainer opens it (ctest names the build's library in CNN_DDP_CUDA_BACKEND, so a CUDA
 * build whose library fails to load fails here). Without a GPU, or in a build without CUDA (no
 * library), every test is skipped: the program exits 77, which ctest reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/comm.h"
#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/replica.h"
#include "test_support.h"
#include "train/backend_load.h"

/* One sample a chunk, as the trainer runs (the sample is the unit of the exact sum): with more, the CUDA
 * replica adds a chunk's samples in float before the fixed-point sum, the CPU replica sample by sample. */
enum { CHUNK = 1, CHUNKS = 32, N = CHUNK * CHUNKS, PIXELS = 784 };

typedef struct fixture {
    const cd_backend *be;
    cd_model model;
    cd_replica *cpu, *gpu;
    float *x;
    uint8_t labels[N];
    int64_t *cpu_acc, *gpu_acc;
    size_t n;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    cd_model_spec spec;
    cd_error err;
    if (cd_cuda_backend_open("test_cuda_replica", 0, &f->be, &err) != CD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (cd_spec_parse("seed", &spec, &err) != CD_OK) return -1;
    cd_shape in = {1, 28, 28};
    if (cd_model_build(&spec, in, 10, 64, cd_kernels_scalar(), &f->model, &err) != CD_OK) return -1;
    cd_model_init_params(&f->model, 7);
    f->n = f->model.arena.count;
    f->x = calloc((size_t)N * PIXELS, sizeof(float));
    ts_fill_uniform(f->x, (size_t)N * PIXELS, 3, -0.5f, 2.5f);
    for (int i = 0; i < N; i++) f->labels[i] = (uint8_t)((i * 3 + 1) % 10);
    f->cpu_acc = calloc(f->n + CD_SLOTS, sizeof(int64_t));
    f->gpu_acc = calloc(f->n + CD_SLOTS, sizeof(int64_t));
    if (cd_replica_cpu(&f->model, CHUNK, &f->cpu, &err) != CD_OK ||
        f->be->replica(&f->model, 0, 0, CHUNK, CHUNKS, &f->gpu, &err) != CD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (f->gpu->ops->upload(f->gpu, f->model.arena.params, f->model.arena.momentum, &err) != CD_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    f->gpu->ops->free(f->gpu);
    f->cpu->ops->free(f->cpu);
    cd_model_free(&f->model);
    free(f->x), free(f->cpu_acc), free(f->gpu_acc), free(f);
    return 0;
}

/* One step's chunks [0, CHUNKS) on replica r, in groups of `group` chunks (capped at r->max_chunks), then
 * its step buffer through the host-memory reduction of one rank: acc gets the buffer, slots the slots. */
static void run_step(fixture *f, cd_replica *r, int group, int64_t poison, int stop, int64_t *acc,
                     int64_t slots[CD_SLOTS])
{
    cd_error err;
    const float scale = 1.0f / 64.0f;
    if (group > r->max_chunks) group = r->max_chunks;
    assert_int_equal(r->ops->begin_step(r, &err), CD_OK);
    for (int first = 0; first < CHUNKS; first += group) {
        memcpy(r->ops->input(r), f->x + (size_t)first * CHUNK * PIXELS, sizeof(float) * group * CHUNK * PIXELS);
        memcpy(r->ops->labels(r), f->labels + first * CHUNK, (size_t)group * CHUNK);
        cd_status st = r->ops->chunks(r, first, group, scale, first == 0 ? poison : -1, &err);
        if (st != CD_OK) fail_msg("%s replica: %s", r->device, err.msg);
    }
    int64_t *buf = NULL;
    assert_int_equal(r->ops->reduce_buffer(r, CD_MEMORY_HOST, stop, 0, &buf, &err), CD_OK);
    memcpy(acc, buf, sizeof(int64_t) * (f->n + CD_SLOTS));
    assert_int_equal(r->ops->reduced(r, CD_MEMORY_HOST, slots, &err), CD_OK);
}

static void test_step_sum_matches_cpu_bits(void **state)
{
    fixture *f = *state;
    int64_t cs[CD_SLOTS], gs[CD_SLOTS];
    run_step(f, f->cpu, 1, -1, 0, f->cpu_acc, cs);
    for (int group = 1; group <= CHUNKS; group *= 2) {
        run_step(f, f->gpu, group, -1, 0, f->gpu_acc, gs);
        for (size_t i = 0; i < f->n; i++)
            if (f->gpu_acc[i] != f->cpu_acc[i])
                fail_msg("group %d: gradient element %zu: gpu %lld cpu %lld", group, i, (long long)f->gpu_acc[i],
                         (long long)f->cpu_acc[i]);
        assert_int_equal(gs[CD_SLOT_CORRECT], cs[CD_SLOT_CORRECT]);
        if (gs[CD_SLOT_LOSS] != cs[CD_SLOT_LOSS])
            fail_msg("group %d: loss slot: gpu %lld cpu %lld", group, (long long)gs[CD_SLOT_LOSS], (long long)cs[CD_SLOT_LOSS]);
        assert_int_equal(gs[CD_SLOT_ERROR], 0);
    }
}

static void test_update_matches_cpu_bits_and_repeats(void **state)
{
    fixture *f = *state;
    cd_error err;
    float *p = malloc(sizeof(float) * f->n), *v = malloc(sizeof(float) * f->n);
    for (int step = 0; step < 3; step++) {
        int64_t cs[CD_SLOTS], gs[CD_SLOTS];
        run_step(f, f->cpu, 1, -1, 0, f->cpu_acc, cs);
        run_step(f, f->gpu, CHUNKS, -1, 0, f->gpu_acc, gs);
        assert_int_equal(gs[CD_SLOT_CORRECT], cs[CD_SLOT_CORRECT]);
        assert_int_equal(f->gpu->ops->update(f->gpu, 0.01f, 0.5f, &err), CD_OK);
        assert_int_equal(f->cpu->ops->update(f->cpu, 0.01f, 0.5f, &err), CD_OK);
        assert_int_equal(f->gpu->ops->download(f->gpu, p, v, &err), CD_OK);
        assert_memory_equal(p, f->model.arena.params, sizeof(float) * f->n);
        assert_memory_equal(v, f->model.arena.momentum, sizeof(float) * f->n);
    }
    free(p), free(v);
}

static void test_nccl_sum_equals_host_sum(void **state)
{
    fixture *f = *state;
    cd_error err;
    cd_comm self, nccl;
    cd_comm_self(&self);
    int64_t a[CD_SLOTS], b[CD_SLOTS];
    int64_t *host_path = calloc(f->n + CD_SLOTS, sizeof(int64_t));
    run_step(f, f->gpu, 2, -1, 1, host_path, a);
    assert_int_equal(a[CD_SLOT_STOP], 1);
    const cd_comm_wait wait = {.limit_s = 60, .beat = NULL, .beat_ctx = NULL};
    cd_status st = f->be->comm(&self, 0, &wait, &nccl, &err);
    if (st != CD_OK) fail_msg("%s", err.msg);
    assert_int_equal(nccl.memory, CD_MEMORY_CUDA);
    cd_replica *r = f->gpu;
    assert_int_equal(r->ops->begin_step(r, &err), CD_OK);
    for (int first = 0; first < CHUNKS; first += 2) {
        memcpy(r->ops->input(r), f->x + (size_t)first * CHUNK * PIXELS, sizeof(float) * 2 * CHUNK * PIXELS);
        memcpy(r->ops->labels(r), f->labels + first * CHUNK, 2 * CHUNK);
        assert_int_equal(r->ops->chunks(r, first, 2, 1.0f / 64.0f, -1, &err), CD_OK);
    }
    int64_t *buf = NULL;
    assert_int_equal(r->ops->reduce_buffer(r, CD_MEMORY_CUDA, 0, 0, &buf, &err), CD_OK);
    assert_int_equal(nccl.allreduce_sum_i64(&nccl, buf, f->n + CD_SLOTS, &err), CD_OK);
    assert_int_equal(r->ops->reduced(r, CD_MEMORY_CUDA, b, &err), CD_OK);
    assert_int_equal(f->be->replica_sum(r, f->gpu_acc, &err), CD_OK);
    assert_int_equal(b[CD_SLOT_STOP], 0);
    assert_memory_equal(host_path, f->gpu_acc, sizeof(int64_t) * f->n);
    nccl.finalize(&nccl);
    free(host_path);
}

static void test_nan_gradient_is_reported_like_cpu(void **state)
{
    fixture *f = *state;
    cd_error err;
    int64_t slots[CD_SLOTS];
    run_step(f, f->gpu, 2, (int64_t)(f->n / 2), 0, f->gpu_acc, slots);
    assert_int_equal(slots[CD_SLOT_ERROR], 1);
    int chunk = -2;
    assert_int_equal(f->gpu->ops->failure(f->gpu, &chunk, &err), CD_E_NUMERIC);
    assert_int_equal(chunk, 0);
    char want[128];
    snprintf(want, sizeof want, "gradient element %zu (of %zu) is nan", f->n / 2, f->n);
    assert_string_equal(err.msg, want);
    /* The CPU replica reports the same failure at once, in the same words. */
    cd_error cpu_err = {0};
    assert_int_equal(f->cpu->ops->begin_step(f->cpu, &cpu_err), CD_OK);
    memcpy(f->cpu->ops->input(f->cpu), f->x, sizeof(float) * CHUNK * PIXELS);
    memcpy(f->cpu->ops->labels(f->cpu), f->labels, CHUNK);
    assert_int_equal(f->cpu->ops->chunks(f->cpu, 0, 1, 1.0f / 64.0f, (int64_t)(f->n / 2), &cpu_err), CD_E_NUMERIC);
    assert_string_equal(cpu_err.msg, want);
    /* a clean step afterwards reports nothing */
    run_step(f, f->gpu, 2, -1, 0, f->gpu_acc, slots);
    assert_int_equal(f->gpu->ops->failure(f->gpu, &chunk, &err), CD_OK);
    assert_int_equal(chunk, -1);
}

static void test_predictions_match_cpu(void **state)
{
    fixture *f = *state;
    cd_error err;
    int32_t cpu[N], gpu[N];
    assert_int_equal(f->gpu->ops->upload(f->gpu, f->model.arena.params, f->model.arena.momentum, &err), CD_OK);
    memcpy(f->cpu->ops->input(f->cpu), f->x, sizeof(float) * N * PIXELS);
    assert_int_equal(f->cpu->ops->predict(f->cpu, N, cpu, &err), CD_OK);
    memcpy(f->gpu->ops->input(f->gpu), f->x, sizeof(float) * N * PIXELS);
    assert_int_equal(f->gpu->ops->predict(f->gpu, N, gpu, &err), CD_OK);
    assert_memory_equal(cpu, gpu, sizeof cpu);
}

int main(void)
{
    const cd_backend *be;
    cd_error err;
    if (cd_cuda_backend_open("test_cuda_replica", 1, &be, &err) != CD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (!be) {
        printf("test_cuda_replica: skipped (built without CUDA: no %s)\n", CD_CUDA_BACKEND_FILE);
        return 77;
    }
    const char *why = NULL;
    const int devices = be->device_count(&why);
    if (devices < 0) {
        /* a GPU machine whose runtime fails must not pass as "no GPU" */
        fprintf(stderr, "test_cuda_replica: the CUDA runtime cannot count the GPUs: %s\n", why ? why : "?");
        return 1;
    }
    if (devices == 0) {
        printf("test_cuda_replica: skipped (no CUDA device visible: %s)\n", why ? why : "none");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_sum_matches_cpu_bits),
        cmocka_unit_test(test_update_matches_cpu_bits_and_repeats),
        cmocka_unit_test(test_nccl_sum_equals_host_sum),
        cmocka_unit_test(test_nan_gradient_is_reported_like_cpu),
        cmocka_unit_test(test_predictions_match_cpu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
