/* Caller images <-> NHWC float tensors, with the size padding and the output head. */
#include "pixels.h"
#include "layers.h"

#include <math.h>

static float read_sample(const unsigned char *row, int32_t index, style_sample_type type)
{
    switch (type) {
    case STYLE_SAMPLE_U8: return (float)row[index];
    case STYLE_SAMPLE_U16: return (float)((const uint16_t *)row)[index] * (255.0f / 65535.0f);
    case STYLE_SAMPLE_F32: return ((const float *)row)[index];
    }
    return 0.0f;
}

/* value in 0..255 (already clamped). */
static void write_sample(unsigned char *row, int32_t index, style_sample_type type, float value)
{
    switch (type) {
    case STYLE_SAMPLE_U8: row[index] = (unsigned char)(value + 0.5f); break;
    case STYLE_SAMPLE_U16:
        ((uint16_t *)row)[index] = (uint16_t)(value * (65535.0f / 255.0f) + 0.5f);
        break;
    case STYLE_SAMPLE_F32: ((float *)row)[index] = value; break;
    }
}

void pixels_to_tensor(const style_image *image, int32_t padded_h, int32_t padded_w, float *dst)
{
    const size_t stride = style__image_stride(image);
    const int32_t channels = image->channels;
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < padded_h; y++) {
        const unsigned char *row =
            (const unsigned char *)image->data + (size_t)pad_reflect_index(y, image->height) * stride;
        float *out = dst + (size_t)y * padded_w * 3;
        for (int32_t x = 0; x < padded_w; x++) {
            int32_t sx = pad_reflect_index(x, image->width);
            for (int32_t c = 0; c < 3; c++)
                out[x * 3 + c] = read_sample(row, sx * channels + c, image->sample_type);
        }
    }
}

static float copy_alpha(const style_image *source, int32_t x, int32_t y)
{
    if (source->channels != 4) return 255.0f;
    const unsigned char *row =
        (const unsigned char *)source->data + (size_t)y * style__image_stride(source);
    float value = read_sample(row, x * 4 + 3, source->sample_type);
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
                write_sample(row, x * channels + c, image->sample_type, v);
            }
            if (channels != 4) continue;
            if (exact_alpha) {
                const unsigned char *a = (const unsigned char *)alpha_source->data +
                                         (size_t)y * alpha_stride + ((size_t)x * 4 + 3) * sample;
                unsigned char *d = row + ((size_t)x * 4 + 3) * sample;
                for (size_t b = 0; b < sample; b++) d[b] = a[b];
            } else {
                write_sample(row, x * 4 + 3, image->sample_type,
                             copy_alpha(alpha_source, x, y));
            }
        }
    }
}
