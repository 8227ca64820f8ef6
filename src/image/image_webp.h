/* WebP decoding and encoding in memory (libwebp), used by the public image functions. */
#ifndef STYLE_IMAGE_WEBP_H
#define STYLE_IMAGE_WEBP_H

#include "core/common.h"

/* True when the data starts with a RIFF header of form WEBP. */
bool style__webp_is_webp(const void *data, size_t size);

/*
 * Decodes a still WebP (lossy or lossless) held in memory into a fresh packed 8-bit image:
 * RGBA when the file has alpha (not premultiplied), RGB otherwise. The header's dimensions
 * are checked against max_pixels (which must not be 0) before the pixels are allocated.
 * Animated WebPs are refused with STYLE_ERR_UNSUPPORTED. The message carries no prefix.
 */
style_status style__webp_decode(const void *data, size_t size, uint64_t max_pixels,
                                style_image *out);

/* The size an image would decode to, from the headers alone, with the checks of decoding. */
style_status style__webp_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                              int32_t *height);

/*
 * Encodes a U8 RGB or RGBA image (any stride; alpha kept) as WebP: lossless when quality is
 * 0 (every sample exact, the colour under transparent pixels included), lossy at quality
 * 1..100 otherwise (alpha still lossless). On success *data holds *size bytes; free it with
 * style__free.
 */
style_status style__webp_encode(const style_image *image, int quality, void **data, size_t *size);

#endif
