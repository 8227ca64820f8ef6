/*
 * Building and running the transform network (pytorch/examples TransformerNet and the
 * variants the model metadata describes) as a flat list of operations:
 *
 *   input -> conv1 -> IN+ReLU -> conv2/2 -> IN+ReLU -> conv3/2 -> IN+ReLU
 *         -> N x ( x + IN(conv(ReLU(IN(conv(x))))) )
 *         -> up x2 (nearest + conv, or transposed conv) -> IN+ReLU, twice
 *         -> conv (9x9, 3 outputs) -> [IN] -> output
 *
 * How it runs (each choice measured; see docs/performance.md):
 *  - every convolution but the last is a oneDNN convolution on NHWC tensors (brgconv);
 *  - what lies between two convolutions (instance norm, ReLU, residual add, reflection
 *    padding, nearest upsampling, conversion to bf16 / int8) is one fused pass of our own
 *    (norm_layer.c) that writes the next convolution's input directly in the form it reads;
 *  - upsampling stages are computed as four sub-pixel phase convolutions at the input's
 *    resolution: a stride-2 transposed convolution is exactly four small stride-1
 *    convolutions (oneDNN's deconvolution runs at half speed), and nearest x2 + 3x3 conv is
 *    four 2x2 convolutions (2.25x fewer multiply-adds); the norm pass interleaves them;
 *  - the last convolution (3 output channels) uses our direct kernel (direct_conv.c);
 *  - batch-norm models fold their statistics into the convolutions at describe time.
 * Activations are f32 (fp32), bf16 (bf16) or u8/s8 with a dynamic per-tensor scale (int8);
 * the residual stream and the last convolution's output are always f32.
 */
#include "arch/network.h"

#include "arch/johnson_topology.h"
#include "core/clock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <stdlib.h>

int32_t network_padded_size(int32_t n)
{
    return (n + 3) / 4 * 4;
}

bool network_precision_supported(net_precision precision)
{
    switch (precision) {
    case NET_FP32: return true;
    case NET_BF16: return dnn_cpu_kernel_isa() >= 3;
    case NET_INT8:
        return dnn_cpu_kernel_isa() >= 2 && dnn_cpu_has_int8_vnni();
    }
    return false;
}

/* ---- Describing the stages -------------------------------------------------------------- */

/* An activation as the next operation reads it. */
typedef struct tensor {
    buf_ref at; /* top-left corner of the (padded) buffer */
    int32_t h, w, c;
    act_type type;
    int scale_op;        /* int8: the op whose output scale is this tensor's step; -1: step 1 */
    const float *cscale; /* int8: relative step per channel (NULL: 1), owned by an op */
} tensor;

/* What a convolution stage wants its input to look like. */
typedef struct input_need {
    act_type type;
    int32_t pt, pl, pb, pr; /* padding present in the buffer */
    border_mode border;
    int32_t up; /* 2: nearest-upsampled (upsampling stages that cannot use phases) */
} input_need;

/* FORM_PACKED: a stride-1 conv with few output channels computed as one with `packs` times
 * as many, each pixel of its output being `packs` neighbouring output pixels (below). */
typedef enum stage_form { FORM_CONV, FORM_PHASES, FORM_DIRECT, FORM_PACKED } stage_form;

/* How one model stage (one convolution of the model) is computed. */
typedef struct stage_plan {
    const model_stage *stage;
    stage_form form;
    input_need need;
    int32_t in_h, in_w;   /* logical input (before upsampling / padding) */
    int32_t out_h, out_w; /* logical output */
    conv_spec spec;       /* FORM_CONV (internal pads) / FORM_DIRECT (kernel) */
    conv_options opt;     /* types */
    /* FORM_PHASES: phase (py, px) = index py * 2 + px */
    bool nearest;           /* nearest x2 + conv (else a transposed conv) */
    int32_t crop;           /* transposed: rows kept start at this full-output row */
    int32_t dmin[2], kp[2]; /* per phase parity: first input offset, taps (same for y and x) */
    int32_t ppad_t[2], ppad_b[2]; /* per parity: the phase conv's internal zero padding */
    int32_t poff[2];              /* per parity: offset of the first used row in the phase output */
    int32_t packs;                /* FORM_PACKED: output columns per pixel of the packed conv */
    double flops;                 /* nominal */
} stage_plan;

typedef struct builder {
    network_plan *plan;
    const style_model *model;
    dnn_context *dnn;
    net_precision precision;
    bool wrap; /* circular padding everywhere (tileable textures) */
} builder;

/* TensorFlow SAME padding of one axis: the smaller half before. */
static void tf_same_pads(int32_t n, int32_t k, int32_t s, int32_t *before, int32_t *after)
{
    int32_t out = (n + s - 1) / s;
    int32_t total = (out - 1) * s + k - n;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

static int32_t floor_div2(int32_t v)
{
    return v >= 0 ? v / 2 : -((-v + 1) / 2);
}

/* The convolution's output type at this precision: bf16 where the processor has it (the
 * norm pass that reads it computes in f32; half the memory traffic of f32). */
static act_type conv_dst_type(const builder *b)
{
    if (b->precision == NET_BF16) return ACT_BF16;
    if (b->precision == NET_INT8 && dnn_cpu_kernel_isa() >= 3) return ACT_BF16;
    return ACT_F32;
}

/*
 * int8 mode runs most convolutions in int8 but keeps those whose inputs quantize badly in
 * bf16 (fp32 without AVX-512 BF16). Measured on the nine ml5 models and real photos (one
 * layer in int8 at a time, PSNR of the image against fp32), the sensitive ones are the
 * stride-2 convs (conv2, conv3: early, and their errors are upsampled through the whole
 * network), every conv that reads the residual stream (its heavy-tailed range leaves few
 * steps for most values) and the first block's second conv; alone, each of these costs
 * 33-37 dB, against 40-50 dB for the others. The output conv always takes bf16 / fp32 (our
 * direct kernel). See docs/performance.md.
 */
typedef enum conv_role {
    ROLE_IMAGE,       /* conv1: reads the image (u8 pixels are exact in int8) */
    ROLE_DOWN,        /* conv2, conv3 */
    ROLE_STREAM,      /* reads the residual stream: residual conv1s */
    ROLE_BLOCK_FIRST, /* the first residual block's conv2 */
    ROLE_BLOCK,       /* the other residual conv2s */
    ROLE_UP,          /* upsampling stages */
    ROLE_OUT          /* the output conv */
} conv_role;

/* Input type of a convolution at this precision. `signed_input`: the residual stream. */
static act_type conv_src_type(const builder *b, bool signed_input, conv_role role)
{
    switch (b->precision) {
    case NET_FP32:
        return ACT_F32;
    case NET_BF16:
        return ACT_BF16;
    case NET_INT8:
        if (role == ROLE_IMAGE || role == ROLE_BLOCK || role == ROLE_UP)
            return signed_input ? ACT_S8 : ACT_U8;
        return dnn_cpu_kernel_isa() >= 3 ? ACT_BF16 : ACT_F32;
    }
    return ACT_F32;
}

/* Sub-pixel phases of a stride-2 transposed conv keeping rows [crop, crop + 2n) of the full
 * output: out(2m + p) = sum over taps kh = p + crop - 2d of in(m + d) w(kh). */
static bool transposed_phases(stage_plan *sp, int32_t k, int32_t crop)
{
    sp->crop = crop;
    for (int p = 0; p < 2; p++) {
        int32_t dmin = INT32_MAX, dmax = INT32_MIN;
        for (int32_t kh = 0; kh < k; kh++) {
            if (((p + crop - kh) & 1) != 0) continue;
            int32_t d = (p + crop - kh) / 2;
            dmin = d < dmin ? d : dmin;
            dmax = d > dmax ? d : dmax;
        }
        if (dmin == INT32_MAX || dmin > 0 || dmax < 0) return false;
        sp->dmin[p] = dmin;
        sp->kp[p] = dmax - dmin + 1;
        sp->ppad_t[p] = -dmin;
        sp->ppad_b[p] = dmax;
        sp->poff[p] = 0;
    }
    return true;
}

/* Circular padding for a phase stage: the input is pre-padded by wrapping (top/left by the
 * largest backward offset, bottom/right by the largest forward one) and the phase convs run
 * unpadded, phase q's rows starting at dmin[q] + the pre-padding. Wrapping the low-resolution
 * input is exactly circular padding of the upsampled (or transposed-conv) tensor, since both
 * are periodic with twice the period. */
static void wrap_phases(stage_plan *sp)
{
    int32_t before = 0, after = 0;
    for (int q = 0; q < 2; q++) {
        before = -sp->dmin[q] > before ? -sp->dmin[q] : before;
        int32_t dmax = sp->dmin[q] + sp->kp[q] - 1;
        after = dmax > after ? dmax : after;
    }
    for (int q = 0; q < 2; q++) {
        sp->ppad_t[q] = sp->ppad_b[q] = 0;
        sp->poff[q] = sp->dmin[q] + before;
    }
    sp->need.pt = sp->need.pl = before;
    sp->need.pb = sp->need.pr = after;
    sp->need.border = BORDER_WRAP;
}

/* Phases of nearest x2 followed by a stride-1 k x k conv padded by p = k/2 on the upsampled
 * tensor: out(2m + q) = sum over kh of in(m + floor((q + kh - p) / 2)) w(kh). With
 * `replicate`, the input is pre-padded by one replicated sample (what reflection padding of
 * the upsampled tensor amounts to for k = 3) instead of the convs' zero padding. */
static void nearest_phases(stage_plan *sp, int32_t k, bool replicate)
{
    const int32_t p = k / 2;
    for (int q = 0; q < 2; q++) {
        int32_t dmin = floor_div2(q - p), dmax = floor_div2(q + k - 1 - p);
        sp->dmin[q] = dmin;
        sp->kp[q] = dmax - dmin + 1;
        if (replicate) {
            sp->ppad_t[q] = sp->ppad_b[q] = 0;
            sp->poff[q] = dmin + 1;
        } else {
            sp->ppad_t[q] = -dmin;
            sp->ppad_b[q] = dmax;
            sp->poff[q] = 0;
        }
    }
}

/*
 * Decides how a stage runs and what it needs of its input. `kind`: 0 a regular stage, 1 an
 * upsampling stage (up[0], up[1]), 2 the output conv.
 */
static void plan_stage(const builder *b, const model_stage *stage, int kind, act_type in_type,
                       int32_t in_h, int32_t in_w, stage_plan *sp)
{
    const style_model *m = b->model;
    const model_conv *conv = &stage->conv;
    const int32_t k = conv->kernel, s = conv->stride;
    memset(sp, 0, sizeof *sp);
    sp->stage = stage;
    sp->in_h = in_h;
    sp->in_w = in_w;
    sp->need = (input_need){.type = in_type, .up = 1};
    sp->spec = (conv_spec){.in_channels = conv->in_channels,
                           .out_channels = conv->out_channels,
                           .kernel = k,
                           .stride = s};
    sp->opt =
        (conv_options){.src_type = in_type, .dst_type = kind == 2 ? ACT_F32 : conv_dst_type(b)};

    if (conv->transposed) {
        int32_t crop = m->upsample == UPSAMPLE_TRANSPOSED_TF ? (k - 2) / 2 : k / 2;
        int32_t after = k - 2 - crop;
        sp->out_h = (in_h - 1) * s + k - crop - after;
        sp->out_w = (in_w - 1) * s + k - crop - after;
        sp->flops = 2.0 * in_h * in_w * conv->in_channels * conv->out_channels * k * k;
        if (s == 2 && sp->out_h == 2 * in_h && sp->out_w == 2 * in_w &&
            transposed_phases(sp, k, crop)) {
            sp->form = FORM_PHASES;
            if (b->wrap) wrap_phases(sp);
            return;
        }
        /* Not reached for the stride-2 layers models have; network_plan_describe_circular
         * refuses a circular plan that lands here. */
        sp->form = FORM_CONV;
        sp->spec.transposed = true;
        sp->spec.pad_top = sp->spec.pad_left = crop;
        sp->spec.pad_bottom = sp->spec.pad_right = after;
        if (sp->need.type == ACT_U8 || sp->need.type == ACT_S8) {
            /* oneDNN's int8 deconvolution wants other scales; keep it simple: f32. */
            sp->need.type = sp->opt.src_type = ACT_F32;
        }
        return;
    }

    const bool upsample = kind == 1 && m->upsample == UPSAMPLE_NEAREST_CONV;
    const int32_t up = upsample ? 2 : 1;
    const int32_t uh = in_h * up, uw = in_w * up; /* the conv's logical input */
    int32_t pt = 0, pb = 0, pl = 0, pr = 0;
    if (m->padding == PADDING_TF_SAME) {
        tf_same_pads(uh, k, s, &pt, &pb);
        tf_same_pads(uw, k, s, &pl, &pr);
    } else {
        pt = pb = pl = pr = k / 2;
    }
    sp->out_h = (uh + pt + pb - k) / s + 1;
    sp->out_w = (uw + pl + pr - k) / s + 1;
    sp->flops = 2.0 * sp->out_h * sp->out_w * conv->in_channels * conv->out_channels * k * k;

    /* Phases only from 4 x 4 inputs on: a smaller upsampled input is (close to) constant,
     * and the instance norm that follows then amplifies the rounding differences between
     * phases (the plain path computes every pixel alike). Tiny images lose nothing. */
    if (upsample && s == 1 && (k & 1) && pt == k / 2 && pb == k / 2 && pl == k / 2 && pr == k / 2 &&
        (m->padding != PADDING_REFLECT || k == 3 || b->wrap) && in_h >= 4 && in_w >= 4) {
        sp->form = FORM_PHASES;
        sp->nearest = true;
        bool replicate = m->padding == PADDING_REFLECT && !b->wrap;
        nearest_phases(sp, k, replicate);
        if (b->wrap) {
            wrap_phases(sp);
        } else if (replicate) {
            sp->need.pt = sp->need.pl = sp->need.pb = sp->need.pr = 1;
            sp->need.border = BORDER_REPLICATE;
        }
        return;
    }
    if (kind == 2 && s == 1) {
        /* The output conv: packed on AMX, else our direct kernel when it fits, on a
         * pre-padded input. */
        act_type t = in_type;
        /* int8 mode keeps this conv in bf16: the u8 kernel (direct_conv.c) saves ~7 ms of
         * ~300 at 512x512 on one core but costs 1.5-3 dB on the hardest ml5 models. */
        if (b->precision == NET_INT8) t = dnn_cpu_kernel_isa() >= 3 ? ACT_BF16 : ACT_F32;
        const int32_t packs = conv_output_packs(conv->out_channels, k, sp->out_w);
        const bool packed = packs > 1 && t == ACT_BF16 && dnn_cpu_has_amx();
        if (packed || direct_conv_supported(conv->in_channels, conv->out_channels, k, t)) {
            sp->form = packed ? FORM_PACKED : FORM_DIRECT;
            sp->packs = packed ? packs : 0;
            sp->need.type = sp->opt.src_type = t;
            sp->need.pt = pt, sp->need.pb = pb, sp->need.pl = pl, sp->need.pr = pr;
            sp->need.border = b->wrap                         ? BORDER_WRAP
                              : m->padding == PADDING_REFLECT ? BORDER_REFLECT
                                                              : BORDER_ZERO;
            sp->need.up = up;
            return;
        }
    }
    sp->form = FORM_CONV;
    sp->need.up = up;
    if (m->padding == PADDING_REFLECT || b->wrap) {
        sp->need.pt = pt, sp->need.pb = pb, sp->need.pl = pl, sp->need.pr = pr;
        sp->need.border = b->wrap ? BORDER_WRAP : BORDER_REFLECT;
    } else {
        sp->spec.pad_top = pt, sp->spec.pad_bottom = pb;
        sp->spec.pad_left = pl, sp->spec.pad_right = pr;
    }
}

/* ---- Emitting operations ---------------------------------------------------------------- */

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
    (*out)->scale_from = -1;
    return STYLE_OK;
}

static size_t align64(size_t n)
{
    return (n + 63) / 64 * 64;
}

static void need_bytes(network_plan *plan, int buffer, size_t bytes)
{
    if (bytes > plan->buffer_bytes[buffer]) plan->buffer_bytes[buffer] = bytes;
}

/* Bytes of a tensor laid out per `need`. */
static size_t need_size(const input_need *n, int32_t h, int32_t w, int32_t c)
{
    return (size_t)(h * n->up + n->pt + n->pb) * (size_t)(w * n->up + n->pl + n->pr) * (size_t)c *
           act_type_size(n->type);
}

/*
 * The weights of a stage's convolution(s), [out, in, kh, kw], with batch-norm statistics
 * folded in (w' = w g / sqrt(var + eps), b' = (b - mean) g / sqrt(var + eps) + beta), and for
 * a phase (py, px) of an upsampling stage the phase's sub-kernel.
 */
static style_status prepare_weights(const builder *b, const stage_plan *sp, int py, int px,
                                    float **weights, float **bias)
{
    const model_stage *stage = sp->stage;
    const model_conv *conv = &stage->conv;
    const int32_t in = conv->in_channels, out = conv->out_channels, k = conv->kernel;
    const bool fold = stage->has_norm && b->model->norm == NORM_BATCH;
    const int32_t kh_n = sp->form == FORM_PHASES ? sp->kp[py] : k;
    const int32_t kw_n = sp->form == FORM_PHASES ? sp->kp[px] : k;
    const size_t per = (size_t)kh_n * kw_n;
    *weights = style__calloc((size_t)in * out * per, sizeof(float));
    *bias = style__malloc((size_t)out * sizeof(float));
    if (!*weights || !*bias) {
        style__free(*weights);
        style__free(*bias);
        *weights = *bias = NULL;
        return style__fail(STYLE_ERR_NOMEM, "network: out of memory for weights");
    }
    for (int32_t o = 0; o < out; o++) {
        double scale = 1.0, shift = conv->bias ? conv->bias[o] : 0.0;
        if (fold) {
            const model_norm *norm = &stage->norm;
            scale = norm->scale[o] / sqrt((double)norm->running_var[o] + b->model->norm_eps);
            shift = (shift - norm->running_mean[o]) * scale + norm->shift[o];
        }
        (*bias)[o] = (float)shift;
        for (int32_t i = 0; i < in; i++) {
            /* The model's kernel for (o, i): [k][k]. */
            const float *src = conv->transposed ? conv->weight + ((size_t)i * out + o) * k * k
                                                : conv->weight + ((size_t)o * in + i) * k * k;
            float *dst = *weights + ((size_t)o * in + i) * per;
            if (sp->form != FORM_PHASES) {
                for (size_t j = 0; j < per; j++)
                    dst[j] = (float)(src[j] * scale);
                continue;
            }
            for (int32_t kh = 0; kh < k; kh++)
                for (int32_t kw = 0; kw < k; kw++) {
                    int32_t jy, jx;
                    if (sp->nearest) {
                        const int32_t p = k / 2;
                        jy = floor_div2(py + kh - p) - sp->dmin[py];
                        jx = floor_div2(px + kw - p) - sp->dmin[px];
                    } else {
                        if (((py + sp->crop - kh) & 1) || ((px + sp->crop - kw) & 1)) continue;
                        jy = (py + sp->crop - kh) / 2 - sp->dmin[py];
                        jx = (px + sp->crop - kw) / 2 - sp->dmin[px];
                        /* correlation order: tap j reads in(m + dmin + j) */
                    }
                    dst[jy * kw_n + jx] += (float)(src[kh * k + kw] * scale);
                }
        }
    }
    return STYLE_OK;
}

/* int8: the input's channel c is stored in steps of cscale[c] * t, so the weights that
 * multiply it carry cscale[c] (t, per image, is applied by the norm after the conv). */
static void fold_input_scale(const stage_plan *sp, const tensor *in, float *weights, int32_t taps)
{
    if (!in->cscale || (sp->opt.src_type != ACT_U8 && sp->opt.src_type != ACT_S8)) return;
    const int32_t out = sp->stage->conv.out_channels, cin = sp->stage->conv.in_channels;
    for (int32_t o = 0; o < out; o++)
        for (int32_t i = 0; i < cin; i++) {
            float *w = weights + ((size_t)o * cin + i) * taps;
            for (int32_t t = 0; t < taps; t++)
                w[t] *= in->cscale[i];
        }
}

/* Sources of the norm that follows a stage's convolutions. */
typedef struct conv_result {
    buf_ref sources[4];
    int32_t row_pixels[4], y0[4], x0[4];
    int phases;
    act_type type;
    int32_t h, w, c;
} conv_result;

/* Emits the convolution(s) of a stage reading `in` and writing into buffer `out_buffer`. */
static style_status emit_convs(builder *b, const stage_plan *sp, const char *name, const tensor *in,
                               int out_buffer, conv_result *res)
{
    style_status status = STYLE_OK;
    network_plan *plan = b->plan;
    const model_conv *conv = &sp->stage->conv;
    plan_op *op = NULL;
    memset(res, 0, sizeof *res);
    res->c = conv->out_channels;
    res->h = sp->out_h;
    res->w = sp->out_w;
    res->type = sp->opt.dst_type;
    const int32_t ih = in->h * sp->need.up + sp->need.pt + sp->need.pb;
    const int32_t iw = in->w * sp->need.up + sp->need.pl + sp->need.pr;

    if (sp->form == FORM_DIRECT) {
        TRY(push_op(plan, &op));
        op->kind = OP_DIRECT;
        snprintf(op->name, sizeof op->name, "%s", name);
        op->flops = op->executed_flops = sp->flops;
        op->src = in->at;
        op->dst = (buf_ref){out_buffer, 0};
        op->direct.out_h = sp->out_h;
        op->direct.out_w = sp->out_w;
        op->scale_from = in->scale_op;
        TRY(prepare_weights(b, sp, 0, 0, &op->weights, &op->bias));
        fold_input_scale(sp, in, op->weights, sp->spec.kernel * sp->spec.kernel);
        op->conv.spec = sp->spec; /* kept for reference: kernel, channels, type */
        op->conv.opt = sp->opt;
        need_bytes(plan, out_buffer, (size_t)sp->out_h * sp->out_w * res->c * sizeof(float));
        res->phases = 1;
        res->sources[0] = op->dst;
        res->row_pixels[0] = sp->out_w;
        return STYLE_OK;
    }
    if (sp->form == FORM_CONV || sp->form == FORM_PACKED) {
        /* FORM_PACKED: pixel (y, X) of the packed conv holds the outputs (y, packs X + q),
         * q < packs, so its NHWC output is the stage's NHWC output as it is. */
        const int32_t packs = sp->form == FORM_PACKED ? sp->packs : 1;
        TRY(push_op(plan, &op));
        op->kind = OP_CONV;
        snprintf(op->name, sizeof op->name, "%s", name);
        op->flops = op->executed_flops = sp->flops;
        op->src = in->at;
        op->dst = (buf_ref){out_buffer, 0};
        TRY(prepare_weights(b, sp, 0, 0, &op->weights, &op->bias));
        fold_input_scale(sp, in, op->weights, sp->spec.kernel * sp->spec.kernel);
        conv_spec spec = sp->spec;
        conv_options opt = sp->opt;
        if (packs > 1) {
            float *weights = op->weights, *bias = op->bias;
            status = conv_pack_columns(&spec, &opt, packs, weights, bias, &op->weights, &op->bias);
            style__free(weights);
            style__free(bias);
            if (status != STYLE_OK) goto fail;
            op->executed_flops = 2.0 * sp->out_h * (sp->out_w / packs) * spec.in_channels *
                                 spec.out_channels * spec.kernel * opt.kernel_w;
        }
        opt.int8_weights = op->weights;
        TRY(conv_layer_describe_ex(&op->conv, b->dnn, &spec, &opt, ih, iw));
        FAIL_IF(op->conv.out_h != sp->out_h || op->conv.out_w * packs != sp->out_w,
                STYLE_ERR_INTERNAL, "network: %s is %dx%d, expected %dx%d", name,
                op->conv.out_w * packs, op->conv.out_h, sp->out_w, sp->out_h);
        need_bytes(plan, out_buffer,
                   (size_t)sp->out_h * sp->out_w * res->c * act_type_size(res->type));
        res->phases = 1;
        res->sources[0] = op->dst;
        res->row_pixels[0] = sp->out_w;
        return STYLE_OK;
    }
    /* Four phases, one after the other in the output buffer. */
    double macs[4], total = 0;
    for (int ph = 0; ph < 4; ph++) {
        int py = ph / 2, px = ph % 2;
        macs[ph] = (double)sp->kp[py] * sp->kp[px];
        total += macs[ph];
    }
    size_t offset = 0;
    for (int ph = 0; ph < 4; ph++) {
        int py = ph / 2, px = ph % 2;
        TRY(push_op(plan, &op));
        op->kind = OP_CONV;
        snprintf(op->name, sizeof op->name, "%s.p%d", name, ph);
        op->flops = sp->flops * macs[ph] / total;
        op->src = in->at;
        op->dst = (buf_ref){out_buffer, offset};
        TRY(prepare_weights(b, sp, py, px, &op->weights, &op->bias));
        fold_input_scale(sp, in, op->weights, sp->kp[py] * sp->kp[px]);
        conv_spec spec = sp->spec;
        spec.kernel = sp->kp[py];
        conv_options opt = sp->opt;
        opt.kernel_w = sp->kp[px];
        spec.stride = 1;
        spec.pad_top = sp->ppad_t[py];
        spec.pad_bottom = sp->ppad_b[py];
        spec.pad_left = sp->ppad_t[px];
        spec.pad_right = sp->ppad_b[px];
        opt.int8_weights = op->weights;
        TRY(conv_layer_describe_ex(&op->conv, b->dnn, &spec, &opt, ih, iw));
        FAIL_IF(op->conv.out_h < sp->poff[py] + in->h || op->conv.out_w < sp->poff[px] + in->w,
                STYLE_ERR_INTERNAL, "network: %s phase %d is too small", name, ph);
        /* What the phase runs: its kp[py] x kp[px] kernel on its whole output (a nearest x2
         * upsampling 3 x 3 conv: four 2 x 2 phases, 16 taps per input pixel instead of the
         * 4 x 9 = 36 of the conv as written, 2.25x fewer). */
        op->executed_flops = 2.0 * op->conv.out_h * op->conv.out_w * sp->spec.in_channels *
                             sp->spec.out_channels * sp->kp[py] * sp->kp[px];
        res->sources[ph] = op->dst;
        res->row_pixels[ph] = op->conv.out_w;
        res->y0[ph] = sp->poff[py];
        res->x0[ph] = sp->poff[px];
        offset +=
            align64((size_t)op->conv.out_h * op->conv.out_w * res->c * act_type_size(res->type));
    }
    need_bytes(plan, out_buffer, offset);
    res->phases = 2;
    return STYLE_OK;
fail:
    return status;
}

/*
 * int8 activations: the relative step of each channel, from the model's own parameters (no
 * calibration images needed). A normalized channel y = g z + b (z of unit variance) spans
 * about |g| * INT8_SPREAD + |b|; after ReLU its negative side is gone. Channels then share
 * the 8 bits by their expected spans instead of all using the step of the widest one; the
 * tensor's actual largest value still sets the overall step per image (no clipping).
 */
#define INT8_SPREAD 4.0f

static float *span_scales(const model_stage *st, bool relu, const float *base, int32_t C)
{
    float *s = style__malloc(sizeof(float) * (size_t)C);
    if (!s) return NULL;
    float top = 0.0f;
    for (int32_t c = 0; c < C; c++) {
        float g = fabsf(st->norm.scale[c]), sh = st->norm.shift[c];
        float v = g * INT8_SPREAD + (relu ? (sh > 0.0f ? sh : 0.0f) : fabsf(sh));
        s[c] = (base ? base[c] : 0.0f) + v;
        top = s[c] > top ? s[c] : top;
    }
    /* A channel that is (almost) always zero still needs a finite step. */
    for (int32_t c = 0; c < C; c++)
        if (!(s[c] > top * 1e-3f)) s[c] = top > 0.0f ? top * 1e-3f : 1.0f;
    return s;
}

static float *copy_scales(const float *src, int32_t C)
{
    float *s = style__malloc(sizeof(float) * (size_t)C);
    if (s) memcpy(s, src, sizeof(float) * (size_t)C);
    return s;
}

/* How the norm after a stage behaves. */
typedef struct norm_options {
    const model_stage *stage; /* scale/shift when normalizing */
    bool normalize, relu;
    bool residual;      /* add the residual stream (X, f32) */
    bool writeback;     /* write the result into X */
    bool in_dst;        /* X is the destination itself (fp32, same layout) */
    buf_ref x_at;       /* X: buffer */
    norm_source x_geom; /* X: geometry of its interior */
    int scale_from;     /* int8 step of the conv input */
    float dst_scale;    /* int8 dst: fixed step (0: dynamic) */
    float *dst_cscale;  /* int8 dst: relative step per channel (ownership passes to the op) */
    bool keep_dst;      /* write dst_buffer even when in place would do */
} norm_options;

/* The options of a stage's own norm (instance norm or none, its ReLU, the conv input's int8
 * step) and, in int8 with a norm, the output's per-channel steps from the norm's span (owned
 * by the options until emit_norm takes them). */
static style_status stage_norm_options(const model_stage *st, bool normalize, bool relu,
                                       int scale_from, bool int8, int32_t channels,
                                       norm_options *o)
{
    *o = (norm_options){
        .stage = st, .normalize = normalize, .relu = relu, .scale_from = scale_from};
    if (!int8 || !normalize) return STYLE_OK;
    o->dst_cscale = span_scales(st, true, NULL, channels);
    return o->dst_cscale ? STYLE_OK : style__fail(STYLE_ERR_NOMEM, "network: out of memory");
}

/*
 * Emits the fused pass after a stage: from the conv result to a tensor laid out per `need`
 * in buffer `dst_buffer` (or in place in the conv's buffer when that is the same layout).
 */
static style_status emit_norm(builder *b, const char *name, const conv_result *res,
                              const norm_options *o, const input_need *need, int dst_buffer,
                              tensor *out)
{
    style_status status = STYLE_OK;
    network_plan *plan = b->plan;
    plan_op *op = NULL;
    float *cscale = o->dst_cscale; /* ours from here on */
    TRY(push_op(plan, &op));
    op->kind = OP_NORM;
    snprintf(op->name, sizeof op->name, "%s", name);
    op->stage = o->stage;
    op->scale_from = o->scale_from;
    norm_spec spec = {.channels = res->c,
                      .h = res->h,
                      .w = res->w,
                      .phases = res->phases,
                      .src_type = res->type,
                      .normalize = o->normalize,
                      .relu = o->relu,
                      .residual = o->residual,
                      .writeback = o->writeback,
                      .eps = b->model->norm_eps,
                      .dst_type = need->type,
                      .up = need->up,
                      .pad_top = need->pt,
                      .pad_left = need->pl,
                      .pad_bottom = need->pb,
                      .pad_right = need->pr,
                      .border = need->border,
                      .residual_in_dst = o->in_dst,
                      .dst_scale = o->dst_scale};
    if (o->in_dst) spec.writeback = false;
    for (int i = 0; i < res->phases * res->phases; i++)
        op->sources[i] = res->sources[i];
    const bool plain =
        need->type == ACT_F32 && need->up == 1 && !need->pt && !need->pl && !need->pb && !need->pr;
    if (o->residual || o->writeback) op->residual = o->x_at;
    if (res->phases == 1 && res->type == ACT_F32 && plain && !o->residual && !o->writeback &&
        !o->keep_dst && res->row_pixels[0] == res->w && !res->y0[0] && !res->x0[0]) {
        op->dst = res->sources[0]; /* in place */
    } else {
        op->dst = (buf_ref){dst_buffer, 0};
        need_bytes(plan, dst_buffer, need_size(need, res->h, res->w, res->c));
    }
    const bool int8_dst = need->type == ACT_U8 || need->type == ACT_S8;
    if (int8_dst) {
        op->cscale = cscale;
        spec.dst_cscale = cscale;
    } else {
        style__free(cscale);
    }
    cscale = NULL;
    TRY(norm_layer_init(&op->norm, &spec));
    /* The sources' geometry (pointers come at bind). */
    for (int i = 0; i < res->phases * res->phases; i++)
        op->norm.sources[i] = (norm_source){NULL, res->row_pixels[i], res->y0[i], res->x0[i]};
    if (o->residual || o->writeback) op->norm.residual = o->x_geom;
    *out = (tensor){op->dst,
                    res->h,
                    res->w,
                    res->c,
                    need->type,
                    int8_dst ? (int)(op - plan->ops) : -1,
                    int8_dst ? op->cscale : NULL};
    return STYLE_OK;
fail:
    style__free(cscale);
    return status;
}

/*
 * The stage plans of the network at height x width, stage after stage of the table (each
 * reads the one before it) into sp[johnson_step_count]; *first_block is the first residual
 * stage (-1 when there are none), *qh x *qw the residual stream's size.
 */
static style_status plan_stages(const builder *b, int32_t height, int32_t width, stage_plan *sp,
                                int32_t *first_block, int32_t *qh, int32_t *qw)
{
    style_status status = STYLE_OK;
    const style_model *model = b->model;
    const int32_t nb = model->residual_blocks, steps = johnson_step_count(nb);
    const bool circular = b->wrap;
    *first_block = -1;
    *qh = *qw = 0;
    johnson_stage_kind previous = JOHNSON_DOWN;
    for (int32_t i = 0, in_h = height, in_w = width; i < steps; i++) {
        johnson_step step;
        johnson_step_at(nb, i, &step);
        const johnson_stage_kind kind = step.spec->kind;
        const conv_role role = kind == JOHNSON_DOWN         ? (i == 0 ? ROLE_IMAGE : ROLE_DOWN)
                               : kind == JOHNSON_RESIDUAL_1 ? ROLE_STREAM
                               : kind == JOHNSON_RESIDUAL_2
                                   ? (step.block == 0 ? ROLE_BLOCK_FIRST : ROLE_BLOCK)
                               : kind == JOHNSON_UP ? ROLE_UP
                                                    : ROLE_OUT;
        /* Signed inputs: the residual stream (a residual conv1, and the stage after the last
         * block). */
        const bool stream =
            kind == JOHNSON_RESIDUAL_1 || (kind == JOHNSON_UP && previous == JOHNSON_RESIDUAL_2);
        if (kind == JOHNSON_RESIDUAL_1 && *first_block < 0)
            *first_block = i, *qh = in_h, *qw = in_w;
        plan_stage(b, johnson_model_stage_const(model, &step),
                   kind == JOHNSON_UP    ? 1
                   : kind == JOHNSON_OUT ? 2
                                         : 0,
                   conv_src_type(b, stream, role), in_h, in_w, &sp[i]);
        FAIL_IF(kind == JOHNSON_RESIDUAL_2 && (sp[i].out_h != *qh || sp[i].out_w != *qw),
                STYLE_ERR_INTERNAL, "network: residual block changes the size");
        FAIL_IF(circular && kind == JOHNSON_UP && sp[i].form == FORM_CONV && sp[i].spec.transposed,
                STYLE_ERR_UNSUPPORTED,
                "network: tileable mode needs stride-2 transposed convolutions that double the "
                "size (this model's do not)");
        in_h = sp[i].out_h, in_w = sp[i].out_w;
        previous = kind;
    }
    FAIL_IF(sp[steps - 1].out_h != height || sp[steps - 1].out_w != width ||
                model->out.conv.out_channels != 3,
            STYLE_ERR_INTERNAL, "network output is %dx%dx%d for a %dx%d input", sp[steps - 1].out_w,
            sp[steps - 1].out_h, model->out.conv.out_channels, width, height);
fail:
    return status;
}

style_status network_plan_describe(network_plan *plan, const style_model *model, dnn_context *dnn,
                                   int32_t height, int32_t width)
{
    return network_plan_describe_ex(plan, model, dnn, height, width, NET_FP32);
}

style_status network_plan_describe_ex(network_plan *plan, const style_model *model,
                                      dnn_context *dnn, int32_t height, int32_t width,
                                      net_precision precision)
{
    return network_plan_describe_circular(plan, model, dnn, height, width, precision, false);
}

style_status network_plan_describe_circular(network_plan *plan, const style_model *model,
                                            dnn_context *dnn, int32_t height, int32_t width,
                                            net_precision precision, bool circular)
{
    style_status status = STYLE_OK;
    memset(plan, 0, sizeof *plan);
    plan->height = height;
    plan->width = width;
    plan->precision = precision;
    plan->circular = circular;
    stage_plan *sp = NULL; /* one per stage of the table (johnson_topology.h) */
    float *x_scale = NULL; /* int8: relative channel steps of the residual stream */
    builder bld = {plan, model, dnn, precision, circular};
    builder *b = &bld;
    const int32_t nb = model->residual_blocks;
    const int32_t steps = johnson_step_count(nb);
    const bool int8 = precision == NET_INT8;
    FAIL_IF(!network_precision_supported(precision), STYLE_ERR_UNSUPPORTED,
            "network: this processor does not run %s natively",
            precision == NET_BF16 ? "bf16" : "int8");

    /* Stage plans, stage after stage: each reads the one before it. */
    sp = style__calloc((size_t)steps, sizeof *sp);
    FAIL_IF(!sp, STYLE_ERR_NOMEM, "network: out of memory");
    int32_t first_block, qh, qw;
    TRY(plan_stages(b, height, width, sp, &first_block, &qh, &qw));

    plan->buffer_bytes[BUF_INPUT] = (size_t)height * width * 3 * sizeof(float);
    plan->buffer_bytes[BUF_OUTPUT] = (size_t)height * width * 3 * sizeof(float);

    /* Input: the image as the first conv reads it. */
    tensor cur = {{BUF_INPUT, 0}, height, width, 3, ACT_F32, -1, NULL};
    {
        const input_need *n = &sp[0].need;
        if (n->type != ACT_F32 || n->up != 1 || n->pt || n->pl || n->pb || n->pr) {
            conv_result r = {.sources = {{BUF_INPUT, 0}},
                             .row_pixels = {width},
                             .phases = 1,
                             .type = ACT_F32,
                             .h = height,
                             .w = width,
                             .c = 3};
            /* int8: u8 pixels, step 1 */
            norm_options o = {.scale_from = -1, .dst_scale = int8 ? 1.0f : 0.0f};
            TRY(emit_norm(b, "input", &r, &o, n, BUF_IN_Q, &cur));
            cur.scale_op = -1;
        }
    }
    /* The buffers of each resolution: down[i] write full, half, quarter; up[i] half, full. */
    static const int down_conv_buf[3] = {BUF_FULL_C, BUF_HALF_C, BUF_U};
    static const int down_norm_buf[3] = {BUF_FULL_N, BUF_HALF_N, BUF_X};
    static const int up_conv_buf[2] = {BUF_HALF_C, BUF_FULL_C};
    static const int up_norm_buf[2] = {BUF_HALF_N, BUF_FULL_N};
    /* The residual stream X (f32): in fp32 the residual convs read it directly, so it carries
     * their padding; otherwise it is dense beside the typed copy (BUF_XQ) they read. */
    const input_need *xn = nb > 0 ? &sp[first_block].need : NULL;
    const bool x_padded = precision == NET_FP32;
    buf_ref x_at = {BUF_X, 0};
    norm_source x_geom = {NULL, qw, 0, 0};
    if (nb > 0 && x_padded) x_geom = (norm_source){NULL, xn->pl + qw + xn->pr, xn->pt, xn->pl};
    if (nb > 0 && !x_padded)
        need_bytes(plan, BUF_X,
                   (size_t)qh * qw * sp[first_block - 1].spec.out_channels * sizeof(float));
    tensor t; /* inside a residual block: its first conv's output, as the second reads it */
    for (int32_t i = 0; i < steps; i++) {
        johnson_step step;
        johnson_step_at(nb, i, &step);
        const johnson_stage_spec *spec = step.spec;
        const model_stage *st = johnson_model_stage_const(model, &step);
        const input_need *next = i + 1 < steps ? &sp[i + 1].need : NULL;
        const bool normalize = st->has_norm && model->norm == NORM_INSTANCE;
        conv_result r;
        switch (spec->kind) {
        case JOHNSON_DOWN: {
            const bool feeds_stream = i + 1 == first_block; /* conv3, before the blocks */
            TRY(emit_convs(b, &sp[i], step.conv_name, &cur, down_conv_buf[spec->index], &r));
            norm_options o;
            TRY(stage_norm_options(st, normalize, spec->relu, cur.scale_op, int8, r.c, &o));
            if (o.dst_cscale && feeds_stream) {
                x_scale = copy_scales(o.dst_cscale, r.c);
                FAIL_IF(!x_scale, STYLE_ERR_NOMEM, "network: out of memory");
            }
            if (feeds_stream && x_padded) {
                o.keep_dst = true;
                TRY(emit_norm(b, step.norm_name, &r, &o, next, BUF_X, &cur));
            } else if (feeds_stream) {
                o.writeback = true;
                o.x_at = x_at;
                o.x_geom = x_geom;
                TRY(emit_norm(b, step.norm_name, &r, &o, next, BUF_XQ, &cur));
            } else {
                TRY(emit_norm(b, step.norm_name, &r, &o, next, down_norm_buf[spec->index], &cur));
            }
            break;
        }
        case JOHNSON_RESIDUAL_1: { /* cur is what the convs read, x the f32 stream */
            TRY(emit_convs(b, &sp[i], step.conv_name, &cur, BUF_T, &r));
            norm_options o1;
            TRY(stage_norm_options(st, normalize, spec->relu, cur.scale_op, int8, r.c, &o1));
            TRY(emit_norm(b, step.norm_name, &r, &o1, next, BUF_TN, &t));
            break;
        }
        case JOHNSON_RESIDUAL_2: {
            TRY(emit_convs(b, &sp[i], step.conv_name, &t, BUF_U, &r));
            const bool last = step.block == nb - 1;
            norm_options o2 = {.stage = st,
                               .normalize = normalize,
                               .relu = spec->relu,
                               .residual = true,
                               .x_at = x_at,
                               .x_geom = x_geom,
                               .scale_from = t.scale_op};
            if (int8 && o2.normalize && x_scale) {
                /* The stream's span grows by this block's output span. */
                float *grown = span_scales(st, false, x_scale, r.c);
                FAIL_IF(!grown, STYLE_ERR_NOMEM, "network: out of memory");
                style__free(x_scale);
                x_scale = grown;
                o2.dst_cscale = copy_scales(x_scale, r.c);
                FAIL_IF(!o2.dst_cscale, STYLE_ERR_NOMEM, "network: out of memory");
            }
            if (x_padded) {
                /* fp32: X is the next conv's input; after the last block, the upsampling stage
                 * may want another layout (then X itself is no longer needed). */
                bool same = next->type == xn->type && next->up == xn->up && next->pt == xn->pt &&
                            next->pl == xn->pl && next->pb == xn->pb && next->pr == xn->pr &&
                            next->border == xn->border;
                o2.in_dst = !last || same;
                TRY(emit_norm(b, step.norm_name, &r, &o2, next, o2.in_dst ? BUF_X : BUF_XQ, &cur));
            } else {
                o2.writeback = !last || int8; /* int8 quantizes from X in a second pass */
                TRY(emit_norm(b, step.norm_name, &r, &o2, next, BUF_XQ, &cur));
            }
            break;
        }
        case JOHNSON_UP: {
            TRY(emit_convs(b, &sp[i], step.conv_name, &cur, up_conv_buf[spec->index], &r));
            norm_options o;
            TRY(stage_norm_options(st, normalize, spec->relu, cur.scale_op, int8, r.c, &o));
            TRY(emit_norm(b, step.norm_name, &r, &o, next, up_norm_buf[spec->index], &cur));
            break;
        }
        case JOHNSON_OUT: {
            TRY(emit_convs(b, &sp[i], step.conv_name, &cur, BUF_OUTPUT, &r));
            if (normalize) {
                norm_options o = {
                    .stage = st, .normalize = true, .relu = spec->relu, .scale_from = -1};
                input_need n = {.type = ACT_F32, .up = 1};
                tensor out;
                TRY(emit_norm(b, step.norm_name, &r, &o, &n, BUF_OUTPUT, &out));
            }
            break;
        }
        }
    }
    style__free(sp);
    sp = NULL;
    style__free(x_scale);
    x_scale = NULL;

    plan->flops = plan->executed_flops = 0;
    for (size_t i = 0; i < plan->op_count; i++) {
        const plan_op *op = &plan->ops[i];
        plan->flops += op->flops;
        plan->executed_flops += op->executed_flops;
        if (op->kind != OP_CONV) continue;
        if (op->conv.scratchpad_bytes > plan->scratchpad_bytes)
            plan->scratchpad_bytes = op->conv.scratchpad_bytes;
        plan->weights_bytes += op->conv.weights_bytes;
    }
    for (size_t i = 0; i < plan->op_count; i++)
        if (plan->ops[i].kind == OP_DIRECT) {
            const conv_spec *cs = &plan->ops[i].conv.spec;
            plan->weights_bytes += (uint64_t)cs->in_channels * cs->out_channels * cs->kernel *
                                   cs->kernel * act_type_size(plan->ops[i].conv.opt.src_type);
        }
    return STYLE_OK;
fail:
    style__free(sp);
    style__free(x_scale);
    network_plan_destroy(plan);
    return status;
}

uint64_t network_plan_memory(const network_plan *plan)
{
    uint64_t total = plan->scratchpad_bytes + plan->weights_bytes;
    for (int i = 0; i < BUF_COUNT; i++)
        total += plan->buffer_bytes[i];
    return total;
}

/*
 * Big activation buffers: ask for transparent huge pages (fewer TLB misses and page faults),
 * and touch every page now, so that page faults (expensive in VMs) are part of the build and
 * not of the first image.
 */
static void *alloc_buffer(size_t bytes)
{
    void *p = style__aligned_alloc(bytes);
    if (!p) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= (4u << 20)) {
        uintptr_t start = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
        uintptr_t end = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
        if (end > start) madvise((void *)start, end - start, MADV_HUGEPAGE);
    }
#endif
    memset(p, 0, bytes);
    return p;
}

static void *resolve(const network_plan *plan, buf_ref ref)
{
    return (char *)plan->buffers[ref.buffer] + ref.offset;
}

style_status network_plan_bind(network_plan *plan, dnn_context *dnn)
{
    style_status status = STYLE_OK;
    double t0 = style__clock_ms();
    for (int i = 0; i < BUF_COUNT; i++) {
        if (!plan->buffer_bytes[i]) continue;
        plan->buffers[i] = alloc_buffer(plan->buffer_bytes[i]);
        FAIL_IF(!plan->buffers[i], STYLE_ERR_NOMEM,
                "network: cannot allocate %zu bytes of activations", plan->buffer_bytes[i]);
    }
    plan->buffers_ms = style__clock_ms() - t0;
    TRY(dnn_scratchpad_create(&plan->scratchpad, dnn, plan->scratchpad_bytes, "network"));
    for (size_t i = 0; i < plan->op_count; i++) {
        plan_op *op = &plan->ops[i];
        switch (op->kind) {
        case OP_CONV:
            TRY(conv_layer_bind(&op->conv, dnn, op->weights, op->bias, resolve(plan, op->src),
                                resolve(plan, op->dst)));
            break;
        case OP_DIRECT:
            TRY(direct_conv_init(&op->direct, op->conv.spec.in_channels, op->conv.spec.out_channels,
                                 op->conv.spec.kernel, op->direct.out_h, op->direct.out_w,
                                 op->conv.opt.src_type, op->weights, op->bias));
            break;
        case OP_NORM: {
            norm_source src[4];
            int n = op->norm.spec.phases * op->norm.spec.phases;
            for (int j = 0; j < n; j++) {
                src[j] = op->norm.sources[j];
                src[j].data = resolve(plan, op->sources[j]);
            }
            norm_source res = op->norm.residual;
            if (op->norm.spec.residual || op->norm.spec.writeback)
                res.data = resolve(plan, op->residual);
            norm_layer_set_buffers(&op->norm, src, &res, resolve(plan, op->dst));
            if (op->stage)
                norm_layer_set_params(&op->norm, op->stage->norm.scale, op->stage->norm.shift);
            break;
        }
        }
        style__free(op->weights);
        style__free(op->bias);
        op->weights = op->bias = NULL;
    }
    plan->bound = true;
    return STYLE_OK;
fail:
    return status;
}

style_status network_plan_run(network_plan *plan, dnn_context *dnn,
                              int (*progress)(void *user, double fraction), void *user)
{
    style_status status = STYLE_OK;
    for (size_t i = 0; i < plan->op_count; i++) {
        plan_op *op = &plan->ops[i];
        double t0 = plan->op_ms ? style__profile_clock_ms() : 0.0;
        switch (op->kind) {
        case OP_CONV:
            TRY(conv_layer_forward(&op->conv, dnn, plan->scratchpad));
            break;
        case OP_DIRECT:
            if (op->scale_from >= 0)
                op->direct.src_scale = plan->ops[op->scale_from].norm.used_dst_scale;
            direct_conv_forward(&op->direct, resolve(plan, op->src), resolve(plan, op->dst));
            break;
        case OP_NORM:
            if (op->scale_from >= 0)
                op->norm.spec.src_scale = plan->ops[op->scale_from].norm.used_dst_scale;
            norm_layer_run(&op->norm);
            break;
        }
        if (plan->op_ms) plan->op_ms[i] += style__profile_clock_ms() - t0;
        if (progress && progress(user, (double)(i + 1) / (double)plan->op_count))
            return style__fail(STYLE_ERR_CANCELLED, "stylize: cancelled by the progress callback");
    }
    /* oneDNN's CPU stream runs primitives synchronously (OpenMP runtime); one wait at the
     * end keeps that assumption explicit and cheap. */
    TRY(dnn_context_wait(dnn, "network"));
    return STYLE_OK;
fail:
    return status;
}

void network_plan_destroy(network_plan *plan)
{
    if (!plan) return;
    for (size_t i = 0; i < plan->op_count; i++) {
        conv_layer_destroy(&plan->ops[i].conv);
        direct_conv_destroy(&plan->ops[i].direct);
        norm_layer_destroy(&plan->ops[i].norm);
        style__free(plan->ops[i].weights);
        style__free(plan->ops[i].bias);
        style__free(plan->ops[i].cscale);
    }
    style__free(plan->ops);
    for (int i = 0; i < BUF_COUNT; i++) style__aligned_free(plan->buffers[i]);
    dnn_scratchpad_free(plan->scratchpad);
    style__free(plan->op_ms);
    memset(plan, 0, sizeof *plan);
}
