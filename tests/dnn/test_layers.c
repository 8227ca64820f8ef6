/*
 * Every layer against the double-precision reference on random data, odd sizes included:
 * convolution (zero / asymmetric padding, strides 1 and 2, fused ReLU and residual sum),
 * transposed convolution (TF and PyTorch crops), instance norm (+ReLU), reflection padding
 * with and without nearest x2 upsampling, the residual add and the output heads.
 */
#include "dnn/layers.h"
#include "dnn_fixture.h"
#include "image/pixels.h"
#include "reference.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* NHWC float <-> NCHW double reference tensors. */
static ref_tensor to_ref(const float *nhwc, int c, int h, int w)
{
    ref_tensor t = ref_tensor_new(c, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                REF_AT(t, ch, y, x) = nhwc[((size_t)y * w + x) * c + ch];
    return t;
}

static double *to_nhwc(ref_tensor t)
{
    double *out = malloc(sizeof(double) * t.c * t.h * t.w);
    for (int y = 0; y < t.h; y++)
        for (int x = 0; x < t.w; x++)
            for (int ch = 0; ch < t.c; ch++)
                out[((size_t)y * t.w + x) * t.c + ch] = REF_AT(t, ch, y, x);
    return out;
}

/* Runs one conv layer and its reference; returns the relative L2 error. */
static double check_conv(dnn_context *dnn, conv_spec spec, int h, int w, uint64_t seed)
{
    test_rng rng = {seed};
    conv_layer layer;
    assert_int_equal(conv_layer_describe(&layer, dnn, &spec, h, w), STYLE_OK);
    size_t in_count = (size_t)h * w * spec.in_channels;
    size_t out_count = (size_t)layer.out_h * layer.out_w * spec.out_channels;
    size_t w_count = (size_t)spec.out_channels * spec.in_channels * spec.kernel * spec.kernel;
    float *src = malloc(in_count * sizeof(float)), *dst = malloc(out_count * sizeof(float));
    float *weights = malloc(w_count * sizeof(float)),
          *bias = malloc(spec.out_channels * sizeof(float));
    test_fill_uniform(&rng, src, in_count, -1, 1);
    test_fill_uniform(&rng, weights, w_count, -0.5, 0.5);
    test_fill_uniform(&rng, bias, spec.out_channels, -0.5, 0.5);
    test_fill_uniform(&rng, dst, out_count, -1, 1); /* the residual for spec.sum */

    ref_tensor in = to_ref(src, spec.in_channels, h, w);
    ref_tensor residual = to_ref(dst, spec.out_channels, layer.out_h, layer.out_w);
    ref_tensor expect;
    if (spec.transposed) {
        /* The layer takes [out, in, k, k]; the reference PyTorch's [in, out, k, k]. */
        int kk = spec.kernel * spec.kernel;
        float *torch = malloc(w_count * sizeof(float));
        for (int o = 0; o < spec.out_channels; o++)
            for (int i = 0; i < spec.in_channels; i++)
                memcpy(torch + ((size_t)i * spec.out_channels + o) * kk,
                       weights + ((size_t)o * spec.in_channels + i) * kk, kk * sizeof(float));
        expect = ref_conv_transpose2d(in, torch, bias, spec.out_channels, spec.kernel, spec.stride,
                                      spec.pad_top, spec.pad_bottom);
        free(torch);
    } else {
        expect = ref_conv2d(in, weights, bias, spec.out_channels, spec.kernel, spec.stride,
                            spec.pad_top, spec.pad_left, spec.pad_bottom, spec.pad_right);
    }
    assert_int_equal(expect.h, layer.out_h);
    assert_int_equal(expect.w, layer.out_w);
    size_t n = out_count;
    if (spec.sum)
        for (size_t i = 0; i < n; i++)
            expect.data[i] += residual.data[i];
    if (spec.relu) ref_relu(expect);

    assert_int_equal(conv_layer_bind(&layer, dnn, weights, bias, src, dst), STYLE_OK);
    dnn_scratchpad *scratchpad = dnn_fixture_scratchpad(layer.scratchpad_bytes);
    assert_int_equal(conv_layer_forward(&layer, dnn, scratchpad), STYLE_OK);
    assert_int_equal(dnn_context_wait(dnn, "test"), STYLE_OK);
    double *expect_nhwc = to_nhwc(expect);
    double err = test_rel_l2(dst, expect_nhwc, n);

    dnn_scratchpad_free(scratchpad);
    free(expect_nhwc);
    ref_tensor_free(&expect);
    ref_tensor_free(&in);
    ref_tensor_free(&residual);
    conv_layer_destroy(&layer);
    free(src);
    free(dst);
    free(weights);
    free(bias);
    return err;
}

static void test_conv_shapes(void **state)
{
    dnn_context *dnn = *state;
    /* {in, out, k, stride, pads t l b r, relu, sum}, sizes (h, w) */
    struct {
        conv_spec spec;
        int h, w;
    } cases[] = {
        {{3, 32, 9, 1, 4, 4, 4, 4, false, true, false}, 33, 17},
        {{3, 32, 9, 1, 0, 0, 0, 0, false, false, false}, 15, 11}, /* pre-padded input */
        {{32, 64, 3, 2, 1, 1, 1, 1, false, true, false}, 7, 5},
        {{32, 64, 3, 2, 0, 0, 1, 1, false, false, false}, 34, 18}, /* TF SAME, even */
        {{16, 16, 3, 2, 1, 1, 1, 1, false, false, false}, 33, 17}, /* odd, stride 2 */
        {{5, 7, 3, 1, 1, 1, 1, 1, false, true, false}, 7, 5},      /* odd channels */
        {{128, 128, 3, 1, 1, 1, 1, 1, false, false, true}, 9, 11}, /* residual sum */
        {{128, 128, 3, 1, 1, 1, 1, 1, false, true, true}, 4, 4},   /* sum then relu */
        {{32, 3, 9, 1, 4, 4, 4, 4, false, false, false}, 12, 20},
        {{8, 4, 1, 1, 0, 0, 0, 0, false, false, false}, 1, 1}, /* 1x1 */
        {{3, 4, 3, 1, 1, 1, 1, 1, false, false, false}, 1, 1}, /* all padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double err = check_conv(dnn, cases[i].spec, cases[i].h, cases[i].w, 100 + i);
        if (err >= 1e-5) print_error("conv case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
    }
}

static void test_transposed_conv(void **state)
{
    dnn_context *dnn = *state;
    struct {
        conv_spec spec;
        int h, w;
    } cases[] = {
        /* k=3 stride 2: TF keeps [0, 2H) (pad 0, 1), PyTorch [1, 2H+1) (pad 1, 0) */
        {{128, 64, 3, 2, 0, 0, 1, 1, true, false, false}, 9, 11},
        {{64, 32, 3, 2, 1, 1, 0, 0, true, false, false}, 7, 5},
        {{16, 8, 3, 2, 0, 0, 1, 1, true, true, false}, 1, 1},
        {{5, 3, 5, 2, 1, 1, 2, 2, true, false, false}, 6, 3}, /* k=5, TF crop */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double err = check_conv(dnn, cases[i].spec, cases[i].h, cases[i].w, 200 + i);
        if (err >= 1e-5) print_error("transposed case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
    }
}

static void test_instance_norm(void **state)
{
    dnn_context *dnn = *state;
    struct {
        int c, h, w;
        bool relu;
        float eps;
    } cases[] = {{32, 33, 17, true, 1e-5f},
                 {3, 7, 5, false, 1e-3f},
                 {128, 4, 4, true, 1e-5f},
                 {7, 1, 1, false, 1e-5f},
                 {64, 2, 3, true, 1e-5f}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_rng rng = {300 + i};
        int c = cases[i].c, h = cases[i].h, w = cases[i].w;
        size_t n = (size_t)c * h * w;
        float *data = malloc(n * sizeof(float)), *scale = malloc(c * sizeof(float)),
              *shift = malloc(c * sizeof(float));
        /* An offset and spread per channel, as conv outputs have. */
        test_fill_uniform(&rng, data, n, -3, 5);
        test_fill_uniform(&rng, scale, c, 0.5, 1.5);
        test_fill_uniform(&rng, shift, c, -0.5, 0.5);
        ref_tensor expect = to_ref(data, c, h, w);
        ref_instance_norm(expect, scale, shift, cases[i].eps);
        if (cases[i].relu) ref_relu(expect);

        norm_layer layer;
        assert_int_equal(norm_layer_describe(&layer, dnn, c, h, w, cases[i].eps, cases[i].relu),
                         STYLE_OK);
        assert_int_equal(norm_layer_bind(&layer, dnn, scale, shift, data), STYLE_OK);
        dnn_scratchpad *scratchpad = dnn_fixture_scratchpad(layer.scratchpad_bytes);
        assert_int_equal(norm_layer_forward(&layer, dnn, scratchpad), STYLE_OK);
        assert_int_equal(dnn_context_wait(dnn, "test"), STYLE_OK);
        double *e = to_nhwc(expect);
        double err = test_rel_l2(data, e, n);
        if (err >= 1e-5) print_error("norm case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
        free(e);
        dnn_scratchpad_free(scratchpad);
        norm_layer_destroy(&layer);
        ref_tensor_free(&expect);
        free(data);
        free(scale);
        free(shift);
    }
}

static void test_reflect_pad(void **state)
{
    (void)state;
    struct {
        int c, h, w, factor, pad;
    } cases[] = {{3, 33, 17, 1, 4}, {16, 7, 5, 1, 1}, {5, 7, 5, 2, 1}, {3, 1, 1, 1, 4},
                 {2, 2, 3, 1, 4},   {4, 3, 2, 2, 4},  {8, 4, 4, 2, 0}, {1, 5, 9, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        test_rng rng = {400 + i};
        int c = cases[i].c, h = cases[i].h, w = cases[i].w, f = cases[i].factor, p = cases[i].pad;
        float *src = malloc(sizeof(float) * c * h * w);
        test_fill_uniform(&rng, src, (size_t)c * h * w, -1, 1);
        int oh = h * f + 2 * p, ow = w * f + 2 * p;
        float *dst = malloc(sizeof(float) * c * oh * ow);
        pad_reflect_nhwc(src, h, w, c, f, p, dst);
        ref_tensor in = to_ref(src, c, h, w);
        if (f == 2) {
            ref_tensor up = ref_upsample_nearest2(in);
            ref_tensor_free(&in);
            in = up;
        }
        ref_tensor expect = ref_reflect_pad(in, p);
        double *e = to_nhwc(expect);
        assert_true(test_max_abs_diff(dst, e, (size_t)c * oh * ow) == 0.0);
        free(e);
        ref_tensor_free(&expect);
        ref_tensor_free(&in);
        free(src);
        free(dst);
    }
}

static void test_reflect_matches_pytorch_definition(void **state)
{
    (void)state;
    /* ReflectionPad2d(2) of [0 1 2 3] is [2 1 | 0 1 2 3 | 2 1]. */
    int expect[] = {2, 1, 0, 1, 2, 3, 2, 1};
    for (int i = 0; i < 8; i++)
        assert_int_equal(pad_reflect_index(i - 2, 4), expect[i]);
    /* Too small to reflect: replicate. */
    assert_int_equal(pad_reflect_index(-3, 2), 0);
    assert_int_equal(pad_reflect_index(5, 2), 1);
    assert_int_equal(pad_reflect_index(-4, 1), 0);
}

static void test_residual_add(void **state)
{
    (void)state;
    test_rng rng = {500};
    size_t n = 1237;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    double *expect = malloc(n * sizeof(double));
    test_fill_uniform(&rng, x, n, -1, 1);
    test_fill_uniform(&rng, y, n, -1, 1);
    for (size_t i = 0; i < n; i++)
        expect[i] = (double)x[i] + (double)y[i];
    residual_add(x, y, n);
    assert_true(test_max_abs_diff(x, expect, n) < 1e-6);
    free(x);
    free(y);
    free(expect);
}

static void test_output_heads(void **state)
{
    (void)state;
    const int h = 5, w = 7, padded_w = 8;
    test_rng rng = {600};
    float *src = malloc(sizeof(float) * 8 * padded_w * 3);
    test_fill_uniform(&rng, src, 8 * padded_w * 3, -300, 600);
    src[0] = NAN;
    style_model fake = {0};
    for (int head = 0; head < 2; head++) {
        fake.output = head ? OUTPUT_TANH150 : OUTPUT_LINEAR;
        if (head) test_fill_uniform(&rng, src, 8 * padded_w * 3, -3, 3);
        float out_f[5 * 7 * 4];
        unsigned char out_u8[5 * 7 * 3];
        uint16_t out_u16[5 * 7 * 4];
        uint8_t alpha_u8[5 * 7 * 4];
        for (int i = 0; i < 5 * 7 * 4; i++)
            alpha_u8[i] = (uint8_t)(i * 7);
        style_image alpha = {w, h, 4, STYLE_SAMPLE_U8, 0, alpha_u8};
        style_image f = {w, h, 4, STYLE_SAMPLE_F32, 0, out_f};
        style_image u8 = {w, h, 3, STYLE_SAMPLE_U8, 0, out_u8};
        style_image u16 = {w, h, 4, STYLE_SAMPLE_U16, 0, out_u16};
        tensor_to_pixels(src, padded_w, fake.output, &alpha, &f);
        tensor_to_pixels(src, padded_w, fake.output, &alpha, &u8);
        tensor_to_pixels(src, padded_w, fake.output, &alpha, &u16);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                for (int c = 0; c < 3; c++) {
                    double v = src[((size_t)y * padded_w + x) * 3 + c];
                    double e = isnan(v) ? 0.0 : ref_output_head(&fake, v);
                    assert_true(fabs(out_f[(y * w + x) * 4 + c] - e) < 1e-3);
                    assert_true(fabs(out_u8[(y * w + x) * 3 + c] - e) <= 0.5 + 1e-3);
                    assert_true(fabs(out_u16[(y * w + x) * 4 + c] - e * 257.0) <= 0.5 + 0.02);
                }
                /* Alpha passes through (converted to the output's sample type). */
                double a = alpha_u8[(y * w + x) * 4 + 3];
                assert_true(fabs(out_f[(y * w + x) * 4 + 3] - a) < 1e-4);
                assert_int_equal(out_u16[(y * w + x) * 4 + 3], (int)(a * 257));
            }
    }
    free(src);
}

/* ---- The fused norm pass against a double-precision model of it ------------------------- */

typedef struct fused_case {
    norm_spec spec;
    bool in_place; /* source is dst (f32, unpadded, phases 1, up 1) */
    bool cscale;   /* int8 dst: per-channel relative steps */
} fused_case;

static size_t elem(act_type t)
{
    return act_type_size(t);
}

static void store_sample(void *p, size_t i, act_type t, double v)
{
    switch (t) {
    case ACT_F32:
        ((float *)p)[i] = (float)v;
        break;
    case ACT_BF16:
        ((uint16_t *)p)[i] = f32_to_bf16((float)v);
        break;
    case ACT_U8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case ACT_S8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    }
}

static double load_sample(const void *p, size_t i, act_type t)
{
    switch (t) {
    case ACT_F32:
        return ((const float *)p)[i];
    case ACT_BF16:
        return bf16_to_f32(((const uint16_t *)p)[i]);
    case ACT_U8:
        return ((const uint8_t *)p)[i];
    case ACT_S8:
        return ((const int8_t *)p)[i];
    }
    return 0;
}

static int32_t border_ref(int32_t i, int32_t n, border_mode m)
{
    if (i >= 0 && i < n) return i;
    if (m == BORDER_REPLICATE) return i < 0 ? 0 : n - 1;
    /* reflection without the edge; replicate where too small (PyTorch + our rule) */
    int32_t r = i < 0 ? -i : 2 * (n - 1) - i;
    if (n == 1 || r < 0 || r >= n) return i < 0 ? 0 : n - 1;
    return r;
}

static void check_fused(const fused_case *fc, uint64_t seed)
{
    const norm_spec *sp = &fc->spec;
    const int C = sp->channels, H = sp->h, W = sp->w, P = sp->phases, up = sp->up;
    test_rng rng = {seed};
    /* Sources: each phase its own buffer with a margin (row_pixels, y0, x0 exercised). */
    const int sh = H / P, sw = W / P, margin = 1;
    const int srow = sw + 2 * margin;
    void *src[4] = {0};
    norm_source sources[4];
    for (int i = 0; i < P * P; i++) {
        size_t n = (size_t)(sh + 2 * margin) * srow * C;
        src[i] = calloc(n, elem(sp->src_type));
        for (size_t j = 0; j < n; j++) {
            double v = sp->src_type == ACT_U8   ? (double)(test_rng_next(&rng) % 256)
                       : sp->src_type == ACT_S8 ? (double)((int)(test_rng_next(&rng) % 255) - 127)
                                                : test_rng_uniform(&rng, -2, 6);
            store_sample(src[i], j, sp->src_type, v);
        }
        sources[i] = (norm_source){src[i], srow, margin, margin};
    }
    float *scale = malloc(sizeof(float) * C), *shift = malloc(sizeof(float) * C);
    float *cs = malloc(sizeof(float) * C);
    test_fill_uniform(&rng, scale, C, 0.3, 1.7);
    test_fill_uniform(&rng, shift, C, -0.5, 0.5);
    test_fill_uniform(&rng, cs, C, 0.2, 3.0);
    const int oh = H * up + sp->pad_top + sp->pad_bottom,
              ow = W * up + sp->pad_left + sp->pad_right;
    size_t dst_count = (size_t)oh * ow * C;
    void *dst = calloc(dst_count, elem(sp->dst_type));
    float *residual = NULL;
    norm_source res_src = {0};
    if (sp->residual || sp->writeback) {
        if (sp->residual_in_dst) {
            test_fill_uniform(&rng, dst, dst_count, -3, 3);
        } else {
            residual = malloc(sizeof(float) * (size_t)(H + 2) * (W + 2) * C);
            test_fill_uniform(&rng, residual, (size_t)(H + 2) * (W + 2) * C, -3, 3);
            res_src = (norm_source){residual, W + 2, 1, 1};
        }
    }
    if (fc->in_place) {
        /* one dense f32 tensor: source and destination */
        free(dst);
        dst = calloc((size_t)H * W * C, sizeof(float));
        test_fill_uniform(&rng, dst, (size_t)H * W * C, -2, 6);
        sources[0] = (norm_source){dst, W, 0, 0};
    }

    /* The expected values (before type conversion), tensor coordinates. */
    double *x = malloc(sizeof(double) * H * W * C), *yref = malloc(sizeof(double) * H * W * C);
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            for (int c = 0; c < C; c++) {
                const norm_source *s = &sources[P == 2 ? (y % 2) * 2 + xx % 2 : 0];
                int yy = P == 2 ? y / 2 : y, xs = P == 2 ? xx / 2 : xx;
                size_t i = ((size_t)(s->y0 + yy) * s->row_pixels + s->x0 + xs) * C + c;
                double unit = sp->src_scale > 0 ? sp->src_scale : 1.0;
                x[((size_t)y * W + xx) * C + c] = load_sample(s->data, i, sp->src_type) * unit;
            }
    for (int c = 0; c < C; c++) {
        double mean = 0, var = 0;
        for (int i = 0; i < H * W; i++)
            mean += x[(size_t)i * C + c];
        mean /= H * W;
        for (int i = 0; i < H * W; i++)
            var += pow(x[(size_t)i * C + c] - mean, 2);
        var /= H * W;
        for (int i = 0; i < H * W; i++) {
            double v = x[(size_t)i * C + c];
            if (sp->normalize) v = scale[c] * (v - mean) / sqrt(var + sp->eps) + shift[c];
            if (sp->relu && v < 0) v = 0;
            if (sp->residual) {
                int y = i / W, xx = i % W;
                if (sp->residual_in_dst)
                    v += ((
                        float *)dst)[((size_t)(sp->pad_top + y) * ow + sp->pad_left + xx) * C + c];
                else
                    v += residual[((size_t)(y + 1) * (W + 2) + xx + 1) * C + c];
            }
            yref[(size_t)i * C + c] = v;
        }
    }

    norm_spec spec = *sp;
    if (fc->cscale) spec.dst_cscale = cs;
    norm_layer layer;
    assert_int_equal(norm_layer_init(&layer, &spec), STYLE_OK);
    norm_layer_set_buffers(&layer, sources, residual ? &res_src : NULL, dst);
    norm_layer_set_params(&layer, scale, shift);
    float t = norm_layer_run(&layer);

    /* Every destination sample, border included, against the reference. */
    double worst = 0;
    const bool int8 = sp->dst_type == ACT_U8 || sp->dst_type == ACT_S8;
    const int outh = fc->in_place ? H : oh, outw = fc->in_place ? W : ow;
    for (int y = 0; y < outh; y++)
        for (int xx = 0; xx < outw; xx++) {
            int ty = y - sp->pad_top, tx = xx - sp->pad_left;
            bool zero =
                sp->border == BORDER_ZERO && (ty < 0 || ty >= H * up || tx < 0 || tx >= W * up);
            int ry = border_ref(ty, H * up, sp->border) / up;
            int rx = border_ref(tx, W * up, sp->border) / up;
            for (int c = 0; c < C; c++) {
                double e = zero ? 0.0 : yref[((size_t)ry * W + rx) * C + c];
                double got = load_sample(dst, ((size_t)y * outw + xx) * C + c, sp->dst_type);
                double tol;
                if (int8) {
                    double step = t * (fc->cscale ? cs[c] : 1.0);
                    got *= step;
                    tol = 0.5 * step * 1.0001 + 1e-5 * fabs(e);
                } else if (sp->dst_type == ACT_BF16) {
                    tol = fabs(e) * (1.0 / 256) + 1e-5;
                } else {
                    tol = 2e-5 * (1 + fabs(e));
                }
                double d = fabs(got - e);
                if (d / tol > worst) worst = d / tol;
                if (d > tol) {
                    print_error("fused case at (%d,%d,%d): got %g, expected %g\n", y, xx, c, got,
                                e);
                    fail();
                }
            }
        }
    /* The residual written back. */
    if (sp->writeback && residual)
        for (int i = 0; i < H * W; i++)
            for (int c = 0; c < C; c++) {
                int y = i / W, xx = i % W;
                double got = residual[((size_t)(y + 1) * (W + 2) + xx + 1) * C + c];
                assert_true(fabs(got - yref[(size_t)i * C + c]) <= 2e-5 * (1 + fabs(got)));
            }
    norm_layer_destroy(&layer);
    for (int i = 0; i < 4; i++)
        free(src[i]);
    free(scale);
    free(shift);
    free(cs);
    free(dst);
    free(residual);
    free(x);
    free(yref);
}

static void test_fused_norm(void **state)
{
    (void)state;
    const fused_case cases[] = {
        /* sub-pixel phases, IN + ReLU, reflect-padded f32 for the next conv */
        {{.channels = 32,
          .h = 14,
          .w = 10,
          .phases = 2,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .up = 1,
          .pad_top = 2,
          .pad_left = 2,
          .pad_bottom = 2,
          .pad_right = 2,
          .border = BORDER_REFLECT},
         false,
         false},
        /* bf16 in and out, residual written back, replicate border */
        {{.channels = 16,
          .h = 7,
          .w = 9,
          .phases = 1,
          .src_type = ACT_BF16,
          .normalize = true,
          .residual = true,
          .writeback = true,
          .eps = 1e-3f,
          .dst_type = ACT_BF16,
          .up = 1,
          .pad_top = 1,
          .pad_left = 1,
          .pad_bottom = 1,
          .pad_right = 1,
          .border = BORDER_REPLICATE},
         false,
         false},
        /* in place, ReLU only (folded batch norm) */
        {{.channels = 5, .h = 3, .w = 11, .phases = 1, .relu = true, .up = 1}, true, false},
        /* in place IN, odd channels */
        {{.channels = 7, .h = 9, .w = 5, .phases = 1, .normalize = true, .eps = 1e-5f, .up = 1},
         true,
         false},
        /* nearest x2 then reflection pad 1 (upsampling stage input), zero border variant */
        {{.channels = 8,
          .h = 5,
          .w = 6,
          .phases = 1,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .up = 2,
          .pad_top = 1,
          .pad_left = 1,
          .pad_bottom = 1,
          .pad_right = 1,
          .border = BORDER_REFLECT},
         false,
         false},
        {{.channels = 8,
          .h = 5,
          .w = 6,
          .phases = 2 - 1,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .up = 1,
          .pad_top = 4,
          .pad_left = 4,
          .pad_bottom = 4,
          .pad_right = 4,
          .border = BORDER_ZERO},
         false,
         false},
        /* eight channels (the 256-bit kernel): phases in bf16 out to a padded bf16 input, and
         * a residual with a dynamic int8 destination and per-channel steps */
        {{.channels = 8,
          .h = 10,
          .w = 14,
          .phases = 2,
          .src_type = ACT_BF16,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .dst_type = ACT_BF16,
          .up = 1,
          .pad_top = 4,
          .pad_left = 4,
          .pad_bottom = 4,
          .pad_right = 4,
          .border = BORDER_REFLECT},
         false,
         false},
        {{.channels = 8,
          .h = 7,
          .w = 9,
          .phases = 1,
          .normalize = true,
          .relu = true,
          .residual = true,
          .writeback = true,
          .eps = 1e-5f,
          .dst_type = ACT_S8,
          .up = 1},
         false,
         true},
        /* residual in the (padded) destination itself */
        {{.channels = 16,
          .h = 6,
          .w = 7,
          .phases = 1,
          .normalize = true,
          .residual = true,
          .residual_in_dst = true,
          .eps = 1e-5f,
          .up = 1,
          .pad_top = 1,
          .pad_left = 1,
          .pad_bottom = 1,
          .pad_right = 1,
          .border = BORDER_REFLECT},
         false,
         false},
        /* int8: u8 after ReLU with per-channel steps (folded), phases */
        {{.channels = 32,
          .h = 8,
          .w = 12,
          .phases = 2,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .dst_type = ACT_U8,
          .up = 1,
          .pad_top = 1,
          .pad_left = 1,
          .pad_bottom = 1,
          .pad_right = 1,
          .border = BORDER_REFLECT},
         false,
         true},
        /* int8: s8 residual stream, two passes (range known after the sum), upsampled */
        {{.channels = 16,
          .h = 5,
          .w = 4,
          .phases = 1,
          .normalize = true,
          .residual = true,
          .writeback = true,
          .eps = 1e-5f,
          .dst_type = ACT_S8,
          .up = 2},
         false,
         true},
        {{.channels = 16,
          .h = 5,
          .w = 7,
          .phases = 1,
          .normalize = true,
          .residual = true,
          .writeback = true,
          .eps = 1e-5f,
          .dst_type = ACT_S8,
          .up = 1,
          .pad_top = 1,
          .pad_left = 1,
          .pad_bottom = 1,
          .pad_right = 1,
          .border = BORDER_ZERO},
         false,
         false},
        /* int8 source (a conv's u8 input step) and a fixed dst step */
        {{.channels = 16,
          .h = 6,
          .w = 6,
          .phases = 1,
          .src_type = ACT_U8,
          .src_scale = 0.03f,
          .normalize = true,
          .relu = true,
          .eps = 1e-5f,
          .dst_type = ACT_U8,
          .dst_scale = 0.02f,
          .up = 1},
         false,
         false},
        /* one pixel (zero variance: the output is the shift) */
        {{.channels = 4,
          .h = 1,
          .w = 1,
          .phases = 1,
          .normalize = true,
          .eps = 1e-5f,
          .up = 1,
          .pad_top = 2,
          .pad_left = 2,
          .pad_bottom = 2,
          .pad_right = 2,
          .border = BORDER_REFLECT},
         false,
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        print_message("  fused norm case %zu\n", i);
        check_fused(&cases[i], 700 + i);
    }
}

static void test_pad_fill_border(void **state)
{
    (void)state;
    /* 2 x 3 interior, padded 2 / 1 / 3 / 2, each mode, 2 channels. */
    const int h = 2, w = 3, t = 2, l = 1, b = 3, r = 2, c = 2;
    const int rows = t + h + b, cols = l + w + r;
    border_mode modes[] = {BORDER_ZERO, BORDER_REFLECT, BORDER_REPLICATE};
    for (int m = 0; m < 3; m++) {
        float buf[7 * 6 * 2];
        for (int i = 0; i < rows * cols * c; i++)
            buf[i] = -99;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    buf[((y + t) * cols + x + l) * c + k] = (float)(y * 10 + x + k * 100);
        pad_fill_border(buf, sizeof(float) * c, h, w, t, l, b, r, modes[m]);
        for (int y = 0; y < rows; y++)
            for (int x = 0; x < cols; x++)
                for (int k = 0; k < c; k++) {
                    int ty = y - t, tx = x - l;
                    bool zero = modes[m] == BORDER_ZERO && (ty < 0 || ty >= h || tx < 0 || tx >= w);
                    float e = zero ? 0.0f
                                   : (float)(border_ref(ty, h, modes[m]) * 10 +
                                             border_ref(tx, w, modes[m]) + k * 100);
                    assert_true(buf[(y * cols + x) * c + k] == e);
                }
    }
}

/* ---- Direct convolution (few output channels) and rectangular / typed oneDNN convs ----- */

static void test_direct_conv(void **state)
{
    (void)state;
    struct {
        int cin, cout, k, h, w;
        act_type t;
    } cases[] = {{32, 3, 9, 13, 17, ACT_F32}, {16, 3, 9, 5, 7, ACT_F32},
                 {32, 1, 3, 6, 9, ACT_F32},   {48, 4, 5, 7, 11, ACT_F32},
                 {32, 2, 1, 3, 3, ACT_F32},   {32, 3, 9, 13, 17, ACT_BF16},
                 {64, 4, 3, 9, 5, ACT_BF16},  {32, 3, 9, 13, 17, ACT_U8},
                 {32, 4, 3, 5, 9, ACT_U8},    {32, 1, 4, 7, 6, ACT_U8}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int cin = cases[i].cin, cout = cases[i].cout, k = cases[i].k, h = cases[i].h,
            w = cases[i].w;
        if (!direct_conv_supported(cin, cout, k, cases[i].t)) {
            /* Only for want of the instructions (an AVX2 machine or run): then the network
             * takes oneDNN's convolutions, which the other tests check. */
            assert_true(dnn_cpu_kernel_isa() < (cases[i].t == ACT_F32 ? 2 : 3));
            print_message("  direct conv case %zu: refused, this ISA lacks its instructions\n", i);
            continue;
        }
        test_rng rng = {800 + i};
        int ph = h + k - 1, pw = w + k - 1;
        float *in = malloc(sizeof(float) * ph * pw * cin);
        float *wt = malloc(sizeof(float) * cout * cin * k * k), bias[4];
        test_fill_uniform(&rng, in, (size_t)ph * pw * cin, -1, 1);
        test_fill_uniform(&rng, wt, (size_t)cout * cin * k * k, -0.5, 0.5);
        test_fill_uniform(&rng, bias, 4, -1, 1);
        void *src = in;
        uint16_t *in16 = NULL;
        uint8_t *in8 = NULL;
        if (cases[i].t == ACT_U8) {
            /* u8 steps of 0.01: the reference sees the dequantized values */
            in8 = malloc((size_t)ph * pw * cin);
            for (int j = 0; j < ph * pw * cin; j++) {
                in8[j] = (uint8_t)(test_rng_next(&rng) % 256);
                in[j] = in8[j] * 0.01f;
            }
            src = in8;
        }
        if (cases[i].t == ACT_BF16) {
            /* round inputs and weights to bf16 so that the reference sees the same values */
            in16 = malloc(sizeof(uint16_t) * ph * pw * cin);
            for (int j = 0; j < ph * pw * cin; j++) {
                in16[j] = f32_to_bf16(in[j]);
                in[j] = bf16_to_f32(in16[j]);
            }
            for (int j = 0; j < cout * cin * k * k; j++)
                wt[j] = bf16_to_f32(f32_to_bf16(wt[j]));
            src = in16;
        }
        direct_conv dc;
        assert_int_equal(direct_conv_init(&dc, cin, cout, k, h, w, cases[i].t, wt, bias), STYLE_OK);
        dc.src_scale = 0.01f;
        float *out = malloc(sizeof(float) * h * w * cout);
        direct_conv_forward(&dc, src, out);
        ref_tensor r = to_ref(in, cin, ph, pw);
        ref_tensor e = ref_conv2d(r, wt, bias, cout, k, 1, 0, 0, 0, 0);
        double *en = to_nhwc(e);
        double err = test_rel_l2(out, en, (size_t)h * w * cout);
        print_message("  direct conv %dx%d %d->%d %s: rel L2 %.2e\n", k, k, cin, cout,
                      cases[i].t == ACT_F32    ? "fp32"
                      : cases[i].t == ACT_BF16 ? "bf16"
                                               : "u8",
                      err);
        /* u8: the weights are quantized (s8 per output channel) */
        assert_true(err < (cases[i].t == ACT_F32 ? 1e-6 : cases[i].t == ACT_BF16 ? 1e-5 : 1e-2));
        free(en);
        ref_tensor_free(&e);
        ref_tensor_free(&r);
        direct_conv_destroy(&dc);
        free(out);
        free(in);
        free(in16);
        free(in8);
        free(wt);
    }
}

/* A kh x kw conv (oneDNN) against a naive loop; bf16 / int8 with their expected error. */
/* packs > 1: the conv runs column-packed (conv_pack_columns); the reference is the conv as
 * written, and the two outputs share one memory layout. */
static double check_packed_conv(dnn_context *dnn, int cin, int cout, int kh, int kw, int h, int w, int pt,
                                int pl, int pb, int pr, act_type t, int packs, uint64_t seed)
{
    test_rng rng = {seed};
    conv_spec spec = {cin, cout, kh, 1, pt, pl, pb, pr, false, false, false};
    float *wt = malloc(sizeof(float) * cout * cin * kh * kw), *bias = malloc(sizeof(float) * cout);
    test_fill_uniform(&rng, wt, (size_t)cout * cin * kh * kw, -0.5, 0.5);
    test_fill_uniform(&rng, bias, cout, -0.5, 0.5);
    conv_options opt = {
        .kernel_w = kw, .src_type = t, .dst_type = ACT_F32, .src_scale = 0.02f, .int8_weights = wt};
    conv_layer layer;
    float *run_wt = wt, *run_bias = bias;
    if (packs > 1)
        assert_int_equal(conv_pack_columns(&spec, &opt, packs, wt, bias, &run_wt, &run_bias),
                         STYLE_OK);
    assert_int_equal(conv_layer_describe_ex(&layer, dnn, &spec, &opt, h, w), STYLE_OK);
    int oh = layer.out_h, ow = layer.out_w * packs;
    assert_int_equal(ow, w + pl + pr - kw + 1);
    size_t n_in = (size_t)h * w * cin;
    void *src = malloc(n_in * 4);
    double *x = malloc(sizeof(double) * n_in);
    for (size_t i = 0; i < n_in; i++) {
        if (t == ACT_U8) {
            ((uint8_t *)src)[i] = (uint8_t)(test_rng_next(&rng) % 256);
            x[i] = ((uint8_t *)src)[i] * 0.02;
        } else if (t == ACT_S8) {
            ((int8_t *)src)[i] = (int8_t)((int)(test_rng_next(&rng) % 255) - 127);
            x[i] = ((int8_t *)src)[i] * 0.02;
        } else if (t == ACT_BF16) {
            ((uint16_t *)src)[i] = f32_to_bf16((float)test_rng_uniform(&rng, -1, 1));
            x[i] = bf16_to_f32(((uint16_t *)src)[i]);
        } else {
            ((float *)src)[i] = (float)test_rng_uniform(&rng, -1, 1);
            x[i] = ((float *)src)[i];
        }
    }
    float *dst = malloc(sizeof(float) * oh * ow * cout);
    assert_int_equal(conv_layer_bind(&layer, dnn, run_wt, run_bias, src, dst), STYLE_OK);
    dnn_scratchpad *scratchpad = dnn_fixture_scratchpad(layer.scratchpad_bytes);
    assert_int_equal(conv_layer_forward(&layer, dnn, scratchpad), STYLE_OK);
    assert_int_equal(dnn_context_wait(dnn, "test"), STYLE_OK);
    if (packs > 1) {
        free(run_wt);
        free(run_bias);
    }
    double *e = malloc(sizeof(double) * oh * ow * cout);
    for (int y = 0; y < oh; y++)
        for (int xx = 0; xx < ow; xx++)
            for (int o = 0; o < cout; o++) {
                double acc = bias[o];
                for (int i = 0; i < cin; i++)
                    for (int a = 0; a < kh; a++)
                        for (int c2 = 0; c2 < kw; c2++) {
                            int sy = y - pt + a, sx = xx - pl + c2;
                            if (sy < 0 || sy >= h || sx < 0 || sx >= w) continue;
                            acc += x[((size_t)sy * w + sx) * cin + i] *
                                   wt[(((size_t)o * cin + i) * kh + a) * kw + c2];
                        }
                e[((size_t)y * ow + xx) * cout + o] = acc;
            }
    double err = test_rel_l2(dst, e, (size_t)oh * ow * cout);
    dnn_scratchpad_free(scratchpad);
    conv_layer_destroy(&layer);
    free(wt);
    free(bias);
    free(src);
    free(x);
    free(dst);
    free(e);
    return err;
}

static double check_typed_conv(dnn_context *dnn, int cin, int cout, int kh, int kw, int h, int w, int pt,
                               int pl, int pb, int pr, act_type t, uint64_t seed)
{
    return check_packed_conv(dnn, cin, cout, kh, kw, h, w, pt, pl, pb, pr, t, 1, seed);
}

static void test_typed_and_rectangular_conv(void **state)
{
    dnn_context *dnn = *state;
    /* sub-pixel phase shapes: 2x2, 2x1, 1x2, 1x1 with one-sided padding */
    assert_true(check_typed_conv(dnn, 64, 32, 2, 2, 9, 7, 1, 1, 0, 0, ACT_F32, 901) < 1e-5);
    assert_true(check_typed_conv(dnn, 64, 32, 2, 1, 9, 7, 1, 0, 0, 0, ACT_F32, 902) < 1e-5);
    assert_true(check_typed_conv(dnn, 16, 8, 1, 2, 5, 6, 0, 0, 0, 1, ACT_F32, 903) < 1e-5);
    assert_true(check_typed_conv(dnn, 16, 8, 1, 1, 5, 6, 0, 0, 0, 0, ACT_F32, 904) < 1e-5);
    int isa = dnn_cpu_kernel_isa();
    if (isa >= 3) {
        double e = check_typed_conv(dnn, 32, 64, 3, 3, 11, 9, 1, 1, 1, 1, ACT_BF16, 905);
        print_message("  bf16 conv rel L2 %.2e\n", e);
        assert_true(e < 1e-2);
    } else {
        print_message("  bf16 conv: this ISA has no bf16 (AVX-512 BF16) to check\n");
    }
    if (dnn_cpu_has_int8_vnni()) {
        double e1 = check_typed_conv(dnn, 32, 64, 3, 3, 11, 9, 1, 1, 1, 1, ACT_U8, 906);
        double e2 = check_typed_conv(dnn, 64, 16, 2, 2, 7, 10, 1, 1, 0, 0, ACT_S8, 907);
        print_message("  int8 conv rel L2: u8 %.2e, s8 %.2e (weights quantized)\n", e1, e2);
        assert_true(e1 < 2e-2);
        assert_true(e2 < 2e-2);
    } else {
        print_message("  int8 conv: this ISA has no VNNI to check\n");
    }
}

/* The output conv (few output channels) computed column-packed, against the conv as
 * written: pre-padded inputs (no primitive padding) and zero padding, square and rectangular
 * kernels, every pack count up to 16 channels, odd heights. */
static void test_packed_output_conv(void **state)
{
    dnn_context *dnn = *state;
    const int cases[][9] = {
        /* cin cout kh kw  h   w  pads packs seed */
        {16, 3, 9, 9, 13, 28, 0, 5, 1}, {16, 3, 9, 9, 11, 23, 0, 3, 2},
        {32, 3, 9, 9, 10, 26, 0, 2, 3}, {16, 3, 3, 3, 9, 12, 1, 4, 4},
        {8, 4, 5, 3, 6, 16, 1, 4, 5},   {16, 1, 9, 9, 5, 32, 4, 16, 6},
        {16, 1, 9, 9, 5, 24, 4, 8, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const int *c = cases[i];
        int p = c[6];
        double e = check_packed_conv(dnn, c[0], c[1], c[2], c[3], c[4], c[5], p, p, p, p, ACT_F32,
                                     c[7], 910 + c[8]);
        print_message("  packed x%d: %d -> %d, %dx%d kernel, %dx%d input: rel L2 %.2e\n", c[7],
                      c[0], c[1], c[2], c[3], c[5], c[4], e);
        assert_true(e < 1e-5);
    }
    if (dnn_cpu_kernel_isa() >= 3) {
        double e = check_packed_conv(dnn, 16, 3, 9, 9, 12, 43, 0, 0, 0, 0, ACT_BF16, 5, 920);
        print_message("  packed x5 bf16: rel L2 %.2e\n", e);
        assert_true(e < 1e-2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_shapes),
        cmocka_unit_test(test_transposed_conv),
        cmocka_unit_test(test_instance_norm),
        cmocka_unit_test(test_reflect_pad),
        cmocka_unit_test(test_reflect_matches_pytorch_definition),
        cmocka_unit_test(test_residual_add),
        cmocka_unit_test(test_output_heads),
        cmocka_unit_test(test_fused_norm),
        cmocka_unit_test(test_pad_fill_border),
        cmocka_unit_test(test_direct_conv),
        cmocka_unit_test(test_typed_and_rectangular_conv),
        cmocka_unit_test(test_packed_output_conv),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
