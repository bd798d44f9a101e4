/* The compute kernels behind every layer, as a table of function pointers with one implementation
 * per instruction set (scalar reference, AVX2+FMA, AVX-512) chosen once at start-up.
 *
 * Layouts (PyTorch's): activations NCHW float32, contiguous. Conv weight [c_out][c_in][k_h][k_w],
 * conv bias [c_out]. Linear weight [out][in], bias [out]; linear input [n][in] (a flattened NCHW
 * activation). All kernels OVERWRITE their outputs (dx, dw, db, y); none accumulates into them.
 *
 * Determinism contract, which the bit-identical-for-any-rank-count guarantee rests on:
 *  - forward and backward_data: every output element is computed by a fixed sequence of operations
 *    on the inputs that feed it; its bits do not depend on n, on the sample's position in the batch,
 *    or on whether it falls in a vector body or a scalar tail (tails use fmaf in the same order as
 *    the vector lanes). Evaluating one image alone or inside any batch gives the same logits.
 *  - backward_weights: the reduction over the batch may be blocked any way, but the order is a
 *    function of the shape alone: the same inputs and shape give the same bits every time.
 *  - no threads, no timing-dependent order. */
#ifndef CNN_DDP_KERNELS_H
#define CNN_DDP_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "cnn_ddp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cd_conv_shape {
    int n;                  /* batch */
    int c_in, h_in, w_in;
    int c_out, h_out, w_out; /* h_out = (h_in + 2*pad - k_h)/stride + 1, likewise w_out */
    int k_h, k_w;
    int stride, pad;        /* zero padding on all four sides */
} cd_conv_shape;

typedef struct cd_pool_shape {
    int n, c;
    int h_in, w_in;
    int h_out, w_out;       /* (h_in - k)/stride + 1: no padding, floor mode (PyTorch default) */
    int k, stride;
} cd_pool_shape;

typedef struct cd_linear_shape {
    int n, in, out;
} cd_linear_shape;

/* How a kernel set computes one conv layer: chosen once from the shape (not from n) when the model is
 * built, by that set's conv_plan, and handed back to its conv ops, which follow it. Each op takes only
 * some of the paths (listed per op below); the scalar set has the one path CD_CONV_SCALAR. */
typedef enum cd_conv_path {
    CD_CONV_SCALAR = 0,   /* "scalar": the reference loops (all three ops) */
    CD_CONV_POINTWISE,    /* "pointwise": 1x1, stride 1, no padding: x itself is the GEMM operand (all three) */
    CD_CONV_IM2COL,       /* "im2col": forward, through a group's column buffer and one GEMM */
    CD_CONV_DIRECT,       /* "direct": forward, the (zero-padded) image read in place at "wide" positions */
    CD_CONV_COL2IM,       /* "col2im": data, one W^T dy GEMM into columns, summed back onto the image */
    CD_CONV_DATA_AS_CONV, /* "as-conv": data, a direct convolution of dy with the flipped kernel */
    CD_CONV_IM2COL_DOT,   /* "im2col-dot": weights, column buffer by dy in the dot GEMM (lane sums) */
    CD_CONV_IM2COL_WGRAD, /* "im2col-wgrad": weights, column buffer by dy transposed in the wgrad GEMM */
    CD_CONV_DIRECT_DOT,   /* "direct-dot": weights, the image in place by dy in the dot GEMM */
    CD_CONV_DIRECT_WGRAD, /* "direct-wgrad": weights, the image in place by dy transposed in the wgrad GEMM */
    CD_CONV_ROWS,         /* "rows": forward, stride 1, output rows of whole vectors: the (zero-padded) image
                           * read in place row by row, no junk positions */
    CD_CONV_ROWS_WGRAD,   /* "rows-wgrad": weights, stride 1: the (padded) image in place, output row by output
                           * row (no junk positions, no im2col), by dy transposed in the wgrad GEMM */
    CD_CONV_PATH_COUNT    /* not a path: how many there are */
} cd_conv_path;

typedef struct cd_conv_plan {
    cd_conv_path forward, backward_data, backward_weights;
} cd_conv_plan;

/* "im2col", "direct", ... as above; "?" for a value that is not a path. */
const char *cd_conv_path_name(cd_conv_path p);
/* "forward direct, data as-conv, weights direct-wgrad" into buf (always NUL-terminated, cut to size). */
void cd_conv_plan_describe(const cd_conv_plan *p, char *buf, size_t size);

typedef struct cd_kernels {
    const char *name; /* cd_kernel_kind_name() of its kind: "scalar", "avx2", "avx512" */

    /* This set's plan for a conv shape. s->n is not read: one plan serves every batch size. */
    void (*conv_plan)(const cd_conv_shape *s, cd_conv_plan *plan);
    /* The conv ops below take `plan` from this set's conv_plan for the same shape (any n) and follow
     * it. conv_workspace: floats of scratch space the three ops need for this shape and plan (may be
     * 0); the caller passes a buffer at least that large, 64-byte aligned, as `work`. */
    size_t (*conv_workspace)(const cd_conv_shape *s, const cd_conv_plan *plan);
    /* y[n][c_out][h_out][w_out] = b + sum w * x (cross-correlation, zero padding).
     * Paths: scalar, pointwise, im2col, direct, rows. */
    void (*conv_forward)(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x, const float *w,
                         const float *b, float *y, float *work);
    /* dx[n][c_in][h_in][w_in] = gradient of the loss w.r.t. x, given dy.
     * Paths: scalar, pointwise, col2im, as-conv. */
    void (*conv_backward_data)(const cd_conv_shape *s, const cd_conv_plan *plan, const float *dy, const float *w,
                               float *dx, float *work);
    /* dw = sum over batch and positions of dy * x-patch; db[c] = sum of dy over batch and positions.
     * Paths: scalar, pointwise, im2col-dot, im2col-wgrad, direct-dot, direct-wgrad, rows-wgrad. */
    void (*conv_backward_weights)(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                  const float *dy, float *dw, float *db, float *work);

    /* The training step's form: backward_weights sample by sample, each sample's dw and db (exactly
     * those of backward_weights with n = 1) added into dw_sum and db_sum in fixed point, as
     * cd_fixed_accumulate adds them; dw and db are scratch of their usual sizes. Returns 0, or nonzero
     * when some value was NaN, infinite or beyond CD_FIXED_LIMIT (the sums are then unspecified; the
     * caller names the value). Same paths and workspace as backward_weights. */
    int (*conv_backward_weights_fixed)(const cd_conv_shape *s, const cd_conv_plan *plan, const float *x,
                                       const float *dy, float *dw, float *db, int64_t *dw_sum, int64_t *db_sum,
                                       float *work);

    /* Max pooling. argmax[i] is the index into x (whole tensor, NCHW) of the winner of y[i]; ties go
     * to the first element in row-major window order. argmax may be NULL (inference: y only). */
    void (*pool_forward)(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax);
    /* dx := 0 everywhere, then dx[argmax[i]] += dy[i] (overlapping windows accumulate). */
    void (*pool_backward)(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx);

    /* y = max(x, 0); x == y allowed. */
    void (*relu_forward)(size_t n, const float *x, float *y);
    /* dx = y > 0 ? dy : 0, where y is the forward output; dx == dy allowed. */
    void (*relu_backward)(size_t n, const float *y, const float *dy, float *dx);

    /* y[n][out] = x[n][in] * w^T + b */
    void (*linear_forward)(const cd_linear_shape *s, const float *x, const float *w, const float *b,
                           float *y);
    /* dx[n][in] = dy[n][out] * w */
    void (*linear_backward_data)(const cd_linear_shape *s, const float *dy, const float *w, float *dx);
    /* dw[out][in] = dy^T x, db[out] = sum over batch of dy */
    void (*linear_backward_weights)(const cd_linear_shape *s, const float *x, const float *dy,
                                    float *dw, float *db);

    /* The weight gradient of each sample on its own, added in fixed point: for every sample n,
     * dw[o][i] += round((dy[n][o] * x[n][i]) * 2^40) (the float product, as linear_backward_weights
     * computes it for n = 1) and db[o] += round(dy[n][o] * 2^40). The unit of the exact sum is the
     * sample, so any split of a batch over ranks adds the same integers. Returns 0, or nonzero when
     * some value is NaN, infinite or beyond CD_FIXED_LIMIT (dw and db are then unspecified; the
     * caller names the element with linear_backward_weights and cd_fixed_accumulate). Every set
     * gives the same integers: there is one rounding per value and integer sums are exact. */
    int (*linear_backward_weights_fixed)(const cd_linear_shape *s, const float *x, const float *dy, int64_t *dw,
                                         int64_t *db);

    /* SGD with momentum, PyTorch semantics: v = mu*v + g; w -= lr*v (elementwise, so any
     * vectorisation gives the same bits as the scalar loop when it uses the same fmaf pattern). */
    void (*sgd_momentum)(size_t n, float *w, float *v, const float *g, float lr, float mu);
} cd_kernels;

typedef enum cd_kernel_kind {
    CD_KERNELS_AUTO = 0,
    CD_KERNELS_SCALAR,
    CD_KERNELS_AVX2,
    CD_KERNELS_AVX512,
} cd_kernel_kind;

/* The kernel sets' names, indexed by cd_kernel_kind: the one list behind --kernels parsing (also the
 * option table's), cd_kernel_kind_name() and every table's .name. Rows of a char array rather than
 * pointers, so that static initialisers elsewhere can take them as address constants. */
#define CD_KERNEL_KINDS (CD_KERNELS_AVX512 + 1)
#define CD_KERNEL_NAME_CAP 8 /* "avx512" and its NUL, rounded up */
extern const char cd_kernel_names[CD_KERNEL_KINDS][CD_KERNEL_NAME_CAP];

/* "auto" | "scalar" | "avx2" | "avx512" -> kind; CD_E_USAGE on anything else. */
cd_status cd_kernel_kind_parse(const char *text, cd_kernel_kind *out, cd_error *err);
/* The inverse: kind -> "auto", "scalar", "avx2" or "avx512" ("?" for a value outside the enum). */
const char *cd_kernel_kind_name(cd_kernel_kind kind);
/* Whether this CPU and OS can run that set (CPUID feature bits and XGETBV-enabled state). */
int cd_kernels_supported(cd_kernel_kind kind);
/* The table for `kind` (AUTO: the best supported); CD_E_USAGE naming the missing CPU feature when
 * the set is not supported or was not compiled in. */
cd_status cd_kernels_select(cd_kernel_kind kind, const cd_kernels **out, cd_error *err);

/* The individual tables (exposed for tests; NULL when not compiled in). */
const cd_kernels *cd_kernels_scalar(void);
const cd_kernels *cd_kernels_avx2(void);
const cd_kernels *cd_kernels_avx512(void);

#ifdef __cplusplus
}
#endif

#endif
