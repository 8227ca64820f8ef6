/* Convolution and transposed convolution on oneDNN (forward inference, fused post-ops). */
#include "layers.h"

#include <string.h>

style_status conv_layer_describe(conv_layer *layer, dnnl_engine_t engine, const conv_spec *spec,
                                 int32_t in_h, int32_t in_w)
{
    style_status status = STYLE_OK;
    dnnl_primitive_attr_t attr = NULL;
    memset(layer, 0, sizeof *layer);
    layer->spec = *spec;
    layer->in_h = in_h;
    layer->in_w = in_w;

    const conv_spec *s = spec;
    if (s->transposed) {
        /* Full transposed output is (in-1)*stride + k; the pads crop it. */
        layer->out_h = (in_h - 1) * s->stride + s->kernel - s->pad_top - s->pad_bottom;
        layer->out_w = (in_w - 1) * s->stride + s->kernel - s->pad_left - s->pad_right;
    } else {
        layer->out_h = (in_h + s->pad_top + s->pad_bottom - s->kernel) / s->stride + 1;
        layer->out_w = (in_w + s->pad_left + s->pad_right - s->kernel) / s->stride + 1;
    }
    FAIL_IF(in_h < 1 || in_w < 1 || layer->out_h < 1 || layer->out_w < 1, STYLE_ERR_INTERNAL,
            "convolution %dx%d on a %dx%d input has no output", s->kernel, s->kernel, in_h, in_w);

    dnnl_memory_desc_t src_md, dst_md, weights_md, bias_md;
    TRY(backend_md_nhwc(&src_md, s->in_channels, in_h, in_w));
    TRY(backend_md_nhwc(&dst_md, s->out_channels, layer->out_h, layer->out_w));
    dnnl_dims_t weight_dims = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    dnnl_dims_t bias_dims = {s->out_channels};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&weights_md, 4, weight_dims, dnnl_f32,
                                          dnnl_format_tag_any),
             "weights descriptor");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a),
             "bias descriptor");
    dnnl_dims_t strides = {s->stride, s->stride};
    dnnl_dims_t pad_l = {s->pad_top, s->pad_left};
    dnnl_dims_t pad_r = {s->pad_bottom, s->pad_right};
    TRY(backend_attr_create(&attr, s->relu, s->sum));
    if (s->transposed) {
        dnnl_deconvolution_desc_t desc;
        DNNL_TRY(dnnl_deconvolution_forward_desc_init(
                     &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md,
                     &weights_md, &bias_md, &dst_md, strides, pad_l, pad_r),
                 "transposed convolution descriptor");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->pd, &desc, attr, engine, NULL),
                 "transposed convolution");
    } else {
        dnnl_convolution_desc_t desc;
        DNNL_TRY(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                    dnnl_convolution_direct, &src_md, &weights_md,
                                                    &bias_md, &dst_md, strides, pad_l, pad_r),
                 "convolution descriptor");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->pd, &desc, attr, engine, NULL),
                 "convolution");
    }
    dnnl_primitive_attr_destroy(attr);
    attr = NULL;
    layer->scratchpad_bytes = backend_scratchpad_bytes(layer->pd);
    const dnnl_memory_desc_t *chosen = dnnl_primitive_desc_query_md(layer->pd,
                                                                    dnnl_query_weights_md, 0);
    layer->weights_bytes =
        dnnl_memory_desc_get_size(chosen) + (size_t)s->out_channels * sizeof(float);
    return STYLE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    conv_layer_destroy(layer);
    return status;
}

style_status conv_layer_bind(conv_layer *layer, dnnl_engine_t engine, dnnl_stream_t stream,
                             const float *weights, const float *bias, float *src, float *dst)
{
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(layer->pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(layer->pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(layer->pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *b_md = dnnl_primitive_desc_query_md(layer->pd, dnnl_query_weights_md, 1);

    DNNL_TRY(dnnl_primitive_create(&layer->primitive, layer->pd), "convolution primitive");
    dnnl_dims_t weight_dims = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    TRY(backend_reorder_weights(engine, stream, weights, weight_dims, w_md, &layer->weights,
                                &layer->weights_buffer));
    layer->bias_buffer = style__aligned_alloc((size_t)s->out_channels * sizeof(float));
    FAIL_IF(!layer->bias_buffer, STYLE_ERR_NOMEM, "cannot allocate a bias");
    for (int32_t o = 0; o < s->out_channels; o++) layer->bias_buffer[o] = bias ? bias[o] : 0.0f;
    DNNL_TRY(dnnl_memory_create(&layer->bias, b_md, engine, layer->bias_buffer), "bias memory");
    DNNL_TRY(dnnl_memory_create(&layer->src, src_md, engine, src), "source memory");
    DNNL_TRY(dnnl_memory_create(&layer->dst, dst_md, engine, dst), "destination memory");
    return STYLE_OK;
fail:
    return status;
}

style_status conv_layer_forward(conv_layer *layer, dnnl_stream_t stream, dnnl_memory_t scratchpad)
{
    style_status status = STYLE_OK;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->src},
                              {DNNL_ARG_WEIGHTS, layer->weights},
                              {DNNL_ARG_BIAS, layer->bias},
                              {DNNL_ARG_DST, layer->dst},
                              {DNNL_ARG_SCRATCHPAD, scratchpad}};
    DNNL_TRY(dnnl_primitive_execute(layer->primitive, stream, scratchpad ? 5 : 4, args),
             "convolution");
    return STYLE_OK;
fail:
    return status;
}

void conv_layer_destroy(conv_layer *layer)
{
    if (!layer) return;
    if (layer->primitive) dnnl_primitive_destroy(layer->primitive);
    if (layer->pd) dnnl_primitive_desc_destroy(layer->pd);
    if (layer->src) dnnl_memory_destroy(layer->src);
    if (layer->dst) dnnl_memory_destroy(layer->dst);
    if (layer->weights) dnnl_memory_destroy(layer->weights);
    if (layer->bias) dnnl_memory_destroy(layer->bias);
    style__aligned_free(layer->weights_buffer);
    style__aligned_free(layer->bias_buffer);
    memset(layer, 0, sizeof *layer);
}
