/*
 * Temporal blending of a video session's output (style_video_settings.temporal_blend): each
 * stylized frame S(t) is blended with the previous output O(t-1) warped along the motion,
 *     O(t) = S(t) + a * m(x) * (warp(O(t-1))(x) - S(t)(x)),
 * a the blend weight and m in [0, 1] the reliability of the motion at x. The motion is the
 * library's own estimate on the input frames' luma (motion_estimate.h), both ways: m is 1
 * where the forward-backward check passes (|b + f(x + b)|^2 <= 0.01 (|b|^2 + |f(x + b)|^2)
 * + 0.5, Sundaram et al. 2010), the flow is not at a motion boundary (its gradient is
 * small), the source lies inside the previous frame and the warped
 * previous input matches this one (luma within TEMPORAL_MAX_LUMA_ERROR), softened by a
 * small box filter; so newly uncovered areas and occlusions keep this frame's stylization
 * instead of a ghost of the previous one. When less than TEMPORAL_MIN_RELIABLE of the frame
 * is reliable (a cut), nothing is blended.
 */
#ifndef STYLE_TEMPORAL_BLEND_H
#define STYLE_TEMPORAL_BLEND_H

#include "image/motion_estimate.h"

#define TEMPORAL_MAX_LUMA_ERROR 16.0f
#define TEMPORAL_MIN_RELIABLE 0.25
#define TEMPORAL_MASK_RADIUS 2
/* Motion boundaries: |grad flow|^2 <= 0.01 |flow|^2 + this (Ruder et al. use 0.002 with
 * DeepFlow; this estimate is noisier, and 0.002 refused a quarter of a real clip) */
#define TEMPORAL_MAX_FLOW_GRADIENT2 0.05f

/* What a stream keeps between frames. Zero-initialise. */
typedef struct temporal_state {
    int32_t width, height;
    bool primed;        /* previous frame held */
    float *luma;        /* previous input, width x height */
    float *output;      /* previous output, width x height x 3, 0..255 */
    float *next_output; /* the one being written */
    double reliable;    /* fraction of the last frame that was blended (0 when none) */
} temporal_state;

/*
 * Blends `output` (the stylized `frame`, same size) with the warped previous output, weight
 * `weight` in (0, 1), and records this frame for the next. A frame of another size than the
 * previous one, or the first, is left as it is. On failure the state is reset.
 */
style_status temporal_blend_apply(temporal_state *state, float weight, const style_image *frame,
                                  style_image *output);

/* The reliability mask m (width x height, 0..1) of `target` against `source` luma planes from
 * the two flows: exposed for the tests. Returns the fraction of reliable pixels. */
double temporal_reliability(const float *target, const float *source, const motion_field *back,
                            const motion_field *forward, float *mask, float *scratch);

/* Forgets the previous frame. */
void temporal_state_reset(temporal_state *state);
void temporal_state_release(temporal_state *state);

/* Luma (0..255, BT.601 weights) of an image's RGB. */
void temporal_luma(const style_image *image, float *luma);

#endif
