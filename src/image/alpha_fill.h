/* Filling the colour under fully transparent pixels before stylizing (push-pull). */
#ifndef STYLE_ALPHA_FILL_H
#define STYLE_ALPHA_FILL_H

#include "core/common.h"

/* Whether `image` has alpha, at least one pixel with alpha 0 (or NaN) and one visible pixel.
 * (Nothing visible: nothing to fill from, and an alpha channel that is all zero is more
 * likely unused than meant; the colours are then used as they are.) */
bool alpha_fill_needed(const style_image *image);

/* Bytes alpha_fill_copy allocates for a width x height image of `image`'s sample type. */
uint64_t alpha_fill_memory(int32_t width, int32_t height, const style_image *image);

/*
 * A packed RGBA copy of `image` (4 channels, same sample type) whose colour under alpha 0
 * comes from the nearest visible pixels (push-pull), smoothly; visible pixels and alpha are
 * copied unchanged. The fill depends on the visible pixels only. `periodic` (tileable mode):
 * the image wraps around, so a hole at an edge is filled from the visible pixels across it as
 * well, and rolling the image by a multiple of the pyramid's cells rolls the fill with it.
 * Release with style_image_release.
 */
style_status alpha_fill_copy(const style_image *image, bool periodic, style_image *filled);

/*
 * The policy of every stylize run (one place for every architecture): colour under alpha 0
 * must not reach the result, nor the statistics of the norms. *source becomes `input`, or,
 * when alpha_fill_needed, `filled` (filled with alpha_fill_copy; release it with
 * style_image_release either way). The fill's memory comes out of *budget; a banded run (one
 * that must stay within the budget) fails with STYLE_ERR_LIMIT when the fill alone does not
 * fit it.
 */
style_status alpha_fill_for_run(const style_image *input, bool periodic, bool banded,
                                uint64_t *budget, style_image *filled, const style_image **source);

#endif
