/*
 * The whole transform network against the double-precision reference, for every architecture
 * variant the metadata allows (random weights written to model files by the test), plus the
 * session behaviours around it: the size rule, alpha, budgets, progress and cancellation,
 * batches and determinism.
 */
#include "model_builder.h"
#include "network.h"
#include "reference.h"

#include <math.h>
#include <stdlib.h>
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
            for (int c = 0; c < 3; c++) REF_AT(t, c, y, x) = img[(y * w + x) * 3 + c];
    return t;
}

/* Runs the plan on one image, returns the raw output's relative L2 error vs the reference. */
static double network_error(const test_model_config *config, uint64_t seed, int h, int w)
{
    style_model *model = test_build_model(config, seed);
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    assert_int_equal(dnnl_engine_create(&engine, dnnl_cpu, 0), dnnl_success);
    assert_int_equal(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags), dnnl_success);
    network_plan plan;
    assert_int_equal(network_plan_describe(&plan, model, engine, h, w), STYLE_OK);
    assert_int_equal(network_plan_bind(&plan, engine, stream), STYLE_OK);
    test_rng rng = {seed + 1};
    float *img = random_image(&rng, h, w);
    memcpy(plan.buffers[BUF_INPUT], img, sizeof(float) * h * w * 3);
    assert_int_equal(network_plan_run(&plan, stream, NULL, NULL), STYLE_OK);

    ref_tensor in = image_to_ref(img, h, w);
    ref_tensor expect = ref_network(model, in);
    assert_int_equal(expect.h, h);
    assert_int_equal(expect.w, w);
    double *e = malloc(sizeof(double) * h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) e[(y * w + x) * 3 + c] = REF_AT(expect, c, y, x);
    double err = test_rel_l2(plan.buffers[BUF_OUTPUT], e, (size_t)h * w * 3);

    free(e);
    ref_tensor_free(&expect);
    ref_tensor_free(&in);
    free(img);
    network_plan_destroy(&plan);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
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
    expect_network("same, 1 block, tiny 4x4", &(test_model_config){{32, 64, 128}, 1, "reflect",
                   "nearest_conv", "instance", "linear", false, true, NULL, false}, 4, 4);
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
        for (int i = 0; i < h * w * 3; i++) pixels[i] = fminf(fmaxf(pixels[i], 0), 255);
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
    for (int i = 0; i < w * h * 4; i++) rgba[i] = (uint8_t)(i * 37 + 11);
    style_image in = {w, h, 4, STYLE_SAMPLE_U8, 0, rgba};
    style_image out = {0};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    assert_int_equal(out.channels, 4);
    for (int i = 0; i < w * h; i++) assert_int_equal(((uint8_t *)out.data)[i * 4 + 3], rgba[i * 4 + 3]);

    /* The same pixels as RGB U16 with a strided RGB float output give the same colours. */
    uint16_t rgb16[13 * 9 * 3];
    for (int i = 0; i < w * h; i++)
        for (int c = 0; c < 3; c++) rgb16[i * 3 + c] = (uint16_t)(rgba[i * 4 + c] * 257);
    float rgbf[9][16 * 3];
    style_image in16 = {w, h, 3, STYLE_SAMPLE_U16, 0, rgb16};
    style_image outf = {w, h, 3, STYLE_SAMPLE_F32, sizeof rgbf[0], rgbf};
    assert_int_equal(style_session_stylize(session, &in16, &outf), STYLE_OK);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                assert_true(fabsf(rgbf[y][x * 3 + c] - ((uint8_t *)out.data)[(y * w + x) * 4 + c]) <= 0.5f + 1e-3f);

    /* An RGBA output from an RGB input is opaque. */
    style_image out4 = {0};
    uint8_t opaque[13 * 9 * 4];
    out4 = (style_image){w, h, 4, STYLE_SAMPLE_U8, 0, opaque};
    assert_int_equal(style_session_stylize(session, &in16, &out4), STYLE_OK);
    for (int i = 0; i < w * h; i++) assert_int_equal(opaque[i * 4 + 3], 255);

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
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "memory budget"));
    assert_null(out.data);
    in.width = in.height = 64;
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    style_image_release(&out);
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
    style_image in[2] = {{16, 16, 3, STYLE_SAMPLE_U8, 0, pixels}, {16, 16, 3, STYLE_SAMPLE_U8, 0, pixels}};
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
        for (int i = 0; i < H * W * 3; i++) pixels[k][i] = (uint8_t)(i * (k + 3) + k);
    style_image in[3], batch[3] = {{0}, {0}, {0}};
    for (int k = 0; k < 3; k++) in[k] = (style_image){W, H, 3, STYLE_SAMPLE_U8, 0, pixels[k]};
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
    assert_int_equal(style_session_stylize_batch(session, in, batch, 3), STYLE_ERR_INVALID_ARGUMENT);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_architecture),
        cmocka_unit_test(test_half_width_variants),
        cmocka_unit_test(test_ml5_like_architecture),
        cmocka_unit_test(test_any_size_through_api),
        cmocka_unit_test(test_alpha_and_formats),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_progress_and_cancel),
        cmocka_unit_test(test_batch_and_determinism),
        cmocka_unit_test(test_model_outlives_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
