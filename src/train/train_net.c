/* The transform network's parameters and its training graph (forward and backward). */
#include "train/train_net.h"
#include "core/clock.h"

#include "arch/johnson_topology.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* ---- parameters ------------------------------------------------------------------------- */

void train_params_add(train_params *p, const char *name, int32_t ndim, const int64_t *shape,
                      bool trainable)
{
    if (p->count >= TRAIN_MAX_PARAMS) {
        p->overflow = true;
        return;
    }
    train_param *t = &p->params[p->count++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->count = 1;
    for (int32_t i = 0; i < ndim; i++)
        t->shape[i] = shape[i], t->count *= (size_t)shape[i];
    t->offset = p->total;
    t->trainable = trainable;
    p->total += (t->count + 15) / 16 * 16; /* 64-byte aligned slices */
}

static void add_conv(train_params *p, const char *prefix, int64_t in, int64_t out, int64_t k)
{
    char name[48];
    int64_t w[4] = {out, in, k, k}, b[1] = {out};
    snprintf(name, sizeof name, "%s.conv2d.weight", prefix);
    train_params_add(p, name, 4, w, true);
    snprintf(name, sizeof name, "%s.conv2d.bias", prefix);
    train_params_add(p, name, 1, b, true);
}

static void add_norm(train_params *p, const char *prefix, int64_t c, bool batch, int32_t styles)
{
    char name[48];
    int64_t s[1] = {c}, rows[2] = {styles, c};
    const char *suffix[] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < (batch ? 4 : 2); i++) {
        snprintf(name, sizeof name, "%s.%s", prefix, suffix[i]);
        if (styles > 0 && i < 2)
            train_params_add(p, name, 2, rows, true);
        else
            train_params_add(p, name, 1, s, i < 2);
    }
}

/* Every stage's norm is trained but the output's (in6, libstyle.final_norm = instance: the
 * trainer's networks end with a linear output). */
static bool trains_norm(const johnson_step *step)
{
    return !step->spec->optional_norm;
}

style_status train_params_create(train_params *p, const train_net_config *config)
{
    memset(p, 0, sizeof *p);
    p->config = *config;
    const int32_t *wd = config->widths;
    if (config->residual_blocks < 0 || config->residual_blocks > TRAIN_MAX_BLOCKS)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: residual blocks must be 0..%d",
                           TRAIN_MAX_BLOCKS);
    for (int i = 0; i < 3; i++)
        if (wd[i] < 1 || wd[i] > 1024)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: bad width %d", wd[i]);
    if (config->styles < 0 || config->styles > TRAIN_MAX_STYLES)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: 0..%d styles are supported",
                           TRAIN_MAX_STYLES);
    if (config->styles > 0 && config->batch_norm)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: several styles need instance norm (conditional instance "
                           "norm), not batch norm");
    /* One convolution and its norm per stage of Johnson's table, in its order. */
    int32_t in_c = 3;
    for (int32_t i = 0; i < johnson_step_count(config->residual_blocks); i++) {
        johnson_step step;
        johnson_step_at(config->residual_blocks, i, &step);
        const int32_t out_c = johnson_step_width(&step, wd);
        add_conv(p, step.conv_name, in_c, out_c, step.spec->kernel);
        if (trains_norm(&step))
            add_norm(p, step.norm_name, out_c, config->batch_norm, config->styles);
        in_c = out_c;
    }
    return train_params_allocate(p);
}

style_status train_params_allocate(train_params *p)
{
    if (p->overflow)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: more than %d parameter tensors",
                           TRAIN_MAX_PARAMS);
    p->values = style__aligned_alloc(p->total * sizeof(float));
    p->grads = style__aligned_alloc(p->total * sizeof(float));
    if (!p->values || !p->grads) {
        train_params_destroy(p);
        return style__fail(STYLE_ERR_NOMEM, "train: cannot allocate parameters");
    }
    memset(p->values, 0, p->total * sizeof(float));
    memset(p->grads, 0, p->total * sizeof(float));
    return STYLE_OK;
}

/* splitmix64: a self-contained stream for initialisation. */
static double init_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

void train_params_init(train_params *p, uint64_t seed)
{
    uint64_t state = seed ^ 0x5eed5eed5eed5eedull;
    for (int32_t i = 0; i < p->count; i++) {
        train_param *t = &p->params[i];
        float *v = p->values + t->offset;
        const char *dot = strrchr(t->name, '.');
        /* A 4-d weight is a conv's; a bias right after one is that conv's bias. */
        bool conv =
            t->ndim == 4 || (i > 0 && p->params[i - 1].ndim == 4 && strcmp(dot, ".bias") == 0);
        if (conv) {
            /* PyTorch Conv2d default: kaiming_uniform(a = sqrt 5) = U(-1/sqrt(fan_in), ..),
             * and the bias U(-1/sqrt(fan_in), ..) too. */
            const train_param *w = strcmp(dot, ".weight") == 0 ? t : t - 1;
            double fan_in = (double)(w->shape[1] * w->shape[2] * w->shape[3]);
            double bound = 1.0 / sqrt(fan_in);
            for (size_t j = 0; j < t->count; j++)
                v[j] = (float)((2.0 * init_uniform(&state) - 1.0) * bound);
        } else {
            float value =
                strcmp(dot, ".weight") == 0 || strcmp(dot, ".running_var") == 0 ? 1.0f : 0.0f;
            for (size_t j = 0; j < t->count; j++)
                v[j] = value;
        }
    }
}

train_param *train_params_find(train_params *p, const char *name)
{
    for (int32_t i = 0; i < p->count; i++)
        if (strcmp(p->params[i].name, name) == 0) return &p->params[i];
    return NULL;
}

float *train_params_value(train_params *p, const char *name)
{
    train_param *t = train_params_find(p, name);
    return t ? p->values + t->offset : NULL;
}

float *train_params_grad(train_params *p, const char *name)
{
    train_param *t = train_params_find(p, name);
    return t ? p->grads + t->offset : NULL;
}

void train_params_destroy(train_params *p)
{
    if (!p) return;
    style__aligned_free(p->values);
    style__aligned_free(p->grads);
    p->values = p->grads = NULL;
}

/* ---- the graph -------------------------------------------------------------------------- */

static float *alloc_tensor(int32_t n, int32_t h, int32_t w, int32_t c)
{
    return style__aligned_alloc((size_t)n * h * w * c * sizeof(float));
}

style_status train_stage_create(train_stage *st, train_params *p, int32_t n, dnn_context *dnn,
                                const train_stage_desc *d, size_t *scratch)
{
    style_status status = STYLE_OK;
    memset(st, 0, sizeof *st);
    st->src = d->src, st->diff_src = d->diff_src;
    st->in_h = d->h, st->in_w = d->w, st->in_c = d->in_c;
    st->frozen = d->frozen;
    st->blocked = d->blocked;
    const dnn_layout layout = d->blocked ? DNN_LAYOUT_BLOCKED8 : DNN_LAYOUT_NHWC;
    train_param *wp = train_params_find(p, d->weight);
    FAIL_IF(!wp, STYLE_ERR_INTERNAL, "train: no parameter %s", d->weight);
    int32_t k = (int32_t)wp->shape[2], out_c = (int32_t)wp->shape[0];
    st->factor = d->factor;
    st->pad = d->pad;
    int32_t ph = d->h * d->factor + 2 * st->pad, pw = d->w * d->factor + 2 * st->pad;
    float *conv_src = d->src, *conv_diff_src = d->diff_src;
    st->padding = st->pad > 0 || d->factor > 1;
    /* bf16 (NHWC): the padding writes the conv's bf16 source directly, no f32 copy. */
    const bool pad_to_bf16 = st->padding && d->bf16 && !d->blocked;
    if (st->padding) {
        st->padded = pad_to_bf16 ? NULL : alloc_tensor(n, ph, pw, d->in_c);
        st->diff_padded = d->diff_src ? alloc_tensor(n, ph, pw, d->in_c) : NULL;
        FAIL_IF((!pad_to_bf16 && !st->padded) || (d->diff_src && !st->diff_padded), STYLE_ERR_NOMEM,
                "train: out of memory");
        conv_src = st->padded, conv_diff_src = st->diff_padded;
    }
    conv_spec spec = {
        .in_channels = d->in_c, .out_channels = out_c, .kernel = k, .stride = d->stride};
    TRY(tconv_create_layout(&st->conv, dnn, &spec, d->norm ? -1.0f : d->slope, n, ph, pw,
                            d->diff_src != NULL, d->frozen || d->frozen_weights, layout, d->bf16));
    int32_t oh = st->conv.out_h, ow = st->conv.out_w;
    st->conv_out = alloc_tensor(n, oh, ow, out_c);
    st->diff_conv_out = d->frozen ? NULL : alloc_tensor(n, oh, ow, out_c);
    FAIL_IF(!st->conv_out || (!d->frozen && !st->diff_conv_out), STYLE_ERR_NOMEM,
            "train: out of memory");
    float *bias = d->bias ? train_params_value(p, d->bias) : NULL;
    const bool fixed = d->frozen || d->frozen_weights; /* no weight gradients */
    float *diff_bias = d->bias && !fixed ? train_params_grad(p, d->bias) : NULL;
    TRY(tconv_bind(&st->conv, dnn, p->values + wp->offset, bias,
                   fixed ? NULL : p->grads + wp->offset, diff_bias, conv_src, st->conv_out,
                   conv_diff_src, st->diff_conv_out));
    if (st->conv.scratchpad_bytes > *scratch) *scratch = st->conv.scratchpad_bytes;
    if (pad_to_bf16) {
        st->padded_bf16 = tconv_bf16_source(&st->conv);
        FAIL_IF(!st->padded_bf16, STYLE_ERR_INTERNAL, "train: no bf16 source to pad into");
    }
    st->out = st->conv_out, st->diff_out = st->diff_conv_out;
    if (d->norm) {
        st->has_norm = true;
        snprintf(st->norm_name, sizeof st->norm_name, "%s", d->norm);
        TRY(tnorm_create_layout(&st->norm, dnn, d->batch_norm, d->relu, n, out_c, oh, ow, 1e-5f,
                                layout));
        st->out = alloc_tensor(n, oh, ow, out_c);
        st->diff_out = alloc_tensor(n, oh, ow, out_c);
        FAIL_IF(!st->out || !st->diff_out, STYLE_ERR_NOMEM, "train: out of memory");
        char s1[64], s2[64];
        snprintf(s1, sizeof s1, "%s.weight", d->norm);
        snprintf(s2, sizeof s2, "%s.bias", d->norm);
        TRY(tnorm_bind(&st->norm, dnn, train_params_value(p, s1), train_params_value(p, s2),
                       train_params_grad(p, s1), train_params_grad(p, s2), st->conv_out, st->out,
                       st->diff_conv_out, st->diff_out));
        if (st->norm.scratchpad_bytes > *scratch) *scratch = st->norm.scratchpad_bytes;
    }
    return STYLE_OK;
fail:
    return status;
}

/* A stage of the transform network: "<prefix>.conv2d" padded by k/2, norm "<norm>". */
static style_status stage_create(train_net *net, train_stage *st, dnn_context *dnn, float *src,
                                 float *diff_src, int32_t h, int32_t w, int32_t in_c,
                                 int32_t factor, const char *conv_prefix, int32_t stride,
                                 const char *norm, bool relu, bool blocked, size_t *scratch)
{
    char weight[64], bias[64];
    snprintf(weight, sizeof weight, "%s.conv2d.weight", conv_prefix);
    snprintf(bias, sizeof bias, "%s.conv2d.bias", conv_prefix);
    train_param *wp = train_params_find(net->params, weight);
    if (!wp) return style__fail(STYLE_ERR_INTERNAL, "train: no parameter %s", weight);
    train_stage_desc d = {.src = src,
                          .diff_src = diff_src,
                          .h = h,
                          .w = w,
                          .in_c = in_c,
                          .factor = factor,
                          .pad = (int32_t)wp->shape[2] / 2,
                          .stride = stride,
                          .weight = weight,
                          .bias = bias,
                          .slope = -1.0f,
                          .norm = norm,
                          .batch_norm = net->params->config.batch_norm,
                          .relu = relu,
                          .frozen_weights = net->params->config.frozen_convs,
                          .blocked = blocked,
                          .bf16 = net->bf16};
    return train_stage_create(st, net->params, net->n, dnn, &d, scratch);
}

void train_stage_destroy(train_stage *st)
{
    tconv_destroy(&st->conv);
    if (st->has_norm) {
        tnorm_destroy(&st->norm);
        style__aligned_free(st->out);
        style__aligned_free(st->diff_out);
    }
    style__aligned_free(st->padded);
    style__aligned_free(st->diff_padded);
    style__aligned_free(st->conv_out);
    style__aligned_free(st->diff_conv_out);
    memset(st, 0, sizeof *st);
}

/* Batch-norm running statistics (PyTorch: unbiased variance, momentum 0.1). */
static void update_running(train_net *net, train_stage *st)
{
    char name[64];
    snprintf(name, sizeof name, "%s.running_mean", st->norm_name);
    float *mean = train_params_value(net->params, name);
    snprintf(name, sizeof name, "%s.running_var", st->norm_name);
    float *var = train_params_value(net->params, name);
    const float *bm = tnorm_batch_mean(&st->norm), *bv = tnorm_batch_variance(&st->norm);
    double count = (double)st->norm.n * st->norm.h * st->norm.w;
    double unbias = count > 1 ? count / (count - 1) : 1.0;
    for (int32_t c = 0; c < st->norm.c; c++) {
        mean[c] = (1 - net->momentum) * mean[c] + net->momentum * bm[c];
        var[c] = (float)((1 - net->momentum) * var[c] + net->momentum * bv[c] * unbias);
    }
}

style_status train_stage_forward(train_stage *st, int32_t n, dnn_context *dnn,
                                 dnn_scratchpad *scratchpad)
{
    style_status status = STYLE_OK;
    if (st->padding) {
        size_t in_image = (size_t)st->in_h * st->in_w * st->in_c;
        size_t out_image = (size_t)(st->in_h * st->factor + 2 * st->pad) *
                           (st->in_w * st->factor + 2 * st->pad) * st->in_c;
        for (int32_t b = 0; b < n; b++)
            if (st->padded_bf16)
                pad_reflect_nhwc_bf16(st->src + b * in_image, st->in_h, st->in_w, st->in_c,
                                      st->factor, st->pad, st->padded_bf16 + b * out_image);
            else
                (st->blocked ? pad_reflect_blocked8 : pad_reflect_nhwc)(
                    st->src + b * in_image, st->in_h, st->in_w, st->in_c, st->factor, st->pad,
                    st->padded + b * out_image);
    }
    TRY(tconv_forward(&st->conv, dnn, scratchpad));
    if (st->has_norm) TRY(tnorm_forward(&st->norm, dnn, scratchpad));
    return STYLE_OK;
fail:
    return status;
}

static style_status stage_forward(train_net *net, train_stage *st, dnn_context *dnn, bool training)
{
    style_status status = train_stage_forward(st, net->n, dnn, net->scratchpad);
    if (status == STYLE_OK && training && st->has_norm && st->norm.batch) update_running(net, st);
    return status;
}

style_status train_stage_backward(train_stage *st, int32_t n, dnn_context *dnn,
                                  dnn_scratchpad *scratchpad)
{
    style_status status = STYLE_OK;
    if (st->has_norm) TRY(tnorm_backward(&st->norm, dnn, scratchpad));
    TRY(tconv_backward(&st->conv, dnn, scratchpad));
    if (st->padding && st->diff_src) {
        size_t in_image = (size_t)st->in_h * st->in_w * st->in_c;
        size_t out_image = (size_t)(st->in_h * st->factor + 2 * st->pad) *
                           (st->in_w * st->factor + 2 * st->pad) * st->in_c;
        for (int32_t b = 0; b < n; b++)
            (st->blocked ? pad_reflect_backward_blocked8 : pad_reflect_backward_nhwc)(
                st->diff_padded + b * out_image, st->in_h, st->in_w, st->in_c, st->factor, st->pad,
                st->diff_src + b * in_image);
    }
    return STYLE_OK;
fail:
    return status;
}

static style_status stage_backward(train_net *net, train_stage *st, dnn_context *dnn)
{
    return train_stage_backward(st, net->n, dnn, net->scratchpad);
}

/* Whether a blocked stage's convolution has fallen to oneDNN's reference code (seen:
 * backward-data of a stride-2 16 -> 32 conv in nChw8c on AVX2, ~1000x slower than NHWC's). */
static bool stage_is_slow(const train_stage *st)
{
    return st->blocked && tconv_uses_reference(&st->conv);
}

static bool blocked_region_is_slow(const train_net *net)
{
    bool slow = false;
    for (int32_t i = 0; i < net->stage_count; i++)
        slow = slow || stage_is_slow(&net->stage[i]);
    return slow;
}

style_status train_net_create(train_net *net, train_params *params, dnn_context *dnn, int32_t n,
                              int32_t size, bool bf16)
{
    /* nChw8c where it was measured to pay: fp32 on AVX2 without AVX-512 (AVX-512's native
     * block is 16 channels; not measured here, so NHWC as before; oneDNN's bf16 kernels
     * take NHWC). */
    const int32_t *wd = params->config.widths;
    if (bf16 || dnn_cpu_kernel_isa() != 1 || wd[0] % 8 || wd[1] % 8 || wd[2] % 8)
        return train_net_create_layout(net, params, dnn, n, size, TRAIN_LAYOUT_NHWC, bf16);
    style_status status =
        train_net_create_layout(net, params, dnn, n, size, TRAIN_LAYOUT_BLOCKED, false);
    if (status != STYLE_OK || !blocked_region_is_slow(net)) return status;
    train_net_destroy(net);
    return train_net_create_layout(net, params, dnn, n, size, TRAIN_LAYOUT_NHWC, false);
}

style_status train_net_create_layout(train_net *net, train_params *params, dnn_context *dnn,
                                     int32_t n, int32_t size, train_layout layout, bool bf16)
{
    style_status status = STYLE_OK;
    memset(net, 0, sizeof *net);
    net->params = params;
    net->bf16 = bf16;
    net->n = n, net->size = size;
    net->momentum = 0.1f;
    const int32_t *wd = params->config.widths;
    const int32_t blocks = params->config.residual_blocks;
    FAIL_IF(size < 4 || size % 4, STYLE_ERR_INVALID_ARGUMENT,
            "train: the crop size must be a multiple of 4 (got %d)", size);
    size_t scratch = 0;
    net->input = alloc_tensor(n, size, size, 3);
    FAIL_IF(!net->input, STYLE_ERR_NOMEM, "train: out of memory");
    /* From conv3 to the last upsampling stage every width is a multiple of 8 (16/32/64 and
     * 32/64/128): that part may run in nChw8c, entered and left through one reorder each way
     * (conv2, 16 -> 32 at stride 2, stays NHWC: its blocked backward-data is oneDNN's
     * reference code on AVX2). */
    const bool blocked = layout == TRAIN_LAYOUT_BLOCKED;
    FAIL_IF(blocked && (wd[0] % 8 || wd[1] % 8 || wd[2] % 8), STYLE_ERR_INVALID_ARGUMENT,
            "train: the blocked layout needs widths that are multiples of 8");
    net->blocked = blocked;
    /* One stage per step of Johnson's table; conv1 needs no input gradient. */
    net->stage_count = johnson_step_count(blocks);
    float *src = net->input, *diff_src = NULL;
    int32_t h = size, c = 3;
    for (int32_t i = 0; i < net->stage_count; i++) {
        johnson_step *step = &net->step[i];
        johnson_step_at(blocks, i, step);
        const johnson_stage_spec *spec = step->spec;
        /* Blocked: every stage that reads less than the full size (conv3 .. deconv2), entered
         * through blocked_in and left through blocked_out. */
        const bool stage_blocked = blocked && h < size;
        const bool after_blocked = i > 0 && net->stage[i - 1].blocked;
        if (stage_blocked && !after_blocked) {
            net->blocked_in = alloc_tensor(n, h, h, c);
            net->diff_blocked_in = alloc_tensor(n, h, h, c);
            FAIL_IF(!net->blocked_in || !net->diff_blocked_in, STYLE_ERR_NOMEM,
                    "train: out of memory");
            src = net->blocked_in, diff_src = net->diff_blocked_in;
        } else if (!stage_blocked && after_blocked) {
            net->blocked_out = alloc_tensor(n, h, h, c);
            net->diff_blocked_out = alloc_tensor(n, h, h, c);
            FAIL_IF(!net->blocked_out || !net->diff_blocked_out, STYLE_ERR_NOMEM,
                    "train: out of memory");
            src = net->blocked_out, diff_src = net->diff_blocked_out;
        }
        if (spec->kind == JOHNSON_RESIDUAL_1) {
            if (step->block == 0) {
                /* The residual stream x_0 is the input of the first block. */
                net->stream[0] = src, net->diff_stream[0] = diff_src;
                net->diff_scratch = alloc_tensor(n, h, h, c);
                FAIL_IF(!net->diff_scratch, STYLE_ERR_NOMEM, "train: out of memory");
            }
            /* The first conv's input gradient goes to scratch, then joins the skip path's. */
            src = net->stream[step->block], diff_src = net->diff_scratch;
        }
        train_stage *st = &net->stage[i];
        TRY(stage_create(net, st, dnn, src, diff_src, h, h, c, spec->upsample ? 2 : 1,
                         step->conv_name, spec->stride, trains_norm(step) ? step->norm_name : NULL,
                         spec->relu, stage_blocked, &scratch));
        src = st->out, diff_src = st->diff_out;
        h = st->conv.out_h, c = johnson_step_width(step, wd);
        if (spec->kind == JOHNSON_RESIDUAL_2) {
            /* x_{b+1} = x_b + the block's output. */
            const int32_t b = step->block;
            net->stream[b + 1] = alloc_tensor(n, h, h, c);
            net->diff_stream[b + 1] = alloc_tensor(n, h, h, c);
            FAIL_IF(!net->stream[b + 1] || !net->diff_stream[b + 1], STYLE_ERR_NOMEM,
                    "train: out of memory");
            src = net->stream[b + 1], diff_src = net->diff_stream[b + 1];
        }
    }
    TRY(dnn_scratchpad_create(&net->scratchpad, dnn, scratch, "training"));
    return STYLE_OK;
fail:
    train_net_destroy(net);
    return status;
}

static void add_tensors(float *dst, const float *a, const float *b, size_t count)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++)
        dst[i] = a[i] + b[i];
}

/* Adds the seconds since *mark to *total and moves the mark (timed graphs only). */
static void timing_lap(const train_net *net, double *mark, double *total)
{
    if (!net->timing) return;
    double now = style__clock_seconds();
    *total += now - *mark;
    *mark = now;
}

/* The part of the graph a stage belongs to (timing). */
static int part_of(const johnson_step *step)
{
    switch (step->spec->kind) {
    case JOHNSON_DOWN:
        return TRAIN_PART_DOWN;
    case JOHNSON_RESIDUAL_1:
    case JOHNSON_RESIDUAL_2:
        return TRAIN_PART_RESIDUAL;
    case JOHNSON_UP:
        return TRAIN_PART_UP;
    case JOHNSON_OUT:
        break;
    }
    return TRAIN_PART_LAST;
}

/* The residual stream's element count (x_b: N x S/4 x S/4 x c3). */
static size_t stream_count(const train_net *net)
{
    const int32_t q = net->size / 4;
    return (size_t)net->n * q * q * net->params->config.widths[2];
}

style_status train_net_forward(train_net *net, dnn_context *dnn, bool training,
                               const float **output)
{
    style_status status = STYLE_OK;
    train_net_timing *tm = net->timing;
    double start = tm ? style__clock_seconds() : 0, mark = start;
    int part = TRAIN_PART_DOWN;
    for (int32_t i = 0; i < net->stage_count; i++) {
        train_stage *st = &net->stage[i];
        const johnson_step *step = &net->step[i];
        if (tm && part_of(step) != part) {
            timing_lap(net, &mark, &tm->forward_part[part]);
            part = part_of(step);
        }
        if (st->blocked && !(i > 0 && net->stage[i - 1].blocked))
            nhwc_to_blocked8(net->stage[i - 1].out, net->n, st->in_h, st->in_w, st->in_c,
                             net->blocked_in);
        TRY(stage_forward(net, st, dnn, training));
        if (step->spec->kind == JOHNSON_RESIDUAL_2)
            add_tensors(net->stream[step->block + 1], net->stream[step->block], st->out,
                        stream_count(net));
        if (st->blocked && !net->stage[i + 1].blocked) {
            const train_stage *next = &net->stage[i + 1];
            blocked8_to_nhwc(st->out, net->n, next->in_h, next->in_w, next->in_c, net->blocked_out);
        }
    }
    if (tm) {
        timing_lap(net, &mark, &tm->forward_part[part]);
        tm->forward += mark - start;
    }
    *output = net->stage[net->stage_count - 1].out;
    return STYLE_OK;
fail:
    return status;
}

/* Binds a stage's norm to row `style` of its [styles, C] scale and shift. */
static void stage_set_style(train_net *net, train_stage *st, int32_t style)
{
    if (!st->has_norm) return;
    char s1[64], s2[64];
    snprintf(s1, sizeof s1, "%s.weight", st->norm_name);
    snprintf(s2, sizeof s2, "%s.bias", st->norm_name);
    const size_t row = (size_t)style * (size_t)st->norm.c;
    train_params *p = net->params;
    tnorm_set_params(&st->norm, train_params_value(p, s1) + row, train_params_value(p, s2) + row,
                     train_params_grad(p, s1) + row, train_params_grad(p, s2) + row);
}

void train_net_set_style(train_net *net, int32_t style)
{
    for (int32_t i = 0; i < net->stage_count; i++)
        stage_set_style(net, &net->stage[i], style);
}

float *train_net_diff_output(train_net *net)
{
    return net->stage[net->stage_count - 1].diff_out;
}

style_status train_net_backward(train_net *net, dnn_context *dnn)
{
    style_status status = STYLE_OK;
    train_net_timing *tm = net->timing;
    double start = tm ? style__clock_seconds() : 0, mark = start;
    memset(net->params->grads, 0, net->params->total * sizeof(float));
    int part = TRAIN_PART_LAST;
    for (int32_t i = net->stage_count - 1; i >= 0; i--) {
        train_stage *st = &net->stage[i];
        const johnson_step *step = &net->step[i];
        if (tm && part_of(step) != part) {
            timing_lap(net, &mark, &tm->backward_part[part]);
            part = part_of(step);
        }
        /* x_{b+1} = x_b + branch(x_b): the gradient reaches the branch's output unchanged. */
        if (step->spec->kind == JOHNSON_RESIDUAL_2)
            memcpy(st->diff_out, net->diff_stream[step->block + 1],
                   stream_count(net) * sizeof(float));
        TRY(stage_backward(net, st, dnn));
        if (step->spec->kind == JOHNSON_RESIDUAL_1)
            add_tensors(net->diff_stream[step->block], net->diff_stream[step->block + 1],
                        net->diff_scratch, stream_count(net));
        if (i > 0 && !st->blocked && net->stage[i - 1].blocked)
            nhwc_to_blocked8(net->diff_blocked_out, net->n, st->in_h, st->in_w, st->in_c,
                             net->stage[i - 1].diff_out);
        if (i > 0 && st->blocked && !net->stage[i - 1].blocked)
            blocked8_to_nhwc(net->diff_blocked_in, net->n, st->in_h, st->in_w, st->in_c,
                             net->stage[i - 1].diff_out);
    }
    if (tm) {
        timing_lap(net, &mark, &tm->backward_part[part]);
        tm->backward += mark - start;
    }
    return STYLE_OK;
fail:
    return status;
}

/* A stage's multiply-adds: executed by its primitives, and nominal (the conv as written). */
static void stage_count_macs(const train_stage *st, double *executed, double *nominal)
{
    double forward, backward;
    tconv_count_macs(&st->conv, &forward, &backward);
    *executed += forward + backward;
    *nominal += forward + backward;
}

void train_net_count_macs(const train_net *net, double *executed, double *nominal)
{
    *executed = *nominal = 0;
    for (int32_t i = 0; i < net->stage_count; i++)
        stage_count_macs(&net->stage[i], executed, nominal);
}

void train_net_destroy(train_net *net)
{
    if (!net) return;
    for (int32_t i = 0; i < net->stage_count; i++)
        train_stage_destroy(&net->stage[i]);
    for (int32_t b = 1; b <= TRAIN_MAX_BLOCKS; b++) {
        style__aligned_free(net->stream[b]);
        style__aligned_free(net->diff_stream[b]);
    }
    style__aligned_free(net->blocked_in);
    style__aligned_free(net->diff_blocked_in);
    style__aligned_free(net->blocked_out);
    style__aligned_free(net->diff_blocked_out);
    style__aligned_free(net->input);
    style__aligned_free(net->diff_scratch);
    dnn_scratchpad_free(net->scratchpad);
    memset(net, 0, sizeof *net);
}
