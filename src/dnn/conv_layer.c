/*
 * Convolution and transposed convolution on oneDNN (forward inference, fused post-ops), in
 * fp32, bf16 (bf16 src and weights, f32 or bf16 dst) or int8 (u8/s8 src, s8 weights with one
 * symmetric scale per output channel, f32 dst).
 */
#include "dnn/layers.h"

#include <math.h>
#include <string.h>

static dnnl_data_type_t dnnl_type(act_type t)
{
    switch (t) {
    case ACT_F32:
        return dnnl_f32;
    case ACT_BF16:
        return dnnl_bf16;
    case ACT_U8:
        return dnnl_u8;
    case ACT_S8:
        return dnnl_s8;
    }
    return dnnl_f32;
}

static bool int8_src(const conv_options *o)
{
    return o->src_type == ACT_U8 || o->src_type == ACT_S8;
}

static int32_t kernel_w(const conv_layer *layer)
{
    return layer->opt.kernel_w > 0 ? layer->opt.kernel_w : layer->spec.kernel;
}

static int32_t stride_w(const conv_layer *layer)
{
    return layer->opt.stride_w > 0 ? layer->opt.stride_w : layer->spec.stride;
}

style_status conv_layer_describe(conv_layer *layer, dnn_context *dnn, const conv_spec *spec,
                                 int32_t in_h, int32_t in_w)
{
    return conv_layer_describe_ex(layer, dnn, spec, NULL, in_h, in_w);
}

style_status conv_layer_describe_ex(conv_layer *layer, dnn_context *dnn, const conv_spec *spec,
                                    const conv_options *options, int32_t in_h, int32_t in_w)
{
    dnnl_engine_t engine = dnn->engine;
    style_status status = STYLE_OK;
    dnnl_primitive_attr_t attr = NULL;
    static const conv_options defaults = {0};
    const conv_options *o = options ? options : &defaults;
    memset(layer, 0, sizeof *layer);
    layer->spec = *spec;
    layer->opt = *o;
    layer->opt.int8_weights = NULL; /* only valid during this call */
    layer->in_h = in_h;
    layer->in_w = in_w;

    const conv_spec *s = spec;
    const int32_t kh = s->kernel, kw = kernel_w(layer);
    if (s->transposed) {
        /* Full transposed output is (in-1)*stride + k; the pads crop it. */
        layer->out_h = (in_h - 1) * s->stride + kh - s->pad_top - s->pad_bottom;
        layer->out_w = (in_w - 1) * stride_w(layer) + kw - s->pad_left - s->pad_right;
    } else {
        layer->out_h = (in_h + s->pad_top + s->pad_bottom - kh) / s->stride + 1;
        layer->out_w = (in_w + s->pad_left + s->pad_right - kw) / stride_w(layer) + 1;
    }
    FAIL_IF(in_h < 1 || in_w < 1 || layer->out_h < 1 || layer->out_w < 1, STYLE_ERR_INTERNAL,
            "convolution %dx%d on a %dx%d input has no output", kh, kw, in_h, in_w);
    FAIL_IF(int8_src(o) && (s->transposed || !o->int8_weights ||
                            (o->dst_type != ACT_F32 && o->dst_type != ACT_BF16)),
            STYLE_ERR_INTERNAL, "int8 convolution: unsupported configuration");

    dnnl_memory_desc_t src_md, dst_md, weights_md, bias_md;
    dnnl_dims_t src_dims = {1, s->in_channels, in_h, in_w};
    dnnl_dims_t dst_dims = {1, s->out_channels, layer->out_h, layer->out_w};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_type(o->src_type), dnnl_nhwc),
             "activation descriptor");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_type(o->dst_type), dnnl_nhwc),
             "activation descriptor");
    dnnl_dims_t weight_dims = {s->out_channels, s->in_channels, kh, kw};
    dnnl_dims_t bias_dims = {s->out_channels};
    dnnl_data_type_t wt = int8_src(o) ? dnnl_s8 : o->src_type == ACT_BF16 ? dnnl_bf16 : dnnl_f32;
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&weights_md, 4, weight_dims, wt, dnnl_format_tag_any),
             "weights descriptor");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32, dnnl_a),
             "bias descriptor");
    dnnl_dims_t strides = {s->stride, stride_w(layer)};
    dnnl_dims_t pad_l = {s->pad_top, s->pad_left};
    dnnl_dims_t pad_r = {s->pad_bottom, s->pad_right};
    TRY(backend_attr_create_slope(&attr, s->relu, o->relu_slope, s->sum));
    if (int8_src(o)) {
        /* Per output channel: the weights' symmetric scale times the source step. */
        const size_t per = (size_t)s->in_channels * kh * kw;
        layer->weight_scales = style__malloc(sizeof(float) * (size_t)s->out_channels);
        float *oscales = style__malloc(sizeof(float) * (size_t)s->out_channels);
        if (!layer->weight_scales || !oscales) {
            style__free(oscales);
            FAIL_IF(true, STYLE_ERR_NOMEM, "convolution: out of memory");
        }
        for (int32_t oc = 0; oc < s->out_channels; oc++) {
            float peak = 0.0f;
            for (size_t i = 0; i < per; i++) {
                float v = fabsf(o->int8_weights[(size_t)oc * per + i]);
                peak = v > peak ? v : peak;
            }
            layer->weight_scales[oc] = peak > 0.0f ? peak / 127.0f : 1.0f;
            oscales[oc] = layer->weight_scales[oc] * (o->src_scale > 0.0f ? o->src_scale : 1.0f);
        }
        dnnl_status_t st =
            dnnl_primitive_attr_set_output_scales(attr, s->out_channels, 1 << 1, oscales);
        style__free(oscales);
        DNNL_TRY(st, "output scales");
    }
    if (s->transposed) {
        dnnl_deconvolution_desc_t desc;
        DNNL_TRY(dnnl_deconvolution_forward_desc_init(
                     &desc, dnnl_forward_inference, dnnl_deconvolution_direct, &src_md, &weights_md,
                     &bias_md, &dst_md, strides, pad_l, pad_r),
                 "transposed convolution descriptor");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->pd, &desc, attr, engine, NULL),
                 "transposed convolution");
    } else {
        dnnl_convolution_desc_t desc;
        DNNL_TRY(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference,
                                                    dnnl_convolution_direct, &src_md, &weights_md,
                                                    &bias_md, &dst_md, strides, pad_l, pad_r),
                 "convolution descriptor");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->pd, &desc, attr, engine, NULL), "convolution");
    }
    dnnl_primitive_attr_destroy(attr);
    attr = NULL;
    layer->scratchpad_bytes = backend_scratchpad_bytes(layer->pd);
    const dnnl_memory_desc_t *chosen =
        dnnl_primitive_desc_query_md(layer->pd, dnnl_query_weights_md, 0);
    layer->weights_bytes =
        dnnl_memory_desc_get_size(chosen) + (size_t)s->out_channels * sizeof(float);
    return STYLE_OK;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    conv_layer_destroy(layer);
    return status;
}

const char *conv_layer_impl(const conv_layer *layer)
{
    const char *impl = NULL;
    if (!layer->pd ||
        dnnl_primitive_desc_query(layer->pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success ||
        !impl)
        return "";
    return impl;
}

/* Quantizes fp32 [out, in, kh, kw] weights to s8 with the layer's per-channel scales and
 * reorders them (with the compensation oneDNN may append) into the primitive's layout. */
static style_status reorder_int8_weights(conv_layer *layer, dnnl_engine_t engine,
                                         dnnl_stream_t stream, const float *weights,
                                         const dnnl_dims_t dims, const dnnl_memory_desc_t *target)
{
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    size_t per = (size_t)dims[1] * dims[2] * dims[3], count = per * (size_t)dims[0];
    int8_t *q = style__malloc(count);
    dnnl_memory_desc_t plain;
    dnnl_memory_t source = NULL;
    dnnl_primitive_desc_t reorder_pd = NULL;
    dnnl_primitive_t reorder = NULL;
    FAIL_IF(!q, STYLE_ERR_NOMEM, "convolution: out of memory for weights");
    for (int32_t o = 0; o < s->out_channels; o++) {
        float inv = 1.0f / layer->weight_scales[o];
        for (size_t i = 0; i < per; i++) {
            float v = nearbyintf(weights[o * per + i] * inv);
            q[o * per + i] = (int8_t)(v > 127.0f ? 127.0f : v < -127.0f ? -127.0f : v);
        }
    }
    size_t bytes = dnnl_memory_desc_get_size(target);
    layer->weights_buffer = style__aligned_alloc(bytes);
    FAIL_IF(!layer->weights_buffer, STYLE_ERR_NOMEM, "cannot allocate %zu bytes of weights", bytes);
    DNNL_TRY(dnnl_memory_create(&layer->weights, target, engine, layer->weights_buffer),
             "weights memory");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&plain, 4, dims, dnnl_s8, dnnl_oihw),
             "weights descriptor");
    DNNL_TRY(dnnl_memory_create(&source, &plain, engine, q), "weights memory");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&reorder_pd, &plain, engine, target, engine, NULL),
             "weights reorder");
    DNNL_TRY(dnnl_primitive_create(&reorder, reorder_pd), "weights reorder");
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, source}, {DNNL_ARG_TO, layer->weights}};
    DNNL_TRY(dnnl_primitive_execute(reorder, stream, 2, args), "weights reorder");
    DNNL_TRY(dnnl_stream_wait(stream), "weights reorder");
fail:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (reorder_pd) dnnl_primitive_desc_destroy(reorder_pd);
    if (source) dnnl_memory_destroy(source);
    style__free(q);
    return status;
}

style_status conv_layer_bind(conv_layer *layer, dnn_context *dnn, const float *weights,
                             const float *bias, void *src, void *dst)
{
    dnnl_engine_t engine = dnn->engine;
    dnnl_stream_t stream = dnn->stream;
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    const dnnl_memory_desc_t *src_md =
        dnnl_primitive_desc_query_md(layer->pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md =
        dnnl_primitive_desc_query_md(layer->pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *w_md =
        dnnl_primitive_desc_query_md(layer->pd, dnnl_query_weights_md, 0);
    const dnnl_memory_desc_t *b_md =
        dnnl_primitive_desc_query_md(layer->pd, dnnl_query_weights_md, 1);

    DNNL_TRY(dnnl_primitive_create(&layer->primitive, layer->pd), "convolution primitive");
    dnnl_dims_t weight_dims = {s->out_channels, s->in_channels, s->kernel, kernel_w(layer)};
    if (int8_src(&layer->opt))
        TRY(reorder_int8_weights(layer, engine, stream, weights, weight_dims, w_md));
    else
        TRY(backend_reorder_weights(engine, stream, weights, weight_dims, w_md, &layer->weights,
                                    &layer->weights_buffer));
    layer->bias_buffer = style__aligned_alloc((size_t)s->out_channels * sizeof(float));
    FAIL_IF(!layer->bias_buffer, STYLE_ERR_NOMEM, "cannot allocate a bias");
    for (int32_t o = 0; o < s->out_channels; o++) {
        float b = bias ? bias[o] : 0.0f;
        /* oneDNN 2.x applies int8 output scales after the bias: pre-divide it. */
        if (int8_src(&layer->opt))
            b /= layer->weight_scales[o] *
                 (layer->opt.src_scale > 0.0f ? layer->opt.src_scale : 1.0f);
        layer->bias_buffer[o] = b;
    }
    DNNL_TRY(dnnl_memory_create(&layer->bias, b_md, engine, layer->bias_buffer), "bias memory");
    DNNL_TRY(dnnl_memory_create(&layer->src, src_md, engine, src), "source memory");
    DNNL_TRY(dnnl_memory_create(&layer->dst, dst_md, engine, dst), "destination memory");
    return STYLE_OK;
fail:
    return status;
}

style_status conv_layer_set_buffers(conv_layer *layer, void *src, void *dst)
{
    style_status status = STYLE_OK;
    DNNL_TRY(dnnl_memory_set_data_handle(layer->src, src), "source memory");
    DNNL_TRY(dnnl_memory_set_data_handle(layer->dst, dst), "destination memory");
    return STYLE_OK;
fail:
    return status;
}

style_status conv_layer_forward(conv_layer *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    dnnl_stream_t stream = dnn->stream;
    dnnl_memory_t scratchpad_memory = dnn_scratchpad_memory(scratchpad);
    style_status status = STYLE_OK;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->src},
                              {DNNL_ARG_WEIGHTS, layer->weights},
                              {DNNL_ARG_BIAS, layer->bias},
                              {DNNL_ARG_DST, layer->dst},
                              {DNNL_ARG_SCRATCHPAD, scratchpad_memory}};
    DNNL_TRY(dnnl_primitive_execute(layer->primitive, stream, scratchpad_memory ? 5 : 4, args),
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
    style__free(layer->weight_scales);
    memset(layer, 0, sizeof *layer);
}

style_status conv_pack_columns(conv_spec *spec, conv_options *options, int32_t packs,
                               const float *weights, const float *bias, float **packed_weights,
                               float **packed_bias)
{
    const int32_t out = spec->out_channels, in = spec->in_channels, kh = spec->kernel;
    const int32_t kw = options->kernel_w > 0 ? options->kernel_w : kh;
    const int32_t pkw = kw + packs - 1;
    *packed_weights = NULL;
    *packed_bias = NULL;
    if (packs < 1 || spec->stride != 1 || spec->transposed || options->stride_w > 1)
        return style__fail(STYLE_ERR_INTERNAL, "convolution: cannot pack this one");
    float *w = style__calloc((size_t)packs * out * in * kh * pkw, sizeof(float));
    float *b = style__malloc(sizeof(float) * (size_t)packs * out);
    if (!w || !b) {
        style__free(w);
        style__free(b);
        return style__fail(STYLE_ERR_NOMEM, "convolution: out of memory for packed weights");
    }
    /* Packed output channel (q, o) is output o of the pixel q columns to the right: the
     * kernel of o moved right by q taps. */
    for (int32_t q = 0; q < packs; q++)
        for (int32_t o = 0; o < out; o++) {
            b[q * out + o] = bias ? bias[o] : 0.0f;
            for (int32_t i = 0; i < in; i++)
                for (int32_t y = 0; y < kh; y++)
                    for (int32_t x = 0; x < kw; x++)
                        w[(((size_t)(q * out + o) * in + i) * kh + y) * pkw + q + x] =
                            weights[(((size_t)o * in + i) * kh + y) * kw + x];
        }
    spec->out_channels = packs * out;
    options->kernel_w = pkw;
    options->stride_w = packs;
    *packed_weights = w;
    *packed_bias = b;
    return STYLE_OK;
}

int32_t conv_output_packs(int32_t out_channels, int32_t kernel, int32_t out_w)
{
    int32_t best = 1;
    double best_cost = 16.0 * kernel;
    for (int32_t packs = 2; packs * out_channels <= 16; packs++) {
        if (out_w % packs) continue;
        double cost = 16.0 * (kernel + packs - 1) / packs;
        if (cost < best_cost) best = packs, best_cost = cost;
    }
    return best;
}
