/* Reflection padding (with optional nearest x2 upsampling) and the residual add: plain loops. */
#include "layers.h"

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
                memcpy(dst_row + (size_t)x * c,
                       src_row + (size_t)pad_reflect_index(x - pad, w) * c, pixel);
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

void residual_add(float *x, const float *y, size_t count)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) x[i] += y[i];
}
