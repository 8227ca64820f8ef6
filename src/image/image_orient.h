/* EXIF orientation: reading it from a JPEG's APP1 segment (libexif) and applying it. */
#ifndef STYLE_IMAGE_ORIENT_H
#define STYLE_IMAGE_ORIENT_H

#include "core/common.h"

/*
 * The EXIF orientation (1..8) of a JPEG held in memory: 1 when it has no EXIF segment, no
 * orientation tag or an invalid one (a damaged EXIF block never fails a decode). Fails only
 * with STYLE_ERR_NOMEM.
 */
style_status style__jpeg_orientation(const void *data, size_t size, int *orientation);

/*
 * Replaces *image (packed, any channel count and sample type) by its upright version for EXIF
 * orientation 1..8: 2 mirrors left-right, 3 turns 180 degrees, 4 mirrors top-bottom,
 * 5 transposes, 6 turns 90 degrees clockwise, 7 transverses, 8 turns 90 degrees
 * counter-clockwise (5..8 swap width and height). Orientation 1 changes nothing.
 */
style_status style__image_orient(style_image *image, int orientation);

#endif
