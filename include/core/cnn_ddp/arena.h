/* One flat buffer each for parameters, gradients and momentum, all the same length and layout, so
 * the optimizer update, the gradient reduction and the checkpoint each touch a single buffer. */
#ifndef CNN_DDP_ARENA_H
#define CNN_DDP_ARENA_H

#include <stddef.h>
#include "cnn_ddp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_arena {
    size_t count;      /* floats in each buffer */
    float *params;
    float *grads;
    float *momentum;
} cd_arena;

cd_status cd_arena_init(cd_arena *arena, size_t count, cd_error *err); /* zeroed, 64-byte aligned */
void cd_arena_free(cd_arena *arena);

/* The standard FNV-1a 64 parameters (offset basis and prime), so that anyone can check a checkpoint's
 * checksums with a few lines of their own code. */
#define CD_FNV1A64_OFFSET 14695981039346656037ull
#define CD_FNV1A64_PRIME 1099511628211ull

/* FNV-1a 64 over the bytes of n floats (as they lie in memory: little-endian on every host this
 * runs on): the checksum ranks compare and checkpoints store. */
unsigned long long cd_checksum_floats(const float *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif
