/* Counter-based generator: a value is a keyed hash of (seed, stream, counter), built from the
 * splitmix64 finaliser (a bijection with full avalanche). Nothing is carried from call to call, so
 * any rank can compute any value without replaying a sequence. */
#include "cnn_ddp/rng.h"

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t cd_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

float cd_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return (float)(cd_rng_u64(seed, stream, counter) >> 40) * 0x1.0p-24f;
}

uint32_t cd_rng_below(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t bound)
{
    /* Lemire's multiply-shift with rejection; a rejected draw moves to a fresh counter lane. */
    uint64_t threshold = (uint64_t)(-(uint32_t)bound % bound);
    for (uint64_t attempt = 0;; attempt++) {
        uint64_t r = cd_rng_u64(seed, stream, counter + (attempt << 40)) & 0xffffffffull;
        uint64_t m = r * bound;
        if ((uint32_t)m >= threshold) return (uint32_t)(m >> 32);
    }
}

void cd_rng_permutation(uint64_t seed, uint64_t stream, uint32_t n, uint32_t *perm)
{
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = cd_rng_below(seed, stream, i, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
