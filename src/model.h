/*
 * The in-memory style model: the validated tensors of a model file (float32, PyTorch layouts)
 * and the architecture its metadata describes. Immutable once loaded; shared by sessions
 * through an atomic reference count.
 */
#ifndef STYLE_MODEL_H
#define STYLE_MODEL_H

#include "common.h"
#include "safetensors.h"

#include <stdatomic.h>

#define MODEL_MAX_RESIDUAL_BLOCKS 64

typedef enum model_padding { PADDING_REFLECT, PADDING_ZERO, PADDING_TF_SAME } model_padding;
typedef enum model_upsample {
    UPSAMPLE_NEAREST_CONV,
    UPSAMPLE_TRANSPOSED_TF,
    UPSAMPLE_TRANSPOSED_TORCH
} model_upsample;
typedef enum model_norm_kind { NORM_INSTANCE, NORM_BATCH } model_norm_kind;
typedef enum model_output { OUTPUT_LINEAR, OUTPUT_TANH150 } model_output;

/* One convolution's parameters, pointing into the model's tensors. */
typedef struct model_conv {
    int32_t in_channels, out_channels, kernel, stride;
    bool transposed;      /* weight is [in, out, k, k] (PyTorch ConvTranspose2d) */
    const float *weight;  /* [out, in, k, k], or [in, out, k, k] when transposed */
    const float *bias;    /* [out] or NULL */
} model_conv;

/* One normalization layer's parameters. */
typedef struct model_norm {
    int32_t channels;
    const float *scale, *shift;               /* [channels] */
    const float *running_mean, *running_var;  /* [channels], norm = batch only */
} model_norm;

/* conv -> norm (-> relu): one stage of the network. */
typedef struct model_stage {
    model_conv conv;
    model_norm norm;
    bool has_norm;
} model_stage;

struct style_model {
    atomic_int references;
    st_file file; /* owns tensors and metadata strings */
    char *source_name; /* file name for messages */

    model_padding padding;
    model_upsample upsample;
    model_norm_kind norm;
    model_output output;
    bool final_norm;
    float norm_eps;
    int32_t format_version;
    bool has_bias;
    uint64_t parameter_count;

    /* conv1 (s1), conv2 (s2), conv3 (s2) */
    model_stage down[3];
    int32_t residual_blocks;
    model_stage residual[MODEL_MAX_RESIDUAL_BLOCKS][2];
    /* deconv1, deconv2 (upsampling), deconv3 (output conv, with in6 when final_norm) */
    model_stage up[2];
    model_stage out;

    /* arch adain: encoder, decoder (the fields above are unused). */
    struct adain_model *adain;

    /* Strings for style_model_info. */
    const char *arch_name;
};

/* Builds a model from a parsed file (takes ownership of *file on success and failure). */
style_status model_from_file(st_file *file, const char *name, const style_load_options *options,
                             style_model **out);

/* Metadata spellings of the enums. */
const char *model_padding_name(model_padding padding);
const char *model_upsample_name(model_upsample upsample);

/* Takes one more reference (a session does). */
void model_retain(style_model *model);

#endif
