/*
 * The ml5 / deeplearn.js manifest (docs/formats.md section 3): manifest.json maps Variable,
 * Variable_1 .. Variable_47 to a raw float32 file and a shape. Parsed and checked completely
 * before any weight file is opened, so that a hostile manifest costs nothing but its parse
 * (and so that the parser can be fuzzed on its own: tests/fuzz/fuzz_ml5_manifest.c).
 */
#ifndef STYLE_IMPORT_ML5_H
#define STYLE_IMPORT_ML5_H

#include "core/common.h"

#define ML5_VARIABLES 48
#define ML5_MAX_MANIFEST_BYTES (1u << 20)
#define ML5_MAX_FILE_BYTES (64u << 20)

typedef struct ml5_entry {
    char name[48];        /* the tensor it becomes ("conv1.conv2d.weight", ...) */
    int rank;             /* 4 (a kernel, TensorFlow layout) or 1 */
    int64_t shape[4];     /* as the manifest gives it */
    size_t count;         /* product of shape */
    const char *filename; /* a plain name inside the dump's directory; points into the JSON */
} ml5_entry;

typedef struct ml5_manifest {
    void *json; /* the parsed document (json_t *), which owns the filenames */
    ml5_entry entries[ML5_VARIABLES];
} ml5_manifest;

/* Parses and checks manifest.json's bytes; messages carry no file name. Clear *out after. */
style_status ml5_manifest_parse(const void *text, size_t size, ml5_manifest *out);
void ml5_manifest_clear(ml5_manifest *manifest);

#endif
