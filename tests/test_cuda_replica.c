/* The CUDA replica against the CPU path on a real GPU: one step's int64 gradient sum, the update,
 * evaluation and failure reports must match the scalar CPU kernels bit for bit (the loss slot to a
 * few units: the device's exp/log are not glibc's). Without a GPU (or a CUDA build) every test is
 * skipped: the program exits 77, which ctest reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cnn_ddp/comm.h"
#include "cnn_ddp/cuda.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/reduce.h"
#include "test_support.h"

enum { CHUNK = 8, CHUNKS = 4, N = CHUNK * CHUNKS };

typedef struct fixture {
    cd_model model;
    cd_cuda_replica *rep;
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
    if (cd_spec_parse("seed", &spec, &err) != CD_OK) return -1;
    cd_shape in = {1, 28, 28};
    if (cd_model_build(&spec, in, 10, 64, cd_kernels_scalar(), &f->model, &err) != CD_OK) return -1;
    cd_model_init_params(&f->model, 7);
    f->n = f->model.arena.count;
    f->x = calloc((size_t)N * 784, sizeof(float));
    ts_fill_uniform(f->x, (size_t)N * 784, 3, -0.5f, 2.5f);
    for (int i = 0; i < N; i++) f->labels[i] = (uint8_t)((i * 3 + 1) % 10);
    f->cpu_acc = calloc(f->n + CD_CUDA_SLOTS, sizeof(int64_t));
    f->gpu_acc = calloc(f->n + CD_CUDA_SLOTS, sizeof(int64_t));
    if (cd_cuda_replica_create(&f->model, 0, 0, CHUNK, CHUNKS, &f->rep, &err) != CD_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (cd_cuda_replica_upload(f->rep, f->model.arena.params, f->model.arena.momentum, &err) != CD_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cd_cuda_replica_free(f->rep);
    cd_model_free(&f->model);
    free(f->x), free(f->cpu_acc), free(f->gpu_acc), free(f);
    return 0;
}

/* The CPU trainer's local step for chunks [0, CHUNKS). */
static void cpu_step(fixture *f, float scale)
{
    cd_error err;
    memset(f->cpu_acc, 0, sizeof(int64_t) * (f->n + CD_CUDA_SLOTS));
    for (int k = 0; k < CHUNKS; k++) {
        cd_model_forward(&f->model, f->x + (size_t)k * CHUNK * 784, CHUNK);
        int correct = 0;
        double loss = cd_model_loss_backward(&f->model, f->labels + k * CHUNK, CHUNK, scale, &correct);
        assert_int_equal(cd_fixed_accumulate(f->cpu_acc, f->model.arena.grads, f->n, &err), CD_OK);
        f->cpu_acc[f->n + CD_CUDA_SLOT_LOSS] += cd_fixed_from_double(loss * (double)scale);
        f->cpu_acc[f->n + CD_CUDA_SLOT_CORRECT] += correct;
    }
}

/* The same step on the GPU, in groups of `group` chunks. */
static void gpu_step(fixture *f, float scale, int group, int64_t poison)
{
    cd_error err;
    assert_int_equal(cd_cuda_replica_begin_step(f->rep, &err), CD_OK);
    for (int first = 0; first < CHUNKS; first += group) {
        memcpy(cd_cuda_replica_input(f->rep), f->x + (size_t)first * CHUNK * 784, sizeof(float) * group * CHUNK * 784);
        memcpy(cd_cuda_replica_labels(f->rep), f->labels + first * CHUNK, (size_t)group * CHUNK);
        assert_int_equal(cd_cuda_replica_chunks(f->rep, first, group, scale, first == 0 ? poison : -1, &err), CD_OK);
    }
    assert_int_equal(cd_cuda_replica_sum(f->rep, f->gpu_acc, &err), CD_OK);
}

static void test_step_sum_matches_cpu_bits(void **state)
{
    fixture *f = *state;
    const float scale = 1.0f / 64.0f;
    cpu_step(f, scale);
    for (int group = 1; group <= CHUNKS; group *= 2) {
        gpu_step(f, scale, group, -1);
        for (size_t i = 0; i < f->n; i++)
            if (f->gpu_acc[i] != f->cpu_acc[i])
                fail_msg("group %d: gradient element %zu: gpu %lld cpu %lld", group, i, (long long)f->gpu_acc[i],
                         (long long)f->cpu_acc[i]);
        assert_int_equal(f->gpu_acc[f->n + CD_CUDA_SLOT_CORRECT], f->cpu_acc[f->n + CD_CUDA_SLOT_CORRECT]);
        long long dl = (long long)(f->gpu_acc[f->n + CD_CUDA_SLOT_LOSS] - f->cpu_acc[f->n + CD_CUDA_SLOT_LOSS]);
        assert_true(dl >= -64 && dl <= 64); /* a few units of 2^-40 */
        assert_int_equal(f->gpu_acc[f->n + CD_CUDA_SLOT_ERROR], 0);
    }
}

static void test_update_matches_cpu_bits_and_repeats(void **state)
{
    fixture *f = *state;
    cd_error err;
    cd_comm self;
    cd_comm_self(&self);
    const float scale = 1.0f / 64.0f;
    float *p = malloc(sizeof(float) * f->n), *v = malloc(sizeof(float) * f->n);
    for (int step = 0; step < 3; step++) {
        cpu_step(f, scale);
        gpu_step(f, scale, CHUNKS, -1);
        int64_t slots[CD_CUDA_SLOTS];
        assert_int_equal(cd_cuda_replica_allreduce(f->rep, &self, 0, 0, slots, &err), CD_OK);
        assert_int_equal(slots[CD_CUDA_SLOT_CORRECT], f->cpu_acc[f->n + CD_CUDA_SLOT_CORRECT]);
        assert_int_equal(cd_cuda_replica_sgd(f->rep, 0.01f, 0.5f, &err), CD_OK);
        cd_fixed_to_float(f->cpu_acc, f->model.arena.grads, f->n);
        cd_kernels_scalar()->sgd_momentum(f->n, f->model.arena.params, f->model.arena.momentum, f->model.arena.grads,
                                          0.01f, 0.5f);
        assert_int_equal(cd_cuda_replica_download(f->rep, p, v, &err), CD_OK);
        assert_memory_equal(p, f->model.arena.params, sizeof(float) * f->n);
        assert_memory_equal(v, f->model.arena.momentum, sizeof(float) * f->n);
    }
    free(p), free(v);
}

static void test_nccl_sum_equals_host_sum(void **state)
{
    fixture *f = *state;
    cd_error err;
    cd_comm self;
    cd_comm_self(&self);
    int64_t a[CD_CUDA_SLOTS], b[CD_CUDA_SLOTS];
    int64_t *host_path = calloc(f->n + CD_CUDA_SLOTS, sizeof(int64_t));
    gpu_step(f, 1.0f / 64.0f, 2, -1);
    assert_int_equal(cd_cuda_replica_allreduce(f->rep, &self, 1, 0, a, &err), CD_OK);
    assert_int_equal(cd_cuda_replica_sum(f->rep, host_path, &err), CD_OK);
    assert_int_equal(a[CD_CUDA_SLOT_STOP], 1);
    cd_status st = cd_cuda_replica_use_nccl(f->rep, &self, &err);
    if (st != CD_OK) fail_msg("%s", err.msg);
    gpu_step(f, 1.0f / 64.0f, 2, -1);
    assert_int_equal(cd_cuda_replica_allreduce(f->rep, &self, 0, 0, b, &err), CD_OK);
    assert_int_equal(cd_cuda_replica_sum(f->rep, f->gpu_acc, &err), CD_OK);
    assert_int_equal(b[CD_CUDA_SLOT_STOP], 0);
    assert_memory_equal(host_path, f->gpu_acc, sizeof(int64_t) * f->n);
    free(host_path);
}

static void test_nan_gradient_is_reported_like_cpu(void **state)
{
    fixture *f = *state;
    cd_error err;
    cd_comm self;
    cd_comm_self(&self);
    gpu_step(f, 1.0f / 64.0f, 2, (int64_t)(f->n / 2));
    int64_t slots[CD_CUDA_SLOTS];
    assert_int_equal(cd_cuda_replica_allreduce(f->rep, &self, 0, 0, slots, &err), CD_OK);
    assert_int_equal(slots[CD_CUDA_SLOT_ERROR], 1);
    int chunk = -2;
    assert_int_equal(cd_cuda_replica_step_failure(f->rep, &chunk, &err), CD_E_NUMERIC);
    assert_int_equal(chunk, 0);
    char want[128];
    snprintf(want, sizeof want, "gradient element %zu (of %zu) is nan", f->n / 2, f->n);
    assert_string_equal(err.msg, want);
    /* a clean step afterwards reports nothing */
    gpu_step(f, 1.0f / 64.0f, 2, -1);
    assert_int_equal(cd_cuda_replica_step_failure(f->rep, &chunk, &err), CD_OK);
    assert_int_equal(chunk, -1);
}

static void test_eval_hits_match_cpu(void **state)
{
    fixture *f = *state;
    cd_error err;
    int cpu = cd_model_predict_count(&f->model, f->x, f->labels, N, NULL);
    memcpy(cd_cuda_replica_input(f->rep), f->x, sizeof(float) * N * 784);
    memcpy(cd_cuda_replica_labels(f->rep), f->labels, N);
    assert_int_equal(cd_cuda_replica_upload(f->rep, f->model.arena.params, f->model.arena.momentum, &err), CD_OK);
    assert_int_equal(cd_cuda_replica_eval(f->rep, N, &err), CD_OK);
    int64_t hits = -1;
    assert_int_equal(cd_cuda_replica_eval_hits(f->rep, &hits, &err), CD_OK);
    assert_int_equal(hits, cpu);
    assert_int_equal(cd_cuda_replica_eval_hits(f->rep, &hits, &err), CD_OK);
    assert_int_equal(hits, 0);
}

int main(void)
{
    int devices = cd_cuda_device_count();
    if (!cd_cuda_built() || devices < 1) {
        printf("test_cuda_replica: skipped (%s)\n", cd_cuda_built() ? "no CUDA device visible" : "built without CUDA");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_sum_matches_cpu_bits),
        cmocka_unit_test(test_update_matches_cpu_bits_and_repeats),
        cmocka_unit_test(test_nccl_sum_equals_host_sum),
        cmocka_unit_test(test_nan_gradient_is_reported_like_cpu),
        cmocka_unit_test(test_eval_hits_match_cpu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
