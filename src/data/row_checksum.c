/* A checksum of a training split that does not depend on how the rows are spread over ranks: every row
 * hashes on its own (its global index, its pixels, its label) and the row hashes are summed mod 2^64, so
 * each rank sums the rows it holds and one exact sum across ranks gives the same value for any rank count.
 * The row hash is xxHash64-style (four multiply-rotate lanes over 8-byte words, then a full avalanche):
 * a few GB/s, so hashing MNIST's training split costs milliseconds at start-up. */
#include "cnn_ddp/data.h"

#include <string.h>

static const uint64_t P1 = 11400714785074694791ull, P2 = 14029467366897019727ull, P3 = 1609587929392839161ull;

static uint64_t rotl(uint64_t v, int r) { return (v << r) | (v >> (64 - r)); }
static uint64_t round64(uint64_t acc, uint64_t w) { return rotl(acc + w * P2, 31) * P1; }

/* Every input bit reaches every output bit, so row hashes add without structured cancellation. */
static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

/* The 8 bytes at p as a little-endian number, whatever the host (one load on a little-endian one). */
static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static uint64_t row_hash(uint64_t index, const uint8_t *pixels, size_t n, uint8_t label)
{
    uint64_t lane[4] = {P1 + P2, P2, 0, 0 - P1};
    size_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) lane[k] = round64(lane[k], load_le64(pixels + i + 8 * k));
    uint8_t tail[32] = {0};
    memcpy(tail, pixels + i, n - i);
    for (int k = 0; k < 4; k++) lane[k] = round64(lane[k], load_le64(tail + 8 * k));
    uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
    h = round64(h, index);
    h = round64(h, ((uint64_t)n << 8) | label);
    return avalanche(h);
}

uint64_t cd_data_rows_checksum(const cd_dataset *d)
{
    const size_t pixels = (size_t)(d->channels > 0 ? d->channels : 1) * (size_t)d->height * (size_t)d->width;
    uint64_t sum = 0;
    for (int64_t r = 0; r < d->count; r++)
        sum += row_hash((uint64_t)(d->first_row + r), d->images + (size_t)r * pixels, pixels, d->labels[r]);
    return sum;
}
