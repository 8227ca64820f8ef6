/*
 * Feature (loss) networks: plain sequential conv nets whose intermediate activations ("taps")
 * define perceptual losses (docs/formats.md, feature networks). Either described by the file's
 * metadata (libstyle.kind = feature-net), or a torchvision / timm VGG-16 / VGG-19 state_dict
 * recognised by its shapes. A feature_run executes one at a fixed batch and size, forward and
 * backward (to the input image), with frozen weights.
 */
#ifndef STYLE_FEATURE_NET_H
#define STYLE_FEATURE_NET_H

#include "model/safetensors.h"
#include "dnn/train_layers.h"

typedef enum fnet_op { FNET_CONV, FNET_RELU, FNET_LEAKY_RELU, FNET_MAXPOOL } fnet_op;

typedef struct fnet_layer {
    fnet_op op;
    int32_t kernel, stride, pad; /* conv */
    float slope;                 /* leaky_relu */
    int32_t in_channels, out_channels;
    const float *weight, *bias; /* conv: [out, in, k, k], [out] or NULL */
} fnet_layer;

#define FNET_MAX_TAPS 64
#define FNET_NAME_MAX 32

typedef struct feature_net {
    st_file file;
    char *name; /* "vgg16", "vgg19" or the file's libstyle.name / base name */
    fnet_layer *layers;
    int32_t layer_count;
    char tap_names[FNET_MAX_TAPS][FNET_NAME_MAX];
    int32_t tap_layers[FNET_MAX_TAPS];
    int32_t tap_count;
    double input_scale, input_mean[3], input_std[3];
    /* Recommended loss layers (tap names), from libstyle.loss or the VGG defaults. */
    char content_taps[FNET_MAX_TAPS][FNET_NAME_MAX];
    int32_t content_count;
    char style_taps[FNET_MAX_TAPS][FNET_NAME_MAX];
    int32_t style_count;
    uint64_t parameter_count;
} feature_net;

/* Loads a feature network file; errors name the file and the problem. */
style_status feature_net_load(const char *path, feature_net **out);
/* From a parsed file (takes ownership of *file in every case). `name` is used in messages. */
style_status feature_net_from_file(st_file *file, const char *name, feature_net **out);
void feature_net_free(feature_net *net);
/* The spec of layers [0, last] as libstyle.layers / libstyle.taps (those <= last) /
 * libstyle.input JSON (free each with free()). */
style_status feature_net_spec_json(const feature_net *net, int32_t last, char **layers_json,
                                   char **taps_json, char **input_json);
/* Layer index of tap `name`, or -1. */
int32_t feature_net_tap(const feature_net *net, const char *name);
/* The layers of the taps a comma-separated list names (the loss's style layers), in its order,
 * into layers[0 .. *count - 1]; refused (`who` prefixes the message): a tap the network lacks,
 * more than `max` of them, none. */
style_status feature_net_tap_list(const feature_net *net, const char *list, const char *who,
                                  int32_t *layers, int32_t max, int32_t *count);
/* The network's recommended style taps as a comma-separated list (truncated to `size`). */
void feature_net_style_tap_list(const feature_net *net, char *out, size_t size);

typedef struct feature_run {
    const feature_net *net;
    int32_t n, h, w, last; /* runs layers [0, last] */
    bool need_input_grad;
    bool forward_only; /* inference: no gradient buffers, feature_run_backward refused */
    /* The network's 2x2 max pools run as average pools (a training choice, Gatys et al. 2016:
     * max pooling routes the style gradient through one pixel in four, which trains a
     * period-4 grid into transform networks). Set after creation; false by default. */
    bool average_pooling;
    /* Per layer: output shape and buffers (NULL where a conv's output is fused away). */
    int32_t *out_h, *out_w, *out_c;
    float **out, **diff, **tap_grad;
    bool *fused; /* layer i is an activation fused into conv i-1 */
    tconv *convs;
    uint8_t **argmax;
    float *input, *diff_input; /* normalized network input and its gradient */
    float *diff_rgb;           /* gradient with respect to the 0..255 image */
    dnn_scratchpad *scratchpad;
} feature_run;

/* Builds a run of layers [0, last] on n images of h x w. */
/* bf16: the convolutions compute in bf16 mixed precision (tconv.bf16), the activations,
 * taps and gradients stay f32. */
style_status feature_run_create(feature_run *run, const feature_net *net, dnn_context *dnn,
                                int32_t n, int32_t h, int32_t w, int32_t last, bool need_input_grad,
                                bool bf16);
/* The same for inference only: no gradient buffers, no backward primitives (the encoder of
 * AdaIN runs). feature_run_tap_grad returns NULL and feature_run_backward fails on it. */
style_status feature_run_create_forward(feature_run *run, const feature_net *net, dnn_context *dnn,
                                        int32_t n, int32_t h, int32_t w, int32_t last, bool bf16);
/* rgb: n x h x w x 3 floats in 0..255 (NHWC). Also zeroes every tap gradient. */
style_status feature_run_forward(feature_run *run, dnn_context *dnn, const float *rgb);
/* The gradient buffer of layer `layer`'s output (same shape), which the caller adds to
 * between forward and backward. Available for every layer that feature_run_output gives. */
float *feature_run_tap_grad(feature_run *run, int32_t layer);
/* Output of layer `layer` (n x oh x ow x oc, NHWC). */
const float *feature_run_output(const feature_run *run, int32_t layer);
/* Backpropagates the tap gradients to the image: *diff_rgb (n x h x w x 3, d/d rgb255). */
style_status feature_run_backward(feature_run *run, dnn_context *dnn, const float **diff_rgb);
void feature_run_destroy(feature_run *run);

#endif
