/*
 * Training data (src/train/train_data.c): the random stream (known answers, determinism, ranges,
 * uniformity, normal moments), the recursive listing (nested folders, mixed-case extensions,
 * symlinked files and directories, loops, sorted order, errors, allocation failures), batches
 * (determinism, crops that are windows of the resized image, constant colours, upscaling of
 * small images, corrupt files skipped with a warning, all-corrupt, allocation failures) and the
 * resampler (constant, identity, antialiasing of a checkerboard, hand-computed bilinear values).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/common.h"
#include "train/train_data.h"
#include "image/resize.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

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

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* dir + "/" + name, malloc'd. */
static char *join(const char *dir, const char *name)
{
    char *path = NULL;
    assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
    return path;
}

static void make_dir(const char *path)
{
    assert_int_equal(mkdir(path, 0755), 0);
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(test_write_file(path, text, strlen(text)), 0);
}

/* Sample c of pixel (x, y) of a U8/U16 test image. */
typedef double (*pixel_fn)(int32_t x, int32_t y, int c, void *user);

static void save_image(const char *path, int32_t w, int32_t h, int32_t channels,
                       style_sample_type type, pixel_fn fn, void *user)
{
    style_image image;
    assert_int_equal(style_image_alloc(&image, w, h, channels, type), STYLE_OK);
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            for (int c = 0; c < channels; c++) {
                double v = fn(x, y, c, user);
                size_t i = ((size_t)y * (size_t)w + (size_t)x) * (size_t)channels + (size_t)c;
                if (type == STYLE_SAMPLE_U8)
                    ((uint8_t *)image.data)[i] = (uint8_t)v;
                else
                    ((uint16_t *)image.data)[i] = (uint16_t)v;
            }
    assert_int_equal(style_image_save(path, &image, 0), STYLE_OK);
    style_image_release(&image);
}

static double constant_pixel(int32_t x, int32_t y, int c, void *user)
{
    (void)x, (void)y;
    return ((const double *)user)[c];
}

static void save_constant(const char *path, int32_t w, int32_t h, double r, double g, double b)
{
    double colour[4] = {r, g, b, 255};
    save_image(path, w, h, 3, STYLE_SAMPLE_U8, constant_pixel, colour);
}

static double noise_pixel(int32_t x, int32_t y, int c, void *user)
{
    uint64_t seed = *(const uint64_t *)user;
    test_rng rng = {seed ^ ((uint64_t)x * 0x9e3779b97f4a7c15ull) ^
                    ((uint64_t)y * 0xc2b2ae3d27d4eb4full) ^ ((uint64_t)c << 56)};
    return (double)(test_rng_next(&rng) % 256);
}

static void save_noise(const char *path, int32_t w, int32_t h, int32_t channels, uint64_t seed)
{
    save_image(path, w, h, channels, STYLE_SAMPLE_U8, noise_pixel, &seed);
}

static double noise16_pixel(int32_t x, int32_t y, int c, void *user)
{
    return noise_pixel(x, y, c, user) * 257.0;
}

/* Collects log messages. */
typedef struct log_capture {
    int warnings;
    int others;
    char text[8192];
} log_capture;

static void capture_log(void *user, style_log_level level, const char *message)
{
    log_capture *log = user;
    if (level == STYLE_LOG_WARNING)
        log->warnings++;
    else
        log->others++;
    size_t used = strlen(log->text);
    snprintf(log->text + used, sizeof log->text - used, "%s\n", message);
}

static float *alloc_floats(size_t count)
{
    float *p = malloc(count * sizeof *p);
    assert_non_null(p);
    return p;
}

/* ---- Random numbers --------------------------------------------------------------------- */

static void test_train_rng_known_answers(void **state)
{
    (void)state;
    train_rng rng;
    train_rng_seed(&rng, 0);
    /* splitmix64 from 0, then xoshiro256** (reference implementations). */
    assert_true(rng.s[0] == 0xe220a8397b1dcdafull);
    assert_true(rng.s[1] == 0x6e789e6aa1b965f4ull);
    assert_true(rng.s[2] == 0x06c45d188009454full);
    assert_true(rng.s[3] == 0xf88bb8a8724c81ecull);
    assert_true(train_rng_next(&rng) == 0x99ec5f36cb75f2b4ull);
    assert_true(train_rng_next(&rng) == 0xbf6e1f784956452aull);
    assert_true(train_rng_next(&rng) == 0x1a5f849d4933e6e0ull);
}

static void test_train_rng_determinism(void **state)
{
    (void)state;
    train_rng a, b, c;
    train_rng_seed(&a, 12345);
    train_rng_seed(&b, 12345);
    train_rng_seed(&c, 12346);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = train_rng_next(&a);
        assert_true(x == train_rng_next(&b));
        differ += x != train_rng_next(&c);
    }
    assert_true(differ > 990);
    /* The state alone defines every draw, normals included (no cached second value). */
    train_rng copy = a;
    double n1 = train_rng_normal(&a);
    double n2 = train_rng_normal(&copy);
    assert_true(n1 == n2);
    assert_memory_equal(&a, &copy, sizeof a);
    copy = a;
    assert_true(train_rng_below(&a, 1000) == train_rng_below(&copy, 1000));
    assert_true(train_rng_uniform(&a) == train_rng_uniform(&copy));
    assert_memory_equal(&a, &copy, sizeof a);
}

static void test_train_rng_below(void **state)
{
    (void)state;
    train_rng rng;
    train_rng_seed(&rng, 7);
    const uint64_t limits[] = {1, 2, 3, 7, 1000, (1ull << 63) + 1, UINT64_MAX};
    for (size_t k = 0; k < sizeof limits / sizeof *limits; k++)
        for (int i = 0; i < 2000; i++)
            assert_true(train_rng_below(&rng, limits[k]) < limits[k]);
    /* 2^63 + 1 rejects almost half of the raw values; the accepted ones still cover the top. */
    int high = 0;
    for (int i = 0; i < 2000; i++)
        high += train_rng_below(&rng, (1ull << 63) + 1) >= (1ull << 62);
    assert_in_range(high, 800, 1200);

    /* Chi-square over 10 bins, 100000 draws: 9 degrees of freedom, 99.99% quantile ~ 33.7. */
    enum { BINS = 10, DRAWS = 100000 };
    long counts[BINS] = {0};
    for (int i = 0; i < DRAWS; i++)
        counts[train_rng_below(&rng, BINS)]++;
    double chi2 = 0;
    for (int b = 0; b < BINS; b++) {
        double expected = (double)DRAWS / BINS;
        chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    }
    assert_true(chi2 < 40.0);
}

static void test_train_rng_uniform(void **state)
{
    (void)state;
    train_rng rng;
    train_rng_seed(&rng, 99);
    enum { BINS = 20, DRAWS = 200000 };
    long counts[BINS] = {0};
    double sum = 0, sum2 = 0;
    for (int i = 0; i < DRAWS; i++) {
        double u = train_rng_uniform(&rng);
        assert_true(u >= 0.0 && u < 1.0);
        counts[(int)(u * BINS)]++;
        sum += u;
        sum2 += u * u;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    assert_true(fabs(mean - 0.5) < 0.005);
    assert_true(fabs(var - 1.0 / 12.0) < 0.002);
    double chi2 = 0;
    for (int b = 0; b < BINS; b++) {
        double expected = (double)DRAWS / BINS;
        chi2 += (counts[b] - expected) * (counts[b] - expected) / expected;
    }
    assert_true(chi2 < 60.0); /* 19 degrees of freedom */
}

static void test_train_rng_normal(void **state)
{
    (void)state;
    train_rng rng;
    train_rng_seed(&rng, 2024);
    enum { DRAWS = 200000 };
    double sum = 0, sum2 = 0;
    long within_one = 0;
    for (int i = 0; i < DRAWS; i++) {
        double n = train_rng_normal(&rng);
        assert_true(isfinite(n));
        sum += n;
        sum2 += n * n;
        within_one += fabs(n) < 1.0;
    }
    double mean = sum / DRAWS, var = sum2 / DRAWS - mean * mean;
    assert_true(fabs(mean) < 0.01);
    assert_true(fabs(var - 1.0) < 0.02);
    assert_true(fabs((double)within_one / DRAWS - 0.6827) < 0.005);
}

/* ---- Listing ---------------------------------------------------------------------------- */

static void test_dataset_listing(void **state)
{
    const char *tmp = *state;
    char *root = join(tmp, "root"), *outside = join(tmp, "outside");
    char *sub = join(root, "sub"), *deeper = join(sub, "deeper"), *zdir = join(root, "zdir.png");
    make_dir(root);
    make_dir(outside);
    make_dir(sub);
    make_dir(deeper);
    make_dir(zdir);
    /* Listing does not decode, so the contents do not matter. */
    write_text(test_path(root, "b.png"), "x");
    write_text(test_path(root, "A.PNG"), "x");
    write_text(test_path(root, "notes.txt"), "x");
    write_text(test_path(root, "png"), "x");
    write_text(test_path(sub, "c.JpG"), "x");
    write_text(test_path(sub, "e.png.bak"), "x");
    write_text(test_path(deeper, "d.jpeg"), "x");
    write_text(test_path(zdir, "f.png"), "x");
    write_text(test_path(outside, "g.png"), "x");
    assert_int_equal(symlink("b.png", test_path(root, "link.png")), 0);          /* file */
    assert_int_equal(symlink("missing.png", test_path(sub, "dangling.png")), 0); /* broken */
    assert_int_equal(symlink("..", test_path(sub, "loop")), 0);                  /* to root */
    assert_int_equal(symlink(".", test_path(deeper, "self")), 0);                /* to itself */
    assert_int_equal(symlink(outside, test_path(root, "ext")), 0);               /* elsewhere */

    const char *expected[] = {"A.PNG",         "b.png",     "ext/g.png",
                              "link.png",      "sub/c.JpG", "sub/deeper/d.jpeg",
                              "zdir.png/f.png"};
    size_t n = sizeof expected / sizeof *expected;
    for (int pass = 0; pass < 2; pass++) {
        /* A trailing slash on the root does not double the separator. */
        char *given = pass ? join(root, "") : strdup(root);
        train_dataset data;
        log_capture log = {0};
        assert_int_equal(train_dataset_open(&data, given, capture_log, &log), STYLE_OK);
        assert_int_equal(data.count, n);
        for (size_t i = 0; i < n; i++) {
            char *want = join(root, expected[i]);
            assert_string_equal(data.paths[i], want);
            free(want);
        }
        assert_true(data.log == capture_log);
        assert_ptr_equal(data.log_user, &log);
        assert_true(data.max_pixels == 0);
        assert_int_equal(log.warnings, 0);
        train_dataset_close(&data);
        assert_null(data.paths);
        assert_int_equal(data.count, 0);
        train_dataset_close(&data); /* twice is harmless */
        free(given);
    }
    train_dataset_close(NULL);
    free(root);
    free(outside);
    free(sub);
    free(deeper);
    free(zdir);
}

static void test_dataset_errors(void **state)
{
    const char *tmp = *state;
    train_dataset data;
    memset(&data, 0x55, sizeof data);
    const char *missing = test_path(tmp, "missing");
    assert_int_equal(train_dataset_open(&data, missing, NULL, NULL), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), missing));
    assert_null(data.paths);
    assert_int_equal(data.count, 0);

    const char *file = test_path(tmp, "file.png");
    write_text(file, "x");
    assert_int_equal(train_dataset_open(&data, file, NULL, NULL), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), file));
    assert_non_null(strstr(style_last_error(), "not a directory"));

    char *empty = join(tmp, "empty");
    make_dir(empty);
    write_text(test_path(empty, "readme.txt"), "x");
    make_dir(test_path(empty, "nested"));
    assert_int_equal(train_dataset_open(&data, empty, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "no images found under"));
    assert_non_null(strstr(style_last_error(), empty));
    assert_null(data.paths);
    free(empty);

    assert_int_equal(train_dataset_open(NULL, tmp, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_open(&data, NULL, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_open(&data, "", NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
}

static void test_dataset_alloc_failures(void **state)
{
    const char *tmp = *state;
    char *sub = join(tmp, "sub");
    make_dir(sub);
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "%03d.png", i);
        write_text(test_path(i % 2 ? sub : tmp, name), "x");
    }
    free(sub);
    int failures = 0;
    for (long n = 1; n < 1000; n++) {
        train_dataset data;
        style__alloc_fail_after(n);
        style_status status = train_dataset_open(&data, tmp, NULL, NULL);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) {
            assert_int_equal(data.count, 100);
            train_dataset_close(&data);
            break;
        }
        assert_int_equal(status, STYLE_ERR_NOMEM);
        assert_null(data.paths);
        failures++;
    }
    assert_true(failures > 5);
}

/* ---- Resampling ------------------------------------------------------------------------- */

static void test_resize_constant(void **state)
{
    (void)state;
    const int32_t w = 37, h = 23;
    float *src = alloc_floats((size_t)w * h * 3);
    for (int32_t i = 0; i < w * h; i++) {
        src[i * 3 + 0] = 12.0f;
        src[i * 3 + 1] = 200.5f;
        src[i * 3 + 2] = 255.0f;
    }
    const int32_t sizes[][2] = {{10, 7}, {80, 51}, {37, 50}, {1, 1}, {200, 3}, {36, 23}};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        int32_t dw = sizes[k][0], dh = sizes[k][1];
        float *dst = alloc_floats((size_t)dw * dh * 3);
        assert_int_equal(image_resize_rgb(src, w, h, dst, dw, dh), STYLE_OK);
        for (int32_t i = 0; i < dw * dh; i++) {
            assert_true(fabsf(dst[i * 3 + 0] - 12.0f) < 1e-3f);
            assert_true(fabsf(dst[i * 3 + 1] - 200.5f) < 1e-3f);
            assert_true(fabsf(dst[i * 3 + 2] - 255.0f) < 1e-3f);
        }
        free(dst);
    }
    free(src);
}

static void test_resize_identity(void **state)
{
    (void)state;
    const int32_t w = 17, h = 13;
    float *src = alloc_floats((size_t)w * h * 3), *dst = alloc_floats((size_t)w * h * 3);
    test_rng rng = {5};
    test_fill_uniform(&rng, src, (size_t)w * h * 3, 0, 255);
    assert_int_equal(image_resize_rgb(src, w, h, dst, w, h), STYLE_OK);
    assert_memory_equal(src, dst, (size_t)w * h * 3 * sizeof *src);

    /* Resizing only one axis leaves the other untouched: a 17x13 -> 17x26 upscale of an image
     * whose rows are all equal keeps every row equal to the source row. */
    for (int32_t y = 1; y < h; y++)
        memcpy(src + (size_t)y * w * 3, src, (size_t)w * 3 * sizeof *src);
    float *tall = alloc_floats((size_t)w * 26 * 3);
    assert_int_equal(image_resize_rgb(src, w, h, tall, w, 26), STYLE_OK);
    for (int32_t y = 0; y < 26; y++)
        for (int32_t i = 0; i < w * 3; i++)
            assert_true(fabsf(tall[(size_t)y * w * 3 + i] - src[i]) < 1e-3f);
    free(tall);
    free(src);
    free(dst);
}

static void test_resize_checkerboard_antialiased(void **state)
{
    (void)state;
    const int32_t n = 64;
    float *src = alloc_floats((size_t)n * n * 3);
    for (int32_t y = 0; y < n; y++)
        for (int32_t x = 0; x < n; x++)
            for (int c = 0; c < 3; c++)
                src[((size_t)y * n + x) * 3 + c] = ((x + y) % 2) ? 255.0f : 0.0f;
    /* 2x: interior pixels average a 4x4 neighbourhood with weights 1/8, 3/8, 3/8, 1/8 on each
     * axis, which is exactly half white; the edges renormalize over 3 taps. */
    const int32_t m = n / 2;
    float *dst = alloc_floats((size_t)m * m * 3);
    assert_int_equal(image_resize_rgb(src, n, n, dst, m, m), STYLE_OK);
    double naive_error = 0;
    for (int32_t y = 0; y < m; y++)
        for (int32_t x = 0; x < m; x++)
            for (int c = 0; c < 3; c++) {
                float v = dst[((size_t)y * m + x) * 3 + c];
                bool interior = x > 0 && y > 0 && x < m - 1 && y < m - 1;
                if (interior)
                    assert_true(fabsf(v - 127.5f) < 1e-3f);
                else
                    assert_true(v > 90.0f && v < 165.0f);
                /* Point sampling (the source pixel under each output) sees one colour only. */
                float naive = src[((size_t)(2 * y) * n + (size_t)(2 * x)) * 3 + c];
                naive_error = fmax(naive_error, fabs(naive - 127.5));
            }
    assert_true(naive_error > 100.0);
    free(dst);

    /* 3x (64 -> 21, a non-integer 3.05): still close to grey away from the edges. */
    const int32_t k = 21;
    dst = alloc_floats((size_t)k * k * 3);
    assert_int_equal(image_resize_rgb(src, n, n, dst, k, k), STYLE_OK);
    for (int32_t y = 1; y < k - 1; y++)
        for (int32_t x = 1; x < k - 1; x++)
            assert_true(fabsf(dst[((size_t)y * k + x) * 3] - 127.5f) < 20.0f);
    free(dst);
    free(src);
}

static void test_resize_upscale_bilinear(void **state)
{
    (void)state;
    /* 2x2 source (x, y): p00 = 0, p10 = 100, p01 = 200, p11 = 40; G = 255 - p, B = p / 2. */
    const float p[2][2] = {{0, 100}, {200, 40}}; /* [y][x] */
    float src[2 * 2 * 3];
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) {
            src[(y * 2 + x) * 3 + 0] = p[y][x];
            src[(y * 2 + x) * 3 + 1] = 255.0f - p[y][x];
            src[(y * 2 + x) * 3 + 2] = p[y][x] / 2;
        }
    /* 4x4: output i samples source coordinate (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25,
     * clamped at the edges: weights of (p0, p1) are (1, 0), (.75, .25), (.25, .75), (0, 1). */
    const double wx[4][2] = {{1, 0}, {0.75, 0.25}, {0.25, 0.75}, {0, 1}};
    float dst[4 * 4 * 3];
    assert_int_equal(image_resize_rgb(src, 2, 2, dst, 4, 4), STYLE_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) {
            double v = 0;
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < 2; i++)
                    v += wx[y][j] * wx[x][i] * p[j][i];
            assert_true(fabs(dst[(y * 4 + x) * 3 + 0] - v) < 1e-4);
            assert_true(fabs(dst[(y * 4 + x) * 3 + 1] - (255.0 - v)) < 1e-4);
            assert_true(fabs(dst[(y * 4 + x) * 3 + 2] - v / 2) < 1e-4);
        }
    /* A few values written out by hand. */
    assert_true(fabsf(dst[(0 * 4 + 0) * 3] - 0.0f) < 1e-4f);
    assert_true(fabsf(dst[(1 * 4 + 1) * 3] - 58.75f) <
                1e-4f); /* .5625*0+.1875*100+.1875*200+.0625*40 */
    assert_true(fabsf(dst[(0 * 4 + 2) * 3] - 75.0f) < 1e-4f);  /* .25*0 + .75*100 */
    assert_true(fabsf(dst[(2 * 4 + 0) * 3] - 150.0f) < 1e-4f); /* .25*0 + .75*200 */
    assert_true(fabsf(dst[(3 * 4 + 3) * 3] - 40.0f) < 1e-4f);

    /* 3x3: the centre samples source coordinate 0.5 on both axes, the mean of the four. */
    float mid[3 * 3 * 3];
    assert_int_equal(image_resize_rgb(src, 2, 2, mid, 3, 3), STYLE_OK);
    assert_true(fabsf(mid[(1 * 3 + 1) * 3] - 85.0f) < 1e-4f);
    assert_true(fabsf(mid[(0 * 3 + 1) * 3] - 50.0f) < 1e-4f); /* top edge: (0 + 100) / 2 */
    assert_true(fabsf(mid[(2 * 3 + 2) * 3] - 40.0f) < 1e-4f); /* corner clamps */
}

static void test_resize_errors(void **state)
{
    (void)state;
    float src[4 * 4 * 3] = {0}, dst[3 * 3 * 3];
    assert_int_equal(image_resize_rgb(NULL, 4, 4, dst, 3, 3), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(image_resize_rgb(src, 4, 4, NULL, 3, 3), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(image_resize_rgb(src, 0, 4, dst, 3, 3), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(image_resize_rgb(src, 4, 4, dst, 3, -1), STYLE_ERR_INVALID_ARGUMENT);
    int failures = 0;
    for (long n = 1; n < 100; n++) {
        style__alloc_fail_after(n);
        style_status status = image_resize_rgb(src, 4, 4, dst, 3, 3);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) break;
        assert_int_equal(status, STYLE_ERR_NOMEM);
        failures++;
    }
    assert_true(failures >= 3);
}

/* ---- train_load_rgb --------------------------------------------------------------------- */

static void test_load_rgb(void **state)
{
    const char *tmp = *state;
    const char *rgba = test_path(tmp, "rgba.png");
    uint64_t seed = 11;
    save_noise(rgba, 40, 20, 4, seed);
    style_image image;
    assert_int_equal(style_image_load(rgba, 0, &image), STYLE_OK);

    float *out = NULL;
    int32_t w = 0, h = 0;
    assert_int_equal(train_load_rgb(rgba, 0, &out, &w, &h), STYLE_OK);
    assert_int_equal(w, 40);
    assert_int_equal(h, 20);
    const uint8_t *px = image.data;
    for (int32_t i = 0; i < 40 * 20; i++)
        for (int c = 0; c < 3; c++)
            assert_true(out[i * 3 + c] == (float)px[i * 4 + c]); /* alpha dropped */
    style__free(out);
    style_image_release(&image);

    assert_int_equal(train_load_rgb(rgba, 10, &out, &w, &h), STYLE_OK);
    assert_int_equal(w, 20);
    assert_int_equal(h, 10);
    for (int32_t i = 0; i < w * h * 3; i++)
        assert_true(out[i] >= 0.0f && out[i] <= 255.0f);
    style__free(out);

    /* Tall images scale their width; the long side is rounded (22.5 -> 23). */
    const char *tall = test_path(tmp, "tall.png");
    save_noise(tall, 20, 30, 3, seed);
    assert_int_equal(train_load_rgb(tall, 15, &out, &w, &h), STYLE_OK);
    assert_int_equal(w, 15);
    assert_int_equal(h, 23);
    style__free(out);
    assert_int_equal(train_load_rgb(tall, 60, &out, &w, &h), STYLE_OK); /* upscale */
    assert_int_equal(w, 60);
    assert_int_equal(h, 90);
    style__free(out);

    /* 16-bit samples span 0..65535 and come out as 0..255. */
    const char *deep = test_path(tmp, "deep.png");
    double colour[4] = {65535, 0, 32768, 0};
    save_image(deep, 5, 4, 3, STYLE_SAMPLE_U16, constant_pixel, colour);
    assert_int_equal(train_load_rgb(deep, 0, &out, &w, &h), STYLE_OK);
    for (int32_t i = 0; i < w * h; i++) {
        assert_true(fabsf(out[i * 3 + 0] - 255.0f) < 1e-3f);
        assert_true(out[i * 3 + 1] == 0.0f);
        assert_true(fabsf(out[i * 3 + 2] - 32768.0f * 255.0f / 65535.0f) < 1e-3f);
    }
    style__free(out);

    /* Errors leave the outputs cleared. */
    out = (float *)&w;
    assert_int_equal(train_load_rgb(test_path(tmp, "missing.png"), 0, &out, &w, &h), STYLE_ERR_IO);
    assert_null(out);
    assert_int_equal(w, 0);
    const char *bad = test_path(tmp, "bad.png");
    write_text(bad, "this is not a png");
    assert_int_equal(train_load_rgb(bad, 0, &out, &w, &h), STYLE_ERR_FORMAT);
    assert_int_equal(train_load_rgb(rgba, -1, &out, &w, &h), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_load_rgb(NULL, 0, &out, &w, &h), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_load_rgb(rgba, 0, NULL, &w, &h), STYLE_ERR_INVALID_ARGUMENT);

    int failures = 0;
    for (long n = 1; n < 100; n++) {
        style__alloc_fail_after(n);
        style_status status = train_load_rgb(rgba, 10, &out, &w, &h);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) {
            style__free(out);
            break;
        }
        assert_int_equal(status, STYLE_ERR_NOMEM);
        assert_null(out);
        failures++;
    }
    assert_true(failures >= 3);
}

/* ---- Batches ---------------------------------------------------------------------------- */

static void test_batch_determinism(void **state)
{
    const char *tmp = *state;
    save_noise(test_path(tmp, "a.png"), 60, 40, 3, 1);
    save_noise(test_path(tmp, "b.png"), 33, 50, 4, 2); /* RGBA */
    uint64_t seed = 3;
    save_image(test_path(tmp, "c.png"), 20, 24, 3, STYLE_SAMPLE_U16, noise16_pixel,
               &seed); /* 16-bit, smaller than the crop */
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    assert_int_equal(data.count, 3);

    enum { COUNT = 6, SIZE = 32 };
    size_t n = (size_t)COUNT * SIZE * SIZE * 3;
    float *first = alloc_floats(n), *second = alloc_floats(n), *other = alloc_floats(n);
    train_rng r1, r2, r3;
    train_rng_seed(&r1, 7);
    train_rng_seed(&r2, 7);
    train_rng_seed(&r3, 8);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(train_dataset_batch(&data, &r1, COUNT, SIZE, first), STYLE_OK);
        assert_int_equal(train_dataset_batch(&data, &r2, COUNT, SIZE, second), STYLE_OK);
        assert_int_equal(train_dataset_batch(&data, &r3, COUNT, SIZE, other), STYLE_OK);
        assert_memory_equal(first, second, n * sizeof *first);
        assert_memory_equal(&r1, &r2, sizeof r1);
        assert_true(memcmp(first, other, n * sizeof *first) != 0);
        for (size_t i = 0; i < n; i++)
            assert_true(first[i] >= 0.0f && first[i] <= 255.0f);
    }
    /* A resumed run: a generator restored from a saved state repeats the batch. */
    train_rng saved = r1;
    assert_int_equal(train_dataset_batch(&data, &r1, COUNT, SIZE, first), STYLE_OK);
    assert_int_equal(train_dataset_batch(&data, &saved, COUNT, SIZE, second), STYLE_OK);
    assert_memory_equal(first, second, n * sizeof *first);
    free(first);
    free(second);
    free(other);
    train_dataset_close(&data);
}

/* The crop is the window of the image resized as documented, drawn in the documented order. */
static void test_batch_is_window_of_resize(void **state)
{
    const char *tmp = *state;
    const char *path = test_path(tmp, "photo.png");
    save_noise(path, 70, 50, 3, 4);
    float *full_src = NULL;
    int32_t w, h;
    assert_int_equal(train_load_rgb(path, 0, &full_src, &w, &h), STYLE_OK);
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);

    enum { SIZE = 24 };
    float crop[SIZE * SIZE * 3];
    int saw_identity = 0, saw_resize = 0;
    for (uint64_t seed = 0; seed < 60; seed++) {
        train_rng rng, replay;
        train_rng_seed(&rng, seed);
        replay = rng;
        assert_int_equal(train_dataset_batch(&data, &rng, 1, SIZE, crop), STYLE_OK);

        assert_true(train_rng_below(&replay, 1) == 0);
        int32_t target = SIZE + (int32_t)train_rng_below(&replay, 50 - SIZE + 1);
        int32_t new_w = (int32_t)lround(70.0 * target / 50.0), new_h = target;
        int32_t x0 = (int32_t)train_rng_below(&replay, (uint64_t)(new_w - SIZE + 1));
        int32_t y0 = (int32_t)train_rng_below(&replay, (uint64_t)(new_h - SIZE + 1));
        assert_memory_equal(&rng, &replay, sizeof rng);
        if (target == 50)
            saw_identity++;
        else
            saw_resize++;

        float *resized = alloc_floats((size_t)new_w * new_h * 3);
        assert_int_equal(image_resize_rgb(full_src, w, h, resized, new_w, new_h), STYLE_OK);
        for (int32_t y = 0; y < SIZE; y++)
            for (int32_t x = 0; x < SIZE; x++)
                for (int c = 0; c < 3; c++) {
                    float want = resized[((size_t)(y0 + y) * new_w + (size_t)(x0 + x)) * 3 + c];
                    float got = crop[((size_t)y * SIZE + x) * 3 + c];
                    assert_true(fabsf(want - got) < 1e-4f);
                }
        free(resized);
    }
    assert_true(saw_resize > 0 && saw_identity > 0);
    style__free(full_src);
    train_dataset_close(&data);
}

static void test_batch_constant_colour(void **state)
{
    const char *tmp = *state;
    save_constant(test_path(tmp, "flat.png"), 50, 40, 10, 200, 255);
    save_constant(test_path(tmp, "small.png"), 5, 9, 10, 200, 255); /* upscaled */
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    enum { COUNT = 8, SIZE = 16 };
    float batch[COUNT * SIZE * SIZE * 3];
    train_rng rng;
    train_rng_seed(&rng, 1);
    for (int round = 0; round < 4; round++) {
        assert_int_equal(train_dataset_batch(&data, &rng, COUNT, SIZE, batch), STYLE_OK);
        for (int i = 0; i < COUNT * SIZE * SIZE; i++) {
            assert_true(fabsf(batch[i * 3 + 0] - 10.0f) < 1e-3f);
            assert_true(fabsf(batch[i * 3 + 1] - 200.0f) < 1e-3f);
            assert_true(fabsf(batch[i * 3 + 2] - 255.0f) < 1e-3f);
        }
    }
    train_dataset_close(&data);
}

static void test_batch_exact_crop(void **state)
{
    const char *tmp = *state;
    const char *path = test_path(tmp, "exact.png");
    save_noise(path, 32, 32, 3, 9);
    style_image image;
    assert_int_equal(style_image_load(path, 0, &image), STYLE_OK);
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    float batch[2 * 32 * 32 * 3];
    train_rng rng;
    train_rng_seed(&rng, 3);
    /* The image is the crop's size: no resize, no offset, the pixels themselves. */
    assert_int_equal(train_dataset_batch(&data, &rng, 2, 32, batch), STYLE_OK);
    const uint8_t *px = image.data;
    for (int item = 0; item < 2; item++)
        for (int i = 0; i < 32 * 32 * 3; i++)
            assert_true(batch[item * 32 * 32 * 3 + i] == (float)px[i]);
    style_image_release(&image);
    train_dataset_close(&data);
}

/* max_short_side = the crop: every crop is the whole (square) photo resized to the crop, the
 * scale the model will be used at; without the cap most crops are windows of larger scales. */
static void test_batch_short_side_capped(void **state)
{
    const char *tmp = *state;
    const char *path = test_path(tmp, "square.png");
    save_noise(path, 64, 64, 3, 13);
    style_image image;
    assert_int_equal(style_image_load(path, 0, &image), STYLE_OK);
    float *photo = malloc(64 * 64 * 3 * sizeof(float)), want[32 * 32 * 3];
    for (int i = 0; i < 64 * 64 * 3; i++) photo[i] = ((const uint8_t *)image.data)[i];
    assert_int_equal(image_resize_rgb_filter(photo, 64, 64, want, 32, 32, RESIZE_TRIANGLE), STYLE_OK);
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    enum { COUNT = 6 };
    float batch[COUNT * 32 * 32 * 3];
    train_rng rng;
    train_rng_seed(&rng, 4);
    data.max_short_side = 32;
    assert_int_equal(train_dataset_batch(&data, &rng, COUNT, 32, batch), STYLE_OK);
    for (int item = 0; item < COUNT; item++)
        for (int i = 0; i < 32 * 32 * 3; i++)
            assert_true(fabsf(batch[item * 32 * 32 * 3 + i] - want[i]) < 1e-3f);
    data.max_short_side = 0;
    train_rng_seed(&rng, 4);
    assert_int_equal(train_dataset_batch(&data, &rng, COUNT, 32, batch), STYLE_OK);
    int differ = 0;
    for (int item = 0; item < COUNT; item++)
        differ += memcmp(batch + item * 32 * 32 * 3, want, sizeof want) != 0;
    assert_true(differ > 0);
    free(photo);
    style_image_release(&image);
    train_dataset_close(&data);
}

static double gradient_pixel(int32_t x, int32_t y, int c, void *user)
{
    (void)user;
    return c == 0 ? 20.0 * x : c == 1 ? 20.0 * y : 100.0;
}

static void test_batch_small_image_upscaled(void **state)
{
    const char *tmp = *state;
    save_image(test_path(tmp, "tiny.png"), 12, 8, 3, STYLE_SAMPLE_U8, gradient_pixel, NULL);
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    enum { COUNT = 4, SIZE = 32 };
    float batch[COUNT * SIZE * SIZE * 3];
    train_rng rng;
    train_rng_seed(&rng, 5);
    assert_int_equal(train_dataset_batch(&data, &rng, COUNT, SIZE, batch), STYLE_OK);
    for (int item = 0; item < COUNT; item++) {
        const float *crop = batch + item * SIZE * SIZE * 3;
        for (int y = 0; y < SIZE; y++)
            for (int x = 0; x < SIZE; x++) {
                const float *p = crop + (y * SIZE + x) * 3;
                assert_true(p[0] >= -1e-3f && p[0] <= 220.0f + 1e-3f);
                assert_true(p[1] >= -1e-3f && p[1] <= 140.0f + 1e-3f);
                assert_true(fabsf(p[2] - 100.0f) < 1e-3f);
                /* Bilinear upscaling keeps the ramps monotone. */
                if (x > 0) assert_true(p[0] >= p[-3] - 1e-3f);
                if (y > 0) assert_true(p[1] >= crop[((y - 1) * SIZE + x) * 3 + 1] - 1e-3f);
            }
        /* The short side (8) became 32: the vertical ramp spans nearly its whole range. */
        assert_true(crop[((SIZE - 1) * SIZE) * 3 + 1] - crop[1] > 100.0f);
        assert_true(crop[(SIZE - 1) * 3] - crop[0] > 50.0f);
    }
    train_dataset_close(&data);
}

static void test_batch_skips_corrupt(void **state)
{
    const char *tmp = *state;
    save_constant(test_path(tmp, "good.png"), 30, 20, 50, 100, 150);
    char *bad = join(tmp, "bad.png"), *truncated = join(tmp, "cut.jpg");
    write_text(bad, "this is not a png at all");
    const unsigned char jpeg_start[] = {0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F'};
    assert_int_equal(test_write_file(truncated, jpeg_start, sizeof jpeg_start), 0);

    log_capture log = {0};
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, capture_log, &log), STYLE_OK);
    assert_int_equal(data.count, 3);
    enum { COUNT = 4, SIZE = 8 };
    float batch[COUNT * SIZE * SIZE * 3];
    train_rng rng;
    train_rng_seed(&rng, 21);
    for (int round = 0; round < 100 && data.count > 1; round++) {
        assert_int_equal(train_dataset_batch(&data, &rng, COUNT, SIZE, batch), STYLE_OK);
        /* Only the good image ever reaches the batch. */
        for (int i = 0; i < COUNT * SIZE * SIZE; i++) {
            assert_true(fabsf(batch[i * 3 + 0] - 50.0f) < 1e-3f);
            assert_true(fabsf(batch[i * 3 + 1] - 100.0f) < 1e-3f);
            assert_true(fabsf(batch[i * 3 + 2] - 150.0f) < 1e-3f);
        }
    }
    assert_int_equal(data.count, 1);
    assert_true(ends_with(data.paths[0], "/good.png"));
    assert_int_equal(log.warnings, 2);
    assert_int_equal(log.others, 0);
    char *want = NULL;
    assert_true(asprintf(&want, "skipping %s: ", bad) > 0);
    assert_non_null(strstr(log.text, want));
    free(want);
    assert_true(asprintf(&want, "skipping %s: ", truncated) > 0);
    assert_non_null(strstr(log.text, want));
    free(want);
    free(bad);
    free(truncated);
    /* And no further warnings once they are gone. */
    assert_int_equal(train_dataset_batch(&data, &rng, COUNT, SIZE, batch), STYLE_OK);
    assert_int_equal(log.warnings, 2);
    train_dataset_close(&data);
}

static void test_batch_all_corrupt(void **state)
{
    const char *tmp = *state;
    write_text(test_path(tmp, "one.png"), "garbage");
    write_text(test_path(tmp, "two.JPEG"), "more garbage");
    log_capture log = {0};
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, capture_log, &log), STYLE_OK);
    float batch[4 * 4 * 3];
    train_rng rng;
    train_rng_seed(&rng, 1);
    assert_int_equal(train_dataset_batch(&data, &rng, 1, 4, batch), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "no readable images left under"));
    assert_non_null(strstr(style_last_error(), tmp));
    assert_int_equal(data.count, 0);
    assert_int_equal(log.warnings, 2);
    assert_int_equal(train_dataset_batch(&data, &rng, 1, 4, batch), STYLE_ERR_FORMAT);
    assert_int_equal(log.warnings, 2);
    train_dataset_close(&data);

    /* Over the pixel limit counts as unreadable too. */
    save_constant(test_path(tmp, "big.png"), 50, 40, 1, 2, 3);
    memset(&log, 0, sizeof log);
    assert_int_equal(train_dataset_open(&data, tmp, capture_log, &log), STYLE_OK);
    assert_int_equal(data.count, 3);
    data.max_pixels = 100;
    assert_int_equal(train_dataset_batch(&data, &rng, 1, 4, batch), STYLE_ERR_FORMAT);
    assert_int_equal(log.warnings, 3);
    assert_non_null(strstr(log.text, "big.png"));
    train_dataset_close(&data);
}

static void test_batch_errors(void **state)
{
    const char *tmp = *state;
    save_constant(test_path(tmp, "ok.png"), 30, 20, 1, 2, 3);
    train_dataset data;
    assert_int_equal(train_dataset_open(&data, tmp, NULL, NULL), STYLE_OK);
    train_rng rng;
    train_rng_seed(&rng, 1);
    float batch[2 * 8 * 8 * 3];
    assert_int_equal(train_dataset_batch(NULL, &rng, 1, 8, batch), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_batch(&data, NULL, 1, 8, batch), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_batch(&data, &rng, 1, 8, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_batch(&data, &rng, 0, 8, batch), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(train_dataset_batch(&data, &rng, 1, 0, batch), STYLE_ERR_INVALID_ARGUMENT);

    /* Out of memory is reported, never mistaken for a bad file. */
    int failures = 0;
    for (long n = 1; n < 200; n++) {
        style__alloc_fail_after(n);
        style_status status = train_dataset_batch(&data, &rng, 2, 8, batch);
        style__alloc_fail_after(0);
        if (status == STYLE_OK) break;
        assert_int_equal(status, STYLE_ERR_NOMEM);
        assert_int_equal(data.count, 1);
        failures++;
    }
    assert_true(failures >= 3);
    train_dataset_close(&data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_rng_known_answers),
        cmocka_unit_test(test_train_rng_determinism),
        cmocka_unit_test(test_train_rng_below),
        cmocka_unit_test(test_train_rng_uniform),
        cmocka_unit_test(test_train_rng_normal),
        cmocka_unit_test_setup_teardown(test_dataset_listing, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_dataset_errors, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_dataset_alloc_failures, setup_dir, teardown_dir),
        cmocka_unit_test(test_resize_constant),
        cmocka_unit_test(test_resize_identity),
        cmocka_unit_test(test_resize_checkerboard_antialiased),
        cmocka_unit_test(test_resize_upscale_bilinear),
        cmocka_unit_test(test_resize_errors),
        cmocka_unit_test_setup_teardown(test_load_rgb, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_determinism, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_is_window_of_resize, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_constant_colour, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_short_side_capped, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_exact_crop, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_small_image_upscaled, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_skips_corrupt, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_all_corrupt, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_batch_errors, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
