/* Turns loaded uint8 rows into the normalised float batch the model consumes. */
#include <stddef.h>

#include "cnn_ddp/data.h"

/* Each channel's 256-entry table (cd_data_set_norm) holds the same float expression as the definition
 * ((p/255 - mean)/std), so results are bit-identical to evaluating it per pixel. */
static void convert_row(const cd_dataset *d, const uint8_t *src, float *dst, size_t hw)
{
    const int channels = d->channels > 0 ? d->channels : 1;
    for (int c = 0; c < channels; c++, src += hw, dst += hw) {
        if (d->norm) {
            const float *table = d->norm + (size_t)c * 256;
            for (size_t k = 0; k < hw; k++) dst[k] = table[src[k]];
        } else {
            for (size_t k = 0; k < hw; k++) dst[k] = (float)src[k] / 255.0f;
        }
    }
}

static size_t row_pixels(const cd_dataset *d)
{
    return (size_t)(d->channels > 0 ? d->channels : 1) * (size_t)d->height * (size_t)d->width;
}

void cd_data_gather(const cd_dataset *data, const uint32_t *rows, int n, float *out, uint8_t *labels_out)
{
    const size_t hw = (size_t)data->height * (size_t)data->width, px = row_pixels(data);
    for (int i = 0; i < n; i++) {
        size_t row = rows[i];
        if (out) convert_row(data, data->images + row * px, out + (size_t)i * px, hw);
        if (labels_out) labels_out[i] = data->labels[row];
    }
}

void cd_data_gather_range(const cd_dataset *data, int64_t first, int n, float *out, uint8_t *labels_out)
{
    const size_t hw = (size_t)data->height * (size_t)data->width, px = row_pixels(data);
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)first + (size_t)i;
        if (out) convert_row(data, data->images + row * px, out + (size_t)i * px, hw);
        if (labels_out) labels_out[i] = data->labels[row];
    }
}
