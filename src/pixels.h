/* Conversions between caller images and the network's float tensors. */
#ifndef STYLE_PIXELS_H
#define STYLE_PIXELS_H

#include "model.h"

/*
 * Writes the RGB of `image` (any sample type, 3 or 4 channels) into dst, padded_h x padded_w x 3
 * floats in 0..255, extending it on the bottom and right by reflection (replication where the
 * image is too small to reflect), as the network needs sizes divisible by 4.
 */
void pixels_to_tensor(const style_image *image, int32_t padded_h, int32_t padded_w, float *dst);

/*
 * Applies the output head (linear or 150*tanh(x)+127.5), clamps to 0..255 and writes the
 * top-left image->height x image->width of src (padded_w wide, 3 channels) into `image`.
 * Alpha: copied from `alpha_source` when it has 4 channels, else opaque.
 */
void tensor_to_pixels(const float *src, int32_t padded_w, model_output head,
                      const style_image *alpha_source, style_image *image);

#endif
