/*
 * Instance and batch normalization for training, on oneDNN's batch normalization: batch mode
 * normalizes over N x H x W in one primitive; instance mode runs a 1 x C x H x W primitive on
 * each image of the NHWC batch (its slice is contiguous) and keeps per-image statistics.
 * ReLU is fused (its mask goes to the workspace for the backward pass).
 */
#include "dnn/train_layers.h"

#include <string.h>

style_status tnorm_create(tnorm *layer, dnn_context *dnn, bool batch, bool relu, int32_t n,
                          int32_t c, int32_t h, int32_t w, float eps)
{
    return tnorm_create_layout(layer, dnn, batch, relu, n, c, h, w, eps, DNN_LAYOUT_NHWC);
}

style_status tnorm_create_layout(tnorm *layer, dnn_context *dnn, bool batch, bool relu, int32_t n,
                                 int32_t c, int32_t h, int32_t w, float eps,
                                 dnn_layout activation_layout)
{
    dnnl_engine_t engine = dnn->engine;
    const dnnl_format_tag_t layout = backend_format_tag(activation_layout);
    style_status status = STYLE_OK;
    dnnl_primitive_attr_t attr = NULL;
    memset(layer, 0, sizeof *layer);
    layer->batch = batch;
    layer->relu = relu;
    layer->n = n, layer->c = c, layer->h = h, layer->w = w;
    layer->eps = eps;

    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {batch ? n : 1, c, h, w};
    FAIL_IF(layout != dnnl_nhwc && (layout != dnnl_nChw8c || c % 8), STYLE_ERR_INTERNAL,
            "norm: nhwc or nChw8c (channels a multiple of 8) only");
    /* An image's slice is contiguous in both layouts (the batch is outermost). */
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, layout), "norm descriptor");
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (relu ? dnnl_fuse_norm_relu : 0u);
    dnnl_batch_normalization_desc_t fd, bd;
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, &md, eps, flags),
             "norm forward");
    TRY(backend_attr_create(&attr, false, false));
    DNNL_TRY(dnnl_primitive_desc_create(&layer->fwd_pd, &fd, attr, engine, NULL), "norm forward");
    DNNL_TRY(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &md, &md, eps, flags),
             "norm backward");
    DNNL_TRY(dnnl_primitive_desc_create(&layer->bwd_pd, &bd, attr, engine, layer->fwd_pd),
             "norm backward");
    dnnl_primitive_attr_destroy(attr);
    attr = NULL;
    size_t a = backend_scratchpad_bytes(layer->fwd_pd), b = backend_scratchpad_bytes(layer->bwd_pd);
    layer->scratchpad_bytes = a > b ? a : b;
    const dnnl_memory_desc_t *ws = dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_workspace_md, 0);
    layer->workspace_bytes = ws ? dnnl_memory_desc_get_size(ws) : 0;
    return STYLE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    tnorm_destroy(layer);
    return status;
}

style_status tnorm_bind(tnorm *layer, dnn_context *dnn, const float *scale, const float *shift,
                        float *diff_scale, float *diff_shift, float *src, float *dst,
                        float *diff_src, float *diff_dst)
{
    dnnl_engine_t engine = dnn->engine;
    style_status status = STYLE_OK;
    const int32_t images = layer->batch ? 1 : layer->n;
    const size_t c = (size_t)layer->c;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t vector_md;
    dnnl_dims_t dims = {layer->c};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&vector_md, 1, dims, dnnl_f32, dnnl_a), "vector");

    layer->src_base = src, layer->dst_base = dst;
    layer->diff_src_base = diff_src, layer->diff_dst_base = diff_dst;
    layer->means = style__aligned_alloc(images * c * sizeof(float));
    layer->variances = style__aligned_alloc(images * c * sizeof(float));
    layer->diff_scale_part = style__aligned_alloc(c * sizeof(float));
    layer->diff_shift_part = style__aligned_alloc(c * sizeof(float));
    FAIL_IF(!layer->means || !layer->variances || !layer->diff_scale_part || !layer->diff_shift_part,
            STYLE_ERR_NOMEM, "cannot allocate normalization statistics");
    if (layer->workspace_bytes) {
        layer->workspace_base = style__aligned_alloc(images * layer->workspace_bytes);
        FAIL_IF(!layer->workspace_base, STYLE_ERR_NOMEM, "cannot allocate a norm workspace");
    }
    DNNL_TRY(dnnl_primitive_create(&layer->fwd, layer->fwd_pd), "norm forward");
    DNNL_TRY(dnnl_primitive_create(&layer->bwd, layer->bwd_pd), "norm backward");
    DNNL_TRY(dnnl_memory_create(&layer->src, md, engine, src), "norm memory");
    DNNL_TRY(dnnl_memory_create(&layer->dst, md, engine, dst), "norm memory");
    DNNL_TRY(dnnl_memory_create(&layer->diff_src, md, engine, diff_src), "norm memory");
    DNNL_TRY(dnnl_memory_create(&layer->diff_dst, md, engine, diff_dst), "norm memory");
    DNNL_TRY(dnnl_memory_create(&layer->scale, &vector_md, engine, (void *)scale), "scale");
    DNNL_TRY(dnnl_memory_create(&layer->shift, &vector_md, engine, (void *)shift), "shift");
    /* Gradients go to per-call parts first: instance mode sums them over the images. */
    DNNL_TRY(dnnl_memory_create(&layer->diff_scale, &vector_md, engine,
                                layer->batch ? diff_scale : layer->diff_scale_part),
             "scale gradient");
    DNNL_TRY(dnnl_memory_create(&layer->diff_shift, &vector_md, engine,
                                layer->batch ? diff_shift : layer->diff_shift_part),
             "shift gradient");
    DNNL_TRY(dnnl_memory_create(&layer->mean, &vector_md, engine, layer->means), "mean");
    DNNL_TRY(dnnl_memory_create(&layer->variance, &vector_md, engine, layer->variances), "var");
    if (layer->workspace_bytes) {
        const dnnl_memory_desc_t *ws =
            dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_workspace_md, 0);
        DNNL_TRY(dnnl_memory_create(&layer->workspace, ws, engine, layer->workspace_base),
                 "workspace");
    }
    layer->diff_scale_total = diff_scale;
    layer->diff_shift_total = diff_shift;
    return STYLE_OK;
fail:
    return status;
}

void tnorm_set_params(tnorm *layer, const float *scale, const float *shift, float *diff_scale,
                      float *diff_shift)
{
    dnnl_memory_set_data_handle(layer->scale, (void *)scale);
    dnnl_memory_set_data_handle(layer->shift, (void *)shift);
    if (layer->batch) {
        dnnl_memory_set_data_handle(layer->diff_scale, diff_scale);
        dnnl_memory_set_data_handle(layer->diff_shift, diff_shift);
    }
    layer->diff_scale_total = diff_scale;
    layer->diff_shift_total = diff_shift;
}

/* Points the memories at image `i`'s slice (instance mode) or the whole batch. */
static void select_image(tnorm *layer, int32_t i)
{
    size_t offset = (size_t)i * layer->h * layer->w * layer->c;
    dnnl_memory_set_data_handle(layer->src, layer->src_base + offset);
    dnnl_memory_set_data_handle(layer->dst, layer->dst_base + offset);
    dnnl_memory_set_data_handle(layer->diff_src, layer->diff_src_base + offset);
    dnnl_memory_set_data_handle(layer->diff_dst, layer->diff_dst_base + offset);
    dnnl_memory_set_data_handle(layer->mean, layer->means + (size_t)i * layer->c);
    dnnl_memory_set_data_handle(layer->variance, layer->variances + (size_t)i * layer->c);
    if (layer->workspace)
        dnnl_memory_set_data_handle(layer->workspace,
                                    layer->workspace_base + (size_t)i * layer->workspace_bytes);
}

style_status tnorm_forward(tnorm *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    dnnl_stream_t stream = dnn->stream;
    dnnl_memory_t scratchpad_memory = dnn_scratchpad_memory(scratchpad);
    style_status status = STYLE_OK;
    const int32_t images = layer->batch ? 1 : layer->n;
    for (int32_t i = 0; i < images; i++) {
        select_image(layer, i);
        dnnl_exec_arg_t args[8] = {{DNNL_ARG_SRC, layer->src},     {DNNL_ARG_DST, layer->dst},
                                   {DNNL_ARG_SCALE, layer->scale}, {DNNL_ARG_SHIFT, layer->shift},
                                   {DNNL_ARG_MEAN, layer->mean},   {DNNL_ARG_VARIANCE, layer->variance}};
        int count = 6;
        if (scratchpad_memory)
            args[count++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratchpad_memory};
        if (layer->workspace) args[count++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, layer->workspace};
        DNNL_TRY(dnnl_primitive_execute(layer->fwd, stream, count, args), "norm forward");
        DNNL_TRY(dnnl_stream_wait(stream), "norm forward");
    }
    return STYLE_OK;
fail:
    return status;
}

style_status tnorm_backward(tnorm *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    dnnl_stream_t stream = dnn->stream;
    dnnl_memory_t scratchpad_memory = dnn_scratchpad_memory(scratchpad);
    style_status status = STYLE_OK;
    const int32_t images = layer->batch ? 1 : layer->n;
    if (!layer->batch) {
        memset(layer->diff_scale_total, 0, (size_t)layer->c * sizeof(float));
        memset(layer->diff_shift_total, 0, (size_t)layer->c * sizeof(float));
    }
    for (int32_t i = 0; i < images; i++) {
        select_image(layer, i);
        dnnl_exec_arg_t args[12] = {
            {DNNL_ARG_SRC, layer->src},           {DNNL_ARG_DIFF_DST, layer->diff_dst},
            {DNNL_ARG_SCALE, layer->scale},       {DNNL_ARG_SHIFT, layer->shift},
            {DNNL_ARG_MEAN, layer->mean},         {DNNL_ARG_VARIANCE, layer->variance},
            {DNNL_ARG_DIFF_SRC, layer->diff_src}, {DNNL_ARG_DIFF_SCALE, layer->diff_scale},
            {DNNL_ARG_DIFF_SHIFT, layer->diff_shift}};
        int count = 9;
        if (scratchpad_memory)
            args[count++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, scratchpad_memory};
        if (layer->workspace) args[count++] = (dnnl_exec_arg_t){DNNL_ARG_WORKSPACE, layer->workspace};
        DNNL_TRY(dnnl_primitive_execute(layer->bwd, stream, count, args), "norm backward");
        DNNL_TRY(dnnl_stream_wait(stream), "norm backward");
        if (!layer->batch)
            for (int32_t c = 0; c < layer->c; c++) {
                layer->diff_scale_total[c] += layer->diff_scale_part[c];
                layer->diff_shift_total[c] += layer->diff_shift_part[c];
            }
    }
    return STYLE_OK;
fail:
    return status;
}

const float *tnorm_batch_mean(const tnorm *layer)
{
    return layer->means;
}

const float *tnorm_batch_variance(const tnorm *layer)
{
    return layer->variances;
}

void tnorm_destroy(tnorm *layer)
{
    if (!layer) return;
    if (layer->fwd) dnnl_primitive_destroy(layer->fwd);
    if (layer->bwd) dnnl_primitive_destroy(layer->bwd);
    if (layer->fwd_pd) dnnl_primitive_desc_destroy(layer->fwd_pd);
    if (layer->bwd_pd) dnnl_primitive_desc_destroy(layer->bwd_pd);
    dnnl_memory_t mems[] = {layer->src,        layer->dst,        layer->diff_src,
                            layer->diff_dst,   layer->scale,      layer->shift,
                            layer->diff_scale, layer->diff_shift, layer->mean,
                            layer->variance,   layer->workspace};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    style__aligned_free(layer->means);
    style__aligned_free(layer->variances);
    style__aligned_free(layer->diff_scale_part);
    style__aligned_free(layer->diff_shift_part);
    style__aligned_free(layer->workspace_base);
    memset(layer, 0, sizeof *layer);
}
