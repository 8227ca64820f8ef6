/*
 * Direct convolution for few output channels (the network's last 9x9 conv, 32 -> 3).
 *
 * oneDNN 2.6 computes such a layer in blocks of 16 output channels and runs it at a fraction
 * of the machine's speed (95 ms for the 4 GFLOP of a 512x512 image here). This kernel keeps
 * the NHWC layout and vectorises over input channels: for each tap it loads 16 input channels
 * of a few neighbouring output pixels and multiplies them with the tap's weights of every
 * output channel, accumulating in registers; a horizontal sum per (pixel, output channel)
 * ends the pixel. The input is pre-padded (the fused norm pass writes the border), so there
 * are no edge cases inside. AVX-512 only; other machines use the oneDNN path.
 */
#include "dnn/layers.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define DIRECT_MAX_OC 4

bool direct_conv_supported(int32_t in_channels, int32_t out_channels, int32_t kernel,
                           act_type src_type)
{
    if (out_channels < 1 || out_channels > DIRECT_MAX_OC || kernel < 1 || in_channels < 16)
        return false;
    int isa = dnn_cpu_kernel_isa();
    if (src_type == ACT_F32) return isa >= 2 && in_channels % 16 == 0;
    if (src_type == ACT_BF16) return isa >= 3 && in_channels % 32 == 0;
    if (src_type == ACT_U8) return isa >= 3 && in_channels == 32;
    return false;
}

style_status direct_conv_init(direct_conv *conv, int32_t in_channels, int32_t out_channels,
                              int32_t kernel, int32_t out_h, int32_t out_w, act_type src_type,
                              const float *weights, const float *bias)
{
    style_status status = STYLE_OK;
    memset(conv, 0, sizeof *conv);
    FAIL_IF(!direct_conv_supported(in_channels, out_channels, kernel, src_type),
            STYLE_ERR_INTERNAL, "direct convolution: unsupported shape");
    conv->in_channels = in_channels;
    conv->out_channels = out_channels;
    conv->kernel = kernel;
    conv->out_h = out_h;
    conv->out_w = out_w;
    conv->src_type = src_type;
    const size_t kk = (size_t)kernel * kernel;
    const size_t count = kk * (size_t)out_channels * (size_t)in_channels;
    if (src_type == ACT_U8) {
        /* s8, one symmetric scale per output channel; taps (kx, kx + 1) side by side (the
         * two neighbouring input pixels one 64-byte load covers), a zero tap after the last. */
        const int32_t pairs = (kernel + 1) / 2;
        const size_t bytes = (size_t)kernel * pairs * out_channels * 64;
        conv->weights = style__aligned_alloc(bytes);
        FAIL_IF(!conv->weights, STYLE_ERR_NOMEM, "direct convolution: out of memory");
        memset(conv->weights, 0, bytes);
        int8_t *w8 = conv->weights;
        for (int32_t o = 0; o < out_channels; o++) {
            float peak = 0.0f;
            for (int32_t i = 0; i < in_channels; i++)
                for (size_t t = 0; t < kk; t++) {
                    float v = weights[((size_t)o * in_channels + i) * kk + t];
                    peak = v > peak ? v : -v > peak ? -v : peak;
                }
            conv->weight_scale[o] = peak > 0.0f ? peak / 127.0f : 1.0f;
            conv->bias[o] = bias ? bias[o] : 0.0f;
            for (int32_t i = 0; i < in_channels; i++)
                for (int32_t ky = 0; ky < kernel; ky++)
                    for (int32_t kx = 0; kx < kernel; kx++) {
                        float v = weights[((size_t)o * in_channels + i) * kk + ky * kernel + kx] /
                                  conv->weight_scale[o];
                        long q = lrintf(v);
                        q = q > 127 ? 127 : q < -127 ? -127 : q;
                        size_t at = (((size_t)ky * pairs + kx / 2) * out_channels + o) * 64 +
                                    (size_t)(kx % 2) * 32 + i;
                        w8[at] = (int8_t)q;
                    }
        }
        conv->src_scale = 1.0f;
        return STYLE_OK;
    }
    conv->weights = style__aligned_alloc(count * act_type_size(src_type));
    FAIL_IF(!conv->weights, STYLE_ERR_NOMEM, "direct convolution: out of memory");
    /* [out][in][ky][kx] -> [ky][kx][out][in] */
    for (int32_t o = 0; o < out_channels; o++) {
        conv->bias[o] = bias ? bias[o] : 0.0f;
        for (int32_t i = 0; i < in_channels; i++)
            for (size_t t = 0; t < kk; t++) {
                float v = weights[((size_t)o * in_channels + i) * kk + t];
                size_t at = (t * out_channels + o) * in_channels + i;
                if (src_type == ACT_F32)
                    ((float *)conv->weights)[at] = v;
                else
                    ((uint16_t *)conv->weights)[at] = f32_to_bf16(v);
            }
    }
    return STYLE_OK;
fail:
    direct_conv_destroy(conv);
    return status;
}

void direct_conv_destroy(direct_conv *conv)
{
    if (!conv) return;
    style__aligned_free(conv->weights);
    memset(conv, 0, sizeof *conv);
}

#if defined(__clang__) /* clang ignores GCC target pragmas; this is its equivalent */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma")
#endif

/* PX output pixels of one row, OC output channels, fp32. */
static inline __attribute__((always_inline)) void
block_f32(const float *in, size_t in_row, int32_t cin, int32_t k, const float *wt,
          const float *bias, float *out, const int OC, const int PX)
{
    __m512 acc[8][DIRECT_MAX_OC];
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++) acc[p][o] = _mm512_setzero_ps();
    for (int32_t ky = 0; ky < k; ky++) {
        const float *r = in + (size_t)ky * in_row;
        for (int32_t kx = 0; kx < k; kx++) {
            const float *wk = wt + (size_t)(ky * k + kx) * OC * cin;
            const float *rk = r + (size_t)kx * cin;
            for (int32_t cb = 0; cb < cin; cb += 16) {
                __m512 w[DIRECT_MAX_OC];
#pragma GCC unroll 4
                for (int o = 0; o < OC; o++) w[o] = _mm512_load_ps(wk + (size_t)o * cin + cb);
#pragma GCC unroll 8
                for (int p = 0; p < PX; p++) {
                    __m512 v = _mm512_loadu_ps(rk + (size_t)p * cin + cb);
                    /* One load per input vector: keep the compiler from folding it into each
                     * FMA (a load per FMA makes the loop load-bound on AMD cores). */
                    __asm__("" : "+v"(v));
#pragma GCC unroll 4
                    for (int o = 0; o < OC; o++) acc[p][o] = _mm512_fmadd_ps(v, w[o], acc[p][o]);
                }
            }
        }
    }
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++) out[p * OC + o] = _mm512_reduce_add_ps(acc[p][o]) + bias[o];
}

static void row_f32(const direct_conv *c, const float *in, size_t in_row, float *out)
{
    const int32_t cin = c->in_channels, k = c->kernel, w = c->out_w, oc = c->out_channels;
    const float *wt = c->weights;
    int32_t x = 0;
#define DIRECT_F32_CASE(OC, PX)                                                                    \
    case OC:                                                                                       \
        for (; x + PX <= w; x += PX)                                                               \
            block_f32(in + (size_t)x * cin, in_row, cin, k, wt, c->bias, out + (size_t)x * OC,     \
                      OC, PX);                                                                     \
        for (; x < w; x++)                                                                         \
            block_f32(in + (size_t)x * cin, in_row, cin, k, wt, c->bias, out + (size_t)x * OC,     \
                      OC, 1);                                                                      \
        break;
    switch (oc) {
        DIRECT_F32_CASE(1, 8)
        DIRECT_F32_CASE(2, 8)
        DIRECT_F32_CASE(3, 8)
        DIRECT_F32_CASE(4, 6)
    }
#undef DIRECT_F32_CASE
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__) /* clang ignores GCC target pragmas; this is its equivalent */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma,avx512bf16")
#endif

/* bf16: 32 input channels per vector (16 pairs), vdpbf16ps accumulates pair products. */
static inline __attribute__((always_inline)) void
block_bf16(const uint16_t *in, size_t in_row, int32_t cin, int32_t k, const uint16_t *wt,
           const float *bias, float *out, const int OC, const int PX)
{
    __m512 acc[8][DIRECT_MAX_OC];
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++) acc[p][o] = _mm512_setzero_ps();
    for (int32_t ky = 0; ky < k; ky++) {
        const uint16_t *r = in + (size_t)ky * in_row;
        for (int32_t kx = 0; kx < k; kx++) {
            const uint16_t *wk = wt + (size_t)(ky * k + kx) * OC * cin;
            const uint16_t *rk = r + (size_t)kx * cin;
            for (int32_t cb = 0; cb < cin; cb += 32) {
                __m512i w[DIRECT_MAX_OC];
#pragma GCC unroll 4
                for (int o = 0; o < OC; o++)
                    w[o] = _mm512_load_si512((const void *)(wk + (size_t)o * cin + cb));
#pragma GCC unroll 8
                for (int p = 0; p < PX; p++) {
                    __m512i v = _mm512_loadu_si512((const void *)(rk + (size_t)p * cin + cb));
                    __asm__("" : "+v"(v));
#pragma GCC unroll 4
                    for (int o = 0; o < OC; o++)
                        acc[p][o] = _mm512_dpbf16_ps(acc[p][o], (__m512bh)v, (__m512bh)w[o]);
                }
            }
        }
    }
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++) out[p * OC + o] = _mm512_reduce_add_ps(acc[p][o]) + bias[o];
}

static void row_bf16(const direct_conv *c, const uint16_t *in, size_t in_row, float *out)
{
    const int32_t cin = c->in_channels, k = c->kernel, w = c->out_w, oc = c->out_channels;
    const uint16_t *wt = c->weights;
    int32_t x = 0;
#define DIRECT_BF16_CASE(OC, PX)                                                                   \
    case OC:                                                                                       \
        for (; x + PX <= w; x += PX)                                                               \
            block_bf16(in + (size_t)x * cin, in_row, cin, k, wt, c->bias, out + (size_t)x * OC,    \
                       OC, PX);                                                                    \
        for (; x < w; x++)                                                                         \
            block_bf16(in + (size_t)x * cin, in_row, cin, k, wt, c->bias, out + (size_t)x * OC,    \
                       OC, 1);                                                                     \
        break;
    switch (oc) {
        DIRECT_BF16_CASE(1, 8)
        DIRECT_BF16_CASE(2, 8)
        DIRECT_BF16_CASE(3, 8)
        DIRECT_BF16_CASE(4, 6)
    }
#undef DIRECT_BF16_CASE
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__) /* clang ignores GCC target pragmas; this is its equivalent */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
#endif

/* u8 x s8 (vpdpbusd): 32 input channels of two neighbouring taps per 64-byte vector. */
static inline __attribute__((always_inline)) void
block_u8(const uint8_t *in, size_t in_row, int32_t k, const int8_t *wt, const float *mul,
         const float *bias, float *out, const int OC, const int PX)
{
    const int32_t pairs = (k + 1) / 2;
    /* The odd tap of the last pair has zero weights: load only its first pixel. */
    const __mmask64 half = (__mmask64)0xffffffffu;
    __m512i acc[8][DIRECT_MAX_OC];
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++) acc[p][o] = _mm512_setzero_si512();
    for (int32_t ky = 0; ky < k; ky++) {
        const uint8_t *r = in + (size_t)ky * in_row;
        for (int32_t j = 0; j < pairs; j++) {
            const int8_t *wk = wt + ((size_t)ky * pairs + j) * OC * 64;
            const uint8_t *rk = r + (size_t)j * 64;
            const bool last_odd = (k & 1) && j == pairs - 1;
            __m512i w[DIRECT_MAX_OC];
#pragma GCC unroll 4
            for (int o = 0; o < OC; o++) w[o] = _mm512_load_si512((const void *)(wk + o * 64));
#pragma GCC unroll 8
            for (int p = 0; p < PX; p++) {
                __m512i v = last_odd ? _mm512_maskz_loadu_epi8(half, rk + (size_t)p * 32)
                                     : _mm512_loadu_si512((const void *)(rk + (size_t)p * 32));
                __asm__("" : "+v"(v));
#pragma GCC unroll 4
                for (int o = 0; o < OC; o++) acc[p][o] = _mm512_dpbusd_epi32(acc[p][o], v, w[o]);
            }
        }
    }
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++)
#pragma GCC unroll 4
        for (int o = 0; o < OC; o++)
            out[p * OC + o] = (float)_mm512_reduce_add_epi32(acc[p][o]) * mul[o] + bias[o];
}

static void row_u8(const direct_conv *c, const uint8_t *in, size_t in_row, float *out)
{
    const int32_t k = c->kernel, w = c->out_w, oc = c->out_channels;
    const int8_t *wt = c->weights;
    float mul[DIRECT_MAX_OC];
    for (int32_t o = 0; o < oc; o++) mul[o] = c->weight_scale[o] * c->src_scale;
    int32_t x = 0;
#define DIRECT_U8_CASE(OC, PX)                                                                     \
    case OC:                                                                                       \
        for (; x + PX <= w; x += PX)                                                               \
            block_u8(in + (size_t)x * 32, in_row, k, wt, mul, c->bias, out + (size_t)x * OC, OC,   \
                     PX);                                                                          \
        for (; x < w; x++)                                                                         \
            block_u8(in + (size_t)x * 32, in_row, k, wt, mul, c->bias, out + (size_t)x * OC, OC,   \
                     1);                                                                           \
        break;
    switch (oc) {
        DIRECT_U8_CASE(1, 8)
        DIRECT_U8_CASE(2, 8)
        DIRECT_U8_CASE(3, 8)
        DIRECT_U8_CASE(4, 6)
    }
#undef DIRECT_U8_CASE
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

void direct_conv_forward(const direct_conv *conv, const void *src, float *dst)
{
    const int32_t in_w = conv->out_w + conv->kernel - 1;
    const size_t in_row = (size_t)in_w * conv->in_channels;
    const size_t out_row = (size_t)conv->out_w * conv->out_channels;
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < conv->out_h; y++) {
        if (conv->src_type == ACT_F32)
            row_f32(conv, (const float *)src + (size_t)y * in_row, in_row, dst + y * out_row);
        else if (conv->src_type == ACT_BF16)
            row_bf16(conv, (const uint16_t *)src + (size_t)y * in_row, in_row, dst + y * out_row);
        else
            row_u8(conv, (const uint8_t *)src + (size_t)y * in_row, in_row, dst + y * out_row);
    }
}
