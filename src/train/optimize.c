/*
 * style_optimize: Gatys et al.'s style transfer by optimising the pixels of one image against
 * content + Gram style + total-variation losses (the trainer's definitions, train_losses.h),
 * with L-BFGS (default) or Adam (optim.h). Several styles blend their Gram matrices.
 */
#include "train/optimize.h"
#include "core/clock.h"
#include "image/color.h"
#include "train/train_data.h"
#include "image/resize.h"
#include "train/train_losses.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_SIZE 512
#define DEFAULT_ITERATIONS 300
#define DEFAULT_CONTENT_WEIGHT 1.0
#define DEFAULT_STYLE_WEIGHT 2.0
#define DEFAULT_TV_WEIGHT 50.0
#define DEFAULT_ADAM_LR 4.0
#define LBFGS_HISTORY 10
#define LBFGS_FIRST_STEP 8.0 /* pixel units (0..255) */
#define PATH_LIMIT 4096

/* ---- The problem ------------------------------------------------------------------------ */

static style_status resolve_layers(optimize_problem *p, const char *content_layer,
                                   const char *style_layers)
{
    const feature_net *net = p->net;
    snprintf(p->content_name, sizeof p->content_name, "%s",
             content_layer && *content_layer ? content_layer : net->content_taps[0]);
    p->content_layer = feature_net_tap(net, p->content_name);
    if (p->content_layer < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "optimize: loss network %s has no tap '%s'",
                           net->name, p->content_name);
    if (style_layers && *style_layers) {
        if (strlen(style_layers) >= sizeof p->style_names)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT, "optimize: style layer list too long");
        snprintf(p->style_names, sizeof p->style_names, "%s", style_layers);
    } else {
        feature_net_style_tap_list(net, p->style_names, sizeof p->style_names);
    }
    return feature_net_tap_list(net, p->style_names, "optimize", p->style_layer,
                                OPTIMIZE_MAX_STYLE_LAYERS, &p->style_count);
}

static int32_t deepest_layer(const optimize_problem *p)
{
    int32_t last = p->content_layer;
    for (int32_t i = 0; i < p->style_count; i++)
        if (p->style_layer[i] > last) last = p->style_layer[i];
    return last;
}

/* The content image, resized (antialiased) so that its long side is `size`. */
static style_status load_content(optimize_problem *p, const char *path, int32_t size)
{
    style_status status = STYLE_OK;
    float *full = NULL;
    int32_t fw = 0, fh = 0;
    TRY(train_load_rgb(path, 0, &full, &fw, &fh));
    bool wide = fw >= fh;
    double scale = (double)size / (double)(wide ? fw : fh);
    p->width = wide ? size : (int32_t)fmax(1.0, round(fw * scale));
    p->height = wide ? (int32_t)fmax(1.0, round(fh * scale)) : size;
    p->content_rgb = style__aligned_alloc((size_t)p->width * p->height * 3 * sizeof(float));
    FAIL_IF(!p->content_rgb, STYLE_ERR_NOMEM, "optimize: out of memory for a %dx%d image", p->width,
            p->height);
    TRY(image_resize_rgb(full, fw, fh, p->content_rgb, p->width, p->height));
fail:
    style__free(full);
    return status;
}

/* Adds blend * G_l(style) to the double accumulators of every style layer. */
static style_status accumulate_style(optimize_problem *p, const char *path, int32_t short_side,
                                     double blend, double **sums, style_log_fn log, void *log_user)
{
    style_status status = STYLE_OK;
    float *image = NULL, *gram = NULL;
    int32_t w = 0, h = 0;
    feature_run run = {0};
    TRY(train_load_rgb(path, short_side, &image, &w, &h));
    style__log(log, log_user, STYLE_LOG_INFO, "style image %s: %dx%d, weight %.3g", path, w, h,
               blend);
    if (blend == 0) goto fail; /* loaded (so a bad file is still an error), nothing to add */
    status = feature_run_create(&run, p->net, p->dnn, 1, h, w, deepest_layer(p), false, false);
    if (status != STYLE_OK) {
        style__prefix_error(path);
        goto fail;
    }
    TRY(feature_run_forward(&run, p->dnn, image));
    for (int32_t i = 0; i < p->style_count; i++) {
        int32_t l = p->style_layer[i], c = run.out_c[l];
        style__aligned_free(gram);
        gram = style__aligned_alloc((size_t)c * c * sizeof(float));
        FAIL_IF(!gram, STYLE_ERR_NOMEM, "optimize: out of memory");
        gram_matrix(feature_run_output(&run, l), run.out_h[l] * run.out_w[l], c, gram);
        for (size_t k = 0; k < (size_t)c * c; k++)
            sums[i][k] += blend * (double)gram[k];
    }
fail:
    feature_run_destroy(&run);
    style__aligned_free(gram);
    style__free(image);
    return status;
}

style_status optimize_problem_create(optimize_problem *p, const char *loss_net,
                                     const char *content_image, int32_t size,
                                     const char *const *style_images, const double *blend,
                                     size_t style_count, int32_t style_size,
                                     const char *content_layer, const char *style_layers,
                                     double content_weight, double style_weight, double tv_weight,
                                     style_log_fn log, void *log_user)
{
    style_status status = STYLE_OK;
    double *sums[OPTIMIZE_MAX_STYLE_LAYERS] = {0};
    memset(p, 0, sizeof *p);
    p->content_weight = content_weight;
    p->style_weight = style_weight;
    p->tv_weight = tv_weight;
    TRY(dnn_context_create(&p->dnn, "optimize"));
    TRY(feature_net_load(loss_net, &p->net));
    TRY(resolve_layers(p, content_layer, style_layers));
    TRY(load_content(p, content_image, size));
    status = feature_run_create(&p->run, p->net, p->dnn, 1, p->height, p->width, deepest_layer(p),
                                true, false);
    if (status != STYLE_OK) {
        style__prefix_error(content_image);
        goto fail;
    }
    style__log(log, log_user, STYLE_LOG_INFO, "content image %s: %dx%d", content_image, p->width,
               p->height);

    /* Content target. */
    const feature_run *run = &p->run;
    const int32_t cl = p->content_layer;
    const size_t content_count = (size_t)run->out_h[cl] * run->out_w[cl] * run->out_c[cl];
    p->content_target = style__aligned_alloc(content_count * sizeof(float));
    FAIL_IF(!p->content_target, STYLE_ERR_NOMEM, "optimize: out of memory");
    TRY(feature_run_forward(&p->run, p->dnn, p->content_rgb));
    memcpy(p->content_target, feature_run_output(&p->run, cl), content_count * sizeof(float));

    /* Style targets: the blend of the styles' Grams, accumulated in double. */
    int32_t max_c = 1;
    for (int32_t i = 0; i < p->style_count; i++) {
        int32_t c = run->out_c[p->style_layer[i]];
        if (c > max_c) max_c = c;
        sums[i] = style__calloc((size_t)c * c, sizeof(double));
        p->style_gram[i] = style__aligned_alloc((size_t)c * c * sizeof(float));
        FAIL_IF(!sums[i] || !p->style_gram[i], STYLE_ERR_NOMEM, "optimize: out of memory");
    }
    const int32_t short_side = style_size > 0         ? style_size
                               : p->width < p->height ? p->width
                                                      : p->height;
    for (size_t k = 0; k < style_count; k++)
        TRY(accumulate_style(p, style_images[k], short_side, blend[k], sums, log, log_user));
    for (int32_t i = 0; i < p->style_count; i++) {
        int32_t c = run->out_c[p->style_layer[i]];
        for (size_t k = 0; k < (size_t)c * c; k++)
            p->style_gram[i][k] = (float)sums[i][k];
        p->style_norm2[i] = gram_norm2(p->style_gram[i], c);
    }
    p->gram_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    p->delta_scratch = style__aligned_alloc((size_t)max_c * max_c * sizeof(float));
    FAIL_IF(!p->gram_scratch || !p->delta_scratch, STYLE_ERR_NOMEM, "optimize: out of memory");
    for (int32_t i = 0; i < OPTIMIZE_MAX_STYLE_LAYERS; i++)
        style__free(sums[i]);
    return STYLE_OK;
fail:
    for (int32_t i = 0; i < OPTIMIZE_MAX_STYLE_LAYERS; i++)
        style__free(sums[i]);
    optimize_problem_destroy(p);
    return status;
}

void optimize_problem_destroy(optimize_problem *p)
{
    if (!p) return;
    feature_run_destroy(&p->run);
    feature_net_free(p->net);
    for (int32_t i = 0; i < OPTIMIZE_MAX_STYLE_LAYERS; i++)
        style__aligned_free(p->style_gram[i]);
    style__aligned_free(p->content_rgb);
    style__aligned_free(p->content_target);
    style__aligned_free(p->gram_scratch);
    style__aligned_free(p->delta_scratch);
    dnn_context_free(p->dnn);
    memset(p, 0, sizeof *p);
}

style_status optimize_evaluate(void *ctx, const float *x, float *grad, double *f,
                               double aux[OPT_AUX])
{
    style_status status = STYLE_OK;
    optimize_problem *p = ctx;
    feature_run *run = &p->run;
    FAIL_IF(p->cancel && p->cancel(p->cancel_user), STYLE_ERR_CANCELLED, "optimize: cancelled");
    TRY(feature_run_forward(run, p->dnn, x));
    FAIL_IF(p->cancel && p->cancel(p->cancel_user), STYLE_ERR_CANCELLED, "optimize: cancelled");
    double content = 0, style = 0, tv = 0;
    if (p->content_weight > 0) {
        const int32_t cl = p->content_layer;
        const size_t count = (size_t)run->out_h[cl] * run->out_w[cl] * run->out_c[cl];
        content = content_loss(feature_run_output(run, cl), p->content_target, count,
                               p->content_weight, feature_run_tap_grad(run, cl));
    }
    if (p->style_weight > 0)
        for (int32_t i = 0; i < p->style_count; i++) {
            int32_t l = p->style_layer[i];
            style += style_loss(feature_run_output(run, l), run->out_h[l] * run->out_w[l],
                                run->out_c[l], p->style_gram[i], p->style_norm2[i], p->style_weight,
                                p->gram_scratch, p->delta_scratch, feature_run_tap_grad(run, l));
        }
    const float *diff_rgb;
    TRY(feature_run_backward(run, p->dnn, &diff_rgb));
    const size_t count = (size_t)p->width * p->height * 3;
    memcpy(grad, diff_rgb, count * sizeof(float));
    if (p->tv_weight > 0) tv = tv_loss(x, p->height, p->width, p->tv_weight, grad);
    aux[0] = content, aux[1] = style, aux[2] = tv, aux[3] = 0;
    *f = content + style + tv;
    return STYLE_OK;
fail:
    return status;
}

/* ---- style_optimize --------------------------------------------------------------------- */

static bool has_image_extension(const char *path)
{
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash)) return false;
    return strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
           strcasecmp(dot, ".jpeg") == 0 || strcasecmp(dot, ".webp") == 0;
}

/* Clamps (and with preserve_color recolours) the image, writes out_path and fills result. */
static style_status finish_image(const style_optimize_options *o, const optimize_problem *p,
                                 const float *x)
{
    style_status status = STYLE_OK;
    style_image image = {0};
    TRY(style_image_alloc(&image, p->width, p->height, 3, STYLE_SAMPLE_F32));
    float *out = image.data;
    const size_t pixels = (size_t)p->width * p->height;
    memcpy(out, x, pixels * 3 * sizeof(float));
    color_clamp(out, pixels * 3);
    if (o->preserve_color) {
        color_preserve_luminance(out, p->content_rgb, pixels);
        color_clamp(out, pixels * 3);
    }
    if (o->out_path) TRY(style_image_save(o->out_path, &image, 0));
    if (o->result) {
        *o->result = image;
        image.data = NULL;
    }
fail:
    style_image_release(&image);
    return status;
}

/* Options with their defaults, checked. */
/* needs_output: style_optimize writes an image; evaluating losses does not. */
static style_status resolve_options(style_optimize_options *o, double *blend, bool needs_output)
{
    style_status status = STYLE_OK;
    FAIL_IF(!o->content_image || !*o->content_image, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: no content image given");
    FAIL_IF(!o->style_images || o->style_count == 0, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: no style image given");
    FAIL_IF(o->style_count > OPTIMIZE_MAX_STYLES, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: %zu style images (at most %d)", o->style_count, OPTIMIZE_MAX_STYLES);
    for (size_t k = 0; k < o->style_count; k++)
        FAIL_IF(!o->style_images[k] || !*o->style_images[k], STYLE_ERR_INVALID_ARGUMENT,
                "optimize: style image %zu has no path", k + 1);
    FAIL_IF(!o->loss_net || !*o->loss_net, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: no loss network given");
    FAIL_IF(needs_output && !o->out_path && !o->result, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: neither out_path nor result given");
    if (needs_output && o->out_path) {
        FAIL_IF(!has_image_extension(o->out_path), STYLE_ERR_INVALID_ARGUMENT,
                "optimize: %s: unknown file extension (expected .png, .jpg, .jpeg or .webp)",
                o->out_path);
        TRY(style__check_writable("optimize", "image", o->out_path));
    }
    double sum = 0;
    for (size_t k = 0; k < o->style_count; k++) {
        double w = o->style_blend ? o->style_blend[k] : 1.0;
        FAIL_IF(!isfinite(w) || w < 0, STYLE_ERR_INVALID_ARGUMENT,
                "optimize: style weight %zu is %g (weights must be finite and >= 0)", k + 1, w);
        blend[k] = w;
        sum += w;
    }
    FAIL_IF(!(sum > 0), STYLE_ERR_INVALID_ARGUMENT, "optimize: the style weights sum to 0");
    for (size_t k = 0; k < o->style_count; k++)
        blend[k] /= sum;
    if (o->size == 0) o->size = DEFAULT_SIZE;
    FAIL_IF(o->size < 1 || o->size > 16384, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: size %d is not in 1..16384", o->size);
    FAIL_IF(o->style_size < 0 || o->style_size > 16384, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: style size %d is not in 0..16384", o->style_size);
    if (o->iterations == 0) o->iterations = DEFAULT_ITERATIONS;
    FAIL_IF(o->iterations < 0, STYLE_ERR_INVALID_ARGUMENT, "optimize: negative iteration count");
    FAIL_IF(o->optimizer && strcmp(o->optimizer, "lbfgs") && strcmp(o->optimizer, "adam"),
            STYLE_ERR_INVALID_ARGUMENT, "optimize: optimizer must be 'lbfgs' or 'adam', not '%s'",
            o->optimizer);
    FAIL_IF(o->init && strcmp(o->init, "content") && strcmp(o->init, "noise"),
            STYLE_ERR_INVALID_ARGUMENT, "optimize: init must be 'content' or 'noise', not '%s'",
            o->init);
    FAIL_IF(!isfinite(o->learning_rate) || o->learning_rate < 0, STYLE_ERR_INVALID_ARGUMENT,
            "optimize: bad learning rate %g", o->learning_rate);
    if (o->learning_rate == 0) o->learning_rate = DEFAULT_ADAM_LR;
    FAIL_IF(!isfinite(o->content_weight) || !isfinite(o->style_weight) || !isfinite(o->tv_weight),
            STYLE_ERR_INVALID_ARGUMENT, "optimize: loss weights must be finite");
    /* 0: the default; negative: the term is off. */
    o->content_weight = o->content_weight > 0   ? o->content_weight
                        : o->content_weight < 0 ? 0.0
                                                : DEFAULT_CONTENT_WEIGHT;
    o->style_weight = o->style_weight > 0   ? o->style_weight
                      : o->style_weight < 0 ? 0.0
                                            : DEFAULT_STYLE_WEIGHT;
    o->tv_weight = o->tv_weight > 0 ? o->tv_weight : o->tv_weight < 0 ? 0.0 : DEFAULT_TV_WEIGHT;
    return STYLE_OK;
fail:
    return status;
}

style_status style_optimize(const style_optimize_options *options)
{
    style_status status = STYLE_OK;
    optimize_problem p = {0};
    lbfgs lb = {0};
    adam ad = {0};
    float *x = NULL, *x_before = NULL;
    FILE *csv = NULL;
    bool cancelled = false;
    int previous_threads = omp_get_max_threads();
    double blend[OPTIMIZE_MAX_STYLES];
    if (!options || options->struct_size < sizeof(size_t))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "optimize: options missing");
    /* Fields beyond the caller's struct_size are zero (defaults). */
    style_optimize_options o = {0};
    memcpy(&o, options, options->struct_size < sizeof o ? options->struct_size : sizeof o);
    if (o.result) memset(o.result, 0, sizeof *o.result);
    TRY(resolve_options(&o, blend, true));
    if (o.threads > 0) omp_set_num_threads(o.threads);
    const bool use_adam = o.optimizer && strcmp(o.optimizer, "adam") == 0;

    TRY(optimize_problem_create(&p, o.loss_net, o.content_image, o.size, o.style_images, blend,
                                o.style_count, o.style_size, o.content_layer, o.style_layers,
                                o.content_weight, o.style_weight, o.tv_weight, o.log, o.log_user));
    p.cancel = o.cancel; /* zero unless the caller's struct_size covers it */
    p.cancel_user = o.cancel_user;
    const size_t n = (size_t)p.width * p.height * 3;
    x = style__aligned_alloc(n * sizeof(float));
    /* The image of the last whole iteration, for a stop inside the next one. */
    x_before = p.cancel ? style__aligned_alloc(n * sizeof(float)) : NULL;
    FAIL_IF(!x || (p.cancel && !x_before), STYLE_ERR_NOMEM, "optimize: out of memory");
    if (o.init && strcmp(o.init, "noise") == 0) {
        train_rng rng;
        train_rng_seed(&rng, o.seed);
        for (size_t i = 0; i < n; i++)
            x[i] = (float)(255.0 * train_rng_uniform(&rng));
    } else {
        memcpy(x, p.content_rgb, n * sizeof(float));
    }
    if (use_adam)
        TRY(adam_create(&ad, n, o.learning_rate));
    else
        TRY(lbfgs_create(&lb, n, LBFGS_HISTORY, LBFGS_FIRST_STEP));
    if (o.log_csv) {
        csv = fopen(o.log_csv, "w");
        FAIL_IF(!csv, STYLE_ERR_IO, "optimize: cannot open the loss log %s: %s", o.log_csv,
                strerror(errno));
        fprintf(csv, "iteration,evaluations,content,style,tv,total,seconds\n");
    }
    style__log(o.log, o.log_user, STYLE_LOG_INFO,
               "optimizing %dx%d pixels with %s%s, loss net %s, content %s (weight %g), style "
               "%s (weight %g), tv weight %g, %lld iterations",
               p.width, p.height, use_adam ? "Adam" : "L-BFGS", use_adam ? "" : " (history 10)",
               p.net->name, p.content_name, p.content_weight, p.style_names, p.style_weight,
               p.tv_weight, (long long)o.iterations);

    const double start = style__clock_seconds();
    int64_t iteration = 0, evaluations = 0;
    while (iteration < o.iterations) {
        double f = 0, aux[OPT_AUX] = {0};
        bool converged = false;
        if (x_before) memcpy(x_before, x, n * sizeof(float));
        if (use_adam)
            status = adam_step(&ad, x, optimize_evaluate, &p, &f, aux);
        else
            status = lbfgs_step(&lb, x, optimize_evaluate, &p, &f, aux, &converged);
        if (status == STYLE_ERR_CANCELLED) {
            /* Stopped inside the iteration: it is dropped, the last whole one is the result. */
            memcpy(x, x_before, n * sizeof(float));
            status = STYLE_OK;
            cancelled = true;
            break;
        }
        TRY(status);
        evaluations = use_adam ? ad.evaluations : lb.evaluations;
        if (converged) {
            style__log(o.log, o.log_user, STYLE_LOG_INFO,
                       "L-BFGS converged after %lld iterations (no further decrease)",
                       (long long)iteration);
            break;
        }
        iteration++;
        double elapsed = style__clock_seconds() - start;
        if (csv)
            fprintf(csv, "%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.3f\n", (long long)iteration,
                    (long long)evaluations, aux[0], aux[1], aux[2], f, elapsed);
        style_optimize_stats stats = {.iteration = iteration,
                                      .iterations = o.iterations,
                                      .evaluations = evaluations,
                                      .content_loss = aux[0],
                                      .style_loss = aux[1],
                                      .tv_loss = aux[2],
                                      .total_loss = f,
                                      .elapsed_seconds = elapsed,
                                      .eta_seconds = elapsed / (double)iteration *
                                                     (double)(o.iterations - iteration)};
        if (o.progress && o.progress(o.progress_user, &stats) && iteration < o.iterations) {
            cancelled = true;
            break;
        }
    }
    const double seconds = style__clock_seconds() - start;
    if (iteration > 0)
        style__log(o.log, o.log_user, STYLE_LOG_INFO,
                   "%lld iterations, %lld evaluations in %.1f s: %.3f s per iteration, %.3f s "
                   "per evaluation",
                   (long long)iteration, (long long)evaluations, seconds,
                   seconds / (double)iteration, evaluations ? seconds / (double)evaluations : 0.0);
    TRY(finish_image(&o, &p, x));
    if (o.out_path) style__log(o.log, o.log_user, STYLE_LOG_INFO, "wrote %s", o.out_path);
    if (cancelled) {
        if (o.result) style_image_release(o.result);
        status = style__fail(STYLE_ERR_CANCELLED, "optimize: stopped at iteration %lld%s%s",
                             (long long)iteration, o.out_path ? "; wrote " : "",
                             o.out_path ? o.out_path : "");
    }
fail:
    if (csv && fclose(csv) != 0 && status == STYLE_OK)
        status = style__fail(STYLE_ERR_IO, "optimize: cannot write the loss log %s", o.log_csv);
    lbfgs_destroy(&lb);
    adam_destroy(&ad);
    style__aligned_free(x);
    style__aligned_free(x_before);
    optimize_problem_destroy(&p);
    omp_set_num_threads(previous_threads);
    return status;
}

style_status style_evaluate_losses(const style_optimize_options *options, const char *image_path,
                                   style_losses *losses)
{
    style_status status = STYLE_OK;
    optimize_problem p = {0};
    float *full = NULL, *x = NULL, *grad = NULL;
    int32_t fw = 0, fh = 0;
    int previous_threads = omp_get_max_threads();
    double blend[OPTIMIZE_MAX_STYLES];
    if (!options || options->struct_size < sizeof(size_t) || !image_path || !losses)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "evaluate_losses: NULL argument");
    memset(losses, 0, sizeof *losses);
    style_optimize_options o = {0};
    memcpy(&o, options, options->struct_size < sizeof o ? options->struct_size : sizeof o);
    TRY(resolve_options(&o, blend, false));
    if (o.threads > 0) omp_set_num_threads(o.threads);
    TRY(optimize_problem_create(&p, o.loss_net, o.content_image, o.size, o.style_images, blend,
                                o.style_count, o.style_size, o.content_layer, o.style_layers,
                                o.content_weight, o.style_weight, o.tv_weight, o.log, o.log_user));
    /* The image at the size the optimisation works at (that of the resized content). */
    TRY(train_load_rgb(image_path, 0, &full, &fw, &fh));
    const size_t n = (size_t)p.width * p.height * 3;
    x = style__aligned_alloc(n * sizeof(float));
    grad = style__aligned_alloc(n * sizeof(float));
    FAIL_IF(!x || !grad, STYLE_ERR_NOMEM, "evaluate_losses: out of memory");
    if (fw == p.width && fh == p.height)
        memcpy(x, full, n * sizeof(float));
    else
        TRY(image_resize_rgb(full, fw, fh, x, p.width, p.height));
    double f = 0, aux[OPT_AUX] = {0};
    TRY(optimize_evaluate(&p, x, grad, &f, aux));
    losses->content = aux[0];
    losses->style = aux[1];
    losses->tv = aux[2];
    losses->total = f;
fail:
    if (status != STYLE_OK) {
        char prefix[PATH_LIMIT + 32];
        snprintf(prefix, sizeof prefix, "evaluate_losses: %s", image_path ? image_path : "");
        if (image_path && !strstr(style_last_error(), image_path)) style__prefix_error(prefix);
    }
    style__free(full);
    style__aligned_free(x);
    style__aligned_free(grad);
    optimize_problem_destroy(&p);
    omp_set_num_threads(previous_threads);
    return status;
}
