/* The table of Johnson's transform network (johnson_topology.h) and its walk. */
#include "arch/johnson_topology.h"

#include <stdio.h>

static const johnson_stage_spec stages[] = {
    {JOHNSON_DOWN, 0, "conv1", "in1", 1, false, -1, true, false, false, 9},
    {JOHNSON_DOWN, 1, "conv2", "in2", 2, false, -1, true, false, false, 3},
    {JOHNSON_DOWN, 2, "conv3", "in3", 2, false, -1, true, false, false, 3},
    {JOHNSON_RESIDUAL_1, 0, "conv1", "in1", 1, false, 2, true, false, true, 3},
    {JOHNSON_RESIDUAL_2, 1, "conv2", "in2", 1, false, 2, false, false, true, 3},
    {JOHNSON_UP, 0, "deconv1", "in4", 1, true, 1, true, false, false, 3},
    {JOHNSON_UP, 1, "deconv2", "in5", 1, true, 0, true, false, false, 3},
    {JOHNSON_OUT, 0, "deconv3", "in6", 1, false, -2, false, true, false, 9},
};
enum { BEFORE_BLOCKS = 3, BLOCK_STAGES = 2, AFTER_BLOCKS = 3 };

int32_t johnson_step_count(int32_t blocks)
{
    return BEFORE_BLOCKS + BLOCK_STAGES * blocks + AFTER_BLOCKS;
}

void johnson_step_at(int32_t blocks, int32_t index, johnson_step *step)
{
    int32_t row = index, block = -1;
    if (index >= BEFORE_BLOCKS + BLOCK_STAGES * blocks) {
        row = index - BLOCK_STAGES * blocks + BLOCK_STAGES;
    } else if (index >= BEFORE_BLOCKS) {
        block = (index - BEFORE_BLOCKS) / BLOCK_STAGES;
        row = BEFORE_BLOCKS + (index - BEFORE_BLOCKS) % BLOCK_STAGES;
    }
    step->spec = &stages[row];
    step->block = block;
    if (step->spec->repeated) {
        snprintf(step->conv_name, sizeof step->conv_name, "res%d.%s", (int)block + 1,
                 step->spec->conv);
        snprintf(step->norm_name, sizeof step->norm_name, "res%d.%s", (int)block + 1,
                 step->spec->norm);
    } else {
        snprintf(step->conv_name, sizeof step->conv_name, "%s", step->spec->conv);
        snprintf(step->norm_name, sizeof step->norm_name, "%s", step->spec->norm);
    }
}

int32_t johnson_step_width(const johnson_step *step, const int32_t widths[3])
{
    const johnson_stage_spec *spec = step->spec;
    if (spec->out_like == -2) return 3;
    return widths[spec->out_like == -1 ? spec->index : spec->out_like];
}

model_stage *johnson_model_stage(style_model *model, const johnson_step *step)
{
    switch (step->spec->kind) {
    case JOHNSON_DOWN:
        return &model->down[step->spec->index];
    case JOHNSON_RESIDUAL_1:
    case JOHNSON_RESIDUAL_2:
        return &model->residual[step->block][step->spec->index];
    case JOHNSON_UP:
        return &model->up[step->spec->index];
    case JOHNSON_OUT:
        break;
    }
    return &model->out;
}

const model_stage *johnson_model_stage_const(const style_model *model, const johnson_step *step)
{
    return johnson_model_stage((style_model *)model, step);
}
