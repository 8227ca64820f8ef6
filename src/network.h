/*
 * The transform network at one image size: a list of operations (pad, conv, norm, add) over a
 * fixed set of buffers, built once per size and re-run without allocating.
 */
#ifndef STYLE_NETWORK_H
#define STYLE_NETWORK_H

#include "layers.h"
#include "model.h"

/* Buffers every plan uses (NHWC float). */
enum plan_buffer {
    BUF_INPUT,  /* H x W x 3: the image, padded to a multiple of 4 */
    BUF_PADDED, /* reflection-padded / upsampled copy feeding the next conv */
    BUF_FULL,   /* H x W x width1 */
    BUF_HALF,   /* H/2 x W/2 x width2 */
    BUF_X,      /* H/4 x W/4 x width3: the residual stream */
    BUF_T,      /* inside a residual block */
    BUF_U,      /* inside a residual block */
    BUF_OUTPUT, /* H x W x 3: the network's output before the output head */
    BUF_COUNT
};

typedef enum plan_op_kind { OP_PAD, OP_CONV, OP_NORM, OP_ADD } plan_op_kind;

typedef struct plan_op {
    plan_op_kind kind;
    int src, dst; /* buffer indices (OP_ADD: dst += src) */
    /* OP_PAD */
    int32_t h, w, c, factor, pad;
    /* OP_CONV: the model's parameters, folded / transposed at bind time */
    const model_stage *stage;
    bool fold_norm;
    float eps;
    conv_layer conv;
    /* OP_NORM */
    norm_layer norm;
    /* OP_ADD */
    size_t count;
} plan_op;

typedef struct network_plan {
    int32_t height, width; /* the padded size the plan runs at (multiples of 4) */
    plan_op *ops;
    size_t op_count, op_capacity;
    size_t buffer_bytes[BUF_COUNT];
    float *buffers[BUF_COUNT];
    size_t scratchpad_bytes;
    void *scratchpad;
    dnnl_memory_t scratchpad_memory;
    uint64_t weights_bytes;
    bool bound;
} network_plan;

/* Pads a size up to the multiple of 4 the network needs. */
int32_t network_padded_size(int32_t n);

/*
 * Creates every primitive descriptor for a height x width run (multiples of 4) and computes
 * the memory the run needs, without allocating it.
 */
style_status network_plan_describe(network_plan *plan, const style_model *model,
                                   dnnl_engine_t engine, int32_t height, int32_t width);

/* Total bytes network_plan_bind will allocate (buffers, scratchpad, reordered weights). */
uint64_t network_plan_memory(const network_plan *plan);

/* Allocates buffers, creates primitives and reorders the weights. */
style_status network_plan_bind(network_plan *plan, dnnl_engine_t engine, dnnl_stream_t stream);

/*
 * Runs every operation on plan->buffers[BUF_INPUT] into plan->buffers[BUF_OUTPUT].
 * `progress` (may be NULL) gets the fraction of operations done; non-zero cancels.
 */
style_status network_plan_run(network_plan *plan, dnnl_stream_t stream,
                              int (*progress)(void *user, double fraction), void *user);

void network_plan_destroy(network_plan *plan);

#endif
