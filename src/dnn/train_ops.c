/* Backward passes of the plain-loop layers, max pooling, and the shared scratchpad. */
#include "dnn/train_layers.h"

#include <string.h>

/* diff_src row += the padded row's gradient of the source pixels it copied, x ascending: the
 * left border (reflected), the interior (upsampled copies), the right border. */
static void pad_row_backward(const float *row, int32_t w, int32_t c, int32_t factor, int32_t pad,
                             float *to)
{
    const int32_t up_w = w * factor;
    for (int32_t x = 0; x < pad; x++) {
        const float *from = row + (size_t)x * c;
        float *into = to + (size_t)(pad_reflect_index(x - pad, up_w) / factor) * c;
        for (int32_t k = 0; k < c; k++)
            into[k] += from[k];
    }
    for (int32_t ux = 0; ux < up_w; ux++) {
        const float *from = row + (size_t)(pad + ux) * c;
        float *into = to + (size_t)(ux / factor) * c;
        for (int32_t k = 0; k < c; k++)
            into[k] += from[k];
    }
    for (int32_t x = pad + up_w; x < up_w + 2 * pad; x++) {
        const float *from = row + (size_t)x * c;
        float *into = to + (size_t)(pad_reflect_index(x - pad, up_w) / factor) * c;
        for (int32_t k = 0; k < c; k++)
            into[k] += from[k];
    }
}

void pad_reflect_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c,
                               int32_t factor, int32_t pad, float *diff_src)
{
    const int32_t up_h = h * factor, up_w = w * factor;
    const int32_t out_h = up_h + 2 * pad, out_w = up_w + 2 * pad;
    /* Parallel over source rows, each summing the padded rows that copied it (a few: the
     * upsampled copies and reflections), whole pixels of c channels at a time. */
#pragma omp parallel for schedule(static)
    for (int32_t sy = 0; sy < h; sy++) {
        float *to = diff_src + (size_t)sy * w * c;
        memset(to, 0, (size_t)w * c * sizeof(float));
        for (int32_t y = 0; y < out_h; y++)
            if (pad_reflect_index(y - pad, up_h) / factor == sy)
                pad_row_backward(diff_dst + (size_t)y * out_w * c, w, c, factor, pad, to);
    }
}

void maxpool2_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, float *dst,
                           uint8_t *argmax)
{
    const int32_t oh = h / 2, ow = w / 2;
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < oh; y++)
        for (int32_t x = 0; x < ow; x++)
            for (int32_t ch = 0; ch < c; ch++) {
                float best = src[((size_t)(2 * y) * w + 2 * x) * c + ch];
                uint8_t which = 0;
                for (uint8_t k = 1; k < 4; k++) {
                    float v = src[((size_t)(2 * y + k / 2) * w + 2 * x + k % 2) * c + ch];
                    if (v > best) best = v, which = k;
                }
                dst[((size_t)y * ow + x) * c + ch] = best;
                argmax[((size_t)y * ow + x) * c + ch] = which;
            }
}

void maxpool2_backward_nhwc(const float *diff_dst, const uint8_t *argmax, int32_t h, int32_t w,
                            int32_t c, float *diff_src)
{
    const int32_t oh = h / 2, ow = w / 2;
    memset(diff_src, 0, (size_t)h * w * c * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < oh; y++)
        for (int32_t x = 0; x < ow; x++)
            for (int32_t ch = 0; ch < c; ch++) {
                size_t o = ((size_t)y * ow + x) * c + ch;
                int32_t k = argmax[o];
                diff_src[((size_t)(2 * y + k / 2) * w + 2 * x + k % 2) * c + ch] = diff_dst[o];
            }
}

void avgpool2_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, float *dst)
{
    const int32_t oh = h / 2, ow = w / 2;
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < oh; y++)
        for (int32_t x = 0; x < ow; x++)
            for (int32_t ch = 0; ch < c; ch++) {
                const float *top = src + ((size_t)(2 * y) * w + 2 * x) * c + ch;
                const float *bottom = top + (size_t)w * c;
                dst[((size_t)y * ow + x) * c + ch] =
                    0.25f * (top[0] + top[c] + bottom[0] + bottom[c]);
            }
}

void avgpool2_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c, float *diff_src)
{
    const int32_t oh = h / 2, ow = w / 2;
    memset(diff_src, 0, (size_t)h * w * c * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < oh; y++)
        for (int32_t x = 0; x < ow; x++)
            for (int32_t ch = 0; ch < c; ch++) {
                float g = 0.25f * diff_dst[((size_t)y * ow + x) * c + ch];
                float *top = diff_src + ((size_t)(2 * y) * w + 2 * x) * c + ch;
                float *bottom = top + (size_t)w * c;
                top[0] = top[c] = bottom[0] = bottom[c] = g;
            }
}

void window_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, int32_t y0, int32_t x0,
                         int32_t wh, int32_t ww, float *dst)
{
    (void)h;
    const size_t row = (size_t)ww * c;
    for (int32_t y = 0; y < wh; y++)
        memcpy(dst + (size_t)y * row, src + ((size_t)(y0 + y) * w + x0) * c, row * sizeof(float));
}

void window_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c, int32_t y0,
                          int32_t x0, int32_t wh, int32_t ww, float *diff_src)
{
    const size_t row = (size_t)ww * c;
    memset(diff_src, 0, (size_t)h * w * c * sizeof(float));
    for (int32_t y = 0; y < wh; y++)
        memcpy(diff_src + ((size_t)(y0 + y) * w + x0) * c, diff_dst + (size_t)y * row,
               row * sizeof(float));
}

void nhwc_to_blocked8(const float *src, int32_t n, int32_t h, int32_t w, int32_t c, float *dst)
{
    const size_t plane = (size_t)h * w, blocks = (size_t)c / 8;
#pragma omp parallel for collapse(2) schedule(static)
    for (int32_t b = 0; b < n; b++)
        for (size_t p = 0; p < plane; p++) {
            const float *from = src + ((size_t)b * plane + p) * c;
            float *to = dst + (size_t)b * plane * c + p * 8;
            for (size_t k = 0; k < blocks; k++)
                for (int i = 0; i < 8; i++)
                    to[k * plane * 8 + i] = from[k * 8 + i];
        }
}

void blocked8_to_nhwc(const float *src, int32_t n, int32_t h, int32_t w, int32_t c, float *dst)
{
    const size_t plane = (size_t)h * w, blocks = (size_t)c / 8;
#pragma omp parallel for collapse(2) schedule(static)
    for (int32_t b = 0; b < n; b++)
        for (size_t p = 0; p < plane; p++) {
            const float *from = src + (size_t)b * plane * c + p * 8;
            float *to = dst + ((size_t)b * plane + p) * c;
            for (size_t k = 0; k < blocks; k++)
                for (int i = 0; i < 8; i++)
                    to[k * 8 + i] = from[k * plane * 8 + i];
        }
}

void pad_reflect_blocked8(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                          int32_t pad, float *dst)
{
    const size_t in_block = (size_t)h * w * 8;
    const size_t out_block = (size_t)(h * factor + 2 * pad) * (w * factor + 2 * pad) * 8;
    for (int32_t k = 0; k < c / 8; k++)
        pad_reflect_nhwc(src + k * in_block, h, w, 8, factor, pad, dst + k * out_block);
}

void pad_reflect_backward_blocked8(const float *diff_dst, int32_t h, int32_t w, int32_t c,
                                   int32_t factor, int32_t pad, float *diff_src)
{
    const size_t in_block = (size_t)h * w * 8;
    const size_t out_block = (size_t)(h * factor + 2 * pad) * (w * factor + 2 * pad) * 8;
    for (int32_t k = 0; k < c / 8; k++)
        pad_reflect_backward_nhwc(diff_dst + k * out_block, h, w, 8, factor, pad,
                                  diff_src + k * in_block);
}
