/*
 * The styles of a johnson-cin model (Dumoulin et al., conditional instance norm): their names,
 * and the per-norm scale and shift of a convex combination of them. The convolutions are
 * shared by every style; only these parameters differ.
 */
#include "model/model.h"
#include "arch/johnson_topology.h"

#include <math.h>
#include <string.h>

int32_t model_norms(style_model *model, model_norm **norms)
{
    /* Every stage's of Johnson's table, the output's when it has one (in6). */
    int32_t count = 0;
    for (int32_t i = 0; i < johnson_step_count(model->residual_blocks); i++) {
        johnson_step step;
        johnson_step_at(model->residual_blocks, i, &step);
        model_stage *stage = johnson_model_stage(model, &step);
        if (step.spec->optional_norm && !stage->has_norm) continue;
        norms[count++] = &stage->norm;
    }
    return count;
}

size_t model_style_param_count(const style_model *model)
{
    model_norm *norms[MODEL_MAX_NORMS];
    int32_t count = model_norms((style_model *)model, norms);
    size_t total = 0;
    for (int32_t i = 0; i < count; i++)
        total += 2 * (size_t)norms[i]->channels;
    return total;
}

void model_blend_styles(const style_model *model, const double *weights, float *params)
{
    model_norm *norms[MODEL_MAX_NORMS];
    int32_t count = model_norms((style_model *)model, norms);
    const int32_t styles = model->style_count;
    for (int32_t i = 0; i < count; i++) {
        const model_norm *norm = norms[i];
        const int32_t c = norm->channels;
        for (int32_t k = 0; k < c; k++) {
            double scale = 0, shift = 0;
            for (int32_t s = 0; s < styles; s++) {
                scale += weights[s] * norm->style_scale[(size_t)s * c + k];
                shift += weights[s] * norm->style_shift[(size_t)s * c + k];
            }
            params[k] = (float)scale;
            params[c + k] = (float)shift;
        }
        params += 2 * (size_t)c;
    }
}

style_status model_check_style_weights(const style_model *model, const float *weights, size_t count,
                                       const char *what, double *normalised)
{
    if (!weights) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s: weights is NULL", what);
    if (count != (size_t)model->style_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s: %zu weights given, the model has %d styles", what, count,
                           (int)model->style_count);
    double sum = 0;
    for (size_t s = 0; s < count; s++) {
        if (!isfinite(weights[s]) || weights[s] < 0)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "%s: weight %zu (%g) is not a finite number >= 0", what, s,
                               (double)weights[s]);
        sum += weights[s];
    }
    if (!(sum > 0))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s: the weights sum to 0", what);
    for (size_t s = 0; s < count; s++)
        normalised[s] = weights[s] / sum;
    return STYLE_OK;
}

size_t style_model_style_count(const style_model *model)
{
    return model ? (size_t)model->style_count : 0;
}

const char *style_model_style_name(const style_model *model, size_t index)
{
    if (!model || index >= (size_t)model->style_count) return NULL;
    return model->style_names[index];
}

int64_t style_model_find_style(const style_model *model, const char *name)
{
    if (!model || !name) return -1;
    for (int32_t s = 0; s < model->style_count; s++)
        if (strcmp(model->style_names[s], name) == 0) return s;
    return -1;
}
