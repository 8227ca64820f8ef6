/*
 * Fixtures for the CLI tests, made with the library itself:
 *   cli_fixtures make DIR          writes DIR/model.safetensors (random small network),
 *                                  DIR/photo.png, DIR/photo.jpg (RGB), DIR/sprite.png (RGBA),
 *                                  DIR/big.png (256 x 256 grey), DIR/wide.png (16384 x 4
 *                                  grey: one row of a layer is over 1 MiB)
 *   cli_fixtures check IMG W H C   exit 0 when IMG decodes to W x H with C channels
 *   cli_fixtures train DIR         training inputs: DIR/photos/ (PNG and JPEG), DIR/style.png,
 *                                  DIR/net.safetensors (a small feature network)
 *   cli_fixtures compare-models A B TOL
 *                                  exit 0 when models A and B, trained from the same
 *                                  initialisation, differ by at most TOL of A's training
 *                                  update (see train_fixture_compare_models)
 *   cli_fixtures describe IMG      prints "W H C u8|u16" of the decoded image
 *   cli_fixtures compare A B MAX   exit 0 when A and B decode to the same shape with samples
 *                                  at most MAX apart (in 8-bit steps); prints the largest gap
 */
#include "model_builder.h"
#include "train_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int make(const char *dir)
{
    test_model_config config = test_default_config();
    config.widths[0] = 8, config.widths[1] = 16, config.widths[2] = 32;
    config.residual_blocks = 2;
    size_t size;
    void *bytes = test_build_model_bytes(&config, 1234, &size);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (test_write_file(path, bytes, size) != 0) return 1;
    free(bytes);

    style_image rgb, rgba;
    if (style_image_alloc(&rgb, 37, 29, 3, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
    if (style_image_alloc(&rgba, 20, 16, 4, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
    uint8_t *p = rgb.data;
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 37; x++) {
            p[(y * 37 + x) * 3 + 0] = (uint8_t)(x * 7);
            p[(y * 37 + x) * 3 + 1] = (uint8_t)(y * 8);
            p[(y * 37 + x) * 3 + 2] = (uint8_t)((x * y) & 255);
        }
    p = rgba.data;
    for (int i = 0; i < 20 * 16; i++) {
        p[i * 4 + 0] = (uint8_t)(i * 3), p[i * 4 + 1] = (uint8_t)(i * 5);
        p[i * 4 + 2] = (uint8_t)(i * 11), p[i * 4 + 3] = (uint8_t)(i % 7 ? 255 : 0);
    }
    const char *names[] = {"photo.png", "photo.jpg"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (style_image_save(path, &rgb, 95) != STYLE_OK) return 1;
    }
    /* 256 x 256: a run needs several MiB, for the memory-budget test. */
    style_image big;
    if (style_image_alloc(&big, 256, 256, 3, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
    memset(big.data, 128, 256 * 256 * 3);
    snprintf(path, sizeof path, "%s/big.png", dir);
    if (style_image_save(path, &big, 0) != STYLE_OK) return 1;
    style_image_release(&big);
    if (style_image_alloc(&big, 16384, 4, 3, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
    memset(big.data, 100, 16384 * 4 * 3);
    snprintf(path, sizeof path, "%s/wide.png", dir);
    if (style_image_save(path, &big, 0) != STYLE_OK) return 1;
    style_image_release(&big);
    snprintf(path, sizeof path, "%s/sprite.png", dir);
    if (style_image_save(path, &rgba, 0) != STYLE_OK) return 1;
    style_image_release(&rgb);
    style_image_release(&rgba);
    return 0;
}

static int check(const char *path, int w, int h, int c)
{
    style_image image = {0};
    if (style_image_load(path, 0, &image) != STYLE_OK) {
        fprintf(stderr, "%s\n", style_last_error());
        return 1;
    }
    int ok = image.width == w && image.height == h && image.channels == c;
    if (!ok)
        fprintf(stderr, "%s: %dx%dx%d, expected %dx%dx%d\n", path, image.width, image.height,
                image.channels, w, h, c);
    style_image_release(&image);
    return ok ? 0 : 1;
}

static int compare_models(const char *a_path, const char *b_path, double tolerance)
{
    train_model_difference d;
    if (train_fixture_compare_models(a_path, b_path, &d) != 0) {
        fprintf(stderr, "cannot compare %s and %s: %s\n", a_path, b_path, style_last_error());
        return 1;
    }
    printf("|B - A| / |A - initial| = %.3g (tolerance %g); largest weight difference %.3g; the "
           "parameters the output does not depend on differ by up to %.3g (not compared)\n",
           d.relative, tolerance, d.largest, d.ignored);
    return !(d.relative <= tolerance);
}

static int describe(const char *path)
{
    style_image image = {0};
    if (style_image_load(path, 0, &image) != STYLE_OK) {
        fprintf(stderr, "%s\n", style_last_error());
        return 1;
    }
    printf("%d %d %d %s\n", image.width, image.height, image.channels,
           image.sample_type == STYLE_SAMPLE_U16 ? "u16" : "u8");
    style_image_release(&image);
    return 0;
}

static double sample_at(const style_image *image, size_t index)
{
    if (image->sample_type == STYLE_SAMPLE_U16)
        return ((const uint16_t *)image->data)[index] * (255.0 / 65535.0);
    return ((const uint8_t *)image->data)[index];
}

static int compare(const char *a_path, const char *b_path, double max)
{
    style_image a = {0}, b = {0};
    int result = 1;
    if (style_image_load(a_path, 0, &a) != STYLE_OK || style_image_load(b_path, 0, &b) != STYLE_OK) {
        fprintf(stderr, "%s\n", style_last_error());
        goto done;
    }
    if (a.width != b.width || a.height != b.height || a.channels != b.channels) {
        fprintf(stderr, "shapes differ: %dx%dx%d and %dx%dx%d\n", a.width, a.height, a.channels,
                b.width, b.height, b.channels);
        goto done;
    }
    double gap = 0;
    size_t count = (size_t)a.width * a.height * a.channels;
    for (size_t i = 0; i < count; i++) {
        double d = sample_at(&a, i) - sample_at(&b, i);
        if (d < 0) d = -d;
        if (d > gap) gap = d;
    }
    printf("max difference %.4f\n", gap);
    result = gap <= max ? 0 : 1;
done:
    style_image_release(&a);
    style_image_release(&b);
    return result;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "train") == 0) {
        char path[4096];
        snprintf(path, sizeof path, "%s/net.safetensors", argv[2]);
        if (train_fixture_photos(argv[2], 2) != 0) return 1;
        test_write_feature_net(path, 78);
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "compare-models") == 0)
        return compare_models(argv[2], argv[3], atof(argv[4]));
    if (argc == 3 && strcmp(argv[1], "describe") == 0) return describe(argv[2]);
    if (argc == 5 && strcmp(argv[1], "compare") == 0)
        return compare(argv[2], argv[3], atof(argv[4]));
    if (argc == 3 && strcmp(argv[1], "make") == 0) return make(argv[2]);
    if (argc == 6 && strcmp(argv[1], "check") == 0)
        return check(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: cli_fixtures make DIR | check IMG W H C | describe IMG | "
                    "compare A B MAX | train DIR | compare-models A B TOL\n");
    return 2;
}
