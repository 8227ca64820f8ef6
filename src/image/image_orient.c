/*
 * EXIF orientation of JPEG photos. Cameras and phones store the sensor's pixels as they came
 * and record how to turn them in the EXIF Orientation tag; every viewer applies it, so a
 * stylized photo must too (its output carries no EXIF, so the pixels themselves are upright).
 *
 * The tag is read with libexif from the APP1 "Exif" segment found by walking the markers
 * before the first scan. libexif allocates through style__calloc (so the failure-injection
 * hook reaches it) and reports allocation failures through its log, which maps them to
 * STYLE_ERR_NOMEM; anything else wrong with the EXIF block just means "no orientation".
 */
#include "image/image_orient.h"

#include <libexif/exif-data.h>
#include <libexif/exif-log.h>
#include <string.h>

/* APP1 payloads start with this; the TIFF structure follows. */
static const unsigned char exif_header[6] = {'E', 'x', 'i', 'f', 0, 0};

/* The payload of the first APP1 Exif segment before the first scan, or NULL. */
static const unsigned char *find_exif_segment(const unsigned char *bytes, size_t size,
                                              size_t *payload_size)
{
    size_t pos = 2; /* after SOI */
    while (pos + 4 <= size) {
        if (bytes[pos] != 0xff) return NULL;
        unsigned marker = bytes[pos + 1];
        if (marker == 0xff) { /* fill byte */
            pos++;
            continue;
        }
        if (marker == 0xd9 || marker == 0xda) return NULL; /* EOI, SOS: no EXIF in the headers */
        if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { /* no length field */
            pos += 2;
            continue;
        }
        size_t length = (size_t)bytes[pos + 2] << 8 | bytes[pos + 3];
        if (length < 2 || length > size - pos - 2) return NULL;
        const unsigned char *payload = bytes + pos + 4;
        if (marker == 0xe1 && length - 2 >= sizeof exif_header &&
            memcmp(payload, exif_header, sizeof exif_header) == 0) {
            *payload_size = length - 2;
            return payload;
        }
        pos += 2 + length;
    }
    return NULL;
}

/*
 * Set when an allocation for libexif fails in this thread. libexif's allocator interface
 * carries no user pointer, and some of its failures are neither logged nor returned (a tag
 * is just dropped), so this flag is the one reliable witness; it is reset at every call.
 */
static _Thread_local bool exif_out_of_memory;

/* libexif's allocators must return zeroed memory. */
static void *exif_alloc(ExifLong size)
{
    void *memory = style__calloc(1, size ? size : 1);
    if (!memory) exif_out_of_memory = true;
    return memory;
}

static void *exif_realloc(void *memory, ExifLong size)
{
    void *grown = style__realloc(memory, size ? size : 1);
    if (!grown) exif_out_of_memory = true;
    return grown;
}

static void exif_free(void *memory)
{
    style__free(memory);
}

static void exif_log_sink(ExifLog *log, ExifLogCode code, const char *domain, const char *format,
                          va_list args, void *data)
{
    (void)log, (void)domain, (void)format, (void)args;
    if (code == EXIF_LOG_CODE_NO_MEMORY) *(bool *)data = true;
}

style_status style__jpeg_orientation(const void *data, size_t size, int *orientation)
{
    style_status status = STYLE_OK;
    ExifMem *mem = NULL;
    ExifLog *log = NULL;
    ExifData *exif = NULL;
    bool out_of_memory = false;
    *orientation = 1;
    exif_out_of_memory = false;

    size_t payload_size = 0;
    const unsigned char *payload = find_exif_segment(data, size, &payload_size);
    if (!payload) return STYLE_OK;
    mem = exif_mem_new(exif_alloc, exif_realloc, exif_free);
    FAIL_IF(!mem, STYLE_ERR_NOMEM, "out of memory reading the EXIF orientation");
    log = exif_log_new_mem(mem);
    FAIL_IF(!log, STYLE_ERR_NOMEM, "out of memory reading the EXIF orientation");
    exif_log_set_func(log, exif_log_sink, &out_of_memory);
    exif = exif_data_new_mem(mem);
    FAIL_IF(!exif, STYLE_ERR_NOMEM, "out of memory reading the EXIF orientation");
    exif_data_log(exif, log);
    /* Read what is there; never invent the tags the specification requires. */
    exif_data_unset_option(exif, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(exif, payload,
                        (unsigned int)(payload_size < 0xffff ? payload_size : 0xffff));
    FAIL_IF(out_of_memory || exif_out_of_memory, STYLE_ERR_NOMEM,
            "out of memory reading the EXIF orientation");

    ExifEntry *entry = exif_content_get_entry(exif->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (entry && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1 && entry->data &&
        entry->size >= 2) {
        int value = exif_get_short(entry->data, exif_data_get_byte_order(exif));
        if (value >= 1 && value <= 8) *orientation = value;
    }
fail:
    if (exif) exif_data_unref(exif);
    if (log) exif_log_unref(log);
    if (mem) exif_mem_unref(mem);
    return status;
}

style_status style__image_orient(style_image *image, int orientation)
{
    if (orientation <= 1 || orientation > 8) return STYLE_OK;
    const int32_t w = image->width, h = image->height;
    const bool swap = orientation >= 5;
    style_image upright;
    style_status status = style_image_alloc(&upright, swap ? h : w, swap ? w : h, image->channels,
                                            image->sample_type);
    if (status != STYLE_OK) return status;
    const size_t pixel = (size_t)image->channels * style__sample_size(image->sample_type);
    const size_t source_stride = style__image_stride(image);
    const unsigned char *source = image->data;
    unsigned char *dest = upright.data;
    for (int32_t y = 0; y < upright.height; y++)
        for (int32_t x = 0; x < upright.width; x++) {
            /* The stored pixel shown at (x, y). */
            int32_t sx, sy;
            switch (orientation) {
            case 2:
                sx = w - 1 - x, sy = y;
                break;
            case 3:
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            case 4:
                sx = x, sy = h - 1 - y;
                break;
            case 5:
                sx = y, sy = x;
                break;
            case 6:
                sx = y, sy = h - 1 - x;
                break;
            case 7:
                sx = w - 1 - y, sy = h - 1 - x;
                break;
            default:
                sx = w - 1 - y, sy = x;
                break; /* 8 */
            }
            memcpy(dest + ((size_t)y * (size_t)upright.width + (size_t)x) * pixel,
                   source + (size_t)sy * source_stride + (size_t)sx * pixel, pixel);
        }
    style_image_release(image);
    *image = upright;
    return STYLE_OK;
}
