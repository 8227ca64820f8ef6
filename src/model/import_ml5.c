/*
 * Import of ml5 / deeplearn.js dumps of lengstrom/fast-style-transfer checkpoints
 * (docs/formats.md section 3): manifest.json + headerless float32 files, TensorFlow layouts.
 * The result is a regular model file whose metadata says how the original network computes
 * (tf_same padding, transposed_tf upsampling, eps 1e-3, tanh150 output, final instance norm).
 */
#include "model/import_ml5.h"
#include "arch/johnson_topology.h"
#include "model/model.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* What each Variable_k becomes: tensor name and rank (4: a kernel, 1: a norm vector). */
static void ml5_layout(ml5_entry vars[ML5_VARIABLES])
{
    /* Stage by stage of Johnson's table with the five blocks of fast-style-transfer: the
     * kernel, the norm's shift (beta), its scale (gamma); every stage has its norm (in6). */
    int v = 0;
    enum { ML5_BLOCKS = 5 };
    for (int32_t i = 0; i < johnson_step_count(ML5_BLOCKS); i++) {
        johnson_step step;
        johnson_step_at(ML5_BLOCKS, i, &step);
        snprintf(vars[v].name, sizeof vars[v].name, "%s.conv2d.weight", step.conv_name);
        vars[v++].rank = 4;
        snprintf(vars[v].name, sizeof vars[v].name, "%s.bias", step.norm_name);
        vars[v++].rank = 1;
        snprintf(vars[v].name, sizeof vars[v].name, "%s.weight", step.norm_name);
        vars[v++].rank = 1;
    }
}

/*
 * TensorFlow kernels [kh, kw, b, a] -> [a, b, kh, kw]. Conv kernels are HWIO (a = out,
 * b = in: OIHW); transposed-conv kernels are [kh, kw, out, in] (a = in, b = out: PyTorch's
 * ConvTranspose2d [in, out, kh, kw]). One transpose (3, 2, 0, 1) serves both.
 */
static void transpose_3201(const float *src, const int64_t shape[4], float *dst)
{
    int64_t kh = shape[0], kw = shape[1], nb = shape[2], na = shape[3];
    for (int64_t a = 0; a < na; a++)
        for (int64_t b = 0; b < nb; b++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t x = 0; x < kw; x++)
                    dst[((a * nb + b) * kh + y) * kw + x] = src[((y * kw + x) * nb + b) * na + a];
}

/* Checks manifest entry `index` and fills in its filename, shape and count. */
static style_status parse_entry(json_t *manifest, int index, ml5_entry *entry)
{
    style_status status = STYLE_OK;
    char key[32];
    if (index == 0)
        snprintf(key, sizeof key, "Variable");
    else
        snprintf(key, sizeof key, "Variable_%d", index);
    json_t *object = json_object_get(manifest, key);
    FAIL_IF(!json_is_object(object), STYLE_ERR_FORMAT, "manifest.json has no entry '%s'", key);
    json_t *filename = json_object_get(object, "filename");
    json_t *dims = json_object_get(object, "shape");
    FAIL_IF(!json_is_string(filename) || !json_is_array(dims), STYLE_ERR_FORMAT,
            "manifest.json entry '%s' needs a string 'filename' and an array 'shape'", key);
    const char *name = json_string_value(filename);
    FAIL_IF(!*name || strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0 ||
                strlen(name) > 255,
            STYLE_ERR_FORMAT, "manifest.json entry '%s' has a bad filename '%.64s'", key, name);
    FAIL_IF((int)json_array_size(dims) != entry->rank, STYLE_ERR_FORMAT,
            "manifest.json entry '%s' has %zu dimensions, expected %d", key, json_array_size(dims),
            entry->rank);
    entry->count = 1;
    for (int d = 0; d < entry->rank; d++) {
        json_t *dim = json_array_get(dims, (size_t)d);
        FAIL_IF(!json_is_integer(dim) || json_integer_value(dim) < 1 ||
                    json_integer_value(dim) > 65536,
                STYLE_ERR_FORMAT, "manifest.json entry '%s' has a bad shape", key);
        entry->shape[d] = json_integer_value(dim);
        FAIL_IF(!style__mul_size(entry->count, (size_t)entry->shape[d], &entry->count) ||
                    entry->count > ML5_MAX_FILE_BYTES / sizeof(float),
                STYLE_ERR_FORMAT, "manifest.json entry '%s' is too large", key);
    }
    entry->filename = name;
fail:
    return status;
}

style_status ml5_manifest_parse(const void *text, size_t size, ml5_manifest *out)
{
    style_status status = STYLE_OK;
    memset(out, 0, sizeof *out);
    FAIL_IF(size > ML5_MAX_MANIFEST_BYTES, STYLE_ERR_LIMIT,
            "manifest.json is %zu bytes, over the limit of %u", size, ML5_MAX_MANIFEST_BYTES);
    json_error_t error;
    json_t *manifest = json_loadb(text, size, JSON_REJECT_DUPLICATES, &error);
    out->json = manifest;
    FAIL_IF(!manifest, STYLE_ERR_FORMAT, "manifest.json: invalid JSON (%s, line %d)", error.text,
            error.line);
    FAIL_IF(!json_is_object(manifest), STYLE_ERR_FORMAT, "manifest.json: not a JSON object");
    ml5_layout(out->entries);
    for (int i = 0; i < ML5_VARIABLES; i++)
        TRY(parse_entry(manifest, i, &out->entries[i]));
    return STYLE_OK;
fail:
    ml5_manifest_clear(out);
    return status;
}

void ml5_manifest_clear(ml5_manifest *manifest)
{
    json_decref(manifest->json);
    manifest->json = NULL;
}

/* Reads one variable's float32 file, which must hold exactly the entry's values. */
static style_status read_variable(const char *dir, const ml5_entry *entry, float **data)
{
    style_status status = STYLE_OK;
    char path[4096];
    void *bytes = NULL;
    size_t size = 0;
    *data = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, entry->filename);
    TRY(style__read_file(path, ML5_MAX_FILE_BYTES, &bytes, &size));
    FAIL_IF(size != entry->count * sizeof(float), STYLE_ERR_FORMAT,
            "%s: %zu bytes, but shape needs %zu float32 values", entry->filename, size,
            entry->count);
    *data = bytes; /* little-endian float32, as on this host */
    return STYLE_OK;
fail:
    style__free(bytes);
    return status;
}

style_status style_import_ml5(const char *dir, const char *out_path, const char *name)
{
    style_status status = STYLE_OK;
    ml5_manifest manifest = {0};
    void *text = NULL, *bytes = NULL;
    size_t text_size = 0, size = 0;
    float *data = NULL, *converted = NULL;
    st_file file = {0};
    style_model *model = NULL;
    char path[4096];

    if (!dir || !out_path)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "import_ml5: dir or out_path is NULL");
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    TRY(style__read_file(path, ML5_MAX_MANIFEST_BYTES, &text, &text_size));
    status = ml5_manifest_parse(text, text_size, &manifest);
    if (status != STYLE_OK) {
        style__prefix_error(dir);
        goto fail;
    }

    for (int i = 0; i < ML5_VARIABLES; i++) {
        const ml5_entry *entry = &manifest.entries[i];
        int64_t converted_shape[4];
        TRY(read_variable(dir, entry, &data));
        const float *tensor = data;
        if (entry->rank == 4) {
            converted = style__malloc(entry->count * sizeof(float));
            FAIL_IF(!converted, STYLE_ERR_NOMEM, "out of memory");
            transpose_3201(data, entry->shape, converted);
            converted_shape[0] = entry->shape[3];
            converted_shape[1] = entry->shape[2];
            converted_shape[2] = entry->shape[0];
            converted_shape[3] = entry->shape[1];
            tensor = converted;
        } else {
            converted_shape[0] = entry->shape[0];
        }
        TRY(st_file_add_tensor(&file, entry->name, entry->rank, converted_shape, tensor));
        style__free(data);
        style__free(converted);
        data = converted = NULL;
    }
    static const char *const metadata[][2] = {
        {"libstyle.format_version", "1"},
        {"libstyle.arch", "johnson"},
        {"libstyle.padding", "tf_same"},
        {"libstyle.upsample", "transposed_tf"},
        {"libstyle.norm", "instance"},
        {"libstyle.norm_eps", "0.001"},
        {"libstyle.output", "tanh150"},
        {"libstyle.final_norm", "instance"},
        {"libstyle.source", "ml5 / lengstrom fast-style-transfer checkpoint dump"},
    };
    for (size_t i = 0; i < sizeof metadata / sizeof *metadata; i++)
        TRY(st_file_add_metadata(&file, metadata[i][0], metadata[i][1]));
    if (name) TRY(st_file_add_metadata(&file, "libstyle.name", name));

    /* Serialise, then load the bytes back as a model: the import is only written if the
     * result is a valid network. */
    TRY(st_serialize(&file, &bytes, &size));
    TRY(style_model_load_memory(bytes, size, NULL, &model));
    TRY(style__write_file_atomic(out_path, bytes, size));
    style_model_free(model);
    st_file_clear(&file);
    style__free(bytes);
    style__free(text);
    ml5_manifest_clear(&manifest);
    return STYLE_OK;
fail:
    style__prefix_error("import_ml5");
    style_model_free(model);
    st_file_clear(&file);
    style__free(bytes);
    style__free(data);
    style__free(converted);
    style__free(text);
    ml5_manifest_clear(&manifest);
    return status;
}
