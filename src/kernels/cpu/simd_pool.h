/* Max pooling: 2x2 stride-2 windows row by row (or, for narrow planes, as one flat gathered
 * sequence), any other window by the scalar loops; the 2x2 backward pass without a memset.
 * Part of simd_body.h, which includes it after the vocabulary and the shared helpers. */
#ifndef CD_SIMD_POOL_H
#define CD_SIMD_POOL_H

/* Max of a 2x2 window in the reference's order: x00 seeds it, a later element wins only if strictly
 * greater (the first maximum on ties); g1..g3 say which of x01, x10, x11 won, for the arg-max. */
static inline vf pool2_max4(vf x00, vf x01, vf x10, vf x11, vm *g1, vm *g2, vm *g3)
{
    vf best = x00;
    *g1 = v_cmpgt(x01, best);
    best = v_blend(best, x01, *g1);
    *g2 = v_cmpgt(x10, best);
    best = v_blend(best, x10, *g2);
    *g3 = v_cmpgt(x11, best);
    return v_blend(best, x11, *g3);
}

/* One output row of the 2x2 stride-2 window: VL outputs at a time from two input rows, split into
 * even/odd columns by permutes. The compare order is the scalar one (x00 seeds; x01, x10, x11 win
 * only when strictly greater, so ties and NaNs go the same way); `code` records which of the four
 * won as its offset from x00. */
static void pool2_row(const float *r0, int w_in, int w_out, float *y, int32_t *am, int32_t base, size_t room)
{
    /* room: outputs after this row that are written later (y and am alike): a ragged last vector is
     * stored whole when it fits, its extra lanes rewritten by the next row (masked stores are slow) */
    const vint iota2 = vi_iota2(), c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    const float *r1 = r0 + w_in;
    for (int ow0 = 0; ow0 < w_out; ow0 += VL) {
        const int c = imin(VL, w_out - ow0);
        vf a0, a1, b0, b1;
        if (c == VL) {
            a0 = v_load(r0 + 2 * ow0), a1 = v_load(r0 + 2 * ow0 + VL);
            b0 = v_load(r1 + 2 * ow0), b1 = v_load(r1 + 2 * ow0 + VL);
        } else {
            const vm m0 = v_mask(imin(2 * c, VL)), m1 = v_mask(imax(0, 2 * c - VL));
            a0 = v_loadm(r0 + 2 * ow0, m0), a1 = v_loadm(r0 + 2 * ow0 + VL, m1);
            b0 = v_loadm(r1 + 2 * ow0, m0), b1 = v_loadm(r1 + 2 * ow0 + VL, m1);
        }
        vf x00, x01, x10, x11;
        v_deinterleave(a0, a1, &x00, &x01);
        v_deinterleave(b0, b1, &x10, &x11);
        vm g1, g2, g3;
        const vf best = pool2_max4(x00, x01, x10, x11, &g1, &g2, &g3);
        const vm out = v_mask(c);
        const int whole = c == VL || room >= (size_t)(VL - c);
        if (whole)
            v_store(y + ow0, best);
        else
            v_storem(y + ow0, out, best);
        if (am) {
            vint code = vi_blend(vi_blend(vi_blend(vi_set1(0), c1, g1), cw, g2), cw1, g3);
            const vint a = vi_add(vi_add(vi_set1(base + 2 * ow0), iota2), code);
            if (whole)
                vi_store(am + ow0, a);
            else
                vi_storem(am + ow0, out, a);
        }
    }
}

/* Narrow planes (w_out <= VL/4, like 7x7 -> 3x3 on AVX-512): row by row would fill a quarter of
 * the lanes or less, so all planes' outputs are taken as one flat sequence, VL at a time, each lane
 * gathering its window's two row pairs through a table of x00 offsets. The table repeats every
 * lcm(out_plane, VL) outputs, shifted by whole input planes. Same compare order as pool2_row.
 * Taken where pool2_flat_ok (simd_plan.h). */
static void pool2_flat_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const int out_plane = s->h_out * s->w_out, in_plane = s->h_in * s->w_in, w_in = s->w_in;
    int period = out_plane; /* lcm(out_plane, VL): VL is a power of two */
    while (period % VL) period *= 2;
    int32_t tab[POOL2_FLAT_MAX_PLANE * VL];
    for (int i = 0; i < period; i++) {
        const int o = i % out_plane;
        tab[i] = (i / out_plane) * in_plane + 2 * (o / s->w_out) * w_in + 2 * (o % s->w_out);
    }
    const int32_t shift = (period / out_plane) * in_plane;
    const size_t ny = (size_t)s->n * s->c * out_plane;
    const vint c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    int t = 0;
    int32_t base = 0;
    for (size_t i = 0; i < ny; i += VL) {
        const int c = ny - i < (size_t)VL ? (int)(ny - i) : VL;
        const vm out = c < VL ? v_mask(c) : v_mask(1); /* used only when c < VL */
        vint off = vi_add(vi_load(tab + t), vi_set1(base));
        /* lanes past the end read the first window instead (in bounds), their results dropped */
        if (c < VL) off = vi_blend(vi_set1(0), off, out);
        vf a0, a1, b0, b1, x00, x01, x10, x11;
        v_gather_pairs(x, off, &a0, &a1);
        v_gather_pairs(x + w_in, off, &b0, &b1);
        v_deinterleave(a0, a1, &x00, &x01);
        v_deinterleave(b0, b1, &x10, &x11);
        vm g1, g2, g3;
        const vf best = pool2_max4(x00, x01, x10, x11, &g1, &g2, &g3);
        if (c == VL)
            v_store(y + i, best);
        else
            v_storem(y + i, out, best);
        if (argmax) {
            const vint code = vi_blend(vi_blend(vi_blend(vi_set1(0), c1, g1), cw, g2), cw1, g3);
            if (c == VL)
                vi_store(argmax + i, vi_add(off, code));
            else
                vi_storem(argmax + i, out, vi_add(off, code));
        }
        t += VL;
        if (t == period) t = 0, base += shift;
    }
}

/* Rows of a multiple of VL/2 outputs that are not whole vectors (12 on AVX2: seed pool1 24x24 ->
 * 12x12; 8 on AVX-512): row by row they would end in a masked half vector. All planes' output rows
 * instead run as one flat sequence, VL outputs a vector, each half of a vector (VL/2 outputs) inside
 * one output row, so its 2x2 windows are one whole input vector per input row: two full loads per
 * input row and one full store per output vector, no masks, no gathers. Same compare order as
 * pool2_row, hence the same values and arg-max. Taken where pool2_halves_ok (simd_plan.h). */
/* The flat output order walked half a vector at a time: the top-left input offset of the next half's
 * first window, by counting rows and planes (two divisions per half vector cost more than the
 * window's compares: the forward ran at 3 G elements/s). */
typedef struct pool2_halves {
    int w_in, w_out, h_out, ow, oh;
    size_t in_plane, plane_x00, x00;
} pool2_halves;

static inline size_t pool2_halves_next(pool2_halves *h)
{
    const size_t here = h->x00;
    h->ow += VL / 2;
    h->x00 += VL;
    if (h->ow == h->w_out) {
        h->ow = 0;
        if (++h->oh == h->h_out) {
            h->oh = 0;
            h->plane_x00 += h->in_plane;
            h->x00 = h->plane_x00;
        } else {
            h->x00 = h->plane_x00 + 2 * (size_t)h->oh * h->w_in;
        }
    }
    return here;
}

static void pool2_halves_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    pool2_halves h = {s->w_in, s->w_out, s->h_out, 0, 0, (size_t)s->h_in * s->w_in, 0, 0};
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out; /* a multiple of VL/2 */
    const int w_in = s->w_in;
    const vint c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    const vm upper = v_mask_range(VL / 2, VL);
    /* lane l's offset from its half's x00: 2l, 2(l - VL/2) */
    const vint lane2 = vi_sub(vi_iota2(), vi_blend(vi_set1(0), vi_set1(VL), upper));
    for (size_t o = 0; o < ny; o += VL) {
        const size_t lo = pool2_halves_next(&h);
        const int whole = ny - o >= (size_t)VL;
        const size_t hi = whole ? pool2_halves_next(&h) : lo; /* a last half alone: lanes dropped */
        vf x00, x01, x10, x11;
        v_deinterleave(v_load(x + lo), v_load(x + hi), &x00, &x01);
        v_deinterleave(v_load(x + lo + w_in), v_load(x + hi + w_in), &x10, &x11);
        vm g1, g2, g3;
        const vf best = pool2_max4(x00, x01, x10, x11, &g1, &g2, &g3);
        const vm half = v_mask(VL / 2);
        if (whole)
            v_store(y + o, best);
        else
            v_storem(y + o, half, best);
        if (argmax) {
            const vint base = vi_add(vi_blend(vi_set1((int32_t)lo), vi_set1((int32_t)hi), upper), lane2);
            const vint code = vi_blend(vi_blend(vi_blend(vi_set1(0), c1, g1), cw, g2), cw1, g3);
            if (whole)
                vi_store(argmax + o, vi_add(base, code));
            else
                vi_storem(argmax + o, half, vi_add(base, code));
        }
    }
}

/* argmax == NULL: inference, only the values are wanted. */
static void simd_pool_forward(const cd_pool_shape *s, const float *x, float *y, int32_t *argmax)
{
    const size_t planes = (size_t)s->n * s->c, in_plane = (size_t)s->h_in * s->w_in;
    const size_t out_plane = (size_t)s->h_out * s->w_out;
    if (pool2_flat_ok(s)) {
        pool2_flat_forward(s, x, y, argmax);
        return;
    }
    if (pool2_halves_ok(s)) {
        pool2_halves_forward(s, x, y, argmax);
        return;
    }
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in_plane;
        float *yp = y + pl * out_plane;
        int32_t *ap = argmax ? argmax + pl * out_plane : NULL;
        if (s->k == 2 && s->stride == 2) {
            for (int oh = 0; oh < s->h_out; oh++)
                pool2_row(xp + (size_t)2 * oh * s->w_in, s->w_in, s->w_out, yp + oh * s->w_out,
                          ap ? ap + oh * s->w_out : NULL, (int32_t)(pl * in_plane) + 2 * oh * s->w_in,
                          (planes - pl) * out_plane - (size_t)(oh + 1) * s->w_out);
            continue;
        }
        for (int oh = 0; oh < s->h_out; oh++) {
            float *yr = yp + oh * s->w_out;
            /* window row 0, column 0 seeds; strict '>' afterwards keeps the first of equals */
            const int r0 = oh * s->stride;
            for (int ow = 0; ow < s->w_out; ow++) yr[ow] = xp[r0 * s->w_in + ow * s->stride];
            if (!ap) {
                for (int kh = 0; kh < s->k; kh++)
                    for (int kw = 0; kw < s->k; kw++) {
                        const float *xr = xp + (r0 + kh) * s->w_in + kw;
                        for (int ow = 0; ow < s->w_out; ow++) {
                            const float v = xr[ow * s->stride];
                            yr[ow] = v > yr[ow] ? v : yr[ow];
                        }
                    }
                continue;
            }
            int32_t *ar = ap + oh * s->w_out;
            for (int ow = 0; ow < s->w_out; ow++) ar[ow] = r0 * s->w_in + ow * s->stride;
            for (int kh = 0; kh < s->k; kh++)
                for (int kw = 0; kw < s->k; kw++) {
                    if (kh == 0 && kw == 0) continue;
                    const int rowoff = (r0 + kh) * s->w_in + kw;
                    for (int ow = 0; ow < s->w_out; ow++) {
                        const int i = rowoff + ow * s->stride;
                        const float v = xp[i];
                        const int gt = v > yr[ow];
                        yr[ow] = gt ? v : yr[ow];
                        ar[ow] = gt ? i : ar[ow];
                    }
                }
            for (int ow = 0; ow < s->w_out; ow++) ar[ow] += (int32_t)(pl * in_plane);
        }
    }
}

/* Backward of a 2x2 window: each lane's gradient g goes to the window position its argmax code names
 * (0, 1, w_in, w_in + 1 from the window's top-left; cw = w_in), as the interleaved top-row (lo0, hi0)
 * and bottom-row (lo1, hi1) vectors, zeros elsewhere (0 + g, as the scalar scatter adds it). Returns 0
 * if a lane of m names no position of its own window. */
static inline int pool2_route(vint code, vf g, vm m, vint c1, vint cw, vint cw1, vf *lo0, vf *hi0, vf *lo1,
                              vf *hi1)
{
    const vf z = v_zero();
    const vm e0 = vi_cmpeq(code, vi_set1(0)), e1 = vi_cmpeq(code, c1);
    const vm e2 = vi_cmpeq(code, cw), e3 = vi_cmpeq(code, cw1);
    if (!vm_covers(vm_or(vm_or(e0, e1), vm_or(e2, e3)), m)) return 0;
    v_interleave(v_add(z, v_keep(g, e0)), v_add(z, v_keep(g, e1)), lo0, hi0);
    v_interleave(v_add(z, v_keep(g, e2)), v_add(z, v_keep(g, e3)), lo1, hi1);
    return 1;
}

/* 2x2 stride 2 (windows do not overlap): every dx element is written once, as +0 + dy where its
 * window's argmax points at it and +0 elsewhere (the scalar memset-then-add gives exactly these
 * bits, -0 included), so no memset pass. Returns 0, having written garbage, if some argmax is not
 * inside its own window (not from pool_forward): the caller then takes the general path. */
static int pool2_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    const size_t planes = (size_t)s->n * s->c, in_plane = (size_t)s->h_in * s->w_in;
    const size_t out_plane = (size_t)s->h_out * s->w_out;
    const int w_in = s->w_in, w_out = s->w_out;
    const vint iota2 = vi_iota2(), c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    for (size_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * in_plane;
        for (int oh = 0; oh < s->h_out; oh++) {
            float *r0 = xp + (size_t)2 * oh * w_in, *r1 = r0 + w_in;
            const float *dyr = dy + pl * out_plane + (size_t)oh * w_out;
            const int32_t *ar = argmax + pl * out_plane + (size_t)oh * w_out;
            const int32_t base = (int32_t)(pl * in_plane) + 2 * oh * w_in;
            /* floats after r1's end that are written later (the next rows, or zeroed below) */
            const size_t room = (planes - pl) * in_plane - (size_t)(2 * oh + 2) * w_in;
            /* last chunk first: a ragged one is stored whole when it fits, its extra floats (onto
             * r0's odd column and r1's start, r1's onto the next row) rewritten by the chunks
             * and rows after it (masked stores are slow) */
            for (int ow0 = (w_out - 1) / VL * VL; ow0 >= 0; ow0 -= VL) {
                const int c = imin(VL, w_out - ow0);
                const vm m = v_mask(c);
                const vint code = vi_sub(vi_loadm(ar + ow0, m), vi_add(vi_set1(base + 2 * ow0), iota2));
                const vf g = v_loadm(dyr + ow0, m);
                vf lo0, hi0, lo1, hi1;
                if (!pool2_route(code, g, m, c1, cw, cw1, &lo0, &hi0, &lo1, &hi1)) return 0;
                if (c == VL || room >= (size_t)(2 * (VL - c))) {
                    v_store(r0 + 2 * ow0, lo0), v_store(r0 + 2 * ow0 + VL, hi0);
                    v_store(r1 + 2 * ow0, lo1), v_store(r1 + 2 * ow0 + VL, hi1);
                } else {
                    const vm m0 = v_mask(imin(2 * c, VL)), m1 = v_mask(imax(0, 2 * c - VL));
                    v_storem(r0 + 2 * ow0, m0, lo0), v_storem(r0 + 2 * ow0 + VL, m1, hi0);
                    v_storem(r1 + 2 * ow0, m0, lo1), v_storem(r1 + 2 * ow0 + VL, m1, hi1);
                }
            }
            /* an odd last column belongs to no window */
            for (int iw = 2 * w_out; iw < w_in; iw++) r0[iw] = r1[iw] = 0.0f;
        }
        /* likewise an odd last row */
        for (size_t i = (size_t)2 * s->h_out * w_in; i < in_plane; i++) xp[i] = 0.0f;
    }
    return 1;
}

/* The backward pass over the same flat halves (w_in == 2 w_out and h_in == 2 h_out: every dx element
 * lies in one window, so each is written once, as pool2_backward writes it). Returns 0, having
 * written garbage, if some argmax is not inside its own window. */
static int pool2_halves_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    pool2_halves h = {s->w_in, s->w_out, s->h_out, 0, 0, (size_t)s->h_in * s->w_in, 0, 0};
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out;
    const int w_in = s->w_in;
    const vint c1 = vi_set1(1), cw = vi_set1(w_in), cw1 = vi_set1(w_in + 1);
    const vm upper = v_mask_range(VL / 2, VL), all = v_mask(VL);
    const vint lane2 = vi_sub(vi_iota2(), vi_blend(vi_set1(0), vi_set1(VL), upper));
    for (size_t o = 0; o < ny; o += VL) {
        const size_t lo = pool2_halves_next(&h);
        const int whole = ny - o >= (size_t)VL;
        const size_t hi = whole ? pool2_halves_next(&h) : lo;
        const vm m = whole ? all : v_mask(VL / 2);
        const vint base = vi_add(vi_blend(vi_set1((int32_t)lo), vi_set1((int32_t)hi), upper), lane2);
        const vint code = vi_sub(whole ? vi_load(argmax + o) : vi_loadm(argmax + o, m), base);
        const vf g = whole ? v_load(dy + o) : v_loadm(dy + o, m);
        vf lo0, hi0, lo1, hi1;
        if (!pool2_route(code, g, m, c1, cw, cw1, &lo0, &hi0, &lo1, &hi1)) return 0;
        v_store(dx + lo, lo0), v_store(dx + lo + w_in, lo1);
        if (whole) v_store(dx + hi, hi0), v_store(dx + hi + w_in, hi1);
    }
    return 1;
}

static void simd_pool_backward(const cd_pool_shape *s, const float *dy, const int32_t *argmax, float *dx)
{
    /* narrow rows (pool2_rows_backward_ok, simd_plan.h) take the memset-and-add loop below */
    if (pool2_halves_backward_ok(s) && pool2_halves_backward(s, dy, argmax, dx)) return;
    if (pool2_rows_backward_ok(s) && pool2_backward(s, dy, argmax, dx)) return;
    const size_t nx = (size_t)s->n * s->c * s->h_in * s->w_in;
    const size_t ny = (size_t)s->n * s->c * s->h_out * s->w_out;
    memset(dx, 0, sizeof(float) * nx);
    for (size_t i = 0; i < ny; i++) dx[argmax[i]] += dy[i];
}

#endif
