/*
 * The training benchmark (style_train_bench): the trainer's step (transform network, loss
 * network, content / style / TV losses, Adam) on synthetic photos and a synthetic style, each
 * part timed per iteration, with the step's executed multiply-adds. It builds the same layers
 * as style_train (train_net, feature_run) and runs them in the same order; only the data
 * differs (made in memory, so the numbers do not depend on image decoding or a disk).
 */
#include "features/feature_net.h"
#include "libstyle_train.h"
#include "train/optim.h"
#include "core/clock.h"
#include "train/train_checkpoint.h"
#include "train/train_loop.h"
#include "train/train_losses.h"

#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BENCH_MAX_STYLE_LAYERS 16

typedef struct bench_state {
    dnn_context *dnn; /* oneDNN engine + stream */
    feature_net *loss_net;
    train_params params;
    float *adam_m, *adam_v;
    train_net net;
    train_net_timing timing;
    feature_run run;
    int32_t content_layer, style_layer[BENCH_MAX_STYLE_LAYERS], style_count;
    float *style_gram[BENCH_MAX_STYLE_LAYERS];
    double style_norm2[BENCH_MAX_STYLE_LAYERS];
    float *content_target, *gram_scratch, *delta_scratch;
    uint64_t rng;
} bench_state;

static double uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* n synthetic photos (0..255, NHWC): smooth colour gradients at a random phase, edges and
 * noise, different every call (like a data loader's random crops). */
static void synthetic_photos(uint64_t *rng, int32_t n, int32_t size, float *out)
{
    for (int32_t b = 0; b < n; b++) {
        double phase[3], freq = 2.0 + 6.0 * uniform(rng);
        for (int c = 0; c < 3; c++)
            phase[c] = 6.283 * uniform(rng);
        const int32_t edge = 8 + (int32_t)(uniform(rng) * 32);
        uint32_t noise = (uint32_t)(uniform(rng) * 4294967295.0);
        for (int32_t y = 0; y < size; y++)
            for (int32_t x = 0; x < size; x++)
                for (int c = 0; c < 3; c++) {
                    noise = noise * 1664525u + 1013904223u;
                    double v = 128 + 80 * sin(freq * (x + (c + 1) * y) / size + phase[c]) +
                               30 * (((x / edge) ^ (y / edge)) & 1) + (double)(noise >> 28) - 8;
                    out[(((size_t)b * size + y) * size + x) * 3 + c] = (float)(v < 0     ? 0
                                                                               : v > 255 ? 255
                                                                                         : v);
                }
    }
}

/* torchvision VGG-16's convolutions (features.N) with PyTorch's default initialisation. */
static style_status random_vgg16(uint64_t seed, feature_net **out)
{
    static const int index[13] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
    static const int width[13] = {64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512};
    style_status status = STYLE_OK;
    st_file file = {0};
    float *w = NULL, *b = NULL;
    uint64_t state = seed;
    int in = 3;
    for (int i = 0; i < 13; i++) {
        const int o = width[i];
        const size_t count = (size_t)o * in * 9;
        w = style__malloc(count * sizeof(float));
        b = style__malloc((size_t)o * sizeof(float));
        FAIL_IF(!w || !b, STYLE_ERR_NOMEM, "train bench: out of memory");
        const double bound = 1.0 / sqrt(in * 9.0);
        for (size_t j = 0; j < count; j++)
            w[j] = (float)((2 * uniform(&state) - 1) * bound);
        for (int j = 0; j < o; j++)
            b[j] = (float)((2 * uniform(&state) - 1) * bound);
        char name[48];
        int64_t wshape[4] = {o, in, 3, 3}, bshape[1] = {o};
        snprintf(name, sizeof name, "features.%d.weight", index[i]);
        TRY(st_file_add_tensor(&file, name, 4, wshape, w));
        snprintf(name, sizeof name, "features.%d.bias", index[i]);
        TRY(st_file_add_tensor(&file, name, 1, bshape, b));
        style__free(w), style__free(b);
        w = b = NULL;
        in = o;
    }
    return feature_net_from_file(&file, "vgg16-random", out);
fail:
    style__free(w);
    style__free(b);
    st_file_clear(&file);
    return status;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int32_t n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_destroy(bench_state *b)
{
    feature_run_destroy(&b->run);
    train_net_destroy(&b->net);
    train_params_destroy(&b->params);
    style__aligned_free(b->adam_m);
    style__aligned_free(b->adam_v);
    for (int32_t i = 0; i < BENCH_MAX_STYLE_LAYERS; i++)
        style__aligned_free(b->style_gram[i]);
    style__aligned_free(b->content_target);
    style__aligned_free(b->gram_scratch);
    style__aligned_free(b->delta_scratch);
    feature_net_free(b->loss_net);
    dnn_context_free(b->dnn);
}

/* The loss network's recommended taps; the deepest of them is the last layer run. */
static style_status resolve_taps(bench_state *b, int32_t *last)
{
    const feature_net *net = b->loss_net;
    b->content_layer = feature_net_tap(net, net->content_taps[0]);
    *last = b->content_layer;
    for (int32_t i = 0; i < net->style_count && i < BENCH_MAX_STYLE_LAYERS; i++) {
        int32_t l = feature_net_tap(net, net->style_taps[i]);
        if (l < 0) continue;
        b->style_layer[b->style_count++] = l;
        if (l > *last) *last = l;
    }
    if (b->content_layer < 0 || b->style_count == 0)
        return style__fail(STYLE_ERR_FORMAT, "train bench: loss network %s has no loss taps",
                           net->name);
    return STYLE_OK;
}

/* Gram targets of one synthetic style image of size x size. */
static style_status style_targets(bench_state *b, int32_t size, int32_t last)
{
    style_status status = STYLE_OK;
    feature_run run = {0};
    float *image = style__aligned_alloc((size_t)size * size * 3 * sizeof(float));
    FAIL_IF(!image, STYLE_ERR_NOMEM, "train bench: out of memory");
    synthetic_photos(&b->rng, 1, size, image);
    TRY(feature_run_create_forward(&run, b->loss_net, b->dnn, 1, size, size, last, false));
    TRY(feature_run_forward(&run, b->dnn, image));
    for (int32_t i = 0; i < b->style_count; i++) {
        int32_t l = b->style_layer[i], c = run.out_c[l];
        b->style_gram[i] = style__aligned_alloc((size_t)c * c * sizeof(float));
        FAIL_IF(!b->style_gram[i], STYLE_ERR_NOMEM, "train bench: out of memory");
        gram_matrix(feature_run_output(&run, l), run.out_h[l] * run.out_w[l], c, b->style_gram[i]);
        b->style_norm2[i] = gram_norm2(b->style_gram[i], c);
    }
fail:
    feature_run_destroy(&run);
    style__aligned_free(image);
    return status;
}

static double cpu_seconds(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + (double)r.ru_stime.tv_sec +
           r.ru_stime.tv_usec * 1e-6;
}

/* Seconds of each part of one iteration. */
typedef struct step_times {
    double cpu, total, data, loss_net, losses, optimizer, forward, backward;
    double forward_part[TRAIN_PARTS], backward_part[TRAIN_PARTS];
} step_times;

/* The median of one field (at byte `offset`) of n step_times; leaves them sorted in column. */
static double median_of(const step_times *times, int32_t n, size_t offset, double *column)
{
    for (int32_t i = 0; i < n; i++)
        memcpy(&column[i], (const char *)&times[i] + offset, sizeof(double));
    return median(column, n);
}

/* One training step, as train.c's train_step (one style, no shift jitter, no colour loss). */
static style_status bench_step(bench_state *b, int32_t n, int32_t size, step_times *times)
{
    style_status status = STYLE_OK;
    feature_run *run = &b->run;
    memset(&b->timing, 0, sizeof b->timing);
    const double cpu0 = cpu_seconds();
    double t0 = style__clock_seconds();
    synthetic_photos(&b->rng, n, size, b->net.input);
    double t1 = style__clock_seconds();
    const int32_t cl = b->content_layer;
    const size_t content_count = (size_t)run->out_h[cl] * run->out_w[cl] * run->out_c[cl];
    TRY(feature_run_forward(run, b->dnn, b->net.input));
    memcpy(b->content_target, feature_run_output(run, cl), n * content_count * sizeof(float));
    const float *output;
    TRY(train_net_forward(&b->net, b->dnn, true, &output));
    double t2 = style__clock_seconds();
    TRY(feature_run_forward(run, b->dnn, output));
    double t3 = style__clock_seconds();
    const double per_image = 1.0 / n, content_weight = 1.0, style_weight = 2.0, tv_weight = 50;
    double loss = 0;
    for (int32_t i = 0; i < n; i++) {
        loss += content_loss(feature_run_output(run, cl) + i * content_count,
                             b->content_target + i * content_count, content_count,
                             content_weight * per_image,
                             feature_run_tap_grad(run, cl) + i * content_count);
        for (int32_t j = 0; j < b->style_count; j++) {
            int32_t l = b->style_layer[j], hw = run->out_h[l] * run->out_w[l], c = run->out_c[l];
            size_t image = (size_t)hw * c;
            loss += style_loss(feature_run_output(run, l) + i * image, hw, c, b->style_gram[j],
                               b->style_norm2[j], style_weight * per_image, b->gram_scratch,
                               b->delta_scratch, feature_run_tap_grad(run, l) + i * image);
        }
    }
    double t4 = style__clock_seconds();
    const float *diff_rgb;
    TRY(feature_run_backward(run, b->dnn, &diff_rgb));
    double t5 = style__clock_seconds();
    float *diff_out = train_net_diff_output(&b->net);
    const size_t image = (size_t)size * size * 3;
    memcpy(diff_out, diff_rgb, n * image * sizeof(float));
    for (int32_t i = 0; i < n; i++)
        loss +=
            tv_loss(output + i * image, size, size, tv_weight * per_image, diff_out + i * image);
    double t6 = style__clock_seconds();
    TRY(train_net_backward(&b->net, b->dnn));
    double t7 = style__clock_seconds();
    train_adam_update(&b->params, b->adam_m, b->adam_v, 1e-3, 1, -1);
    double t8 = style__clock_seconds();
    FAIL_IF(!isfinite(loss), STYLE_ERR_INTERNAL, "train bench: the loss became %g", loss);
    times->total = t8 - t0;
    times->cpu = cpu_seconds() - cpu0;
    times->data = t1 - t0;
    times->forward = b->timing.forward;
    /* Before t2: the loss network on the photos and the transform network's forward pass. */
    times->loss_net = (t2 - t1 - b->timing.forward) + (t3 - t2) + (t5 - t4);
    times->losses = (t4 - t3) + (t6 - t5);
    times->backward = t7 - t6;
    times->optimizer = t8 - t7;
    for (int i = 0; i < TRAIN_PARTS; i++) {
        times->forward_part[i] = b->timing.forward_part[i];
        times->backward_part[i] = b->timing.backward_part[i];
    }
    return STYLE_OK;
fail:
    return status;
}

/* 2 x multiply-adds of the loss network per step: forward twice (photos, outputs), backward
 * to the input once (no weight gradients: frozen). */
static double loss_net_flops(const feature_run *run)
{
    double total = 0;
    for (int32_t i = 0; i <= run->last; i++) {
        if (run->net->layers[i].op != FNET_CONV) continue;
        double forward, backward;
        tconv_count_macs(&run->convs[i], &forward, &backward);
        total += 2 * forward + backward;
    }
    return 2 * total;
}

style_status style_train_bench(const style_train_bench_options *options,
                               style_train_bench_result *out)
{
    style_status status = STYLE_OK;
    bench_state b = {0};
    step_times *times = NULL;
    double *column = NULL;
    const int previous_threads = omp_get_max_threads();
    /* Structs of an older header end before `precision`: accepted, the field left out. */
    const size_t first_options = offsetof(style_train_bench_options, precision);
    const size_t first_result = offsetof(style_train_bench_result, precision);
    if (!options || options->struct_size < first_options ||
        options->struct_size > sizeof *options || !out || out->struct_size < first_result ||
        out->struct_size > sizeof *out)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train bench: options or result missing, or of another version");
    const char *precision = options->struct_size >= first_options + sizeof options->precision
                                ? options->precision
                                : NULL;
    /* Filled here, copied to the caller's struct as far as its struct_size goes. */
    style_train_bench_result whole = {.struct_size = sizeof whole}, *result = &whole;
    const int32_t size = options->crop_size ? options->crop_size : 256;
    const int32_t n = options->batch_size ? options->batch_size : 4;
    const int32_t iterations = options->iterations ? options->iterations : 10;
    const int32_t warmup = options->warmup == 0 ? 2 : options->warmup < 0 ? 0 : options->warmup;
    train_net_config config = {.widths = {32, 64, 128}, .residual_blocks = 5};
    if (options->widths[0] || options->widths[1] || options->widths[2])
        memcpy(config.widths, options->widths, sizeof config.widths);
    if (options->residual_blocks) config.residual_blocks = options->residual_blocks;
    if (size < 16 || size > 4096 || size % 4 || n < 1 || n > 256 || iterations < 1 ||
        iterations > 100000 || warmup > 1000 || options->threads < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train bench: crop 16..4096 (a multiple of 4), batch 1..256, "
                           "iterations 1..100000, warm-up up to 1000, threads >= 0");
    bool bf16 = false;
    TRY(train_precision_resolve("train bench", precision, &bf16));
    result->precision = bf16 ? STYLE_PRECISION_BF16 : STYLE_PRECISION_FP32;
    if (options->threads > 0) omp_set_num_threads(options->threads);
    b.rng = 0x7e57be9c4ull;
    TRY(dnn_context_create(&b.dnn, "train bench"));
    if (options->loss_net)
        TRY(feature_net_load(options->loss_net, &b.loss_net));
    else
        TRY(random_vgg16(b.rng, &b.loss_net));
    int32_t last = 0;
    TRY(resolve_taps(&b, &last));
    TRY(style_targets(&b, size, last));
    TRY(train_params_create(&b.params, &config));
    train_params_init(&b.params, 1);
    const size_t bytes = b.params.total * sizeof(float);
    b.adam_m = style__aligned_alloc(bytes);
    b.adam_v = style__aligned_alloc(bytes);
    FAIL_IF(!b.adam_m || !b.adam_v, STYLE_ERR_NOMEM, "train bench: out of memory");
    memset(b.adam_m, 0, bytes);
    memset(b.adam_v, 0, bytes);
    TRY(train_net_create(&b.net, &b.params, b.dnn, n, size, bf16));
    b.net.timing = &b.timing;
    TRY(feature_run_create(&b.run, b.loss_net, b.dnn, n, size, size, last, true, bf16));
    const feature_run *run = &b.run;
    int32_t max_c = 1;
    for (int32_t i = 0; i < b.style_count; i++)
        if (run->out_c[b.style_layer[i]] > max_c) max_c = run->out_c[b.style_layer[i]];
    const int32_t cl = b.content_layer;
    b.content_target = style__aligned_alloc((size_t)n * run->out_h[cl] * run->out_w[cl] *
                                            run->out_c[cl] * sizeof(float));
    b.gram_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    b.delta_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    times = style__calloc((size_t)iterations, sizeof *times);
    column = style__calloc((size_t)iterations, sizeof *column);
    FAIL_IF(!b.content_target || !b.gram_scratch || !b.delta_scratch || !times || !column,
            STYLE_ERR_NOMEM, "train bench: out of memory");

    step_times ignored;
    for (int32_t i = 0; i < warmup; i++)
        TRY(bench_step(&b, n, size, &ignored));
    const double cpu0 = cpu_seconds(), wall0 = style__clock_seconds();
    for (int32_t i = 0; i < iterations; i++)
        TRY(bench_step(&b, n, size, &times[i]));
    const double wall = style__clock_seconds() - wall0, cpu = cpu_seconds() - cpu0;

    result->iterations = iterations;
    result->threads = omp_get_max_threads();
    result->cpu_share = wall > 0 ? cpu / (wall * result->threads) : 0;
    result->seconds = median_of(times, iterations, offsetof(step_times, total), column);
    result->min_seconds = column[0]; /* sorted by median() */
    result->cpu_seconds = median_of(times, iterations, offsetof(step_times, cpu), column);
    result->transform_forward = median_of(times, iterations, offsetof(step_times, forward), column);
    result->transform_backward =
        median_of(times, iterations, offsetof(step_times, backward), column);
    result->loss_network = median_of(times, iterations, offsetof(step_times, loss_net), column);
    result->losses = median_of(times, iterations, offsetof(step_times, losses), column);
    result->optimizer = median_of(times, iterations, offsetof(step_times, optimizer), column);
    result->data = median_of(times, iterations, offsetof(step_times, data), column);
    for (int p = 0; p < TRAIN_PARTS && p < STYLE_TRAIN_BENCH_PARTS; p++) {
        result->transform_part_forward[p] = median_of(
            times, iterations, offsetof(step_times, forward_part) + p * sizeof(double), column);
        result->transform_part_backward[p] = median_of(
            times, iterations, offsetof(step_times, backward_part) + p * sizeof(double), column);
    }
    double executed, nominal;
    train_net_count_macs(&b.net, &executed, &nominal);
    result->transform_flops = 2 * executed;
    result->loss_network_flops = loss_net_flops(run);
    result->flops = result->transform_flops + result->loss_network_flops;
    result->nominal_flops = 2 * nominal + result->loss_network_flops;
    snprintf(result->loss_net_name, sizeof result->loss_net_name, "%s%s", b.loss_net->name,
             options->loss_net ? "" : "-random");
    memcpy((char *)out + sizeof out->struct_size, (const char *)result + sizeof out->struct_size,
           out->struct_size - sizeof out->struct_size);
fail:
    style__free(times);
    style__free(column);
    bench_destroy(&b);
    omp_set_num_threads(previous_threads);
    return status;
}
