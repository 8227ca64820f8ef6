/*
 * Loading a style model: metadata (with defaults and strict libstyle.* keys), the tensors of
 * the pytorch/examples TransformerNet state_dict checked name by name and shape by shape,
 * and the public model queries.
 */
#define _GNU_SOURCE /* strtod_l, newlocale */
#include "model/model.h"

#include "arch/arch.h"
#include "core/file_kind.h"

#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_metadata_keys[] = {
    "libstyle.format_version", "libstyle.arch",       "libstyle.padding",
    "libstyle.upsample",       "libstyle.norm",       "libstyle.norm_eps",
    "libstyle.output",         "libstyle.final_norm", "libstyle.name",
    "libstyle.license",        "libstyle.source",     "libstyle.description",
    "libstyle.training",       "libstyle.styles",
};

/* Picks the index of `value` in `names`, or fails naming the key and the allowed values. */
static style_status parse_choice(const char *key, const char *value, const char *const *names,
                                 int count, int *out)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(value, names[i]) == 0) {
            *out = i;
            return STYLE_OK;
        }
    }
    char allowed[256] = "";
    for (int i = 0; i < count; i++) {
        strncat(allowed, names[i], sizeof allowed - strlen(allowed) - 1);
        if (i + 1 < count) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
    }
    return style__fail(STYLE_ERR_UNSUPPORTED, "metadata %s = '%s' is not one of: %s", key, value,
                       allowed);
}

/* Locale-independent decimal parsing (a C-locale object, never the global locale). */
static bool parse_decimal(const char *text, double *out)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c_locale) return false;
    char *end = NULL;
    double value = strtod_l(text, &end, c_locale);
    freelocale(c_locale);
    if (end == text || *end != '\0') return false;
    *out = value;
    return true;
}

/* libstyle.styles: a JSON array of 1..MODEL_MAX_STYLES distinct, non-empty strings. */
static style_status parse_style_names(style_model *model, const char *text)
{
    style_status status = STYLE_OK;
    json_error_t error;
    json_t *array = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    FAIL_IF(!json_is_array(array), STYLE_ERR_FORMAT,
            "metadata libstyle.styles is not a JSON array of names");
    size_t count = json_array_size(array);
    FAIL_IF(count < 1 || count > MODEL_MAX_STYLES, STYLE_ERR_FORMAT,
            "metadata libstyle.styles has %zu names; 1..%d are supported", count,
            MODEL_MAX_STYLES);
    model->style_names = style__calloc(count, sizeof(char *));
    FAIL_IF(!model->style_names, STYLE_ERR_NOMEM, "out of memory");
    model->style_count = (int32_t)count;
    for (size_t i = 0; i < count; i++) {
        const char *name = json_string_value(json_array_get(array, i));
        FAIL_IF(!name || !*name, STYLE_ERR_FORMAT,
                "metadata libstyle.styles: entry %zu is not a non-empty string", i);
        for (size_t j = 0; j < i; j++)
            FAIL_IF(strcmp(model->style_names[j], name) == 0, STYLE_ERR_FORMAT,
                    "metadata libstyle.styles names '%s' twice", name);
        model->style_names[i] = style__strdup(name);
        FAIL_IF(!model->style_names[i], STYLE_ERR_NOMEM, "out of memory");
    }
fail:
    json_decref(array);
    return status;
}

static void free_style_names(style_model *model)
{
    for (int32_t i = 0; model->style_names && i < model->style_count; i++)
        style__free(model->style_names[i]);
    style__free(model->style_names);
    model->style_names = NULL;
    model->style_count = 0;
}

static style_status parse_metadata(style_model *model)
{
    static const char *const paddings[] = {"reflect", "zero", "tf_same"};
    static const char *const upsamples[] = {"nearest_conv", "transposed_tf", "transposed_torch"};
    static const char *const norms[] = {"instance", "batch"};
    static const char *const outputs[] = {"linear", "tanh150"};
    static const char *const final_norms[] = {"none", "instance"};
    const st_file *file = &model->file;
    style_status status = STYLE_OK;

    const char *value;
    if (st_metadata_find(file, "libstyle.checkpoint"))
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "this is a training checkpoint, not a model file (continue it with "
                           "'libstyle train --resume', or use the model the trainer wrote)");
    if ((value = st_metadata_find(file, "libstyle.kind")) && strcmp(value, "feature-net") == 0)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "this is a feature (loss) network file, not a style model");
    model->format_version = 1;
    if ((value = st_metadata_find(file, "libstyle.format_version"))) {
        char *end = NULL;
        long major = strtol(value, &end, 10);
        if (end == value || (*end != '\0' && *end != '.') || major < 1)
            return style__fail(STYLE_ERR_FORMAT, "metadata libstyle.format_version = '%s' is not "
                                                 "a version number", value);
        if (major > 1)
            return style__fail(STYLE_ERR_UNSUPPORTED,
                               "format version %ld is newer than this libstyle (%s) reads "
                               "(version 1); upgrade libstyle",
                               major, LIBSTYLE_VERSION_STRING);
        model->format_version = (int32_t)major;
    }
    model->arch = &arch_johnson;
    if ((value = st_metadata_find(file, "libstyle.arch"))) {
        model->arch = arch_find(value);
        if (!model->arch) {
            char names[128];
            arch_names(names, sizeof names);
            return style__fail(STYLE_ERR_UNSUPPORTED,
                               "metadata libstyle.arch = '%s' is not one of: %s", value, names);
        }
    }
    model->arch_name = model->arch->name;
    const bool cin = model->arch->conditional_styles;
    /* After the version and the architecture: a newer or other kind of file legitimately has
     * keys this version does not know (libstyle.styles, libstyle.encoder.*, ...). */
    for (size_t i = 0; i < file->metadata_count; i++) {
        const char *key = file->metadata[i].key;
        if (strncmp(key, "libstyle.", 9) != 0) continue;
        bool known = false;
        for (size_t k = 0; k < sizeof known_metadata_keys / sizeof *known_metadata_keys; k++)
            known = known || strcmp(key, known_metadata_keys[k]) == 0;
        for (const char *const *k = model->arch->metadata_keys; k && *k; k++)
            known = known || strcmp(key, *k) == 0;
        if (!known)
            return style__fail(STYLE_ERR_FORMAT, "unknown metadata key '%s' (a typo?)", key);
    }
    int choice = 0;
    if ((value = st_metadata_find(file, "libstyle.padding")))
        TRY(parse_choice("libstyle.padding", value, paddings, 3, &choice));
    model->padding = (model_padding)choice;
    choice = 0;
    if ((value = st_metadata_find(file, "libstyle.upsample")))
        TRY(parse_choice("libstyle.upsample", value, upsamples, 3, &choice));
    model->upsample = (model_upsample)choice;
    choice = 0;
    if ((value = st_metadata_find(file, "libstyle.norm")))
        TRY(parse_choice("libstyle.norm", value, norms, 2, &choice));
    model->norm = (model_norm_kind)choice;
    choice = 0;
    if ((value = st_metadata_find(file, "libstyle.output")))
        TRY(parse_choice("libstyle.output", value, outputs, 2, &choice));
    model->output = (model_output)choice;
    choice = 0;
    if ((value = st_metadata_find(file, "libstyle.final_norm")))
        TRY(parse_choice("libstyle.final_norm", value, final_norms, 2, &choice));
    model->final_norm = choice == 1;
    model->norm_eps = 1e-5f;
    if ((value = st_metadata_find(file, "libstyle.norm_eps"))) {
        double eps;
        /* (float)eps > 0: a double that underflows to a float 0 would divide by zero. */
        if (!parse_decimal(value, &eps) || !((float)eps > 0) || !isfinite(eps) || eps > 1.0)
            return style__fail(STYLE_ERR_FORMAT,
                               "metadata libstyle.norm_eps = '%s' is not a number in (0, 1]",
                               value);
        model->norm_eps = (float)eps;
    }
    value = st_metadata_find(file, "libstyle.styles");
    FAIL_IF(value && !cin, STYLE_ERR_FORMAT,
            "metadata libstyle.styles is only valid with libstyle.arch = johnson-cin");
    if (cin) {
        FAIL_IF(!value, STYLE_ERR_FORMAT,
                "a johnson-cin model needs libstyle.styles (a JSON array of the style names)");
        FAIL_IF(model->norm != NORM_INSTANCE, STYLE_ERR_FORMAT,
                "a johnson-cin model has conditional instance norms; libstyle.norm = batch is "
                "not valid with it");
        TRY(parse_style_names(model, value));
    }
    return STYLE_OK;
fail:
    return status;
}

/* Formats a shape as "[a,b,c]". */
static void format_shape(char *out, size_t size, int32_t ndim, const int64_t *shape)
{
    size_t used = (size_t)snprintf(out, size, "[");
    for (int32_t i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, i ? ",%lld" : "%lld",
                                 (long long)shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

style_status model_take_tensor(style_model *model, const char *name, int32_t ndim,
                               const int64_t *expected, st_tensor **out)
{
    st_tensor *t = st_find(&model->file, name);
    *out = NULL;
    if (!t) return style__fail(STYLE_ERR_FORMAT, "missing tensor '%s'", name);
    bool match = t->ndim == ndim;
    for (int32_t i = 0; match && i < ndim; i++)
        match = expected[i] <= 0 || t->shape[i] == expected[i];
    if (!match) {
        char got[128], want[128] = "[";
        format_shape(got, sizeof got, t->ndim, t->shape);
        for (int32_t i = 0; i < ndim; i++) {
            char part[32];
            if (expected[i] > 0)
                snprintf(part, sizeof part, i ? ",%lld" : "%lld", (long long)expected[i]);
            else
                snprintf(part, sizeof part, i ? ",*" : "*");
            strncat(want, part, sizeof want - strlen(want) - 1);
        }
        strncat(want, "]", sizeof want - strlen(want) - 1);
        return style__fail(STYLE_ERR_FORMAT, "tensor '%s' has shape %s, expected %s", name, got,
                           want);
    }
    if (!t->data)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "tensor '%s' has dtype %s; only F32, F16, BF16, F64 are supported", name,
                           t->dtype);
    t->used = 1;
    *out = t;
    return STYLE_OK;
}

style_status model_take_optional(style_model *model, const char *name, int32_t ndim,
                                 const int64_t *expected, st_tensor **out)
{
    *out = NULL;
    if (!st_find(&model->file, name)) return STYLE_OK;
    return model_take_tensor(model, name, ndim, expected, out);
}

style_status model_from_file(st_file *file, const char *name, const style_load_options *options,
                             style_model **out)
{
    style_status status = STYLE_OK;
    style_model *model = style__calloc(1, sizeof *model);
    *out = NULL;
    FAIL_IF(!model, STYLE_ERR_NOMEM, "model_load: %s: out of memory", name);
    model->file = *file;
    memset(file, 0, sizeof *file);
    atomic_init(&model->references, 1);
    model->source_name = style__strdup(name);
    FAIL_IF(!model->source_name, STYLE_ERR_NOMEM, "model_load: %s: out of memory", name);
    status = parse_metadata(model);
    if (status == STYLE_OK) status = model->arch->load(model);
    if (status != STYLE_OK) {
        char prefix[512];
        snprintf(prefix, sizeof prefix, "model_load: %s", name);
        style__prefix_error(prefix);
        goto fail;
    }
    if (options && options->struct_size > offsetof(style_load_options, log) && options->log) {
        size_t ignored = 0;
        for (size_t i = 0; i < model->file.tensor_count; i++)
            ignored += !model->file.tensors[i].used;
        if (ignored) {
            char message[256];
            snprintf(message, sizeof message, "%s: ignored %zu tensors (legacy running stats, "
                                              "extra.* data)", name, ignored);
            options->log(options->log_user, STYLE_LOG_INFO, message);
        }
    }
    *out = model;
    return STYLE_OK;
fail:
    if (model) {
        free_style_names(model);
        if (model->arch) model->arch->unload(model);
        st_file_clear(&model->file);
        style__free(model->source_name);
        style__free(model);
    } else {
        st_file_clear(file);
    }
    return status;
}

/*
 * The caller's options with every field past its struct_size zero (a program built against
 * an older libstyle.h passes a shorter struct), so that later code reads them all safely.
 */
static style_status load_options_copy(const style_load_options *options,
                                      style_load_options *copy)
{
    memset(copy, 0, sizeof *copy);
    if (options && options->struct_size < sizeof(size_t))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_load: options.struct_size not set");
    if (options)
        memcpy(copy, options,
               options->struct_size < sizeof *copy ? options->struct_size : sizeof *copy);
    if (!copy->max_bytes) copy->max_bytes = STYLE_DEFAULT_MAX_MODEL_BYTES;
    return STYLE_OK;
}

static style_status load_from_memory(const void *data, size_t size, const char *name,
                                     const style_load_options *options, style_model **out)
{
    st_file file = {0};
    st_limits limits = {.max_header_bytes = options->max_header_bytes,
                        .max_tensors = options->max_tensors,
                        .max_tensor_bytes = options->max_tensor_bytes};
    style_status status = style__file_kind_check(data, size, FILE_ROLE_MODEL);
    if (status == STYLE_OK) status = st_parse_limited(data, size, true, &limits, &file);
    if (status != STYLE_OK) {
        char prefix[512];
        snprintf(prefix, sizeof prefix, "model_load: %s", name);
        style__prefix_error(prefix);
        return status;
    }
    return model_from_file(&file, name, options, out);
}

style_status style_model_load(const char *path, const style_load_options *options,
                              style_model **out)
{
    if (out) *out = NULL;
    if (!path || !out)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_load: path or out is NULL");
    style_load_options limits;
    style_status status = load_options_copy(options, &limits);
    if (status != STYLE_OK) return status;
    void *data = NULL;
    size_t size = 0;
    status = style__read_file(path, (size_t)limits.max_bytes, &data, &size);
    if (status != STYLE_OK) {
        style__prefix_error("model_load");
        return status;
    }
    status = load_from_memory(data, size, path, &limits, out);
    style__free(data);
    return status;
}

style_status style_model_load_memory(const void *data, size_t size,
                                     const style_load_options *options, style_model **out)
{
    if (out) *out = NULL;
    if (!data || !out)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_load: data or out is NULL");
    style_load_options limits;
    style_status status = load_options_copy(options, &limits);
    if (status != STYLE_OK) return status;
    if (size > limits.max_bytes)
        return style__fail(STYLE_ERR_LIMIT, "model_load: <memory>: %zu bytes, over the limit",
                           size);
    return load_from_memory(data, size, "<memory>", &limits, out);
}

void model_retain(style_model *model)
{
    atomic_fetch_add(&model->references, 1);
}

void style_model_free(style_model *model)
{
    if (!model) return;
    if (atomic_fetch_sub(&model->references, 1) != 1) return;
    free_style_names(model);
    model->arch->unload(model);
    st_file_clear(&model->file);
    style__free(model->source_name);
    style__free(model);
}

static const char *padding_name(model_padding p)
{
    return p == PADDING_REFLECT ? "reflect" : p == PADDING_ZERO ? "zero" : "tf_same";
}

static const char *upsample_name(model_upsample u)
{
    return u == UPSAMPLE_NEAREST_CONV    ? "nearest_conv"
           : u == UPSAMPLE_TRANSPOSED_TF ? "transposed_tf"
                                         : "transposed_torch";
}

style_status style_model_get_info(const style_model *model, style_model_info *info)
{
    if (!model || !info)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_get_info: NULL argument");
    memset(info, 0, sizeof *info);
    info->arch = model->arch_name;
    info->padding = padding_name(model->padding);
    info->upsample = upsample_name(model->upsample);
    info->norm = model->norm == NORM_INSTANCE ? "instance" : "batch";
    info->output = model->output == OUTPUT_LINEAR ? "linear" : "tanh150";
    info->final_norm = model->final_norm ? "instance" : "none";
    info->norm_eps = model->norm_eps;
    info->format_version = model->format_version;
    for (int i = 0; i < 3; i++) info->widths[i] = model->down[i].conv.out_channels;
    info->residual_blocks = model->residual_blocks;
    info->has_bias = model->has_bias;
    info->parameter_count = model->parameter_count;
    if (model->arch->info) model->arch->info(model, info);
    return STYLE_OK;
}

size_t style_model_metadata_count(const style_model *model)
{
    return model ? model->file.metadata_count : 0;
}

style_status style_model_metadata_at(const style_model *model, size_t index, const char **key,
                                     const char **value)
{
    if (!model || !key || !value || index >= model->file.metadata_count)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_metadata_at: bad argument");
    *key = model->file.metadata[index].key;
    *value = model->file.metadata[index].value;
    return STYLE_OK;
}

const char *style_model_metadata_get(const style_model *model, const char *key)
{
    if (!model || !key) return NULL;
    return st_metadata_find(&model->file, key);
}

/* Names used by model_save.c. */
const char *model_padding_name(model_padding p)
{
    return padding_name(p);
}

const char *model_upsample_name(model_upsample u)
{
    return upsample_name(u);
}
