/*
 * JPEG decoding and encoding in memory through the TurboJPEG API.
 *
 * TurboJPEG keeps its setjmp-based error handling inside each call and reports failures as a
 * -1 return with a per-handle message. Its internal working memory comes from its own
 * allocator; the pixel and output buffers come from ours, so the failure-injection hook still
 * reaches every allocation libstyle hands back to the caller.
 *
 * CMYK and YCCK files (print pipelines, stock photos) are decoded to CMYK by libjpeg (which
 * turns YCCK into CMYK) and converted to RGB here with the formula Pillow uses; a file with
 * an Adobe APP14 marker, as Photoshop and libjpeg write them, stores inverted CMYK.
 */
#include "image/image_jpeg.h"
#include "image/image_orient.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <turbojpeg.h>

/* The largest width or height a JPEG frame header can hold. */
#define JPEG_DIMENSION_MAX 65535

bool style__jpeg_is_jpeg(const void *data, size_t size)
{
    const unsigned char *bytes = data;
    return data && size >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
}

/*
 * True when the marker segments before the first scan run past the end of the data.
 * libjpeg's memory source answers the end of the data with a fake EOI marker, so a file cut
 * inside its headers fails with a misleading "missing SOS marker" or "bogus table"; this walk
 * only serves to word the message.
 */
static bool jpeg_headers_truncated(const unsigned char *bytes, size_t size)
{
    size_t pos = 2; /* after SOI */
    for (;;) {
        while (pos < size && bytes[pos] == 0xff && pos + 1 < size && bytes[pos + 1] == 0xff)
            pos++; /* fill bytes before a marker */
        if (pos + 2 > size) return true;
        if (bytes[pos] != 0xff) return false; /* malformed, not short */
        unsigned marker = bytes[pos + 1];
        if (marker == 0xd9) return false;                           /* EOI */
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { /* no length field */
            pos += 2;
            continue;
        }
        if (pos + 4 > size) return true;
        size_t length = (size_t)bytes[pos + 2] << 8 | bytes[pos + 3];
        if (length < 2) return false;
        if (length > size - pos - 2) return true;
        if (marker == 0xda) return false; /* SOS: the entropy-coded data follows */
        pos += 2 + length;
    }
}

/*
 * The status and message for a failed TurboJPEG call. libjpeg names its own memory failures
 * "Insufficient memory"; anything else from the decoder means the data is bad.
 */
static style_status jpeg_failure(tjhandle handle, const void *data, size_t size)
{
    bool decoding = data != NULL;
    const char *message = tjGetErrorStr2(handle);
    if (!message) message = "unknown error";
    if (strstr(message, "Insufficient memory"))
        return style__fail(STYLE_ERR_NOMEM, "out of memory while %s a JPEG (%s)",
                           decoding ? "decoding" : "encoding", message);
    if (!decoding) return style__fail(STYLE_ERR_INTERNAL, "JPEG encoder failed (%s)", message);
    if (jpeg_headers_truncated(data, size))
        return style__fail(STYLE_ERR_FORMAT,
                           "truncated JPEG (the data ends after %zu bytes, inside the headers)",
                           size);
    if (strstr(message, "Premature end"))
        return style__fail(STYLE_ERR_FORMAT, "truncated JPEG (%s)", message);
    return style__fail(STYLE_ERR_FORMAT, "corrupt JPEG (%s)", message);
}

/*
 * True when an Adobe APP14 segment ("Adobe" at the start of an FF EE marker segment) comes
 * before the first scan: its writer stored CMYK inverted (0 = full ink), as Photoshop does.
 */
static bool jpeg_has_adobe_marker(const unsigned char *bytes, size_t size)
{
    size_t pos = 2; /* after SOI */
    while (pos + 4 <= size && bytes[pos] == 0xff) {
        unsigned marker = bytes[pos + 1];
        if (marker == 0xff) { /* a fill byte */
            pos++;
            continue;
        }
        if (marker == 0xd9 || marker == 0xda) return false; /* EOI, SOS */
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
            pos += 2;
            continue;
        }
        size_t length = (size_t)bytes[pos + 2] << 8 | bytes[pos + 3];
        if (length < 2 || length > size - pos - 2) return false;
        if (marker == 0xee && length >= 2 + 5 && memcmp(bytes + pos + 4, "Adobe", 5) == 0)
            return true;
        pos += 2 + length;
    }
    return false;
}

/* Pillow's a * b / 255 with rounding (libImaging's MULDIV255). */
static inline unsigned muldiv255(unsigned a, unsigned b)
{
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/*
 * CMYK (0 = no ink, or 255 = no ink when inverted) to RGB in place of a packed RGB image,
 * by Pillow's formula: R = (255 - K) - C (255 - K) / 255, and likewise G from M, B from Y.
 */
static void jpeg_cmyk_to_rgb(const unsigned char *cmyk, bool inverted, style_image *image)
{
    unsigned flip = inverted ? 255u : 0u;
    unsigned char *rgb = image->data;
    size_t pixels = (size_t)image->width * (size_t)image->height;
    for (size_t i = 0; i < pixels; i++) {
        const unsigned char *ink = cmyk + 4 * i;
        unsigned no_black = 255u - (ink[3] ^ flip);
        for (int c = 0; c < 3; c++)
            rgb[3 * i + c] = (unsigned char)(no_black - muldiv255(ink[c] ^ flip, no_black));
    }
}

/* Reads and checks the frame header: the size and colour space, refusing images over
 * max_pixels. */
static style_status jpeg_read_header(tjhandle decoder, const void *data, size_t size,
                                     uint64_t max_pixels, int *width, int *height, int *colorspace)
{
    style_status status = STYLE_OK;
    int subsampling = 0;
    FAIL_IF(size > ULONG_MAX, STYLE_ERR_LIMIT, "JPEG of %zu bytes is too large", size);
    if (tjDecompressHeader3(decoder, data, (unsigned long)size, width, height, &subsampling,
                            colorspace) != 0)
        return jpeg_failure(decoder, data, size);
    /* A stream of tables only (or one cut before its frame header) decodes as 0x0. */
    FAIL_IF(*width < 1 || *height < 1, STYLE_ERR_FORMAT, "%s JPEG (%s)",
            jpeg_headers_truncated(data, size) ? "truncated" : "corrupt",
            "no image frame before the end of the data");
    uint64_t pixels = (uint64_t)*width * (uint64_t)*height;
    FAIL_IF(pixels > max_pixels, STYLE_ERR_LIMIT,
            "JPEG is %dx%d = %" PRIu64 " pixels, over the limit of %" PRIu64 " pixels", *width,
            *height, pixels, max_pixels);
    return STYLE_OK;
fail:
    return status;
}

style_status style__jpeg_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                              int32_t *height)
{
    tjhandle decoder = tjInitDecompress();
    if (!decoder)
        return style__fail(STYLE_ERR_NOMEM, "cannot create a JPEG decoder (%s)",
                           tjGetErrorStr2(NULL));
    int w = 0, h = 0, colorspace = 0;
    style_status status = jpeg_read_header(decoder, data, size, max_pixels, &w, &h, &colorspace);
    tjDestroy(decoder);
    *width = w, *height = h;
    return status;
}

style_status style__jpeg_decode(const void *data, size_t size, uint64_t max_pixels,
                                style_image *out)
{
    style_status status = STYLE_OK;
    tjhandle decoder = NULL;
    style_image image, cmyk;
    memset(&image, 0, sizeof image);
    memset(&cmyk, 0, sizeof cmyk);
    memset(out, 0, sizeof *out);

    decoder = tjInitDecompress();
    FAIL_IF(!decoder, STYLE_ERR_NOMEM, "cannot create a JPEG decoder (%s)", tjGetErrorStr2(NULL));
    int width = 0, height = 0, colorspace = 0;
    TRY(jpeg_read_header(decoder, data, size, max_pixels, &width, &height, &colorspace));
    bool ink = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;

    TRY(style_image_alloc(&image, width, height, 3, STYLE_SAMPLE_U8));
    /* CMYK is decoded into an image of 4 channels of ink, then converted into `image`. */
    if (ink) TRY(style_image_alloc(&cmyk, width, height, 4, STYLE_SAMPLE_U8));
    /*
     * STOPONWARNING: libjpeg only warns about truncated or corrupt entropy data and fills
     * the rest with grey; a damaged file must be an error, not a half-grey picture.
     * LIMITSCANS: refuses progressive files with absurd scan counts (a CPU bomb).
     */
    if (tjDecompress2(decoder, data, (unsigned long)size, ink ? cmyk.data : image.data, width,
                      width * (ink ? 4 : 3), height, ink ? TJPF_CMYK : TJPF_RGB,
                      TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0) {
        status = jpeg_failure(decoder, data, size);
        goto fail;
    }
    if (ink) {
        jpeg_cmyk_to_rgb(cmyk.data, jpeg_has_adobe_marker(data, size), &image);
        style_image_release(&cmyk);
    }

    tjDestroy(decoder);
    decoder = NULL;
    /* Upright, as every viewer shows it: the output carries no EXIF to say otherwise. */
    int orientation;
    TRY(style__jpeg_orientation(data, size, &orientation));
    TRY(style__image_orient(&image, orientation));
    *out = image;
    return STYLE_OK;
fail:
    if (decoder) tjDestroy(decoder);
    style_image_release(&cmyk);
    style_image_release(&image);
    return status;
}

style_status style__jpeg_encode(const style_image *image, int quality, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    tjhandle encoder = NULL;
    unsigned char *buffer = NULL;
    *data = NULL;
    *size = 0;

    FAIL_IF(image->sample_type != STYLE_SAMPLE_U8, STYLE_ERR_INTERNAL,
            "JPEG encoder given sample type %d", (int)image->sample_type);
    FAIL_IF(quality < 1 || quality > 100, STYLE_ERR_INTERNAL, "JPEG encoder given quality %d",
            quality);
    FAIL_IF(image->width > JPEG_DIMENSION_MAX || image->height > JPEG_DIMENSION_MAX,
            STYLE_ERR_UNSUPPORTED, "JPEG cannot store %dx%d (at most %d pixels a side)",
            image->width, image->height, JPEG_DIMENSION_MAX);
    size_t stride = style__image_stride(image);
    FAIL_IF(stride > INT_MAX, STYLE_ERR_UNSUPPORTED, "image stride %zu is too large for JPEG",
            stride);

    /* Full-resolution chroma at high quality: stylized images are full of sharp colour edges. */
    int subsampling = quality >= 90 ? TJSAMP_444 : TJSAMP_420;
    unsigned long capacity = tjBufSize(image->width, image->height, subsampling);
    FAIL_IF(capacity == (unsigned long)-1 || capacity > SIZE_MAX, STYLE_ERR_UNSUPPORTED,
            "JPEG of %dx%d is too large", image->width, image->height);
    /* A worst-case buffer of our own, so TurboJPEG never reallocates it with its allocator. */
    buffer = style__malloc((size_t)capacity);
    FAIL_IF(!buffer, STYLE_ERR_NOMEM, "cannot allocate %lu bytes for the JPEG", capacity);
    encoder = tjInitCompress();
    FAIL_IF(!encoder, STYLE_ERR_NOMEM, "cannot create a JPEG encoder (%s)", tjGetErrorStr2(NULL));

    unsigned char *jpeg = buffer;
    unsigned long jpeg_size = capacity;
    int pixel_format = image->channels == 4 ? TJPF_RGBA : TJPF_RGB; /* alpha is ignored */
    if (tjCompress2(encoder, image->data, image->width, (int)stride, image->height, pixel_format,
                    &jpeg, &jpeg_size, subsampling, quality, TJFLAG_NOREALLOC) != 0) {
        status = jpeg_failure(encoder, NULL, 0);
        goto fail;
    }
    FAIL_IF(jpeg != buffer || jpeg_size > capacity, STYLE_ERR_INTERNAL,
            "TurboJPEG replaced the output buffer despite TJFLAG_NOREALLOC");

    tjDestroy(encoder);
    *data = buffer;
    *size = (size_t)jpeg_size;
    return STYLE_OK;
fail:
    if (encoder) tjDestroy(encoder);
    style__free(buffer);
    return status;
}
