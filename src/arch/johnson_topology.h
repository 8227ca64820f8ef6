/*
 * Johnson et al.'s transform network as one table of stages, the only place its topology is
 * written: three down-sampling stages, B residual blocks of two stages each, two upsampling
 * stages and the output convolution, each a convolution followed by a norm (and ReLU):
 *
 *   conv1 (9x9, 3 -> c1)        in1 + ReLU
 *   conv2 (3x3 /2, c1 -> c2)    in2 + ReLU
 *   conv3 (3x3 /2, c2 -> c3)    in3 + ReLU
 *   resB.conv1 (3x3, c3 -> c3)  resB.in1 + ReLU
 *   resB.conv2 (3x3, c3 -> c3)  resB.in2, added to the block's input     (B = 0, 1, ...)
 *   deconv1 (x2, c3 -> c2)      in4 + ReLU
 *   deconv2 (x2, c2 -> c1)      in5 + ReLU
 *   deconv3 (9x9, c1 -> 3)      in6 when libstyle.final_norm = instance
 *
 * (The kernels are the usual ones, the trainer's; a file's own come from its tensors.) Loading
 * (johnson_model.c), the norms in order (model_norms), the ml5 import's variables
 * (import_ml5.c), the inference plan (network.c), the bands (banded.c), the training graph and
 * its parameters (train_net.c) and the export of a trained model (train_checkpoint.c) walk
 * this table.
 */
#ifndef STYLE_JOHNSON_TOPOLOGY_H
#define STYLE_JOHNSON_TOPOLOGY_H

#include "model/model.h"

typedef enum johnson_stage_kind {
    JOHNSON_DOWN,       /* down[i]: conv1 .. conv3 */
    JOHNSON_RESIDUAL_1, /* residual[b][0] */
    JOHNSON_RESIDUAL_2, /* residual[b][1]: its output is added to the block's input */
    JOHNSON_UP,         /* up[i]: x2 upsampling (nearest + conv, or a transposed conv) */
    JOHNSON_OUT         /* out: the output convolution */
} johnson_stage_kind;

/* One row of the table. */
typedef struct johnson_stage_spec {
    johnson_stage_kind kind;
    int32_t index;           /* down[index] / up[index]; 0 or 1 within a residual block */
    const char *conv, *norm; /* tensor prefixes (repeated: after "res<block from 1>.") */
    int32_t stride;          /* of a regular convolution; upsampling stages: see upsample */
    bool upsample;           /* x2: stride 2 when transposed, nearest x2 + stride 1 else */
    /* Output channels: -1 from the weight's shape, -2 three (RGB), else those of down[n]. */
    int32_t out_like;
    bool relu;          /* ReLU after the norm */
    bool optional_norm; /* the norm only with libstyle.final_norm = instance (in6) */
    bool repeated;      /* once per residual block */
    int32_t kernel;     /* the usual kernel (9 or 3): what the trainer creates */
} johnson_stage_spec;

/* One stage of a particular model: a table row, its block (residual) and its names. */
typedef struct johnson_step {
    const johnson_stage_spec *spec;
    int32_t block; /* residual stages: the block (from 0); else -1 */
    char conv_name[32], norm_name[32];
} johnson_step;

/* Stages of a network with `blocks` residual blocks (3 + 2 x blocks + 3). */
int32_t johnson_step_count(int32_t blocks);
/* Stage `index` (0 .. johnson_step_count - 1) of a network with `blocks` residual blocks. */
void johnson_step_at(int32_t blocks, int32_t index, johnson_step *step);
/* The output channels of that stage in a network of widths c1, c2, c3 (`widths`). */
int32_t johnson_step_width(const johnson_step *step, const int32_t widths[3]);
/* The model's parameters of that stage. */
model_stage *johnson_model_stage(style_model *model, const johnson_step *step);
const model_stage *johnson_model_stage_const(const style_model *model, const johnson_step *step);

#endif
