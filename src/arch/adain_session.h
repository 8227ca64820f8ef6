/* A session's AdaIN machinery (adain_session.c), used by session.c for models of arch adain;
 * the styles it applies are adain_style.h's. */
#ifndef STYLE_ADAIN_SESSION_H
#define STYLE_ADAIN_SESSION_H

#include "arch/adain.h"

#include <stdbool.h>

typedef struct adain_runtime adain_runtime;

/* Bytes of the activations a width x height run allocates (tileable: with the wrapped
 * context; bf16: activations in bf16). */
uint64_t adain_runtime_estimate(const adain_model *model, int32_t width, int32_t height,
                                bool tileable, bool bf16);
/* Builds (*rt allocated on first use) for width x height unless already built for its padded
 * size, mode, `threads` and precision; fails with STYLE_ERR_LIMIT before allocating when over
 * `budget`. Tileable: the output of an image that tiles, tiles too (adain_session.c). bf16:
 * the encoder's and decoder's convolutions and activations in bf16 (f32 accumulation; the
 * tap's features, the AdaIN layer and the output stay f32). `dnn` reorders the weights. */
style_status adain_runtime_prepare(adain_runtime **rt, const adain_model *model, dnn_context *dnn,
                                   int32_t width, int32_t height, bool tileable, uint64_t budget,
                                   int threads, bool bf16);
/* One validated image of the prepared size: encoder, AdaIN with `strength` (alpha), decoder,
 * into `output` (the session's controls do the rest). `progress` (may be NULL) is asked
 * between the encoder and the decoder; non-zero stops the run with STYLE_ERR_CANCELLED. */
style_status adain_runtime_stylize(adain_runtime *rt, const adain_model *model, dnn_context *dnn,
                                   const style_adain_style *style, float strength,
                                   const style_image *input, style_image *output,
                                   int (*progress)(void *user, double fraction),
                                   void *progress_user);
/* The same for an image over the memory budget (or band_rows > 0: bands of at most that many
 * rows), in bands of rows that fit `budget`, (re)building *rt for them: the whole-image result
 * up to float rounding. STYLE_ERR_LIMIT when even the smallest band does not fit. `progress`
 * is asked between bands, as above. */
style_status adain_runtime_stylize_banded(adain_runtime **rt, const adain_model *model,
                                          dnn_context *dnn, const style_adain_style *style,
                                          float strength, const style_image *input,
                                          style_image *output, int32_t band_rows, uint64_t budget,
                                          int threads, bool bf16,
                                          int (*progress)(void *user, double fraction),
                                          void *progress_user);
void adain_runtime_free(adain_runtime *rt);
/* The current build: its size (padded, with a tileable run's context), FLOPs per image and
 * memory; zeros when nothing is built. */
void adain_runtime_describe(const adain_runtime *rt, int32_t *width, int32_t *height, double *flops,
                            uint64_t *memory);
/* Per-op timing of this and later builds on (reset) or off (*rt allocated on first use). */
style_status adain_runtime_set_profiling(adain_runtime **rt, bool enable);
/* The current build's per-op profile (style_session_get_profile); valid until the next call
 * or build. */
style_status adain_runtime_profile(adain_runtime *rt, const style_layer_profile **layers,
                                   const double **executed, size_t *count, uint64_t *runs);
/* 2 x the multiply-adds the current build's convolutions execute per image (fewer than the
 * FLOPs of adain_runtime_describe where upsampling convolutions run as sub-pixel phases). */
double adain_runtime_executed_flops(const adain_runtime *rt);
/* Whether the current build's convolutions run in bf16 (false when nothing is built). */
bool adain_runtime_bf16(const adain_runtime *rt);

/* Bytes of a forward run of the encoder (to the tap) at h x w: what making a style takes. */
uint64_t adain_encoder_bytes(const adain_model *model, int32_t h, int32_t w);

#endif
