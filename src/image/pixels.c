/* Caller images <-> NHWC float tensors, with the size padding and the output head. */
#include "image/pixels.h"
#include "dnn/layers.h"

#include <math.h>

float pixels_read_sample(const unsigned char *row, int32_t index, style_sample_type type)
{
    switch (type) {
    case STYLE_SAMPLE_U8: return (float)row[index];
    case STYLE_SAMPLE_U16: return (float)((const uint16_t *)row)[index] * (255.0f / 65535.0f);
    case STYLE_SAMPLE_F32: return ((const float *)row)[index];
    }
    return 0.0f;
}

/* value in 0..255 (already clamped). */
void pixels_write_sample(unsigned char *row, int32_t index, style_sample_type type, float value)
{
    switch (type) {
    case STYLE_SAMPLE_U8: row[index] = (unsigned char)(value + 0.5f); break;
    case STYLE_SAMPLE_U16:
        ((uint16_t *)row)[index] = (uint16_t)(value * (65535.0f / 255.0f) + 0.5f);
        break;
    case STYLE_SAMPLE_F32: ((float *)row)[index] = value; break;
    }
}

void pixels_row_to_floats(const style_image *image, int32_t y, int32_t padded_w, float *dst)
{
    const int32_t channels = image->channels;
    const unsigned char *row =
        (const unsigned char *)image->data +
        (size_t)pad_reflect_index(y, image->height) * style__image_stride(image);
    for (int32_t x = 0; x < padded_w; x++) {
        int32_t sx = pad_reflect_index(x, image->width);
        for (int32_t c = 0; c < 3; c++)
            dst[x * 3 + c] = pixels_read_sample(row, sx * channels + c, image->sample_type);
    }
}

void pixels_to_tensor(const style_image *image, int32_t padded_h, int32_t padded_w, float *dst)
{
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < padded_h; y++)
        pixels_row_to_floats(image, y, padded_w, dst + (size_t)y * padded_w * 3);
}

/* Source index and weight of the upper neighbour for output coordinate d of n -> m. */
static int32_t periodic_tap(int32_t d, int32_t from, int32_t to, float *frac)
{
    double pos = ((double)d + 0.5) * (double)from / (double)to - 0.5;
    double base = floor(pos);
    *frac = (float)(pos - base);
    return (int32_t)(((int64_t)base % from + from) % from);
}

void tensor_resample_periodic(const float *src, int32_t sh, int32_t sw, float *dst, int32_t dh,
                              int32_t dw)
{
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < dh; y++) {
        float fy, fx;
        int32_t y0 = periodic_tap(y, sh, dh, &fy), y1 = (y0 + 1) % sh;
        for (int32_t x = 0; x < dw; x++) {
            int32_t x0 = periodic_tap(x, sw, dw, &fx), x1 = (x0 + 1) % sw;
            const float *a = src + ((size_t)y0 * sw + x0) * 3,
                        *b = src + ((size_t)y0 * sw + x1) * 3;
            const float *c = src + ((size_t)y1 * sw + x0) * 3,
                        *d = src + ((size_t)y1 * sw + x1) * 3;
            for (int k = 0; k < 3; k++)
                dst[((size_t)y * dw + x) * 3 + k] =
                    (1 - fy) * ((1 - fx) * a[k] + fx * b[k]) + fy * ((1 - fx) * c[k] + fx * d[k]);
        }
    }
}

static float copy_alpha(const style_image *source, int32_t x, int32_t y)
{
    if (source->channels != 4) return 255.0f;
    const unsigned char *row =
        (const unsigned char *)source->data + (size_t)y * style__image_stride(source);
    float value = pixels_read_sample(row, x * 4 + 3, source->sample_type);
    return value < 0.0f ? 0.0f : value > 255.0f ? 255.0f : value;
}

void tensor_to_pixels(const float *src, int32_t padded_w, model_output head,
                      const style_image *alpha_source, style_image *image)
{
    const size_t stride = style__image_stride(image);
    const int32_t channels = image->channels;
    /* Identical sample types copy alpha bit-exactly rather than through float. */
    const bool exact_alpha = alpha_source->channels == 4 && channels == 4 &&
                             alpha_source->sample_type == image->sample_type;
    const size_t alpha_stride = style__image_stride(alpha_source);
    const size_t sample = style__sample_size(image->sample_type);
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < image->height; y++) {
        unsigned char *row = (unsigned char *)image->data + (size_t)y * stride;
        const float *in = src + (size_t)y * padded_w * 3;
        for (int32_t x = 0; x < image->width; x++) {
            for (int32_t c = 0; c < 3; c++) {
                float v = in[x * 3 + c];
                if (head == OUTPUT_TANH150) v = 150.0f * tanhf(v) + 127.5f;
                v = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; /* NaN -> 0 */
                pixels_write_sample(row, x * channels + c, image->sample_type, v);
            }
            if (channels != 4) continue;
            if (exact_alpha) {
                const unsigned char *a = (const unsigned char *)alpha_source->data +
                                         (size_t)y * alpha_stride + ((size_t)x * 4 + 3) * sample;
                unsigned char *d = row + ((size_t)x * 4 + 3) * sample;
                for (size_t b = 0; b < sample; b++) d[b] = a[b];
            } else {
                pixels_write_sample(row, x * 4 + 3, image->sample_type,
                                    copy_alpha(alpha_source, x, y));
            }
        }
    }
}
