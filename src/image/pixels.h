/* Conversions between caller images and the network's float tensors. */
#ifndef STYLE_PIXELS_H
#define STYLE_PIXELS_H

#include "model/model.h"

/*
 * Writes the RGB of `image` (any sample type, 3 or 4 channels) into dst, padded_h x padded_w x 3
 * floats in 0..255, extending it on the bottom and right by reflection (replication where the
 * image is too small to reflect), as the network needs sizes divisible by 4.
 */
void pixels_to_tensor(const style_image *image, int32_t padded_h, int32_t padded_w, float *dst);

/* Row `y` (0 <= y < padded height) of what pixels_to_tensor writes: padded_w x 3 floats. */
void pixels_row_to_floats(const style_image *image, int32_t y, int32_t padded_w, float *dst);

/* One sample of a row as 0..255 (U16 scaled), and back (value in 0..255, already clamped). */
float pixels_read_sample(const unsigned char *row, int32_t index, style_sample_type type);
void pixels_write_sample(unsigned char *row, int32_t index, style_sample_type type, float value);

/*
 * Bilinear resampling of a periodic sh x sw x 3 tensor to dh x dw x 3, wrapping around the
 * edges (the result is periodic too): how tileable mode brings a texture whose sides are not
 * multiples of 4 to the network's size and back without creating a seam.
 */
void tensor_resample_periodic(const float *src, int32_t sh, int32_t sw, float *dst, int32_t dh,
                              int32_t dw);

/*
 * Applies the output head (linear or 150*tanh(x)+127.5), clamps to 0..255 and writes the
 * top-left image->height x image->width of src (padded_w wide, 3 channels) into `image`.
 * Alpha: copied from `alpha_source` when it has 4 channels, else opaque.
 */
void tensor_to_pixels(const float *src, int32_t padded_w, model_output head,
                      const style_image *alpha_source, style_image *image);

#endif
