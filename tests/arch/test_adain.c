/*
 * AdaIN (arch adain): the layer against a double-precision reference and finite differences,
 * the statistics identity (the output has the style's mean and std), the mean/std loss and
 * the decoder's gradients by finite differences, the mirrored decoder spec, the model file
 * (save / load from memory / round trip / bad files), a short training run that lowers the
 * loss and resumes, and the session API (styles, blends, strength, preserve-colour).
 */
#include "arch/adain.h"
#include "arch/adain_network.h"
#include "model_builder.h"
#include "testutil.h"
#include "train_fixtures.h"
#include "train/train_checkpoint.h"
#include "train/train_losses.h"
#include "train/train_loss_window.h"
#include "core/file_sha256.h"
#include "dnn_fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the layer ---------------------------------------------------------------------------- */

static void reference_stats(const float *x, int hw, int c, int k, double *mean, double *std)
{
    double m = 0, v = 0;
    for (int p = 0; p < hw; p++)
        m += x[p * c + k];
    m /= hw;
    for (int p = 0; p < hw; p++)
        v += (x[p * c + k] - m) * (x[p * c + k] - m);
    *mean = m;
    *std = sqrt(v / hw + ADAIN_EPS);
}

static void test_adain_forward_reference(void **state)
{
    (void)state;
    test_rng rng = {5};
    const int hw = 37, c = 5;
    float x[37 * 5], out[37 * 5], sm[5], ss[5];
    test_fill_uniform(&rng, x, hw * c, -3, 4);
    test_fill_uniform(&rng, sm, c, -1, 1);
    test_fill_uniform(&rng, ss, c, 0.1, 2);
    const float alphas[] = {1.0f, 0.3f, 0.0f};
    for (int a = 0; a < 3; a++) {
        double expected[37 * 5];
        for (int k = 0; k < c; k++) {
            double m, s;
            reference_stats(x, hw, c, k, &m, &s);
            for (int p = 0; p < hw; p++) {
                double t = ss[k] * (x[p * c + k] - m) / s + sm[k];
                expected[p * c + k] = alphas[a] * t + (1 - alphas[a]) * x[p * c + k];
            }
        }
        adain_forward(x, hw, c, sm, ss, alphas[a], out);
        assert_true(test_max_abs_diff(out, expected, hw * c) < 1e-5);
    }
}

/* The output's statistics are the style's: mean exactly, std up to the eps inside it. */
static void test_adain_statistics_identity(void **state)
{
    (void)state;
    test_rng rng = {6};
    const int hw = 61, c = 9;
    float x[61 * 9], out[61 * 9], sm[9], ss[9], om[9], os[9];
    test_fill_uniform(&rng, x, hw * c, -20, 30);
    test_fill_uniform(&rng, sm, c, -5, 5);
    test_fill_uniform(&rng, ss, c, 0.5, 3);
    adain_forward(x, hw, c, sm, ss, 1.0f, out);
    adain_statistics(out, hw, c, om, os);
    for (int k = 0; k < c; k++) {
        assert_true(fabs(om[k] - sm[k]) < 1e-5 * (1 + fabs(sm[k])));
        assert_true(fabs(os[k] - ss[k]) < 1e-5 * ss[k]);
    }
}

static double adain_objective(const float *x, int hw, int c, const float *sm, const float *ss,
                              float alpha, const float *r)
{
    float out[64 * 8];
    adain_forward(x, hw, c, sm, ss, alpha, out);
    double l = 0;
    for (int i = 0; i < hw * c; i++)
        l += (double)out[i] * r[i];
    return l;
}

static void test_adain_gradients(void **state)
{
    (void)state;
    test_rng rng = {7};
    const int hw = 23, c = 3;
    const float alpha = 0.7f;
    float x[23 * 3], r[23 * 3], sm[3], ss[3], dx[23 * 3], dm[3], ds[3];
    test_fill_uniform(&rng, x, hw * c, -2, 2);
    test_fill_uniform(&rng, r, hw * c, -1, 1);
    test_fill_uniform(&rng, sm, c, -1, 1);
    test_fill_uniform(&rng, ss, c, 0.5, 2);
    adain_backward(x, hw, c, ss, alpha, r, dx, dm, ds);
    const double h = 1e-2;
    double worst = 0;
    for (int i = 0; i < hw * c; i++) {
        float keep = x[i];
        x[i] = keep + (float)h;
        double up = adain_objective(x, hw, c, sm, ss, alpha, r);
        x[i] = keep - (float)h;
        double down = adain_objective(x, hw, c, sm, ss, alpha, r);
        x[i] = keep;
        double fd = (up - down) / (2 * h);
        if (fabs(fd - dx[i]) > worst) worst = fabs(fd - dx[i]);
    }
    for (int k = 0; k < c; k++) {
        float *targets[2] = {sm, ss};
        float grads[2] = {dm[k], ds[k]};
        for (int t = 0; t < 2; t++) {
            float keep = targets[t][k];
            targets[t][k] = keep + (float)h;
            double up = adain_objective(x, hw, c, sm, ss, alpha, r);
            targets[t][k] = keep - (float)h;
            double down = adain_objective(x, hw, c, sm, ss, alpha, r);
            targets[t][k] = keep;
            double fd = (up - down) / (2 * h);
            if (fabs(fd - grads[t]) > worst) worst = fabs(fd - grads[t]);
        }
    }
    print_message("  AdaIN: max |fd - analytic| = %.2e\n", worst);
    assert_true(worst < 2e-3);
}

static void test_moment_loss_gradient(void **state)
{
    (void)state;
    test_rng rng = {8};
    const int hw = 29, c = 4;
    float f[29 * 4], tm[4], ts[4], sm[4], ss[4], diff[29 * 4] = {0};
    test_fill_uniform(&rng, f, hw * c, -1, 3);
    test_fill_uniform(&rng, tm, c, 0, 2);
    test_fill_uniform(&rng, ts, c, 0.3, 1.5);
    double loss = moment_loss(f, hw, c, tm, ts, 1.7, sm, ss, diff);
    assert_true(loss > 0);
    const double h = 1e-2;
    double worst = 0, scale = 0;
    for (int i = 0; i < hw * c; i++) {
        float keep = f[i], scratch[29 * 4] = {0};
        f[i] = keep + (float)h;
        double up = moment_loss(f, hw, c, tm, ts, 1.7, sm, ss, scratch);
        f[i] = keep - (float)h;
        double down = moment_loss(f, hw, c, tm, ts, 1.7, sm, ss, scratch);
        f[i] = keep;
        double fd = (up - down) / (2 * h);
        if (fabs(fd - diff[i]) > worst) worst = fabs(fd - diff[i]);
        if (fabs(diff[i]) > scale) scale = fabs(diff[i]);
    }
    print_message("  mean/std loss: max err / max |grad| = %.2e\n", worst / scale);
    assert_true(worst < 1e-2 * scale);
}

/* ---- the decoder -------------------------------------------------------------------------- */

/* in 5 channels -> pad 1, conv3 5->6, relu -> up x2, pad 1, conv3 6->4, relu -> pad 1,
 * conv3 4->3 */
static void small_spec(adain_decoder_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->in_channels = 5;
    dec_layer layers[] = {{.op = DEC_REFLECT_PAD, .value = 1},
                          {.op = DEC_CONV, .kernel = 3, .in_channels = 5, .out_channels = 6},
                          {.op = DEC_RELU},
                          {.op = DEC_UPSAMPLE, .value = 2},
                          {.op = DEC_REFLECT_PAD, .value = 1},
                          {.op = DEC_CONV, .kernel = 3, .in_channels = 6, .out_channels = 4},
                          {.op = DEC_RELU},
                          {.op = DEC_REFLECT_PAD, .value = 1},
                          {.op = DEC_CONV, .kernel = 3, .in_channels = 4, .out_channels = 3}};
    spec->count = (int32_t)(sizeof layers / sizeof *layers);
    memcpy(spec->layers, layers, sizeof layers);
    spec->scale = 2;
}

static double decoder_objective(adain_decoder *d, const float *r, size_t count)
{
    const float *out;
    assert_int_equal(adain_decoder_forward(d, dnn_fixture(), &out), STYLE_OK);
    double l = 0;
    for (size_t i = 0; i < count; i++)
        l += (double)out[i] * r[i];
    return l;
}

static void test_decoder_gradients(void **state)
{
    (void)state;
    test_rng rng = {9};
    adain_decoder_spec spec;
    small_spec(&spec);
    /* The JSON form parses back to the same spec. */
    char *json = adain_decoder_json(&spec);
    assert_non_null(strstr(json, "upsample_nearest"));
    free(json);
    train_params p;
    assert_int_equal(adain_decoder_params(&spec, &p), STYLE_OK);
    assert_int_equal(p.count, 6);
    train_params_init(&p, 3);
    for (size_t i = 0; i < p.total; i++)
        p.values[i] *= 2.0f; /* livelier ReLUs */
    const int n = 2, h = 5, w = 7;
    adain_decoder d;
    assert_int_equal(adain_decoder_create(&d, &spec, &p, dnn_fixture(), n, h, w, false, false),
                     STYLE_OK);
    assert_int_equal(d.out_h, 10);
    assert_int_equal(d.out_w, 14);
    const size_t in_count = (size_t)n * h * w * 5, out_count = (size_t)n * 10 * 14 * 3;
    test_fill_uniform(&rng, d.input, in_count, -1, 1);
    float *r = malloc(out_count * sizeof *r);
    test_fill_uniform(&rng, r, out_count, -1, 1);
    decoder_objective(&d, r, out_count);
    memcpy(adain_decoder_diff_output(&d), r, out_count * sizeof *r);
    assert_int_equal(adain_decoder_backward(&d, dnn_fixture()), STYLE_OK);
    float *grads = malloc(p.total * sizeof *grads), *dinput = malloc(in_count * sizeof *dinput);
    memcpy(grads, p.grads, p.total * sizeof *grads);
    memcpy(dinput, d.diff_input, in_count * sizeof *dinput);
    const double step = 1e-3; /* small: ReLU kinks inside the step spoil differences */
    double worst = 0, scale = 0;
    /* Every tensor: a few entries of each weight and bias, and of the input. */
    for (int32_t t = 0; t < p.count; t++)
        for (size_t j = 0; j < p.params[t].count; j += p.params[t].count / 5 + 1) {
            float *v = p.values + p.params[t].offset + j;
            float keep = *v;
            *v = keep + (float)step;
            double up = decoder_objective(&d, r, out_count);
            *v = keep - (float)step;
            double down = decoder_objective(&d, r, out_count);
            *v = keep;
            double fd = (up - down) / (2 * step), g = grads[p.params[t].offset + j];
            if (fabs(fd - g) > worst) worst = fabs(fd - g);
            if (fabs(g) > scale) scale = fabs(g);
        }
    for (size_t j = 0; j < in_count; j += 13) {
        float keep = d.input[j];
        d.input[j] = keep + (float)step;
        double up = decoder_objective(&d, r, out_count);
        d.input[j] = keep - (float)step;
        double down = decoder_objective(&d, r, out_count);
        d.input[j] = keep;
        double fd = (up - down) / (2 * step);
        if (fabs(fd - dinput[j]) > worst) worst = fabs(fd - dinput[j]);
    }
    print_message("  decoder: max |fd - analytic| = %.2e (max |grad| %.2e)\n", worst, scale);
    assert_true(worst < 2e-2 * scale);
    free(r), free(grads), free(dinput);
    adain_decoder_destroy(&d);
    train_params_destroy(&p);
}

/* ---- encoder, mirror, model file ------------------------------------------------------------ */

static void test_mirror(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 1);
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(test_path(dir, "net.safetensors"), &net), STYLE_OK);
    adain_decoder_spec spec;
    assert_int_equal(adain_decoder_mirror(net, 9, &spec), STYLE_OK);
    /* conv 7->8 (mirrors conv8, back to conv3's width), up, conv 8->6, up, conv 6->3; the
     * 1x1 bottleneck is not mirrored. */
    const dec_op ops[] = {DEC_REFLECT_PAD, DEC_CONV, DEC_RELU,     DEC_UPSAMPLE,    DEC_REFLECT_PAD,
                          DEC_CONV,        DEC_RELU, DEC_UPSAMPLE, DEC_REFLECT_PAD, DEC_CONV};
    assert_int_equal(spec.count, 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(spec.layers[i].op, ops[i]);
    assert_int_equal(spec.layers[1].in_channels, 7);
    assert_int_equal(spec.layers[1].out_channels, 8);
    assert_int_equal(spec.layers[5].out_channels, 6);
    assert_int_equal(spec.layers[9].out_channels, 3);
    assert_int_equal(spec.scale, 4);
    feature_net_free(net);
    test_remove_tree(dir);
    free(dir);
}

/* A random adain model file from the test net (tap r4) as bytes. */
static void *make_model_bytes(const char *dir, size_t *size, const char *extra_key)
{
    feature_net *net = NULL;
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 2);
    assert_int_equal(feature_net_load(test_path(dir, "net.safetensors"), &net), STYLE_OK);
    adain_decoder_spec spec;
    assert_int_equal(adain_decoder_mirror(net, 9, &spec), STYLE_OK);
    train_params p;
    assert_int_equal(adain_decoder_params(&spec, &p), STYLE_OK);
    train_params_init(&p, 4);
    st_file file = {0};
    st_file_add_metadata(&file, "libstyle.format_version", "1");
    st_file_add_metadata(&file, "libstyle.arch", "adain");
    if (extra_key) st_file_add_metadata(&file, extra_key, "1");
    assert_int_equal(adain_model_add_to_file(&file, net, 9, &spec, &p), STYLE_OK);
    void *bytes;
    assert_int_equal(st_serialize(&file, &bytes, size), STYLE_OK);
    st_file_clear(&file);
    train_params_destroy(&p);
    feature_net_free(net);
    return bytes;
}

static style_image gradient_image(int w, int h, int seed)
{
    style_image img;
    assert_int_equal(style_image_alloc(&img, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = img.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            p[(y * w + x) * 3 + 0] = (uint8_t)(128 + 100 * sin(0.2 * x + seed));
            p[(y * w + x) * 3 + 1] = (uint8_t)(128 + 100 * cos(0.15 * y - seed));
            p[(y * w + x) * 3 + 2] = (uint8_t)((x * y + 40 * seed) & 255);
        }
    return img;
}

static void stylize_with(style_model *model, const style_image *style_img, float strength,
                         int preserve, const style_image *in, style_image *out)
{
    style_session *s = NULL;
    style_adain_style *st = NULL;
    assert_int_equal(style_session_create(model, &s), STYLE_OK);
    assert_int_equal(style_adain_style_create(s, style_img, 0, &st), STYLE_OK);
    assert_int_equal(style_session_set_adain_style(s, st), STYLE_OK);
    style_adain_style_free(st); /* the session keeps a copy */
    assert_int_equal(style_session_set_strength(s, strength), STYLE_OK);
    assert_int_equal(style_session_set_preserve_color(s, preserve), STYLE_OK);
    memset(out, 0, sizeof *out);
    assert_int_equal(style_session_stylize(s, in, out), STYLE_OK);
    style_session_free(s);
}

static void test_model_round_trip(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size;
    void *bytes = make_model_bytes(dir, &size, NULL);
    style_model *a = NULL, *b = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &a), STYLE_OK);
    style_model_info info;
    assert_int_equal(style_model_get_info(a, &info), STYLE_OK);
    assert_string_equal(info.arch, "adain");
    assert_int_equal(style_model_save(a, test_path(dir, "saved.safetensors")), STYLE_OK);
    assert_int_equal(style_model_load(test_path(dir, "saved.safetensors"), NULL, &b), STYLE_OK);
    style_image content = gradient_image(27, 21, 1), style_img = gradient_image(33, 30, 5);
    style_image out_a, out_b;
    stylize_with(a, &style_img, 1.0f, 0, &content, &out_a);
    stylize_with(b, &style_img, 1.0f, 0, &content, &out_b);
    assert_int_equal(out_a.width, 27);
    assert_memory_equal(out_a.data, out_b.data, 27 * 21 * 3);
    style_image_release(&out_a), style_image_release(&out_b);
    style_image_release(&content), style_image_release(&style_img);
    style_model_free(a), style_model_free(b);
    style__free(bytes);
    test_remove_tree(dir);
    free(dir);
}

static void test_bad_model_files(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size;
    style_model *m = NULL;
    void *bytes = make_model_bytes(dir, &size, "libstyle.decoder.typo");
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &m), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "libstyle.decoder.typo"));
    style__free(bytes);
    /* A missing decoder tensor and a wrong tap are named. */
    bytes = make_model_bytes(dir, &size, NULL);
    st_file file = {0};
    assert_int_equal(st_parse(bytes, size, &file), STYLE_OK);
    st_file trimmed = {0};
    for (size_t i = 0; i < file.metadata_count; i++)
        st_file_add_metadata(&trimmed, file.metadata[i].key,
                             strcmp(file.metadata[i].key, "libstyle.encoder.tap") == 0
                                 ? "r3"
                                 : file.metadata[i].value);
    for (size_t i = 0; i < file.tensor_count; i++)
        st_file_add_tensor(&trimmed, file.tensors[i].name, file.tensors[i].ndim,
                           file.tensors[i].shape, file.tensors[i].data);
    void *wrong_tap;
    size_t wrong_size;
    assert_int_equal(st_serialize(&trimmed, &wrong_tap, &wrong_size), STYLE_OK);
    assert_int_equal(style_model_load_memory(wrong_tap, wrong_size, NULL, &m), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "r3"));
    style__free(wrong_tap);
    st_file_clear(&trimmed);
    for (size_t i = 0; i < file.metadata_count; i++)
        st_file_add_metadata(&trimmed, file.metadata[i].key, file.metadata[i].value);
    for (size_t i = 0; i < file.tensor_count; i++)
        if (strcmp(file.tensors[i].name, "decoder.5.weight") != 0)
            st_file_add_tensor(&trimmed, file.tensors[i].name, file.tensors[i].ndim,
                               file.tensors[i].shape, file.tensors[i].data);
    assert_int_equal(st_serialize(&trimmed, &wrong_tap, &wrong_size), STYLE_OK);
    assert_int_equal(style_model_load_memory(wrong_tap, wrong_size, NULL, &m), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "decoder.5.weight"));
    style__free(wrong_tap);
    st_file_clear(&trimmed);
    st_file_clear(&file);
    style__free(bytes);
    test_remove_tree(dir);
    free(dir);
}

/* The inference stack (adain_network.c) against the trainer's layers (feature_run.c and the
 * decoder's training stages) in fp32, on a decoder with every form the inference build uses:
 * a plain group, a nearest x2 + 3 x 3 group run as sub-pixel phases (the next group does not
 * upsample), one upsampled through a pass (the next one does), and the last conv. The same
 * features at the tap and the same output, up to float rounding. */
static void test_inference_stack_matches_training_stack(void **state)
{
    dnn_context *dnn = dnn_fixture();
    (void)state;
    char *dir = test_make_temp_dir();
    feature_net *net = NULL;
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 3);
    assert_int_equal(feature_net_load(test_path(dir, "net.safetensors"), &net), STYLE_OK);
    adain_decoder_spec spec = {.in_channels = 7, .scale = 4};
    const dec_layer layers[] = {
        {.op = DEC_REFLECT_PAD, .value = 1},
        {.op = DEC_CONV, .kernel = 3, .in_channels = 7, .out_channels = 8},
        {.op = DEC_RELU},
        {.op = DEC_UPSAMPLE, .value = 2},
        {.op = DEC_REFLECT_PAD, .value = 1},
        {.op = DEC_CONV, .kernel = 3, .in_channels = 8, .out_channels = 6}, /* phases */
        {.op = DEC_RELU},
        {.op = DEC_REFLECT_PAD, .value = 1},
        {.op = DEC_CONV, .kernel = 3, .in_channels = 6, .out_channels = 5},
        {.op = DEC_RELU},
        {.op = DEC_UPSAMPLE, .value = 2},
        {.op = DEC_REFLECT_PAD, .value = 1},
        {.op = DEC_CONV, .kernel = 3, .in_channels = 5, .out_channels = 3},
    };
    spec.count = (int32_t)(sizeof layers / sizeof layers[0]);
    memcpy(spec.layers, layers, sizeof layers);
    train_params p;
    assert_int_equal(adain_decoder_params(&spec, &p), STYLE_OK);
    train_params_init(&p, 11);
    st_file file = {0}, parsed = {0};
    st_file_add_metadata(&file, "libstyle.format_version", "1");
    st_file_add_metadata(&file, "libstyle.arch", "adain");
    assert_int_equal(adain_model_add_to_file(&file, net, 9, &spec, &p), STYLE_OK);
    void *bytes;
    size_t size;
    assert_int_equal(st_serialize(&file, &bytes, &size), STYLE_OK);
    assert_int_equal(st_parse(bytes, size, &parsed), STYLE_OK);
    adain_model *m = NULL;
    assert_int_equal(adain_model_from_file(&parsed, &m), STYLE_OK);

    const int32_t h = 36, w = 44;
    float *rgb = malloc(sizeof(float) * h * w * 3);
    for (int32_t i = 0; i < h * w * 3; i++)
        rgb[i] = (float)(128 + 120 * sin(0.37 * i + 0.01 * (i / (3 * w))));
    feature_run run;
    adain_decoder dec;
    adain_net inference;
    assert_int_equal(feature_run_create_forward(&run, m->encoder, dnn, 1, h, w, m->tap, false),
                     STYLE_OK);
    assert_int_equal(feature_run_forward(&run, dnn, rgb), STYLE_OK);
    assert_int_equal(adain_net_create(&inference, m, dnn, h, w, true, false), STYLE_OK);
    assert_int_equal(adain_net_encode(&inference, dnn, rgb), STYLE_OK);
    const int32_t fh = run.out_h[m->tap], fw = run.out_w[m->tap], c = run.out_c[m->tap];
    assert_int_equal(inference.feat_h, fh);
    assert_int_equal(inference.feat_w, fw);
    assert_int_equal(inference.feat_c, c);
    const float *f_train = feature_run_output(&run, m->tap);
    double worst_features = 0, scale_features = 0;
    for (int32_t i = 0; i < fh * fw * c; i++) {
        worst_features = fmax(worst_features, fabs((double)f_train[i] - inference.features[i]));
        scale_features = fmax(scale_features, fabs(f_train[i]));
    }
    /* The decoders on the same input (the training encoder's features). */
    assert_int_equal(
        adain_decoder_create(&dec, &m->decoder, &m->params, dnn, 1, fh, fw, true, false),
        STYLE_OK);
    memcpy(dec.input, f_train, sizeof(float) * fh * fw * c);
    memcpy(inference.decoder_input, f_train, sizeof(float) * fh * fw * c);
    const float *o_train, *o_inference;
    assert_int_equal(adain_decoder_forward(&dec, dnn, &o_train), STYLE_OK);
    assert_int_equal(adain_net_decode(&inference, dnn, &o_inference), STYLE_OK);
    double worst = 0, scale = 0;
    for (int32_t i = 0; i < h * w * 3; i++) {
        worst = fmax(worst, fabs((double)o_train[i] - o_inference[i]));
        scale = fmax(scale, fabs(o_train[i]));
    }
    int phases = 0;
    style_layer_profile profile[64];
    double executed[64];
    assert_true(inference.op_count <= 64);
    adain_net_profile(&inference, profile, executed);
    for (int32_t i = 0; i < inference.op_count; i++)
        phases += strstr(profile[i].name, ".p") != NULL && strcmp(profile[i].kind, "conv") == 0;
    print_message("  inference against training stack (fp32, %dx%d): features max |diff| %.3g "
                  "(up to %.3g), output max |diff| %.3g (up to %.3g); %d phase convolutions\n",
                  w, h, worst_features, scale_features, worst, scale, phases);
    assert_int_equal(phases, 4);
    assert_true(worst_features <= 1e-5 * (1 + scale_features));
    assert_true(worst <= 1e-5 * (1 + scale));
    adain_net_destroy(&inference);
    adain_decoder_destroy(&dec);
    feature_run_destroy(&run);
    free(rgb);
    adain_model_free(m);
    st_file_clear(&parsed);
    st_file_clear(&file);
    free(bytes);
    train_params_destroy(&p);
    feature_net_free(net);
    test_remove_tree(dir);
    free(dir);
}

/* Every allocation of loading, computing a style and stylizing failing in turn: a clean
 * STYLE_ERR_NOMEM (ASan checks that nothing leaks), until the whole run succeeds. */
static void test_allocation_failures(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size;
    void *bytes = make_model_bytes(dir, &size, NULL);
    style_image content = gradient_image(19, 13, 2), style_img = gradient_image(16, 16, 7);
    bool completed = false;
    long n_done = 0;
    for (long n = 1; n < 5000 && !completed; n++) {
        style_model *m = NULL;
        style_session *s = NULL;
        style_adain_style *st = NULL;
        style_image out = {0};
        style__alloc_fail_after(n);
        style_status status = style_model_load_memory(bytes, size, NULL, &m);
        if (status == STYLE_OK) status = style_session_create(m, &s);
        if (status == STYLE_OK) status = style_adain_style_create(s, &style_img, 0, &st);
        if (status == STYLE_OK) status = style_session_set_adain_style(s, st);
        if (status == STYLE_OK) status = style_session_stylize(s, &content, &out);
        style_image_release(&out);
        /* The tileable and the banded paths allocate buffers of their own. */
        if (status == STYLE_OK) status = style_session_set_tileable(s, 1);
        if (status == STYLE_OK) status = style_session_stylize(s, &content, &out);
        style_image_release(&out);
        if (status == STYLE_OK) status = style_session_set_tileable(s, 0);
        if (status == STYLE_OK) status = style_session_set_band_rows(s, 4);
        if (status == STYLE_OK) status = style_session_stylize(s, &content, &out);
        const bool pending = style__alloc_fail_pending();
        style__alloc_fail_after(0);
        assert_true(status == STYLE_OK || status == STYLE_ERR_NOMEM);
        /* A success with the failure still pending made fewer allocations; one after it
         * happened would have swallowed it. */
        assert_true(status != STYLE_OK || pending);
        completed = status == STYLE_OK;
        n_done = n;
        style_image_release(&out);
        style_adain_style_free(st);
        style_session_free(s);
        style_model_free(m);
    }
    assert_true(completed);
    print_message("  load, style, plain, tileable and banded runs: %ld allocations failed in "
                  "turn\n",
                  n_done - 1);
    style_image_release(&content), style_image_release(&style_img);
    style__free(bytes);
    test_remove_tree(dir);
    free(dir);
}

/* bf16 sessions (where the processor runs bf16): the encoder's and decoder's convolutions in
 * bf16 give the fp32 picture within a few levels, and the run info says bf16; int8 is refused
 * for AdaIN everywhere, bf16 where the processor lacks it. */
static void test_session_bf16(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size;
    void *bytes = make_model_bytes(dir, &size, NULL);
    style_model *m = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &m), STYLE_OK);
    style_session *s = NULL;
    assert_int_equal(style_session_create(m, &s), STYLE_OK);
    assert_int_not_equal(style_session_set_precision(s, STYLE_PRECISION_INT8), STYLE_OK);
    const bool native = style_precision_supported(STYLE_PRECISION_BF16);
    assert_int_equal(style_session_set_precision(s, STYLE_PRECISION_BF16),
                     native ? STYLE_OK : STYLE_ERR_UNSUPPORTED);
    if (native) {
        style_image content = gradient_image(40, 33, 3), style_img = gradient_image(24, 24, 8);
        style_adain_style *a = NULL;
        assert_int_equal(style_adain_style_create(s, &style_img, 0, &a), STYLE_OK);
        assert_int_equal(style_session_set_adain_style(s, a), STYLE_OK);
        style_image out[2] = {{0}, {0}};
        assert_int_equal(style_session_stylize(s, &content, &out[1]), STYLE_OK);
        style_run_info info = {.struct_size = sizeof info};
        assert_int_equal(style_session_get_run_info(s, &info), STYLE_OK);
        assert_int_equal(info.precision, STYLE_PRECISION_BF16);
        assert_int_equal(style_session_set_precision(s, STYLE_PRECISION_FP32), STYLE_OK);
        assert_int_equal(style_session_stylize(s, &content, &out[0]), STYLE_OK);
        assert_int_equal(style_session_get_run_info(s, &info), STYLE_OK);
        assert_int_equal(info.precision, STYLE_PRECISION_FP32);
        double squares = 0;
        int largest = 0;
        const size_t count = (size_t)out[0].stride * out[0].height;
        for (size_t i = 0; i < count; i++) {
            const int d = abs((int)((const uint8_t *)out[0].data)[i] -
                              (int)((const uint8_t *)out[1].data)[i]);
            squares += (double)d * d, largest = d > largest ? d : largest;
        }
        const double psnr = 10 * log10(255.0 * 255.0 / fmax(squares / count, 1e-12));
        print_message("  AdaIN bf16 against fp32: PSNR %.1f dB, max |diff| %d\n", psnr, largest);
        assert_true(psnr >= 35);
        style_image_release(&out[0]), style_image_release(&out[1]);
        style_image_release(&content), style_image_release(&style_img);
        style_adain_style_free(a);
    }
    style_session_free(s);
    style_model_free(m);
    free(bytes);
    test_remove_tree(dir);
    free(dir);
}

/* Session behaviour: no style -> clear error; blend of a style with itself = that style;
 * strength 0 reconstructs the content's own features; preserve-colour keeps chroma. */
static void test_session_controls(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    size_t size;
    void *bytes = make_model_bytes(dir, &size, NULL);
    style_model *m = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &m), STYLE_OK);
    style_session *s = NULL;
    assert_int_equal(style_session_create(m, &s), STYLE_OK);
    style_image content = gradient_image(20, 17, 2), style_img = gradient_image(24, 24, 7);
    style_image out = {0};
    assert_int_equal(style_session_stylize(s, &content, &out), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "style"));
    assert_int_equal(style_session_set_strength(s, 1.5f), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_precision(s, STYLE_PRECISION_INT8) == STYLE_OK, 0);
    style_adain_style *a = NULL, *b = NULL, *blend = NULL;
    assert_int_equal(style_adain_style_create(s, &style_img, 0, &a), STYLE_OK);
    assert_int_equal(style_adain_style_create(s, &content, 16, &b), STYLE_OK);
    const style_adain_style *pair[2] = {a, a};
    const float weights[2] = {1, 3};
    assert_int_equal(style_adain_style_blend(pair, weights, 2, &blend), STYLE_OK);
    int32_t channels;
    const float *ma, *sa, *mb, *sb;
    style_adain_style_get(a, &channels, &ma, &sa);
    style_adain_style_get(blend, NULL, &mb, &sb);
    assert_int_equal(channels, 7);
    for (int k = 0; k < channels; k++) {
        assert_true(fabsf(ma[k] - mb[k]) < 1e-6f * (1 + fabsf(ma[k])));
        assert_true(fabsf(sa[k] - sb[k]) < 1e-6f * (1 + sa[k]));
    }
    /* A blend of two different styles lies between them. */
    const style_adain_style *two[2] = {a, b};
    style_adain_style_free(blend);
    assert_int_equal(style_adain_style_blend(two, weights, 2, &blend), STYLE_OK);
    style_adain_style_get(b, NULL, &ma, &sa);
    style_adain_style_get(blend, NULL, &mb, &sb);
    const float *m0;
    style_adain_style_get(a, NULL, &m0, NULL);
    for (int k = 0; k < channels; k++)
        assert_true(fabsf(mb[k] - (0.25f * m0[k] + 0.75f * ma[k])) < 1e-5f * (1 + fabsf(mb[k])));
    const float negative[2] = {-1, 1};
    style_adain_style *bad = NULL;
    assert_int_equal(style_adain_style_blend(two, negative, 2, &bad), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_session_set_adain_style(s, blend), STYLE_OK);
    assert_int_equal(style_session_stylize(s, &content, &out), STYLE_OK);
    style_image_release(&out);
    /* preserve-colour: every pixel's chroma (channel differences) is the content's. */
    assert_int_equal(style_session_set_preserve_color(s, 1), STYLE_OK);
    assert_int_equal(style_session_stylize(s, &content, &out), STYLE_OK);
    const uint8_t *pi = content.data, *po = out.data;
    int off = 0;
    for (int i = 0; i < 20 * 17; i++) {
        int dc = (pi[i * 3] - pi[i * 3 + 1]) - (po[i * 3] - po[i * 3 + 1]);
        bool clamped =
            po[i * 3] == 0 || po[i * 3] == 255 || po[i * 3 + 1] == 0 || po[i * 3 + 1] == 255;
        off += !clamped && abs(dc) > 1;
    }
    assert_int_equal(off, 0);
    style_image_release(&out);
    style_adain_style_free(a), style_adain_style_free(b), style_adain_style_free(blend);
    style_image_release(&content), style_image_release(&style_img);
    style_session_free(s);
    style_model_free(m);
    style__free(bytes);
    test_remove_tree(dir);
    free(dir);
}

/* A small random AdaIN model and a session with a style set, for the session tests. */
typedef struct styled_session {
    char *dir;
    void *bytes;
    style_model *model;
    style_session *session;
} styled_session;

static styled_session styled_session_open(void)
{
    styled_session f = {.dir = test_make_temp_dir()};
    size_t size;
    f.bytes = make_model_bytes(f.dir, &size, NULL);
    assert_int_equal(style_model_load_memory(f.bytes, size, NULL, &f.model), STYLE_OK);
    assert_int_equal(style_session_create(f.model, &f.session), STYLE_OK);
    style_image style_img = gradient_image(24, 24, 7);
    style_adain_style *style = NULL;
    assert_int_equal(style_adain_style_create(f.session, &style_img, 0, &style), STYLE_OK);
    assert_int_equal(style_session_set_adain_style(f.session, style), STYLE_OK);
    style_adain_style_free(style);
    style_image_release(&style_img);
    return f;
}

static void styled_session_close(styled_session *f)
{
    style_session_free(f->session);
    style_model_free(f->model);
    style__free(f->bytes);
    test_remove_tree(f->dir);
    free(f->dir);
}

/* A smooth picture that tiles: a sum of sinusoids whose periods divide the size. */
static style_image periodic_picture(int w, int h, int seed)
{
    style_image img;
    assert_int_equal(style_image_alloc(&img, w, h, 3, STYLE_SAMPLE_F32), STYLE_OK);
    float *p = img.data;
    const double tau = 6.283185307179586;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                p[((size_t)y * w + x) * 3 + c] =
                    (float)(255.0 *
                            (0.5 + 0.2 * sin(tau * (x / (double)w + 2.0 * y / h) + seed + c) +
                             0.15 * cos(tau * (3.0 * x / w - (double)y / h) * (c + 1) / 2.0)));
    return img;
}

/* Mean |difference| across the wrap edges (last column / first, last row / first) and
 * between neighbouring columns and rows inside. */
static void seam_and_inside(const style_image *img, double *seam, double *inside)
{
    const float *p = img->data;
    const int w = img->width, h = img->height;
    double s = 0, i = 0;
    size_t ns = 0, ni = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                const float v = p[((size_t)y * w + x) * 3 + c];
                const float right = p[((size_t)y * w + (x + 1) % w) * 3 + c];
                const float down = p[((size_t)((y + 1) % h) * w + x) * 3 + c];
                const bool edge_x = x == w - 1, edge_y = y == h - 1;
                s += edge_x ? fabsf(v - right) : 0, ns += edge_x;
                s += edge_y ? fabsf(v - down) : 0, ns += edge_y;
                i += edge_x ? 0 : fabsf(v - right), ni += !edge_x;
                i += edge_y ? 0 : fabsf(v - down), ni += !edge_y;
            }
    *seam = s / ns, *inside = i / ni;
}

/* Tileable AdaIN: the network on the infinite periodic image. Shifting the input by whole
 * multiples of the reduction shifts the output (exactly, up to rounding: any error from a too
 * small context would depend on the position), and the output tiles, at a size that is a
 * multiple of the reduction and one that is resampled. */
static void test_tileable(void **state)
{
    (void)state;
    styled_session f = styled_session_open();
    style_session *s = f.session;
    assert_int_equal(style_session_set_tileable(s, 1), STYLE_OK);

    const int w = 40, h = 32, dx = 12, dy = 8; /* reduction 4 */
    style_image in = periodic_picture(w, h, 1), shifted = periodic_picture(w, h, 1);
    const float *a = in.data;
    float *b = shifted.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            memcpy(b + ((size_t)((y + dy) % h) * w + (x + dx) % w) * 3, a + ((size_t)y * w + x) * 3,
                   3 * sizeof(float));
    style_image out = {0}, out_shifted = {0};
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_OK);
    assert_int_equal(style_session_stylize(s, &shifted, &out_shifted), STYLE_OK);
    assert_int_equal(out.sample_type, STYLE_SAMPLE_F32);
    double worst = 0, scale = 0;
    const float *o = out.data, *os = out_shifted.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                const float v = o[((size_t)y * w + x) * 3 + c];
                const float u = os[((size_t)((y + dy) % h) * w + (x + dx) % w) * 3 + c];
                worst = fmax(worst, fabs((double)v - u));
                scale = fmax(scale, fabs(v));
            }
    double seam, inside;
    seam_and_inside(&out, &seam, &inside);
    print_message("  tileable %dx%d: shifted by (%d, %d) max |diff| %.2g (outputs up to %.2g); "
                  "seam %.4f, inside %.4f\n",
                  w, h, dx, dy, worst, scale, seam, inside);
    assert_true(worst < 1e-4 * (1 + scale));
    assert_true(seam < 1.5 * inside);
    style_image_release(&out), style_image_release(&out_shifted);
    style_image_release(&in), style_image_release(&shifted);

    /* 37 x 29: resampled periodically to 40 x 32 and back; the output still tiles. Without
     * tileable mode it does not (zero padding and reflection at the borders). */
    in = periodic_picture(37, 29, 2);
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_OK);
    assert_int_equal(out.width, 37);
    double seam_off, inside_off;
    seam_and_inside(&out, &seam, &inside);
    style_image_release(&out);
    assert_int_equal(style_session_set_tileable(s, 0), STYLE_OK);
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_OK);
    seam_and_inside(&out, &seam_off, &inside_off);
    print_message("  37x29: seam / inside %.4f / %.4f tileable, %.4f / %.4f default\n", seam,
                  inside, seam_off, inside_off);
    assert_true(seam < 1.5 * inside);
    assert_true(seam_off > 2 * seam);
    style_image_release(&out), style_image_release(&in);

    styled_session_close(&f);
}

/* Images over the memory budget run in bands (or with band_rows > 0): the whole-image result up
 * to float rounding, for forced band heights and one chosen by the budget; alpha kept; a
 * budget too small for any band, and tileable bands, refused. */
static void test_banded(void **state)
{
    (void)state;
    styled_session f = styled_session_open();
    style_session *s = f.session;

    /* RGBA floats, 45 x 203: odd sizes, padded to 48 x 204 inside; tall enough for bands
     * with their context (24 rows above and below for this encoder and decoder) to fit a
     * budget of 75 % of the whole run. */
    const int w = 45, h = 203;
    style_image in;
    assert_int_equal(style_image_alloc(&in, w, h, 4, STYLE_SAMPLE_F32), STYLE_OK);
    float *p = in.data;
    for (int i = 0; i < w * h; i++) {
        p[i * 4 + 0] = (float)(128 + 100 * sin(0.21 * (i % w) + 0.1 * (i / w)));
        p[i * 4 + 1] = (float)(128 + 90 * cos(0.17 * (i / w)));
        p[i * 4 + 2] = (float)((i * 37) % 256);
        p[i * 4 + 3] = (float)(i % 256);
    }
    style_image whole = {0};
    assert_int_equal(style_session_stylize(s, &in, &whole), STYLE_OK);
    size_t inside = 0; /* samples not clamped to 0 or 255: what the comparison sees */
    for (int i = 0; i < w * h * 4; i++)
        inside += i % 4 != 3 && ((float *)whole.data)[i] > 0 && ((float *)whole.data)[i] < 255;
    assert_true(inside > (size_t)w * h * 3 / 2);
    uint64_t need = 0;
    assert_int_equal(style_session_estimate_memory(s, w, h, &need), STYLE_OK);
    /* band_rows 4 and 12 (whole multiples of the reduction, 4), 5 (rounded up to 8); then no
     * forced height but a budget of 75 % of the whole run's. */
    const int32_t forced[] = {4, 12, 5, 0};
    for (size_t k = 0; k < sizeof forced / sizeof forced[0]; k++) {
        assert_int_equal(style_session_set_band_rows(s, forced[k]), STYLE_OK);
        assert_int_equal(style_session_set_memory_budget(s, forced[k] ? 0 : need * 3 / 4),
                         STYLE_OK);
        style_image banded = {0};
        assert_int_equal(style_session_stylize(s, &in, &banded), STYLE_OK);
        const float *a = whole.data, *b = banded.data;
        double worst = 0;
        for (int i = 0; i < w * h * 4; i++)
            worst = fmax(worst, fabs((double)a[i] - b[i]));
        print_message("  bands of %d rows (0: by the budget): max |diff| %.3g of 0..255\n",
                      (int)forced[k], worst);
        assert_true(worst < 2e-3);
        for (int i = 0; i < w * h; i++) /* alpha copied */
            assert_true(b[i * 4 + 3] == p[i * 4 + 3]);
        style_image_release(&banded);
    }
    /* No band fits; tileable needs the whole image. */
    assert_int_equal(style_session_set_band_rows(s, 0), STYLE_OK);
    assert_int_equal(style_session_set_memory_budget(s, 1024), STYLE_OK);
    style_image out = {0};
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_ERR_LIMIT);
    assert_int_equal(style_session_set_memory_budget(s, 0), STYLE_OK);
    assert_int_equal(style_session_set_band_rows(s, 8), STYLE_OK);
    assert_int_equal(style_session_set_tileable(s, 1), STYLE_OK);
    assert_int_equal(style_session_stylize(s, &in, &out), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "tileable"));

    style_image_release(&whole), style_image_release(&in);
    styled_session_close(&f);
}

/* Weighted statistics (issue 23 item 5: a style image's transparent pixels weigh 0): weight 0
 * leaves a position out, weight 2 counts it twice. */
static void test_weighted_statistics(void **state)
{
    (void)state;
    const int32_t c = 3;
    const float features[6 * 3] = {1, 5, -2, 3, 4, 0, 9, -7, 8, 2, 2, 2, -4, 6, 1, 100, 100, 100};
    const float weights[6] = {1, 2, 0, 1, 1, 0};
    /* The same positions, position 1 twice, 2 and 5 left out. */
    const float picked[5 * 3] = {1, 5, -2, 3, 4, 0, 3, 4, 0, 2, 2, 2, -4, 6, 1};
    float mean[3], std[3], want_mean[3], want_std[3];
    adain_statistics_weighted(features, weights, 6, c, mean, std);
    adain_statistics(picked, 5, c, want_mean, want_std);
    for (int k = 0; k < c; k++) {
        assert_float_equal(mean[k], want_mean[k], 1e-5);
        assert_float_equal(std[k], want_std[k], 1e-5);
    }
}

/* RGBA: colour under alpha 0 is filled from the visible pixels before the network (and the
 * content statistics) see it, so two images that differ only there give the same result. */
static void test_hidden_colour_ignored(void **state)
{
    (void)state;
    styled_session f = styled_session_open();
    style_session *s = f.session;
    const int w = 40, h = 36;
    style_image in[2], out[2] = {{0}, {0}};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(style_image_alloc(&in[k], w, h, 4, STYLE_SAMPLE_U8), STYLE_OK);
        uint8_t *p = in[k].data;
        test_rng rng = {(uint64_t)(11 + 7 * k)};
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *q = p + ((size_t)y * w + x) * 4;
                const bool visible = hypot(x - 18.0, y - 17.0) < 12.0;
                q[0] = visible ? (uint8_t)(100 + x) : (uint8_t)test_rng_next(&rng);
                q[1] = visible ? (uint8_t)(60 + 2 * y) : (uint8_t)test_rng_next(&rng);
                q[2] = visible ? 90 : (uint8_t)test_rng_next(&rng);
                q[3] = visible ? 255 : 0;
            }
        assert_int_equal(style_session_stylize(s, &in[k], &out[k]), STYLE_OK);
    }
    assert_memory_not_equal(in[0].data, in[1].data, (size_t)w * h * 4);
    const uint8_t *a = out[0].data, *b = out[1].data;
    int differing = 0;
    for (int i = 0; i < w * h; i++)
        if (a[i * 4 + 3] > 0) differing += memcmp(a + i * 4, b + i * 4, 4) != 0;
    assert_int_equal(differing, 0);
    for (int k = 0; k < 2; k++)
        style_image_release(&in[k]), style_image_release(&out[k]);
    styled_session_close(&f);
}

/* ---- training ------------------------------------------------------------------------------- */

static void make_images(const char *dir, const char *sub, int count, int seed)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    assert_int_equal(mkdir(path, 0700), 0);
    for (int k = 0; k < count; k++) {
        style_image img = gradient_image(40 + k * 3, 36 + k, seed + k);
        snprintf(path, sizeof path, "%s/%s/%d.png", dir, sub, k);
        assert_int_equal(style_image_save(path, &img, 0), STYLE_OK);
        style_image_release(&img);
    }
}

typedef struct loss_record {
    int calls;
    double first, last;
} loss_record;

static int record(void *user, const style_train_stats *st)
{
    loss_record *r = user;
    r->calls++;
    if (r->calls <= 3) r->first += st->total_loss / 3;
    if (st->iteration > st->iterations - 3) r->last += st->total_loss / 3;
    return 0;
}

static void test_training(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_images(dir, "photos", 4, 1);
    make_images(dir, "styles", 3, 20);
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 3);
    loss_record log = {0};
    style_train_adain_options o = {0};
    o.struct_size = sizeof o;
    char data[4200], styles[4200], net[4200], out[4200];
    snprintf(data, sizeof data, "%s/photos", dir);
    snprintf(styles, sizeof styles, "%s/styles", dir);
    snprintf(net, sizeof net, "%s/net.safetensors", dir);
    snprintf(out, sizeof out, "%s/adain.safetensors", dir);
    o.data_dir = data, o.styles_dir = styles, o.loss_net = net, o.out_path = out;
    o.tap = "r4";
    o.crop_size = 24, o.batch_size = 2, o.iterations = 40, o.learning_rate = 3e-3;
    o.seed = 5, o.threads = 2, o.checkpoint_every = 20;
    o.progress = record, o.progress_user = &log;
    style_status status = style_train_adain(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    print_message("  AdaIN training: mean loss of the first 3 iterations %.4f, last 3 %.4f\n",
                  log.first, log.last);
    assert_int_equal(log.calls, 40);
    assert_true(log.last < 0.8 * log.first);
    style_model *m = NULL;
    assert_int_equal(style_model_load(out, NULL, &m), STYLE_OK);
    assert_non_null(
        strstr(style_model_metadata_get(m, "libstyle.training"), "\"method\":\"adain\""));
    style_model_free(m);
    /* Resume from the checkpoint for 5 more iterations. */
    char ckpt[4300];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", out);
    style_train_adain_options r = {0};
    r.struct_size = sizeof r;
    r.out_path = out, r.resume_path = ckpt, r.iterations = 45, r.threads = 2;
    loss_record more = {0};
    r.progress = record, r.progress_user = &more;
    assert_int_equal(style_train_adain(&r), STYLE_OK);
    assert_int_equal(more.calls, 5);
    /* A damaged checkpoint is refused with its name before anything is allocated for it. */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/bad.ckpt", dir);
    assert_int_equal(train_fixture_damage_checkpoint(ckpt, bad, "libstyle.train.settings",
                                                     "batch_size", "1073741824"),
                     0);
    r.resume_path = bad, r.progress = NULL;
    assert_int_equal(style_train_adain(&r), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "bad.ckpt"));
    assert_non_null(strstr(style_last_error(), "batch 1..256"));
    /* A Johnson checkpoint is not an AdaIN one, and a missing styles folder is named. */
    o.styles_dir = "/nonexistent/styles";
    o.progress = NULL;
    assert_int_equal(style_train_adain(&o), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "/nonexistent/styles"));
    test_remove_tree(dir);
    free(dir);
}

/* ---- the quality options (shared with style_train) ---------------------------------------- */

/* Shift jitter's window: view and gradient against a naive copy, odd sizes, random offsets;
 * two draws per crop of the whole batch (a process keeps its share's). */
static void test_loss_window(void **state)
{
    (void)state;
    const int32_t crop = 13, shift = 3, count = 3, size = crop - shift;
    train_loss_window w;
    assert_int_equal(train_loss_window_create(&w, shift, crop, count), STYLE_OK);
    train_rng rng, again;
    train_rng_seed(&rng, 17);
    again = rng;
    train_loss_window_draw(&w, &rng, 5, 1); /* crops 1..3 of a batch of 5 */
    for (int32_t b = 0; b < 5; b++) {
        int32_t y = (int32_t)train_rng_below(&again, shift + 1);
        int32_t x = (int32_t)train_rng_below(&again, shift + 1);
        if (b >= 1 && b <= 3) assert_int_equal(w.y[b - 1], y), assert_int_equal(w.x[b - 1], x);
    }
    assert_memory_equal(&rng, &again, sizeof rng);
    const size_t image = (size_t)crop * crop * 3, view = (size_t)size * size * 3;
    float *crops = malloc(count * image * sizeof(float));
    float *diff_view = malloc(count * view * sizeof(float));
    float *diff = malloc(count * image * sizeof(float));
    test_rng r = {5};
    test_fill_uniform(&r, crops, count * image, 0, 255);
    test_fill_uniform(&r, diff_view, count * view, -1, 1);
    const float *seen = train_loss_window_view(&w, crops);
    test_fill_uniform(&r, diff, count * image, -9, 9); /* overwritten everywhere */
    train_loss_window_backward(&w, diff_view, diff);
    for (int32_t b = 0; b < count; b++)
        for (int32_t y = 0; y < crop; y++)
            for (int32_t x = 0; x < crop; x++)
                for (int c = 0; c < 3; c++) {
                    const int32_t vy = y - w.y[b], vx = x - w.x[b];
                    const bool inside = vy >= 0 && vy < size && vx >= 0 && vx < size;
                    const size_t at = b * image + ((size_t)y * crop + x) * 3 + c;
                    const size_t v = b * view + ((size_t)vy * size + vx) * 3 + c;
                    if (inside) assert_true(seen[v] == crops[at]);
                    assert_true(diff[at] == (inside ? diff_view[v] : 0.0f));
                }
    train_loss_window_destroy(&w);
    /* No shift: the crops themselves, and the gradient copied. */
    assert_int_equal(train_loss_window_create(&w, 0, crop, count), STYLE_OK);
    assert_ptr_equal(train_loss_window_view(&w, crops), crops);
    train_loss_window_backward(&w, crops, diff);
    assert_memory_equal(diff, crops, count * image * sizeof(float));
    train_loss_window_destroy(&w);
    assert_int_equal(train_loss_window_create(&w, crop, crop, 1), STYLE_ERR_INVALID_ARGUMENT);
    free(crops), free(diff_view), free(diff);
}

typedef struct quality_run {
    char dir[4096], data[4200], styles[4200], net[4200], out[4200];
    style_train_adain_options o;
} quality_run;

/* A small run (4 photos, 3 styles, crop 24, batch 2) of `iterations`, writing dir/out. */
static void quality_run_init(quality_run *q, const char *dir, int iterations)
{
    memset(q, 0, sizeof *q);
    snprintf(q->dir, sizeof q->dir, "%s", dir);
    snprintf(q->data, sizeof q->data, "%s/photos", dir);
    snprintf(q->styles, sizeof q->styles, "%s/styles", dir);
    snprintf(q->net, sizeof q->net, "%s/net.safetensors", dir);
    snprintf(q->out, sizeof q->out, "%s/out.safetensors", dir);
    style_train_adain_options *o = &q->o;
    o->struct_size = sizeof *o;
    o->data_dir = q->data, o->styles_dir = q->styles, o->loss_net = q->net, o->out_path = q->out;
    o->tap = "r4";
    o->crop_size = 24, o->batch_size = 2, o->iterations = iterations, o->learning_rate = 3e-3;
    o->seed = 9, o->threads = 2, o->checkpoint_every = 100;
}

typedef struct first_losses {
    int calls, stop_at;
    double content, style, tv;
} first_losses;

static int first_iteration(void *user, const style_train_stats *st)
{
    first_losses *f = user;
    if (++f->calls == 1)
        f->content = st->content_loss, f->style = st->style_loss, f->tv = st->tv_loss;
    return f->stop_at && st->iteration >= f->stop_at;
}

typedef struct log_capture {
    char text[8192];
} log_capture;

static void capture(void *user, style_log_level level, const char *message)
{
    log_capture *c = user;
    (void)level;
    size_t used = strlen(c->text);
    snprintf(c->text + used, sizeof c->text - used, "%s\n", message);
}

/* Every option at once, stopped and resumed with none of them given: bit-identical to the
 * uninterrupted run (the checkpoint carries them); the model records them; a held-out photo
 * and style are refused by hash, with a warning naming each; bad values are refused. */
static void test_training_quality_resume(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_images(dir, "photos", 4, 1);
    make_images(dir, "styles", 3, 20);
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 3);
    /* Held-out lists: photo 2 and style 1, under other names. */
    char hex[SHA256_HEX_SIZE], line[256], path[4300];
    snprintf(path, sizeof path, "%s/photos/2.png", dir);
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    snprintf(line, sizeof line, "%s  held-out.jpg\n", hex);
    assert_int_equal(test_write_file(test_path(dir, "heldout.sha256"), line, strlen(line)), 0);
    snprintf(path, sizeof path, "%s/styles/1.png", dir);
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    snprintf(line, sizeof line, "%s  painting.jpg\n", hex);
    assert_int_equal(test_write_file(test_path(dir, "styles.sha256"), line, strlen(line)), 0);
    char heldout[4300], heldout_styles[4300];
    snprintf(heldout, sizeof heldout, "%s/heldout.sha256", dir);
    snprintf(heldout_styles, sizeof heldout_styles, "%s/styles.sha256", dir);

    quality_run q;
    quality_run_init(&q, dir, 6);
    log_capture messages = {{0}};
    q.o.color_weight = 2.0, q.o.loss_shift = 5, q.o.max_short_side = 30, q.o.grid_weight = 500;
    q.o.exclude_list = heldout, q.o.style_exclude_list = heldout_styles;
    first_losses grid = {0};
    q.o.progress = first_iteration, q.o.progress_user = &grid;
    q.o.log = capture, q.o.log_user = &messages;
    style_status status = style_train_adain(&q.o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_non_null(strstr(messages.text, "photos/2.png: held out by"));
    assert_non_null(strstr(messages.text, "styles/1.png: held out by"));
    assert_non_null(strstr(messages.text, "loss network window 19 x 19"));
    size_t size_a, size_b;
    void *a = train_fixture_tensor_bytes(q.out, &size_a);
    style_model *m = NULL;
    assert_int_equal(style_model_load(q.out, NULL, &m), STYLE_OK);
    const char *training = style_model_metadata_get(m, "libstyle.training");
    assert_non_null(strstr(training, "\"loss_shift\":5"));
    assert_non_null(strstr(training, "\"max_short_side\":30"));
    assert_non_null(strstr(training, "\"color_weight\":2"));
    assert_non_null(strstr(training, "\"grid_weight\":500"));
    assert_non_null(strstr(training, "\"exclude\":\"heldout.sha256\""));
    assert_non_null(strstr(training, "\"style_exclude\":\"styles.sha256\""));
    assert_non_null(strstr(training, "\"data_sha256\""));
    assert_null(strstr(training, dir)); /* no machine path */
    style_model_free(m);
    /* The grid term is reported as the TV loss (the trainer has none of its own): a randomly
     * initialised decoder's output is not flat over the phases of its grid. */
    assert_true(grid.tv > 0 && isfinite(grid.tv));

    /* Stop after 3, resume to 6 with nothing but the checkpoint. */
    first_losses stop = {.stop_at = 3};
    q.o.progress = first_iteration, q.o.progress_user = &stop;
    assert_int_equal(style_train_adain(&q.o), STYLE_ERR_CANCELLED);
    char ckpt[4300];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", q.out);
    style_train_adain_options r = {0};
    r.struct_size = sizeof r;
    r.out_path = q.out, r.resume_path = ckpt, r.threads = 2;
    assert_int_equal(style_train_adain(&r), STYLE_OK);
    void *b = train_fixture_tensor_bytes(q.out, &size_b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(a, b, size_a);
    free(b);

    /* Without the options the model differs (each changes the run). */
    quality_run plain;
    quality_run_init(&plain, dir, 6);
    assert_int_equal(style_train_adain(&plain.o), STYLE_OK);
    b = train_fixture_tensor_bytes(q.out, &size_b);
    assert_int_equal(size_a, size_b);
    assert_true(memcmp(a, b, size_a) != 0);
    free(a), free(b);

    /* Bad values are refused before training, naming the limit. */
    quality_run bad;
    quality_run_init(&bad, dir, 2);
    bad.o.loss_shift = 7; /* > 24 / 4 */
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "loss shift 7 is not in 0..6"));
    bad.o.loss_shift = 0, bad.o.max_short_side = 20;
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "max short side 20"));
    bad.o.max_short_side = 0, bad.o.color_weight = -1;
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    bad.o.color_weight = 0, bad.o.grid_weight = -1;
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    bad.o.grid_weight = NAN;
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    /* Every photo held out: nothing to train on, said so. */
    bad.o.grid_weight = 0;
    bad.o.data_dir = NULL;
    char one[4300];
    snprintf(one, sizeof one, "%s/only", dir);
    assert_int_equal(mkdir(one, 0700), 0);
    snprintf(path, sizeof path, "%s/only/a.png", dir);
    style_image img = gradient_image(46, 38, 3); /* photos/2.png's pixels */
    assert_int_equal(style_image_save(path, &img, 0), STYLE_OK);
    style_image_release(&img);
    bad.o.data_dir = one, bad.o.exclude_list = heldout;
    assert_int_equal(style_train_adain(&bad.o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "held out by"));
    test_remove_tree(dir);
    free(dir);
}

/* Copies model `from` to `to` with every decoder weight 0 and the last conv's bias `rgb`
 * (encoder input space): a decoder whose output is that one colour everywhere. */
static void write_constant_decoder(const char *from, const char *to, const float rgb[3])
{
    size_t size;
    void *bytes = test_read_file(from, &size);
    st_file file = {0};
    assert_int_equal(st_parse(bytes, size, &file), STYLE_OK);
    free(bytes);
    int last = -1;
    for (size_t i = 0; i < file.tensor_count; i++) {
        int index;
        if (sscanf(file.tensors[i].name, "decoder.%d.", &index) == 1 && index > last) last = index;
    }
    assert_true(last >= 0);
    for (size_t i = 0; i < file.tensor_count; i++) {
        st_tensor *t = &file.tensors[i];
        int index;
        if (sscanf(t->name, "decoder.%d.", &index) != 1) continue;
        memset(t->data, 0, t->count * sizeof(float));
        if (index == last && strstr(t->name, ".bias")) {
            assert_int_equal(t->count, 3);
            memcpy(t->data, rgb, sizeof(float) * 3);
        }
    }
    void *out;
    assert_int_equal(st_serialize(&file, &out, &size), STYLE_OK);
    assert_int_equal(test_write_file(to, out, size), 0);
    free(out);
    st_file_clear(&file);
}

/* Warm start: the trained decoder is taken as is (a run that cannot move a weight writes the
 * init model's decoder bit for bit, and starts from a lower loss than a random decoder); an
 * init model for another loss network or tap is refused, saying why. The colour term against
 * a double-precision reference: a decoder that outputs one colour c everywhere has the colour
 * loss |c - mean(s)|^2 / tr(C(s)) + 1 against every style crop s (the crops drawn again from
 * the run's seed), with or without a loss shift. */
static void test_warm_start_and_colour_reference(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_images(dir, "photos", 4, 1);
    make_images(dir, "styles", 3, 20);
    test_write_adain_feature_net(test_path(dir, "net.safetensors"), 3);
    quality_run q;
    quality_run_init(&q, dir, 30);
    assert_int_equal(style_train_adain(&q.o), STYLE_OK);
    char base[4300];
    snprintf(base, sizeof base, "%s/base.safetensors", dir);
    assert_int_equal(rename(q.out, base), 0);

    /* Cold and warm first losses; a learning rate that moves nothing. */
    first_losses cold = {0}, warm = {0};
    quality_run_init(&q, dir, 1);
    q.o.learning_rate = 1e-30;
    q.o.progress = first_iteration, q.o.progress_user = &cold;
    assert_int_equal(style_train_adain(&q.o), STYLE_OK);
    q.o.init_model = base;
    q.o.tap = NULL; /* the init model's */
    q.o.progress_user = &warm;
    style_status status = style_train_adain(&q.o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    print_message("  first loss: random decoder %.4f, warm start %.4f\n", cold.content + cold.style,
                  warm.content + warm.style);
    assert_true(warm.content + warm.style < cold.content + cold.style);
    style_model *a = NULL, *b = NULL;
    assert_int_equal(style_model_load(base, NULL, &a), STYLE_OK);
    assert_int_equal(style_model_load(q.out, NULL, &b), STYLE_OK);
    int decoder_tensors = 0;
    for (size_t i = 0; i < a->file.tensor_count; i++) {
        const st_tensor *t = &a->file.tensors[i], *u = st_find(&b->file, t->name);
        assert_non_null(u);
        assert_int_equal(t->count, u->count);
        assert_memory_equal(t->data, u->data, t->count * sizeof(float));
        decoder_tensors += strncmp(t->name, "decoder.", 8) == 0;
    }
    assert_true(decoder_tensors >= 6);
    assert_non_null(strstr(style_model_metadata_get(b, "libstyle.training"),
                           "\"init_model\":\"base.safetensors\""));
    style_model_free(a), style_model_free(b);

    /* Refused: another loss network, another tap, a model that is not AdaIN's. */
    char other[4300];
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    test_write_adain_feature_net(other, 4);
    q.o.loss_net = other;
    assert_int_equal(style_train_adain(&q.o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "base.safetensors"));
    assert_non_null(strstr(style_last_error(), "trained with a loss network of SHA-256"));
    q.o.loss_net = q.net, q.o.tap = "r2";
    assert_int_equal(style_train_adain(&q.o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "cut at 'r4', not at 'r2'"));
    q.o.tap = NULL, q.o.init_model = q.net; /* a feature network is no model */
    assert_int_not_equal(style_train_adain(&q.o), STYLE_OK);
    assert_non_null(strstr(style_last_error(), "starting from"));

    /* The colour term against the reference. */
    const float colour[3] = {0.4f, -0.3f, 0.1f};
    char constant[4300];
    snprintf(constant, sizeof constant, "%s/constant.safetensors", dir);
    write_constant_decoder(base, constant, colour);
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(q.net, &net), STYLE_OK);
    train_dataset photos, styles;
    assert_int_equal(train_dataset_open(&photos, q.data, NULL, NULL), STYLE_OK);
    assert_int_equal(train_dataset_open(&styles, q.styles, NULL, NULL), STYLE_OK);
    const int32_t n = 2, crop = 24;
    float *crops = malloc(sizeof(float) * n * crop * crop * 3);
    train_rng rng;
    train_rng_seed(&rng, q.o.seed);
    assert_int_equal(train_dataset_batch(&photos, &rng, n, crop, crops), STYLE_OK);
    assert_int_equal(train_dataset_batch(&styles, &rng, n, crop, crops), STYLE_OK);
    double want = 0, c[3];
    for (int k = 0; k < 3; k++)
        c[k] =
            ((double)colour[k] * net->input_std[k] + net->input_mean[k]) / net->input_scale / 255.0;
    for (int32_t b = 0; b < n; b++) {
        double mean[3] = {0, 0, 0}, cov[9] = {0}, trace = 0;
        const float *s = crops + (size_t)b * crop * crop * 3;
        const size_t pixels = (size_t)crop * crop;
        for (size_t p = 0; p < pixels; p++)
            for (int k = 0; k < 3; k++)
                mean[k] += s[p * 3 + k] / 255.0 / pixels;
        for (size_t p = 0; p < pixels; p++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++)
                    cov[i * 3 + j] += (s[p * 3 + i] / 255.0 - mean[i]) *
                                      (s[p * 3 + j] / 255.0 - mean[j]) / pixels;
        trace = cov[0] + cov[4] + cov[8];
        double d2 = 0;
        for (int k = 0; k < 3; k++)
            d2 += (c[k] - mean[k]) * (c[k] - mean[k]);
        want += (d2 / trace + 1.0) / n;
    }
    const double weight = 3.0;
    for (int shift = 0; shift <= 4; shift += 4) {
        first_losses without = {0}, with = {0};
        quality_run_init(&q, dir, 1);
        q.o.learning_rate = 1e-30, q.o.init_model = constant, q.o.loss_shift = shift;
        q.o.progress = first_iteration, q.o.progress_user = &without;
        assert_int_equal(style_train_adain(&q.o), STYLE_OK);
        q.o.color_weight = weight, q.o.progress_user = &with;
        assert_int_equal(style_train_adain(&q.o), STYLE_OK);
        print_message("  colour term (shift %d): %.9g, reference %.9g\n", shift,
                      with.style - without.style, weight * want);
        assert_float_equal(with.content, without.content, 0);
        assert_float_equal(with.style - without.style, weight * want, 1e-5 * weight * want);
    }
    free(crops);
    train_dataset_close(&photos), train_dataset_close(&styles);
    feature_net_free(net);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adain_forward_reference),
        cmocka_unit_test(test_adain_statistics_identity),
        cmocka_unit_test(test_adain_gradients),
        cmocka_unit_test(test_moment_loss_gradient),
        cmocka_unit_test(test_decoder_gradients),
        cmocka_unit_test(test_mirror),
        cmocka_unit_test(test_model_round_trip),
        cmocka_unit_test(test_bad_model_files),
        cmocka_unit_test(test_session_controls),
        cmocka_unit_test(test_session_bf16),
        cmocka_unit_test(test_inference_stack_matches_training_stack),
        cmocka_unit_test(test_tileable),
        cmocka_unit_test(test_banded),
        cmocka_unit_test(test_hidden_colour_ignored),
        cmocka_unit_test(test_weighted_statistics),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_training),
        cmocka_unit_test(test_loss_window),
        cmocka_unit_test(test_training_quality_resume),
        cmocka_unit_test(test_warm_start_and_colour_reference),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
