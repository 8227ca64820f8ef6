/*
 * The provenance a trained model records (libstyle.training): the trainer's settings with the
 * machine's paths replaced by file names and SHA-256 (style images, loss network, the model a
 * style was added to, the held-out list) and the data folder by its name and the hash of its
 * photo list, so that the files can be found again on any machine (`libstyle evaluate
 * --search`) and nothing about the training machine's folders is shipped.
 */
#include "core/file_sha256.h"
#include "train/train_provenance.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* o[key] = basename(path), o[key_sha256] = SHA-256 of the file (nothing for an empty path). */
static style_status record_file(json_t *o, const char *key, const char *path)
{
    char hex[SHA256_HEX_SIZE], hash_key[128];
    if (!path[0]) return STYLE_OK;
    style_status status = file_sha256(path, hex);
    if (status != STYLE_OK) return status;
    snprintf(hash_key, sizeof hash_key, "%s_sha256", key);
    if (json_object_set_new(o, key, json_string(style__basename(path))) ||
        json_object_set_new(o, hash_key, json_string(hex)))
        return style__fail(STYLE_ERR_NOMEM, "model export: out of memory");
    return STYLE_OK;
}

char *train_provenance_json(const train_settings *s, int64_t dataset_size, double seconds,
                            const char *data_sha256, const char *exclude_list)
{
    style_status status = STYLE_OK;
    char *settings = train_settings_to_json(s, dataset_size, seconds), *text = NULL;
    json_t *o = settings ? json_loads(settings, 0, NULL) : NULL;
    FAIL_IF(!o, STYLE_ERR_NOMEM, "model export: out of memory");
    TRY(record_file(o, "style_image", s->style_images[0]));
    TRY(record_file(o, "loss_net", s->loss_net));
    if (s->add_style_to[0]) TRY(record_file(o, "add_style_to", s->add_style_to));
    if (exclude_list) TRY(record_file(o, "exclude", exclude_list));
    /* The warm start's hash was taken when it was read. */
    if (s->init_model[0])
        json_object_set_new(o, "init_model", json_string(style__basename(s->init_model)));
    json_t *images = json_object_get(o, "style_images");
    if (images) {
        json_t *names = json_array(), *hashes = json_array();
        for (int32_t i = 0; i < s->style_count; i++) {
            char hex[SHA256_HEX_SIZE];
            TRY(file_sha256(s->style_images[i], hex));
            json_array_append_new(names, json_string(style__basename(s->style_images[i])));
            json_array_append_new(hashes, json_string(hex));
        }
        json_object_set_new(o, "style_images", names);
        json_object_set_new(o, "style_images_sha256", hashes);
    }
    char folder[TRAIN_PATH_MAX];
    snprintf(folder, sizeof folder, "%s", s->data_dir);
    size_t n = strlen(folder);
    while (n > 1 && folder[n - 1] == '/')
        folder[--n] = '\0';
    json_object_set_new(o, "data_dir", json_string(style__basename(folder)));
    if (data_sha256 && *data_sha256)
        json_object_set_new(o, "data_sha256", json_string(data_sha256));
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    FAIL_IF(!text, STYLE_ERR_NOMEM, "model export: out of memory");
fail:
    json_decref(o);
    free(settings);
    if (status != STYLE_OK) {
        free(text);
        return NULL;
    }
    return text;
}

char *train_provenance_adain_json(const char *settings_json, const char *loss_net,
                                  const char *data_sha256, const char *styles_sha256)
{
    style_status status = STYLE_OK;
    char *text = NULL;
    json_t *o = settings_json ? json_loads(settings_json, 0, NULL) : NULL;
    FAIL_IF(!o, STYLE_ERR_NOMEM, "model export: out of memory");
    TRY(record_file(o, "loss_net", loss_net));
    /* The held-out lists by name and hash; the warm start's model by name (its hash is in
     * the settings already, taken when it was read). */
    static const char *const lists[] = {"exclude", "style_exclude"};
    for (size_t i = 0; i < 2; i++) {
        const char *path = json_string_value(json_object_get(o, lists[i]));
        if (!path) continue;
        char copy[TRAIN_PATH_MAX];
        snprintf(copy, sizeof copy, "%s", path);
        TRY(record_file(o, lists[i], copy));
    }
    const char *init = json_string_value(json_object_get(o, "init_model"));
    if (init) json_object_set_new(o, "init_model", json_string(style__basename(init)));
    if (data_sha256 && *data_sha256)
        json_object_set_new(o, "data_sha256", json_string(data_sha256));
    if (styles_sha256 && *styles_sha256)
        json_object_set_new(o, "styles_sha256", json_string(styles_sha256));
    static const char *const folders[] = {"data_dir", "styles_dir"};
    for (size_t i = 0; i < 2; i++) {
        const char *value = json_string_value(json_object_get(o, folders[i]));
        if (!value) continue;
        char folder[TRAIN_PATH_MAX];
        snprintf(folder, sizeof folder, "%s", value);
        size_t n = strlen(folder);
        while (n > 1 && folder[n - 1] == '/')
            folder[--n] = '\0';
        json_object_set_new(o, folders[i], json_string(style__basename(folder)));
    }
    text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    FAIL_IF(!text, STYLE_ERR_NOMEM, "model export: out of memory");
fail:
    json_decref(o);
    if (status != STYLE_OK) {
        free(text);
        return NULL;
    }
    return text;
}
