/*
 * Sessions: per-thread state over a shared model. A session owns a oneDNN engine and stream,
 * and the network plan for the last image size it saw (primitives, reordered weights,
 * activation buffers), so repeated runs at one size allocate nothing.
 */
#include "network.h"
#include "pixels.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct style_session {
    style_model *model;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    int threads; /* 0 = one per processor */
    uint64_t memory_budget;
    style_log_fn log;
    void *log_user;
    style_progress_fn progress;
    void *progress_user;
    network_plan plan;
    int plan_threads; /* thread count the plan's primitives were created for */
};

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
    DNNL_TRY(dnnl_engine_create(&session->engine, dnnl_cpu, 0), "session_create: CPU engine");
    DNNL_TRY(dnnl_stream_create(&session->stream, session->engine, dnnl_stream_default_flags),
             "session_create: stream");
    model_retain(model);
    session->model = model;
    *out = session;
    return STYLE_OK;
fail:
    style_session_free(session);
    return status;
}

void style_session_free(style_session *session)
{
    if (!session) return;
    network_plan_destroy(&session->plan);
    if (session->stream) dnnl_stream_destroy(session->stream);
    if (session->engine) dnnl_engine_destroy(session->engine);
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

static int effective_threads(const style_session *session)
{
    return session->threads > 0 ? session->threads : omp_get_num_procs();
}

/* Makes session->plan fit a padded height x width, within the memory budget. */
static style_status ensure_plan(style_session *session, int32_t height, int32_t width)
{
    style_status status = STYLE_OK;
    network_plan *plan = &session->plan;
    int threads = effective_threads(session);
    if (plan->bound && plan->height == height && plan->width == width &&
        session->plan_threads == threads)
        return STYLE_OK;
    network_plan_destroy(plan);
    TRY(network_plan_describe(plan, session->model, session->engine, height, width));
    uint64_t need = network_plan_memory(plan);
    FAIL_IF(need > session->memory_budget, STYLE_ERR_LIMIT,
            "stylize: a %dx%d run needs %.1f MiB, over the memory budget of %.1f MiB", width,
            height, need / 1048576.0, session->memory_budget / 1048576.0);
    TRY(network_plan_bind(plan, session->engine, session->stream));
    session->plan_threads = threads;
    session_log(session, STYLE_LOG_DEBUG, "built the network for %dx%d: %zu operations, %.1f MiB",
                width, height, plan->op_count, need / 1048576.0);
    return STYLE_OK;
fail:
    network_plan_destroy(plan);
    return status;
}

style_status style_session_estimate_memory(style_session *session, int32_t width, int32_t height,
                                           uint64_t *bytes)
{
    style_status status = STYLE_OK;
    network_plan plan;
    if (!session || !bytes || width < 1 || height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "session_estimate_memory: bad argument");
    int previous = omp_get_max_threads();
    omp_set_num_threads(effective_threads(session));
    status = network_plan_describe(&plan, session->model, session->engine,
                                   network_padded_size(height), network_padded_size(width));
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

style_status style_session_stylize_batch(style_session *session, const style_image *inputs,
                                         style_image *outputs, size_t count)
{
    style_status status = STYLE_OK;
    size_t allocated = 0; /* outputs[0..allocated) got memory from us */
    bool *owned = NULL;
    int previous_threads = omp_get_max_threads();
    if (!session || !inputs || !outputs || count == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "stylize: NULL argument or empty batch");
    owned = style__calloc(count, sizeof *owned);
    FAIL_IF(!owned, STYLE_ERR_NOMEM, "stylize: out of memory");
    for (size_t i = 0; i < count; i++) {
        TRY(style__check_image(&inputs[i], "input"));
        FAIL_IF(inputs[i].width != inputs[0].width || inputs[i].height != inputs[0].height,
                STYLE_ERR_INVALID_ARGUMENT,
                "stylize: batch image %zu is %dx%d, the first is %dx%d", i, inputs[i].width,
                inputs[i].height, inputs[0].width, inputs[0].height);
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

    omp_set_num_threads(effective_threads(session));
    const int32_t height = network_padded_size(inputs[0].height);
    const int32_t width = network_padded_size(inputs[0].width);
    TRY(ensure_plan(session, height, width));
    network_plan *plan = &session->plan;
    for (size_t i = 0; i < count; i++) {
        batch_progress progress = {session, i, count};
        pixels_to_tensor(&inputs[i], height, width, plan->buffers[BUF_INPUT]);
        TRY(network_plan_run(plan, session->stream, session->progress ? forward_progress : NULL,
                             &progress));
        tensor_to_pixels(plan->buffers[BUF_OUTPUT], width, session->model->output, &inputs[i],
                         &outputs[i]);
    }
    omp_set_num_threads(previous_threads);
    style__free(owned);
    return STYLE_OK;
fail:
    omp_set_num_threads(previous_threads);
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
