/*
 * bf16 and int8 against fp32 on the real ml5 networks and real photos (../shared): the PSNR
 * of the stylized 8-bit image must be at least 40 dB (bf16) and 35 dB (int8) for every model
 * and photo (skipped when ../shared is absent); and on any processor, precisions it does not
 * run natively are refused.
 */
#include "model_builder.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *models[] = {"la_muse", "mathura", "matilde_perez", "matta", "rain_princess",
                               "scream",  "udnie",   "wave",          "wreck"};
/* Varied content: animals, landscapes, city, portrait-like, texture. */
static const char *photos[] = {"gnome-control-center-data__cat.jpg", "kphotoalbum__skagen.jpg",
                               "lifeograph__street.jpg", "endless-sky-high-dpi__badlands0_2x.jpg"};

/* The centre crop of at most n x n (keeps the test quick; content stays natural). */
static void center_crop(style_image *img, int32_t n)
{
    if (img->width <= n && img->height <= n) return;
    int32_t w = img->width < n ? img->width : n, h = img->height < n ? img->height : n;
    style_image crop = {0};
    assert_int_equal(style_image_alloc(&crop, w, h, img->channels, img->sample_type), STYLE_OK);
    size_t px = (size_t)img->channels, stride = img->stride ? img->stride : (size_t)img->width * px;
    int32_t x0 = (img->width - w) / 2, y0 = (img->height - h) / 2;
    for (int32_t y = 0; y < h; y++)
        memcpy((uint8_t *)crop.data + (size_t)y * w * px,
               (const uint8_t *)img->data + (size_t)(y0 + y) * stride + (size_t)x0 * px,
               (size_t)w * px);
    style_image_release(img);
    *img = crop;
}

static double psnr(const style_image *a, const style_image *b)
{
    const uint8_t *x = a->data, *y = b->data;
    size_t n = (size_t)a->width * a->height * 3;
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return se == 0 ? 99.0 : 10 * log10(255.0 * 255.0 * (double)n / se);
}

/* Whatever the processor: a precision it does not run natively is refused (never emulated
 * slowly), auto resolves to one it runs, and that runs. On AVX2-only machines (CI's
 * ONEDNN_MAX_CPU_ISA=AVX2 run) this is the whole of the precision API that applies. */
static void test_unsupported_refused(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 16;
    c.residual_blocks = 1;
    style_model *model = test_build_model(&c, 5);
    style_session *s = NULL;
    assert_int_equal(style_session_create(model, &s), STYLE_OK);
    const style_precision all[2] = {STYLE_PRECISION_BF16, STYLE_PRECISION_INT8};
    for (int k = 0; k < 2; k++)
        assert_int_equal(style_session_set_precision(s, all[k]),
                         style_precision_supported(all[k]) ? STYLE_OK : STYLE_ERR_UNSUPPORTED);
    assert_int_equal(style_session_set_precision(s, STYLE_PRECISION_AUTO), STYLE_OK);
    style_precision used = STYLE_PRECISION_AUTO;
    assert_int_equal(style_session_get_precision(s, &used), STYLE_OK);
    assert_true(used == STYLE_PRECISION_FP32 || style_precision_supported(used));
    uint8_t pixels[20 * 12 * 3];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 13);
    style_image in = {20, 12, 3, STYLE_SAMPLE_U8, 0, pixels}, out = {0};
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_OK);
    print_message("  bf16: %s, int8: %s; auto runs %s\n",
                  style_precision_supported(all[0]) ? "runs natively" : "refused",
                  style_precision_supported(all[1]) ? "runs natively" : "refused",
                  style_precision_name(used));
    style_image_release(&out);
    style_session_free(s);
    style_model_free(model);
}

static void test_real_models(void **state)
{
    (void)state;
    if (!test_have_shared("models/ml5/la_muse/manifest.json", "real ml5 models") ||
        !test_have_shared("datasets/photos/content", "photos"))
        return;
    const int bf16 = style_precision_supported(STYLE_PRECISION_BF16);
    const int int8 = style_precision_supported(STYLE_PRECISION_INT8);
    if (!bf16 && !int8) { /* nothing to compare: test_unsupported_refused covers this case */
        print_message("  no PSNR comparison: this processor runs neither bf16 nor int8\n");
        return;
    }
    char *dir = test_make_temp_dir();
    assert_non_null(dir);
    /* Photos: the test decodes each once. */
    style_image in[sizeof photos / sizeof *photos];
    for (size_t p = 0; p < sizeof photos / sizeof *photos; p++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/datasets/photos/content/%s", STYLE_SHARED_DIR, photos[p]);
        memset(&in[p], 0, sizeof in[p]);
        assert_int_equal(style_image_load(path, 0, &in[p]), STYLE_OK);
        assert_int_equal(in[p].sample_type, STYLE_SAMPLE_U8);
        center_crop(&in[p], 384);
    }
    double worst[2] = {99, 99};
    for (size_t m = 0; m < sizeof models / sizeof *models; m++) {
        char src[4096], file[4096];
        snprintf(src, sizeof src, "%s/models/ml5/%s", STYLE_SHARED_DIR, models[m]);
        snprintf(file, sizeof file, "%s/%s.safetensors", dir, models[m]);
        assert_int_equal(style_import_ml5(src, file, models[m]), STYLE_OK);
        style_model *model;
        assert_int_equal(style_model_load(file, NULL, &model), STYLE_OK);
        style_session *s[3];
        const style_precision prec[3] = {STYLE_PRECISION_FP32, STYLE_PRECISION_BF16,
                                         STYLE_PRECISION_INT8};
        for (int k = 0; k < 3; k++) {
            assert_int_equal(style_session_create(model, &s[k]), STYLE_OK);
            if (k == 0 || (k == 1 && bf16) || (k == 2 && int8))
                assert_int_equal(style_session_set_precision(s[k], prec[k]), STYLE_OK);
        }
        double model_worst[2] = {99, 99};
        for (size_t p = 0; p < sizeof photos / sizeof *photos; p++) {
            style_image out[3] = {{0}, {0}, {0}};
            assert_int_equal(style_session_stylize(s[0], &in[p], &out[0]), STYLE_OK);
            for (int k = 1; k < 3; k++) {
                if ((k == 1 && !bf16) || (k == 2 && !int8)) continue;
                assert_int_equal(style_session_stylize(s[k], &in[p], &out[k]), STYLE_OK);
                double v = psnr(&out[k], &out[0]);
                if (v < model_worst[k - 1]) model_worst[k - 1] = v;
            }
            for (int k = 0; k < 3; k++)
                style_image_release(&out[k]);
        }
        print_message("  %-14s worst PSNR against fp32: bf16 %5.1f dB, int8 %5.1f dB\n", models[m],
                      model_worst[0], model_worst[1]);
        for (int k = 0; k < 2; k++)
            if (model_worst[k] < worst[k]) worst[k] = model_worst[k];
        for (int k = 0; k < 3; k++)
            style_session_free(s[k]);
        style_model_free(model);
    }
    for (size_t p = 0; p < sizeof photos / sizeof *photos; p++)
        style_image_release(&in[p]);
    test_remove_tree(dir);
    free(dir);
    if (bf16) assert_true(worst[0] >= 40.0);
    if (int8) assert_true(worst[1] >= 35.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unsupported_refused),
        cmocka_unit_test(test_real_models),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
