/*
 * Arbitrary style transfer with adaptive instance normalization (Huang & Belongie, 2017):
 * encoder (a feature network cut at one tap) -> AdaIN (the content features' per-channel mean
 * and standard deviation replaced by the style's) -> decoder (the encoder mirrored: nearest x2
 * upsampling, reflection padding, ReLU, no normalization). docs/formats.md section 1c is the
 * file format; docs/adain.md the method, the choices and the measurements.
 *
 * The decoder's output is an image in the encoder's input space ((rgb255 * scale - mean) / std
 * of the feature network's libstyle.input), so rgb255 = (out * std + mean) / scale: the decoder
 * mirrors the encoder down to its input, and its last conv works in units of order one.
 */
#ifndef STYLE_ADAIN_H
#define STYLE_ADAIN_H

#include "features/feature_net.h"
#include "train/train_net.h"

#define ADAIN_EPS 1e-5f
#define ADAIN_MAX_LAYERS 64

/* ---- the AdaIN layer (adain_layer.c), one image of hw positions x c channels (NHWC) ---- */

/* mean[c] and std[c] = sqrt(biased variance + ADAIN_EPS), accumulated in double. */
void adain_statistics(const float *features, int32_t hw, int32_t c, float *mean, float *std);

/* The same over a rows x cols window of a feature map whose rows are row_stride positions
 * apart (`features` points at the window's first position). */
void adain_statistics_region(const float *features, int32_t rows, int32_t cols, int32_t row_stride,
                             int32_t c, float *mean, float *std);

/* The same with a weight per position (weights[hw] >= 0, not all 0): a weighted mean and
 * biased variance; how a style image's transparent pixels are left out of its statistics. */
void adain_statistics_weighted(const float *features, const float *weights, int32_t hw, int32_t c,
                               float *mean, float *std);

/* adain_forward with the content statistics given (mean, std of x or of a part of it). */
void adain_apply(const float *x, int32_t hw, int32_t c, const float *mean, const float *std,
                 const float *style_mean, const float *style_std, float alpha, float *out);

/*
 * out = alpha * (style_std * (x - mean(x)) / std(x) + style_mean) + (1 - alpha) * x, per
 * channel: alpha = 1 is AdaIN, alpha in [0, 1) moves back towards the content's features (the
 * paper's content-style trade-off). out may be x.
 */
void adain_forward(const float *x, int32_t hw, int32_t c, const float *style_mean,
                   const float *style_std, float alpha, float *out);

/* Gradients of adain_forward: diff_x (written) from diff_out; the style statistics' gradients
 * are written when the pointers are not NULL. */
void adain_backward(const float *x, int32_t hw, int32_t c, const float *style_std, float alpha,
                    const float *diff_out, float *diff_x, float *diff_style_mean,
                    float *diff_style_std);

/* ---- the decoder: spec (adain_decoder.c) ---------------------------------------------- */

typedef enum dec_op { DEC_CONV, DEC_RELU, DEC_UPSAMPLE, DEC_REFLECT_PAD } dec_op;

typedef struct dec_layer {
    dec_op op;
    int32_t kernel;                    /* conv (stride 1, no zero padding) */
    int32_t in_channels, out_channels; /* conv */
    int32_t value;                     /* upsample: factor (2); reflect_pad: pad */
} dec_layer;

typedef struct adain_decoder_spec {
    dec_layer layers[ADAIN_MAX_LAYERS];
    int32_t count;
    int32_t in_channels; /* the encoder tap's */
    int32_t scale;       /* total upsampling factor (output size = input size * scale) */
} adain_decoder_spec;

/*
 * The decoder that mirrors encoder layers [0, tap]: walking back from the tap, every conv of
 * kernel > 1 becomes reflect_pad(k/2) + conv (k) from its output width to the previous such
 * conv's output width (3 for the first), with a ReLU except the last; every max-pool becomes
 * nearest x2 upsampling. 1x1 convs (darknet's bottlenecks) are not mirrored.
 */
style_status adain_decoder_mirror(const feature_net *encoder, int32_t tap,
                                  adain_decoder_spec *spec);
/* Parses libstyle.decoder.layers; channel counts come from the decoder.{i}.weight shapes
 * (weight_shape(user, i, shape) gives layer i's [O, I, kh, kw], false when missing). */
style_status adain_decoder_parse(const char *json, int32_t in_channels,
                                 bool (*weight_shape)(void *user, int32_t i, int64_t shape[4]),
                                 void *user, adain_decoder_spec *spec);
/* The spec as libstyle.decoder.layers JSON (free with free()). */
char *adain_decoder_json(const adain_decoder_spec *spec);
/* Lays out decoder.{i}.weight/.bias as parameters (values zeroed; caller initialises). */
style_status adain_decoder_params(const adain_decoder_spec *spec, train_params *p);

/* ---- the decoder: graph at one batch and size (adain_decoder.c) ----------------------- */

typedef struct adain_decoder {
    int32_t n, h, w; /* input: n x h x w x in_channels */
    int32_t out_h, out_w;
    train_stage stages[ADAIN_MAX_LAYERS];
    int32_t stage_count;
    float *input, *diff_input; /* diff_input NULL when frozen */
    dnn_scratchpad *scratchpad;
} adain_decoder;

/* frozen: inference (forward only). bf16: convolutions in bf16 mixed precision (tconv.bf16).
 * The params must outlive the decoder. */
style_status adain_decoder_create(adain_decoder *d, const adain_decoder_spec *spec,
                                  train_params *params, dnn_context *dnn, int32_t n, int32_t h,
                                  int32_t w, bool frozen, bool bf16);
/* Runs d->input; *output: n x out_h x out_w x 3 in the encoder's input space. */
style_status adain_decoder_forward(adain_decoder *d, dnn_context *dnn, const float **output);
/* Where d loss / d output goes before backward. */
float *adain_decoder_diff_output(adain_decoder *d);
/* Parameter gradients (overwritten) and the input's gradient (d->diff_input). */
style_status adain_decoder_backward(adain_decoder *d, dnn_context *dnn);
void adain_decoder_destroy(adain_decoder *d);

/* ---- the model (adain_model.c) -------------------------------------------------------- */

typedef struct adain_model {
    feature_net *encoder; /* layers [0, tap] of the feature network */
    int32_t tap;          /* layer index of the AdaIN tap */
    char tap_name[FNET_NAME_MAX];
    int32_t reduction; /* input sizes must be multiples of it (2^pools) */
    adain_decoder_spec decoder;
    train_params params; /* the decoder's weights (read-only once loaded) */
} adain_model;

/* From a parsed model file (arch adain); the file stays the caller's. Errors name no file
 * (the caller prefixes it). */
style_status adain_model_from_file(const st_file *file, adain_model **out);
void adain_model_free(adain_model *model);

/* Adds the encoder (layers [0, tap] of `net`, as encoder.* tensors and libstyle.encoder.*
 * keys) and the decoder (decoder.* and libstyle.decoder.layers) to a file being written. */
style_status adain_model_add_to_file(st_file *file, const feature_net *net, int32_t tap,
                                     const adain_decoder_spec *spec, const train_params *params);

/* Encoder input of an rgb255 pixel channel and back (the decoder's output space). */
static inline float adain_to_rgb255(const feature_net *net, int channel, float value)
{
    return (float)((value * net->input_std[channel] + net->input_mean[channel]) / net->input_scale);
}

#endif
