/* Which samples form each global step, independent of the number of ranks.
 *
 * The training rows are cut into K contiguous virtual shards (shard s holds rows
 * [s*N/K, (s+1)*N/K)). Each epoch shard s is shuffled by a permutation drawn from (seed, epoch, s).
 * Global step t of an epoch takes positions [t*c, (t+1)*c) of every shard's permutation, c = B/K,
 * as chunk s of the step. An epoch has floor(min shard size / c) steps; the few samples left over
 * at the end of each shard's permutation are skipped for that epoch (the next epoch's permutation
 * differs, so no sample is skipped for good). Rank r of N owns a contiguous block of shards. */
#ifndef CNN_DDP_SAMPLER_H
#define CNN_DDP_SAMPLER_H

#include <stdint.h>
#include "cnn_ddp/error.h"

typedef struct cd_sampler {
    int64_t rows;          /* training rows in the file */
    int shards;            /* K */
    int batch;             /* global batch B */
    int chunk;             /* B / K samples per shard per step */
    int64_t steps_per_epoch;
    uint64_t seed;
} cd_sampler;

/* CD_E_USAGE when B is not a multiple of K, K < 1, or a shard is too small for one chunk. */
cd_status cd_sampler_init(cd_sampler *s, int64_t rows, int shards, int batch, uint64_t seed,
                          cd_error *err);
/* Rows [*begin, *end) of the file held by shard `shard`. */
void cd_sampler_shard_rows(const cd_sampler *s, int shard, int64_t *begin, int64_t *end);
/* The shards owned by `rank` of `size`: [*first, *first + *count). Ranks get floor/ceil blocks, so
 * K need not be a multiple of N (the results do not change, only the load balance); CD_E_USAGE when
 * size > K (a rank would have no data). */
cd_status cd_sampler_rank_shards(int shards, int size, int rank, int *first, int *count, cd_error *err);
/* perm[0..shard size) := this epoch's order of the shard's rows, as offsets from the shard start. */
void cd_sampler_epoch_order(const cd_sampler *s, int64_t epoch, int shard, uint32_t *perm);

#endif
