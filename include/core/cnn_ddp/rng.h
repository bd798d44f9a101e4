/* Counter-based random numbers: every value is a pure function of (seed, stream, counter), so the
 * same seed gives the same weights and the same data order on any machine, rank or rank count. */
#ifndef CNN_DDP_RNG_H
#define CNN_DDP_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stream identifiers keep unrelated uses of one seed apart. */
static inline uint64_t cd_rng_stream_init(uint32_t tensor_index) { return (1ull << 56) | tensor_index; }
static inline uint64_t cd_rng_stream_shuffle(uint64_t epoch, uint32_t shard)
{
    return (2ull << 56) | ((epoch & 0xffffffffffull) << 16) | (shard & 0xffffu);
}

uint64_t cd_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);
/* Uniform in [0, 1) with 24 random bits (exactly representable in float). */
float cd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter);
/* Unbiased integer in [0, bound), bound > 0. */
uint32_t cd_rng_below(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t bound);
/* perm[0..n) := a uniformly random permutation of 0..n-1 (Fisher-Yates driven by the stream). */
void cd_rng_permutation(uint64_t seed, uint64_t stream, uint32_t n, uint32_t *perm);

#ifdef __cplusplus
}
#endif

#endif
