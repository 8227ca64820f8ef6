/*
 * The style-model loader (docs/formats.md section 1): the tensors of the pytorch/examples
 * TransformerNet checked name by name and shape by shape, optional biases, widths and residual
 * blocks read from the shapes, legacy running stats and extra.* tensors ignored, every stored
 * dtype converted, metadata defaults and strictness, exact statuses and messages for every kind
 * of bad file, locale independence, the save round trip, size limits, allocation failures and
 * the reference count that sessions hold on a model.
 */
#define _GNU_SOURCE
#include "model_builder.h"

#include "core/half.h"
#include "model/model.h"

#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_dir; /* a temporary directory for the whole group */
static int g_case;  /* makes the file names of the failure cases unique */
static int g_sentinel_object;
/* Stored into *out before a call that must fail, so that the test sees it reset to NULL. */
#define SENTINEL_MODEL ((style_model *)&g_sentinel_object)

/* ---- Helpers ---------------------------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Widths 8/16/32 and one residual block: every rule, a fraction of the bytes. */
static test_model_config small_config(void)
{
    test_model_config c = test_default_config();
    c.widths[0] = 8, c.widths[1] = 16, c.widths[2] = 32;
    c.residual_blocks = 1;
    return c;
}

/* The default widths (so messages show the familiar 32/64/128) with two residual blocks. */
static test_model_config error_config(void)
{
    test_model_config c = test_default_config();
    c.residual_blocks = 2;
    return c;
}

/* st_serialize into a malloc'd buffer. */
static unsigned char *serialize(const st_file *file, size_t *size)
{
    void *bytes = NULL;
    assert_int_equal(st_serialize(file, &bytes, size), STYLE_OK);
    unsigned char *copy = malloc(*size ? *size : 1);
    assert_non_null(copy);
    memcpy(copy, bytes, *size);
    style__free(bytes);
    return copy;
}

static size_t tensor_index(const st_file *file, const char *name)
{
    for (size_t i = 0; i < file->tensor_count; i++)
        if (strcmp(file->tensors[i].name, name) == 0) return i;
    fail_msg("the test model has no tensor '%s'", name);
    return 0;
}

static void drop_tensor(st_file *file, const char *name)
{
    size_t i = tensor_index(file, name);
    style__free(file->tensors[i].name);
    style__free(file->tensors[i].data);
    memmove(&file->tensors[i], &file->tensors[i + 1],
            (file->tensor_count - i - 1) * sizeof *file->tensors);
    file->tensor_count--;
}

/* Gives tensor `name` a new shape (filled with 0.25). */
static void reshape_tensor(st_file *file, const char *name, int32_t ndim, const int64_t *shape)
{
    st_tensor *t = &file->tensors[tensor_index(file, name)];
    size_t count = 1;
    for (int32_t i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    style__free(t->data);
    t->data = style__malloc(count * sizeof(float) + 1);
    assert_non_null(t->data);
    for (size_t i = 0; i < count; i++)
        t->data[i] = 0.25f;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->count = count;
}

/* Appends a tensor filled with `value`. */
static void add_tensor(st_file *file, const char *name, int32_t ndim, const int64_t *shape,
                       float value)
{
    size_t count = 1;
    for (int32_t i = 0; i < ndim; i++)
        count *= (size_t)shape[i];
    float *data = malloc(count * sizeof(float) + 1);
    assert_non_null(data);
    for (size_t i = 0; i < count; i++)
        data[i] = value;
    assert_int_equal(st_file_add_tensor(file, name, ndim, shape, data), STYLE_OK);
    free(data);
}

/* Sets metadata `key` to `value` in place (appended when absent); value NULL removes it. */
static void set_metadata(st_file *file, const char *key, const char *value)
{
    for (size_t i = 0; i < file->metadata_count; i++) {
        st_metadata_entry *e = &file->metadata[i];
        if (strcmp(e->key, key) != 0) continue;
        if (value) {
            style__free(e->value);
            e->value = style__strdup(value);
            assert_non_null(e->value);
        } else {
            style__free(e->key);
            style__free(e->value);
            memmove(e, e + 1, (file->metadata_count - i - 1) * sizeof *e);
            file->metadata_count--;
        }
        return;
    }
    if (value) assert_int_equal(st_file_add_metadata(file, key, value), STYLE_OK);
}

static void clear_metadata(st_file *file)
{
    while (file->metadata_count)
        set_metadata(file, file->metadata[0].key, NULL);
}

/* Loads a model file image from memory; asserts success. */
static style_model *load_ok(const void *bytes, size_t size, const char *what)
{
    style_model *model = NULL;
    style__clear_error();
    style_status status = style_model_load_memory(bytes, size, NULL, &model);
    if (status != STYLE_OK)
        print_error("case '%s': status %d (%s): %s\n", what, status, style_status_string(status),
                    style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_non_null(model);
    return model;
}

static style_model *load_file_ok(const st_file *file, const char *what)
{
    size_t size;
    unsigned char *bytes = serialize(file, &size);
    style_model *model = load_ok(bytes, size, what);
    free(bytes);
    return model;
}

/* A failed load must give `expected`, leave *out NULL, and name the source and the problem. */
static void check_failure(style_status status, style_model *model, style_status expected,
                          const char *source, const char *part1, const char *part2,
                          const char *what, const char *how)
{
    const char *message = style_last_error();
    bool ok = status == expected && model == NULL && strstr(message, "model_load") &&
              strstr(message, source) && (!part1 || strstr(message, part1)) &&
              (!part2 || strstr(message, part2));
    if (!ok) {
        print_error("case '%s' (%s): status %d (%s), expected %d (%s); out %s; message: '%s'; "
                    "wanted '%s', '%s', '%s'\n",
                    what, how, status, style_status_string(status), expected,
                    style_status_string(expected), model ? "not NULL" : "NULL", message, source,
                    part1 ? part1 : "", part2 ? part2 : "");
        if (model && model != SENTINEL_MODEL) style_model_free(model);
        fail();
    }
}

/*
 * Loads `bytes` from memory (an exact-size copy, so that the sanitizers see any over-read) and,
 * written to a file, from its path: both must fail as check_failure says, the path load naming
 * the path.
 */
static void expect_bytes_fail(const void *bytes, size_t size, style_status expected,
                              const char *part1, const char *part2, const char *what)
{
    void *copy = malloc(size ? size : 1);
    assert_non_null(copy);
    if (size) memcpy(copy, bytes, size);
    style_model *model = SENTINEL_MODEL;
    style__clear_error();
    style_status status = style_model_load_memory(copy, size, NULL, &model);
    check_failure(status, model, expected, "<memory>", part1, part2, what, "memory");
    free(copy);

    char name[64], path[4096];
    snprintf(name, sizeof name, "case-%04d.safetensors", g_case++);
    snprintf(path, sizeof path, "%s", test_path(g_dir, name));
    assert_int_equal(test_write_file(path, bytes, size), 0);
    model = SENTINEL_MODEL;
    style__clear_error();
    status = style_model_load(path, NULL, &model);
    check_failure(status, model, expected, path, part1, part2, what, "path");
    remove(path);
}

static void expect_file_fail(const st_file *file, style_status expected, const char *part1,
                             const char *part2, const char *what)
{
    size_t size;
    unsigned char *bytes = serialize(file, &size);
    expect_bytes_fail(bytes, size, expected, part1, part2, what);
    free(bytes);
}

/* ---- johnson-cin (several styles) ------------------------------------------------------- */

static uint64_t expected_parameters(const test_model_config *c);

static void test_cin_loads(void **state)
{
    (void)state;
    test_model_config c = small_config();
    c.styles = 3;
    st_file file;
    test_build_model_file(&c, 51, &file);
    style_model *model = load_file_ok(&file, "johnson-cin, 3 styles");
    assert_int_equal(style_model_style_count(model), 3);
    assert_string_equal(style_model_style_name(model, 0), "s0");
    assert_string_equal(style_model_style_name(model, 2), "s2");
    assert_null(style_model_style_name(model, 3));
    assert_int_equal(style_model_find_style(model, "s1"), 1);
    assert_int_equal(style_model_find_style(model, "S1"), -1);
    assert_int_equal(style_model_find_style(model, NULL), -1);
    style_model_info info;
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_string_equal(info.arch, "johnson-cin");
    /* Every style's scale and shift count: 2 x (8 + 16 + 32 + 2 x 32 + 16 + 8) per style. */
    test_model_config single = small_config();
    const uint64_t per_style = 2 * (8 + 16 + 32 + 2 * 32 + 16 + 8);
    assert_int_equal(info.parameter_count, expected_parameters(&single) + 2 * per_style);
    /* Style 0's rows are what the network sees before a session picks a style. */
    assert_ptr_equal(model->down[0].norm.scale, st_find(&model->file, "in1.weight")->data);
    assert_int_equal(model_style_param_count(model), per_style);

    /* Saved and loaded again: the same styles and tensors. */
    const char *path = test_path(g_dir, "cin-roundtrip.safetensors");
    assert_int_equal(style_model_save(model, path), STYLE_OK);
    style_model *again = NULL;
    assert_int_equal(style_model_load(path, NULL, &again), STYLE_OK);
    assert_int_equal(style_model_style_count(again), 3);
    assert_string_equal(style_model_style_name(again, 1), "s1");
    const st_tensor *a = st_find(&model->file, "res1.in2.bias"),
                    *b = st_find(&again->file, "res1.in2.bias");
    assert_int_equal(b->ndim, 2);
    assert_int_equal(b->shape[0], 3);
    assert_memory_equal(a->data, b->data, a->count * sizeof(float));
    style_model_free(again);
    style_model_free(model);
    assert_int_equal(style_model_style_count(NULL), 0);
    assert_null(style_model_style_name(NULL, 0));

    /* A single-style model has no named styles. */
    st_file_clear(&file);
    test_build_model_file(&single, 52, &file);
    model = load_file_ok(&file, "johnson");
    assert_int_equal(style_model_style_count(model), 0);
    assert_null(style_model_style_name(model, 0));
    style_model_free(model);
    st_file_clear(&file);
}

/* One johnson-cin file (3 styles) with `key` set to `value` (NULL removes it) must fail. */
static void expect_cin_metadata_fail(const char *key, const char *value, const char *part1,
                                     const char *part2)
{
    test_model_config c = small_config();
    c.styles = 3;
    st_file file;
    test_build_model_file(&c, 53, &file);
    set_metadata(&file, key, value);
    char what[160];
    snprintf(what, sizeof what, "johnson-cin with %s = '%s'", key, value ? value : "(absent)");
    expect_file_fail(&file, STYLE_ERR_FORMAT, part1, part2, what);
    st_file_clear(&file);
}

static void test_cin_rejects(void **state)
{
    (void)state;
    /* The names: a JSON array of distinct non-empty strings, as many as the rows. */
    expect_cin_metadata_fail("libstyle.styles", NULL, "libstyle.styles", "johnson-cin");
    expect_cin_metadata_fail("libstyle.styles", "candy", "libstyle.styles", "JSON array");
    expect_cin_metadata_fail("libstyle.styles", "{\"a\":1}", "libstyle.styles", "JSON array");
    expect_cin_metadata_fail("libstyle.styles", "[]", "libstyle.styles", "0 names");
    expect_cin_metadata_fail("libstyle.styles", "[\"a\",\"b\",3]", "entry 2", "string");
    expect_cin_metadata_fail("libstyle.styles", "[\"a\",\"\",\"c\"]", "entry 1", "string");
    expect_cin_metadata_fail("libstyle.styles", "[\"a\",\"b\",\"a\"]", "'a'", "twice");
    /* Names count != rows: 2 names for 3-row tensors, 4 names. */
    expect_cin_metadata_fail("libstyle.styles", "[\"a\",\"b\"]", "has shape [3,8]",
                             "expected [2,8]");
    expect_cin_metadata_fail("libstyle.styles", "[\"a\",\"b\",\"c\",\"d\"]",
                             "has shape [3,8]", "expected [4,8]");
    /* Conditional norms are instance norms; libstyle.styles needs the architecture. */
    expect_cin_metadata_fail("libstyle.norm", "batch", "johnson-cin", "batch");
    expect_cin_metadata_fail("libstyle.arch", "johnson", "libstyle.styles", "johnson-cin");

    /* Shapes: one norm with a different style count, a [C] norm, a [S, C+1] norm, 3-D. */
    test_model_config c = small_config();
    c.styles = 3;
    st_file file;
    test_build_model_file(&c, 54, &file);
    const struct {
        const char *name;
        int32_t ndim;
        int64_t shape[3];
        const char *part1, *part2;
    } cases[] = {
        {"res1.in2.weight", 2, {4, 32}, "'res1.in2.weight' has shape [4,32]", "expected [3,32]"},
        {"in5.bias", 2, {2, 8}, "'in5.bias' has shape [2,8]", "expected [3,8]"},
        {"in1.weight", 1, {8}, "'in1.weight' has shape [8]", "expected [3,8]"},
        {"in3.bias", 2, {3, 33}, "'in3.bias' has shape [3,33]", "expected [3,32]"},
        {"in4.weight", 3, {3, 16, 1}, "'in4.weight' has shape [3,16,1]", "expected [3,16]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st_file copy;
        test_build_model_file(&c, 54, &copy);
        reshape_tensor(&copy, cases[i].name, cases[i].ndim, cases[i].shape);
        expect_file_fail(&copy, STYLE_ERR_FORMAT, cases[i].part1, cases[i].part2, cases[i].name);
        st_file_clear(&copy);
    }
    st_file_clear(&file);
}

/* The parameter count of a configuration, from the TransformerNet shapes. */
static uint64_t expected_parameters(const test_model_config *c)
{
    const uint64_t w0 = (uint64_t)c->widths[0], w1 = (uint64_t)c->widths[1],
                   w2 = (uint64_t)c->widths[2], b = c->bias ? 1 : 0;
    uint64_t n = 0;
    n += 3 * w0 * 81 + b * w0 + 2 * w0;                                      /* conv1, in1 */
    n += w0 * w1 * 9 + b * w1 + 2 * w1;                                      /* conv2, in2 */
    n += w1 * w2 * 9 + b * w2 + 2 * w2;                                      /* conv3, in3 */
    n += (uint64_t)c->residual_blocks * 2 * (w2 * w2 * 9 + b * w2 + 2 * w2); /* resN */
    n += w2 * w1 * 9 + b * w1 + 2 * w1;                                      /* deconv1, in4 */
    n += w1 * w0 * 9 + b * w0 + 2 * w0;                                      /* deconv2, in5 */
    n += w0 * 3 * 81 + b * 3;                                                /* deconv3 */
    if (c->final_norm) n += 2 * 3;                                           /* in6 */
    return n;
}

/* Checks style_model_info and the internal layer table against the configuration. */
static void check_info(const style_model *model, const test_model_config *c)
{
    style_model_info info;
    memset(&info, 0x5a, sizeof info);
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_string_equal(info.arch, "johnson");
    assert_int_equal(info.format_version, 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(info.widths[i], c->widths[i]);
    assert_int_equal(info.residual_blocks, c->residual_blocks);
    assert_int_equal(info.has_bias, c->bias ? 1 : 0);
    assert_int_equal(info.parameter_count, expected_parameters(c));
    assert_string_equal(info.padding, c->padding);
    assert_string_equal(info.upsample, c->upsample);
    assert_string_equal(info.norm, c->norm);
    assert_string_equal(info.output, c->output);
    assert_string_equal(info.final_norm, c->final_norm ? "instance" : "none");
    assert_true(info.norm_eps == (c->eps ? strtof(c->eps, NULL) : 1e-5f));

    /* The layer table the network is built from. */
    const int strides[3] = {1, 2, 2}, kernels[3] = {9, 3, 3},
              ins[3] = {3, c->widths[0], c->widths[1]};
    for (int i = 0; i < 3; i++) {
        const model_stage *s = &model->down[i];
        assert_int_equal(s->conv.in_channels, ins[i]);
        assert_int_equal(s->conv.out_channels, c->widths[i]);
        assert_int_equal(s->conv.kernel, kernels[i]);
        assert_int_equal(s->conv.stride, strides[i]);
        assert_false(s->conv.transposed);
        assert_true(s->has_norm);
        assert_int_equal(s->norm.channels, c->widths[i]);
        assert_true((s->conv.bias != NULL) == c->bias);
        assert_true((s->norm.running_mean != NULL) == (strcmp(c->norm, "batch") == 0));
    }
    for (int b = 0; b < c->residual_blocks; b++)
        for (int j = 0; j < 2; j++) {
            const model_stage *s = &model->residual[b][j];
            assert_int_equal(s->conv.in_channels, c->widths[2]);
            assert_int_equal(s->conv.out_channels, c->widths[2]);
            assert_int_equal(s->conv.kernel, 3);
            assert_int_equal(s->conv.stride, 1);
        }
    bool transposed = strcmp(c->upsample, "nearest_conv") != 0;
    assert_int_equal(model->up[0].conv.in_channels, c->widths[2]);
    assert_int_equal(model->up[0].conv.out_channels, c->widths[1]);
    assert_int_equal(model->up[1].conv.in_channels, c->widths[1]);
    assert_int_equal(model->up[1].conv.out_channels, c->widths[0]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(model->up[i].conv.transposed, transposed);
        assert_int_equal(model->up[i].conv.stride, transposed ? 2 : 1);
    }
    assert_int_equal(model->out.conv.in_channels, c->widths[0]);
    assert_int_equal(model->out.conv.out_channels, 3);
    assert_int_equal(model->out.conv.kernel, 9);
    assert_int_equal(model->out.has_norm, c->final_norm);
}

/* ---- A safetensors writer with any dtype (the library itself only writes F32) ----------- */

typedef struct dtype_plan {
    const char *dtype;      /* for every tensor; NULL cycles F32, F16, BF16, F64 by index */
    const char *i64_name;   /* this tensor is stored as I64 (optional) */
    const char *i64_suffix; /* tensors whose names end so are stored as I64 (optional) */
} dtype_plan;

static const char *plan_dtype(const dtype_plan *plan, const char *name, size_t index)
{
    static const char *const cycle[] = {"F32", "F16", "BF16", "F64"};
    if (plan->i64_name && strcmp(name, plan->i64_name) == 0) return "I64";
    if (plan->i64_suffix && ends_with(name, plan->i64_suffix)) return "I64";
    return plan->dtype ? plan->dtype : cycle[index % 4];
}

static size_t dtype_size(const char *dtype)
{
    if (strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0) return 2;
    if (strcmp(dtype, "F32") == 0) return 4;
    return 8; /* F64, I64 */
}

static void put_le(unsigned char *out, uint64_t value, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        out[i] = (unsigned char)(value >> (8 * i));
}

static void encode(const char *dtype, const float *src, size_t count, unsigned char *out)
{
    size_t step = dtype_size(dtype);
    for (size_t i = 0; i < count; i++, out += step) {
        float v = src[i];
        if (strcmp(dtype, "F16") == 0) {
            put_le(out, style__f32_to_f16(v), 2);
        } else if (strcmp(dtype, "BF16") == 0) {
            put_le(out, style__f32_to_bf16(v), 2);
        } else if (strcmp(dtype, "F32") == 0) {
            uint32_t bits;
            memcpy(&bits, &v, 4);
            put_le(out, bits, 4);
        } else if (strcmp(dtype, "F64") == 0) {
            double d = v;
            uint64_t bits;
            memcpy(&bits, &d, 8);
            put_le(out, bits, 8);
        } else {
            put_le(out, (uint64_t)(int64_t)v, 8);
        }
    }
}

/* The float a loader must produce for the stored float `v` written as `dtype`. */
static float decoded(const char *dtype, float v)
{
    if (strcmp(dtype, "F16") == 0) return style__f16_to_f32(style__f32_to_f16(v));
    if (strcmp(dtype, "BF16") == 0) return style__bf16_to_f32(style__f32_to_bf16(v));
    return v; /* F32 exactly; F64 holds every float exactly */
}

typedef struct text_buffer {
    char *data;
    size_t size, capacity;
} text_buffer;

static void append(text_buffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(text_buffer *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->size + (size_t)n + 1 > b->capacity) {
        b->capacity = (b->size + (size_t)n + 1) * 2;
        b->data = realloc(b->data, b->capacity);
        assert_non_null(b->data);
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->size += (size_t)n;
}

static void append_json_string(text_buffer *b, const char *s)
{
    append(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            append(b, "\\%c", ch);
        else if (ch < 0x20)
            append(b, "\\u%04x", ch);
        else
            append(b, "%c", ch);
    }
    append(b, "\"");
}

/* Serialises `file` by hand with the dtypes `plan` chooses (malloc'd; free with free()). */
static unsigned char *serialize_dtypes(const st_file *file, const dtype_plan *plan, size_t *size)
{
    text_buffer h = {0};
    append(&h, "{");
    bool first = true;
    if (file->metadata_count) {
        append(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < file->metadata_count; i++) {
            if (i) append(&h, ",");
            append_json_string(&h, file->metadata[i].key);
            append(&h, ":");
            append_json_string(&h, file->metadata[i].value);
        }
        append(&h, "}");
        first = false;
    }
    size_t offset = 0;
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        const char *dtype = plan_dtype(plan, t->name, i);
        size_t bytes = t->count * dtype_size(dtype);
        if (!first) append(&h, ",");
        first = false;
        append_json_string(&h, t->name);
        append(&h, ":{\"dtype\":\"%s\",\"shape\":[", dtype);
        for (int32_t d = 0; d < t->ndim; d++)
            append(&h, d ? ",%lld" : "%lld", (long long)t->shape[d]);
        append(&h, "],\"data_offsets\":[%zu,%zu]}", offset, offset + bytes);
        offset += bytes;
    }
    append(&h, "}");
    while (h.size % 8)
        append(&h, " ");

    *size = 8 + h.size + offset;
    unsigned char *out = malloc(*size);
    assert_non_null(out);
    put_le(out, h.size, 8);
    memcpy(out + 8, h.data, h.size);
    unsigned char *data = out + 8 + h.size;
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *t = &file->tensors[i];
        const char *dtype = plan_dtype(plan, t->name, i);
        encode(dtype, t->data, t->count, data);
        data += t->count * dtype_size(dtype);
    }
    free(h.data);
    return out;
}

/* Log receiver that remembers the last message. */
typedef struct log_capture {
    int calls;
    style_log_level level;
    char last[512];
} log_capture;

static void capture_log(void *user, style_log_level level, const char *message)
{
    log_capture *capture = user;
    capture->calls++;
    capture->level = level;
    snprintf(capture->last, sizeof capture->last, "%s", message);
}

/* ---- Valid models ----------------------------------------------------------------------- */

static void test_default_model(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    style_model *model = test_build_model(&c, 1);
    check_info(model, &c);
    style_model_info info;
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_int_equal(info.parameter_count, 1679235); /* torchsummary of TransformerNet */

    /* Metadata: every key of the file, in the file's order, libstyle.* included. */
    static const char *const expected[][2] = {
        {"libstyle.format_version", "1"}, {"libstyle.arch", "johnson"},
        {"libstyle.padding", "reflect"},  {"libstyle.upsample", "nearest_conv"},
        {"libstyle.norm", "instance"},    {"libstyle.output", "linear"},
        {"libstyle.final_norm", "none"},  {"libstyle.norm_eps", "1e-05"}};
    size_t count = sizeof expected / sizeof *expected;
    assert_int_equal(style_model_metadata_count(model), count);
    for (size_t i = 0; i < count; i++) {
        const char *key = NULL, *value = NULL;
        assert_int_equal(style_model_metadata_at(model, i, &key, &value), STYLE_OK);
        assert_string_equal(key, expected[i][0]);
        assert_string_equal(value, expected[i][1]);
        assert_string_equal(style_model_metadata_get(model, expected[i][0]), expected[i][1]);
    }
    const char *key = "untouched", *value = "untouched";
    assert_int_equal(style_model_metadata_at(model, count, &key, &value),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_metadata_at(model, SIZE_MAX, &key, &value),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_metadata_at(model, 0, NULL, &value), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_metadata_at(model, 0, &key, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_metadata_at(NULL, 0, &key, &value), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(style_model_metadata_get(model, "libstyle.name"));
    assert_null(style_model_metadata_get(model, "no such key"));
    assert_null(style_model_metadata_get(model, NULL));
    assert_null(style_model_metadata_get(NULL, "libstyle.arch"));
    assert_int_equal(style_model_metadata_count(NULL), 0);
    assert_int_equal(style_model_get_info(NULL, &info), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_get_info(model, NULL), STYLE_ERR_INVALID_ARGUMENT);
    style_model_free(model);
}

static void test_architecture_variants(void **state)
{
    (void)state;
    test_model_config configs[9];
    const char *names[9];
    int n = 0;
    test_model_config c = test_default_config();
    c.widths[0] = 16, c.widths[1] = 32, c.widths[2] = 64;
    names[n] = "half width 16/32/64", configs[n++] = c;
    c = small_config();
    c.residual_blocks = 0;
    names[n] = "no residual blocks", configs[n++] = c;
    c.residual_blocks = 3;
    names[n] = "three residual blocks", configs[n++] = c;
    c = small_config();
    c.bias = false;
    names[n] = "no biases", configs[n++] = c;
    c = small_config();
    c.widths[0] = 5, c.widths[1] = 7, c.widths[2] = 11;
    names[n] = "odd widths 5/7/11", configs[n++] = c;
    c = small_config();
    c.padding = "zero", c.upsample = "transposed_torch", c.norm = "batch", c.output = "tanh150";
    c.final_norm = true, c.eps = "0.001";
    names[n] = "zero transposed_torch batch tanh150 in6", configs[n++] = c;
    c = small_config();
    c.padding = "tf_same", c.upsample = "transposed_tf", c.output = "tanh150";
    c.final_norm = true, c.bias = false, c.eps = "1e-3";
    names[n] = "ml5-like tf_same transposed_tf", configs[n++] = c;
    c = small_config();
    c.eps = "1";
    names[n] = "eps 1", configs[n++] = c;
    for (int i = 0; i < n; i++) {
        st_file file;
        test_build_model_file(&configs[i], 7 + (uint64_t)i, &file);
        style_model *model = load_file_ok(&file, names[i]);
        check_info(model, &configs[i]);
        style_model_free(model);
        st_file_clear(&file);
    }
}

static void test_bare_pytorch_file(void **state)
{
    (void)state;
    /* safetensors.torch.save_file(model.state_dict()) of a pytorch/examples model: no metadata */
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 11, &file);
    clear_metadata(&file);
    size_t size;
    unsigned char *bytes = serialize(&file, &size);
    assert_null(memmem(bytes, size, "__metadata__", 12)); /* really no metadata object */
    style_model *model = load_ok(bytes, size, "bare");
    check_info(model, &c); /* all defaults: reflect, nearest_conv, instance, linear, none, 1e-5 */
    assert_int_equal(style_model_metadata_count(model), 0);
    const char *key, *value;
    assert_int_equal(style_model_metadata_at(model, 0, &key, &value), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(style_model_metadata_get(model, "libstyle.padding"));
    style_model_free(model);
    free(bytes);

    /* User metadata (anything not starting with "libstyle.") is kept as is, in order. */
    set_metadata(&file, "format", "pt");
    set_metadata(&file, "author", "Ada \"the\" Lovelace \\ \xc3\xa9");
    set_metadata(&file, "libstyle_padding", "not ours: no dot");
    set_metadata(&file, "LIBSTYLE.PADDING", "not ours: case differs");
    set_metadata(&file, "libstyle.name", "Candy");
    set_metadata(&file, "libstyle.training", "{\"iterations\": 40000}");
    model = load_file_ok(&file, "user metadata");
    check_info(model, &c);
    assert_int_equal(style_model_metadata_count(model), 6);
    const char *key0, *value0;
    assert_int_equal(style_model_metadata_at(model, 0, &key0, &value0), STYLE_OK);
    assert_string_equal(key0, "format");
    assert_string_equal(value0, "pt");
    assert_string_equal(style_model_metadata_get(model, "author"),
                        "Ada \"the\" Lovelace \\ \xc3\xa9");
    assert_string_equal(style_model_metadata_get(model, "libstyle_padding"), "not ours: no dot");
    assert_string_equal(style_model_metadata_get(model, "LIBSTYLE.PADDING"),
                        "not ours: case differs");
    assert_string_equal(style_model_metadata_get(model, "libstyle.name"), "Candy");
    assert_string_equal(style_model_metadata_get(model, "libstyle.training"),
                        "{\"iterations\": 40000}");
    style_model_free(model);
    st_file_clear(&file);
}

/* ---- Legacy keys and extra.* ------------------------------------------------------------ */

static void test_legacy_running_stats(void **state)
{
    (void)state;
    /* Legacy checkpoints: running_mean/var + num_batches_tracked on every instance norm. */
    test_model_config c = test_default_config();
    c.legacy_running_stats = true;
    st_file file;
    test_build_model_file(&c, 13, &file);
    assert_non_null(st_find(&file, "res5.in2.running_var"));
    assert_non_null(st_find(&file, "in5.num_batches_tracked"));
    size_t size;
    unsigned char *bytes = serialize(&file, &size);
    log_capture capture = {0};
    style_load_options options = {.struct_size = sizeof options, .log = capture_log, .log_user = &capture};
    style_model *model = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
    check_info(model, &c); /* running stats are not parameters of an instance-norm model */
    assert_null(model->down[0].norm.running_mean);
    /* 15 norms (in1..in5, res1..5.in1/in2) x 3 ignored tensors, reported once. */
    assert_int_equal(capture.calls, 1);
    assert_int_equal(capture.level, STYLE_LOG_INFO);
    assert_non_null(strstr(capture.last, "ignored 45 tensors"));
    style_model_free(model);
    free(bytes);

    /* num_batches_tracked as PyTorch really stores it: I64. Ignored, so it loads. */
    dtype_plan plan = {"F32", NULL, ".num_batches_tracked"};
    bytes = serialize_dtypes(&file, &plan, &size);
    model = load_ok(bytes, size, "I64 num_batches_tracked");
    check_info(model, &c);
    const st_tensor *tracked = st_find(&model->file, "res3.in1.num_batches_tracked");
    assert_non_null(tracked);
    assert_string_equal(tracked->dtype, "I64");
    assert_null(tracked->data);
    assert_int_equal(tracked->ndim, 0);
    style_model_free(model);
    free(bytes);

    /* ... but a tensor the network uses cannot be I64. */
    dtype_plan bad = {"F32", "conv1.conv2d.weight", NULL};
    bytes = serialize_dtypes(&file, &bad, &size);
    expect_bytes_fail(bytes, size, STYLE_ERR_UNSUPPORTED, "'conv1.conv2d.weight'", "I64",
                      "I64 conv1 weight");
    free(bytes);
    dtype_plan bad_bias = {"F32", "res2.in1.bias", ".num_batches_tracked"};
    bytes = serialize_dtypes(&file, &bad_bias, &size);
    expect_bytes_fail(bytes, size, STYLE_ERR_UNSUPPORTED, "'res2.in1.bias'", "I64",
                      "I64 norm bias");
    free(bytes);
    /* An unknown I64 tensor is unexpected, not silently dropped. */
    int64_t one[1] = {1};
    add_tensor(&file, "step", 1, one, 3.0f);
    dtype_plan step = {"F32", "step", NULL};
    bytes = serialize_dtypes(&file, &step, &size);
    expect_bytes_fail(bytes, size, STYLE_ERR_FORMAT, "unexpected tensor 'step'", NULL,
                      "unknown I64 tensor");
    free(bytes);
    st_file_clear(&file);
}

static void test_extra_tensors_ignored(void **state)
{
    (void)state;
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 17, &file);
    int64_t shape[2] = {4, 3}, scalar[1] = {1};
    add_tensor(&file, "extra.int8.calibration", 2, shape, 0.5f);
    add_tensor(&file, "extra.anything", 0, scalar, 1.0f);
    add_tensor(&file, "extra.i64_counter", 1, scalar, 7.0f);
    dtype_plan plan = {"F32", "extra.i64_counter", NULL};
    size_t size;
    unsigned char *bytes = serialize_dtypes(&file, &plan, &size);
    log_capture capture = {0};
    style_load_options options = {.struct_size = sizeof options, .log = capture_log, .log_user = &capture};
    style_model *model = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
    check_info(model, &c);
    assert_int_equal(capture.calls, 1);
    assert_non_null(strstr(capture.last, "ignored 3 tensors"));
    style_model_free(model);
    free(bytes);

    /* Only the exact "extra." prefix is reserved. */
    add_tensor(&file, "extras.thing", 1, scalar, 1.0f);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "unexpected tensor 'extras.thing'", NULL,
                     "extras. prefix");
    drop_tensor(&file, "extras.thing");
    add_tensor(&file, "extra", 1, scalar, 1.0f);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "unexpected tensor 'extra'", NULL, "bare extra");
    st_file_clear(&file);
}

/* ---- Stored dtypes ---------------------------------------------------------------------- */

static void expect_converted(const float *got, const float *stored, size_t count, const char *dtype,
                             const char *what)
{
    for (size_t i = 0; i < count; i++) {
        float want = decoded(dtype, stored[i]);
        if (memcmp(&got[i], &want, sizeof want) != 0) {
            print_error("%s (%s) [%zu]: got %.9g, want %.9g (stored %.9g)\n", what, dtype, i,
                        got[i], want, stored[i]);
            fail();
        }
    }
}

static void test_dtypes(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.residual_blocks = 2;
    st_file file;
    test_build_model_file(&c, 19, &file);
    style_model *reference = load_file_ok(&file, "F32 reference");

    /* The hand-written F32 file loads bit for bit like st_serialize's. */
    const char *dtypes[] = {"F32", "F16", "BF16", "F64", NULL /* mixed */};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        dtype_plan plan = {dtypes[d], NULL, NULL};
        size_t size;
        unsigned char *bytes = serialize_dtypes(&file, &plan, &size);
        style_model *model = load_ok(bytes, size, dtypes[d] ? dtypes[d] : "mixed");
        check_info(model, &c);
        /* Every tensor of the file, in order, converted exactly as the dtype says. */
        assert_int_equal(model->file.tensor_count, file.tensor_count);
        for (size_t i = 0; i < file.tensor_count; i++) {
            const st_tensor *t = &model->file.tensors[i];
            const char *dtype = plan_dtype(&plan, t->name, i);
            assert_string_equal(t->name, file.tensors[i].name);
            assert_string_equal(t->dtype, dtype);
            assert_int_equal(t->count, file.tensors[i].count);
            expect_converted(t->data, file.tensors[i].data, t->count, dtype, t->name);
        }
        /* And the layer table points at the converted data. */
        const struct {
            const float *got, *reference;
            size_t index, count;
        } checks[] = {
            {model->down[0].conv.weight, reference->down[0].conv.weight,
             tensor_index(&file, "conv1.conv2d.weight"), (size_t)32 * 3 * 81},
            {model->down[0].norm.scale, reference->down[0].norm.scale,
             tensor_index(&file, "in1.weight"), 32},
            {model->down[2].conv.bias, reference->down[2].conv.bias,
             tensor_index(&file, "conv3.conv2d.bias"), 128},
            {model->residual[1][1].conv.weight, reference->residual[1][1].conv.weight,
             tensor_index(&file, "res2.conv2.conv2d.weight"), (size_t)128 * 128 * 9},
            {model->residual[1][1].norm.shift, reference->residual[1][1].norm.shift,
             tensor_index(&file, "res2.in2.bias"), 128},
            {model->up[1].conv.weight, reference->up[1].conv.weight,
             tensor_index(&file, "deconv2.conv2d.weight"), (size_t)32 * 64 * 9},
            {model->out.conv.bias, reference->out.conv.bias,
             tensor_index(&file, "deconv3.conv2d.bias"), 3},
        };
        for (size_t k = 0; k < sizeof checks / sizeof *checks; k++) {
            const char *dtype =
                plan_dtype(&plan, file.tensors[checks[k].index].name, checks[k].index);
            expect_converted(checks[k].got, checks[k].reference, checks[k].count, dtype,
                             file.tensors[checks[k].index].name);
            if (strcmp(dtype, "F32") == 0 || strcmp(dtype, "F64") == 0)
                assert_memory_equal(checks[k].got, checks[k].reference,
                                    checks[k].count * sizeof(float));
        }
        style_model_free(model);
        free(bytes);
    }
    style_model_free(reference);
    st_file_clear(&file);
}

/* ---- Batch norm ------------------------------------------------------------------------- */

static void test_batch_norm(void **state)
{
    (void)state;
    test_model_config c = small_config();
    c.norm = "batch";
    st_file file;
    test_build_model_file(&c, 23, &file);
    style_model *model = load_file_ok(&file, "batch norm");
    check_info(model, &c); /* running stats are buffers, not parameters (as in PyTorch) */
    assert_memory_equal(model->up[0].norm.running_var, st_find(&file, "in4.running_var")->data,
                        16 * sizeof(float));
    assert_memory_equal(model->residual[0][1].norm.running_mean,
                        st_find(&file, "res1.in2.running_mean")->data, 32 * sizeof(float));
    style_model_free(model);

    /* num_batches_tracked stays ignored with batch norm, I64 included. */
    dtype_plan plan = {"F32", NULL, ".num_batches_tracked"};
    size_t size;
    unsigned char *bytes = serialize_dtypes(&file, &plan, &size);
    style_model_free(load_ok(bytes, size, "batch norm, I64 num_batches_tracked"));
    free(bytes);

    /* Running stats are required. */
    const char *required[] = {"in1.running_mean", "in3.running_var", "res1.in2.running_mean",
                              "in5.running_var"};
    for (size_t i = 0; i < sizeof required / sizeof *required; i++) {
        st_file copy;
        test_build_model_file(&c, 23, &copy);
        drop_tensor(&copy, required[i]);
        char part[96];
        snprintf(part, sizeof part, "missing tensor '%s'", required[i]);
        expect_file_fail(&copy, STYLE_ERR_FORMAT, part, NULL, required[i]);
        st_file_clear(&copy);
    }

    /* ... with the right shape, non-negative variances, not NaN. */
    int64_t wrong[1] = {15};
    reshape_tensor(&file, "in4.running_mean", 1, wrong);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "'in4.running_mean'", "[15]", "running_mean shape");
    st_file_clear(&file);
    test_build_model_file(&c, 23, &file);
    float *var = st_find(&file, "in4.running_var")->data;
    var[3] = -0.5f;
    expect_file_fail(&file, STYLE_ERR_FORMAT, "'in4.running_var'", "negative", "negative variance");
    var[3] = NAN;
    expect_file_fail(&file, STYLE_ERR_FORMAT, "'in4.running_var'", "NaN", "NaN variance");
    var[3] = 0.0f; /* zero is a valid variance (eps keeps the division finite) */
    style_model_free(load_file_ok(&file, "zero variance"));

    /* With instance norm the same tensors would be ignored; with batch they are used, so an
     * extra running_mean on a norm that does not exist is unexpected. */
    int64_t three[1] = {3};
    add_tensor(&file, "in6.running_mean", 1, three, 0.0f);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "unexpected tensor 'in6.running_mean'", NULL,
                     "stray running_mean under batch norm");
    st_file_clear(&file);
}

/* ---- Missing, misshapen and unexpected tensors ------------------------------------------ */

static void test_missing_tensors(void **state)
{
    (void)state;
    test_model_config c = error_config();
    const char *names[] = {"conv1.conv2d.weight",
                           "in1.weight",
                           "in2.bias",
                           "conv3.conv2d.weight",
                           "res1.in1.weight",
                           "res2.conv2.conv2d.weight",
                           "res2.in2.bias",
                           "deconv1.conv2d.weight",
                           "in4.weight",
                           "in5.bias",
                           "deconv3.conv2d.weight"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        st_file file;
        test_build_model_file(&c, 29, &file);
        drop_tensor(&file, names[i]);
        char part[96];
        snprintf(part, sizeof part, "missing tensor '%s'", names[i]);
        expect_file_fail(&file, STYLE_ERR_FORMAT, part, NULL, names[i]);
        st_file_clear(&file);
    }

    /* final_norm = instance needs in6; without it in6 is unexpected. */
    st_file file;
    test_model_config with_in6 = c;
    with_in6.final_norm = true;
    test_build_model_file(&with_in6, 29, &file);
    drop_tensor(&file, "in6.bias");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "missing tensor 'in6.bias'", NULL, "in6.bias");
    set_metadata(&file, "libstyle.final_norm", "none");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "unexpected tensor 'in6.weight'", NULL,
                     "in6 without final_norm");
    st_file_clear(&file);

    /* Dropping a single bias is fine (biases are optional, absent = 0). */
    test_build_model_file(&c, 29, &file);
    drop_tensor(&file, "conv2.conv2d.bias");
    style_model *model = load_file_ok(&file, "one bias missing");
    assert_null(model->down[1].conv.bias);
    assert_non_null(model->down[0].conv.bias);
    style_model_free(model);
    st_file_clear(&file);

    /* An empty safetensors file is a model with every tensor missing. */
    static const char empty_header[] = "\x02\0\0\0\0\0\0\0{}";
    expect_bytes_fail(empty_header, 10, STYLE_ERR_FORMAT, "missing tensor 'conv1.conv2d.weight'",
                      NULL, "no tensors");
}

static void test_unexpected_tensors(void **state)
{
    (void)state;
    test_model_config c = error_config();
    int64_t shape[1] = {128};
    struct {
        const char *name, *part;
    } cases[] = {
        {"foo.weight", "unexpected tensor 'foo.weight'"},
        /* a block after a gap is not a residual block */
        {"res4.conv1.conv2d.weight", "unexpected tensor 'res4.conv1.conv2d.weight'"},
        {"res3.in1.weight", "unexpected tensor 'res3.in1.weight'"},
        {"in1.extra", "unexpected tensor 'in1.extra'"},
        {"conv1.conv2d.weight_orig", "unexpected tensor 'conv1.conv2d.weight_orig'"},
        {"deconv4.conv2d.bias", "unexpected tensor 'deconv4.conv2d.bias'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st_file file;
        test_build_model_file(&c, 31, &file);
        add_tensor(&file, cases[i].name, 1, shape, 0.0f);
        expect_file_fail(&file, STYLE_ERR_FORMAT, cases[i].part, NULL, cases[i].name);
        st_file_clear(&file);
    }
}

static void test_wrong_shapes(void **state)
{
    (void)state;
    test_model_config c = error_config();
    struct {
        const char *name;
        int32_t ndim;
        int64_t shape[4];
        const char *got, *want;
    } cases[] = {
        {"in1.weight", 1, {31}, "has shape [31]", "expected [32]"},
        {"in1.weight", 2, {1, 32}, "has shape [1,32]", "expected [32]"},
        {"conv1.conv2d.bias", 1, {31}, "has shape [31]", "expected [32]"},
        /* RGBA input */
        {"conv1.conv2d.weight", 4, {32, 4, 9, 9}, "has shape [32,4,9,9]", "expected [*,3,*,*]"},
        {"conv1.conv2d.weight", 2, {32, 243}, "has shape [32,243]", "expected [*,3,*,*]"},
        /* inconsistent widths: conv2's input channels differ from conv1's output channels */
        {"conv2.conv2d.weight", 4, {64, 16, 3, 3}, "has shape [64,16,3,3]", "expected [*,32,*,*]"},
        {"in2.weight", 1, {63}, "has shape [63]", "expected [64]"},
        {"conv3.conv2d.weight", 4, {128, 32, 3, 3}, "[128,32,3,3]", "expected [*,64,*,*]"},
        {"res1.conv1.conv2d.weight", 4, {128, 64, 3, 3}, "[128,64,3,3]", "expected [128,128,*,*]"},
        {"res2.conv2.conv2d.weight", 4, {64, 128, 3, 3}, "[64,128,3,3]", "expected [128,128,*,*]"},
        {"res2.in1.bias", 1, {64}, "has shape [64]", "expected [128]"},
        {"deconv1.conv2d.weight", 4, {32, 128, 3, 3}, "[32,128,3,3]", "expected [64,128,*,*]"},
        {"deconv1.conv2d.bias", 1, {32}, "has shape [32]", "expected [64]"},
        {"deconv2.conv2d.weight", 4, {32, 32, 3, 3}, "[32,32,3,3]", "expected [32,64,*,*]"},
        {"deconv3.conv2d.weight", 4, {4, 32, 9, 9}, "[4,32,9,9]", "expected [3,32,*,*]"},
        {"deconv3.conv2d.bias", 1, {4}, "has shape [4]", "expected [3]"},
        /* kernels: conv1 even, non-square, too large */
        {"conv1.conv2d.weight", 4, {32, 3, 8, 8}, "'conv1.conv2d.weight'", "even kernel"},
        {"conv2.conv2d.weight", 4, {64, 32, 2, 2}, "'conv2.conv2d.weight'", "even kernel"},
        {"conv2.conv2d.weight", 4, {64, 32, 3, 5}, "'conv2.conv2d.weight'", "3x5 kernel"},
        {"deconv3.conv2d.weight", 4, {3, 32, 17, 17}, "'deconv3.conv2d.weight'", "17x17"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        st_file file;
        test_build_model_file(&c, 37, &file);
        reshape_tensor(&file, cases[i].name, cases[i].ndim, cases[i].shape);
        char what[128];
        snprintf(what, sizeof what, "%s %s", cases[i].name, cases[i].got);
        expect_file_fail(&file, STYLE_ERR_FORMAT, cases[i].got, cases[i].want, what);
        st_file_clear(&file);
    }

    /* Transposed upsampling wants deconv1/2 in ConvTranspose2d layout [in, out, k, k]. */
    test_model_config t = error_config();
    t.upsample = "transposed_tf";
    st_file file;
    test_build_model_file(&t, 37, &file);
    int64_t oihw[4] = {64, 128, 3, 3};
    reshape_tensor(&file, "deconv1.conv2d.weight", 4, oihw);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "[64,128,3,3]", "expected [128,64,*,*]",
                     "transposed deconv1 in OIHW");
    st_file_clear(&file);
    /* transposed_torch needs an odd kernel (padding=1, output_padding=1 is for k = 3) */
    t.upsample = "transposed_torch";
    test_build_model_file(&t, 37, &file);
    int64_t even[4] = {128, 64, 4, 4};
    reshape_tensor(&file, "deconv1.conv2d.weight", 4, even);
    expect_file_fail(&file, STYLE_ERR_FORMAT, "'deconv1.conv2d.weight'", "transposed kernel",
                     "transposed_torch even kernel");
    st_file_clear(&file);
}

/* ---- Metadata --------------------------------------------------------------------------- */

static void expect_metadata_fail(const char *key, const char *value, style_status expected,
                                 const char *part1, const char *part2)
{
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 41, &file);
    set_metadata(&file, key, value);
    char what[160];
    snprintf(what, sizeof what, "%s = '%s'", key, value);
    expect_file_fail(&file, expected, part1, part2, what);
    st_file_clear(&file);
}

static void expect_metadata_ok(const char *key, const char *value)
{
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 41, &file);
    set_metadata(&file, key, value);
    char what[160];
    snprintf(what, sizeof what, "%s = '%s'", key, value);
    style_model_free(load_file_ok(&file, what));
    st_file_clear(&file);
}

static void test_metadata_errors(void **state)
{
    (void)state;
    /* libstyle.styles is known, but only with its architecture. */
    expect_metadata_fail("libstyle.styles", "[\"a\"]", STYLE_ERR_FORMAT, "libstyle.styles",
                         "johnson-cin");
    /* Unknown libstyle.* keys are typos and refused. */
    const char *unknown[] = {"libstyle.paddding",  "libstyle.",     "libstyle.Padding",
                             "libstyle.norm_eps ", "libstyle.kind", "libstyle.encoder.tap"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        char part[96];
        snprintf(part, sizeof part, "'%s'", unknown[i]);
        expect_metadata_fail(unknown[i], "reflect", STYLE_ERR_FORMAT, "unknown metadata key", part);
    }

    /* Every enumerated key refuses values outside its list, naming the key and the value. */
    const char *bad[][2] = {
        {"libstyle.padding", "same"},
        {"libstyle.padding", "Reflect"},
        {"libstyle.padding", ""},
        {"libstyle.upsample", "bilinear"},
        {"libstyle.upsample", "transposed"},
        {"libstyle.norm", "layer"},
        {"libstyle.norm", "instance "},
        {"libstyle.output", "sigmoid"},
        {"libstyle.output", "tanh"},
        {"libstyle.final_norm", "batch"},
        {"libstyle.final_norm", "true"},
        {"libstyle.arch", "resnet"},
        {"libstyle.arch", "Johnson"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char part[96];
        snprintf(part, sizeof part, "'%s'", bad[i][1]);
        expect_metadata_fail(bad[i][0], bad[i][1], STYLE_ERR_UNSUPPORTED, bad[i][0], part);
    }
    /* Architectures the format defines but this version does not run. */
    /* johnson-cin on single-style tensors: its names are required, then its shapes. */
    expect_metadata_fail("libstyle.arch", "johnson-cin", STYLE_ERR_FORMAT, "johnson-cin",
                         "libstyle.styles");
    /* adain is read (tests/arch/test_adain.c): a Johnson file marked adain lacks its keys. */
    expect_metadata_fail("libstyle.arch", "adain", STYLE_ERR_FORMAT, "libstyle.encoder.tap",
                         "missing");
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 43, &file);
    set_metadata(&file, "libstyle.arch", "johnson-cin");
    set_metadata(&file, "libstyle.styles", "[\"candy\", \"mosaic\"]");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "'in1.weight' has shape [8]", "expected [2,8]",
                     "johnson-cin with libstyle.styles and [C] norms");
    /* ... and adain with one of its keys only: the next missing one is named. */
    set_metadata(&file, "libstyle.arch", "adain");
    set_metadata(&file, "libstyle.styles", NULL);
    set_metadata(&file, "libstyle.encoder.tap", "relu4_1");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "libstyle.encoder.layers", "missing",
                     "adain with libstyle.encoder.tap only");
    /* The adain keys are typos in a Johnson file. */
    set_metadata(&file, "libstyle.arch", "johnson");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "libstyle.encoder.tap", "unknown",
                     "johnson with libstyle.encoder.tap");
    st_file_clear(&file);

    /* norm_eps: a finite positive decimal. */
    const char *eps[] = {"abc", "-1",    "nan", "NaN",   "0",     "-0",    "inf",
                         "",    "1e-5x", "2",   "1e400", "0,001", "1e-50", "0x"};
    for (size_t i = 0; i < sizeof eps / sizeof *eps; i++) {
        char part[96];
        snprintf(part, sizeof part, "'%s'", eps[i]);
        expect_metadata_fail("libstyle.norm_eps", eps[i], STYLE_ERR_FORMAT, "libstyle.norm_eps",
                             part);
    }
    expect_metadata_ok("libstyle.norm_eps", "0.001");
    expect_metadata_ok("libstyle.norm_eps", "1E-3");
    expect_metadata_ok("libstyle.norm_eps", "1e-05");

    /* format_version: a larger major version is refused with a message saying so. */
    expect_metadata_fail("libstyle.format_version", "2", STYLE_ERR_UNSUPPORTED, "version 2",
                         "newer");
    expect_metadata_fail("libstyle.format_version", "2.0", STYLE_ERR_UNSUPPORTED, "version 2",
                         "newer");
    expect_metadata_fail("libstyle.format_version", "17", STYLE_ERR_UNSUPPORTED, "version 17",
                         "newer");
    const char *versions[] = {"abc", "0", "-1", "", "1x", "v1"};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        char part[96];
        snprintf(part, sizeof part, "'%s'", versions[i]);
        expect_metadata_fail("libstyle.format_version", versions[i], STYLE_ERR_FORMAT,
                             "libstyle.format_version", part);
    }
    /* A newer file may carry keys this version does not know: still "newer", not a typo. */
    test_build_model_file(&c, 43, &file);
    set_metadata(&file, "libstyle.format_version", "2");
    set_metadata(&file, "libstyle.quantization", "int8");
    expect_file_fail(&file, STYLE_ERR_UNSUPPORTED, "version 2", "newer", "v2 with a new key");
    st_file_clear(&file);
    expect_metadata_ok("libstyle.format_version", "1");
    expect_metadata_ok("libstyle.format_version", "1.0");

    /* The free-text keys are known and accepted. */
    expect_metadata_ok("libstyle.name", "Candy");
    expect_metadata_ok("libstyle.license", "CC-BY-4.0");
    expect_metadata_ok("libstyle.source", "https://github.com/pytorch/examples");
    expect_metadata_ok("libstyle.description", "");
    expect_metadata_ok("libstyle.training", "{\"style\": \"candy.jpg\"}");
}

/* ---- Not a model file ------------------------------------------------------------------- */

static void test_not_safetensors(void **state)
{
    (void)state;
    static const char text[] = "hello, this is a text file and not a model at all\n";
    expect_bytes_fail(text, sizeof text - 1, STYLE_ERR_FORMAT, "header length", NULL, "text");
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                        0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    expect_bytes_fail(png, sizeof png, STYLE_ERR_FORMAT, "this is a PNG image, not a style model",
                      "libstyle stylize --model", "PNG");
    static const unsigned char zip[32] = {'P', 'K', 3, 4}; /* a ZIP without torch's data.pkl */
    expect_bytes_fail(zip, sizeof zip, STYLE_ERR_FORMAT, "this is a ZIP archive, not a style model",
                      NULL, "zip");
    static const unsigned char zeros[64] = {0};
    expect_bytes_fail(zeros, sizeof zeros, STYLE_ERR_FORMAT, "JSON", NULL, "zeros");
    static const char array[] = "\x05\0\0\0\0\0\0\0[1,2]";
    expect_bytes_fail(array, sizeof array - 1, STYLE_ERR_FORMAT, "not an object", NULL, "array");
    static const char broken[] = "\x05\0\0\0\0\0\0\0{\"a\":";
    expect_bytes_fail(broken, sizeof broken - 1, STYLE_ERR_FORMAT, "JSON", NULL, "broken JSON");
    static const char shortfile[] = "\x02\0\0\0";
    expect_bytes_fail(shortfile, 4, STYLE_ERR_FORMAT, "too short", NULL, "4 bytes");
    expect_bytes_fail("", 0, STYLE_ERR_FORMAT, "empty file (0 bytes)", NULL, "empty file");
    /* A feature network (section 2) is not a style model. */
    static const char feature[] = "{\"__metadata__\":{\"libstyle.kind\":\"feature-net\"}}";
    size_t size = 8 + sizeof feature - 1;
    unsigned char *bytes = malloc(size);
    put_le(bytes, sizeof feature - 1, 8);
    memcpy(bytes + 8, feature, sizeof feature - 1);
    expect_bytes_fail(bytes, size, STYLE_ERR_UNSUPPORTED, "feature (loss) network file", NULL,
                      "feature net");
    free(bytes);
}

static void expect_truncated(const unsigned char *bytes, size_t cut)
{
    unsigned char *copy = malloc(cut ? cut : 1); /* exact size: over-reads are caught */
    assert_non_null(copy);
    memcpy(copy, bytes, cut);
    style_model *model = SENTINEL_MODEL;
    style__clear_error();
    style_status status = style_model_load_memory(copy, cut, NULL, &model);
    if (status != STYLE_ERR_FORMAT || model != NULL || !strstr(style_last_error(), "<memory>")) {
        print_error("cut at %zu: status %d (%s), message '%s'\n", cut, status,
                    style_status_string(status), style_last_error());
        fail();
    }
    free(copy);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    test_model_config c = small_config();
    size_t size;
    unsigned char *bytes = test_build_model_bytes(&c, 43, &size);
    size_t header_end = 8 + (size_t)(bytes[0] | bytes[1] << 8 | bytes[2] << 16);
    assert_true(header_end < size);
    /* Every cut in the length and the header and just after it, then every 997 bytes. */
    for (size_t cut = 0; cut < header_end + 64; cut++)
        expect_truncated(bytes, cut);
    for (size_t cut = header_end + 64; cut < size; cut += 997)
        expect_truncated(bytes, cut);
    expect_truncated(bytes, size - 1);
    /* Through a path too: FORMAT (the read succeeds; the content is short) naming the file. */
    const size_t cuts[] = {0, 3, 8, header_end / 2, header_end, header_end + 1, size / 2, size - 4};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu", cuts[i]);
        expect_bytes_fail(bytes, cuts[i], STYLE_ERR_FORMAT, NULL, NULL, what);
    }
    /* Trailing bytes are corrupt too. */
    unsigned char *longer = malloc(size + 4);
    memcpy(longer, bytes, size);
    memset(longer + size, 0, 4);
    expect_bytes_fail(longer, size + 4, STYLE_ERR_FORMAT, "trailing", NULL, "4 trailing bytes");
    free(longer);

    /* Single-byte corruptions of the header: whatever they make of it, no crash, no leak,
     * and a clean status. (Some are still valid files, e.g. a metadata key no longer starting
     * with "libstyle." or a changed weight value.) */
    const unsigned char values[] = {'"', '7', 0, '{', 'x'};
    int outcomes[10] = {0};
    for (size_t pos = 0; pos < header_end; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            if ((pos % 3 != 0 && v >= 2) || bytes[pos] == values[v]) continue;
            unsigned char saved = bytes[pos];
            bytes[pos] = values[v];
            style_model *model = SENTINEL_MODEL;
            style_status status = style_model_load_memory(bytes, size, NULL, &model);
            bytes[pos] = saved;
            if (status == STYLE_OK) {
                assert_non_null(model);
                style_model_free(model);
            } else {
                assert_null(model);
                assert_true(status == STYLE_ERR_FORMAT || status == STYLE_ERR_UNSUPPORTED);
                assert_true(style_last_error()[0] != '\0');
            }
            outcomes[status]++;
        }
    print_message("  header corruptions: %d loaded, %d FORMAT, %d UNSUPPORTED\n",
                  outcomes[STYLE_OK], outcomes[STYLE_ERR_FORMAT], outcomes[STYLE_ERR_UNSUPPORTED]);
    assert_true(outcomes[STYLE_ERR_FORMAT] > 100);
    free(bytes);
}

/* ---- Paths, arguments, limits ----------------------------------------------------------- */

static void expect_path_fail(const char *path, const style_load_options *options,
                             style_status expected, const char *part, const char *what)
{
    style_model *model = SENTINEL_MODEL;
    style__clear_error();
    style_status status = style_model_load(path, options, &model);
    check_failure(status, model, expected, path, part, NULL, what, "path");
}

static void test_path_errors(void **state)
{
    (void)state;
    expect_path_fail(g_dir, NULL, STYLE_ERR_IO, "directory", "a directory");
    char missing[4096];
    snprintf(missing, sizeof missing, "%s", test_path(g_dir, "no-such-model.safetensors"));
    expect_path_fail(missing, NULL, STYLE_ERR_IO, "cannot open", "missing file");
    snprintf(missing, sizeof missing, "%s", test_path(g_dir, "no-such-dir/model.safetensors"));
    expect_path_fail(missing, NULL, STYLE_ERR_IO, "cannot open", "missing directory");
    expect_path_fail("/dev/null", NULL, STYLE_ERR_IO, "not a regular file", "/dev/null");
    char empty[4096];
    snprintf(empty, sizeof empty, "%s", test_path(g_dir, "empty.safetensors"));
    assert_int_equal(test_write_file(empty, "", 0), 0);
    expect_path_fail(empty, NULL, STYLE_ERR_FORMAT, "empty file (0 bytes)", "empty file");
    remove(empty);

    /* NULL arguments and unset options. */
    style_model *model = SENTINEL_MODEL;
    assert_int_equal(style_model_load(NULL, NULL, &model), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(model);
    assert_int_equal(style_model_load(empty, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);
    model = SENTINEL_MODEL;
    assert_int_equal(style_model_load_memory(NULL, 10, NULL, &model), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(model);
    assert_int_equal(style_model_load_memory("x", 1, NULL, NULL), STYLE_ERR_INVALID_ARGUMENT);

    test_model_config c = small_config();
    size_t size;
    unsigned char *bytes = test_build_model_bytes(&c, 47, &size);
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "valid.safetensors"));
    assert_int_equal(test_write_file(path, bytes, size), 0);
    style_load_options unset = {0};
    model = SENTINEL_MODEL;
    assert_int_equal(style_model_load(path, &unset, &model), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(model);
    assert_non_null(strstr(style_last_error(), "struct_size"));
    model = SENTINEL_MODEL;
    assert_int_equal(style_model_load_memory(bytes, size, &unset, &model),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_null(model);
    assert_non_null(strstr(style_last_error(), "struct_size"));

    /* The path load works, and its info matches the memory load. */
    style_model *from_path = NULL;
    assert_int_equal(style_model_load(path, NULL, &from_path), STYLE_OK);
    check_info(from_path, &c);
    style_model_free(from_path);
    free(bytes);
    remove(path);
}

static void test_max_bytes(void **state)
{
    (void)state;
    test_model_config c = small_config();
    size_t size;
    unsigned char *bytes = test_build_model_bytes(&c, 53, &size);
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "limited.safetensors"));
    assert_int_equal(test_write_file(path, bytes, size), 0);

    style_load_options options = {.struct_size = sizeof options, .max_bytes = size - 1};
    style_model *model = SENTINEL_MODEL;
    style__clear_error();
    assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_ERR_LIMIT);
    assert_null(model);
    assert_non_null(strstr(style_last_error(), "limit"));
    options.max_bytes = 1;
    expect_path_fail(path, &options, STYLE_ERR_LIMIT, "limit", "max_bytes 1");
    options.max_bytes = size - 1;
    expect_path_fail(path, &options, STYLE_ERR_LIMIT, "limit", "max_bytes size - 1");

    /* Exactly the size is allowed; 0 means the 2 GiB default. */
    options.max_bytes = size;
    assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
    style_model_free(model);
    assert_int_equal(style_model_load(path, &options, &model), STYLE_OK);
    style_model_free(model);
    options.max_bytes = 0;
    assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
    style_model_free(model);
    free(bytes);
    remove(path);
}

/* The caps on the header, the tensor count and the tensor bytes: over one is STYLE_ERR_LIMIT,
 * checked before the tensors are allocated; at it loads; 0 is the default. */
static void test_load_caps(void **state)
{
    (void)state;
    test_model_config c = small_config();
    size_t size;
    unsigned char *bytes = test_build_model_bytes(&c, 57, &size);
    st_file file;
    assert_int_equal(st_parse(bytes, size, &file), STYLE_OK);
    uint64_t header = 0, tensor_bytes = 0;
    memcpy(&header, bytes, 8); /* little-endian host */
    for (size_t i = 0; i < file.tensor_count; i++) tensor_bytes += file.tensors[i].count * 4;
    uint64_t exact[3] = {header, file.tensor_count, tensor_bytes};
    const char *words[3] = {"header", "tensors", "float32"};
    for (int k = 0; k < 3; k++) {
        style_load_options options = {.struct_size = sizeof options};
        uint64_t *field = k == 0   ? &options.max_header_bytes
                          : k == 1 ? &options.max_tensors
                                   : &options.max_tensor_bytes;
        style_model *model = SENTINEL_MODEL;
        *field = exact[k] - 1;
        /* Over the cap: refused before what it guards is allocated. The parse allocates the
         * metadata (a table, key and value each), then the tensor and span tables, a name per
         * tensor, then the tensors' data: the allocation that the cap guards is made to fail,
         * so a check made after it would show as NOMEM. */
        long metadata_allocations = file.metadata_count ? 1 + 2 * (long)file.metadata_count : 0;
        long guarded = k == 0   ? 1
                       : k == 1 ? metadata_allocations + 1
                                : metadata_allocations + 2 + (long)file.tensor_count + 1;
        style__alloc_fail_after(guarded);
        style_status status = style_model_load_memory(bytes, size, &options, &model);
        style__alloc_fail_after(0);
        if (status != STYLE_ERR_LIMIT) print_error("%s: %s\n", words[k], style_last_error());
        assert_int_equal(status, STYLE_ERR_LIMIT);
        assert_null(model);
        assert_non_null(strstr(style_last_error(), words[k]));
        *field = exact[k];
        assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
        style_model_free(model);
        *field = 0;
        assert_int_equal(style_model_load_memory(bytes, size, &options, &model), STYLE_OK);
        style_model_free(model);
    }
    /* struct_size versioning: a caller built against the first style_load_options (up to
     * max_bytes) gets the defaults for the caps, whatever lies past its struct. */
    struct {
        style_load_options options;
        unsigned char garbage[64];
    } old;
    memset(&old, 0xff, sizeof old);
    old.options.struct_size = offsetof(style_load_options, max_header_bytes);
    old.options.log = NULL;
    old.options.log_user = NULL;
    old.options.max_bytes = 0;
    style_model *model = NULL;
    assert_int_equal(style_model_load_memory(bytes, size, &old.options, &model), STYLE_OK);
    style_model_free(model);
    /* The smallest struct_size accepted is the struct_size field alone. */
    old.options.struct_size = sizeof(size_t);
    assert_int_equal(style_model_load_memory(bytes, size, &old.options, &model), STYLE_OK);
    style_model_free(model);
    old.options.struct_size = 0;
    assert_int_equal(style_model_load_memory(bytes, size, &old.options, &model),
                     STYLE_ERR_INVALID_ARGUMENT);
    st_file_clear(&file);
    free(bytes);
}

/* ---- Locale ----------------------------------------------------------------------------- */

static int restore_c_locale(void **state)
{
    (void)state;
    setlocale(LC_ALL, "C");
    return 0;
}

/* The saved file's metadata value of `key`. */
static char *saved_metadata(const char *path, const char *key)
{
    size_t size;
    void *bytes = test_read_file(path, &size);
    assert_non_null(bytes);
    st_file file;
    assert_int_equal(st_parse(bytes, size, &file), STYLE_OK);
    const char *value = st_metadata_find(&file, key);
    char *copy = value ? strdup(value) : NULL;
    st_file_clear(&file);
    free(bytes);
    return copy;
}

static void test_locale_independence(void **state)
{
    (void)state;
    const char *candidates[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8"};
    const char *active = NULL;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !active; i++)
        if (setlocale(LC_NUMERIC, candidates[i])) active = candidates[i];
    if (!active) {
        print_message("  skipping the decimal-comma part: no de_DE or fr_FR locale is installed "
                      "(see `locale -a`)\n");
        return;
    }
    char probe[16];
    snprintf(probe, sizeof probe, "%.3f", 0.001);
    assert_string_equal(probe, "0,001"); /* the process really uses a decimal comma now */
    print_message("  LC_NUMERIC=%s\n", active);

    test_model_config c = small_config();
    c.eps = "0.001";
    st_file file;
    test_build_model_file(&c, 59, &file);
    style_model *model = load_file_ok(&file, "eps 0.001 under a comma locale");
    style_model_info info;
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_true(info.norm_eps == 0.001f);

    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "locale.safetensors"));
    assert_int_equal(style_model_save(model, path), STYLE_OK);
    char *eps = saved_metadata(path, "libstyle.norm_eps");
    assert_non_null(eps);
    assert_string_equal(eps, "0.001");
    free(eps);
    style_model_free(model);
    /* The saved file reloads to the same epsilon, still under the comma locale. */
    assert_int_equal(style_model_load(path, NULL, &model), STYLE_OK);
    assert_int_equal(style_model_get_info(model, &info), STYLE_OK);
    assert_true(info.norm_eps == 0.001f);
    style_model_free(model);

    /* The locale's own notation is not the file format's. */
    set_metadata(&file, "libstyle.norm_eps", "0,001");
    expect_file_fail(&file, STYLE_ERR_FORMAT, "libstyle.norm_eps", "'0,001'", "eps 0,001");
    st_file_clear(&file);
    remove(path);
    setlocale(LC_NUMERIC, "C");
}

/* ---- Save ------------------------------------------------------------------------------- */

/* Tensors of `a` that carry data equal `b`'s, in order, and b has nothing else. */
static void expect_same_tensors(const st_file *a, const st_file *b)
{
    size_t j = 0;
    for (size_t i = 0; i < a->tensor_count; i++) {
        const st_tensor *t = &a->tensors[i];
        if (!t->data) continue;
        assert_true(j < b->tensor_count);
        const st_tensor *u = &b->tensors[j++];
        assert_string_equal(u->name, t->name);
        assert_int_equal(u->ndim, t->ndim);
        assert_memory_equal(u->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
        assert_int_equal(u->count, t->count);
        assert_string_equal(u->dtype, "F32");
        assert_memory_equal(u->data, t->data, t->count * sizeof(float));
    }
    assert_int_equal(j, b->tensor_count);
}

static void expect_same_info(const style_model *a, const style_model *b)
{
    style_model_info x, y;
    assert_int_equal(style_model_get_info(a, &x), STYLE_OK);
    assert_int_equal(style_model_get_info(b, &y), STYLE_OK);
    assert_string_equal(x.arch, y.arch);
    assert_string_equal(x.padding, y.padding);
    assert_string_equal(x.upsample, y.upsample);
    assert_string_equal(x.norm, y.norm);
    assert_string_equal(x.output, y.output);
    assert_string_equal(x.final_norm, y.final_norm);
    assert_true(x.norm_eps == y.norm_eps);
    assert_int_equal(x.format_version, y.format_version);
    assert_memory_equal(x.widths, y.widths, sizeof x.widths);
    assert_int_equal(x.residual_blocks, y.residual_blocks);
    assert_int_equal(x.has_bias, y.has_bias);
    assert_int_equal(x.parameter_count, y.parameter_count);
}

/* Number of entries in `dir`, and how many look like temporary files. */
static int count_entries(const char *dir, int *temporaries)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *temporaries = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        n++;
        if (strstr(e->d_name, ".tmp")) ++*temporaries;
    }
    closedir(d);
    return n;
}

/* Saves, checks every libstyle.* key is explicit with the expected value, reloads, compares. */
static void round_trip(const st_file *source, const test_model_config *c, const char *path,
                       const char *expected_eps)
{
    size_t size;
    unsigned char *bytes = serialize(source, &size);
    style_model *model = load_ok(bytes, size, "round trip source");
    free(bytes);
    assert_int_equal(style_model_save(model, path), STYLE_OK);

    const char *explicit_keys[][2] = {
        {"libstyle.format_version", "1"},
        {"libstyle.arch", "johnson"},
        {"libstyle.padding", c->padding},
        {"libstyle.upsample", c->upsample},
        {"libstyle.norm", c->norm},
        {"libstyle.norm_eps", expected_eps},
        {"libstyle.output", c->output},
        {"libstyle.final_norm", c->final_norm ? "instance" : "none"},
    };
    for (size_t i = 0; i < sizeof explicit_keys / sizeof *explicit_keys; i++) {
        char *value = saved_metadata(path, explicit_keys[i][0]);
        if (!value) fail_msg("saved file lacks %s", explicit_keys[i][0]);
        if (strcmp(value, explicit_keys[i][1]) != 0)
            fail_msg("saved %s = '%s', expected '%s'", explicit_keys[i][0], value,
                     explicit_keys[i][1]);
        free(value);
    }

    style_model *reloaded = NULL;
    assert_int_equal(style_model_load(path, NULL, &reloaded), STYLE_OK);
    check_info(reloaded, c);
    expect_same_info(model, reloaded);
    expect_same_tensors(&model->file, &reloaded->file);
    /* Every metadata entry of the source survives (explicit keys with their values). */
    for (size_t i = 0; i < source->metadata_count; i++) {
        const char *value = style_model_metadata_get(reloaded, source->metadata[i].key);
        assert_non_null(value);
        if (strcmp(source->metadata[i].key, "libstyle.norm_eps") != 0)
            assert_string_equal(value, source->metadata[i].value);
    }
    /* Saving the reloaded model gives the same bytes: the format is a fixed point. */
    char second[4096];
    snprintf(second, sizeof second, "%s.again", path);
    assert_int_equal(style_model_save(reloaded, second), STYLE_OK);
    size_t size1, size2;
    void *first_bytes = test_read_file(path, &size1),
         *second_bytes = test_read_file(second, &size2);
    assert_non_null(first_bytes);
    assert_non_null(second_bytes);
    assert_int_equal(size1, size2);
    assert_memory_equal(first_bytes, second_bytes, size1);
    free(first_bytes);
    free(second_bytes);
    remove(second);
    style_model_free(reloaded);
    style_model_free(model);
}

static void test_save_round_trip(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "saved.safetensors"));

    /* A bare file: the saved copy spells out every default. */
    test_model_config c = small_config();
    st_file file;
    test_build_model_file(&c, 61, &file);
    clear_metadata(&file);
    round_trip(&file, &c, path, "1e-05");
    st_file_clear(&file);

    /* Some keys present, user metadata and legacy/extra tensors kept. */
    c = small_config();
    c.padding = "tf_same", c.upsample = "transposed_torch", c.output = "tanh150";
    c.final_norm = true, c.eps = "0.001", c.legacy_running_stats = true;
    test_build_model_file(&c, 67, &file);
    set_metadata(&file, "libstyle.arch", NULL);
    set_metadata(&file, "libstyle.format_version", NULL);
    set_metadata(&file, "author", "someone");
    set_metadata(&file, "libstyle.name", "Candy");
    set_metadata(&file, "libstyle.license", "CC0-1.0");
    int64_t four[1] = {4};
    add_tensor(&file, "extra.calibration", 1, four, 0.125f);
    round_trip(&file, &c, path, "0.001");
    st_file_clear(&file);

    /* Batch norm with I64 num_batches_tracked: those (unconvertible, ignored) are dropped. */
    c = small_config();
    c.norm = "batch", c.bias = false, c.eps = "0.0001";
    test_build_model_file(&c, 71, &file);
    dtype_plan plan = {"F32", NULL, ".num_batches_tracked"};
    size_t size;
    unsigned char *bytes = serialize_dtypes(&file, &plan, &size);
    style_model *model = load_ok(bytes, size, "batch I64");
    free(bytes);
    assert_int_equal(style_model_save(model, path), STYLE_OK);
    style_model *reloaded = NULL;
    assert_int_equal(style_model_load(path, NULL, &reloaded), STYLE_OK);
    check_info(reloaded, &c);
    expect_same_tensors(&model->file, &reloaded->file);
    assert_null(st_find(&reloaded->file, "in1.num_batches_tracked"));
    char *eps = saved_metadata(path, "libstyle.norm_eps");
    assert_string_equal(eps, "0.0001");
    free(eps);
    style_model_free(reloaded);

    /* Overwriting an existing file works and leaves no temporary behind. */
    assert_int_equal(style_model_save(model, path), STYLE_OK);
    int temporaries;
    count_entries(g_dir, &temporaries);
    assert_int_equal(temporaries, 0);
    style_model_free(model);
    st_file_clear(&file);
    remove(path);
}

static void test_save_errors(void **state)
{
    (void)state;
    test_model_config c = small_config();
    style_model *model = test_build_model(&c, 73);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_path(g_dir, "save-errors"));
    assert_int_equal(mkdir(dir, 0700), 0);

    assert_int_equal(style_model_save(NULL, test_path(dir, "x.safetensors")),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_model_save(model, NULL), STYLE_ERR_INVALID_ARGUMENT);

    /* A directory that does not exist. */
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(dir, "missing/model.safetensors"));
    style__clear_error();
    assert_int_equal(style_model_save(model, path), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "model_save"));
    assert_non_null(strstr(style_last_error(), path));
    int temporaries;
    assert_int_equal(count_entries(dir, &temporaries), 0);

    /* A target that is a directory: the rename fails after the temporary file was written,
     * and the temporary is removed. */
    snprintf(path, sizeof path, "%s", test_path(dir, "taken"));
    assert_int_equal(mkdir(path, 0700), 0);
    style__clear_error();
    assert_int_equal(style_model_save(model, path), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), path));
    assert_int_equal(count_entries(dir, &temporaries), 1); /* just "taken" */
    assert_int_equal(temporaries, 0);
    rmdir(path);
    style_model_free(model);
    test_remove_tree(dir);
}

/* ---- Allocation failures ---------------------------------------------------------------- */

static void test_alloc_failures_load(void **state)
{
    (void)state;
    test_model_config c = small_config();
    c.legacy_running_stats = true;
    st_file file;
    test_build_model_file(&c, 79, &file);
    set_metadata(&file, "author", "someone");
    dtype_plan plan = {NULL, NULL, ".num_batches_tracked"}; /* mixed dtypes, I64 counters */
    size_t size;
    unsigned char *bytes = serialize_dtypes(&file, &plan, &size);
    char path[4096];
    snprintf(path, sizeof path, "%s", test_path(g_dir, "alloc.safetensors"));
    assert_int_equal(test_write_file(path, bytes, size), 0);

    for (int from_path = 0; from_path < 2; from_path++) {
        long n;
        for (n = 1; n < 100000; n++) {
            style_model *model = SENTINEL_MODEL;
            style__alloc_fail_after(n);
            style_status status = from_path ? style_model_load(path, NULL, &model)
                                            : style_model_load_memory(bytes, size, NULL, &model);
            style__alloc_fail_after(0);
            if (status == STYLE_OK) {
                check_info(model, &c);
                style_model_free(model);
                break;
            }
            if (status != STYLE_ERR_NOMEM || model != NULL) {
                print_error("allocation %ld failed: status %d (%s), message '%s'\n", n, status,
                            style_status_string(status), style_last_error());
                fail();
            }
            assert_non_null(strstr(style_last_error(), "model_load"));
        }
        print_message("  %s load: %ld allocations\n", from_path ? "path" : "memory", n - 1);
        assert_true(n > 10 && n < 100000);
    }

    /* Saving under allocation failure: NOMEM, no temporary left, then success. */
    style_model *model = load_ok(bytes, size, "alloc save source");
    char saved[4096];
    snprintf(saved, sizeof saved, "%s", test_path(g_dir, "alloc-saved.safetensors"));
    long n;
    for (n = 1; n < 100000; n++) {
        style__alloc_fail_after(n);
        style_status status = style_model_save(model, saved);
        style__alloc_fail_after(0);
        int temporaries;
        count_entries(g_dir, &temporaries);
        assert_int_equal(temporaries, 0);
        if (status == STYLE_OK) break;
        assert_int_equal(status, STYLE_ERR_NOMEM);
    }
    print_message("  save: %ld allocations\n", n - 1);
    style_model *reloaded = NULL;
    assert_int_equal(style_model_load(saved, NULL, &reloaded), STYLE_OK);
    expect_same_tensors(&model->file, &reloaded->file);
    style_model_free(reloaded);
    style_model_free(model);
    remove(saved);
    remove(path);
    free(bytes);
    st_file_clear(&file);
}

/* Every allocation of session creation and a run failing in turn; `styles` > 0: a johnson-cin
 * model set to a blend of its styles (the session's styled copy and blended parameters). */
static void check_alloc_failures_session(int styles)
{
    test_model_config c = small_config(); /* 8/16/32, one residual block */
    c.styles = styles;
    style_model *model = test_build_model(&c, 83);
    const float weights[2] = {1, 3};
    uint8_t pixels[8 * 8 * 3];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (uint8_t)(i * 29 + 5);
    style_image in = {8, 8, 3, STYLE_SAMPLE_U8, 0, pixels};

    /* The output without failures, to compare the last (successful) iteration with. */
    style_session *session = NULL;
    style_image expected = {0};
    assert_int_equal(style_session_create(model, &session), STYLE_OK);
    if (styles) assert_int_equal(style_session_set_style_weights(session, weights, 2), STYLE_OK);
    assert_int_equal(style_session_stylize(session, &in, &expected), STYLE_OK);
    style_session_free(session);
    assert_int_equal(atomic_load(&model->references), 1);

    long n;
    int failures = 0;
    for (n = 1; n < 100000; n++) {
        session = (style_session *)&g_sentinel_object;
        style_image out = {0};
        style__alloc_fail_after(n);
        style_status status = style_session_create(model, &session);
        bool created = status == STYLE_OK;
        if (created && styles) status = style_session_set_style_weights(session, weights, 2);
        if (created && status == STYLE_OK) status = style_session_stylize(session, &in, &out);
        style__alloc_fail_after(0);
        if (status != STYLE_OK && status != STYLE_ERR_NOMEM && status != STYLE_ERR_BACKEND) {
            print_error("allocation %ld: status %d (%s): %s\n", n, status,
                        style_status_string(status), style_last_error());
            fail();
        }
        if (!created) assert_null(session);
        if (status != STYLE_OK && created) {
            failures++;
            /* A failed run leaves the session usable. */
            style_image_release(&out);
            out = (style_image){0};
            assert_int_equal(style_session_stylize(session, &in, &out), STYLE_OK);
            assert_memory_equal(out.data, expected.data, sizeof pixels);
        }
        if (status == STYLE_OK) assert_memory_equal(out.data, expected.data, sizeof pixels);
        style_image_release(&out);
        style_session_free(session);
        assert_int_equal(atomic_load(&model->references), 1);
        if (status == STYLE_OK) break;
    }
    print_message("  session create + stylize%s: %ld allocations (%d failed runs)\n",
                  styles ? " (johnson-cin, blended)" : "", n - 1, failures);
    assert_true(n > 1 && n < 100000);

    /* The other paths of a session: prepare, a batch of two at another size (the cached
     * build of 8x8 is kept beside it), the profile. Same rules. */
    uint8_t wide[100 * 76 * 3];
    for (size_t i = 0; i < sizeof wide; i++) wide[i] = (uint8_t)(i * 13 + 1);
    style_image inputs[2] = {{100, 76, 3, STYLE_SAMPLE_U8, 0, wide}, {100, 76, 3, STYLE_SAMPLE_U8, 0, wide}};
    for (n = 1; n < 100000; n++) {
        session = NULL;
        style_image outs[2] = {{0}};
        const style_layer_profile *layers = NULL;
        size_t layer_count = 0;
        uint64_t runs = 0;
        style__alloc_fail_after(n);
        int stage = 0;
        style_status status = style_session_create(model, &session);
        if (status == STYLE_OK) stage++, status = style_session_set_profiling(session, 1);
        if (status == STYLE_OK) stage++, status = style_session_stylize(session, &in, &outs[0]);
        style_image_release(&outs[0]);
        outs[0] = (style_image){0};
        if (status == STYLE_OK) stage++, status = style_session_prepare(session, 100, 76);
        if (status == STYLE_OK) stage++, status = style_session_stylize_batch(session, inputs, outs, 2);
        if (status == STYLE_OK)
            stage++, status = style_session_get_profile(session, &layers, &layer_count, &runs);
        bool injected = !style__alloc_fail_pending();
        style__alloc_fail_after(0);
        if ((status != STYLE_OK && status != STYLE_ERR_NOMEM && status != STYLE_ERR_BACKEND) ||
            (status == STYLE_OK && injected)) {
            print_error("batch, allocation %ld (step %d): status %d (%s): %s\n", n, stage,
                        status, style_status_string(status), style_last_error());
            fail(); /* a wrong status, or a failed allocation swallowed */
        }
        if (status == STYLE_OK) {
            assert_memory_equal(outs[0].data, outs[1].data, sizeof wide);
            assert_true(layer_count > 0);
        }
        for (int i = 0; i < 2; i++) style_image_release(&outs[i]);
        style_session_free(session);
        assert_int_equal(atomic_load(&model->references), 1);
        if (status == STYLE_OK) break;
    }
    print_message("  + prepare, batch of two, profile: %ld allocations\n", n - 1);
    assert_true(n > 1 && n < 100000);
    style_image_release(&expected);
    style_model_free(model);
}

static void test_alloc_failures_session(void **state)
{
    (void)state;
    check_alloc_failures_session(0);
    check_alloc_failures_session(2);
}

/* ---- Ownership -------------------------------------------------------------------------- */

static void test_ownership(void **state)
{
    (void)state;
    style_model_free(NULL);
    test_model_config c = small_config();
    style_model *model = test_build_model(&c, 89);
    assert_int_equal(atomic_load(&model->references), 1);
    style_session *a = NULL, *b = NULL;
    assert_int_equal(style_session_create(model, &a), STYLE_OK);
    assert_int_equal(style_session_create(model, &b), STYLE_OK);
    assert_int_equal(atomic_load(&model->references), 3);
    style_session *none = (style_session *)&g_sentinel_object;
    assert_int_equal(style_session_create(NULL, &none), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(none);

    /* The caller drops its reference; the sessions keep the model alive and working. */
    style_model_free(model);
    assert_int_equal(atomic_load(&model->references), 2);
    uint8_t pixels[8 * 8 * 3] = {0};
    style_image in = {8, 8, 3, STYLE_SAMPLE_U8, 0, pixels}, out = {0};
    assert_int_equal(style_session_stylize(a, &in, &out), STYLE_OK);
    style_image_release(&out);
    style_session_free(a);
    assert_int_equal(atomic_load(&model->references), 1);
    assert_int_equal(style_session_stylize(b, &in, &out), STYLE_OK);
    style_image_release(&out);
    style_session_free(b); /* the last reference: the model goes (ASan checks nothing leaks) */
    style_session_free(NULL);
}

/* ---- Main ------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    g_dir = test_make_temp_dir();
    return g_dir ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    test_remove_tree(g_dir);
    free(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_model),
        cmocka_unit_test(test_architecture_variants),
        cmocka_unit_test(test_cin_loads),
        cmocka_unit_test(test_cin_rejects),
        cmocka_unit_test(test_bare_pytorch_file),
        cmocka_unit_test(test_legacy_running_stats),
        cmocka_unit_test(test_extra_tensors_ignored),
        cmocka_unit_test(test_dtypes),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_missing_tensors),
        cmocka_unit_test(test_unexpected_tensors),
        cmocka_unit_test(test_wrong_shapes),
        cmocka_unit_test(test_metadata_errors),
        cmocka_unit_test(test_not_safetensors),
        cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_path_errors),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_load_caps),
        cmocka_unit_test_teardown(test_locale_independence, restore_c_locale),
        cmocka_unit_test(test_save_round_trip),
        cmocka_unit_test(test_save_errors),
        cmocka_unit_test(test_alloc_failures_load),
        cmocka_unit_test(test_alloc_failures_session),
        cmocka_unit_test(test_ownership),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
