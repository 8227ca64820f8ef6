/*
 * The transform network at one image size and precision: a list of operations (oneDNN
 * convolutions, our direct convolution, fused norm passes) over a fixed set of buffers, built
 * once per size and re-run without allocating.
 */
#ifndef STYLE_NETWORK_H
#define STYLE_NETWORK_H

#include "dnn/layers.h"
#include "model/model.h"

/* Arithmetic of the convolutions. */
typedef enum net_precision { NET_FP32 = 0, NET_BF16, NET_INT8 } net_precision;

/* Buffers a plan uses (NHWC). BUF_INPUT and BUF_OUTPUT are dense f32 H x W x 3. */
enum plan_buffer {
    BUF_INPUT,  /* H x W x 3: the image, padded to a multiple of 4 */
    BUF_OUTPUT, /* H x W x 3: the network's output before the output head */
    BUF_IN_Q,   /* the first conv's input in its type / padding */
    BUF_FULL_C, /* full-resolution conv outputs (or sub-pixel phases) */
    BUF_FULL_N, /* full-resolution conv inputs (normalized) */
    BUF_HALF_C, /* half resolution */
    BUF_HALF_N,
    BUF_X,      /* quarter resolution: the residual stream (f32) */
    BUF_XQ,     /* the residual stream as the convs read it (type / padding) */
    BUF_T,      /* inside a residual block: first conv's output */
    BUF_TN,     /* ... normalized, as the second conv reads it */
    BUF_U,      /* ... second conv's output */
    BUF_COUNT
};

/* A place in a buffer (resolved to a pointer at bind). */
typedef struct buf_ref {
    int buffer;
    size_t offset;
} buf_ref;

typedef enum plan_op_kind { OP_CONV, OP_DIRECT, OP_NORM } plan_op_kind;

typedef struct plan_op {
    plan_op_kind kind;
    char name[32];  /* "conv1", "in1", "res3.conv2", "deconv1.p2", ... */
    double flops;   /* nominal FLOPs of the network attributed to this op (convs) */
    double executed_flops; /* FLOPs its primitive runs (a sub-pixel phase: its smaller kernel
                              on its own output; otherwise = flops) */
    buf_ref src, dst;
    /* OP_CONV / OP_DIRECT: weights prepared at describe ([out, in, kh, kw]), freed at bind */
    float *weights, *bias;
    conv_layer conv;
    direct_conv direct;
    /* OP_NORM */
    norm_layer norm;
    buf_ref sources[4], residual;
    const model_stage *stage; /* scale/shift of the norm */
    int scale_from;           /* int8: op whose output scale is this norm's source step; -1 */
    float *cscale;            /* int8 dst: relative step per channel (owned) */
} plan_op;

typedef struct network_plan {
    int32_t height, width; /* the padded size the plan runs at (multiples of 4) */
    net_precision precision;
    plan_op *ops;
    size_t op_count, op_capacity;
    size_t buffer_bytes[BUF_COUNT];
    float *buffers[BUF_COUNT]; /* typed per use; float * for the f32 ones' convenience */
    size_t scratchpad_bytes;
    dnn_scratchpad *scratchpad;
    uint64_t weights_bytes;
    double flops;  /* nominal FLOPs of one run (2 x multiply-adds of the model's convolutions) */
    double executed_flops; /* FLOPs the primitives of one run execute (sum over the ops) */
    double *op_ms; /* when non-NULL, network_plan_run adds each op's milliseconds here */
    double buffers_ms; /* bind: allocating and first-touching the activation buffers */
    bool circular;     /* circular (wrap-around) padding everywhere: tileable output */
    bool bound;
} network_plan;

/* Pads a size up to the multiple of 4 the network needs. */
int32_t network_padded_size(int32_t n);

/* Whether this machine (as oneDNN sees it) runs a precision natively. */
bool network_precision_supported(net_precision precision);

/*
 * Creates every primitive descriptor for a height x width run (multiples of 4) and computes
 * the memory the run needs, without allocating it. network_plan_describe is fp32.
 */
style_status network_plan_describe(network_plan *plan, const style_model *model, dnn_context *dnn,
                                   int32_t height, int32_t width);
style_status network_plan_describe_ex(network_plan *plan, const style_model *model,
                                      dnn_context *dnn, int32_t height, int32_t width,
                                      net_precision precision);

/*
 * The same with circular padding in every convolution, sub-pixel phase and upsampling
 * instead of the model's reflection / zero padding: a periodic input (a tileable texture)
 * gives a periodic output. Every precision works; height and width are multiples of 4.
 */
style_status network_plan_describe_circular(network_plan *plan, const style_model *model,
                                            dnn_context *dnn, int32_t height, int32_t width,
                                            net_precision precision, bool circular);

/* Total bytes network_plan_bind will allocate (buffers, scratchpad, reordered weights). */
uint64_t network_plan_memory(const network_plan *plan);

/* Allocates buffers, creates primitives and reorders the weights. */
style_status network_plan_bind(network_plan *plan, dnn_context *dnn);

/*
 * Runs every operation on plan->buffers[BUF_INPUT] into plan->buffers[BUF_OUTPUT].
 * `progress` (may be NULL) gets the fraction of operations done; non-zero cancels.
 */
style_status network_plan_run(network_plan *plan, dnn_context *dnn,
                              int (*progress)(void *user, double fraction), void *user);

void network_plan_destroy(network_plan *plan);

#endif
