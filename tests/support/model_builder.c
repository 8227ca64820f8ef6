#include "model_builder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

test_model_config test_default_config(void)
{
    test_model_config c = {{32, 64, 128}, 5,     "reflect", "nearest_conv", "instance",
                           "linear",      false, true,      NULL,           false, 0};
    return c;
}

static void add_random(st_file *file, test_rng *rng, const char *name, int ndim,
                       const int64_t *shape, double lo, double hi)
{
    size_t count = 1;
    for (int i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    float *data = malloc(count * sizeof(float));
    test_fill_uniform(rng, data, count, lo, hi);
    assert_int_equal(st_file_add_tensor(file, name, ndim, shape, data), STYLE_OK);
    free(data);
}

static void add_conv(st_file *file, test_rng *rng, const test_model_config *c, const char *prefix,
                     int in, int out, int k, bool transposed)
{
    char name[96];
    double bound = 1.0 / sqrt((double)in * k * k);
    int64_t shape[4] = {transposed ? in : out, transposed ? out : in, k, k};
    snprintf(name, sizeof name, "%s.conv2d.weight", prefix);
    add_random(file, rng, name, 4, shape, -bound, bound);
    if (c->bias) {
        int64_t b[1] = {out};
        snprintf(name, sizeof name, "%s.conv2d.bias", prefix);
        add_random(file, rng, name, 1, b, -bound, bound);
    }
}

static void add_norm(st_file *file, test_rng *rng, const test_model_config *c, const char *prefix,
                     int channels)
{
    char name[96];
    int64_t shape[1] = {channels}, rows[2] = {c->styles, channels};
    const int ndim = c->styles > 0 ? 2 : 1;
    snprintf(name, sizeof name, "%s.weight", prefix);
    add_random(file, rng, name, ndim, ndim == 2 ? rows : shape, 0.5, 1.5);
    snprintf(name, sizeof name, "%s.bias", prefix);
    add_random(file, rng, name, ndim, ndim == 2 ? rows : shape, -0.5, 0.5);
    bool batch = strcmp(c->norm, "batch") == 0;
    if (batch || c->legacy_running_stats) {
        snprintf(name, sizeof name, "%s.running_mean", prefix);
        add_random(file, rng, name, 1, shape, -0.3, 0.3);
        snprintf(name, sizeof name, "%s.running_var", prefix);
        add_random(file, rng, name, 1, shape, 0.2, 1.0);
        float tracked = 1000.0f;
        int64_t scalar[1] = {1};
        snprintf(name, sizeof name, "%s.num_batches_tracked", prefix);
        assert_int_equal(st_file_add_tensor(file, name, 0, scalar, &tracked), STYLE_OK);
    }
}

void test_build_model_file(const test_model_config *c, uint64_t seed, st_file *file)
{
    test_rng rng = {seed};
    char prefix[64], norm[64];
    bool transposed = strcmp(c->upsample, "nearest_conv") != 0;
    memset(file, 0, sizeof *file);
    const char *meta[][2] = {{"libstyle.format_version", "1"},
                             {"libstyle.arch", c->styles > 0 ? "johnson-cin" : "johnson"},
                             {"libstyle.padding", c->padding},
                             {"libstyle.upsample", c->upsample},
                             {"libstyle.norm", c->norm},
                             {"libstyle.output", c->output},
                             {"libstyle.final_norm", c->final_norm ? "instance" : "none"},
                             {"libstyle.norm_eps", c->eps ? c->eps : "1e-05"}};
    for (size_t i = 0; i < sizeof meta / sizeof *meta; i++)
        assert_int_equal(st_file_add_metadata(file, meta[i][0], meta[i][1]), STYLE_OK);
    if (c->styles > 0) {
        char names[4096] = "[";
        for (int s = 0; s < c->styles; s++) {
            char item[32];
            snprintf(item, sizeof item, "%s\"s%d\"", s ? "," : "", s);
            strncat(names, item, sizeof names - strlen(names) - 1);
        }
        strncat(names, "]", sizeof names - strlen(names) - 1);
        assert_int_equal(st_file_add_metadata(file, "libstyle.styles", names), STYLE_OK);
    }

    add_conv(file, &rng, c, "conv1", 3, c->widths[0], 9, false);
    add_norm(file, &rng, c, "in1", c->widths[0]);
    add_conv(file, &rng, c, "conv2", c->widths[0], c->widths[1], 3, false);
    add_norm(file, &rng, c, "in2", c->widths[1]);
    add_conv(file, &rng, c, "conv3", c->widths[1], c->widths[2], 3, false);
    add_norm(file, &rng, c, "in3", c->widths[2]);
    for (int b = 1; b <= c->residual_blocks; b++)
        for (int j = 1; j <= 2; j++) {
            snprintf(prefix, sizeof prefix, "res%d.conv%d", b, j);
            snprintf(norm, sizeof norm, "res%d.in%d", b, j);
            add_conv(file, &rng, c, prefix, c->widths[2], c->widths[2], 3, false);
            add_norm(file, &rng, c, norm, c->widths[2]);
        }
    add_conv(file, &rng, c, "deconv1", c->widths[2], c->widths[1], 3, transposed);
    add_norm(file, &rng, c, "in4", c->widths[1]);
    add_conv(file, &rng, c, "deconv2", c->widths[1], c->widths[0], 3, transposed);
    add_norm(file, &rng, c, "in5", c->widths[0]);
    add_conv(file, &rng, c, "deconv3", c->widths[0], 3, 9, false);
    if (c->final_norm) add_norm(file, &rng, c, "in6", 3);
}

void *test_build_model_bytes(const test_model_config *config, uint64_t seed, size_t *size)
{
    st_file file;
    void *bytes = NULL;
    test_build_model_file(config, seed, &file);
    assert_int_equal(st_serialize(&file, &bytes, size), STYLE_OK);
    st_file_clear(&file);
    void *copy = malloc(*size);
    memcpy(copy, bytes, *size);
    style__free(bytes);
    return copy;
}

style_model *test_build_model(const test_model_config *config, uint64_t seed)
{
    size_t size;
    void *bytes = test_build_model_bytes(config, seed, &size);
    style_model *model = NULL;
    style_status status = style_model_load_memory(bytes, size, NULL, &model);
    if (status != STYLE_OK) print_error("model load failed: %s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    free(bytes);
    return model;
}

void test_write_feature_net_spec(const char *path, uint64_t seed, const char *layers,
                                 const char *taps, const char *loss, int convs, const int *index,
                                 const int64_t (*shapes)[4])
{
    test_rng rng = {seed};
    st_file file = {0};
    st_file_add_metadata(&file, "libstyle.kind", "feature-net");
    st_file_add_metadata(&file, "libstyle.layers", layers);
    st_file_add_metadata(&file, "libstyle.taps", taps);
    st_file_add_metadata(
        &file, "libstyle.input",
        "{\"scale\":0.00392156862745098,\"mean\":[0.4,0.5,0.6],\"std\":[0.2,0.25,0.3]}");
    st_file_add_metadata(&file, "libstyle.loss", loss);
    for (int i = 0; i < convs; i++) {
        size_t count = (size_t)shapes[i][0] * shapes[i][1] * shapes[i][2] * shapes[i][3];
        float *w = malloc(count * 4), *b = malloc((size_t)shapes[i][0] * 4);
        test_fill_uniform(&rng, w, count, -0.5, 0.5);
        test_fill_uniform(&rng, b, (size_t)shapes[i][0], -0.2, 0.2);
        char name[64];
        snprintf(name, sizeof name, "features.%d.weight", index[i]);
        st_file_add_tensor(&file, name, 4, shapes[i], w);
        snprintf(name, sizeof name, "features.%d.bias", index[i]);
        int64_t bs[1] = {shapes[i][0]};
        st_file_add_tensor(&file, name, 1, bs, b);
        free(w), free(b);
    }
    int64_t head[2] = {10, 7};
    float junk[70] = {0};
    st_file_add_tensor(&file, "classifier.weight", 2, head, junk); /* ignored */
    void *bytes;
    size_t size;
    assert_int_equal(st_serialize(&file, &bytes, &size), STYLE_OK);
    assert_int_equal(test_write_file(path, bytes, size), 0);
    style__free(bytes);
    st_file_clear(&file);
}

void test_write_feature_net(const char *path, uint64_t seed)
{
    const int64_t shapes[3][4] = {{6, 3, 3, 3}, {5, 6, 1, 1}, {7, 5, 3, 3}};
    const int index[3] = {0, 3, 5};
    test_write_feature_net_spec(path, seed,
                                "[{\"op\":\"conv\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                                "{\"op\":\"leaky_relu\",\"slope\":0.1},"
                                "{\"op\":\"maxpool\",\"kernel\":2,\"stride\":2},"
                                "{\"op\":\"conv\",\"kernel\":1,\"stride\":1,\"pad\":0},"
                                "{\"op\":\"relu\"},"
                                "{\"op\":\"conv\",\"kernel\":3,\"stride\":2,\"pad\":1}]",
                                "{\"a\":1,\"b\":4,\"c\":5,\"pre\":3}",
                                "{\"content\":[\"b\"],\"style\":[\"a\",\"b\",\"c\"]}", 3,
                                index, shapes);
}

void test_write_adain_feature_net(const char *path, uint64_t seed)
{
    const int64_t shapes[4][4] = {{6, 3, 3, 3}, {8, 6, 3, 3}, {5, 8, 1, 1}, {7, 5, 3, 3}};
    const int index[4] = {0, 3, 6, 8};
    test_write_feature_net_spec(path, seed,
                                "[{\"op\":\"conv\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                                "{\"op\":\"leaky_relu\",\"slope\":0.1},"
                                "{\"op\":\"maxpool\",\"kernel\":2,\"stride\":2},"
                                "{\"op\":\"conv\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                                "{\"op\":\"relu\"},"
                                "{\"op\":\"maxpool\",\"kernel\":2,\"stride\":2},"
                                "{\"op\":\"conv\",\"kernel\":1,\"stride\":1,\"pad\":0},"
                                "{\"op\":\"relu\"},"
                                "{\"op\":\"conv\",\"kernel\":3,\"stride\":1,\"pad\":1},"
                                "{\"op\":\"relu\"}]",
                                "{\"r1\":1,\"r2\":4,\"r3\":7,\"r4\":9}",
                                "{\"content\":[\"r3\"],\"style\":[\"r1\",\"r2\"]}", 4, index,
                                shapes);
}

void test_write_wave_image(const char *path, int w, int h, int seed)
{
    style_image img;
    assert_int_equal(style_image_alloc(&img, w, h, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = img.data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                p[(y * w + x) * 3 + c] =
                    (uint8_t)(128 + 100 * sin(0.3 * (x + seed) * (c + 1) + 0.2 * y * seed));
    assert_int_equal(style_image_save(path, &img, 0), STYLE_OK);
    style_image_release(&img);
}
