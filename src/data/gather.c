/* Turns loaded uint8 rows into the normalised float batch the model consumes. */
#include <stddef.h>

#include "cnn_ddp/data.h"

/* A 256-entry table computes each pixel value once per call with the same float expression as the
 * definition ((p/255 - mean)/std), so results are bit-identical to evaluating it per pixel. */
static void norm_table(float table[256])
{
    for (int p = 0; p < 256; p++) table[p] = ((float)p / 255.0f - CD_NORM_MEAN) / CD_NORM_STD;
}

static void convert_row(const float table[256], const uint8_t *src, float *dst, size_t hw)
{
    for (size_t k = 0; k < hw; k++) dst[k] = table[src[k]];
}

void cd_data_gather(const cd_dataset *data, const uint32_t *rows, int n, float *out, uint8_t *labels_out)
{
    float table[256];
    norm_table(table);
    size_t hw = (size_t)data->height * (size_t)data->width;
    for (int i = 0; i < n; i++) {
        size_t row = rows[i];
        if (out) convert_row(table, data->images + row * hw, out + (size_t)i * hw, hw);
        if (labels_out) labels_out[i] = data->labels[row];
    }
}

void cd_data_gather_range(const cd_dataset *data, int64_t first, int n, float *out, uint8_t *labels_out)
{
    float table[256];
    norm_table(table);
    size_t hw = (size_t)data->height * (size_t)data->width;
    for (int i = 0; i < n; i++) {
        size_t row = (size_t)first + (size_t)i;
        if (out) convert_row(table, data->images + row * hw, out + (size_t)i * hw, hw);
        if (labels_out) labels_out[i] = data->labels[row];
    }
}
