/* Virtual shards, per-epoch orders and rank blocks: every row in exactly one shard, orders that are
 * permutations fixed by (seed, epoch, shard), and steps whose samples do not depend on the rank count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cnn_ddp/sampler.h"
#include "test_support.h"

static cd_sampler make(int64_t rows, int shards, int batch, uint64_t seed)
{
    cd_sampler s;
    cd_error err = {0};
    cd_status st = cd_sampler_init(&s, rows, shards, batch, seed, &err);
    if (st != CD_OK) fail_msg("sampler(%lld, %d, %d) refused: %s", (long long)rows, shards, batch, err.msg);
    return s;
}

static void expect_usage(int64_t rows, int shards, int batch, const char *msg)
{
    cd_sampler s;
    cd_error err = {0};
    assert_int_equal(cd_sampler_init(&s, rows, shards, batch, 1, &err), CD_E_USAGE);
    if (strstr(err.msg, msg) == NULL) fail_msg("expected '%s' in '%s'", msg, err.msg);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_init(void **state)
{
    (void)state;
    cd_sampler s = make(60000, 8, 64, 42);
    assert_int_equal(s.chunk, 8);
    assert_int_equal(s.steps_per_epoch, 937); /* 7500 rows per shard / 8 */
    assert_int_equal(s.rows, 60000);
    assert_int_equal(s.shards, 8);
    assert_int_equal(s.batch, 64);
    assert_int_equal(s.seed, 42);

    s = make(60001, 7, 70, 1); /* shards of 8571 and 8572: the smaller one decides */
    assert_int_equal(s.chunk, 10);
    assert_int_equal(s.steps_per_epoch, 857);

    s = make(10, 1, 10, 1); /* exactly one chunk */
    assert_int_equal(s.steps_per_epoch, 1);
}

static void test_errors(void **state)
{
    (void)state;
    expect_usage(60000, 8, 60, "batch 60 is not a multiple of 8 shards (each shard contributes batch/shards samples per step)");
    expect_usage(60000, 0, 64, "0 shards ");
    expect_usage(60000, -3, 64, "-3 shards ");
    expect_usage(60000, 70000, 70000, "70000 shards ");
    expect_usage(60000, 8, 0, "batch 0 ");
    /* 47 rows in 8 shards: 5, 6, 6, ... rows; shard 0 cannot fill a chunk of 8. */
    expect_usage(47, 8, 64, "shard 0 has 5 samples, fewer than one chunk of 8");
    expect_usage(0, 1, 1, "shard 0 has 0 samples, fewer than one chunk of 1");
    expect_usage(64, 8, 72, "has 8 samples, fewer than one chunk of 9");

    int first = -1, count = -1;
    cd_error err = {0};
    assert_int_equal(cd_sampler_rank_shards(8, 9, 0, &first, &count, &err), CD_E_USAGE);
    assert_string_equal(err.msg, "9 ranks but only 8 shards: a rank would have none");
    assert_int_not_equal(cd_sampler_rank_shards(8, 4, 4, &first, &count, &err), CD_OK);
    assert_int_not_equal(cd_sampler_rank_shards(8, 4, -1, &first, &count, &err), CD_OK);
    assert_int_not_equal(cd_sampler_rank_shards(8, 0, 0, &first, &count, &err), CD_OK);
}

/* Shards tile [0, rows) in order, sizes floor or ceil of rows/K, begin = floor(s*rows/K). */
static void check_shards(const cd_sampler *s)
{
    int64_t q = s->rows / s->shards, prev_end = 0;
    for (int k = 0; k < s->shards; k++) {
        int64_t b, e;
        cd_sampler_shard_rows(s, k, &b, &e);
        assert_int_equal(b, prev_end);
        assert_true(e - b == q || e - b == q + 1);
        if (s->rows < (INT64_C(1) << 40)) assert_int_equal(b, (int64_t)k * s->rows / s->shards);
        prev_end = e;
    }
    assert_int_equal(prev_end, s->rows);
}

static void test_shard_rows(void **state)
{
    (void)state;
    const int64_t rows[] = {60000, 60001, 59999, 1000, 8, 97, 123457};
    const int shards[] = {1, 2, 3, 7, 8, 13, 64};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        for (size_t j = 0; j < sizeof shards / sizeof shards[0]; j++) {
            if (rows[i] < shards[j]) continue;
            cd_sampler s = make(rows[i], shards[j], shards[j], 1);
            check_shards(&s);
        }
    /* Far beyond what s*rows could hold in int64: boundaries must still tile exactly. */
    cd_sampler huge = {.rows = INT64_MAX - 5, .shards = 65536, .batch = 65536, .chunk = 1, .seed = 1};
    check_shards(&huge);
    huge.shards = 7;
    check_shards(&huge);
}

static void test_epoch_order(void **state)
{
    (void)state;
    cd_sampler s = make(1003, 4, 8, 7);
    int64_t b, e;
    cd_sampler_shard_rows(&s, 1, &b, &e);
    uint32_t n = (uint32_t)(e - b);
    uint32_t *p = calloc(n, sizeof *p), *q = calloc(n, sizeof *q), *r = calloc(n, sizeof *r);
    unsigned char *seen = calloc(n, 1);
    cd_sampler_epoch_order(&s, 3, 1, p);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(p[i] < n);
        assert_int_equal(seen[p[i]], 0);
        seen[p[i]] = 1;
    }
    cd_sampler_epoch_order(&s, 3, 1, q);
    assert_memory_equal(p, q, n * sizeof *p); /* a pure function of (seed, epoch, shard) */
    cd_sampler_epoch_order(&s, 4, 1, q);
    assert_memory_not_equal(p, q, n * sizeof *p);
    cd_sampler_epoch_order(&s, 3, 2, r); /* shard 2 has the same size here (250 or 251 rows) */
    int64_t b2, e2;
    cd_sampler_shard_rows(&s, 2, &b2, &e2);
    assert_int_equal(e2 - b2, n);
    assert_memory_not_equal(p, r, n * sizeof *p);
    cd_sampler other = make(1003, 4, 8, 8); /* another seed */
    cd_sampler_epoch_order(&other, 3, 1, r);
    assert_memory_not_equal(p, r, n * sizeof *p);
    int identity = 1;
    for (uint32_t i = 0; i < n; i++) identity &= p[i] == i;
    assert_false(identity);
    free(p);
    free(q);
    free(r);
    free(seen);
}

static void check_rank_blocks(int shards, int size)
{
    int next = 0, min_count = shards, max_count = 0;
    for (int rank = 0; rank < size; rank++) {
        int first = -1, count = -1;
        cd_error err = {0};
        assert_int_equal(cd_sampler_rank_shards(shards, size, rank, &first, &count, &err), CD_OK);
        assert_int_equal(first, next); /* contiguous, in rank order, no gap or overlap */
        assert_true(count >= 1);
        assert_int_equal(count, shards / size + (rank < shards % size ? 1 : 0));
        next += count;
        if (count < min_count) min_count = count;
        if (count > max_count) max_count = count;
    }
    assert_int_equal(next, shards);
    assert_true(max_count - min_count <= 1);
}

static void test_rank_shards(void **state)
{
    (void)state;
    for (int size = 1; size <= 8; size++) check_rank_blocks(8, size);
    check_rank_blocks(7, 3);
    int first, count;
    cd_error err = {0};
    assert_int_equal(cd_sampler_rank_shards(7, 3, 0, &first, &count, &err), CD_OK);
    assert_int_equal(first, 0);
    assert_int_equal(count, 3);
    assert_int_equal(cd_sampler_rank_shards(7, 3, 2, &first, &count, &err), CD_OK);
    assert_int_equal(first, 5);
    assert_int_equal(count, 2);
    check_rank_blocks(65536, 3);
}

/* The rows of step t as the ranks of an N-rank job would gather them, in rank order. */
static void step_rows(const cd_sampler *s, int64_t epoch, int64_t step, int size, int64_t *out)
{
    size_t used = 0;
    for (int rank = 0; rank < size; rank++) {
        int first, count;
        cd_error err = {0};
        assert_int_equal(cd_sampler_rank_shards(s->shards, size, rank, &first, &count, &err), CD_OK);
        for (int k = first; k < first + count; k++) {
            int64_t b, e;
            cd_sampler_shard_rows(s, k, &b, &e);
            uint32_t *perm = calloc((size_t)(e - b), sizeof *perm);
            cd_sampler_epoch_order(s, epoch, k, perm);
            for (int j = 0; j < s->chunk; j++) out[used++] = b + perm[step * s->chunk + j];
            free(perm);
        }
    }
    assert_int_equal(used, (size_t)s->batch);
}

static void test_steps_independent_of_ranks(void **state)
{
    (void)state;
    cd_sampler s = make(1000, 8, 32, 99);
    int64_t ref[32], got[32];
    for (int64_t step = 0; step < s.steps_per_epoch; step += 7) {
        step_rows(&s, 2, step, 1, ref);
        for (int size = 2; size <= 8; size++) {
            step_rows(&s, 2, step, size, got);
            assert_memory_equal(ref, got, sizeof ref);
        }
        qsort(ref, 32, sizeof ref[0], cmp_i64); /* 32 distinct rows of the file */
        for (int i = 0; i < 32; i++) {
            assert_true(ref[i] >= 0 && ref[i] < 1000);
            if (i > 0) assert_true(ref[i] > ref[i - 1]);
        }
    }
    /* Over one epoch no row is used twice, and all but the per-shard leftovers are used. */
    unsigned char *used = calloc(1000, 1);
    int total = 0;
    for (int64_t step = 0; step < s.steps_per_epoch; step++) {
        step_rows(&s, 0, step, 3, got);
        for (int i = 0; i < 32; i++) {
            assert_int_equal(used[got[i]], 0);
            used[got[i]] = 1;
            total++;
        }
    }
    assert_int_equal(total, 8 * 4 * s.steps_per_epoch); /* 125 rows per shard, 31 steps of 4 */
    assert_int_equal(total, 992);
    free(used);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init),        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_shard_rows),  cmocka_unit_test(test_epoch_order),
        cmocka_unit_test(test_rank_shards), cmocka_unit_test(test_steps_independent_of_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
