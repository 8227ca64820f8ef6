/*
 * WebP decoding and encoding in memory through libwebp's advanced API: the decoder writes
 * into pixel memory of ours (so the failure-injection hook reaches it) and reports a status
 * code per failure, which words the message; the encoder's output is copied into a buffer of
 * ours before libwebp's is freed.
 */
#include "image/image_webp.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>

bool style__webp_is_webp(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    return data && size >= 12 && memcmp(bytes, "RIFF", 4) == 0 && memcmp(bytes + 8, "WEBP", 4) == 0;
}

static style_status webp_failure(VP8StatusCode code)
{
    switch (code) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return style__fail(STYLE_ERR_NOMEM, "out of memory while decoding a WebP");
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return style__fail(STYLE_ERR_FORMAT, "truncated WebP (the data ends too early)");
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return style__fail(STYLE_ERR_UNSUPPORTED, "WebP uses a feature libwebp cannot decode");
    default:
        return style__fail(STYLE_ERR_FORMAT, "corrupt WebP (status %d)", (int)code);
    }
}

/* Reads and checks the headers: the size, refusing animations and images over max_pixels. */
static style_status webp_read_header(const void *data, size_t size, uint64_t max_pixels,
                                     WebPBitstreamFeatures *features)
{
    VP8StatusCode code = WebPGetFeatures(data, size, features);
    if (code != VP8_STATUS_OK) return webp_failure(code);
    if (features->has_animation)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "animated WebP images are not supported (extract a frame first)");
    if (features->width < 1 || features->height < 1)
        return style__fail(STYLE_ERR_FORMAT, "corrupt WebP (size %dx%d)", features->width,
                           features->height);
    uint64_t pixels = (uint64_t)features->width * (uint64_t)features->height;
    if (pixels > max_pixels)
        return style__fail(STYLE_ERR_LIMIT,
                           "WebP is %dx%d = %" PRIu64 " pixels, over the limit of %" PRIu64
                           " pixels",
                           features->width, features->height, pixels, max_pixels);
    return STYLE_OK;
}

style_status style__webp_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                              int32_t *height)
{
    WebPBitstreamFeatures features;
    memset(&features, 0, sizeof features);
    style_status status = webp_read_header(data, size, max_pixels, &features);
    *width = status == STYLE_OK ? features.width : 0;
    *height = status == STYLE_OK ? features.height : 0;
    return status;
}

style_status style__webp_decode(const void *data, size_t size, uint64_t max_pixels,
                                style_image *out)
{
    style_status status = STYLE_OK;
    style_image image;
    WebPDecoderConfig config;
    memset(&image, 0, sizeof image);
    memset(out, 0, sizeof *out);

    FAIL_IF(!WebPInitDecoderConfig(&config), STYLE_ERR_INTERNAL,
            "libwebp's decoder does not match its header");
    TRY(webp_read_header(data, size, max_pixels, &config.input));
    int channels = config.input.has_alpha ? 4 : 3;
    TRY(style_image_alloc(&image, config.input.width, config.input.height, channels,
                          STYLE_SAMPLE_U8));
    config.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    config.output.is_external_memory = 1;
    config.output.u.RGBA.rgba = image.data;
    config.output.u.RGBA.stride = image.width * channels;
    config.output.u.RGBA.size = (size_t)image.width * (size_t)channels * (size_t)image.height;
    VP8StatusCode code = WebPDecode(data, size, &config);
    WebPFreeDecBuffer(&config.output); /* frees nothing of ours: the memory is external */
    if (code != VP8_STATUS_OK) {
        status = webp_failure(code);
        goto fail;
    }
    *out = image;
    return STYLE_OK;
fail:
    style_image_release(&image);
    return status;
}

style_status style__webp_encode(const style_image *image, int quality, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    WebPConfig config;
    WebPPicture picture;
    WebPMemoryWriter writer;
    bool picture_ready = false;
    unsigned char *buffer = NULL;
    *data = NULL;
    *size = 0;
    WebPMemoryWriterInit(&writer);

    FAIL_IF(image->sample_type != STYLE_SAMPLE_U8, STYLE_ERR_INTERNAL,
            "WebP encoder given sample type %d", (int)image->sample_type);
    FAIL_IF(quality < 0 || quality > 100, STYLE_ERR_INTERNAL, "WebP encoder given quality %d",
            quality);
    FAIL_IF(image->width > WEBP_MAX_DIMENSION || image->height > WEBP_MAX_DIMENSION,
            STYLE_ERR_UNSUPPORTED, "WebP cannot store %dx%d (at most %d pixels a side)",
            image->width, image->height, WEBP_MAX_DIMENSION);
    size_t stride = style__image_stride(image);
    FAIL_IF(stride > INT_MAX, STYLE_ERR_UNSUPPORTED, "image stride %zu is too large for WebP",
            stride);
    FAIL_IF(!WebPConfigInit(&config) || !WebPPictureInit(&picture), STYLE_ERR_INTERNAL,
            "libwebp's encoder does not match its header");
    if (quality == 0) {
        config.lossless = 1;
        config.exact = 1; /* keep the colour under transparent pixels too */
    } else {
        config.quality = (float)quality;
    }
    picture.use_argb = config.lossless;
    picture.width = image->width;
    picture.height = image->height;
    picture.writer = WebPMemoryWrite;
    picture.custom_ptr = &writer;
    int imported = image->channels == 4 ? WebPPictureImportRGBA(&picture, image->data, (int)stride)
                                        : WebPPictureImportRGB(&picture, image->data, (int)stride);
    picture_ready = true;
    FAIL_IF(!imported, STYLE_ERR_NOMEM, "out of memory while encoding a WebP");
    if (!WebPEncode(&config, &picture)) {
        FAIL_IF(picture.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ||
                    picture.error_code == VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY,
                STYLE_ERR_NOMEM, "out of memory while encoding a WebP");
        FAIL_IF(true, STYLE_ERR_INTERNAL, "WebP encoder failed (error %d)",
                (int)picture.error_code);
    }
    buffer = style__malloc(writer.size);
    FAIL_IF(!buffer, STYLE_ERR_NOMEM, "cannot allocate %zu bytes for the WebP", writer.size);
    memcpy(buffer, writer.mem, writer.size);
    *data = buffer;
    *size = writer.size;
    WebPPictureFree(&picture);
    WebPMemoryWriterClear(&writer);
    return STYLE_OK;
fail:
    if (picture_ready) WebPPictureFree(&picture);
    WebPMemoryWriterClear(&writer);
    return status;
}
