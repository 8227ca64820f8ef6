/*
 * The adain model file (docs/formats.md section 1c): the encoder embedded as a feature network
 * (encoder.* tensors, libstyle.encoder.* keys), the decoder as decoder.{i}.* tensors and
 * libstyle.decoder.layers. Reading rebuilds the encoder with the feature-network loader.
 */
#include "arch/adain.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The encoder part as a stand-alone feature-network file. */
static style_status encoder_file(const st_file *file, const char *tap, st_file *out)
{
    style_status status = STYLE_OK;
    static const char *const keys[][2] = {{"libstyle.encoder.layers", "libstyle.layers"},
                                          {"libstyle.encoder.taps", "libstyle.taps"},
                                          {"libstyle.encoder.input", "libstyle.input"}};
    memset(out, 0, sizeof *out);
    TRY(st_file_add_metadata(out, "libstyle.kind", "feature-net"));
    TRY(st_file_add_metadata(out, "libstyle.name", "encoder"));
    for (int i = 0; i < 3; i++) {
        const char *value = st_metadata_find(file, keys[i][0]);
        FAIL_IF(!value, STYLE_ERR_FORMAT, "missing metadata %s", keys[i][0]);
        TRY(st_file_add_metadata(out, keys[i][1], value));
    }
    char loss[FNET_NAME_MAX * 2 + 64];
    snprintf(loss, sizeof loss, "{\"content\":[\"%s\"],\"style\":[\"%s\"]}", tap, tap);
    TRY(st_file_add_metadata(out, "libstyle.loss", loss));
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        if (strncmp(t->name, "encoder.", 8) != 0) continue;
        FAIL_IF(!t->data, STYLE_ERR_UNSUPPORTED, "tensor '%s' has dtype %s", t->name, t->dtype);
        TRY(st_file_add_tensor(out, t->name + 8, t->ndim, t->shape, t->data));
    }
    return STYLE_OK;
fail:
    st_file_clear(out);
    return status;
}

static bool decoder_weight_shape(void *user, int32_t i, int64_t shape[4])
{
    char name[48];
    snprintf(name, sizeof name, "decoder.%d.weight", i);
    const st_tensor *t = st_find(user, name);
    if (!t || !t->data || t->ndim != 4) return false;
    memcpy(shape, t->shape, 4 * sizeof *shape);
    return true;
}

style_status adain_model_from_file(const st_file *file, adain_model **out)
{
    style_status status = STYLE_OK;
    st_file enc = {0};
    adain_model *m = style__calloc(1, sizeof *m);
    *out = NULL;
    FAIL_IF(!m, STYLE_ERR_NOMEM, "out of memory");
    const char *tap = st_metadata_find(file, "libstyle.encoder.tap");
    FAIL_IF(!tap || strlen(tap) >= FNET_NAME_MAX || strchr(tap, '"') || strchr(tap, '\\'),
            STYLE_ERR_FORMAT, "metadata libstyle.encoder.tap is missing or not a tap name");
    snprintf(m->tap_name, sizeof m->tap_name, "%s", tap);
    TRY(encoder_file(file, tap, &enc));
    status = feature_net_from_file(&enc, "encoder", &m->encoder);
    if (status != STYLE_OK) goto fail; /* the message names the encoder and the problem */
    m->tap = feature_net_tap(m->encoder, tap);
    FAIL_IF(m->tap < 0, STYLE_ERR_FORMAT,
            "libstyle.encoder.tap '%s' is not one of the "
            "encoder's taps",
            tap);
    FAIL_IF(m->tap != m->encoder->layer_count - 1, STYLE_ERR_FORMAT,
            "the encoder has layers after its tap '%s'", tap);
    m->reduction = 1;
    int32_t channels = 3;
    for (int32_t i = 0; i <= m->tap; i++) {
        const fnet_layer *l = &m->encoder->layers[i];
        if (l->op == FNET_MAXPOOL) m->reduction *= 2;
        if (l->op == FNET_CONV) m->reduction *= l->stride, channels = l->out_channels;
    }
    TRY(adain_decoder_parse(st_metadata_find(file, "libstyle.decoder.layers"), channels,
                            decoder_weight_shape, (void *)file, &m->decoder));
    FAIL_IF(m->decoder.scale != m->reduction, STYLE_ERR_FORMAT,
            "the decoder upsamples by %d, the encoder reduces by %d", m->decoder.scale,
            m->reduction);
    TRY(adain_decoder_params(&m->decoder, &m->params));
    for (int32_t i = 0; i < m->params.count; i++) {
        train_param *p = &m->params.params[i];
        st_tensor *t = st_find(file, p->name);
        bool bias = strstr(p->name, ".bias") != NULL;
        if (!t && bias) continue; /* biases are optional (zero) */
        FAIL_IF(!t || !t->data || t->count != p->count || t->ndim != p->ndim, STYLE_ERR_FORMAT,
                "missing or misshapen tensor '%s'", p->name);
        memcpy(m->params.values + p->offset, t->data, p->count * sizeof(float));
        t->used = 1;
    }
    for (size_t i = 0; i < file->tensor_count; i++) {
        st_tensor *t = &file->tensors[i];
        if (strncmp(t->name, "encoder.", 8) == 0) t->used = 1;
        FAIL_IF(!t->used && strncmp(t->name, "extra.", 6) != 0, STYLE_ERR_FORMAT,
                "unexpected tensor '%s'", t->name);
    }
    *out = m;
    return STYLE_OK;
fail:
    st_file_clear(&enc);
    adain_model_free(m);
    return status;
}

void adain_model_free(adain_model *model)
{
    if (!model) return;
    feature_net_free(model->encoder);
    train_params_destroy(&model->params);
    style__free(model);
}

style_status adain_model_add_to_file(st_file *file, const feature_net *net, int32_t tap,
                                     const adain_decoder_spec *spec, const train_params *params)
{
    style_status status = STYLE_OK;
    char *layers = NULL, *taps = NULL, *input = NULL, *decoder = NULL;
    TRY(feature_net_spec_json(net, tap, &layers, &taps, &input));
    const char *tap_name = NULL;
    for (int32_t t = 0; t < net->tap_count && !tap_name; t++)
        if (net->tap_layers[t] == tap) tap_name = net->tap_names[t];
    FAIL_IF(!tap_name, STYLE_ERR_INTERNAL, "adain: layer %d is not a tap", tap);
    decoder = adain_decoder_json(spec);
    FAIL_IF(!decoder, STYLE_ERR_NOMEM, "adain: out of memory");
    TRY(st_file_add_metadata(file, "libstyle.encoder.layers", layers));
    TRY(st_file_add_metadata(file, "libstyle.encoder.taps", taps));
    TRY(st_file_add_metadata(file, "libstyle.encoder.input", input));
    TRY(st_file_add_metadata(file, "libstyle.encoder.tap", tap_name));
    TRY(st_file_add_metadata(file, "libstyle.decoder.layers", decoder));
    for (int32_t i = 0; i <= tap; i++) {
        const fnet_layer *l = &net->layers[i];
        if (l->op != FNET_CONV) continue;
        char name[64];
        int64_t w[4] = {l->out_channels, l->in_channels, l->kernel, l->kernel};
        int64_t b[1] = {l->out_channels};
        snprintf(name, sizeof name, "encoder.features.%d.weight", i);
        TRY(st_file_add_tensor(file, name, 4, w, l->weight));
        if (l->bias) {
            snprintf(name, sizeof name, "encoder.features.%d.bias", i);
            TRY(st_file_add_tensor(file, name, 1, b, l->bias));
        }
    }
    for (int32_t i = 0; i < params->count; i++) {
        const train_param *p = &params->params[i];
        TRY(st_file_add_tensor(file, p->name, p->ndim, p->shape, params->values + p->offset));
    }
fail:
    free(layers);
    free(taps);
    free(input);
    free(decoder);
    return status;
}
