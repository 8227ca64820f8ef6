/*
 * The AdaIN encoder and decoder for inference, on the inference layer stack (dnn/layers.h),
 * built for one image size: oneDNN inference convolutions with their (leaky) ReLU fused, the
 * direct kernel for the decoder's last convolution (3 outputs), nearest x2 + 3 x 3
 * convolutions as four 2 x 2 sub-pixel phase convolutions, and one pass of our own
 * (norm_layer.c, without normalization) that writes each decoder convolution's input
 * upsampled, reflection-padded and converted, as Johnson's plan does. The AdaIN layer itself
 * (statistics, mixing, strength) stays with the caller (adain_session.c), between
 * adain_net_encode and adain_net_decode. The trainer's layers (dnn/train_layers.h) are for
 * training only.
 *
 * Precisions: fp32; bf16 (bf16 convolution inputs and activations, f32 accumulation; the tap's
 * features, the AdaIN layer and the decoder's output stay f32).
 */
#ifndef STYLE_ADAIN_NETWORK_H
#define STYLE_ADAIN_NETWORK_H

#include "arch/adain.h"
#include "dnn/dnn_context.h"
#include "dnn/dnn_scratchpad.h"
#include "dnn/layers.h"

typedef struct adain_net_op adain_net_op;

typedef struct adain_net {
    int32_t h, w; /* input (and, with a decoder, output) size */
    bool bf16;    /* convolution inputs and activations in bf16 */
    bool decoder; /* built with the decoder (else the encoder only: computing a style) */
    adain_net_op *ops;
    int32_t op_count, encoder_ops; /* ops [0, encoder_ops) are the encoder's */
    void **buffers;
    int32_t buffer_count, buffer_capacity;
    void *input; /* the normalized image, h x w x 3, in the convolutions' type */
    /* The tap's features (f32, feat_h x feat_w x feat_c), what the AdaIN layer reads. */
    const float *features;
    int32_t feat_h, feat_w, feat_c;
    float *decoder_input;            /* f32, feat_h x feat_w x feat_c: the AdaIN layer writes it */
    const float *output;             /* f32, h x w x 3 in the encoder's input space */
    float in_scale[3], in_offset[3]; /* rgb255 -> encoder input */
    double executed_flops;           /* 2 x the multiply-adds the convolutions execute per image */
    dnn_scratchpad *scratchpad;
    double *op_ms; /* per op: milliseconds summed over the profiled runs; NULL: not profiling */
    uint64_t runs; /* profiled decoder runs */
} adain_net;

/* Bytes of the activation buffers a build of h x w allocates (what the memory estimate
 * counts; the same walk as adain_net_create, without building). */
uint64_t adain_net_bytes(const adain_model *model, int32_t h, int32_t w, bool decoder, bool bf16);
/* Builds the encoder (layers [0, tap]) and, with `decoder`, the decoder for h x w (the decoder
 * needs multiples of the reduction). bf16 needs a processor that runs it natively. */
style_status adain_net_create(adain_net *net, const adain_model *model, dnn_context *dnn,
                              int32_t h, int32_t w, bool decoder, bool bf16);
/* rgb: h x w x 3 floats in 0..255 (NHWC); the tap's features into net->features. */
style_status adain_net_encode(adain_net *net, dnn_context *dnn, const float *rgb);
/* The decoder on net->decoder_input; *output: h x w x 3 in the encoder's input space. */
style_status adain_net_decode(adain_net *net, dnn_context *dnn, const float **output);
void adain_net_destroy(adain_net *net);
/* Per-op timing on (reset to zero) or off. */
style_status adain_net_set_profiling(adain_net *net, bool enable);
/* The ops' names, kinds, kernels, FLOPs and times (op_count of each; the strings are the
 * net's). */
void adain_net_profile(const adain_net *net, style_layer_profile *layers, double *executed);

#endif
