#define _GNU_SOURCE /* memmem */
/*
 * Image formats at the edges of what photos and asset pipelines hand us: JPEG EXIF orientation
 * (all eight values, both TIFF byte orders, damaged EXIF blocks, allocation failures inside
 * libexif), PNG gamma (gAMA honoured unless an sRGB or iCCP chunk says otherwise) and the sRGB
 * chunk written on output. The JPEGs are made here with TurboJPEG and an APP1 segment spliced
 * in by hand; the expected pixels come from the EXIF specification's table ("row 0 is at the
 * visual ... side, column 0 at the visual ... side"), not from the library's own code.
 */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
#include <zlib.h>

void style__alloc_fail_after(long n);

typedef struct bytes {
    unsigned char *data;
    size_t size;
} bytes;

/* A 7 x 5 picture with no symmetry: every pixel distinct. */
enum { W = 7, H = 5 };

static void picture(unsigned char *rgb)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            rgb[(y * W + x) * 3 + 0] = (unsigned char)(30 * x + 10);
            rgb[(y * W + x) * 3 + 1] = (unsigned char)(50 * y + 5);
            rgb[(y * W + x) * 3 + 2] = (unsigned char)(x * y * 6);
        }
}

static bytes jpeg_of_picture(void)
{
    unsigned char rgb[W * H * 3];
    picture(rgb);
    tjhandle handle = tjInitCompress();
    unsigned char *jpeg = NULL;
    unsigned long size = 0;
    assert_int_equal(tjCompress2(handle, rgb, W, 0, H, TJPF_RGB, &jpeg, &size, TJSAMP_444, 100, 0),
                     0);
    tjDestroy(handle);
    bytes out = {malloc(size), size};
    memcpy(out.data, jpeg, size);
    tjFree(jpeg);
    return out;
}

/* An APP1 Exif segment whose IFD0 holds one entry (tag, type, count 1, 2-byte value). */
static size_t exif_segment(unsigned char *out, bool big_endian, unsigned tag, unsigned type,
                           unsigned value)
{
    unsigned char tiff[26];
    size_t n = 0;
#define PUT16(v)                                                                                   \
    (big_endian ? (tiff[n++] = (unsigned char)((v) >> 8), tiff[n++] = (unsigned char)(v))          \
                : (tiff[n++] = (unsigned char)(v), tiff[n++] = (unsigned char)((v) >> 8)))
#define PUT32(v)                                                                                   \
    (big_endian ? (PUT16((v) >> 16), PUT16((v)&0xffff)) : (PUT16((v)&0xffff), PUT16((v) >> 16)))
    tiff[n++] = big_endian ? 'M' : 'I';
    tiff[n++] = big_endian ? 'M' : 'I';
    PUT16(42);
    PUT32(8u); /* IFD0 offset */
    PUT16(1);  /* one entry */
    PUT16(tag);
    PUT16(type);
    PUT32(1u);    /* count */
    PUT16(value); /* value, left-justified in the 4-byte field */
    PUT16(0);
    PUT32(0u); /* no next IFD */
#undef PUT16
#undef PUT32
    size_t length = 2 + 6 + n;
    out[0] = 0xff, out[1] = 0xe1, out[2] = (unsigned char)(length >> 8),
    out[3] = (unsigned char)length;
    memcpy(out + 4, "Exif\0\0", 6);
    memcpy(out + 10, tiff, n);
    return 2 + length;
}

/* The JPEG with `segment` inserted right after SOI (where cameras put APP1). */
static bytes with_segment(const bytes *jpeg, const unsigned char *segment, size_t length)
{
    bytes out = {malloc(jpeg->size + length), jpeg->size + length};
    memcpy(out.data, jpeg->data, 2);
    memcpy(out.data + 2, segment, length);
    memcpy(out.data + 2 + length, jpeg->data + 2, jpeg->size - 2);
    return out;
}

/* EXIF 2.3, Orientation: the visual side of stored row 0 and of stored column 0. */
typedef enum side { TOP, BOTTOM, LEFT, RIGHT } side;
static const side row0_side[9] = {0, TOP, TOP, BOTTOM, BOTTOM, LEFT, RIGHT, RIGHT, LEFT};
static const side col0_side[9] = {0, LEFT, RIGHT, RIGHT, LEFT, TOP, TOP, BOTTOM, BOTTOM};

/* Checks that `upright` shows `stored` (w x h) as orientation `o` says. */
static void assert_oriented(const style_image *stored, const style_image *upright, int o)
{
    const int w = stored->width, h = stored->height;
    const bool swap = row0_side[o] == LEFT || row0_side[o] == RIGHT;
    assert_int_equal(upright->width, swap ? h : w);
    assert_int_equal(upright->height, swap ? w : h);
    const int vw = upright->width, vh = upright->height;
    const unsigned char *s = stored->data, *u = upright->data;
    for (int r = 0; r < h; r++)
        for (int c = 0; c < w; c++) {
            int x = 0, y = 0;
            switch (row0_side[o]) {
            case TOP:
                y = r;
                break;
            case BOTTOM:
                y = vh - 1 - r;
                break;
            case LEFT:
                x = r;
                break;
            case RIGHT:
                x = vw - 1 - r;
                break;
            }
            switch (col0_side[o]) {
            case TOP:
                y = c;
                break;
            case BOTTOM:
                y = vh - 1 - c;
                break;
            case LEFT:
                x = c;
                break;
            case RIGHT:
                x = vw - 1 - c;
                break;
            }
            assert_memory_equal(u + ((size_t)y * vw + x) * 3, s + ((size_t)r * w + c) * 3, 3);
        }
}

static void test_exif_orientations(void **state)
{
    (void)state;
    bytes jpeg = jpeg_of_picture();
    style_image stored;
    assert_int_equal(style_image_load_memory(jpeg.data, jpeg.size, 0, &stored), STYLE_OK);
    for (int endian = 0; endian < 2; endian++)
        for (int o = 1; o <= 8; o++) {
            unsigned char segment[64];
            size_t length = exif_segment(segment, endian, 0x0112, 3, (unsigned)o);
            bytes file = with_segment(&jpeg, segment, length);
            style_image upright;
            assert_int_equal(style_image_load_memory(file.data, file.size, 0, &upright), STYLE_OK);
            assert_oriented(&stored, &upright, o);
            style_image_release(&upright);
            free(file.data);
        }
    style_image_release(&stored);
    free(jpeg.data);
}

/* Bad EXIF never fails a decode: the picture comes as stored. */
static void test_exif_damaged(void **state)
{
    (void)state;
    bytes jpeg = jpeg_of_picture();
    style_image stored;
    assert_int_equal(style_image_load_memory(jpeg.data, jpeg.size, 0, &stored), STYLE_OK);
    unsigned char segment[64];
    struct {
        unsigned tag, type, value;
        size_t cut; /* bytes removed from the end of the TIFF data (0: none) */
    } cases[] = {
        {0x0112, 3, 0, 0},  /* orientation 0: out of range */
        {0x0112, 3, 9, 0},  /* 9: out of range */
        {0x0112, 4, 6, 0},  /* LONG instead of SHORT */
        {0x0110, 2, 6, 0},  /* another tag (Model) */
        {0x0112, 3, 6, 16}, /* the IFD cut off */
        {0x0112, 3, 6, 22}, /* only the TIFF header left */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        size_t length = exif_segment(segment, false, cases[k].tag, cases[k].type, cases[k].value);
        length -= cases[k].cut;
        size_t declared = length - 2;
        segment[2] = (unsigned char)(declared >> 8), segment[3] = (unsigned char)declared;
        bytes file = with_segment(&jpeg, segment, length);
        style_image image;
        assert_int_equal(style_image_load_memory(file.data, file.size, 0, &image), STYLE_OK);
        assert_int_equal(image.width, W);
        assert_memory_equal(image.data, stored.data, W * H * 3);
        style_image_release(&image);
        free(file.data);
    }
    style_image_release(&stored);
    free(jpeg.data);
}

/* Allocation failures inside libexif: STYLE_ERR_NOMEM, or the correctly turned picture. */
static void test_exif_alloc_failures(void **state)
{
    (void)state;
    bytes jpeg = jpeg_of_picture();
    style_image stored;
    assert_int_equal(style_image_load_memory(jpeg.data, jpeg.size, 0, &stored), STYLE_OK);
    unsigned char segment[64];
    size_t length = exif_segment(segment, true, 0x0112, 3, 6);
    bytes file = with_segment(&jpeg, segment, length);
    int failures = 0;
    for (long n = 1; n <= 200; n++) {
        style_image image;
        style__alloc_fail_after(n);
        style_status status = style_image_load_memory(file.data, file.size, 0, &image);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) {
            assert_oriented(&stored, &image, 6);
            style_image_release(&image);
            break;
        }
        assert_int_equal(status, STYLE_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 3); /* pixels, libexif's state, the turned copy */
    free(file.data);
    style_image_release(&stored);
    free(jpeg.data);
}

/* ---- PNG gamma ---------------------------------------------------------------------------- */

typedef struct png_out {
    unsigned char *data;
    size_t size;
} png_out;

static void png_collect(png_structp png, png_bytep data, size_t length)
{
    png_out *out = png_get_io_ptr(png);
    out->data = realloc(out->data, out->size + length);
    memcpy(out->data + out->size, data, length);
    out->size += length;
}

static void png_no_flush(png_structp png)
{
    (void)png;
}

/* An 8-bit grey 4 x 1 PNG of `values`, with gAMA `gamma` (0: none), an sRGB chunk and/or an
 * iCCP chunk when asked. */
static png_out grey_png(const unsigned char values[4], double gamma, bool srgb, bool iccp)
{
    png_out out = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_int_equal(setjmp(png_jmpbuf(png)), 0);
    png_set_write_fn(png, &out, png_collect, png_no_flush);
    png_set_IHDR(png, info, 4, 1, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (gamma > 0) png_set_gAMA(png, info, gamma);
    if (srgb) png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(png, info);
    png_write_row(png, values);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (iccp) {
        /* Spliced in after IHDR: libpng would validate a profile it writes, and libstyle never
         * reads one, it only notices the chunk. Name, NUL, method 0, "compressed" bytes. */
        static const unsigned char payload[] = "any\0\0not a real profile";
        const size_t length = sizeof payload - 1, chunk = 12 + length, at = 33;
        unsigned char *grown = malloc(out.size + chunk);
        memcpy(grown, out.data, at);
        unsigned char *c = grown + at;
        c[0] = 0, c[1] = 0, c[2] = 0, c[3] = (unsigned char)length;
        memcpy(c + 4, "iCCP", 4);
        memcpy(c + 8, payload, length);
        uint32_t crc = (uint32_t)crc32(0, c + 4, (unsigned)(4 + length));
        for (int i = 0; i < 4; i++)
            c[8 + length + i] = (unsigned char)(crc >> (24 - 8 * i));
        memcpy(grown + at + chunk, out.data + at, out.size - at);
        free(out.data);
        out.data = grown;
        out.size += chunk;
    }
    return out;
}

static void test_png_gamma(void **state)
{
    (void)state;
    const unsigned char values[4] = {0, 64, 128, 255};
    struct {
        double gamma;
        bool srgb, iccp, converted;
    } cases[] = {
        {0, false, false, false},       /* no colour information: sRGB assumed */
        {1 / 2.2, false, false, false}, /* gamma 2.2 is sRGB's approximation */
        {1.0, false, false, true},      /* linear samples: encoded to sRGB */
        {1 / 2.2, true, false, false},  /* sRGB with its gAMA, as libstyle writes */
        {1.0, false, true, false},      /* so does an ICC profile (not applied: documented) */
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        png_out file = grey_png(values, cases[k].gamma, cases[k].srgb, cases[k].iccp);
        style_image image;
        assert_int_equal(style_image_load_memory(file.data, file.size, 0, &image), STYLE_OK);
        const unsigned char *p = image.data;
        for (int i = 0; i < 4; i++) {
            /* Linear light v/255 encoded with gamma 2.2, as libpng approximates sRGB. */
            double expect =
                cases[k].converted ? 255.0 * pow(values[i] / 255.0, 1 / 2.2) : values[i];
            print_message("  case %zu: %u -> %u (expected %.1f)\n", k, values[i], p[i * 3], expect);
            assert_true(fabs(p[i * 3] - expect) <= 1.0);
            assert_int_equal(p[i * 3], p[i * 3 + 1]);
        }
        style_image_release(&image);
        free(file.data);
    }
}

/* Written PNGs say sRGB (an sRGB chunk before IDAT), so colour-managed viewers agree. */
static void test_png_written_as_srgb(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    style_image image;
    assert_int_equal(style_image_alloc(&image, 3, 2, 3, STYLE_SAMPLE_U16), STYLE_OK);
    memset(image.data, 0x5a, 3 * 2 * 3 * 2);
    const char *path = test_path(dir, "out.png");
    assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
    size_t size;
    unsigned char *data = test_read_file(path, &size);
    assert_non_null(data);
    unsigned char *srgb = memmem(data, size, "sRGB", 4), *idat = memmem(data, size, "IDAT", 4);
    assert_non_null(srgb);
    assert_true(srgb < idat);
    assert_int_equal(data[24], 16); /* IHDR bit depth: still 16 */
    style_image again;
    assert_int_equal(style_image_load(path, 0, &again), STYLE_OK);
    assert_memory_equal(again.data, image.data, 3 * 2 * 3 * 2); /* no gamma change on reload */
    style_image_release(&again);
    free(data);
    style_image_release(&image);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exif_orientations),   cmocka_unit_test(test_exif_damaged),
        cmocka_unit_test(test_exif_alloc_failures), cmocka_unit_test(test_png_gamma),
        cmocka_unit_test(test_png_written_as_srgb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
