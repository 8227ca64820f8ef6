/*
 * Recognising wrong files by their first bytes (src/core/file_kind.c): every kind from a sample
 * built here, and the messages of the loaders that use it (model, loss network, training
 * checkpoint, image): what the file is and what to do.
 */
#include "testutil.h"

#include "features/feature_net.h"
#include "core/file_kind.h"
#include "model_builder.h"
#include "train/train_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sample {
    const char *name;
    unsigned char *bytes;
    size_t size;
} sample;

/* A string literal's bytes and their count (embedded NULs included, the final one not). */
#define BYTES(literal) literal, sizeof literal - 1
#define COPY(name, literal) copy_of(name, literal, sizeof literal - 1)

static char *g_dir;

static int setup(void **state)
{
    (void)state;
    g_dir = test_make_temp_dir();
    return g_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_remove_tree(g_dir);
    free(g_dir);
    return 0;
}

static sample copy_of(const char *name, const void *bytes, size_t size)
{
    sample s = {name, malloc(size ? size : 1), size};
    assert_non_null(s.bytes);
    if (size) memcpy(s.bytes, bytes, size);
    return s;
}

/* An encoded 9x7 picture in `format` (png, jpeg, webp). */
static sample encoded_image(const char *name, const char *format)
{
    style_image image;
    assert_int_equal(style_image_alloc(&image, 9, 7, 3, STYLE_SAMPLE_U8), STYLE_OK);
    memset(image.data, 90, 9 * 7 * 3);
    void *data = NULL;
    size_t size = 0;
    assert_int_equal(style_image_encode(&image, format, 0, &data, &size), STYLE_OK);
    sample s = copy_of(name, data, size);
    style_free(data);
    style_image_release(&image);
    return s;
}

/* A local ZIP file header (30 bytes) naming `entry`, then 16 bytes of "data". */
static sample zip_with(const char *name, const char *entry)
{
    unsigned char bytes[256] = {'P', 'K', 3, 4, 20};
    size_t length = strlen(entry);
    bytes[26] = (unsigned char)length;
    memcpy(bytes + 30, entry, length);
    return copy_of(name, bytes, 30 + length + 16);
}

/* ONNX: ir_version 7, producer "pytorch", a 4-byte graph, opset_import {version: 9}. */
static const unsigned char onnx_bytes[] = {0x08, 0x07, 0x12, 0x07, 'p',  'y',  't',
                                           'o',  'r',  'c',  'h',  0x3a, 0x04, 0x0a,
                                           0x02, 'a',  'b',  0x42, 0x02, 0x10, 0x09};

static void test_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        size_t size;
        file_kind kind;
    } cases[] = {
        {BYTES("\x02\0\0\0\0\0\0\0{}"), FILE_KIND_SAFETENSORS},
        {BYTES("\x40\0\0\0\0\0\0\0{\"a\""), FILE_KIND_SAFETENSORS_TRUNCATED},
        {BYTES("GIF89a\x01\0\x01\0"), FILE_KIND_GIF},
        {BYTES("BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0"), FILE_KIND_BMP},
        {BYTES("BM is also how some text starts"), FILE_KIND_UNKNOWN},
        {BYTES("II*\0\x08\0\0\0"), FILE_KIND_TIFF},
        {BYTES("MM\0*\0\0\0\x08"), FILE_KIND_TIFF},
        {BYTES("\0\0\0\x18"
               "ftypheic\0\0\0\0"),
         FILE_KIND_HEIF},
        {BYTES("\0\0\0\x18"
               "ftypavif\0\0\0\0"),
         FILE_KIND_HEIF},
        {BYTES("\0\0\0\x18"
               "ftypisom\0\0\0\0"),
         FILE_KIND_UNKNOWN}, /* an MP4 video */
        {BYTES("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."),
         FILE_KIND_PYTORCH_PICKLE},
        {BYTES("\x80\x04\x95\x10\0\0\0\0\0\0\0}"), FILE_KIND_PICKLE},
        {BYTES("GGUF\x03\0\0\0\0\0\0\0"), FILE_KIND_GGUF},
        {BYTES("\x89HDF\r\n\x1a\n\0\0"), FILE_KIND_HDF5},
        {BYTES("\x1c\0\0\0TFL3\0\0"), FILE_KIND_TFLITE},
        {BYTES("\x93NUMPY\x01\0v\0"), FILE_KIND_NUMPY},
        {BYTES("{\"format\": \"layers-model\", \"modelTopology\": {}, \"weightsManifest\": []}"),
         FILE_KIND_TFJS_MODEL},
        {BYTES("\xef\xbb\xbf\n {\"Variable\": {\"filename\": \"Variable\", \"shape\": [3]}}"),
         FILE_KIND_ML5_MANIFEST},
        {BYTES("[1, 2, 3]"), FILE_KIND_JSON},
        {BYTES("hello, a text file\n"), FILE_KIND_UNKNOWN},
        {BYTES("\x08\x07\x12\x07pytorch\x05\x01"), FILE_KIND_UNKNOWN}, /* field 0: not protobuf */
        {BYTES("\x08\x07\x12\x03pyt"), FILE_KIND_UNKNOWN},             /* tiles, but has no graph */
        {BYTES(""), FILE_KIND_EMPTY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        file_kind kind = style__file_kind(cases[i].bytes, cases[i].size);
        if (kind != cases[i].kind) {
            print_error("case %zu: kind %s, expected %s\n", i, style__file_kind_description(kind),
                        style__file_kind_description(cases[i].kind));
            fail();
        }
    }
    assert_int_equal(style__file_kind(NULL, 0), FILE_KIND_EMPTY);

    /* ONNX: whole, cut inside the graph (a truncated download), and a byte changed. */
    assert_int_equal(style__file_kind(onnx_bytes, sizeof onnx_bytes), FILE_KIND_ONNX);
    assert_int_equal(style__file_kind(onnx_bytes, 14), FILE_KIND_ONNX);
    unsigned char changed[sizeof onnx_bytes];
    memcpy(changed, onnx_bytes, sizeof changed);
    changed[11] = 0x3b; /* field 7 with wire type 3 */
    assert_int_equal(style__file_kind(changed, sizeof changed), FILE_KIND_UNKNOWN);

    sample images[] = {encoded_image("a.png", "png"), encoded_image("a.jpg", "jpeg"),
                       encoded_image("a.webp", "webp")};
    assert_int_equal(style__file_kind(images[0].bytes, images[0].size), FILE_KIND_PNG);
    assert_int_equal(style__file_kind(images[1].bytes, images[1].size), FILE_KIND_JPEG);
    assert_int_equal(style__file_kind(images[2].bytes, images[2].size), FILE_KIND_WEBP);
    for (int i = 0; i < 3; i++)
        free(images[i].bytes);

    sample torch_zip = zip_with("vgg.pth", "archive/data.pkl");
    sample plain_zip = zip_with("photos.zip", "photos/a.jpg");
    assert_int_equal(style__file_kind(torch_zip.bytes, torch_zip.size), FILE_KIND_PYTORCH_ZIP);
    assert_int_equal(style__file_kind(plain_zip.bytes, plain_zip.size), FILE_KIND_ZIP);
    free(torch_zip.bytes);
    free(plain_zip.bytes);
}

/* Writes the sample to the temporary directory and returns its path. */
static const char *write_sample(const sample *s)
{
    const char *path = test_path(g_dir, s->name);
    assert_int_equal(test_write_file(path, s->bytes, s->size), 0);
    return path;
}

/* The last error holds every one of the (up to three) parts; prints it otherwise. */
static void expect_message(const char *what, const char *a, const char *b, const char *c)
{
    const char *message = style_last_error();
    if ((a && !strstr(message, a)) || (b && !strstr(message, b)) || (c && !strstr(message, c))) {
        print_error("%s: message '%s' lacks '%s', '%s' or '%s'\n", what, message, a ? a : "",
                    b ? b : "", c ? c : "");
        fail();
    }
}

static void expect_model_fails(const sample *s, const char *part1, const char *part2)
{
    const char *path = write_sample(s);
    style_model *model = NULL;
    assert_int_equal(style_model_load(path, NULL, &model), STYLE_ERR_FORMAT);
    assert_null(model);
    expect_message(s->name, "model_load", path, part1);
    expect_message(s->name, part2, NULL, NULL);
}

static void test_model_loader(void **state)
{
    (void)state;
    sample cases[] = {
        encoded_image("photo.jpg", "jpeg"),
        encoded_image("photo.png", "png"),
        encoded_image("photo.webp", "webp"),
        zip_with("candy.pth", "candy/data.pkl"),
        COPY("old.pth", "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19\x2e"),
        copy_of("mosaic.onnx", onnx_bytes, sizeof onnx_bytes),
        COPY("manifest.json", "{\"Variable\": {\"filename\": \"Variable\", \"shape\": [3]}}"),
        COPY("model.json", "{\"modelTopology\": {}, \"weightsManifest\": []}"),
        COPY("llm.gguf", "GGUF\x03\0\0\0\0\0\0\0"),
        COPY("empty.safetensors", ""),
        COPY("cut.safetensors", "\x40\0\0\0\0\0\0\0{\"a\""),
    };
    expect_model_fails(&cases[0], "this is a JPEG image, not a style model",
                       "libstyle stylize --model MODEL.safetensors IMAGE OUTPUT");
    expect_model_fails(&cases[1], "this is a PNG image, not a style model", NULL);
    expect_model_fails(&cases[2], "this is a WebP image, not a style model", NULL);
    expect_model_fails(&cases[3], "PyTorch file (torch.save, ZIP format)",
                       "python3 -m libstyle.convert from-pytorch IN.pth OUT.safetensors");
    expect_model_fails(&cases[4], "PyTorch file (torch.save, legacy pickle format)",
                       "from-pytorch");
    expect_model_fails(&cases[5], "an ONNX model, not a style model",
                       "python3 -m libstyle.convert from-onnx IN.onnx OUT.safetensors");
    expect_model_fails(&cases[6], "ml5 / deeplearn.js checkpoint manifest",
                       "libstyle import-ml5 DIR OUT.safetensors");
    expect_model_fails(&cases[7], "TensorFlow.js model", "import-ml5");
    expect_model_fails(&cases[8], "GGUF file", "safetensors");
    expect_model_fails(&cases[9], "empty file (0 bytes)", "interrupted download");
    expect_model_fails(&cases[10], "truncated safetensors file",
                       "says 64 bytes of JSON but the file has 12 bytes");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        free(cases[i].bytes);

    /* A real model still loads, from a file and from memory. */
    test_model_config config = test_default_config();
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 5, &size);
    style_model *model = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, NULL, &model), STYLE_OK);
    style_model_free(model);
    free(bytes);
}

static void test_loss_net_loader(void **state)
{
    (void)state;
    sample cases[] = {
        zip_with("vgg16.pth", "archive/data.pkl"),
        COPY("vgg16-397923af.pth", "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"),
        encoded_image("painting.jpg", "jpeg"),
        copy_of("vgg.onnx", onnx_bytes, sizeof onnx_bytes),
    };
    const char *expected[][2] = {
        {"this is a PyTorch file (torch.save, ZIP format), not a loss network",
         "python3 -m libstyle.convert lossnet-from-pytorch IN.pth OUT.safetensors"},
        {"legacy pickle format), not a loss network", "lossnet-from-pytorch"},
        {"this is a JPEG image, not a loss network", "--style-image"},
        {"this is an ONNX model, not a loss network", "lossnet-from-pytorch"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_sample(&cases[i]);
        feature_net *net = NULL;
        assert_int_equal(feature_net_load(path, &net), STYLE_ERR_FORMAT);
        assert_null(net);
        expect_message(cases[i].name, path, expected[i][0], expected[i][1]);
        free(cases[i].bytes);
    }

    /* A style model given as the loss network. */
    test_model_config config = test_default_config();
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 6, &size);
    sample model = {"starry.safetensors", bytes, size};
    const char *path = write_sample(&model);
    feature_net *net = NULL;
    assert_int_equal(feature_net_load(path, &net), STYLE_ERR_FORMAT);
    expect_message("model as loss net", path, "this is a style model, not a loss network", NULL);
    free(bytes);

    /* A real feature network still loads. */
    path = test_path(g_dir, "net.safetensors");
    test_write_feature_net(path, 3);
    assert_int_equal(feature_net_load(path, &net), STYLE_OK);
    feature_net_free(net);
}

static void test_checkpoint_loader(void **state)
{
    (void)state;
    char *json = NULL;
    sample image = encoded_image("run.png", "png");
    const char *path = write_sample(&image);
    assert_int_equal(train_checkpoint_read_settings(path, &json), STYLE_ERR_FORMAT);
    expect_message("PNG as checkpoint", path,
                   "this is a PNG image, not a libstyle training checkpoint",
                   "--resume takes the checkpoint file");
    free(image.bytes);

    test_model_config config = test_default_config();
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 7, &size);
    sample model = {"model.safetensors", bytes, size};
    path = write_sample(&model);
    assert_int_equal(train_checkpoint_read_settings(path, &json), STYLE_ERR_FORMAT);
    assert_null(json);
    expect_message("model as checkpoint", path,
                   "this is a trained style model, not a libstyle training checkpoint", NULL);
    free(bytes);
}

static void test_image_loader(void **state)
{
    (void)state;
    test_model_config config = test_default_config();
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 8, &size);
    sample model = {"model.safetensors", bytes, size};
    const char *path = write_sample(&model);
    style_image image;
    assert_int_equal(style_image_load(path, 0, &image), STYLE_ERR_FORMAT);
    assert_null(image.data);
    expect_message("model as image", path,
                   "this is a safetensors file (a model or network), not an image",
                   "models go in with --model");
    free(bytes);

    sample others[] = {
        COPY("anim.gif", "GIF89a\x01\0\x01\0\0\0\0"),
        COPY("scan.tif", "II*\0\x08\0\0\0\0\0"),
        COPY("phone.heic", "\0\0\0\x18"
                           "ftypheic\0\0\0\0"),
        zip_with("candy.pth", "archive/data.pkl"),
        COPY("empty.png", ""),
    };
    const style_status statuses[] = {STYLE_ERR_UNSUPPORTED, STYLE_ERR_UNSUPPORTED,
                                     STYLE_ERR_UNSUPPORTED, STYLE_ERR_FORMAT, STYLE_ERR_FORMAT};
    const char *expected[] = {"this is a GIF image, which libstyle does not decode",
                              "this is a TIFF image", "this is a HEIF/AVIF image",
                              "this is a PyTorch file (torch.save, ZIP format), not an image",
                              "empty file (0 bytes), not an image"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        path = write_sample(&others[i]);
        assert_int_equal(style_image_load(path, 0, &image), statuses[i]);
        expect_message(others[i].name, "image_load", path, expected[i]);
        assert_int_equal(style_image_load_memory(others[i].bytes, others[i].size, 0, &image),
                         statuses[i]);
        expect_message(others[i].name, "image_load_memory", expected[i], NULL);
        free(others[i].bytes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test_setup_teardown(test_model_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loss_net_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_loader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_image_loader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
