/* The engine and stream every primitive runs on. */
#include "dnn/dnn_context.h"

#include "dnn/backend.h"

#include <stdio.h>

style_status dnn_context_create(dnn_context **out, const char *what)
{
    style_status status = STYLE_OK;
    char message[128];
    *out = NULL;
    dnn_context *dnn = style__calloc(1, sizeof *dnn);
    FAIL_IF(!dnn, STYLE_ERR_NOMEM, "%s: out of memory", what);
    snprintf(message, sizeof message, "%s: engine", what);
    DNNL_TRY(dnnl_engine_create(&dnn->engine, dnnl_cpu, 0), message);
    snprintf(message, sizeof message, "%s: stream", what);
    DNNL_TRY(dnnl_stream_create(&dnn->stream, dnn->engine, dnnl_stream_default_flags), message);
    *out = dnn;
    return STYLE_OK;
fail:
    dnn_context_free(dnn);
    return status;
}

style_status dnn_context_wait(dnn_context *dnn, const char *what)
{
    style_status status = STYLE_OK;
    DNNL_TRY(dnnl_stream_wait(dnn->stream), what);
    return STYLE_OK;
fail:
    return status;
}

void dnn_context_free(dnn_context *dnn)
{
    if (!dnn) return;
    if (dnn->stream) dnnl_stream_destroy(dnn->stream);
    if (dnn->engine) dnnl_engine_destroy(dnn->engine);
    style__free(dnn);
}
