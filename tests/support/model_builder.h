/* Writes transform-network model files with random weights, for tests. */
#ifndef STYLE_MODEL_BUILDER_H
#define STYLE_MODEL_BUILDER_H

#include "model/safetensors.h"
#include "testutil.h"

typedef struct test_model_config {
    int widths[3];           /* e.g. 32 64 128 */
    int residual_blocks;     /* e.g. 5 */
    const char *padding;     /* "reflect", "zero", "tf_same" */
    const char *upsample;    /* "nearest_conv", "transposed_tf", "transposed_torch" */
    const char *norm;        /* "instance", "batch" */
    const char *output;      /* "linear", "tanh150" */
    bool final_norm;
    bool bias;
    const char *eps;         /* NULL = default */
    bool legacy_running_stats; /* add running_mean/var + num_batches_tracked to instance norms */
    int styles; /* > 0: johnson-cin with that many styles ("s0", "s1", ...): norms [styles, C] */
} test_model_config;

/* The pytorch/examples default: 32/64/128, 5 blocks, reflect, nearest_conv, instance, bias. */
test_model_config test_default_config(void);

/* Fills `file` with a random model of that configuration (metadata explicit). */
void test_build_model_file(const test_model_config *config, uint64_t seed, st_file *file);

/* The same, serialised to memory (free with free()). */
void *test_build_model_bytes(const test_model_config *config, uint64_t seed, size_t *size);

/* Loads the model (asserts success). */
style_model *test_build_model(const test_model_config *config, uint64_t seed);

/* A small random feature-network file (formats.md §2): conv3 s1 -> leaky 0.1 -> maxpool 2 ->
 * conv1 -> relu -> conv3 s2, taps a (1), b (4), c (5), pre (3); content loss on b, style on
 * a, b, c; plus an ignored classifier tensor. Asserts on failure. */
void test_write_feature_net(const char *path, uint64_t seed);

/* The same for any spec: libstyle.layers / taps / loss JSON and `convs` conv layers at layer
 * indices index[] with weight shapes shapes[] (random weights and biases from `seed`). */
void test_write_feature_net_spec(const char *path, uint64_t seed, const char *layers,
                                 const char *taps, const char *loss, int convs, const int *index,
                                 const int64_t (*shapes)[4]);

/* The feature net of the AdaIN tests: conv3 3->6, leaky 0.1, pool, conv3 6->8, relu, pool,
 * conv1 8->5, relu, conv3 5->7, relu; taps r1 (1), r2 (4), r3 (7), r4 (9); content r3, style
 * r1 r2. Asserts on failure. */
void test_write_adain_feature_net(const char *path, uint64_t seed);

/* A w x h RGB PNG of smooth waves that differ with `seed`. Asserts on failure. */
void test_write_wave_image(const char *path, int w, int h, int seed);

#endif
