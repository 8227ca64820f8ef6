/*
 * The nine real ml5 / lengstrom networks in ../shared/models/ml5: each is imported to a model
 * file and run on a real photo, and compared with an independent double-precision
 * implementation that reads the raw TensorFlow dump directly (HWIO kernels, SAME padding,
 * conv2d_transpose, instance norm eps 1e-3, 150 tanh + 127.5), so that the importer's layout
 * conversions and the metadata's semantics are both checked. Skips where ../shared is absent.
 */
#include "arch/network.h"
#include "reference.h"
#include "testutil.h"
#include "dnn_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const styles[] = {"la_muse", "mathura", "matilde_perez", "matta",
                                     "rain_princess", "scream", "udnie", "wave", "wreck"};

/* Variable_k of a dump, read raw (float32, C order). */
static float *read_variable(const char *dir, int k, size_t expect_count)
{
    char name[64];
    if (k == 0)
        snprintf(name, sizeof name, "Variable");
    else
        snprintf(name, sizeof name, "Variable_%d", k);
    size_t size = 0;
    float *data = test_read_file(test_path(dir, name), &size);
    assert_non_null(data);
    assert_int_equal(size, expect_count * sizeof(float));
    return data;
}

/* TF conv2d, SAME padding, kernel HWIO [k][k][in][out]. */
static ref_tensor tf_conv(ref_tensor x, const float *w, int k, int out, int stride)
{
    int oh = (x.h + stride - 1) / stride, ow = (x.w + stride - 1) / stride;
    int pad_h = (oh - 1) * stride + k - x.h, pad_w = (ow - 1) * stride + k - x.w;
    int top = (pad_h > 0 ? pad_h : 0) / 2, left = (pad_w > 0 ? pad_w : 0) / 2;
    ref_tensor y = ref_tensor_new(out, oh, ow);
    for (int o = 0; o < out; o++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                double s = 0;
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int iy = i * stride + ky - top, ix = j * stride + kx - left;
                        if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                        for (int c = 0; c < x.c; c++)
                            s += REF_AT(x, c, iy, ix) * w[((ky * k + kx) * x.c + c) * out + o];
                    }
                REF_AT(y, o, i, j) = s;
            }
    return y;
}

/* TF conv2d_transpose, stride 2, SAME, output 2H x 2W; kernel [k][k][out][in]. */
static ref_tensor tf_conv_transpose(ref_tensor x, const float *w, int k, int out)
{
    int oh = 2 * x.h, ow = 2 * x.w;
    int top = ((x.h - 1) * 2 + k - oh) / 2, left = ((x.w - 1) * 2 + k - ow) / 2;
    ref_tensor y = ref_tensor_new(out, oh, ow);
    for (int c = 0; c < x.c; c++)
        for (int i = 0; i < x.h; i++)
            for (int j = 0; j < x.w; j++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        int oy = i * 2 + ky - top, ox = j * 2 + kx - left;
                        if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                        for (int o = 0; o < out; o++)
                            REF_AT(y, o, oy, ox) +=
                                REF_AT(x, c, i, j) * w[((ky * k + kx) * out + o) * x.c + c];
                    }
    return y;
}

/* lengstrom's _instance_norm: scale and shift variables, eps 1e-3; optional ReLU. */
static void tf_instance_norm(ref_tensor x, const float *shift, const float *scale, bool relu)
{
    size_t n = (size_t)x.h * x.w;
    for (int c = 0; c < x.c; c++) {
        double mean = 0, var = 0, *d = x.data + c * n;
        for (size_t i = 0; i < n; i++) mean += d[i];
        mean /= n;
        for (size_t i = 0; i < n; i++) var += (d[i] - mean) * (d[i] - mean);
        var /= n;
        for (size_t i = 0; i < n; i++) {
            d[i] = scale[c] * (d[i] - mean) / sqrt(var + 1e-3) + shift[c];
            if (relu && d[i] < 0) d[i] = 0;
        }
    }
}

/* The lengstrom network from the raw dump: returns the pre-tanh output. */
static ref_tensor ml5_reference(const char *dir, ref_tensor image)
{
    int v = 0;
    const int widths[3] = {32, 64, 128}, kernels[3] = {9, 3, 3}, strides[3] = {1, 2, 2};
    ref_tensor x = image;
    int in = 3;
    for (int l = 0; l < 3; l++) {
        float *w = read_variable(dir, v, (size_t)kernels[l] * kernels[l] * in * widths[l]);
        float *shift = read_variable(dir, v + 1, widths[l]), *scale = read_variable(dir, v + 2, widths[l]);
        ref_tensor y = tf_conv(x, w, kernels[l], widths[l], strides[l]);
        if (l) ref_tensor_free(&x);
        tf_instance_norm(y, shift, scale, true);
        x = y;
        in = widths[l];
        v += 3;
        free(w), free(shift), free(scale);
    }
    for (int b = 0; b < 5; b++) {
        ref_tensor t = x;
        for (int j = 0; j < 2; j++) {
            float *w = read_variable(dir, v, 9 * 128 * 128);
            float *shift = read_variable(dir, v + 1, 128), *scale = read_variable(dir, v + 2, 128);
            ref_tensor y = tf_conv(t, w, 3, 128, 1);
            if (j) ref_tensor_free(&t);
            tf_instance_norm(y, shift, scale, j == 0);
            t = y;
            v += 3;
            free(w), free(shift), free(scale);
        }
        for (size_t i = 0; i < (size_t)x.c * x.h * x.w; i++) x.data[i] += t.data[i];
        ref_tensor_free(&t);
    }
    const int up[2] = {64, 32};
    for (int l = 0; l < 2; l++) {
        float *w = read_variable(dir, v, 9 * (size_t)up[l] * x.c);
        float *shift = read_variable(dir, v + 1, up[l]), *scale = read_variable(dir, v + 2, up[l]);
        ref_tensor y = tf_conv_transpose(x, w, 3, up[l]);
        ref_tensor_free(&x);
        tf_instance_norm(y, shift, scale, true);
        x = y;
        v += 3;
        free(w), free(shift), free(scale);
    }
    float *w = read_variable(dir, v, 81 * 32 * 3);
    float *shift = read_variable(dir, v + 1, 3), *scale = read_variable(dir, v + 2, 3);
    ref_tensor y = tf_conv(x, w, 9, 3, 1);
    ref_tensor_free(&x);
    tf_instance_norm(y, shift, scale, false);
    free(w), free(shift), free(scale);
    return y;
}

/* A real photo, box-downsampled to w x h (0..255 floats, NHWC). */
static float *photo(int w, int h)
{
    style_image img = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/datasets/photos/content/gnome-control-center-data__mountain.jpg",
             STYLE_SHARED_DIR);
    assert_int_equal(style_image_load(path, 0, &img), STYLE_OK);
    assert_int_equal(img.sample_type, STYLE_SAMPLE_U8);
    float *out = calloc((size_t)w * h * 3, sizeof(float));
    int fx = img.width / w, fy = img.height / h;
    const uint8_t *p = img.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                double s = 0;
                for (int dy = 0; dy < fy; dy++)
                    for (int dx = 0; dx < fx; dx++)
                        s += p[((size_t)(y * fy + dy) * img.width + x * fx + dx) * img.channels + c];
                out[(y * w + x) * 3 + c] = (float)(s / (fx * fy));
            }
    style_image_release(&img);
    return out;
}

static void test_real_models(void **state)
{
    (void)state;
    if (!test_have_shared("models/ml5/la_muse/manifest.json", "real ml5 models") ||
        !test_have_shared("datasets/photos/content", "photos"))
        return;
    const int w = 48, h = 40;
    float *image = photo(w, h);
    char *tmp = test_make_temp_dir();
    dnn_context *dnn = dnn_fixture();
    for (size_t s = 0; s < sizeof styles / sizeof *styles; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/models/ml5/%s", STYLE_SHARED_DIR, styles[s]);
        const char *file = test_path(tmp, "model.safetensors");
        style_status st = style_import_ml5(dir, file, styles[s]);
        if (st != STYLE_OK) print_error("%s\n", style_last_error());
        assert_int_equal(st, STYLE_OK);
        style_model *model = NULL;
        assert_int_equal(style_model_load(file, NULL, &model), STYLE_OK);
        assert_string_equal(style_model_metadata_get(model, "libstyle.name"), styles[s]);

        network_plan plan;
        assert_int_equal(network_plan_describe(&plan, model, dnn, h, w), STYLE_OK);
        assert_int_equal(network_plan_bind(&plan, dnn), STYLE_OK);
        memcpy(plan.buffers[BUF_INPUT], image, sizeof(float) * w * h * 3);
        assert_int_equal(network_plan_run(&plan, dnn, NULL, NULL), STYLE_OK);

        ref_tensor in = ref_tensor_new(3, h, w);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) REF_AT(in, c, y, x) = image[(y * w + x) * 3 + c];
        ref_tensor expect = ml5_reference(dir, in);
        double *e = malloc(sizeof(double) * w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++) e[(y * w + x) * 3 + c] = REF_AT(expect, c, y, x);
        double err = test_rel_l2(plan.buffers[BUF_OUTPUT], e, (size_t)w * h * 3);

        /* Through the public API: pixels within one level of the reference's. */
        style_session *session;
        assert_int_equal(style_session_create(model, &session), STYLE_OK);
        style_image input = {w, h, 3, STYLE_SAMPLE_F32, 0, image}, output = {0};
        uint8_t *pixels = malloc((size_t)w * h * 3);
        output = (style_image){w, h, 3, STYLE_SAMPLE_U8, 0, pixels};
        assert_int_equal(style_session_stylize(session, &input, &output), STYLE_OK);
        int worst = 0;
        for (int i = 0; i < w * h * 3; i++) {
            double ref = 150.0 * tanh(e[i]) + 127.5;
            ref = ref < 0 ? 0 : ref > 255 ? 255 : ref;
            int d = abs((int)pixels[i] - (int)lround(ref));
            if (d > worst) worst = d;
        }
        print_message("  %-14s raw rel L2 %.2e, max pixel diff %d\n", styles[s], err, worst);
        assert_true(err < 1e-5);
        assert_true(worst <= 1);

        free(pixels);
        style_session_free(session);
        free(e);
        ref_tensor_free(&expect);
        ref_tensor_free(&in);
        network_plan_destroy(&plan);
        style_model_free(model);
    }
    test_remove_tree(tmp);
    free(tmp);
    free(image);
}

static void test_import_errors(void **state)
{
    (void)state;
    char *tmp = test_make_temp_dir();
    const char *out = test_path(tmp, "out.safetensors");
    /* Missing directory / manifest. */
    assert_int_equal(style_import_ml5(test_path(tmp, "nope"), out, NULL), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "manifest.json"));
    /* Invalid JSON. */
    test_write_file(test_path(tmp, "manifest.json"), "{\"Variable\": [", 14);
    assert_int_equal(style_import_ml5(tmp, out, NULL), STYLE_ERR_FORMAT);
    /* A filename escaping the directory. */
    const char *escape = "{\"Variable\":{\"filename\":\"../etc\",\"shape\":[9,9,3,32]}}";
    test_write_file(test_path(tmp, "manifest.json"), escape, strlen(escape));
    assert_int_equal(style_import_ml5(tmp, out, NULL), STYLE_ERR_FORMAT);
    /* A file of the wrong size. */
    const char *small = "{\"Variable\":{\"filename\":\"Variable\",\"shape\":[9,9,3,32]}}";
    test_write_file(test_path(tmp, "manifest.json"), small, strlen(small));
    test_write_file(test_path(tmp, "Variable"), "abcd", 4);
    assert_int_equal(style_import_ml5(tmp, out, NULL), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "Variable"));
    /* Nothing was written. */
    size_t size;
    assert_null(test_read_file(out, &size));
    test_remove_tree(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_models),
        cmocka_unit_test(test_import_errors),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
