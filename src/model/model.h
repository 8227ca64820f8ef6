/*
 * The in-memory style model: the validated tensors of a model file (float32, PyTorch layouts)
 * and the architecture its metadata describes. Immutable once loaded; shared by sessions
 * through an atomic reference count.
 */
#ifndef STYLE_MODEL_H
#define STYLE_MODEL_H

#include "core/common.h"
#include "model/safetensors.h"

#include <stdatomic.h>

#define MODEL_MAX_RESIDUAL_BLOCKS 64
/* Normalizations a model can have: in1..in5, two per residual block, in6. */
#define MODEL_MAX_NORMS (6 + 2 * MODEL_MAX_RESIDUAL_BLOCKS)
#define MODEL_MAX_STYLES 1024

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
    const float *scale, *shift;               /* [channels]: the style in use (CIN: row 0) */
    const float *running_mean, *running_var;  /* [channels], norm = batch only */
    const float *style_scale, *style_shift;   /* johnson-cin: [styles, channels], else NULL */
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

    /* The architecture (picked by libstyle.arch at load; arch/arch.h) and its own part of the
     * model when it has one beyond the fields above (adain: the encoder and decoder, and the
     * fields above are unused). */
    const struct style_arch *arch;
    void *arch_data;
    /* johnson-cin (Dumoulin et al.): the styles' names from libstyle.styles, in the row order
     * of every norm's [styles, channels] scale and shift. 0 / NULL for johnson. */
    int32_t style_count;
    char **style_names;

    /* Strings for style_model_info: arch->name. */
    const char *arch_name;
};

/* Builds a model from a parsed file (takes ownership of *file on success and failure). */
style_status model_from_file(st_file *file, const char *name, const style_load_options *options,
                             style_model **out);

/* For an architecture's load: finds a required tensor of model->file, checks its rank (and
 * the dims given as > 0) and that its dtype was converted, and marks it used. */
style_status model_take_tensor(style_model *model, const char *name, int32_t ndim,
                               const int64_t *expected, st_tensor **out);
/* The same for an optional tensor: *out NULL when absent. */
style_status model_take_optional(style_model *model, const char *name, int32_t ndim,
                                 const int64_t *expected, st_tensor **out);

/* Metadata spellings of the enums. */
const char *model_padding_name(model_padding padding);
const char *model_upsample_name(model_upsample upsample);

/* Takes one more reference (a session does). */
void model_retain(style_model *model);

/* Every normalization of the model in network order (in1..in3, res1.in1 .. resB.in2, in4, in5,
 * in6 when present); returns the count (at most MODEL_MAX_NORMS). */
int32_t model_norms(style_model *model, model_norm **norms);

/*
 * johnson-cin: the scale and shift of every norm for a convex combination of the styles
 * (Dumoulin et al.'s interpolation): scale = sum_s w_s scale[s], likewise shift, with `weights`
 * (style_count of them) already validated and normalised to sum 1. `params` receives, norm
 * after norm in model_norms order, that norm's scale then its shift (2 x channels floats);
 * model_style_param_count says how many floats that is.
 */
size_t model_style_param_count(const style_model *model);
void model_blend_styles(const style_model *model, const double *weights, float *params);

/* Checks blend weights (count == style_count, finite, >= 0, sum > 0) and normalises them into
 * `normalised` (style_count doubles). `what` names the caller in the message. */
style_status model_check_style_weights(const style_model *model, const float *weights,
                                       size_t count, const char *what, double *normalised);

#endif
