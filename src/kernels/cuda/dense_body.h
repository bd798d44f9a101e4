/* ReLU and linear element bodies (see hd.h). */
#ifndef CD_CUDA_DENSE_BODY_H
#define CD_CUDA_DENSE_BODY_H

#include "hd.h"

CD_HD float cd_body_relu_forward(float x) { return x < 0.0f ? 0.0f : x; }
CD_HD float cd_body_relu_backward(float y, float dy) { return y > 0.0f ? dy : 0.0f; }

/* y[i], i over [n][out] */
CD_HD float cd_body_linear_forward(cd_linear_shape s, const float *x, const float *w, const float *b, size_t i)
{
    int o = (int)(i % (size_t)s.out);
    size_t n = i / (size_t)s.out;
    float acc = 0.0f;
    for (int k = 0; k < s.in; k++) acc += x[n * s.in + k] * w[(size_t)o * s.in + k];
    return acc + b[o];
}

/* dx[i], i over [n][in] */
CD_HD float cd_body_linear_backward_data(cd_linear_shape s, const float *dy, const float *w, size_t i)
{
    int k = (int)(i % (size_t)s.in);
    size_t n = i / (size_t)s.in;
    float acc = 0.0f;
    for (int o = 0; o < s.out; o++) acc += dy[n * s.out + o] * w[(size_t)o * s.in + k];
    return acc;
}

/* dw[i], i over [out][in], summed over the s.n samples */
CD_HD float cd_body_linear_backward_weight(cd_linear_shape s, const float *x, const float *dy, size_t i)
{
    int k = (int)(i % (size_t)s.in);
    int o = (int)(i / (size_t)s.in);
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++) acc += dy[(size_t)n * s.out + o] * x[(size_t)n * s.in + k];
    return acc;
}

CD_HD float cd_body_linear_backward_bias(cd_linear_shape s, const float *dy, int o)
{
    float acc = 0.0f;
    for (int n = 0; n < s.n; n++) acc += dy[(size_t)n * s.out + o];
    return acc;
}

#endif
