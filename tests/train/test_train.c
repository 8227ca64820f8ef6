/*
 * The trainer end to end on small generated data: the training graph agrees with the inference
 * engine and with finite differences of the reference network; feature networks (spec files
 * and recognised VGG-16) agree with a double-precision reference forward and backward; a few
 * steps lower the loss; a stopped and resumed run (after an iteration, or inside one through
 * the cancel callback) is bit-identical to an uninterrupted one;
 * checkpoints are not mistaken for models; bad inputs and damaged checkpoints give clear errors.
 */
#include "features/feature_net.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "arch/johnson_topology.h"
#include "arch/network.h"
#include "model_builder.h"
#include "reference.h"
#include "testutil.h"
#include "train/train_checkpoint.h"
#include "train_fixtures.h"
#include "dnn_fixture.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const train_net_config small = {.widths = {8, 16, 16}, .residual_blocks = 1};

/* The training params as a model (through the real export and loader). */
static style_model *params_to_model(const train_params *p, const char *dir)
{
    train_settings s = {0};
    s.net = p->config;
    const char *path = test_path(dir, "exported.safetensors");
    assert_int_equal(train_export_model(path, &s, NULL, NULL, p, 1, 0), STYLE_OK);
    style_model *model = NULL;
    assert_int_equal(style_model_load(path, NULL, &model), STYLE_OK);
    return model;
}

static void test_forward_matches_inference(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    train_params params;
    assert_int_equal(train_params_create(&params, &small), STYLE_OK);
    train_params_init(&params, 5);
    train_net net;
    const int n = 2, size = 20;
    assert_int_equal(train_net_create(&net, &params, dnn_fixture(), n, size, false), STYLE_OK);
    test_rng rng = {9};
    test_fill_uniform(&rng, net.input, (size_t)n * size * size * 3, 0, 255);
    const float *out;
    assert_int_equal(train_net_forward(&net, dnn_fixture(), false, &out), STYLE_OK);

    style_model *model = params_to_model(&params, dir);
    network_plan plan;
    assert_int_equal(network_plan_describe(&plan, model, dnn_fixture(), size, size), STYLE_OK);
    assert_int_equal(network_plan_bind(&plan, dnn_fixture()), STYLE_OK);
    size_t image = (size_t)size * size * 3;
    for (int b = 0; b < n; b++) {
        memcpy(plan.buffers[BUF_INPUT], net.input + b * image, image * sizeof(float));
        assert_int_equal(network_plan_run(&plan, dnn_fixture(), NULL, NULL), STYLE_OK);
        double *expect = malloc(image * sizeof(double));
        for (size_t i = 0; i < image; i++)
            expect[i] = plan.buffers[BUF_OUTPUT][i];
        double err = test_rel_l2(out + b * image, expect, image);
        print_message("  training forward vs inference, image %d: rel L2 %.2e\n", b, err);
        assert_true(err < 1e-5);
        free(expect);
    }
    network_plan_destroy(&plan);
    style_model_free(model);
    train_net_destroy(&net);
    train_params_destroy(&params);
    test_remove_tree(dir);
    free(dir);
}

/* L = sum(g * net(x)) in double through the reference network of the exported model. */
static double reference_objective(const train_params *p, const char *dir, const float *input, int n,
                                  int size, const float *g)
{
    style_model *model = params_to_model(p, dir);
    double total = 0;
    for (int b = 0; b < n; b++) {
        ref_tensor in = ref_tensor_new(3, size, size);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                for (int c = 0; c < 3; c++)
                    REF_AT(in, c, y, x) = input[((size_t)(b * size + y) * size + x) * 3 + c];
        ref_tensor out = ref_network(model, in);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                for (int c = 0; c < 3; c++)
                    total += REF_AT(out, c, y, x) * g[((size_t)(b * size + y) * size + x) * 3 + c];
        ref_tensor_free(&out);
        ref_tensor_free(&in);
    }
    style_model_free(model);
    return total;
}

/* `blocked`: the middle stages (conv3 .. deconv2) in nChw8c, else every stage in NHWC. */
static void check_network_gradients(const train_net_config *config, bool blocked)
{
    char *dir = test_make_temp_dir();
    train_params params;
    assert_int_equal(train_params_create(&params, config), STYLE_OK);
    train_params_init(&params, 6);
    train_net net;
    const int n = 2, size = 12;
    assert_int_equal(train_net_create_layout(&net, &params, dnn_fixture(), n, size,
                                             blocked ? TRAIN_LAYOUT_BLOCKED : TRAIN_LAYOUT_NHWC,
                                             false),
                     STYLE_OK);
    assert_int_equal(net.blocked, blocked);
    test_rng rng = {10};
    test_fill_uniform(&rng, net.input, (size_t)n * size * size * 3, 0, 255);
    const float *out;
    assert_int_equal(train_net_forward(&net, dnn_fixture(), false, &out), STYLE_OK);
    size_t count = (size_t)n * size * size * 3;
    float *g = malloc(count * sizeof(float));
    test_fill_uniform(&rng, g, count, -1, 1);
    memcpy(train_net_diff_output(&net), g, count * sizeof(float));
    assert_int_equal(train_net_backward(&net, dnn_fixture()), STYLE_OK);

    /* Central differences in double on a sample of every parameter tensor. */
    double worst = 0, global = 0;
    for (size_t j = 0; j < params.total; j++)
        global = fmax(global, fabs(params.grads[j]));
    for (int32_t i = 0; i < params.count; i++) {
        train_param *p = &params.params[i];
        if (!p->trainable) continue;
        /* Biases before instance norm have (correctly) ~0 gradients: compare them on the
         * scale of the network's gradients, not their own rounding noise. */
        double scale = 1e-3 * global;
        for (size_t j = 0; j < p->count; j++)
            scale = fmax(scale, fabs(params.grads[p->offset + j]));
        for (int s = 0; s < 2; s++) {
            size_t j = (size_t)(test_rng_next(&rng) % p->count);
            float *v = params.values + p->offset + j, keep = *v;
            /* The network has many ReLU kinks: only steps this small stay on one linear piece. */
            float h = 2e-5f * fmaxf(1.0f, fabsf(keep));
            *v = keep + h;
            double up = reference_objective(&params, dir, net.input, n, size, g);
            *v = keep - h;
            double down = reference_objective(&params, dir, net.input, n, size, g);
            *v = keep;
            /* h is applied in float: use the exact step the float values took. */
            double step = (double)(keep + h) - (double)(keep - h);
            double numeric = (up - down) / step;
            double err = fabs(numeric - params.grads[p->offset + j]) / scale;
            if (err > worst) worst = err;
            if (err > 2e-3)
                print_error("  %s[%zu]: analytic %g numeric %g\n", p->name, j,
                            params.grads[p->offset + j], numeric);
        }
    }
    print_message("  transform network gradients (%s): max err / max |grad| = %.2e\n",
                  blocked ? "nChw8c" : "NHWC", worst);
    assert_true(worst < 2e-3);
    free(g);
    train_net_destroy(&net);
    train_params_destroy(&params);
    test_remove_tree(dir);
    free(dir);
}

static void test_network_gradients(void **state)
{
    (void)state;
    check_network_gradients(&small, true);
    check_network_gradients(&small, false);
    /* The blocked layout needs widths that are multiples of 8. */
    const train_net_config odd = {.widths = {4, 6, 6}, .residual_blocks = 1};
    train_params params;
    assert_int_equal(train_params_create(&params, &odd), STYLE_OK);
    train_net net;
    assert_int_equal(
        train_net_create_layout(&net, &params, dnn_fixture(), 2, 12, TRAIN_LAYOUT_BLOCKED, false),
        STYLE_ERR_INVALID_ARGUMENT);
    train_params_destroy(&params);
}

/* ---- feature networks --------------------------------------------------------------------- */

/* Double reference of that net up to layer `last`, on NHWC rgb, one image. */
static ref_tensor feature_reference(const feature_net *net, const float *rgb, int h, int w,
                                    int last)
{
    ref_tensor x = ref_tensor_new(3, h, w);
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int c = 0; c < 3; c++)
                REF_AT(x, c, y, xx) =
                    (rgb[(y * w + xx) * 3 + c] * net->input_scale - net->input_mean[c]) /
                    net->input_std[c];
    for (int i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        ref_tensor y;
        if (l->op == FNET_CONV) {
            y = ref_conv2d(x, l->weight, l->bias, l->out_channels, l->kernel, l->stride, l->pad,
                           l->pad, l->pad, l->pad);
        } else if (l->op == FNET_MAXPOOL) {
            y = ref_tensor_new(x.c, x.h / 2, x.w / 2);
            for (int c = 0; c < x.c; c++)
                for (int a = 0; a < y.h; a++)
                    for (int b = 0; b < y.w; b++)
                        REF_AT(y, c, a, b) =
                            fmax(fmax(REF_AT(x, c, 2 * a, 2 * b), REF_AT(x, c, 2 * a, 2 * b + 1)),
                                 fmax(REF_AT(x, c, 2 * a + 1, 2 * b),
                                      REF_AT(x, c, 2 * a + 1, 2 * b + 1)));
        } else {
            y = ref_tensor_new(x.c, x.h, x.w);
            double slope = l->op == FNET_RELU ? 0 : l->slope;
            for (size_t k = 0; k < (size_t)x.c * x.h * x.w; k++)
                y.data[k] = x.data[k] > 0 ? x.data[k] : x.data[k] * slope;
        }
        ref_tensor_free(&x);
        x = y;
    }
    return x;
}

static void test_feature_net_spec(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    const char *path = test_path(dir, "net.safetensors");
    test_write_feature_net(path, 77);
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(path, &net), STYLE_OK);
    assert_int_equal(net->layer_count, 6);
    assert_int_equal(feature_net_tap(net, "c"), 5);
    assert_int_equal(net->style_count, 3);
    const int n = 2, h = 11, w = 9;
    feature_run run;
    assert_int_equal(feature_run_create(&run, net, dnn_fixture(), n, h, w, 5, true, false),
                     STYLE_OK);
    test_rng rng = {3};
    size_t count = (size_t)n * h * w * 3;
    float *rgb = malloc(count * 4);
    test_fill_uniform(&rng, rgb, count, 0, 255);
    assert_int_equal(feature_run_forward(&run, dnn_fixture(), rgb), STYLE_OK);
    /* Forward: every tap (including "pre", a conv output that must not be fused). */
    const char *taps[] = {"a", "pre", "b", "c"};
    for (int t = 0; t < 4; t++) {
        int layer = feature_net_tap(net, taps[t]);
        size_t image = (size_t)run.out_h[layer] * run.out_w[layer] * run.out_c[layer];
        for (int b = 0; b < n; b++) {
            ref_tensor r = feature_reference(net, rgb + b * h * w * 3, h, w, layer);
            double *e = malloc(image * sizeof(double));
            for (int y = 0; y < r.h; y++)
                for (int x = 0; x < r.w; x++)
                    for (int c = 0; c < r.c; c++)
                        e[(y * r.w + x) * r.c + c] = REF_AT(r, c, y, x);
            assert_true(test_rel_l2(feature_run_output(&run, layer) + b * image, e, image) < 1e-5);
            free(e);
            ref_tensor_free(&r);
        }
    }
    /* Backward: L = sum over taps of <g_t, F_t>; dL/drgb against central differences. */
    float *g[4];
    for (int t = 0; t < 4; t++) {
        int layer = feature_net_tap(net, taps[t]);
        size_t all = (size_t)n * run.out_h[layer] * run.out_w[layer] * run.out_c[layer];
        g[t] = malloc(all * 4);
        test_fill_uniform(&rng, g[t], all, -1, 1);
        float *tg = feature_run_tap_grad(&run, layer);
        for (size_t k = 0; k < all; k++)
            tg[k] += g[t][k];
    }
    const float *diff;
    assert_int_equal(feature_run_backward(&run, dnn_fixture(), &diff), STYLE_OK);
    double worst = 0, scale = 1e-6;
    for (size_t k = 0; k < count; k++)
        scale = fmax(scale, fabs(diff[k]));
    for (int s = 0; s < 30; s++) {
        size_t k = (size_t)(test_rng_next(&rng) % count);
        int b = (int)(k / ((size_t)h * w * 3));
        double val[2];
        for (int side = 0; side < 2; side++) {
            float keep = rgb[k];
            rgb[k] = keep + (side ? -0.5f : 0.5f);
            double total = 0;
            for (int t = 0; t < 4; t++) {
                int layer = feature_net_tap(net, taps[t]);
                ref_tensor r = feature_reference(net, rgb + b * h * w * 3, h, w, layer);
                size_t image = (size_t)r.c * r.h * r.w;
                for (int y = 0; y < r.h; y++)
                    for (int x = 0; x < r.w; x++)
                        for (int c = 0; c < r.c; c++)
                            total += REF_AT(r, c, y, x) * g[t][b * image + (y * r.w + x) * r.c + c];
                ref_tensor_free(&r);
            }
            rgb[k] = keep;
            val[side] = total;
        }
        double numeric = (val[0] - val[1]) / 1.0;
        worst = fmax(worst, fabs(numeric - diff[k]) / scale);
    }
    print_message("  feature net d/d image: max err / max |grad| = %.2e\n", worst);
    /* Max pooling and ReLU kinks make finite differences of 0.5 levels slightly noisy. */
    assert_true(worst < 2e-2);
    for (int t = 0; t < 4; t++)
        free(g[t]);
    free(rgb);
    feature_run_destroy(&run);
    feature_net_free(net);
    test_remove_tree(dir);
    free(dir);
}

static void test_vgg16_recognised(void **state)
{
    (void)state;
    /* A torchvision VGG-16 state_dict with random weights (no metadata). */
    static const int convs[] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
    static const int channels[] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
    test_rng rng = {4};
    st_file file = {0};
    int in = 3;
    for (int i = 0; i < 13; i++) {
        int64_t ws[4] = {channels[i], in, 3, 3}, bs[1] = {channels[i]};
        size_t count = (size_t)channels[i] * in * 9;
        float *w = malloc(count * 4), *b = malloc(channels[i] * 4);
        test_fill_uniform(&rng, w, count, -0.05, 0.05);
        test_fill_uniform(&rng, b, channels[i], -0.05, 0.05);
        char name[64];
        snprintf(name, sizeof name, "features.%d.weight", convs[i]);
        st_file_add_tensor(&file, name, 4, ws, w);
        snprintf(name, sizeof name, "features.%d.bias", convs[i]);
        st_file_add_tensor(&file, name, 1, bs, b);
        free(w), free(b);
        in = channels[i];
    }
    int64_t cls[2] = {4, 4};
    float junk[16] = {0};
    st_file_add_tensor(&file, "classifier.0.weight", 2, cls, junk);
    feature_net *net = NULL;
    assert_int_equal(feature_net_from_file(&file, "vgg16.safetensors", &net), STYLE_OK);
    assert_string_equal(net->name, "vgg16");
    assert_int_equal(feature_net_tap(net, "relu1_2"), 3);
    assert_int_equal(feature_net_tap(net, "relu2_2"), 8);
    assert_int_equal(feature_net_tap(net, "relu3_3"), 15);
    assert_int_equal(feature_net_tap(net, "relu4_3"), 22);
    assert_string_equal(net->content_taps[0], "relu2_2");
    assert_true(fabs(net->input_mean[0] - 0.485) < 1e-12 &&
                fabs(net->input_std[2] - 0.225) < 1e-12);
    feature_run run;
    assert_int_equal(feature_run_create(&run, net, dnn_fixture(), 1, 32, 24, 22, true, false),
                     STYLE_OK);
    float *rgb = malloc(32 * 24 * 3 * 4);
    test_fill_uniform(&rng, rgb, 32 * 24 * 3, 0, 255);
    assert_int_equal(feature_run_forward(&run, dnn_fixture(), rgb), STYLE_OK);
    ref_tensor r = feature_reference(net, rgb, 32, 24, 22);
    assert_int_equal(run.out_c[22], 512);
    double *e = malloc(sizeof(double) * r.c * r.h * r.w);
    for (int y = 0; y < r.h; y++)
        for (int x = 0; x < r.w; x++)
            for (int c = 0; c < r.c; c++)
                e[(y * r.w + x) * r.c + c] = REF_AT(r, c, y, x);
    double err = test_rel_l2(feature_run_output(&run, 22), e, (size_t)r.c * r.h * r.w);
    print_message("  VGG-16 relu4_3 vs reference: rel L2 %.2e\n", err);
    assert_true(err < 1e-5);
    free(e);
    ref_tensor_free(&r);
    free(rgb);
    feature_run_destroy(&run);
    feature_net_free(net);
}

/* ---- training runs ------------------------------------------------------------------------ */

/* Writes a data folder of smooth random photos and a style image. */
static void make_data(const char *dir)
{
    assert_int_equal(train_fixture_photos(dir, 0), 0);
}

static void test_training_lowers_loss(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 78);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    print_message("  mean loss of the first 3 iterations %.4f, last 3 %.4f\n", log.first, log.last);
    assert_int_equal(log.calls, 30);
    assert_true(log.last < 0.8 * log.first);
    /* The result is a model the library runs; a checkpoint is refused as a model. */
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    assert_non_null(
        strstr(style_model_metadata_get(model, "libstyle.training"), "\"iterations\":30"));
    style_model_free(model);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);
    assert_int_equal(style_model_load(ckpt, NULL, &model), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "checkpoint"));
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* A trained model's tensors are the stages of Johnson's table, in its order, with the shapes
 * the table gives (widths, the usual kernels; batch norm's running statistics), and the model
 * loader's walk of the same table finds every stage with them. */
static void test_export_walks_the_table(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 2, o.residual_blocks = 2, o.norm = "batch";
    assert_int_equal(style_train(&o), STYLE_OK);
    void *bytes = NULL;
    size_t size = 0;
    assert_int_equal(style__read_file(o.out_path, (size_t)1 << 30, &bytes, &size), STYLE_OK);
    st_file file = {0};
    assert_int_equal(st_parse(bytes, size, &file), STYLE_OK);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    const int32_t widths[3] = {o.widths[0], o.widths[1], o.widths[2]};
    size_t t = 0;
    int32_t in_c = 3;
    for (int32_t i = 0; i < johnson_step_count(2); i++) {
        johnson_step step;
        johnson_step_at(2, i, &step);
        const int32_t out_c = johnson_step_width(&step, widths), k = step.spec->kernel;
        char name[96];
        const int64_t weight[4] = {out_c, in_c, k, k};
        const char *suffix[] = {"conv2d.weight", "conv2d.bias",  "weight",
                                "bias",          "running_mean", "running_var"};
        const int tensors = step.spec->optional_norm ? 2 : 6;
        for (int j = 0; j < tensors; j++) {
            snprintf(name, sizeof name, "%s.%s", j < 2 ? step.conv_name : step.norm_name,
                     suffix[j]);
            assert_true(t < file.tensor_count);
            assert_string_equal(file.tensors[t].name, name);
            assert_int_equal(file.tensors[t].ndim, j == 0 ? 4 : 1);
            for (int d = 0; d < file.tensors[t].ndim; d++)
                assert_int_equal(file.tensors[t].shape[d], j == 0 ? weight[d] : out_c);
            t++;
        }
        const model_stage *stage = johnson_model_stage_const(model, &step);
        assert_int_equal(stage->conv.out_channels, out_c);
        assert_int_equal(stage->conv.in_channels, in_c);
        assert_int_equal(stage->conv.kernel, k);
        assert_int_equal(stage->has_norm, !step.spec->optional_norm);
        in_c = out_c;
    }
    assert_int_equal(t, file.tensor_count);
    style_model_free(model);
    st_file_clear(&file);
    style__free(bytes);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Runs `o` again, stopped by its progress callback after `stop_at` iterations, resumes it from
 * its checkpoint with no other option given, and checks that the model's tensors equal
 * `expected` (the uninterrupted run's) bit for bit. Restores o->progress_user. */
static void assert_stop_and_resume_identical(style_train_options *o, int stop_at,
                                             const void *expected, size_t size)
{
    void *user = o->progress_user;
    train_run_log stop = {0};
    stop.stop_at = stop_at;
    o->progress_user = &stop;
    assert_int_equal(style_train(o), STYLE_ERR_CANCELLED);
    o->progress_user = user;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o->out_path);
    style_train_options r = {0};
    r.struct_size = sizeof r;
    r.resume_path = ckpt;
    r.out_path = o->out_path;
    r.threads = 2;
    assert_int_equal(style_train(&r), STYLE_OK);
    size_t size_b;
    void *b = train_fixture_tensor_bytes(o->out_path, &size_b);
    assert_int_equal(size, size_b);
    assert_memory_equal(expected, b, size);
    free(b);
}

static void test_resume_is_bit_identical(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 79);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 10;
    assert_int_equal(style_train(&o), STYLE_OK);
    size_t size_a, size_b;
    void *a = train_fixture_tensor_bytes(o.out_path, &size_a);

    /* Stop at 6 (checkpoint written on stop), then resume to 10. */
    train_run_log stop = {0};
    stop.stop_at = 6;
    o.progress_user = &stop;
    assert_int_equal(style_train(&o), STYLE_ERR_CANCELLED);
    assert_non_null(strstr(style_last_error(), "checkpoint"));
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);
    style_train_options r = {0};
    r.struct_size = sizeof r;
    r.resume_path = ckpt;
    r.out_path = o.out_path;
    r.threads = 2;
    train_run_log rest = {0};
    r.progress = train_fixture_record;
    r.progress_user = &rest;
    style_status status = style_train(&r);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(rest.calls, 4);
    void *b = train_fixture_tensor_bytes(o.out_path, &size_b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(a, b, size_a);
    free(a), free(b);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Average pooling in the loss network, the colour, grid and temporal losses: recorded in the
 * model, kept across a stop and resume (bit-identical), and they change what is trained. */
static void test_quality_terms(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 10;
    assert_int_equal(style_train(&o), STYLE_OK);
    size_t size_plain, size_a;
    void *plain = train_fixture_tensor_bytes(o.out_path, &size_plain);

    /* The grid loss alone changes the model. */
    o.grid_weight = 1000.0;
    assert_int_equal(style_train(&o), STYLE_OK);
    size_t size_grid;
    void *grid = train_fixture_tensor_bytes(o.out_path, &size_grid);
    assert_int_equal(size_grid, size_plain);
    assert_true(memcmp(grid, plain, size_grid) != 0);
    free(grid);
    /* So does the temporal loss alone. */
    o.grid_weight = 0;
    o.temporal_weight = 50.0;
    assert_int_equal(style_train(&o), STYLE_OK);
    void *temporal = train_fixture_tensor_bytes(o.out_path, &size_grid);
    assert_int_equal(size_grid, size_plain);
    assert_true(memcmp(temporal, plain, size_grid) != 0);
    free(temporal);
    o.grid_weight = 1000.0;

    o.loss_pooling = "avg";
    o.color_weight = 5.0;
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    void *a = train_fixture_tensor_bytes(o.out_path, &size_a);
    assert_int_equal(size_a, size_plain);
    assert_true(memcmp(a, plain, size_a) != 0);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    const char *training = style_model_metadata_get(model, "libstyle.training");
    assert_non_null(strstr(training, "\"loss_pooling\":\"avg\""));
    assert_non_null(strstr(training, "\"color_weight\":5"));
    assert_non_null(strstr(training, "\"grid_weight\":1000"));
    assert_non_null(strstr(training, "\"temporal_weight\":50"));
    style_model_free(model);

    /* Stop at 6, resume to 10 with no quality options given: the checkpoint carries them. */
    assert_stop_and_resume_identical(&o, 6, a, size_a);

    /* Bad values are refused before training. */
    o.progress_user = &log;
    o.loss_pooling = "median";
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "median"));
    o.loss_pooling = NULL;
    o.color_weight = -1;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    o.color_weight = 0;
    o.grid_weight = NAN;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    /* The temporal loss needs pairs: a batch of one is refused with the reason. */
    o.grid_weight = 0;
    o.batch_size = 1;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "temporal"));
    free(plain), free(a);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* The image `path` makes of a fixed random 23x19 photo (float samples, fp32). */
static float *stylize_random_photo(const char *path)
{
    enum { W = 23, H = 19 };
    float *in = malloc(sizeof(float) * W * H * 3), *out = malloc(sizeof(float) * W * H * 3);
    assert_non_null(in), assert_non_null(out);
    uint32_t x = 12345;
    for (int i = 0; i < W * H * 3; i++) {
        x = x * 1664525u + 1013904223u;
        in[i] = (float)(x >> 8) / (float)(1u << 24) * 255.0f;
    }
    style_model *model = NULL;
    style_session *session = NULL;
    assert_int_equal(style_model_load(path, NULL, &model), STYLE_OK);
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    style_image a = {W, H, 3, STYLE_SAMPLE_F32, 0, in}, b = {W, H, 3, STYLE_SAMPLE_F32, 0, out};
    assert_int_equal(style_session_stylize(session, &a, &b), STYLE_OK);
    style_session_free(session);
    style_model_free(model);
    free(in);
    return out;
}

/* Warm start into a wider network (Net2Net): --width twice the model's gives a model of twice
 * the channels that makes the same image as the narrow one at the start, whose copied channels
 * nevertheless differ in their weights (the random split); widths that are not whole
 * multiples are refused. */
static void test_warm_start_widens(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 81);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 6;
    assert_int_equal(style_train(&o), STYLE_OK);
    char *base = strdup(test_path(dir, "base.safetensors"));
    assert_int_equal(rename(o.out_path, base), 0);

    o.init_model = base;
    o.widths[0] = 16, o.widths[1] = 32, o.widths[2] = 32; /* twice 8/16/16 */
    o.learning_rate = 1e-30;                              /* no weight moves */
    o.iterations = 1;
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);

    style_model *wide = NULL, *narrow = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &wide), STYLE_OK);
    assert_int_equal(style_model_load(base, NULL, &narrow), STYLE_OK);
    assert_int_equal(wide->down[0].conv.out_channels, 16);
    assert_int_equal(wide->down[2].conv.out_channels, 32);
    /* Output channel c and its copy c + 16 of a residual convolution: same outputs, different
     * weights; each weight of the narrow model is the sum of its two shares. */
    const st_tensor *w = st_find(&wide->file, "res1.conv1.conv2d.weight");
    const st_tensor *n = st_find(&narrow->file, "res1.conv1.conv2d.weight");
    assert_non_null(w), assert_non_null(n);
    assert_int_equal(w->shape[0], 32), assert_int_equal(w->shape[1], 32);
    assert_int_equal(n->shape[0], 16), assert_int_equal(n->shape[1], 16);
    int differing = 0;
    for (int o_ = 0; o_ < 32; o_++)
        for (int i = 0; i < 16; i++)
            for (int k = 0; k < 9; k++) {
                const float share0 = w->data[(o_ * 32 + i) * 9 + k];
                const float share1 = w->data[(o_ * 32 + i + 16) * 9 + k];
                const float whole = n->data[((o_ % 16) * 16 + i) * 9 + k];
                assert_true(fabsf(share0 + share1 - whole) <= 1e-6f * (1 + fabsf(whole)));
                if (o_ < 16 && share0 != w->data[((o_ + 16) * 32 + i) * 9 + k]) differing++;
            }
    assert_true(differing > 16 * 16 * 9 / 2);
    style_model_free(wide);
    style_model_free(narrow);

    float *a = stylize_random_photo(base), *b = stylize_random_photo(o.out_path);
    double max_diff = 0;
    for (int i = 0; i < 23 * 19 * 3; i++)
        max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
    assert_true(max_diff < 0.05); /* of 0..255: rounding only */
    free(a), free(b);

    /* Not a whole multiple, or narrower: refused, naming the model's widths. */
    o.progress_user = &log;
    o.widths[0] = 12, o.widths[1] = 32, o.widths[2] = 32;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "8/16/16"));
    o.widths[0] = 4, o.widths[1] = 8, o.widths[2] = 8;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    free(base);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Warm start (init_model) and shift jitter (loss_shift): the start is the given model's
 * weights exactly, the shifted run resumes bit-identically, the provenance records both, and
 * bad values are refused before training. */
static void test_warm_start_and_shift(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 81);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 6;
    assert_int_equal(style_train(&o), STYLE_OK);
    char *base = strdup(test_path(dir, "base.safetensors"));
    assert_int_equal(rename(o.out_path, base), 0);
    size_t size_base, size_a;
    void *base_tensors = train_fixture_tensor_bytes(base, &size_base);

    /* A step too small to move any weight: the result is the starting model, so every weight
     * came from it (a random initialisation would differ everywhere). The widths come from
     * the model, not from the options. */
    o.init_model = base;
    o.widths[0] = o.widths[1] = o.widths[2] = 0;
    o.learning_rate = 1e-30;
    o.iterations = 1;
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    void *a = train_fixture_tensor_bytes(o.out_path, &size_a);
    assert_int_equal(size_a, size_base);
    assert_memory_equal(a, base_tensors, size_a);
    free(a);

    /* A real run from it with shift jitter, and the same run stopped and resumed. */
    o.learning_rate = 1e-2;
    o.iterations = 8;
    o.loss_shift = 4;
    o.max_short_side = 30;
    assert_int_equal(style_train(&o), STYLE_OK);
    a = train_fixture_tensor_bytes(o.out_path, &size_a);
    assert_true(memcmp(a, base_tensors, size_a) != 0);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    const char *training = style_model_metadata_get(model, "libstyle.training");
    assert_non_null(strstr(training, "\"loss_shift\":4"));
    assert_non_null(strstr(training, "\"max_short_side\":30"));
    assert_non_null(strstr(training, "\"init_model\":\"base.safetensors\""));
    assert_non_null(strstr(training, "\"init_model_sha256\":\""));
    assert_null(strstr(training, dir)); /* no machine path */
    style_model_free(model);
    assert_stop_and_resume_identical(&o, 5, a, size_a);

    /* Refused: a shift over a quarter of the crop, a missing model (named), several styles. */
    o.progress_user = &log;
    o.loss_shift = 7;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "loss shift"));
    o.loss_shift = 0;
    o.max_short_side = 10; /* under the crop */
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "max short side"));
    o.max_short_side = 0;
    o.init_model = test_path(dir, "absent.safetensors");
    assert_int_not_equal(style_train(&o), STYLE_OK);
    assert_non_null(strstr(style_last_error(), "absent.safetensors"));
    const char *images[2] = {o.style_image, o.style_image};
    const char *names[2] = {"one", "two"};
    o.init_model = base;
    o.style_images = images;
    o.style_image_count = 2;
    o.style_names = names;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "warm start"));
    o.style_images = NULL;
    o.style_image_count = 0;
    o.style_names = NULL;
    free(a), free(base_tensors), free(base);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* style_train_options.cancel: asks to stop at its `stop_at_ask`-th call once `log` has seen
 * `after_iterations` whole iterations (so in the middle of the next one). */
typedef struct cancel_log {
    const train_run_log *log;
    int after_iterations;
    int stop_at_ask;
    int asks; /* since the last whole iteration */
    int last_calls;
    int max_asks; /* the most asks seen within one iteration */
} cancel_log;

static int cancel_inside(void *user)
{
    cancel_log *c = user;
    if (c->log->calls != c->last_calls) c->last_calls = c->log->calls, c->asks = 0;
    c->asks++;
    if (c->asks > c->max_asks) c->max_asks = c->asks;
    return c->log->calls >= c->after_iterations && c->asks >= c->stop_at_ask;
}

/* Issue 22: a stop inside an iteration (a signal during a long one) drops that iteration and
 * saves the checkpoint of the last whole one; the resumed run is bit-identical to an
 * uninterrupted one, for a stop at every point an iteration is asked at. */
static void test_cancel_inside_iteration(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 79);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 8;
    /* Uninterrupted, counting how often an iteration asks. */
    cancel_log never = {&log, 1000, 1000, 0, 0, 0};
    o.cancel = cancel_inside;
    o.cancel_user = &never;
    assert_int_equal(style_train(&o), STYLE_OK);
    assert_int_equal(log.calls, 8);
    assert_true(never.max_asks >= 4); /* before and after each pass */
    size_t size_a, size_b;
    void *a = train_fixture_tensor_bytes(o.out_path, &size_a);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);

    for (int ask = 1; ask <= never.max_asks; ++ask) {
        train_run_log stop = {0};
        cancel_log inside = {&stop, 5, ask, 0, 0, 0};
        o.progress_user = &stop;
        o.cancel_user = &inside;
        assert_int_equal(style_train(&o), STYLE_ERR_CANCELLED);
        assert_int_equal(stop.calls, 5);
        assert_non_null(strstr(style_last_error(), "inside iteration 6 (dropped)"));
        assert_non_null(strstr(style_last_error(), "checkpoint of iteration 5"));
        style_train_options r = {0};
        r.struct_size = sizeof r;
        r.resume_path = ckpt;
        r.out_path = o.out_path;
        r.threads = 2;
        train_run_log rest = {0};
        r.progress = train_fixture_record;
        r.progress_user = &rest;
        style_status status = style_train(&r);
        if (status != STYLE_OK) print_error("%s\n", style_last_error());
        assert_int_equal(status, STYLE_OK);
        assert_int_equal(rest.calls, 3); /* iterations 6..8: the dropped one again */
        void *b = train_fixture_tensor_bytes(o.out_path, &size_b);
        assert_int_equal(size_a, size_b);
        assert_memory_equal(a, b, size_a);
        free(b);
    }
    print_message("  stopped at each of the %d points an iteration asks at; every resumed run "
                  "bit-identical\n",
                  never.max_asks);
    free(a);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* A damaged or hostile checkpoint is refused with its name and the problem before anything
 * is allocated for it or written: a batch of 2^31 must not reach an allocator. */
static void test_damaged_checkpoint_refused(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 81);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    log.stop_at = 2;
    assert_int_equal(style_train(&o), STYLE_ERR_CANCELLED);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);
    const struct {
        const char *entry, *key, *value, *message;
    } cases[] = {
        {"libstyle.train.settings", "batch_size", "2000000000", "batch size 2000000000"},
        {"libstyle.train.settings", "crop_size", "1000000", "crop size 1000000"},
        {"libstyle.train.settings", "style_size", "-5", "style size -5"},
        {"libstyle.train.settings", "learning_rate", "-1.0", "learning rate"},
        {"libstyle.train.settings", "checkpoint_every", "0", "checkpoint interval"},
        {"libstyle.train.settings", "norm", "\"weird\"", "unknown norm 'weird'"},
        {"libstyle.train.settings", "lr_schedule", "\"steps\"", "unknown learning-rate schedule"},
        {"libstyle.train.settings", "widths", "[8,16,100000]", "bad width 100000"},
        {"libstyle.train.state", "iteration", "-3", "bad training state"},
    };
    const char *bad = test_path(dir, "bad.ckpt");
    char *bad_path = strdup(bad), *out = strdup(test_path(dir, "resumed.safetensors"));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(train_fixture_damage_checkpoint(ckpt, bad_path, cases[i].entry,
                                                         cases[i].key, cases[i].value),
                         0);
        style_train_options r = {0};
        r.struct_size = sizeof r;
        r.resume_path = bad_path;
        r.out_path = out;
        r.threads = 1;
        assert_true(style_train(&r) != STYLE_OK);
        const char *error = style_last_error();
        if (!strstr(error, cases[i].message) || !strstr(error, "bad.ckpt"))
            fail_msg("case %zu: '%s'", i, error);
        assert_int_not_equal(access(out, F_OK), 0); /* nothing written */
    }
    free(bad_path), free(out);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* ---- several styles (conditional instance norm) ------------------------------------------ */

/* A second style image: diagonal stripes. */
static void make_second_style(const char *path)
{
    style_image img;
    assert_int_equal(style_image_alloc(&img, 40, 36, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = img.data;
    for (int i = 0; i < 40 * 36; i++) {
        int x = i % 40, y = i / 40;
        p[3 * i] = (uint8_t)(((x + y) / 4 % 2) * 220);
        p[3 * i + 1] = 40;
        p[3 * i + 2] = (uint8_t)(255 - p[3 * i]);
    }
    assert_int_equal(style_image_save(path, &img, 0), STYLE_OK);
    style_image_release(&img);
}

/* A tensor of a model file, as floats (NULL when absent). */
static const st_tensor *file_tensor(const style_model *model, const char *name)
{
    return st_find(&model->file, name);
}

static void test_several_styles(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    char stripes[4200];
    snprintf(stripes, sizeof stripes, "%s", test_path(dir, "stripes.png"));
    make_second_style(stripes);

    /* Two styles in one model: the losses fall, and the model has both, named. */
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    const char *images[] = {o.style_image, stripes}, *names[] = {"dots", NULL};
    o.style_images = images;
    o.style_image_count = 2;
    o.style_names = names;
    o.iterations = 40;
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    print_message("  two styles: mean loss of the first 3 iterations %.4f, last 3 %.4f\n",
                  log.first, log.last);
    assert_true(log.last < 0.8 * log.first);
    style_model *two = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &two), STYLE_OK);
    assert_int_equal(style_model_style_count(two), 2);
    assert_string_equal(style_model_style_name(two, 0), "dots");
    assert_string_equal(style_model_style_name(two, 1), "stripes");
    assert_string_equal(style_model_metadata_get(two, "libstyle.arch"), "johnson-cin");
    /* Both styles were trained: their rows moved apart from the initial (1, 0). */
    const st_tensor *scale = file_tensor(two, "res1.in1.weight");
    assert_int_equal(scale->shape[0], 2);
    assert_true(
        memcmp(scale->data, scale->data + scale->shape[1], scale->shape[1] * sizeof(float)) != 0);

    /* Adding a third style trains only its row: everything else is bit-identical. */
    char two_path[4200], three_path[4200];
    snprintf(two_path, sizeof two_path, "%s", o.out_path);
    snprintf(three_path, sizeof three_path, "%s", test_path(dir, "three.safetensors"));
    train_run_log add_log = {0};
    style_train_options a = train_fixture_small_run(dir, &add_log);
    free((char *)a.out_path);
    a.out_path = strdup(three_path);
    a.add_style_to = two_path;
    const char *third[] = {"tiles"};
    a.style_names = third;
    a.style_images = images; /* the dots image again, under another name */
    a.style_image_count = 1;
    a.iterations = 8;
    a.widths[0] = 99; /* ignored: the architecture comes from the model */
    status = style_train(&a);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    style_model *three = NULL;
    assert_int_equal(style_model_load(three_path, NULL, &three), STYLE_OK);
    assert_int_equal(style_model_style_count(three), 3);
    assert_string_equal(style_model_style_name(three, 1), "stripes");
    assert_string_equal(style_model_style_name(three, 2), "tiles");
    size_t convs = 0, norms = 0;
    for (size_t i = 0; i < two->file.tensor_count; i++) {
        const st_tensor *before = &two->file.tensors[i];
        const st_tensor *after = file_tensor(three, before->name);
        assert_non_null(after);
        if (strstr(before->name, ".conv2d.")) {
            assert_int_equal(after->count, before->count);
            assert_memory_equal(after->data, before->data, before->count * sizeof(float));
            convs++;
            continue;
        }
        /* A norm: rows 0-1 unchanged, row 2 trained away from the rows' mean it started at. */
        const size_t c = (size_t)before->shape[1];
        assert_int_equal(after->shape[0], 3);
        assert_memory_equal(after->data, before->data, 2 * c * sizeof(float));
        bool moved = false;
        for (size_t k = 0; k < c; k++)
            moved = moved || after->data[2 * c + k] !=
                                 (float)(((double)before->data[k] + before->data[c + k]) / 2);
        assert_true(moved);
        norms++;
    }
    assert_int_equal(convs, 2 * 8); /* conv1-3, res1.conv1-2, deconv1-3: weights, biases */
    assert_int_equal(norms, 2 * 7); /* in1-5, res1.in1-2: scales and shifts */
    style_model_free(three);

    /* Stopped and resumed, adding a style continues bit-identically. */
    size_t size_a, size_b;
    void *whole = train_fixture_tensor_bytes(three_path, &size_a);
    train_run_log stop = {0};
    stop.stop_at = 3;
    a.progress_user = &stop;
    assert_int_equal(style_train(&a), STYLE_ERR_CANCELLED);
    char ckpt[4300];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", three_path);
    style_train_options r = {0};
    r.struct_size = sizeof r;
    r.resume_path = ckpt;
    r.out_path = three_path;
    r.threads = 2;
    status = style_train(&r);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    void *resumed = train_fixture_tensor_bytes(three_path, &size_b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(whole, resumed, size_a);
    free(whole), free(resumed);

    /* A single-style model becomes style 0 (named after it) of a two-style one. */
    train_run_log plain_log = {0};
    style_train_options p = train_fixture_small_run(dir, &plain_log);
    free((char *)p.out_path);
    p.out_path = strdup(test_path(dir, "plain.safetensors"));
    p.iterations = 2;
    assert_int_equal(style_train(&p), STYLE_OK);
    a.add_style_to = p.out_path;
    a.progress_user = &add_log;
    a.iterations = 2;
    const char *stripes_image[] = {stripes};
    a.style_images = stripes_image;
    a.style_names = NULL;
    assert_int_equal(style_train(&a), STYLE_OK);
    assert_int_equal(style_model_load(three_path, NULL, &three), STYLE_OK);
    assert_int_equal(style_model_style_count(three), 2);
    assert_string_equal(style_model_style_name(three, 0), "plain");
    assert_string_equal(style_model_style_name(three, 1), "stripes");
    style_model_free(three);

    /* Refused: a name the model has, two images, a batch-norm model. */
    a.add_style_to = two_path;
    assert_int_equal(style_train(&a), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "'stripes'"));
    a.style_images = images;
    a.style_image_count = 2;
    assert_int_equal(style_train(&a), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "exactly one"));
    p.norm = "batch";
    assert_int_equal(style_train(&p), STYLE_OK);
    a.add_style_to = p.out_path;
    a.style_image_count = 1;
    a.style_names = third;
    assert_int_equal(style_train(&a), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "batch-norm"));
    /* Several styles with batch norm are refused too. */
    o.norm = "batch";
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "instance norm"));

    style_model_free(two);
    free((char *)a.style_image), free((char *)a.data_dir), free((char *)a.loss_net);
    free((char *)a.out_path);
    train_fixture_free_run(&p);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Shards of a batch, made separately from the same generator state, are the batch. */
static void test_batch_shards_are_the_batch(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    assert_int_equal(train_fixture_photos(dir, 2), 0); /* PNG and JPEG photos */
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, test_path(dir, "photos"), NULL, NULL), STYLE_OK);
    const int32_t count = 5, size = 24;
    const size_t item = (size_t)size * size * 3;
    float *whole = malloc(count * item * sizeof(float)),
          *part = malloc(count * item * sizeof(float));
    train_rng rng, after;
    for (int round = 0; round < 3; round++) {
        train_rng_seed(&rng, 40 + round);
        assert_int_equal(train_dataset_batch(&data, &rng, count, size, whole), STYLE_OK);
        after = rng;
        const int32_t shares[3][2] = {{0, 2}, {2, 2}, {4, 1}}; /* 3 processes */
        for (int s = 0; s < 3; s++) {
            train_rng_seed(&rng, 40 + round);
            assert_int_equal(train_dataset_batch_shard(&data, &rng, count, shares[s][0],
                                                       shares[s][1], size,
                                                       part + shares[s][0] * item),
                             STYLE_OK);
            assert_memory_equal(&rng, &after, sizeof rng); /* the same draws, all of them */
        }
        assert_memory_equal(part, whole, count * item * sizeof(float));
    }
    train_rng_seed(&rng, 1);
    assert_int_equal(train_dataset_batch_shard(&data, &rng, count, 4, 2, size, part),
                     STYLE_ERR_INVALID_ARGUMENT);
    free(whole), free(part);
    train_dataset_close(&data);
    test_remove_tree(dir);
    free(dir);
}

/* ---- data-parallel training, with threads standing in for the processes ------------------ */

typedef struct thread_group {
    pthread_barrier_t barrier;
    int ranks;
    float *slots[4];
    void *source;
} thread_group;

typedef struct thread_rank {
    thread_group *group;
    style_train_group api;
    style_train_options options;
    train_run_log log;
    style_status status;
    char error[512];
} thread_rank;

/* Every rank adds the ranks' arrays in rank order, so all hold the same sums (as MPI's do). */
static int thread_allreduce(void *user, float *data, size_t count)
{
    thread_rank *r = user;
    thread_group *g = r->group;
    float *sum = malloc(count * sizeof(float));
    g->slots[r->api.rank] = data;
    pthread_barrier_wait(&g->barrier);
    for (size_t i = 0; i < count; i++) {
        float s = 0;
        for (int k = 0; k < g->ranks; k++)
            s += g->slots[k][i];
        sum[i] = s;
    }
    pthread_barrier_wait(&g->barrier);
    memcpy(data, sum, count * sizeof(float));
    free(sum);
    return 0;
}

static int thread_broadcast(void *user, void *data, size_t bytes)
{
    thread_rank *r = user;
    thread_group *g = r->group;
    if (r->api.rank == 0) g->source = data;
    pthread_barrier_wait(&g->barrier);
    if (r->api.rank != 0) memcpy(data, g->source, bytes);
    pthread_barrier_wait(&g->barrier);
    return 0;
}

static void *thread_train(void *arg)
{
    thread_rank *r = arg;
    r->status = style_train(&r->options);
    snprintf(r->error, sizeof r->error, "%s", style_last_error());
    return NULL;
}

static void test_group_trains_the_single_process_model(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 81);
    train_run_log single_log = {0};
    style_train_options o = train_fixture_small_run(dir, &single_log);
    o.iterations = 4, o.batch_size = 3, o.threads = 1;
    char *single = strdup(o.out_path);
    assert_int_equal(style_train(&o), STYLE_OK);

    /* Two ranks share the batch of 3 unevenly (2 + 1). */
    enum { RANKS = 2 };
    thread_group group = {.ranks = RANKS};
    pthread_barrier_init(&group.barrier, NULL, RANKS);
    thread_rank ranks[RANKS];
    pthread_t threads[RANKS];
    char *grouped = strdup(test_path(dir, "grouped.safetensors"));
    for (int k = 0; k < RANKS; k++) {
        thread_rank *r = &ranks[k];
        memset(r, 0, sizeof *r);
        r->group = &group;
        r->api = (style_train_group){.struct_size = sizeof r->api,
                                     .rank = k,
                                     .ranks = RANKS,
                                     .allreduce_sum = thread_allreduce,
                                     .broadcast = thread_broadcast,
                                     .user = r};
        r->options = o;
        r->options.out_path = grouped;
        r->options.group = &r->api;
        r->options.progress_user = &r->log;
        assert_int_equal(pthread_create(&threads[k], NULL, thread_train, r), 0);
    }
    for (int k = 0; k < RANKS; k++) {
        pthread_join(threads[k], NULL);
        if (ranks[k].status != STYLE_OK) print_error("rank %d: %s\n", k, ranks[k].error);
        assert_int_equal(ranks[k].status, STYLE_OK);
        assert_int_equal(ranks[k].log.calls, 4);
        /* Every rank reports the whole batch's losses. */
        assert_true(fabs(ranks[k].log.first - single_log.first) <= 1e-5 * single_log.first);
    }
    pthread_barrier_destroy(&group.barrier);
    train_model_difference d;
    assert_int_equal(train_fixture_compare_models(single, grouped, &d), 0);
    print_message("  2 ranks vs 1 process: |B - A| / |A - initial| = %.3g\n", d.relative);
    assert_true(d.relative <= 2e-2);

    /* A group without its calls is refused before anything runs. */
    style_train_group broken = {.struct_size = sizeof broken, .rank = 0, .ranks = 2};
    o.group = &broken;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "allreduce_sum"));
    free(single), free(grouped);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    const char *keep = o.style_image;
    o.style_image = test_path(dir, "missing.png");
    assert_int_equal(style_train(&o), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "missing.png"));
    o.style_image = keep;
    const char *data = o.data_dir;
    o.data_dir = test_path(dir, "nothing-here");
    assert_true(style_train(&o) != STYLE_OK);
    assert_non_null(strstr(style_last_error(), "nothing-here"));
    o.data_dir = data;
    const char *net = o.loss_net;
    o.loss_net = keep; /* a PNG is not a feature network */
    assert_true(style_train(&o) != STYLE_OK);
    assert_non_null(strstr(style_last_error(), "style.png"));
    o.loss_net = net;
    o.content_layer = "nope";
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "nope"));
    o.content_layer = NULL;
    const char *out = o.out_path;
    o.out_path = test_path(dir, "no-such-dir/model.safetensors");
    assert_int_equal(style_train(&o), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "no-such-dir"));
    assert_int_equal(log.calls, 0); /* refused before any training */
    o.out_path = out;
    o.crop_size = 30;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* A run killed between creating a checkpoint's temporary and renaming it leaves
 * MODEL.ckpt.tmpXXXXXX behind: the next run removes exactly those, nothing else. */
static void test_stale_checkpoint_temporaries_removed(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 83);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 2;
    o.checkpoint_every = 0;
    const char *stale = "model.safetensors.ckpt.tmpAb12Z9";
    const char *kept[] = {"model.safetensors.ckpt.tmp1234567", "model.safetensors.tmpAb12Z9",
                          "other.ckpt.tmpAb12Z9"};
    assert_int_equal(test_write_file(test_path(dir, stale), "partial", 7), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(test_write_file(test_path(dir, kept[i]), "keep", 4), 0);
    assert_int_equal(style_train(&o), STYLE_OK);
    assert_int_equal(access(test_path(dir, stale), F_OK), -1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(access(test_path(dir, kept[i]), F_OK), 0);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Every allocation of a small training run failing in turn (setup, data, loss network,
 * iterations, checkpoints, the final model): STYLE_ERR_NOMEM each time, no leak (the ASan
 * build), no crash, no model file and no temporary left behind; then the run succeeds. */
static void test_allocation_failures(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 81);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.widths[0] = 4, o.widths[1] = 4, o.widths[2] = 4;
    o.crop_size = 16;
    o.iterations = 2;
    o.checkpoint_every = 1;
    o.threads = 1;
    o.progress = NULL;
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);
    long n;
    for (n = 1; n < 20000; n++) {
        style__alloc_fail_after(n);
        style_status status = style_train(&o);
        bool injected = !style__alloc_fail_pending();
        style__alloc_fail_after(0);
        if (status == STYLE_OK && !injected) break;
        if (status != STYLE_ERR_NOMEM) { /* (STYLE_OK here: a failed allocation swallowed) */
            print_error("allocation %ld: status %d (%s): %s\n", n, status,
                        style_status_string(status), style_last_error());
            fail();
        }
        assert_int_equal(access(o.out_path, F_OK), -1);
        assert_int_equal(test_count_temporaries(dir), 0);
        remove(ckpt);
    }
    print_message("  style_train: %ld allocations, each failing in turn\n", n - 1);
    assert_true(n > 20 && n < 20000);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    style_model_free(model);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* The disk fills up while the second checkpoint is written: the run stops with STYLE_ERR_IO
 * naming the checkpoint, no temporary is left, and the first checkpoint is intact and
 * resumes to the end. */
static void test_checkpoint_on_full_disk(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 82);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 6;
    o.checkpoint_every = 2;
    style__write_fail_after(2); /* the checkpoint of iteration 2 is the first write */
    style_status status = style_train(&o);
    style__write_fail_after(0);
    assert_int_equal(status, STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), ".ckpt"));
    assert_int_equal(test_count_temporaries(dir), 0);
    assert_int_equal(access(o.out_path, F_OK), -1);
    assert_int_equal(log.calls, 4);
    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out_path);
    style_train_options r = {0};
    r.struct_size = sizeof r;
    r.resume_path = ckpt;
    r.out_path = o.out_path;
    r.threads = 2;
    train_run_log rest = {0};
    r.progress = train_fixture_record;
    r.progress_user = &rest;
    status = style_train(&r);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(rest.calls, 4); /* iterations 3..6: resumed from the checkpoint of 2 */
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Issue 23 item 2: a model the loader refuses is never written (it is loaded back from memory
 * first), and several style images with one default name are refused before training. */
static void test_unloadable_model_never_written(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    const char *path = test_path(dir, "bad.safetensors");
    st_file file = {0};
    /* A johnson model without a single tensor: the loader refuses it. */
    assert_int_equal(st_file_add_metadata(&file, "libstyle.format_version", "1"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(&file, "libstyle.arch", "johnson"), STYLE_OK);
    assert_int_not_equal(train_write_model(path, &file), STYLE_OK);
    assert_int_equal(access(path, F_OK), -1);
    st_file_clear(&file);

    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    assert_int_equal(mkdir(test_path(dir, "a"), 0777), 0);
    assert_int_equal(mkdir(test_path(dir, "b"), 0777), 0);
    char first[4200], second[4200];
    snprintf(first, sizeof first, "%s", test_path(dir, "a/painting.png"));
    snprintf(second, sizeof second, "%s", test_path(dir, "b/painting.png"));
    make_second_style(first);
    make_second_style(second);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    const char *images[] = {first, second};
    o.style_images = images;
    o.style_image_count = 2;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "both named 'painting'"));
    assert_int_equal(log.calls, 0); /* refused before the first iteration */
    assert_int_equal(access(o.out_path, F_OK), -1);
    /* Named apart, the same run trains a model that loads. */
    const char *names[] = {NULL, "painting-b"};
    o.style_names = names;
    o.iterations = 2;
    assert_int_equal(style_train(&o), STYLE_OK);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    assert_string_equal(style_model_style_name(model, 1), "painting-b");
    style_model_free(model);
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

/* Issue 23 item 4: a negative content or style weight turns the term off (0 is the default);
 * all terms off is refused. */
static void test_zero_weights_turn_terms_off(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    make_data(dir);
    test_write_feature_net(test_path(dir, "net.safetensors"), 80);
    train_run_log log = {0};
    style_train_options o = train_fixture_small_run(dir, &log);
    o.iterations = 2;
    o.content_weight = -1;
    assert_int_equal(style_train(&o), STYLE_OK);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    const char *training = style_model_metadata_get(model, "libstyle.training");
    assert_non_null(strstr(training, "\"content_weight\":0.0,\"style_weight\":2.0"));
    style_model_free(model);
    o.content_weight = 0;
    o.style_weight = -1;
    assert_int_equal(style_train(&o), STYLE_OK);
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    training = style_model_metadata_get(model, "libstyle.training");
    assert_non_null(strstr(training, "\"content_weight\":1.0,\"style_weight\":0.0"));
    style_model_free(model);
    o.content_weight = -1;
    o.tv_weight = -1;
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "every loss term is off"));
    train_fixture_free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_inference),
        cmocka_unit_test(test_network_gradients),
        cmocka_unit_test(test_feature_net_spec),
        cmocka_unit_test(test_vgg16_recognised),
        cmocka_unit_test(test_training_lowers_loss),
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_export_walks_the_table),
        cmocka_unit_test(test_quality_terms),
        cmocka_unit_test(test_warm_start_and_shift),
        cmocka_unit_test(test_warm_start_widens),
        cmocka_unit_test(test_cancel_inside_iteration),
        cmocka_unit_test(test_damaged_checkpoint_refused),
        cmocka_unit_test(test_several_styles),
        cmocka_unit_test(test_unloadable_model_never_written),
        cmocka_unit_test(test_zero_weights_turn_terms_off),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_stale_checkpoint_temporaries_removed),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_checkpoint_on_full_disk),
        cmocka_unit_test(test_batch_shards_are_the_batch),
        cmocka_unit_test(test_group_trains_the_single_process_model),
    };
    return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
}
