/*
 * PNG decoding and encoding in memory through libpng's classic API.
 *
 * libpng reports errors by longjmp. Each setjmp lives in a small "guarded" function whose
 * mutable state sits in a png_job owned by its caller, so no local variable of the function
 * that called setjmp is ever read after a longjmp. libpng allocates through style__malloc (so
 * the failure-injection hook reaches it and its failures map to STYLE_ERR_NOMEM), and its
 * warnings are swallowed because the library never prints.
 */
#include "image/image_png.h"

#include <inttypes.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

static const unsigned char png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Signature (8) + IHDR length (4) + type (4) + data (13) + CRC (4). */
#define PNG_IHDR_END 33

/* The largest width or height the PNG format allows (2^31 - 1). */
#define PNG_DIMENSION_MAX 0x7fffffffu

/* Caps on what ancillary chunks may make libpng allocate (it also applies its own defaults). */
#define PNG_CHUNK_CACHE_MAX 128
#define PNG_CHUNK_MALLOC_MAX (8u << 20)

/*
 * Ancillary chunks that libstyle has no use for. Skipping them (as "unknown, never keep")
 * means libpng neither inflates compressed text nor allocates for profiles or EXIF, which
 * removes most of the attack surface of hostile files. Entries are 4 letters + NUL.
 */
static const png_byte png_ignored_chunks[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0hIST\0";
#define PNG_IGNORED_CHUNK_COUNT 7

/* State shared by the libpng callbacks and the guarded functions of one decode or encode. */
typedef struct png_job {
    png_structp png;
    png_infop info;
    /* Decoding: the input and the read position. */
    const unsigned char *input;
    size_t input_size;
    size_t input_pos;
    uint64_t max_pixels;
    style_image image;
    /* Encoding: the growing output buffer. */
    unsigned char *output;
    size_t output_size;
    size_t output_capacity;
    /* Why libpng gave up. */
    bool out_of_memory;
    bool truncated;
    char message[200];
} png_job;

bool style__png_is_png(const void *data, size_t size)
{
    return data && size >= sizeof png_signature &&
           memcmp(data, png_signature, sizeof png_signature) == 0;
}

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static uint32_t read_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The CRC-32 of PNG chunks (bitwise: it only ever runs over the 17 bytes of an IHDR). */
static uint32_t png_crc32(const unsigned char *bytes, size_t count)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < count; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/*
 * Validates the IHDR chunk ourselves before libpng runs. libpng's own check happens only
 * inside png_read_info, which also reads (and allocates for) every chunk up to the first
 * IDAT; doing it here refuses an oversized image before a single byte is allocated.
 */
static style_status png_check_header(const unsigned char *bytes, size_t size, uint64_t max_pixels)
{
    if (size < PNG_IHDR_END)
        return style__fail(STYLE_ERR_FORMAT,
                           "truncated PNG (%zu bytes, too short to hold the IHDR header)", size);
    if (read_be32(bytes + 8) != 13 || memcmp(bytes + 12, "IHDR", 4) != 0)
        return style__fail(STYLE_ERR_FORMAT, "corrupt PNG (the first chunk is not a 13-byte IHDR)");
    if (png_crc32(bytes + 12, 17) != read_be32(bytes + 29))
        return style__fail(STYLE_ERR_FORMAT, "corrupt PNG (IHDR: CRC error)");
    uint32_t width = read_be32(bytes + 16);
    uint32_t height = read_be32(bytes + 20);
    if (width == 0 || height == 0)
        return style__fail(STYLE_ERR_FORMAT,
                           "corrupt PNG (IHDR gives an empty size %" PRIu32 "x%" PRIu32 ")", width,
                           height);
    if (width > PNG_DIMENSION_MAX || height > PNG_DIMENSION_MAX)
        return style__fail(STYLE_ERR_FORMAT,
                           "corrupt PNG (IHDR size %" PRIu32 "x%" PRIu32
                           " exceeds the format's maximum of 2^31-1)",
                           width, height);
    uint64_t pixels = (uint64_t)width * height;
    if (pixels > max_pixels)
        return style__fail(STYLE_ERR_LIMIT,
                           "PNG is %" PRIu32 "x%" PRIu32 " = %" PRIu64
                           " pixels, over the limit of %" PRIu64 " pixels",
                           width, height, pixels, max_pixels);
    return STYLE_OK;
}

style_status style__png_size(const void *data, size_t size, uint64_t max_pixels, int32_t *width,
                             int32_t *height)
{
    style_status status = png_check_header(data, size, max_pixels);
    if (status != STYLE_OK) return status;
    *width = (int32_t)read_be32((const unsigned char *)data + 16);
    *height = (int32_t)read_be32((const unsigned char *)data + 20);
    return STYLE_OK;
}

/*
 * True when a chunk named `type` comes before the first IDAT. Used for iCCP, which libpng is
 * told to skip unread (a profile is never applied) but whose presence matters: it overrides
 * gAMA. Walks the chunk headers only; a malformed layout just answers false (libpng reports it).
 */
static bool png_has_chunk_before_idat(const unsigned char *bytes, size_t size, const char *type)
{
    size_t pos = sizeof png_signature;
    while (size - pos >= 12) {
        uint32_t length = read_be32(bytes + pos);
        const unsigned char *name = bytes + pos + 4;
        if (memcmp(name, "IDAT", 4) == 0) return false;
        if (memcmp(name, type, 4) == 0) return true;
        if (length > size - pos - 12) return false;
        pos += (size_t)length + 12;
    }
    return false;
}

/* ---- libpng callbacks ---------------------------------------------------------------- */

static png_voidp png_job_malloc(png_structp png, png_alloc_size_t size)
{
    png_job *job = png_get_mem_ptr(png);
    void *memory = style__malloc(size);
    if (!memory) job->out_of_memory = true;
    return memory;
}

static void png_job_free(png_structp png, png_voidp memory)
{
    (void)png;
    style__free(memory);
}

/* libpng calls the default handler (which prints) if this returns, so it must not. */
static void png_job_error(png_structp png, png_const_charp message)
{
    png_job *job = png_get_error_ptr(png);
    snprintf(job->message, sizeof job->message, "%s", message ? message : "unknown error");
    png_longjmp(png, 1);
}

static void png_job_warning(png_structp png, png_const_charp message)
{
    /* Warnings (odd ancillary chunks, sRGB profile quirks) do not affect the pixels. */
    (void)png;
    (void)message;
}

static void png_job_read(png_structp png, png_bytep dest, size_t length)
{
    png_job *job = png_get_io_ptr(png);
    if (length > job->input_size - job->input_pos) {
        job->truncated = true;
        png_error(png, "read past the end of the data");
    }
    memcpy(dest, job->input + job->input_pos, length);
    job->input_pos += length;
}

static void png_job_write(png_structp png, png_bytep bytes, size_t length)
{
    png_job *job = png_get_io_ptr(png);
    size_t needed;
    if (!style__add_size(job->output_size, length, &needed)) {
        job->out_of_memory = true;
        png_error(png, "encoded PNG size overflows");
    }
    if (needed > job->output_capacity) {
        /* Doubling keeps the number of reallocations logarithmic in the output size. */
        size_t capacity = job->output_capacity ? job->output_capacity : 4096;
        while (capacity < needed) {
            if (!style__mul_size(capacity, 2, &capacity)) {
                capacity = needed;
                break;
            }
        }
        unsigned char *grown = style__realloc(job->output, capacity);
        if (!grown) {
            job->out_of_memory = true;
            png_error(png, "out of memory growing the output buffer");
        }
        job->output = grown;
        job->output_capacity = capacity;
    }
    memcpy(job->output + job->output_size, bytes, length);
    job->output_size = needed;
}

static void png_job_flush(png_structp png)
{
    (void)png;
}

/* The status and message for a libpng error caught by a guarded function. */
static style_status png_job_failure(const png_job *job, const char *doing)
{
    if (job->out_of_memory)
        return style__fail(STYLE_ERR_NOMEM, "out of memory while %s a PNG", doing);
    if (job->truncated)
        return style__fail(STYLE_ERR_FORMAT, "truncated PNG (the data ends after %zu bytes)",
                           job->input_size);
    if (job->input) return style__fail(STYLE_ERR_FORMAT, "corrupt PNG (%s)", job->message);
    return style__fail(STYLE_ERR_INTERNAL, "PNG encoder failed (%s)", job->message);
}

/* ---- Decoding -------------------------------------------------------------------------- */

/* Every libpng call of a decode. Results and allocations go to *job, which the caller frees. */
static style_status png_decode_guarded(png_job *job)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png))) return png_job_failure(job, "decoding");

    png_set_read_fn(png, job, png_job_read);
    /* The header check already holds each side to max_pixels; this bounds libpng the same. */
    png_uint_32 side_limit =
        job->max_pixels < PNG_DIMENSION_MAX ? (png_uint_32)job->max_pixels : PNG_DIMENSION_MAX;
    png_set_user_limits(png, side_limit, side_limit);
    png_set_chunk_cache_max(png, PNG_CHUNK_CACHE_MAX);
    png_set_chunk_malloc_max(png, PNG_CHUNK_MALLOC_MAX);
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, png_ignored_chunks,
                                PNG_IGNORED_CHUNK_COUNT);

    png_read_info(png, info);
    png_uint_32 width, height;
    int bit_depth, color_type;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, NULL, NULL, NULL);
    /* Paranoia: libpng parsed the same IHDR that png_check_header accepted. */
    if (width == 0 || height == 0 || (uint64_t)width * height > job->max_pixels)
        return style__fail(STYLE_ERR_INTERNAL,
                           "PNG size %" PRIu32 "x%" PRIu32 " changed after the header check",
                           (uint32_t)width, (uint32_t)height);

    bool has_alpha =
        (color_type & PNG_COLOR_MASK_ALPHA) != 0 || png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    bool wide = bit_depth == 16;
    int channels = has_alpha ? 4 : 3;
    size_t sample_size = wide ? 2 : 1;

    /*
     * Colour: samples are taken as sRGB. A gAMA chunk is honoured only when neither an sRGB
     * chunk nor an ICC profile (iCCP, which takes precedence and is not applied) is present, as
     * browsers do: samples with another gamma (gAMA 1.0: linear light) are re-encoded with
     * libpng's sRGB approximation (gamma 2.2); gamma 2.2 itself is left alone (libpng skips
     * insignificant corrections). Alpha is never touched.
     */
    png_fixed_point file_gamma = 0;
    if (png_get_gAMA_fixed(png, info, &file_gamma) && file_gamma > 0 &&
        !png_get_valid(png, info, PNG_INFO_sRGB) &&
        !png_has_chunk_before_idat(job->input, job->input_size, "iCCP"))
        png_set_gamma_fixed(png, PNG_DEFAULT_sRGB, file_gamma); /* (the file's gamma: this
                                                                   call overrides the chunk) */

    /* Palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> an alpha channel. */
    png_set_expand(png);
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    /* PNG stores 16-bit samples big-endian; the image wants host order. */
    if (wide && host_is_little_endian()) png_set_swap(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t row_bytes, total_bytes;
    if (!style__mul_size((size_t)width * (size_t)channels, sample_size, &row_bytes) ||
        !style__mul_size(row_bytes, height, &total_bytes))
        return style__fail(STYLE_ERR_LIMIT, "PNG of %" PRIu32 "x%" PRIu32 " is too large",
                           (uint32_t)width, (uint32_t)height);
    if (png_get_channels(png, info) != channels ||
        png_get_bit_depth(png, info) != (wide ? 16 : 8) || png_get_rowbytes(png, info) != row_bytes)
        return style__fail(
            STYLE_ERR_INTERNAL, "PNG transforms gave %d channels of %d bits, expected %d of %d",
            png_get_channels(png, info), png_get_bit_depth(png, info), channels, wide ? 16 : 8);

    style_status status = style_image_alloc(&job->image, (int32_t)width, (int32_t)height, channels,
                                            wide ? STYLE_SAMPLE_U16 : STYLE_SAMPLE_U8);
    if (status != STYLE_OK) return status;

    /* Interlaced images make several passes over the same rows, refining them in place. */
    unsigned char *pixels = job->image.data;
    for (int pass = 0; pass < passes; pass++)
        for (png_uint_32 y = 0; y < height; y++)
            png_read_row(png, pixels + y * row_bytes, NULL);
    /* Reading to IEND verifies the remaining CRCs and makes a cut-off file an error. */
    png_read_end(png, NULL);
    return STYLE_OK;
}

style_status style__png_decode(const void *data, size_t size, uint64_t max_pixels, style_image *out)
{
    style_status status = STYLE_OK;
    png_job job;
    memset(&job, 0, sizeof job);
    memset(out, 0, sizeof *out);

    TRY(png_check_header(data, size, max_pixels));
    job.input = data;
    job.input_size = size;
    job.max_pixels = max_pixels;
    job.png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &job, png_job_error, png_job_warning,
                                       &job, png_job_malloc, png_job_free);
    FAIL_IF(!job.png, job.out_of_memory ? STYLE_ERR_NOMEM : STYLE_ERR_INTERNAL,
            "cannot create a PNG decoder%s",
            job.out_of_memory ? " (out of memory)" : " (libpng version mismatch?)");
    job.info = png_create_info_struct(job.png);
    FAIL_IF(!job.info, STYLE_ERR_NOMEM, "cannot create a PNG decoder (out of memory)");
    TRY(png_decode_guarded(&job));

    png_destroy_read_struct(&job.png, &job.info, NULL);
    *out = job.image;
    return STYLE_OK;
fail:
    if (job.png) png_destroy_read_struct(&job.png, &job.info, NULL);
    style_image_release(&job.image);
    return status;
}

/* ---- Encoding -------------------------------------------------------------------------- */

static style_status png_encode_guarded(png_job *job, const style_image *image, int level)
{
    png_structp png = job->png;
    png_infop info = job->info;
    if (setjmp(png_jmpbuf(png))) return png_job_failure(job, "encoding");

    bool wide = image->sample_type == STYLE_SAMPLE_U16;
    png_set_write_fn(png, job, png_job_write, png_job_flush);
    /* The default write limit is 1 million pixels a side; the format allows 2^31-1. */
    png_set_user_limits(png, PNG_DIMENSION_MAX, PNG_DIMENSION_MAX);
    png_set_compression_level(png, level);
    /* Levels 1..3 are asked for speed: the Sub filter alone wrote a 2048x2048 stylized photo
     * 1.5x faster than libpng's adaptive choice among all five at level 1, for 8 % more bytes
     * (docs/performance.md, "PNG writing"). Stored data is not filtered. */
    if (level == 0)
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
    else if (level <= STYLE__PNG_FAST_LEVEL_MAX)
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
    else
        png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_ALL_FILTERS);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, wide ? 16 : 8,
                 image->channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    /* The samples are sRGB: say so (sRGB, with the gAMA and cHRM the PNG spec pairs it with). */
    png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(png, info);
    /* After png_write_info, as libpng requires; it swaps a copy, never the caller's rows. */
    if (wide && host_is_little_endian()) png_set_swap(png);

    const unsigned char *pixels = image->data;
    size_t stride = style__image_stride(image);
    for (int32_t y = 0; y < image->height; y++)
        png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    return STYLE_OK;
}

int style__png_default_level(const style_image *image)
{
    uint64_t pixels = (uint64_t)image->width * (uint64_t)image->height;
    return pixels > STYLE__PNG_LARGE_PIXELS ? STYLE__PNG_LARGE_LEVEL : STYLE__PNG_SMALL_LEVEL;
}

style_status style__png_encode(const style_image *image, int level, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    png_job job;
    memset(&job, 0, sizeof job);
    *data = NULL;
    *size = 0;

    FAIL_IF(image->sample_type != STYLE_SAMPLE_U8 && image->sample_type != STYLE_SAMPLE_U16,
            STYLE_ERR_INTERNAL, "PNG encoder given sample type %d", (int)image->sample_type);
    FAIL_IF(level < 0 || level > 9, STYLE_ERR_INTERNAL, "PNG encoder given level %d", level);
    job.png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &job, png_job_error, png_job_warning,
                                        &job, png_job_malloc, png_job_free);
    FAIL_IF(!job.png, job.out_of_memory ? STYLE_ERR_NOMEM : STYLE_ERR_INTERNAL,
            "cannot create a PNG encoder%s",
            job.out_of_memory ? " (out of memory)" : " (libpng version mismatch?)");
    job.info = png_create_info_struct(job.png);
    FAIL_IF(!job.info, STYLE_ERR_NOMEM, "cannot create a PNG encoder (out of memory)");
    TRY(png_encode_guarded(&job, image, level));

    png_destroy_write_struct(&job.png, &job.info);
    *data = job.output;
    *size = job.output_size;
    return STYLE_OK;
fail:
    if (job.png) png_destroy_write_struct(&job.png, &job.info);
    style__free(job.output);
    return status;
}
