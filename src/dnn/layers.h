/*
 * The layers of the transform network on NHWC tensors with N = 1: thin wrappers over oneDNN
 * convolutions, plus our own kernels where oneDNN 2.6 is slow or missing (instance norm with
 * everything around it fused into two passes, the small-output direct convolution, reflection
 * padding). A oneDNN layer is set up in two steps so that a session can learn the memory a
 * run needs before allocating it:
 *   *_describe: primitive descriptor, output size, scratchpad size (no large allocations);
 *   *_bind:     primitive, weights reordered once into the primitive's layout, buffers bound.
 */
#ifndef STYLE_LAYERS_H
#define STYLE_LAYERS_H

#include "dnn/backend.h"

/* Element types of activations. ACT_F32 = 0 so that zero-initialised specs mean fp32. */
typedef enum act_type { ACT_F32 = 0, ACT_BF16, ACT_U8, ACT_S8 } act_type;

static inline size_t act_type_size(act_type t)
{
    return t == ACT_F32 ? 4 : t == ACT_BF16 ? 2 : 1;
}

/* ---- Convolution / transposed convolution ------------------------------------------------ */

typedef struct conv_spec {
    int32_t in_channels, out_channels;
    int32_t kernel, stride; /* kernel: height (and width unless kernel_w is set) */
    /* Zero padding applied by the primitive (conv), or the crop of a transposed conv's full
     * output: rows [pad_top, full - pad_bottom) are kept. */
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    bool transposed; /* oneDNN deconvolution; weights still passed as [out, in, k, k] */
    bool relu;       /* fused ReLU post-op */
    bool sum;        /* fused dst += result (residual add), applied before the ReLU */
} conv_spec;

/* What conv_layer_describe_ex adds; zero-initialised means square kernel and fp32. */
typedef struct conv_options {
    int32_t kernel_w;  /* kernel width when it differs from spec.kernel (0 = square) */
    int32_t stride_w;  /* width stride when it differs from spec.stride (0 = the same) */
    act_type src_type; /* ACT_F32, ACT_BF16, ACT_U8 or ACT_S8 (then weights are s8) */
    act_type dst_type; /* ACT_F32 or ACT_BF16 (int8 convolutions too) */
    /* int8: dst = src_scale * w_scale[o] * sum(src_q * w_q[o]) + bias, with w_scale[o] the
     * symmetric per-output-channel scale of these float weights [out, in, kh, kw] (read only
     * during describe). src_scale 0 means 1. */
    float src_scale;
    const float *int8_weights;
    float relu_slope; /* with spec.relu: a leaky ReLU, x < 0 becomes relu_slope * x (0: ReLU) */
} conv_options;

typedef struct conv_layer {
    conv_spec spec;
    conv_options opt;
    int32_t in_h, in_w, out_h, out_w;
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t primitive;
    dnnl_memory_t src, weights, bias, dst;
    void *weights_buffer;
    float *bias_buffer;
    float *weight_scales; /* int8: per output channel */
    size_t scratchpad_bytes;
    size_t weights_bytes; /* reordered weights + bias, for the memory estimate */
} conv_layer;

/* in: in_h x in_w x in_channels. Fills layer->out_h/out_w and the scratchpad size. */
style_status conv_layer_describe(conv_layer *layer, dnn_context *dnn, const conv_spec *spec,
                                 int32_t in_h, int32_t in_w);
/* The same with options (NULL: defaults). */
style_status conv_layer_describe_ex(conv_layer *layer, dnn_context *dnn, const conv_spec *spec,
                                    const conv_options *options, int32_t in_h, int32_t in_w);
/* weights: [out, in, kh, kw] float; bias: [out] or NULL (zero). src/dst: NHWC buffers. */
style_status conv_layer_bind(conv_layer *layer, dnn_context *dnn, const float *weights,
                             const float *bias, void *src, void *dst);
style_status conv_layer_forward(conv_layer *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
/*
 * Column packing, for a stride-1 conv with few output channels (oneDNN computes them at the
 * cost of a block of 16): the conv that computes `packs` neighbouring output pixels per
 * pixel, with packs x out channels, a kernel packs - 1 wider and a stride of packs across.
 * Its NHWC output, (out_w / packs) pixels of packs x out channels, is the NHWC output of the
 * original conv, out_w pixels of out channels (out_w must be a multiple of packs). Rewrites
 * spec and options, and makes the packed weights [packs out, in, kh, kw + packs - 1] and
 * bias [packs out] (owned by the caller) from the originals [out, in, kh, kw] and [out].
 */
style_status conv_pack_columns(conv_spec *spec, conv_options *options, int32_t packs,
                               const float *weights, const float *bias, float **packed_weights,
                               float **packed_bias);
/*
 * The packs that fill oneDNN's block of 16 output channels best for a stride-1 conv of
 * `out_channels` (k x k kernel, out_w output columns, a multiple of the packs): per output
 * pixel a packed conv costs 16 (k + packs - 1) / packs tap products against 16 k. 1: packing
 * does not pay (or nothing divides out_w). Worth it where oneDNN runs on AMX
 * (dnn_cpu_has_amx); on AVX-512 FMA the direct kernel was faster.
 */
int32_t conv_output_packs(int32_t out_channels, int32_t kernel, int32_t out_w);
/* Points the layer at other buffers (same shapes). */
style_status conv_layer_set_buffers(conv_layer *layer, void *src, void *dst);
/* The implementation oneDNN chose ("brgconv:avx512_core", ...), or "" before describe. */
const char *conv_layer_impl(const conv_layer *layer);
void conv_layer_destroy(conv_layer *layer);

/* ---- Direct convolution with few output channels (the 9x9 32 -> 3 output conv) ---------- */

/*
 * oneDNN 2.6 runs a convolution with 3 output channels at the cost of 16 (its output
 * channel block) and badly at that. This kernel vectorises over input channels instead.
 * The input is pre-padded: (out_h + kh - 1) x (out_w + kw - 1) x in_channels, stride 1.
 * Supported: AVX-512 (fp32; bf16 and u8 with AVX512-BF16 / VNNI), in_channels % 16 == 0 (fp32),
 * % 32 == 0 (bf16) or == 32 (u8: two neighbouring taps per vector), out_channels <= 4.
 * direct_conv_supported says whether a shape/type can run here.
 */
typedef struct direct_conv {
    int32_t in_channels, out_channels, kernel, out_h, out_w;
    act_type src_type; /* ACT_F32, ACT_BF16 or ACT_U8 */
    void *weights;     /* [k][k][out][in] f32 / bf16; u8: [k][(k + 1) / 2][out][2 x in] s8 */
    float bias[4];
    float weight_scale[4]; /* u8: per output channel */
    float src_scale;       /* u8: the input's step, set before each forward */
} direct_conv;

bool direct_conv_supported(int32_t in_channels, int32_t out_channels, int32_t kernel,
                           act_type src_type);
/* weights [out, in, k, k] float, bias [out] or NULL. */
style_status direct_conv_init(direct_conv *conv, int32_t in_channels, int32_t out_channels,
                              int32_t kernel, int32_t out_h, int32_t out_w, act_type src_type,
                              const float *weights, const float *bias);
/* src: padded input (out_h + k - 1) x (out_w + k - 1) x in; dst: out_h x out_w x out (f32). */
void direct_conv_forward(const direct_conv *conv, const void *src, float *dst);
void direct_conv_destroy(direct_conv *conv);

/* ---- Instance norm / affine / ReLU / residual / interleave / pad: one fused pass -------- */

/* BORDER_WRAP: circular padding (the tensor repeats), for tileable textures. */
typedef enum border_mode { BORDER_ZERO, BORDER_REFLECT, BORDER_REPLICATE, BORDER_WRAP } border_mode;

/* Where one source tensor's samples are: an NHWC buffer with rows `row_pixels` apart. */
typedef struct norm_source {
    const void *data;
    int32_t row_pixels; /* pixels per buffer row */
    int32_t y0, x0;     /* buffer coordinates of the first sample used */
} norm_source;

/*
 * y = f(x) over an h x w x channels tensor x, where f is, in order: instance norm over H x W
 * with scale/shift (or nothing), ReLU (optional), + a residual r (optional, f32).
 * x is read from one source, or from 2 x 2 sources interleaved (sub-pixel convolution
 * output: x(y, x) = source[(y % 2) * 2 + x % 2](y / 2, x / 2)), in src_type, times src_scale.
 * y is written to dst in dst_type, nearest-upsampled by `up` (1 or 2), into the interior of a
 * buffer padded by pad_* whose border is then filled per `border`. With residual, y may also
 * be written back over r (f32), or r may be dst itself (residual_in_dst). An f32 pass may
 * run in place (the source is dst's interior, phases 1, up 1).
 * An int8 dst gets a dynamic step t (the tensor's largest magnitude / 255 for u8, / 127 for
 * s8, measured per channel in units of dst_cscale) unless dst_scale is set; norm_layer_run
 * returns it.
 */
typedef struct norm_spec {
    int32_t channels, h, w;
    int32_t phases; /* 1 or 2 */
    act_type src_type;
    bool normalize; /* instance norm with scale/shift */
    bool relu;
    bool residual;
    bool residual_in_dst; /* the residual is dst (f32, same padding) */
    bool writeback;       /* write y (f32) into the residual buffer (also without residual) */
    float eps;
    float src_scale; /* source samples are multiplied by this (int8 steps); 0 = 1 */
    act_type dst_type;
    float dst_scale; /* int8 dst: fixed step; 0 = dynamic */
    /* int8 dst: relative step of each channel (read at init; NULL = 1): channel c is stored
     * as round(y / (dst_cscale[c] * t)) with t the tensor's step (the next convolution's
     * weights carry dst_cscale). */
    const float *dst_cscale;
    int32_t up; /* 1 or 2 */
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    border_mode border;
} norm_spec;

typedef struct norm_layer {
    norm_spec spec;
    norm_source sources[4];
    norm_source residual;
    void *dst; /* top-left corner of the padded buffer */
    const float *scale, *shift;
    float *ab;               /* [2][channels]: the per-channel affine of the current run */
    float used_dst_scale;    /* int8 dst: the scale of the last run */
    int isa;                 /* dnn_cpu_kernel_isa() */
    size_t scratchpad_bytes; /* always 0 (no oneDNN primitive); kept for the old API */
    /* Video: statistics smoothed over frames (norm_ema.h); NULL: this image's own. */
    struct norm_ema_slot *ema;
} norm_layer;

style_status norm_layer_init(norm_layer *layer, const norm_spec *spec);
/* Sources (spec.phases^2 of them), residual (ignored without spec.residual or when it is
 * dst), destination (top-left corner of the padded buffer). */
void norm_layer_set_buffers(norm_layer *layer, const norm_source *sources,
                            const norm_source *residual, void *dst);
void norm_layer_set_params(norm_layer *layer, const float *scale, const float *shift);
/* Runs the pass (OpenMP). Returns the dst scale used (int8 dst), else 0. */
float norm_layer_run(norm_layer *layer);

/* The original API, kept: instance norm (+ReLU) in place on an h x w x channels f32 tensor. */
style_status norm_layer_describe(norm_layer *layer, dnn_context *dnn, int32_t channels, int32_t h,
                                 int32_t w, float eps, bool relu);
/* In place on `data` (h x w x channels). scale/shift: [channels], kept by reference. */
style_status norm_layer_bind(norm_layer *layer, dnn_context *dnn, const float *scale,
                             const float *shift, float *data);
style_status norm_layer_forward(norm_layer *layer, dnn_context *dnn, dnn_scratchpad *scratchpad);
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
/* The same, written as bfloat16 (round to nearest, ties to even: style__f32_to_bf16): the
 * source of a bf16 training convolution, padded and converted in one pass. */
void pad_reflect_nhwc_bf16(const float *src, int32_t h, int32_t w, int32_t c, int32_t factor,
                           int32_t pad, uint16_t *dst);

/* Index of the source sample for padded coordinate i (may be < 0 or >= n). */
int32_t pad_reflect_index(int32_t i, int32_t n);

/* Index of the interior sample that padded coordinate i (relative to the interior, may be
 * < 0 or >= n) copies under `mode`; -1 for BORDER_ZERO outside the interior. */
int32_t pad_border_index(int32_t i, int32_t n, border_mode mode);

/*
 * Fills the border of a buffer whose interior (rows [top, top + h), columns [left, left + w))
 * holds an h x w tensor of `elem` bytes per pixel: zero, reflection, replication or wrap.
 */
void pad_fill_border(void *buffer, size_t pixel_bytes, int32_t h, int32_t w, int32_t top,
                     int32_t left, int32_t bottom, int32_t right, border_mode mode);

/* x += y over count floats (the residual connection). */
void residual_add(float *x, const float *y, size_t count);

/* bf16 <-> f32 (round to nearest even; NaN stays NaN). */
static inline float bf16_to_f32(uint16_t v)
{
    union {
        uint32_t u;
        float f;
    } x = {.u = (uint32_t)v << 16};
    return x.f;
}
static inline uint16_t f32_to_bf16(float f)
{
    union {
        float f;
        uint32_t u;
    } x = {.f = f};
    if ((x.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x.u >> 16) | 0x40u);
    x.u += 0x7fffu + ((x.u >> 16) & 1u);
    return (uint16_t)(x.u >> 16);
}

#endif
