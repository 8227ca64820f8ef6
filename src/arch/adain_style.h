/*
 * AdaIN styles (style_adain_style of include/libstyle.h): the per-channel mean and standard
 * deviation of a style image's features at the model's tap, made from an image by a session,
 * copied into sessions and blended. The AdaIN runtime (adain_session.c) reads mean and std.
 */
#ifndef STYLE_ADAIN_STYLE_H
#define STYLE_ADAIN_STYLE_H

#include "arch/adain.h"

struct style_adain_style {
    /* channels floats each; the tap name and the encoder's parameter count say which encoder
     * made it */
    int32_t channels;
    uint64_t encoder_parameters; /* with the tap name: which encoder made it */
    char tap[FNET_NAME_MAX];
    float *mean, *std;
};

/* The statistics of a style image at the model's tap (style_size: short side, 0 = as is). */
style_status adain_style_compute(const adain_model *model, dnn_context *dnn,
                                 const style_image *image, int32_t style_size, uint64_t budget,
                                 style_adain_style **out);
/* Whether a style was made by this model's encoder. */
style_status adain_style_check(const adain_model *model, const style_adain_style *style);
/* *out (freed first if set) becomes a copy of style. */
style_status adain_style_copy(const style_adain_style *style, style_adain_style **out);

#endif
