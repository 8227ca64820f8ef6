/* Reflection / wrap padding (with optional nearest x2 upsampling) and the residual add: plain
 * loops. */
#include "dnn/layers.h"

#include <string.h>

int32_t pad_reflect_index(int32_t i, int32_t n)
{
    if (n == 1) return 0;
    if (i < 0) return -i < n ? -i : 0; /* too small to reflect: replicate the edge */
    if (i >= n) return 2 * (n - 1) - i >= 0 ? 2 * (n - 1) - i : n - 1;
    return i;
}

void pad_reflect_nhwc(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                      int32_t pad, float *dst)
{
    const int32_t up_h = h * factor, up_w = w * factor;
    const int32_t out_h = up_h + 2 * pad, out_w = up_w + 2 * pad;
    const size_t pixel = (size_t)c * sizeof(float);

#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < out_h; y++) {
        const int32_t sy = pad_reflect_index(y - pad, up_h) / factor;
        const float *src_row = src + (size_t)sy * w * c;
        float *dst_row = dst + (size_t)y * out_w * c;
        if (factor == 1) {
            /* The interior is one contiguous copy; only the borders need index mapping. */
            memcpy(dst_row + (size_t)pad * c, src_row, (size_t)w * pixel);
            for (int32_t x = 0; x < pad; x++) {
                memcpy(dst_row + (size_t)x * c, src_row + (size_t)pad_reflect_index(x - pad, w) * c,
                       pixel);
                int32_t xr = pad + w + x;
                memcpy(dst_row + (size_t)xr * c,
                       src_row + (size_t)pad_reflect_index(xr - pad, w) * c, pixel);
            }
        } else {
            for (int32_t x = 0; x < out_w; x++) {
                int32_t sx = pad_reflect_index(x - pad, up_w) / factor;
                memcpy(dst_row + (size_t)x * c, src_row + (size_t)sx * c, pixel);
            }
        }
    }
}

/* style__f32_to_bf16, here where the compiler can inline and vectorise it (the padding loop
 * converts every activation of a bf16 training step). */
static inline uint16_t to_bf16(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    const uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    const uint32_t quiet = (bits >> 16) | 0x40u; /* NaN: rounding could make an infinity */
    return (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

void pad_reflect_nhwc_bf16(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                           int32_t pad, uint16_t *dst)
{
    const int32_t up_w = w * factor, up_h = h * factor;
    const int32_t out_h = up_h + 2 * pad, out_w = up_w + 2 * pad;
    const size_t pixel = (size_t)c * sizeof(uint16_t);

#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < out_h; y++) {
        const int32_t sy = pad_reflect_index(y - pad, up_h) / factor;
        const float *src_row = src + (size_t)sy * w * c;
        uint16_t *dst_row = dst + (size_t)y * out_w * c;
        /* Each source pixel converted once, into the first output column that takes it;
         * the others (upsampled copies, reflected borders) are copies of it. */
        uint16_t *interior = dst_row + (size_t)pad * c;
        for (int32_t x = 0; x < w; x++) {
            uint16_t *to = interior + (size_t)x * factor * c;
            const float *from = src_row + (size_t)x * c;
            for (int32_t k = 0; k < c; k++)
                to[k] = to_bf16(from[k]);
            for (int32_t f = 1; f < factor; f++)
                memcpy(to + (size_t)f * c, to, pixel);
        }
        for (int32_t x = 0; x < pad; x++) {
            memcpy(dst_row + (size_t)x * c, interior + (size_t)pad_reflect_index(x - pad, up_w) * c,
                   pixel);
            const int32_t xr = pad + up_w + x;
            memcpy(dst_row + (size_t)xr * c,
                   interior + (size_t)pad_reflect_index(xr - pad, up_w) * c, pixel);
        }
    }
}

void residual_add(float *x, const float *y, size_t count)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        x[i] += y[i];
}

int32_t pad_border_index(int32_t i, int32_t n, border_mode mode)
{
    switch (mode) {
    case BORDER_ZERO:
        return i < 0 || i >= n ? -1 : i;
    case BORDER_REPLICATE:
        return i < 0 ? 0 : i >= n ? n - 1 : i;
    case BORDER_WRAP:
        return (i % n + n) % n;
    case BORDER_REFLECT:
        break;
    }
    return pad_reflect_index(i, n);
}

void pad_fill_border(void *buffer, size_t pixel_bytes, int32_t h, int32_t w, int32_t top,
                     int32_t left, int32_t bottom, int32_t right, border_mode mode)
{
    const int32_t row_pixels = left + w + right, rows = top + h + bottom;
    const size_t row_bytes = (size_t)row_pixels * pixel_bytes;
    char *base = buffer;
    /* Columns of the interior rows first, then whole rows (corners follow from them). */
    if (left || right) {
#pragma omp parallel for schedule(static)
        for (int32_t y = top; y < top + h; y++) {
            char *row = base + (size_t)y * row_bytes;
            for (int32_t x = 0; x < row_pixels; x++) {
                if (x == left) x = left + w;
                if (x >= row_pixels) break;
                char *d = row + (size_t)x * pixel_bytes;
                if (mode == BORDER_ZERO)
                    memset(d, 0, pixel_bytes);
                else
                    memcpy(d,
                           row + (size_t)(left + pad_border_index(x - left, w, mode)) * pixel_bytes,
                           pixel_bytes);
            }
        }
    }
    for (int32_t y = 0; y < rows; y++) {
        if (y == top) y = top + h;
        if (y >= rows) break;
        char *d = base + (size_t)y * row_bytes;
        if (mode == BORDER_ZERO)
            memset(d, 0, row_bytes);
        else
            memcpy(d, base + (size_t)(top + pad_border_index(y - top, h, mode)) * row_bytes,
                   row_bytes);
    }
}
