/* The three flat buffers (parameters, gradients, momentum) and the checksum over them. */
#include "cnn_ddp/arena.h"

#include <string.h>

cd_status cd_arena_init(cd_arena *arena, size_t count, cd_error *err)
{
    memset(arena, 0, sizeof *arena);
    arena->count = count;
    CD_ALLOC(err, arena->params, count);
    CD_ALLOC(err, arena->grads, count);
    CD_ALLOC(err, arena->momentum, count);
    return CD_OK;
}

void cd_arena_free(cd_arena *arena)
{
    cd_free(arena->params);
    cd_free(arena->grads);
    cd_free(arena->momentum);
    memset(arena, 0, sizeof *arena);
}

unsigned long long cd_checksum_floats(const float *data, size_t n)
{
    const unsigned char *p = (const unsigned char *)data;
    unsigned long long h = CD_FNV1A64_OFFSET;
    for (size_t i = 0; i < n * sizeof(float); i++) {
        h ^= p[i];
        h *= CD_FNV1A64_PRIME;
    }
    return h;
}
