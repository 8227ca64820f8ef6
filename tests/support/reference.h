/*
 * The reference implementation: the transform network written as plainly as possible, in
 * double precision, NCHW, straight from docs/formats.md (pytorch/examples TransformerNet and
 * its metadata variants). Slow on purpose; every optimized path is checked against it.
 */
#ifndef STYLE_REFERENCE_H
#define STYLE_REFERENCE_H

#include "model/model.h"

/* A C x H x W tensor of doubles. */
typedef struct ref_tensor {
    int c, h, w;
    double *data;
} ref_tensor;

ref_tensor ref_tensor_new(int c, int h, int w);
void ref_tensor_free(ref_tensor *t);
#define REF_AT(t, ch, y, x) ((t).data[((size_t)(ch) * (t).h + (y)) * (t).w + (x)])

/* Conv with zero padding (top, left, bottom, right); weight [out, in, k, k]; bias may be NULL. */
ref_tensor ref_conv2d(ref_tensor in, const float *weight, const float *bias, int out_channels,
                      int k, int stride, int pt, int pl, int pb, int pr);
/* Transposed conv, weight [in, out, k, k]; keeps rows/cols [before, full - after) of the full
 * (n-1)*stride + k output. */
ref_tensor ref_conv_transpose2d(ref_tensor in, const float *weight, const float *bias,
                                int out_channels, int k, int stride, int before, int after);
/* PyTorch ReflectionPad2d(p); where p >= size the edge is replicated. */
ref_tensor ref_reflect_pad(ref_tensor in, int p);
/* Circular (wrap-around) padding by the given amounts; any amount, even beyond the size. */
ref_tensor ref_circular_pad(ref_tensor in, int pt, int pl, int pb, int pr);
ref_tensor ref_upsample_nearest2(ref_tensor in);
/* In place. */
void ref_instance_norm(ref_tensor t, const float *scale, const float *shift, double eps);
void ref_batch_norm(ref_tensor t, const float *scale, const float *shift, const float *mean,
                    const float *var, double eps);
void ref_relu(ref_tensor t);

/* The whole network on an image tensor 3 x h x w (0..255), h and w multiples of 4; returns
 * the raw output (before the output head and clamp). */
ref_tensor ref_network(const style_model *model, ref_tensor image);
/* The same; `circular`: every layer pads by wrapping around (tileable mode), transposed convs
 * fold their full output modulo the output size. */
ref_tensor ref_network_ex(const style_model *model, ref_tensor image, bool circular);

/* Output head + clamp as pixels are written: linear or 150 tanh(x) + 127.5, then 0..255. */
double ref_output_head(const style_model *model, double x);

#endif
