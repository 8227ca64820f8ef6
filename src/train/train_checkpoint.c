/*
 * Trainer settings (JSON), checkpoints and the final model export, all safetensors files
 * written atomically. A checkpoint carries libstyle.checkpoint = 1, so the model loader refuses
 * it with a clear message rather than running half-trained weights by accident.
 */
#include "train/train_checkpoint.h"
#include "train/train_provenance.h"
#include "arch/johnson_topology.h"

#include "core/file_kind.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *train_settings_to_json(const train_settings *s, int64_t dataset_size, double seconds)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:[i,i,i], s:i, s:s, s:i, s:i, s:i, s:I, s:f, s:s, s:f, s:f, s:f, "
        "s:s, s:s, s:s, s:I}",
        "style_image", s->style_images[0], "data_dir", s->data_dir, "loss_net", s->loss_net,
        "widths", s->net.widths[0], s->net.widths[1], s->net.widths[2], "residual_blocks",
        s->net.residual_blocks, "norm", s->net.batch_norm ? "batch" : "instance", "crop_size",
        s->crop_size, "style_size", s->style_size, "batch_size", s->batch_size, "iterations",
        (json_int_t)s->iterations, "learning_rate", s->learning_rate, "lr_schedule",
        s->cosine ? "cosine" : "constant", "content_weight", s->content_weight, "style_weight",
        s->style_weight, "tv_weight", s->tv_weight, "content_layer", s->content_layer,
        "style_layers", s->style_layers, "seed", "", "checkpoint_every",
        (json_int_t)s->checkpoint_every);
    if (!o) return NULL;
    /* The seed is a full 64-bit value: keep it exact as a string. */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)s->seed);
    json_object_set_new(o, "seed", json_string(seed));
    if (s->style_count > 1 || s->net.styles) {
        /* Several styles: every image, the names of all the network's styles, and which of
         * them this run trains. */
        json_t *images = json_array(), *names = json_array();
        for (int32_t i = 0; i < s->style_count; i++)
            json_array_append_new(images, json_string(s->style_images[i]));
        for (int32_t i = 0; i < s->net.styles; i++)
            json_array_append_new(names, json_string(s->style_names[i]));
        json_object_set_new(o, "style_images", images);
        json_object_set_new(o, "style_names", names);
        json_object_set_new(o, "styles", json_integer(s->net.styles));
        json_object_set_new(o, "first_style", json_integer(s->first_style));
        if (s->add_style_to[0])
            json_object_set_new(o, "add_style_to", json_string(s->add_style_to));
    }
    /* Quality terms, written only when used (older readers and models stay as they were). */
    if (s->average_pooling) json_object_set_new(o, "loss_pooling", json_string("avg"));
    if (s->color_weight > 0) json_object_set_new(o, "color_weight", json_real(s->color_weight));
    if (s->grid_weight > 0) json_object_set_new(o, "grid_weight", json_real(s->grid_weight));
    if (s->temporal_weight > 0)
        json_object_set_new(o, "temporal_weight", json_real(s->temporal_weight));
    if (s->loss_shift > 0) json_object_set_new(o, "loss_shift", json_integer(s->loss_shift));
    if (s->bf16) json_object_set_new(o, "precision", json_string("bf16"));
    if (s->max_short_side > 0)
        json_object_set_new(o, "max_short_side", json_integer(s->max_short_side));
    if (s->init_model[0]) {
        json_object_set_new(o, "init_model", json_string(s->init_model));
        json_object_set_new(o, "init_model_sha256", json_string(s->init_model_sha256));
    }
    if (dataset_size >= 0) json_object_set_new(o, "dataset_size", json_integer(dataset_size));
    if (seconds >= 0) json_object_set_new(o, "seconds", json_real(seconds));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return text;
}

/* The optional several-styles part of the settings (absent: one style, plain network). */
static style_status styles_from_json(json_t *o, train_settings *s)
{
    json_t *images = json_object_get(o, "style_images"), *names = json_object_get(o, "style_names");
    json_t *styles = json_object_get(o, "styles"), *first = json_object_get(o, "first_style");
    const char *add = json_string_value(json_object_get(o, "add_style_to"));
    if (!images) return STYLE_OK;
    size_t count = json_array_size(images), named = json_array_size(names);
    json_int_t net_styles = json_integer_value(styles), first_style = json_integer_value(first);
    if (count < 1 || count > TRAIN_MAX_STYLES || net_styles < 0 || net_styles > TRAIN_MAX_STYLES ||
        named != (size_t)net_styles || first_style < 0 ||
        (net_styles && first_style + (json_int_t)count > net_styles))
        return style__fail(STYLE_ERR_FORMAT, "training settings: inconsistent styles");
    for (size_t i = 0; i < count; i++) {
        const char *path = json_string_value(json_array_get(images, i));
        if (!path || strlen(path) >= TRAIN_PATH_MAX)
            return style__fail(STYLE_ERR_FORMAT, "training settings: bad style image");
        snprintf(s->style_images[i], TRAIN_PATH_MAX, "%s", path);
    }
    for (size_t i = 0; i < named; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        if (!name || strlen(name) >= TRAIN_STYLE_NAME_MAX)
            return style__fail(STYLE_ERR_FORMAT, "training settings: bad style name");
        snprintf(s->style_names[i], TRAIN_STYLE_NAME_MAX, "%s", name);
    }
    if (add && strlen(add) >= TRAIN_PATH_MAX)
        return style__fail(STYLE_ERR_FORMAT, "training settings: bad add_style_to");
    snprintf(s->add_style_to, TRAIN_PATH_MAX, "%s", add ? add : "");
    s->style_count = (int32_t)count;
    s->net.styles = (int32_t)net_styles;
    s->first_style = (int32_t)first_style;
    s->net.frozen_convs = add != NULL;
    return STYLE_OK;
}

style_status train_settings_from_json(const char *text, train_settings *s)
{
    style_status status = STYLE_OK;
    json_error_t error;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    const char *style_image, *data_dir, *loss_net, *norm, *schedule, *content, *style, *seed;
    json_int_t iterations, every;
    int w0, w1, w2, blocks, crop, style_size, batch;
    FAIL_IF(!o, STYLE_ERR_FORMAT, "training settings: invalid JSON (%s)", error.text);
    FAIL_IF(json_unpack_ex(o, &error, 0,
                           "{s:s, s:s, s:s, s:[i,i,i], s:i, s:s, s:i, s:i, s:i, s:I, s:F, s:s, "
                           "s:F, s:F, s:F, s:s, s:s, s:s, s:I}",
                           "style_image", &style_image, "data_dir", &data_dir, "loss_net",
                           &loss_net, "widths", &w0, &w1, &w2, "residual_blocks", &blocks, "norm",
                           &norm, "crop_size", &crop, "style_size", &style_size, "batch_size",
                           &batch, "iterations", &iterations, "learning_rate", &s->learning_rate,
                           "lr_schedule", &schedule, "content_weight", &s->content_weight,
                           "style_weight", &s->style_weight, "tv_weight", &s->tv_weight,
                           "content_layer", &content, "style_layers", &style, "seed", &seed,
                           "checkpoint_every", &every) != 0,
            STYLE_ERR_FORMAT, "training settings: %s", error.text);
    FAIL_IF(strcmp(norm, "instance") != 0 && strcmp(norm, "batch") != 0, STYLE_ERR_FORMAT,
            "training settings: unknown norm '%s'", norm);
    FAIL_IF(strcmp(schedule, "cosine") != 0 && strcmp(schedule, "constant") != 0, STYLE_ERR_FORMAT,
            "training settings: unknown learning-rate schedule '%s'", schedule);
    snprintf(s->style_images[0], sizeof s->style_images[0], "%s", style_image);
    s->style_count = 1;
    TRY(styles_from_json(o, s));
    json_t *pooling = json_object_get(o, "loss_pooling"),
           *colour = json_object_get(o, "color_weight");
    FAIL_IF(pooling &&
                (!json_is_string(pooling) || (strcmp(json_string_value(pooling), "avg") != 0 &&
                                              strcmp(json_string_value(pooling), "max") != 0)),
            STYLE_ERR_FORMAT, "training settings: bad loss_pooling");
    FAIL_IF(colour && !json_is_number(colour), STYLE_ERR_FORMAT,
            "training settings: bad color_weight");
    s->average_pooling = pooling && strcmp(json_string_value(pooling), "avg") == 0;
    s->color_weight = colour ? json_number_value(colour) : 0.0;
    json_t *grid = json_object_get(o, "grid_weight");
    FAIL_IF(grid && !json_is_number(grid), STYLE_ERR_FORMAT, "training settings: bad grid_weight");
    s->grid_weight = grid ? json_number_value(grid) : 0.0;
    json_t *temporal = json_object_get(o, "temporal_weight");
    FAIL_IF(temporal && !json_is_number(temporal), STYLE_ERR_FORMAT,
            "training settings: bad temporal_weight");
    s->temporal_weight = temporal ? json_number_value(temporal) : 0.0;
    json_t *precision = json_object_get(o, "precision");
    FAIL_IF(precision &&
                (!json_is_string(precision) || (strcmp(json_string_value(precision), "bf16") != 0 &&
                                                strcmp(json_string_value(precision), "fp32") != 0)),
            STYLE_ERR_FORMAT, "training settings: bad precision");
    s->bf16 = precision && strcmp(json_string_value(precision), "bf16") == 0;
    json_t *shift = json_object_get(o, "loss_shift"), *init = json_object_get(o, "init_model"),
           *init_hash = json_object_get(o, "init_model_sha256");
    FAIL_IF(shift && (!json_is_integer(shift) || json_integer_value(shift) < 0 ||
                      json_integer_value(shift) > 4096),
            STYLE_ERR_FORMAT, "training settings: bad loss_shift");
    FAIL_IF(init && (!json_is_string(init) || strlen(json_string_value(init)) >= TRAIN_PATH_MAX ||
                     !json_is_string(init_hash) ||
                     strlen(json_string_value(init_hash)) != SHA256_HEX_SIZE - 1),
            STYLE_ERR_FORMAT, "training settings: bad init_model");
    s->loss_shift = shift ? (int32_t)json_integer_value(shift) : 0;
    json_t *short_side = json_object_get(o, "max_short_side");
    FAIL_IF(short_side && (!json_is_integer(short_side) || json_integer_value(short_side) < 0 ||
                           json_integer_value(short_side) > 65536),
            STYLE_ERR_FORMAT, "training settings: bad max_short_side");
    s->max_short_side = short_side ? (int32_t)json_integer_value(short_side) : 0;
    snprintf(s->init_model, sizeof s->init_model, "%s", init ? json_string_value(init) : "");
    snprintf(s->init_model_sha256, sizeof s->init_model_sha256, "%s",
             init ? json_string_value(init_hash) : "");
    snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir);
    snprintf(s->loss_net, sizeof s->loss_net, "%s", loss_net);
    s->net.widths[0] = w0, s->net.widths[1] = w1, s->net.widths[2] = w2;
    s->net.residual_blocks = blocks;
    s->net.batch_norm = strcmp(norm, "batch") == 0;
    s->crop_size = crop, s->style_size = style_size, s->batch_size = batch;
    s->iterations = iterations;
    s->cosine = strcmp(schedule, "cosine") == 0;
    snprintf(s->content_layer, sizeof s->content_layer, "%s", content);
    snprintf(s->style_layers, sizeof s->style_layers, "%s", style);
    s->seed = strtoull(seed, NULL, 10);
    s->checkpoint_every = every;
fail:
    json_decref(o);
    return status;
}

static style_status add_array(st_file *file, const char *prefix, const train_param *p,
                              const float *data)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    return st_file_add_tensor(file, name, p->ndim, p->shape, data + p->offset);
}

/* Adds parameter `name` of the network (its tensor's name); *added counts them. */
static style_status add_named(st_file *file, const train_params *params, const char *name,
                              bool optional, int32_t *added)
{
    const train_param *p = train_params_find((train_params *)params, name);
    if (!p && optional) return STYLE_OK;
    if (!p) return style__fail(STYLE_ERR_INTERNAL, "no parameter %s", name);
    (*added)++;
    return add_array(file, "", p, params->values);
}

/* The transform network's tensors, stage by stage of Johnson's table (johnson_topology.h):
 * "<conv_name>.conv2d.weight/.bias", then "<norm_name>.weight/.bias" (and the running
 * statistics of batch norm) where the network has the stage's norm. */
static style_status add_johnson_tensors(st_file *file, const train_params *params)
{
    style_status status = STYLE_OK;
    static const char *const conv_tensors[] = {"conv2d.weight", "conv2d.bias"};
    static const char *const norm_tensors[] = {"weight", "bias", "running_mean", "running_var"};
    const int32_t blocks = params->config.residual_blocks;
    int32_t added = 0;
    char name[96];
    for (int32_t i = 0; i < johnson_step_count(blocks); i++) {
        johnson_step step;
        johnson_step_at(blocks, i, &step);
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "%s.%s", step.conv_name, conv_tensors[k]);
            TRY(add_named(file, params, name, false, &added));
        }
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "%s.%s", step.norm_name, norm_tensors[k]);
            TRY(add_named(file, params, name, true, &added));
        }
    }
    FAIL_IF(added != params->count, STYLE_ERR_INTERNAL,
            "%d of the network's %d tensors are stages of the table", (int)added,
            (int)params->count);
fail:
    return status;
}

static style_status write_file(const char *path, st_file *file)
{
    void *bytes = NULL;
    size_t size = 0;
    style_status status = st_serialize(file, &bytes, &size);
    if (status == STYLE_OK) status = style__write_file_atomic(path, bytes, size);
    style__free(bytes);
    return status;
}

style_status train_write_model(const char *path, st_file *file)
{
    void *bytes = NULL;
    size_t size = 0;
    style_model *model = NULL;
    style_status status = st_serialize(file, &bytes, &size);
    /* Loaded back before it is written: a model the loader refuses is never written. */
    if (status == STYLE_OK) status = style_model_load_memory(bytes, size, NULL, &model);
    if (status == STYLE_OK) status = style__write_file_atomic(path, bytes, size);
    style_model_free(model);
    style__free(bytes);
    return status;
}

style_status train_checkpoint_save(const char *path, const train_settings *s,
                                   const train_state *state, const train_params *params,
                                   const float *adam_m, const float *adam_v)
{
    char *settings = train_settings_to_json(s, -1, -1);
    if (!settings) return style__fail(STYLE_ERR_NOMEM, "checkpoint %s: out of memory", path);
    style_status status = train_checkpoint_write(path, settings, state, params, adam_m, adam_v);
    free(settings);
    return status;
}

style_status train_checkpoint_write(const char *path, const char *settings,
                                    const train_state *state, const train_params *params,
                                    const float *adam_m, const float *adam_v)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    char state_json[512];
    FAIL_IF(!settings, STYLE_ERR_NOMEM, "checkpoint: out of memory");
    snprintf(state_json, sizeof state_json,
             "{\"iteration\":%lld,\"rng\":[\"%llu\",\"%llu\",\"%llu\",\"%llu\"],\"seconds\":%.17g}",
             (long long)state->iteration, (unsigned long long)state->rng.s[0],
             (unsigned long long)state->rng.s[1], (unsigned long long)state->rng.s[2],
             (unsigned long long)state->rng.s[3], state->seconds);
    TRY(st_file_add_metadata(&file, "libstyle.checkpoint", "1"));
    TRY(st_file_add_metadata(&file, "libstyle.train.settings", settings));
    TRY(st_file_add_metadata(&file, "libstyle.train.state", state_json));
    for (int32_t i = 0; i < params->count; i++) {
        const train_param *p = &params->params[i];
        TRY(add_array(&file, "param.", p, params->values));
        if (!p->trainable) continue;
        TRY(add_array(&file, "adam.m.", p, adam_m));
        TRY(add_array(&file, "adam.v.", p, adam_v));
    }
    TRY(write_file(path, &file));
fail:
    if (status != STYLE_OK) status = train_checkpoint_error(path, status);
    st_file_clear(&file);
    return status;
}

style_status train_checkpoint_error(const char *path, style_status status)
{
    char prefix[TRAIN_PATH_MAX + 32];
    snprintf(prefix, sizeof prefix, "checkpoint %s", path);
    style__prefix_error(prefix);
    return status;
}

static style_status read_checkpoint(const char *path, st_file *file)
{
    void *data = NULL;
    size_t size = 0;
    style_status status = style__read_file(path, (size_t)4 << 30, &data, &size);
    if (status == STYLE_OK) status = style__file_kind_check(data, size, FILE_ROLE_CHECKPOINT);
    if (status == STYLE_OK) status = st_parse(data, size, file);
    style__free(data);
    if (status == STYLE_OK && !st_metadata_find(file, "libstyle.checkpoint")) {
        bool model = st_metadata_find(file, "libstyle.arch") != NULL;
        st_file_clear(file);
        status = style__fail(STYLE_ERR_FORMAT,
                             model ? "this is a trained style model, not a libstyle training "
                                     "checkpoint (--resume takes the checkpoint file that "
                                     "'libstyle train' wrote, --checkpoint names it)"
                                   : "not a libstyle training checkpoint");
    }
    if (status != STYLE_OK) status = train_checkpoint_error(path, status);
    return status;
}

style_status train_checkpoint_read_settings(const char *path, char **json)
{
    st_file file = {0};
    *json = NULL;
    style_status status = read_checkpoint(path, &file);
    if (status != STYLE_OK) return status;
    const char *text = st_metadata_find(&file, "libstyle.train.settings");
    if (!text)
        status = style__fail(STYLE_ERR_FORMAT, "checkpoint %s: no settings", path);
    else if (!(*json = style__strdup(text)))
        status = style__fail(STYLE_ERR_NOMEM, "checkpoint %s: out of memory", path);
    st_file_clear(&file);
    return status;
}

style_status train_checkpoint_load_settings(const char *path, train_settings *s)
{
    char *json = NULL;
    style_status status = train_checkpoint_read_settings(path, &json);
    if (status == STYLE_OK) {
        status = train_settings_from_json(json, s);
        if (status != STYLE_OK) status = train_checkpoint_error(path, status);
    }
    style__free(json);
    return status;
}

static style_status take_array(const st_file *file, const char *prefix, const train_param *p,
                               float *data)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    const st_tensor *t = st_find(file, name);
    if (!t || t->count != p->count)
        return style__fail(STYLE_ERR_FORMAT, "tensor '%s' is missing or has the wrong size", name);
    memcpy(data + p->offset, t->data, p->count * sizeof(float));
    return STYLE_OK;
}

style_status train_checkpoint_load(const char *path, train_state *state, train_params *params,
                                   float *adam_m, float *adam_v)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    json_t *o = NULL;
    status = read_checkpoint(path, &file); /* its errors already name the checkpoint */
    if (status != STYLE_OK) return status;
    const char *text = st_metadata_find(&file, "libstyle.train.state");
    o = text ? json_loads(text, 0, NULL) : NULL;
    json_t *rng = json_object_get(o, "rng");
    FAIL_IF(!json_is_integer(json_object_get(o, "iteration")) ||
                json_integer_value(json_object_get(o, "iteration")) < 0 ||
                json_array_size(rng) != 4,
            STYLE_ERR_FORMAT, "bad training state");
    state->iteration = json_integer_value(json_object_get(o, "iteration"));
    state->seconds = json_number_value(json_object_get(o, "seconds"));
    for (int i = 0; i < 4; i++)
        state->rng.s[i] =
            strtoull(json_string_value(json_array_get(rng, (size_t)i)) ?: "0", NULL, 10);
    for (int32_t i = 0; i < params->count; i++) {
        const train_param *p = &params->params[i];
        TRY(take_array(&file, "param.", p, params->values));
        if (!p->trainable) continue;
        TRY(take_array(&file, "adam.m.", p, adam_m));
        TRY(take_array(&file, "adam.v.", p, adam_v));
    }
fail:
    if (status != STYLE_OK) status = train_checkpoint_error(path, status);
    json_decref(o);
    st_file_clear(&file);
    return status;
}

style_status train_export_model(const char *path, const train_settings *s, const char *data_sha256,
                                const char *exclude_list, const train_params *params,
                                int64_t dataset_size, double seconds)
{
    style_status status = STYLE_OK;
    st_file file = {0};
    char *styles = NULL;
    char *training = train_provenance_json(s, dataset_size, seconds, data_sha256, exclude_list);
    if (!training) {
        status = STYLE_ERR_NOMEM;
        if (!*style_last_error()) style__fail(status, "model export: out of memory");
        goto fail;
    }
    char name[256];
    snprintf(name, sizeof name, "%s", style__basename(path));
    char *dot = strrchr(name, '.');
    if (dot && dot != name) *dot = '\0';
    const char *metadata[][2] = {
        {"libstyle.format_version", "1"},
        {"libstyle.arch", s->net.styles ? "johnson-cin" : "johnson"},
        {"libstyle.padding", "reflect"},
        {"libstyle.upsample", "nearest_conv"},
        {"libstyle.norm", s->net.batch_norm ? "batch" : "instance"},
        {"libstyle.norm_eps", "1e-05"},
        {"libstyle.output", "linear"},
        {"libstyle.final_norm", "none"},
        {"libstyle.name", name},
        {"libstyle.source", "trained with libstyle " LIBSTYLE_VERSION_STRING},
        {"libstyle.training", training},
    };
    for (size_t i = 0; i < sizeof metadata / sizeof *metadata; i++)
        TRY(st_file_add_metadata(&file, metadata[i][0], metadata[i][1]));
    if (s->net.styles) {
        json_t *names = json_array();
        for (int32_t i = 0; i < s->net.styles; i++)
            json_array_append_new(names, json_string(s->style_names[i]));
        styles = json_dumps(names, JSON_COMPACT);
        json_decref(names);
        FAIL_IF(!styles, STYLE_ERR_NOMEM, "model export: out of memory");
        TRY(st_file_add_metadata(&file, "libstyle.styles", styles));
    }
    TRY(add_johnson_tensors(&file, params));
    TRY(train_write_model(path, &file));
fail:
    if (status != STYLE_OK) style__prefix_error("model export");
    free(training);
    free(styles);
    st_file_clear(&file);
    return status;
}
