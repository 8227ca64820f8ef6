/*
 * Training an AdaIN decoder (style_train_adain): for a batch of content crops c and style
 * crops s, t = AdaIN(f(c), f(s)) at the encoder's tap, y = g(t), and the loss is
 *   content_weight * content(f(g(t)), t) + style_weight * sum_l moments(f_l(g(t)), f_l(s))
 * (train_losses.h), minimised over the decoder's weights with Adam; the encoder is frozen.
 * The quality options are style_train's, shared with it: a warm start from a trained
 * decoder (train_adain_init.c), shift jitter (train_loss_window.c: the loss network sees a
 * window of g(t), its content target the AdaIN target of the photo's same window), the colour
 * loss against each pair's style crop, the cap on the photos' scale and held-out lists
 * (train_data_list.c). The skeleton around the iteration is train_loop.c's. Checkpoints and
 * resumption use the trainer's checkpoint files.
 */
#include "arch/adain.h"
#include "train/optim.h"
#include "train/train_checkpoint.h"
#include "train/train_provenance.h"
#include "train/train_adain_init.h"
#include "train/train_data_list.h"
#include "train/train_loop.h"
#include "train/train_loss_window.h"
#include "train/train_losses.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STYLE_LAYERS 16

typedef struct adain_settings {
    char data_dir[TRAIN_PATH_MAX], styles_dir[TRAIN_PATH_MAX], loss_net[TRAIN_PATH_MAX];
    char tap[FNET_NAME_MAX];
    char style_layers[512];
    int32_t crop_size, batch_size;
    int64_t iterations, checkpoint_every;
    double learning_rate, content_weight, style_weight;
    uint64_t seed;
    /* The quality options (style_train's; "" / 0: off). */
    char init_model[TRAIN_PATH_MAX], init_model_sha256[SHA256_HEX_SIZE];
    int32_t loss_shift, max_short_side;
    double color_weight, grid_weight;
    char exclude[TRAIN_PATH_MAX], style_exclude[TRAIN_PATH_MAX];
    bool bf16; /* convolutions in bf16 mixed precision (train_settings.bf16) */
} adain_settings;

typedef struct adain_trainer {
    const style_train_adain_options *options;
    adain_settings settings;
    feature_net *net;
    int32_t tap, last;
    int32_t style_layer[MAX_STYLE_LAYERS];
    int32_t style_count;
    adain_decoder_spec spec;
    train_params params;
    float *adam_m, *adam_v;
    train_state state;
    train_dataset content, styles;
    char content_sha256[SHA256_HEX_SIZE], styles_sha256[SHA256_HEX_SIZE];
    train_loop loop; /* threads, engine and stream, loss log, reporting (train_loop.h) */
    /* The encoder at the crop size; with a loss shift (window.shift > 0) the loss network's
     * pass on the output runs at the window's size in view_run. */
    feature_run run, view_run;
    train_loss_window window;
    adain_decoder decoder;
    float *content_rgb, *style_rgb, *output_rgb;
    float *diff_rgb;    /* the loss's gradient with respect to the output's rgb255 */
    float *view_target; /* with a loss shift: the content target of the windows */
    float *style_mean[MAX_STYLE_LAYERS], *style_std[MAX_STYLE_LAYERS]; /* n x c each */
    float *target;                                                     /* t: n x tap size */
    float *tap_mean, *tap_std; /* the styles' statistics at the tap, n x c */
    float *scratch_mean, *scratch_std;
} adain_trainer;

/* ---- settings ---------------------------------------------------------------------------- */

static char *settings_json(const adain_settings *s, int64_t content_count, int64_t style_count,
                           double seconds)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:f, s:f, s:f, s:I}",
                          "method", "adain", "data_dir", s->data_dir, "styles_dir", s->styles_dir,
                          "loss_net", s->loss_net, "tap", s->tap, "style_layers", s->style_layers,
                          "crop_size", s->crop_size, "batch_size", s->batch_size, "iterations",
                          (json_int_t)s->iterations, "learning_rate", s->learning_rate,
                          "content_weight", s->content_weight, "style_weight", s->style_weight,
                          "checkpoint_every", (json_int_t)s->checkpoint_every);
    if (!o) return NULL;
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    json_object_set_new(o, "seed", json_string(seed));
    json_object_set_new(o, "loss_shift", json_integer(s->loss_shift));
    json_object_set_new(o, "max_short_side", json_integer(s->max_short_side));
    json_object_set_new(o, "color_weight", json_real(s->color_weight));
    json_object_set_new(o, "grid_weight", json_real(s->grid_weight));
    if (s->init_model[0]) {
        json_object_set_new(o, "init_model", json_string(s->init_model));
        json_object_set_new(o, "init_model_sha256", json_string(s->init_model_sha256));
    }
    if (s->exclude[0]) json_object_set_new(o, "exclude", json_string(s->exclude));
    if (s->style_exclude[0]) json_object_set_new(o, "style_exclude", json_string(s->style_exclude));
    if (s->bf16) json_object_set_new(o, "precision", json_string("bf16"));
    if (content_count >= 0) json_object_set_new(o, "content_images", json_integer(content_count));
    if (style_count >= 0) json_object_set_new(o, "style_images", json_integer(style_count));
    if (seconds >= 0) json_object_set_new(o, "seconds", json_real(seconds));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return text;
}

static style_status settings_from_json(const char *text, adain_settings *s)
{
    style_status status = STYLE_OK;
    json_error_t error;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    const char *method, *data, *styles, *loss, *tap, *layers, *seed;
    json_int_t iterations, every;
    FAIL_IF(!o, STYLE_ERR_FORMAT, "training settings: invalid JSON (%s)", error.text);
    FAIL_IF(json_unpack_ex(o, &error, 0,
                           "{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:I, s:F, s:F, s:F, s:I, "
                           "s:s}",
                           "method", &method, "data_dir", &data, "styles_dir", &styles, "loss_net",
                           &loss, "tap", &tap, "style_layers", &layers, "crop_size", &s->crop_size,
                           "batch_size", &s->batch_size, "iterations", &iterations, "learning_rate",
                           &s->learning_rate, "content_weight", &s->content_weight, "style_weight",
                           &s->style_weight, "checkpoint_every", &every, "seed", &seed) != 0,
            STYLE_ERR_FORMAT, "training settings: %s", error.text);
    FAIL_IF(strcmp(method, "adain") != 0, STYLE_ERR_INVALID_ARGUMENT,
            "this checkpoint is not an AdaIN training run (resume it with 'libstyle train')");
    snprintf(s->data_dir, sizeof s->data_dir, "%s", data);
    snprintf(s->styles_dir, sizeof s->styles_dir, "%s", styles);
    snprintf(s->loss_net, sizeof s->loss_net, "%s", loss);
    snprintf(s->tap, sizeof s->tap, "%s", tap);
    snprintf(s->style_layers, sizeof s->style_layers, "%s", layers);
    s->iterations = iterations, s->checkpoint_every = every;
    s->seed = strtoull(seed, NULL, 10);
    /* The quality options: absent from the checkpoints of earlier versions (off). */
    json_int_t shift = 0, cap = 0;
    double colour = 0, grid = 0;
    const char *init = NULL, *init_sha256 = "", *exclude = "", *style_exclude = "";
    const char *precision = "fp32";
    FAIL_IF(
        json_unpack_ex(o, &error, 0, "{s?I, s?I, s?F, s?F, s?s, s?s, s?s, s?s, s?s}", "loss_shift",
                       &shift, "max_short_side", &cap, "color_weight", &colour, "grid_weight",
                       &grid, "init_model", &init, "init_model_sha256", &init_sha256, "exclude",
                       &exclude, "style_exclude", &style_exclude, "precision", &precision) != 0 ||
            shift < 0 || shift > 65536 || cap < 0 || cap > 65536 ||
            (strcmp(precision, "fp32") != 0 && strcmp(precision, "bf16") != 0),
        STYLE_ERR_FORMAT, "training settings: a quality option is out of range (%s)", error.text);
    s->loss_shift = (int32_t)shift, s->max_short_side = (int32_t)cap, s->color_weight = colour;
    s->grid_weight = grid;
    s->bf16 = strcmp(precision, "bf16") == 0;
    snprintf(s->init_model, sizeof s->init_model, "%s", init ? init : "");
    snprintf(s->init_model_sha256, sizeof s->init_model_sha256, "%s", init_sha256);
    snprintf(s->exclude, sizeof s->exclude, "%s", exclude);
    snprintf(s->style_exclude, sizeof s->style_exclude, "%s", style_exclude);
fail:
    json_decref(o);
    return status;
}

static style_status copy_path(char *dst, const char *src, const char *what)
{
    if (!src || !*src)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train-adain: no %s given", what);
    if (strlen(src) >= TRAIN_PATH_MAX)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train-adain: %s path too long", what);
    strcpy(dst, src);
    return STYLE_OK;
}

/* The ranges every run must be in, whether the settings came from options or from a
 * checkpoint (which may be damaged or hostile). */
static style_status check_settings(const adain_settings *s)
{
    if (s->crop_size < 8 || s->crop_size > 2048 || s->batch_size < 1 || s->batch_size > 256 ||
        s->iterations < 1 || s->checkpoint_every < 1 ||
        !(isfinite(s->learning_rate) && s->learning_rate > 0) ||
        !(isfinite(s->content_weight) && s->content_weight >= 0) ||
        !(isfinite(s->style_weight) && s->style_weight >= 0) ||
        !(isfinite(s->color_weight) && s->color_weight >= 0) ||
        !(isfinite(s->grid_weight) && s->grid_weight >= 0))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train-adain: a setting is out of range (crop 8..2048, batch 1..256, "
                           "iterations and checkpoint interval >= 1, finite positive learning "
                           "rate, finite weights >= 0)");
    return train_check_quality("train-adain", s->crop_size, s->loss_shift, s->max_short_side);
}

static style_status resolve_settings(adain_trainer *t)
{
    style_status status = STYLE_OK;
    const style_train_adain_options *o = t->options;
    adain_settings *s = &t->settings;
    const bool has_quality =
        o->struct_size >=
        offsetof(style_train_adain_options, style_exclude_list) + sizeof o->style_exclude_list;
    const char *precision =
        o->struct_size >= offsetof(style_train_adain_options, precision) + sizeof o->precision
            ? o->precision
            : NULL;
    if (o->resume_path) {
        char *json = NULL;
        TRY(train_checkpoint_read_settings(o->resume_path, &json));
        status = settings_from_json(json, s);
        style__free(json);
        if (status == STYLE_OK) {
            if (o->iterations > 0) s->iterations = o->iterations;
            status = check_settings(s);
        }
        if (status != STYLE_OK) return train_checkpoint_error(o->resume_path, status);
        /* The checkpoint's precision, unless one is asked for (the weights are f32 in both). */
        if (precision) TRY(train_precision_resolve("train-adain", precision, &s->bf16));
        FAIL_IF(s->bf16 && !style_precision_supported(STYLE_PRECISION_BF16), STYLE_ERR_UNSUPPORTED,
                "train-adain: %s trains in bf16, which this processor does not run natively; "
                "resume it with precision fp32",
                o->resume_path);
        if (o->data_dir) TRY(copy_path(s->data_dir, o->data_dir, "data directory"));
        if (o->styles_dir) TRY(copy_path(s->styles_dir, o->styles_dir, "styles directory"));
        if (o->loss_net) TRY(copy_path(s->loss_net, o->loss_net, "loss network"));
        /* Moved lists: an explicit path replaces the recorded one (as the folders). */
        if (has_quality && o->exclude_list)
            TRY(copy_path(s->exclude, o->exclude_list, "held-out list"));
        if (has_quality && o->style_exclude_list)
            TRY(copy_path(s->style_exclude, o->style_exclude_list, "held-out style list"));
        return STYLE_OK;
    }
    TRY(copy_path(s->data_dir, o->data_dir, "data directory"));
    TRY(copy_path(s->styles_dir, o->styles_dir, "styles directory"));
    TRY(copy_path(s->loss_net, o->loss_net, "loss network"));
    FAIL_IF(o->tap && strlen(o->tap) >= sizeof s->tap, STYLE_ERR_INVALID_ARGUMENT,
            "train-adain: tap name too long");
    FAIL_IF(o->style_layers && strlen(o->style_layers) >= sizeof s->style_layers,
            STYLE_ERR_INVALID_ARGUMENT, "train-adain: style layer list too long");
    snprintf(s->tap, sizeof s->tap, "%s", o->tap ? o->tap : "");
    snprintf(s->style_layers, sizeof s->style_layers, "%s", o->style_layers ? o->style_layers : "");
    s->crop_size = o->crop_size > 0 ? o->crop_size : 256;
    s->batch_size = o->batch_size > 0 ? o->batch_size : 4;
    s->iterations = o->iterations > 0 ? o->iterations : 2000;
    s->learning_rate = o->learning_rate > 0 ? o->learning_rate : 1e-4;
    s->content_weight = o->content_weight > 0 ? o->content_weight : 1.0;
    s->style_weight = o->style_weight > 0 ? o->style_weight : 2.0;
    s->seed = o->seed;
    s->checkpoint_every = o->checkpoint_every > 0 ? o->checkpoint_every : 100;
    if (has_quality) {
        FAIL_IF(o->loss_shift < 0 || o->max_short_side < 0 || o->color_weight < 0,
                STYLE_ERR_INVALID_ARGUMENT,
                "train-adain: loss shift, max short side and colour weight must not be negative");
        s->loss_shift = o->loss_shift;
        s->max_short_side = o->max_short_side;
        s->color_weight = o->color_weight;
        if (o->struct_size >=
            offsetof(style_train_adain_options, grid_weight) + sizeof o->grid_weight) {
            FAIL_IF(o->grid_weight < 0, STYLE_ERR_INVALID_ARGUMENT,
                    "train-adain: the grid weight must not be negative");
            s->grid_weight = o->grid_weight;
        }
        if (o->init_model) TRY(copy_path(s->init_model, o->init_model, "model to start from"));
        if (o->exclude_list) TRY(copy_path(s->exclude, o->exclude_list, "held-out list"));
        if (o->style_exclude_list)
            TRY(copy_path(s->style_exclude, o->style_exclude_list, "held-out style list"));
    }
    FAIL_IF(o->crop_size < 0 || o->batch_size < 0 || o->iterations < 0 || o->learning_rate < 0 ||
                o->content_weight < 0 || o->style_weight < 0 || o->checkpoint_every < 0,
            STYLE_ERR_INVALID_ARGUMENT, "train-adain: an option is out of range");
    TRY(train_precision_resolve("train-adain", precision, &s->bf16));
    TRY(check_settings(s));
fail:
    return status;
}

/* ---- layers ------------------------------------------------------------------------------ */

static bool conv_before(const feature_net *net, int32_t layer, int32_t *kernel)
{
    for (int32_t i = layer; i >= 0; i--)
        if (net->layers[i].op == FNET_CONV) {
            *kernel = net->layers[i].kernel;
            return true;
        }
    return false;
}

static int32_t pools_before(const feature_net *net, int32_t layer)
{
    int32_t pools = 0;
    for (int32_t i = 0; i <= layer; i++)
        pools += net->layers[i].op == FNET_MAXPOOL;
    return pools;
}

/* The tap that produces layer `l`'s name, or NULL. */
static const char *tap_name(const feature_net *net, int32_t layer)
{
    for (int32_t t = 0; t < net->tap_count; t++)
        if (net->tap_layers[t] == layer) return net->tap_names[t];
    return NULL;
}

/*
 * Default tap: relu4_1's analogue, the first tap after the third pooling whose conv has a
 * kernel > 1 (VGG-19: relu4_1; darknet-tiny: leaky_8). Default style layers: the first such
 * tap at every resolution up to the AdaIN tap (VGG-19: relu1_1..relu4_1).
 */
static style_status resolve_layers(adain_trainer *t)
{
    style_status status = STYLE_OK;
    adain_settings *s = &t->settings;
    const feature_net *net = t->net;
    int32_t kernel;
    if (!*s->tap) {
        int32_t best = -1;
        for (int32_t i = 0; i < net->layer_count && best < 0; i++)
            if (tap_name(net, i) && pools_before(net, i) == 3 && conv_before(net, i, &kernel) &&
                kernel > 1)
                best = i;
        FAIL_IF(best < 0, STYLE_ERR_INVALID_ARGUMENT,
                "train-adain: %s has no tap after a third pooling; name one with --tap", net->name);
        snprintf(s->tap, sizeof s->tap, "%s", tap_name(net, best));
    }
    t->tap = feature_net_tap(net, s->tap);
    FAIL_IF(t->tap < 0, STYLE_ERR_INVALID_ARGUMENT, "train-adain: %s has no tap '%s'", net->name,
            s->tap);
    if (!*s->style_layers) {
        int32_t resolution = -1;
        for (int32_t i = 0; i <= t->tap; i++) {
            if (!tap_name(net, i) || !conv_before(net, i, &kernel) || kernel < 2) continue;
            if (pools_before(net, i) == resolution) continue;
            resolution = pools_before(net, i);
            if (*s->style_layers) strcat(s->style_layers, ",");
            strncat(s->style_layers, tap_name(net, i),
                    sizeof s->style_layers - strlen(s->style_layers) - 1);
        }
    }
    TRY(feature_net_tap_list(net, s->style_layers, "train-adain", t->style_layer, MAX_STYLE_LAYERS,
                             &t->style_count));
    t->last = t->tap;
    for (int32_t i = 0; i < t->style_count; i++)
        if (t->style_layer[i] > t->last) t->last = t->style_layer[i];
    TRY(adain_decoder_mirror(net, t->tap, &t->spec));
    FAIL_IF(s->crop_size % t->spec.scale, STYLE_ERR_INVALID_ARGUMENT,
            "train-adain: the crop size must be a multiple of %d for this encoder", t->spec.scale);
fail:
    return status;
}

/* ---- one iteration ----------------------------------------------------------------------- */

/* Decoder output (encoder input space) -> rgb255, and the gradient's factor back. */
static void output_to_rgb(const feature_net *net, const float *out, size_t pixels, float *rgb)
{
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++)
            rgb[i * 3 + c] = adain_to_rgb255(net, c, out[i * 3 + c]);
}

/* Every image's AdaIN target at the tap: the content features `tap_out` (n images) with the
 * styles' statistics at the tap. */
static void adain_targets(const adain_trainer *t, const feature_run *run, float *target)
{
    const int32_t tl = t->tap, thw = run->out_h[tl] * run->out_w[tl], tc = run->out_c[tl];
    const size_t tap_image = (size_t)thw * tc;
    for (int32_t b = 0; b < t->settings.batch_size; b++)
        adain_forward(feature_run_output(run, tl) + b * tap_image, thw, tc,
                      t->tap_mean + (size_t)b * tc, t->tap_std + (size_t)b * tc, 1.0f,
                      target + b * tap_image);
}

static style_status train_step(adain_trainer *t, double losses[3])
{
    style_status status = STYLE_OK;
    const adain_settings *s = &t->settings;
    const int32_t n = s->batch_size, size = s->crop_size;
    dnn_context *dnn = t->loop.dnn;
    feature_run *run = &t->run;
    /* The loss network's pass on the output: at the crop's size, or the window's. */
    feature_run *loss = s->loss_shift > 0 ? &t->view_run : &t->run;
    TRY(train_dataset_batch(&t->content, &t->state.rng, n, size, t->content_rgb));
    TRY(train_dataset_batch(&t->styles, &t->state.rng, n, size, t->style_rgb));
    train_loss_window_draw(&t->window, &t->state.rng, n, 0);

    /* The styles' statistics at every style layer. */
    TRY(feature_run_forward(run, dnn, t->style_rgb));
    for (int32_t i = 0; i < t->style_count; i++) {
        int32_t l = t->style_layer[i], hw = run->out_h[l] * run->out_w[l], c = run->out_c[l];
        for (int32_t b = 0; b < n; b++)
            adain_statistics(feature_run_output(run, l) + (size_t)b * hw * c, hw, c,
                             t->style_mean[i] + (size_t)b * c, t->style_std[i] + (size_t)b * c);
    }
    const int32_t tl = t->tap, thw = run->out_h[tl] * run->out_w[tl], tc = run->out_c[tl];
    const size_t tap_image = (size_t)thw * tc;
    for (int32_t b = 0; b < n; b++)
        adain_statistics(feature_run_output(run, tl) + b * tap_image, thw, tc,
                         t->tap_mean + (size_t)b * tc, t->tap_std + (size_t)b * tc);

    /* t = AdaIN(f(c), f(s)); with a loss shift the content target is the AdaIN target of the
     * photo's window that the loss network will see of the output. */
    TRY(feature_run_forward(run, dnn, t->content_rgb));
    adain_targets(t, run, t->target);
    memcpy(t->decoder.input, t->target, n * tap_image * sizeof(float));
    const float *content_target = t->target;
    if (s->loss_shift > 0) {
        TRY(feature_run_forward(loss, dnn, train_loss_window_view(&t->window, t->content_rgb)));
        adain_targets(t, loss, t->view_target);
        content_target = t->view_target;
    }

    const float *out;
    TRY(adain_decoder_forward(&t->decoder, dnn, &out));
    const size_t pixels = (size_t)n * size * size;
    output_to_rgb(t->net, out, pixels, t->output_rgb);
    TRY(feature_run_forward(loss, dnn, train_loss_window_view(&t->window, t->output_rgb)));
    losses[0] = losses[1] = losses[2] = 0;
    const double per_image = 1.0 / n;
    const size_t loss_tap_image = (size_t)loss->out_h[tl] * loss->out_w[tl] * tc;
    for (int32_t b = 0; b < n; b++) {
        losses[0] += content_loss(feature_run_output(loss, tl) + b * loss_tap_image,
                                  content_target + b * loss_tap_image, loss_tap_image,
                                  s->content_weight * per_image,
                                  feature_run_tap_grad(loss, tl) + b * loss_tap_image);
        for (int32_t i = 0; i < t->style_count; i++) {
            int32_t l = t->style_layer[i], hw = loss->out_h[l] * loss->out_w[l], c = loss->out_c[l];
            size_t image = (size_t)hw * c;
            losses[1] += moment_loss(
                feature_run_output(loss, l) + b * image, hw, c, t->style_mean[i] + (size_t)b * c,
                t->style_std[i] + (size_t)b * c, s->style_weight * per_image, t->scratch_mean,
                t->scratch_std, feature_run_tap_grad(loss, l) + b * image);
        }
    }
    const float *diff_view;
    TRY(feature_run_backward(loss, dnn, &diff_view));
    train_loss_window_backward(&t->window, diff_view, t->diff_rgb);
    /* The colour term (a style term: reported in the style loss) against each pair's own
     * style crop, whose statistics AdaIN's target also comes from. */
    const size_t image = (size_t)size * size * 3;
    for (int32_t b = 0; b < n && s->color_weight > 0; b++) {
        double mean[3], cov[9];
        color_statistics(t->style_rgb + b * image, (size_t)size * size, mean, cov);
        losses[1] += color_loss(t->output_rgb + b * image, (size_t)size * size, mean, cov,
                                s->color_weight * per_image, t->diff_rgb + b * image);
    }
    /* The grid term, a regulariser reported in the TV loss (the trainer has no TV term): the
     * decoder's upsamplings repeat every spec.scale pixels, the period of the checker it can
     * lock to its own grid. */
    for (int32_t b = 0; b < n && s->grid_weight > 0; b++)
        losses[2] +=
            grid_loss(t->output_rgb + b * image, size, size, t->spec.scale, TRAIN_GRID_TILE,
                      s->grid_weight * per_image, t->diff_rgb + b * image);
    float *diff_out = adain_decoder_diff_output(&t->decoder);
    double factor[3];
    for (int c = 0; c < 3; c++)
        factor[c] = t->net->input_std[c] / t->net->input_scale;
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++)
            diff_out[i * 3 + c] = (float)(t->diff_rgb[i * 3 + c] * factor[c]);
    TRY(adain_decoder_backward(&t->decoder, dnn));
    FAIL_IF(!isfinite(losses[0]) || !isfinite(losses[1]) || !isfinite(losses[2]),
            STYLE_ERR_INTERNAL,
            "train-adain: the loss became %g at iteration %lld (learning rate too high?)",
            losses[0] + losses[1] + losses[2], (long long)t->state.iteration + 1);
fail:
    return status;
}

static style_status save_checkpoint(adain_trainer *t, const char *path, double run_seconds)
{
    train_state state = t->state;
    state.seconds += run_seconds;
    char *json = settings_json(&t->settings, -1, -1, -1);
    if (!json) return style__fail(STYLE_ERR_NOMEM, "train-adain: out of memory");
    style_status status =
        train_checkpoint_write(path, json, &state, &t->params, t->adam_m, t->adam_v);
    free(json);
    if (status == STYLE_OK)
        train_loop_info(&t->loop, "checkpoint %s (iteration %lld)", path,
                        (long long)t->state.iteration);
    return status;
}

/* The iteration and Adam's update (train_loop_step.iterate). */
static style_status iterate(void *self, double lr, double losses[3])
{
    adain_trainer *t = self;
    style_status status = train_step(t, losses);
    if (status == STYLE_OK)
        train_adam_update(&t->params, t->adam_m, t->adam_v, lr, t->state.iteration + 1, -1);
    return status;
}

static style_status checkpoint(void *self, const char *path, double run_seconds)
{
    return save_checkpoint(self, path, run_seconds);
}

static style_status run_training(adain_trainer *t)
{
    const adain_settings *s = &t->settings;
    const train_loop_step step = {.self = t, .iterate = iterate, .checkpoint = checkpoint};
    const train_schedule schedule = {.iterations = s->iterations,
                                     .checkpoint_every = s->checkpoint_every,
                                     .batch_size = s->batch_size,
                                     .learning_rate = s->learning_rate};
    return train_loop_run(&t->loop, &step, &schedule, &t->state);
}

static style_status export_model(adain_trainer *t, const char *path)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    char *settings = settings_json(&t->settings, (int64_t)t->content.count,
                                   (int64_t)t->styles.count, t->state.seconds);
    char *training = settings ? train_provenance_adain_json(settings, t->settings.loss_net,
                                                            t->content_sha256, t->styles_sha256)
                              : NULL;
    free(settings);
    FAIL_IF(!training, STYLE_ERR_NOMEM, "out of memory");
    char name[256];
    snprintf(name, sizeof name, "%s", style__basename(path));
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    char description[256];
    snprintf(description, sizeof description,
             "AdaIN decoder for the %s encoder cut at %s: any style image at run time",
             t->net->name, t->settings.tap);
    const char *metadata[][2] = {
        {"libstyle.format_version", "1"},
        {"libstyle.arch", "adain"},
        {"libstyle.name", name},
        {"libstyle.description", description},
        {"libstyle.source", "trained with libstyle " LIBSTYLE_VERSION_STRING},
        {"libstyle.training", training},
    };
    for (size_t i = 0; i < sizeof metadata / sizeof *metadata; i++)
        TRY(st_file_add_metadata(&file, metadata[i][0], metadata[i][1]));
    TRY(adain_model_add_to_file(&file, t->net, t->tap, &t->spec, &t->params));
    TRY(train_write_model(path, &file));
fail:
    if (status != STYLE_OK) style__prefix_error("model export");
    free(training);
    st_file_clear(&file);
    return status;
}

static void trainer_destroy(adain_trainer *t)
{
    feature_run_destroy(&t->run);
    feature_run_destroy(&t->view_run);
    train_loss_window_destroy(&t->window);
    adain_decoder_destroy(&t->decoder);
    train_params_destroy(&t->params);
    train_dataset_close(&t->content);
    train_dataset_close(&t->styles);
    feature_net_free(t->net);
    for (int32_t i = 0; i < MAX_STYLE_LAYERS; i++) {
        style__aligned_free(t->style_mean[i]);
        style__aligned_free(t->style_std[i]);
    }
    style__aligned_free(t->adam_m);
    style__aligned_free(t->adam_v);
    style__aligned_free(t->content_rgb);
    style__aligned_free(t->style_rgb);
    style__aligned_free(t->output_rgb);
    style__aligned_free(t->diff_rgb);
    style__aligned_free(t->view_target);
    style__aligned_free(t->target);
    style__aligned_free(t->tap_mean);
    style__aligned_free(t->tap_std);
    style__aligned_free(t->scratch_mean);
    style__aligned_free(t->scratch_std);
    train_loop_close(&t->loop);
}

/* Opens a folder of images, refusing the files its held-out list holds; *sha256: the hash of
 * the kept files' list (provenance). */
static style_status open_images(adain_trainer *t, train_dataset *data, const char *dir,
                                const char *exclude, char sha256[SHA256_HEX_SIZE])
{
    style_status status = STYLE_OK;
    size_t excluded = 0;
    TRY(train_dataset_open(data, dir, t->options->log, t->options->log_user));
    TRY(train_dataset_fingerprint(data, exclude[0] ? exclude : NULL, sha256, &excluded));
    if (excluded)
        train_loop_info(&t->loop, "%zu held-out file%s of %s refused", excluded,
                        excluded == 1 ? "" : "s", exclude);
fail:
    return status;
}

/* Buffers of one iteration (the runs and the decoder exist). */
static style_status allocate_buffers(adain_trainer *t)
{
    const int32_t n = t->settings.batch_size, size = t->settings.crop_size, tl = t->tap;
    const feature_run *run = &t->run, *view = &t->view_run;
    const size_t image = (size_t)n * size * size * 3 * sizeof(float);
    t->content_rgb = style__aligned_alloc(image);
    t->style_rgb = style__aligned_alloc(image);
    t->output_rgb = style__aligned_alloc(image);
    t->diff_rgb = style__aligned_alloc(image);
    t->target = style__aligned_alloc((size_t)n * run->out_h[tl] * run->out_w[tl] * run->out_c[tl] *
                                     sizeof(float));
    if (t->settings.loss_shift > 0) {
        t->view_target = style__aligned_alloc((size_t)n * view->out_h[tl] * view->out_w[tl] *
                                              view->out_c[tl] * sizeof(float));
        if (!t->view_target) return style__fail(STYLE_ERR_NOMEM, "train-adain: out of memory");
    }
    t->tap_mean = style__aligned_alloc((size_t)n * run->out_c[tl] * sizeof(float));
    t->tap_std = style__aligned_alloc((size_t)n * run->out_c[tl] * sizeof(float));
    int32_t max_c = 1;
    for (int32_t i = 0; i < t->style_count; i++) {
        int32_t c = run->out_c[t->style_layer[i]];
        if (c > max_c) max_c = c;
        t->style_mean[i] = style__aligned_alloc((size_t)n * c * sizeof(float));
        t->style_std[i] = style__aligned_alloc((size_t)n * c * sizeof(float));
        if (!t->style_mean[i] || !t->style_std[i])
            return style__fail(STYLE_ERR_NOMEM, "train-adain: out of memory");
    }
    t->scratch_mean = style__aligned_alloc((size_t)max_c * sizeof(float));
    t->scratch_std = style__aligned_alloc((size_t)max_c * sizeof(float));
    if (!t->content_rgb || !t->style_rgb || !t->output_rgb || !t->diff_rgb || !t->target ||
        !t->tap_mean || !t->tap_std || !t->scratch_mean || !t->scratch_std)
        return style__fail(STYLE_ERR_NOMEM, "train-adain: out of memory");
    return STYLE_OK;
}

style_status style_train_adain(const style_train_adain_options *options)
{
    style_status status = STYLE_OK;
    adain_trainer t = {0};
    style_model *init = NULL; /* a warm start: the model whose decoder it starts from */
    if (!options || options->struct_size < sizeof(size_t) || !options->out_path)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train-adain: options or out_path missing");
    t.options = options;
    train_loop_init(&t.loop, "train-adain", options->threads, options->progress,
                    options->progress_user, options->log, options->log_user);
    TRY(resolve_settings(&t));
    adain_settings *s = &t.settings;
    TRY(train_loop_open(&t.loop, options->out_path, options->checkpoint_path, true));
    TRY(feature_net_load(s->loss_net, &t.net));
    if (s->init_model[0] && !options->resume_path)
        TRY(train_adain_init_open(s->init_model, s->loss_net, t.net, s->tap, s->init_model_sha256,
                                  &init));
    TRY(resolve_layers(&t));
    TRY(open_images(&t, &t.content, s->data_dir, s->exclude, t.content_sha256));
    t.content.max_short_side = s->max_short_side;
    TRY(open_images(&t, &t.styles, s->styles_dir, s->style_exclude, t.styles_sha256));

    TRY(adain_decoder_params(&t.spec, &t.params));
    TRY(train_loop_start(&t.loop, &t.params, options->resume_path, s->seed, &t.state, &t.adam_m,
                         &t.adam_v));
    if (init && !options->resume_path) {
        TRY(train_adain_init_params(init, s->init_model, &t.params));
        train_loop_info(&t.loop, "starting from the decoder of %s", s->init_model);
    }

    const int32_t n = s->batch_size, size = s->crop_size, view = size - s->loss_shift;
    /* Without a shift one run serves every pass and needs its backward; with one the
     * crop-sized run only gives targets. */
    TRY(feature_run_create(&t.run, t.net, t.loop.dnn, n, size, size, t.last, s->loss_shift == 0,
                           s->bf16));
    if (s->loss_shift > 0)
        TRY(feature_run_create(&t.view_run, t.net, t.loop.dnn, n, view, view, t.last, true,
                               s->bf16));
    TRY(train_loss_window_create(&t.window, s->loss_shift, size, n));
    const feature_run *run = &t.run;
    TRY(adain_decoder_create(&t.decoder, &t.spec, &t.params, t.loop.dnn, n, run->out_h[t.tap],
                             run->out_w[t.tap], false, s->bf16));
    FAIL_IF(t.decoder.out_h != size || t.decoder.out_w != size, STYLE_ERR_INTERNAL,
            "train-adain: the decoder gives %dx%d for %dx%d", t.decoder.out_w, t.decoder.out_h,
            size, size);
    TRY(allocate_buffers(&t));
    if (options->loss_log) TRY(train_loop_open_loss_log(&t.loop, options->loss_log));
    train_loop_info(&t.loop,
                    "training an AdaIN decoder (%d convs, %zu parameters) for %s cut at %s on %zu "
                    "photos and %zu styles, style layers %s, %lld iterations of %d x %dpx",
                    t.params.count / 2, t.params.total, t.net->name, s->tap, t.content.count,
                    t.styles.count, s->style_layers, (long long)s->iterations, n, size);
    if (s->loss_shift > 0)
        train_loop_info(&t.loop, "loss network window %d x %d at a random offset of 0..%d",
                        (int)view, (int)view, (int)s->loss_shift);
    TRY(run_training(&t));
    TRY(export_model(&t, options->out_path));
fail:
    trainer_destroy(&t);
    style_model_free(init);
    return status;
}
