/*
 * safetensors reading and writing (https://github.com/huggingface/safetensors format):
 * 8-byte little-endian header length N, N bytes of JSON, then the tensor data.
 * Reading validates everything the format's rules require (docs/formats.md) and converts
 * every tensor to float32. Writing emits F32 tensors and a string-to-string __metadata__.
 */
#ifndef STYLE_SAFETENSORS_H
#define STYLE_SAFETENSORS_H

#include "common.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u * 1000u * 1000u) /* formats.md: header over 100 MB refused */

typedef struct st_tensor {
    char *name;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t count;  /* product of shape (1 for a 0-d tensor) */
    float *data;   /* count floats, converted from the stored dtype */
    int used;      /* scratch flag for consumers (e.g. "this tensor was consumed") */
} st_tensor;

typedef struct st_metadata_entry {
    char *key;
    char *value;
} st_metadata_entry;

typedef struct st_file {
    st_tensor *tensors;  /* in the order of the JSON header */
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
 */
style_status st_parse(const void *data, size_t size, st_file *out);

/* Frees everything st_parse or the st_file_add_* functions allocated; leaves *file zeroed. */
void st_file_clear(st_file *file);

/* The tensor called `name`, or NULL. */
st_tensor *st_find(const st_file *file, const char *name);

/* The metadata value of `key`, or NULL. */
const char *st_metadata_find(const st_file *file, const char *key);

/*
 * Serialises tensors (as F32) and metadata into a fresh buffer (free with style__free).
 * Tensor data is laid out in the given order, 8-byte aligned header as the format recommends.
 */
style_status st_serialize(const st_file *file, void **data, size_t *size);

/* Helpers to build an st_file for writing: copies name/shape/data (or key/value). */
style_status st_file_add_tensor(st_file *file, const char *name, int32_t ndim,
                                const int64_t *shape, const float *data);
style_status st_file_add_metadata(st_file *file, const char *key, const char *value);

#endif
