/*
 * Convolution and transposed convolution for training: forward_training, backward-data and
 * backward-weights primitives on NHWC activations. Weights live in the caller's PyTorch
 * layout; each pass reorders them into the layout its primitive chose (they change every
 * optimizer step), and the weight gradient is reordered back.
 */
#include "dnn/train_layers.h"

#include <string.h>

/* oneDNN dims {out, in, k, k}; the user's memory is [out, in, k, k] (oihw) for convs and
 * PyTorch ConvTranspose2d's [in, out, k, k] (iohw) for transposed ones. */
static style_status user_weights_md(const conv_spec *s, dnnl_memory_desc_t *md)
{
    style_status status = STYLE_OK;
    dnnl_dims_t dims = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    DNNL_TRY(
        dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, s->transposed ? dnnl_iohw : dnnl_oihw),
        "weights descriptor");
    return STYLE_OK;
fail:
    return status;
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* Whether pd runs oneDNN's reference (plain C loop) implementation. */
static bool is_reference(const_dnnl_primitive_desc_t pd)
{
    const char *impl = NULL;
    return dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success &&
           impl && strncmp(impl, "ref", 3) == 0;
}

/* Backward data of a stride-1 convolution is the "full" correlation of the output gradient
 * with the weights flipped in space and with in/out swapped: a forward convolution with
 * padding k - 1 - p on each side. oneDNN's AVX2 kernels do not take the backward pass of the
 * network's last layer (16 -> 3 channels, 9x9) with one thread and fall back to the
 * reference implementation (3.5 s of a 3.7 s iteration at 128^2); as a forward convolution
 * from 3 channels it runs in the JIT kernels of a first layer. Keeps the original primitive
 * descriptor unless the forward one is faster (not the reference). */
static style_status backward_data_as_forward(tconv *layer, dnnl_engine_t engine,
                                             const dnnl_memory_desc_t *src_md,
                                             const_dnnl_primitive_attr_t attr)
{
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    dnnl_primitive_desc_t pd = NULL;
    if (s->transposed || s->stride != 1 || !is_reference(layer->bwd_data_pd)) return STYLE_OK;
    const int32_t k = s->kernel;
    dnnl_memory_desc_t w_md;
    dnnl_dims_t w_dims = {s->in_channels, s->out_channels, k, k};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_md, 4, w_dims, dnnl_f32, dnnl_format_tag_any), "w");
    dnnl_dims_t strides = {1, 1}, no_pad = {0, 0};
    const int32_t top = k - 1 - s->pad_top, left = k - 1 - s->pad_left;
    const int32_t bottom = k - 1 - s->pad_bottom, right = k - 1 - s->pad_right;
    if (top < 0 || left < 0 || bottom < 0 || right < 0) return STYLE_OK;
    /* The padding is explicit (a zero border around a copy of the output gradient): the JIT
     * kernels take a first layer without padding but not with 8 pixels of it. */
    dnnl_memory_desc_t bordered_md;
    dnnl_dims_t bordered_dims = {layer->n, s->out_channels, layer->out_h + top + bottom,
                                 layer->out_w + left + right};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&bordered_md, 4, bordered_dims, dnnl_f32, dnnl_nhwc),
             "bordered gradient");
    dnnl_convolution_desc_t fd;
    /* src: the bordered output gradient; dst: the input gradient. */
    DNNL_TRY(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_inference,
                                                dnnl_convolution_direct, &bordered_md, &w_md, NULL,
                                                src_md, strides, no_pad, no_pad),
             "convolution backward data as a forward convolution");
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &fd, attr, engine, NULL),
             "convolution backward data as a forward convolution");
    if (is_reference(pd)) goto fail; /* no better: keep the original */
    dnnl_primitive_desc_destroy(layer->bwd_data_pd);
    layer->bwd_data_pd = pd;
    pd = NULL;
    layer->bwd_data_as_forward = true;
    layer->border[0] = top, layer->border[1] = left, layer->border[2] = bottom,
    layer->border[3] = right;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return status;
}

/* w_flipped[i][o][ky][kx] = w[o][i][k-1-ky][k-1-kx] (w in the user layout oihw). */
static void flip_weights(const conv_spec *s, const float *w, float *w_flipped)
{
    const int32_t k = s->kernel, in = s->in_channels, out = s->out_channels;
    for (int32_t o = 0; o < out; o++)
        for (int32_t i = 0; i < in; i++)
            for (int32_t ky = 0; ky < k; ky++)
                for (int32_t kx = 0; kx < k; kx++)
                    w_flipped[(((size_t)i * out + o) * k + (k - 1 - ky)) * k + (k - 1 - kx)] =
                        w[(((size_t)o * in + i) * k + ky) * k + kx];
}

style_status tconv_create(tconv *layer, dnn_context *dnn, const conv_spec *spec, float slope,
                          int32_t n, int32_t in_h, int32_t in_w, bool need_diff_src, bool frozen)
{
    return tconv_create_layout(layer, dnn, spec, slope, n, in_h, in_w, need_diff_src, frozen,
                               DNN_LAYOUT_NHWC, false);
}

style_status tconv_create_layout(tconv *layer, dnn_context *dnn, const conv_spec *spec, float slope,
                                 int32_t n, int32_t in_h, int32_t in_w, bool need_diff_src,
                                 bool frozen, dnn_layout activation_layout, bool bf16)
{
    dnnl_engine_t engine = dnn->engine;
    const dnnl_format_tag_t layout = backend_format_tag(activation_layout);
    style_status status = STYLE_OK;
    dnnl_primitive_attr_t attr = NULL, plain_attr = NULL;
    dnnl_post_ops_t post_ops = NULL;
    memset(layer, 0, sizeof *layer);
    layer->spec = *spec;
    layer->slope = slope;
    layer->n = n;
    layer->in_h = in_h;
    layer->in_w = in_w;
    layer->need_diff_src = need_diff_src;
    layer->frozen = frozen;
    layer->bf16 = bf16;
    layer->layout = layout;
    const conv_spec *s = spec;
    if (s->transposed) {
        layer->out_h = (in_h - 1) * s->stride + s->kernel - s->pad_top - s->pad_bottom;
        layer->out_w = (in_w - 1) * s->stride + s->kernel - s->pad_left - s->pad_right;
    } else {
        layer->out_h = (in_h + s->pad_top + s->pad_bottom - s->kernel) / s->stride + 1;
        layer->out_w = (in_w + s->pad_left + s->pad_right - s->kernel) / s->stride + 1;
    }
    FAIL_IF(layer->out_h < 1 || layer->out_w < 1, STYLE_ERR_INVALID_ARGUMENT,
            "convolution %dx%d stride %d has no output for a %dx%d input", s->kernel, s->kernel,
            s->stride, in_w, in_h);
    FAIL_IF(layout != dnnl_nhwc &&
                (layout != dnnl_nChw8c || s->in_channels % 8 || s->out_channels % 8),
            STYLE_ERR_INTERNAL,
            "convolution: activations in nhwc or nChw8c (channels a "
            "multiple of 8) only");

    /* In bf16 the convolutions read bf16 (src, weights, diff_dst) and write f32 (dst,
     * diff_src, diff_weights): oneDNN's bf16 kernels accumulate in f32 and take f32
     * outputs, so only the inputs are rounded. */
    const dnnl_data_type_t in_type = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src_md, dst_md, w_md, b_md, conv_src_md, conv_diff_dst_md;
    dnnl_dims_t src_dims = {n, s->in_channels, in_h, in_w};
    dnnl_dims_t dst_dims = {n, s->out_channels, layer->out_h, layer->out_w};
    dnnl_dims_t w_dims = {s->out_channels, s->in_channels, s->kernel, s->kernel};
    dnnl_dims_t b_dims = {s->out_channels};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, 4, src_dims, dnnl_f32, layout), "src");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, 4, dst_dims, dnnl_f32, layout), "dst");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&conv_src_md, 4, src_dims, in_type, layout), "src");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&conv_diff_dst_md, 4, dst_dims, in_type, layout), "dst");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_md, 4, w_dims, in_type, dnnl_format_tag_any), "w");
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_a), "bias");
    dnnl_memory_desc_t diff_w_md; /* f32 in both precisions: the master weights' gradient */
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&diff_w_md, 4, w_dims, dnnl_f32, dnnl_format_tag_any),
             "weight gradient");
    dnnl_dims_t strides = {s->stride, s->stride};
    dnnl_dims_t pad_l = {s->pad_top, s->pad_left}, pad_r = {s->pad_bottom, s->pad_right};

    DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attr");
    DNNL_TRY(dnnl_primitive_attr_create(&plain_attr), "attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(plain_attr, dnnl_scratchpad_mode_user),
             "attr");
    if (slope >= 0) {
        DNNL_TRY(dnnl_post_ops_create(&post_ops), "post-ops");
        DNNL_TRY(dnnl_post_ops_append_eltwise(post_ops, 1.0f, dnnl_eltwise_relu, slope, 0.f),
                 "activation post-op");
        DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, post_ops), "post-ops");
    }
    const dnnl_prop_kind_t prop =
        frozen && !need_diff_src ? dnnl_forward_inference : dnnl_forward_training;
    if (s->transposed) {
        dnnl_deconvolution_desc_t fd, bd, wd;
        DNNL_TRY(dnnl_deconvolution_forward_desc_init(&fd, prop, dnnl_deconvolution_direct,
                                                      &conv_src_md, &w_md, &b_md, &dst_md, strides,
                                                      pad_l, pad_r),
                 "transposed conv");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->fwd_pd, &fd, attr, engine, NULL),
                 "transposed conv");
        if (need_diff_src) {
            DNNL_TRY(dnnl_deconvolution_backward_data_desc_init(&bd, dnnl_deconvolution_direct,
                                                                &src_md, &w_md, &conv_diff_dst_md,
                                                                strides, pad_l, pad_r),
                     "transposed conv backward data");
            DNNL_TRY(dnnl_primitive_desc_create(&layer->bwd_data_pd, &bd, plain_attr, engine,
                                                layer->fwd_pd),
                     "transposed conv backward data");
        }
        if (!frozen) {
            DNNL_TRY(dnnl_deconvolution_backward_weights_desc_init(
                         &wd, dnnl_deconvolution_direct, &conv_src_md, &diff_w_md, &b_md,
                         &conv_diff_dst_md, strides, pad_l, pad_r),
                     "transposed conv backward weights");
            DNNL_TRY(dnnl_primitive_desc_create(&layer->bwd_weights_pd, &wd, plain_attr, engine,
                                                layer->fwd_pd),
                     "transposed conv backward weights");
        }
    } else {
        dnnl_convolution_desc_t fd, bd, wd;
        DNNL_TRY(dnnl_convolution_forward_desc_init(&fd, prop, dnnl_convolution_direct,
                                                    &conv_src_md, &w_md, &b_md, &dst_md, strides,
                                                    pad_l, pad_r),
                 "convolution");
        DNNL_TRY(dnnl_primitive_desc_create(&layer->fwd_pd, &fd, attr, engine, NULL),
                 "convolution");
        if (need_diff_src) {
            DNNL_TRY(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src_md,
                                                              &w_md, &conv_diff_dst_md, strides,
                                                              pad_l, pad_r),
                     "convolution backward data");
            DNNL_TRY(dnnl_primitive_desc_create(&layer->bwd_data_pd, &bd, plain_attr, engine,
                                                layer->fwd_pd),
                     "convolution backward data");
            if (layout == dnnl_nhwc && !bf16) /* its bordered copy is NHWC and f32 */
                TRY(backward_data_as_forward(layer, engine, &src_md, plain_attr));
        }
        if (!frozen) {
            DNNL_TRY(dnnl_convolution_backward_weights_desc_init(
                         &wd, dnnl_convolution_direct, &conv_src_md, &diff_w_md, &b_md,
                         &conv_diff_dst_md, strides, pad_l, pad_r),
                     "convolution backward weights");
            DNNL_TRY(dnnl_primitive_desc_create(&layer->bwd_weights_pd, &wd, plain_attr, engine,
                                                layer->fwd_pd),
                     "convolution backward weights");
        }
    }
    layer->scratchpad_bytes = backend_scratchpad_bytes(layer->fwd_pd);
    if (layer->bwd_data_pd)
        layer->scratchpad_bytes =
            max_size(layer->scratchpad_bytes, backend_scratchpad_bytes(layer->bwd_data_pd));
    if (layer->bwd_weights_pd)
        layer->scratchpad_bytes =
            max_size(layer->scratchpad_bytes, backend_scratchpad_bytes(layer->bwd_weights_pd));
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    dnnl_primitive_attr_destroy(attr);
    dnnl_primitive_attr_destroy(plain_attr);
    return STYLE_OK;
fail:
    if (post_ops) dnnl_post_ops_destroy(post_ops);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (plain_attr) dnnl_primitive_attr_destroy(plain_attr);
    tconv_destroy(layer);
    return status;
}

/* Memory of descriptor `md` over a fresh buffer, and a reorder between it and `user`. */
static style_status make_reorder(dnnl_engine_t engine, const dnnl_memory_desc_t *from,
                                 const dnnl_memory_desc_t *to, dnnl_primitive_t *reorder)
{
    style_status status = STYLE_OK;
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL), "reorder");
    DNNL_TRY(dnnl_primitive_create(reorder, pd), "reorder");
    dnnl_primitive_desc_destroy(pd);
    return STYLE_OK;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return status;
}

static style_status memory_with_buffer(dnnl_engine_t engine, const dnnl_memory_desc_t *md,
                                       dnnl_memory_t *memory, void **buffer)
{
    style_status status = STYLE_OK;
    size_t bytes = dnnl_memory_desc_get_size(md);
    *buffer = style__aligned_alloc(bytes);
    FAIL_IF(!*buffer, STYLE_ERR_NOMEM, "cannot allocate %zu bytes for a convolution", bytes);
    DNNL_TRY(dnnl_memory_create(memory, md, engine, *buffer), "convolution memory");
    return STYLE_OK;
fail:
    return status;
}

style_status tconv_bind(tconv *layer, dnn_context *dnn, const float *weights, const float *bias,
                        float *diff_weights, float *diff_bias, float *src, float *dst,
                        float *diff_src, float *diff_dst)
{
    dnnl_engine_t engine = dnn->engine;
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    dnnl_memory_desc_t user_md, b_md;
    dnnl_dims_t b_dims = {s->out_channels};
    TRY(user_weights_md(s, &user_md));
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, b_dims, dnnl_f32, dnnl_a), "bias");
    /* The caller's activations are f32 in the layer's layout; the convolution's source is
     * the same tensor in bf16 when the layer computes in bf16. */
    const dnnl_memory_desc_t *conv_src_md =
        dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md =
        dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_dst_md, 0);
    dnnl_memory_desc_t user_src_md;
    dnnl_dims_t src_dims = {layer->n, s->in_channels, layer->in_h, layer->in_w};
    DNNL_TRY(dnnl_memory_desc_init_by_tag(&user_src_md, 4, src_dims, dnnl_f32, layer->layout),
             "source");
    const dnnl_memory_desc_t *src_md = &user_src_md;
    const dnnl_memory_desc_t *w_fwd_md =
        dnnl_primitive_desc_query_md(layer->fwd_pd, dnnl_query_weights_md, 0);

    DNNL_TRY(dnnl_primitive_create(&layer->fwd, layer->fwd_pd), "convolution");
    DNNL_TRY(dnnl_memory_create(&layer->w_user, &user_md, engine, (void *)weights), "weights");
    TRY(memory_with_buffer(engine, w_fwd_md, &layer->w_fwd, &layer->w_fwd_buf));
    TRY(make_reorder(engine, &user_md, w_fwd_md, &layer->reorder_w_fwd));
    if (!bias) {
        layer->zero_bias = style__aligned_alloc((size_t)s->out_channels * sizeof(float));
        FAIL_IF(!layer->zero_bias, STYLE_ERR_NOMEM, "cannot allocate a bias");
        memset(layer->zero_bias, 0, (size_t)s->out_channels * sizeof(float));
        bias = layer->zero_bias;
    }
    DNNL_TRY(dnnl_memory_create(&layer->bias, &b_md, engine, (void *)bias), "bias");
    DNNL_TRY(dnnl_memory_create(&layer->src, src_md, engine, src), "source");
    DNNL_TRY(dnnl_memory_create(&layer->dst, dst_md, engine, dst), "destination");
    DNNL_TRY(dnnl_memory_create(&layer->diff_dst, dst_md, engine, diff_dst), "gradient");
    if (layer->bf16) {
        TRY(memory_with_buffer(engine, conv_src_md, &layer->src_bf16, &layer->src_bf16_buf));
        TRY(make_reorder(engine, src_md, conv_src_md, &layer->to_bf16_src));
        const_dnnl_primitive_desc_t bwd_pd =
            layer->bwd_data_pd ? layer->bwd_data_pd : layer->bwd_weights_pd;
        if (bwd_pd) {
            const dnnl_memory_desc_t *md =
                dnnl_primitive_desc_query_md(bwd_pd, dnnl_query_diff_dst_md, 0);
            TRY(memory_with_buffer(engine, md, &layer->diff_dst_bf16, &layer->diff_dst_bf16_buf));
            TRY(make_reorder(engine, dst_md, md, &layer->to_bf16_diff_dst));
        }
    }

    if (layer->bwd_data_pd && layer->bwd_data_as_forward) {
        /* The flipped, transposed weights in the user layout, reordered like the others. */
        dnnl_memory_desc_t flipped_md;
        dnnl_dims_t w_dims = {s->in_channels, s->out_channels, s->kernel, s->kernel};
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&flipped_md, 4, w_dims, dnnl_f32, dnnl_oihw),
                 "flipped weights");
        layer->w_flipped = style__aligned_alloc(dnnl_memory_desc_get_size(&flipped_md));
        FAIL_IF(!layer->w_flipped, STYLE_ERR_NOMEM, "cannot allocate the flipped weights");
        DNNL_TRY(dnnl_memory_create(&layer->w_flipped_user, &flipped_md, engine, layer->w_flipped),
                 "flipped weights");
        user_md = flipped_md; /* the backward pass reorders from the flipped copy */
        const dnnl_memory_desc_t *bordered_md =
            dnnl_primitive_desc_query_md(layer->bwd_data_pd, dnnl_query_src_md, 0);
        const size_t bytes = dnnl_memory_desc_get_size(bordered_md);
        layer->diff_dst_bordered = style__aligned_alloc(bytes);
        FAIL_IF(!layer->diff_dst_bordered, STYLE_ERR_NOMEM, "cannot allocate a gradient");
        memset(layer->diff_dst_bordered, 0, bytes); /* the border stays zero */
        DNNL_TRY(dnnl_memory_create(&layer->diff_dst_border_mem, bordered_md, engine,
                                    layer->diff_dst_bordered),
                 "bordered gradient");
    }
    if (layer->bwd_data_pd) {
        const dnnl_memory_desc_t *w_bwd_md =
            dnnl_primitive_desc_query_md(layer->bwd_data_pd, dnnl_query_weights_md, 0);
        DNNL_TRY(dnnl_primitive_create(&layer->bwd_data, layer->bwd_data_pd), "backward data");
        TRY(memory_with_buffer(engine, w_bwd_md, &layer->w_bwd, &layer->w_bwd_buf));
        TRY(make_reorder(engine, &user_md, w_bwd_md, &layer->reorder_w_bwd));
        if (layer->bwd_data_as_forward) TRY(user_weights_md(s, &user_md));
        DNNL_TRY(dnnl_memory_create(&layer->diff_src, src_md, engine, diff_src), "gradient");
    }
    if (layer->bwd_weights_pd) {
        const dnnl_memory_desc_t *dw_md =
            dnnl_primitive_desc_query_md(layer->bwd_weights_pd, dnnl_query_diff_weights_md, 0);
        DNNL_TRY(dnnl_primitive_create(&layer->bwd_weights, layer->bwd_weights_pd),
                 "backward weights");
        TRY(memory_with_buffer(engine, dw_md, &layer->dw, &layer->dw_buf));
        TRY(make_reorder(engine, dw_md, &user_md, &layer->reorder_dw));
        DNNL_TRY(dnnl_memory_create(&layer->dw_user, &user_md, engine, diff_weights),
                 "weight gradient");
        if (!diff_bias) {
            layer->diff_bias_sink = style__aligned_alloc((size_t)s->out_channels * sizeof(float));
            FAIL_IF(!layer->diff_bias_sink, STYLE_ERR_NOMEM, "cannot allocate a bias gradient");
            diff_bias = layer->diff_bias_sink;
        }
        DNNL_TRY(dnnl_memory_create(&layer->diff_bias, &b_md, engine, diff_bias), "bias gradient");
    }
    return STYLE_OK;
fail:
    return status;
}

static style_status run_reorder(dnnl_primitive_t reorder, dnnl_stream_t stream, dnnl_memory_t from,
                                dnnl_memory_t to)
{
    style_status status = STYLE_OK;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_TRY(dnnl_primitive_execute(reorder, stream, 2, args), "reorder");
    return STYLE_OK;
fail:
    return status;
}

style_status tconv_forward(tconv *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    dnnl_stream_t stream = dnn->stream;
    dnnl_memory_t scratchpad_memory = dnn_scratchpad_memory(scratchpad);
    style_status status = STYLE_OK;
    if (!layer->frozen || !layer->weights_ready) {
        TRY(run_reorder(layer->reorder_w_fwd, stream, layer->w_user, layer->w_fwd));
        if (layer->frozen && layer->reorder_w_bwd) {
            if (layer->bwd_data_as_forward) {
                void *w = NULL;
                dnnl_memory_get_data_handle(layer->w_user, &w);
                flip_weights(&layer->spec, w, layer->w_flipped);
            }
            TRY(run_reorder(layer->reorder_w_bwd, stream,
                            layer->bwd_data_as_forward ? layer->w_flipped_user : layer->w_user,
                            layer->w_bwd));
        }
        layer->weights_ready = true;
    }
    if (layer->bf16 && !layer->bf16_source_given)
        TRY(run_reorder(layer->to_bf16_src, stream, layer->src, layer->src_bf16));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->bf16 ? layer->src_bf16 : layer->src},
                              {DNNL_ARG_WEIGHTS, layer->w_fwd},
                              {DNNL_ARG_BIAS, layer->bias},
                              {DNNL_ARG_DST, layer->dst},
                              {DNNL_ARG_SCRATCHPAD, scratchpad_memory}};
    DNNL_TRY(dnnl_primitive_execute(layer->fwd, stream, scratchpad_memory ? 5 : 4, args),
             "convolution");
    DNNL_TRY(dnnl_stream_wait(stream), "convolution");
    return STYLE_OK;
fail:
    return status;
}

uint16_t *tconv_bf16_source(tconv *layer)
{
    if (!layer->bf16 || !layer->src_bf16 || layer->layout != dnnl_nhwc) return NULL;
    layer->bf16_source_given = true;
    return layer->src_bf16_buf;
}

/* d(act)/dx from the activation's output: 1 where it is positive, else the slope (0 = ReLU).
 * Valid for slope >= 0 because the output's sign equals the input's. */
static void activation_backward(float *diff, const float *out, size_t count, float slope)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        if (!(out[i] > 0.0f)) diff[i] *= slope;
}

style_status tconv_backward(tconv *layer, dnn_context *dnn, dnn_scratchpad *scratchpad)
{
    dnnl_stream_t stream = dnn->stream;
    dnnl_memory_t scratchpad_memory = dnn_scratchpad_memory(scratchpad);
    style_status status = STYLE_OK;
    const conv_spec *s = &layer->spec;
    if (layer->slope >= 0) {
        void *dst = NULL, *diff = NULL;
        dnnl_memory_get_data_handle(layer->dst, &dst);
        dnnl_memory_get_data_handle(layer->diff_dst, &diff);
        activation_backward(diff, dst,
                            (size_t)layer->n * layer->out_h * layer->out_w * s->out_channels,
                            layer->slope);
    }
    dnnl_memory_t conv_diff_dst = layer->diff_dst;
    if (layer->bf16 && layer->to_bf16_diff_dst) {
        TRY(run_reorder(layer->to_bf16_diff_dst, stream, layer->diff_dst, layer->diff_dst_bf16));
        conv_diff_dst = layer->diff_dst_bf16;
    }
    if (layer->bwd_data && layer->bwd_data_as_forward) {
        if (!layer->frozen) {
            void *w = NULL;
            dnnl_memory_get_data_handle(layer->w_user, &w);
            flip_weights(s, w, layer->w_flipped);
            TRY(run_reorder(layer->reorder_w_bwd, stream, layer->w_flipped_user, layer->w_bwd));
        }
        /* The output gradient into the interior of the zero-bordered copy. */
        void *diff = NULL;
        dnnl_memory_get_data_handle(layer->diff_dst, &diff);
        const size_t c = (size_t)s->out_channels, row = (size_t)layer->out_w * c;
        const size_t bw = (size_t)layer->out_w + layer->border[1] + layer->border[3];
        const size_t bh = (size_t)layer->out_h + layer->border[0] + layer->border[2];
        for (int32_t b = 0; b < layer->n; b++)
            for (int32_t y = 0; y < layer->out_h; y++)
                memcpy(layer->diff_dst_bordered +
                           (((size_t)b * bh + y + layer->border[0]) * bw + layer->border[1]) * c,
                       (const float *)diff + ((size_t)b * layer->out_h + y) * row,
                       row * sizeof(float));
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->diff_dst_border_mem},
                                  {DNNL_ARG_WEIGHTS, layer->w_bwd},
                                  {DNNL_ARG_DST, layer->diff_src},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad_memory}};
        DNNL_TRY(dnnl_primitive_execute(layer->bwd_data, stream, scratchpad_memory ? 4 : 3, args),
                 "convolution backward data");
    } else if (layer->bwd_data) {
        if (!layer->frozen)
            TRY(run_reorder(layer->reorder_w_bwd, stream, layer->w_user, layer->w_bwd));
        dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, conv_diff_dst},
                                  {DNNL_ARG_WEIGHTS, layer->w_bwd},
                                  {DNNL_ARG_DIFF_SRC, layer->diff_src},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad_memory}};
        DNNL_TRY(dnnl_primitive_execute(layer->bwd_data, stream, scratchpad_memory ? 4 : 3, args),
                 "convolution backward data");
    }
    if (layer->bwd_weights) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, layer->bf16 ? layer->src_bf16 : layer->src},
                                  {DNNL_ARG_DIFF_DST, conv_diff_dst},
                                  {DNNL_ARG_DIFF_WEIGHTS, layer->dw},
                                  {DNNL_ARG_DIFF_BIAS, layer->diff_bias},
                                  {DNNL_ARG_SCRATCHPAD, scratchpad_memory}};
        DNNL_TRY(
            dnnl_primitive_execute(layer->bwd_weights, stream, scratchpad_memory ? 5 : 4, args),
            "convolution backward weights");
        TRY(run_reorder(layer->reorder_dw, stream, layer->dw, layer->dw_user));
    }
    DNNL_TRY(dnnl_stream_wait(stream), "convolution backward");
    return STYLE_OK;
fail:
    return status;
}

bool tconv_uses_reference(const tconv *layer)
{
    return (layer->fwd_pd && is_reference(layer->fwd_pd)) ||
           (layer->bwd_data_pd && is_reference(layer->bwd_data_pd)) ||
           (layer->bwd_weights_pd && is_reference(layer->bwd_weights_pd));
}

void tconv_count_macs(const tconv *layer, double *forward, double *backward)
{
    const conv_spec *s = &layer->spec;
    /* A transposed conv's multiply-adds run over its input; a conv's over its output. */
    const double pixels =
        s->transposed ? (double)layer->in_h * layer->in_w : (double)layer->out_h * layer->out_w;
    const double pass =
        (double)layer->n * pixels * s->in_channels * s->out_channels * s->kernel * s->kernel;
    *forward = pass;
    *backward = (layer->bwd_data_pd ? pass : 0.0) + (layer->bwd_weights_pd ? pass : 0.0);
}

void tconv_destroy(tconv *layer)
{
    if (!layer) return;
    dnnl_primitive_t prims[] = {layer->fwd,           layer->bwd_data,        layer->bwd_weights,
                                layer->reorder_w_fwd, layer->reorder_w_bwd,   layer->reorder_dw,
                                layer->to_bf16_src,   layer->to_bf16_diff_dst};
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_primitive_desc_t pds[] = {layer->fwd_pd, layer->bwd_data_pd, layer->bwd_weights_pd};
    for (size_t i = 0; i < sizeof pds / sizeof *pds; i++)
        if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
    dnnl_memory_t mems[] = {layer->src,
                            layer->dst,
                            layer->diff_src,
                            layer->diff_dst,
                            layer->w_user,
                            layer->w_fwd,
                            layer->w_bwd,
                            layer->dw_user,
                            layer->dw,
                            layer->bias,
                            layer->diff_bias,
                            layer->w_flipped_user,
                            layer->diff_dst_border_mem,
                            layer->src_bf16,
                            layer->diff_dst_bf16};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    style__aligned_free(layer->w_fwd_buf);
    style__aligned_free(layer->w_bwd_buf);
    style__aligned_free(layer->dw_buf);
    style__aligned_free(layer->zero_bias);
    style__aligned_free(layer->diff_bias_sink);
    style__aligned_free(layer->w_flipped);
    style__aligned_free(layer->diff_dst_bordered);
    style__aligned_free(layer->src_bf16_buf);
    style__aligned_free(layer->diff_dst_bf16_buf);
    memset(layer, 0, sizeof *layer);
}
