/* One scratchpad buffer and its oneDNN memory object. */
#include "dnn/dnn_scratchpad.h"

#include "dnn/backend.h"

style_status dnn_scratchpad_create(dnn_scratchpad **out, dnn_context *dnn, size_t bytes,
                                   const char *what)
{
    style_status status = STYLE_OK;
    dnn_scratchpad *s = NULL;
    *out = NULL;
    if (!bytes) return STYLE_OK;
    s = style__calloc(1, sizeof *s);
    FAIL_IF(!s, STYLE_ERR_NOMEM, "%s: out of memory for the scratchpad", what);
    s->bytes = bytes;
    s->buffer = style__aligned_alloc(bytes);
    FAIL_IF(!s->buffer, STYLE_ERR_NOMEM, "%s: cannot allocate %zu bytes of scratchpad", what,
            bytes);
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {(dnnl_dim_t)bytes};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a), "scratchpad");
    DNNL_TRY(dnnl_memory_create(&s->memory, &md, dnn->engine, s->buffer), "scratchpad");
    *out = s;
    return STYLE_OK;
fail:
    dnn_scratchpad_free(s);
    return status;
}

void dnn_scratchpad_free(dnn_scratchpad *scratchpad)
{
    if (!scratchpad) return;
    if (scratchpad->memory) dnnl_memory_destroy(scratchpad->memory);
    style__aligned_free(scratchpad->buffer);
    style__free(scratchpad);
}
