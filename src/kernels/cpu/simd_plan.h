/* The conv plan: which formulation each conv op takes for a shape, and every shape threshold of the
 * SIMD set (the pool's too), each with the measurement that chose it. A plan is a function of the
 * shape without n, so the model computes it once and uses it for every batch size.
 *
 * Measurements are stated as shapes "c_in C, HxW, kK[ pP], N out" (stride 1). The figures that
 * chose the thresholds were taken with AVX-512 on a Zen 5 core. Those marked "AVX2" were re-measured
 * with avx2 on a 2-core AMD EPYC (no AVX-512), n 8, microseconds of CPU time for the path the plan
 * takes against the alternative, as a range over two runs on a machine shared with other builds
 * (about +-15%): they check the rules with 8 lanes and did not change any value. None of the rules
 * reads n.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_PLAN_H
#define CD_SIMD_PLAN_H

/* Samples whose positions the conv GEMMs take side by side as one N (a ragged P like 7x7 = 49 then
 * still fills whole vectors). It bounds the workspace and keeps a group's packs in L2 (c_in 10,
 * 12x12, k5, 20 out: 250 col rows x 8 x 64 positions = 0.5 MB). It fixes the order of the weight
 * gradient's reduction over the batch, so it is part of the bits. No timing on record chose 8; AVX2
 * at n 64 could not tell 4, 8 and 16 apart (run-to-run noise of +-30% on the shared machine). */
#define CONV_GROUP 8

/* The direct paths keep their per-row offsets (one int per c_in*k_h*k_w) on the stack, 6.4 KB at
 * most: a capacity, not a tuned figure. Larger kernels (c_in 65, k5) go through im2col. */
#define WIDE_KMAX 1600

/* Direct forward when its junk multiply-adds, (Nw - P) * c_out, stay within WIDE_F * P (see
 * plan_forward_direct). The ratio (Nw - P) * c_out / P of the measured shapes: the direct forward
 * won for c_in 1, 28x28, k5, 10 out (1.6), c_in 1, 28x28, k3 p1, 16 out (1.1) and c_in 16, 14x14,
 * k3 p1, 32 out (4.2); it lost for c_in 10, 12x12, k5, 20 out (8.75) and c_in 32, 7x7, k3 p1,
 * 64 out (15.7). 8 lies between. AVX2, direct against im2col: 43-62 against 64-85 us, 50-77
 * against 76-84 (a draw in one run) and 267-301 against 319-357 for the first three; 104-110
 * against 94-106 and 284-329 against 237-239 for the last two: the same sides. */
#define WIDE_F 8

/* The wgrad GEMM (dy transposed, c_out on the vector axis) for every weight gradient. Training
 * computes them sample by sample (conv_backward_weights_fixed), and there the dot GEMM's lane sums,
 * once per output per sample, cost more than the wgrad GEMM's padding of c_out to whole vectors.
 * AVX2, 64 samples one at a time, us: c_in 1, 28x28, k5, 10 out: direct-wgrad 564, direct-dot 609;
 * c_in 10, 12x12, k5, 20 out: im2col-wgrad 1098, im2col-dot 1370; c_in 1, 28x28, k3 p1, 16 out:
 * direct-wgrad 647, direct-dot 775 (before the fused transposed sums, which widen the gap). Batched
 * (8 samples a call), the dot GEMM had won the first two; only the float op's tests call it so now. */

/* (Since rows-wgrad, below, no plan takes direct-wgrad or im2col-wgrad for a stride-1 shape: rows-wgrad
 * reads the image in place without junk positions and gives their bits. The rule stays for the
 * record; the tests force those paths.)
 * With the wgrad GEMM, the weight gradient reads the image in place while the junk positions are at
 * most 1 / WGRAD_DIRECT_JUNK_DIV of the real ones: c_in 32, 7x7, k3 p1, 64 out (12 junk per 49,
 * 24%) gained ~8% over im2col. AVX2: that shape 230-235 against im2col-wgrad 239-321 us; but c_in
 * 32, 4x4, k3 p1, 32 out (6 junk per 16, 38%, so im2col here) measured direct-wgrad 49-51 against
 * 58-60: with 8 lanes the rule is conservative. */
#define WGRAD_DIRECT_JUNK_DIV 3

/* Backward data as a convolution only while the real outputs fill at least AS_CONV_FILL_NUM /
 * AS_CONV_FILL_DEN of its vectors: 14x14 planes (196 of 224 lanes, 88%; c_in 16, 14x14, k3 p1,
 * 32 out) won, 7x7 planes (49 of 64, 77%; c_in 32, 7x7, k3 p1, 64 out) lost to col2im. AVX2: as-conv
 * 258-303 against col2im 333-373 us for the first, 288-385 against 218-297 for the second; 28x28
 * planes (784 of 840, 93%; c_in 1, 28x28, k3 p1, 16 out) 137-138 against 131-145, a draw. */
#define AS_CONV_FILL_NUM 5
#define AS_CONV_FILL_DEN 6

/* Pool: the 2x2/s2 forward takes all planes as one flat gathered sequence when a row fills at most
 * a quarter of the lanes (w_out <= VL/4) and a plane has at most POOL2_FLAT_MAX_PLANE outputs (the
 * size of its offset table); 14x14 -> 7x7 (7 of 16 lanes) measured slower gathered than row by row.
 * The 2x2/s2 backward takes the row kernel from POOL2_BWD_MIN_FILL = 2 (rows of VL/2 outputs or
 * more); below that the memset-and-add loop measured 1.6x (14x14 -> 7x7) to 5x (7x7 -> 3x3)
 * faster (AVX-512; not re-measured with AVX2). Pooling has no plan in the API: these are decided per
 * call (a few integer tests). */
#define POOL2_FLAT_MAX_PLANE 64
#define POOL2_BWD_MIN_FILL 2

static int pool2_flat_ok(const cd_pool_shape *s)
{
    return s->k == 2 && s->stride == 2 && 4 * s->w_out <= VL && s->h_out * s->w_out <= POOL2_FLAT_MAX_PLANE;
}

/* Rows of a multiple of VL/2 outputs that do not fill whole vectors (w_out 12 with AVX2) run as one
 * flat sequence of half vectors (pool2_halves_forward), forward always, backward where the windows
 * tile the input exactly (no odd last row or column to zero). Rows of whole vectors keep the row
 * kernel; narrower ones the gathered sequence or the row kernel. */
static int pool2_halves_ok(const cd_pool_shape *s)
{
    return s->k == 2 && s->stride == 2 && s->w_out % (VL / 2) == 0 && s->w_out % VL != 0;
}

static int pool2_halves_backward_ok(const cd_pool_shape *s)
{
    return pool2_halves_ok(s) && s->w_in == 2 * s->w_out && s->h_in == 2 * s->h_out;
}

static int pool2_rows_backward_ok(const cd_pool_shape *s)
{
    return s->k == 2 && s->stride == 2 && POOL2_BWD_MIN_FILL * s->w_out >= VL;
}

/* Padded images and the direct ("wide") convolution. Stride-1 convolutions with padding run on a
 * zero-padded copy of the image (H x W), which turns them into valid ones. A valid stride-1
 * convolution needs no im2col at all when its output is computed "wide": at q = oh*W + ow for every
 * ow < W, so that im2col row k is just the image at offset koff[k] = (ci*H + kh)*W + kw, read in
 * place by the GEMM; the columns ow >= w_out are junk (they wrap into the next row) and dropped.
 * Nw = (h_out-1)*W + w_out positions keep every read inside the image. Each kept output is still the
 * chain bias, fma over k in order with the same operands as through im2col, so the bits are those
 * of the im2col path. */
typedef struct conv_geom {
    int H, W;     /* the (padded) image */
    int Nw;       /* wide positions */
    size_t plane; /* c_in*H*W: one padded image */
} conv_geom;

static conv_geom conv_geometry(const cd_conv_shape *s)
{
    conv_geom g;
    g.H = s->h_in + 2 * s->pad;
    g.W = s->w_in + 2 * s->pad;
    g.Nw = (s->h_out - 1) * g.W + s->w_out;
    g.plane = (size_t)s->c_in * g.H * g.W;
    return g;
}

static int plan_pointwise(const cd_conv_shape *s)
{
    return s->k_h == 1 && s->k_w == 1 && s->stride == 1 && s->pad == 0;
}

/* Shapes a direct path can take at all: stride 1, koff on the stack, and not pointwise (which needs
 * no offsets: the image is already the GEMM operand). */
static int plan_direct_possible(const cd_conv_shape *s)
{
    return s->stride == 1 && !plan_pointwise(s) && s->c_in * s->k_h * s->k_w <= WIDE_KMAX;
}

/* The direct path pays (Nw - P)/P extra multiply-adds to skip an im2col pass (plus, for
 * backward_weights, its second read) that costs about as much as WIDE_F/c_out of the GEMM. */
static int plan_forward_direct(const cd_conv_shape *s)
{
    if (!plan_direct_possible(s)) return 0;
    const conv_geom g = conv_geometry(s);
    const long P = (long)s->h_out * s->w_out;
    return (long)(g.Nw - P) * s->c_out <= WIDE_F * P;
}

/* Weight gradients through the wgrad GEMM (register-blocked over c_out vectors). */
static int plan_weights_wgrad(const cd_conv_shape *s)
{
    (void)s;
    return 1;
}

/* Whether backward_weights reads the image in place (wide positions). The wgrad GEMM makes the GEMM
 * cheaper than the dot GEMM, so skipping im2col pays up to more junk than the forward allows. */
static int plan_weights_direct(const cd_conv_shape *s)
{
    if (!plan_weights_wgrad(s)) return plan_forward_direct(s);
    if (!plan_direct_possible(s)) return 0;
    const long P = (long)s->h_out * s->w_out;
    return (long)WGRAD_DIRECT_JUNK_DIV * (conv_geometry(s).Nw - P) <= P;
}

/* Weight gradients of every stride-1 shape the direct paths can take read the (padded) image in
 * place output row by output row (the wgrad GEMM's sample loop run over rows): no junk positions
 * (direct-wgrad's (Nw - P)/P: 14% for seed conv1, 12-22% for the exercise convs) and no im2col
 * pass (im2col-wgrad, seed conv2). Same operands in the same order as either, hence their bits. */
static int plan_weights_rows(const cd_conv_shape *s)
{
    return plan_direct_possible(s);
}

/* The input gradient of a stride-1 "same" convolution (2*pad == k-1, square kernel) is itself a
 * same convolution: of dy, c_out -> c_in channels, with the kernel flipped and its channel axes
 * swapped. On the direct forward path (dy read in place) it skips the column buffer and the col2im
 * pass over it; each dx element is one fma chain over (co, kh, kw), fixed by the shape. Other
 * shapes would multiply more padding zeros than they save. */
static cd_conv_shape data_conv_shape(const cd_conv_shape *s)
{
    cd_conv_shape t = *s;
    t.c_in = s->c_out, t.h_in = s->h_out, t.w_in = s->w_out;
    t.c_out = s->c_in, t.h_out = s->h_in, t.w_out = s->w_in;
    return t;
}

/* Only where that convolution is direct and its vectors are mostly real outputs: per sample it
 * computes Nw wide positions rounded up to whole vectors, where the GEMM + col2im path fills
 * vectors with a group of samples side by side. (It then runs on the rows path where that one
 * takes the shape: the same outputs without direct's copy-out. Through rows, ex3's transposed conv,
 * 64 -> 32 on 7x7, fills 87.5% of its lanes but measured no faster than col2im, 214 against 208 us;
 * so the choice stays the direct path's.) */
static int plan_data_as_conv(const cd_conv_shape *s)
{
    if (s->stride != 1 || s->k_h != s->k_w || 2 * s->pad != s->k_h - 1 || plan_pointwise(s)) return 0;
    const cd_conv_shape t = data_conv_shape(s);
    if (!plan_forward_direct(&t)) return 0;
    const long lanes = ((long)conv_geometry(&t).Nw + VL - 1) / VL * VL;
    return (long)AS_CONV_FILL_DEN * t.h_out * t.w_out >= AS_CONV_FILL_NUM * lanes;
}

/* Output rows as vectors: every vector of the output is up to VL consecutive image positions, so
 * the GEMM reads the (padded) image in place with no im2col pass and no unpacking of y. Rows of
 * whole vectors (seed conv1's 24 and conv2's 8 with AVX2) have no junk lanes: nothing the other
 * forward paths do is cheaper. A ragged row (the exercise net's 28, 14 and 7) pays its last
 * vector's junk lanes, VL - w_out % VL per row, while they stay within 1 / ROWS_RAGGED_JUNK_DIV of
 * the real ones, and only with padding: reading whole vectors runs up to VL - 1 floats past the
 * image, which the padded copy has room for and the caller's x does not. */
#define ROWS_RAGGED_JUNK_DIV 4

static int plan_forward_rows(const cd_conv_shape *s)
{
    if (!plan_direct_possible(s)) return 0;
    if (s->w_out % VL == 0) return 1;
    const int junk = VL - s->w_out % VL;
    return s->pad > 0 && ROWS_RAGGED_JUNK_DIV * junk <= s->w_out;
}

static void simd_conv_plan(const cd_conv_shape *s, cd_conv_plan *plan)
{
    plan->forward = plan_forward_rows(s)     ? CD_CONV_ROWS
                    : plan_forward_direct(s) ? CD_CONV_DIRECT
                    : plan_pointwise(s)      ? CD_CONV_POINTWISE
                                             : CD_CONV_IM2COL;
    plan->backward_data = plan_data_as_conv(s)  ? CD_CONV_DATA_AS_CONV
                          : plan_pointwise(s) ? CD_CONV_POINTWISE
                                              : CD_CONV_COL2IM;
    if (plan_weights_rows(s))
        plan->backward_weights = CD_CONV_ROWS_WGRAD;
    else if (plan_weights_direct(s))
        plan->backward_weights = plan_weights_wgrad(s) ? CD_CONV_DIRECT_WGRAD : CD_CONV_DIRECT_DOT;
    else if (plan_pointwise(s))
        plan->backward_weights = CD_CONV_POINTWISE;
    else
        plan->backward_weights = plan_weights_wgrad(s) ? CD_CONV_IM2COL_WGRAD : CD_CONV_IM2COL_DOT;
}

#endif
