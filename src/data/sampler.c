/* Virtual shards and per-epoch orders: which rows form chunk s of global step t. Everything here is
 * a pure function of (rows, shards, batch, seed, epoch), never of the rank count, which is what
 * makes a run on N ranks produce the same model as a run on one. */
#include "cnn_ddp/sampler.h"

#include "cnn_ddp/rng.h"

/* The shuffle stream keeps 16 bits of the shard index (cd_rng_stream_shuffle). */
#define SAMPLER_MAX_SHARDS 65536
/* cd_rng_permutation counts in uint32. */
#define SAMPLER_MAX_SHARD_ROWS 4294967295LL

/* floor(s * rows / shards) without forming s * rows, which could overflow int64 for huge files:
 * s*rows = s*q*K + s*r with q = rows/K, r = rows%K, and s*r < K*K <= 2^32. */
static int64_t shard_start(int64_t rows, int shards, int s)
{
    int64_t q = rows / shards, r = rows % shards;
    return (int64_t)s * q + ((int64_t)s * r) / shards;
}

cd_status cd_sampler_init(cd_sampler *s, int64_t rows, int shards, int batch, uint64_t seed,
                          cd_error *err)
{
    if (shards < 1)
        return CD_FAIL(err, CD_E_USAGE, "%d shards is invalid: need at least 1 shard", shards);
    if (shards > SAMPLER_MAX_SHARDS)
        return CD_FAIL(err, CD_E_USAGE, "%d shards is too many: at most %d shards", shards,
                       SAMPLER_MAX_SHARDS);
    if (batch < 1)
        return CD_FAIL(err, CD_E_USAGE, "batch %d is invalid: need at least 1 sample per step", batch);
    if (batch % shards != 0)
        return CD_FAIL(err, CD_E_USAGE,
                       "batch %d is not a multiple of %d shards (each shard contributes "
                       "batch/shards samples per step)",
                       batch, shards);
    if (rows < 0)
        return CD_FAIL(err, CD_E_INTERNAL, "sampler given a negative row count %lld", (long long)rows);
    int chunk = batch / shards;
    int64_t min_size = INT64_MAX;
    for (int k = 0; k < shards; k++) {
        int64_t size = shard_start(rows, shards, k + 1) - shard_start(rows, shards, k);
        if (size < chunk)
            return CD_FAIL(err, CD_E_USAGE,
                           "shard %d has %lld samples, fewer than one chunk of %d (%lld rows in %d "
                           "shards)",
                           k, (long long)size, chunk, (long long)rows, shards);
        if (size > SAMPLER_MAX_SHARD_ROWS)
            return CD_FAIL(err, CD_E_USAGE,
                           "shard %d has %lld samples, more than the %lld one shard can shuffle; "
                           "use more shards",
                           k, (long long)size, SAMPLER_MAX_SHARD_ROWS);
        if (size < min_size) min_size = size;
    }
    *s = (cd_sampler){.rows = rows,
                      .shards = shards,
                      .batch = batch,
                      .chunk = chunk,
                      .steps_per_epoch = min_size / chunk,
                      .seed = seed};
    return CD_OK;
}

void cd_sampler_shard_rows(const cd_sampler *s, int shard, int64_t *begin, int64_t *end)
{
    *begin = shard_start(s->rows, s->shards, shard);
    *end = shard_start(s->rows, s->shards, shard + 1);
}

cd_status cd_sampler_rank_shards(int shards, int size, int rank, int *first, int *count, cd_error *err)
{
    if (size < 1 || rank < 0 || rank >= size)
        return CD_FAIL(err, CD_E_INTERNAL, "rank %d of %d ranks is not a valid rank", rank, size);
    if (shards < 1)
        return CD_FAIL(err, CD_E_USAGE, "%d shards is invalid: need at least 1 shard", shards);
    if (size > shards)
        return CD_FAIL(err, CD_E_USAGE, "%d ranks but only %d shards: a rank would have none", size, shards);
    /* The first shards % size ranks take one extra shard; blocks stay contiguous and in rank order. */
    int base = shards / size, extra = shards % size;
    *first = rank * base + (rank < extra ? rank : extra);
    *count = base + (rank < extra ? 1 : 0);
    return CD_OK;
}

void cd_sampler_epoch_order(const cd_sampler *s, int64_t epoch, int shard, uint32_t *perm)
{
    int64_t begin, end;
    cd_sampler_shard_rows(s, shard, &begin, &end);
    /* seed, epoch and shard, never the rank: every rank count draws the same order. */
    cd_rng_permutation(s->seed, cd_rng_stream_shuffle((uint64_t)epoch, (uint32_t)shard),
                       (uint32_t)(end - begin), perm);
}
