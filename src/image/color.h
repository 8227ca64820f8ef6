/*
 * Colour operations on packed RGB float images (0..255, width x height x 3) in the
 * sRGB-encoded values the network reads and writes: a stylize run's controls (strength,
 * preserve colour) and Gatys' optimisation (--preserve-color) use the same ones.
 */
#ifndef STYLE_COLOR_H
#define STYLE_COLOR_H

#include <stddef.h>

/*
 * Keeps the luminance (BT.601 Y) of `image` and the chroma (Cb, Cr) of `content`. The luma
 * weights sum to 1, so that is image' = content + (Y(image) - Y(content)) on every channel,
 * computed in double precision. Values may leave 0..255 (not clamped here).
 */
void color_preserve_luminance(float *image, const float *content, size_t pixels);

/*
 * image' = strength * image + (1 - strength) * content, per sample (count floats), in the
 * sRGB-encoded values the network works in. strength 1 leaves image unchanged bit for bit.
 */
void color_blend(float *image, const float *content, size_t count, float strength);

/* Clamps count floats to 0..255 (NaN becomes 0). */
void color_clamp(float *values, size_t count);

#endif
