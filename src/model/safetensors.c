/*
 * safetensors reading and writing.
 *
 * Reading trusts nothing in the file: the header length is checked before anything is
 * allocated, every size is overflow-checked, and the data area must be tiled exactly by the
 * tensors (the safetensors rules). Problems that make a file corrupt are reported before an
 * unsupported dtype, so STYLE_ERR_UNSUPPORTED always means "a well-formed file we cannot use".
 *
 * Order: Jansson (2.8 and later) iterates objects in insertion order, so tensors and metadata
 * come back in the order of the JSON header, and st_serialize writes them in the order given.
 */
#include "model/safetensors.h"

#include "core/half.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_METADATA_KEY "__metadata__"

/* Every dtype the safetensors format defines, so that a valid file with a dtype we do not
 * convert is UNSUPPORTED rather than FORMAT. Sizes are in bits because of the 4- and 6-bit
 * float formats. */
typedef enum st_dtype_id { ST_F32, ST_F16, ST_BF16, ST_F64, ST_OTHER } st_dtype_id;

typedef struct st_dtype {
    const char *name;
    unsigned bits;
    st_dtype_id id;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 32, ST_F32},      {"F16", 16, ST_F16},      {"BF16", 16, ST_BF16},
    {"F64", 64, ST_F64},      {"BOOL", 8, ST_OTHER},    {"U8", 8, ST_OTHER},
    {"I8", 8, ST_OTHER},      {"F8_E5M2", 8, ST_OTHER}, {"F8_E4M3", 8, ST_OTHER},
    {"F8_E8M0", 8, ST_OTHER}, {"F4", 4, ST_OTHER},      {"F6_E2M3", 6, ST_OTHER},
    {"F6_E3M2", 6, ST_OTHER}, {"I16", 16, ST_OTHER},    {"U16", 16, ST_OTHER},
    {"I32", 32, ST_OTHER},    {"U32", 32, ST_OTHER},    {"I64", 64, ST_OTHER},
    {"U64", 64, ST_OTHER},    {"C64", 64, ST_OTHER},
};

static const st_dtype *st_dtype_find(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0) return &st_dtypes[i];
    return NULL;
}

/* Where one tensor's bytes lie in the data area, kept while checking the tiling. */
typedef struct st_span {
    size_t begin;
    size_t end;
    size_t tensor; /* index into st_file.tensors */
    const st_dtype *dtype;
} st_span;

static int st_span_compare(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static uint64_t st_read_le64(const unsigned char *p)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = (value << 8) | p[i];
    return value;
}

static void st_write_le64(unsigned char *p, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(value >> (8 * i));
}

static bool st_host_is_little_endian(void)
{
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

/* "[32,3,9,9]" from a JSON array of integers, for messages; "..." when it does not fit. */
static void st_format_json_shape(const json_t *shape, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    size_t i;
    json_t *dim;
    json_array_foreach(shape, i, dim)
    {
        int n = snprintf(buf + used, cap - used, "%s%" JSON_INTEGER_FORMAT, i ? "," : "",
                         json_integer_value(dim));
        if (n < 0 || (size_t)n >= cap - used - 1) {
            snprintf(buf + used, cap - used, ",...");
            return;
        }
        used += (size_t)n;
    }
    snprintf(buf + used, cap - used, "]");
}

/* Reads a JSON integer that must be >= 0 into a size_t. */
static bool st_json_to_size(const json_t *value, size_t *out)
{
    if (!json_is_integer(value)) return false;
    json_int_t v = json_integer_value(value);
    if (v < 0 || (uint64_t)v > SIZE_MAX) return false;
    *out = (size_t)v;
    return true;
}

/* Converts `count` stored values of `dtype` at `src` (any alignment) to float32. */
static void st_convert(const unsigned char *src, st_dtype_id dtype, size_t count, float *dst)
{
    switch (dtype) {
    case ST_F32:
        if (st_host_is_little_endian()) {
            memcpy(dst, src, count * sizeof(float));
        } else {
            for (size_t i = 0; i < count; i++) {
                const unsigned char *p = src + 4 * i;
                uint32_t bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                (uint32_t)p[3] << 24;
                memcpy(&dst[i], &bits, sizeof bits);
            }
        }
        break;
    case ST_F16:
        for (size_t i = 0; i < count; i++)
            dst[i] = style__f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    case ST_BF16:
        for (size_t i = 0; i < count; i++)
            dst[i] = style__bf16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
        break;
    case ST_F64:
        for (size_t i = 0; i < count; i++) {
            uint64_t bits = 0;
            for (int b = 7; b >= 0; b--)
                bits = (bits << 8) | src[8 * i + (size_t)b];
            double value;
            memcpy(&value, &bits, sizeof value);
            dst[i] = (float)value; /* out of float range becomes +-inf, as torch .float() does */
        }
        break;
    case ST_OTHER:
        break; /* refused before conversion */
    }
}

static style_status st_parse_metadata(const json_t *object, st_file *file)
{
    style_status status = STYLE_OK;
    FAIL_IF(!json_is_object(object), STYLE_ERR_FORMAT, "__metadata__ is not a JSON object");

    size_t count = json_object_size(object);
    file->metadata = style__calloc(count, sizeof *file->metadata);
    FAIL_IF(!file->metadata, STYLE_ERR_NOMEM, "out of memory for %zu metadata entries", count);

    const char *key;
    json_t *value;
    json_object_foreach((json_t *)object, key, value)
    {
        FAIL_IF(!json_is_string(value), STYLE_ERR_FORMAT,
                "__metadata__ value of '%s' is not a string", key);
        st_metadata_entry *entry = &file->metadata[file->metadata_count];
        entry->key = style__strdup(key);
        entry->value = style__strdup(json_string_value(value));
        file->metadata_count++; /* counted now so that clearing frees a half-filled entry */
        FAIL_IF(!entry->key || !entry->value, STYLE_ERR_NOMEM, "out of memory for metadata");
    }
fail:
    return status; /* the caller clears the file on failure */
}

/*
 * Checks one tensor entry of the header and records its name and shape in *tensor and its
 * byte range in *span. Shapes with more than ST_MAX_DIMS dimensions are checked fully but
 * reported through *too_many_dims (the file is valid, we just cannot hold them).
 */
static style_status st_parse_entry(const char *name, const json_t *entry, size_t data_size,
                                   st_tensor *tensor, st_span *span, bool *too_many_dims)
{
    style_status status = STYLE_OK;
    FAIL_IF(name[0] == '\0', STYLE_ERR_FORMAT, "a tensor has an empty name");
    FAIL_IF(!json_is_object(entry), STYLE_ERR_FORMAT, "tensor '%s': entry is not a JSON object",
            name);

    const char *field;
    json_t *value;
    json_object_foreach((json_t *)entry, field, value)
    {
        FAIL_IF(strcmp(field, "dtype") != 0 && strcmp(field, "shape") != 0 &&
                    strcmp(field, "data_offsets") != 0,
                STYLE_ERR_FORMAT, "tensor '%s' has an unexpected field '%s'", name, field);
    }

    const json_t *dtype_json = json_object_get(entry, "dtype");
    const json_t *shape = json_object_get(entry, "shape");
    const json_t *offsets = json_object_get(entry, "data_offsets");
    FAIL_IF(!dtype_json, STYLE_ERR_FORMAT, "tensor '%s' has no dtype", name);
    FAIL_IF(!shape, STYLE_ERR_FORMAT, "tensor '%s' has no shape", name);
    FAIL_IF(!offsets, STYLE_ERR_FORMAT, "tensor '%s' has no data_offsets", name);

    FAIL_IF(!json_is_string(dtype_json), STYLE_ERR_FORMAT, "tensor '%s': dtype is not a string",
            name);
    const st_dtype *dtype = st_dtype_find(json_string_value(dtype_json));
    FAIL_IF(!dtype, STYLE_ERR_FORMAT, "tensor '%s' has unknown dtype '%s'", name,
            json_string_value(dtype_json));

    FAIL_IF(!json_is_array(shape), STYLE_ERR_FORMAT, "tensor '%s': shape is not an array", name);
    size_t ndim = json_array_size(shape);
    size_t count = 1;
    size_t i;
    json_array_foreach(shape, i, value)
    {
        size_t dim;
        FAIL_IF(!st_json_to_size(value, &dim), STYLE_ERR_FORMAT,
                "tensor '%s': shape entry %zu is not a non-negative integer", name, i);
        FAIL_IF(!style__mul_size(count, dim, &count), STYLE_ERR_FORMAT,
                "tensor '%s': shape has too many elements", name);
        if (i < ST_MAX_DIMS) tensor->shape[i] = (int64_t)dim;
    }
    *too_many_dims = ndim > ST_MAX_DIMS;
    tensor->ndim = (int32_t)(ndim > ST_MAX_DIMS ? ST_MAX_DIMS : ndim);
    tensor->count = count;

    size_t begin, end;
    FAIL_IF(!json_is_array(offsets) || json_array_size(offsets) != 2 ||
                !st_json_to_size(json_array_get(offsets, 0), &begin) ||
                !st_json_to_size(json_array_get(offsets, 1), &end),
            STYLE_ERR_FORMAT,
            "tensor '%s': data_offsets is not [begin, end] (non-negative integers)", name);
    FAIL_IF(begin > end, STYLE_ERR_FORMAT,
            "tensor '%s': data_offsets [%zu, %zu] end before they begin", name, begin, end);
    FAIL_IF(end > data_size, STYLE_ERR_FORMAT,
            "tensor '%s': data_offsets [%zu, %zu] go past the end of the data area (%zu bytes)",
            name, begin, end, data_size);

    char shape_text[128];
    size_t bits;
    bool fits = style__mul_size(count, dtype->bits, &bits);
    if (!fits || bits % 8 != 0 || bits / 8 != end - begin) {
        st_format_json_shape(shape, shape_text, sizeof shape_text);
        FAIL_IF(!fits, STYLE_ERR_FORMAT, "tensor '%s': dtype %s x shape %s is too large", name,
                dtype->name, shape_text);
        FAIL_IF(bits % 8 != 0, STYLE_ERR_FORMAT,
                "tensor '%s': dtype %s x shape %s is %zu bits, not a whole number of bytes", name,
                dtype->name, shape_text, bits);
        FAIL_IF(true, STYLE_ERR_FORMAT,
                "tensor '%s': data_offsets [%zu, %zu] do not match dtype %s x shape %s (%zu bytes)",
                name, begin, end, dtype->name, shape_text, bits / 8);
    }

    tensor->name = style__strdup(name);
    FAIL_IF(!tensor->name, STYLE_ERR_NOMEM, "out of memory for tensor name '%s'", name);
    span->begin = begin;
    span->end = end;
    span->dtype = dtype;
fail:
    return status;
}

/* The sorted byte ranges must cover [0, data_size) exactly: no overlap, hole or trailing bytes. */
static style_status st_check_tiling(const st_span *spans, size_t count, const st_file *file,
                                    size_t data_size)
{
    style_status status = STYLE_OK;
    size_t expected = 0;
    for (size_t i = 0; i < count; i++) {
        const st_span *span = &spans[i];
        const char *name = file->tensors[span->tensor].name;
        if (span->begin < expected) {
            const st_span *previous = &spans[i - 1];
            FAIL_IF(true, STYLE_ERR_FORMAT,
                    "tensor '%s': data_offsets [%zu, %zu] overlap tensor '%s' [%zu, %zu]", name,
                    span->begin, span->end, file->tensors[previous->tensor].name, previous->begin,
                    previous->end);
        }
        FAIL_IF(span->begin > expected, STYLE_ERR_FORMAT,
                "data area has a hole: bytes [%zu, %zu) before tensor '%s' belong to no tensor",
                expected, span->begin, name);
        expected = span->end;
    }
    FAIL_IF(expected != data_size, STYLE_ERR_FORMAT,
            "data area has %zu trailing byte%s after the last tensor (ends at %zu of %zu)",
            data_size - expected, data_size - expected == 1 ? "" : "s", expected, data_size);
fail:
    return status;
}

style_status st_parse_lenient(const void *data, size_t size, bool lenient, st_file *out)
{
    return st_parse_limited(data, size, lenient, NULL, out);
}

style_status st_parse_limited(const void *data, size_t size, bool lenient,
                              const st_limits *limits, st_file *out)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    json_t *root = NULL;
    st_span *spans = NULL;
    const unsigned char *bytes = data;

    if (!out) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "st_parse: out is NULL");
    *out = (st_file){0};
    FAIL_IF(!data && size > 0, STYLE_ERR_INVALID_ARGUMENT, "st_parse: data is NULL");
    FAIL_IF(size < 8, STYLE_ERR_FORMAT, "file is %zu bytes, too short for the 8-byte header length",
            size);

    /* Checked before anything is allocated: the length comes straight from the file. */
    uint64_t header_size = st_read_le64(bytes);
    FAIL_IF(header_size > ST_MAX_HEADER_BYTES, STYLE_ERR_FORMAT,
            "header length %" PRIu64 " is over the %u-byte limit", header_size,
            ST_MAX_HEADER_BYTES);
    uint64_t max_header = limits && limits->max_header_bytes ? limits->max_header_bytes
                                                             : STYLE_DEFAULT_MAX_HEADER_BYTES;
    FAIL_IF(header_size > max_header, STYLE_ERR_LIMIT,
            "header length %" PRIu64 " is over the configured limit of %" PRIu64 " bytes",
            header_size, max_header);
    FAIL_IF(header_size > size - 8, STYLE_ERR_FORMAT,
            "header length %" PRIu64 " goes past the end of the file (%zu bytes)", header_size,
            size);
    const unsigned char *data_area = bytes + 8 + header_size;
    size_t data_size = size - 8 - (size_t)header_size;

    /* EOF check stays on: only whitespace (the format's space padding) may follow the JSON. */
    json_error_t error;
    root = json_loadb((const char *)bytes + 8, (size_t)header_size, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        FAIL_IF(json_error_code(&error) == json_error_out_of_memory, STYLE_ERR_NOMEM,
                "out of memory parsing the JSON header");
        FAIL_IF(true, STYLE_ERR_FORMAT, "invalid JSON header at byte %d: %s", error.position,
                error.text);
    }
    FAIL_IF(!json_is_object(root), STYLE_ERR_FORMAT, "JSON header is not an object");

    const json_t *metadata = json_object_get(root, ST_METADATA_KEY);
    if (metadata) TRY(st_parse_metadata(metadata, &file));

    size_t tensor_count = json_object_size(root) - (metadata ? 1 : 0);
    uint64_t max_tensors = limits && limits->max_tensors ? limits->max_tensors
                                                         : STYLE_DEFAULT_MAX_TENSORS;
    FAIL_IF(tensor_count > max_tensors, STYLE_ERR_LIMIT,
            "%zu tensors, over the limit of %" PRIu64, tensor_count, max_tensors);
    file.tensors = style__calloc(tensor_count, sizeof *file.tensors);
    spans = style__calloc(tensor_count, sizeof *spans);
    FAIL_IF(!file.tensors || !spans, STYLE_ERR_NOMEM, "out of memory for %zu tensors",
            tensor_count);
    file.tensor_count = tensor_count; /* calloc'd, so clearing a half-filled file is safe */

    /* Every entry is checked for corruption before an unsupported one is reported. */
    const char *unsupported = NULL;
    const char *too_many_dims = NULL;
    size_t index = 0;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (strcmp(key, ST_METADATA_KEY) == 0) continue;
        bool too_many = false;
        TRY(st_parse_entry(key, value, data_size, &file.tensors[index], &spans[index], &too_many));
        spans[index].tensor = index;
        if (spans[index].dtype->id == ST_OTHER && !unsupported) unsupported = key;
        if (too_many && !too_many_dims) too_many_dims = key;
        index++;
    }

    qsort(spans, tensor_count, sizeof *spans, st_span_compare);
    TRY(st_check_tiling(spans, tensor_count, &file, data_size));

    if (unsupported && !lenient) {
        const json_t *entry = json_object_get(root, unsupported);
        FAIL_IF(true, STYLE_ERR_UNSUPPORTED,
                "tensor '%s' has dtype %s; only F32, F16, BF16, F64 are supported", unsupported,
                json_string_value(json_object_get(entry, "dtype")));
    }
    FAIL_IF(too_many_dims, STYLE_ERR_UNSUPPORTED,
            "tensor '%s' has %zu dimensions; at most %d are supported", too_many_dims,
            json_array_size(json_object_get(json_object_get(root, too_many_dims), "shape")),
            ST_MAX_DIMS);

    /* The float32 copies are checked against the cap before any of them is allocated. */
    uint64_t max_tensor_bytes = limits && limits->max_tensor_bytes
                                    ? limits->max_tensor_bytes
                                    : STYLE_DEFAULT_MAX_TENSOR_BYTES;
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < tensor_count; i++) {
        if (spans[i].dtype->id == ST_OTHER) continue;
        uint64_t count = file.tensors[spans[i].tensor].count;
        FAIL_IF(count > (UINT64_MAX - total_bytes) / sizeof(float) ||
                    (total_bytes += count * sizeof(float)) > max_tensor_bytes,
                STYLE_ERR_LIMIT, "tensor data needs over %" PRIu64 " bytes as float32 (limit)",
                max_tensor_bytes);
    }
    for (size_t i = 0; i < tensor_count; i++) {
        st_tensor *tensor = &file.tensors[spans[i].tensor];
        tensor->dtype = spans[i].dtype->name;
        if (spans[i].dtype->id == ST_OTHER) continue; /* lenient: kept without data */
        size_t float_bytes;
        FAIL_IF(!style__mul_size(tensor->count, sizeof(float), &float_bytes), STYLE_ERR_NOMEM,
                "tensor '%s' is too large", tensor->name);
        tensor->data = style__malloc(float_bytes);
        FAIL_IF(!tensor->data, STYLE_ERR_NOMEM, "out of memory for tensor '%s' (%zu bytes)",
                tensor->name, float_bytes);
        st_convert(data_area + spans[i].begin, spans[i].dtype->id, tensor->count, tensor->data);
    }

    *out = file;
    file = (st_file){0};
fail:
    st_file_clear(&file);
    json_decref(root);
    style__free(spans);
    return status;
}

style_status st_parse(const void *data, size_t size, st_file *out)
{
    return st_parse_lenient(data, size, false, out);
}

void st_file_clear(st_file *file)
{
    if (!file) return;
    for (size_t i = 0; i < file->tensor_count; i++) {
        style__free(file->tensors[i].name);
        style__free(file->tensors[i].data);
    }
    for (size_t i = 0; i < file->metadata_count; i++) {
        style__free(file->metadata[i].key);
        style__free(file->metadata[i].value);
    }
    style__free(file->tensors);
    style__free(file->metadata);
    *file = (st_file){0};
}

st_tensor *st_find(const st_file *file, const char *name)
{
    if (!file || !name) return NULL;
    for (size_t i = 0; i < file->tensor_count; i++)
        if (strcmp(file->tensors[i].name, name) == 0) return &file->tensors[i];
    return NULL;
}

const char *st_metadata_find(const st_file *file, const char *key)
{
    if (!file || !key) return NULL;
    for (size_t i = 0; i < file->metadata_count; i++)
        if (strcmp(file->metadata[i].key, key) == 0) return file->metadata[i].value;
    return NULL;
}

/* Strict UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as Jansson demands:
 * checking first lets a NULL from Jansson mean only "out of memory". */
static bool st_is_utf8(const char *text)
{
    const unsigned char *s = (const unsigned char *)text;
    while (*s) {
        unsigned c = *s;
        size_t length;
        uint32_t code, min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            length = 2, code = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3, code = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4, code = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        for (size_t i = 1; i < length; i++) {
            if ((s[i] & 0xc0) != 0x80) return false; /* also stops at the terminating NUL */
            code = (code << 6) | (s[i] & 0x3f);
        }
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        s += length;
    }
    return true;
}

/* {"dtype":"F32","shape":[...],"data_offsets":[begin,end]}, or NULL when out of memory.
 * Jansson's *_new functions consume their argument even when they fail, so no leak. */
static json_t *st_tensor_entry(const st_tensor *tensor, size_t begin, size_t end)
{
    json_t *entry = json_object();
    json_t *shape = json_array();
    json_t *offsets = json_array();
    int failed = 0;
    for (int32_t d = 0; d < tensor->ndim; d++)
        failed |= json_array_append_new(shape, json_integer((json_int_t)tensor->shape[d]));
    failed |= json_array_append_new(offsets, json_integer((json_int_t)begin));
    failed |= json_array_append_new(offsets, json_integer((json_int_t)end));
    failed |= json_object_set_new(entry, "dtype", json_string("F32"));
    failed |= json_object_set_new(entry, "shape", shape);
    failed |= json_object_set_new(entry, "data_offsets", offsets);
    if (failed) {
        json_decref(entry);
        return NULL;
    }
    return entry;
}

/* Element count of a shape, or false when a dimension is negative or the product overflows. */
static bool st_shape_count(int32_t ndim, const int64_t *shape, size_t *count)
{
    size_t product = 1;
    for (int32_t d = 0; d < ndim; d++) {
        if (shape[d] < 0 || (uint64_t)shape[d] > SIZE_MAX) return false;
        if (!style__mul_size(product, (size_t)shape[d], &product)) return false;
    }
    *count = product;
    return true;
}

style_status st_serialize(const st_file *file, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    json_t *root = NULL;
    char *header = NULL;
    unsigned char *buffer = NULL;

    if (data) *data = NULL;
    if (size) *size = 0;
    FAIL_IF(!file || !data || !size, STYLE_ERR_INVALID_ARGUMENT, "st_serialize: NULL argument");

    root = json_object();
    FAIL_IF(!root, STYLE_ERR_NOMEM, "out of memory building the safetensors header");

    if (file->metadata_count > 0) {
        json_t *metadata = json_object();
        FAIL_IF(json_object_set_new(root, ST_METADATA_KEY, metadata) != 0, STYLE_ERR_NOMEM,
                "out of memory building the safetensors header");
        for (size_t i = 0; i < file->metadata_count; i++) {
            const st_metadata_entry *entry = &file->metadata[i];
            FAIL_IF(!entry->key || !entry->value || !st_is_utf8(entry->key) ||
                        !st_is_utf8(entry->value),
                    STYLE_ERR_INVALID_ARGUMENT, "metadata entry %zu is not valid UTF-8 text", i);
            FAIL_IF(json_object_get(metadata, entry->key), STYLE_ERR_INVALID_ARGUMENT,
                    "metadata key '%s' appears twice", entry->key);
            FAIL_IF(json_object_set_new(metadata, entry->key, json_string(entry->value)) != 0,
                    STYLE_ERR_NOMEM, "out of memory building the safetensors header");
        }
    }

    size_t data_bytes = 0;
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *tensor = &file->tensors[i];
        FAIL_IF(!tensor->name || !tensor->name[0] || !st_is_utf8(tensor->name),
                STYLE_ERR_INVALID_ARGUMENT, "tensor %zu has an empty or non-UTF-8 name", i);
        FAIL_IF(strcmp(tensor->name, ST_METADATA_KEY) == 0 || json_object_get(root, tensor->name),
                STYLE_ERR_INVALID_ARGUMENT, "tensor name '%s' is reserved or appears twice",
                tensor->name);
        size_t count, bytes, end;
        FAIL_IF(tensor->ndim < 0 || tensor->ndim > ST_MAX_DIMS ||
                    !st_shape_count(tensor->ndim, tensor->shape, &count) ||
                    count != tensor->count || (count > 0 && !tensor->data),
                STYLE_ERR_INVALID_ARGUMENT,
                "tensor '%s': shape, element count and data do not agree", tensor->name);
        FAIL_IF(!style__mul_size(count, sizeof(float), &bytes) ||
                    !style__add_size(data_bytes, bytes, &end) || end > (uint64_t)INT64_MAX,
                STYLE_ERR_LIMIT, "tensor data too large to serialise");
        FAIL_IF(json_object_set_new(root, tensor->name, st_tensor_entry(tensor, data_bytes, end)),
                STYLE_ERR_NOMEM, "out of memory building the safetensors header");
        data_bytes = end;
    }

    header = json_dumps(root, JSON_COMPACT);
    FAIL_IF(!header, STYLE_ERR_NOMEM, "out of memory writing the safetensors header");

    /* Space padding so that the data starts 8-byte aligned, as the reference writer does. */
    size_t header_length = strlen(header);
    size_t padded = (header_length + 7) / 8 * 8;
    FAIL_IF(padded > ST_MAX_HEADER_BYTES, STYLE_ERR_LIMIT,
            "safetensors header would be %zu bytes, over the %u-byte limit", padded,
            ST_MAX_HEADER_BYTES);
    size_t total;
    FAIL_IF(!style__add_size(8 + padded, data_bytes, &total), STYLE_ERR_LIMIT,
            "safetensors file too large");
    buffer = style__malloc(total);
    FAIL_IF(!buffer, STYLE_ERR_NOMEM, "out of memory for a %zu-byte safetensors file", total);

    st_write_le64(buffer, padded);
    memcpy(buffer + 8, header, header_length);
    memset(buffer + 8 + header_length, ' ', padded - header_length);
    unsigned char *out = buffer + 8 + padded;
    bool little_endian = st_host_is_little_endian();
    for (size_t i = 0; i < file->tensor_count; i++) {
        const st_tensor *tensor = &file->tensors[i];
        if (tensor->count == 0) continue;
        if (little_endian) {
            memcpy(out, tensor->data, tensor->count * sizeof(float));
            out += tensor->count * sizeof(float);
        } else {
            for (size_t k = 0; k < tensor->count; k++) {
                uint32_t bits;
                memcpy(&bits, &tensor->data[k], sizeof bits);
                for (int b = 0; b < 4; b++)
                    *out++ = (unsigned char)(bits >> (8 * b));
            }
        }
    }

    *data = buffer;
    *size = total;
    buffer = NULL;
fail:
    style__free(buffer);
    free(header); /* json_dumps allocates with Jansson's allocator, which is malloc */
    json_decref(root);
    return status;
}

style_status st_file_add_tensor(st_file *file, const char *name, int32_t ndim, const int64_t *shape,
                                const float *data)
{
    style_status status = STYLE_OK;
    char *name_copy = NULL;
    float *data_copy = NULL;
    size_t count = 0, bytes = 0;

    FAIL_IF(!file || !name || !name[0], STYLE_ERR_INVALID_ARGUMENT,
            "st_file_add_tensor: NULL file or empty name");
    FAIL_IF(ndim < 0 || ndim > ST_MAX_DIMS || (ndim > 0 && !shape), STYLE_ERR_INVALID_ARGUMENT,
            "tensor '%s': %d dimensions (0 to %d allowed)", name, ndim, ST_MAX_DIMS);
    FAIL_IF(!st_shape_count(ndim, shape, &count) || !style__mul_size(count, sizeof(float), &bytes),
            STYLE_ERR_INVALID_ARGUMENT, "tensor '%s': negative or overflowing shape", name);
    FAIL_IF(count > 0 && !data, STYLE_ERR_INVALID_ARGUMENT, "tensor '%s': data is NULL", name);
    FAIL_IF(st_find(file, name), STYLE_ERR_INVALID_ARGUMENT, "tensor '%s' added twice", name);

    name_copy = style__strdup(name);
    data_copy = style__malloc(bytes);
    FAIL_IF(!name_copy || !data_copy, STYLE_ERR_NOMEM, "out of memory for tensor '%s'", name);
    if (bytes) memcpy(data_copy, data, bytes);

    st_tensor *grown = style__realloc(file->tensors, (file->tensor_count + 1) * sizeof *grown);
    FAIL_IF(!grown, STYLE_ERR_NOMEM, "out of memory for tensor '%s'", name);
    file->tensors = grown;

    st_tensor *tensor = &file->tensors[file->tensor_count++];
    *tensor = (st_tensor){.name = name_copy, .ndim = ndim, .count = count, .data = data_copy};
    for (int32_t d = 0; d < ndim; d++)
        tensor->shape[d] = shape[d];
    name_copy = NULL;
    data_copy = NULL;
fail:
    style__free(name_copy);
    style__free(data_copy);
    return status;
}

style_status st_file_add_metadata(st_file *file, const char *key, const char *value)
{
    style_status status = STYLE_OK;
    st_metadata_entry entry = {0};

    FAIL_IF(!file || !key || !value, STYLE_ERR_INVALID_ARGUMENT,
            "st_file_add_metadata: NULL argument");
    FAIL_IF(strcmp(key, ST_METADATA_KEY) == 0 || st_metadata_find(file, key),
            STYLE_ERR_INVALID_ARGUMENT, "metadata key '%s' added twice or reserved", key);

    entry.key = style__strdup(key);
    entry.value = style__strdup(value);
    FAIL_IF(!entry.key || !entry.value, STYLE_ERR_NOMEM, "out of memory for metadata '%s'", key);

    st_metadata_entry *grown =
        style__realloc(file->metadata, (file->metadata_count + 1) * sizeof *grown);
    FAIL_IF(!grown, STYLE_ERR_NOMEM, "out of memory for metadata '%s'", key);
    file->metadata = grown;
    file->metadata[file->metadata_count++] = entry;
    entry = (st_metadata_entry){0};
fail:
    style__free(entry.key);
    style__free(entry.value);
    return status;
}
