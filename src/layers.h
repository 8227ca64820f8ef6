/*
 * The layers of the transform network, each a thin wrapper over one oneDNN primitive (or a
 * plain loop), on NHWC float32 tensors with N = 1. A layer is set up in two steps so that a
 * session can learn the memory a run needs before allocating it:
 *   *_describe: primitive descriptor, output size, scratchpad size (no large allocations);
 *   *_bind:     primitive, weights reordered once into the primitive's layout, buffers bound.
 */
#ifndef STYLE_LAYERS_H
#define STYLE_LAYERS_H

#include "backend.h"

/* ---- Convolution / transposed convolution ------------------------------------------------ */

typedef struct conv_spec {
    int32_t in_channels, out_channels;
    int32_t kernel, stride;
    /* Zero padding applied by the primitive (conv), or the crop of a transposed conv's full
     * output: rows [pad_top, full - pad_bottom) are kept. */
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    bool transposed; /* oneDNN deconvolution; weights still passed as [out, in, k, k] */
    bool relu;       /* fused ReLU post-op */
    bool sum;        /* fused dst += result (residual add), applied before the ReLU */
} conv_spec;

typedef struct conv_layer {
    conv_spec spec;
    int32_t in_h, in_w, out_h, out_w;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, bias, dst;
    void *weights_buffer;
    float *bias_buffer;
    size_t scratchpad_bytes;
    size_t weights_bytes; /* reordered weights + bias, for the memory estimate */
} conv_layer;

/* in: in_h x in_w x in_channels. Fills layer->out_h/out_w and the scratchpad size. */
style_status conv_layer_describe(conv_layer *layer, dnnl_engine_t engine, const conv_spec *spec,
                                 int32_t in_h, int32_t in_w);
/* weights: [out, in, k, k] float; bias: [out] or NULL (zero). src/dst: NHWC buffers. */
style_status conv_layer_bind(conv_layer *layer, dnnl_engine_t engine, dnnl_stream_t stream,
                             const float *weights, const float *bias, float *src, float *dst);
style_status conv_layer_forward(conv_layer *layer, dnnl_stream_t stream, dnnl_memory_t scratchpad);
void conv_layer_destroy(conv_layer *layer);

/* ---- Instance normalization (batch norm on the N = 1 view), optional fused ReLU -------- */

typedef struct norm_layer {
    int32_t channels, h, w;
    float eps;
    bool relu;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t data, scale, shift;
    size_t scratchpad_bytes;
} norm_layer;

style_status norm_layer_describe(norm_layer *layer, dnnl_engine_t engine, int32_t channels,
                                 int32_t h, int32_t w, float eps, bool relu);
/* In place on `data` (h x w x channels). scale/shift: [channels], kept by reference. */
style_status norm_layer_bind(norm_layer *layer, dnnl_engine_t engine, const float *scale,
                             const float *shift, float *data);
style_status norm_layer_forward(norm_layer *layer, dnnl_stream_t stream, dnnl_memory_t scratchpad);
void norm_layer_destroy(norm_layer *layer);

/* ---- Plain loops ----------------------------------------------------------------------- */

/*
 * Reflection padding, optionally after nearest-neighbour upsampling by `factor` (1 or 2):
 * dst (h*factor + 2*pad) x (w*factor + 2*pad) x c from src h x w x c. Reflection excludes the
 * edge (PyTorch ReflectionPad2d); where a side is too small to reflect (pad >= size), the edge
 * is replicated instead, so any size >= 1 works.
 */
void pad_reflect_nhwc(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                      int32_t pad, float *dst);

/* Index of the source sample for padded coordinate i (may be < 0 or >= n). */
int32_t pad_reflect_index(int32_t i, int32_t n);

/* x += y over count floats (the residual connection). */
void residual_add(float *x, const float *y, size_t count);

#endif
