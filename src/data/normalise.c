/* The input normalisation: per channel (pixel/255 - mean) / std, with mean and std from the data file's
 * attributes or computed from exact integer sums over the training rows (so every rank count gets the
 * same doubles), and their text form in checkpoints. */
#include "cnn_ddp/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cd_status cd_data_set_norm(cd_dataset *d, const double *mean, const double *std, cd_error *err)
{
    const int channels = d->channels > 0 ? d->channels : 1;
    cd_free(d->norm);
    d->norm = NULL;
    CD_ALLOC(err, d->norm, (size_t)channels * 256);
    for (int c = 0; c < channels; c++) {
        const float m = (float)mean[c], s = (float)std[c];
        for (int p = 0; p < 256; p++) d->norm[c * 256 + p] = ((float)p / 255.0f - m) / s;
    }
    return CD_OK;
}

void cd_data_pixel_sums(const cd_dataset *d, int64_t first, int64_t n, int64_t *sums)
{
    const int channels = d->channels > 0 ? d->channels : 1;
    const size_t hw = (size_t)d->height * (size_t)d->width;
    for (int c = 0; c < channels; c++) sums[2 * c] = sums[2 * c + 1] = 0;
    for (int64_t r = first; r < first + n; r++) {
        const uint8_t *px = d->images + (size_t)r * (size_t)channels * hw;
        for (int c = 0; c < channels; c++, px += hw) {
            uint64_t s = 0, q = 0;
            for (size_t k = 0; k < hw; k++) {
                s += px[k];
                q += (uint64_t)px[k] * px[k];
            }
            sums[2 * c] += (int64_t)s;
            sums[2 * c + 1] += (int64_t)q;
        }
    }
}

cd_status cd_data_norm_from_sums(const int64_t *sums, int channels, int64_t rows, int64_t hw, const char *path,
                                 double *mean, double *std, cd_error *err)
{
    const double n = (double)rows * (double)hw;
    for (int c = 0; c < channels; c++) {
        const double m = (double)sums[2 * c] / n;
        double var = (double)sums[2 * c + 1] / n - m * m;
        if (var < 0) var = 0;
        mean[c] = m / 255.0;
        std[c] = sqrt(var) / 255.0;
        if (!(std[c] > 0))
            return CD_FAIL(err, CD_E_INPUT, "%s: /train/images: channel %d is constant over the %lld training rows "
                           "(every pixel %.0f), so it has no standard deviation to normalise by", path, c,
                           (long long)rows, m);
    }
    return CD_OK;
}

void cd_data_norm_format(const double *v, int channels, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int c = 0; c < channels && used < cap; c++) {
        int w = snprintf(out + used, cap - used, "%s%.17g", c ? "," : "", v[c]);
        if (w < 0) return;
        used += (size_t)w;
    }
}

int cd_data_norm_parse(const char *text, double *v, int max)
{
    int n = 0;
    const char *p = text;
    if (!*p) return 0;
    for (;;) {
        char *end;
        double x = strtod(p, &end);
        if (end == p || n == max) return -1;
        v[n++] = x;
        if (*end == '\0') return n;
        if (*end != ',') return -1;
        p = end + 1;
    }
}
