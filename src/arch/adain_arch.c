/*
 * AdaIN (Huang & Belongie) behind arch.h: the model's encoder and decoder (adain_model.c), a
 * session's build of them (adain_session.c) and the style it applies (adain_style.c). The
 * strength control is AdaIN's alpha, applied in feature space, not a blend of pixels.
 */
#include "arch/adain_session.h"
#include "arch/adain_style.h"
#include "arch/arch.h"
#include "core/clock.h"
#include "image/alpha_fill.h"
#include "model/model.h"

#include <string.h>
#include <time.h>

/* Keys of arch adain only (docs/formats.md). */
static const char *const adain_metadata_keys[] = {
    "libstyle.encoder.layers", "libstyle.encoder.taps",   "libstyle.encoder.input",
    "libstyle.encoder.tap",    "libstyle.decoder.layers", NULL,
};

static style_status adain_load(style_model *model)
{
    adain_model *m = NULL;
    style_status status = adain_model_from_file(&model->file, &m);
    if (status != STYLE_OK) return status;
    model->arch_data = m;
    model->parameter_count = m->encoder->parameter_count;
    for (int32_t i = 0; i < m->params.count; i++)
        model->parameter_count += m->params.params[i].count;
    return STYLE_OK;
}

static void adain_unload(style_model *model)
{
    adain_model_free(model->arch_data);
    model->arch_data = NULL;
}

/* encoder -> AdaIN -> decoder: no transform-network fields. */
static void adain_info(const style_model *model, style_model_info *info)
{
    (void)model;
    info->norm = "none";
    info->upsample = "nearest_conv";
    info->padding = "reflect";
    memset(info->widths, 0, sizeof info->widths);
    info->residual_blocks = 0;
    info->has_bias = 1;
}

/* The encoder and decoder (adain_network.c) run in fp32 or bf16; int8 needs a per-tensor
 * step that the instance norms of a Johnson network absorb and AdaIN's plain convolutions
 * (with biases, and no norm after them) do not: not supported. */
static const char *adain_precision_refusal(const style_model *model, style_precision precision)
{
    (void)model;
    return precision == STYLE_PRECISION_INT8 ? "AdaIN models run in fp32 or bf16, not int8"
                                             : NULL;
}

static bool adain_smooths_norms(const style_model *model)
{
    (void)model;
    return false; /* no normalization layers */
}

typedef struct adain_arch_runtime {
    const adain_model *model;
    adain_runtime *build;     /* the encoder/decoder build */
    style_adain_style *style; /* the session's copy of the style */
    double build_ms;          /* the last prepare that built */
} adain_arch_runtime;

static style_status adain_arch_runtime_create(const style_model *model, void **runtime)
{
    adain_arch_runtime *rt = style__calloc(1, sizeof *rt);
    *runtime = rt;
    if (!rt) return style__fail(STYLE_ERR_NOMEM, "session_create: out of memory");
    rt->model = model->arch_data;
    return STYLE_OK;
}

static void adain_arch_runtime_free(void *runtime)
{
    adain_arch_runtime *rt = runtime;
    if (!rt) return;
    adain_runtime_free(rt->build);
    style_adain_style_free(rt->style);
    style__free(rt);
}

static style_status adain_estimate(void *runtime, const arch_context *context, int32_t width,
                                   int32_t height, uint64_t *bytes)
{
    const adain_arch_runtime *rt = runtime;
    *bytes = adain_runtime_estimate(rt->model, width, height, context->tileable,
                                    context->precision == STYLE_PRECISION_BF16);
    return STYLE_OK;
}

static style_status adain_prepare(void *runtime, const arch_context *context, int32_t width,
                                  int32_t height)
{
    adain_arch_runtime *rt = runtime;
    /* build_ms of the run info: the time of a prepare that built (not of a cached one). */
    int32_t w0, h0, w1, h1;
    double flops;
    uint64_t memory;
    adain_runtime_describe(rt->build, &w0, &h0, &flops, &memory);
    const double t0 = style__clock_ms();
    style_status status = adain_runtime_prepare(
        &rt->build, rt->model, context->dnn, width, height, context->tileable,
        context->memory_budget, context->threads, context->precision == STYLE_PRECISION_BF16);
    const double elapsed = style__clock_ms() - t0;
    adain_runtime_describe(rt->build, &w1, &h1, &flops, &memory);
    if (status == STYLE_OK && (w0 != w1 || h0 != h1)) rt->build_ms = elapsed;
    return status;
}

static style_status adain_stylize(void *runtime, const arch_context *context,
                                  const style_image *inputs, style_image *outputs, size_t count,
                                  size_t first, size_t total)
{
    style_status status = STYLE_OK;
    adain_arch_runtime *rt = runtime;
    FAIL_IF(!rt->style, STYLE_ERR_INVALID_ARGUMENT,
            "stylize: an AdaIN model needs a style (style_session_set_adain_style)");
    bool banded = context->band_rows > 0;
    if (!banded) {
        status =
            adain_runtime_prepare(&rt->build, rt->model, context->dnn, inputs[0].width,
                                  inputs[0].height, context->tileable, context->memory_budget,
                                  context->threads, context->precision == STYLE_PRECISION_BF16);
        banded = status == STYLE_ERR_LIMIT && !context->tileable;
        if (banded)
            arch_log(context, STYLE_LOG_INFO,
                     "stylize: %dx%d is over the memory budget: running in bands", inputs[0].width,
                     inputs[0].height);
        else
            TRY(status);
        status = STYLE_OK;
    }
    FAIL_IF(banded && context->tileable, STYLE_ERR_UNSUPPORTED,
            "stylize: tileable AdaIN runs need the whole image within the memory budget");
    for (size_t i = 0; i < count; i++) {
        style_image filled = {0};
        const style_image *source = NULL;
        uint64_t budget = context->memory_budget;
        status =
            alpha_fill_for_run(&inputs[i], context->tileable, banded, &budget, &filled, &source);
        arch_progress progress = {context, first + i, total};
        int (*progress_fn)(void *, double) = context->progress ? arch_image_progress : NULL;
        if (status == STYLE_OK && banded)
            status = adain_runtime_stylize_banded(
                &rt->build, rt->model, context->dnn, rt->style, context->strength, source,
                &outputs[i], context->band_rows, budget, context->threads,
                context->precision == STYLE_PRECISION_BF16, progress_fn, &progress);
        else if (status == STYLE_OK)
            status = adain_runtime_stylize(rt->build, rt->model, context->dnn, rt->style,
                                           context->strength, source, &outputs[i], progress_fn,
                                           &progress);
        style_image_release(&filled);
        TRY(status);
        if (context->progress &&
            context->progress(context->progress_user, (double)(first + i + 1) / (double)total) &&
            first + i + 1 < total)
            FAIL_IF(true, STYLE_ERR_CANCELLED, "stylize: cancelled");
    }
fail:
    return status;
}

static style_status adain_run_info(void *runtime, style_run_info *info)
{
    const adain_arch_runtime *rt = runtime;
    memset((char *)info + sizeof info->struct_size, 0, sizeof *info - sizeof info->struct_size);
    adain_runtime_describe(rt->build, &info->width, &info->height, &info->flops,
                           &info->memory_bytes);
    if (!info->width)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_run_info: nothing is built yet");
    info->precision =
        adain_runtime_bf16(rt->build) ? STYLE_PRECISION_BF16 : STYLE_PRECISION_FP32;
    info->build_ms = rt->build_ms;
    info->executed_flops = adain_runtime_executed_flops(rt->build);
    return STYLE_OK;
}

static style_status adain_set_profiling(void *runtime, bool enable)
{
    adain_arch_runtime *rt = runtime;
    return adain_runtime_set_profiling(&rt->build, enable);
}

static style_status adain_get_profile(void *runtime, const style_layer_profile **layers,
                                      const double **executed, size_t *count, uint64_t *runs)
{
    const adain_arch_runtime *rt = runtime;
    return adain_runtime_profile(rt->build, layers, executed, count, runs);
}

static style_status adain_set_style(void *runtime, const style_adain_style *style)
{
    adain_arch_runtime *rt = runtime;
    style_status status = adain_style_check(rt->model, style);
    if (status == STYLE_OK) status = adain_style_copy(style, &rt->style);
    return status;
}

const style_arch arch_adain = {
    .name = "adain",
    .metadata_keys = adain_metadata_keys,
    .strength_in_network = true,
    .load = adain_load,
    .unload = adain_unload,
    .info = adain_info,
    .precision_refusal = adain_precision_refusal,
    .smooths_norms = adain_smooths_norms,
    .runtime_create = adain_arch_runtime_create,
    .runtime_free = adain_arch_runtime_free,
    .estimate = adain_estimate,
    .prepare = adain_prepare,
    .stylize = adain_stylize,
    .run_info = adain_run_info,
    .set_profiling = adain_set_profiling,
    .get_profile = adain_get_profile,
    .set_adain_style = adain_set_style,
};
