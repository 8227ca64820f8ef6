/*
 * A session's runs of the Johnson transform network: the plans of the last few image sizes
 * it saw (primitives, reordered weights, activation buffers), so repeated runs at those sizes
 * allocate nothing and build nothing; images over the memory budget in bands (banded.c);
 * johnson-cin's blend of styles; per-operation profiles.
 */
#include "arch/banded.h"
#include "arch/johnson.h"
#include "arch/network.h"
#include "core/clock.h"
#include "image/alpha_fill.h"
#include "image/pixels.h"
#include "session/norm_ema.h"

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
    double *profile_executed;     /* per op: the FLOPs it executes (beside profile) */
} cached_plan;

typedef struct johnson_runtime {
    const style_model *model; /* the session's (it holds the reference) */
    bool profiling;
    cached_plan plans[SESSION_PLANS];
    int current; /* index of the plan of the last run, -1 none */
    uint64_t clock;
    /* johnson-cin: the model as runs see it, a private copy of the model's description whose
     * norms point at style_params (the blend of the styles in use) instead of a style's row. */
    style_model *styled;
    float *style_params;
    double *style_weights; /* [style_count], normalised */
} johnson_runtime;

/* The model the network is built from: the styled copy for johnson-cin, else the model. */
static const style_model *run_model(const johnson_runtime *rt)
{
    return rt->styled ? rt->styled : rt->model;
}

/* johnson-cin: makes the styled copy of the model, set to style 0. */
static style_status create_styled_model(johnson_runtime *rt)
{
    style_status status = STYLE_OK;
    const style_model *model = rt->model;
    const size_t styles = (size_t)model->style_count;
    rt->styled = style__malloc(sizeof *rt->styled);
    rt->style_params = style__malloc(model_style_param_count(model) * sizeof(float));
    rt->style_weights = style__calloc(styles, sizeof(double));
    FAIL_IF(!rt->styled || !rt->style_params || !rt->style_weights, STYLE_ERR_NOMEM,
            "session_create: out of memory");
    memcpy(rt->styled, model, sizeof *model);
    rt->style_weights[0] = 1.0;
    model_blend_styles(model, rt->style_weights, rt->style_params);
    model_norm *norms[MODEL_MAX_NORMS];
    int32_t count = model_norms(rt->styled, norms);
    float *params = rt->style_params;
    for (int32_t i = 0; i < count; i++) {
        norms[i]->scale = params;
        norms[i]->shift = params + norms[i]->channels;
        params += 2 * (size_t)norms[i]->channels;
    }
fail:
    return status;
}

style_status johnson_runtime_create(const style_model *model, void **runtime)
{
    style_status status = STYLE_OK;
    johnson_runtime *rt = style__calloc(1, sizeof *rt);
    *runtime = rt;
    FAIL_IF(!rt, STYLE_ERR_NOMEM, "session_create: out of memory");
    rt->model = model;
    rt->current = -1;
    if (model->style_count > 0) TRY(create_styled_model(rt));
fail:
    return status;
}

static void drop_plan(cached_plan *c)
{
    network_plan_destroy(&c->plan);
    style__free(c->profile);
    style__free(c->profile_executed);
    memset(c, 0, sizeof *c);
}

void johnson_runtime_free(void *runtime)
{
    johnson_runtime *rt = runtime;
    if (!rt) return;
    for (int i = 0; i < SESSION_PLANS; i++)
        drop_plan(&rt->plans[i]);
    style__free(rt->styled);
    style__free(rt->style_params);
    style__free(rt->style_weights);
    style__free(rt);
}

static net_precision net_precision_of(style_precision p)
{
    return p == STYLE_PRECISION_BF16 ? NET_BF16 : p == STYLE_PRECISION_INT8 ? NET_INT8 : NET_FP32;
}

/* Uses the blend `weights` (normalised) from now on. The plans are rebuilt: an int8 plan
 * derives its activation steps from the norms' parameters when it is built. */
void johnson_set_style_weights(void *runtime, const double *weights)
{
    johnson_runtime *rt = runtime;
    const size_t styles = (size_t)rt->model->style_count;
    if (memcmp(weights, rt->style_weights, styles * sizeof(double)) == 0) return;
    memcpy(rt->style_weights, weights, styles * sizeof(double));
    model_blend_styles(rt->model, weights, rt->style_params);
    for (int i = 0; i < SESSION_PLANS; i++)
        drop_plan(&rt->plans[i]);
    rt->current = -1;
}

/* Sets up (or with profiling off, drops) per-op profiling of a plan. On an allocation
 * failure the plan is left unprofiled and STYLE_ERR_NOMEM returned. */
static style_status start_profile(const johnson_runtime *rt, cached_plan *c)
{
    network_plan *plan = &c->plan;
    c->runs = 0;
    if (!rt->profiling) {
        style__free(plan->op_ms);
        plan->op_ms = NULL;
        return STYLE_OK;
    }
    if (!plan->op_ms) plan->op_ms = style__calloc(plan->op_count, sizeof(double));
    if (!c->profile) c->profile = style__calloc(plan->op_count, sizeof *c->profile);
    if (!c->profile_executed)
        c->profile_executed = style__calloc(plan->op_count, sizeof *c->profile_executed);
    if (!plan->op_ms || !c->profile || !c->profile_executed) {
        style__free(plan->op_ms);
        style__free(c->profile);
        style__free(c->profile_executed);
        plan->op_ms = NULL;
        c->profile = NULL;
        c->profile_executed = NULL;
        return style__fail(STYLE_ERR_NOMEM, "session: out of memory for the profile");
    }
    memset(plan->op_ms, 0, plan->op_count * sizeof(double));
    return STYLE_OK;
}

/*
 * Makes a plan for a padded height x width current (from the cache, or built within the
 * memory budget, evicting the least recently used builds as needed).
 */
static style_status ensure_plan(johnson_runtime *rt, const arch_context *context, int32_t height,
                                int32_t width)
{
    style_status status = STYLE_OK;
    const int threads = context->threads;
    const net_precision precision = net_precision_of(context->precision);
    rt->clock++;
    for (int i = 0; i < SESSION_PLANS; i++) {
        cached_plan *c = &rt->plans[i];
        if (c->plan.bound && c->plan.height == height && c->plan.width == width &&
            c->threads == threads && c->plan.precision == precision &&
            c->plan.circular == context->tileable) {
            if (c->memory > context->memory_budget) {
                drop_plan(c); /* built under a larger budget than the current one */
                break;
            }
            c->last_used = rt->clock;
            rt->current = i;
            return STYLE_OK;
        }
    }
    rt->current = -1;
    network_plan plan;
    double t0 = style__clock_ms();
    TRY(network_plan_describe_circular(&plan, run_model(rt), context->dnn, height, width, precision,
                                       context->tileable));
    uint64_t need = network_plan_memory(&plan);
    if (need > context->memory_budget) {
        network_plan_destroy(&plan);
        FAIL_IF(true, STYLE_ERR_LIMIT,
                "stylize: a %dx%d run needs %.1f MiB, over the memory budget of %.1f MiB", width,
                height, need / 1048576.0, context->memory_budget / 1048576.0);
    }
    /* Room: evict least recently used builds until this one fits beside the rest. */
    for (;;) {
        uint64_t held = 0;
        int free_slot = -1, oldest = -1;
        for (int i = 0; i < SESSION_PLANS; i++) {
            cached_plan *c = &rt->plans[i];
            if (!c->plan.bound) {
                if (free_slot < 0) free_slot = i;
                continue;
            }
            held += c->memory;
            if (oldest < 0 || c->last_used < rt->plans[oldest].last_used) oldest = i;
        }
        if (free_slot >= 0 && held + need <= context->memory_budget) break;
        drop_plan(&rt->plans[oldest]);
    }
    int slot = 0;
    while (rt->plans[slot].plan.bound)
        slot++;
    status = network_plan_bind(&plan, context->dnn);
    if (status != STYLE_OK) {
        network_plan_destroy(&plan);
        goto fail;
    }
    cached_plan *c = &rt->plans[slot];
    c->plan = plan;
    c->threads = threads;
    c->last_used = rt->clock;
    c->memory = need;
    c->build_ms = style__clock_ms() - t0;
    status = start_profile(rt, c);
    if (status != STYLE_OK) {
        drop_plan(c);
        goto fail;
    }
    rt->current = slot;
    arch_log(context, STYLE_LOG_DEBUG,
             "built the network for %dx%d (%s) in %.1f ms: %zu operations, %.1f MiB", width, height,
             style_precision_name(context->precision), c->build_ms, plan.op_count,
             need / 1048576.0);
    return STYLE_OK;
fail:
    return status;
}

style_status johnson_prepare(void *runtime, const arch_context *context, int32_t width,
                             int32_t height)
{
    return ensure_plan(runtime, context, network_padded_size(height), network_padded_size(width));
}

style_status johnson_estimate(void *runtime, const arch_context *context, int32_t width,
                              int32_t height, uint64_t *bytes)
{
    network_plan plan;
    style_status status = network_plan_describe_circular(
        &plan, run_model(runtime), context->dnn, network_padded_size(height),
        network_padded_size(width), net_precision_of(context->precision), context->tileable);
    if (status != STYLE_OK) return status;
    *bytes = network_plan_memory(&plan);
    network_plan_destroy(&plan);
    return STYLE_OK;
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
static style_status stylize_one(johnson_runtime *rt, const arch_context *context, bool banded,
                                const style_image *input, style_image *output,
                                arch_progress *progress)
{
    style_status status = STYLE_OK;
    style_image filled = {0};
    const style_image *source = input;
    uint64_t budget = context->memory_budget;
    TRY(alpha_fill_for_run(input, context->tileable, banded, &budget, &filled, &source));
    FAIL_IF(banded && context->norm_ema && context->norm_ema->weight > 0.0, STYLE_ERR_UNSUPPORTED,
            "stylize: smoothing the norm statistics over frames needs the whole %dx%d frame in "
            "one run, not in bands (raise the memory budget)",
            input->width, input->height);
    if (banded) {
        banded_options o = {.model = run_model(rt),
                            .dnn = context->dnn,
                            .memory_budget = budget,
                            .max_band_rows = context->band_rows,
                            .circular = context->tileable,
                            .progress = progress ? arch_image_progress : NULL,
                            .progress_user = progress};
        TRY(banded_stylize(&o, source, input, output));
    } else {
        cached_plan *cached = &rt->plans[rt->current];
        network_plan *plan = &cached->plan;
        const bool periodic =
            context->tileable && (plan->height != input->height || plan->width != input->width);
        load_input(plan, source, periodic);
        if (context->norm_ema) TRY(norm_ema_store_bind(context->norm_ema, plan));
        status =
            network_plan_run(plan, context->dnn, progress ? arch_image_progress : NULL, progress);
        if (context->norm_ema) norm_ema_store_unbind(plan);
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
        tensor_to_pixels(result, result_w, rt->model->output, input, output);
        if (plan->op_ms) cached->runs++;
    }
fail:
    style_image_release(&filled);
    return status;
}

/* The whole-image plan, or bands when asked or when the image is over the memory budget. */
style_status johnson_stylize(void *runtime, const arch_context *context, const style_image *inputs,
                             style_image *outputs, size_t count, size_t first, size_t total)
{
    style_status status = STYLE_OK;
    johnson_runtime *rt = runtime;
    const int32_t height = network_padded_size(inputs[0].height);
    const int32_t width = network_padded_size(inputs[0].width);
    /* Bands when asked, or when the whole image does not fit the budget. */
    bool banded = context->band_rows > 0;
    if (!banded) {
        status = ensure_plan(rt, context, height, width);
        if (status == STYLE_ERR_LIMIT && banded_runs_model(rt->model)) {
            banded = true;
            arch_log(context, STYLE_LOG_INFO,
                     "stylize: %dx%d is over the memory budget: "
                     "running in bands through temporary files",
                     width, height);
        } else {
            TRY(status);
        }
    }
    if (banded) {
        FAIL_IF(context->precision != STYLE_PRECISION_FP32, STYLE_ERR_UNSUPPORTED,
                "stylize: %dx%d runs in bands (over the memory budget), which computes in fp32 "
                "only; set the precision to fp32 or raise the budget",
                inputs[0].width, inputs[0].height);
        FAIL_IF(!banded_runs_model(rt->model), STYLE_ERR_UNSUPPORTED,
                "stylize: " BANDED_MODEL_MESSAGE);
        /* The cached builds would sit beside the bands: the budget is for the bands. */
        for (int i = 0; i < SESSION_PLANS; i++)
            drop_plan(&rt->plans[i]);
        rt->current = -1;
    }
    for (size_t i = 0; i < count; i++) {
        arch_progress progress = {context, first + i, total};
        TRY(stylize_one(rt, context, banded, &inputs[i], &outputs[i],
                        context->progress ? &progress : NULL));
    }
fail:
    return status;
}

style_status johnson_run_info(void *runtime, style_run_info *info)
{
    const johnson_runtime *rt = runtime;
    if (rt->current < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_run_info: nothing is built yet");
    const cached_plan *c = &rt->plans[rt->current];
    info->width = c->plan.width;
    info->height = c->plan.height;
    info->precision = c->plan.precision == NET_BF16   ? STYLE_PRECISION_BF16
                      : c->plan.precision == NET_INT8 ? STYLE_PRECISION_INT8
                                                      : STYLE_PRECISION_FP32;
    info->flops = c->plan.flops;
    info->executed_flops = c->plan.executed_flops;
    info->build_ms = c->build_ms;
    info->buffers_ms = c->plan.buffers_ms;
    info->memory_bytes = c->memory;
    info->layer_count = c->plan.op_count;
    return STYLE_OK;
}

style_status johnson_set_profiling(void *runtime, bool enable)
{
    johnson_runtime *rt = runtime;
    rt->profiling = enable;
    style_status status = STYLE_OK;
    for (int i = 0; i < SESSION_PLANS; i++)
        if (rt->plans[i].plan.bound && start_profile(rt, &rt->plans[i]) != STYLE_OK)
            status = STYLE_ERR_NOMEM;
    if (status != STYLE_OK) { /* all or nothing: profiling stays off */
        rt->profiling = false;
        for (int i = 0; i < SESSION_PLANS; i++)
            if (rt->plans[i].plan.bound) start_profile(rt, &rt->plans[i]);
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

style_status johnson_get_profile(void *runtime, const style_layer_profile **layers,
                                 const double **executed, size_t *count, uint64_t *runs)
{
    johnson_runtime *rt = runtime;
    if (rt->current < 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_profile: nothing is built yet");
    cached_plan *c = &rt->plans[rt->current];
    if (!c->profile || !c->plan.op_ms)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile: profiling is off (style_session_set_profiling)");
    for (size_t i = 0; i < c->plan.op_count; i++) {
        const plan_op *op = &c->plan.ops[i];
        c->profile[i] = (style_layer_profile){op->name, op_kind_name(op), op_impl_name(op),
                                              op->flops, c->plan.op_ms[i]};
        c->profile_executed[i] = op->executed_flops;
    }
    *layers = c->profile;
    *executed = c->profile_executed;
    *count = c->plan.op_count;
    *runs = c->runs;
    return STYLE_OK;
}
