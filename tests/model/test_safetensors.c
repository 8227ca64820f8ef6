/*
 * safetensors reader and writer: round trips, dtype conversion against hand-computed values,
 * a hand-made corpus of corrupt headers, a deterministic mutation fuzz, allocation failures,
 * and (when ../shared is present) a real file written by the Python safetensors library.
 */
#include "testutil.h"

#include "core/half.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---------------------------------------------------------------------------- */

/* A safetensors image: 8-byte little-endian length, the header text verbatim, then `data`
 * (zeros when NULL). Free with free(). */
static unsigned char *make_file(const char *header, const void *data, size_t data_size,
                                size_t *size)
{
    size_t header_size = strlen(header);
    *size = 8 + header_size + data_size;
    unsigned char *file = calloc(1, *size);
    assert_non_null(file);
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)header_size >> (8 * i));
    memcpy(file + 8, header, header_size);
    if (data) memcpy(file + 8 + header_size, data, data_size);
    return file;
}

static uint32_t f32_bits(float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    return bits;
}

static float bits_f32(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

/* Parses, expects `expected`, and on failure checks *out was left empty and the message
 * contains `message_part`. */
static void expect_parse(const void *data, size_t size, style_status expected,
                         const char *message_part, const char *what)
{
    st_file file;
    memset(&file, 0x5a, sizeof file); /* garbage in: st_parse must not read it */
    style__clear_error();
    style_status status = st_parse(data, size, &file);
    if (status != expected || (message_part && !strstr(style_last_error(), message_part))) {
        print_error("case '%s': status %d (%s), expected %d; message: %s\n", what, status,
                    style_status_string(status), expected, style_last_error());
        fail();
    }
    if (status != STYLE_OK) {
        assert_null(file.tensors);
        assert_int_equal(file.tensor_count, 0);
        assert_null(file.metadata);
        assert_int_equal(file.metadata_count, 0);
        assert_true(style_last_error()[0] != '\0');
    }
    st_file_clear(&file);
}

/* A small valid file with metadata, a 4-d, a 1-d, a 0-d and an empty tensor. */
static void build_sample(st_file *file)
{
    *file = (st_file){0};
    float weights[2 * 3 * 2 * 2];
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++)
        weights[i] = (float)i * 0.25f - 3.0f;
    const int64_t weight_shape[] = {2, 3, 2, 2};
    const float bias[] = {1.0f / 3.0f, -0.0f, INFINITY, -INFINITY, 1e-40f /* subnormal */};
    const int64_t bias_shape[] = {5};
    const float scalar = 42.5f;
    const int64_t empty_shape[] = {0, 7};

    assert_int_equal(st_file_add_metadata(file, "libstyle.format_version", "1"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(file, "zzz first-added-last-sorted", "x"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(file, "quote\"back\\slash", "line\nbreak \xc3\xa9\t"),
                     STYLE_OK);
    assert_int_equal(st_file_add_tensor(file, "z.weight", 4, weight_shape, weights), STYLE_OK);
    assert_int_equal(st_file_add_tensor(file, "a.bias", 1, bias_shape, bias), STYLE_OK);
    assert_int_equal(st_file_add_tensor(file, "scalar", 0, NULL, &scalar), STYLE_OK);
    assert_int_equal(st_file_add_tensor(file, "empty", 2, empty_shape, NULL), STYLE_OK);
}

static void assert_files_equal(const st_file *a, const st_file *b)
{
    assert_int_equal(a->tensor_count, b->tensor_count);
    assert_int_equal(a->metadata_count, b->metadata_count);
    for (size_t i = 0; i < a->tensor_count; i++) {
        const st_tensor *x = &a->tensors[i], *y = &b->tensors[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->ndim, y->ndim);
        assert_int_equal(x->count, y->count);
        for (int d = 0; d < x->ndim; d++)
            assert_int_equal(x->shape[d], y->shape[d]);
        if (x->count) assert_memory_equal(x->data, y->data, x->count * sizeof(float));
    }
    for (size_t i = 0; i < a->metadata_count; i++) {
        assert_string_equal(a->metadata[i].key, b->metadata[i].key);
        assert_string_equal(a->metadata[i].value, b->metadata[i].value);
    }
}

/* ---- Round trip ------------------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    st_file original, parsed = {0}, reparsed = {0};
    build_sample(&original);

    void *data = NULL, *data2 = NULL;
    size_t size = 0, size2 = 0;
    assert_int_equal(st_serialize(&original, &data, &size), STYLE_OK);

    /* 8-byte aligned data area, space padding, JSON opening with '{' as readers require */
    const unsigned char *bytes = data;
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; i--)
        header_size = (header_size << 8) | bytes[i];
    assert_int_equal((8 + header_size) % 8, 0);
    assert_int_equal(bytes[8], '{');
    assert_int_equal(size, 8 + header_size + (2 * 3 * 2 * 2 + 5 + 1) * sizeof(float));

    assert_int_equal(st_parse(data, size, &parsed), STYLE_OK);
    assert_files_equal(&original, &parsed); /* order, names, shapes, bit-exact values */
    assert_string_equal(parsed.tensors[0].name, "z.weight");
    assert_string_equal(parsed.metadata[1].key, "zzz first-added-last-sorted");
    assert_int_equal(parsed.tensors[2].ndim, 0);
    assert_int_equal(parsed.tensors[2].count, 1);
    assert_true(parsed.tensors[2].data[0] == 42.5f);
    assert_int_equal(f32_bits(parsed.tensors[1].data[1]), 0x80000000u); /* -0 kept */

    /* The same bytes again: serialising is deterministic. */
    assert_int_equal(st_serialize(&parsed, &data2, &size2), STYLE_OK);
    assert_int_equal(size, size2);
    assert_memory_equal(data, data2, size);
    assert_int_equal(st_parse(data2, size2, &reparsed), STYLE_OK);
    assert_files_equal(&original, &reparsed);

    style__free(data);
    style__free(data2);
    st_file_clear(&original);
    st_file_clear(&parsed);
    st_file_clear(&reparsed);
    assert_null(parsed.tensors);
    assert_int_equal(parsed.tensor_count, 0);
}

/* The exact bytes the format (and the reference Python writer, modulo key order) produces. */
static void test_serialize_exact_bytes(void **state)
{
    st_file file = {0};
    const float values[] = {1.0f, -2.0f};
    const int64_t shape[] = {2};
    assert_int_equal(st_file_add_metadata(&file, "k", "v"), STYLE_OK);
    assert_int_equal(st_file_add_tensor(&file, "w", 1, shape, values), STYLE_OK);
    void *data;
    size_t size;
    assert_int_equal(st_serialize(&file, &data, &size), STYLE_OK);

    const char header[] = "{\"__metadata__\":{\"k\":\"v\"},"
                          "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    size_t padded = (strlen(header) + 7) / 8 * 8;
    assert_int_equal(size, 8 + padded + 8);
    const unsigned char *bytes = data;
    assert_int_equal(bytes[0], padded & 0xff);
    for (int i = 1; i < 8; i++)
        assert_int_equal(bytes[i], 0);
    assert_memory_equal(bytes + 8, header, strlen(header));
    for (size_t i = strlen(header); i < padded; i++)
        assert_int_equal(bytes[8 + i], ' ');
    const unsigned char expected_data[] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0};
    assert_memory_equal(bytes + 8 + padded, expected_data, 8);

    style__free(data);
    st_file_clear(&file);
}

static void test_empty_file_round_trip(void **state)
{
    st_file empty = {0}, parsed;
    void *data;
    size_t size;
    assert_int_equal(st_serialize(&empty, &data, &size), STYLE_OK);
    assert_int_equal(size, 16); /* "{}" padded to 8 */
    assert_int_equal(st_parse(data, size, &parsed), STYLE_OK);
    assert_int_equal(parsed.tensor_count, 0);
    assert_int_equal(parsed.metadata_count, 0);
    st_file_clear(&parsed);
    style__free(data);
}

/* The header order is kept, even when it differs from the data order and metadata sits between
 * tensors; st_find / st_metadata_find look things up by name. */
static void test_header_order_and_lookup(void **state)
{
    const float data[] = {1, 2, 3};
    size_t size;
    unsigned char *file =
        make_file("  {\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                  "\"__metadata__\":{\"y\":\"1\",\"x\":\"2\"},"
                  "\"a\":{\"shape\":[],\"data_offsets\":[0,4],\"dtype\":\"F32\"}}   \n\t ",
                  data, sizeof data, &size);
    st_file parsed;
    assert_int_equal(st_parse(file, size, &parsed), STYLE_OK);
    assert_int_equal(parsed.tensor_count, 2);
    assert_string_equal(parsed.tensors[0].name, "b");
    assert_string_equal(parsed.tensors[1].name, "a");
    assert_string_equal(parsed.metadata[0].key, "y");
    assert_string_equal(parsed.metadata[1].key, "x");

    st_tensor *b = st_find(&parsed, "b");
    assert_ptr_equal(b, &parsed.tensors[0]);
    assert_true(b->data[0] == 2 && b->data[1] == 3);
    assert_true(st_find(&parsed, "a")->data[0] == 1);
    assert_null(st_find(&parsed, "c"));
    assert_string_equal(st_metadata_find(&parsed, "x"), "2");
    assert_null(st_metadata_find(&parsed, "z"));
    assert_null(st_find(NULL, "a"));
    assert_null(st_metadata_find(NULL, "a"));
    st_file_clear(&parsed);
    st_file_clear(NULL);
    free(file);
}

/* ---- dtype conversion ------------------------------------------------------------------- */

static void parse_one(const char *dtype, const void *raw, size_t raw_size, size_t count,
                      st_file *parsed)
{
    char header[256];
    snprintf(header, sizeof header,
             "{\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", dtype, count,
             raw_size);
    size_t size;
    unsigned char *file = make_file(header, raw, raw_size, &size);
    style_status status = st_parse(file, size, parsed);
    if (status != STYLE_OK) print_error("%s: %s\n", dtype, style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(parsed->tensors[0].count, count);
    free(file);
}

static void test_f16(void **state)
{
    /* bits, little-endian on disk, and the exact float32 they denote */
    const struct {
        uint16_t bits;
        uint32_t f32;
    } cases[] = {
        {0x0000, 0x00000000}, /* +0 */
        {0x8000, 0x80000000}, /* -0 */
        {0x0001, 0x33800000}, /* smallest subnormal 2^-24 */
        {0x8001, 0xb3800000}, /* -2^-24 */
        {0x0200, 0x38000000}, /* 2^-15 */
        {0x03ff, 0x387fc000}, /* largest subnormal 1023 x 2^-24 */
        {0x0400, 0x38800000}, /* smallest normal 2^-14 */
        {0x3c00, 0x3f800000}, /* 1 */
        {0xc000, 0xc0000000}, /* -2 */
        {0x3555, 0x3eaaa000}, /* 0.333251953125 */
        {0x7bff, 0x477fe000}, /* 65504 */
        {0x7c00, 0x7f800000}, /* +inf */
        {0xfc00, 0xff800000}, /* -inf */
        {0x7e00, 0x7fc00000}, /* quiet NaN */
        {0x7c01, 0x7f802000}, /* signalling NaN payload kept */
    };
    enum { N = sizeof cases / sizeof cases[0] };
    unsigned char raw[2 * N];
    for (size_t i = 0; i < N; i++) {
        raw[2 * i] = (unsigned char)(cases[i].bits & 0xff);
        raw[2 * i + 1] = (unsigned char)(cases[i].bits >> 8);
    }
    st_file parsed;
    parse_one("F16", raw, sizeof raw, N, &parsed);
    for (size_t i = 0; i < N; i++) {
        if (f32_bits(parsed.tensors[0].data[i]) != cases[i].f32)
            print_error("F16 0x%04x -> 0x%08x, expected 0x%08x\n", cases[i].bits,
                        f32_bits(parsed.tensors[0].data[i]), cases[i].f32);
        assert_int_equal(f32_bits(parsed.tensors[0].data[i]), cases[i].f32);
    }
    assert_true(isnan(parsed.tensors[0].data[13]));
    assert_true(ldexpf(1.0f, -24) == parsed.tensors[0].data[2]);
    st_file_clear(&parsed);
}

static void test_bf16(void **state)
{
    const struct {
        uint16_t bits;
        float value;
    } cases[] = {
        {0x3f80, 1.0f},     {0xc0a0, -5.0f},     {0x0000, 0.0f},      {0x4049, 3.140625f},
        {0x7f80, INFINITY}, {0xff80, -INFINITY}, {0x0001, 0x1p-133f}, /* subnormal */
    };
    enum { N = sizeof cases / sizeof cases[0] };
    unsigned char raw[2 * N + 2];
    for (size_t i = 0; i < N; i++) {
        raw[2 * i] = (unsigned char)(cases[i].bits & 0xff);
        raw[2 * i + 1] = (unsigned char)(cases[i].bits >> 8);
    }
    raw[2 * N] = 0xc0, raw[2 * N + 1] = 0x7f; /* 0x7fc0: NaN */
    st_file parsed;
    parse_one("BF16", raw, sizeof raw, N + 1, &parsed);
    for (size_t i = 0; i < N; i++)
        assert_true(parsed.tensors[0].data[i] == cases[i].value);
    assert_true(isnan(parsed.tensors[0].data[N]));
    st_file_clear(&parsed);
}

static void test_f64(void **state)
{
    const double values[] = {1.5, -0.0, 0.1, 1e300, -1e300, 1e-320, 65504.25, NAN};
    enum { N = sizeof values / sizeof values[0] };
    unsigned char raw[8 * N];
    for (size_t i = 0; i < N; i++) {
        uint64_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        for (int b = 0; b < 8; b++)
            raw[8 * i + b] = (unsigned char)(bits >> (8 * b));
    }
    st_file parsed;
    parse_one("F64", raw, sizeof raw, N, &parsed);
    const float *got = parsed.tensors[0].data;
    assert_true(got[0] == 1.5f);
    assert_int_equal(f32_bits(got[1]), 0x80000000u);
    assert_int_equal(f32_bits(got[2]), 0x3dcccccdu); /* 0.1 rounded to nearest float */
    assert_true(got[3] == INFINITY);
    assert_true(got[4] == -INFINITY);
    assert_true(got[5] == 0.0f);
    assert_true(got[6] == 65504.25f);
    assert_true(isnan(got[7]));
    st_file_clear(&parsed);
}

static void test_f32_unaligned(void **state)
{
    /* The header length 13 + 8 puts the data at an odd address; a second copy at offset 1
     * misaligns the whole buffer. */
    const float values[] = {0.5f, -1.25f, 3e38f};
    size_t size;
    unsigned char *file =
        make_file("{\"v\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}"
                  " ",
                  values, sizeof values, &size);
    unsigned char *shifted = malloc(size + 1);
    assert_non_null(shifted);
    memcpy(shifted + 1, file, size);
    st_file parsed;
    assert_int_equal(st_parse(shifted + 1, size, &parsed), STYLE_OK);
    assert_memory_equal(parsed.tensors[0].data, values, sizeof values);
    st_file_clear(&parsed);
    free(shifted);
    free(file);
}

static void test_half_helpers(void **state)
{
    /* Every binary16 value survives f16 -> f32 -> f16 (NaNs stay NaN). */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = style__f16_to_f32((uint16_t)h);
        uint16_t back = style__f32_to_f16(f);
        if (isnan(f)) {
            assert_true((back & 0x7c00) == 0x7c00 && (back & 0x3ff) != 0);
        } else {
            assert_int_equal(back, h);
        }
    }
    /* Rounding: ties to even, overflow to infinity, underflow to zero. */
    assert_int_equal(style__f32_to_f16(65519.0f), 0x7bff);
    assert_int_equal(style__f32_to_f16(65520.0f), 0x7c00);
    assert_int_equal(style__f32_to_f16(1e10f), 0x7c00);
    assert_int_equal(style__f32_to_f16(-1e10f), 0xfc00);
    assert_int_equal(style__f32_to_f16(0x1p-25f), 0x0000);        /* tie to even (0) */
    assert_int_equal(style__f32_to_f16(0x1.000002p-25f), 0x0001); /* just above the tie */
    assert_int_equal(style__f32_to_f16(0x3p-25f), 0x0002);        /* 1.5 ulp: tie to 2 */
    assert_int_equal(style__f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie to even */
    assert_int_equal(style__f32_to_f16(1.0f + 0x3p-11f), 0x3c02); /* tie to even, up */
    assert_int_equal(style__f32_to_f16(0x1.ffcp-15f), 0x0400);    /* carries to normal */
    assert_int_equal(style__f32_to_f16(-0.0f), 0x8000);
    assert_int_equal(style__f32_to_f16(1e-30f), 0x0000);
#ifdef __FLT16_MAX__
    /* The compiler's own conversion as a second reference on random bit patterns. */
    test_rng rng = {12345};
    for (int i = 0; i < 200000; i++) {
        float f = bits_f32((uint32_t)test_rng_next(&rng));
        if (i % 2) f = ldexpf((float)test_rng_uniform(&rng, -2, 2), (int)(i % 48) - 30);
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t expected;
        memcpy(&expected, &h, sizeof expected);
        assert_int_equal(style__f32_to_f16(f), expected);
    }
#endif
    assert_int_equal(style__f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(style__f32_to_bf16(bits_f32(0x3f808000)), 0x3f80); /* tie to even */
    assert_int_equal(style__f32_to_bf16(bits_f32(0x3f818000)), 0x3f82); /* tie to even, up */
    assert_int_equal(style__f32_to_bf16(bits_f32(0x3f808001)), 0x3f81);
    assert_int_equal(style__f32_to_bf16(bits_f32(0x7f7fffff)), 0x7f80); /* overflow to inf */
    assert_true(isnan(style__bf16_to_f32(style__f32_to_bf16(bits_f32(0x7f800001)))));
    assert_true(style__bf16_to_f32(0x4049) == 3.140625f);
}

/* ---- Corrupt and edge-case headers ------------------------------------------------------ */

typedef struct header_case {
    const char *what;
    const char *header;
    size_t data_size;
    style_status expected;
    const char *message_part; /* must appear in style_last_error(), or NULL */
} header_case;

#define T1(dtype, shape, offsets)                                                                  \
    "{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

static const header_case header_cases[] = {
    {"empty header", "", 0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"invalid JSON", "{\"a\":", 0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"not JSON", "hello", 0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"array", "[1,2]", 0, STYLE_ERR_FORMAT, "not an object"},
    {"garbage after JSON", "{} x", 0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"NUL after JSON", "{}\0", 0, STYLE_ERR_FORMAT, NULL},
    {"invalid UTF-8", "{\"\xff\":1}", 0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"duplicate keys", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"a\":" T1("F32", "[1]", "[0,4]") "}",
     4, STYLE_ERR_FORMAT, "duplicate"},
    {"duplicate keys inside an entry",
     "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     STYLE_ERR_FORMAT, "duplicate"},
    {"entry not an object", "{\"a\":[1]}", 0, STYLE_ERR_FORMAT, "'a': entry is not"},
    {"missing dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, STYLE_ERR_FORMAT,
     "'a' has no dtype"},
    {"missing shape", "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, STYLE_ERR_FORMAT,
     "'a' has no shape"},
    {"missing data_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, STYLE_ERR_FORMAT,
     "'a' has no data_offsets"},
    {"extra field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offset\":0}}",
     4, STYLE_ERR_FORMAT, "unexpected field 'offset'"},
    {"dtype not a string", "{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
     STYLE_ERR_FORMAT, "dtype is not a string"},
    {"unknown dtype", "{\"a\":" T1("F17", "[1]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "unknown dtype 'F17'"},
    {"lower-case dtype", "{\"a\":" T1("f32", "[1]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "unknown dtype"},
    {"shape not an array", "{\"a\":" T1("F32", "1", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "shape is not an array"},
    {"negative shape", "{\"a\":" T1("F32", "[-1]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "shape entry 0"},
    {"fractional shape", "{\"a\":" T1("F32", "[1.0]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "shape entry 0"},
    {"string shape", "{\"a\":" T1("F32", "[1,\"2\"]", "[0,8]") "}", 8, STYLE_ERR_FORMAT,
     "shape entry 1"},
    {"shape overflow", "{\"a\":" T1("F32", "[1099511627776,1099511627776]", "[0,0]") "}", 0,
     STYLE_ERR_FORMAT, "too many elements"},
    {"byte size overflow", "{\"a\":" T1("F64", "[4611686018427387904]", "[0,0]") "}", 0,
     STYLE_ERR_FORMAT, "too large"},
    {"shape integer too big for JSON", "{\"a\":" T1("F32", "[99999999999999999999]", "[0,0]") "}",
     0, STYLE_ERR_FORMAT, "invalid JSON"},
    {"offsets not a pair", "{\"a\":" T1("F32", "[1]", "[0,4,8]") "}", 4, STYLE_ERR_FORMAT,
     "data_offsets is not"},
    {"negative offset", "{\"a\":" T1("F32", "[0]", "[-4,-4]") "}", 0, STYLE_ERR_FORMAT,
     "data_offsets is not"},
    {"offsets reversed", "{\"a\":" T1("F32", "[1]", "[4,0]") "}", 4, STYLE_ERR_FORMAT,
     "end before they begin"},
    {"offsets out of bounds", "{\"a\":" T1("F32", "[2]", "[0,8]") "}", 4, STYLE_ERR_FORMAT,
     "past the end of the data area (4 bytes)"},
    {"offsets far out of bounds",
     "{\"a\":" T1("F32", "[0]", "[9223372036854775807,9223372036854775807]") "}", 0,
     STYLE_ERR_FORMAT, "past the end"},
    {"byte size mismatch", "{\"conv1.conv2d.weight\":" T1("F32", "[32,3,9,9]", "[0,100]") "}", 100,
     STYLE_ERR_FORMAT,
     "tensor 'conv1.conv2d.weight': data_offsets [0, 100] do not match dtype F32 x shape "
     "[32,3,9,9] (31104 bytes)"},
    {"overlap", "{\"a\":" T1("F32", "[2]", "[0,8]") ",\"b\":" T1("F32", "[2]", "[4,12]") "}", 12,
     STYLE_ERR_FORMAT, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]"},
    {"same range twice",
     "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"b\":" T1("F32", "[1]", "[0,4]") "}", 4,
     STYLE_ERR_FORMAT, "overlap"},
    {"empty tensor inside another",
     "{\"a\":" T1("F32", "[2]", "[0,8]") ",\"b\":" T1("F32", "[0]", "[4,4]") "}", 8,
     STYLE_ERR_FORMAT, "overlap"},
    {"hole", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"b\":" T1("F32", "[1]", "[8,12]") "}", 12,
     STYLE_ERR_FORMAT, "hole: bytes [4, 8) before tensor 'b'"},
    {"hole at start", "{\"a\":" T1("F32", "[1]", "[4,8]") "}", 8, STYLE_ERR_FORMAT, "hole"},
    {"trailing bytes", "{\"a\":" T1("F32", "[1]", "[0,4]") "}", 8, STYLE_ERR_FORMAT,
     "4 trailing bytes"},
    {"data but no tensors", "{}", 1, STYLE_ERR_FORMAT, "1 trailing byte after"},
    {"unsupported I32", "{\"x\":" T1("I32", "[1]", "[0,4]") "}", 4, STYLE_ERR_UNSUPPORTED,
     "tensor 'x' has dtype I32; only F32, F16, BF16, F64 are supported"},
    {"unsupported U8", "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"m\":" T1("U8", "[3]", "[4,7]") "}",
     7, STYLE_ERR_UNSUPPORTED, "tensor 'm' has dtype U8"},
    {"unsupported BOOL", "{\"b\":" T1("BOOL", "[2]", "[0,2]") "}", 2, STYLE_ERR_UNSUPPORTED,
     "BOOL"},
    {"unsupported F8_E4M3", "{\"q\":" T1("F8_E4M3", "[2]", "[0,2]") "}", 2, STYLE_ERR_UNSUPPORTED,
     "F8_E4M3"},
    {"unsupported I64", "{\"n\":" T1("I64", "[]", "[0,8]") "}", 8, STYLE_ERR_UNSUPPORTED, "I64"},
    {"unsupported F4 (packed)", "{\"p\":" T1("F4", "[4]", "[0,2]") "}", 2, STYLE_ERR_UNSUPPORTED,
     "F4"},
    {"F4 with an odd count", "{\"p\":" T1("F4", "[3]", "[0,2]") "}", 2, STYLE_ERR_FORMAT,
     "not a whole number of bytes"},
    {"I32 of the wrong size is corrupt first", "{\"x\":" T1("I32", "[2]", "[0,4]") "}", 4,
     STYLE_ERR_FORMAT, "do not match dtype I32"},
    {"I32 with a hole is corrupt first", "{\"x\":" T1("I32", "[1]", "[0,4]") "}", 8,
     STYLE_ERR_FORMAT, "trailing"},
    {"too many dimensions", "{\"a\":" T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4,
     STYLE_ERR_UNSUPPORTED, "9 dimensions"},
    {"metadata not an object", "{\"__metadata__\":[\"a\"]}", 0, STYLE_ERR_FORMAT,
     "__metadata__ is not a JSON object"},
    {"metadata null", "{\"__metadata__\":null}", 0, STYLE_ERR_FORMAT, "__metadata__"},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":\"v\",\"n\":1}}", 0, STYLE_ERR_FORMAT,
     "value of 'n' is not a string"},
    {"metadata value an object", "{\"__metadata__\":{\"k\":{}}}", 0, STYLE_ERR_FORMAT,
     "not a string"},
    {"empty tensor name", "{\"\":" T1("F32", "[1]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "empty name"},
    {"NUL in a name", "{\"a\\u0000b\":" T1("F32", "[1]", "[0,4]") "}", 4, STYLE_ERR_FORMAT,
     "invalid JSON"},
    {"deep nesting",
     "{\"__metadata__\":{\"k\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]}}",
     0, STYLE_ERR_FORMAT, "not a string"},

    /* Valid edge cases */
    {"no tensors", "{}", 0, STYLE_OK, NULL},
    {"only whitespace padding", "{}      ", 0, STYLE_OK, NULL},
    {"metadata only", "{\"__metadata__\":{}}", 0, STYLE_OK, NULL},
    {"0-d tensor", "{\"s\":" T1("F32", "[]", "[0,4]") "}", 4, STYLE_OK, NULL},
    {"empty tensors at the edges",
     "{\"e\":" T1("F32", "[0,3]", "[0,0]") ",\"a\":" T1("F16", "[2]", "[0,4]") ",\"z\":" T1(
         "BF16", "[5,0]", "[4,4]") "}",
     4, STYLE_OK, NULL},
    {"empty tensor between two",
     "{\"a\":" T1("F32", "[1]", "[0,4]") ",\"e\":" T1("F64", "[0]", "[4,4]") ",\"b\":" T1(
         "F32", "[1]", "[4,8]") "}",
     8, STYLE_OK, NULL},
    {"only an empty tensor", "{\"e\":" T1("F32", "[0]", "[0,0]") "}", 0, STYLE_OK, NULL},
    {"eight dimensions", "{\"a\":" T1("F32", "[1,2,1,1,1,1,1,3]", "[0,24]") "}", 24, STYLE_OK,
     NULL},
    {"unicode name", "{\"\xc3\xa9t\\u00e9\":" T1("F32", "[1]", "[0,4]") "}", 4, STYLE_OK, NULL},
};

static void test_corrupt_headers(void **state)
{
    for (size_t i = 0; i < sizeof header_cases / sizeof header_cases[0]; i++) {
        const header_case *c = &header_cases[i];
        size_t size;
        unsigned char *file = make_file(c->header, NULL, c->data_size, &size);
        if (strcmp(c->what, "NUL after JSON") == 0) { /* make_file stops at the NUL */
            free(file);
            file = make_file("{}  ", NULL, 0, &size);
            file[8 + 2] = 0;
        }
        expect_parse(file, size, c->expected, c->message_part, c->what);
        free(file);
    }
}

static void test_valid_edge_case_values(void **state)
{
    /* The 0-d tensor and the empty tensors: shapes and counts as written. */
    const float value = -7.5f;
    size_t size;
    unsigned char *file =
        make_file("{\"s\":" T1("F32", "[]", "[0,4]") ",\"e\":" T1("F32", "[3,0,2]", "[4,4]") "}",
                  &value, sizeof value, &size);
    st_file parsed;
    assert_int_equal(st_parse(file, size, &parsed), STYLE_OK);
    assert_int_equal(parsed.tensors[0].ndim, 0);
    assert_int_equal(parsed.tensors[0].count, 1);
    assert_true(parsed.tensors[0].data[0] == -7.5f);
    assert_int_equal(parsed.tensors[1].ndim, 3);
    assert_int_equal(parsed.tensors[1].shape[0], 3);
    assert_int_equal(parsed.tensors[1].shape[1], 0);
    assert_int_equal(parsed.tensors[1].count, 0);
    st_file_clear(&parsed);
    free(file);
}

static void test_corrupt_lengths(void **state)
{
    unsigned char small[16] = {0};
    expect_parse(NULL, 0, STYLE_ERR_FORMAT, "too short", "NULL, 0");
    expect_parse(small, 0, STYLE_ERR_FORMAT, "0 bytes", "empty buffer");
    expect_parse(small, 7, STYLE_ERR_FORMAT, "7 bytes", "7 bytes");

    /* header length 2^63 */
    memset(small, 0, sizeof small);
    small[7] = 0x80;
    expect_parse(small, sizeof small, STYLE_ERR_FORMAT, "9223372036854775808", "2^63");
    /* all ones */
    memset(small, 0xff, 8);
    expect_parse(small, sizeof small, STYLE_ERR_FORMAT, "over the", "2^64-1");
    /* a header of 9 bytes in a 16-byte file: one byte past the end */
    memset(small, 0, sizeof small);
    small[0] = 9;
    expect_parse(small, sizeof small, STYLE_ERR_FORMAT, "past the end of the file", "len > file");
    /* 200 MB claimed */
    const uint64_t claimed = 200u * 1000u * 1000u;
    for (int i = 0; i < 8; i++)
        small[i] = (unsigned char)(claimed >> (8 * i));
    expect_parse(small, sizeof small, STYLE_ERR_FORMAT, "over the 100000000-byte limit",
                 "200 MB header");
    /* exactly 8 bytes: header length 0, empty JSON */
    memset(small, 0, sizeof small);
    expect_parse(small, 8, STYLE_ERR_FORMAT, "invalid JSON", "length 0");

    st_file file;
    assert_int_equal(st_parse(small, 8, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_parse(NULL, 16, &file), STYLE_ERR_INVALID_ARGUMENT);
}

/* A header over the 100 MB limit that really is in the buffer. */
static void test_header_over_limit_present(void **state)
{
    size_t header_size = ST_MAX_HEADER_BYTES + 8;
    unsigned char *file = malloc(8 + header_size);
    assert_non_null(file);
    memset(file + 8, ' ', header_size);
    file[8] = '{', file[9] = '}';
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)((uint64_t)header_size >> (8 * i));
    expect_parse(file, 8 + header_size, STYLE_ERR_FORMAT, "limit", "present big header");
    free(file);
}

/* ---- Mutation fuzz ---------------------------------------------------------------------- */

static void test_fuzz(void **state)
{
    st_file sample;
    build_sample(&sample);
    void *valid;
    size_t valid_size;
    assert_int_equal(st_serialize(&sample, &valid, &valid_size), STYLE_OK);
    st_file_clear(&sample);

    /* Bytes that keep a mutated header JSON-like often enough to reach the deeper checks. */
    static const char alphabet[] = "{}[]\",:0123456789-+.eE \\u_FIBU8261346_MOLdtypeshapfs";
    unsigned char *buffer = malloc(valid_size + 64);
    assert_non_null(buffer);
    size_t counts[10] = {0};
    for (uint64_t seed = 1; seed <= 30000; seed++) {
        test_rng rng = {seed};
        memcpy(buffer, valid, valid_size);
        size_t size = valid_size;
        int mutations = 1 + (int)(test_rng_next(&rng) % 4);
        for (int m = 0; m < mutations; m++) {
            uint64_t r = test_rng_next(&rng);
            size_t limit = size > 8 ? size : 8; /* keep `at` inside the buffer */
            size_t at = (size_t)(test_rng_next(&rng) % limit);
            switch (r % 6) {
            case 0:
                buffer[at] = (unsigned char)test_rng_next(&rng);
                break;
            case 1:
                buffer[at] ^= (unsigned char)(1u << (test_rng_next(&rng) % 8));
                break;
            case 2: /* inside the header, with JSON-ish bytes */
                at = 8 + (size_t)(test_rng_next(&rng) % (valid_size / 2));
                buffer[at] = (unsigned char)alphabet[test_rng_next(&rng) % (sizeof alphabet - 1)];
                break;
            case 3:
                size = (size_t)(test_rng_next(&rng) % (size + 1));
                break; /* truncate */
            case 4:    /* change the header length a little */
                buffer[0] = (unsigned char)(buffer[0] + (test_rng_next(&rng) % 17) - 8);
                break;
            case 5: /* delete a header byte: shifts everything after it */
                at = 8 + (size_t)(test_rng_next(&rng) % (valid_size / 2));
                if (at < size) {
                    memmove(buffer + at, buffer + at + 1, size - at - 1);
                    size--;
                }
                break;
            }
        }
        /* A fresh allocation of exactly `size` bytes, so ASan sees any read past the end. */
        unsigned char *exact = malloc(size ? size : 1);
        assert_non_null(exact);
        memcpy(exact, buffer, size);
        st_file parsed;
        style_status status = st_parse(exact, size, &parsed);
        assert_true(status == STYLE_OK || status == STYLE_ERR_FORMAT ||
                    status == STYLE_ERR_UNSUPPORTED);
        counts[status]++;
        if (status == STYLE_OK) {
            /* whatever parsed must serialise and parse back */
            void *again;
            size_t again_size;
            assert_int_equal(st_serialize(&parsed, &again, &again_size), STYLE_OK);
            st_file reparsed;
            assert_int_equal(st_parse(again, again_size, &reparsed), STYLE_OK);
            assert_files_equal(&parsed, &reparsed);
            st_file_clear(&reparsed);
            style__free(again);
        } else {
            assert_null(parsed.tensors);
        }
        st_file_clear(&parsed);
        free(exact);
    }
    print_message("fuzz: %zu ok, %zu format, %zu unsupported\n", counts[STYLE_OK],
                  counts[STYLE_ERR_FORMAT], counts[STYLE_ERR_UNSUPPORTED]);
    assert_true(counts[STYLE_OK] > 0 && counts[STYLE_ERR_FORMAT] > 0);
    free(buffer);
    style__free(valid);
}

/* ---- Allocation failure ----------------------------------------------------------------- */

static void test_alloc_failure_parse(void **state)
{
    st_file sample;
    build_sample(&sample);
    void *valid;
    size_t valid_size;
    assert_int_equal(st_serialize(&sample, &valid, &valid_size), STYLE_OK);

    long n;
    style_status status = STYLE_ERR_NOMEM;
    for (n = 1; n < 1000 && status == STYLE_ERR_NOMEM; n++) {
        st_file parsed;
        style__alloc_fail_after(n);
        status = st_parse(valid, valid_size, &parsed);
        style__alloc_fail_after(0);
        assert_true(status == STYLE_OK || status == STYLE_ERR_NOMEM);
        if (status == STYLE_OK) {
            assert_files_equal(&sample, &parsed);
        } else {
            assert_null(parsed.tensors);
            assert_null(parsed.metadata);
        }
        st_file_clear(&parsed);
    }
    assert_int_equal(status, STYLE_OK);
    assert_true(n > 10); /* the sample needs a dozen or so allocations */
    st_file_clear(&sample);
    style__free(valid);
}

static void test_alloc_failure_build_and_serialize(void **state)
{
    style_status status = STYLE_ERR_NOMEM;
    long n;
    for (n = 1; n < 1000 && status == STYLE_ERR_NOMEM; n++) {
        st_file file = {0};
        const float values[] = {1, 2, 3};
        const int64_t shape[] = {3};
        void *data = NULL;
        size_t size = 0;
        style__alloc_fail_after(n);
        status = st_file_add_metadata(&file, "k", "v");
        if (status == STYLE_OK) status = st_file_add_metadata(&file, "k2", "v2");
        if (status == STYLE_OK) status = st_file_add_tensor(&file, "t", 1, shape, values);
        if (status == STYLE_OK) status = st_file_add_tensor(&file, "u", 0, NULL, values);
        if (status == STYLE_OK) status = st_serialize(&file, &data, &size);
        style__alloc_fail_after(0);
        assert_true(status == STYLE_OK || status == STYLE_ERR_NOMEM);
        /* whatever was added is complete */
        for (size_t i = 0; i < file.tensor_count; i++)
            assert_non_null(file.tensors[i].data);
        if (status == STYLE_OK) {
            assert_int_equal(file.tensor_count, 2);
            assert_int_equal(file.metadata_count, 2);
            assert_non_null(data);
        } else {
            assert_null(data);
        }
        style__free(data);
        st_file_clear(&file);
    }
    assert_int_equal(status, STYLE_OK);
    assert_true(n > 8);
}

/* ---- Writer arguments ------------------------------------------------------------------- */

static void test_writer_rejects_bad_input(void **state)
{
    st_file file = {0};
    const float values[] = {1, 2};
    const int64_t shape[] = {2};
    const int64_t negative[] = {-2};
    const int64_t huge[] = {INT64_MAX, INT64_MAX};
    void *data;
    size_t size;

    assert_int_equal(st_file_add_tensor(&file, "t", 1, shape, values), STYLE_OK);
    assert_int_equal(st_file_add_tensor(&file, "t", 1, shape, values), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, "", 1, shape, values), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, NULL, 1, shape, values), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, "n", 1, negative, values),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, "h", 2, huge, values), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, "d", ST_MAX_DIMS + 1, shape, values),
                     STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(&file, "x", 1, shape, NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_tensor(NULL, "x", 1, shape, values), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_metadata(&file, "k", "v"), STYLE_OK);
    assert_int_equal(st_file_add_metadata(&file, "k", "w"), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_metadata(&file, "__metadata__", "w"), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(st_file_add_metadata(&file, "k2", NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(file.tensor_count, 1);
    assert_int_equal(file.metadata_count, 1);
    assert_int_equal(st_serialize(&file, &data, &size), STYLE_OK);
    style__free(data);

    /* Names Jansson cannot write: refused as bad arguments, not reported as out of memory. */
    assert_int_equal(st_file_add_tensor(&file, "bad\xff", 1, shape, values), STYLE_OK);
    assert_int_equal(st_serialize(&file, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
    assert_null(data);
    assert_int_equal(size, 0);
    st_file_clear(&file);

    assert_int_equal(st_file_add_metadata(&file, "k", "\xed\xa0\x80"), STYLE_OK); /* surrogate */
    assert_int_equal(st_serialize(&file, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
    st_file_clear(&file);

    assert_int_equal(st_file_add_tensor(&file, "__metadata__", 1, shape, values), STYLE_OK);
    assert_int_equal(st_serialize(&file, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
    st_file_clear(&file);

    assert_int_equal(st_serialize(NULL, &data, &size), STYLE_ERR_INVALID_ARGUMENT);
}

/* ---- A real file from the Python safetensors writer ------------------------------------- */

static void test_real_file(void **state)
{
    if (!test_have_shared("lossnets/darknet-tiny.safetensors", "darknet-tiny feature net")) {
        skip();
        return;
    }
    size_t size;
    void *bytes = test_read_file(STYLE_SHARED_DIR "/lossnets/darknet-tiny.safetensors", &size);
    assert_non_null(bytes);
    st_file parsed;
    style_status status = st_parse(bytes, size, &parsed);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_string_equal(st_metadata_find(&parsed, "libstyle.kind"), "feature-net");
    size_t parameters = 0;
    for (size_t i = 0; i < parsed.tensor_count; i++)
        parameters += parsed.tensors[i].count;
    assert_int_equal(parameters, 845248); /* formats.md */
    st_tensor *first = st_find(&parsed, "features.0.weight");
    assert_non_null(first);
    assert_int_equal(first->ndim, 4);

    /* Our writer's version parses back identical. */
    void *again;
    size_t again_size;
    assert_int_equal(st_serialize(&parsed, &again, &again_size), STYLE_OK);
    st_file reparsed;
    assert_int_equal(st_parse(again, again_size, &reparsed), STYLE_OK);
    assert_files_equal(&parsed, &reparsed);
    st_file_clear(&reparsed);
    st_file_clear(&parsed);
    style__free(again);
    free(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_serialize_exact_bytes),
        cmocka_unit_test(test_empty_file_round_trip),
        cmocka_unit_test(test_header_order_and_lookup),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_f64),
        cmocka_unit_test(test_f32_unaligned),
        cmocka_unit_test(test_half_helpers),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_valid_edge_case_values),
        cmocka_unit_test(test_corrupt_lengths),
        cmocka_unit_test(test_header_over_limit_present),
        cmocka_unit_test(test_fuzz),
        cmocka_unit_test(test_alloc_failure_parse),
        cmocka_unit_test(test_alloc_failure_build_and_serialize),
        cmocka_unit_test(test_writer_rejects_bad_input),
        cmocka_unit_test(test_real_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
