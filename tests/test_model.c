/* The model builder and initialisation: shapes, parameter counts, errors, seeded init, and the
 * property the rank-count guarantee needs from the whole network: one sample's logits do not depend on
 * the batch it is evaluated in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/evaluate.h"
#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/model.h"
#include "cnn_ddp/replica.h"
#include "test_support.h"

static void build(const char *text, cd_shape in, int batch, const cd_kernels *k, cd_model *m)
{
    cd_model_spec spec;
    cd_error err = {0};
    assert_int_equal(cd_spec_parse(text, &spec, &err), CD_OK);
    if (cd_model_build(&spec, in, 10, batch, k, m, &err) != CD_OK) fail_msg("%s: %s", text, err.msg);
}

static void test_seed_shapes_and_count(void **state)
{
    (void)state;
    cd_model m;
    build("seed", (cd_shape){1, 28, 28}, 8, cd_kernels_scalar(), &m);
    assert_int_equal(m.n_layers, 7);
    assert_int_equal(m.layers[0].out.c, 10);
    assert_int_equal(m.layers[0].out.h, 24);
    assert_int_equal(m.layers[1].out.h, 12);
    assert_int_equal(m.layers[3].out.h, 8);
    assert_int_equal(m.layers[4].out.h, 4);
    assert_int_equal(cd_shape_size(m.layers[6].in), 320);
    /* PyTorch's count for the same net: 260 + 5020 + 3210. */
    assert_int_equal(cd_model_param_count(&m), 8490);
    assert_string_equal(m.layers[0].name, "conv1");
    assert_string_equal(m.layers[3].name, "conv2");
    assert_string_equal(m.layers[6].name, "fc1");
    cd_model_free(&m);
}

static void test_exercise_count(void **state)
{
    (void)state;
    cd_model m;
    build("exercise", (cd_shape){1, 28, 28}, 4, cd_kernels_scalar(), &m);
    /* 160 + 4640 + 18496 + 73856 + 8256 + 650, as torch counts it */
    assert_int_equal(cd_model_param_count(&m), 106058);
    cd_model_free(&m);
}

static void test_shape_errors(void **state)
{
    (void)state;
    cd_model_spec spec;
    cd_error err = {0};
    cd_model m;
    assert_int_equal(cd_spec_parse("conv(10,k=5) pool(2) conv(20,k=5) pool(2) conv(40,k=5) fc(10)", &spec, &err), CD_OK);
    assert_int_equal(cd_model_build(&spec, (cd_shape){1, 28, 28}, 10, 4, cd_kernels_scalar(), &m, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "layer 5"));
    assert_non_null(strstr(err.msg, "smaller than"));
    /* The seed net cannot take 12x12 images. */
    assert_int_equal(cd_spec_parse("seed", &spec, &err), CD_OK);
    assert_int_equal(cd_model_build(&spec, (cd_shape){1, 12, 12}, 10, 4, cd_kernels_scalar(), &m, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "conv"));
    /* Wrong number of outputs for 10 classes. */
    assert_int_equal(cd_spec_parse("conv(4,k=3) fc(7)", &spec, &err), CD_OK);
    assert_int_equal(cd_model_build(&spec, (cd_shape){1, 28, 28}, 10, 4, cd_kernels_scalar(), &m, &err), CD_E_INPUT);
    assert_non_null(strstr(err.msg, "fc(10)"));
}

static void test_init_is_seeded_and_bounded(void **state)
{
    (void)state;
    cd_model a, b;
    build("seed", (cd_shape){1, 28, 28}, 2, cd_kernels_scalar(), &a);
    build("seed", (cd_shape){1, 28, 28}, 5, cd_kernels_scalar(), &b);
    cd_model_init_params(&a, 42);
    cd_model_init_params(&b, 42);
    assert_memory_equal(a.arena.params, b.arena.params, sizeof(float) * a.arena.count);
    cd_model_init_params(&b, 43);
    assert_memory_not_equal(a.arena.params, b.arena.params, sizeof(float) * a.arena.count);
    /* conv1: fan_in 25 -> bound 0.2; fc: fan_in 320 -> bound 0.0559 */
    float lo = 1, hi = -1;
    for (size_t i = 0; i < 250; i++) {
        lo = fminf(lo, a.arena.params[i]);
        hi = fmaxf(hi, a.arena.params[i]);
    }
    assert_true(lo >= -0.2f && hi <= 0.2f && lo < -0.15f && hi > 0.15f);
    const cd_layer *fc = &a.layers[6];
    for (size_t i = 0; i < fc->weight_count; i++) assert_true(fabsf(a.arena.params[fc->weight_offset + i]) <= 0.0559017f);
    for (size_t i = 0; i < a.arena.count; i++) assert_true(a.arena.momentum[i] == 0.0f);
    cd_model_free(&a);
    cd_model_free(&b);
}

/* One image's logits are the same bits alone or at any position in a batch, for every kernel set. */
static void test_logits_independent_of_batch(void **state)
{
    (void)state;
    const cd_kernels *sets[3] = {cd_kernels_scalar(), cd_kernels_supported(CD_KERNELS_AVX2) ? cd_kernels_avx2() : NULL,
                                 cd_kernels_supported(CD_KERNELS_AVX512) ? cd_kernels_avx512() : NULL};
    const char *specs[2] = {"seed", "exercise"};
    for (int si = 0; si < 2; si++)
        for (int k = 0; k < 3; k++) {
            if (!sets[k]) continue;
            cd_model m;
            build(specs[si], (cd_shape){1, 28, 28}, 13, sets[k], &m);
            cd_model_init_params(&m, 9);
            float *x = malloc(sizeof(float) * 784 * 13);
            ts_fill_uniform(x, 784 * 13, 21, -0.5f, 2.5f);
            cd_model_forward(&m, x, 13);
            float batch_logits[130];
            memcpy(batch_logits, cd_model_logits(&m), sizeof batch_logits);
            for (int i = 0; i < 13; i += 4) {
                cd_model_forward(&m, x + 784 * i, 1);
                assert_memory_equal(cd_model_logits(&m), batch_logits + 10 * i, sizeof(float) * 10);
            }
            free(x);
            cd_model_free(&m);
        }
}

/* The property the any-rank-count guarantee rests on: the fixed-point backward pass adds each sample's
 * own gradient, so 13 samples in one call, in calls of 1, 4 and 8, or in any order give the same
 * integers, which are the float per-sample gradients (cd_model_loss_backward on one sample) added with
 * cd_fixed_accumulate; and their sum is the batch's float gradient up to float rounding. */
static void test_fixed_backward_is_per_sample(void **state)
{
    (void)state;
    const cd_kernels *sets[3] = {cd_kernels_scalar(), cd_kernels_supported(CD_KERNELS_AVX2) ? cd_kernels_avx2() : NULL,
                                 cd_kernels_supported(CD_KERNELS_AVX512) ? cd_kernels_avx512() : NULL};
    const char *specs[3] = {"seed", "exercise", "conv(6,k=3,s=2,p=1) relu pool(3,s=2) conv(12,k=1) relu fc(32) fc(10)"};
    enum { N = 13 };
    const float scale = 1.0f / 64;
    for (int si = 0; si < 3; si++)
        for (int k = 0; k < 3; k++) {
            if (!sets[k]) continue;
            cd_model m;
            build(specs[si], (cd_shape){1, 28, 28}, N, sets[k], &m);
            cd_model_init_params(&m, 5);
            const size_t np = m.arena.count;
            float *x = malloc(sizeof(float) * 784 * N);
            ts_fill_uniform(x, 784 * N, 31, -0.5f, 2.5f);
            uint8_t labels[N];
            for (int i = 0; i < N; i++) labels[i] = (uint8_t)((i * 7) % 10);
            int64_t *whole = calloc(np, sizeof *whole), *parts = calloc(np, sizeof *parts), *ref = calloc(np, sizeof *ref);
            int64_t loss_whole = 0, loss_parts = 0;
            int hits_whole = 0, hits = 0;
            cd_error err = {0};
            cd_model_forward(&m, x, N);
            assert_int_equal(cd_model_loss_backward_fixed(&m, labels, N, scale, whole, &loss_whole, &hits_whole, &err), CD_OK);
            /* calls of 8, then 1, then 4, in reverse order */
            const int cuts[4] = {0, 4, 5, N};
            for (int c = 2; c >= 0; c--) {
                const int first = cuts[c], n = cuts[c + 1] - first;
                int h = 0;
                cd_model_forward(&m, x + 784 * first, n);
                assert_int_equal(cd_model_loss_backward_fixed(&m, labels + first, n, scale, parts, &loss_parts, &h, &err), CD_OK);
                hits += h;
            }
            assert_memory_equal(whole, parts, sizeof(int64_t) * np);
            assert_true(loss_whole == loss_parts);
            assert_int_equal(hits_whole, hits);
            /* the float gradient of each sample alone, added in fixed point */
            for (int i = 0; i < N; i++) {
                int h;
                cd_model_forward(&m, x + 784 * i, 1);
                cd_model_loss_backward(&m, labels + i, 1, scale, &h);
                assert_int_equal(cd_fixed_accumulate(ref, m.arena.grads, np, &err), CD_OK);
            }
            if (memcmp(whole, ref, sizeof(int64_t) * np) != 0)
                fail_msg("%s, %s kernels: the fixed backward is not the sum of per-sample float gradients", specs[si],
                         sets[k]->name);
            free(x), free(whole), free(parts), free(ref);
            cd_model_free(&m);
        }
}

/* A bad value in one sample's gradient is named by sample and element, for a conv and an fc layer and
 * every kernel set (the fixed kernels only say "bad"; the layer redoes the samples in float). */
static void test_fixed_backward_names_the_bad_sample(void **state)
{
    (void)state;
    const cd_kernels *sets[3] = {cd_kernels_scalar(), cd_kernels_supported(CD_KERNELS_AVX2) ? cd_kernels_avx2() : NULL,
                                 cd_kernels_supported(CD_KERNELS_AVX512) ? cd_kernels_avx512() : NULL};
    for (int k = 0; k < 3; k++) {
        if (!sets[k]) continue;
        cd_model m;
        build("seed", (cd_shape){1, 28, 28}, 3, sets[k], &m);
        cd_model_init_params(&m, 5);
        float *x = malloc(sizeof(float) * 784 * 3);
        ts_fill_uniform(x, 784 * 3, 41, -0.5f, 2.5f);
        cd_model_forward(&m, x, 3);
        const int layer[2] = {0, m.n_layers - 1}, sample[2] = {1, 2};
        const char *want[2] = {"sample 1, conv weights: gradient element ", "sample 2, fc weights: gradient element "};
        for (int c = 0; c < 2; c++) {
            const cd_layer *l = &m.layers[layer[c]];
            const size_t out = cd_shape_size(l->out);
            float *dy = malloc(sizeof(float) * out * 3);
            ts_fill_uniform(dy, out * 3, 42, -0.01f, 0.01f);
            dy[out * (size_t)sample[c] + 3] = NAN;
            int64_t *sums = calloc(m.arena.count, sizeof *sums);
            cd_layer_io io = {.n = 3, .x = m.act[layer[c]], .y = m.act[layer[c] + 1], .dy = dy,
                              .w = m.arena.params + l->weight_offset, .b = m.arena.params + l->bias_offset,
                              .dw = m.arena.grads + l->weight_offset, .db = m.arena.grads + l->bias_offset,
                              .dw_sum = sums + l->weight_offset, .db_sum = sums + l->bias_offset, .work = m.work,
                              .k = m.kernels};
            cd_error err = {0};
            assert_int_equal(cd_layer_ops_for(l->spec.type)->backward_fixed(l, &io, &err), CD_E_NUMERIC);
            if (strncmp(err.msg, want[c], strlen(want[c])) != 0 || !strstr(err.msg, "is nan"))
                fail_msg("%s kernels: '%s', wanted '%s... is nan'", sets[k]->name, err.msg, want[c]);
            free(dy), free(sums);
        }
        free(x);
        cd_model_free(&m);
    }
}

static void test_predict_in_batches_matches_one_at_a_time(void **state)
{
    (void)state;
    cd_model m;
    build("seed", (cd_shape){1, 28, 28}, 4, cd_kernels_scalar(), &m);
    cd_model_init_params(&m, 1);
    float *x = malloc(sizeof(float) * 784 * 10);
    /* each sample's pixels over another range, so the untrained net tells them apart */
    for (int i = 0; i < 10; i++) ts_fill_uniform(x + 784 * i, 784, 3 + (uint64_t)i, -3.0f * (float)i, 3.0f * (float)(10 - i));
    int32_t one[10], batched[10];
    int distinct = 0;
    for (int i = 0; i < 10; i++) {
        cd_model_forward(&m, x + 784 * i, 1);
        const float *z = cd_model_logits(&m);
        int best = 0;
        for (int c = 1; c < 10; c++)
            if (z[c] > z[best]) best = c;
        one[i] = best;
        distinct += i > 0 && one[i] != one[0];
    }
    for (int i = 0; i < 10; i++) batched[i] = -1;
    cd_model_predict(&m, x, 10, batched); /* 10 > max_batch 4: batches of 4, 4, 2 */
    assert_memory_equal(batched, one, sizeof one);
    assert_true(distinct > 0); /* the inputs give more than one class, so the comparison means something */
    free(x);
    cd_model_free(&m);
}

/* A batch bigger than a pass (the exercise net's 64 samples go through in passes of a few): every
 * sample's logits, which the eval loss reads after cd_model_predict, equal its own forward's bit for bit,
 * with the fastest kernels this machine has (their GEMMs cover several samples at once). */
static void test_predict_in_passes_keeps_every_logit(void **state)
{
    (void)state;
    const cd_kernels *k = NULL;
    cd_error err = {0};
    assert_int_equal(cd_kernels_select(CD_KERNELS_AUTO, &k, &err), CD_OK);
    cd_model m;
    enum { N = 64 };
    build("exercise", (cd_shape){1, 28, 28}, N, k, &m);
    assert_true(cd_model_pass_samples(&m) < N); /* else one pass and nothing to test */
    cd_model_init_params(&m, 7);
    float *x = malloc(sizeof(float) * 784 * N), *one = malloc(sizeof(float) * 10 * N);
    for (int i = 0; i < N; i++) ts_fill_uniform(x + 784 * i, 784, 11 + (uint64_t)i, -1.0f - (float)i / 8, 2.0f);
    for (int i = 0; i < N; i++) {
        cd_model_forward(&m, x + 784 * i, 1);
        memcpy(one + 10 * i, cd_model_logits(&m), sizeof(float) * 10);
    }
    int32_t pred[N];
    cd_model_predict(&m, x, N, pred);
    assert_memory_equal(cd_model_logits(&m), one, sizeof(float) * 10 * N);
    free(one);
    free(x);
    cd_model_free(&m);
}

/* ReLU and flatten run in place above the first layer (their output buffer is their input's); a first
 * ReLU must not clip the caller's input rows. */
static void test_in_place_layers_leave_the_input(void **state)
{
    (void)state;
    cd_model m;
    build("conv(4,k=3) relu flatten fc(10)", (cd_shape){1, 8, 8}, 2, cd_kernels_scalar(), &m);
    assert_ptr_equal(m.act[2], m.act[1]);
    assert_ptr_equal(m.act[3], m.act[1]);
    assert_ptr_equal(m.grad[3], m.grad[1]);
    cd_model_free(&m);
    build("relu flatten fc(10)", (cd_shape){1, 8, 8}, 2, cd_kernels_scalar(), &m);
    assert_ptr_not_equal(m.act[1], m.act[0]);
    cd_model_init_params(&m, 1);
    float x[128];
    for (int i = 0; i < 128; i++) x[i] = (float)(i % 7) - 3.0f;
    memcpy(m.act[0], x, sizeof x);
    cd_model_forward(&m, m.act[0], 2);
    assert_memory_equal(m.act[0], x, sizeof x);
    assert_true(m.act[1][0] == 0.0f && m.act[1][4] == 1.0f);
    cd_model_free(&m);
}

/* cd_evaluate through the CPU replica: hits and the confusion matrix of rows whose labels are half right
 * by construction, in eval batches of max_batch 4 (4, 4, 2). */
static void test_evaluate_counts_hits_and_confusion(void **state)
{
    (void)state;
    cd_model m;
    build("seed", (cd_shape){1, 28, 28}, 4, cd_kernels_scalar(), &m);
    cd_model_init_params(&m, 1);
    uint8_t images[10 * 784], labels[10];
    for (int i = 0; i < 10 * 784; i++) images[i] = (uint8_t)((i * 37 + i / 784 * 101) % 256);
    cd_dataset data = {.first_row = 0, .count = 10, .height = 28, .width = 28, .images = images, .labels = labels};
    float *x = malloc(sizeof(float) * 784 * 10);
    uint8_t ignored[10];
    cd_data_gather_range(&data, 0, 10, x, ignored);
    int32_t pred[10];
    cd_model_predict(&m, x, 10, pred);
    for (int i = 0; i < 10; i++) labels[i] = (uint8_t)(i % 2 ? pred[i] : (pred[i] + 1) % 10);
    cd_replica *r = NULL;
    cd_error err = {0};
    assert_int_equal(cd_replica_cpu(&m, 1, &r, &err), CD_OK);
    int64_t hits = 0, confusion[100] = {0};
    assert_int_equal(cd_evaluate(r, &data, 10, &hits, NULL, confusion, NULL, NULL, &err), CD_OK);
    assert_int_equal(hits, 5);
    int64_t total = 0;
    for (int i = 0; i < 100; i++) total += confusion[i];
    assert_int_equal(total, 10);
    for (int i = 0; i < 10; i++) assert_true(confusion[labels[i] * 10 + pred[i]] >= 1);
    r->ops->free(r);
    free(x);
    cd_model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_shapes_and_count),
        cmocka_unit_test(test_exercise_count),
        cmocka_unit_test(test_shape_errors),
        cmocka_unit_test(test_init_is_seeded_and_bounded),
        cmocka_unit_test(test_logits_independent_of_batch),
        cmocka_unit_test(test_fixed_backward_is_per_sample),
        cmocka_unit_test(test_fixed_backward_names_the_bad_sample),
        cmocka_unit_test(test_predict_in_batches_matches_one_at_a_time),
        cmocka_unit_test(test_evaluate_counts_hits_and_confusion),
        cmocka_unit_test(test_predict_in_passes_keeps_every_logit),
        cmocka_unit_test(test_in_place_layers_leave_the_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
