/*
 * Dense motion between two frames of a video, for the temporal blending of video sessions
 * (temporal_blend.h): a coarse-to-fine Lucas-Kanade estimate on luma. The library's own
 * estimate, needing nothing but the frames (no FFmpeg, no decoder motion vectors), so that
 * the flicker evaluation's flow (tests/video/flicker.py: exact or OpenCV DIS) is another one.
 *
 * Method: a Gaussian pyramid of both frames (5-tap binomial, halving, down to sides of about
 * 16 pixels, at most MOTION_MAX_LEVELS levels); from the coarsest level to the finest the flow
 * of the level above, doubled, is refined by a few Gauss-Newton steps of windowed
 * Lucas-Kanade: with g the gradient of the target and e = source(x + flow) - target(x), each
 * pixel solves (box-window means, plus a small ridge for flat areas)
 *     [<gx gx> + l   <gx gy>    ] d = -[<gx e>]
 *     [<gx gy>       <gy gy> + l]      [<gy e>]
 * and flow += d (each step at most MOTION_MAX_STEP pixels), then the flow is box-filtered
 * (radius MOTION_SMOOTHING_RADIUS), which keeps the coupled per-pixel steps from amplifying
 * rough error modes. A pixel whose source lies outside the frame contributes no residual.
 * Bilinear sampling, edges clamped.
 */
#ifndef STYLE_MOTION_ESTIMATE_H
#define STYLE_MOTION_ESTIMATE_H

#include "core/common.h"

#define MOTION_MAX_LEVELS 7
#define MOTION_MIN_SIDE 16
#define MOTION_ITERATIONS 4
#define MOTION_WINDOW_RADIUS 3
#define MOTION_RIDGE 1.0f /* luma units squared (0..255 luma, central-difference gradients) */
#define MOTION_MAX_STEP 2.0f
#define MOTION_SMOOTHING_RADIUS 2 /* box filter of the flow after each step */

/* A flow field: a pixel (x, y) of the target is at (x + dx, y + dy) in the source. */
typedef struct motion_field {
    int32_t width, height;
    float *dx, *dy; /* width * height each, row-major */
} motion_field;

/* Allocates a zero field of width x height. */
style_status motion_field_alloc(motion_field *field, int32_t width, int32_t height);
void motion_field_release(motion_field *field);

/*
 * Estimates the flow from `target` to `source` (two width x height luma planes, 0..255) into
 * `flow` (allocated to that size): target(x) ~ source(x + flow(x)).
 */
style_status motion_estimate(const float *target, const float *source, int32_t width,
                             int32_t height, motion_field *flow);

/* Bilinear sample of a width x height plane at (x, y), coordinates clamped to the plane. */
float motion_sample(const float *plane, int32_t width, int32_t height, float x, float y);

#endif
