/*
 * Loading the Johnson transform network (arch johnson, johnson-cin): the tensors of the
 * pytorch/examples TransformerNet state_dict, checked name by name and shape by shape, into
 * the model's down / residual / up / out stages.
 */
#include "arch/johnson.h"
#include "arch/johnson_topology.h"
#include "model/model.h"

#include <stdio.h>
#include <string.h>

/*
 * Loads "<prefix>.conv2d.weight" (+ optional bias). in_channels/out_channels of 0 are taken
 * from the shape. Kernels must be square; regular convs need an odd kernel ("same" padding).
 */
static style_status load_conv(style_model *model, const char *prefix, int32_t in_channels,
                              int32_t out_channels, int32_t stride, bool transposed,
                              model_conv *conv)
{
    style_status status = STYLE_OK;
    char name[96];
    st_tensor *weight, *bias;
    snprintf(name, sizeof name, "%s.conv2d.weight", prefix);
    int64_t want[4] = {transposed ? in_channels : out_channels,
                       transposed ? out_channels : in_channels, 0, 0};
    TRY(model_take_tensor(model, name, 4, want, &weight));
    int64_t k = weight->shape[2];
    FAIL_IF(weight->shape[3] != k || k < 1 || k > 15, STYLE_ERR_FORMAT,
            "tensor '%s' has a %lldx%lld kernel; square kernels of 1..15 are supported", name,
            (long long)weight->shape[2], (long long)weight->shape[3]);
    FAIL_IF(!transposed && k % 2 == 0, STYLE_ERR_FORMAT,
            "tensor '%s' has an even kernel size %lld; convolutions need odd kernels", name,
            (long long)k);
    FAIL_IF(transposed && (k < 2 || (model->upsample == UPSAMPLE_TRANSPOSED_TORCH && k % 2 == 0)),
            STYLE_ERR_FORMAT, "tensor '%s': transposed kernel size %lld is not supported", name,
            (long long)k);
    FAIL_IF(weight->shape[0] < 1 || weight->shape[1] < 1 || weight->shape[0] > 4096 ||
                weight->shape[1] > 4096,
            STYLE_ERR_FORMAT, "tensor '%s' has an unsupported channel count", name);
    conv->transposed = transposed;
    conv->in_channels = (int32_t)(transposed ? weight->shape[0] : weight->shape[1]);
    conv->out_channels = (int32_t)(transposed ? weight->shape[1] : weight->shape[0]);
    conv->kernel = (int32_t)k;
    conv->stride = stride;
    conv->weight = weight->data;
    model->parameter_count += weight->count;
    snprintf(name, sizeof name, "%s.conv2d.bias", prefix);
    int64_t bias_shape[1] = {conv->out_channels};
    TRY(model_take_optional(model, name, 1, bias_shape, &bias));
    conv->bias = bias ? bias->data : NULL;
    if (bias) {
        model->has_bias = true;
        model->parameter_count += bias->count;
    }
    return STYLE_OK;
fail:
    return status;
}

/* Loads "<prefix>.weight/.bias" (+ running stats for batch norm) for `channels`. */
static style_status load_norm(style_model *model, const char *prefix, int32_t channels,
                              model_norm *norm)
{
    style_status status = STYLE_OK;
    char name[96];
    st_tensor *t;
    /* johnson-cin: one row per style ([S, C]); scale/shift start at style 0's row. */
    const int32_t styles = model->style_count;
    int64_t shape[2] = {styles ? styles : channels, channels};
    const int32_t ndim = styles ? 2 : 1;
    norm->channels = channels;
    snprintf(name, sizeof name, "%s.weight", prefix);
    TRY(model_take_tensor(model, name, ndim, shape, &t));
    norm->scale = t->data;
    snprintf(name, sizeof name, "%s.bias", prefix);
    TRY(model_take_tensor(model, name, ndim, shape, &t));
    norm->shift = t->data;
    if (styles) {
        norm->style_scale = norm->scale;
        norm->style_shift = norm->shift;
    }
    model->parameter_count += 2 * (uint64_t)channels * (uint64_t)(styles ? styles : 1);
    if (model->norm == NORM_BATCH) {
        snprintf(name, sizeof name, "%s.running_mean", prefix);
        TRY(model_take_tensor(model, name, 1, shape, &t));
        norm->running_mean = t->data;
        snprintf(name, sizeof name, "%s.running_var", prefix);
        TRY(model_take_tensor(model, name, 1, shape, &t));
        norm->running_var = t->data;
        for (int32_t c = 0; c < channels; c++)
            FAIL_IF(!(norm->running_var[c] >= 0), STYLE_ERR_FORMAT,
                    "tensor '%s' has a negative or NaN variance", name);
    }
    return STYLE_OK;
fail:
    return status;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

style_status johnson_model_load(style_model *model)
{
    style_status status = STYLE_OK;
    char probe[64];
    const bool transposed = model->upsample != UPSAMPLE_NEAREST_CONV;

    /* The residual blocks are res1, res2, ... as long as their first conv is there. */
    int32_t blocks = 0;
    for (;; blocks++) {
        snprintf(probe, sizeof probe, "res%d.conv1.conv2d.weight", (int)blocks + 1);
        if (!st_find(&model->file, probe)) break;
        FAIL_IF(blocks >= MODEL_MAX_RESIDUAL_BLOCKS, STYLE_ERR_FORMAT,
                "more than %d residual blocks", MODEL_MAX_RESIDUAL_BLOCKS);
    }
    model->residual_blocks = blocks;

    /* The stages in network order: each reads what the one before it wrote. */
    int32_t in_channels = 3;
    for (int32_t i = 0; i < johnson_step_count(blocks); i++) {
        johnson_step step;
        johnson_step_at(blocks, i, &step);
        const johnson_stage_spec *spec = step.spec;
        model_stage *stage = johnson_model_stage(model, &step);
        const bool transposed_up = spec->upsample && transposed;
        const int32_t out = spec->out_like == -1   ? 0
                            : spec->out_like == -2 ? 3
                                                   : model->down[spec->out_like].conv.out_channels;
        TRY(load_conv(model, step.conv_name, in_channels, out, transposed_up ? 2 : spec->stride,
                      transposed_up, &stage->conv));
        stage->has_norm = !spec->optional_norm || model->final_norm;
        if (stage->has_norm)
            TRY(load_norm(model, step.norm_name, stage->conv.out_channels, &stage->norm));
        in_channels = stage->conv.out_channels;
    }

    /* Everything else must be a name the rules allow us to ignore. */
    for (size_t i = 0; i < model->file.tensor_count; i++) {
        const st_tensor *t = &model->file.tensors[i];
        if (t->used || strncmp(t->name, "extra.", 6) == 0) continue;
        if (has_suffix(t->name, ".num_batches_tracked")) continue;
        if (model->norm == NORM_INSTANCE &&
            (has_suffix(t->name, ".running_mean") || has_suffix(t->name, ".running_var")))
            continue;
        FAIL_IF(true, STYLE_ERR_FORMAT, "unexpected tensor '%s' (dtype %s)", t->name, t->dtype);
    }
    return STYLE_OK;
fail:
    return status;
}
