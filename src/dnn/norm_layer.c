/*
 * Instance normalization and everything that sits between two convolutions, in two passes
 * over memory: a statistics pass (per-channel sum, sum of squares, range) and an apply pass
 * that normalizes, applies ReLU or the residual add, interleaves sub-pixel phases, upsamples,
 * converts to the next convolution's type and writes into its padded input buffer.
 *
 * oneDNN 2.6 has no instance norm; its batch norm on N = 1 computes the same thing but needs
 * its own pass for every step around it. Statistics are accumulated per chunk in float
 * (shifted by the channel's first sample, so that var = E[d^2] - E[d]^2 does not cancel) and
 * combined in double, in a fixed block order so that results do not depend on thread timing.
 * Statistics do not depend on the order of the pixels, so sub-pixel phases are read one
 * source after the other; only the apply pass interleaves them.
 */
#include "dnn/layers.h"
#include "session/norm_ema.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* Rows are split into this many blocks (fixed: deterministic sums, and load balance). */
#define NORM_BLOCKS 16

typedef struct norm_kernels {
    void (*load_px)(float *dst, const void *src, act_type t, int32_t pixels, int32_t channels);
    void (*stats_chunk)(const float *x, int32_t pixels, int32_t channels, const float *shift,
                        float *sum, float *sumsq, float *lo, float *hi, bool minmax);
    float (*transform_chunk)(const float *in, float *out, size_t stride, int32_t pixels,
                             int32_t channels, const float *a, const float *b, const float *m,
                             bool relu, const float *residual, const float *track);
    void (*store_px)(void *dst, size_t stride, act_type t, const float *x, int32_t pixels,
                     int32_t channels, const float *inv);
} norm_kernels;

#define KSUFFIX generic
#include "dnn/norm_kernels.inc"
#undef KSUFFIX

#if defined(__clang__) /* clang ignores GCC target pragmas; this is its equivalent */
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
#define KSUFFIX avx2
#include "dnn/norm_kernels.inc"
#undef KSUFFIX
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__) /* clang ignores GCC target pragmas; this is its equivalent */
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif
#include <immintrin.h>
#define KSUFFIX avx512
#define NORM_AVX512
#include "dnn/norm_kernels.inc"
#undef NORM_AVX512
#undef KSUFFIX
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

static const norm_kernels *kernels_for(int isa)
{
    return isa >= 2 ? &norm_kernel_table_avx512
           : isa == 1 ? &norm_kernel_table_avx2
                      : &norm_kernel_table_generic;
}

/* Pixels per chunk: at most 64, and a chunk of floats at most max(8192, channels). */
static int32_t chunk_pixels(int32_t channels)
{
    int32_t n = 8192 / (channels > 0 ? channels : 1);
    return n < 1 ? 1 : n > 64 ? 64 : n;
}

static bool is_int8(act_type t)
{
    return t == ACT_U8 || t == ACT_S8;
}

/* The quantization step for a dynamic int8 tensor whose largest magnitude is `peak`. */
static float dynamic_scale(act_type t, float peak)
{
    if (!(peak > 0.0f) || !isfinite(peak)) return 1.0f;
    return peak / (t == ACT_U8 ? 255.0f : 127.0f);
}

style_status norm_layer_init(norm_layer *layer, const norm_spec *spec)
{
    style_status status = STYLE_OK;
    memset(layer, 0, sizeof *layer);
    FAIL_IF(spec->channels < 1 || spec->h < 1 || spec->w < 1 ||
                (spec->phases != 1 && spec->phases != 2) || (spec->up != 1 && spec->up != 2) ||
                (spec->phases == 2 && (spec->h % 2 || spec->w % 2 || spec->up != 1 ||
                                       spec->residual || spec->writeback)) ||
                (spec->residual_in_dst &&
                 (!spec->residual || spec->dst_type != ACT_F32 || spec->up != 1)) ||
                (spec->residual && !spec->residual_in_dst && !spec->writeback &&
                 is_int8(spec->dst_type) && spec->dst_scale == 0.0f),
            STYLE_ERR_INTERNAL, "norm layer: unsupported shape");
    layer->spec = *spec;
    if (layer->spec.src_scale == 0.0f) layer->spec.src_scale = 1.0f;
    /* a, b, m, then 1 / channel step, then the quantization multipliers of a run */
    const size_t C = (size_t)spec->channels;
    layer->ab = style__aligned_alloc(sizeof(float) * 5 * C);
    FAIL_IF(!layer->ab, STYLE_ERR_NOMEM, "norm layer: out of memory");
    for (size_t c = 0; c < C; c++) {
        float sc = spec->dst_cscale ? spec->dst_cscale[c] : 1.0f;
        layer->ab[3 * C + c] = sc > 0.0f ? 1.0f / sc : 1.0f;
    }
    layer->spec.dst_cscale = NULL; /* only read here */
    layer->isa = dnn_cpu_kernel_isa();
    return STYLE_OK;
fail:
    return status;
}

void norm_layer_set_buffers(norm_layer *layer, const norm_source *sources,
                            const norm_source *residual, void *dst)
{
    const norm_spec *s = &layer->spec;
    int n = s->phases * s->phases;
    for (int i = 0; i < n; i++) layer->sources[i] = sources[i];
    layer->dst = dst;
    if (s->residual_in_dst)
        layer->residual = (norm_source){dst, s->pad_left + s->w + s->pad_right, s->pad_top,
                                        s->pad_left};
    else if (residual)
        layer->residual = *residual;
}

void norm_layer_set_params(norm_layer *layer, const float *scale, const float *shift)
{
    layer->scale = scale;
    layer->shift = shift;
}

/* Pixel (row, col) of a source, in source coordinates. */
static const char *src_at(const norm_layer *layer, const norm_source *src, int32_t row,
                          int32_t col)
{
    size_t index = ((size_t)(src->y0 + row) * src->row_pixels + (size_t)(src->x0 + col)) *
                   (size_t)layer->spec.channels;
    return (const char *)src->data + index * act_type_size(layer->spec.src_type);
}

/* Pixels [col, col + n) of a source row as floats in tmp (an L1-sized copy: the kernels
 * then walk it channel-block by channel-block, which would be slow straight from memory). */
static const float *read_px(const norm_layer *layer, const norm_kernels *k,
                            const norm_source *src, int32_t row, int32_t col, int32_t n,
                            float *tmp)
{
    k->load_px(tmp, src_at(layer, src, row, col), layer->spec.src_type, n, layer->spec.channels);
    return tmp;
}

/* Per-channel statistics of the source; fills layer->ab with the affine a (x - m) + b (x in
 * source units) and returns the largest |y| / channel step the apply pass can produce (for
 * an int8 dst), or 0. */
static float compute_affine(norm_layer *layer, const norm_kernels *k, bool stats_needed,
                            bool minmax)
{
    const norm_spec *s = &layer->spec;
    const int32_t C = s->channels, P = s->phases, chunk = chunk_pixels(C);
    const int32_t rows = s->h / P, cols = s->w / P; /* per source */
    float *a = layer->ab, *b = layer->ab + C, *m = layer->ab + 2 * C;
    const float *inv_cs = layer->ab + 3 * C;
    const float unit = s->src_scale;

    if (!stats_needed) {
        for (int32_t c = 0; c < C; c++) a[c] = unit, b[c] = 0.0f, m[c] = 0.0f;
        return 0.0f;
    }
    /* Shift: the first sample of each channel (close to the mean compared with the spread). */
    float shift[C];
    k->load_px(shift, src_at(layer, &layer->sources[0], 0, 0), s->src_type, 1, C);

    /* Rows of every source, one after the other: P * P * rows rows in all. */
    const int32_t all_rows = P * P * rows;
    double sum[NORM_BLOCKS][C], sumsq[NORM_BLOCKS][C];
    float lo[NORM_BLOCKS][C], hi[NORM_BLOCKS][C];
#pragma omp parallel
    {
        float tmp[(size_t)chunk * C], cs[C], cq[C];
#pragma omp for schedule(static)
        for (int blk = 0; blk < NORM_BLOCKS; blk++) {
            for (int32_t c = 0; c < C; c++) {
                sum[blk][c] = sumsq[blk][c] = 0.0;
                lo[blk][c] = INFINITY;
                hi[blk][c] = -INFINITY;
            }
            int32_t r_begin = (int32_t)((int64_t)all_rows * blk / NORM_BLOCKS);
            int32_t r_end = (int32_t)((int64_t)all_rows * (blk + 1) / NORM_BLOCKS);
            for (int32_t r = r_begin; r < r_end; r++) {
                const norm_source *src = &layer->sources[r / rows];
                for (int32_t x = 0; x < cols; x += chunk) {
                    int32_t n = cols - x < chunk ? cols - x : chunk;
                    const float *v = read_px(layer, k, src, r % rows, x, n, tmp);
                    memset(cs, 0, sizeof cs);
                    memset(cq, 0, sizeof cq);
                    k->stats_chunk(v, n, C, shift, cs, cq, lo[blk], hi[blk], minmax);
                    for (int32_t c = 0; c < C; c++) {
                        sum[blk][c] += cs[c];
                        sumsq[blk][c] += cq[c];
                    }
                }
            }
        }
    }
    const double count = (double)s->h * (double)s->w;
    float peak = 0.0f;
    for (int32_t c = 0; c < C; c++) {
        double s1 = 0.0, s2 = 0.0;
        float mn = INFINITY, mx = -INFINITY;
        for (int blk = 0; blk < NORM_BLOCKS; blk++) {
            s1 += sum[blk][c];
            s2 += sumsq[blk][c];
            mn = lo[blk][c] < mn ? lo[blk][c] : mn;
            mx = hi[blk][c] > mx ? hi[blk][c] : mx;
        }
        double scale_c = 1.0, shift_c = 0.0, mean = 0.0;
        if (s->normalize) {
            double mean_d = s1 / count;
            double var = s2 / count - mean_d * mean_d;
            if (var < 0.0) var = 0.0;
            mean = (double)shift[c] + mean_d;
            if (layer->ema) norm_ema_smooth(layer->ema, c, unit, &mean, &var);
            /* In real units: x = unit * raw. */
            double inv = 1.0 / sqrt(var * (double)unit * unit + (double)s->eps);
            scale_c = (double)layer->scale[c] * inv;
            shift_c = (double)layer->shift[c];
        }
        a[c] = (float)(scale_c * unit);
        b[c] = (float)shift_c;
        m[c] = (float)mean;
        if (minmax) {
            float y0 = a[c] * (mn - m[c]) + b[c], y1 = a[c] * (mx - m[c]) + b[c];
            if (s->relu) {
                y0 = y0 > 0.0f ? y0 : 0.0f;
                y1 = y1 > 0.0f ? y1 : 0.0f;
            }
            y0 = fabsf(y0);
            y1 = fabsf(y1);
            float mm = (y0 > y1 ? y0 : y1) * inv_cs[c];
            peak = mm > peak ? mm : peak;
        }
    }
    if (layer->ema && s->normalize) layer->ema->primed = true;
    return peak;
}

float norm_layer_run(norm_layer *layer)
{
    const norm_spec *s = &layer->spec;
    const norm_kernels *k = kernels_for(layer->isa);
    const int32_t C = s->channels, H = s->h, W = s->w, P = s->phases, chunk = chunk_pixels(C);
    const int32_t up = s->up;
    const int32_t out_w = W * up, out_h = H * up;
    const int32_t row_pixels = s->pad_left + out_w + s->pad_right;
    const size_t dst_px = act_type_size(s->dst_type) * (size_t)C;
    const bool dst_int8 = is_int8(s->dst_type);
    const bool dynamic = dst_int8 && s->dst_scale == 0.0f;
    /* With a residual the range is known only after the sum: quantize in a second pass. */
    const bool two_pass = dynamic && (s->residual || s->writeback);
    const bool write_residual = s->residual_in_dst || s->writeback;

    float peak = compute_affine(layer, k, s->normalize || (dynamic && !two_pass),
                                dynamic && !two_pass);
    float dst_scale = dst_int8 ? (dynamic ? dynamic_scale(s->dst_type, peak) : s->dst_scale)
                               : 1.0f;
    float *a = layer->ab, *b = layer->ab + C;
    const float *mean = layer->ab + 2 * C, *inv_cs = layer->ab + 3 * C;
    float *inv_q = layer->ab + 4 * C; /* per-channel multipliers of an int8 store */
    const float *store_inv = NULL;
    const bool channel_store = dst_int8 && !two_pass && (s->residual || s->writeback);
    if (dst_int8 && !two_pass && !channel_store) {
        /* Fold the steps into the affine: q = round(relu(a'(x - m) + b')). */
        for (int32_t c = 0; c < C; c++) {
            a[c] *= inv_cs[c] / dst_scale;
            b[c] *= inv_cs[c] / dst_scale;
        }
    }
    if (channel_store) {
        for (int32_t c = 0; c < C; c++) inv_q[c] = inv_cs[c] / dst_scale;
        store_inv = inv_q;
    }
    /* f32 without upsampling: transform straight into the destination (phases strided). */
    const bool direct_out = s->dst_type == ACT_F32 && up == 1 && !two_pass && !channel_store;
    float peaks[NORM_BLOCKS] = {0};

#pragma omp parallel
    {
        float tin[(size_t)chunk * C], tout[(size_t)chunk * C];
#pragma omp for schedule(static)
        for (int blk = 0; blk < NORM_BLOCKS; blk++) {
            int32_t y_begin = (int32_t)((int64_t)H * blk / NORM_BLOCKS);
            int32_t y_end = (int32_t)((int64_t)H * (blk + 1) / NORM_BLOCKS);
            float blk_peak = 0.0f;
            for (int32_t y = y_begin; y < y_end; y++) {
                char *row = (char *)layer->dst +
                            ((size_t)(s->pad_top + y * up) * row_pixels + s->pad_left) * dst_px;
                float *res_row = NULL;
                if (s->residual || write_residual)
                    res_row = (float *)layer->residual.data +
                              ((size_t)(layer->residual.y0 + y) * layer->residual.row_pixels +
                               layer->residual.x0) * C;
                /* Each source of this row: one (phases 1) or two interleaved (phases 2). */
                for (int32_t px = 0; px < P; px++) {
                    const norm_source *src = &layer->sources[(y % P) * P + px];
                    const int32_t cols = W / P, srow = y / P;
                    for (int32_t x = 0; x < cols; x += chunk) {
                        int32_t n = cols - x < chunk ? cols - x : chunk;
                        const float *in = read_px(layer, k, src, srow, x, n, tin);
                        float *r = res_row ? res_row + (size_t)x * C : NULL;
                        float *out = direct_out ? (float *)(row + (size_t)(P * x + px) * dst_px)
                                                : tout;
                        size_t stride = direct_out ? (size_t)P : 1;
                        float m = k->transform_chunk(in, out, stride, n, C, a, b, mean, s->relu,
                                                     s->residual ? r : NULL,
                                                     two_pass ? inv_cs : NULL);
                        blk_peak = m > blk_peak ? m : blk_peak;
                        if (s->writeback) memcpy(r, out, sizeof(float) * (size_t)n * C);
                        if (two_pass || out != tout) continue;
                        if (P == 2) {
                            k->store_px(row + (size_t)(2 * x + px) * dst_px, 2, s->dst_type,
                                        out, n, C, store_inv);
                        } else if (up == 1) {
                            k->store_px(row + (size_t)x * dst_px, 1, s->dst_type, out, n, C,
                                        store_inv);
                        } else {
                            k->store_px(row + (size_t)2 * x * dst_px, 2, s->dst_type, out, n, C,
                                        store_inv);
                            k->store_px(row + (size_t)(2 * x + 1) * dst_px, 2, s->dst_type, out,
                                        n, C, store_inv);
                        }
                    }
                }
                if (up == 2 && !two_pass)
                    memcpy(row + (size_t)row_pixels * dst_px, row, (size_t)out_w * dst_px);
            }
            peaks[blk] = blk_peak;
        }
    }
    if (two_pass) {
        float m = 0.0f;
        for (int blk = 0; blk < NORM_BLOCKS; blk++) m = peaks[blk] > m ? peaks[blk] : m;
        dst_scale = dynamic_scale(s->dst_type, m);
        for (int32_t c = 0; c < C; c++) inv_q[c] = inv_cs[c] / dst_scale;
#pragma omp parallel for schedule(static)
        for (int32_t y = 0; y < H; y++) {
            const float *r = (const float *)layer->residual.data +
                             ((size_t)(layer->residual.y0 + y) * layer->residual.row_pixels +
                              layer->residual.x0) * C;
            char *row = (char *)layer->dst +
                        ((size_t)(s->pad_top + y * up) * row_pixels + s->pad_left) * dst_px;
            if (up == 1) {
                k->store_px(row, 1, s->dst_type, r, W, C, inv_q);
            } else {
                k->store_px(row, 2, s->dst_type, r, W, C, inv_q);
                k->store_px(row + dst_px, 2, s->dst_type, r, W, C, inv_q);
                memcpy(row + (size_t)row_pixels * dst_px, row, (size_t)out_w * dst_px);
            }
        }
    }
    if (s->pad_top || s->pad_left || s->pad_bottom || s->pad_right)
        pad_fill_border(layer->dst, dst_px, out_h, out_w, s->pad_top, s->pad_left,
                        s->pad_bottom, s->pad_right, s->border);
    layer->used_dst_scale = dst_int8 ? dst_scale : 0.0f;
    return layer->used_dst_scale;
}

/* ---- The original in-place API -------------------------------------------------------- */

style_status norm_layer_describe(norm_layer *layer, dnn_context *dnn, int32_t channels, int32_t h,
                                 int32_t w, float eps, bool relu)
{
    (void)dnn;
    norm_spec spec = {.channels = channels, .h = h, .w = w, .phases = 1, .normalize = true,
                      .relu = relu, .eps = eps, .up = 1};
    return norm_layer_init(layer, &spec);
}

style_status norm_layer_bind(norm_layer *layer, dnn_context *dnn, const float *scale,
                             const float *shift, float *data)
{
    (void)dnn;
    norm_source src = {data, layer->spec.w, 0, 0};
    norm_layer_set_buffers(layer, &src, NULL, data);
    norm_layer_set_params(layer, scale, shift);
    return STYLE_OK;
}

style_status norm_layer_forward(norm_layer *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    (void)dnn;
    (void)scratchpad;
    norm_layer_run(layer);
    return STYLE_OK;
}

void norm_layer_destroy(norm_layer *layer)
{
    if (!layer) return;
    style__aligned_free(layer->ab);
    memset(layer, 0, sizeof *layer);
}
