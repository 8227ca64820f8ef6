/* oneDNN helpers: status mapping, descriptors, weight reorders, attributes. */
#include "dnn/backend.h"

#include <string.h>

style_status style__backend_fail(dnnl_status_t dnnl_status, const char *what)
{
    style_status status = dnnl_status == dnnl_out_of_memory ? STYLE_ERR_NOMEM : STYLE_ERR_BACKEND;
    return style__fail(status, "%s: oneDNN returned %s", what, dnnl_status2str(dnnl_status));
}

style_status backend_md_nhwc(dnnl_memory_desc_t *md, int32_t c, int32_t h, int32_t w)
{
    dnnl_dims_t dims = {1, c, h, w};
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, dnnl_nhwc);
    if (s != dnnl_success) return style__backend_fail(s, "activation descriptor");
    return STYLE_OK;
}

size_t backend_scratchpad_bytes(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

style_status backend_attr_create(dnnl_primitive_attr_t *attr, bool relu, bool sum)
{
    return backend_attr_create_slope(attr, relu, 0.0f, sum);
}

style_status backend_attr_create_slope(dnnl_primitive_attr_t *attr, bool relu, float relu_slope,
                                       bool sum)
{
    style_status status = STYLE_OK;
    dnnl_post_ops_t post_ops = NULL;
    *attr = NULL;
    DNNL_TRY(dnnl_primitive_attr_create(attr), "primitive attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user),
             "scratchpad mode");
    if (relu || sum) {
        DNNL_TRY(dnnl_post_ops_create(&post_ops), "post-ops");
        /* Order matters: the residual is added before the ReLU (x + conv, then relu). */
        if (sum) DNNL_TRY(dnnl_post_ops_append_sum(post_ops, 1.0f), "sum post-op");
        if (relu)
            DNNL_TRY(dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_relu, relu_slope,
                                                  0.f),
                     "relu post-op");
        DNNL_TRY(dnnl_primitive_attr_set_post_ops(*attr, post_ops), "post-ops");
        dnnl_post_ops_destroy(post_ops);
    }
    return STYLE_OK;
fail:
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (*attr) dnnl_primitive_attr_destroy(*attr);
    *attr = NULL;
    return status;
}

style_status backend_reorder_weights(dnnl_engine_t engine, dnnl_stream_t stream, const float *oihw,
                                     const dnnl_dims_t dims, const dnnl_memory_desc_t *target,
                                     dnnl_memory_t *out, void **buffer)
{
    style_status status = STYLE_OK;
    dnnl_memory_desc_t plain;
    dnnl_memory_t source = NULL;
    dnnl_primitive_desc_t reorder_pd = NULL;
    dnnl_primitive_t reorder = NULL;
    *out = NULL;
    *buffer = NULL;

    DNNL_TRY(dnnl_memory_desc_init_by_tag(&plain, 4, dims, dnnl_f32, dnnl_oihw),
             "weights descriptor");
    size_t bytes = dnnl_memory_desc_get_size(target);
    *buffer = style__aligned_alloc(bytes);
    FAIL_IF(!*buffer, STYLE_ERR_NOMEM, "cannot allocate %zu bytes of weights", bytes);
    DNNL_TRY(dnnl_memory_create(out, target, engine, *buffer), "weights memory");
    if (dnnl_memory_desc_equal(&plain, target)) {
        memcpy(*buffer, oihw, bytes);
        return STYLE_OK;
    }
    DNNL_TRY(dnnl_memory_create(&source, &plain, engine, (void *)oihw), "weights memory");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&reorder_pd, &plain, engine, target, engine, NULL),
             "weights reorder");
    DNNL_TRY(dnnl_primitive_create(&reorder, reorder_pd), "weights reorder");
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, source}, {DNNL_ARG_TO, *out}};
    DNNL_TRY(dnnl_primitive_execute(reorder, stream, 2, args), "weights reorder");
    DNNL_TRY(dnnl_stream_wait(stream), "weights reorder");
    dnnl_primitive_destroy(reorder);
    dnnl_primitive_desc_destroy(reorder_pd);
    dnnl_memory_destroy(source);
    return STYLE_OK;
fail:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (reorder_pd) dnnl_primitive_desc_destroy(reorder_pd);
    if (source) dnnl_memory_destroy(source);
    if (*out) dnnl_memory_destroy(*out);
    style__aligned_free(*buffer);
    *out = NULL;
    *buffer = NULL;
    return status;
}
