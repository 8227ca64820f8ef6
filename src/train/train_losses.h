/*
 * The perceptual losses of the trainer (and of Gatys' optimisation), per image, with their
 * gradients. Definitions (pinned; the default weights belong to them):
 *   content = sum((F(x) - F(c))^2) / sum(F(c)^2)            at the content tap
 *   style_l = ||G_l(x) - G_l(s)||_F^2 / ||G_l(s)||_F^2,    G = F^T F / (C H W)
 *   moments = see moment_loss (AdaIN's style loss)
 *   tv      = mean((x[i+1,j] - x[i,j])^2) + mean((x[i,j+1] - x[i,j])^2), x in [0, 1]
 * Features are one image's NHWC activations (H*W rows of C).
 */
#ifndef STYLE_TRAIN_LOSSES_H
#define STYLE_TRAIN_LOSSES_H

#include "core/common.h"

/* gram: C x C. */
void gram_matrix(const float *features, int32_t hw, int32_t c, float *gram);
double gram_norm2(const float *gram, int32_t c);

/*
 * Style loss of one layer for one image against the style's Gram `target` (with squared
 * norm target_norm2), times `weight`; adds weight * dL/dF to diff (hw x c). `gram` and `delta`
 * are c x c scratch.
 */
double style_loss(const float *features, int32_t hw, int32_t c, const float *target,
                  double target_norm2, double weight, float *gram, float *delta, float *diff);

/*
 * Mean / standard-deviation style loss of one layer (AdaIN):
 *   (|mean(F) - target_mean|^2 + |std(F) - target_std|^2) / (|target_mean|^2 + |target_std|^2)
 * per channel statistics as adain_statistics, times weight; adds weight * dL/dF to diff.
 * mean and std are c floats of scratch.
 */
double moment_loss(const float *features, int32_t hw, int32_t c, const float *target_mean,
                   const float *target_std, double weight, float *mean, float *std, float *diff);

/* Content loss of one image, times weight; adds weight * dL/dF to diff. */
double content_loss(const float *features, const float *target, size_t count, double weight,
                    float *diff);

/*
 * Colour statistics of an image (pixels x 3 values 0..255) in RGB scaled to [0, 1]: the mean
 * (3) and the covariance (3 x 3, row-major, divided by the pixel count).
 */
void color_statistics(const float *image, size_t pixels, double mean[3], double cov[9]);

/*
 * Colour loss of one image (pixels x 3, values 0..255) against a style's colour statistics
 * (color_statistics of the style image), times weight:
 *   |mean(x) - mean(s)|^2 / tr(C(s)) + ||C(x) - C(s)||_F^2 / ||C(s)||_F^2
 * (both terms dimensionless: a palette wholly unlike the style's scores about 1 on each).
 * Adds weight * dL/dx (with respect to the 0..255 values) to diff.
 */
double color_loss(const float *image, size_t pixels, const double target_mean[3],
                  const double target_cov[9], double weight, float *diff);

/* The grid loss's tile: small enough to catch a pattern that only some regions of a crop
 * carry, large enough to hold many periods. */
#define TRAIN_GRID_TILE 64

/*
 * Grid loss of one image (h x w x 3, values 0..255 scaled to [0, 1]), times weight: a
 * pattern locked to the transform network's stride (the period-4 weave of nearest-upsampling
 * networks) makes the pixels at one phase (y mod period, x mod period) brighter than at
 * another. Per tile of tile x tile pixels (shrunk at the edges to whole periods) and channel,
 * the variance of the period^2 phase means around their mean; the loss is its mean over
 * tiles and channels. Adds weight * dL/dx (with respect to the 0..255 values) to diff.
 */
double grid_loss(const float *image, int32_t h, int32_t w, int32_t period, int32_t tile,
                 double weight, float *diff);

/* Total variation of one image (h x w x 3, values 0..255 scaled to [0, 1]), times weight;
 * adds weight * dL/dx (with respect to the 0..255 values) to diff. */
double tv_loss(const float *image, int32_t h, int32_t w, double weight, float *diff);

#endif
