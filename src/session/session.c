/*
 * Sessions: per-thread state over a shared model. A session owns a oneDNN engine and stream,
 * and the network plans of the last few image sizes it saw (primitives, reordered weights,
 * activation buffers), so repeated runs at those sizes allocate nothing and build nothing.
 */
#include "arch/adain_session.h"
#include "arch/adain_style.h"
#include "image/alpha_fill.h"
#include "arch/banded.h"
#include "image/color.h"
#include "session/controls.h"
#include "arch/network.h"
#include "session/norm_ema.h"
#include "image/pixels.h"
#include "session/session.h"
#include "image/resize.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Builds kept per session (least recently used goes first, and whatever the budget needs). */
#define SESSION_PLANS 4

typedef struct cached_plan {
    network_plan plan;
    int threads;        /* thread count the primitives were created for */
    uint64_t last_used; /* session clock */
    double build_ms;
    uint64_t memory;
    uint64_t runs;                /* profiled runs */
    style_layer_profile *profile; /* per op, when asked for */
} cached_plan;

struct style_session {
    style_model *model;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int threads; /* 0 = one per processor */
    uint64_t memory_budget;
    style_precision precision; /* the setting (may be auto) */
    bool profiling;
    bool tileable;     /* circular padding: seamless textures */
    int32_t band_rows; /* > 0: always run in bands of at most this many rows (tests) */
    style_log_fn log;
    void *log_user;
    style_progress_fn progress;
    void *progress_user;
    style_controls controls;
    adain_runtime *adain;           /* arch adain: the encoder/decoder build */
    style_adain_style *adain_style; /* the session's copy of the style */
    double adain_build_ms;          /* the last style_session_prepare of an AdaIN build */
    cached_plan plans[SESSION_PLANS];
    int current; /* index of the plan of the last run, -1 none */
    uint64_t clock;
    /* johnson-cin: the model as runs see it, a private copy of the model's description whose
     * norms point at style_params (the blend of the styles in use) instead of a style's row. */
    style_model *styled;
    float *style_params;
    double *style_weights; /* [style_count], normalised */
    norm_ema_store *norm_ema; /* video: norm statistics smoothed over frames (not owned) */
};

void style__session_set_norm_ema(style_session *session, norm_ema_store *store)
{
    session->norm_ema = store;
}

/* The model the network is built from: the styled copy for johnson-cin, else the model. */
static const style_model *run_model(const style_session *session)
{
    return session->styled ? session->styled : session->model;
}

/* johnson-cin: makes the styled copy of the model, set to style 0. */
static style_status create_styled_model(style_session *session)
{
    style_status status = STYLE_OK;
    const style_model *model = session->model;
    const size_t styles = (size_t)model->style_count;
    session->styled = style__malloc(sizeof *session->styled);
    session->style_params = style__malloc(model_style_param_count(model) * sizeof(float));
    session->style_weights = style__calloc(styles, sizeof(double));
    FAIL_IF(!session->styled || !session->style_params || !session->style_weights, STYLE_ERR_NOMEM,
            "session_create: out of memory");
    memcpy(session->styled, model, sizeof *model);
    session->style_weights[0] = 1.0;
    model_blend_styles(model, session->style_weights, session->style_params);
    model_norm *norms[MODEL_MAX_NORMS];
    int32_t count = model_norms(session->styled, norms);
    float *params = session->style_params;
    for (int32_t i = 0; i < count; i++) {
        norms[i]->scale = params;
        norms[i]->shift = params + norms[i]->channels;
        params += 2 * (size_t)norms[i]->channels;
    }
fail:
    return status;
}

/* Progress of one image within a batch. */
typedef struct batch_progress {
    style_session *session;
    size_t index, count;
} batch_progress;

static void session_log(style_session *session, style_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void session_log(style_session *session, style_log_level level, const char *fmt, ...)
{
    if (!session->log) return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    session->log(session->log_user, level, message);
}

style_status style_session_create(style_model *model, style_session **out)
{
    style_status status = STYLE_OK;
    style_session *session = NULL;
    if (out) *out = NULL;
    if (!model || !out)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_create: NULL argument");
    session = style__calloc(1, sizeof *session);
    FAIL_IF(!session, STYLE_ERR_NOMEM, "session_create: out of memory");
    session->memory_budget = STYLE_DEFAULT_MEMORY_BUDGET;
    session->precision = STYLE_PRECISION_FP32;
    session->controls = controls_default();
    session->current = -1;
    DNNL_TRY(dnnl_engine_create(&session->engine, dnnl_cpu, 0), "session_create: CPU engine");
    DNNL_TRY(dnnl_stream_create(&session->stream, session->engine, dnnl_stream_default_flags),
             "session_create: stream");
    model_retain(model);
    session->model = model;
    if (model->style_count > 0) TRY(create_styled_model(session));
    *out = session;
    return STYLE_OK;
fail:
    style_session_free(session);
    return status;
}

void style_session_free(style_session *session)
{
    if (!session) return;
    for (int i = 0; i < SESSION_PLANS; i++) {
        network_plan_destroy(&session->plans[i].plan);
        style__free(session->plans[i].profile);
    }
    adain_runtime_free(session->adain);
    style_adain_style_free(session->adain_style);
    if (session->stream) dnnl_stream_destroy(session->stream);
    if (session->engine) dnnl_engine_destroy(session->engine);
    style_model_free(session->model);
    style__free(session->styled);
    style__free(session->style_params);
    style__free(session->style_weights);
    style__free(session);
}

style_status style_session_set_threads(style_session *session, int threads)
{
    if (!session || threads < 0 || threads > 4096)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_threads: bad argument (%d)",
                           threads);
    session->threads = threads;
    return STYLE_OK;
}

style_status style_session_set_memory_budget(style_session *session, uint64_t bytes)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_memory_budget: NULL session");
    session->memory_budget = bytes ? bytes : STYLE_DEFAULT_MEMORY_BUDGET;
    return STYLE_OK;
}

style_status style_session_set_log_callback(style_session *session, style_log_fn fn, void *user)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_log_callback: NULL session");
    session->log = fn;
    session->log_user = user;
    return STYLE_OK;
}

style_status style_session_set_progress_callback(style_session *session, style_progress_fn fn,
                                                 void *user)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_progress_callback: NULL session");
    session->progress = fn;
    session->progress_user = user;
    return STYLE_OK;
}

style_status style_session_set_tileable(style_session *session, int enable)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_tileable: NULL session");
    session->tileable = enable != 0;
    return STYLE_OK;
}

style_status style_session_set_band_rows(style_session *session, int32_t rows)
{
    if (!session || rows < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_band_rows: bad argument (%d)",
                           (int)rows);
    session->band_rows = rows;
    return STYLE_OK;
}

style_status style_session_set_strength(style_session *session, float strength)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_strength: NULL session");
    style_status status = controls_check_strength(strength);
    if (status == STYLE_OK) session->controls.strength = strength;
    return status;
}

style_status style_session_set_preserve_color(style_session *session, int enable)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_preserve_color: NULL session");
    session->controls.preserve_color = enable != 0;
    return STYLE_OK;
}

style_status style_session_set_scale(style_session *session, float scale)
{
    if (!session) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_scale: NULL session");
    style_status status = controls_check_scale(scale);
    if (status == STYLE_OK) session->controls.scale = scale;
    return status;
}

static int effective_threads(const style_session *session)
{
    return session->threads > 0 ? session->threads : omp_get_num_procs();
}

void session_get_context(const style_session *session, session_context *out)
{
    *out = (session_context){.model = session->model,
                             .engine = session->engine,
                             .stream = session->stream,
                             .memory_budget = session->memory_budget,
                             .threads = effective_threads(session)};
}

style_status style_session_set_adain_style(style_session *session, const style_adain_style *style)
{
    if (!session || !style)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_adain_style: NULL argument");
    if (!session->model->adain)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "session_set_adain_style: the model is not an AdaIN model (arch %s)",
                           session->model->arch_name);
    style_status status = adain_style_check(session->model->adain, style);
    if (status == STYLE_OK) status = adain_style_copy(style, &session->adain_style);
    if (status != STYLE_OK) style__prefix_error("session_set_adain_style");
    return status;
}

static net_precision net_precision_of(style_precision p)
{
    return p == STYLE_PRECISION_BF16 ? NET_BF16 : p == STYLE_PRECISION_INT8 ? NET_INT8 : NET_FP32;
}

/* int8 takes its activation steps from the instance norms' parameters (network.c). */
static bool model_allows_int8(const style_model *model)
{
    return model->norm == NORM_INSTANCE;
}

/* The precision runs use: the setting, with auto resolved to the fastest supported one. */
static style_precision resolved_precision(const style_session *session)
{
    if (session->model->adain) return STYLE_PRECISION_FP32;
    if (session->precision != STYLE_PRECISION_AUTO) return session->precision;
    if (network_precision_supported(NET_INT8) && model_allows_int8(session->model))
        return STYLE_PRECISION_INT8;
    if (network_precision_supported(NET_BF16)) return STYLE_PRECISION_BF16;
    return STYLE_PRECISION_FP32;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void drop_plan(cached_plan *c)
{
    network_plan_destroy(&c->plan);
    style__free(c->profile);
    memset(c, 0, sizeof *c);
}

/* Uses the blend `weights` (normalised) from now on. The plans are rebuilt: an int8 plan
 * derives its activation steps from the norms' parameters when it is built. */
static void apply_style(style_session *session, const double *weights)
{
    const size_t styles = (size_t)session->model->style_count;
    if (memcmp(weights, session->style_weights, styles * sizeof(double)) == 0) return;
    memcpy(session->style_weights, weights, styles * sizeof(double));
    model_blend_styles(session->model, weights, session->style_params);
    for (int i = 0; i < SESSION_PLANS; i++)
        drop_plan(&session->plans[i]);
    session->current = -1;
}

style_status style_session_set_style(style_session *session, size_t index)
{
    if (!session) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_style: NULL session");
    const style_model *model = session->model;
    if (!model->style_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style: the model has a single style (arch %s)",
                           model->arch_name);
    if (index >= (size_t)model->style_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style: style %zu is out of range (the model has %d)", index,
                           (int)model->style_count);
    double weights[MODEL_MAX_STYLES] = {0};
    weights[index] = 1.0;
    apply_style(session, weights);
    return STYLE_OK;
}

style_status style_session_set_style_weights(style_session *session, const float *weights,
                                             size_t count)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_style_weights: NULL session");
    if (!session->model->style_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style_weights: the model has a single style (arch %s)",
                           session->model->arch_name);
    double normalised[MODEL_MAX_STYLES];
    style_status status = model_check_style_weights(session->model, weights, count,
                                                    "session_set_style_weights", normalised);
    if (status == STYLE_OK) apply_style(session, normalised);
    return status;
}

/* Sets up (or with profiling off, drops) per-op profiling of a plan. On an allocation
 * failure the plan is left unprofiled and STYLE_ERR_NOMEM returned. */
static style_status start_profile(style_session *session, cached_plan *c)
{
    network_plan *plan = &c->plan;
    c->runs = 0;
    if (!session->profiling) {
        style__free(plan->op_ms);
        plan->op_ms = NULL;
        return STYLE_OK;
    }
    if (!plan->op_ms) plan->op_ms = style__calloc(plan->op_count, sizeof(double));
    if (!c->profile) c->profile = style__calloc(plan->op_count, sizeof *c->profile);
    if (!plan->op_ms || !c->profile) {
        style__free(plan->op_ms);
        style__free(c->profile);
        plan->op_ms = NULL;
        c->profile = NULL;
        return style__fail(STYLE_ERR_NOMEM, "session: out of memory for the profile");
    }
    memset(plan->op_ms, 0, plan->op_count * sizeof(double));
    return STYLE_OK;
}

/*
 * Makes a plan for a padded height x width current (from the cache, or built within the
 * memory budget, evicting the least recently used builds as needed).
 */
static style_status ensure_plan(style_session *session, int32_t height, int32_t width)
{
    style_status status = STYLE_OK;
    const int threads = effective_threads(session);
    const net_precision precision = net_precision_of(resolved_precision(session));
    session->clock++;
    for (int i = 0; i < SESSION_PLANS; i++) {
        cached_plan *c = &session->plans[i];
        if (c->plan.bound && c->plan.height == height && c->plan.width == width &&
            c->threads == threads && c->plan.precision == precision &&
            c->plan.circular == session->tileable) {
            if (c->memory > session->memory_budget) {
                drop_plan(c); /* built under a larger budget than the current one */
                break;
            }
            c->last_used = session->clock;
            session->current = i;
            return STYLE_OK;
        }
    }
    session->current = -1;
    if (session->model->adain)
        return style__fail(STYLE_ERR_INTERNAL, "stylize: an AdaIN model has no network plan");
    network_plan plan;
    double t0 = now_ms();
    TRY(network_plan_describe_circular(&plan, run_model(session), session->engine, height, width,
                                       precision, session->tileable));
    uint64_t need = network_plan_memory(&plan);
    if (need > session->memory_budget) {
        network_plan_destroy(&plan);
        FAIL_IF(true, STYLE_ERR_LIMIT,
                "stylize: a %dx%d run needs %.1f MiB, over the memory budget of %.1f MiB", width,
                height, need / 1048576.0, session->memory_budget / 1048576.0);
    }
    /* Room: evict least recently used builds until this one fits beside the rest. */
    for (;;) {
        uint64_t held = 0;
        int free_slot = -1, oldest = -1;
        for (int i = 0; i < SESSION_PLANS; i++) {
            cached_plan *c = &session->plans[i];
            if (!c->plan.bound) {
                if (free_slot < 0) free_slot = i;
                continue;
            }
            held += c->memory;
            if (oldest < 0 || c->last_used < session->plans[oldest].last_used) oldest = i;
        }
        if (free_slot >= 0 && held + need <= session->memory_budget) break;
        drop_plan(&session->plans[oldest]);
    }
    int slot = 0;
    while (session->plans[slot].plan.bound)
        slot++;
    status = network_plan_bind(&plan, session->engine, session->stream);
    if (status != STYLE_OK) {
        network_plan_destroy(&plan);
        goto fail;
    }
    cached_plan *c = &session->plans[slot];
    c->plan = plan;
    c->threads = threads;
    c->last_used = session->clock;
    c->memory = need;
    c->build_ms = now_ms() - t0;
    status = start_profile(session, c);
    if (status != STYLE_OK) {
        drop_plan(c);
        goto fail;
    }
    session->current = slot;
    session_log(session, STYLE_LOG_DEBUG,
                "built the network for %dx%d (%s) in %.1f ms: %zu operations, %.1f MiB", width,
                height, style_precision_name(resolved_precision(session)), c->build_ms,
                plan.op_count, need / 1048576.0);
    return STYLE_OK;
fail:
    return status;
}

style_status style_session_estimate_memory(style_session *session, int32_t width, int32_t height,
                                           uint64_t *bytes)
{
    style_status status = STYLE_OK;
    network_plan plan;
    if (!session || !bytes || width < 1 || height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_estimate_memory: bad argument");
    if (session->model->adain) {
        *bytes = adain_runtime_estimate(session->model->adain, width, height, session->tileable);
        return STYLE_OK;
    }
    int previous = omp_get_max_threads();
    omp_set_num_threads(effective_threads(session));
    status = network_plan_describe_circular(&plan, run_model(session), session->engine,
                                            network_padded_size(height), network_padded_size(width),
                                            net_precision_of(resolved_precision(session)),
                                            session->tileable);
    omp_set_num_threads(previous);
    if (status != STYLE_OK) return status;
    *bytes = network_plan_memory(&plan);
    network_plan_destroy(&plan);
    return STYLE_OK;
}

static bool images_overlap(const style_image *a, const style_image *b)
{
    const char *a0 = a->data, *b0 = b->data;
    const char *a1 = a0 + style__image_stride(a) * (size_t)a->height;
    const char *b1 = b0 + style__image_stride(b) * (size_t)b->height;
    return a0 < b1 && b0 < a1;
}

static int forward_progress(void *user, double fraction)
{
    batch_progress *p = user;
    double total = ((double)p->index + fraction) / (double)p->count;
    return p->session->progress(p->session->progress_user, total);
}

/*
 * The network's input from an image: its RGB, the size padded to multiples of 4 by
 * reflection; in tileable mode a size that is not a multiple of 4 is resampled periodically
 * instead (reflection would break the wrap-around), BUF_OUTPUT serving as scratch.
 */
static void load_input(network_plan *plan, const style_image *image, bool periodic)
{
    if (!periodic) {
        pixels_to_tensor(image, plan->height, plan->width, plan->buffers[BUF_INPUT]);
        return;
    }
    pixels_to_tensor(image, image->height, image->width, plan->buffers[BUF_OUTPUT]);
    tensor_resample_periodic(plan->buffers[BUF_OUTPUT], image->height, image->width,
                             plan->buffers[BUF_INPUT], plan->height, plan->width);
}

/* Stylizes one image with the current plan or in bands; `progress` may be NULL. */
static style_status stylize_one(style_session *session, bool banded, const style_image *input,
                                style_image *output, batch_progress *progress)
{
    style_status status = STYLE_OK;
    style_image filled = {0};
    const style_image *source = input;
    uint64_t budget = session->memory_budget;
    if (alpha_fill_needed(input)) {
        uint64_t fill = alpha_fill_memory(input->width, input->height, input);
        FAIL_IF(banded && fill >= budget, STYLE_ERR_LIMIT,
                "stylize: filling the transparent pixels of %dx%d needs %.1f MiB, over the "
                "memory budget of %.1f MiB",
                input->width, input->height, fill / 1048576.0, budget / 1048576.0);
        budget -= fill;
        TRY(alpha_fill_copy(input, session->tileable, &filled));
        source = &filled;
    }
    FAIL_IF(banded && session->norm_ema && session->norm_ema->weight > 0.0, STYLE_ERR_UNSUPPORTED,
            "stylize: smoothing the norm statistics over frames needs the whole %dx%d frame in "
            "one run, not in bands (raise the memory budget)",
            input->width, input->height);
    if (banded) {
        banded_options o = {.model = run_model(session),
                            .engine = session->engine,
                            .stream = session->stream,
                            .memory_budget = budget,
                            .max_band_rows = session->band_rows,
                            .circular = session->tileable,
                            .progress = progress ? forward_progress : NULL,
                            .progress_user = progress};
        TRY(banded_stylize(&o, source, input, output));
    } else {
        cached_plan *cached = &session->plans[session->current];
        network_plan *plan = &cached->plan;
        const bool periodic =
            session->tileable && (plan->height != input->height || plan->width != input->width);
        load_input(plan, source, periodic);
        if (session->norm_ema) TRY(norm_ema_store_bind(session->norm_ema, plan));
        status =
            network_plan_run(plan, session->stream, progress ? forward_progress : NULL, progress);
        if (session->norm_ema) norm_ema_store_unbind(plan);
        TRY(status);
        const float *result = plan->buffers[BUF_OUTPUT];
        int32_t result_w = plan->width;
        if (periodic) {
            /* Back to the image's size, BUF_INPUT (no longer needed) as the target. */
            tensor_resample_periodic(plan->buffers[BUF_OUTPUT], plan->height, plan->width,
                                     plan->buffers[BUF_INPUT], input->height, input->width);
            result = plan->buffers[BUF_INPUT];
            result_w = input->width;
        }
        tensor_to_pixels(result, result_w, session->model->output, input, output);
        if (plan->op_ms) cached->runs++;
    }
fail:
    style_image_release(&filled);
    return status;
}

/*
 * The network on `count` validated images of one size: the whole-image plan, or bands when
 * asked or when the image is over the memory budget. Progress reports image i as number
 * first + i of total.
 */
static style_status run_network(style_session *session, const style_image *inputs,
                                style_image *outputs, size_t count, size_t first, size_t total)
{
    style_status status = STYLE_OK;
    int previous_threads = omp_get_max_threads();
    omp_set_num_threads(effective_threads(session));
    if (session->model->adain) {
        /* strength is AdaIN's alpha, applied in feature space here, not as a pixel blend */
        const adain_model *m = session->model->adain;
        FAIL_IF(!session->adain_style, STYLE_ERR_INVALID_ARGUMENT,
                "stylize: an AdaIN model needs a style (style_session_set_adain_style)");
        bool banded = session->band_rows > 0;
        if (!banded) {
            status = adain_runtime_prepare(&session->adain, m, session->engine, inputs[0].width,
                                           inputs[0].height, session->tileable,
                                           session->memory_budget, effective_threads(session));
            banded = status == STYLE_ERR_LIMIT && !session->tileable;
            if (banded)
                session_log(session, STYLE_LOG_INFO,
                            "stylize: %dx%d is over the memory budget: running in bands",
                            inputs[0].width, inputs[0].height);
            else
                TRY(status);
            status = STYLE_OK;
        }
        FAIL_IF(banded && session->tileable, STYLE_ERR_UNSUPPORTED,
                "stylize: tileable AdaIN runs need the whole image within the memory budget");
        for (size_t i = 0; i < count; i++) {
            /* Colour under alpha 0 must not reach the result (nor the content statistics). */
            style_image filled = {0};
            if (alpha_fill_needed(&inputs[i]))
                TRY(alpha_fill_copy(&inputs[i], session->tileable, &filled));
            const style_image *source = filled.data ? &filled : &inputs[i];
            batch_progress progress = {session, first + i, total};
            int (*progress_fn)(void *, double) = session->progress ? forward_progress : NULL;
            if (banded)
                status = adain_runtime_stylize_banded(
                    &session->adain, m, session->engine, session->stream, session->adain_style,
                    session->controls.strength, source, &outputs[i], session->band_rows,
                    session->memory_budget, effective_threads(session), progress_fn, &progress);
            else
                status = adain_runtime_stylize(session->adain, m, session->stream,
                                               session->adain_style, session->controls.strength,
                                               source, &outputs[i], progress_fn, &progress);
            style_image_release(&filled);
            TRY(status);
            if (session->progress &&
                session->progress(session->progress_user,
                                  (double)(first + i + 1) / (double)total) &&
                first + i + 1 < total)
                FAIL_IF(true, STYLE_ERR_CANCELLED, "stylize: cancelled");
        }
        goto fail; /* status is STYLE_OK: the common exit */
    }
    const int32_t height = network_padded_size(inputs[0].height);
    const int32_t width = network_padded_size(inputs[0].width);
    /* Bands when asked, or when the whole image does not fit the budget. */
    bool banded = session->band_rows > 0;
    if (!banded) {
        status = ensure_plan(session, height, width);
        if (status == STYLE_ERR_LIMIT && banded_runs_model(session->model)) {
            banded = true;
            session_log(session, STYLE_LOG_INFO,
                        "stylize: %dx%d is over the memory budget: "
                        "running in bands through temporary files",
                        width, height);
        } else {
            TRY(status);
        }
    }
    if (banded) {
        FAIL_IF(resolved_precision(session) != STYLE_PRECISION_FP32, STYLE_ERR_UNSUPPORTED,
                "stylize: %dx%d runs in bands (over the memory budget), which computes in fp32 "
                "only; set the precision to fp32 or raise the budget",
                inputs[0].width, inputs[0].height);
        FAIL_IF(!banded_runs_model(session->model), STYLE_ERR_UNSUPPORTED,
                "stylize: " BANDED_MODEL_MESSAGE);
        /* The cached builds would sit beside the bands: the budget is for the bands. */
        for (int i = 0; i < SESSION_PLANS; i++)
            drop_plan(&session->plans[i]);
        session->current = -1;
    }
    for (size_t i = 0; i < count; i++) {
        batch_progress progress = {session, first + i, total};
        TRY(stylize_one(session, banded, &inputs[i], &outputs[i],
                        session->progress ? &progress : NULL));
    }
fail:
    omp_set_num_threads(previous_threads);
    return status;
}

/* Packed RGB floats (0..255) of `source` resized to width x height with the cubic filter. */
static style_status resized_rgb(const style_image *source, int32_t width, int32_t height,
                                style_image *out)
{
    style_status status = style_image_alloc(out, width, height, 3, STYLE_SAMPLE_F32);
    if (status != STYLE_OK) return status;
    status = image_resize_rgb_filter(source->data, source->width, source->height, out->data, width,
                                     height, RESIZE_CUBIC);
    if (status != STYLE_OK) {
        style_image_release(out);
        return status;
    }
    /* The cubic kernel overshoots at edges; the network and the blend expect 0..255. */
    color_clamp(out->data, (size_t)width * (size_t)height * 3);
    return STYLE_OK;
}

/*
 * The input's colours resized to width x height (`content` is them at full size, RGB). Under
 * alpha 0 they are filled from the visible pixels first (alpha_fill_copy), as the network path
 * does at scale 1: the resampling kernel reaches across the sprite's edge, so colour left
 * under alpha 0 would otherwise reach the visible pixels.
 */
static style_status scaled_colours(const style_session *session, const style_image *input,
                                   const style_image *content, int32_t width, int32_t height,
                                   style_image *out)
{
    style_status status = STYLE_OK;
    style_image filled = {0}, filled_rgb = {0};
    if (!alpha_fill_needed(input)) return resized_rgb(content, width, height, out);
    TRY(alpha_fill_copy(input, session->tileable, &filled));
    TRY(style_image_alloc(&filled_rgb, input->width, input->height, 3, STYLE_SAMPLE_F32));
    pixels_to_tensor(&filled, input->height, input->width, filled_rgb.data);
    color_clamp(filled_rgb.data, (size_t)input->width * (size_t)input->height * 3);
    TRY(resized_rgb(&filled_rgb, width, height, out));
fail:
    style_image_release(&filled);
    style_image_release(&filled_rgb);
    return status;
}

/*
 * The network's input at run_width x run_height: the input's colours resized (`small`, RGB)
 * with its alpha resized alongside when it has one, so that whatever the network path does
 * with alpha sees the same picture at the new size. Fills *out (RGBA F32) or points
 * *network_input at `small`.
 */
static style_status scaled_network_input(const style_image *input, const style_image *small,
                                         style_image *out, const style_image **network_input)
{
    style_status status = STYLE_OK;
    style_image shifted_rgb = {0}, shifted_small = {0};
    *network_input = small;
    if (input->channels != 4) return STYLE_OK;
    /* A view one sample further on reads (G, B, A) as its "RGB": alpha in its third channel. */
    style_image shifted = *input;
    shifted.data = (unsigned char *)input->data + style__sample_size(input->sample_type);
    shifted.stride = style__image_stride(input);
    TRY(style_image_alloc(&shifted_rgb, input->width, input->height, 3, STYLE_SAMPLE_F32));
    pixels_to_tensor(&shifted, input->height, input->width, shifted_rgb.data);
    color_clamp(shifted_rgb.data, (size_t)input->width * (size_t)input->height * 3);
    TRY(resized_rgb(&shifted_rgb, small->width, small->height, &shifted_small));
    TRY(style_image_alloc(out, small->width, small->height, 4, STYLE_SAMPLE_F32));
    const float *rgb = small->data, *gba = shifted_small.data;
    float *rgba = out->data;
    for (size_t i = 0, n = (size_t)small->width * (size_t)small->height; i < n; i++) {
        rgba[i * 4 + 0] = rgb[i * 3 + 0];
        rgba[i * 4 + 1] = rgb[i * 3 + 1];
        rgba[i * 4 + 2] = rgb[i * 3 + 2];
        rgba[i * 4 + 3] = gba[i * 3 + 2];
    }
    *network_input = out;
fail:
    style_image_release(&shifted_rgb);
    style_image_release(&shifted_small);
    return status;
}

/*
 * An enlarged run holds, besides the network's own memory, its scaled input (RGB and RGBA)
 * and output as floats: all of it must fit the memory budget, checked before any of it is
 * allocated (so --scale 8 on a large photo fails cleanly rather than exhausting memory).
 */
static style_status check_scaled_budget(style_session *session, int32_t run_width,
                                        int32_t run_height)
{
    uint64_t network = 0;
    style_status status = style_session_estimate_memory(session, run_width, run_height, &network);
    if (status != STYLE_OK) return status;
    const uint64_t copies =
        (uint64_t)run_width * (uint64_t)run_height * (3 + 4 + 3) * sizeof(float);
    if (network + copies > session->memory_budget)
        return style__fail(STYLE_ERR_LIMIT,
                           "stylize: a %dx%d run (scale %g) needs %.1f MiB, over the memory "
                           "budget of %.1f MiB",
                           run_width, run_height, (double)session->controls.scale,
                           (network + copies) / 1048576.0, session->memory_budget / 1048576.0);
    return STYLE_OK;
}

/*
 * One image through the session's controls: the content as RGB floats; strength 0 stops
 * there; otherwise the network runs on the input itself, or on it resized by the scale (cubic
 * resampling both ways); then the colours are transferred and the result blended with the
 * content. Alpha follows the input.
 */
static style_status stylize_with_controls(style_session *session, const style_image *input,
                                          style_image *output, size_t index, size_t count)
{
    style_status status = STYLE_OK;
    const style_controls *controls = &session->controls;
    const int32_t width = input->width, height = input->height;
    style_image content = {0}, small = {0}, small_rgba = {0}, styled = {0}, full = {0};
    TRY(style_image_alloc(&content, width, height, 3, STYLE_SAMPLE_F32));
    pixels_to_tensor(input, height, width, content.data);
    color_clamp(content.data, (size_t)width * (size_t)height * 3);
    const style_image *result = &content;
    const bool adain = session->model->adain != NULL; /* strength acts inside the network */
    if (controls->strength > 0.0f || adain) {
        int32_t run_width, run_height;
        TRY(controls_scaled_size(width, controls->scale, &run_width));
        TRY(controls_scaled_size(height, controls->scale, &run_height));
        const bool resampled = run_width != width || run_height != height;
        /* The cubic resampling does not wrap around: it would put the seam back. */
        FAIL_IF(resampled && session->tileable, STYLE_ERR_UNSUPPORTED,
                "stylize: tileable mode needs scale 1 (resizing would break the wrap-around)");
        const style_image *network_input = input;
        if (controls->scale > 1.0f) TRY(check_scaled_budget(session, run_width, run_height));
        if (resampled) TRY(scaled_colours(session, input, &content, run_width, run_height, &small));
        if (resampled) TRY(scaled_network_input(input, &small, &small_rgba, &network_input));
        TRY(style_image_alloc(&styled, run_width, run_height, 3, STYLE_SAMPLE_F32));
        TRY(run_network(session, network_input, &styled, 1, index, count));
        if (resampled) {
            TRY(resized_rgb(&styled, width, height, &full));
            style_image_release(&styled);
        } else {
            full = styled;
            styled.data = NULL;
        }
        const size_t pixels = (size_t)width * (size_t)height;
        if (controls->preserve_color) {
            color_preserve_luminance(full.data, content.data, pixels);
            color_clamp(full.data, pixels * 3);
        }
        color_blend(full.data, content.data, pixels * 3, adain ? 1.0f : controls->strength);
        result = &full;
    }
    /* The linear head only clamps: result is final. Alpha comes from the input. */
    tensor_to_pixels(result->data, width, OUTPUT_LINEAR, input, output);
fail:
    style_image_release(&content);
    style_image_release(&small);
    style_image_release(&small_rgba);
    style_image_release(&styled);
    style_image_release(&full);
    return status;
}

style_status style_session_stylize_batch(style_session *session, const style_image *inputs,
                                         style_image *outputs, size_t count)
{
    style_status status = STYLE_OK;
    size_t allocated = 0; /* outputs[0..allocated) got memory from us */
    bool *owned = NULL;
    if (!session || !inputs || !outputs || count == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "stylize: NULL argument or empty batch");
    owned = style__calloc(count, sizeof *owned);
    FAIL_IF(!owned, STYLE_ERR_NOMEM, "stylize: out of memory");
    for (size_t i = 0; i < count; i++) {
        TRY(style__check_image(&inputs[i], "input"));
        FAIL_IF(inputs[i].width != inputs[0].width || inputs[i].height != inputs[0].height,
                STYLE_ERR_INVALID_ARGUMENT, "stylize: batch image %zu is %dx%d, the first is %dx%d",
                i, inputs[i].width, inputs[i].height, inputs[0].width, inputs[0].height);
        if (!outputs[i].data) {
            TRY(style_image_alloc(&outputs[i], inputs[i].width, inputs[i].height,
                                  inputs[i].channels, inputs[i].sample_type));
            owned[i] = true;
            allocated = i + 1;
        }
        TRY(style__check_image(&outputs[i], "output"));
        FAIL_IF(outputs[i].width != inputs[i].width || outputs[i].height != inputs[i].height,
                STYLE_ERR_INVALID_ARGUMENT, "stylize: output is %dx%d, input is %dx%d",
                outputs[i].width, outputs[i].height, inputs[i].width, inputs[i].height);
        for (size_t j = 0; j < count; j++)
            FAIL_IF(images_overlap(&inputs[j], &outputs[i]), STYLE_ERR_INVALID_ARGUMENT,
                    "stylize: output %zu overlaps input %zu", i, j);
    }

    if (controls_are_identity(&session->controls)) {
        TRY(run_network(session, inputs, outputs, count, 0, count));
    } else {
        for (size_t i = 0; i < count; i++)
            TRY(stylize_with_controls(session, &inputs[i], &outputs[i], i, count));
    }
    style__free(owned);
    return STYLE_OK;
fail:
    for (size_t i = 0; owned && i < allocated; i++)
        if (owned[i]) style_image_release(&outputs[i]);
    style__free(owned);
    return status;
}

style_status style_session_stylize(style_session *session, const style_image *input,
                                   style_image *output)
{
    return style_session_stylize_batch(session, input, output, 1);
}

/* ---- Precision and performance ---------------------------------------------------------- */

const char *style_precision_name(style_precision precision)
{
    switch (precision) {
    case STYLE_PRECISION_AUTO:
        return "auto";
    case STYLE_PRECISION_FP32:
        return "fp32";
    case STYLE_PRECISION_BF16:
        return "bf16";
    case STYLE_PRECISION_INT8:
        return "int8";
    }
    return "?";
}

style_status style_precision_parse(const char *name, style_precision *out)
{
    static const style_precision all[] = {STYLE_PRECISION_AUTO, STYLE_PRECISION_FP32,
                                          STYLE_PRECISION_BF16, STYLE_PRECISION_INT8};
    if (!name || !out)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "precision_parse: NULL argument");
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (strcmp(name, style_precision_name(all[i])) == 0) {
            *out = all[i];
            return STYLE_OK;
        }
    return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                       "precision_parse: '%s' is not one of auto, fp32, bf16, int8", name);
}

int style_precision_supported(style_precision precision)
{
    switch (precision) {
    case STYLE_PRECISION_AUTO:
    case STYLE_PRECISION_FP32:
        return 1;
    case STYLE_PRECISION_BF16:
        return network_precision_supported(NET_BF16);
    case STYLE_PRECISION_INT8:
        return network_precision_supported(NET_INT8);
    }
    return 0;
}

style_status style_session_set_precision(style_session *session, style_precision precision)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_precision: NULL session");
    if (strcmp(style_precision_name(precision), "?") == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_precision: unknown precision %d", (int)precision);
    if (!style_precision_supported(precision))
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "session_set_precision: this processor does not run %s natively "
                           "(%s)",
                           style_precision_name(precision),
                           precision == STYLE_PRECISION_BF16 ? "needs AVX-512 BF16"
                                                             : "needs AVX-512 VNNI");
    if (session->model->adain && precision != STYLE_PRECISION_FP32 &&
        precision != STYLE_PRECISION_AUTO)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "session_set_precision: AdaIN models run in fp32 only");
    if (precision == STYLE_PRECISION_INT8 && !model_allows_int8(session->model))
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "session_set_precision: int8 needs a model with instance norms "
                           "(this one folds batch norm into its convolutions)");
    session->precision = precision;
    return STYLE_OK;
}

style_status style_session_get_precision(style_session *session, style_precision *precision)
{
    if (!session || !precision)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_precision: NULL argument");
    *precision = resolved_precision(session);
    return STYLE_OK;
}

style_status style_session_prepare(style_session *session, int32_t width, int32_t height)
{
    style_status status = STYLE_OK;
    if (!session || width < 1 || height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_prepare: bad argument");
    int previous_threads = omp_get_max_threads();
    omp_set_num_threads(effective_threads(session));
    if (session->model->adain) {
        /* build_ms of the run info: the time of a prepare that built (not of a cached one). */
        int32_t w0, h0, w1, h1;
        double flops;
        uint64_t memory;
        adain_runtime_describe(session->adain, &w0, &h0, &flops, &memory);
        const double t0 = now_ms();
        status = adain_runtime_prepare(&session->adain, session->model->adain, session->engine,
                                       width, height, session->tileable, session->memory_budget,
                                       effective_threads(session));
        const double elapsed = now_ms() - t0;
        adain_runtime_describe(session->adain, &w1, &h1, &flops, &memory);
        if (status == STYLE_OK && (w0 != w1 || h0 != h1)) session->adain_build_ms = elapsed;
    } else
        status = ensure_plan(session, network_padded_size(height), network_padded_size(width));
    omp_set_num_threads(previous_threads);
    return status;
}

style_status style_session_get_run_info(style_session *session, style_run_info *info)
{
    if (!session || !info || info->struct_size < sizeof *info)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_run_info: NULL argument or struct_size not set");
    if (session->model->adain) {
        memset((char *)info + sizeof info->struct_size, 0, sizeof *info - sizeof info->struct_size);
        adain_runtime_describe(session->adain, &info->width, &info->height, &info->flops,
                               &info->memory_bytes);
        if (!info->width)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "session_get_run_info: nothing is built yet");
        info->precision = STYLE_PRECISION_FP32;
        info->build_ms = session->adain_build_ms;
        return STYLE_OK;
    }
    if (session->current < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_run_info: nothing is built yet");
    const cached_plan *c = &session->plans[session->current];
    info->width = c->plan.width;
    info->height = c->plan.height;
    info->precision = c->plan.precision == NET_BF16   ? STYLE_PRECISION_BF16
                      : c->plan.precision == NET_INT8 ? STYLE_PRECISION_INT8
                                                      : STYLE_PRECISION_FP32;
    info->flops = c->plan.flops;
    info->build_ms = c->build_ms;
    info->buffers_ms = c->plan.buffers_ms;
    info->memory_bytes = c->memory;
    info->layer_count = c->plan.op_count;
    return STYLE_OK;
}

style_status style_session_set_profiling(style_session *session, int enable)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_profiling: NULL session");
    session->profiling = enable != 0;
    style_status status = STYLE_OK;
    for (int i = 0; i < SESSION_PLANS; i++)
        if (session->plans[i].plan.bound && start_profile(session, &session->plans[i]) != STYLE_OK)
            status = STYLE_ERR_NOMEM;
    if (status != STYLE_OK) { /* all or nothing: profiling stays off */
        session->profiling = false;
        for (int i = 0; i < SESSION_PLANS; i++)
            if (session->plans[i].plan.bound) start_profile(session, &session->plans[i]);
        return style__fail(STYLE_ERR_NOMEM, "session_set_profiling: out of memory");
    }
    return STYLE_OK;
}

static const char *op_kind_name(const plan_op *op)
{
    return op->kind == OP_CONV ? "conv" : op->kind == OP_DIRECT ? "direct" : "norm";
}

static const char *op_impl_name(const plan_op *op)
{
    switch (op->kind) {
    case OP_CONV:
        return conv_layer_impl(&op->conv);
    case OP_DIRECT:
        return op->conv.opt.src_type == ACT_BF16 ? "libstyle:direct_avx512_bf16"
               : op->conv.opt.src_type == ACT_U8 ? "libstyle:direct_avx512_vnni"
                                                 : "libstyle:direct_avx512";
    case OP_NORM:
        return op->norm.isa >= 2   ? "libstyle:norm_avx512"
               : op->norm.isa == 1 ? "libstyle:norm_avx2"
                                   : "libstyle:norm_generic";
    }
    return "";
}

style_status style_session_get_profile(style_session *session, const style_layer_profile **layers,
                                       size_t *count, uint64_t *runs)
{
    if (!session || !layers || !count || !runs)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_profile: NULL argument");
    *layers = NULL;
    *count = 0;
    *runs = 0;
    if (session->current < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_profile: nothing is built yet");
    cached_plan *c = &session->plans[session->current];
    if (!c->profile || !c->plan.op_ms)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile: profiling is off (style_session_set_profiling)");
    for (size_t i = 0; i < c->plan.op_count; i++) {
        const plan_op *op = &c->plan.ops[i];
        c->profile[i] = (style_layer_profile){op->name, op_kind_name(op), op_impl_name(op),
                                              op->flops, c->plan.op_ms[i]};
    }
    *layers = c->profile;
    *count = c->plan.op_count;
    *runs = c->runs;
    return STYLE_OK;
}
