/* JPEG decoding and encoding in memory (TurboJPEG), used by the public image functions. */
#ifndef STYLE_IMAGE_JPEG_H
#define STYLE_IMAGE_JPEG_H

#include "core/common.h"

/* True when the data starts with a JPEG SOI marker followed by another marker (FF D8 FF). */
bool style__jpeg_is_jpeg(const void *data, size_t size);

/*
 * Decodes a JPEG held in memory into a fresh packed 8-bit RGB image (grey is expanded; CMYK and
 * YCCK are converted as Pillow converts them, inverted CMYK when an Adobe APP14 marker is
 * present), turned upright by its EXIF orientation. The header's
 * dimensions are checked against max_pixels
 * (which must not be 0) before the pixels are allocated. The message carries no prefix.
 */
style_status style__jpeg_decode(const void *data, size_t size, uint64_t max_pixels,
                                style_image *out);

/*
 * The size an image would decode to, from the frame header alone, with the same checks as
 * decoding (max_pixels); the entropy-coded data is not read.
 */
style_status style__jpeg_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                              int32_t *height);
/*
 * Encodes a U8 RGB or RGBA image (any stride; alpha is ignored) as a baseline JPEG at
 * `quality` 1..100. On success *data holds *size bytes; free it with style__free.
 */
style_status style__jpeg_encode(const style_image *image, int quality, void **data, size_t *size);

#endif
