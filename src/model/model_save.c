/* Writing a model back to safetensors, with every libstyle.* metadata key explicit. */
#define _GNU_SOURCE /* newlocale, uselocale */
#include "model/model.h"

#include "arch/arch.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Formats a float in C-locale notation whatever the process locale is, with the fewest digits
 * that read back as the same float ("0.001", not "0.00100000005"; 9 digits always do).
 */
static void format_decimal(char *out, size_t size, float value)
{
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t previous = c_locale ? uselocale(c_locale) : (locale_t)0;
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(out, size, "%.*g", digits, (double)value);
        if (strtof(out, NULL) == value) break;
    }
    if (c_locale) {
        uselocale(previous);
        freelocale(c_locale);
    }
}

style_status style_model_save(const style_model *model, const char *path)
{
    style_status status = STYLE_OK;
    st_file out = {0};
    void *bytes = NULL;
    size_t size = 0;
    if (!model || !path)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "model_save: NULL argument");

    char eps[64], version[16];
    format_decimal(eps, sizeof eps, model->norm_eps);
    snprintf(version, sizeof version, "%d", (int)model->format_version);
    const char *explicit_keys[][2] = {
        {"libstyle.format_version", version},
        {"libstyle.arch", model->arch_name},
        {"libstyle.padding", model_padding_name(model->padding)},
        {"libstyle.upsample", model_upsample_name(model->upsample)},
        {"libstyle.norm", model->norm == NORM_INSTANCE ? "instance" : "batch"},
        {"libstyle.norm_eps", eps},
        {"libstyle.output", model->output == OUTPUT_LINEAR ? "linear" : "tanh150"},
        {"libstyle.final_norm", model->final_norm ? "instance" : "none"},
    };
    size_t explicit_count = sizeof explicit_keys / sizeof *explicit_keys;
    if (!model->arch->transform_keys) explicit_count = 2; /* version and arch only */
    for (size_t i = 0; i < explicit_count; i++)
        TRY(st_file_add_metadata(&out, explicit_keys[i][0], explicit_keys[i][1]));
    for (size_t i = 0; i < model->file.metadata_count; i++) {
        const st_metadata_entry *entry = &model->file.metadata[i];
        bool replaced = false;
        for (size_t k = 0; k < explicit_count; k++)
            replaced = replaced || strcmp(entry->key, explicit_keys[k][0]) == 0;
        if (!replaced) TRY(st_file_add_metadata(&out, entry->key, entry->value));
    }
    for (size_t i = 0; i < model->file.tensor_count; i++) {
        const st_tensor *t = &model->file.tensors[i];
        if (!t->data) continue; /* an ignored tensor of a dtype we do not convert */
        TRY(st_file_add_tensor(&out, t->name, t->ndim, t->shape, t->data));
    }
    TRY(st_serialize(&out, &bytes, &size));
    TRY(style__write_file_atomic(path, bytes, size));
    st_file_clear(&out);
    style__free(bytes);
    return STYLE_OK;
fail:
    style__prefix_error("model_save");
    st_file_clear(&out);
    style__free(bytes);
    return status;
}
