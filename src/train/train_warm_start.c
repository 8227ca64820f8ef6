/*
 * Warm start: training a style from a trained model's weights instead of a random
 * initialisation (the quality issue's "warm start from another style's model"). A network
 * that already reproduces content only has to learn the new texture, which takes far fewer
 * iterations than learning both from noise. Every weight is trained.
 */
#include "train/train_add_style.h"
#include "train/train_warm_start.h"

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
    for (int i = 0; i < 3; i++) {
        const int32_t own = m->down[i].conv.out_channels;
        /* Widths not asked for, or the model's own: the model's. A whole multiple: widened. */
        if (!s->widths_given || s->net.widths[i] == own) {
            s->net.widths[i] = own;
            continue;
        }
        FAIL_IF(s->net.widths[i] < own || s->net.widths[i] % own != 0, STYLE_ERR_INVALID_ARGUMENT,
                "its widths are %d/%d/%d: a warm start keeps them or widens each by a whole "
                "factor, not to %d/%d/%d",
                (int)m->down[0].conv.out_channels, (int)m->down[1].conv.out_channels,
                (int)m->down[2].conv.out_channels, (int)s->net.widths[0], (int)s->net.widths[1],
                (int)s->net.widths[2]);
    }
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

/* The k fractions (random, positive, summing to one) that split one weight over the k copies
 * of the channel it reads. */
static void split_fractions(train_rng *rng, int64_t k, double *fractions)
{
    double sum = 0;
    for (int64_t c = 0; c < k; c++) {
        fractions[c] = 0.5 + train_rng_uniform(rng); /* 0.5..1.5: no copy nearly silent */
        sum += fractions[c];
    }
    for (int64_t c = 0; c < k; c++)
        fractions[c] /= sum;
}

/* param (shape [O', I', ...] or [O']) from t (shape [O, I, ...] or [O]) with O' = kO,
 * I' = jI: output channel o' is a copy of o' mod O; input channel i' reads channel i' mod I,
 * with its share of the weight. */
static style_status widen_tensor(const st_tensor *t, const train_param *param, train_rng *rng,
                                 float *dst)
{
    const int64_t out = t->shape[0], in = t->ndim > 1 ? t->shape[1] : 1;
    const int64_t new_out = param->shape[0], new_in = param->ndim > 1 ? param->shape[1] : 1;
    int64_t spatial = 1;
    for (int32_t d = 2; d < t->ndim; d++) {
        if (t->shape[d] != param->shape[d]) return STYLE_ERR_FORMAT;
        spatial *= t->shape[d];
    }
    if (t->ndim != param->ndim || t->ndim > 4 || out <= 0 || in <= 0 || new_out % out != 0 ||
        new_in % in != 0)
        return STYLE_ERR_FORMAT;
    const int64_t copies = new_in / in;
    double fractions[64];
    if (copies > 64) return STYLE_ERR_FORMAT;
    for (int64_t o = 0; o < new_out; o++) {
        for (int64_t i = 0; i < in; i++) {
            const float *src = t->data + ((o % out) * in + i) * spatial;
            for (int64_t x = 0; x < spatial; x++) {
                split_fractions(rng, copies, fractions);
                for (int64_t c = 0; c < copies; c++)
                    dst[(o * new_in + c * in + i) * spatial + x] = (float)(src[x] * fractions[c]);
            }
        }
    }
    return STYLE_OK;
}

style_status train_warm_start_params(const style_model *init, const char *path, uint64_t seed,
                                     train_params *p)
{
    /* Its own stream, so widening draws nothing from the training's. */
    train_rng rng;
    train_rng_seed(&rng, seed ^ 0x6e657432u);
    for (int32_t i = 0; i < p->count; i++) {
        const train_param *param = &p->params[i];
        float *dst = p->values + param->offset;
        const st_tensor *t = st_find(&init->file, param->name);
        /* A convolution may have no bias in the file: zero, as the model runs it. */
        if (!t && strstr(param->name, ".conv2d.bias")) {
            memset(dst, 0, param->count * sizeof(float));
            continue;
        }
        if (t && t->count == param->count) {
            memcpy(dst, t->data, t->count * sizeof(float));
            continue;
        }
        if (!t || widen_tensor(t, param, &rng, dst) != STYLE_OK)
            return style__fail(STYLE_ERR_FORMAT, "train: starting from %s: %s is %s", path,
                               param->name, t ? "of another shape" : "missing");
    }
    return STYLE_OK;
}
