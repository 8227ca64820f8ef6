/*
 * Every layer against the double-precision reference on random data, odd sizes included:
 * convolution (zero / asymmetric padding, strides 1 and 2, fused ReLU and residual sum),
 * transposed convolution (TF and PyTorch crops), instance norm (+ReLU), reflection padding
 * with and without nearest x2 upsampling, the residual add and the output heads.
 */
#include "layers.h"
#include "pixels.h"
#include "reference.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct backend {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
} backend;

static int setup(void **state)
{
    backend *b = calloc(1, sizeof *b);
    if (dnnl_engine_create(&b->engine, dnnl_cpu, 0) != dnnl_success) return -1;
    if (dnnl_stream_create(&b->stream, b->engine, dnnl_stream_default_flags) != dnnl_success)
        return -1;
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    backend *b = *state;
    dnnl_stream_destroy(b->stream);
    dnnl_engine_destroy(b->engine);
    free(b);
    return 0;
}

/* NHWC float <-> NCHW double reference tensors. */
static ref_tensor to_ref(const float *nhwc, int c, int h, int w)
{
    ref_tensor t = ref_tensor_new(c, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) REF_AT(t, ch, y, x) = nhwc[((size_t)y * w + x) * c + ch];
    return t;
}

static double *to_nhwc(ref_tensor t)
{
    double *out = malloc(sizeof(double) * t.c * t.h * t.w);
    for (int y = 0; y < t.h; y++)
        for (int x = 0; x < t.w; x++)
            for (int ch = 0; ch < t.c; ch++) out[((size_t)y * t.w + x) * t.c + ch] = REF_AT(t, ch, y, x);
    return out;
}

/* Runs one conv layer and its reference; returns the relative L2 error. */
static double check_conv(backend *b, conv_spec spec, int h, int w, uint64_t seed)
{
    test_rng rng = {seed};
    conv_layer layer;
    assert_int_equal(conv_layer_describe(&layer, b->engine, &spec, h, w), STYLE_OK);
    size_t in_count = (size_t)h * w * spec.in_channels;
    size_t out_count = (size_t)layer.out_h * layer.out_w * spec.out_channels;
    size_t w_count = (size_t)spec.out_channels * spec.in_channels * spec.kernel * spec.kernel;
    float *src = malloc(in_count * sizeof(float)), *dst = malloc(out_count * sizeof(float));
    float *weights = malloc(w_count * sizeof(float)), *bias = malloc(spec.out_channels * sizeof(float));
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
        for (size_t i = 0; i < n; i++) expect.data[i] += residual.data[i];
    if (spec.relu) ref_relu(expect);

    assert_int_equal(conv_layer_bind(&layer, b->engine, b->stream, weights, bias, src, dst), STYLE_OK);
    void *scratch = layer.scratchpad_bytes ? malloc(layer.scratchpad_bytes) : NULL;
    dnnl_memory_t scratch_mem = NULL;
    if (scratch) {
        dnnl_memory_desc_t md;
        dnnl_dims_t dims = {(dnnl_dim_t)layer.scratchpad_bytes};
        dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a);
        dnnl_memory_create(&scratch_mem, &md, b->engine, scratch);
    }
    assert_int_equal(conv_layer_forward(&layer, b->stream, scratch_mem), STYLE_OK);
    dnnl_stream_wait(b->stream);
    double *expect_nhwc = to_nhwc(expect);
    double err = test_rel_l2(dst, expect_nhwc, n);

    if (scratch_mem) dnnl_memory_destroy(scratch_mem);
    free(scratch);
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
    backend *b = *state;
    /* {in, out, k, stride, pads t l b r, relu, sum}, sizes (h, w) */
    struct {
        conv_spec spec;
        int h, w;
    } cases[] = {
        {{3, 32, 9, 1, 4, 4, 4, 4, false, true, false}, 33, 17},
        {{3, 32, 9, 1, 0, 0, 0, 0, false, false, false}, 15, 11},  /* pre-padded input */
        {{32, 64, 3, 2, 1, 1, 1, 1, false, true, false}, 7, 5},
        {{32, 64, 3, 2, 0, 0, 1, 1, false, false, false}, 34, 18}, /* TF SAME, even */
        {{16, 16, 3, 2, 1, 1, 1, 1, false, false, false}, 33, 17}, /* odd, stride 2 */
        {{5, 7, 3, 1, 1, 1, 1, 1, false, true, false}, 7, 5},      /* odd channels */
        {{128, 128, 3, 1, 1, 1, 1, 1, false, false, true}, 9, 11}, /* residual sum */
        {{128, 128, 3, 1, 1, 1, 1, 1, false, true, true}, 4, 4},   /* sum then relu */
        {{32, 3, 9, 1, 4, 4, 4, 4, false, false, false}, 12, 20},
        {{8, 4, 1, 1, 0, 0, 0, 0, false, false, false}, 1, 1},     /* 1x1 */
        {{3, 4, 3, 1, 1, 1, 1, 1, false, false, false}, 1, 1},     /* all padding */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double err = check_conv(b, cases[i].spec, cases[i].h, cases[i].w, 100 + i);
        if (err >= 1e-5) print_error("conv case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
    }
}

static void test_transposed_conv(void **state)
{
    backend *b = *state;
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
        double err = check_conv(b, cases[i].spec, cases[i].h, cases[i].w, 200 + i);
        if (err >= 1e-5) print_error("transposed case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
    }
}

static void test_instance_norm(void **state)
{
    backend *b = *state;
    struct {
        int c, h, w;
        bool relu;
        float eps;
    } cases[] = {{32, 33, 17, true, 1e-5f}, {3, 7, 5, false, 1e-3f}, {128, 4, 4, true, 1e-5f},
                 {7, 1, 1, false, 1e-5f},   {64, 2, 3, true, 1e-5f}};
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
        assert_int_equal(norm_layer_describe(&layer, b->engine, c, h, w, cases[i].eps, cases[i].relu),
                         STYLE_OK);
        assert_int_equal(norm_layer_bind(&layer, b->engine, scale, shift, data), STYLE_OK);
        void *scratch = layer.scratchpad_bytes ? malloc(layer.scratchpad_bytes) : NULL;
        dnnl_memory_t scratch_mem = NULL;
        if (scratch) {
            dnnl_memory_desc_t md;
            dnnl_dims_t dims = {(dnnl_dim_t)layer.scratchpad_bytes};
            dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a);
            dnnl_memory_create(&scratch_mem, &md, b->engine, scratch);
        }
        assert_int_equal(norm_layer_forward(&layer, b->stream, scratch_mem), STYLE_OK);
        dnnl_stream_wait(b->stream);
        double *e = to_nhwc(expect);
        double err = test_rel_l2(data, e, n);
        if (err >= 1e-5) print_error("norm case %zu: rel err %g\n", i, err);
        assert_true(err < 1e-5);
        free(e);
        if (scratch_mem) dnnl_memory_destroy(scratch_mem);
        free(scratch);
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
    for (int i = 0; i < 8; i++) assert_int_equal(pad_reflect_index(i - 2, 4), expect[i]);
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
    for (size_t i = 0; i < n; i++) expect[i] = (double)x[i] + (double)y[i];
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
        for (int i = 0; i < 5 * 7 * 4; i++) alpha_u8[i] = (uint8_t)(i * 7);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
