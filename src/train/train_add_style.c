/*
 * Adding a style to a trained model (Dumoulin et al.: a new style costs only the scale and
 * shift of every instance norm). The model's convolutions are frozen; the new style's row is
 * trained from the mean of the existing styles' rows, a point the shared convolutions already
 * work with.
 */
#include "train/train_add_style.h"

#include <stdio.h>
#include <string.h>

style_status train_check_trainable(const style_model *m)
{
    if (strcmp(m->arch_name, "johnson") != 0 && strcmp(m->arch_name, "johnson-cin") != 0)
        return style__fail(STYLE_ERR_UNSUPPORTED, "architecture %s", m->arch_name);
    if (m->norm != NORM_INSTANCE)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "a batch-norm model has no per-style parameters to add a style with");
    if (m->padding != PADDING_REFLECT || m->upsample != UPSAMPLE_NEAREST_CONV ||
        m->output != OUTPUT_LINEAR || m->final_norm || m->norm_eps != 1e-5f)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "only the trainer's architecture (reflect padding, nearest_conv "
                           "upsampling, linear output, no final norm, eps 1e-5) can be extended");
    if (m->down[0].conv.kernel != 9 || m->out.conv.kernel != 9 ||
        m->residual_blocks > TRAIN_MAX_BLOCKS)
        return style__fail(STYLE_ERR_UNSUPPORTED, "the network's shape differs from the trainer's");
    return STYLE_OK;
}

style_status train_add_style_settings(train_settings *s, style_model **base)
{
    style_status status = STYLE_OK;
    style_model *m = NULL;
    *base = NULL;
    FAIL_IF(s->style_count != 1, STYLE_ERR_INVALID_ARGUMENT,
            "train: adding a style takes exactly one style image (%d given)", (int)s->style_count);
    TRY(style_model_load(s->add_style_to, NULL, &m));
    TRY(train_check_trainable(m));
    const int32_t old_styles = m->style_count ? m->style_count : 1;
    FAIL_IF(old_styles + 1 > TRAIN_MAX_STYLES, STYLE_ERR_LIMIT,
            "the model already has %d styles; at most %d are supported", (int)old_styles,
            TRAIN_MAX_STYLES);
    char new_name[TRAIN_STYLE_NAME_MAX];
    snprintf(new_name, sizeof new_name, "%s", s->style_names[0]);
    for (int32_t k = 0; k < old_styles; k++) {
        const char *name = m->style_count ? m->style_names[k] : NULL;
        if (!name) {
            /* A single-style model: its own name, else its file name. */
            name = style_model_metadata_get(m, "libstyle.name");
            if (!name || !*name) name = style__basename(s->add_style_to);
        }
        FAIL_IF(strlen(name) >= TRAIN_STYLE_NAME_MAX, STYLE_ERR_LIMIT, "style name too long");
        FAIL_IF(strcmp(name, new_name) == 0, STYLE_ERR_INVALID_ARGUMENT,
                "the model already has a style named '%s' (name the new one with --style-name)",
                name);
        snprintf(s->style_names[k], TRAIN_STYLE_NAME_MAX, "%s", name);
    }
    snprintf(s->style_names[old_styles], TRAIN_STYLE_NAME_MAX, "%s", new_name);
    for (int i = 0; i < 3; i++)
        s->net.widths[i] = m->down[i].conv.out_channels;
    s->net.residual_blocks = m->residual_blocks;
    s->net.batch_norm = false;
    s->net.styles = old_styles + 1;
    s->net.frozen_convs = true;
    s->first_style = old_styles;
    *base = m;
    return STYLE_OK;
fail:
    style_model_free(m);
    {
        char prefix[TRAIN_PATH_MAX + 64];
        snprintf(prefix, sizeof prefix, "train: adding a style to %s", s->add_style_to);
        style__prefix_error(prefix);
    }
    return status;
}

style_status train_add_style_params(const style_model *base, train_params *p)
{
    const int32_t old_styles = base->style_count ? base->style_count : 1;
    for (int32_t i = 0; i < p->count; i++) {
        const train_param *param = &p->params[i];
        float *dst = p->values + param->offset;
        const st_tensor *t = st_find(&base->file, param->name);
        if (!strstr(param->name, ".conv2d.")) {
            /* A norm's [styles, C] scale or shift: the old rows, then their mean. */
            const size_t c = (size_t)param->shape[1];
            if (!t || t->count != (size_t)old_styles * c)
                return style__fail(STYLE_ERR_FORMAT, "train: %s: unexpected tensor shape",
                                   param->name);
            memcpy(dst, t->data, t->count * sizeof(float));
            for (size_t j = 0; j < c; j++) {
                double sum = 0;
                for (int32_t k = 0; k < old_styles; k++)
                    sum += t->data[(size_t)k * c + j];
                dst[(size_t)old_styles * c + j] = (float)(sum / old_styles);
            }
            continue;
        }
        /* A convolution: the same tensor (an absent bias is zero). */
        if (!t) {
            memset(dst, 0, param->count * sizeof(float));
            continue;
        }
        if (t->count != param->count)
            return style__fail(STYLE_ERR_FORMAT, "train: %s: unexpected tensor shape", param->name);
        memcpy(dst, t->data, t->count * sizeof(float));
    }
    return STYLE_OK;
}
