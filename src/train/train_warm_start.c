/*
 * Warm start: training a style from a trained model's weights instead of a random
 * initialisation (the quality issue's "warm start from another style's model"). A network
 * that already reproduces content only has to learn the new texture, which takes far fewer
 * iterations than learning both from noise. Every weight is trained.
 */
#include "train/train.h"

#include <stdio.h>
#include <string.h>

style_status train_warm_start_settings(train_settings *s, style_model **init)
{
    style_status status = STYLE_OK;
    style_model *m = NULL;
    *init = NULL;
    TRY(style_model_load(s->init_model, NULL, &m));
    TRY(train_check_trainable(m));
    FAIL_IF(m->style_count > 1, STYLE_ERR_UNSUPPORTED,
            "a model of %d styles; a warm start takes a single-style model", (int)m->style_count);
    TRY(file_sha256(s->init_model, s->init_model_sha256));
    for (int i = 0; i < 3; i++)
        s->net.widths[i] = m->down[i].conv.out_channels;
    s->net.residual_blocks = m->residual_blocks;
    s->net.batch_norm = false;
    *init = m;
    return STYLE_OK;
fail:
    style_model_free(m);
    {
        char prefix[TRAIN_PATH_MAX + 64];
        snprintf(prefix, sizeof prefix, "train: starting from %s", s->init_model);
        style__prefix_error(prefix);
    }
    return status;
}

style_status train_warm_start_params(const style_model *init, const char *path, train_params *p)
{
    for (int32_t i = 0; i < p->count; i++) {
        const train_param *param = &p->params[i];
        float *dst = p->values + param->offset;
        const st_tensor *t = st_find(&init->file, param->name);
        /* A convolution may have no bias in the file: zero, as the model runs it. */
        if (!t && strstr(param->name, ".conv2d.bias")) {
            memset(dst, 0, param->count * sizeof(float));
            continue;
        }
        if (!t || t->count != param->count)
            return style__fail(STYLE_ERR_FORMAT, "train: starting from %s: %s is %s", path,
                               param->name, t ? "of another shape" : "missing");
        memcpy(dst, t->data, t->count * sizeof(float));
    }
    return STYLE_OK;
}
