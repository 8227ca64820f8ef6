/* The AdaIN decoder: its spec (mirrored from an encoder, or parsed from a model file), its
 * parameters, and its forward / backward graph built from the trainer's conv stages. */
#include "arch/adain.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- spec ------------------------------------------------------------------------------- */

static style_status push(adain_decoder_spec *spec, dec_layer layer)
{
    if (spec->count >= ADAIN_MAX_LAYERS)
        return style__fail(STYLE_ERR_UNSUPPORTED, "decoder: more than %d layers", ADAIN_MAX_LAYERS);
    spec->layers[spec->count++] = layer;
    return STYLE_OK;
}

/*
 * A decoder is a sequence of groups [upsample] [reflect_pad] conv [relu], ending with a conv of
 * 3 outputs: the shape the graph builds. Also sets spec->scale.
 */
static style_status validate(adain_decoder_spec *spec)
{
    int32_t channels = spec->in_channels, scale = 1;
    bool group_open = false, seen_pad = false;
    for (int32_t i = 0; i < spec->count; i++) {
        const dec_layer *l = &spec->layers[i];
        switch (l->op) {
        case DEC_UPSAMPLE:
            if (group_open || l->value != 2)
                return style__fail(STYLE_ERR_UNSUPPORTED,
                                   "decoder layer %d: only nearest x2 "
                                   "upsampling before a conv's padding is supported",
                                   i);
            group_open = true, scale *= 2;
            break;
        case DEC_REFLECT_PAD:
            if (seen_pad || l->value < 0 || l->value > 7)
                return style__fail(STYLE_ERR_UNSUPPORTED,
                                   "decoder layer %d: one reflect_pad of 0..7 before a conv", i);
            group_open = seen_pad = true;
            break;
        case DEC_CONV:
            if (l->in_channels != channels)
                return style__fail(STYLE_ERR_FORMAT,
                                   "decoder layer %d: conv takes %d channels, "
                                   "gets %d",
                                   i, l->in_channels, channels);
            if (l->kernel < 1 || l->kernel > 9 || l->out_channels < 1 || l->out_channels > 4096)
                return style__fail(STYLE_ERR_UNSUPPORTED, "decoder layer %d: unsupported conv", i);
            channels = l->out_channels;
            group_open = seen_pad = false;
            break;
        case DEC_RELU:
            if (i == 0 || spec->layers[i - 1].op != DEC_CONV)
                return style__fail(STYLE_ERR_UNSUPPORTED,
                                   "decoder layer %d: a relu must follow a conv", i);
            break;
        }
    }
    if (spec->count == 0 || group_open || spec->layers[spec->count - 1].op != DEC_CONV ||
        channels != 3)
        return style__fail(STYLE_ERR_FORMAT,
                           "decoder: must end with a conv of 3 outputs (no activation)");
    spec->scale = scale;
    return STYLE_OK;
}

style_status adain_decoder_mirror(const feature_net *encoder, int32_t tap, adain_decoder_spec *spec)
{
    style_status status = STYLE_OK;
    memset(spec, 0, sizeof *spec);
    int32_t channels = 0;
    for (int32_t i = 0; i <= tap; i++)
        if (encoder->layers[i].op == FNET_CONV) channels = encoder->layers[i].out_channels;
    spec->in_channels = channels;
    for (int32_t i = tap; i >= 0; i--) {
        const fnet_layer *l = &encoder->layers[i];
        if (l->op == FNET_MAXPOOL) {
            TRY(push(spec, (dec_layer){.op = DEC_UPSAMPLE, .value = 2}));
        } else if (l->op == FNET_CONV && l->kernel > 1) {
            int32_t out = 3;
            for (int32_t j = i - 1; j >= 0 && out == 3; j--)
                if (encoder->layers[j].op == FNET_CONV && encoder->layers[j].kernel > 1)
                    out = encoder->layers[j].out_channels;
            bool first_conv = out == 3;
            TRY(push(spec, (dec_layer){.op = DEC_REFLECT_PAD, .value = l->kernel / 2}));
            TRY(push(spec, (dec_layer){.op = DEC_CONV,
                                       .kernel = l->kernel,
                                       .in_channels = channels,
                                       .out_channels = out}));
            if (!first_conv) TRY(push(spec, (dec_layer){.op = DEC_RELU}));
            channels = out;
        }
    }
    /* An encoder whose first layers are pools or 1x1 convs still needs an RGB output. */
    if (channels != 3) {
        TRY(push(spec, (dec_layer){.op = DEC_REFLECT_PAD, .value = 1}));
        TRY(push(
            spec,
            (dec_layer){.op = DEC_CONV, .kernel = 3, .in_channels = channels, .out_channels = 3}));
    }
    TRY(validate(spec));
fail:
    return status;
}

style_status adain_decoder_parse(const char *text, int32_t in_channels,
                                 bool (*weight_shape)(void *user, int32_t i, int64_t shape[4]),
                                 void *user, adain_decoder_spec *spec)
{
    style_status status = STYLE_OK;
    memset(spec, 0, sizeof *spec);
    spec->in_channels = in_channels;
    json_error_t error;
    json_t *layers = text ? json_loads(text, JSON_REJECT_DUPLICATES, &error) : NULL;
    FAIL_IF(!json_is_array(layers) || json_array_size(layers) < 1 ||
                json_array_size(layers) > ADAIN_MAX_LAYERS,
            STYLE_ERR_FORMAT, "libstyle.decoder.layers is missing or not an array of 1..%d layers",
            ADAIN_MAX_LAYERS);
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *item = json_array_get(layers, i);
        const char *op = json_string_value(json_object_get(item, "op"));
        dec_layer l = {0};
        FAIL_IF(!op, STYLE_ERR_FORMAT, "libstyle.decoder.layers[%zu] has no op", i);
        if (strcmp(op, "conv") == 0) {
            json_t *k = json_object_get(item, "kernel"), *s = json_object_get(item, "stride"),
                   *p = json_object_get(item, "pad");
            FAIL_IF(!json_is_integer(k) || (s && json_integer_value(s) != 1) ||
                        (p && json_integer_value(p) != 0),
                    STYLE_ERR_UNSUPPORTED,
                    "libstyle.decoder.layers[%zu]: a decoder conv has a kernel, stride 1, pad 0 "
                    "(padding is a reflect_pad layer)",
                    i);
            int64_t shape[4];
            FAIL_IF(!weight_shape(user, (int32_t)i, shape), STYLE_ERR_FORMAT,
                    "missing or misshapen tensor 'decoder.%zu.weight'", i);
            l = (dec_layer){.op = DEC_CONV,
                            .kernel = (int32_t)json_integer_value(k),
                            .out_channels = (int32_t)shape[0],
                            .in_channels = (int32_t)shape[1]};
            FAIL_IF(shape[2] != l.kernel || shape[3] != l.kernel, STYLE_ERR_FORMAT,
                    "tensor 'decoder.%zu.weight' does not have kernel %d", i, l.kernel);
        } else if (strcmp(op, "relu") == 0) {
            l.op = DEC_RELU;
        } else if (strcmp(op, "upsample_nearest") == 0) {
            l = (dec_layer){.op = DEC_UPSAMPLE,
                            .value = (int32_t)json_integer_value(json_object_get(item, "factor"))};
        } else if (strcmp(op, "reflect_pad") == 0) {
            json_t *p = json_object_get(item, "pad");
            FAIL_IF(!json_is_integer(p), STYLE_ERR_FORMAT,
                    "libstyle.decoder.layers[%zu]: reflect_pad needs pad", i);
            l = (dec_layer){.op = DEC_REFLECT_PAD, .value = (int32_t)json_integer_value(p)};
        } else {
            FAIL_IF(true, STYLE_ERR_UNSUPPORTED, "libstyle.decoder.layers[%zu]: unknown op '%s'", i,
                    op);
        }
        TRY(push(spec, l));
    }
    TRY(validate(spec));
fail:
    json_decref(layers);
    return status;
}

char *adain_decoder_json(const adain_decoder_spec *spec)
{
    json_t *array = json_array();
    for (int32_t i = 0; array && i < spec->count; i++) {
        const dec_layer *l = &spec->layers[i];
        json_t *item = NULL;
        switch (l->op) {
        case DEC_CONV:
            item = json_pack("{s:s, s:i, s:i, s:i}", "op", "conv", "kernel", l->kernel, "stride", 1,
                             "pad", 0);
            break;
        case DEC_RELU:
            item = json_pack("{s:s}", "op", "relu");
            break;
        case DEC_UPSAMPLE:
            item = json_pack("{s:s, s:i}", "op", "upsample_nearest", "factor", l->value);
            break;
        case DEC_REFLECT_PAD:
            item = json_pack("{s:s, s:i}", "op", "reflect_pad", "pad", l->value);
            break;
        }
        if (!item || json_array_append_new(array, item) != 0) {
            json_decref(array);
            return NULL;
        }
    }
    char *text = array ? json_dumps(array, JSON_COMPACT) : NULL;
    json_decref(array);
    return text;
}

style_status adain_decoder_params(const adain_decoder_spec *spec, train_params *p)
{
    memset(p, 0, sizeof *p);
    for (int32_t i = 0; i < spec->count; i++) {
        const dec_layer *l = &spec->layers[i];
        if (l->op != DEC_CONV) continue;
        char name[48];
        int64_t w[4] = {l->out_channels, l->in_channels, l->kernel, l->kernel},
                b[1] = {l->out_channels};
        snprintf(name, sizeof name, "decoder.%d.weight", i);
        train_params_add(p, name, 4, w, true);
        snprintf(name, sizeof name, "decoder.%d.bias", i);
        train_params_add(p, name, 1, b, true);
    }
    return train_params_allocate(p);
}

/* ---- graph ------------------------------------------------------------------------------ */

style_status adain_decoder_create(adain_decoder *d, const adain_decoder_spec *spec,
                                  train_params *params, dnn_context *dnn, int32_t n, int32_t h,
                                  int32_t w, bool frozen, bool bf16)
{
    style_status status = STYLE_OK;
    memset(d, 0, sizeof *d);
    d->n = n, d->h = h, d->w = w;
    size_t bytes = (size_t)n * h * w * spec->in_channels * sizeof(float);
    d->input = style__aligned_alloc(bytes);
    d->diff_input = frozen ? NULL : style__aligned_alloc(bytes);
    FAIL_IF(!d->input || (!frozen && !d->diff_input), STYLE_ERR_NOMEM, "decoder: out of memory");
    float *src = d->input, *diff_src = d->diff_input;
    int32_t ch = h, cw = w, cc = spec->in_channels, factor = 1, pad = 0;
    size_t scratch = 0;
    for (int32_t i = 0; i < spec->count; i++) {
        const dec_layer *l = &spec->layers[i];
        if (l->op == DEC_UPSAMPLE) factor = l->value;
        if (l->op == DEC_REFLECT_PAD) pad = l->value;
        if (l->op != DEC_CONV) continue;
        char weight[48], bias[48];
        snprintf(weight, sizeof weight, "decoder.%d.weight", i);
        snprintf(bias, sizeof bias, "decoder.%d.bias", i);
        bool relu = i + 1 < spec->count && spec->layers[i + 1].op == DEC_RELU;
        train_stage_desc desc = {.src = src,
                                 .diff_src = diff_src,
                                 .h = ch,
                                 .w = cw,
                                 .in_c = cc,
                                 .factor = factor,
                                 .pad = pad,
                                 .stride = 1,
                                 .weight = weight,
                                 .bias = bias,
                                 .slope = relu ? 0.0f : -1.0f,
                                 .frozen = frozen,
                                 .bf16 = bf16};
        train_stage *st = &d->stages[d->stage_count++];
        TRY(train_stage_create(st, params, n, dnn, &desc, &scratch));
        src = st->out, diff_src = st->diff_out;
        ch = st->conv.out_h, cw = st->conv.out_w, cc = l->out_channels;
        factor = 1, pad = 0;
    }
    d->out_h = ch, d->out_w = cw;
    TRY(dnn_scratchpad_create(&d->scratchpad, dnn, scratch, "decoder"));
    return STYLE_OK;
fail:
    adain_decoder_destroy(d);
    return status;
}

style_status adain_decoder_forward(adain_decoder *d, dnn_context *dnn, const float **output)
{
    style_status status = STYLE_OK;
    for (int32_t i = 0; i < d->stage_count; i++)
        TRY(train_stage_forward(&d->stages[i], d->n, dnn, d->scratchpad));
    *output = d->stages[d->stage_count - 1].out;
fail:
    return status;
}

float *adain_decoder_diff_output(adain_decoder *d)
{
    return d->stages[d->stage_count - 1].diff_out;
}

style_status adain_decoder_backward(adain_decoder *d, dnn_context *dnn)
{
    style_status status = STYLE_OK;
    for (int32_t i = d->stage_count - 1; i >= 0; i--)
        TRY(train_stage_backward(&d->stages[i], d->n, dnn, d->scratchpad));
fail:
    return status;
}

void adain_decoder_destroy(adain_decoder *d)
{
    if (!d) return;
    for (int32_t i = 0; i < d->stage_count; i++)
        train_stage_destroy(&d->stages[i]);
    style__aligned_free(d->input);
    style__aligned_free(d->diff_input);
    dnn_scratchpad_free(d->scratchpad);
    memset(d, 0, sizeof *d);
}
