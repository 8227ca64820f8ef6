/*
 * Sessions: per-thread state over a shared model. A session owns a oneDNN engine and stream,
 * its settings and controls, and its architecture's runtime (for the Johnson network the
 * plans of the last few image sizes it saw, so repeated runs at those sizes allocate nothing
 * and build nothing). What differs between architectures goes through model->arch (arch.h).
 */
#include "arch/arch.h"
#include "arch/network.h"
#include "image/alpha_fill.h"
#include "image/color.h"
#include "image/pixels.h"
#include "image/resize.h"
#include "session/controls.h"
#include "session/norm_ema.h"
#include "session/session.h"

#include <omp.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

struct style_session {
    style_model *model;
    dnn_context *dnn; /* oneDNN engine + stream */
    int threads; /* 0 = one per processor */
    uint64_t memory_budget;
    style_precision precision; /* the setting (may be auto) */
    bool tileable;             /* circular padding: seamless textures */
    int32_t band_rows;         /* > 0: always run in bands of at most this many rows (tests) */
    style_log_fn log;
    void *log_user;
    style_progress_fn progress;
    void *progress_user;
    style_controls controls;
    void *runtime;            /* model->arch's state: builds, plans, styles (arch.h) */
    norm_ema_store *norm_ema; /* video: norm statistics smoothed over frames (not owned) */
};

void style__session_set_norm_ema(style_session *session, norm_ema_store *store)
{
    session->norm_ema = store;
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
    TRY(dnn_context_create(&session->dnn, "session_create"));
    model_retain(model);
    session->model = model;
    TRY(model->arch->runtime_create(model, &session->runtime));
    *out = session;
    return STYLE_OK;
fail:
    style_session_free(session);
    return status;
}

void style_session_free(style_session *session)
{
    if (!session) return;
    if (session->runtime) session->model->arch->runtime_free(session->runtime);
    dnn_context_free(session->dnn);
    style_model_free(session->model);
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
                             .dnn = session->dnn,
                             .memory_budget = session->memory_budget,
                             .threads = effective_threads(session)};
}

style_status style_session_set_adain_style(style_session *session, const style_adain_style *style)
{
    if (!session || !style)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_adain_style: NULL argument");
    if (!session->model->arch->set_adain_style)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "session_set_adain_style: the model is not an AdaIN model (arch %s)",
                           session->model->arch_name);
    style_status status = session->model->arch->set_adain_style(session->runtime, style);
    if (status != STYLE_OK) style__prefix_error("session_set_adain_style");
    return status;
}

/* Whether runs of this session's model can use `precision` (the machine aside). */
static bool model_runs(const style_session *session, style_precision precision)
{
    return session->model->arch->precision_refusal(session->model, precision) == NULL;
}

/* The precision runs use: the setting, with auto resolved to the fastest supported one. */
static style_precision resolved_precision(const style_session *session)
{
    if (session->precision != STYLE_PRECISION_AUTO) return session->precision;
    if (network_precision_supported(NET_INT8) && model_runs(session, STYLE_PRECISION_INT8))
        return STYLE_PRECISION_INT8;
    if (network_precision_supported(NET_BF16) && model_runs(session, STYLE_PRECISION_BF16))
        return STYLE_PRECISION_BF16;
    return STYLE_PRECISION_FP32;
}

/* What the architecture's runs read of the session now. */
static arch_context run_context(const style_session *session)
{
    return (arch_context){.dnn = session->dnn,
                          .threads = effective_threads(session),
                          .memory_budget = session->memory_budget,
                          .precision = resolved_precision(session),
                          .tileable = session->tileable,
                          .band_rows = session->band_rows,
                          .strength = session->controls.strength,
                          .norm_ema = session->norm_ema,
                          .log = session->log,
                          .log_user = session->log_user,
                          .progress = session->progress,
                          .progress_user = session->progress_user};
}

style_status style_session_set_style(style_session *session, size_t index)
{
    if (!session) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_style: NULL session");
    const style_model *model = session->model;
    if (!model->style_count || !model->arch->set_style_weights)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style: the model has a single style (arch %s)",
                           model->arch_name);
    if (index >= (size_t)model->style_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style: style %zu is out of range (the model has %d)", index,
                           (int)model->style_count);
    double weights[MODEL_MAX_STYLES] = {0};
    weights[index] = 1.0;
    session->model->arch->set_style_weights(session->runtime, weights);
    return STYLE_OK;
}

style_status style_session_set_style_weights(style_session *session, const float *weights,
                                             size_t count)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_style_weights: NULL session");
    if (!session->model->style_count || !session->model->arch->set_style_weights)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_style_weights: the model has a single style (arch %s)",
                           session->model->arch_name);
    double normalised[MODEL_MAX_STYLES];
    style_status status = model_check_style_weights(session->model, weights, count,
                                                    "session_set_style_weights", normalised);
    if (status == STYLE_OK) session->model->arch->set_style_weights(session->runtime, normalised);
    return status;
}

style_status style_session_estimate_memory(style_session *session, int32_t width, int32_t height,
                                           uint64_t *bytes)
{
    if (!session || !bytes || width < 1 || height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_estimate_memory: bad argument");
    const arch_context context = run_context(session);
    int previous = omp_get_max_threads();
    omp_set_num_threads(context.threads);
    style_status status =
        session->model->arch->estimate(session->runtime, &context, width, height, bytes);
    omp_set_num_threads(previous);
    return status;
}

static bool images_overlap(const style_image *a, const style_image *b)
{
    const char *a0 = a->data, *b0 = b->data;
    const char *a1 = a0 + style__image_stride(a) * (size_t)a->height;
    const char *b1 = b0 + style__image_stride(b) * (size_t)b->height;
    return a0 < b1 && b0 < a1;
}

/*
 * The network on `count` validated images of one size (the architecture decides whether
 * whole or in bands). Progress reports image i as number first + i of total.
 */
static style_status run_network(style_session *session, const style_image *inputs,
                                style_image *outputs, size_t count, size_t first, size_t total)
{
    const arch_context context = run_context(session);
    int previous_threads = omp_get_max_threads();
    omp_set_num_threads(context.threads);
    style_status status = session->model->arch->stylize(session->runtime, &context, inputs, outputs,
                                                        count, first, total);
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
    const bool in_network = session->model->arch->strength_in_network;
    if (controls->strength > 0.0f || in_network) {
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
        color_blend(full.data, content.data, pixels * 3, in_network ? 1.0f : controls->strength);
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
    const char *refusal = session->model->arch->precision_refusal(session->model, precision);
    if (refusal) return style__fail(STYLE_ERR_UNSUPPORTED, "session_set_precision: %s", refusal);
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
    if (!session || width < 1 || height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_prepare: bad argument");
    const arch_context context = run_context(session);
    int previous_threads = omp_get_max_threads();
    omp_set_num_threads(context.threads);
    style_status status = session->model->arch->prepare(session->runtime, &context, width, height);
    omp_set_num_threads(previous_threads);
    return status;
}

style_status style_session_get_run_info(style_session *session, style_run_info *info)
{
    /* Programs built against a header whose struct ended at layer_count get those fields. */
    const size_t oldest = offsetof(style_run_info, layer_count) + sizeof info->layer_count;
    if (!session || !info || info->struct_size < oldest)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_run_info: NULL argument or struct_size not set");
    style_run_info full;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    style_status status = session->model->arch->run_info(session->runtime, &full);
    if (status != STYLE_OK) return status;
    const size_t size = info->struct_size < sizeof full ? info->struct_size : sizeof full;
    memcpy((char *)info + sizeof info->struct_size, (const char *)&full + sizeof full.struct_size,
           size - sizeof full.struct_size);
    return STYLE_OK;
}

style_status style_session_set_profiling(style_session *session, int enable)
{
    if (!session)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_set_profiling: NULL session");
    const style_arch *arch = session->model->arch;
    return arch->set_profiling ? arch->set_profiling(session->runtime, enable != 0) : STYLE_OK;
}

style_status style_session_get_profile(style_session *session, const style_layer_profile **layers,
                                       size_t *count, uint64_t *runs)
{
    if (!session || !layers || !count || !runs)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_get_profile: NULL argument");
    *layers = NULL;
    *count = 0;
    *runs = 0;
    const style_arch *arch = session->model->arch;
    if (!arch->get_profile)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile: nothing is built yet (arch %s has no "
                           "per-layer profile)",
                           session->model->arch_name);
    const double *executed = NULL;
    return arch->get_profile(session->runtime, layers, &executed, count, runs);
}

style_status style_session_get_profile_executed_flops(style_session *session,
                                                      const double **executed_flops, size_t *count)
{
    if (!session || !executed_flops || !count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile_executed_flops: NULL argument");
    *executed_flops = NULL;
    *count = 0;
    const style_arch *arch = session->model->arch;
    if (!arch->get_profile)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_get_profile_executed_flops: arch %s has no per-layer profile",
                           session->model->arch_name);
    const style_layer_profile *layers = NULL;
    uint64_t runs = 0;
    return arch->get_profile(session->runtime, &layers, executed_flops, count, &runs);
}
