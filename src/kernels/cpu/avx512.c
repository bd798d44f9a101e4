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
/* VL/2 floats from lo, then VL/2 from hi */
static inline vf v_load_halves(const float *lo, const float *hi)
{
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(lo)), _mm256_loadu_ps(hi), 1);
}
static inline vf v_relu_bwd(vf y, vf dy)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), dy);
}
/* Lane masks and int vectors for max-pool's argmax. */
typedef __m512i vint;
static inline vm v_cmpgt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vf v_blend(vf a, vf b, vm m) { return _mm512_mask_blend_ps(m, a, b); }
static inline vf v_keep(vf v, vm m) { return _mm512_maskz_mov_ps(m, v); }
static inline vm vm_or(vm a, vm b) { return (vm)(a | b); }
/* every lane of `want` is on in m */
static inline int vm_covers(vm m, vm want) { return (want & (vm)~m) == 0; }
static inline vint vi_set1(int x) { return _mm512_set1_epi32(x); }
static inline vint vi_iota2(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline vint vi_add(vint a, vint b) { return _mm512_add_epi32(a, b); }
static inline vint vi_sub(vint a, vint b) { return _mm512_sub_epi32(a, b); }
static inline vint vi_blend(vint a, vint b, vm m) { return _mm512_mask_blend_epi32(m, a, b); }
static inline vm vi_cmpeq(vint a, vint b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline vint vi_loadm(const int32_t *p, vm m) { return _mm512_maskz_loadu_epi32(m, p); }
static inline void vi_storem(int32_t *p, vm m, vint v) { _mm512_mask_storeu_epi32(p, m, v); }
/* (lo, hi) = 2 VL consecutive floats -> their even and odd elements */
static inline void v_deinterleave(vf lo, vf hi, vf *even, vf *odd)
{
    const vint ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    *even = _mm512_permutex2var_ps(lo, ie, hi);
    *odd = _mm512_permutex2var_ps(lo, _mm512_add_epi32(ie, _mm512_set1_epi32(1)), hi);
}
/* the inverse: even and odd elements -> 2 VL consecutive floats */
static inline void v_interleave(vf even, vf odd, vf *lo, vf *hi)
{
    const vint il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    *lo = _mm512_permutex2var_ps(even, il, odd);
    *hi = _mm512_permutex2var_ps(even, _mm512_add_epi32(il, _mm512_set1_epi32(8)), odd);
}
/* Narrow-plane 2x2 pool: VL int32 offsets from p; the 2 adjacent floats at p + off[i] for every
 * lane i, as 2 VL consecutive floats (64-bit gathers: one per pair, not one per float). */
static inline vint vi_load(const int32_t *p) { return _mm512_loadu_si512(p); }
static inline void vi_store(int32_t *p, vint v) { _mm512_storeu_si512(p, v); }
static inline void v_gather_pairs(const float *p, vint off, vf *lo, vf *hi)
{
    *lo = _mm512_castpd_ps(_mm512_i32gather_pd(_mm512_castsi512_si256(off), p, 4));
    *hi = _mm512_castpd_ps(_mm512_i32gather_pd(_mm512_extracti64x4_epi64(off, 1), p, 4));
}
/* r[i][j] <-> r[j][i]: pairs of rows, then 2x2 blocks within 128-bit lanes, then 128-bit lanes */
static inline void v_transpose(vf r[16])
{
    vf t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
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

/* 32 zmm: 24 accumulators + 3 loads + 1 broadcast; 8 rows tile c_out 16/32/64 and K = c_in*9 evenly */
#define BC_MR 8
#define BC_NR 3
#define DOT_MR 4
#define DOT_NR 5
/* weight-gradient kernel: accumulators, vectors per block */
#define WG_ACC 24
#define WG_NR 4
/* Fixed-point sums: VL/2 int64 lanes; see avx2.c for vq_bits. */
typedef __m512i vq;
static inline vq vq_zero(void) { return _mm512_setzero_si512(); }
static inline vq vq_add(vq a, vq b) { return _mm512_add_epi64(a, b); }
static inline vq vq_load(const int64_t *p) { return _mm512_loadu_si512((const void *)p); }
static inline void vq_store(int64_t *p, vq v) { _mm512_storeu_si512((void *)p, v); }
static inline vq vq_set1(int64_t x) { return _mm512_set1_epi64(x); }
static inline vq vq_sub(vq a, vq b) { return _mm512_sub_epi64(a, b); }
static inline void vq_bits(vf p, vq *lo, vq *hi)
{
    const __m512d scale = _mm512_set1_pd(0x1p40), magic = _mm512_set1_pd(0x1.8p52);
    *lo = _mm512_castpd_si512(_mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(p)), scale, magic));
    *hi = _mm512_castpd_si512(
        _mm512_fmadd_pd(_mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1))), scale, magic));
}

#define SIMD_KIND CD_KERNELS_AVX512
#define SIMD_EXPORT cd_kernels_avx512

#include "simd_body.h"

#else
const cd_kernels *cd_kernels_avx512(void) { return NULL; }
#endif
