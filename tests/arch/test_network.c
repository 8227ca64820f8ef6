/*
 * The whole transform network against the double-precision reference, for every architecture
 * variant the metadata allows (random weights written to model files by the test), plus the
 * session behaviours around it: the size rule, alpha, budgets, progress and cancellation,
 * batches and determinism.
 */
#include "model_builder.h"
#include "arch/network.h"
#include "reference.h"
#include "dnn_fixture.h"

#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* A random 0..255 image tensor, smooth enough to look like a picture plus noise. */
static float *random_image(test_rng *rng, int h, int w)
{
    float *img = malloc(sizeof(float) * h * w * 3);
    double phase[3] = {test_rng_uniform(rng, 0, 6), test_rng_uniform(rng, 0, 6),
                       test_rng_uniform(rng, 0, 6)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                img[(y * w + x) * 3 + c] =
                    (float)(127.5 + 90 * sin(0.21 * x + 0.13 * y + phase[c]) +
                            test_rng_uniform(rng, -30, 30));
    return img;
}

static ref_tensor image_to_ref(const float *img, int h, int w)
{
    ref_tensor t = ref_tensor_new(3, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                REF_AT(t, c, y, x) = img[(y * w + x) * 3 + c];
    return t;
}

/* Runs the plan on one image, returns the raw output's relative L2 error vs the reference. */
static double network_error(const test_model_config *config, uint64_t seed, int h, int w)
{
    style_model *model = test_build_model(config, seed);
    dnn_context *dnn = dnn_fixture();
    network_plan plan;
    assert_int_equal(network_plan_describe(&plan, model, dnn, h, w), STYLE_OK);
    assert_int_equal(network_plan_bind(&plan, dnn), STYLE_OK);
    test_rng rng = {seed + 1};
    float *img = random_image(&rng, h, w);
    memcpy(plan.buffers[BUF_INPUT], img, sizeof(float) * h * w * 3);
    assert_int_equal(network_plan_run(&plan, dnn, NULL, NULL), STYLE_OK);

    ref_tensor in = image_to_ref(img, h, w);
    ref_tensor expect = ref_network(model, in);
    assert_int_equal(expect.h, h);
    assert_int_equal(expect.w, w);
    double *e = malloc(sizeof(double) * h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                e[(y * w + x) * 3 + c] = REF_AT(expect, c, y, x);
    double err = test_rel_l2(plan.buffers[BUF_OUTPUT], e, (size_t)h * w * 3);

    free(e);
    ref_tensor_free(&expect);
    ref_tensor_free(&in);
    free(img);
    network_plan_destroy(&plan);
    style_model_free(model);
    return err;
}

static void expect_network(const char *what, const test_model_config *c, int h, int w)
{
    double err = network_error(c, 42, h, w);
    print_message("  %-44s %3dx%-3d rel L2 %.2e\n", what, w, h, err);
    assert_true(err < 1e-5);
}

static void test_default_architecture(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    expect_network("32/64/128 reflect nearest instance", &c, 36, 44);
    expect_network("same, 1 block, tiny 4x4",
                   &(test_model_config){{32, 64, 128},
                                        1,
                                        "reflect",
                                        "nearest_conv",
                                        "instance",
                                        "linear",
                                        false,
                                        true,
                                        NULL,
                                        false,
                                        0},
                   4, 4);
}

static void test_half_width_variants(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 16, c.widths[1] = 32, c.widths[2] = 64;
    c.padding = "zero";
    c.upsample = "transposed_torch";
    expect_network("16/32/64 zero transposed_torch instance", &c, 20, 28);
    c.norm = "batch";
    c.bias = false;
    expect_network("16/32/64 zero transposed_torch batch nobias", &c, 20, 28);
    c.padding = "reflect";
    c.upsample = "transposed_tf";
    c.final_norm = true;
    expect_network("16/32/64 reflect transposed_tf batch in6", &c, 12, 8);
}

static void test_ml5_like_architecture(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.padding = "tf_same";
    c.upsample = "transposed_tf";
    c.output = "tanh150";
    c.final_norm = true;
    c.bias = false;
    c.eps = "0.001";
    expect_network("tf_same transposed_tf in6 eps 1e-3", &c, 20, 36);
    c.upsample = "nearest_conv";
    c.norm = "batch";
    expect_network("tf_same nearest_conv batch in6", &c, 16, 12);
}

/* Public API: any size works, output size == input size, matching the reference of the
 * reflection-extended image cropped back. */
static void test_any_size_through_api(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 2;
    style_model *model = test_build_model(&c, 7);
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    int sizes[][2] = {{1, 1}, {2, 3}, {7, 5}, {33, 17}, {5, 1}, {12, 8}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        int w = sizes[s][0], h = sizes[s][1];
        test_rng rng = {s};
        float *pixels = random_image(&rng, h, w);
        for (int i = 0; i < h * w * 3; i++)
            pixels[i] = fminf(fmaxf(pixels[i], 0), 255);
        style_image in = {w, h, 3, STYLE_SAMPLE_F32, 0, pixels};
        style_image out = {0};
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
        assert_int_equal(out.width, w);
        assert_int_equal(out.height, h);
        assert_int_equal(out.channels, 3);

        /* Reference: extend to a multiple of 4 by reflection (replicate where too small). */
        int ph = (h + 3) / 4 * 4, pw = (w + 3) / 4 * 4;
        ref_tensor padded = ref_tensor_new(3, ph, pw);
        for (int y = 0; y < ph; y++)
            for (int x = 0; x < pw; x++) {
                int sy = y < h ? y : (2 * (h - 1) - y >= 0 ? 2 * (h - 1) - y : h - 1);
                int sx = x < w ? x : (2 * (w - 1) - x >= 0 ? 2 * (w - 1) - x : w - 1);
                if (h == 1) sy = 0;
                if (w == 1) sx = 0;
                for (int ch = 0; ch < 3; ch++)
                    REF_AT(padded, ch, y, x) = pixels[(sy * w + sx) * 3 + ch];
            }
        ref_tensor expect = ref_network(model, padded);
        double *e = malloc(sizeof(double) * h * w * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < 3; ch++)
                    e[(y * w + x) * 3 + ch] = ref_output_head(model, REF_AT(expect, ch, y, x));
        double max = test_max_abs_diff(out.data, e, (size_t)h * w * 3);
        print_message("  %dx%d through the API: max |diff| %.2e (0..255 scale)\n", w, h, max);
        assert_true(max < 1e-2);
        free(e);
        ref_tensor_free(&expect);
        ref_tensor_free(&padded);
        style_image_release(&out);
        free(pixels);
    }
    style_session_free(session);
    style_model_free(model);
}

/* ---- johnson-cin: a style, or a blend of them ------------------------------------------- */

/* Runs `session` on an f32 image (h, w multiples of 4) and returns the output (caller frees). */
static float *stylize_f32(style_session *session, const float *pixels, int h, int w)
{
    style_image in = {w, h, 3, STYLE_SAMPLE_F32, 0, (void *)pixels};
    style_image out = {0};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    float *copy = malloc(sizeof(float) * h * w * 3);
    memcpy(copy, out.data, sizeof(float) * h * w * 3);
    style_image_release(&out);
    return copy;
}

/*
 * The double reference with every norm's scale and shift set to sum_s w_s row_s (weights as
 * given, normalised here in double): the model's description is copied and its norms pointed
 * at the blended values.
 */
static double *blended_reference(const style_model *model, const double *weights,
                                 const float *pixels, int h, int w)
{
    double sum = 0;
    for (int s = 0; s < model->style_count; s++)
        sum += weights[s];
    style_model *copy = malloc(sizeof *copy);
    memcpy(copy, model, sizeof *copy);
    model_norm *norms[MODEL_MAX_NORMS];
    int32_t count = model_norms(copy, norms);
    float *params[MODEL_MAX_NORMS];
    for (int32_t i = 0; i < count; i++) {
        const int32_t c = norms[i]->channels;
        params[i] = malloc(sizeof(float) * 2 * c);
        for (int32_t k = 0; k < c; k++) {
            double scale = 0, shift = 0;
            for (int s = 0; s < model->style_count; s++) {
                scale += weights[s] / sum * norms[i]->style_scale[s * c + k];
                shift += weights[s] / sum * norms[i]->style_shift[s * c + k];
            }
            params[i][k] = (float)scale;
            params[i][c + k] = (float)shift;
        }
        norms[i]->scale = params[i];
        norms[i]->shift = params[i] + c;
    }
    ref_tensor in = image_to_ref(pixels, h, w);
    ref_tensor out = ref_network(copy, in);
    double *e = malloc(sizeof(double) * h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                e[(y * w + x) * 3 + c] = ref_output_head(copy, REF_AT(out, c, y, x));
    ref_tensor_free(&out);
    ref_tensor_free(&in);
    for (int32_t i = 0; i < count; i++)
        free(params[i]);
    free(copy);
    return e;
}

static void test_cin_styles_and_blends(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 2;
    c.styles = 3;
    style_model *model = test_build_model(&c, 61);
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    const int h = 20, w = 28;
    test_rng rng = {62};
    float *pixels = random_image(&rng, h, w);
    for (int i = 0; i < h * w * 3; i++)
        pixels[i] = fminf(fmaxf(pixels[i], 0), 255);

    /* Default: style 0; then each style by index; then blends (not normalised as given). */
    const double cases[][3] = {{1, 0, 0}, {0, 1, 0},       {0, 0, 1},
                               {1, 0, 3}, {0.2, 0.5, 0.3}, {2, 2, 2}};
    float *previous = NULL;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const double *wt = cases[i];
        if (i == 0) {
            /* Nothing set: style 0. */
        } else if (i < 3) {
            assert_int_equal(style_session_set_style(session, i), STYLE_OK);
        } else {
            float weights[3] = {(float)wt[0], (float)wt[1], (float)wt[2]};
            assert_int_equal(style_session_set_style_weights(session, weights, 3), STYLE_OK);
        }
        float *got = stylize_f32(session, pixels, h, w);
        double *expect = blended_reference(model, wt, pixels, h, w);
        double max = test_max_abs_diff(got, expect, (size_t)h * w * 3);
        print_message("  style weights (%g, %g, %g): max |diff| %.2e vs the reference\n", wt[0],
                      wt[1], wt[2], max);
        assert_true(max < 1e-2);
        /* The styles differ: a run does not just repeat the previous one. */
        if (previous) assert_true(memcmp(got, previous, sizeof(float) * h * w * 3) != 0);
        free(previous);
        previous = got;
        free(expect);
    }
    /* One-hot weights are the style itself, bit for bit. */
    const float one_hot[3] = {0, 5, 0};
    assert_int_equal(style_session_set_style_weights(session, one_hot, 3), STYLE_OK);
    float *a = stylize_f32(session, pixels, h, w);
    assert_int_equal(style_session_set_style(session, 1), STYLE_OK);
    float *b = stylize_f32(session, pixels, h, w);
    assert_memory_equal(a, b, sizeof(float) * h * w * 3);
    free(a);

    /* Refused weights leave the session's style as it was (style 1). */
    const float negative[3] = {1, -0.5f, 1}, zero[3] = {0, 0, 0}, nan_weight[3] = {1, NAN, 0},
                inf_weight[3] = {1, INFINITY, 0};
    const struct {
        const float *weights;
        size_t count;
        const char *part;
    } bad[] = {{negative, 3, "weight 1"},
               {zero, 3, "sum to 0"},
               {nan_weight, 3, "weight 1"},
               {inf_weight, 3, "weight 1"},
               {one_hot, 2, "2 weights"},
               {one_hot, 4, "4 weights"},
               {NULL, 3, "NULL"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(style_session_set_style_weights(session, bad[i].weights, bad[i].count),
                         STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), bad[i].part));
    }
    assert_int_equal(style_session_set_style(session, 3), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "out of range"));
    assert_int_equal(style_session_set_style(NULL, 0), STYLE_ERR_INVALID_ARGUMENT);
    float *still = stylize_f32(session, pixels, h, w);
    assert_memory_equal(still, b, sizeof(float) * h * w * 3);
    free(still);
    free(b);

    /* Banded runs (images over the memory budget) use the style too. */
    assert_int_equal(style_session_set_style(session, 2), STYLE_OK);
    float *whole = stylize_f32(session, pixels, h, w);
    assert_int_equal(style_session_set_band_rows(session, 8), STYLE_OK);
    float *bands = stylize_f32(session, pixels, h, w);
    assert_int_equal(style_session_set_band_rows(session, 0), STYLE_OK);
    double band_diff = 0;
    for (int i = 0; i < h * w * 3; i++)
        band_diff = fmax(band_diff, fabs(bands[i] - whole[i]));
    print_message("  style 2 in bands of 8 rows: max |diff| %.2e vs the whole image\n", band_diff);
    assert_true(band_diff < 1e-2);
    free(whole), free(bands);
    assert_int_equal(style_session_set_style(session, 1), STYLE_OK);

    /* int8 and bf16 plans are rebuilt for the new style's parameters: switching styles and
     * back gives the same image as a fresh session of that style. */
    if (style_precision_supported(STYLE_PRECISION_BF16)) {
        assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_BF16), STYLE_OK);
        float *x = stylize_f32(session, pixels, h, w);
        assert_int_equal(style_session_set_style(session, 2), STYLE_OK);
        float *y = stylize_f32(session, pixels, h, w);
        assert_int_equal(style_session_set_style(session, 1), STYLE_OK);
        float *z = stylize_f32(session, pixels, h, w);
        assert_memory_equal(x, z, sizeof(float) * h * w * 3);
        assert_true(memcmp(x, y, sizeof(float) * h * w * 3) != 0);
        free(x), free(y), free(z);
    }
    free(previous);
    free(pixels);
    style_session_free(session);
    style_model_free(model);

    /* A single-style model has no styles to choose. */
    model = test_build_model(&(test_model_config){.widths = {8, 16, 32},
                                                  .residual_blocks = 1,
                                                  .padding = "reflect",
                                                  .upsample = "nearest_conv",
                                                  .norm = "instance",
                                                  .output = "linear",
                                                  .bias = true},
                             63);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_style(session, 0), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "single style"));
    assert_int_equal(style_session_set_style_weights(session, one_hot, 1),
                     STYLE_ERR_INVALID_ARGUMENT);
    style_session_free(session);
    style_model_free(model);
}

static style_model *small_model(void)
{
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    return test_build_model(&c, 3);
}

static void test_alpha_and_formats(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    const int w = 13, h = 9;
    uint8_t rgba[13 * 9 * 4];
    for (int i = 0; i < w * h * 4; i++)
        rgba[i] = (uint8_t)(i * 37 + 11);
    style_image in = {w, h, 4, STYLE_SAMPLE_U8, 0, rgba};
    style_image out = {0};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    assert_int_equal(out.channels, 4);
    for (int i = 0; i < w * h; i++)
        assert_int_equal(((uint8_t *)out.data)[i * 4 + 3], rgba[i * 4 + 3]);

    /* The same pixels as RGB U16 with a strided RGB float output give the same colours. */
    uint16_t rgb16[13 * 9 * 3];
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++)
            rgb16[i * 3 + c] = (uint16_t)(rgba[i * 4 + c] * 257);
    float rgbf[9][16 * 3];
    style_image in16 = {w, h, 3, STYLE_SAMPLE_U16, 0, rgb16};
    style_image outf = {w, h, 3, STYLE_SAMPLE_F32, sizeof rgbf[0], rgbf};
    assert_int_equal(style_session_stylize(session, &in16, &outf), STYLE_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                assert_true(fabsf(rgbf[y][x * 3 + c] -
                                  ((uint8_t *)out.data)[(y * w + x) * 4 + c]) <= 0.5f + 1e-3f);

    /* An RGBA output from an RGB input is opaque. */
    style_image out4 = {0};
    uint8_t opaque[13 * 9 * 4];
    out4 = (style_image){w, h, 4, STYLE_SAMPLE_U8, 0, opaque};
    assert_int_equal(style_session_stylize(session, &in16, &out4), STYLE_OK);
    for (int i = 0; i < w * h; i++)
        assert_int_equal(opaque[i * 4 + 3], 255);

    style_image_release(&out);
    style_session_free(session);
    style_model_free(model);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    uint8_t pixels[8 * 8 * 3] = {0}, other[8 * 8 * 3];
    style_image in = {8, 8, 3, STYLE_SAMPLE_U8, 0, pixels};
    style_image out = {8, 7, 3, STYLE_SAMPLE_U8, 0, other};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "8x7"));
    out.height = 8;
    out.channels = 2;
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_INVALID_ARGUMENT);
    out.channels = 3;
    in.stride = 5; /* shorter than a row */
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_INVALID_ARGUMENT);
    in.stride = 0;
    assert_int_equal(style_session_stylize(session, &in, &in), STYLE_ERR_INVALID_ARGUMENT);
    in.width = 0;
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_stylize(NULL, &in, &out), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_threads(session, -1), STYLE_ERR_INVALID_ARGUMENT);
    style_session *none = (style_session *)&in; /* must be reset to NULL */
    assert_int_equal(style_session_create(NULL, &none), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(none);
    style_session_free(NULL);
    style_model_free(NULL);
    style_image_release(NULL);
    style_session_free(session);
    style_model_free(model);
}

static void test_memory_budget(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    uint64_t small = 0, large = 0;
    assert_int_equal(style_session_estimate_memory(session, 64, 64, &small), STYLE_OK);
    assert_int_equal(style_session_estimate_memory(session, 256, 256, &large), STYLE_OK);
    assert_true(small > 64 * 64 * 3 * 4);
    assert_true(large > 8 * small); /* activations dominate: ~16x the pixels */
    assert_int_equal(style_session_set_memory_budget(session, small + 1), STYLE_OK);
    uint8_t *pixels = calloc(256 * 256 * 3, 1);
    style_image in = {256, 256, 3, STYLE_SAMPLE_U8, 0, pixels};
    style_image out = {0};
    /* Over the budget: computed in bands (test_pipeline.c checks them), not refused. */
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    style_image_release(&out);
    in.width = in.height = 64;
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    style_image_release(&out);
    /* Too small even for bands: refused before anything is written. */
    assert_int_equal(style_session_set_memory_budget(session, 4096), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "memory budget"));
    assert_null(out.data);
    free(pixels);
    style_session_free(session);
    style_model_free(model);
}

typedef struct progress_log {
    int calls;
    double last;
    int cancel_at;
    int monotonic;
} progress_log;

static int on_progress(void *user, double fraction)
{
    progress_log *log = user;
    if (fraction < log->last) log->monotonic = 0;
    log->last = fraction;
    log->calls++;
    return log->cancel_at && log->calls >= log->cancel_at;
}

static void test_progress_and_cancel(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    uint8_t pixels[16 * 16 * 3] = {0};
    style_image in[2] = {{16, 16, 3, STYLE_SAMPLE_U8, 0, pixels},
                         {16, 16, 3, STYLE_SAMPLE_U8, 0, pixels}};
    style_image out[2] = {{0}, {0}};
    progress_log log = {0, 0, 0, 1};
    assert_int_equal(style_session_set_progress_callback(session, on_progress, &log), STYLE_OK);
    assert_int_equal(style_session_stylize_batch(session, in, out, 2), STYLE_OK);
    assert_true(log.calls > 10);
    assert_true(log.monotonic);
    assert_true(fabs(log.last - 1.0) < 1e-12);
    style_image_release(&out[0]);
    style_image_release(&out[1]);

    log = (progress_log){0, 0, 5, 1};
    assert_int_equal(style_session_stylize_batch(session, in, out, 2), STYLE_ERR_CANCELLED);
    assert_int_equal(log.calls, 5);
    assert_null(out[0].data); /* what the library allocated is released on failure */
    style_session_free(session);
    style_model_free(model);
}

static void test_batch_and_determinism(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    enum { W = 21, H = 15 };
    uint8_t pixels[3][H * W * 3];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < H * W * 3; i++)
            pixels[k][i] = (uint8_t)(i * (k + 3) + k);
    style_image in[3], batch[3] = {{0}, {0}, {0}};
    for (int k = 0; k < 3; k++)
        in[k] = (style_image){W, H, 3, STYLE_SAMPLE_U8, 0, pixels[k]};
    assert_int_equal(style_session_stylize_batch(session, in, batch, 3), STYLE_OK);
    for (int k = 0; k < 3; k++) {
        style_image single = {0}, again = {0};
        assert_int_equal(style_session_stylize(session, &in[k], &single), STYLE_OK);
        assert_int_equal(style_session_stylize(session, &in[k], &again), STYLE_OK);
        assert_memory_equal(single.data, batch[k].data, H * W * 3);
        assert_memory_equal(single.data, again.data, H * W * 3);
        style_image_release(&single);
        style_image_release(&again);
        style_image_release(&batch[k]);
    }
    /* Mixed sizes in one batch are refused. */
    in[1].width = W - 1;
    assert_int_equal(style_session_stylize_batch(session, in, batch, 3),
                     STYLE_ERR_INVALID_ARGUMENT);
    style_session_free(session);
    style_model_free(model);
}

static void test_model_outlives_free(void **state)
{
    (void)state;
    /* The session keeps the model alive after the caller's reference is dropped. */
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    style_model_free(model);
    uint8_t pixels[8 * 8 * 3] = {0};
    style_image in = {8, 8, 3, STYLE_SAMPLE_U8, 0, pixels}, out = {0};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    style_image_release(&out);
    style_session_free(session);
}

/* Larger odd sizes, where every fast path engages (sub-pixel phases, the direct output conv,
 * padded fused norms), in each padding / upsampling combination. */
static void test_fast_paths_fp32(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.residual_blocks = 2;
    expect_network("reflect nearest (replicate phases)", &c, 52, 28);
    c.padding = "zero";
    expect_network("zero nearest (zero-padded phases)", &c, 28, 44);
    c.padding = "tf_same";
    c.upsample = "transposed_tf";
    c.final_norm = true;
    c.output = "tanh150";
    expect_network("tf_same transposed_tf in6", &c, 60, 44);
    c.padding = "reflect";
    c.upsample = "transposed_torch";
    c.widths[0] = 16, c.widths[1] = 32, c.widths[2] = 64;
    expect_network("16/32/64 reflect transposed_torch (16->3 direct)", &c, 36, 52);
}

static double psnr_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

static void test_precision_api(void **state)
{
    (void)state;
    style_precision p;
    assert_string_equal(style_precision_name(STYLE_PRECISION_AUTO), "auto");
    assert_string_equal(style_precision_name(STYLE_PRECISION_INT8), "int8");
    assert_string_equal(style_precision_name((style_precision)42), "?");
    assert_int_equal(style_precision_parse("bf16", &p), STYLE_OK);
    assert_int_equal(p, STYLE_PRECISION_BF16);
    assert_int_equal(style_precision_parse("fp16", &p), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_precision_parse(NULL, &p), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_precision_supported(STYLE_PRECISION_FP32), 1);
    assert_int_equal(style_precision_supported(STYLE_PRECISION_AUTO), 1);

    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_get_precision(session, &p), STYLE_OK);
    assert_int_equal(p, STYLE_PRECISION_FP32); /* the default */
    assert_int_equal(style_session_set_precision(session, (style_precision)7),
                     STYLE_ERR_INVALID_ARGUMENT);
    const style_precision low[] = {STYLE_PRECISION_BF16, STYLE_PRECISION_INT8};
    for (int i = 0; i < 2; i++) {
        style_status st = style_session_set_precision(session, low[i]);
        if (style_precision_supported(low[i])) {
            assert_int_equal(st, STYLE_OK);
        } else {
            /* refused cleanly, setting unchanged */
            assert_int_equal(st, STYLE_ERR_UNSUPPORTED);
            assert_non_null(strstr(style_last_error(), style_precision_name(low[i])));
            assert_int_equal(style_session_get_precision(session, &p), STYLE_OK);
            assert_true(p == STYLE_PRECISION_FP32 || p == low[0]);
        }
    }
    /* auto: the fastest supported one */
    assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_AUTO), STYLE_OK);
    assert_int_equal(style_session_get_precision(session, &p), STYLE_OK);
    style_precision best = style_precision_supported(STYLE_PRECISION_INT8)   ? STYLE_PRECISION_INT8
                           : style_precision_supported(STYLE_PRECISION_BF16) ? STYLE_PRECISION_BF16
                                                                             : STYLE_PRECISION_FP32;
    assert_int_equal(p, best);
    style_session_free(session);
    style_model_free(model);

    /* int8 needs instance norms: a batch-norm model refuses it, and auto skips it. */
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    c.norm = "batch";
    model = test_build_model(&c, 5);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    if (style_precision_supported(STYLE_PRECISION_INT8)) {
        assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_INT8),
                         STYLE_ERR_UNSUPPORTED);
        assert_non_null(strstr(style_last_error(), "instance"));
    }
    assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_AUTO), STYLE_OK);
    assert_int_equal(style_session_get_precision(session, &p), STYLE_OK);
    assert_true(p != STYLE_PRECISION_INT8);
    style_session_free(session);
    style_model_free(model);
}

/* The raw output (before the head) of a plan at a precision, for one image. */
static float *plan_output(style_model *model, net_precision precision, const float *img, int h,
                          int w)
{
    dnn_context *dnn = dnn_fixture();
    network_plan plan;
    assert_int_equal(network_plan_describe_ex(&plan, model, dnn, h, w, precision), STYLE_OK);
    assert_int_equal(network_plan_bind(&plan, dnn), STYLE_OK);
    memcpy(plan.buffers[BUF_INPUT], img, sizeof(float) * h * w * 3);
    assert_int_equal(network_plan_run(&plan, dnn, NULL, NULL), STYLE_OK);
    float *out = malloc(sizeof(float) * h * w * 3);
    memcpy(out, plan.buffers[BUF_OUTPUT], sizeof(float) * h * w * 3);
    network_plan_destroy(&plan);
    return out;
}

/* The raw network outputs of bf16 / int8 against fp32 on a random model (random weights are
 * harsher than trained ones; the real-model image targets are in test_precision). */
static void test_low_precision_raw(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.residual_blocks = 2;
    style_model *model = test_build_model(&c, 13);
    const net_precision precisions[] = {NET_BF16, NET_INT8};
    const double limits[] = {5e-2, 1e-1};
    for (int pi = 0; pi < 2; pi++) {
        if (!network_precision_supported(precisions[pi])) {
            /* Refused rather than emulated: the public API says so too. */
            assert_false(
                style_precision_supported(pi ? STYLE_PRECISION_INT8 : STYLE_PRECISION_BF16));
            print_message("  %s: refused, this ISA does not run it\n", pi ? "int8" : "bf16");
            continue;
        }
        int h = 44, w = 36;
        test_rng rng = {17};
        float *img = random_image(&rng, h, w);
        for (int i = 0; i < h * w * 3; i++)
            img[i] = nearbyintf(fminf(fmaxf(img[i], 0), 255));
        float *ref = plan_output(model, NET_FP32, img, h, w);
        float *low = plan_output(model, precisions[pi], img, h, w);
        double *refd = malloc(sizeof(double) * h * w * 3);
        for (int i = 0; i < h * w * 3; i++)
            refd[i] = ref[i];
        double err = test_rel_l2(low, refd, (size_t)h * w * 3);
        print_message("  %s raw output against fp32: rel L2 %.2e\n", pi ? "int8" : "bf16", err);
        assert_true(err < limits[pi]);
        free(refd);
        free(ref);
        free(low);
        free(img);
    }
    style_model_free(model);
}

/* bf16 / int8 through the API: they run at any size and are deterministic. */
static void test_low_precision_runs(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.residual_blocks = 2;
    style_model *model = test_build_model(&c, 11);
    const style_precision precisions[] = {STYLE_PRECISION_BF16, STYLE_PRECISION_INT8};
    int sizes[][2] = {{37, 29}, {64, 48}, {5, 3}};
    for (int pi = 0; pi < 2; pi++) {
        if (!style_precision_supported(precisions[pi])) {
            style_session *s = NULL;
            assert_int_equal(style_session_create(model, &s), STYLE_OK);
            assert_int_equal(style_session_set_precision(s, precisions[pi]), STYLE_ERR_UNSUPPORTED);
            style_session_free(s);
            print_message("  %s: refused (STYLE_ERR_UNSUPPORTED), this ISA does not run it\n",
                          style_precision_name(precisions[pi]));
            continue;
        }
        style_session *ref, *low;
        assert_int_equal(style_session_create(model, &ref), STYLE_OK);
        assert_int_equal(style_session_create(model, &low), STYLE_OK);
        assert_int_equal(style_session_set_precision(low, precisions[pi]), STYLE_OK);
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            int w = sizes[si][0], h = sizes[si][1];
            test_rng rng = {si + 5};
            float *img = random_image(&rng, h, w);
            uint8_t *pixels = malloc((size_t)w * h * 3);
            for (int i = 0; i < w * h * 3; i++)
                pixels[i] = (uint8_t)fminf(fmaxf(img[i], 0), 255);
            style_image in = {w, h, 3, STYLE_SAMPLE_U8, 0, pixels}, a = {0}, b = {0}, b2 = {0};
            assert_int_equal(style_session_stylize(ref, &in, &a), STYLE_OK);
            assert_int_equal(style_session_stylize(low, &in, &b), STYLE_OK);
            assert_int_equal(style_session_stylize(low, &in, &b2), STYLE_OK);
            assert_memory_equal(b.data, b2.data, (size_t)w * h * 3); /* deterministic */
            double p = psnr_u8(a.data, b.data, (size_t)w * h * 3);
            print_message("  %s %dx%d random model: %.1f dB against fp32\n",
                          style_precision_name(precisions[pi]), w, h, p);
            assert_true(p > 25.0);
            style_image_release(&a);
            style_image_release(&b);
            style_image_release(&b2);
            free(pixels);
            free(img);
        }
        style_session_free(ref);
        style_session_free(low);
    }
    style_model_free(model);
}

/* Builds are cached per size; run info and the per-layer profile describe them. */
static void test_cache_info_profile(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    style_run_info info = {0};
    info.struct_size = sizeof info;
    assert_int_equal(style_session_get_run_info(session, &info), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_prepare(session, 30, 22), STYLE_OK);
    assert_int_equal(style_session_get_run_info(session, &info), STYLE_OK);
    assert_int_equal(info.width, 32);
    assert_int_equal(info.height, 24);
    assert_true(info.flops > 0 && info.memory_bytes > 0 && info.layer_count > 5);
    double first_build = info.build_ms;
    /* another size, then back: the first build is reused (same build time reported) */
    assert_int_equal(style_session_prepare(session, 16, 16), STYLE_OK);
    assert_int_equal(style_session_prepare(session, 32, 24), STYLE_OK);
    assert_int_equal(style_session_get_run_info(session, &info), STYLE_OK);
    assert_true(info.width == 32 && info.build_ms == first_build);

    const style_layer_profile *layers;
    size_t count;
    uint64_t runs;
    assert_int_equal(style_session_get_profile(session, &layers, &count, &runs),
                     STYLE_ERR_INVALID_ARGUMENT); /* profiling off */
    assert_int_equal(style_session_set_profiling(session, 1), STYLE_OK);
    uint8_t pixels[24 * 32 * 3] = {0};
    style_image in = {32, 24, 3, STYLE_SAMPLE_U8, 0, pixels}, out = {0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    assert_int_equal(style_session_get_profile(session, &layers, &count, &runs), STYLE_OK);
    assert_int_equal(runs, 3);
    assert_int_equal(count, info.layer_count);
    const double *executed_flops = NULL;
    size_t executed_count = 0;
    assert_int_equal(
        style_session_get_profile_executed_flops(session, &executed_flops, &executed_count),
        STYLE_OK);
    assert_int_equal(executed_count, count);
    double flops = 0, executed = 0, phase_flops = 0, phase_executed = 0;
    bool saw_conv1 = false, saw_direct = false;
    for (size_t i = 0; i < count; i++) {
        assert_true(layers[i].milliseconds >= 0);
        flops += layers[i].flops;
        executed += executed_flops[i];
        saw_conv1 |= strcmp(layers[i].name, "conv1") == 0;
        saw_direct |= strcmp(layers[i].kind, "direct") == 0;
        assert_non_null(layers[i].impl);
        if (strstr(layers[i].name, ".p")) { /* a sub-pixel phase of an upsampling conv */
            phase_flops += layers[i].flops;
            phase_executed += executed_flops[i];
        } else {
            assert_true(executed_flops[i] == layers[i].flops);
        }
    }
    assert_true(saw_conv1);
    assert_true(fabs(flops - info.flops) < 1e-6 * info.flops);
    assert_true(fabs(executed - info.executed_flops) < 1e-6 * info.executed_flops);
    print_message("  phases execute %.3f of their nominal FLOPs\n", phase_executed / phase_flops);
    /* nearest x2 + 3 x 3 conv as four 2 x 2 phases: 16 taps per input pixel, not 36 (0.444);
     * each phase also computes a border row and column, which at these 8 x 6 and 16 x 12
     * inputs adds a quarter (0.547; 0.45 at 512 x 512) */
    assert_true(phase_flops > 0 && phase_executed > 0.4 * phase_flops &&
                phase_executed < 0.6 * phase_flops);
    assert_true(info.executed_flops < info.flops);
    /* A program built against the older header (struct ending at layer_count) still works and
     * gets nothing written past its struct. */
    style_run_info older = {0};
    older.struct_size = offsetof(style_run_info, executed_flops);
    older.executed_flops = -1;
    assert_int_equal(style_session_get_run_info(session, &older), STYLE_OK);
    assert_true(older.flops == info.flops && older.layer_count == info.layer_count &&
                older.executed_flops == -1);
    older.struct_size = offsetof(style_run_info, layer_count);
    assert_int_equal(style_session_get_run_info(session, &older), STYLE_ERR_INVALID_ARGUMENT);
    print_message("  %zu steps, output conv %s\n", count, saw_direct ? "direct" : "oneDNN");
    style_image_release(&out);

    /* A budget that holds one build at a time still works (older builds are dropped). */
    uint64_t need = 0;
    assert_int_equal(style_session_estimate_memory(session, 64, 64, &need), STYLE_OK);
    assert_int_equal(style_session_set_memory_budget(session, need + need / 4), STYLE_OK);
    assert_int_equal(style_session_prepare(session, 64, 64), STYLE_OK);
    assert_int_equal(style_session_prepare(session, 60, 60), STYLE_OK);
    assert_int_equal(style_session_get_run_info(session, &info), STYLE_OK);
    assert_int_equal(info.width, 60);
    style_session_free(session);
    style_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_architecture),  cmocka_unit_test(test_half_width_variants),
        cmocka_unit_test(test_ml5_like_architecture), cmocka_unit_test(test_any_size_through_api),
        cmocka_unit_test(test_cin_styles_and_blends), cmocka_unit_test(test_alpha_and_formats),
        cmocka_unit_test(test_bad_arguments),         cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_progress_and_cancel),   cmocka_unit_test(test_batch_and_determinism),
        cmocka_unit_test(test_model_outlives_free),   cmocka_unit_test(test_fast_paths_fp32),
        cmocka_unit_test(test_precision_api),         cmocka_unit_test(test_low_precision_raw),
        cmocka_unit_test(test_low_precision_runs),    cmocka_unit_test(test_cache_info_profile),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
