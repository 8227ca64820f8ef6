/*
 * The library's own motion estimate and the temporal blending of video sessions
 * (motion_estimate.h, temporal_blend.h), against known motion:
 * - a sub-pixel shift, a large shift (the pyramid) and a zoom of a textured picture, each
 *   frame computed from the formula (no interpolation): the estimate recovers the exact flow;
 * - a plain reference: exhaustive integer block matching (sum of squared differences) agrees
 *   with the estimate on a real-looking picture moved by an unknown-to-it integer shift;
 * - occlusion: a square moving over a still background: the area it uncovers fails the
 *   forward-backward check, the still background passes;
 * - blending: no ghost of the square in the uncovered area, the still background pulled
 *   toward the previous output by the weight, a cut (unrelated frame) not blended at all;
 * - a video session with blending: the first frame and a still clip are per-frame bit for
 *   bit, bad weights refused.
 */
#include "model_builder.h"
#include "image/motion_estimate.h"
#include "session/temporal_blend.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A texture with detail at several scales and no repeats (a periodic one would let the
 * estimate lock onto another period): Gaussian blobs at random places, 0..255, computed at
 * any real position so that moved frames need no interpolation. */
#define BLOBS 1400
static struct blob {
    double x, y, inverse_two_sigma2, amplitude, reach2;
} blobs[BLOBS];

static void make_blobs(void)
{
    static bool made;
    if (made) return;
    made = true;
    uint64_t seed = 12345;
    for (int i = 0; i < BLOBS; i++) {
        double r[5];
        for (int k = 0; k < 5; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            r[k] = (double)(seed >> 11) / 9007199254740992.0;
        }
        const double sigma = 2.0 + 7.0 * r[2] * r[2];
        blobs[i] = (struct blob){200 + 500 * r[0], 100 + 350 * r[1], 1.0 / (2 * sigma * sigma),
                                 (r[3] - 0.5) * 160, 16 * sigma * sigma};
    }
}

static float texture(double x, double y)
{
    make_blobs();
    double v = 127.5;
    for (int i = 0; i < BLOBS; i++) {
        const double dx = x - blobs[i].x, dy = y - blobs[i].y, d2 = dx * dx + dy * dy;
        if (d2 < blobs[i].reach2) v += blobs[i].amplitude * exp(-d2 * blobs[i].inverse_two_sigma2);
    }
    return (float)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* A plane of texture(map(x, y)). */
static float *plane(int w, int h, double dx, double dy, double zoom)
{
    float *p = malloc((size_t)w * h * sizeof(float));
    assert_non_null(p);
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p[(size_t)y * w + x] =
                texture(cx + (x - cx) * zoom + dx + 300, cy + (y - cy) * zoom + dy + 200);
    return p;
}

/* Mean and 95th-percentile-ish error of the flow against the exact one, over the pixels at
 * least `margin` from the edges. Returns the mean; *over_half: fraction with error > 0.5. */
static double flow_error(const motion_field *f, double (*truth)(int, int, int, int, double *),
                         int margin, double *over_half)
{
    double sum = 0;
    size_t count = 0, bad = 0;
    for (int y = margin; y < f->height - margin; y++)
        for (int x = margin; x < f->width - margin; x++) {
            double ty;
            const double tx = truth(x, y, f->width, f->height, &ty);
            const size_t i = (size_t)y * f->width + x;
            const double e = hypot(f->dx[i] - tx, f->dy[i] - ty);
            sum += e;
            count++;
            bad += e > 0.5;
        }
    *over_half = (double)bad / count;
    return sum / count;
}

static double shift_x, shift_y, zoom_factor;
static double shift_truth(int x, int y, int w, int h, double *ty)
{
    (void)x, (void)y, (void)w, (void)h;
    *ty = shift_y;
    return shift_x;
}
static double zoom_truth(int x, int y, int w, int h, double *ty)
{
    /* target(x) = T(c + (x - c) * 1) and source(x') = T(c + (x' - c) * zoom)... the target
     * is the source zoomed: target(x) = source(c + (x - c) / zoom) */
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    *ty = (cy + (y - cy) / zoom_factor) - y;
    return (cx + (x - cx) / zoom_factor) - x;
}

static void check_shift(double dx, double dy, int w, int h)
{
    shift_x = dx, shift_y = dy;
    /* target(x) = source(x + d): the source is the texture, the target the texture moved */
    float *source = plane(w, h, 0, 0, 1), *target = plane(w, h, dx, dy, 1);
    motion_field flow;
    assert_int_equal(motion_field_alloc(&flow, w, h), STYLE_OK);
    assert_int_equal(motion_estimate(target, source, w, h, &flow), STYLE_OK);
    double over_half;
    const double mean =
        flow_error(&flow, shift_truth, 8 + (int)fabs(dx) + (int)fabs(dy), &over_half);
    print_message("shift (%.2f, %.2f) at %dx%d: mean error %.3f px, %.1f %% over 0.5 px\n", dx, dy,
                  w, h, mean, 100 * over_half);
    assert_true(mean < 0.1);
    assert_true(over_half < 0.02);
    motion_field_release(&flow);
    free(source);
    free(target);
}

static void test_subpixel_shift(void **state)
{
    (void)state;
    check_shift(1.3, -0.6, 160, 96);
    check_shift(-3.5, 0.0, 256, 144); /* flicker.py's pan step */
}

static void test_large_shift(void **state)
{
    (void)state;
    check_shift(11.25, 6.5, 256, 144);
}

static void test_zoom(void **state)
{
    (void)state;
    const int w = 256, h = 144;
    zoom_factor = 1.015; /* flicker.py's zoom step: up to ~2 px at the sides */
    /* source = texture at scale 1, target = texture sampled at zoom: target(x) =
     * T(c + (x - c) * z) = source(c + (x - c) * z): flow (x - c) * (z - 1) */
    float *source = plane(w, h, 0, 0, 1), *target = plane(w, h, 0, 0, zoom_factor);
    zoom_factor = 1.0 / zoom_factor; /* zoom_truth's convention: source(c + (x - c) / zf) */
    motion_field flow;
    assert_int_equal(motion_field_alloc(&flow, w, h), STYLE_OK);
    assert_int_equal(motion_estimate(target, source, w, h, &flow), STYLE_OK);
    double over_half;
    const double mean = flow_error(&flow, zoom_truth, 10, &over_half);
    print_message("zoom 1.5 %%: mean error %.3f px, %.1f %% over 0.5 px\n", mean, 100 * over_half);
    assert_true(mean < 0.15);
    assert_true(over_half < 0.03);
    motion_field_release(&flow);
    free(source);
    free(target);
}

/* The plain reference: for a block around (x, y) of the target, the integer displacement of
 * the source within +-range with the least sum of squared differences. */
static void block_match(const float *target, const float *source, int w, int h, int x, int y,
                        int radius, int range, int *best_dx, int *best_dy)
{
    double best = INFINITY;
    for (int dy = -range; dy <= range; dy++)
        for (int dx = -range; dx <= range; dx++) {
            double ssd = 0;
            for (int j = -radius; j <= radius; j++)
                for (int i = -radius; i <= radius; i++) {
                    const double d = source[(size_t)(y + j + dy) * w + (x + i + dx)] -
                                     target[(size_t)(y + j) * w + (x + i)];
                    ssd += d * d;
                }
            if (ssd < best) best = ssd, *best_dx = dx, *best_dy = dy;
        }
}

static void test_against_block_matching(void **state)
{
    (void)state;
    const int w = 192, h = 128;
    float *source = malloc((size_t)w * h * sizeof(float));
    float *target = malloc((size_t)w * h * sizeof(float));
    assert_non_null(source);
    assert_non_null(target);
    /* the texture with 8-bit steps and noise, moved by a whole-pixel shift */
    srand(7);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            source[(size_t)y * w + x] =
                floorf(texture(x + 320, y + 210)) + (float)(rand() % 21 - 10);
    const int sx = 5, sy = -3; /* target(x) = source(x + s), hidden from the estimate */
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int xx = x + sx < 0 ? 0 : x + sx >= w ? w - 1 : x + sx;
            const int yy = y + sy < 0 ? 0 : y + sy >= h ? h - 1 : y + sy;
            target[(size_t)y * w + x] = source[(size_t)yy * w + xx];
        }
    motion_field flow;
    assert_int_equal(motion_field_alloc(&flow, w, h), STYLE_OK);
    assert_int_equal(motion_estimate(target, source, w, h, &flow), STYLE_OK);
    int agree = 0, points = 0;
    for (int y = 24; y < h - 24; y += 8)
        for (int x = 24; x < w - 24; x += 8) {
            int bdx = 0, bdy = 0;
            block_match(target, source, w, h, x, y, 4, 8, &bdx, &bdy);
            const size_t i = (size_t)y * w + x;
            agree += fabs(flow.dx[i] - bdx) <= 0.5 && fabs(flow.dy[i] - bdy) <= 0.5;
            points++;
        }
    print_message("block matching and the estimate agree within 0.5 px at %d of %d points\n", agree,
                  points);
    assert_true(agree >= points * 95 / 100);
    motion_field_release(&flow);
    free(source);
    free(target);
}

/* Frames of a 32 x 32 square of another texture moving right by `step` over a still
 * background. */
static float *square_scene(int w, int h, int left)
{
    float *p = plane(w, h, 0, 0, 1);
    for (int y = 40; y < 72; y++)
        for (int x = left; x < left + 32; x++)
            p[(size_t)y * w + x] = texture(1.7 * (x - left) + 620, 1.3 * y + 150) * 0.5f + 30;
    return p;
}

static void test_occlusion_check(void **state)
{
    (void)state;
    const int w = 160, h = 112, step = 6;
    float *previous = square_scene(w, h, 40), *current = square_scene(w, h, 40 + step);
    motion_field back, forward;
    assert_int_equal(motion_field_alloc(&back, w, h), STYLE_OK);
    assert_int_equal(motion_field_alloc(&forward, w, h), STYLE_OK);
    assert_int_equal(motion_estimate(current, previous, w, h, &back), STYLE_OK);
    assert_int_equal(motion_estimate(previous, current, w, h, &forward), STYLE_OK);
    float *mask = malloc((size_t)w * h * sizeof(float)), *scratch = malloc((size_t)w * h * 4);
    assert_non_null(mask);
    assert_non_null(scratch);
    double reliable = temporal_reliability(current, previous, &back, &forward, mask, scratch);
    /* the strip the square uncovered: x in [40, 46), rows of the square */
    double uncovered = 0, still = 0;
    int n_uncovered = 0, n_still = 0;
    for (int y = 44; y < 68; y++)
        for (int x = 40; x < 40 + step; x++, n_uncovered++)
            uncovered += mask[(size_t)y * w + x];
    for (int y = 8; y < 28; y++)
        for (int x = 8; x < w - 8; x++, n_still++)
            still += mask[(size_t)y * w + x];
    uncovered /= n_uncovered, still /= n_still;
    print_message("reliable %.2f of the frame; mean mask in the uncovered strip %.3f, on the "
                  "still background %.3f\n",
                  reliable, uncovered, still);
    assert_true(uncovered < 0.1);
    assert_true(still > 0.95);
    free(mask);
    free(scratch);
    motion_field_release(&back);
    motion_field_release(&forward);
    free(previous);
    free(current);
}

/* An RGB 8-bit image of a luma plane (grey). */
static style_image grey_image(const float *luma, int w, int h)
{
    style_image image = {0};
    assert_int_equal(style_image_alloc(&image, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = image.data;
    for (size_t i = 0; i < (size_t)w * h; i++)
        p[i * 3] = p[i * 3 + 1] = p[i * 3 + 2] = (uint8_t)lrintf(luma[i]);
    return image;
}

/* A "stylized" frame: the square red, the background blue with a flicker pattern `phase`
 * (what a network does: the same content painted a little differently each frame). */
static style_image painted(int w, int h, int left, int phase)
{
    style_image image = {0};
    assert_int_equal(style_image_alloc(&image, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = image.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = p + ((size_t)y * w + x) * 3;
            const bool square = y >= 40 && y < 72 && x >= left && x < left + 32;
            px[0] = square ? 230 : 20;
            px[1] = 40;
            px[2] = square ? 30 : (uint8_t)(150 + ((x + y + phase) % 2) * 40);
        }
    return image;
}

static void test_blend_without_ghosts(void **state)
{
    (void)state;
    const int w = 160, h = 112, step = 6;
    const float weight = 0.8f;
    float *l0 = square_scene(w, h, 40), *l1 = square_scene(w, h, 40 + step);
    style_image f0 = grey_image(l0, w, h), f1 = grey_image(l1, w, h);
    style_image s0 = painted(w, h, 40, 0), s1 = painted(w, h, 40 + step, 1);
    style_image s0_alone = painted(w, h, 40, 0), s1_alone = painted(w, h, 40 + step, 1);
    temporal_state previous = {0};
    assert_int_equal(temporal_blend_apply(&previous, weight, &f0, &s0), STYLE_OK);
    assert_memory_equal(s0.data, s0_alone.data, (size_t)w * h * 3); /* the first: as it is */
    assert_int_equal(temporal_blend_apply(&previous, weight, &f1, &s1), STYLE_OK);
    const uint8_t *out = s1.data, *alone = s1_alone.data;
    /* no red ghost of the square where it was (uncovered strip) */
    int ghost = 0;
    for (int y = 42; y < 70; y++)
        for (int x = 40; x < 40 + step; x++)
            ghost += out[((size_t)y * w + x) * 3] > 60;
    /* the still background: the flicker pattern pulled toward the previous frame's */
    double before = 0, after = 0;
    int n = 0;
    for (int y = 8; y < 28; y++)
        for (int x = 8; x < w - 8; x++, n++) {
            const size_t i = ((size_t)y * w + x) * 3 + 2;
            const double prev_value = 150 + ((x + y) % 2) * 40;
            before += fabs(alone[i] - prev_value);
            after += fabs(out[i] - prev_value);
        }
    print_message("ghost pixels %d; background change from the previous output %.1f -> %.1f "
                  "(weight %.1f)\n",
                  ghost, before / n, after / n, weight);
    assert_int_equal(ghost, 0);
    /* (1 - a) of the change is left, plus a little for bilinear sampling of a sub-pixel flow */
    assert_true(after / n < (1.0 - weight) * before / n + 2.0);
    assert_true(previous.reliable > 0.75); /* all but the square, its edges and the strip */
    /* a cut: an unrelated frame is not blended */
    float *other = plane(w, h, 400, 170, 1.7);
    style_image f2 = grey_image(other, w, h), s2 = painted(w, h, 90, 0);
    style_image s2_alone = painted(w, h, 90, 0);
    assert_int_equal(temporal_blend_apply(&previous, weight, &f2, &s2), STYLE_OK);
    print_message("after a cut: reliable %.2f\n", previous.reliable);
    assert_true(previous.reliable == 0.0);
    assert_memory_equal(s2.data, s2_alone.data, (size_t)w * h * 3);
    temporal_state_release(&previous);
    style_image *images[] = {&f0, &f1, &s0, &s0_alone, &s1, &s1_alone, &f2, &s2, &s2_alone};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        style_image_release(images[i]);
    free(l0);
    free(l1);
    free(other);
}

static void test_session_blend(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    style_model *model = test_build_model(&c, 5);
    const int w = 64, h = 48;
    float *l0 = plane(w, h, 0, 0, 1), *l1 = plane(w, h, 1.5, 0, 1);
    style_image f0 = grey_image(l0, w, h), f1 = grey_image(l1, w, h);
    style_session *plain;
    style_image alone0 = {0}, alone1 = {0};
    assert_int_equal(style_session_create(model, &plain), STYLE_OK);
    assert_int_equal(style_session_stylize(plain, &f0, &alone0), STYLE_OK);
    assert_int_equal(style_session_stylize(plain, &f1, &alone1), STYLE_OK);
    style_session_free(plain);

    style_video_settings settings = {sizeof settings, 0.0f, 0.6f};
    style_video *video;
    assert_int_equal(style_video_create(model, &settings, &video), STYLE_OK);
    style_image out = {0};
    /* a still clip: every frame is the frame stylized on its own, bit for bit */
    for (int t = 0; t < 3; t++) {
        assert_int_equal(style_video_push_frame(video, &f0, &out), STYLE_OK);
        assert_memory_equal(out.data, alone0.data, (size_t)w * h * 3);
    }
    /* motion: the next frame is blended (differs from per-frame), a reset makes it per-frame */
    assert_int_equal(style_video_push_frame(video, &f1, &out), STYLE_OK);
    assert_true(memcmp(out.data, alone1.data, (size_t)w * h * 3) != 0);
    assert_int_equal(style_video_reset(video), STYLE_OK);
    assert_int_equal(style_video_push_frame(video, &f1, &out), STYLE_OK);
    assert_memory_equal(out.data, alone1.data, (size_t)w * h * 3);
    style_video_free(video);

    const float bad[] = {1.0f, -0.1f, NAN, INFINITY};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        settings.temporal_blend = bad[i];
        assert_int_equal(style_video_create(model, &settings, &video), STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), "temporal_blend"));
    }
    /* a settings struct from before the field: no blending */
    style_video_settings old = {offsetof(style_video_settings, temporal_blend), 0.0f, 0.9f};
    assert_int_equal(style_video_create(model, &old, &video), STYLE_OK);
    assert_int_equal(style_video_push_frame(video, &f0, &out), STYLE_OK);
    assert_int_equal(style_video_push_frame(video, &f1, &out), STYLE_OK);
    assert_memory_equal(out.data, alone1.data, (size_t)w * h * 3);
    style_video_free(video);

    style_image *images[] = {&f0, &f1, &alone0, &alone1, &out};
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++)
        style_image_release(images[i]);
    free(l0);
    free(l1);
    style_model_free(model);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subpixel_shift),
        cmocka_unit_test(test_large_shift),
        cmocka_unit_test(test_zoom),
        cmocka_unit_test(test_against_block_matching),
        cmocka_unit_test(test_occlusion_check),
        cmocka_unit_test(test_blend_without_ghosts),
        cmocka_unit_test(test_session_blend),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
