/*
 * The public image file functions: style_image_load, style_image_load_memory,
 * style_image_save and style_image_encode. The format is detected from the content when
 * loading and from the extension (or the format name) when saving; the codecs themselves
 * live in image_png.c, image_jpeg.c and image_webp.c. A file that is no image is named by
 * what it is (file_kind.c).
 */
#include "core/common.h"
#include "core/file_kind.h"
#include "image/image_jpeg.h"
#include "image/image_png.h"
#include "image/image_webp.h"

#include <string.h>
#include <strings.h>

/* Image files larger than this are refused before being read (no sane photo comes close). */
#define IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)

#define JPEG_DEFAULT_QUALITY 92

typedef enum image_codec {
    IMAGE_CODEC_UNKNOWN,
    IMAGE_CODEC_PNG,
    IMAGE_CODEC_JPEG,
    IMAGE_CODEC_WEBP
} image_codec;

/* Not PNG, JPEG or WebP: says what the data is instead (a model, a GIF, ...). */
static style_status not_an_image(const void *data, size_t size)
{
    style_status status = style__file_kind_check(data, size, FILE_ROLE_IMAGE);
    if (status != STYLE_OK) return status;
    return style__fail(STYLE_ERR_FORMAT, "not a PNG, JPEG or WebP image");
}

/* Decodes by content; messages carry no prefix. */
static style_status image_decode(const void *data, size_t size, uint64_t max_pixels,
                                 style_image *out)
{
    if (max_pixels == 0) max_pixels = STYLE_DEFAULT_MAX_PIXELS;
    if (style__png_is_png(data, size)) return style__png_decode(data, size, max_pixels, out);
    if (style__jpeg_is_jpeg(data, size)) return style__jpeg_decode(data, size, max_pixels, out);
    if (style__webp_is_webp(data, size)) return style__webp_decode(data, size, max_pixels, out);
    return not_an_image(data, size);
}

style_status style_image_load_memory(const void *data, size_t size, uint64_t max_pixels,
                                     style_image *out)
{
    style_status status = STYLE_OK;
    if (out) memset(out, 0, sizeof *out);

    FAIL_IF(!out, STYLE_ERR_INVALID_ARGUMENT, "out is NULL");
    FAIL_IF(!data && size, STYLE_ERR_INVALID_ARGUMENT, "data is NULL");
    TRY(image_decode(data, size, max_pixels, out));
    return STYLE_OK;
fail:
    style__prefix_error("image_load_memory");
    return status;
}

style_status style_image_load(const char *path, uint64_t max_pixels, style_image *out)
{
    style_status status = STYLE_OK;
    void *data = NULL;
    size_t size = 0;
    if (out) memset(out, 0, sizeof *out);

    FAIL_IF(!path, STYLE_ERR_INVALID_ARGUMENT, "path is NULL");
    FAIL_IF(!out, STYLE_ERR_INVALID_ARGUMENT, "%s: out is NULL", path);
    /* style__read_file's messages already name the path. */
    TRY(style__read_file(path, IMAGE_MAX_FILE_BYTES, &data, &size));
    status = image_decode(data, size, max_pixels, out);
    if (status != STYLE_OK) {
        style__prefix_error(path);
        goto fail;
    }
    style__free(data);
    return STYLE_OK;
fail:
    style__prefix_error("image_load");
    style__free(data);
    return status;
}

style_status style__image_file_size(const char *path, uint64_t max_pixels, int32_t *width,
                                    int32_t *height)
{
    void *data = NULL;
    size_t size = 0;
    style_status status = style__read_file(path, IMAGE_MAX_FILE_BYTES, &data, &size);
    if (status != STYLE_OK) return status;
    if (max_pixels == 0) max_pixels = STYLE_DEFAULT_MAX_PIXELS;
    if (style__png_is_png(data, size))
        status = style__png_size(data, size, max_pixels, width, height);
    else if (style__jpeg_is_jpeg(data, size))
        status = style__jpeg_size(data, size, max_pixels, width, height);
    else if (style__webp_is_webp(data, size))
        status = style__webp_size(data, size, max_pixels, width, height);
    else
        status = not_an_image(data, size);
    if (status != STYLE_OK) style__prefix_error(path);
    style__free(data);
    return status;
}

static image_codec image_codec_for_path(const char *path)
{
    const char *dot = strrchr(style__basename(path), '.');
    if (!dot) return IMAGE_CODEC_UNKNOWN;
    if (strcasecmp(dot, ".png") == 0) return IMAGE_CODEC_PNG;
    if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return IMAGE_CODEC_JPEG;
    if (strcasecmp(dot, ".webp") == 0) return IMAGE_CODEC_WEBP;
    return IMAGE_CODEC_UNKNOWN;
}

static uint8_t u16_to_u8(uint16_t value)
{
    return (uint8_t)(((uint32_t)value * 255u + 32767u) / 65535u);
}

/* Round half up and clamp to 0..255; NaN becomes 0 (the comparison is false for it). */
static uint8_t f32_to_u8(float value)
{
    if (!(value > 0.0f)) return 0;
    if (value >= 255.0f) return 255;
    return (uint8_t)(value + 0.5f);
}

/*
 * A packed 8-bit copy of a U16 or F32 image with `channels` channels (the first ones of the
 * source), for the encoders, which take 8-bit samples for JPEG and for float images.
 */
static style_status image_to_u8(const style_image *image, int32_t channels, style_image *out)
{
    style_status status =
        style_image_alloc(out, image->width, image->height, channels, STYLE_SAMPLE_U8);
    if (status != STYLE_OK) return status;
    const unsigned char *source = image->data;
    size_t stride = style__image_stride(image);
    uint8_t *dest = out->data;
    for (int32_t y = 0; y < image->height; y++) {
        const unsigned char *row = source + (size_t)y * stride;
        for (int32_t x = 0; x < image->width; x++) {
            for (int32_t c = 0; c < channels; c++) {
                size_t index = (size_t)x * (size_t)image->channels + (size_t)c;
                if (image->sample_type == STYLE_SAMPLE_U16) {
                    uint16_t value;
                    memcpy(&value, row + index * sizeof value, sizeof value);
                    *dest++ = u16_to_u8(value);
                } else if (image->sample_type == STYLE_SAMPLE_F32) {
                    float value;
                    memcpy(&value, row + index * sizeof value, sizeof value);
                    *dest++ = f32_to_u8(value);
                } else {
                    *dest++ = row[index];
                }
            }
        }
    }
    return STYLE_OK;
}

static image_codec image_codec_for_name(const char *format)
{
    if (strcasecmp(format, "png") == 0) return IMAGE_CODEC_PNG;
    if (strcasecmp(format, "jpeg") == 0 || strcasecmp(format, "jpg") == 0) return IMAGE_CODEC_JPEG;
    if (strcasecmp(format, "webp") == 0) return IMAGE_CODEC_WEBP;
    return IMAGE_CODEC_UNKNOWN;
}

/*
 * The caller's options with every field past its struct_size zero (a program built against an
 * older libstyle.h passes a shorter struct) and the PNG level checked; png_level becomes the
 * zlib level 0..9, or -1 for "the default for this image".
 */
static style_status save_options_copy(const style_save_options *options, style_save_options *copy)
{
    memset(copy, 0, sizeof *copy);
    if (options && options->struct_size < sizeof(size_t))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "options.struct_size not set");
    if (options)
        memcpy(copy, options,
               options->struct_size < sizeof *copy ? options->struct_size : sizeof *copy);
    if (copy->png_level < STYLE_PNG_LEVEL_STORED || copy->png_level > 9)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "png_level %d is out of range (1..9, STYLE_PNG_LEVEL_STORED for "
                           "no compression, or 0 for the default)",
                           copy->png_level);
    copy->png_level = copy->png_level == 0                        ? -1
                      : copy->png_level == STYLE_PNG_LEVEL_STORED ? 0
                                                                  : copy->png_level;
    return STYLE_OK;
}

/* Validates and encodes in memory; messages carry no prefix. `png_level`: -1 = default. */
static style_status image_encode(image_codec codec, const style_image *image, int quality,
                                 int png_level, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    style_image converted;
    memset(&converted, 0, sizeof converted);

    TRY(style__check_image(image, "the"));
    if (codec == IMAGE_CODEC_PNG) {
        /* PNG keeps 8- and 16-bit samples as they are; floats become 8-bit. */
        const style_image *source = image;
        if (image->sample_type == STYLE_SAMPLE_F32) {
            TRY(image_to_u8(image, image->channels, &converted));
            source = &converted;
        }
        TRY(style__png_encode(source, png_level < 0 ? style__png_default_level(source) : png_level,
                              data, size));
    } else if (codec == IMAGE_CODEC_WEBP) {
        FAIL_IF(quality < 0 || quality > 100, STYLE_ERR_INVALID_ARGUMENT,
                "quality %d is out of range (1..100 for lossy WebP, or 0 for lossless)", quality);
        /* WebP stores 8-bit samples, alpha included. */
        const style_image *source = image;
        if (image->sample_type != STYLE_SAMPLE_U8) {
            TRY(image_to_u8(image, image->channels, &converted));
            source = &converted;
        }
        TRY(style__webp_encode(source, quality, data, size));
    } else {
        int jpeg_quality = quality == 0 ? JPEG_DEFAULT_QUALITY : quality;
        FAIL_IF(jpeg_quality < 1 || jpeg_quality > 100, STYLE_ERR_INVALID_ARGUMENT,
                "jpeg_quality %d is out of range (1..100, or 0 for %d)", jpeg_quality,
                JPEG_DEFAULT_QUALITY);
        /* JPEG has no alpha and stores 8-bit samples: drop alpha while converting. */
        const style_image *source = image;
        if (image->sample_type != STYLE_SAMPLE_U8) {
            TRY(image_to_u8(image, 3, &converted));
            source = &converted;
        }
        TRY(style__jpeg_encode(source, jpeg_quality, data, size));
    }
    style_image_release(&converted);
    return STYLE_OK;
fail:
    style_image_release(&converted);
    return status;
}

style_status style_image_save(const char *path, const style_image *image, int jpeg_quality)
{
    style_save_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.quality = jpeg_quality;
    return style_image_save_with_options(path, image, &options);
}

style_status style_image_save_with_options(const char *path, const style_image *image,
                                           const style_save_options *options)
{
    style_status status = STYLE_OK;
    void *encoded = NULL;
    size_t encoded_size = 0;
    style_save_options settings;

    FAIL_IF(!path, STYLE_ERR_INVALID_ARGUMENT, "path is NULL");
    status = save_options_copy(options, &settings);
    if (status == STYLE_OK)
        status = image_codec_for_path(path) == IMAGE_CODEC_UNKNOWN
                     ? style__fail(STYLE_ERR_INVALID_ARGUMENT,
                                   "unknown file extension (expected .png, .jpg, .jpeg or .webp)")
                     : image_encode(image_codec_for_path(path), image, settings.quality,
                                    settings.png_level, &encoded, &encoded_size);
    if (status != STYLE_OK) {
        style__prefix_error(path);
        goto fail;
    }
    /* Encoding fully in memory first means a failed encode never touches the file system. */
    TRY(style__write_file_atomic(path, encoded, encoded_size));
    style__free(encoded);
    return STYLE_OK;
fail:
    style__prefix_error("image_save");
    style__free(encoded);
    return status;
}

style_status style_image_encode(const style_image *image, const char *format, int jpeg_quality,
                                void **data, size_t *size)
{
    style_save_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.quality = jpeg_quality;
    return style_image_encode_with_options(image, format, &options, data, size);
}

style_status style_image_encode_with_options(const style_image *image, const char *format,
                                             const style_save_options *options, void **data,
                                             size_t *size)
{
    style_status status = STYLE_OK;
    image_codec codec;
    style_save_options settings;
    if (data) *data = NULL;
    if (size) *size = 0;

    FAIL_IF(!data || !size, STYLE_ERR_INVALID_ARGUMENT, "data or size is NULL");
    FAIL_IF(!format, STYLE_ERR_INVALID_ARGUMENT, "format is NULL");
    TRY(save_options_copy(options, &settings));
    codec = image_codec_for_name(format);
    FAIL_IF(codec == IMAGE_CODEC_UNKNOWN, STYLE_ERR_INVALID_ARGUMENT,
            "unknown format '%s' (expected png, jpeg or webp)", format);
    TRY(image_encode(codec, image, settings.quality, settings.png_level, data, size));
    return STYLE_OK;
fail:
    style__prefix_error("image_encode");
    return status;
}

void style_free(void *data)
{
    style__free(data);
}
