/* The AVX-512 kernel set: the shared bodies in simd_body.h over 16-lane zmm vectors
 * (compiled with -mavx512f/bw/dq/vl by the build, chosen at run time by dispatch.c). */
#include "cnn_ddp/kernels.h"

#if defined(__x86_64__) && defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>

#define VL 16
typedef __m512 vf;
typedef __mmask16 vm;

static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline vf v_loadm(const float *p, vm m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void v_storem(float *p, vm m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
static inline vf v_set1(float x) { return _mm512_set1_ps(x); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vm v_mask(int n) { return (vm)((1u << n) - 1u); }
/* lanes a..b-1 on, 0 <= a < b <= VL */
static inline vm v_mask_range(int a, int b) { return (vm)(((1u << b) - 1u) & ~((1u << a) - 1u)); }
/* lanes of m from p, the others from v */
static inline vf v_loadm_merge(vf v, const float *p, vm m) { return _mm512_mask_loadu_ps(v, m, p); }
static inline vf v_relu_bwd(vf y, vf dy)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), dy);
}
/* Fixed tree: halves, quarters, pairs, then the last two lanes. */
static inline float v_hsum(vf v)
{
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

#define BC_MR 6
#define BC_NR 4
#define DOT_MR 4
#define DOT_NR 5
#define SIMD_NAME "avx512"
#define SIMD_EXPORT cd_kernels_avx512

#include "kernels/cpu/simd_body.h"

#else
const cd_kernels *cd_kernels_avx512(void) { return NULL; }
#endif
