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

/* FNV-1a 64 over the bytes of n floats: the checksum ranks compare and checkpoints store. */
unsigned long long cd_checksum_floats(const float *data, size_t n);

#ifdef __cplusplus
}
#endif

#endif
