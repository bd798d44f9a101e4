/* The SIMD kernel set, written once over a small vector vocabulary and included by avx2.c and
 * avx512.c (ggml-style), each of which defines first (and is the only place that does):
 *   VL                        lanes per vector, a power of two
 *   vf, vm, vint              vector of floats, lane mask, vector of int32
 *   v_zero v_set1 v_load v_store, v_loadm(p,m) v_storem(p,m,v): masked-off lanes not read / not written
 *   v_add v_sub v_mul v_max, v_fma(a,b,c) = a*b+c with one rounding
 *   v_hsum(v)                 sum of the lanes in a fixed tree
 *   v_relu_bwd(y, dy)         y > 0 ? dy : 0 per lane
 *   v_mask(n)                 first n lanes on, 0 <= n <= VL
 *   v_mask_range(a, b)        lanes a..b-1 on, 0 <= a < b <= VL
 *   v_cmpgt(a,b), v_blend(a,b,m) (b in m's lanes, a elsewhere), v_keep(v,m) (v in m's lanes, 0
 *                             elsewhere), vm_or, vm_covers(m, want) (every lane of want is on in m)
 *   v_loadm_merge(v,p,m)      lanes of m from p, the others from v (AVX2 ORs them: v is +0 in m's lanes)
 *   v_load_halves(lo, hi)     VL/2 floats from lo, then VL/2 from hi (im2col's half-vector rows)
 *   v_transpose(r)            VL vectors of VL floats, transposed in place (dy transposed for wgrad)
 *   v_deinterleave v_interleave   2 VL consecutive floats <-> their even and odd elements
 *   v_gather_pairs(p,off,lo,hi)   the float pairs at p + off[i], as 2 VL consecutive floats
 *   vi_set1 vi_iota2 (0, 2, 4, ...) vi_add vi_sub vi_blend vi_cmpeq vi_load vi_store vi_loadm
 *                             vi_storem      (max pool's arg-max)
 *   BC_MR, BC_NR              register block of the bcast micro-kernel (rows x vectors), <= 8 x 4
 *   DOT_MR, DOT_NR            register block of the dot micro-kernel, <= 4 x 5
 *   WG_ACC, WG_NR             accumulators and vectors per block of the wgrad micro-kernel, the rows
 *                             (WG_ACC / vectors) <= 12 and WG_NR <= 4
 *   SIMD_KIND, SIMD_EXPORT    the set's cd_kernel_kind (which names the table) and its accessor
 *
 * The bodies, by family, in dependency order: GEMM micro-kernels and drivers, the conv plan (every
 * shape threshold), conv data movement, the three conv ops, linear, elementwise, max pool. */
#ifndef CD_SIMD_BODY_H
#define CD_SIMD_BODY_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "cnn_ddp/fixed_point.h"
#include "cnn_ddp/kernels.h"

#define CD_AI static inline __attribute__((always_inline))
#define CD_UNROLL _Pragma("GCC unroll 16")

static inline int imin(int a, int b) { return a < b ? a : b; }
static inline int imax(int a, int b) { return a > b ? a : b; }

#include "simd_gemm.h"
#include "simd_plan.h"
#include "simd_conv_layout.h"
#include "simd_conv_forward.h"
#include "simd_conv_data.h"
#include "simd_conv_weights.h"
#include "simd_linear.h"
#include "simd_eltwise.h"
#include "simd_pool.h"

/* The largest of the three ops' scratch on the plan's paths. */
static size_t simd_conv_workspace(const cd_conv_shape *s, const cd_conv_plan *plan)
{
    size_t a = conv_work_forward(s, plan->forward), b = conv_work_weights(s, plan->backward_weights);
    size_t c = conv_work_data(s, plan->backward_data);
    if (b > a) a = b;
    if (c > a) a = c;
    return a + 16;
}

static const cd_kernels simd_table = {
    .name = cd_kernel_names[SIMD_KIND],
    .conv_plan = simd_conv_plan,
    .conv_workspace = simd_conv_workspace,
    .conv_forward = simd_conv_forward,
    .conv_backward_data = simd_conv_backward_data,
    .conv_backward_weights = simd_conv_backward_weights,
    .conv_backward_weights_fixed = simd_conv_backward_weights_fixed,
    .pool_forward = simd_pool_forward,
    .pool_backward = simd_pool_backward,
    .relu_forward = simd_relu_forward,
    .relu_backward = simd_relu_backward,
    .linear_forward = simd_linear_forward,
    .linear_backward_data = simd_linear_backward_data,
    .linear_backward_weights = simd_linear_backward_weights,
    .linear_backward_weights_fixed = simd_linear_backward_weights_fixed,
    .sgd_momentum = simd_sgd_momentum,
};

const cd_kernels *SIMD_EXPORT(void) { return &simd_table; }


#endif
