/*
 * safetensors reading and writing (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length N, N bytes of JSON, then the tensor data.
 * Reading validates everything the format's rules require (docs/formats.md) and converts
 * every tensor to float32. Writing emits F32 tensors and a string-to-string __metadata__.
 */
#ifndef STYLE_SAFETENSORS_H
#define STYLE_SAFETENSORS_H

#include "core/common.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u * 1000u * 1000u) /* formats.md: header over 100 MB refused */

typedef struct st_tensor {
    char *name;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t count; /* product of shape (1 for a 0-d tensor) */
    float *data;  /* count floats, converted from the stored dtype */
    const char *dtype; /* the stored dtype ("F32", "I64", ...), a static string */
    int used;     /* scratch flag for consumers (e.g. "this tensor was consumed") */
} st_tensor;

typedef struct st_metadata_entry {
    char *key;
    char *value;
} st_metadata_entry;

typedef struct st_file {
    st_tensor *tensors; /* in the order of the JSON header */
    size_t tensor_count;
    st_metadata_entry *metadata; /* in the order of the JSON header */
    size_t metadata_count;
} st_file;

/*
 * Parses a safetensors image held in memory. On failure returns FORMAT/UNSUPPORTED/NOMEM
 * with a message (without a file name: the caller prefixes it) and leaves *out empty.
 * Rejects: a header length past the end or over ST_MAX_HEADER_BYTES; invalid JSON, duplicate
 * keys, a non-object header; entries without dtype/shape/data_offsets or with extra fields;
 * negative or overflowing shapes; offsets out of bounds, overlapping, leaving holes, or
 * trailing bytes after the last tensor; a byte size not equal to dtype size x element count;
 * dtypes other than F32, F16, BF16, F64 (UNSUPPORTED); __metadata__ that is not an object
 * of strings.
 * Details: tensors and metadata keep the order of the JSON header (Jansson iterates objects in
 * insertion order). Every entry is checked for corruption (FORMAT) before a valid but unusable
 * one is reported (UNSUPPORTED: another safetensors dtype, or more than ST_MAX_DIMS dimensions).
 * Empty tensor names are FORMAT; zero-size tensors and 0-d tensors (shape [], count 1) are valid.
 * F16 and BF16 widen exactly; F64 rounds to nearest float (out of range becomes +-inf).
 * `data` needs no alignment.
 */
style_status st_parse(const void *data, size_t size, st_file *out);

/* Caps applied while parsing (0 in a field: the default named in libstyle.h). */
typedef struct st_limits {
    uint64_t max_header_bytes; /* at most ST_MAX_HEADER_BYTES whatever is asked */
    uint64_t max_tensors;
    uint64_t max_tensor_bytes; /* all tensors as float32 */
} st_limits;

/* st_parse_lenient with caps: over one of them is STYLE_ERR_LIMIT, before allocating. */
style_status st_parse_limited(const void *data, size_t size, bool lenient,
                              const st_limits *limits, st_file *out);

/*
 * Like st_parse, but with lenient = true a tensor of a valid dtype that cannot be converted
 * (I64, U8, ...) is kept with data == NULL instead of failing the parse, so that a consumer
 * can ignore such tensors (PyTorch's int64 num_batches_tracked) and refuse only those it uses.
 */
style_status st_parse_lenient(const void *data, size_t size, bool lenient, st_file *out);

/* Frees everything st_parse or the st_file_add_* functions allocated; leaves *file zeroed. */
void st_file_clear(st_file *file);

/* The tensor called `name`, or NULL. */
st_tensor *st_find(const st_file *file, const char *name);

/* The metadata value of `key`, or NULL. */
const char *st_metadata_find(const st_file *file, const char *key);

/*
 * Serialises tensors (as F32) and metadata into a fresh buffer (free with style__free).
 * Tensor data is laid out in the given order, 8-byte aligned header as the format recommends.
 * The header is compact JSON: "__metadata__" first (omitted when there is none), then the
 * tensors in order, padded with spaces. Names and values that are not valid UTF-8, a tensor
 * called "__metadata__", and repeated names or keys are STYLE_ERR_INVALID_ARGUMENT.
 */
style_status st_serialize(const st_file *file, void **data, size_t *size);

/*
 * Helpers to build an st_file for writing: copies name/shape/data (or key/value) and appends.
 * A name or key already present is STYLE_ERR_INVALID_ARGUMENT (so is an empty tensor name, a
 * negative or overflowing shape, or NULL data for a non-empty tensor). On failure the file is
 * unchanged.
 */
style_status st_file_add_tensor(st_file *file, const char *name, int32_t ndim, const int64_t *shape,
                                const float *data);
style_status st_file_add_metadata(st_file *file, const char *key, const char *value);

#endif
