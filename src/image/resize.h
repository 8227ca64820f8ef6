/*
 * Resampling of RGB images (PIL's BILINEAR and BICUBIC semantics): photos for training and
 * evaluation, style images, and a session's --scale runs.
 */
#ifndef STYLE_RESIZE_H
#define STYLE_RESIZE_H

#include "core/common.h"

/* Resampling kernels: the triangle (PIL BILINEAR) or Keys' cubic, a = -0.5 (PIL BICUBIC). */
typedef enum resize_filter { RESIZE_TRIANGLE, RESIZE_CUBIC } resize_filter;

/*
 * Antialiased resampling of an RGB float image (src_w x src_h x 3, NHWC) to dst_w x dst_h:
 * separable triangle (bilinear) filter whose support widens by the scale factor when
 * downscaling (as PIL's BILINEAR resize does), so downscaled photos do not alias. Upscaling is
 * plain bilinear with the edges clamped; equal sizes copy exactly. Fails with
 * STYLE_ERR_INVALID_ARGUMENT for NULL buffers or sizes below 1 and STYLE_ERR_NOMEM when the
 * scratch memory cannot be had.
 */
style_status image_resize_rgb(const float *src, int32_t src_w, int32_t src_h, float *dst,
                              int32_t dst_w, int32_t dst_h);

/*
 * image_resize_rgb with a choice of kernel. The cubic kernel (stretched by the scale factor
 * when downscaling, like the triangle) is sharper; it has negative lobes, so its results can
 * overshoot the source's range by a few percent at edges: clamp them where that matters.
 */
style_status image_resize_rgb_filter(const float *src, int32_t src_w, int32_t src_h, float *dst,
                                     int32_t dst_w, int32_t dst_h, resize_filter filter);

/*
 * The window [x0, x0 + out_w) x [y0, y0 + out_h) of a decoded image (RGB or RGBA, any sample
 * type; alpha dropped, 16-bit and float samples scaled to 0..255) resized to dst_w x dst_h, into
 * `out` (out_w x out_h x 3 floats), computing only what the window needs: a crop of a resized
 * photo without the whole resized photo.
 */
style_status image_resize_window(const style_image *image, resize_filter filter, int32_t dst_w,
                                 int32_t dst_h, int32_t x0, int32_t y0, int32_t out_w,
                                 int32_t out_h, float *out);

#endif
