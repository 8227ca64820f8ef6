/*
 * The session's controls (strength, preserve colour, scale) against plain double-precision
 * formulas on random images of odd sizes: the stylized image is taken from a second session
 * with default controls, and the reference composition (cubic resampling, BT.601 luminance
 * transfer, blend) is recomputed here in double. Edge cases: strength 0 is the input exactly,
 * strength 1 is the plain run bit for bit, bad values are refused with clear messages.
 */
#include "image/color.h"
#include "session/controls.h"
#include "model_builder.h"
#include "image/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static style_model *small_model(void)
{
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    return test_build_model(&c, 11);
}

/* Random 8-bit samples, smooth plus noise, `channels` per pixel (alpha random too). */
static uint8_t *random_u8(test_rng *rng, int w, int h, int channels)
{
    uint8_t *p = malloc((size_t)w * h * channels);
    double phase = test_rng_uniform(rng, 0, 6);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < channels; c++) {
                double v = 127.5 + 100 * sin(0.3 * x + 0.17 * y + phase + 2.0 * c) +
                           test_rng_uniform(rng, -25, 25);
                p[((size_t)y * w + x) * channels + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return p;
}

/* The plain stylized image (default controls) of an RGB F32 image, as doubles. */
static double *plain_stylized(style_model *model, const float *rgb, int w, int h)
{
    style_session *plain;
    assert_int_equal(style_session_create(model, &plain), STYLE_OK);
    style_image in = {w, h, 3, STYLE_SAMPLE_F32, 0, (void *)rgb};
    style_image out = {w, h, 3, STYLE_SAMPLE_F32, 0, NULL};
    assert_int_equal(style_session_stylize(plain, &in, &out), STYLE_OK);
    double *d = malloc(sizeof(double) * w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        d[i] = ((float *)out.data)[i];
    style_image_release(&out);
    style_session_free(plain);
    return d;
}

static double clamp255(double v)
{
    return v < 0 ? 0 : v > 255 ? 255 : v;
}

static double keys(double x)
{
    x = fabs(x);
    if (x < 1) return 1.5 * x * x * x - 2.5 * x * x + 1;
    if (x < 2) return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
    return 0;
}

/* Weight of source sample j for output o of an in -> out axis (PIL BICUBIC, edges dropped). */
static void cubic_weights(int in, int out, int o, double *w)
{
    double scale = (double)in / out, fs = scale > 1 ? scale : 1, center = (o + 0.5) * scale;
    double sum = 0;
    for (int j = 0; j < in; j++) {
        w[j] = fabs(j + 0.5 - center) < 2 * fs ? keys((j + 0.5 - center) / fs) : 0;
        sum += w[j];
    }
    for (int j = 0; j < in; j++)
        w[j] /= sum;
}

/* Reference separable cubic resize in double, clamped to 0..255 like the library's. */
static double *ref_resize(const double *src, int sw, int sh, int dw, int dh)
{
    double *out = calloc((size_t)dw * dh * 3, sizeof(double));
    double *wx = malloc(sizeof(double) * sw), *wy = malloc(sizeof(double) * sh);
    for (int oy = 0; oy < dh; oy++) {
        cubic_weights(sh, dh, oy, wy);
        for (int ox = 0; ox < dw; ox++) {
            cubic_weights(sw, dw, ox, wx);
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int y = 0; y < sh; y++)
                    for (int x = 0; x < sw; x++)
                        acc += wy[y] * wx[x] * src[((size_t)y * sw + x) * 3 + c];
                out[((size_t)oy * dw + ox) * 3 + c] = clamp255(acc);
            }
        }
    }
    free(wx);
    free(wy);
    return out;
}

static void ref_preserve_color(double *styled, const double *content, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++) {
        double *s = styled + i * 3;
        const double *c = content + i * 3;
        double ys = 0.299 * s[0] + 0.587 * s[1] + 0.114 * s[2];
        double yc = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        for (int k = 0; k < 3; k++)
            s[k] = clamp255(c[k] + ys - yc);
    }
}

/* The library's result (F32 output) for `in` with the given controls. */
static float *controlled(style_model *model, const style_image *in, float strength, int preserve,
                         float scale)
{
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_strength(session, strength), STYLE_OK);
    assert_int_equal(style_session_set_preserve_color(session, preserve), STYLE_OK);
    assert_int_equal(style_session_set_scale(session, scale), STYLE_OK);
    float *result = malloc(sizeof(float) * in->width * in->height * 3);
    style_image out = {in->width, in->height, 3, STYLE_SAMPLE_F32, 0, result};
    assert_int_equal(style_session_stylize(session, in, &out), STYLE_OK);
    style_session_free(session);
    return result;
}

/* Every combination against the reference composition, on odd sizes. */
static void test_controls_match_reference(void **state)
{
    (void)state;
    style_model *model = small_model();
    const struct {
        int w, h;
        float strength;
        int preserve;
        float scale;
    } cases[] = {
        {37, 29, 0.5f, 0, 1.0f}, {37, 29, 0.3f, 1, 1.0f}, {23, 31, 1.0f, 1, 1.0f},
        {37, 29, 1.0f, 0, 0.5f}, {21, 17, 1.0f, 0, 1.7f}, {37, 29, 0.75f, 1, 0.62f},
        {9, 13, 0.25f, 1, 2.0f},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int w = cases[k].w, h = cases[k].h;
        test_rng rng = {100 + k};
        uint8_t *pixels = random_u8(&rng, w, h, 3);
        style_image in = {w, h, 3, STYLE_SAMPLE_U8, 0, pixels};
        double *content = malloc(sizeof(double) * w * h * 3);
        for (int i = 0; i < w * h * 3; i++)
            content[i] = pixels[i];

        /* Reference: resize, stylize (the library's plain run), resize back, recolour, blend. */
        int sw = (int)fmax(1, round(w * (double)cases[k].scale));
        int sh = (int)fmax(1, round(h * (double)cases[k].scale));
        bool resampled = sw != w || sh != h;
        double *small = resampled ? ref_resize(content, w, h, sw, sh) : content;
        float *small_f = malloc(sizeof(float) * sw * sh * 3);
        for (int i = 0; i < sw * sh * 3; i++)
            small_f[i] = (float)small[i];
        double *styled_small = plain_stylized(model, small_f, sw, sh);
        double *expect = resampled ? ref_resize(styled_small, sw, sh, w, h) : styled_small;
        if (cases[k].preserve) ref_preserve_color(expect, content, (size_t)w * h);
        double s = cases[k].strength;
        for (int i = 0; i < w * h * 3; i++)
            expect[i] = s * expect[i] + (1 - s) * content[i];

        float *got = controlled(model, &in, cases[k].strength, cases[k].preserve, cases[k].scale);
        double max = test_max_abs_diff(got, expect, (size_t)w * h * 3);
        print_message("  %dx%d strength %.2f preserve %d scale %.2f (net %dx%d): max |diff| %.2e\n",
                      w, h, s, cases[k].preserve, cases[k].scale, sw, sh, max);
        assert_true(max < 2e-3);

        free(got);
        if (resampled) free(expect);
        free(styled_small);
        free(small_f);
        if (resampled) free(small);
        free(content);
        free(pixels);
    }
    style_model_free(model);
}

static int count_progress(void *user, double fraction)
{
    (void)fraction;
    ++*(int *)user;
    return 0;
}

/* Strength 0 gives back the input's samples exactly, alpha included, without a network run. */
static void test_strength_zero_is_input(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    int calls = 0;
    assert_int_equal(style_session_set_progress_callback(session, count_progress, &calls),
                     STYLE_OK);
    assert_int_equal(style_session_set_strength(session, 0.0f), STYLE_OK);
    assert_int_equal(style_session_set_preserve_color(session, 1), STYLE_OK);
    assert_int_equal(style_session_set_scale(session, 0.5f), STYLE_OK);
    test_rng rng = {5};
    const int w = 19, h = 7;
    uint8_t *rgba = random_u8(&rng, w, h, 4);
    style_image in = {w, h, 4, STYLE_SAMPLE_U8, 0, rgba};
    style_image out = {0};
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
    assert_memory_equal(out.data, rgba, (size_t)w * h * 4);
    style_image_release(&out);

    uint16_t *wide = malloc(sizeof(uint16_t) * w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        wide[i] = (uint16_t)test_rng_next(&rng);
    style_image in16 = {w, h, 3, STYLE_SAMPLE_U16, 0, wide};
    assert_int_equal(style_session_stylize(session, &in16, &out), STYLE_OK);
    assert_int_equal(out.sample_type, STYLE_SAMPLE_U16);
    assert_memory_equal(out.data, wide, sizeof(uint16_t) * w * h * 3);
    assert_int_equal(calls, 0);
    style_image_release(&out);
    free(wide);
    free(rgba);
    style_session_free(session);
    style_model_free(model);
}

/* Strength 1 after other settings is the plain run, bit for bit; alpha passes with controls. */
static void test_strength_one_is_plain(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *plain, *session;
    assert_int_equal(style_session_create(model, &plain), STYLE_OK);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    test_rng rng = {6};
    const int w = 33, h = 15;
    uint8_t *rgba = random_u8(&rng, w, h, 4);
    style_image in = {w, h, 4, STYLE_SAMPLE_U8, 0, rgba};
    style_image a = {0}, b = {0}, c = {0};
    assert_int_equal(style_session_stylize(plain, &in, &a), STYLE_OK);
    assert_int_equal(style_session_set_strength(session, 0.4f), STYLE_OK);
    assert_int_equal(style_session_set_scale(session, 0.8f), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &c), STYLE_OK);
    for (int i = 0; i < w * h; i++)
        assert_int_equal(((uint8_t *)c.data)[i * 4 + 3], rgba[i * 4 + 3]);
    assert_int_equal(style_session_set_strength(session, 1.0f), STYLE_OK);
    assert_int_equal(style_session_set_scale(session, 1.0f), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &b), STYLE_OK);
    assert_memory_equal(a.data, b.data, (size_t)w * h * 4);
    style_image_release(&a);
    style_image_release(&b);
    style_image_release(&c);
    free(rgba);
    style_session_free(plain);
    style_session_free(session);
    style_model_free(model);
}

/* Bad values: STYLE_ERR_INVALID_ARGUMENT, a message naming the setting, the setting kept. */
static void test_bad_values(void **state)
{
    (void)state;
    style_model *model = small_model();
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    const float bad_strengths[] = {-0.01f, 1.01f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_strengths / sizeof *bad_strengths; i++) {
        assert_int_equal(style_session_set_strength(session, bad_strengths[i]),
                         STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), "strength must be in 0..1"));
    }
    const float bad_scales[] = {0.0f, -1.0f, 8.01f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad_scales / sizeof *bad_scales; i++) {
        assert_int_equal(style_session_set_scale(session, bad_scales[i]),
                         STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), "scale must be above 0"));
    }
    assert_int_equal(style_session_set_strength(NULL, 0.5f), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_scale(NULL, 1.0f), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_preserve_color(NULL, 1), STYLE_ERR_INVALID_ARGUMENT);
    /* Still the defaults: a run equals the plain one. */
    style_session *plain;
    assert_int_equal(style_session_create(model, &plain), STYLE_OK);
    uint8_t pixels[5 * 6 * 3];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 29);
    style_image in = {5, 6, 3, STYLE_SAMPLE_U8, 0, pixels};
    style_image a = {0}, b = {0};
    assert_int_equal(style_session_stylize(session, &in, &a), STYLE_OK);
    assert_int_equal(style_session_stylize(plain, &in, &b), STYLE_OK);
    assert_memory_equal(a.data, b.data, sizeof pixels);
    /* The extreme scales still give an output of the input's size (1 pixel; 8x). */
    assert_int_equal(style_session_set_scale(session, 0.01f), STYLE_OK);
    style_image_release(&a);
    assert_int_equal(style_session_stylize(session, &in, &a), STYLE_OK);
    assert_int_equal(a.width, 5);
    assert_int_equal(style_session_set_scale(session, 8.0f), STYLE_OK);
    style_image_release(&a);
    assert_int_equal(style_session_stylize(session, &in, &a), STYLE_OK);
    assert_int_equal(a.height, 6);
    style_image_release(&a);
    style_image_release(&b);
    /* An enlarged run over the memory budget fails before allocating its copies. */
    uint8_t *large = calloc(64 * 64 * 3, 1);
    style_image in64 = {64, 64, 3, STYLE_SAMPLE_U8, 0, large};
    assert_int_equal(style_session_set_memory_budget(session, 16u << 20), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in64, &a), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "512x512 run (scale 8) needs"));
    assert_null(a.data);
    free(large);
    style_session_free(plain);
    style_session_free(session);
    style_model_free(model);
}

/* The cubic resampler itself against the double formula, down and up, odd sizes. */
static void test_cubic_resize(void **state)
{
    (void)state;
    const int sizes[][4] = {{37, 29, 19, 15}, {19, 15, 37, 29}, {7, 3, 16, 5}, {40, 1, 9, 1}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int sw = sizes[k][0], sh = sizes[k][1], dw = sizes[k][2], dh = sizes[k][3];
        test_rng rng = {k};
        float *src = malloc(sizeof(float) * sw * sh * 3);
        double *srcd = malloc(sizeof(double) * sw * sh * 3);
        test_fill_uniform(&rng, src, (size_t)sw * sh * 3, 0, 255);
        for (int i = 0; i < sw * sh * 3; i++)
            srcd[i] = src[i];
        float *dst = malloc(sizeof(float) * dw * dh * 3);
        assert_int_equal(image_resize_rgb_filter(src, sw, sh, dst, dw, dh, RESIZE_CUBIC), STYLE_OK);
        color_clamp(dst, (size_t)dw * dh * 3);
        double *expect = ref_resize(srcd, sw, sh, dw, dh);
        double max = test_max_abs_diff(dst, expect, (size_t)dw * dh * 3);
        print_message("  cubic %dx%d -> %dx%d: max |diff| %.2e\n", sw, sh, dw, dh, max);
        assert_true(max < 1e-3);
        free(expect);
        free(dst);
        free(srcd);
        free(src);
    }
}

/* Same input, model, precision, controls and threads: the same bytes, in one session and in
 * two, for every precision this processor runs (two processes: tests/cli/test_cli_pipeline.sh). */
static void test_deterministic(void **state)
{
    (void)state;
    style_model *model = small_model();
    test_rng rng = {8};
    const int w = 41, h = 23;
    uint8_t *rgba = random_u8(&rng, w, h, 4);
    style_image in = {w, h, 4, STYLE_SAMPLE_U8, 0, rgba};
    const style_precision precisions[] = {STYLE_PRECISION_FP32, STYLE_PRECISION_BF16,
                                          STYLE_PRECISION_INT8};
    for (size_t p = 0; p < 3; p++) {
        if (!style_precision_supported(precisions[p])) {
            print_message("  %s: not run natively here\n", style_precision_name(precisions[p]));
            continue;
        }
        for (int controls = 0; controls < 2; controls++) {
            style_image out[3] = {{0}, {0}, {0}};
            style_session *sessions[2];
            for (int k = 0; k < 2; k++) {
                assert_int_equal(style_session_create(model, &sessions[k]), STYLE_OK);
                assert_int_equal(style_session_set_threads(sessions[k], 2), STYLE_OK);
                assert_int_equal(style_session_set_precision(sessions[k], precisions[p]), STYLE_OK);
                if (controls) {
                    assert_int_equal(style_session_set_strength(sessions[k], 0.6f), STYLE_OK);
                    assert_int_equal(style_session_set_preserve_color(sessions[k], 1), STYLE_OK);
                    assert_int_equal(style_session_set_scale(sessions[k], 0.7f), STYLE_OK);
                }
            }
            assert_int_equal(style_session_stylize(sessions[0], &in, &out[0]), STYLE_OK);
            assert_int_equal(style_session_stylize(sessions[0], &in, &out[1]), STYLE_OK);
            assert_int_equal(style_session_stylize(sessions[1], &in, &out[2]), STYLE_OK);
            assert_memory_equal(out[0].data, out[1].data, (size_t)w * h * 4);
            assert_memory_equal(out[0].data, out[2].data, (size_t)w * h * 4);
            print_message("  %s%s: identical bytes\n", style_precision_name(precisions[p]),
                          controls ? " with controls" : "");
            for (int k = 0; k < 3; k++)
                style_image_release(&out[k]);
            for (int k = 0; k < 2; k++)
                style_session_free(sessions[k]);
        }
    }
    free(rgba);
    style_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cubic_resize),
        cmocka_unit_test(test_controls_match_reference),
        cmocka_unit_test(test_strength_zero_is_input),
        cmocka_unit_test(test_strength_one_is_plain),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
