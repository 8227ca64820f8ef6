/*
 * Building and running the transform network (pytorch/examples TransformerNet and the
 * variants the model metadata describes) as a flat list of operations:
 *
 *   input -> [pad] conv1 -> IN+ReLU -> [pad] conv2/2 -> IN+ReLU -> [pad] conv3/2 -> IN+ReLU
 *         -> N x ( x + IN(conv(ReLU(IN(conv(x))))) )
 *         -> up x2 (nearest + [pad] conv, or transposed conv) -> IN+ReLU, twice
 *         -> [pad] deconv3 -> [IN] -> output
 *
 * Batch-norm models fold their statistics into the convolutions at bind time, so they run
 * conv (+ReLU or +residual sum) with no normalization layer.
 */
#include "network.h"

#include <math.h>
#include <string.h>

/* The shape of the tensor the builder is at. */
typedef struct cursor {
    int buffer;
    int32_t h, w, c;
} cursor;

int32_t network_padded_size(int32_t n)
{
    return (n + 3) / 4 * 4;
}

static style_status push_op(network_plan *plan, plan_op **out)
{
    if (plan->op_count == plan->op_capacity) {
        size_t capacity = plan->op_capacity ? plan->op_capacity * 2 : 64;
        plan_op *ops = style__realloc(plan->ops, capacity * sizeof *ops);
        if (!ops) return style__fail(STYLE_ERR_NOMEM, "network: out of memory");
        plan->ops = ops;
        plan->op_capacity = capacity;
    }
    *out = &plan->ops[plan->op_count++];
    memset(*out, 0, sizeof **out);
    return STYLE_OK;
}

static void need_buffer(network_plan *plan, int buffer, int32_t h, int32_t w, int32_t c)
{
    size_t bytes = (size_t)h * (size_t)w * (size_t)c * sizeof(float);
    if (bytes > plan->buffer_bytes[buffer]) plan->buffer_bytes[buffer] = bytes;
}

/* TensorFlow SAME padding of one axis: the smaller half before. */
static void tf_same_pads(int32_t n, int32_t k, int32_t s, int32_t *before, int32_t *after)
{
    int32_t out = (n + s - 1) / s;
    int32_t total = (out - 1) * s + k - n;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

/*
 * Adds one conv stage (optional upsampling and padding, conv, norm, ReLU) reading `at` and
 * writing buffer `dst`. `relu` applies after the norm; `residual` makes the stage's result be
 * added to `dst` (which holds the block input) instead of overwriting it.
 */
static style_status add_stage(network_plan *plan, const style_model *model, dnnl_engine_t engine,
                              const model_stage *stage, cursor *at, int dst, bool relu,
                              bool residual)
{
    style_status status = STYLE_OK;
    const model_conv *conv = &stage->conv;
    const int32_t k = conv->kernel;
    const bool upsample = !conv->transposed && model->upsample == UPSAMPLE_NEAREST_CONV &&
                          (stage == &model->up[0] || stage == &model->up[1]);
    const bool fold = stage->has_norm && model->norm == NORM_BATCH;
    plan_op *op = NULL;
    conv_spec spec = {.in_channels = conv->in_channels,
                      .out_channels = conv->out_channels,
                      .kernel = k,
                      .stride = conv->stride,
                      .transposed = conv->transposed};
    cursor src = *at;

    if (conv->transposed) {
        /* Keep 2H rows of the (2H + k - 2)-row full output: TF keeps [⌊(k-2)/2⌋, ...),
         * PyTorch (padding k/2, output_padding 1) keeps [k/2, ...). */
        int32_t crop = k - 2;
        int32_t before = model->upsample == UPSAMPLE_TRANSPOSED_TF ? crop / 2 : k / 2;
        spec.pad_top = spec.pad_left = before;
        spec.pad_bottom = spec.pad_right = crop - before;
    } else if (model->padding == PADDING_REFLECT) {
        int32_t factor = upsample ? 2 : 1, pad = k / 2;
        if (factor > 1 || pad > 0) {
            TRY(push_op(plan, &op));
            *op = (plan_op){.kind = OP_PAD, .src = src.buffer, .dst = BUF_PADDED, .h = src.h,
                            .w = src.w, .c = src.c, .factor = factor, .pad = pad};
            src = (cursor){BUF_PADDED, src.h * factor + 2 * pad, src.w * factor + 2 * pad, src.c};
            need_buffer(plan, BUF_PADDED, src.h, src.w, src.c);
        }
    } else {
        if (upsample) {
            TRY(push_op(plan, &op));
            *op = (plan_op){.kind = OP_PAD, .src = src.buffer, .dst = BUF_PADDED, .h = src.h,
                            .w = src.w, .c = src.c, .factor = 2, .pad = 0};
            src = (cursor){BUF_PADDED, src.h * 2, src.w * 2, src.c};
            need_buffer(plan, BUF_PADDED, src.h, src.w, src.c);
        }
        if (model->padding == PADDING_ZERO) {
            spec.pad_top = spec.pad_left = spec.pad_bottom = spec.pad_right = k / 2;
        } else {
            tf_same_pads(src.h, k, conv->stride, &spec.pad_top, &spec.pad_bottom);
            tf_same_pads(src.w, k, conv->stride, &spec.pad_left, &spec.pad_right);
        }
    }
    /* With folded batch norm the ReLU and residual sum fuse into the conv. */
    spec.relu = relu && (!stage->has_norm || fold);
    spec.sum = residual && (!stage->has_norm || fold);

    TRY(push_op(plan, &op));
    op->kind = OP_CONV;
    op->src = src.buffer;
    op->stage = stage;
    op->fold_norm = fold;
    op->eps = model->norm_eps;
    int conv_dst = (residual && !spec.sum) ? BUF_U : dst;
    op->dst = conv_dst;
    TRY(conv_layer_describe(&op->conv, engine, &spec, src.h, src.w));
    cursor out = {conv_dst, op->conv.out_h, op->conv.out_w, conv->out_channels};
    need_buffer(plan, conv_dst, out.h, out.w, out.c);

    if (stage->has_norm && !fold) {
        TRY(push_op(plan, &op));
        op->kind = OP_NORM;
        op->src = op->dst = conv_dst;
        op->stage = stage;
        TRY(norm_layer_describe(&op->norm, engine, out.c, out.h, out.w, model->norm_eps, relu));
    }
    if (residual && !spec.sum) {
        TRY(push_op(plan, &op));
        *op = (plan_op){.kind = OP_ADD, .src = conv_dst, .dst = dst,
                        .count = (size_t)out.h * out.w * out.c};
        out.buffer = dst;
    }
    *at = out;
    return STYLE_OK;
fail:
    return status;
}

style_status network_plan_describe(network_plan *plan, const style_model *model,
                                   dnnl_engine_t engine, int32_t height, int32_t width)
{
    style_status status = STYLE_OK;
    memset(plan, 0, sizeof *plan);
    plan->height = height;
    plan->width = width;
    cursor at = {BUF_INPUT, height, width, 3};
    need_buffer(plan, BUF_INPUT, height, width, 3);

    TRY(add_stage(plan, model, engine, &model->down[0], &at, BUF_FULL, true, false));
    TRY(add_stage(plan, model, engine, &model->down[1], &at, BUF_HALF, true, false));
    TRY(add_stage(plan, model, engine, &model->down[2], &at, BUF_X, true, false));
    for (int32_t b = 0; b < model->residual_blocks; b++) {
        cursor inner = at;
        TRY(add_stage(plan, model, engine, &model->residual[b][0], &inner, BUF_T, true, false));
        TRY(add_stage(plan, model, engine, &model->residual[b][1], &inner, BUF_X, false, true));
        at = inner;
    }
    TRY(add_stage(plan, model, engine, &model->up[0], &at, BUF_HALF, true, false));
    TRY(add_stage(plan, model, engine, &model->up[1], &at, BUF_FULL, true, false));
    TRY(add_stage(plan, model, engine, &model->out, &at, BUF_OUTPUT, false, false));
    FAIL_IF(at.h != height || at.w != width || at.c != 3, STYLE_ERR_INTERNAL,
            "network output is %dx%dx%d for a %dx%d input", at.w, at.h, at.c, width, height);

    for (size_t i = 0; i < plan->op_count; i++) {
        size_t s = plan->ops[i].kind == OP_CONV   ? plan->ops[i].conv.scratchpad_bytes
                   : plan->ops[i].kind == OP_NORM ? plan->ops[i].norm.scratchpad_bytes
                                                  : 0;
        if (s > plan->scratchpad_bytes) plan->scratchpad_bytes = s;
        if (plan->ops[i].kind == OP_CONV) plan->weights_bytes += plan->ops[i].conv.weights_bytes;
    }
    return STYLE_OK;
fail:
    network_plan_destroy(plan);
    return status;
}

uint64_t network_plan_memory(const network_plan *plan)
{
    uint64_t total = plan->scratchpad_bytes + plan->weights_bytes;
    for (int i = 0; i < BUF_COUNT; i++) total += plan->buffer_bytes[i];
    return total;
}

/*
 * The conv's weights as oneDNN wants them: [out, in, k, k], transposed from PyTorch's
 * ConvTranspose2d [in, out, k, k] when needed, with batch-norm statistics folded in:
 * w' = w * g / sqrt(var + eps), b' = (b - mean) * g / sqrt(var + eps) + beta.
 */
static style_status prepare_weights(const plan_op *op, float **weights, float **bias)
{
    const model_conv *conv = &op->stage->conv;
    const int32_t in = conv->in_channels, out = conv->out_channels, kk = conv->kernel * conv->kernel;
    size_t count = (size_t)in * out * kk;
    *weights = style__malloc(count * sizeof(float));
    *bias = style__malloc((size_t)out * sizeof(float));
    if (!*weights || !*bias) {
        style__free(*weights);
        style__free(*bias);
        *weights = *bias = NULL;
        return style__fail(STYLE_ERR_NOMEM, "network: out of memory for weights");
    }
    for (int32_t o = 0; o < out; o++) {
        double scale = 1.0, shift = conv->bias ? conv->bias[o] : 0.0;
        if (op->fold_norm) {
            const model_norm *norm = &op->stage->norm;
            scale = norm->scale[o] / sqrt((double)norm->running_var[o] + op->eps);
            shift = (shift - norm->running_mean[o]) * scale + norm->shift[o];
        }
        (*bias)[o] = (float)shift;
        for (int32_t i = 0; i < in; i++) {
            const float *src = conv->transposed ? conv->weight + ((size_t)i * out + o) * kk
                                                : conv->weight + ((size_t)o * in + i) * kk;
            float *dst = *weights + ((size_t)o * in + i) * kk;
            for (int32_t j = 0; j < kk; j++) dst[j] = (float)(src[j] * scale);
        }
    }
    return STYLE_OK;
}

style_status network_plan_bind(network_plan *plan, dnnl_engine_t engine, dnnl_stream_t stream)
{
    style_status status = STYLE_OK;
    float *weights = NULL, *bias = NULL;
    for (int i = 0; i < BUF_COUNT; i++) {
        if (!plan->buffer_bytes[i]) continue;
        plan->buffers[i] = style__aligned_alloc(plan->buffer_bytes[i]);
        FAIL_IF(!plan->buffers[i], STYLE_ERR_NOMEM,
                "network: cannot allocate %zu bytes of activations", plan->buffer_bytes[i]);
    }
    if (plan->scratchpad_bytes) {
        dnnl_memory_desc_t md;
        dnnl_dims_t dims = {(dnnl_dim_t)plan->scratchpad_bytes};
        plan->scratchpad = style__aligned_alloc(plan->scratchpad_bytes);
        FAIL_IF(!plan->scratchpad, STYLE_ERR_NOMEM, "network: cannot allocate the scratchpad");
        DNNL_TRY(dnnl_memory_desc_init_by_tag(&md, 1, dims, dnnl_u8, dnnl_a), "scratchpad");
        DNNL_TRY(dnnl_memory_create(&plan->scratchpad_memory, &md, engine, plan->scratchpad),
                 "scratchpad");
    }
    for (size_t i = 0; i < plan->op_count; i++) {
        plan_op *op = &plan->ops[i];
        if (op->kind == OP_CONV) {
            TRY(prepare_weights(op, &weights, &bias));
            TRY(conv_layer_bind(&op->conv, engine, stream, weights, bias, plan->buffers[op->src],
                                plan->buffers[op->dst]));
            style__free(weights);
            style__free(bias);
            weights = bias = NULL;
        } else if (op->kind == OP_NORM) {
            TRY(norm_layer_bind(&op->norm, engine, op->stage->norm.scale, op->stage->norm.shift,
                                plan->buffers[op->dst]));
        }
    }
    plan->bound = true;
    return STYLE_OK;
fail:
    style__free(weights);
    style__free(bias);
    return status;
}

style_status network_plan_run(network_plan *plan, dnnl_stream_t stream,
                              int (*progress)(void *user, double fraction), void *user)
{
    style_status status = STYLE_OK;
    for (size_t i = 0; i < plan->op_count; i++) {
        plan_op *op = &plan->ops[i];
        switch (op->kind) {
        case OP_PAD:
            pad_reflect_nhwc(plan->buffers[op->src], op->h, op->w, op->c, op->factor, op->pad,
                             plan->buffers[op->dst]);
            break;
        case OP_CONV:
            TRY(conv_layer_forward(&op->conv, stream, plan->scratchpad_memory));
            DNNL_TRY(dnnl_stream_wait(stream), "convolution");
            break;
        case OP_NORM:
            TRY(norm_layer_forward(&op->norm, stream, plan->scratchpad_memory));
            DNNL_TRY(dnnl_stream_wait(stream), "instance norm");
            break;
        case OP_ADD:
            residual_add(plan->buffers[op->dst], plan->buffers[op->src], op->count);
            break;
        }
        if (progress && progress(user, (double)(i + 1) / (double)plan->op_count))
            return style__fail(STYLE_ERR_CANCELLED, "stylize: cancelled by the progress callback");
    }
    return STYLE_OK;
fail:
    return status;
}

void network_plan_destroy(network_plan *plan)
{
    if (!plan) return;
    for (size_t i = 0; i < plan->op_count; i++) {
        conv_layer_destroy(&plan->ops[i].conv);
        norm_layer_destroy(&plan->ops[i].norm);
    }
    style__free(plan->ops);
    for (int i = 0; i < BUF_COUNT; i++) style__aligned_free(plan->buffers[i]);
    if (plan->scratchpad_memory) dnnl_memory_destroy(plan->scratchpad_memory);
    style__aligned_free(plan->scratchpad);
    memset(plan, 0, sizeof *plan);
}
