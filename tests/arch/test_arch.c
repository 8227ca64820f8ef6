/*
 * The architecture interface (src/arch/arch.h): one more architecture, defined here and added
 * with arch_register, loads from a model file that names it and runs through the public
 * session API with no change outside src/arch/ - its output checked pixel by pixel against a
 * plain double-precision formula on random RGBA images of odd sizes; what it leaves out
 * (styles, AdaIN styles, profiles, other precisions) is refused with clear errors. And the
 * Johnson stage table walked for several block counts against the network's layout written
 * out by hand.
 */
#include "arch/arch.h"
#include "arch/johnson_topology.h"
#include "image/pixels.h"
#include "model/model.h"
#include "model_builder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a test architecture: out = 255 - gain * in, per colour channel -------------------- */

typedef struct invert_runtime {
    const style_model *model;
    int32_t width, height; /* the last prepared size, 0 none */
} invert_runtime;

static float model_gain(const style_model *model)
{
    return *(const float *)model->arch_data;
}

static style_status invert_load(style_model *model)
{
    st_tensor *gain = NULL;
    const int64_t shape[1] = {1};
    style_status status = model_take_tensor(model, "gain", 1, shape, &gain);
    if (status != STYLE_OK) return status;
    model->arch_data = (void *)gain->data; /* points into model->file, which the model owns */
    model->parameter_count = 1;
    return STYLE_OK;
}

static void invert_unload(style_model *model)
{
    model->arch_data = NULL;
}

static const char *invert_refusal(const style_model *model, style_precision precision)
{
    (void)model;
    return precision == STYLE_PRECISION_FP32 || precision == STYLE_PRECISION_AUTO
               ? NULL
               : "test-invert runs in fp32 only";
}

static bool invert_smooths_norms(const style_model *model)
{
    (void)model;
    return false;
}

static style_status invert_runtime_create(const style_model *model, void **runtime)
{
    invert_runtime *rt = calloc(1, sizeof *rt);
    *runtime = rt;
    if (!rt) return STYLE_ERR_NOMEM;
    rt->model = model;
    return STYLE_OK;
}

static void invert_runtime_free(void *runtime)
{
    free(runtime);
}

static style_status invert_estimate(void *runtime, const arch_context *context, int32_t width,
                                    int32_t height, uint64_t *bytes)
{
    (void)runtime, (void)context;
    *bytes = (uint64_t)width * (uint64_t)height * 3 * sizeof(float);
    return STYLE_OK;
}

static style_status invert_prepare(void *runtime, const arch_context *context, int32_t width,
                                   int32_t height)
{
    invert_runtime *rt = runtime;
    (void)context;
    rt->width = width, rt->height = height;
    return STYLE_OK;
}

static style_status invert_stylize(void *runtime, const arch_context *context,
                                   const style_image *inputs, style_image *outputs, size_t count,
                                   size_t first, size_t total)
{
    invert_runtime *rt = runtime;
    (void)first, (void)total;
    invert_prepare(rt, context, inputs[0].width, inputs[0].height);
    const float gain = model_gain(rt->model);
    for (size_t i = 0; i < count; i++) {
        const size_t n = (size_t)inputs[i].width * (size_t)inputs[i].height * 3;
        float *rgb = malloc(n * sizeof *rgb);
        if (!rgb) return STYLE_ERR_NOMEM;
        pixels_to_tensor(&inputs[i], inputs[i].height, inputs[i].width, rgb);
        for (size_t k = 0; k < n; k++)
            rgb[k] = 255.0f - gain * rgb[k];
        tensor_to_pixels(rgb, inputs[i].width, OUTPUT_LINEAR, &inputs[i], &outputs[i]);
        free(rgb);
    }
    return STYLE_OK;
}

static style_status invert_run_info(void *runtime, style_run_info *info)
{
    const invert_runtime *rt = runtime;
    if (!rt->width) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "nothing is built yet");
    info->width = rt->width;
    info->height = rt->height;
    info->precision = STYLE_PRECISION_FP32;
    info->flops = 2.0 * rt->width * rt->height * 3;
    return STYLE_OK;
}

static const style_arch arch_test_invert = {
    .name = "test-invert",
    .load = invert_load,
    .unload = invert_unload,
    .precision_refusal = invert_refusal,
    .smooths_norms = invert_smooths_norms,
    .runtime_create = invert_runtime_create,
    .runtime_free = invert_runtime_free,
    .estimate = invert_estimate,
    .prepare = invert_prepare,
    .stylize = invert_stylize,
    .run_info = invert_run_info,
};

/* A model file of arch `arch` with the one tensor "gain" = {gain}. */
static void *invert_file(const char *arch, float gain, size_t *size)
{
    st_file file = {0};
    const int64_t shape[1] = {1};
    void *bytes = NULL;
    assert_int_equal(st_file_add_metadata(&file, "libstyle.arch", arch), STYLE_OK);
    assert_int_equal(st_file_add_tensor(&file, "gain", 1, shape, &gain), STYLE_OK);
    assert_int_equal(st_serialize(&file, &bytes, size), STYLE_OK);
    st_file_clear(&file);
    return bytes;
}

static void test_registered_architecture(void **state)
{
    (void)state;
    size_t size = 0;
    void *bytes = invert_file("test-invert", 0.75f, &size);
    style_model *model = NULL;

    /* Not in the table yet: refused, naming the architectures there are. */
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &model), STYLE_ERR_UNSUPPORTED);
    assert_non_null(strstr(style_last_error(), "'test-invert' is not one of: johnson, "
                                               "johnson-cin, adain"));
    assert_int_equal(arch_register(&arch_test_invert), STYLE_OK);
    assert_int_equal(arch_register(&arch_test_invert), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &model), STYLE_OK);
    style_model_info info;
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_string_equal(info.arch, "test-invert");
    assert_int_equal(info.parameter_count, 1);

    style_session *session = NULL;
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    test_rng rng = {2718};
    const int sizes[][2] = {{17, 13}, {1, 1}, {64, 3}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        const int w = sizes[s][0], h = sizes[s][1];
        style_image in = {0}, out = {0};
        assert_int_equal(style_image_alloc(&in, w, h, 4, STYLE_SAMPLE_U8), STYLE_OK);
        uint8_t *p = in.data;
        for (size_t k = 0; k < (size_t)w * h * 4; k++)
            p[k] = (uint8_t)test_rng_uniform(&rng, 0, 256);
        for (size_t k = 0; k < (size_t)w * h; k++)
            p[k * 4 + 3] = 255; /* opaque: nothing to fill under alpha 0 */
        assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
        const uint8_t *q = out.data;
        for (size_t k = 0; k < (size_t)w * h; k++) {
            for (int c = 0; c < 3; c++) {
                double want = 255.0 - 0.75 * p[k * 4 + c];
                assert_true(fabs(q[k * 4 + c] - want) <= 0.5 + 1e-6);
            }
            assert_int_equal(q[k * 4 + 3], p[k * 4 + 3]);
        }
        style_run_info run = {.struct_size = sizeof run};
        assert_int_equal(style_session_get_run_info(session, &run), STYLE_OK);
        assert_int_equal(run.width, w);
        assert_int_equal(run.height, h);
        uint64_t estimate = 0;
        assert_int_equal(style_session_estimate_memory(session, w, h, &estimate), STYLE_OK);
        assert_int_equal(estimate, (uint64_t)w * h * 3 * sizeof(float));
        style_image_release(&in);
        style_image_release(&out);
    }

    /* What the architecture leaves out is refused, by the session, in its words. */
    assert_int_equal(style_session_set_precision(session, STYLE_PRECISION_BF16),
                     STYLE_ERR_UNSUPPORTED); /* by the machine, or else by the architecture */
    if (style_precision_supported(STYLE_PRECISION_BF16))
        assert_non_null(strstr(style_last_error(), "test-invert runs in fp32 only"));
    style_precision precision;
    assert_int_equal(style_session_get_precision(session, &precision), STYLE_OK);
    assert_int_equal(precision, STYLE_PRECISION_FP32);
    assert_int_equal(style_session_set_style(session, 0), STYLE_ERR_INVALID_ARGUMENT);
    const style_layer_profile *layers;
    size_t count;
    uint64_t runs;
    assert_int_equal(style_session_set_profiling(session, 1), STYLE_OK);
    assert_int_equal(style_session_get_profile(session, &layers, &count, &runs),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "test-invert has no per-layer profile"));
    style_video_settings video = {.struct_size = sizeof video, .norm_smoothing = 0.5f};
    style_video *v = NULL;
    assert_int_equal(style_video_create(model, &video, &v), STYLE_ERR_UNSUPPORTED);

    style_session_free(session);
    style_model_free(model);
    free(bytes);
}

/* ---- the Johnson stage table ------------------------------------------------------------ */

static void test_johnson_walk(void **state)
{
    (void)state;
    for (int32_t blocks = 0; blocks <= 3; blocks++) {
        /* The layout written out by hand: names, kinds, ReLU, upsampling. */
        char want[64][2][32];
        johnson_stage_kind kinds[64];
        int32_t n = 0;
        const char *down[3][2] = {{"conv1", "in1"}, {"conv2", "in2"}, {"conv3", "in3"}};
        for (int i = 0; i < 3; i++, n++) {
            strcpy(want[n][0], down[i][0]), strcpy(want[n][1], down[i][1]);
            kinds[n] = JOHNSON_DOWN;
        }
        for (int32_t b = 0; b < blocks; b++)
            for (int j = 0; j < 2; j++, n++) {
                snprintf(want[n][0], 32, "res%d.conv%d", (int)b + 1, j + 1);
                snprintf(want[n][1], 32, "res%d.in%d", (int)b + 1, j + 1);
                kinds[n] = j ? JOHNSON_RESIDUAL_2 : JOHNSON_RESIDUAL_1;
            }
        const char *up[3][2] = {{"deconv1", "in4"}, {"deconv2", "in5"}, {"deconv3", "in6"}};
        for (int i = 0; i < 3; i++, n++) {
            strcpy(want[n][0], up[i][0]), strcpy(want[n][1], up[i][1]);
            kinds[n] = i < 2 ? JOHNSON_UP : JOHNSON_OUT;
        }
        assert_int_equal(johnson_step_count(blocks), n);

        style_model model;
        memset(&model, 0, sizeof model);
        model.residual_blocks = blocks;
        for (int32_t i = 0; i < n; i++) {
            johnson_step step;
            johnson_step_at(blocks, i, &step);
            assert_string_equal(step.conv_name, want[i][0]);
            assert_string_equal(step.norm_name, want[i][1]);
            assert_int_equal(step.spec->kind, kinds[i]);
            const bool residual = kinds[i] == JOHNSON_RESIDUAL_1 || kinds[i] == JOHNSON_RESIDUAL_2;
            assert_int_equal(step.block, residual ? (i - 3) / 2 : -1);
            assert_int_equal(step.spec->upsample, kinds[i] == JOHNSON_UP);
            assert_int_equal(step.spec->relu,
                             kinds[i] != JOHNSON_RESIDUAL_2 && kinds[i] != JOHNSON_OUT);
            assert_int_equal(step.spec->stride, i == 1 || i == 2 ? 2 : 1);
            const model_stage *stage = johnson_model_stage(&model, &step);
            const model_stage *expected = i < 3       ? &model.down[i]
                                          : residual  ? &model.residual[(i - 3) / 2][(i - 3) % 2]
                                          : i < n - 1 ? &model.up[i - 3 - 2 * blocks]
                                                      : &model.out;
            assert_ptr_equal(stage, expected);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_architecture),
        cmocka_unit_test(test_johnson_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
