/*
 * The training loop (style_train): Johnson et al.'s perceptual-loss training of the transform
 * network against a frozen feature network, with Adam, periodic atomic checkpoints and exact
 * resumption.
 */
#include "features/feature_net.h"
#include "train/optim.h"
#include "core/clock.h"
#include "train/train_checkpoint.h"
#include "train/train_provenance.h"
#include "train/train_add_style.h"
#include "train/train_warm_start.h"
#include "train/train_data_list.h"
#include "train/train_group.h"
#include "train/train_losses.h"
#include "train/train_loop.h"
#include "train/train_loss_window.h"
#include "train/train_temporal.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STYLE_LAYERS 16
/* The grid loss's period: the transform network's stride (two stride-2 convolutions down,
 * two 2x upsamplings up), the period of the weave it can lock to its grid. */
#define TRAIN_GRID_PERIOD 4
/* The temporal loss's motion: a translation of up to this many pixels in each direction
 * between the two crops of a pair, about a pan's motion between two frames (and more than the
 * grid's period, so every phase of it is seen). */
#define TRAIN_TEMPORAL_MAX_SHIFT 4.0

typedef struct trainer {
    const style_train_options *options;
    train_settings settings;
    feature_net *loss_net;
    int32_t content_layer;
    int32_t style_layer[MAX_STYLE_LAYERS];
    int32_t style_count; /* style layers */
    /* Per style image (settings.style_count): the Gram targets at every style layer. */
    float *style_gram[TRAIN_MAX_STYLES][MAX_STYLE_LAYERS];
    double style_norm2[TRAIN_MAX_STYLES][MAX_STYLE_LAYERS];
    /* Per style image: its colour mean and covariance (the colour loss's target). */
    double style_color_mean[TRAIN_MAX_STYLES][3], style_color_cov[TRAIN_MAX_STYLES][9];
    train_dataset data;
    train_params params;
    float *adam_m, *adam_v;
    train_state state;
    train_loop loop; /* threads, engine and stream, loss log, reporting (train_loop.h) */
    train_net net;
    feature_run loss_run;
    float *content_target;
    float *gram_scratch, *delta_scratch;
    /* Shift jitter: the loss network's window of this process's crops (the photos' and the
     * outputs' at the same offsets). */
    train_loss_window window;
    /* Temporal pairs: the motion of crop b + 1 against crop b, for even b (this shard's). */
    double pair_dy[256], pair_dx[256];
    train_group group;      /* data-parallel processes (alone: one rank of one) */
    style_cancel_fn cancel; /* options->cancel when struct_size covers it and alone; or NULL */
    void *cancel_user;
    double time_data, time_loss_net, time_losses, time_optimizer, time_communication;
    train_net_timing net_timing; /* the transform network's forward and backward seconds */
} trainer;

static style_status copy_path(char *dst, const char *src, const char *what)
{
    if (!src || !*src) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: no %s given", what);
    if (strlen(src) >= TRAIN_PATH_MAX)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: %s path too long", what);
    strcpy(dst, src);
    return STYLE_OK;
}

/* A style's name: the one given, else the image's file name without its extension. */
static style_status name_style(char *out, const char *given, const char *image_path)
{
    char name[TRAIN_STYLE_NAME_MAX];
    if (given) {
        if (!*given || strlen(given) >= TRAIN_STYLE_NAME_MAX)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "train: style names must have 1..%d characters",
                               TRAIN_STYLE_NAME_MAX - 1);
        snprintf(out, TRAIN_STYLE_NAME_MAX, "%s", given);
        return STYLE_OK;
    }
    snprintf(name, sizeof name, "%s", style__basename(image_path));
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    snprintf(out, TRAIN_STYLE_NAME_MAX, "%s", name);
    return STYLE_OK;
}

/* Options -> settings with defaults; on resume the checkpoint's settings win. */
static style_status settings_from_options(trainer *t)
{
    style_status status = STYLE_OK;
    const style_train_options *o = t->options;
    train_settings *s = &t->settings;
    /* Several style images (and their names) only exist in newer option structs. */
    const bool has_styles =
        o->struct_size >= offsetof(style_train_options, add_style_to) + sizeof o->add_style_to;
    const char *const *images = has_styles && o->style_image_count ? o->style_images : NULL;
    const size_t image_count = images ? o->style_image_count : o->style_image ? 1 : 0;
    FAIL_IF(image_count > TRAIN_MAX_STYLES, STYLE_ERR_INVALID_ARGUMENT,
            "train: %zu style images; at most %d are supported", image_count, TRAIN_MAX_STYLES);
    const char *precision =
        o->struct_size >= offsetof(style_train_options, precision) + sizeof o->precision
            ? o->precision
            : NULL;
    if (o->resume_path) {
        TRY(train_checkpoint_load_settings(o->resume_path, s));
        if (o->iterations > 0) s->iterations = o->iterations;
        /* The checkpoint's precision, unless one is asked for (the weights are f32 in both). */
        if (precision) TRY(train_precision_resolve("train", precision, &s->bf16));
        FAIL_IF(s->bf16 && !style_precision_supported(STYLE_PRECISION_BF16), STYLE_ERR_UNSUPPORTED,
                "train: %s trains in bf16, which this processor does not run natively; "
                "resume it with precision fp32",
                o->resume_path);
        /* Inputs may have moved: an explicit path replaces the recorded one. */
        FAIL_IF(image_count && image_count != (size_t)s->style_count, STYLE_ERR_INVALID_ARGUMENT,
                "train: the checkpoint trains %d style images, %zu given", (int)s->style_count,
                image_count);
        for (size_t i = 0; i < image_count; i++)
            TRY(copy_path(s->style_images[i], images ? images[i] : o->style_image, "style image"));
        if (o->data_dir) TRY(copy_path(s->data_dir, o->data_dir, "data directory"));
        if (o->loss_net) TRY(copy_path(s->loss_net, o->loss_net, "loss network"));
        return STYLE_OK;
    }
    FAIL_IF(!image_count, STYLE_ERR_INVALID_ARGUMENT, "train: no style image given");
    s->style_count = (int32_t)image_count;
    for (size_t i = 0; i < image_count; i++) {
        TRY(copy_path(s->style_images[i], images ? images[i] : o->style_image, "style image"));
        const char *name =
            has_styles && o->style_names && o->style_names[i] ? o->style_names[i] : NULL;
        TRY(name_style(s->style_names[i], name, s->style_images[i]));
    }
    if (has_styles && o->add_style_to)
        TRY(copy_path(s->add_style_to, o->add_style_to, "model to add a style to"));
    const bool has_quality =
        o->struct_size >= offsetof(style_train_options, color_weight) + sizeof o->color_weight;
    if (has_quality) {
        FAIL_IF(o->loss_pooling && strcmp(o->loss_pooling, "max") != 0 &&
                    strcmp(o->loss_pooling, "avg") != 0,
                STYLE_ERR_INVALID_ARGUMENT, "train: loss pooling must be 'max' or 'avg', not '%s'",
                o->loss_pooling);
        s->average_pooling = o->loss_pooling && strcmp(o->loss_pooling, "avg") == 0;
        s->color_weight = o->color_weight;
    }
    const bool has_warm_start =
        o->struct_size >= offsetof(style_train_options, init_model) + sizeof o->init_model;
    if (o->struct_size >= offsetof(style_train_options, max_short_side) + sizeof o->max_short_side)
        s->max_short_side = o->max_short_side;
    if (o->struct_size >= offsetof(style_train_options, grid_weight) + sizeof o->grid_weight)
        s->grid_weight = o->grid_weight;
    if (o->struct_size >=
        offsetof(style_train_options, temporal_weight) + sizeof o->temporal_weight)
        s->temporal_weight = o->temporal_weight;
    if (has_warm_start) {
        s->loss_shift = o->loss_shift;
        if (o->init_model) {
            FAIL_IF(image_count != 1 || (has_styles && o->add_style_to), STYLE_ERR_INVALID_ARGUMENT,
                    "train: a warm start (init_model) trains one style image from a "
                    "single-style model, not several styles or an added style");
            TRY(copy_path(s->init_model, o->init_model, "model to start from"));
        }
    }
    /* Several styles: one conditional-instance-norm network (johnson-cin). */
    s->net.styles = image_count > 1 ? (int32_t)image_count : 0;
    TRY(copy_path(s->data_dir, o->data_dir, "data directory"));
    TRY(copy_path(s->loss_net, o->loss_net, "loss network"));
    const int32_t default_widths[3] = {32, 64, 128};
    for (int i = 0; i < 3; i++)
        s->net.widths[i] = o->widths[i] > 0 ? o->widths[i] : default_widths[i];
    s->widths_given = o->widths[0] > 0;
    s->net.residual_blocks = o->residual_blocks > 0 ? o->residual_blocks : 5;
    FAIL_IF(o->norm && strcmp(o->norm, "instance") != 0 && strcmp(o->norm, "batch") != 0,
            STYLE_ERR_INVALID_ARGUMENT, "train: norm must be 'instance' or 'batch', not '%s'",
            o->norm);
    s->net.batch_norm = o->norm && strcmp(o->norm, "batch") == 0;
    s->crop_size = o->crop_size > 0 ? o->crop_size : 256;
    s->style_size = o->style_size > 0 ? o->style_size : s->crop_size;
    s->batch_size = o->batch_size > 0 ? o->batch_size : 4;
    s->iterations = o->iterations > 0 ? o->iterations : 2000;
    s->learning_rate = o->learning_rate > 0 ? o->learning_rate : 1e-3;
    FAIL_IF(o->lr_schedule && strcmp(o->lr_schedule, "cosine") != 0 &&
                strcmp(o->lr_schedule, "constant") != 0,
            STYLE_ERR_INVALID_ARGUMENT, "train: lr schedule must be 'cosine' or 'constant'");
    s->cosine = !o->lr_schedule || strcmp(o->lr_schedule, "cosine") == 0;
    /* 0 (a zeroed struct): the default; negative: the term is off, as for tv_weight. */
    s->content_weight = o->content_weight > 0   ? o->content_weight
                        : o->content_weight < 0 ? 0.0
                                                : 1.0;
    s->style_weight = o->style_weight > 0 ? o->style_weight : o->style_weight < 0 ? 0.0 : 2.0;
    s->tv_weight = o->tv_weight > 0 ? o->tv_weight : o->tv_weight < 0 ? 0.0 : 50.0;
    snprintf(s->content_layer, sizeof s->content_layer, "%s",
             o->content_layer ? o->content_layer : "");
    snprintf(s->style_layers, sizeof s->style_layers, "%s", o->style_layers ? o->style_layers : "");
    s->seed = o->seed;
    s->checkpoint_every = o->checkpoint_every > 0 ? o->checkpoint_every : 100;
    TRY(train_precision_resolve("train", precision, &s->bf16));
    return STYLE_OK;
fail:
    return status;
}

/* The ranges every run must be in, whether the settings came from options or from a
 * checkpoint (which may be damaged or hostile: a batch of 2^31 must not reach an allocator). */
static style_status check_settings(const train_settings *s)
{
    for (int i = 0; i < 3; i++)
        if (s->net.widths[i] < 1 || s->net.widths[i] > 1024)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: bad width %d (1..1024)",
                               s->net.widths[i]);
    if (s->net.residual_blocks < 0 || s->net.residual_blocks > TRAIN_MAX_BLOCKS)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: residual blocks must be 0..%d",
                           TRAIN_MAX_BLOCKS);
    if (s->crop_size % 4 || s->crop_size < 16 || s->crop_size > 4096)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: crop size %d is not a multiple of 4 in 16..4096", s->crop_size);
    if (s->style_size < 16 || s->style_size > 8192)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: style size %d is not in 16..8192",
                           s->style_size);
    if (s->batch_size < 1 || s->batch_size > 256)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: batch size %d is not in 1..256",
                           s->batch_size);
    if (s->iterations < 1 || s->checkpoint_every < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: iterations and checkpoint interval must be at least 1");
    if (!(isfinite(s->learning_rate) && s->learning_rate > 0) ||
        !(isfinite(s->content_weight) && s->content_weight >= 0) ||
        !(isfinite(s->style_weight) && s->style_weight >= 0) ||
        !(isfinite(s->tv_weight) && s->tv_weight >= 0) ||
        !(isfinite(s->color_weight) && s->color_weight >= 0) ||
        !(isfinite(s->grid_weight) && s->grid_weight >= 0) ||
        !(isfinite(s->temporal_weight) && s->temporal_weight >= 0))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: the learning rate must be finite and positive, the loss "
                           "weights finite and not negative");
    style_status quality =
        train_check_quality("train", s->crop_size, s->loss_shift, s->max_short_side);
    if (quality != STYLE_OK) return quality;
    if (s->temporal_weight > 0 && s->batch_size < 2)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: the temporal loss compares pairs of crops: a batch of at "
                           "least 2 is needed, not %d",
                           (int)s->batch_size);
    if (s->content_weight == 0 && s->style_weight == 0 && s->tv_weight == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: every loss term is off (content, style and TV weights 0); "
                           "nothing to train for");
    /* The loader refuses a model whose styles share a name: refuse before training instead. */
    for (int32_t i = 0; i < s->style_count && i < TRAIN_MAX_STYLES; i++)
        for (int32_t k = 0; k < i; k++)
            if (strcmp(s->style_names[i], s->style_names[k]) == 0)
                return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                                   "train: style images %d (%s) and %d (%s) are both named '%s'; "
                                   "name them apart with --style-name",
                                   (int)k + 1, s->style_images[k], (int)i + 1, s->style_images[i],
                                   s->style_names[i]);
    return STYLE_OK;
}

static style_status resolve_settings(trainer *t)
{
    style_status status = settings_from_options(t);
    if (status != STYLE_OK) return status;
    status = check_settings(&t->settings);
    if (status != STYLE_OK && t->options->resume_path)
        status = train_checkpoint_error(t->options->resume_path, status);
    return status;
}

/* Loss layers: explicit names, or the network's recommendation (recorded in the settings). */
static style_status resolve_layers(trainer *t)
{
    train_settings *s = &t->settings;
    feature_net *net = t->loss_net;
    if (!s->content_layer[0])
        snprintf(s->content_layer, sizeof s->content_layer, "%s", net->content_taps[0]);
    if (!s->style_layers[0])
        feature_net_style_tap_list(net, s->style_layers, sizeof s->style_layers);
    t->content_layer = feature_net_tap(net, s->content_layer);
    if (t->content_layer < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: loss network %s has no tap '%s'",
                           net->name, s->content_layer);
    return feature_net_tap_list(net, s->style_layers, "train", t->style_layer, MAX_STYLE_LAYERS,
                                &t->style_count);
}

static int32_t deepest_layer(const trainer *t)
{
    int32_t last = t->content_layer;
    for (int32_t i = 0; i < t->style_count; i++)
        if (t->style_layer[i] > last) last = t->style_layer[i];
    return last;
}

/* Gram matrices of every style image at every style layer (and their squared norms). */
static style_status compute_style_targets(trainer *t)
{
    style_status status = STYLE_OK;
    float *image = NULL;
    int32_t w = 0, h = 0;
    feature_run run = {0};
    for (int32_t k = 0; k < t->settings.style_count; k++) {
        const char *path = t->settings.style_images[k];
        TRY(train_load_rgb(path, t->settings.style_size, &image, &w, &h));
        /* The style targets in f32 whatever the run's precision: computed once. */
        TRY(feature_run_create(&run, t->loss_net, t->loop.dnn, 1, h, w, deepest_layer(t), false,
                               false));
        run.average_pooling = t->settings.average_pooling;
        TRY(feature_run_forward(&run, t->loop.dnn, image));
        color_statistics(image, (size_t)w * h, t->style_color_mean[k], t->style_color_cov[k]);
        for (int32_t i = 0; i < t->style_count; i++) {
            int32_t l = t->style_layer[i], c = run.out_c[l];
            t->style_gram[k][i] = style__aligned_alloc((size_t)c * c * sizeof(float));
            FAIL_IF(!t->style_gram[k][i], STYLE_ERR_NOMEM, "train: out of memory");
            gram_matrix(feature_run_output(&run, l), run.out_h[l] * run.out_w[l], c,
                        t->style_gram[k][i]);
            t->style_norm2[k][i] = gram_norm2(t->style_gram[k][i], c);
        }
        train_loop_info(&t->loop, "style image %s: %dx%d", path, w, h);
        feature_run_destroy(&run);
        style__free(image);
        image = NULL;
    }
fail:
    feature_run_destroy(&run);
    style__free(image);
    return status;
}

/* Whether the caller asks to stop inside an iteration (options->cancel). */
static bool cancel_requested(const trainer *t)
{
    return t->cancel != NULL && t->cancel(t->cancel_user) != 0;
}

#define TRAIN_CANCELLED_MESSAGE "train: cancelled inside an iteration"

/* One iteration: returns the batch-mean weighted losses. STYLE_ERR_CANCELLED when
 * cancel_requested() before its update (the parameters, Adam's moments and batch-norm
 * statistics are then untouched; the random state is not). */
static style_status train_step(trainer *t, double lr, double losses[3])
{
    style_status status = STYLE_OK;
    double t0 = style__clock_seconds(), t1, t2, t3, t4, t5;
    const train_settings *s = &t->settings;
    /* This process's crops of the batch; the losses are means over the whole batch. */
    const int32_t n = t->group.shard, size = s->crop_size;
    feature_run *run = &t->loss_run;
    TRY(train_dataset_batch_shard(&t->data, &t->state.rng, s->batch_size, t->group.first, n, size,
                                  t->net.input));
    /* Shift jitter: every process draws the whole batch's offsets (one random sequence) and
     * uses its own crops'. */
    train_loss_window_draw(&t->window, &t->state.rng, s->batch_size, t->group.first);
    /* Temporal pairs: crop b + 1 becomes crop b moved by a random translation (every process
     * draws every pair's motion; a pair split between two processes is not made). */
    for (int32_t b = 0; b + 1 < s->batch_size && s->temporal_weight > 0; b += 2) {
        double dy = (2.0 * train_rng_uniform(&t->state.rng) - 1.0) * TRAIN_TEMPORAL_MAX_SHIFT;
        double dx = (2.0 * train_rng_uniform(&t->state.rng) - 1.0) * TRAIN_TEMPORAL_MAX_SHIFT;
        const int32_t local = b - t->group.first;
        if (local < 0 || local + 1 >= n) continue;
        t->pair_dy[local] = dy, t->pair_dx[local] = dx;
        const size_t crop = (size_t)size * size * 3;
        temporal_shift_image(t->net.input + local * crop, size, dy, dx,
                             t->net.input + (local + 1) * crop);
    }
    /* Several styles: each batch trains one of them, in turn (Dumoulin et al.); every process
     * of a group picks the same one (it depends on the iteration only). */
    const int32_t k = (int32_t)(t->state.iteration % s->style_count);
    if (s->net.styles) train_net_set_style(&t->net, s->first_style + k);
    t1 = style__clock_seconds();

    /* Content targets: the features of the photos themselves. */
    const int32_t cl = t->content_layer;
    const size_t content_count = (size_t)run->out_h[cl] * run->out_w[cl] * run->out_c[cl];
    FAIL_IF(cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);
    TRY(feature_run_forward(run, t->loop.dnn, train_loss_window_view(&t->window, t->net.input)));
    memcpy(t->content_target, feature_run_output(run, cl), n * content_count * sizeof(float));
    FAIL_IF(cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);

    /* Batch norm updates its running statistics in the forward pass: no stop after it. */
    const bool may_cancel_later = !s->net.batch_norm;
    const float *output;
    t2 = style__clock_seconds();
    TRY(train_net_forward(&t->net, t->loop.dnn, true, &output));
    FAIL_IF(may_cancel_later && cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);
    t3 = style__clock_seconds();
    TRY(feature_run_forward(run, t->loop.dnn, train_loss_window_view(&t->window, output)));
    FAIL_IF(may_cancel_later && cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);

    const double losses_start = style__clock_seconds();
    losses[0] = losses[1] = losses[2] = 0;
    double colour = 0;
    const double per_image = 1.0 / s->batch_size;
    for (int32_t b = 0; b < n; b++) {
        losses[0] += content_loss(feature_run_output(run, cl) + b * content_count,
                                  t->content_target + b * content_count, content_count,
                                  s->content_weight * per_image,
                                  feature_run_tap_grad(run, cl) + b * content_count);
        for (int32_t i = 0; i < t->style_count; i++) {
            int32_t l = t->style_layer[i], hw = run->out_h[l] * run->out_w[l], c = run->out_c[l];
            size_t image = (size_t)hw * c;
            losses[1] +=
                style_loss(feature_run_output(run, l) + b * image, hw, c, t->style_gram[k][i],
                           t->style_norm2[k][i], s->style_weight * per_image, t->gram_scratch,
                           t->delta_scratch, feature_run_tap_grad(run, l) + b * image);
        }
    }
    const float *diff_rgb;
    t->time_losses += style__clock_seconds() - losses_start;
    TRY(feature_run_backward(run, t->loop.dnn, &diff_rgb));
    FAIL_IF(may_cancel_later && cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);
    float *diff_out = train_net_diff_output(&t->net);
    const size_t image = (size_t)size * size * 3;
    train_loss_window_backward(&t->window, diff_rgb, diff_out);
    if (s->tv_weight > 0)
        for (int32_t b = 0; b < n; b++)
            losses[2] += tv_loss(output + b * image, size, size, s->tv_weight * per_image,
                                 diff_out + b * image);
    /* The colour term is a style term: it is reported in the style loss. */
    if (s->color_weight > 0)
        for (int32_t b = 0; b < n; b++)
            colour += color_loss(output + b * image, (size_t)size * size, t->style_color_mean[k],
                                 t->style_color_cov[k], s->color_weight * per_image,
                                 diff_out + b * image);
    losses[1] += colour;
    /* The grid term is a regulariser like TV: it is reported in the TV loss. */
    if (s->grid_weight > 0)
        for (int32_t b = 0; b < n; b++)
            losses[2] +=
                grid_loss(output + b * image, size, size, TRAIN_GRID_PERIOD, TRAIN_GRID_TILE,
                          s->grid_weight * per_image, diff_out + b * image);
    /* So is the temporal term; its weight is per pair, as the others' are per image. */
    for (int32_t b = (t->group.first & 1); b + 1 < n && s->temporal_weight > 0; b += 2)
        losses[2] +=
            temporal_loss(output + b * image, output + (b + 1) * image, size, t->pair_dy[b],
                          t->pair_dx[b], s->temporal_weight / (s->batch_size / 2),
                          diff_out + b * image, diff_out + (b + 1) * image);
    t4 = style__clock_seconds();
    TRY(train_net_backward(&t->net, t->loop.dnn));
    FAIL_IF(may_cancel_later && cancel_requested(t), STYLE_ERR_CANCELLED, TRAIN_CANCELLED_MESSAGE);
    t5 = style__clock_seconds();
    /* Each process's gradients are its crops' share of the batch mean: the sum is the mean. */
    const double group_seconds = t->group.seconds;
    TRY(train_group_sum(&t->group, t->params.grads, t->params.total, "gradients"));
    TRY(train_group_sum_doubles(&t->group, losses, 3, "losses"));
    t->time_communication += t->group.seconds - group_seconds;
    t5 += t->group.seconds - group_seconds;
    train_adam_update(&t->params, t->adam_m, t->adam_v, lr, t->state.iteration + 1,
                      t->settings.add_style_to[0] != '\0' ? t->settings.first_style : -1);
    t->time_data += t1 - t0;
    t->time_loss_net += (t2 - t1) + (t4 - t3);
    t->time_optimizer += style__clock_seconds() - t5;
    for (int i = 0; i < 3; i++)
        FAIL_IF(!isfinite(losses[i]), STYLE_ERR_INTERNAL,
                "train: the loss became %g at iteration %lld (learning rate too high?)", losses[i],
                (long long)t->state.iteration + 1);
    return STYLE_OK;
fail:
    return status;
}

/* Every process must see the same photos, or their crops would not be shares of one batch. */
static style_status check_same_data(trainer *t)
{
    if (train_group_alone(&t->group)) return STYLE_OK;
    uint64_t mine[2] = {t->data.count, 0xcbf29ce484222325ull}; /* count, FNV-1a of the paths */
    for (size_t i = 0; i < t->data.count; i++)
        for (const char *c = t->data.paths[i];; c++) {
            mine[1] = (mine[1] ^ (uint8_t)*c) * 0x100000001b3ull;
            if (!*c) break;
        }
    uint64_t leaders[2] = {mine[0], mine[1]};
    style_status status = train_group_broadcast(&t->group, leaders, sizeof leaders, "photo list");
    if (status == STYLE_OK && (leaders[0] != mine[0] || leaders[1] != mine[1]))
        status = style__fail(STYLE_ERR_INVALID_ARGUMENT,
                             "train: rank %d finds %llu photos under %s, rank 0 %llu%s: every "
                             "process needs the same photos at the same path",
                             t->group.rank, (unsigned long long)mine[0], t->settings.data_dir,
                             (unsigned long long)leaders[0],
                             leaders[0] == mine[0] ? " with other names" : "");
    return status;
}

/* Makes every process hold rank 0's parameters, optimizer moments and training state. */
static style_status sync_from_leader(trainer *t)
{
    style_status status = STYLE_OK;
    const size_t bytes = t->params.total * sizeof(float);
    if (train_group_alone(&t->group)) return STYLE_OK;
    TRY(train_group_broadcast(&t->group, t->params.values, bytes, "parameters"));
    TRY(train_group_broadcast(&t->group, t->adam_m, bytes, "optimizer state"));
    TRY(train_group_broadcast(&t->group, t->adam_v, bytes, "optimizer state"));
    TRY(train_group_broadcast(&t->group, &t->state, sizeof t->state, "training state"));
fail:
    return status;
}

static style_status save_checkpoint(trainer *t, const char *path, double run_seconds)
{
    /* The processes' copies agree already (they apply the same summed gradients); taking
     * rank 0's at every checkpoint also keeps them bit-identical with an MPI whose sums could
     * round differently on different ranks, and the checkpoint is then exactly every rank's
     * state. */
    style_status status = sync_from_leader(t);
    if (status != STYLE_OK || !train_group_leader(&t->group)) return status;
    train_state state = t->state;
    state.seconds += run_seconds;
    status = train_checkpoint_save(path, &t->settings, &state, &t->params, t->adam_m, t->adam_v);
    if (status == STYLE_OK)
        train_loop_info(&t->loop, "checkpoint %s (iteration %lld)", path,
                        (long long)t->state.iteration);
    return status;
}

/* The iteration and the optimizer's update (train_loop_step.iterate). */
static style_status iterate(void *self, double lr, double losses[3])
{
    trainer *t = self;
    return train_step(t, lr, losses);
}

static style_status checkpoint(void *self, const char *path, double run_seconds)
{
    return save_checkpoint(self, path, run_seconds);
}

/* Ctrl-C reaches the processes of a group at different moments: stop when any of them asks. */
static style_status agree_stop(void *self, bool *stop)
{
    trainer *t = self;
    float votes = *stop;
    style_status status = train_group_sum(&t->group, &votes, 1, "stop requests");
    *stop = votes > 0;
    return status;
}

/* The split of a run's time between the parts of an iteration (info). */
static void log_time_split(const trainer *t, int64_t first_iteration, double seconds)
{
    const train_settings *s = &t->settings;
    const train_net_timing *nt = &t->net_timing;
    double total = t->time_data + nt->forward + nt->backward + t->time_loss_net +
                   t->time_optimizer + t->time_communication;
    if (total > 0 && s->iterations > first_iteration)
        train_loop_info(&t->loop,
                        "%.3f s per iteration: transform network %.0f %% (forward %.0f %%, "
                        "backward %.0f %%), loss network %.0f %% (of which content and style "
                        "losses %.0f %%), data %.0f %%, optimizer %.0f %%, communication %.0f %%",
                        seconds / (double)(s->iterations - first_iteration),
                        100 * (nt->forward + nt->backward) / total, 100 * nt->forward / total,
                        100 * nt->backward / total, 100 * t->time_loss_net / total,
                        100 * t->time_losses / total, 100 * t->time_data / total,
                        100 * t->time_optimizer / total, 100 * t->time_communication / total);
}

static style_status run_training(trainer *t)
{
    const train_settings *s = &t->settings;
    const train_loop_step step = {.self = t,
                                  .iterate = iterate,
                                  .checkpoint = checkpoint,
                                  .agree_stop = train_group_alone(&t->group) ? NULL : agree_stop};
    const train_schedule schedule = {.iterations = s->iterations,
                                     .checkpoint_every = s->checkpoint_every,
                                     .batch_size = s->batch_size,
                                     .learning_rate = s->learning_rate,
                                     .cosine = s->cosine};
    const int64_t first_iteration = t->state.iteration;
    style_status status = train_loop_run(&t->loop, &step, &schedule, &t->state);
    if (status == STYLE_OK)
        log_time_split(t, first_iteration, style__clock_seconds() - t->loop.start);
    return status;
}

static void trainer_destroy(trainer *t)
{
    feature_run_destroy(&t->loss_run);
    train_net_destroy(&t->net);
    train_params_destroy(&t->params);
    train_dataset_close(&t->data);
    feature_net_free(t->loss_net);
    for (int32_t k = 0; k < TRAIN_MAX_STYLES; k++)
        for (int32_t i = 0; i < MAX_STYLE_LAYERS; i++)
            style__aligned_free(t->style_gram[k][i]);
    style__aligned_free(t->adam_m);
    style__aligned_free(t->adam_v);
    style__aligned_free(t->content_target);
    train_loss_window_destroy(&t->window);
    style__aligned_free(t->gram_scratch);
    style__aligned_free(t->delta_scratch);
    train_loop_close(&t->loop);
}

style_status style_train(const style_train_options *options)
{
    style_status status = STYLE_OK;
    trainer t = {0};
    style_model *base = NULL; /* adding a style: the model it is added to */
    style_model *init = NULL; /* a warm start: the model whose weights it starts from */
    char data_sha256[SHA256_HEX_SIZE] = "";
    if (!options || options->struct_size < sizeof(size_t) || !options->out_path)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: options or out_path missing");
    t.options = options;
    /* The held-out list exists only in newer option structs. */
    const char *exclude_list = options->struct_size >= offsetof(style_train_options, exclude_list) +
                                                           sizeof options->exclude_list
                                   ? options->exclude_list
                                   : NULL;
    train_loop_init(&t.loop, "train", options->threads, options->progress, options->progress_user,
                    options->log, options->log_user);
    const bool has_group =
        options->struct_size >= offsetof(style_train_options, group) + sizeof options->group;
    TRY(train_group_init(&t.group, has_group ? options->group : NULL));
    /* Inside an iteration only alone: the processes of a group stop together after one. */
    if (options->struct_size >= offsetof(style_train_options, cancel_user) + sizeof(void *) &&
        train_group_alone(&t.group)) {
        t.cancel = options->cancel;
        t.cancel_user = options->cancel_user;
    }
    const bool leader = train_group_leader(&t.group);
    /* Rank 0 resolves the settings (reading the checkpoint when resuming); the others take
     * its settings, so one set of options and files decides the run. */
    if (leader) {
        TRY(resolve_settings(&t));
        FAIL_IF(t.settings.net.batch_norm && !train_group_alone(&t.group), STYLE_ERR_UNSUPPORTED,
                "train: batch normalisation over %d processes would need batch statistics "
                "synchronised between them, which libstyle does not do: train with --norm "
                "instance (the default) or in one process",
                t.group.ranks);
        TRY(train_group_share(&t.group, t.settings.batch_size));
    }
    TRY(train_group_broadcast(&t.group, &t.settings, sizeof t.settings, "training settings"));
    const train_settings *s = &t.settings;
    /* Rank 0 checked its own processor; every other rank checks its own. */
    FAIL_IF(s->bf16 && !style_precision_supported(STYLE_PRECISION_BF16), STYLE_ERR_UNSUPPORTED,
            "train: rank %d does not run bf16 natively; train with precision fp32",
            (int)t.group.rank);
    TRY(train_group_share(&t.group, s->batch_size));
    TRY(train_loop_open(&t.loop, options->out_path, options->checkpoint_path,
                        leader)); /* rank 0 is the only writer */
    TRY(feature_net_load(s->loss_net, &t.loss_net));
    TRY(resolve_layers(&t));
    TRY(train_dataset_open(&t.data, s->data_dir, options->log, options->log_user));
    t.data.max_short_side = s->max_short_side;
    size_t excluded = 0;
    TRY(train_dataset_fingerprint(&t.data, exclude_list, data_sha256, &excluded));
    if (excluded)
        train_loop_info(&t.loop, "%zu held-out photo%s of %s refused", excluded,
                        excluded == 1 ? "" : "s", exclude_list);
    TRY(check_same_data(&t));
    TRY(compute_style_targets(&t));

    if (s->add_style_to[0] && !options->resume_path)
        TRY(train_add_style_settings(&t.settings, &base));
    if (s->init_model[0] && !options->resume_path)
        TRY(train_warm_start_settings(&t.settings, &init));
    TRY(train_params_create(&t.params, &s->net));
    /* Rank 0 reads the checkpoint; the others take its state (sync_from_leader). */
    const bool resume = options->resume_path && leader;
    TRY(train_loop_start(&t.loop, &t.params, resume ? options->resume_path : NULL, s->seed,
                         &t.state, &t.adam_m, &t.adam_v));
    if (!resume && base) TRY(train_add_style_params(base, &t.params));
    if (!resume && init) TRY(train_warm_start_params(init, s->init_model, s->seed, &t.params));
    TRY(sync_from_leader(&t));

    const int32_t shard = t.group.shard;
    TRY(train_net_create(&t.net, &t.params, t.loop.dnn, shard, s->crop_size, s->bf16));
    t.net.timing = &t.net_timing; /* a few clock reads per pass, for the closing split */
    const int32_t loss_size = s->crop_size - s->loss_shift;
    TRY(feature_run_create(&t.loss_run, t.loss_net, t.loop.dnn, shard, loss_size, loss_size,
                           deepest_layer(&t), true, s->bf16));
    TRY(train_loss_window_create(&t.window, s->loss_shift, s->crop_size, shard));
    t.loss_run.average_pooling = s->average_pooling;
    const feature_run *run = &t.loss_run;
    int32_t cl = t.content_layer, max_c = 1;
    t.content_target = style__aligned_alloc((size_t)shard * run->out_h[cl] * run->out_w[cl] *
                                            run->out_c[cl] * sizeof(float));
    for (int32_t i = 0; i < t.style_count; i++)
        if (run->out_c[t.style_layer[i]] > max_c) max_c = run->out_c[t.style_layer[i]];
    t.gram_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    t.delta_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    FAIL_IF(!t.content_target || !t.gram_scratch || !t.delta_scratch, STYLE_ERR_NOMEM,
            "train: out of memory");
    if (options->loss_log && leader) TRY(train_loop_open_loss_log(&t.loop, options->loss_log));
    if (!train_group_alone(&t.group))
        train_loop_info(&t.loop, "%d processes share every batch of %d (rank %d: crops %d..%d)",
                        t.group.ranks, s->batch_size, t.group.rank, t.group.first,
                        t.group.first + shard - 1);
    train_loop_info(
        &t.loop,
        "training %d/%d/%d x%d blocks (%s norm%s) on %zu images, loss net %s, content %s, "
        "style %s, %lld iterations of %d x %dpx, convolutions in %s",
        s->net.widths[0], s->net.widths[1], s->net.widths[2], s->net.residual_blocks,
        s->net.batch_norm ? "batch" : "instance",
        s->add_style_to[0] ? ", adding one style: only its scales and shifts"
        : s->net.styles    ? ", conditional: one scale and shift per style"
                           : "",
        t.data.count, t.loss_net->name, s->content_layer, s->style_layers, (long long)s->iterations,
        s->batch_size, s->crop_size, s->bf16 ? "bf16" : "fp32");

    if (s->loss_shift > 0)
        train_loop_info(&t.loop, "loss network window %d x %d at a random offset of 0..%d",
                        (int)loss_size, (int)loss_size, (int)s->loss_shift);
    if (s->init_model[0] && !options->resume_path)
        train_loop_info(&t.loop, "starting from the weights of %s", s->init_model);
    TRY(run_training(&t));
    if (leader) {
        TRY(train_export_model(options->out_path, s, data_sha256, exclude_list, &t.params,
                               (int64_t)t.data.count, t.state.seconds));
        train_loop_info(&t.loop, "wrote %s", options->out_path);
    }
fail:
    trainer_destroy(&t);
    style_model_free(base);
    style_model_free(init);
    return status;
}
