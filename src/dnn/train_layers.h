/*
 * Layers with forward (training) and backward passes, on NHWC float32 tensors with a batch
 * of N images, for the trainer and the loss (feature) networks. Weight memory is the caller's,
 * in PyTorch layouts ([out, in, k, k]; transposed convs [in, out, k, k]); gradients are
 * written (not accumulated) into the caller's buffers in the same layouts.
 */
#ifndef STYLE_TRAIN_LAYERS_H
#define STYLE_TRAIN_LAYERS_H

#include "dnn/layers.h"

/* How a training layer's activations lie in memory. */
typedef enum dnn_layout {
    DNN_LAYOUT_NHWC,     /* plain NHWC (oneDNN's nhwc) */
    DNN_LAYOUT_BLOCKED8, /* channels in blocks of 8 (oneDNN's nChw8c), c a multiple of 8 */
} dnn_layout;

/* oneDNN's format tag for a layout. */
static inline dnnl_format_tag_t backend_format_tag(dnn_layout layout)
{
    return layout == DNN_LAYOUT_BLOCKED8 ? dnnl_nChw8c : dnnl_nhwc;
}

/* ---- Convolution / transposed convolution ------------------------------------------------ */

typedef struct tconv {
    conv_spec spec; /* spec.relu / spec.sum are not used in training */
    float slope;    /* fused activation: < 0 none, 0 ReLU, > 0 leaky ReLU slope */
    bool need_diff_src, frozen;
    /* bf16 mixed precision: the convolutions read bf16 copies of their inputs (activations,
     * output gradients, weights) and write f32 outputs and gradients; everything outside
     * the convolution (norms, losses, the caller's tensors) stays f32. */
    bool bf16;
    dnnl_format_tag_t layout; /* of the activations and their gradients */
    int32_t n, in_h, in_w, out_h, out_w;
    dnnl_primitive_desc_t fwd_pd, bwd_data_pd, bwd_weights_pd;
    dnnl_primitive_t fwd, bwd_data, bwd_weights;
    dnnl_primitive_t reorder_w_fwd, reorder_w_bwd, reorder_dw;
    dnnl_memory_t src, dst, diff_src, diff_dst;
    /* bf16: the convolution's copies of src and diff_dst, and the conversions into them. */
    dnnl_memory_t src_bf16, diff_dst_bf16;
    dnnl_primitive_t to_bf16_src, to_bf16_diff_dst;
    void *src_bf16_buf, *diff_dst_bf16_buf;
    bool bf16_source_given; /* the caller writes src_bf16 itself (tconv_bf16_source) */
    dnnl_memory_t w_user, w_fwd, w_bwd, dw_user, dw, bias, diff_bias;
    void *w_fwd_buf, *w_bwd_buf, *dw_buf;
    float *zero_bias, *diff_bias_sink;
    size_t scratchpad_bytes;
    bool weights_ready; /* frozen weights reordered once */
    /* Backward data run as a forward convolution of diff_dst with the weights flipped and
     * transposed (stride 1 only), where oneDNN has only its reference implementation for the
     * backward pass itself (the 16 -> 3 channel 9x9 output layer on AVX2 with one thread:
     * ~100x slower). w_flipped holds those weights in the user layout [in, out, k, k]. */
    bool bwd_data_as_forward;
    int32_t border[4]; /* zero border of the output gradient: top, left, bottom, right */
    float *w_flipped, *diff_dst_bordered;
    dnnl_memory_t w_flipped_user, diff_dst_border_mem;
} tconv;

/*
 * in: n x in_h x in_w x in_channels. slope: fused activation after the conv (< 0 none).
 * need_diff_src: compute the gradient of the input (false for a network's first layer).
 * frozen: weights never change and get no gradient (loss networks): no backward-weights.
 */
style_status tconv_create(tconv *layer, dnn_context *dnn, const conv_spec *spec, float slope,
                          int32_t n, int32_t in_h, int32_t in_w, bool need_diff_src, bool frozen);
/* The same with the activations (src, dst and their gradients) in `layout`: DNN_LAYOUT_NHWC
 * (as tconv_create), or DNN_LAYOUT_BLOCKED8 (both channel counts multiples of 8:
 * oneDNN's fastest AVX2 convolutions, ~2x NHWC's for 64 -> 64 3x3 in every pass).
 * bf16: the passes compute in bf16 with f32 accumulation (mixed precision, see tconv.bf16);
 * the caller's tensors and weights stay f32. */
style_status tconv_create_layout(tconv *layer, dnn_context *dnn, const conv_spec *spec, float slope,
                                 int32_t n, int32_t in_h, int32_t in_w, bool need_diff_src,
                                 bool frozen, dnn_layout layout, bool bf16);

/*
 * Binds buffers. weights/bias: parameters (bias may be NULL = zero, no gradient);
 * diff_weights/diff_bias: gradients (NULL when frozen or without bias).
 * src/dst: activations; diff_src/diff_dst: their gradients (diff_src NULL unless need_diff_src).
 */
style_status tconv_bind(tconv *layer, dnn_context *dnn, const float *weights, const float *bias,
                        float *diff_weights, float *diff_bias, float *src, float *dst,
                        float *diff_src, float *diff_dst);

/* bf16 layers (after tconv_bind): the bf16 copy of the source the passes read (NHWC, as the
 * f32 one), which the caller then fills itself before every forward pass instead of the f32
 * source (e.g. padding straight into it: pad_reflect_nhwc_bf16); the f32 source is no longer
 * read. NULL for an f32 layer or another layout (the caller keeps filling the f32 source). */
uint16_t *tconv_bf16_source(tconv *layer);
style_status tconv_forward(tconv *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
/* Applies the fused activation's derivative to diff_dst (in place, using dst), then computes
 * diff_src (if requested) and the weight and bias gradients (unless frozen). */
style_status tconv_backward(tconv *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
void tconv_destroy(tconv *layer);
/* Whether one of the layer's passes runs oneDNN's reference (plain C) implementation. */
bool tconv_uses_reference(const tconv *layer);
/* Multiply-adds one training step executes in this layer: the forward pass, and the
 * backward passes it has (backward-data when need_diff_src, backward-weights unless frozen;
 * each as many as the forward). For the training benchmark's FLOP count. */
void tconv_count_macs(const tconv *layer, double *forward, double *backward);

/* ---- Normalization: instance (per image) or batch (over the batch), optional ReLU -------- */

typedef struct tnorm {
    bool batch; /* batch statistics instead of per-image */
    bool relu;
    int32_t n, c, h, w;
    float eps;
    dnnl_primitive_desc_t fwd_pd, bwd_pd;
    dnnl_primitive_t fwd, bwd;
    dnnl_memory_t src, dst, diff_src, diff_dst, scale, shift, diff_scale, diff_shift, mean,
        variance, workspace;
    float *src_base, *dst_base, *diff_src_base, *diff_dst_base;
    float *means, *variances;                   /* per image (instance) or 1 (batch) rows of c */
    float *diff_scale_part, *diff_shift_part;   /* one image's gradients (instance mode) */
    float *diff_scale_total, *diff_shift_total; /* the caller's gradient buffers */
    uint8_t *workspace_base;
    size_t workspace_bytes; /* per image (instance) or total (batch) */
    size_t scratchpad_bytes;
} tnorm;

style_status tnorm_create(tnorm *layer, dnn_context *dnn, bool batch, bool relu, int32_t n,
                          int32_t c, int32_t h, int32_t w, float eps);
/* The same with the tensors in `layout` (DNN_LAYOUT_BLOCKED8 needs c a multiple of 8). */
style_status tnorm_create_layout(tnorm *layer, dnn_context *dnn, bool batch, bool relu, int32_t n,
                                 int32_t c, int32_t h, int32_t w, float eps, dnn_layout layout);
/* scale/shift: [c] parameters; diff_scale/diff_shift: [c] gradients (written). */
style_status tnorm_bind(tnorm *layer, dnn_context *dnn, const float *scale, const float *shift,
                        float *diff_scale, float *diff_shift, float *src, float *dst,
                        float *diff_src, float *diff_dst);
/* Points the layer at other parameters and gradient buffers of the same size (conditional
 * instance norm: the rows of the style of this batch). */
void tnorm_set_params(tnorm *layer, const float *scale, const float *shift, float *diff_scale,
                      float *diff_shift);
style_status tnorm_forward(tnorm *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
style_status tnorm_backward(tnorm *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
/* Batch statistics of the last forward (batch mode): mean and biased variance, [c] each. */
const float *tnorm_batch_mean(const tnorm *layer);
const float *tnorm_batch_variance(const tnorm *layer);
void tnorm_destroy(tnorm *layer);

/* ---- Plain loops ----------------------------------------------------------------------- */

/* Backward of pad_reflect_nhwc for one image: diff_src (h x w x c) = sum of the gradients of
 * every padded position that copied it. */
void pad_reflect_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c,
                               int32_t factor, int32_t pad, float *diff_src);

/* 2x2 stride-2 max pooling (floor), one image; argmax (0..3) kept for the backward pass. */
void maxpool2_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, float *dst,
                           uint8_t *argmax);
void maxpool2_backward_nhwc(const float *diff_dst, const uint8_t *argmax, int32_t h, int32_t w,
                            int32_t c, float *diff_src);
/* 2x2 stride-2 average pooling (odd trailing rows/columns dropped, as by the max pooling):
 * the loss network's pooling when training with average pooling (Gatys et al. 2016). */
void avgpool2_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, float *dst);
void avgpool2_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c,
                            float *diff_src);
/* The window of `wh x ww` pixels at (y0, x0) of an h x w x c image (NHWC), copied to dst: the
 * loss network's view of a shifted crop (shift jitter). The backward pass writes the window's
 * gradient into diff_src at the same place and zeroes the rest. */
void window_forward_nhwc(const float *src, int32_t h, int32_t w, int32_t c, int32_t y0, int32_t x0,
                         int32_t wh, int32_t ww, float *dst);
void window_backward_nhwc(const float *diff_dst, int32_t h, int32_t w, int32_t c, int32_t y0,
                          int32_t x0, int32_t wh, int32_t ww, float *diff_src);

/* Channels in blocks of 8 (oneDNN's nChw8c: [n][c / 8][h][w][8]) from NHWC and back; c must
 * be a multiple of 8. */
void nhwc_to_blocked8(const float *src, int32_t n, int32_t h, int32_t w, int32_t c, float *dst);
void blocked8_to_nhwc(const float *src, int32_t n, int32_t h, int32_t w, int32_t c, float *dst);
/* pad_reflect_nhwc and pad_reflect_backward_nhwc for one image in nChw8c: every block of 8
 * channels is an h x w x 8 NHWC image. */
void pad_reflect_blocked8(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                          int32_t pad, float *dst);
void pad_reflect_backward_blocked8(const float *diff_dst, int32_t h, int32_t w, int32_t c,
                                   int32_t factor, int32_t pad, float *diff_src);

#endif
