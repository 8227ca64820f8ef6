/*
 * Asset-pipeline features of a session: tileable (circular) mode against the double
 * reference and its measured seam, the alpha fill under transparent pixels, and banded runs
 * of images over the memory budget against whole-image runs.
 */
#include "image/alpha_fill.h"
#include "dnn/layers.h"
#include "model_builder.h"
#include "arch/network.h"
#include "reference.h"
#include "dnn_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A periodic h x w x 3 image in 0..255 (integer periods of sines plus a periodic hash). */
static float *periodic_image(int h, int w, uint64_t seed)
{
    float *img = malloc(sizeof(float) * (size_t)h * w * 3);
    test_rng rng = {seed};
    double ph[3] = {test_rng_uniform(&rng, 0, 6), test_rng_uniform(&rng, 0, 6),
                    test_rng_uniform(&rng, 0, 6)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double v = 127.5 + 60 * sin(2 * M_PI * (2.0 * x / w + 1.0 * y / h) + ph[c]) +
                           40 * cos(2 * M_PI * (3.0 * y / h - 1.0 * x / w) + ph[(c + 1) % 3]);
                v += test_rng_uniform(&rng, -20, 20);
                img[((size_t)y * w + x) * 3 + c] = (float)fmin(fmax(v, 0), 255);
            }
    return img;
}

static ref_tensor image_to_ref(const float *img, int h, int w)
{
    ref_tensor t = ref_tensor_new(3, h, w);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                REF_AT(t, c, y, x) = img[((size_t)y * w + x) * 3 + c];
    return t;
}

/* ---- Circular padding: layers and the whole network against the reference ------------- */

static void test_wrap_border_vs_reference(void **state)
{
    (void)state;
    /* Odd sizes, pads up to beyond the size (a 3-wide tensor padded by 4). */
    const int shapes[][6] = {
        {7, 5, 3, 1, 1, 1}, {3, 5, 2, 4, 3, 4}, {1, 1, 4, 2, 2, 1}, {9, 3, 5, 0, 1, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int h = shapes[s][0], w = shapes[s][1], c = shapes[s][2], pt = shapes[s][3],
                  pl = shapes[s][4], pb = shapes[s][5], pr = pl + 1;
        const int H = h + pt + pb, W = w + pl + pr;
        float *buf = calloc((size_t)H * W * c, sizeof(float));
        test_rng rng = {s + 1};
        ref_tensor in = ref_tensor_new(c, h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) {
                    float v = (float)test_rng_uniform(&rng, -1, 1);
                    buf[((size_t)(y + pt) * W + x + pl) * c + ch] = v;
                    REF_AT(in, ch, y, x) = v;
                }
        pad_fill_border(buf, sizeof(float) * c, h, w, pt, pl, pb, pr, BORDER_WRAP);
        ref_tensor expect = ref_circular_pad(in, pt, pl, pb, pr);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int ch = 0; ch < c; ch++)
                    assert_true(buf[((size_t)y * W + x) * c + ch] ==
                                (float)REF_AT(expect, ch, y, x));
        ref_tensor_free(&in);
        ref_tensor_free(&expect);
        free(buf);
    }
}

/* The circular plan's raw output against ref_network_ex(circular) at one precision. */
static double circular_error(const test_model_config *config, int h, int w, net_precision p)
{
    style_model *model = test_build_model(config, 11);
    dnn_context *dnn = dnn_fixture();
    network_plan plan;
    assert_int_equal(network_plan_describe_circular(&plan, model, dnn, h, w, p, true), STYLE_OK);
    assert_int_equal(network_plan_bind(&plan, dnn), STYLE_OK);
    float *img = periodic_image(h, w, 5);
    memcpy(plan.buffers[BUF_INPUT], img, sizeof(float) * h * w * 3);
    assert_int_equal(network_plan_run(&plan, dnn, NULL, NULL), STYLE_OK);
    ref_tensor in = image_to_ref(img, h, w);
    ref_tensor expect = ref_network_ex(model, in, true);
    double *e = malloc(sizeof(double) * h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                e[((size_t)y * w + x) * 3 + c] = REF_AT(expect, c, y, x);
    double err = test_rel_l2(plan.buffers[BUF_OUTPUT], e, (size_t)h * w * 3);
    free(e);
    ref_tensor_free(&expect);
    ref_tensor_free(&in);
    free(img);
    network_plan_destroy(&plan);
    style_model_free(model);
    return err;
}

static void expect_circular(const char *what, const test_model_config *c, int h, int w)
{
    double err = circular_error(c, h, w, NET_FP32);
    print_message("  circular %-40s %3dx%-3d rel L2 %.2e\n", what, w, h, err);
    assert_true(err < 1e-5);
}

static void test_circular_network_vs_reference(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 2;
    /* Quarter sizes 5x7 and 2x3 (odd), and a 4x4 input (the non-phase upsampling path).
     * (A quarter side of 1 beside a longer one makes the instance norms amplify rounding:
     * 12x4 measures 4e-5 against the 1e-5 bound.) */
    expect_circular("reflect nearest_conv instance", &c, 20, 28);
    expect_circular("reflect nearest_conv instance", &c, 12, 8);
    expect_circular("reflect nearest_conv instance (tiny)", &c, 4, 4);
    c.padding = "zero";
    c.upsample = "transposed_torch";
    expect_circular("zero transposed_torch instance", &c, 20, 12);
    c.padding = "tf_same";
    c.upsample = "transposed_tf";
    c.final_norm = true;
    c.output = "tanh150";
    expect_circular("tf_same transposed_tf in6 tanh", &c, 12, 20);
    c.upsample = "nearest_conv";
    c.norm = "batch";
    expect_circular("tf_same nearest_conv batch", &c, 16, 20);
}

static void test_circular_low_precision(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 16, c.widths[1] = 32, c.widths[2] = 64;
    c.residual_blocks = 2;
    for (net_precision p = NET_BF16; p <= NET_INT8; p++) {
        if (!network_precision_supported(p)) {
            print_message("  %s: not native here, its circular plan is not run\n",
                          p == NET_BF16 ? "bf16" : "int8");
            continue;
        }
        double err = circular_error(&c, 20, 28, p);
        print_message("  circular %s 28x20 rel L2 %.2e\n", p == NET_BF16 ? "bf16" : "int8", err);
        assert_true(err < 0.05);
    }
}

/* ---- The seam of a tileable texture, through the API with a bundled model ------------- */

/* Mean |difference| across the wrap edges against that between neighbouring columns/rows. */
static void seam_stats(const uint8_t *rgb, int h, int w, double *seam, double *interior)
{
    double s = 0, in = 0;
    for (int y = 0; y < h; y++)
        for (int c = 0; c < 3; c++) {
            s += fabs((double)rgb[((size_t)y * w + w - 1) * 3 + c] - rgb[((size_t)y * w) * 3 + c]);
            for (int x = 0; x + 1 < w; x++)
                in += fabs((double)rgb[((size_t)y * w + x + 1) * 3 + c] -
                           rgb[((size_t)y * w + x) * 3 + c]);
        }
    for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
            s += fabs((double)rgb[((size_t)(h - 1) * w + x) * 3 + c] - rgb[(size_t)x * 3 + c]);
            for (int y = 0; y + 1 < h; y++)
                in += fabs((double)rgb[((size_t)(y + 1) * w + x) * 3 + c] -
                           rgb[((size_t)y * w + x) * 3 + c]);
        }
    *seam = s / (3.0 * (h + w));
    *interior = in / (3.0 * ((double)h * (w - 1) + (double)w * (h - 1)));
}

static void test_tileable_seam(void **state)
{
    (void)state;
    style_model *model = NULL;
    /* A painting, not the bricks texture: bricks paints isolated mortar lines, so one column
     * pair (the wrap edge among them) may differ 3x from the mean of all pairs with no seam
     * at all; the equivariance check below is the exact property. */
    assert_int_equal(style_model_load(STYLE_MODELS_DIR "/starry-night.safetensors", NULL, &model),
                     STYLE_OK);
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    /* 128 x 96, and 122 x 90 (not multiples of 4: resampled periodically). */
    const int sizes[][2] = {{128, 96}, {122, 90}};
    for (size_t s = 0; s < 2; s++) {
        const int w = sizes[s][0], h = sizes[s][1];
        float *img = periodic_image(h, w, 9);
        uint8_t *in8 = malloc((size_t)h * w * 3), *out8 = malloc((size_t)h * w * 3);
        for (size_t i = 0; i < (size_t)h * w * 3; i++)
            in8[i] = (uint8_t)(img[i] + 0.5f);
        style_image in = {w, h, 3, STYLE_SAMPLE_U8, 0, in8};
        style_image out = {w, h, 3, STYLE_SAMPLE_U8, 0, out8};
        double seam_in, interior_in, seam_on, interior_on, seam_off, interior_off;
        seam_stats(in8, h, w, &seam_in, &interior_in);
        assert_int_equal(style_session_set_tileable(session, 1), STYLE_OK);
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
        seam_stats(out8, h, w, &seam_on, &interior_on);
        assert_int_equal(style_session_set_tileable(session, 0), STYLE_OK);
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
        seam_stats(out8, h, w, &seam_off, &interior_off);
        print_message("  %dx%d mean |diff| across the wrap edge / between neighbours: input "
                      "%.1f / %.1f, tileable %.1f / %.1f, default %.1f / %.1f\n",
                      w, h, seam_in, interior_in, seam_on, interior_on, seam_off, interior_off);
        /* Tileable: the seam is like any other pair of neighbours; default: clearly not. */
        assert_true(seam_on < 1.25 * interior_on);
        assert_true(seam_off > 2.0 * interior_off);
        assert_true(seam_off > 2.0 * seam_on);
        /* Circular all through: moving a multiple-of-4-sized input by whole strides (4 px)
         * moves the output the same way, up to rounding. */
        if (w % 4 == 0 && h % 4 == 0) {
            const int dy = 32, dx = 64;
            uint8_t *moved = malloc((size_t)h * w * 3), *moved_out = malloc((size_t)h * w * 3);
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    memcpy(moved + ((size_t)((y + dy) % h) * w + (x + dx) % w) * 3,
                           in8 + ((size_t)y * w + x) * 3, 3);
            style_image min = {w, h, 3, STYLE_SAMPLE_U8, 0, moved};
            style_image mout = {w, h, 3, STYLE_SAMPLE_U8, 0, moved_out};
            assert_int_equal(style_session_set_tileable(session, 1), STYLE_OK);
            assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
            assert_int_equal(style_session_stylize(session, &min, &mout), STYLE_OK);
            int worst = 0;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    for (int c = 0; c < 3; c++) {
                        int a = out8[((size_t)y * w + x) * 3 + c];
                        int b = moved_out[((size_t)((y + dy) % h) * w + (x + dx) % w) * 3 + c];
                        if (abs(a - b) > worst) worst = abs(a - b);
                    }
            print_message("  moved by (%d, %d): max |difference| %d\n", dx, dy, worst);
            assert_true(worst <= 1);
            free(moved);
            free(moved_out);
        }
        free(img);
        free(in8);
        free(out8);
    }
    style_session_free(session);
    style_model_free(model);
}

/* ---- Alpha ------------------------------------------------------------------------------ */

static style_model *small_model(const char *padding)
{
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 2;
    c.padding = padding;
    return test_build_model(&c, 3);
}

/* An RGBA sprite: a disc of visible pixels (with a soft edge) on alpha 0 with `junk` colour. */
static uint8_t *sprite(int h, int w, uint64_t junk_seed)
{
    uint8_t *p = malloc((size_t)h * w * 4);
    test_rng rng = {junk_seed};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *q = p + ((size_t)y * w + x) * 4;
            double r = hypot(x - w * 0.45, y - h * 0.55) / (0.3 * (w < h ? w : h));
            int alpha = r < 0.9 ? 255 : r < 1.0 ? (int)(255 * (1.0 - r) / 0.1) : 0;
            q[3] = (uint8_t)alpha;
            if (alpha > 0) {
                q[0] = (uint8_t)(128 + 100 * sin(0.3 * x));
                q[1] = (uint8_t)(128 + 100 * cos(0.2 * y));
                q[2] = (uint8_t)((x * y) & 255);
            } else {
                for (int c = 0; c < 3; c++)
                    q[c] = (uint8_t)test_rng_uniform(&rng, 0, 256);
            }
        }
    return p;
}

/* Issue 23 item 6: in tileable mode the fill wraps around the edges, so filling a texture
 * rolled by half its size gives the fill rolled (exactly: every pyramid cell moves whole);
 * the clamped fill of an image does not. */
static void test_periodic_alpha_fill_rolls(void **state)
{
    (void)state;
    enum { N = 64, SHIFT = 32 };
    uint8_t *a = malloc(N * N * 4), *b = malloc(N * N * 4);
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++) {
            uint8_t *q = a + ((size_t)y * N + x) * 4;
            const double dx = fmin(fabs(x - 2.0), N - fabs(x - 2.0)); /* a hole across x = 0 */
            const bool hole = hypot(dx, y - 30.0) < 9;
            q[0] = (uint8_t)(128 + 90 * sin(2 * M_PI * x / N));
            q[1] = (uint8_t)(128 + 90 * cos(2 * M_PI * y / 32));
            q[2] = hole ? 255 : (uint8_t)((x * 3 + y) & 255);
            q[3] = hole ? 0 : 255;
        }
    for (int y = 0; y < N; y++)
        for (int x = 0; x < N; x++)
            memcpy(b + ((size_t)((y + SHIFT) % N) * N + (x + SHIFT) % N) * 4,
                   a + ((size_t)y * N + x) * 4, 4);
    style_image ia = {N, N, 4, STYLE_SAMPLE_U8, 0, a}, ib = {N, N, 4, STYLE_SAMPLE_U8, 0, b};
    for (int periodic = 0; periodic < 2; periodic++) {
        style_image fa, fb;
        assert_int_equal(alpha_fill_copy(&ia, periodic, &fa), STYLE_OK);
        assert_int_equal(alpha_fill_copy(&ib, periodic, &fb), STYLE_OK);
        int differing = 0;
        for (int y = 0; y < N; y++)
            for (int x = 0; x < N; x++)
                differing += memcmp((uint8_t *)fa.data + ((size_t)y * N + x) * 4,
                                    (uint8_t *)fb.data +
                                        ((size_t)((y + SHIFT) % N) * N + (x + SHIFT) % N) * 4,
                                    4) != 0;
        print_message("  %s fill: %d pixels differ from the rolled fill\n",
                      periodic ? "periodic" : "clamped", differing);
        if (periodic)
            assert_int_equal(differing, 0);
        else
            assert_true(differing > 0);
        style_image_release(&fa);
        style_image_release(&fb);
    }
    free(a);
    free(b);
}

static void test_alpha_fill_ignores_hidden_colour(void **state)
{
    (void)state;
    const int w = 45, h = 37;
    uint8_t *a = sprite(h, w, 1), *b = sprite(h, w, 2);
    /* The fill itself: identical for both, visible pixels and alpha untouched. */
    style_image ia = {w, h, 4, STYLE_SAMPLE_U8, 0, a}, ib = {w, h, 4, STYLE_SAMPLE_U8, 0, b};
    assert_true(alpha_fill_needed(&ia));
    style_image fa, fb;
    assert_int_equal(alpha_fill_copy(&ia, false, &fa), STYLE_OK);
    assert_int_equal(alpha_fill_copy(&ib, false, &fb), STYLE_OK);
    assert_memory_equal(fa.data, fb.data, (size_t)h * w * 4);
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (a[i * 4 + 3]) assert_memory_equal((uint8_t *)fa.data + i * 4, a + i * 4, 4);
    style_image_release(&fa);
    style_image_release(&fb);

    /* Through a session (bands too): identical visible output, alpha passed through. */
    style_model *model = small_model("reflect");
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    for (int banded = 0; banded < 2; banded++) {
        assert_int_equal(style_session_set_band_rows(session, banded ? 8 : 0), STYLE_OK);
        style_image oa = {0}, ob = {0};
        assert_int_equal(style_session_stylize(session, &ia, &oa), STYLE_OK);
        assert_int_equal(style_session_stylize(session, &ib, &ob), STYLE_OK);
        int differing_visible = 0;
        for (size_t i = 0; i < (size_t)h * w; i++) {
            const uint8_t *pa = (uint8_t *)oa.data + i * 4, *pb = (uint8_t *)ob.data + i * 4;
            assert_int_equal(pa[3], a[i * 4 + 3]);
            if (a[i * 4 + 3] && memcmp(pa, pb, 4) != 0) differing_visible++;
        }
        print_message("  %s: visible pixels differing between junk colours: %d (bound 0)\n",
                      banded ? "bands" : "whole image", differing_visible);
        assert_int_equal(differing_visible, 0);
        style_image_release(&oa);
        style_image_release(&ob);
    }
    /* Without the fill the hidden colour would bleed: with alpha 1 instead of 0 there (not
     * filled), the fully opaque pixels differ between the two junk colours. */
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (a[i * 4 + 3] == 0) a[i * 4 + 3] = b[i * 4 + 3] = 1;
    style_image oa = {0}, ob = {0};
    assert_int_equal(style_session_stylize(session, &ia, &oa), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &ib, &ob), STYLE_OK);
    int bled = 0;
    for (size_t i = 0; i < (size_t)h * w; i++)
        if (a[i * 4 + 3] == 255 &&
            memcmp((uint8_t *)oa.data + i * 4, (uint8_t *)ob.data + i * 4, 3))
            bled++;
    print_message("  alpha 1 instead of 0 (no fill): %d opaque pixels differ\n", bled);
    assert_true(bled > 0);
    style_image_release(&oa);
    style_image_release(&ob);

    /* 16-bit and float samples take the same path. */
    uint16_t *a16 = malloc(sizeof(uint16_t) * h * w * 4);
    uint8_t *c = sprite(h, w, 3);
    for (size_t i = 0; i < (size_t)h * w * 4; i++)
        a16[i] = (uint16_t)(c[i] * 257);
    style_image i16 = {w, h, 4, STYLE_SAMPLE_U16, 0, a16}, o16 = {0};
    assert_int_equal(style_session_stylize(session, &i16, &o16), STYLE_OK);
    for (size_t i = 0; i < (size_t)h * w; i++)
        assert_int_equal(((uint16_t *)o16.data)[i * 4 + 3], a16[i * 4 + 3]);
    style_image_release(&o16);
    free(a16);
    free(c);
    style_session_free(session);
    style_model_free(model);
    free(a);
    free(b);
}

/* ---- Bands against whole-image runs ------------------------------------------------------ */

typedef struct band_progress {
    int calls, monotonic, cancel_at;
    double last;
} band_progress;

static int on_progress(void *user, double fraction)
{
    band_progress *p = user;
    if (fraction < p->last) p->monotonic = 0;
    p->last = fraction;
    p->calls++;
    return p->cancel_at && p->calls >= p->cancel_at;
}

/* Max and mean |banded - whole| (f32 output, 0..255) of one model at one size. */
static void compare_banded(style_model *model, int w, int h, bool tileable, int32_t rows,
                           uint64_t budget, double *max, double *mean)
{
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_tileable(session, tileable), STYLE_OK);
    float *img = periodic_image(h, w, 21);
    float *whole = malloc(sizeof(float) * h * w * 3), *banded = malloc(sizeof(float) * h * w * 3);
    style_image in = {w, h, 3, STYLE_SAMPLE_F32, 0, img};
    style_image ow = {w, h, 3, STYLE_SAMPLE_F32, 0, whole},
                ob = {w, h, 3, STYLE_SAMPLE_F32, 0, banded};
    assert_int_equal(style_session_stylize(session, &in, &ow), STYLE_OK);
    uint64_t need;
    assert_int_equal(style_session_estimate_memory(session, w, h, &need), STYLE_OK);
    if (budget) {
        assert_true(budget < need); /* the whole image no longer fits */
        assert_int_equal(style_session_set_memory_budget(session, budget), STYLE_OK);
    }
    assert_int_equal(style_session_set_band_rows(session, rows), STYLE_OK);
    band_progress log = {0, 1, 0, 0};
    assert_int_equal(style_session_set_progress_callback(session, on_progress, &log), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &ob), STYLE_OK);
    assert_true(log.monotonic && log.calls > 20 && fabs(log.last - 1.0) < 1e-9);
    double m = 0, s = 0;
    for (size_t i = 0; i < (size_t)h * w * 3; i++) {
        double d = fabs((double)whole[i] - banded[i]);
        m = d > m ? d : m;
        s += d;
    }
    *max = m;
    *mean = s / ((double)h * w * 3);
    free(img);
    free(whole);
    free(banded);
    style_session_free(session);
}

static void test_banded_matches_whole(void **state)
{
    (void)state;
    const char *paddings[] = {"reflect", "zero", "tf_same"};
    for (int i = 0; i < 3; i++) {
        style_model *model = small_model(paddings[i]);
        double max, mean;
        compare_banded(model, 70, 54, false, 8, 0, &max, &mean);
        print_message("  %-8s 70x54 in bands of 8 rows: max |diff| %.2e, mean %.2e (0..255)\n",
                      paddings[i], max, mean);
        assert_true(max < 0.05 && mean < 0.005);
        if (i == 0) {
            compare_banded(model, 72, 56, true, 5, 0, &max, &mean);
            print_message("  tileable 72x56 in bands of 5 rows: max |diff| %.2e, mean %.2e\n", max,
                          mean);
            assert_true(max < 0.05 && mean < 0.005);
        }
        style_model_free(model);
    }
    /* Batch norm (running statistics), a final instance norm and the tanh head. */
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    c.output = "tanh150";
    c.final_norm = true;
    const char *norms[] = {"batch", "instance"};
    for (int i = 0; i < 2; i++) {
        c.norm = norms[i];
        style_model *model = test_build_model(&c, 8);
        double max, mean;
        compare_banded(model, 44, 36, false, 3, 0, &max, &mean);
        print_message("  %-8s + in6 + tanh 44x36 in bands of 3 rows: max |diff| %.2e, mean %.2e\n",
                      norms[i], max, mean);
        assert_true(max < 0.05 && mean < 0.005);
        style_model_free(model);
    }
}

static void test_banded_by_budget_real_model(void **state)
{
    (void)state;
    /* A bundled model at 200x152 with a budget a tenth of what the whole image needs. */
    style_model *model = NULL;
    assert_int_equal(style_model_load(STYLE_MODELS_DIR "/starry-night.safetensors", NULL, &model),
                     STYLE_OK);
    style_session *probe;
    uint64_t need;
    assert_int_equal(style_session_create(model, &probe), STYLE_OK);
    assert_int_equal(style_session_estimate_memory(probe, 200, 152, &need), STYLE_OK);
    style_session_free(probe);
    double max, mean;
    compare_banded(model, 200, 152, false, 0, need / 10, &max, &mean);
    print_message("  starry-night 200x152, budget %.1f of %.1f MiB: max |diff| %.2e, mean "
                  "%.2e (0..255)\n",
                  need / 10 / 1048576.0, need / 1048576.0, max, mean);
    assert_true(max < 0.1 && mean < 0.01);
    style_model_free(model);
}

static void test_banded_errors_and_cancel(void **state)
{
    (void)state;
    style_model *model = small_model("reflect");
    style_session *session;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(session, -1), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_tileable(NULL, 1), STYLE_ERR_INVALID_ARGUMENT);
    float *img = periodic_image(40, 60, 1);
    style_image in = {60, 40, 3, STYLE_SAMPLE_F32, 0, img}, out = {0};

    /* Cancelled in the middle of the bands: the output the library allocated is released. */
    assert_int_equal(style_session_set_band_rows(session, 4), STYLE_OK);
    band_progress log = {0, 1, 7, 0};
    assert_int_equal(style_session_set_progress_callback(session, on_progress, &log), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_CANCELLED);
    assert_int_equal(log.calls, 7);
    assert_null(out.data);
    assert_int_equal(style_session_set_progress_callback(session, NULL, NULL), STYLE_OK);

    /* A budget too small for even one row of a layer: a clear limit error. */
    assert_int_equal(style_session_set_memory_budget(session, 4096), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "memory budget"));
    assert_null(out.data);
    assert_int_equal(style_session_set_memory_budget(session, 0), STYLE_OK);

    /* Tileable bands need multiples of 4; bands are fp32 only. */
    assert_int_equal(style_session_set_tileable(session, 1), STYLE_OK);
    in.width = 58;
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "multiples of 4"));
    in.width = 60;
    /* Nor with a scale: the controls' cubic resampling does not wrap around. */
    assert_int_equal(style_session_set_band_rows(session, 0), STYLE_OK);
    assert_int_equal(style_session_set_scale(session, 0.5f), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "scale 1"));
    assert_int_equal(style_session_set_scale(session, 1.0f), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(session, 4), STYLE_OK);
    assert_int_equal(style_session_set_tileable(session, 0), STYLE_OK);
    if (style_precision_supported(STYLE_PRECISION_BF16)) {
        assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_BF16), STYLE_OK);
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_UNSUPPORTED);
        assert_non_null(strstr(style_last_error(), "fp32"));
        assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_FP32), STYLE_OK);
    }
    style_session_free(session);
    style_model_free(model);

    /* Transposed upsampling cannot run in bands: forced, refused; over budget, a limit. */
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    c.upsample = "transposed_torch";
    model = test_build_model(&c, 4);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(session, 4), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "nearest_conv"));
    assert_int_equal(style_session_set_band_rows(session, 0), STYLE_OK);
    assert_int_equal(style_session_set_memory_budget(session, 65536), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &out), STYLE_ERR_LIMIT);
    style_session_free(session);
    style_model_free(model);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wrap_border_vs_reference),
        cmocka_unit_test(test_circular_network_vs_reference),
        cmocka_unit_test(test_circular_low_precision),
        cmocka_unit_test(test_tileable_seam),
        cmocka_unit_test(test_alpha_fill_ignores_hidden_colour),
        cmocka_unit_test(test_periodic_alpha_fill_rolls),
        cmocka_unit_test(test_banded_matches_whole),
        cmocka_unit_test(test_banded_by_budget_real_model),
        cmocka_unit_test(test_banded_errors_and_cancel),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
