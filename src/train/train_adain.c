/*
 * Training an AdaIN decoder (style_train_adain): for a batch of content crops c and style
 * crops s, t = AdaIN(f(c), f(s)) at the encoder's tap, y = g(t), and the loss is
 *   content_weight * content(f(g(t)), t) + style_weight * sum_l moments(f_l(g(t)), f_l(s))
 * (train_losses.h), minimised over the decoder's weights with Adam; the encoder is frozen.
 * Checkpoints and resumption use the trainer's checkpoint files.
 */
#include "arch/adain.h"
#include "train/train.h"
#include "train/train_losses.h"

#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
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
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    feature_run run;
    adain_decoder decoder;
    float *content_rgb, *style_rgb, *output_rgb;
    float *style_mean[MAX_STYLE_LAYERS], *style_std[MAX_STYLE_LAYERS]; /* n x c each */
    float *target;                                                     /* t: n x tap size */
    float *tap_mean, *tap_std; /* the styles' statistics at the tap, n x c */
    float *scratch_mean, *scratch_std;
    FILE *loss_log;
} adain_trainer;

static void log_info(const adain_trainer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_info(const adain_trainer *t, const char *fmt, ...)
{
    if (!t->options->log) return;
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    t->options->log(t->options->log_user, STYLE_LOG_INFO, message);
}

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
        !(isfinite(s->style_weight) && s->style_weight >= 0))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train-adain: a setting is out of range (crop 8..2048, batch 1..256, "
                           "iterations and checkpoint interval >= 1, finite positive learning "
                           "rate, finite weights >= 0)");
    return STYLE_OK;
}

static style_status resolve_settings(adain_trainer *t)
{
    style_status status = STYLE_OK;
    const style_train_adain_options *o = t->options;
    adain_settings *s = &t->settings;
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
        if (o->data_dir) TRY(copy_path(s->data_dir, o->data_dir, "data directory"));
        if (o->styles_dir) TRY(copy_path(s->styles_dir, o->styles_dir, "styles directory"));
        if (o->loss_net) TRY(copy_path(s->loss_net, o->loss_net, "loss network"));
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
    FAIL_IF(o->crop_size < 0 || o->batch_size < 0 || o->iterations < 0 || o->learning_rate < 0 ||
                o->content_weight < 0 || o->style_weight < 0 || o->checkpoint_every < 0,
            STYLE_ERR_INVALID_ARGUMENT, "train-adain: an option is out of range");
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
    char list[512];
    snprintf(list, sizeof list, "%s", s->style_layers);
    t->style_count = 0;
    t->last = t->tap;
    for (char *save = NULL, *name = strtok_r(list, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        int32_t layer = feature_net_tap(net, name);
        FAIL_IF(layer < 0, STYLE_ERR_INVALID_ARGUMENT, "train-adain: %s has no tap '%s'", net->name,
                name);
        FAIL_IF(t->style_count == MAX_STYLE_LAYERS, STYLE_ERR_INVALID_ARGUMENT,
                "train-adain: too many style layers");
        t->style_layer[t->style_count++] = layer;
        if (layer > t->last) t->last = layer;
    }
    FAIL_IF(!t->style_count, STYLE_ERR_INVALID_ARGUMENT, "train-adain: no style layers");
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

static style_status train_step(adain_trainer *t, double losses[2])
{
    style_status status = STYLE_OK;
    const adain_settings *s = &t->settings;
    const int32_t n = s->batch_size, size = s->crop_size;
    feature_run *run = &t->run;
    TRY(train_dataset_batch(&t->content, &t->state.rng, n, size, t->content_rgb));
    TRY(train_dataset_batch(&t->styles, &t->state.rng, n, size, t->style_rgb));

    /* The styles' statistics at every style layer. */
    TRY(feature_run_forward(run, t->stream, t->style_rgb));
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

    /* t = AdaIN(f(c), f(s)) */
    TRY(feature_run_forward(run, t->stream, t->content_rgb));
    for (int32_t b = 0; b < n; b++)
        adain_forward(feature_run_output(run, tl) + b * tap_image, thw, tc,
                      t->tap_mean + (size_t)b * tc, t->tap_std + (size_t)b * tc, 1.0f,
                      t->target + b * tap_image);
    memcpy(t->decoder.input, t->target, n * tap_image * sizeof(float));

    const float *out;
    TRY(adain_decoder_forward(&t->decoder, t->stream, &out));
    const size_t pixels = (size_t)n * size * size;
    output_to_rgb(t->net, out, pixels, t->output_rgb);
    TRY(feature_run_forward(run, t->stream, t->output_rgb));
    losses[0] = losses[1] = 0;
    const double per_image = 1.0 / n;
    for (int32_t b = 0; b < n; b++) {
        losses[0] += content_loss(
            feature_run_output(run, tl) + b * tap_image, t->target + b * tap_image, tap_image,
            s->content_weight * per_image, feature_run_tap_grad(run, tl) + b * tap_image);
        for (int32_t i = 0; i < t->style_count; i++) {
            int32_t l = t->style_layer[i], hw = run->out_h[l] * run->out_w[l], c = run->out_c[l];
            size_t image = (size_t)hw * c;
            losses[1] += moment_loss(
                feature_run_output(run, l) + b * image, hw, c, t->style_mean[i] + (size_t)b * c,
                t->style_std[i] + (size_t)b * c, s->style_weight * per_image, t->scratch_mean,
                t->scratch_std, feature_run_tap_grad(run, l) + b * image);
        }
    }
    const float *diff_rgb;
    TRY(feature_run_backward(run, t->stream, &diff_rgb));
    float *diff_out = adain_decoder_diff_output(&t->decoder);
    double factor[3];
    for (int c = 0; c < 3; c++)
        factor[c] = t->net->input_std[c] / t->net->input_scale;
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < 3; c++)
            diff_out[i * 3 + c] = (float)(diff_rgb[i * 3 + c] * factor[c]);
    TRY(adain_decoder_backward(&t->decoder, t->stream));
    FAIL_IF(!isfinite(losses[0]) || !isfinite(losses[1]), STYLE_ERR_INTERNAL,
            "train-adain: the loss became %g at iteration %lld (learning rate too high?)",
            losses[0] + losses[1], (long long)t->state.iteration + 1);
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
        log_info(t, "checkpoint %s (iteration %lld)", path, (long long)t->state.iteration);
    return status;
}

static style_status run_training(adain_trainer *t, const char *checkpoint_path)
{
    style_status status = STYLE_OK;
    const adain_settings *s = &t->settings;
    const style_train_adain_options *o = t->options;
    const double start = train_now_seconds();
    double window_start = start, throughput = 0;
    int64_t window_iterations = 0;
    while (t->state.iteration < s->iterations) {
        double losses[2];
        TRY(train_step(t, losses));
        train_adam_update(&t->params, t->adam_m, t->adam_v, s->learning_rate,
                          t->state.iteration + 1, -1);
        t->state.iteration++;
        window_iterations++;
        double now = train_now_seconds();
        if (now - window_start > 5.0 || throughput == 0) {
            throughput = window_iterations * s->batch_size / (now - window_start);
            window_start = now;
            window_iterations = 0;
        }
        if (t->loss_log)
            fprintf(t->loss_log, "%lld,%.9g,%.9g,0,%.9g,%.6g\n", (long long)t->state.iteration,
                    losses[0], losses[1], losses[0] + losses[1], s->learning_rate);
        style_train_stats stats = {.iteration = t->state.iteration,
                                   .iterations = s->iterations,
                                   .content_loss = losses[0],
                                   .style_loss = losses[1],
                                   .total_loss = losses[0] + losses[1],
                                   .images_per_second = throughput,
                                   .elapsed_seconds = now - start,
                                   .learning_rate = s->learning_rate,
                                   .eta_seconds = throughput > 0
                                                      ? (s->iterations - t->state.iteration) *
                                                            s->batch_size / throughput
                                                      : 0};
        bool stop = o->progress && o->progress(o->progress_user, &stats);
        if (stop || t->state.iteration % s->checkpoint_every == 0 ||
            t->state.iteration == s->iterations)
            TRY(save_checkpoint(t, checkpoint_path, now - start));
        if (stop && t->state.iteration < s->iterations) {
            status = style__fail(STYLE_ERR_CANCELLED,
                                 "train-adain: stopped at iteration %lld; checkpoint saved to %s",
                                 (long long)t->state.iteration, checkpoint_path);
            goto fail;
        }
    }
    t->state.seconds += train_now_seconds() - start;
fail:
    return status;
}

static style_status export_model(adain_trainer *t, const char *path)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    char *settings = settings_json(&t->settings, (int64_t)t->content.count,
                                   (int64_t)t->styles.count, t->state.seconds);
    char *training = settings ? train_provenance_adain_json(settings, t->settings.loss_net) : NULL;
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
    style__aligned_free(t->target);
    style__aligned_free(t->tap_mean);
    style__aligned_free(t->tap_std);
    style__aligned_free(t->scratch_mean);
    style__aligned_free(t->scratch_std);
    if (t->loss_log) fclose(t->loss_log);
    if (t->stream) dnnl_stream_destroy(t->stream);
    if (t->engine) dnnl_engine_destroy(t->engine);
}

style_status style_train_adain(const style_train_adain_options *options)
{
    style_status status = STYLE_OK;
    adain_trainer t = {0};
    char *checkpoint_path = NULL;
    int previous_threads = omp_get_max_threads();
    if (!options || options->struct_size < sizeof(size_t) || !options->out_path)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train-adain: options or out_path missing");
    t.options = options;
    if (options->threads > 0) omp_set_num_threads(options->threads);
    TRY(resolve_settings(&t));
    const adain_settings *s = &t.settings;
    checkpoint_path = train_checkpoint_path(options->checkpoint_path, options->out_path);
    FAIL_IF(!checkpoint_path, STYLE_ERR_NOMEM, "train-adain: out of memory");
    TRY(train_check_writable(options->out_path, "model"));
    TRY(train_check_writable(checkpoint_path, "checkpoint"));
    int stale = style__remove_temporaries(checkpoint_path); /* left by a killed run */
    if (stale > 0)
        log_info(&t, "removed %d unfinished temporary file%s of %s (an interrupted write)", stale,
                 stale == 1 ? "" : "s", checkpoint_path);
    DNNL_TRY(dnnl_engine_create(&t.engine, dnnl_cpu, 0), "train-adain: engine");
    DNNL_TRY(dnnl_stream_create(&t.stream, t.engine, dnnl_stream_default_flags),
             "train-adain: stream");
    TRY(feature_net_load(s->loss_net, &t.net));
    TRY(resolve_layers(&t));
    TRY(train_dataset_open(&t.content, s->data_dir, options->log, options->log_user));
    TRY(train_dataset_open(&t.styles, s->styles_dir, options->log, options->log_user));

    TRY(adain_decoder_params(&t.spec, &t.params));
    size_t bytes = t.params.total * sizeof(float);
    t.adam_m = style__aligned_alloc(bytes);
    t.adam_v = style__aligned_alloc(bytes);
    FAIL_IF(!t.adam_m || !t.adam_v, STYLE_ERR_NOMEM, "train-adain: out of memory");
    memset(t.adam_m, 0, bytes);
    memset(t.adam_v, 0, bytes);
    if (options->resume_path) {
        TRY(train_checkpoint_load(options->resume_path, &t.state, &t.params, t.adam_m, t.adam_v));
        log_info(&t, "resuming %s at iteration %lld", options->resume_path,
                 (long long)t.state.iteration);
    } else {
        train_params_init(&t.params, s->seed);
        train_rng_seed(&t.state.rng, s->seed);
    }

    const int32_t n = s->batch_size, size = s->crop_size;
    TRY(feature_run_create(&t.run, t.net, t.engine, n, size, size, t.last, true));
    const feature_run *run = &t.run;
    TRY(adain_decoder_create(&t.decoder, &t.spec, &t.params, t.engine, n, run->out_h[t.tap],
                             run->out_w[t.tap], false));
    FAIL_IF(t.decoder.out_h != size || t.decoder.out_w != size, STYLE_ERR_INTERNAL,
            "train-adain: the decoder gives %dx%d for %dx%d", t.decoder.out_w, t.decoder.out_h,
            size, size);
    size_t image = (size_t)n * size * size * 3 * sizeof(float);
    t.content_rgb = style__aligned_alloc(image);
    t.style_rgb = style__aligned_alloc(image);
    t.output_rgb = style__aligned_alloc(image);
    const int32_t tl = t.tap;
    t.target = style__aligned_alloc((size_t)n * run->out_h[tl] * run->out_w[tl] * run->out_c[tl] *
                                    sizeof(float));
    t.tap_mean = style__aligned_alloc((size_t)n * run->out_c[tl] * sizeof(float));
    t.tap_std = style__aligned_alloc((size_t)n * run->out_c[tl] * sizeof(float));
    FAIL_IF(!t.tap_mean || !t.tap_std, STYLE_ERR_NOMEM, "train-adain: out of memory");
    int32_t max_c = 1;
    for (int32_t i = 0; i < t.style_count; i++) {
        int32_t c = run->out_c[t.style_layer[i]];
        if (c > max_c) max_c = c;
        t.style_mean[i] = style__aligned_alloc((size_t)n * c * sizeof(float));
        t.style_std[i] = style__aligned_alloc((size_t)n * c * sizeof(float));
        FAIL_IF(!t.style_mean[i] || !t.style_std[i], STYLE_ERR_NOMEM, "train-adain: out of memory");
    }
    t.scratch_mean = style__aligned_alloc((size_t)max_c * sizeof(float));
    t.scratch_std = style__aligned_alloc((size_t)max_c * sizeof(float));
    FAIL_IF(!t.content_rgb || !t.style_rgb || !t.output_rgb || !t.target || !t.scratch_mean ||
                !t.scratch_std,
            STYLE_ERR_NOMEM, "train-adain: out of memory");
    if (options->loss_log) {
        t.loss_log = fopen(options->loss_log, "a");
        FAIL_IF(!t.loss_log, STYLE_ERR_IO, "train-adain: cannot open the loss log %s",
                options->loss_log);
        if (ftell(t.loss_log) == 0) fprintf(t.loss_log, "iteration,content,style,tv,total,lr\n");
    }
    log_info(&t,
             "training an AdaIN decoder (%d convs, %zu parameters) for %s cut at %s on %zu "
             "photos and %zu styles, style layers %s, %lld iterations of %d x %dpx",
             t.params.count / 2, t.params.total, t.net->name, s->tap, t.content.count,
             t.styles.count, s->style_layers, (long long)s->iterations, n, size);
    TRY(run_training(&t, checkpoint_path));
    TRY(export_model(&t, options->out_path));
fail:
    trainer_destroy(&t);
    style__free(checkpoint_path);
    omp_set_num_threads(previous_threads);
    return status;
}
