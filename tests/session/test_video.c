/*
 * Video sessions (style_video_*): instance-norm statistics smoothed over frames.
 * - the smoothing arithmetic (norm_ema_smooth) against the moving-average formula;
 * - a still clip (one frame repeated) gives the same output frame bit for bit, equal to the
 *   frame stylized on its own;
 * - smoothing 0 is per-frame stylization bit for bit on a moving clip;
 * - with smoothing, later frames differ from per-frame ones, and a reset (cut) or a new frame
 *   size makes the next frame per-frame again bit for bit;
 * - every precision this processor runs (the others are refused), and bad settings, AdaIN
 *   models and banded runs refused with clear messages.
 */
#include "model_builder.h"
#include "session/norm_ema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static style_model *small_model(uint64_t seed)
{
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 2;
    return test_build_model(&c, seed);
}

/* Frame t of a clip: a textured picture panning right by 2 pixels a frame, RGB 8-bit. */
static style_image clip_frame(int w, int h, int t)
{
    style_image image = {0};
    assert_int_equal(style_image_alloc(&image, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = image.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double u = x + 2.0 * t;
                double v = 127.5 + 60 * sin(0.21 * u + 0.13 * y + 2.0 * c) +
                           50 * cos(0.05 * u * (c + 1) - 0.31 * y);
                p[((size_t)y * w + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    return image;
}

static bool same_pixels(const style_image *a, const style_image *b)
{
    return a->width == b->width && a->height == b->height && a->channels == b->channels &&
           memcmp(a->data, b->data, (size_t)a->width * a->height * a->channels) == 0;
}

/* The frame stylized on its own by a plain session of that precision. */
static style_image per_frame(style_model *model, style_precision precision,
                             const style_image *frame)
{
    style_session *session;
    style_image out = {0};
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_precision(session, precision), STYLE_OK);
    assert_int_equal(style_session_stylize(session, frame, &out), STYLE_OK);
    style_session_free(session);
    return out;
}

static style_video *make_video(style_model *model, float smoothing, style_precision precision)
{
    style_video_settings settings = {.struct_size = sizeof settings, .norm_smoothing = smoothing};
    style_video *video = NULL;
    assert_int_equal(style_video_create(model, &settings, &video), STYLE_OK);
    assert_int_equal(style_session_set_precision(style_video_session(video), precision), STYLE_OK);
    return video;
}

static void test_smoothing_arithmetic(void **state)
{
    (void)state;
    double mean_store[2], var_store[2];
    norm_ema_slot slot = {0.75, false, 2, mean_store, var_store};
    /* first frame: kept as it is, recorded in real units (step 0.5) */
    double mean = 4.0, var = 8.0;
    norm_ema_smooth(&slot, 1, 0.5, &mean, &var);
    assert_true(mean == 4.0 && var == 8.0);
    assert_true(mean_store[1] == 2.0 && var_store[1] == 2.0);
    slot.primed = true;
    /* second frame, real mean 6 and variance 10 (step 2): 0.75 old + 0.25 new */
    mean = 3.0, var = 2.5;
    norm_ema_smooth(&slot, 1, 2.0, &mean, &var);
    assert_true(fabs(mean_store[1] - (0.75 * 2.0 + 0.25 * 6.0)) < 1e-15);
    assert_true(fabs(var_store[1] - (0.75 * 2.0 + 0.25 * 10.0)) < 1e-15);
    assert_true(fabs(mean - mean_store[1] / 2.0) < 1e-15);
    assert_true(fabs(var - var_store[1] / 4.0) < 1e-15);
    /* the same statistics again: a value equal to the average is left bit for bit */
    mean = mean_store[1] * 1.0, var = var_store[1];
    double m0 = mean, v0 = var;
    norm_ema_smooth(&slot, 1, 1.0, &mean, &var);
    assert_true(mean == m0 && var == v0);
    /* weight 0: this frame's values, untouched */
    slot.weight = 0.0;
    mean = 1.0 / 3.0, var = 7.0;
    norm_ema_smooth(&slot, 0, 3.0, &mean, &var);
    assert_true(mean == 1.0 / 3.0 && var == 7.0);
}

/* Every precision: supported ones run `check`, the others are refused. */
static void for_each_precision(void (*check)(style_model *, style_precision))
{
    static const style_precision all[] = {STYLE_PRECISION_FP32, STYLE_PRECISION_BF16,
                                          STYLE_PRECISION_INT8};
    style_model *model = small_model(21);
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        if (style_precision_supported(all[i])) {
            check(model, all[i]);
        } else {
            style_video *video = NULL;
            assert_int_equal(style_video_create(model, NULL, &video), STYLE_OK);
            assert_int_equal(style_session_set_precision(style_video_session(video), all[i]),
                             STYLE_ERR_UNSUPPORTED);
            style_video_free(video);
        }
    }
    style_model_free(model);
}

static void check_still_clip(style_model *model, style_precision precision)
{
    style_image frame = clip_frame(37, 30, 0);
    style_image alone = per_frame(model, precision, &frame);
    style_video *video = make_video(model, 0.9f, precision);
    for (int t = 0; t < 4; t++) {
        style_image out = {0};
        assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_OK);
        assert_true(same_pixels(&out, &alone));
        style_image_release(&out);
    }
    assert_int_equal(style_video_frame_count(video), 4);
    style_video_free(video);
    style_image_release(&alone);
    style_image_release(&frame);
}

static void test_still_clip(void **state)
{
    (void)state;
    for_each_precision(check_still_clip);
}

static void check_zero_smoothing(style_model *model, style_precision precision)
{
    style_video *video = make_video(model, 0.0f, precision);
    for (int t = 0; t < 4; t++) {
        style_image frame = clip_frame(37, 30, t), out = {0};
        style_image alone = per_frame(model, precision, &frame);
        assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_OK);
        assert_true(same_pixels(&out, &alone));
        style_image_release(&out);
        style_image_release(&alone);
        style_image_release(&frame);
    }
    style_video_free(video);
}

static void test_zero_smoothing_is_per_frame(void **state)
{
    (void)state;
    for_each_precision(check_zero_smoothing);
}

static void check_cut_reset(style_model *model, style_precision precision)
{
    style_video *video = make_video(model, 0.8f, precision);
    style_image outs[4] = {{0}};
    int differ = 0;
    for (int t = 0; t < 4; t++) {
        style_image frame = clip_frame(37, 30, 5 * t);
        style_image alone = per_frame(model, precision, &frame);
        assert_int_equal(style_video_push_frame(video, &frame, &outs[t]), STYLE_OK);
        if (t == 0)
            assert_true(same_pixels(&outs[t], &alone)); /* nothing to smooth with yet */
        else
            differ += !same_pixels(&outs[t], &alone);
        style_image_release(&alone);
        style_image_release(&frame);
    }
    assert_int_equal(differ, 3); /* the past frames' statistics took part */

    /* a cut: the next frame is stylized on its own */
    style_image frame = clip_frame(37, 30, 40), out = {0};
    style_image alone = per_frame(model, precision, &frame);
    assert_int_equal(style_video_reset(video), STYLE_OK);
    assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_OK);
    assert_true(same_pixels(&out, &alone));
    style_image_release(&out);
    style_image_release(&alone);
    style_image_release(&frame);

    /* another frame size starts afresh too, and so does the way back */
    for (int k = 0; k < 2; k++) {
        frame = clip_frame(k ? 37 : 24, k ? 30 : 20, 50 + k);
        alone = per_frame(model, precision, &frame);
        assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_OK);
        assert_true(same_pixels(&out, &alone));
        style_image_release(&out);
        style_image_release(&alone);
        style_image_release(&frame);
    }
    for (int t = 0; t < 4; t++)
        style_image_release(&outs[t]);
    style_video_free(video);
}

static void test_cut_and_size_change_reset(void **state)
{
    (void)state;
    for_each_precision(check_cut_reset);
}

static void test_refusals(void **state)
{
    (void)state;
    style_model *model = small_model(5);
    style_video *video = (style_video *)1;
    const float bad[] = {1.0f, -0.1f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        style_video_settings settings = {.struct_size = sizeof settings, .norm_smoothing = bad[i]};
        assert_int_equal(style_video_create(model, &settings, &video), STYLE_ERR_INVALID_ARGUMENT);
        assert_null(video);
        assert_non_null(strstr(style_last_error(), "norm_smoothing"));
        video = (style_video *)1;
    }
    assert_int_equal(style_video_create(NULL, NULL, &video), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_video_push_frame(NULL, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_video_reset(NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(style_video_session(NULL));
    style_video_free(NULL);

    /* a batch-norm model has no statistics to smooth: refused unless smoothing is 0 */
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32, c.residual_blocks = 1;
    c.norm = "batch";
    style_model *batch = test_build_model(&c, 3);
    style_video_settings on = {.struct_size = sizeof on, .norm_smoothing = 0.9f};
    assert_int_equal(style_video_create(batch, &on, &video), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "instance norms"));
    style_video_settings off = {.struct_size = sizeof off, .norm_smoothing = 0.0f};
    assert_int_equal(style_video_create(batch, &off, &video), STYLE_OK);
    style_video_free(video);
    assert_int_equal(style_video_create(batch, NULL, &video), STYLE_OK); /* default: per-frame */
    style_video_free(video);
    style_model_free(batch);

    /* a frame run in bands (as over the memory budget) has no smoothing */
    assert_int_equal(style_video_create(model, &on, &video), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(style_video_session(video), 8), STYLE_OK);
    style_image frame = clip_frame(64, 48, 0), out = {0};
    assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "bands"));
    assert_null(out.data);
    assert_int_equal(style_video_frame_count(video), 0);
    style_video_free(video);
    /* ... while smoothing 0 runs them like images */
    assert_int_equal(style_video_create(model, &off, &video), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(style_video_session(video), 8), STYLE_OK);
    assert_int_equal(style_video_push_frame(video, &frame, &out), STYLE_OK);
    style_image_release(&out);
    style_video_free(video);
    style_image_release(&frame);
    style_model_free(model);
}

static void test_adain_refused(void **state)
{
    (void)state;
    style_model *model = NULL;
    assert_int_equal(style_model_load(STYLE_MODELS_DIR "/adain-darknet.safetensors", NULL, &model),
                     STYLE_OK);
    style_video *video = NULL;
    style_video_settings on = {.struct_size = sizeof on, .norm_smoothing = 0.5f};
    assert_int_equal(style_video_create(model, &on, &video), STYLE_ERR_UNSUPPORTED);
    assert_null(video);
    assert_non_null(strstr(style_last_error(), "instance norms"));
    style_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smoothing_arithmetic),
        cmocka_unit_test(test_still_clip),
        cmocka_unit_test(test_zero_smoothing_is_per_frame),
        cmocka_unit_test(test_cut_and_size_change_reset),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_adain_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
