/*
 * PNG write time and size by zlib level and row filter, on one image (issue 17, item 6):
 * the data behind the PNG encoder's default level. The image is encoded in memory with the
 * same libpng calls as src/image/image_png.c (IHDR, sRGB chunks, png_write_row per row),
 * so only the compression settings differ; "default" is libpng's own choice (zlib level 6
 * with adaptive filtering, what libstyle wrote before --png-level). Every setting is
 * timed RUNS times, interleaved round-robin so machine load hits all settings alike; the
 * median and minimum are printed with the encoded size.
 *
 *   png_write_levels IMAGE [RUNS]     (IMAGE: any file style_image_load reads; 8-bit RGB is used)
 */
#include <libstyle.h>

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct png_setting {
    const char *name;
    int level;  /* -1: libpng's default */
    int filter; /* -1: libpng's default; else a PNG_FILTER_* mask */
} png_setting;

typedef struct memory_sink {
    unsigned char *bytes;
    size_t size, capacity;
} memory_sink;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sink_write(png_structp png, png_bytep bytes, size_t length)
{
    memory_sink *sink = png_get_io_ptr(png);
    if (sink->size + length > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 1 << 20;
        while (capacity < sink->size + length)
            capacity *= 2;
        unsigned char *grown = realloc(sink->bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->bytes = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->bytes + sink->size, bytes, length);
    sink->size += length;
}

static void sink_flush(png_structp png)
{
    (void)png;
}

/* Encodes once; returns the encoded size, 0 on a libpng error. */
static size_t encode(const style_image *image, const png_setting *setting, memory_sink *sink)
{
    sink->size = 0;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return 0;
    }
    png_set_write_fn(png, sink, sink_write, sink_flush);
    if (setting->level >= 0) png_set_compression_level(png, setting->level);
    if (setting->filter >= 0) png_set_filter(png, PNG_FILTER_TYPE_BASE, setting->filter);
    png_set_IHDR(png, info, (png_uint_32)image->width, (png_uint_32)image->height, 8,
                 image->channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(png, info);
    size_t stride = (size_t)image->width * (size_t)image->channels;
    for (int32_t y = 0; y < image->height; y++)
        png_write_row(png, (const unsigned char *)image->data + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return sink->size;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s IMAGE [RUNS]\n", argv[0]);
        return 2;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 3;
    if (runs < 1) runs = 1;
    style_image image;
    if (style_image_load(argv[1], 0, &image) != STYLE_OK) {
        fprintf(stderr, "%s\n", style_last_error());
        return 1;
    }
    if (image.sample_type != STYLE_SAMPLE_U8 ||
        (image.stride != 0 && image.stride != (size_t)image.width * image.channels)) {
        fprintf(stderr, "expected a packed 8-bit image\n");
        return 1;
    }
    static const png_setting settings[] = {
        {"default (libpng: 6, all filters)", -1, -1},
        {"level 1, no filter", 1, PNG_FILTER_NONE},
        {"level 1, sub", 1, PNG_FILTER_SUB},
        {"level 1, up", 1, PNG_FILTER_UP},
        {"level 1, all filters", 1, PNG_ALL_FILTERS},
        {"level 2, sub", 2, PNG_FILTER_SUB},
        {"level 2, all filters", 2, PNG_ALL_FILTERS},
        {"level 3, sub", 3, PNG_FILTER_SUB},
        {"level 3, all filters", 3, PNG_ALL_FILTERS},
        {"level 4, all filters", 4, PNG_ALL_FILTERS},
        {"level 5, all filters", 5, PNG_ALL_FILTERS},
        {"level 6, sub", 6, PNG_FILTER_SUB},
        {"level 6, all filters", 6, PNG_ALL_FILTERS},
        {"level 9, all filters", 9, PNG_ALL_FILTERS},
        {"level 0 (stored), no filter", 0, PNG_FILTER_NONE},
    };
    enum { SETTINGS = sizeof settings / sizeof settings[0] };
    double *seconds = calloc((size_t)runs * SETTINGS, sizeof *seconds);
    size_t sizes[SETTINGS] = {0};
    memory_sink sink = {0};
    if (!seconds) return 1;
    /* Round-robin: run r of every setting before run r+1 of any. */
    for (int r = 0; r < runs; r++)
        for (int s = 0; s < SETTINGS; s++) {
            double start = now_s();
            sizes[s] = encode(&image, &settings[s], &sink);
            seconds[s * runs + r] = now_s() - start;
            if (!sizes[s]) {
                fprintf(stderr, "libpng failed on %s\n", settings[s].name);
                return 1;
            }
        }
    printf("%dx%d, %d channels, %d runs each (median, min)\n", image.width, image.height,
           image.channels, runs);
    printf("%-34s %9s %9s %9s %7s\n", "setting", "median_s", "min_s", "MB", "MB/s_in");
    double raw_mb = (double)image.width * image.height * image.channels / 1e6;
    for (int s = 0; s < SETTINGS; s++) {
        double *t = seconds + s * runs;
        qsort(t, (size_t)runs, sizeof *t, compare);
        double median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
        printf("%-34s %9.3f %9.3f %9.2f %7.1f\n", settings[s].name, median, t[0],
               (double)sizes[s] / 1e6, raw_mb / median);
    }
    free(seconds);
    free(sink.bytes);
    style_image_release(&image);
    return 0;
}
