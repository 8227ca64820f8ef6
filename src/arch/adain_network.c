/*
 * The AdaIN encoder and decoder on the inference layer stack (adain_network.h): a flat list of
 * operations built once per size. One walk over the layers both counts the buffers (the
 * memory estimate) and builds them, so the two cannot disagree.
 */
#include "arch/adain_network.h"
#include "core/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum anet_kind { ANET_CONV, ANET_DIRECT, ANET_PASS, ANET_POOL, ANET_ACTIVATION } anet_kind;

struct adain_net_op {
    anet_kind kind;
    conv_layer conv;    /* ANET_CONV */
    direct_conv direct; /* ANET_DIRECT */
    norm_layer pass;    /* ANET_PASS: upsampling, reflection padding, conversion */
    /* ANET_DIRECT, ANET_POOL, ANET_ACTIVATION: buffers; the input's shape (pool, activation) */
    const void *src;
    void *dst;
    int32_t h, w, c;
    act_type src_type, dst_type;
    float slope; /* ANET_ACTIVATION */
    /* The profile's: "encoder.3", "decoder.7.p1" (a sub-pixel phase), "decoder.7.pad"; kind
     * "conv", "direct" or "norm" (everything else); nominal and executed FLOPs. */
    char name[32];
    const char *kind_name;
    double flops, executed_flops;
};

/* An activation as the next operation reads it. */
typedef struct anet_tensor {
    void *data;
    int32_t h, w, c;
    act_type type;
    /* Sub-pixel phases: the tensor is the 2 x 2 interleave of phase[py * 2 + px] (rows of
     * row_pixels pixels, the phase's first sample at (py, px)); data is unused. */
    bool phased;
    void *phase[4];
    int32_t row_pixels;
} anet_tensor;

static anet_tensor dense(void *data, int32_t h, int32_t w, int32_t c, act_type type)
{
    return (anet_tensor){.data = data, .h = h, .w = w, .c = c, .type = type};
}

typedef struct builder {
    adain_net *net; /* NULL: counting only */
    const adain_model *model;
    dnn_context *dnn;
    act_type conv_type; /* the convolutions' source type */
    uint64_t bytes;
    size_t scratchpad;
    double executed_flops; /* 2 x the multiply-adds the convolutions execute */
    char layer[24];        /* the model layer being built: "encoder.3", "decoder.7" */
} builder;

/* A buffer of `bytes` (counted; allocated unless counting). */
static style_status new_buffer(builder *b, size_t bytes, void **out)
{
    *out = NULL;
    b->bytes += bytes;
    adain_net *net = b->net;
    if (!net) return STYLE_OK;
    if (net->buffer_count == net->buffer_capacity) {
        int32_t capacity = net->buffer_capacity ? 2 * net->buffer_capacity : 16;
        void **grown = style__realloc(net->buffers, sizeof *grown * (size_t)capacity);
        if (!grown) return style__fail(STYLE_ERR_NOMEM, "AdaIN network: out of memory");
        net->buffers = grown, net->buffer_capacity = capacity;
    }
    *out = style__aligned_alloc(bytes ? bytes : 64);
    if (!*out)
        return style__fail(STYLE_ERR_NOMEM, "AdaIN network: cannot allocate %zu bytes", bytes);
    net->buffers[net->buffer_count++] = *out;
    return STYLE_OK;
}

static size_t tensor_bytes(int32_t h, int32_t w, int32_t c, act_type type)
{
    return (size_t)h * w * c * act_type_size(type);
}

/* The next op, named after the layer being built and `suffix`. */
static adain_net_op *next_op(builder *b, anet_kind kind, const char *suffix)
{
    adain_net_op *op = &b->net->ops[b->net->op_count++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->kind_name = kind == ANET_CONV ? "conv" : kind == ANET_DIRECT ? "direct" : "norm";
    snprintf(op->name, sizeof op->name, "%s%s", b->layer, suffix);
    return op;
}

/* A convolution (zero padding `pad` done by the primitive) of `in` into a new buffer of
 * dst_type, with a fused (leaky) ReLU when slope >= 0. */
static style_status emit_conv(builder *b, anet_tensor *in, int32_t out_channels, int32_t kernel,
                              int32_t stride, int32_t pad, float slope, const float *weights,
                              const float *bias, act_type dst_type)
{
    style_status status = STYLE_OK;
    const int32_t oh = (in->h + 2 * pad - kernel) / stride + 1;
    const int32_t ow = (in->w + 2 * pad - kernel) / stride + 1;
    FAIL_IF(oh < 1 || ow < 1, STYLE_ERR_INVALID_ARGUMENT,
            "AdaIN network: a %dx%d image is too small for the encoder", b->net ? b->net->w : 0,
            b->net ? b->net->h : 0);
    void *dst;
    TRY(new_buffer(b, tensor_bytes(oh, ow, out_channels, dst_type), &dst));
    const double flops = 2.0 * oh * ow * kernel * kernel * in->c * out_channels;
    /* Few output channels (the last conv) on AMX: column-packed (dnn/layers.h). */
    const int32_t packs = stride == 1 && pad == 0 && in->type == ACT_BF16 && dnn_cpu_has_amx()
                              ? conv_output_packs(out_channels, kernel, ow)
                              : 1;
    const double executed = flops * (kernel + packs - 1) / kernel;
    b->executed_flops += packs > 1 ? executed : flops;
    if (b->net) {
        adain_net_op *op = next_op(b, ANET_CONV, "");
        op->flops = flops;
        op->executed_flops = packs > 1 ? executed : flops;
        conv_spec spec = {.in_channels = in->c,
                                .out_channels = out_channels,
                                .kernel = kernel,
                                .stride = stride,
                                .pad_top = pad,
                                .pad_left = pad,
                                .pad_bottom = pad,
                                .pad_right = pad,
                                .relu = slope >= 0};
        conv_options opt = {
            .src_type = in->type, .dst_type = dst_type, .relu_slope = slope > 0 ? slope : 0.0f};
        float *packed_weights = NULL, *packed_bias = NULL;
        if (packs > 1)
            TRY(conv_pack_columns(&spec, &opt, packs, weights, bias, &packed_weights,
                                  &packed_bias));
        status = conv_layer_describe_ex(&op->conv, b->dnn, &spec, &opt, in->h, in->w);
        if (status == STYLE_OK && (op->conv.out_h != oh || op->conv.out_w * packs != ow))
            status = style__fail(STYLE_ERR_INTERNAL,
                                 "AdaIN network: a convolution gives %dx%d, expected %dx%d",
                                 op->conv.out_w * packs, op->conv.out_h, ow, oh);
        if (status == STYLE_OK && op->conv.scratchpad_bytes > b->scratchpad)
            b->scratchpad = op->conv.scratchpad_bytes;
        if (status == STYLE_OK)
            status = conv_layer_bind(&op->conv, b->dnn,
                                     packs > 1 ? packed_weights : weights,
                                     packs > 1 ? packed_bias : bias, in->data, dst);
        style__free(packed_weights);
        style__free(packed_bias);
        if (status != STYLE_OK) goto fail;
    }
    *in = dense(dst, oh, ow, out_channels, dst_type);
fail:
    return status;
}

/* A 2 x 2 max-pool of stride 2 (the training's: odd sizes lose their last row / column). */
static style_status emit_pool(builder *b, anet_tensor *in, act_type dst_type)
{
    style_status status = STYLE_OK;
    const int32_t oh = in->h / 2, ow = in->w / 2;
    FAIL_IF(oh < 1 || ow < 1, STYLE_ERR_INVALID_ARGUMENT,
            "AdaIN network: a %dx%d image is too small for the encoder", b->net ? b->net->w : 0,
            b->net ? b->net->h : 0);
    void *dst;
    TRY(new_buffer(b, tensor_bytes(oh, ow, in->c, dst_type), &dst));
    if (b->net) {
        adain_net_op *op = next_op(b, ANET_POOL, "");
        op->src = in->data, op->dst = dst, op->h = in->h, op->w = in->w, op->c = in->c;
        op->src_type = in->type, op->dst_type = dst_type;
    }
    *in = dense(dst, oh, ow, in->c, dst_type);
fail:
    return status;
}

/* A (leaky) ReLU that no convolution could take as a post-op. */
static style_status emit_activation(builder *b, anet_tensor *in, float slope, act_type dst_type)
{
    style_status status = STYLE_OK;
    void *dst;
    TRY(new_buffer(b, tensor_bytes(in->h, in->w, in->c, dst_type), &dst));
    if (b->net) {
        adain_net_op *op = next_op(b, ANET_ACTIVATION, "");
        op->src = in->data, op->dst = dst, op->h = in->h, op->w = in->w, op->c = in->c;
        op->src_type = in->type, op->dst_type = dst_type, op->slope = slope;
    }
    *in = dense(dst, in->h, in->w, in->c, dst_type);
fail:
    return status;
}

/* The encoder, layers [0, tap]; the tap's output is f32 (the AdaIN layer reads it). */
static style_status build_encoder(builder *b, anet_tensor *x)
{
    style_status status = STYLE_OK;
    const feature_net *enc = b->model->encoder;
    const int32_t tap = b->model->tap;
    for (int32_t i = 0; i <= tap; i++) {
        const fnet_layer *l = &enc->layers[i];
        snprintf(b->layer, sizeof b->layer, "encoder.%d", (int)i);
        const bool activation_next = i < tap && (enc->layers[i + 1].op == FNET_RELU ||
                                                 enc->layers[i + 1].op == FNET_LEAKY_RELU);
        const int32_t last = l->op == FNET_CONV && activation_next ? i + 1 : i;
        const act_type type = last == tap ? ACT_F32 : b->conv_type;
        switch (l->op) {
        case FNET_CONV: {
            const float slope = !activation_next                     ? -1.0f
                                : enc->layers[i + 1].op == FNET_RELU ? 0.0f
                                                                     : enc->layers[i + 1].slope;
            /* A convolution reads the convolutions' type (a pool or activation may have
             * left f32 only at the tap, after which nothing follows). */
            TRY(emit_conv(b, x, l->out_channels, l->kernel, l->stride, l->pad, slope, l->weight,
                          l->bias, type));
            i = last;
            break;
        }
        case FNET_MAXPOOL:
            TRY(emit_pool(b, x, type));
            break;
        case FNET_RELU:
        case FNET_LEAKY_RELU:
            TRY(emit_activation(b, x, l->op == FNET_RELU ? 0.0f : l->slope, type));
            break;
        }
    }
fail:
    return status;
}

/* A pass of our own writing `x` as the next convolution reads it: upsampled by `factor`,
 * padded by `pad` on every side with `border`, in `type` (x may be phased). */
static style_status emit_pass(builder *b, anet_tensor *x, int32_t factor, int32_t pad,
                              border_mode border, act_type type)
{
    style_status status = STYLE_OK;
    const int32_t ph = x->h * factor + 2 * pad, pw = x->w * factor + 2 * pad;
    void *dst;
    TRY(new_buffer(b, tensor_bytes(ph, pw, x->c, type), &dst));
    if (b->net) {
        adain_net_op *op = next_op(b, ANET_PASS, ".pad");
        const norm_spec ns = {.channels = x->c,
                              .h = x->h,
                              .w = x->w,
                              .phases = x->phased ? 2 : 1,
                              .src_type = x->type,
                              .dst_type = type,
                              .up = factor,
                              .pad_top = pad,
                              .pad_left = pad,
                              .pad_bottom = pad,
                              .pad_right = pad,
                              .border = border};
        TRY(norm_layer_init(&op->pass, &ns));
        norm_source sources[4] = {{x->data, x->w, 0, 0}};
        if (x->phased)
            for (int p = 0; p < 4; p++)
                sources[p] = (norm_source){x->phase[p], x->row_pixels, p / 2, p % 2};
        norm_layer_set_buffers(&op->pass, sources, NULL, dst);
    }
    *x = dense(dst, ph, pw, x->c, type);
fail:
    return status;
}

/*
 * Nearest x2, reflection padding 1 and a 3 x 3 convolution as four 2 x 2 convolutions at the
 * input's resolution (sub-pixel phases, as Johnson's plan runs its upsampling; 2.25x fewer
 * multiply-adds). Output row 2y + py reads upsampled rows 2y + py - 1 .. 2y + py + 1, that is
 * input rows y - 1, y, y (py = 0: taps W0 | W1 + W2) or y, y, y + 1 (py = 1: W0 + W1 | W2);
 * the reflection of the upsampled image by one row is the edge row itself, so the input is
 * padded by one replicated row and column. `x` comes in padded so; it leaves phased.
 */
static style_status emit_phases(builder *b, anet_tensor *x, const dec_layer *l, bool relu,
                                const float *weights, const float *bias, act_type dst_type)
{
    style_status status = STYLE_OK;
    const int32_t cin = l->in_channels, cout = l->out_channels;
    const int32_t oh = x->h - 1, ow = x->w - 1; /* a 2 x 2 kernel over the padded input */
    float *phase_weights = NULL;
    anet_tensor out = dense(NULL, 2 * (x->h - 2), 2 * (x->w - 2), cout, dst_type);
    out.phased = true, out.row_pixels = ow;
    if (b->net) {
        phase_weights = style__malloc(sizeof(float) * (size_t)cout * cin * 4);
        FAIL_IF(!phase_weights, STYLE_ERR_NOMEM, "AdaIN network: out of memory");
    }
    for (int p = 0; p < 4; p++) {
        const int py = p / 2, px = p % 2;
        TRY(new_buffer(b, tensor_bytes(oh, ow, cout, dst_type), &out.phase[p]));
        const double executed = 2.0 * oh * ow * 4 * cin * cout;
        b->executed_flops += executed;
        if (!b->net) continue;
        /* Tap t of parity q takes the 3 x 3 rows {0} | {1, 2} (q = 0) or {0, 1} | {2}. */
        for (int32_t o = 0; o < cout; o++)
            for (int32_t i = 0; i < cin; i++) {
                const float *w3 = weights + ((size_t)o * cin + i) * 9;
                float *w2 = phase_weights + ((size_t)o * cin + i) * 4;
                for (int ty = 0; ty < 2; ty++)
                    for (int tx = 0; tx < 2; tx++) {
                        float sum = 0;
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                const int ay = py == 0 ? (ky > 0) : (ky > 1);
                                const int ax = px == 0 ? (kx > 0) : (kx > 1);
                                if (ay == ty && ax == tx) sum += w3[ky * 3 + kx];
                            }
                        w2[ty * 2 + tx] = sum;
                    }
            }
        const char *suffix[4] = {".p0", ".p1", ".p2", ".p3"};
        adain_net_op *op = next_op(b, ANET_CONV, suffix[p]);
        op->executed_flops = executed;
        /* nominal: a quarter of the 3 x 3 convolution on the upsampled image */
        op->flops = 2.0 * (x->h - 2) * (x->w - 2) * 9 * cin * cout;
        const conv_spec spec = {
            .in_channels = cin, .out_channels = cout, .kernel = 2, .stride = 1, .relu = relu};
        const conv_options opt = {.src_type = x->type, .dst_type = dst_type};
        TRY(conv_layer_describe_ex(&op->conv, b->dnn, &spec, &opt, x->h, x->w));
        if (op->conv.scratchpad_bytes > b->scratchpad) b->scratchpad = op->conv.scratchpad_bytes;
        TRY(conv_layer_bind(&op->conv, b->dnn, phase_weights, bias, x->data,
                            out.phase[p]));
    }
    *x = out;
fail:
    style__free(phase_weights);
    return status;
}

/* Whether decoder layer `conv` (nearest x2, reflect_pad 1, 3 x 3) can run as phases: the
 * pass that reads its output interleaves phases but cannot upsample them too. */
static bool phases_fit(const adain_decoder_spec *spec, int32_t conv, int32_t factor, int32_t pad)
{
    const dec_layer *l = &spec->layers[conv];
    if (factor != 2 || pad != 1 || l->kernel != 3) return false;
    int32_t next = conv + 1;
    while (next < spec->count && spec->layers[next].op == DEC_RELU)
        next++;
    if (next >= spec->count) return false; /* the last conv: the output is not phased */
    for (int32_t j = next; j < spec->count && spec->layers[j].op != DEC_CONV; j++)
        if (spec->layers[j].op == DEC_UPSAMPLE) return false;
    return true;
}

/*
 * The decoder: per group [upsample] [reflect_pad] conv [relu], one pass writing the conv's
 * input (upsampled, padded, in the type the conv reads) unless the conv can read the tensor
 * as it is; an upsampling 3 x 3 group as sub-pixel phases where it can; the last conv
 * (3 outputs) on the direct kernel where it runs, f32 out.
 */
static style_status build_decoder(builder *b, anet_tensor *x)
{
    style_status status = STYLE_OK;
    const adain_decoder_spec *spec = &b->model->decoder;
    train_params *params = (train_params *)&b->model->params;
    int32_t factor = 1, pad = 0;
    for (int32_t i = 0; i < spec->count; i++) {
        const dec_layer *l = &spec->layers[i];
        if (l->op == DEC_UPSAMPLE) factor = l->value;
        if (l->op == DEC_REFLECT_PAD) pad = l->value;
        if (l->op != DEC_CONV) continue;
        snprintf(b->layer, sizeof b->layer, "decoder.%d", (int)i);
        const bool last = i == spec->count - 1;
        const bool relu = i + 1 < spec->count && spec->layers[i + 1].op == DEC_RELU;
        char weight_name[48], bias_name[48];
        snprintf(weight_name, sizeof weight_name, "decoder.%d.weight", i);
        snprintf(bias_name, sizeof bias_name, "decoder.%d.bias", i);
        const float *weights = b->net ? train_params_value(params, weight_name) : NULL;
        const float *bias = b->net ? train_params_value(params, bias_name) : NULL;
        FAIL_IF(b->net && !weights, STYLE_ERR_INTERNAL, "AdaIN network: no %s", weight_name);
        const act_type dst_type = last ? ACT_F32 : b->conv_type;
        if (phases_fit(spec, i, factor, pad)) {
            TRY(emit_pass(b, x, 1, 1, BORDER_REPLICATE, b->conv_type));
            TRY(emit_phases(b, x, l, relu, weights, bias, dst_type));
            factor = 1, pad = 0;
            continue;
        }
        /* The last conv on the direct kernel where it runs in the convolutions' type (in bf16,
         * oneDNN's AMX convolution of 16 channels beat an f32 direct kernel with its f32
         * input: 3.3 against 9.7 ms of CPU time at 512 x 512, one thread). */
        const act_type src_type = b->conv_type;
        const bool direct =
            last && !relu &&
            direct_conv_supported(l->in_channels, l->out_channels, l->kernel, b->conv_type);
        if (factor > 1 || pad > 0 || x->type != src_type || x->phased)
            TRY(emit_pass(b, x, factor, pad, BORDER_REFLECT, src_type));
        if (direct) {
            const int32_t oh = x->h - l->kernel + 1, ow = x->w - l->kernel + 1;
            void *dst;
            TRY(new_buffer(b, tensor_bytes(oh, ow, l->out_channels, ACT_F32), &dst));
            const double flops =
                2.0 * oh * ow * l->kernel * l->kernel * l->in_channels * l->out_channels;
            b->executed_flops += flops;
            if (b->net) {
                adain_net_op *op = next_op(b, ANET_DIRECT, "");
                op->flops = op->executed_flops = flops;
                op->src = x->data, op->dst = dst;
                TRY(direct_conv_init(&op->direct, l->in_channels, l->out_channels, l->kernel, oh,
                                     ow, src_type, weights, bias));
            }
            *x = dense(dst, oh, ow, l->out_channels, ACT_F32);
        } else {
            TRY(emit_conv(b, x, l->out_channels, l->kernel, 1, 0, relu ? 0.0f : -1.0f, weights,
                          bias, dst_type));
        }
        factor = 1, pad = 0;
    }
fail:
    return status;
}

/* The walk both adain_net_bytes and adain_net_create make. */
static style_status build(builder *b, int32_t h, int32_t w, bool decoder)
{
    style_status status = STYLE_OK;
    anet_tensor x = dense(NULL, h, w, 3, b->conv_type);
    TRY(new_buffer(b, tensor_bytes(h, w, 3, b->conv_type), &x.data));
    if (b->net) b->net->input = x.data;
    TRY(build_encoder(b, &x));
    if (b->net) {
        b->net->encoder_ops = b->net->op_count;
        b->net->features = x.data;
        b->net->feat_h = x.h, b->net->feat_w = x.w, b->net->feat_c = x.c;
    }
    if (!decoder) return STYLE_OK;
    void *input;
    TRY(new_buffer(b, tensor_bytes(x.h, x.w, x.c, ACT_F32), &input));
    x = dense(input, x.h, x.w, x.c, ACT_F32);
    if (b->net) b->net->decoder_input = input;
    TRY(build_decoder(b, &x));
    FAIL_IF(x.h != h || x.w != w || x.c != 3, STYLE_ERR_INTERNAL,
            "AdaIN network: the decoder gives %dx%dx%d for %dx%d", x.w, x.h, x.c, w, h);
    if (b->net) b->net->output = x.data;
fail:
    return status;
}

uint64_t adain_net_bytes(const adain_model *model, int32_t h, int32_t w, bool decoder, bool bf16)
{
    builder b = {.model = model, .conv_type = bf16 ? ACT_BF16 : ACT_F32};
    (void)build(&b, h, w, decoder); /* counting never fails but on too small images */
    return b.bytes;
}

style_status adain_net_create(adain_net *net, const adain_model *model, dnn_context *dnn,
                              int32_t h, int32_t w, bool decoder, bool bf16)
{
    style_status status = STYLE_OK;
    memset(net, 0, sizeof *net);
    net->h = h, net->w = w, net->bf16 = bf16, net->decoder = decoder;
    const feature_net *enc = model->encoder;
    for (int c = 0; c < 3; c++) {
        net->in_scale[c] = (float)(enc->input_scale / enc->input_std[c]);
        net->in_offset[c] = (float)(-enc->input_mean[c] / enc->input_std[c]);
    }
    const size_t capacity =
        (size_t)model->tap + 1 + (decoder ? 2 * (size_t)model->decoder.count : 0);
    net->ops = style__calloc(capacity, sizeof *net->ops);
    FAIL_IF(!net->ops, STYLE_ERR_NOMEM, "AdaIN network: out of memory");
    builder b = {.net = net,
                 .model = model,
                 .dnn = dnn,
                 .conv_type = bf16 ? ACT_BF16 : ACT_F32};
    TRY(build(&b, h, w, decoder));
    net->executed_flops = b.executed_flops;
    TRY(dnn_scratchpad_create(&net->scratchpad, dnn, b.scratchpad, "AdaIN network"));
    return STYLE_OK;
fail:
    adain_net_destroy(net);
    return status;
}

static inline float load_value(const void *p, act_type type, size_t i)
{
    return type == ACT_BF16 ? bf16_to_f32(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline void store_value(void *p, act_type type, size_t i, float v)
{
    if (type == ACT_BF16)
        ((uint16_t *)p)[i] = f32_to_bf16(v);
    else
        ((float *)p)[i] = v;
}

/* 2 x 2 max-pool of output pixels [x0, x1) of row y: f32 or bf16 in (the channels are
 * contiguous, so the inner loops vectorise), the maxima as floats into `best`. */
static void pool_pixels(const adain_net_op *op, int32_t y, int32_t x0, int32_t x1, float *best)
{
    const int32_t c = op->c, w = op->w;
    for (int k = 0; k < 4; k++) {
        const size_t row = (size_t)(2 * y + k / 2) * w;
        for (int32_t x = x0; x < x1; x++) {
            const size_t at = (row + 2 * x + k % 2) * c;
            float *out = best + (size_t)(x - x0) * c;
            if (op->src_type == ACT_BF16) {
                const uint16_t *in = (const uint16_t *)op->src + at;
                for (int32_t ch = 0; ch < c; ch++) {
                    const float v = bf16_to_f32(in[ch]);
                    out[ch] = k == 0 || v > out[ch] ? v : out[ch];
                }
            } else {
                const float *in = (const float *)op->src + at;
                for (int32_t ch = 0; ch < c; ch++)
                    out[ch] = k == 0 || in[ch] > out[ch] ? in[ch] : out[ch];
            }
        }
    }
}

#define POOL_CHUNK_FLOATS 4096

static void pool_forward(const adain_net_op *op)
{
    const int32_t oh = op->h / 2, ow = op->w / 2, c = op->c;
    const int32_t chunk = c < POOL_CHUNK_FLOATS ? POOL_CHUNK_FLOATS / c : 1;
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < oh; y++) {
        const size_t row = (size_t)y * ow * c;
        if (op->dst_type == ACT_F32) {
            pool_pixels(op, y, 0, ow, (float *)op->dst + row);
            continue;
        }
        float best[c < POOL_CHUNK_FLOATS ? POOL_CHUNK_FLOATS : c];
        for (int32_t x0 = 0; x0 < ow; x0 += chunk) {
            const int32_t x1 = x0 + chunk < ow ? x0 + chunk : ow;
            pool_pixels(op, y, x0, x1, best);
            uint16_t *out = (uint16_t *)op->dst + row + (size_t)x0 * c;
            for (size_t i = 0; i < (size_t)(x1 - x0) * c; i++) /* a maximum of bf16 is exact */
                out[i] = f32_to_bf16(best[i]);
        }
    }
}

static void activation_forward(const adain_net_op *op)
{
    const size_t count = (size_t)op->h * op->w * op->c;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        const float v = load_value(op->src, op->src_type, i);
        store_value(op->dst, op->dst_type, i, v > 0 ? v : v * op->slope);
    }
}

static style_status run_ops(adain_net *net, dnn_context *dnn, int32_t first, int32_t end)
{
    style_status status = STYLE_OK;
    for (int32_t i = first; i < end; i++) {
        adain_net_op *op = &net->ops[i];
        const double t0 = net->op_ms ? style__profile_clock_ms() : 0.0;
        switch (op->kind) {
        case ANET_CONV:
            TRY(conv_layer_forward(&op->conv, dnn, net->scratchpad));
            break;
        case ANET_DIRECT:
            direct_conv_forward(&op->direct, op->src, op->dst);
            break;
        case ANET_PASS:
            norm_layer_run(&op->pass);
            break;
        case ANET_POOL:
            pool_forward(op);
            break;
        case ANET_ACTIVATION:
            activation_forward(op);
            break;
        }
        if (net->op_ms) net->op_ms[i] += style__profile_clock_ms() - t0;
    }
    TRY(dnn_context_wait(dnn, "AdaIN network"));
fail:
    return status;
}

style_status adain_net_encode(adain_net *net, dnn_context *dnn, const float *rgb)
{
    const size_t pixels = (size_t)net->h * net->w;
    const act_type type = net->bf16 ? ACT_BF16 : ACT_F32;
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pixels; p++)
        for (int c = 0; c < 3; c++)
            store_value(net->input, type, p * 3 + c,
                        rgb[p * 3 + c] * net->in_scale[c] + net->in_offset[c]);
    return run_ops(net, dnn, 0, net->encoder_ops);
}

style_status adain_net_decode(adain_net *net, dnn_context *dnn, const float **output)
{
    style_status status = STYLE_OK;
    FAIL_IF(!net->decoder, STYLE_ERR_INTERNAL, "AdaIN network: built without the decoder");
    TRY(run_ops(net, dnn, net->encoder_ops, net->op_count));
    if (net->op_ms) net->runs++;
    *output = net->output;
fail:
    return status;
}

void adain_net_destroy(adain_net *net)
{
    if (!net) return;
    for (int32_t i = 0; net->ops && i < net->op_count; i++) {
        conv_layer_destroy(&net->ops[i].conv);
        direct_conv_destroy(&net->ops[i].direct);
        norm_layer_destroy(&net->ops[i].pass);
    }
    style__free(net->ops);
    style__free(net->op_ms);
    for (int32_t i = 0; i < net->buffer_count; i++)
        style__aligned_free(net->buffers[i]);
    style__free(net->buffers);
    dnn_scratchpad_free(net->scratchpad);
    memset(net, 0, sizeof *net);
}

style_status adain_net_set_profiling(adain_net *net, bool enable)
{
    net->runs = 0;
    if (!enable) {
        style__free(net->op_ms);
        net->op_ms = NULL;
        return STYLE_OK;
    }
    if (!net->op_ms) net->op_ms = style__calloc((size_t)net->op_count + 1, sizeof(double));
    if (!net->op_ms) return style__fail(STYLE_ERR_NOMEM, "session_set_profiling: out of memory");
    memset(net->op_ms, 0, ((size_t)net->op_count + 1) * sizeof(double));
    return STYLE_OK;
}

static const char *op_impl_name(const adain_net_op *op)
{
    switch (op->kind) {
    case ANET_CONV:
        return conv_layer_impl(&op->conv);
    case ANET_DIRECT:
        return op->direct.src_type == ACT_BF16 ? "libstyle:direct_avx512_bf16"
                                               : "libstyle:direct_avx512";
    case ANET_PASS:
        return op->pass.isa >= 2   ? "libstyle:norm_avx512"
               : op->pass.isa == 1 ? "libstyle:norm_avx2"
                                   : "libstyle:norm_generic";
    case ANET_POOL:
        return "libstyle:maxpool";
    case ANET_ACTIVATION:
        return "libstyle:relu";
    }
    return "";
}

void adain_net_profile(const adain_net *net, style_layer_profile *layers, double *executed)
{
    for (int32_t i = 0; i < net->op_count; i++) {
        const adain_net_op *op = &net->ops[i];
        layers[i] = (style_layer_profile){op->name, op->kind_name, op_impl_name(op), op->flops,
                                          net->op_ms ? net->op_ms[i] : 0.0};
        executed[i] = op->executed_flops;
    }
}
