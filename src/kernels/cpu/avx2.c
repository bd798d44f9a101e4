/* The AVX2+FMA kernel set: the shared bodies in simd_body.h over 8-lane ymm vectors
 * (compiled with -mavx2 -mfma by the build, chosen at run time by dispatch.c). */
#include "cnn_ddp/kernels.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define VL 8
typedef __m256 vf;
typedef __m256i vm; /* lane on = sign bit set, as vmaskmov wants */

static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vf v_loadm(const float *p, vm m) { return _mm256_maskload_ps(p, m); }
static inline void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline void v_storem(float *p, vm m, vf v) { _mm256_maskstore_ps(p, m, v); }
static inline vf v_set1(float x) { return _mm256_set1_ps(x); }
static inline vf v_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vm v_mask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* lanes a..b-1 on, 0 <= a < b <= VL */
static inline vm v_mask_range(int a, int b)
{
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_andnot_si256(_mm256_cmpgt_epi32(_mm256_set1_epi32(a), iota),
                               _mm256_cmpgt_epi32(_mm256_set1_epi32(b), iota));
}
/* lanes of m from p, the others from v (maskload zeroes the others, so an OR merges them; only
 * used where v is +0 in the lanes of m) */
static inline vf v_loadm_merge(vf v, const float *p, vm m) { return _mm256_or_ps(v, _mm256_maskload_ps(p, m)); }
/* VL/2 floats from lo, then VL/2 from hi */
static inline vf v_load_halves(const float *lo, const float *hi)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(lo)), _mm_loadu_ps(hi), 1);
}
static inline vf v_relu_bwd(vf y, vf dy)
{
    return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), dy);
}
/* Lane masks and int vectors for max-pool's argmax (masks are full 32-bit lanes here). */
typedef __m256i vint;
static inline vm v_cmpgt(vf a, vf b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GT_OQ)); }
static inline vf v_blend(vf a, vf b, vm m) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
static inline vf v_keep(vf v, vm m) { return _mm256_and_ps(_mm256_castsi256_ps(m), v); }
static inline vm vm_or(vm a, vm b) { return _mm256_or_si256(a, b); }
/* every lane of `want` is on in m */
static inline int vm_covers(vm m, vm want)
{
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_andnot_si256(m, want))) == 0;
}
static inline vint vi_set1(int x) { return _mm256_set1_epi32(x); }
static inline vint vi_iota2(void) { return _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14); }
static inline vint vi_add(vint a, vint b) { return _mm256_add_epi32(a, b); }
static inline vint vi_sub(vint a, vint b) { return _mm256_sub_epi32(a, b); }
static inline vint vi_blend(vint a, vint b, vm m) { return _mm256_blendv_epi8(a, b, m); }
static inline vm vi_cmpeq(vint a, vint b) { return _mm256_cmpeq_epi32(a, b); }
static inline vint vi_loadm(const int32_t *p, vm m) { return _mm256_maskload_epi32((const int *)p, m); }
static inline void vi_storem(int32_t *p, vm m, vint v) { _mm256_maskstore_epi32((int *)p, m, v); }
/* Narrow-plane 2x2 pool: VL int32 offsets from p; the 2 adjacent floats at p + off[i] for every
 * lane i, as 2 VL consecutive floats (64-bit gathers: one per pair, not one per float). */
static inline vint vi_load(const int32_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void vi_store(int32_t *p, vint v) { _mm256_storeu_si256((__m256i *)p, v); }
static inline void v_gather_pairs(const float *p, vint off, vf *lo, vf *hi)
{
    *lo = _mm256_castpd_ps(_mm256_i32gather_pd((const double *)p, _mm256_castsi256_si128(off), 4));
    *hi = _mm256_castpd_ps(_mm256_i32gather_pd((const double *)p, _mm256_extracti128_si256(off, 1), 4));
}
/* (lo, hi) = 2 VL consecutive floats -> their even and odd elements */
static inline void v_deinterleave(vf lo, vf hi, vf *even, vf *odd)
{
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xD8));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xDD)), 0xD8));
}
/* the inverse: even and odd elements -> 2 VL consecutive floats */
static inline void v_interleave(vf even, vf odd, vf *lo, vf *hi)
{
    const vf u0 = _mm256_unpacklo_ps(even, odd), u1 = _mm256_unpackhi_ps(even, odd);
    *lo = _mm256_permute2f128_ps(u0, u1, 0x20);
    *hi = _mm256_permute2f128_ps(u0, u1, 0x31);
}
/* r[i][j] <-> r[j][i]: pairs of rows, then 2x2 blocks within 128-bit lanes, then 128-bit lanes */
static inline void v_transpose(vf r[8])
{
    vf t[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
        t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
    }
    for (int i = 0; i < 8; i++) r[i] = t[i];
}
/* Fixed tree: halves, pairs, then the last two lanes. */
static inline float v_hsum(vf v)
{
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* Fixed-point sums: VL/2 int64 lanes. vq_bits: the bits of p * 2^40 + 1.5 * 2^52 for each float of p
 * (lanes 0..VL/2-1 into lo, the rest into hi), whose low bits are cd_fixed_round(p) plus the bits of
 * 1.5 * 2^52 (the product is exact, so the fma rounds once, as cd_fixed_round's addition does). */
typedef __m256i vq;
static inline vq vq_zero(void) { return _mm256_setzero_si256(); }
static inline vq vq_add(vq a, vq b) { return _mm256_add_epi64(a, b); }
static inline vq vq_load(const int64_t *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline void vq_store(int64_t *p, vq v) { _mm256_storeu_si256((__m256i *)p, v); }
static inline vq vq_set1(int64_t x) { return _mm256_set1_epi64x(x); }
static inline vq vq_sub(vq a, vq b) { return _mm256_sub_epi64(a, b); }
static inline void vq_bits(vf p, vq *lo, vq *hi)
{
    const __m256d scale = _mm256_set1_pd(0x1p40), magic = _mm256_set1_pd(0x1.8p52);
    *lo = _mm256_castpd_si256(_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(p)), scale, magic));
    *hi = _mm256_castpd_si256(_mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)), scale, magic));
}

/* 16 ymm registers: 12 accumulators + 2 loads + 1 broadcast; dot: 6 + 3 + 3 */
#define BC_MR 6
#define BC_NR 2
#define DOT_MR 2
#define DOT_NR 3
/* weight-gradient kernel: accumulators, vectors per block */
#define WG_ACC 12
/* 3 vectors a block (12 accumulators + 3 loads + 1 broadcast): seed conv2's 3 vectors of c_out take
 * one 4 x 3 block instead of 6 x 2 + 6 x 1; its per-sample weight gradient 98 -> 88.5 us at n 8
 * (2 alternating runs; the other convs unchanged, 4 vectors the same) */
#define WG_NR 3
#define SIMD_KIND CD_KERNELS_AVX2
#define SIMD_EXPORT cd_kernels_avx2

#include "simd_body.h"

#else
const cd_kernels *cd_kernels_avx2(void) { return NULL; }
#endif
