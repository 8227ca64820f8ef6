/*
 * Warm start of an AdaIN decoder (style_train_adain's init_model): the training starts from a
 * trained AdaIN model's decoder instead of a random one. The decoder only means something for
 * the encoder it was trained behind, so the model's embedded encoder must be the loss
 * network's, cut at the same tap: checked against the SHA-256 its training recorded and,
 * weight by weight, against the loss network itself (a model made elsewhere records none).
 */
#include "core/file_sha256.h"
#include "train/train_adain_init.h"
#include "train/train_warm_start.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The model's training record's loss_net_sha256, copied to hex ("" when it has none). */
static void recorded_loss_net(const style_model *m, char hex[SHA256_HEX_SIZE])
{
    hex[0] = '\0';
    const char *training = style_model_metadata_get(m, "libstyle.training");
    json_t *o = training ? json_loads(training, 0, NULL) : NULL;
    const char *value = json_string_value(json_object_get(o, "loss_net_sha256"));
    if (value && strlen(value) == SHA256_HEX_SIZE - 1) snprintf(hex, SHA256_HEX_SIZE, "%s", value);
    json_decref(o);
}

/* The model's encoder.features.{layer}.{kind} must hold exactly the loss network's values. */
static bool same_tensor(const style_model *m, int32_t layer, const char *kind, const float *values,
                        size_t count)
{
    char name[64];
    snprintf(name, sizeof name, "encoder.features.%d.%s", (int)layer, kind);
    const st_tensor *t = st_find(&m->file, name);
    if (!values) return t == NULL;
    return t && t->count == count && memcmp(t->data, values, count * sizeof(float)) == 0;
}

style_status train_adain_init_open(const char *path, const char *loss_net_path,
                                   const feature_net *net, char tap[FNET_NAME_MAX],
                                   char sha256[SHA256_HEX_SIZE], style_model **init)
{
    style_status status = STYLE_OK;
    style_model *m = NULL;
    char hex[SHA256_HEX_SIZE], recorded[SHA256_HEX_SIZE];
    *init = NULL;
    TRY(style_model_load(path, NULL, &m));
    const char *arch = style_model_metadata_get(m, "libstyle.arch");
    FAIL_IF(!arch || strcmp(arch, "adain") != 0, STYLE_ERR_INVALID_ARGUMENT,
            "it is a%s %s model, not an AdaIN decoder (arch adain)",
            arch && strchr("aeiou", arch[0]) ? "n" : "", arch ? arch : "unnamed");
    const char *own_tap = style_model_metadata_get(m, "libstyle.encoder.tap");
    FAIL_IF(!own_tap || !*own_tap || strlen(own_tap) >= FNET_NAME_MAX, STYLE_ERR_FORMAT,
            "it names no encoder tap (libstyle.encoder.tap)");
    if (!tap[0]) snprintf(tap, FNET_NAME_MAX, "%s", own_tap);
    FAIL_IF(strcmp(tap, own_tap) != 0, STYLE_ERR_INVALID_ARGUMENT,
            "its decoder follows the encoder cut at '%s', not at '%s' (leave --tap out, or give "
            "--tap %s)",
            own_tap, tap, own_tap);
    TRY(file_sha256(loss_net_path, hex));
    recorded_loss_net(m, recorded);
    FAIL_IF(recorded[0] && strcmp(recorded, hex) != 0, STYLE_ERR_INVALID_ARGUMENT,
            "it was trained with a loss network of SHA-256 %s, and %s is %s: the decoder only "
            "fits the encoder it was trained behind",
            recorded, loss_net_path, hex);
    const int32_t last = feature_net_tap(net, tap);
    FAIL_IF(last < 0, STYLE_ERR_INVALID_ARGUMENT, "the loss network %s has no tap '%s'", net->name,
            tap);
    for (int32_t i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        if (l->op != FNET_CONV) continue;
        const size_t weights = (size_t)l->out_channels * l->in_channels * l->kernel * l->kernel;
        FAIL_IF(!same_tensor(m, i, "weight", l->weight, weights) ||
                    !same_tensor(m, i, "bias", l->bias, (size_t)l->out_channels),
                STYLE_ERR_INVALID_ARGUMENT,
                "its encoder is not the loss network %s (layer %d's weights differ): the decoder "
                "only fits the encoder it was trained behind",
                loss_net_path, (int)i);
    }
    TRY(file_sha256(path, sha256));
    *init = m;
    return STYLE_OK;
fail:
    style_model_free(m);
    {
        char prefix[4096 + 64];
        snprintf(prefix, sizeof prefix, "train-adain: starting from %s", path);
        style__prefix_error(prefix);
    }
    return status;
}

style_status train_adain_init_params(const style_model *init, const char *path, train_params *p)
{
    for (int32_t i = 0; i < p->count; i++) {
        const train_param *param = &p->params[i];
        const st_tensor *t = st_find(&init->file, param->name);
        bool same = t && t->ndim == param->ndim;
        for (int32_t d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == param->shape[d];
        if (!same)
            return style__fail(STYLE_ERR_FORMAT,
                               "train-adain: starting from %s: its %s is %s the decoder's", path,
                               param->name, t ? "of another shape than" : "missing, a tensor of");
    }
    /* Same names and shapes: the Johnson warm start's copy (nothing to widen). */
    return train_warm_start_params(init, path, 0, p);
}
