/*
 * Temporal consistency for video (issue 19; docs/training.md): a crop and the same crop moved
 * by a known sub-pixel translation stand for two frames of a clip with exact motion (as
 * Ruder et al. and ReCoNet do with real flow), and the network is asked to paint the moved
 * crop as its painting of the first, moved: a transform network with a 4-pixel grid otherwise
 * paints content that moves by a fraction of its grid differently, which is what flickers.
 */
#ifndef STYLE_TRAIN_TEMPORAL_H
#define STYLE_TRAIN_TEMPORAL_H

#include "core/common.h"

/*
 * dst(y, x) = src at (y + dy, x + dx), bilinear, for one size x size x 3 image; samples
 * outside the image take the nearest edge pixel (those pixels are not compared by
 * temporal_loss).
 */
void temporal_shift_image(const float *src, int32_t size, double dy, double dx, float *dst);

/*
 * Temporal loss of one pair of outputs (size x size x 3, values 0..255 scaled to [0, 1]):
 * the mean over the pixels (y, x) whose source (y + dy, x + dx) lies inside the image, and
 * the three channels, of (moved(y, x) - first at (y + dy, x + dx), bilinear)^2, times weight.
 * Adds weight * dL/d(first) and dL/d(moved) (with respect to the 0..255 values) to the diffs.
 */
double temporal_loss(const float *first, const float *moved, int32_t size, double dy, double dx,
                     double weight, float *diff_first, float *diff_moved);

#endif
