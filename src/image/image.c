/* The style_image struct: allocation, release and validation. */
#include "core/common.h"

#include <string.h>

size_t style__sample_size(style_sample_type type)
{
    switch (type) {
    case STYLE_SAMPLE_U8: return 1;
    case STYLE_SAMPLE_U16: return 2;
    case STYLE_SAMPLE_F32: return 4;
    }
    return 0;
}

size_t style__image_stride(const style_image *image)
{
    if (image->stride) return image->stride;
    return (size_t)image->width * (size_t)image->channels * style__sample_size(image->sample_type);
}

style_status style__check_image(const style_image *image, const char *what)
{
    if (!image) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image is NULL", what);
    if (image->width < 1 || image->height < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image has size %dx%d", what,
                           image->width, image->height);
    if (image->channels != 3 && image->channels != 4)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s image has %d channels (3 or 4 are supported)", what,
                           image->channels);
    size_t sample = style__sample_size(image->sample_type);
    if (!sample)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image has unknown sample type %d", what,
                           (int)image->sample_type);
    size_t row;
    if (!style__mul_size((size_t)image->width * (size_t)image->channels, sample, &row))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image row size overflows", what);
    if (image->stride && image->stride < row)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s image stride %zu is smaller than a row (%zu bytes)", what,
                           image->stride, row);
    size_t total;
    if (!style__mul_size(style__image_stride(image), (size_t)image->height, &total))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image size overflows", what);
    if (!image->data) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s image has no data", what);
    return STYLE_OK;
}

style_status style_image_alloc(style_image *image, int32_t width, int32_t height, int32_t channels,
                               style_sample_type sample_type)
{
    if (!image) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_alloc: image is NULL");
    memset(image, 0, sizeof *image);
    if (width < 1 || height < 1 || (channels != 3 && channels != 4) ||
        !style__sample_size(sample_type))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "image_alloc: bad shape %dx%dx%d (sample type %d)", width, height,
                           channels, (int)sample_type);
    size_t bytes;
    if (!style__mul_size((size_t)width * (size_t)height, (size_t)channels, &bytes) ||
        !style__mul_size(bytes, style__sample_size(sample_type), &bytes))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_alloc: size overflows");
    void *data = style__aligned_alloc(bytes);
    if (!data)
        return style__fail(STYLE_ERR_NOMEM, "image_alloc: cannot allocate %zu bytes", bytes);
    image->width = width;
    image->height = height;
    image->channels = channels;
    image->sample_type = sample_type;
    image->stride = 0;
    image->data = data;
    return STYLE_OK;
}

void style_image_release(style_image *image)
{
    if (!image || !image->data) return;
    style__aligned_free(image->data);
    image->data = NULL;
}
