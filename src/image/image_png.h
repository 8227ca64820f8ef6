/* PNG decoding and encoding in memory (libpng), used by the public image functions. */
#ifndef STYLE_IMAGE_PNG_H
#define STYLE_IMAGE_PNG_H

#include "core/common.h"

/* True when the data starts with the 8-byte PNG signature. */
bool style__png_is_png(const void *data, size_t size);

/*
 * Decodes a PNG held in memory into a fresh packed image: RGB or RGBA (RGBA when the file has
 * an alpha channel or a tRNS chunk), STYLE_SAMPLE_U16 in host byte order for 16-bit files and
 * STYLE_SAMPLE_U8 otherwise. Grey, palette and low-bit-depth images are expanded.
 * The IHDR dimensions are checked against max_pixels (which must not be 0) before anything is
 * allocated. The message carries no prefix; the caller adds one.
 */
style_status style__png_decode(const void *data, size_t size, uint64_t max_pixels,
                               style_image *out);

/*
 * The size an image would decode to, from the IHDR alone (the same checks as decoding makes
 * before allocating; the pixel data is not read, so damage there is not detected).
 */
style_status style__png_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                             int32_t *height);
/*
 * The default zlib level: images up to STYLE__PNG_LARGE_PIXELS keep libpng's own default (6,
 * the smallest files at a cost nobody notices); larger ones get a fast level, because at
 * level 6 writing an 8192x8192 image took ~24 s, more than the network at the whole-image
 * rate; level 1 with Sub writes 4-5x faster for ~17 % more bytes (docs/performance.md).
 */
#define STYLE__PNG_SMALL_LEVEL 6
#define STYLE__PNG_LARGE_LEVEL 1
#define STYLE__PNG_LARGE_PIXELS (2048u * 2048u)
/* Levels up to this one use the Sub filter alone; higher ones libpng's adaptive choice. */
#define STYLE__PNG_FAST_LEVEL_MAX 3

/* The zlib level style__png_encode uses for `image` when the caller chose none. */
int style__png_default_level(const style_image *image);

/*
 * Encodes a U8 or U16 RGB/RGBA image (any stride) as a PNG of the same bit depth at zlib
 * `level` 0..9 (0: stored, unfiltered). On success *data holds *size bytes; free it with
 * style__free.
 */
style_status style__png_encode(const style_image *image, int level, void **data, size_t *size);

#endif
