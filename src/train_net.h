/*
 * The transform network in training: its parameters (named exactly like the model file's
 * tensors, in one flat array with a gradient array beside it) and the forward / backward graph
 * on a batch of N images of S x S (pytorch/examples TransformerNet: reflection padding,
 * nearest x2 + conv upsampling, instance or batch norm, linear output).
 */
#ifndef STYLE_TRAIN_NET_H
#define STYLE_TRAIN_NET_H

#include "train_layers.h"

#define TRAIN_MAX_PARAMS 256
#define TRAIN_MAX_BLOCKS 16

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
    float *values, *grads;
} train_params;

/* Lays out the parameters of a configuration (values and grads zeroed). */
style_status train_params_create(train_params *p, const train_net_config *config);
/* PyTorch's default initialisation (kaiming-uniform convs, IN scale 1 shift 0) from `seed`. */
void train_params_init(train_params *p, uint64_t seed);
train_param *train_params_find(train_params *p, const char *name);
float *train_params_value(train_params *p, const char *name);
float *train_params_grad(train_params *p, const char *name);
void train_params_destroy(train_params *p);

/* One conv stage: [reflection pad (+ nearest x2)] -> conv -> [norm (+ ReLU)]. */
typedef struct train_stage {
    int32_t factor, pad;       /* pad / upsample before the conv (pad 0, factor 1 = none) */
    int32_t in_h, in_w, in_c;  /* the stage input's shape */
    float *src, *diff_src;     /* the stage input and where its gradient goes (NULL: none) */
    float *padded, *diff_padded;
    tconv conv;
    float *conv_out, *diff_conv_out;
    bool has_norm;
    tnorm norm;
    float *out, *diff_out; /* == conv_out when there is no norm */
    char norm_name[24];
} train_stage;

typedef struct train_net {
    train_params *params;
    int32_t n, size;
    float momentum; /* batch-norm running statistics */
    train_stage down[3], residual[TRAIN_MAX_BLOCKS][2], up[2], last;
    float *input;                        /* N x S x S x 3 */
    float *stream[TRAIN_MAX_BLOCKS + 1]; /* residual stream x_k, and its gradient */
    float *diff_stream[TRAIN_MAX_BLOCKS + 1];
    float *diff_scratch;                 /* one residual-stream-sized gradient buffer */
    void *scratchpad;
    dnnl_memory_t scratchpad_memory;
} train_net;

style_status train_net_create(train_net *net, train_params *params, dnnl_engine_t engine,
                              int32_t n, int32_t size);
/* Runs the batch in net->input; returns the output (N x S x S x 3, unclamped 0..255 scale).
 * `training` updates batch-norm running statistics. */
style_status train_net_forward(train_net *net, dnnl_stream_t stream, bool training,
                               const float **output);
/* The buffer (N x S x S x 3) where the caller puts d loss / d output before backward. */
float *train_net_diff_output(train_net *net);
/* Conditional instance norm: the style (row) the next forward and backward passes use. */
void train_net_set_style(train_net *net, int32_t style);
/* Backpropagates the output gradient into params->grads (overwritten). */
style_status train_net_backward(train_net *net, dnnl_stream_t stream);
void train_net_destroy(train_net *net);

#endif
