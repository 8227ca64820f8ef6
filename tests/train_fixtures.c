/* Training fixtures (see train_fixtures.h). */
#include "train_fixtures.h"
#include "safetensors.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int train_fixture_feature_net(const char *path, uint64_t seed)
{
    test_rng rng = {seed};
    st_file file = {0};
    const char *layers = "[{\"op\":\"conv\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                         "{\"op\":\"leaky_relu\",\"slope\":0.1},"
                         "{\"op\":\"maxpool\",\"kernel\":2,\"stride\":2},"
                         "{\"op\":\"conv\",\"kernel\":1,\"stride\":1,\"pad\":0},"
                         "{\"op\":\"relu\"},"
                         "{\"op\":\"conv\",\"kernel\":3,\"stride\":2,\"pad\":1}]";
    int failed = 0;
    failed |= st_file_add_metadata(&file, "libstyle.kind", "feature-net") != STYLE_OK;
    failed |= st_file_add_metadata(&file, "libstyle.layers", layers) != STYLE_OK;
    failed |= st_file_add_metadata(&file, "libstyle.taps", "{\"a\":1,\"b\":4,\"c\":5,\"pre\":3}") !=
              STYLE_OK;
    failed |= st_file_add_metadata(&file, "libstyle.input",
                                   "{\"scale\":0.00392156862745098,\"mean\":[0.4,0.5,0.6],"
                                   "\"std\":[0.2,0.25,0.3]}") != STYLE_OK;
    failed |= st_file_add_metadata(&file, "libstyle.loss",
                                   "{\"content\":[\"b\"],\"style\":[\"a\",\"b\",\"c\"]}") != STYLE_OK;
    int64_t shapes[3][4] = {{6, 3, 3, 3}, {5, 6, 1, 1}, {7, 5, 3, 3}};
    int idx[3] = {0, 3, 5};
    for (int i = 0; i < 3; i++) {
        size_t count = (size_t)shapes[i][0] * shapes[i][1] * shapes[i][2] * shapes[i][3];
        float *w = malloc(count * 4), b[8];
        if (!w) return 1;
        test_fill_uniform(&rng, w, count, -0.5, 0.5);
        test_fill_uniform(&rng, b, 8, -0.2, 0.2);
        char name[64];
        snprintf(name, sizeof name, "features.%d.weight", idx[i]);
        failed |= st_file_add_tensor(&file, name, 4, shapes[i], w) != STYLE_OK;
        snprintf(name, sizeof name, "features.%d.bias", idx[i]);
        int64_t bs[1] = {shapes[i][0]};
        failed |= st_file_add_tensor(&file, name, 1, bs, b) != STYLE_OK;
        free(w);
    }
    int64_t head[2] = {10, 7};
    float junk[70] = {0};
    failed |= st_file_add_tensor(&file, "classifier.weight", 2, head, junk) != STYLE_OK; /* ignored */
    void *bytes = NULL;
    size_t size = 0;
    failed |= st_serialize(&file, &bytes, &size) != STYLE_OK;
    if (!failed) failed |= test_write_file(path, bytes, size) != 0;
    style__free(bytes);
    st_file_clear(&file);
    return failed;
}

int train_fixture_photos(const char *dir, int jpegs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/photos/sub", dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0) return 1;
    for (int k = 0; k < 5 + jpegs; k++) {
        style_image img;
        int w = k < 5 ? 40 + k * 3 : 64 + 11 * k, h = k < 5 ? 36 + k : 30 + 9 * k;
        if (style_image_alloc(&img, w, h, 3, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
        uint8_t *p = img.data;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++) {
                p[(y * img.width + x) * 3 + 0] = (uint8_t)(128 + 100 * sin(0.2 * x + k));
                p[(y * img.width + x) * 3 + 1] = (uint8_t)(128 + 100 * cos(0.15 * y - k));
                p[(y * img.width + x) * 3 + 2] = (uint8_t)((x * y + 40 * k) & 255);
            }
        snprintf(path, sizeof path, "%s/photos/%s%d.%s", dir, k % 2 ? "sub/" : "", k,
                 k < 5 ? "png" : "jpg");
        int failed = style_image_save(path, &img, 90) != STYLE_OK;
        if (k == 0 && !failed) {
            for (int i = 0; i < img.width * img.height * 3; i++) p[i] = (uint8_t)((i / 3 % 7) * 36);
            snprintf(path, sizeof path, "%s/style.png", dir);
            failed = style_image_save(path, &img, 0) != STYLE_OK;
        }
        style_image_release(&img);
        if (failed) return 1;
    }
    return 0;
}
