/*
 * Image codecs: style_image_load, style_image_load_memory, style_image_save and
 * style_image_encode (and their _with_options forms: the PNG level).
 * Round trips for every sample type, expansion of grey/palette/tRNS PNGs written with libpng
 * directly, JPEG quality, strided images, and hostile input: empty, random, truncated at
 * every byte, oversized and zero-sized headers, bad CRCs, mutated files, allocation failures.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/common.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* ---- Helpers ------------------------------------------------------------------------- */

typedef struct byte_buffer {
    unsigned char *data;
    size_t size;
    size_t capacity;
} byte_buffer;

static void buffer_append(byte_buffer *buffer, const void *bytes, size_t count)
{
    if (buffer->size + count > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity * 2 : 256;
        while (capacity < buffer->size + count)
            capacity *= 2;
        buffer->data = realloc(buffer->data, capacity);
        assert_non_null(buffer->data);
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->size, bytes, count);
    buffer->size += count;
}

static uint32_t crc32_of(const unsigned char *bytes, size_t count)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < count; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(unsigned char *p, uint32_t value)
{
    p[0] = (unsigned char)(value >> 24);
    p[1] = (unsigned char)(value >> 16);
    p[2] = (unsigned char)(value >> 8);
    p[3] = (unsigned char)value;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/* Appends a chunk with a correct CRC. */
static void append_chunk(byte_buffer *buffer, const char *type, const void *data, uint32_t length)
{
    unsigned char header[8];
    put_be32(header, length);
    memcpy(header + 4, type, 4);
    unsigned char *crc_input = malloc(4 + (size_t)length);
    memcpy(crc_input, type, 4);
    if (length) memcpy(crc_input + 4, data, length);
    unsigned char crc[4];
    put_be32(crc, crc32_of(crc_input, 4 + (size_t)length));
    free(crc_input);
    buffer_append(buffer, header, 8);
    if (length) buffer_append(buffer, data, length);
    buffer_append(buffer, crc, 4);
}

/* A PNG of just a signature, an IHDR of the given size (8-bit RGB) and an IEND. */
static byte_buffer make_header_only_png(uint32_t width, uint32_t height)
{
    byte_buffer buffer = {0};
    buffer_append(&buffer, png_sig, 8);
    unsigned char ihdr[13] = {0};
    put_be32(ihdr, width);
    put_be32(ihdr + 4, height);
    ihdr[8] = 8; /* bit depth */
    ihdr[9] = 2; /* RGB */
    append_chunk(&buffer, "IHDR", ihdr, 13);
    append_chunk(&buffer, "IEND", NULL, 0);
    return buffer;
}

/* Offset of the first chunk of `type` (its length field), or 0 when absent. */
static size_t find_chunk(const unsigned char *png, size_t size, const char *type)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t length = get_be32(png + pos);
        if (memcmp(png + pos + 4, type, 4) == 0) return pos;
        pos += 12 + (size_t)length;
    }
    return 0;
}

/* Recomputes every chunk's CRC (after a mutation), so the mutation reaches the decoder. */
static void fix_png_crcs(unsigned char *png, size_t size)
{
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t length = get_be32(png + pos);
        if (length > size - pos - 12) break;
        put_be32(png + pos + 8 + length, crc32_of(png + pos + 4, 4 + (size_t)length));
        pos += 12 + (size_t)length;
    }
}

/* What to write with libpng directly: rows in PNG byte order (packed bits, big-endian). */
typedef struct png_spec {
    int width, height, bit_depth, color_type, interlace;
    const unsigned char *rows; /* height rows of row_bytes each */
    size_t row_bytes;
    const png_color *palette;
    int palette_count;
    const png_byte *trns; /* palette alpha */
    int trns_count;
    const png_color_16 *trns_color; /* grey/RGB transparent colour */
    bool bad_gamma_chunk;           /* append a gAMA chunk of the wrong length (a warning) */
} png_spec;

static png_spec spec_of(int width, int height, int bit_depth, int color_type, int interlace,
                        const unsigned char *rows, size_t row_bytes)
{
    return (png_spec){.width = width,
                      .height = height,
                      .bit_depth = bit_depth,
                      .color_type = color_type,
                      .interlace = interlace,
                      .rows = rows,
                      .row_bytes = row_bytes};
}

static void spec_write(png_structp png, png_bytep bytes, size_t count)
{
    buffer_append(png_get_io_ptr(png), bytes, count);
}

static void spec_flush(png_structp png)
{
    (void)png;
}

static byte_buffer make_png(const png_spec *spec)
{
    byte_buffer buffer = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing a test PNG");
    png_set_write_fn(png, &buffer, spec_write, spec_flush);
    png_set_IHDR(png, info, (png_uint_32)spec->width, (png_uint_32)spec->height, spec->bit_depth,
                 spec->color_type, spec->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (spec->palette) png_set_PLTE(png, info, spec->palette, spec->palette_count);
    if (spec->trns || spec->trns_color)
        png_set_tRNS(png, info, spec->trns, spec->trns_count, spec->trns_color);
    if (spec->bad_gamma_chunk) {
        png_unknown_chunk chunk;
        memset(&chunk, 0, sizeof chunk);
        memcpy(chunk.name, "gAMA", 5);
        static png_byte seven_bytes[7] = {0};
        chunk.data = seven_bytes;
        chunk.size = 7;
        chunk.location = PNG_HAVE_IHDR;
        png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_ALWAYS, (png_const_bytep) "gAMA", 1);
        png_set_unknown_chunks(png, info, &chunk, 1);
    }
    png_write_info(png, info);
    int passes = png_set_interlace_handling(png);
    for (int pass = 0; pass < passes; pass++)
        for (int y = 0; y < spec->height; y++)
            png_write_row(png, spec->rows + (size_t)y * spec->row_bytes);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return buffer;
}

/* A deterministic 8-bit test picture with every channel varying. */
static void fill_u8(style_image *image, uint64_t seed)
{
    test_rng rng = {seed};
    size_t stride = style__image_stride(image);
    for (int y = 0; y < image->height; y++) {
        uint8_t *row = (uint8_t *)image->data + (size_t)y * stride;
        for (int i = 0; i < image->width * image->channels; i++)
            row[i] = (uint8_t)(test_rng_next(&rng) >> 56);
    }
}

/* A smooth gradient, which JPEG should reproduce well. */
static void fill_gradient_u8(style_image *image)
{
    size_t stride = style__image_stride(image);
    for (int y = 0; y < image->height; y++) {
        uint8_t *row = (uint8_t *)image->data + (size_t)y * stride;
        for (int x = 0; x < image->width; x++) {
            uint8_t *pixel = row + (size_t)x * (size_t)image->channels;
            pixel[0] = (uint8_t)(x * 255 / (image->width - 1));
            pixel[1] = (uint8_t)(y * 255 / (image->height - 1));
            pixel[2] = (uint8_t)((x + y) * 255 / (image->width + image->height - 2));
            if (image->channels == 4) pixel[3] = (uint8_t)(255 - x);
        }
    }
}

/* Compares pixel rows of two same-shaped images (strides may differ). */
static void assert_same_pixels(const style_image *a, const style_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_int_equal(a->channels, b->channels);
    assert_int_equal(a->sample_type, b->sample_type);
    size_t row = (size_t)a->width * (size_t)a->channels * style__sample_size(a->sample_type);
    for (int y = 0; y < a->height; y++)
        assert_memory_equal((const uint8_t *)a->data + (size_t)y * style__image_stride(a),
                            (const uint8_t *)b->data + (size_t)y * style__image_stride(b), row);
}

/* PSNR in dB over the first 3 channels of two 8-bit images. */
static double psnr_rgb(const style_image *a, const style_image *b)
{
    double sum = 0;
    size_t count = 0;
    for (int y = 0; y < a->height; y++) {
        const uint8_t *ra = (const uint8_t *)a->data + (size_t)y * style__image_stride(a);
        const uint8_t *rb = (const uint8_t *)b->data + (size_t)y * style__image_stride(b);
        for (int x = 0; x < a->width; x++)
            for (int c = 0; c < 3; c++) {
                double d = (double)ra[x * a->channels + c] - rb[x * b->channels + c];
                sum += d * d;
                count++;
            }
    }
    double mse = sum / (double)count;
    return mse == 0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / mse);
}

/* Encodes through the public API into a buffer (via a temporary file). */
static unsigned char *encode_to_memory(const char *dir, const char *name, const style_image *image,
                                       int quality, size_t *size)
{
    const char *path = test_path(dir, name);
    assert_int_equal(style_image_save(path, image, quality), STYLE_OK);
    unsigned char *data = test_read_file(path, size);
    assert_non_null(data);
    return data;
}

/* Number of entries in a directory, "." and ".." excluded. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir(d)))
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static int setup_dir(void **state)
{
    *state = test_make_temp_dir();
    return *state ? 0 : -1;
}

static int teardown_dir(void **state)
{
    test_remove_tree(*state);
    free(*state);
    return 0;
}

/* ---- Round trips --------------------------------------------------------------------- */

static void test_png_roundtrip_u8(void **state)
{
    const char *dir = *state;
    for (int channels = 3; channels <= 4; channels++) {
        style_image image, loaded;
        assert_int_equal(style_image_alloc(&image, 37, 23, channels, STYLE_SAMPLE_U8), STYLE_OK);
        fill_u8(&image, 7 + (uint64_t)channels);
        /* The extension is case-insensitive; the content decides the format on loading. */
        const char *path = test_path(dir, channels == 3 ? "rgb.png" : "rgba.PNG");
        assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
        assert_int_equal(loaded.stride, 0);
        assert_same_pixels(&image, &loaded);
        style_image_release(&loaded);
        assert_null(loaded.data);
        style_image_release(&image);
    }
}

/* style_image_encode gives the bytes style_image_save writes, in every format and sample type,
 * and refuses bad arguments; under failing allocations it returns NOMEM and nothing. */
static void test_encode_memory(void **state)
{
    const char *dir = *state;
    style_image image;
    assert_int_equal(style_image_alloc(&image, 19, 11, 4, STYLE_SAMPLE_U16), STYLE_OK);
    for (int i = 0; i < 19 * 11 * 4; i++)
        ((uint16_t *)image.data)[i] = (uint16_t)(i * 977);
    const char *formats[] = {"png", "PNG", "jpeg", "jpg"};
    const char *names[] = {"e.png", "e.png", "e.jpg", "e.jpg"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        void *data = NULL;
        size_t size = 0, file_size = 0;
        unsigned char *file = encode_to_memory(dir, names[i], &image, 77, &file_size);
        assert_int_equal(style_image_encode(&image, formats[i], 77, &data, &size), STYLE_OK);
        assert_int_equal(size, file_size);
        assert_memory_equal(data, file, size);
        free(file);
        style_free(data);
    }

    void *data = &image;
    size_t size = 5;
    assert_int_equal(style_image_encode(&image, "gif", 0, &data, &size),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_null(data);
    assert_int_equal(size, 0);
    assert_non_null(strstr(style_last_error(), "image_encode: unknown format 'gif'"));
    assert_int_equal(style_image_encode(&image, NULL, 0, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_encode(NULL, "png", 0, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_encode(&image, "png", 0, NULL, &size), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_encode(&image, "jpeg", 101, &data, &size),
                     STYLE_ERR_INVALID_ARGUMENT);
    style_free(NULL);

    for (long n = 1;; n++) {
        style__alloc_fail_after(n);
        style_status status = style_image_encode(&image, n % 2 ? "png" : "jpeg", 0, &data, &size);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) {
            style_free(data);
            break;
        }
        assert_int_equal(status, STYLE_ERR_NOMEM);
        assert_null(data);
        assert_true(n < 1000);
    }
    style_image_release(&image);
}

/* A smooth image with a little noise: compressible, so the zlib level changes the size. */
static void fill_smooth(style_image *image, uint64_t seed)
{
    test_rng rng = {seed};
    size_t stride = style__image_stride(image);
    for (int32_t y = 0; y < image->height; y++)
        for (int32_t x = 0; x < image->width; x++)
            for (int32_t c = 0; c < image->channels; c++) {
                uint32_t value = (uint32_t)(x * 3 + y * 2 + c * 40) + test_rng_next(&rng) % 4;
                size_t at =
                    (size_t)y * stride + ((size_t)x * image->channels + c) *
                                             (image->sample_type == STYLE_SAMPLE_U16 ? 2 : 1);
                if (image->sample_type == STYLE_SAMPLE_U16) {
                    uint16_t wide = (uint16_t)(value * 97);
                    memcpy((unsigned char *)image->data + at, &wide, sizeof wide);
                } else {
                    ((unsigned char *)image->data)[at] = (unsigned char)value;
                }
            }
}

static size_t encode_png_at(const style_image *image, int png_level, void **data)
{
    style_save_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.png_level = png_level;
    size_t size = 0;
    assert_int_equal(style_image_encode_with_options(image, "png", &options, data, &size),
                     STYLE_OK);
    return size;
}

/* The PNG of `image` at `level` is byte for byte the one at `same_as` (0: the default). */
static size_t assert_same_png(const style_image *image, int level, int same_as)
{
    void *a = NULL, *b = NULL;
    size_t size_a = encode_png_at(image, level, &a);
    size_t size_b = encode_png_at(image, same_as, &b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(a, b, size_a);
    style_free(a);
    style_free(b);
    return size_a;
}

/* style_save_options.png_level: every level gives the same pixels (8- and 16-bit, RGB and
 * RGBA) and its own file; stored data is the largest; save_with_options writes
 * the bytes encode_with_options returns; the default is level 6 for small images and level 1
 * above 2048x2048; bad levels and a missing struct_size are refused. */
static void test_png_levels(void **state)
{
    const char *dir = *state;
    const style_sample_type types[] = {STYLE_SAMPLE_U8, STYLE_SAMPLE_U16};
    for (int t = 0; t < 2; t++)
        for (int channels = 3; channels <= 4; channels++) {
            style_image image;
            assert_int_equal(style_image_alloc(&image, 67, 41, channels, types[t]), STYLE_OK);
            fill_smooth(&image, 5 + (uint64_t)channels);
            size_t sizes[10];
            for (int level = 0; level <= 9; level++) {
                void *data = NULL;
                style_image loaded;
                sizes[level] =
                    encode_png_at(&image, level == 0 ? STYLE_PNG_LEVEL_STORED : level, &data);
                assert_int_equal(style_image_load_memory(data, sizes[level], 0, &loaded), STYLE_OK);
                assert_same_pixels(&image, &loaded);
                style_image_release(&loaded);
                style_free(data);
            }
            size_t raw = (size_t)image.width * image.height * image.channels *
                         (types[t] == STYLE_SAMPLE_U16 ? 2 : 1);
            assert_true(sizes[0] > raw);
            assert_true(sizes[1] < sizes[0]);
            /* Stored is larger than the pixels; every zlib level compresses; with the same
             * (Sub) filter level 3 beats level 1; levels 3 and 4 differ in filter, so in size. */
            for (int level = 1; level <= 9; level++)
                assert_true(sizes[level] < sizes[0]);
            assert_true(sizes[3] < sizes[1]);
            assert_true(sizes[4] != sizes[3]);

            /* The file holds what encode_with_options returns; 0 is level 6 at this size. */
            style_save_options options;
            memset(&options, 0, sizeof options);
            options.struct_size = sizeof options;
            options.png_level = 2;
            const char *path = test_path(dir, "level.png");
            assert_int_equal(style_image_save_with_options(path, &image, &options), STYLE_OK);
            size_t file_size = 0;
            unsigned char *file = test_read_file(path, &file_size);
            void *data = NULL;
            assert_int_equal(encode_png_at(&image, 2, &data), file_size);
            assert_memory_equal(data, file, file_size);
            free(file);
            style_free(data);
            const size_t size6 = assert_same_png(&image, 6, 0);
            /* NULL options and the old style_image_encode: the same default. */
            size_t plain_size = 0;
            assert_int_equal(style_image_encode(&image, "png", 0, &data, &plain_size), STYLE_OK);
            assert_int_equal(plain_size, size6);
            style_free(data);
            assert_int_equal(
                style_image_encode_with_options(&image, "png", NULL, &data, &plain_size), STYLE_OK);
            assert_int_equal(plain_size, size6);
            style_free(data);
            style_image_release(&image);
        }

    /* Above 2048x2048 pixels the default is level 1. */
    style_image large;
    assert_int_equal(style_image_alloc(&large, 2049, 2048, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_smooth(&large, 3);
    assert_same_png(&large, 1, 0);
    style_image_release(&large);

    /* Bad levels and options: refused, nothing written. */
    style_image image;
    assert_int_equal(style_image_alloc(&image, 5, 4, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_u8(&image, 1);
    const int bad[] = {-2, 10, 100, -1000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        style_save_options options;
        memset(&options, 0, sizeof options);
        options.struct_size = sizeof options;
        options.png_level = bad[i];
        void *data = &image;
        size_t size = 7;
        assert_int_equal(style_image_encode_with_options(&image, "png", &options, &data, &size),
                         STYLE_ERR_INVALID_ARGUMENT);
        assert_null(data);
        assert_int_equal(size, 0);
        char expected[64];
        snprintf(expected, sizeof expected, "png_level %d is out of range", bad[i]);
        assert_non_null(strstr(style_last_error(), expected));
        const char *path = test_path(dir, "bad-level.png");
        assert_int_equal(style_image_save_with_options(path, &image, &options),
                         STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), expected));
        assert_int_equal(access(path, F_OK), -1);
    }
    style_save_options unset;
    memset(&unset, 0, sizeof unset);
    void *data = NULL;
    size_t size = 0;
    assert_int_equal(style_image_encode_with_options(&image, "png", &unset, &data, &size),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "struct_size not set"));
    /* A struct from an older header that ends before png_level: the default level. */
    unset.struct_size = offsetof(style_save_options, png_level);
    unset.png_level = 99;
    assert_int_equal(style_image_encode_with_options(&image, "png", &unset, &data, &size),
                     STYLE_OK);
    style_free(data);
    style_image_release(&image);
}

static void test_png_roundtrip_u16(void **state)
{
    const char *dir = *state;
    for (int channels = 3; channels <= 4; channels++) {
        style_image image, loaded;
        assert_int_equal(style_image_alloc(&image, 19, 11, channels, STYLE_SAMPLE_U16), STYLE_OK);
        test_rng rng = {99};
        uint16_t *samples = image.data;
        for (int i = 0; i < 19 * 11 * channels; i++)
            samples[i] = (uint16_t)test_rng_next(&rng);
        samples[0] = 0;
        samples[1] = 65535;
        samples[2] = 0x1234;
        const char *path = test_path(dir, "wide.png");
        assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
        assert_same_pixels(&image, &loaded);
        style_image_release(&loaded);
        style_image_release(&image);
    }
}

static void test_png_f32_saved_as_u8(void **state)
{
    const char *dir = *state;
    style_image image, loaded;
    assert_int_equal(style_image_alloc(&image, 4, 2, 3, STYLE_SAMPLE_F32), STYLE_OK);
    const float values[24] = {-5.0f,  0.0f,   0.49f,  0.5f,  1.0f,  127.4f, 127.5f, 254.49f,
                              254.5f, 255.0f, 300.0f, NAN,   1e30f, -1e30f, 10.0f,  20.0f,
                              30.0f,  40.0f,  50.0f,  60.0f, 70.0f, 80.0f,  90.0f,  100.0f};
    const uint8_t expected[24] = {0,   0, 0,  1,  1,  127, 128, 254, 255, 255, 255, 0,
                                  255, 0, 10, 20, 30, 40,  50,  60,  70,  80,  90,  100};
    memcpy(image.data, values, sizeof values);
    const char *path = test_path(dir, "float.png");
    assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_int_equal(loaded.sample_type, STYLE_SAMPLE_U8);
    assert_int_equal(loaded.channels, 3);
    assert_memory_equal(loaded.data, expected, sizeof expected);
    style_image_release(&loaded);
    style_image_release(&image);
}

static void test_png_strided(void **state)
{
    const char *dir = *state;
    /* A 20x9 window of a larger 8-bit RGBA buffer, and of a 16-bit RGB one. */
    uint8_t *storage = calloc(64 * 16 * 4, 2);
    style_image window = {20, 9, 4, STYLE_SAMPLE_U8, 64 * 4 + 3, storage};
    fill_u8(&window, 3);
    style_image loaded;
    const char *path = test_path(dir, "strided.png");
    assert_int_equal(style_image_save(path, &window, 0), STYLE_OK);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_same_pixels(&window, &loaded);
    style_image_release(&loaded);

    style_image wide = {20, 9, 3, STYLE_SAMPLE_U16, 64 * 8, storage};
    uint16_t *samples = (uint16_t *)storage;
    for (int i = 0; i < 64 * 16 * 4; i++)
        samples[i] = (uint16_t)(i * 977);
    assert_int_equal(style_image_save(path, &wide, 0), STYLE_OK);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_same_pixels(&wide, &loaded);
    style_image_release(&loaded);

    /* The JPEG encoder takes the stride too: compare against a packed save. */
    style_image packed;
    assert_int_equal(style_image_alloc(&packed, 20, 9, 4, STYLE_SAMPLE_U8), STYLE_OK);
    for (int y = 0; y < 9; y++)
        memcpy((uint8_t *)packed.data + y * 80, storage + (size_t)y * window.stride, 80);
    size_t size_a, size_b;
    unsigned char *a = encode_to_memory(dir, "strided.jpg", &window, 90, &size_a);
    unsigned char *b = encode_to_memory(dir, "packed.jpg", &packed, 90, &size_b);
    assert_int_equal(size_a, size_b);
    assert_memory_equal(a, b, size_a);
    free(a);
    free(b);
    style_image_release(&packed);
    free(storage);
}

/* Loads a PNG written with libpng directly. */
static void load_spec(const png_spec *spec, style_image *out)
{
    byte_buffer png = make_png(spec);
    style_status status = style_image_load_memory(png.data, png.size, 0, out);
    if (status != STYLE_OK) fail_msg("%s", style_last_error());
    free(png.data);
}

static const uint8_t *pixel_at(const style_image *image, int x, int y)
{
    return (const uint8_t *)image->data + (size_t)y * style__image_stride(image) +
           (size_t)x * (size_t)image->channels * style__sample_size(image->sample_type);
}

static void test_png_grey_palette_expanded(void **state)
{
    (void)state;
    style_image image;

    /* 8-bit grey -> RGB with equal channels. */
    unsigned char grey[2 * 3] = {0, 50, 100, 150, 200, 255};
    png_spec spec = spec_of(3, 2, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, grey, 3);
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 3);
    assert_int_equal(image.sample_type, STYLE_SAMPLE_U8);
    for (int i = 0; i < 6; i++) {
        const uint8_t *p = pixel_at(&image, i % 3, i / 3);
        assert_int_equal(p[0], grey[i]);
        assert_int_equal(p[1], grey[i]);
        assert_int_equal(p[2], grey[i]);
    }
    style_image_release(&image);

    /* 1-bit grey -> 0 or 255. */
    unsigned char bits[2] = {0xa0, 0x40}; /* row 0: 1 0 1, row 1: 0 1 0 */
    spec = spec_of(3, 2, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, bits, 1);
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 3);
    assert_int_equal(pixel_at(&image, 0, 0)[1], 255);
    assert_int_equal(pixel_at(&image, 1, 0)[1], 0);
    assert_int_equal(pixel_at(&image, 1, 1)[2], 255);
    style_image_release(&image);

    /* Grey + alpha -> RGBA. */
    unsigned char grey_alpha[4] = {10, 20, 30, 40};
    spec = spec_of(2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, grey_alpha, 4);
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 4);
    assert_memory_equal(pixel_at(&image, 1, 0), ((uint8_t[]){30, 30, 30, 40}), 4);
    style_image_release(&image);

    /* 16-bit grey -> 16-bit RGB in host order (the file holds 0x1234 big-endian). */
    unsigned char grey16[4] = {0x12, 0x34, 0xff, 0x00};
    spec = spec_of(2, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, grey16, 4);
    load_spec(&spec, &image);
    assert_int_equal(image.sample_type, STYLE_SAMPLE_U16);
    assert_int_equal(image.channels, 3);
    const uint16_t *wide = image.data;
    assert_int_equal(wide[0], 0x1234);
    assert_int_equal(wide[2], 0x1234);
    assert_int_equal(wide[3], 0xff00);
    style_image_release(&image);

    /* 4-bit palette without tRNS -> RGB. */
    const png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
    unsigned char indices[2] = {0x01, 0x20}; /* 0 1 2 0 */
    spec = spec_of(4, 1, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, indices, 2);
    spec.palette = palette;
    spec.palette_count = 3;
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 3);
    assert_memory_equal(pixel_at(&image, 0, 0), ((uint8_t[]){255, 0, 0}), 3);
    assert_memory_equal(pixel_at(&image, 1, 0), ((uint8_t[]){0, 255, 0}), 3);
    assert_memory_equal(pixel_at(&image, 2, 0), ((uint8_t[]){1, 2, 3}), 3);
    style_image_release(&image);

    /* Palette with tRNS -> RGBA (entries past the tRNS list are opaque). */
    const png_byte alphas[2] = {0, 128};
    spec.trns = alphas;
    spec.trns_count = 2;
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 4);
    assert_memory_equal(pixel_at(&image, 0, 0), ((uint8_t[]){255, 0, 0, 0}), 4);
    assert_memory_equal(pixel_at(&image, 1, 0), ((uint8_t[]){0, 255, 0, 128}), 4);
    assert_memory_equal(pixel_at(&image, 2, 0), ((uint8_t[]){1, 2, 3, 255}), 4);
    style_image_release(&image);

    /* RGB with a tRNS colour -> RGBA, alpha 0 exactly where the colour matches. */
    unsigned char rgb[6] = {5, 6, 7, 5, 6, 8};
    png_color_16 key = {0, 5, 6, 7, 0};
    spec = spec_of(2, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rgb, 6);
    spec.trns_color = &key;
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 4);
    assert_memory_equal(pixel_at(&image, 0, 0), ((uint8_t[]){5, 6, 7, 0}), 4);
    assert_memory_equal(pixel_at(&image, 1, 0), ((uint8_t[]){5, 6, 8, 255}), 4);
    style_image_release(&image);

    /* Grey with a tRNS value -> RGBA. */
    unsigned char grey_key[2] = {9, 10};
    png_color_16 grey_transparent = {0, 0, 0, 0, 9};
    spec = spec_of(2, 1, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, grey_key, 2);
    spec.trns_color = &grey_transparent;
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 4);
    assert_memory_equal(pixel_at(&image, 0, 0), ((uint8_t[]){9, 9, 9, 0}), 4);
    assert_memory_equal(pixel_at(&image, 1, 0), ((uint8_t[]){10, 10, 10, 255}), 4);
    style_image_release(&image);
}

static void test_png_interlaced(void **state)
{
    (void)state;
    enum { W = 13, H = 11 };
    unsigned char rgb[W * H * 3];
    for (int i = 0; i < W * H * 3; i++)
        rgb[i] = (unsigned char)(i * 7);
    png_spec spec = spec_of(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, rgb, W * 3);
    style_image image;
    load_spec(&spec, &image);
    assert_int_equal(image.channels, 3);
    assert_memory_equal(image.data, rgb, sizeof rgb);
    style_image_release(&image);
}

/* Warnings (here a gAMA chunk of the wrong length) are swallowed, never printed. */
static void test_png_warnings_silent(void **state)
{
    const char *dir = *state;
    unsigned char rgb[6] = {1, 2, 3, 4, 5, 6};
    png_spec spec = spec_of(2, 1, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rgb, 6);
    spec.bad_gamma_chunk = true;
    byte_buffer png = make_png(&spec);
    size_t gamma = find_chunk(png.data, png.size, "gAMA");
    assert_true(gamma > 0);
    assert_int_equal(get_be32(png.data + gamma), 7);

    const char *log = test_path(dir, "stderr.txt");
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    style_image image;
    style_status status = style_image_load_memory(png.data, png.size, 0, &image);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    assert_int_equal(status, STYLE_OK);
    assert_memory_equal(image.data, rgb, 6);
    style_image_release(&image);
    struct stat st;
    assert_int_equal(stat(log, &st), 0);
    assert_int_equal(st.st_size, 0);
    free(png.data);
}

static void test_jpeg_roundtrip(void **state)
{
    const char *dir = *state;
    style_image image, loaded;
    assert_int_equal(style_image_alloc(&image, 64, 48, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_gradient_u8(&image);
    const char *names[] = {"smooth.jpg", "smooth.JPEG", "smooth.jpeg"};
    const int qualities[] = {0, 75, 100};
    for (int i = 0; i < 3; i++) {
        const char *path = test_path(dir, names[i]);
        assert_int_equal(style_image_save(path, &image, qualities[i]), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
        assert_int_equal(loaded.width, 64);
        assert_int_equal(loaded.height, 48);
        assert_int_equal(loaded.channels, 3);
        assert_int_equal(loaded.sample_type, STYLE_SAMPLE_U8);
        double psnr = psnr_rgb(&image, &loaded);
        if (!(psnr > 30.0)) fail_msg("JPEG quality %d: PSNR %.2f dB", qualities[i], psnr);
        style_image_release(&loaded);
    }

    /* RGBA, 16-bit and float inputs: alpha dropped, samples reduced to 8 bits. */
    style_image rgba, wide, real;
    assert_int_equal(style_image_alloc(&rgba, 64, 48, 4, STYLE_SAMPLE_U8), STYLE_OK);
    assert_int_equal(style_image_alloc(&wide, 64, 48, 4, STYLE_SAMPLE_U16), STYLE_OK);
    assert_int_equal(style_image_alloc(&real, 64, 48, 3, STYLE_SAMPLE_F32), STYLE_OK);
    fill_gradient_u8(&rgba);
    for (int i = 0; i < 64 * 48; i++) {
        const uint8_t *p = (const uint8_t *)rgba.data + i * 4;
        for (int c = 0; c < 4; c++) {
            ((uint16_t *)wide.data)[i * 4 + c] = (uint16_t)(p[c] * 257);
            if (c < 3) ((float *)real.data)[i * 3 + c] = (float)p[c];
        }
    }
    const style_image *inputs[] = {&rgba, &wide, &real};
    for (int i = 0; i < 3; i++) {
        const char *path = test_path(dir, "variant.jpg");
        assert_int_equal(style_image_save(path, inputs[i], 0), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
        assert_int_equal(loaded.channels, 3);
        double psnr = psnr_rgb(&image, &loaded);
        if (!(psnr > 30.0)) fail_msg("JPEG variant %d: PSNR %.2f dB", i, psnr);
        style_image_release(&loaded);
    }
    style_image_release(&rgba);
    style_image_release(&wide);
    style_image_release(&real);
    style_image_release(&image);
}

static unsigned char *turbojpeg_encode(const unsigned char *pixels, int width, int height,
                                       int format, int subsampling, unsigned long *size)
{
    tjhandle handle = tjInitCompress();
    assert_non_null(handle);
    unsigned char *jpeg = NULL;
    int rc = tjCompress2(handle, pixels, width, 0, height, format, &jpeg, size, subsampling, 90, 0);
    if (rc != 0) fail_msg("tjCompress2: %s", tjGetErrorStr2(handle));
    tjDestroy(handle);
    return jpeg;
}

static void test_jpeg_grey_and_cmyk(void **state)
{
    (void)state;
    enum { W = 16, H = 8 };
    unsigned char grey[W * H];
    for (int i = 0; i < W * H; i++)
        grey[i] = (unsigned char)(i * 2);
    unsigned long size;
    unsigned char *jpeg = turbojpeg_encode(grey, W, H, TJPF_GRAY, TJSAMP_GRAY, &size);
    style_image image;
    assert_int_equal(style_image_load_memory(jpeg, size, 0, &image), STYLE_OK);
    assert_int_equal(image.channels, 3);
    for (int i = 0; i < W * H; i++) {
        const uint8_t *p = (const uint8_t *)image.data + i * 3;
        assert_int_equal(p[0], p[1]);
        assert_int_equal(p[1], p[2]);
        assert_true(abs((int)p[0] - grey[i]) <= 6);
    }
    style_image_release(&image);
    tjFree(jpeg);

    /*
     * TurboJPEG writes CMYK as YCCK with an Adobe marker, which by Adobe's convention (and
     * Pillow's, docs/pipeline.md) holds inverted ink: stored s means ink 255 - s, so
     * R = 255 (1 - C)(1 - K) = s_C s_K / 255. Four flat 8x8-aligned quadrants (a lossy
     * encoding keeps flat blocks within a step or two).
     */
    enum { Q = 16 };
    static const unsigned char inks[4][4] = {
        {40, 40, 40, 40}, {255, 0, 128, 255}, {200, 100, 50, 220}, {0, 0, 0, 0}};
    unsigned char cmyk[2 * Q * 2 * Q * 4];
    for (int y = 0; y < 2 * Q; y++)
        for (int x = 0; x < 2 * Q; x++)
            memcpy(cmyk + ((size_t)y * 2 * Q + x) * 4, inks[(y / Q) * 2 + x / Q], 4);
    jpeg = turbojpeg_encode(cmyk, 2 * Q, 2 * Q, TJPF_CMYK, TJSAMP_444, &size);
    assert_int_equal(style_image_load_memory(jpeg, size, 0, &image), STYLE_OK);
    assert_int_equal(image.channels, 3);
    assert_int_equal(image.width, 2 * Q);
    for (int q = 0; q < 4; q++) {
        int x = (q % 2) * Q + Q / 2, y = (q / 2) * Q + Q / 2;
        const uint8_t *p = (const uint8_t *)image.data + ((size_t)y * 2 * Q + x) * 3;
        for (int c = 0; c < 3; c++) {
            double expected = inks[q][c] * inks[q][3] / 255.0;
            if (fabs(p[c] - expected) > 3.0)
                fail_msg("CMYK quadrant %d channel %d: %d, expected %.1f", q, c, p[c], expected);
        }
    }
    style_image_release(&image);
    /* Its size is known from the header, as for RGB JPEGs. */
    int32_t w = 0, h = 0;
    const char *path = test_path(*state, "cmyk.jpg");
    assert_int_equal(test_write_file(path, jpeg, size), 0);
    assert_int_equal(style__image_file_size(path, 0, &w, &h), STYLE_OK);
    assert_int_equal(w, 2 * Q);
    assert_int_equal(h, 2 * Q);
    tjFree(jpeg);
}

/* WebP: lossless exact (alpha and the colour under transparent pixels too), lossy close with
 * alpha kept exactly, 16-bit and float inputs reduced to 8 bits, the format named in memory. */
static void test_webp_roundtrip(void **state)
{
    const char *dir = *state;
    style_image rgb, rgba, loaded;
    assert_int_equal(style_image_alloc(&rgb, 64, 48, 3, STYLE_SAMPLE_U8), STYLE_OK);
    assert_int_equal(style_image_alloc(&rgba, 64, 48, 4, STYLE_SAMPLE_U8), STYLE_OK);
    fill_u8(&rgb, 3);
    fill_gradient_u8(&rgba);
    for (int i = 0; i < 64 * 48; i++)
        ((uint8_t *)rgba.data)[i * 4 + 3] = (uint8_t)(i * 7);

    /* Lossless (quality 0), by the extension in any case. */
    const char *names[] = {"exact.webp", "exact.WEBP"};
    const style_image *images[] = {&rgb, &rgba};
    for (int i = 0; i < 2; i++) {
        const char *path = test_path(dir, names[i]);
        assert_int_equal(style_image_save(path, images[i], 0), STYLE_OK);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
        assert_int_equal(loaded.channels, images[i]->channels);
        assert_int_equal(loaded.sample_type, STYLE_SAMPLE_U8);
        assert_same_pixels(images[i], &loaded);
        style_image_release(&loaded);
    }

    /* Lossy: close in colour, alpha still exact. */
    const char *path = test_path(dir, "lossy.webp");
    assert_int_equal(style_image_save(path, &rgba, 90), STYLE_OK);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_int_equal(loaded.channels, 4);
    int alpha_differs = 0;
    for (int i = 0; i < 64 * 48; i++)
        alpha_differs += ((uint8_t *)loaded.data)[i * 4 + 3] != ((uint8_t *)rgba.data)[i * 4 + 3];
    assert_int_equal(alpha_differs, 0);
    double psnr = psnr_rgb(&rgba, &loaded);
    if (!(psnr > 30.0)) fail_msg("lossy WebP at quality 90: PSNR %.2f dB", psnr);
    style_image_release(&loaded);
    /* A lower quality gives a smaller file. */
    size_t high = 0, low = 0;
    void *data = NULL;
    assert_int_equal(style_image_encode(&rgb, "webp", 95, &data, &high), STYLE_OK);
    style_free(data);
    assert_int_equal(style_image_encode(&rgb, "WebP", 20, &data, &low), STYLE_OK);
    assert_true(low < high);
    assert_int_equal(style_image_load_memory(data, low, 0, &loaded), STYLE_OK);
    assert_int_equal(loaded.channels, 3);
    style_image_release(&loaded);
    style_free(data);

    /* 16-bit RGBA: samples reduced to 8 bits, alpha kept. */
    style_image wide;
    assert_int_equal(style_image_alloc(&wide, 64, 48, 4, STYLE_SAMPLE_U16), STYLE_OK);
    for (int i = 0; i < 64 * 48 * 4; i++)
        ((uint16_t *)wide.data)[i] = (uint16_t)(((uint8_t *)rgba.data)[i] * 257);
    path = test_path(dir, "wide.webp");
    assert_int_equal(style_image_save(path, &wide, 0), STYLE_OK);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_same_pixels(&rgba, &loaded);
    style_image_release(&loaded);
    style_image_release(&wide);

    /* A WebP named .jpg and a JPEG named .webp load by their content. */
    assert_int_equal(style_image_save(test_path(dir, "real.webp"), &rgb, 0), STYLE_OK);
    size_t size = 0;
    unsigned char *bytes = test_read_file(test_path(dir, "real.webp"), &size);
    assert_int_equal(test_write_file(test_path(dir, "named.jpg"), bytes, size), 0);
    assert_int_equal(style_image_load(test_path(dir, "named.jpg"), 0, &loaded), STYLE_OK);
    assert_same_pixels(&rgb, &loaded);
    style_image_release(&loaded);
    free(bytes);
    assert_int_equal(style_image_save(test_path(dir, "jpeg.jpg"), &rgb, 0), STYLE_OK);
    bytes = test_read_file(test_path(dir, "jpeg.jpg"), &size);
    assert_int_equal(test_write_file(test_path(dir, "named.webp"), bytes, size), 0);
    assert_int_equal(style_image_load(test_path(dir, "named.webp"), 0, &loaded), STYLE_OK);
    assert_int_equal(loaded.channels, 3);
    style_image_release(&loaded);
    free(bytes);

    /* An animated WebP (an ANIM chunk in an extended file) is refused as unsupported. */
    static const unsigned char animated[] = {'R', 'I', 'F', 'F', 36,  0,  0, 0, 'W', 'E',  'B',
                                             'P', 'V', 'P', '8', 'X', 10, 0, 0, 0,   0x02, 0,
                                             0,   0,   0,   0,   0,   0,  0, 0, 'A', 'N',  'I',
                                             'M', 6,   0,   0,   0,   0,  0, 0, 0,   0,    0};
    assert_int_equal(style_image_load_memory(animated, sizeof animated, 0, &loaded),
                     STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "animated WebP"));
    style_image_release(&rgb);
    style_image_release(&rgba);
}

/* ---- Limits -------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    const char *dir = *state;
    style_image image, loaded;

    /* 100000x100000 claimed with a valid CRC: refused before any allocation. */
    byte_buffer huge = make_header_only_png(100000, 100000);
    style__alloc_fail_after(1);
    style_status status = style_image_load_memory(huge.data, huge.size, 0, &loaded);
    style__alloc_fail_after(0);
    assert_int_equal(status, STYLE_ERR_LIMIT);
    assert_null(loaded.data);
    assert_non_null(strstr(style_last_error(), "100000x100000"));
    assert_non_null(strstr(style_last_error(), "67108864"));
    /* Through a file, the message names it. */
    const char *path = test_path(dir, "huge.png");
    assert_int_equal(test_write_file(path, huge.data, huge.size), 0);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "image_load: "));
    assert_non_null(strstr(style_last_error(), "huge.png: "));
    free(huge.data);

    /* A JPEG whose frame header (SOF) claims 65500x65500: refused before any allocation. */
    unsigned char grey[8 * 8] = {0};
    unsigned long jpeg_size = 0;
    unsigned char *jpeg = turbojpeg_encode(grey, 8, 8, TJPF_GRAY, TJSAMP_GRAY, &jpeg_size);
    bool patched = false;
    for (unsigned long i = 2; i + 9 < jpeg_size && !patched; i++) {
        if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2)) {
            jpeg[i + 5] = 0xff, jpeg[i + 6] = 0xdc; /* height 65500 */
            jpeg[i + 7] = 0xff, jpeg[i + 8] = 0xdc; /* width 65500 */
            patched = true;
        }
    }
    assert_true(patched);
    style__alloc_fail_after(1);
    status = style_image_load_memory(jpeg, jpeg_size, 0, &loaded);
    style__alloc_fail_after(0);
    assert_int_equal(status, STYLE_ERR_LIMIT);
    assert_null(loaded.data);
    assert_non_null(strstr(style_last_error(), "65500x65500"));
    tjFree(jpeg);

    /* A lossless WebP whose header claims 16383x16383 (the format's largest), refused before
     * any allocation; the same in a file named .png (the content decides, not the name). */
    unsigned char webp[] = {'R', 'I', 'F', 'F', 26, 0, 0, 0, 'W',  'E', 'B', 'P',
                            'V', 'P', '8', 'L', 14, 0, 0, 0, 0x2f, 0,   0,   0,
                            0,   0,   0,   0,   0,  0, 0, 0, 0,    0};
    uint32_t bits = (16383u - 1) | (16383u - 1) << 14; /* width - 1, height - 1; no alpha */
    for (int i = 0; i < 4; i++)
        webp[21 + i] = (unsigned char)(bits >> (8 * i));
    style__alloc_fail_after(1);
    status = style_image_load_memory(webp, sizeof webp, 0, &loaded);
    style__alloc_fail_after(0);
    assert_int_equal(status, STYLE_ERR_LIMIT);
    assert_null(loaded.data);
    assert_non_null(strstr(style_last_error(), "WebP is 16383x16383"));
    path = test_path(dir, "huge-webp.png");
    assert_int_equal(test_write_file(path, webp, sizeof webp), 0);
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_ERR_LIMIT);
    assert_non_null(strstr(style_last_error(), "huge-webp.png: WebP is 16383x16383"));

    /* An explicit limit: exactly at it loads, one below it is refused (PNG, JPEG, WebP). */
    assert_int_equal(style_image_alloc(&image, 10, 10, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_gradient_u8(&image);
    const char *names[] = {"limit.png", "limit.jpg", "limit.webp"};
    for (int i = 0; i < 3; i++) {
        path = test_path(dir, names[i]);
        assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
        assert_int_equal(style_image_load(path, 100, &loaded), STYLE_OK);
        style_image_release(&loaded);
        assert_int_equal(style_image_load(path, 99, &loaded), STYLE_ERR_LIMIT);
        assert_null(loaded.data);
        assert_non_null(strstr(style_last_error(), "10x10"));
    }
    style_image_release(&image);

    /* Zero width or height in a well-formed IHDR is a format error. */
    uint32_t sizes[3][2] = {{0, 10}, {10, 0}, {0, 0}};
    for (int i = 0; i < 3; i++) {
        byte_buffer empty = make_header_only_png(sizes[i][0], sizes[i][1]);
        assert_int_equal(style_image_load_memory(empty.data, empty.size, 0, &loaded),
                         STYLE_ERR_FORMAT);
        free(empty.data);
    }
    /* So is a width over 2^31 - 1. */
    byte_buffer wide = make_header_only_png(0x80000000u, 1);
    assert_int_equal(style_image_load_memory(wide.data, wide.size, UINT64_MAX, &loaded),
                     STYLE_ERR_FORMAT);
    free(wide.data);
}

/* ---- Corrupt input ------------------------------------------------------------------- */

static void expect_format_error(const void *data, size_t size, const char *what)
{
    style_image image;
    style_status status = style_image_load_memory(data, size, 1 << 20, &image);
    if (status != STYLE_ERR_FORMAT)
        fail_msg("%s: expected a format error, got %s (%s)", what, style_status_string(status),
                 style_last_error());
    assert_null(image.data);
}

static void test_corrupt_basic(void **state)
{
    const char *dir = *state;
    style_image image;

    /* Empty file, through a path and from memory. */
    const char *path = test_path(dir, "empty.png");
    assert_int_equal(test_write_file(path, "", 0), 0);
    assert_int_equal(style_image_load(path, 0, &image), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "empty.png"));
    expect_format_error("", 0, "empty");

    /* Random bytes, alone and behind each signature. */
    test_rng rng = {1234};
    unsigned char noise[4096];
    for (size_t i = 0; i < sizeof noise; i++)
        noise[i] = (unsigned char)test_rng_next(&rng);
    noise[0] = 'x';
    expect_format_error(noise, sizeof noise, "random bytes");
    assert_non_null(strstr(style_last_error(), "not a PNG, JPEG or WebP image"));
    memcpy(noise, "RIFF\x10\0\0\0WEBP", 12);
    expect_format_error(noise, sizeof noise, "RIFF WEBP header + random bytes");
    memcpy(noise, png_sig, 8);
    expect_format_error(noise, sizeof noise, "PNG signature + random bytes");
    memcpy(noise, "\xff\xd8\xff", 3);
    expect_format_error(noise, sizeof noise, "JPEG SOI + random bytes");

    /* Missing file and directory: I/O errors naming the path. */
    path = test_path(dir, "missing.png");
    image.data = (void *)1;
    assert_int_equal(style_image_load(path, 0, &image), STYLE_ERR_IO);
    assert_null(image.data);
    assert_non_null(strstr(style_last_error(), "missing.png"));
    assert_int_equal(style_image_load(dir, 0, &image), STYLE_ERR_IO);

    /* NULL arguments. */
    assert_int_equal(style_image_load(NULL, 0, &image), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_load(path, 0, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_load_memory(NULL, 10, 0, &image), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_load_memory(noise, 10, 0, NULL), STYLE_ERR_INVALID_ARGUMENT);
    expect_format_error(NULL, 0, "NULL, 0");
}

static void test_png_crc_errors(void **state)
{
    const char *dir = *state;
    style_image image;
    assert_int_equal(style_image_alloc(&image, 16, 16, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_u8(&image, 5);
    size_t size;
    unsigned char *png = encode_to_memory(dir, "crc.png", &image, 0, &size);
    style_image_release(&image);

    /* IHDR CRC. */
    png[32] ^= 1;
    expect_format_error(png, size, "bad IHDR CRC");
    assert_non_null(strstr(style_last_error(), "CRC"));
    png[32] ^= 1;

    /* IDAT: a flipped data byte (CRC mismatch), then a flipped CRC byte. */
    size_t idat = find_chunk(png, size, "IDAT");
    assert_true(idat > 0);
    uint32_t length = get_be32(png + idat);
    png[idat + 8 + length / 2] ^= 0x10;
    expect_format_error(png, size, "IDAT data byte");
    png[idat + 8 + length / 2] ^= 0x10;
    png[idat + 8 + length] ^= 0x80;
    expect_format_error(png, size, "IDAT CRC");
    png[idat + 8 + length] ^= 0x80;

    /* The repaired file loads again. */
    assert_int_equal(style_image_load_memory(png, size, 0, &image), STYLE_OK);
    style_image_release(&image);
    free(png);
}

static void test_truncated(void **state)
{
    const char *dir = *state;
    style_image image;
    assert_int_equal(style_image_alloc(&image, 24, 17, 4, STYLE_SAMPLE_U8), STYLE_OK);
    fill_gradient_u8(&image);
    const char *names[] = {"cut.png", "cut.jpg", "cut.webp", "cut-lossy.webp"};
    const char *kinds[] = {"truncated PNG", "JPEG", "truncated WebP", "truncated WebP"};
    const size_t signatures[] = {8, 3, 12, 12};
    for (int n = 0; n < 4; n++) {
        size_t size;
        unsigned char *data = encode_to_memory(dir, names[n], &image, n == 3 ? 80 : 0, &size);
        style_image loaded;
        assert_int_equal(style_image_load_memory(data, size, 0, &loaded), STYLE_OK);
        style_image_release(&loaded);
        /* Every cut point, each in a buffer of exactly that size so ASan sees over-reads. */
        for (size_t cut = 0; cut < size; cut++) {
            unsigned char *copy = malloc(cut ? cut : 1);
            memcpy(copy, data, cut);
            char what[64];
            snprintf(what, sizeof what, "%s cut at %zu of %zu", names[n], cut, size);
            expect_format_error(copy, cut, what);
            /* Past the signature, the message says what happened. */
            if (cut >= signatures[n] && !strstr(style_last_error(), "truncated"))
                fail_msg("%s: message \"%s\" does not say truncated", what, style_last_error());
            free(copy);
        }
        /* The file name and the kind of problem appear in the message. */
        const char *path = test_path(dir, names[n]);
        assert_int_equal(test_write_file(path, data, size / 2), 0);
        assert_int_equal(style_image_load(path, 0, &loaded), STYLE_ERR_FORMAT);
        const char *message = style_last_error();
        assert_non_null(strstr(message, "image_load: "));
        assert_non_null(strstr(message, names[n]));
        assert_non_null(strstr(message, kinds[n]));
        free(data);
    }
    style_image_release(&image);
}

/* Random mutations must give a clean status, never a crash, hang or leak. */
static void test_mutations(void **state)
{
    const char *dir = *state;
    style_image image;
    assert_int_equal(style_image_alloc(&image, 20, 14, 4, STYLE_SAMPLE_U8), STYLE_OK);
    fill_gradient_u8(&image);
    test_rng rng = {42};
    const char *names[] = {"fuzz.png", "fuzz.jpg", "fuzz.webp", "fuzz-lossy.webp"};
    for (int n = 0; n < 4; n++) {
        size_t size;
        unsigned char *original = encode_to_memory(dir, names[n], &image, n == 3 ? 80 : 0, &size);
        unsigned char *data = malloc(size);
        int loaded_ok = 0;
        for (int round = 0; round < 1500; round++) {
            memcpy(data, original, size);
            int edits = 1 + (int)(test_rng_next(&rng) % 4);
            for (int e = 0; e < edits; e++) {
                /* Spare the signature half of the time so the decoders get exercised. */
                size_t lo = (round % 2) ? 8 : 0;
                size_t at = lo + test_rng_next(&rng) % (size - lo);
                data[at] = (unsigned char)test_rng_next(&rng);
            }
            /* Fix the PNG CRCs so that mutations reach the headers and the deflate stream. */
            if (n == 0) fix_png_crcs(data, size);
            style_image out;
            style_status status = style_image_load_memory(data, size, 1 << 20, &out);
            if (status == STYLE_OK) {
                loaded_ok++;
                style_image_release(&out);
            } else if (status != STYLE_ERR_FORMAT && status != STYLE_ERR_LIMIT &&
                       status != STYLE_ERR_UNSUPPORTED) {
                fail_msg("%s round %d: unexpected %s (%s)", names[n], round,
                         style_status_string(status), style_last_error());
            } else {
                assert_null(out.data);
            }
        }
        printf("%s: %d of 1500 mutants decoded\n", names[n], loaded_ok);
        free(data);
        free(original);
    }
    style_image_release(&image);
}

/* ---- Saving -------------------------------------------------------------------------- */

static void test_save_errors(void **state)
{
    const char *dir = *state;
    style_image image;
    assert_int_equal(style_image_alloc(&image, 8, 8, 3, STYLE_SAMPLE_U8), STYLE_OK);
    fill_u8(&image, 1);

    /* Unknown or missing extensions name the path. */
    const char *bad_names[] = {"out.bmp", "out", "out.png.txt", "dir.png/"};
    for (int i = 0; i < 4; i++) {
        const char *path = test_path(dir, bad_names[i]);
        assert_int_equal(style_image_save(path, &image, 0), STYLE_ERR_INVALID_ARGUMENT);
        assert_non_null(strstr(style_last_error(), path));
        assert_non_null(strstr(style_last_error(), "extension"));
    }
    /* Bad quality, bad image, NULLs. */
    assert_int_equal(style_image_save(test_path(dir, "q.jpg"), &image, 101),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_save(test_path(dir, "q.jpg"), &image, -1),
                     STYLE_ERR_INVALID_ARGUMENT);
    style_image broken = image;
    broken.channels = 2;
    assert_int_equal(style_image_save(test_path(dir, "b.png"), &broken, 0),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_save(test_path(dir, "b.png"), NULL, 0),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_image_save(NULL, &image, 0), STYLE_ERR_INVALID_ARGUMENT);
    /* JPEG cannot go past 65535 pixels a side. */
    style_image long_row = {70000, 1, 3, STYLE_SAMPLE_U8, 0, calloc(70000, 3)};
    assert_int_equal(style_image_save(test_path(dir, "long.jpg"), &long_row, 0),
                     STYLE_ERR_UNSUPPORTED);
    /* Nor WebP past 16383, nor a WebP quality over 100. */
    assert_int_equal(style_image_save(test_path(dir, "long.webp"), &long_row, 0),
                     STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "16383"));
    assert_int_equal(style_image_save(test_path(dir, "q.webp"), &image, 101),
                     STYLE_ERR_INVALID_ARGUMENT);
    free(long_row.data);
    assert_int_equal(count_entries(dir), 0);

    /* A directory that does not exist, and a "directory" that is a file. */
    assert_int_equal(style_image_save(test_path(dir, "missing/out.png"), &image, 0), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "image_save: "));
    assert_non_null(strstr(style_last_error(), "missing/out.png"));
    const char *file = test_path(dir, "file");
    assert_int_equal(test_write_file(file, "x", 1), 0);
    assert_int_equal(style_image_save(test_path(dir, "file/out.jpg"), &image, 0), STYLE_ERR_IO);
    assert_int_equal(count_entries(dir), 1);

    /* A read-only directory (root ignores permissions, so only check as a normal user). */
    const char *locked = test_path(dir, "locked");
    assert_int_equal(mkdir(locked, 0500), 0);
    if (geteuid() != 0) {
        assert_int_equal(style_image_save(test_path(locked, "out.png"), &image, 0), STYLE_ERR_IO);
        assert_int_equal(count_entries(locked), 0);
    }
    chmod(locked, 0700);

    /* Saving over an existing file replaces it. */
    const char *path = test_path(dir, "again.png");
    assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
    fill_u8(&image, 2);
    assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
    style_image loaded;
    assert_int_equal(style_image_load(path, 0, &loaded), STYLE_OK);
    assert_same_pixels(&image, &loaded);
    style_image_release(&loaded);
    style_image_release(&image);
}

/* ---- Allocation failures ------------------------------------------------------------- */

static void test_alloc_failures(void **state)
{
    const char *dir = *state;
    style_image rgba, wide;
    assert_int_equal(style_image_alloc(&rgba, 21, 13, 4, STYLE_SAMPLE_U8), STYLE_OK);
    assert_int_equal(style_image_alloc(&wide, 9, 7, 3, STYLE_SAMPLE_U16), STYLE_OK);
    fill_gradient_u8(&rgba);
    for (int i = 0; i < 9 * 7 * 3; i++)
        ((uint16_t *)wide.data)[i] = (uint16_t)(i * 1021);
    unsigned char palette_rows[2] = {0x01, 0x20};
    const png_color palette[3] = {{255, 0, 0}, {0, 255, 0}, {1, 2, 3}};
    const png_byte alphas[1] = {7};
    png_spec spec = spec_of(4, 1, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, palette_rows, 2);
    spec.palette = palette;
    spec.palette_count = 3;
    spec.trns = alphas;
    spec.trns_count = 1;
    byte_buffer palette_png = make_png(&spec);
    assert_int_equal(
        test_write_file(test_path(dir, "palette.png"), palette_png.data, palette_png.size), 0);
    free(palette_png.data);

    struct {
        const char *name;
        const style_image *image;
    } cases[] = {{"a.png", &rgba},  {"b.png", &wide},  {"c.jpg", &rgba},     {"d.jpg", &wide},
                 {"e.webp", &rgba}, {"f.webp", &wide}, {"palette.png", NULL}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *path = test_path(dir, cases[k].name);
        style_image expected;
        if (cases[k].image) {
            /* Saving under failures: NOMEM or OK, never a partial or temporary file. */
            int failures = 0;
            for (long n = 1;; n++) {
                int before = count_entries(dir);
                style__alloc_fail_after(n);
                style_status status = style_image_save(path, cases[k].image, 0);
                style__alloc_fail_after(0);
                if (status == STYLE_OK) break;
                if (status != STYLE_ERR_NOMEM)
                    fail_msg("save %s, failing allocation %ld: %s (%s)", cases[k].name, n,
                             style_status_string(status), style_last_error());
                assert_int_equal(count_entries(dir), before);
                failures++;
                assert_true(n < 1000);
            }
            assert_true(failures > 0);
        }
        assert_int_equal(style_image_load(path, 0, &expected), STYLE_OK);

        /* Loading under failures: NOMEM until enough allocations succeed, then the image. */
        int failures = 0;
        style_status status = STYLE_ERR_NOMEM;
        for (long n = 1; n <= 1000; n++) {
            style_image loaded;
            style__alloc_fail_after(n);
            status = style_image_load(path, 0, &loaded);
            style__alloc_fail_after(0);
            if (status == STYLE_OK) {
                assert_same_pixels(&expected, &loaded);
                style_image_release(&loaded);
                /* libpng tolerates some failures (it drops an ancillary chunk); go on. */
                if (n > 200) break;
                continue;
            }
            if (status != STYLE_ERR_NOMEM)
                fail_msg("load %s, failing allocation %ld: %s (%s)", cases[k].name, n,
                         style_status_string(status), style_last_error());
            assert_null(loaded.data);
            failures++;
        }
        assert_int_equal(status, STYLE_OK);
        assert_true(failures > 0);
        style_image_release(&expected);
    }
    style_image_release(&rgba);
    style_image_release(&wide);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_png_roundtrip_u8, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_png_roundtrip_u16, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_encode_memory, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_png_levels, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_png_f32_saved_as_u8, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_png_strided, setup_dir, teardown_dir),
        cmocka_unit_test(test_png_grey_palette_expanded),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test_setup_teardown(test_png_warnings_silent, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_jpeg_roundtrip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_jpeg_grey_and_cmyk, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_webp_roundtrip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_limits, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_corrupt_basic, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_png_crc_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_truncated, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_mutations, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_alloc_failures, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
