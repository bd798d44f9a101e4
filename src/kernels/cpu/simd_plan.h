/* Which formulation each conv op takes for a shape, and every threshold behind that choice.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_PLAN_H
#define CD_SIMD_PLAN_H

/* Samples whose positions the conv GEMMs take side by side as one N (a ragged P like 7x7 = 49 then
 * still fills whole vectors): bounds the workspace, keeps the packs in L2. */
#define CONV_GROUP 8

static int conv_is_pointwise(const cd_conv_shape *s)
{
    return s->k_h == 1 && s->k_w == 1 && s->stride == 1 && s->pad == 0;
}

/* Padded images and the direct ("wide") convolution. Stride-1 convolutions with padding run on a
 * zero-padded copy of the image (H x W), which turns them into valid ones. A valid stride-1 convolution needs no im2col at all when its output is
 * computed "wide": at q = oh*W + ow for every ow < W, so that im2col row k is just the image at
 * offset koff[k] = (ci*H + kh)*W + kw, read in place by the GEMM; the columns ow >= w_out are
 * junk (they wrap into the next row) and dropped. Nw = (h_out-1)*W + w_out positions keep every
 * read inside the image. Each kept output is still the chain bias, fma over k in order with the
 * same operands as through im2col, so the bits are those of the im2col path. */

typedef struct conv_geom {
    int H, W;     /* the (padded) image */
    int Nw;       /* wide positions */
    size_t plane; /* c_in*H*W: one padded image */
} conv_geom;

#define WIDE_F 8
#define WIDE_KMAX 1600 /* koff lives on the stack */

static conv_geom conv_geometry(const cd_conv_shape *s)
{
    conv_geom g;
    g.H = s->h_in + 2 * s->pad;
    g.W = s->w_in + 2 * s->pad;
    g.Nw = (s->h_out - 1) * g.W + s->w_out;
    g.plane = (size_t)s->c_in * g.H * g.W;
    return g;
}

/* Wide pays (Nw - P)/P extra multiply-adds to skip an im2col pass (plus, for backward_weights,
 * its second read) that costs about as much as 8/c_out of the GEMM. Measured with AVX-512: wide
 * wins for conv1 1->10 28x28 k5, ex1 1->16 28x28 k3p1 and ex2 16->32 14x14 k3p1, loses for
 * conv2 10->20 12x12 k5 and ex3 32->64 7x7 k3p1. */
static int conv_use_wide(const cd_conv_shape *s)
{
    if (s->stride != 1 || conv_is_pointwise(s) || s->c_in * s->k_h * s->k_w > WIDE_KMAX) return 0;
    const conv_geom g = conv_geometry(s);
    const long P = (long)s->h_out * s->w_out;
    return (long)(g.Nw - P) * s->c_out <= WIDE_F * P;
}

/* Output channels rounded up to whole vectors: the rows of the transposed dy and dw. */
static int conv_cv(const cd_conv_shape *s) { return (s->c_out + VL - 1) / VL * VL; }

/* Weight gradients through gemm_wgrad (dy transposed, register-blocked) where c_out fills two or
 * more whole vectors; with fewer the blocks are too thin and the dot GEMM (lane sums per output)
 * measured faster (AVX-512: conv1 c_out 10, conv2 20, ex1 16 keep it; ex2 32 and ex3 64 gain). */
static int conv_wgrad_bcast(const cd_conv_shape *s) { return s->c_out % VL == 0 && s->c_out >= 2 * VL; }

/* Whether backward_weights reads the image in place (wide positions). gemm_wgrad makes the GEMM
 * cheaper than the dot GEMM, so skipping im2col pays up to more junk columns than conv_use_wide
 * allows: measured with AVX-512, ex3 32->64 7x7 k3p1 (24% junk) gains ~8%. */
static int conv_weights_use_wide(const cd_conv_shape *s)
{
    if (!conv_wgrad_bcast(s)) return conv_use_wide(s);
    if (s->stride != 1 || conv_is_pointwise(s) || s->c_in * s->k_h * s->k_w > WIDE_KMAX) return 0;
    const long P = (long)s->h_out * s->w_out;
    return 3L * (conv_geometry(s).Nw - P) <= P;
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

/* Only where the direct path's vectors are mostly real outputs: per sample it computes Nw wide
 * positions rounded up to whole vectors, where the GEMM + col2im path fills vectors with a group
 * of samples side by side. Measured with AVX-512: wins for ex2's 14x14 (196 of 224 lanes), loses
 * for ex3's 7x7 (49 of 64) and through im2col. */
static int conv_data_as_conv(const cd_conv_shape *s)
{
    if (s->stride != 1 || s->k_h != s->k_w || 2 * s->pad != s->k_h - 1 || conv_is_pointwise(s)) return 0;
    const cd_conv_shape t = data_conv_shape(s);
    if (!conv_use_wide(&t)) return 0;
    const long lanes = ((long)conv_geometry(&t).Nw + VL - 1) / VL * VL;
    return 6L * t.h_out * t.w_out >= 5 * lanes;
}

#endif
