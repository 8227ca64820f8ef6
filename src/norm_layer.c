/*
 * Instance normalization: oneDNN 2.6 has no instance-norm primitive, but batch normalization
 * on one image (N = 1) normalizes each channel over H x W, which is exactly instance norm
 * (biased variance). Stats are computed at run time (no global stats), ReLU fused.
 */
#include "layers.h"

#include <string.h>

style_status norm_layer_describe(norm_layer *layer, dnnl_engine_t engine, int32_t channels,
                                 int32_t h, int32_t w, float eps, bool relu)
{
    style_status status = STYLE_OK;
    dnnl_primitive_attr_t attr = NULL;
    memset(layer, 0, sizeof *layer);
    layer->channels = channels;
    layer->h = h;
    layer->w = w;
    layer->eps = eps;
    layer->relu = relu;

    dnnl_memory_desc_t data_md;
    TRY(backend_md_nhwc(&data_md, channels, h, w));
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (relu ? dnnl_fuse_norm_relu : 0u);
    dnnl_batch_normalization_desc_t desc;
    DNNL_TRY(dnnl_batch_normalization_forward_desc_init(&desc, dnnl_forward_inference, &data_md,
                                                        eps, flags),
             "instance norm descriptor");
    TRY(backend_attr_create(&attr, false, false));
    DNNL_TRY(dnnl_primitive_desc_create(&layer->pd, &desc, attr, engine, NULL), "instance norm");
    dnnl_primitive_attr_destroy(attr);
    layer->scratchpad_bytes = backend_scratchpad_bytes(layer->pd);
    return STYLE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    norm_layer_destroy(layer);
    return status;
}

style_status norm_layer_bind(norm_layer *layer, dnnl_engine_t engine, const float *scale,
                             const float *shift, float *data)
{
    style_status status = STYLE_OK;
    const dnnl_memory_desc_t *data_md = dnnl_primitive_desc_query_md(layer->pd, dnnl_query_src_md, 0);
    dnnl_memory_desc_t vector_md;
    dnnl_dims_t dims = {layer->channels};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&vector_md, 1, dims, dnnl_f32, dnnl_a),
             "scale descriptor");
    DNNL_TRY(dnnl_primitive_create(&layer->primitive, layer->pd), "instance norm primitive");
    DNNL_TRY(dnnl_memory_create(&layer->data, data_md, engine, data), "instance norm memory");
    DNNL_TRY(dnnl_memory_create(&layer->scale, &vector_md, engine, (void *)scale), "scale memory");
    DNNL_TRY(dnnl_memory_create(&layer->shift, &vector_md, engine, (void *)shift), "shift memory");
    return STYLE_OK;
fail:
    return status;
}

style_status norm_layer_forward(norm_layer *layer, dnnl_stream_t stream, dnnl_memory_t scratchpad)
{
    style_status status = STYLE_OK;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->data},
                              {DNNL_ARG_DST, layer->data},
                              {DNNL_ARG_SCALE, layer->scale},
                              {DNNL_ARG_SHIFT, layer->shift},
                              {DNNL_ARG_SCRATCHPAD, scratchpad}};
    DNNL_TRY(dnnl_primitive_execute(layer->primitive, stream, scratchpad ? 5 : 4, args),
             "instance norm");
    return STYLE_OK;
fail:
    return status;
}

void norm_layer_destroy(norm_layer *layer)
{
    if (!layer) return;
    if (layer->primitive) dnnl_primitive_destroy(layer->primitive);
    if (layer->pd) dnnl_primitive_desc_destroy(layer->pd);
    if (layer->data) dnnl_memory_destroy(layer->data);
    if (layer->scale) dnnl_memory_destroy(layer->scale);
    if (layer->shift) dnnl_memory_destroy(layer->shift);
    memset(layer, 0, sizeof *layer);
}
