/*
 * The transform network in training: its parameters (named exactly like the model file's
 * tensors, in one flat array with a gradient array beside it) and the forward / backward graph
 * on a batch of N images of S x S (pytorch/examples TransformerNet: reflection padding,
 * nearest x2 + conv upsampling, instance or batch norm, linear output).
 */
#ifndef STYLE_TRAIN_NET_H
#define STYLE_TRAIN_NET_H

#include "arch/johnson_topology.h"
#include "dnn/train_layers.h"

#define TRAIN_MAX_PARAMS 256
#define TRAIN_MAX_BLOCKS 16
/* Stages of a network of TRAIN_MAX_BLOCKS blocks (johnson_step_count). */
#define TRAIN_MAX_STAGES (6 + 2 * TRAIN_MAX_BLOCKS)

typedef struct train_param {
    char name[48];
    int32_t ndim;
    int64_t shape[4];
    size_t offset, count;
    bool trainable; /* false: batch-norm running statistics */
} train_param;

#define TRAIN_MAX_STYLES 32

typedef struct train_net_config {
    int32_t widths[3];       /* 32 64 128 */
    int32_t residual_blocks; /* 5 */
    bool batch_norm;         /* false: instance norm */
    /* Conditional instance norm (johnson-cin, Dumoulin et al.): every norm's scale and shift
     * are [styles, C], one row per style; 0: a single-style network ([C]). */
    int32_t styles;
    /* The convolutions are fixed (adding a style to a trained model): no weight gradients. */
    bool frozen_convs;
} train_net_config;

typedef struct train_params {
    train_net_config config;
    train_param params[TRAIN_MAX_PARAMS];
    int32_t count;
    size_t total;
    bool overflow; /* train_params_add was called too often */
    float *values, *grads;
} train_params;

/* Generic layout for other networks: add every parameter (up to TRAIN_MAX_PARAMS, in order),
 * then allocate (values and grads zeroed). */
void train_params_add(train_params *p, const char *name, int32_t ndim, const int64_t *shape,
                      bool trainable);
style_status train_params_allocate(train_params *p);
/* Lays out the parameters of a configuration (values and grads zeroed). */
style_status train_params_create(train_params *p, const train_net_config *config);
/* PyTorch's default initialisation (kaiming-uniform convs: every 4-d weight and the bias after
 * it; other weights 1, other biases 0) from `seed`. */
void train_params_init(train_params *p, uint64_t seed);
train_param *train_params_find(train_params *p, const char *name);
float *train_params_value(train_params *p, const char *name);
float *train_params_grad(train_params *p, const char *name);
void train_params_destroy(train_params *p);

/* One conv stage: [reflection pad (+ nearest x2)] -> conv -> [norm (+ ReLU)]. */
typedef struct train_stage {
    int32_t factor, pad;         /* pad / upsample before the conv (pad 0, factor 1 = none) */
    int32_t in_h, in_w, in_c;    /* the stage input's shape */
    float *src, *diff_src;       /* the stage input and where its gradient goes (NULL: none) */
    bool padding;                /* factor > 1 or pad > 0: the conv reads a padded copy */
    float *padded, *diff_padded; /* padded: NULL when the conv reads padded_bf16 instead */
    uint16_t *padded_bf16;       /* bf16 layers: padded and converted in one pass (the conv's
                                    own bf16 source, tconv_bf16_source) */
    tconv conv;
    float *conv_out, *diff_conv_out;
    bool has_norm;
    tnorm norm;
    float *out, *diff_out; /* == conv_out when there is no norm */
    char norm_name[24];
    bool frozen;  /* inference: no gradients (diff buffers NULL) */
    bool blocked; /* every tensor in nChw8c (train_stage_desc.blocked) */
} train_stage;

/* How to build a stage (train_stage_create). */
typedef struct train_stage_desc {
    float *src, *diff_src; /* input (n x h x w x in_c) and its gradient (NULL: none) */
    int32_t h, w, in_c;
    int32_t factor, pad, stride; /* nearest x factor, then reflection pad, conv stride */
    const char *weight, *bias;   /* parameter names (bias NULL: none) */
    float slope;                 /* activation fused into the conv when there is no norm:
                                    < 0 none, 0 ReLU, > 0 leaky */
    const char *norm;            /* "<norm>.weight/.bias" parameters, or NULL */
    bool batch_norm, relu;       /* the norm's kind and its ReLU */
    bool frozen;                 /* forward only, weights fixed (inference) */
    bool frozen_weights;         /* conv weights fixed, gradients still flow (johnson-cin) */
    bool bf16;                   /* the conv computes in bf16 (tconv_create_layout) */
    bool blocked;                /* input, output and their gradients in nChw8c, not NHWC
                                    (in_c and the output channels multiples of 8) */
} train_stage_desc;

style_status train_stage_create(train_stage *st, train_params *p, int32_t n, dnn_context *dnn,
                                const train_stage_desc *d, size_t *scratch);
style_status train_stage_forward(train_stage *st, int32_t n, dnn_context *dnn,
                                 dnn_scratchpad *scratchpad);
/* Needs the gradient of the stage's output in st->diff_out; writes the parameters' gradients
 * and (if the stage has one) the input's. */
style_status train_stage_backward(train_stage *st, int32_t n, dnn_context *dnn,
                                  dnn_scratchpad *scratchpad);
void train_stage_destroy(train_stage *st);

/* The graph's parts, for timing: downsampling, residual blocks, upsampling, output layer. */
enum { TRAIN_PART_DOWN, TRAIN_PART_RESIDUAL, TRAIN_PART_UP, TRAIN_PART_LAST, TRAIN_PARTS };

/* Wall-clock seconds accumulated by train_net_forward / train_net_backward while
 * train_net.timing points at one (the training benchmark's split); nothing is measured
 * otherwise. The caller zeroes it. */
typedef struct train_net_timing {
    double forward, backward;
    double forward_part[TRAIN_PARTS], backward_part[TRAIN_PARTS];
} train_net_timing;

typedef struct train_net {
    train_params *params;
    train_net_timing *timing; /* NULL: no timing */
    int32_t n, size;
    float momentum; /* batch-norm running statistics */
    /* One stage per step of Johnson's table (johnson_topology.h), in its order: stage[i] is
     * step[i]'s; stage_count = johnson_step_count(blocks). */
    int32_t stage_count;
    train_stage stage[TRAIN_MAX_STAGES];
    johnson_step step[TRAIN_MAX_STAGES];
    float *input;                        /* N x S x S x 3 */
    float *stream[TRAIN_MAX_BLOCKS + 1]; /* residual stream x_k, and its gradient */
    float *diff_stream[TRAIN_MAX_BLOCKS + 1];
    float *diff_scratch; /* one residual-stream-sized gradient buffer */
    /* The stages that read less than the full size (conv3 .. deconv2) in nChw8c
     * (train_net_create_layout): oneDNN's AVX2 convolutions take about half the time of NHWC's
     * there (a third for the upsampling convs' backward-weights). conv2's NHWC output is
     * reordered into blocked_in, deconv2's blocked output into blocked_out (NHWC) for the last
     * conv, and their gradients back: two reorders each way per step. */
    bool blocked;
    bool bf16; /* convolutions in bf16 mixed precision (tconv.bf16) */
    float *blocked_in, *diff_blocked_in, *blocked_out, *diff_blocked_out;
    dnn_scratchpad *scratchpad;
} train_net;

/* bf16: the convolutions compute in bf16 mixed precision (tconv.bf16); norms, the residual
 * stream and the output stay f32. */
style_status train_net_create(train_net *net, train_params *params, dnn_context *dnn, int32_t n,
                              int32_t size, bool bf16);
/* The activation layout of the middle stages (conv3 .. deconv2). train_net_create chooses
 * BLOCKED (nChw8c; widths multiples of 8) on AVX2 processors without AVX-512, unless
 * one of its convolutions would run oneDNN's reference code, and NHWC elsewhere. */
typedef enum train_layout { TRAIN_LAYOUT_NHWC, TRAIN_LAYOUT_BLOCKED } train_layout;
style_status train_net_create_layout(train_net *net, train_params *params, dnn_context *dnn,
                                     int32_t n, int32_t size, train_layout layout, bool bf16);
/* Runs the batch in net->input; returns the output (N x S x S x 3, unclamped 0..255 scale).
 * `training` updates batch-norm running statistics. */
style_status train_net_forward(train_net *net, dnn_context *dnn, bool training,
                               const float **output);
/* The buffer (N x S x S x 3) where the caller puts d loss / d output before backward. */
float *train_net_diff_output(train_net *net);
/* Conditional instance norm: the style (row) the next forward and backward passes use. */
void train_net_set_style(train_net *net, int32_t style);
/* Backpropagates the output gradient into params->grads (overwritten). */
style_status train_net_backward(train_net *net, dnn_context *dnn);
void train_net_destroy(train_net *net);
/* Multiply-adds of one training step (forward and backward) of the graph: `executed` those
 * the primitives run, `nominal` those of the network as written (nearest x2 + conv counted at
 * the upsampled size); equal unless a stage runs a cheaper equivalent. */
void train_net_count_macs(const train_net *net, double *executed, double *nominal);

#endif
