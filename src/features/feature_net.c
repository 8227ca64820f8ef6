/*
 * Feature networks: loading (metadata spec or recognised VGG) and running them forward and
 * backward with frozen weights.
 */
#include "features/feature_net.h"

#include "core/file_kind.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FNET_MAX_LAYERS 256

/* ---- loading ---------------------------------------------------------------------------- */

static style_status add_tap(feature_net *net, const char *name, int32_t layer)
{
    if (net->tap_count >= FNET_MAX_TAPS || strlen(name) >= FNET_NAME_MAX)
        return style__fail(STYLE_ERR_FORMAT, "too many taps or tap name too long ('%s')", name);
    snprintf(net->tap_names[net->tap_count], FNET_NAME_MAX, "%s", name);
    net->tap_layers[net->tap_count++] = layer;
    return STYLE_OK;
}

int32_t feature_net_tap(const feature_net *net, const char *name)
{
    for (int32_t i = 0; i < net->tap_count; i++)
        if (strcmp(net->tap_names[i], name) == 0) return net->tap_layers[i];
    return -1;
}

style_status feature_net_tap_list(const feature_net *net, const char *list, const char *who,
                                  int32_t *layers, int32_t max, int32_t *count)
{
    style_status status = STYLE_OK;
    char *copy = style__strdup(list);
    FAIL_IF(!copy, STYLE_ERR_NOMEM, "%s: out of memory", who);
    *count = 0;
    for (char *save = NULL, *name = strtok_r(copy, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        int32_t layer = feature_net_tap(net, name);
        FAIL_IF(layer < 0, STYLE_ERR_INVALID_ARGUMENT, "%s: loss network %s has no tap '%s'", who,
                net->name, name);
        FAIL_IF(*count == max, STYLE_ERR_INVALID_ARGUMENT, "%s: more than %d style layers", who,
                (int)max);
        layers[(*count)++] = layer;
    }
    FAIL_IF(!*count, STYLE_ERR_INVALID_ARGUMENT, "%s: no style layers", who);
fail:
    style__free(copy);
    return status;
}

void feature_net_style_tap_list(const feature_net *net, char *out, size_t size)
{
    out[0] = '\0';
    for (int32_t i = 0; i < net->style_count; i++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s", i ? "," : "", net->style_taps[i]);
    }
}

/* Checks and attaches features.<i>.weight/.bias to conv layer i; channels chain through. */
static style_status attach_conv(feature_net *net, int32_t i, int32_t *channels)
{
    char name[64];
    fnet_layer *l = &net->layers[i];
    snprintf(name, sizeof name, "features.%d.weight", i);
    st_tensor *w = st_find(&net->file, name);
    if (!w) return style__fail(STYLE_ERR_FORMAT, "missing tensor '%s'", name);
    if (!w->data)
        return style__fail(STYLE_ERR_UNSUPPORTED, "tensor '%s' has dtype %s", name, w->dtype);
    if (w->ndim != 4 || w->shape[1] != *channels || w->shape[2] != l->kernel ||
        w->shape[3] != l->kernel || w->shape[0] < 1 || w->shape[0] > 8192)
        return style__fail(STYLE_ERR_FORMAT,
                           "tensor '%s' has the wrong shape (expected [*,%d,%d,%d])", name,
                           *channels, l->kernel, l->kernel);
    w->used = 1;
    l->weight = w->data;
    l->in_channels = *channels;
    l->out_channels = (int32_t)w->shape[0];
    net->parameter_count += w->count;
    snprintf(name, sizeof name, "features.%d.bias", i);
    st_tensor *b = st_find(&net->file, name);
    if (b) {
        if (!b->data || b->ndim != 1 || b->shape[0] != l->out_channels)
            return style__fail(STYLE_ERR_FORMAT, "tensor '%s' has the wrong shape or dtype", name);
        b->used = 1;
        l->bias = b->data;
        net->parameter_count += b->count;
    }
    *channels = l->out_channels;
    return STYLE_OK;
}

static style_status not_vgg(void)
{
    return style__fail(STYLE_ERR_FORMAT,
                       "not a feature network: no libstyle.kind = feature-net metadata, and not "
                       "a torchvision VGG-16/VGG-19 state_dict");
}

/* torchvision VGG: conv indices identify VGG-16 or VGG-19; ReLUs follow convs; pools.
 * STYLE_ERR_FORMAT when the file is not one. */
static style_status recognise_vgg(feature_net *net)
{
    static const int vgg16[] = {0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28};
    static const int vgg19[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
    int count = 0, last = -1;
    char name[64];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "features.%d.weight", i);
        if (st_find(&net->file, name)) count++, last = i;
    }
    const int *convs = NULL;
    int n = 0;
    if (count == 13 && last == 28) convs = vgg16, n = 13;
    if (count == 16 && last == 34) convs = vgg19, n = 16;
    if (!convs) return not_vgg();
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "features.%d.weight", convs[k]);
        if (!st_find(&net->file, name)) return not_vgg();
    }
    net->layer_count = last + 2; /* through the last ReLU */
    for (int i = 0, k = 0, block = 1, within = 0; i < net->layer_count; i++) {
        fnet_layer *l = &net->layers[i];
        if (k < n && convs[k] == i) {
            *l = (fnet_layer){.op = FNET_CONV, .kernel = 3, .stride = 1, .pad = 1};
            k++;
        } else if (i > 0 && net->layers[i - 1].op == FNET_CONV) {
            *l = (fnet_layer){.op = FNET_RELU};
            snprintf(name, sizeof name, "relu%d_%d", block, ++within);
            add_tap(net, name, i);
        } else {
            *l = (fnet_layer){.op = FNET_MAXPOOL, .kernel = 2, .stride = 2};
            block++, within = 0;
        }
    }
    char *vgg_name = style__strdup(n == 13 ? "vgg16" : "vgg19");
    if (!vgg_name) return style__fail(STYLE_ERR_NOMEM, "out of memory");
    style__free(net->name);
    net->name = vgg_name;
    net->input_scale = 1.0 / 255.0;
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    memcpy(net->input_mean, mean, sizeof mean);
    memcpy(net->input_std, std, sizeof std);
    const char *content = n == 13 ? "relu2_2" : "relu4_1";
    const char *const style16[] = {"relu1_2", "relu2_2", "relu3_3", "relu4_3"};
    const char *const style19[] = {"relu1_1", "relu2_1", "relu3_1", "relu4_1"};
    snprintf(net->content_taps[0], FNET_NAME_MAX, "%s", content);
    net->content_count = 1;
    for (int i = 0; i < 4; i++)
        snprintf(net->style_taps[i], FNET_NAME_MAX, "%s", n == 13 ? style16[i] : style19[i]);
    net->style_count = 4;
    return STYLE_OK;
}

static style_status parse_tap_list(feature_net *net, json_t *list, const char *what,
                                   char names[][FNET_NAME_MAX], int32_t *count)
{
    if (!json_is_array(list))
        return style__fail(STYLE_ERR_FORMAT, "libstyle.loss.%s is not an array", what);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        if (!json_is_string(item) || feature_net_tap(net, json_string_value(item)) < 0 ||
            *count >= FNET_MAX_TAPS)
            return style__fail(STYLE_ERR_FORMAT, "libstyle.loss.%s names an unknown tap", what);
        snprintf(names[(*count)++], FNET_NAME_MAX, "%s", json_string_value(item));
    }
    return STYLE_OK;
}

static json_t *parse_json_key(const feature_net *net, const char *key)
{
    const char *text = st_metadata_find(&net->file, key);
    return text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
}

static style_status parse_spec(feature_net *net)
{
    style_status status = STYLE_OK;
    json_t *layers = parse_json_key(net, "libstyle.layers");
    json_t *taps = parse_json_key(net, "libstyle.taps");
    json_t *input = parse_json_key(net, "libstyle.input");
    json_t *loss = parse_json_key(net, "libstyle.loss");
    FAIL_IF(!json_is_array(layers) || json_array_size(layers) < 1 ||
                json_array_size(layers) > FNET_MAX_LAYERS,
            STYLE_ERR_FORMAT, "libstyle.layers is missing or not an array of 1..%d layers",
            FNET_MAX_LAYERS);
    net->layer_count = (int32_t)json_array_size(layers);
    for (int32_t i = 0; i < net->layer_count; i++) {
        json_t *item = json_array_get(layers, (size_t)i);
        const char *op = json_string_value(json_object_get(item, "op"));
        fnet_layer *l = &net->layers[i];
        FAIL_IF(!op, STYLE_ERR_FORMAT, "libstyle.layers[%d] has no op", i);
        if (strcmp(op, "conv") == 0) {
            json_t *k = json_object_get(item, "kernel"), *s = json_object_get(item, "stride"),
                   *p = json_object_get(item, "pad");
            FAIL_IF(!json_is_integer(k) || !json_is_integer(s) || !json_is_integer(p),
                    STYLE_ERR_FORMAT, "libstyle.layers[%d]: conv needs kernel, stride, pad", i);
            *l = (fnet_layer){.op = FNET_CONV,
                              .kernel = (int32_t)json_integer_value(k),
                              .stride = (int32_t)json_integer_value(s),
                              .pad = (int32_t)json_integer_value(p)};
            FAIL_IF(l->kernel < 1 || l->kernel > 15 || l->stride < 1 || l->stride > 4 ||
                        l->pad < 0 || l->pad >= l->kernel,
                    STYLE_ERR_FORMAT, "libstyle.layers[%d]: unsupported conv parameters", i);
        } else if (strcmp(op, "relu") == 0) {
            *l = (fnet_layer){.op = FNET_RELU};
        } else if (strcmp(op, "leaky_relu") == 0) {
            json_t *slope = json_object_get(item, "slope");
            FAIL_IF(!json_is_number(slope) || json_number_value(slope) < 0 ||
                        json_number_value(slope) >= 1,
                    STYLE_ERR_FORMAT, "libstyle.layers[%d]: leaky_relu needs a slope in [0, 1)", i);
            *l = (fnet_layer){.op = FNET_LEAKY_RELU, .slope = (float)json_number_value(slope)};
        } else if (strcmp(op, "maxpool") == 0) {
            json_t *k = json_object_get(item, "kernel"), *s = json_object_get(item, "stride");
            FAIL_IF(json_integer_value(k) != 2 || json_integer_value(s) != 2, STYLE_ERR_UNSUPPORTED,
                    "libstyle.layers[%d]: only 2x2 stride-2 max pooling is supported", i);
            *l = (fnet_layer){.op = FNET_MAXPOOL, .kernel = 2, .stride = 2};
        } else {
            FAIL_IF(true, STYLE_ERR_UNSUPPORTED, "libstyle.layers[%d]: unknown op '%s'", i, op);
        }
    }
    FAIL_IF(!json_is_object(taps) || json_object_size(taps) == 0, STYLE_ERR_FORMAT,
            "libstyle.taps is missing or not an object");
    const char *key;
    json_t *value;
    json_object_foreach(taps, key, value)
    {
        FAIL_IF(!json_is_integer(value) || json_integer_value(value) < 0 ||
                    json_integer_value(value) >= net->layer_count,
                STYLE_ERR_FORMAT, "libstyle.taps: '%s' is not a layer index", key);
        TRY(add_tap(net, key, (int32_t)json_integer_value(value)));
    }
    FAIL_IF(!json_is_object(input), STYLE_ERR_FORMAT, "libstyle.input is missing");
    json_t *scale = json_object_get(input, "scale"), *mean = json_object_get(input, "mean"),
           *std = json_object_get(input, "std");
    FAIL_IF(!json_is_number(scale) || json_array_size(mean) != 3 || json_array_size(std) != 3,
            STYLE_ERR_FORMAT, "libstyle.input needs scale, mean[3], std[3]");
    net->input_scale = json_number_value(scale);
    for (int c = 0; c < 3; c++) {
        net->input_mean[c] = json_number_value(json_array_get(mean, c));
        net->input_std[c] = json_number_value(json_array_get(std, c));
        FAIL_IF(!(fabs(net->input_std[c]) > 0), STYLE_ERR_FORMAT, "libstyle.input: std is 0");
    }
    if (loss) {
        TRY(parse_tap_list(net, json_object_get(loss, "content"), "content", net->content_taps,
                           &net->content_count));
        TRY(parse_tap_list(net, json_object_get(loss, "style"), "style", net->style_taps,
                           &net->style_count));
    }
    const char *name = st_metadata_find(&net->file, "libstyle.name");
    if (name) {
        char *copy = style__strdup(name);
        FAIL_IF(!copy, STYLE_ERR_NOMEM, "out of memory");
        style__free(net->name);
        net->name = copy;
    }
fail:
    json_decref(layers);
    json_decref(taps);
    json_decref(input);
    json_decref(loss);
    return status;
}

style_status feature_net_from_file(st_file *file, const char *name, feature_net **out)
{
    style_status status = STYLE_OK;
    feature_net *net = style__calloc(1, sizeof *net);
    *out = NULL;
    if (!net) {
        st_file_clear(file);
        return style__fail(STYLE_ERR_NOMEM, "feature net: out of memory");
    }
    net->file = *file;
    memset(file, 0, sizeof *file);
    net->name = style__strdup(style__basename(name));
    net->layers = style__calloc(FNET_MAX_LAYERS, sizeof *net->layers);
    FAIL_IF(!net->layers || !net->name, STYLE_ERR_NOMEM, "out of memory");
    const char *kind = st_metadata_find(&net->file, "libstyle.kind");
    if (kind) {
        FAIL_IF(strcmp(kind, "feature-net") != 0, STYLE_ERR_FORMAT,
                "libstyle.kind is '%s', not 'feature-net'", kind);
        TRY(parse_spec(net));
    } else {
        TRY(recognise_vgg(net));
    }
    int32_t channels = 3;
    for (int32_t i = 0; i < net->layer_count; i++)
        if (net->layers[i].op == FNET_CONV) TRY(attach_conv(net, i, &channels));
    for (size_t i = 0; i < net->file.tensor_count; i++) {
        const st_tensor *t = &net->file.tensors[i];
        FAIL_IF(!t->used && strncmp(t->name, "features.", 9) == 0, STYLE_ERR_FORMAT,
                "unexpected tensor '%s'", t->name);
    }
    FAIL_IF(net->content_count == 0 || net->style_count == 0, STYLE_ERR_FORMAT,
            "no recommended loss layers (libstyle.loss)");
    *out = net;
    return STYLE_OK;
fail : {
    char prefix[512];
    snprintf(prefix, sizeof prefix, "feature_net: %s", name);
    style__prefix_error(prefix);
    feature_net_free(net);
    return status;
}
}

/* A libstyle model or checkpoint given where a loss network is expected. */
static style_status not_another_libstyle_file(st_file *file)
{
    const char *what = st_metadata_find(file, "libstyle.checkpoint") ? "a training checkpoint"
                       : st_metadata_find(file, "libstyle.arch")     ? "a style model"
                                                                     : NULL;
    if (!what) return STYLE_OK;
    st_file_clear(file);
    return style__fail(STYLE_ERR_FORMAT,
                       "this is %s, not a loss network (the loss network is a feature network "
                       "such as a torchvision VGG-16 in safetensors, docs/training.md)",
                       what);
}

style_status feature_net_load(const char *path, feature_net **out)
{
    void *data = NULL;
    size_t size = 0;
    st_file file = {0};
    *out = NULL;
    style_status status = style__read_file(path, (size_t)2 << 30, &data, &size);
    if (status == STYLE_OK) {
        status = style__file_kind_check(data, size, FILE_ROLE_LOSS_NET);
        if (status == STYLE_OK) status = st_parse_lenient(data, size, true, &file);
        if (status == STYLE_OK) status = not_another_libstyle_file(&file);
        if (status != STYLE_OK) {
            char prefix[512];
            snprintf(prefix, sizeof prefix, "feature_net: %s", path);
            style__prefix_error(prefix);
        }
    } else {
        style__prefix_error("feature_net");
    }
    style__free(data);
    if (status != STYLE_OK) return status;
    return feature_net_from_file(&file, path, out);
}

void feature_net_free(feature_net *net)
{
    if (!net) return;
    st_file_clear(&net->file);
    style__free(net->layers);
    style__free(net->name);
    style__free(net);
}

/* ---- writing a spec --------------------------------------------------------------------- */

style_status feature_net_spec_json(const feature_net *net, int32_t last, char **layers_json,
                                   char **taps_json, char **input_json)
{
    style_status status = STYLE_OK;
    json_t *layers = json_array(), *taps = json_object(), *input = NULL;
    *layers_json = *taps_json = *input_json = NULL;
    FAIL_IF(!layers || !taps, STYLE_ERR_NOMEM, "feature net: out of memory");
    for (int32_t i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        json_t *item = NULL;
        switch (l->op) {
        case FNET_CONV:
            item = json_pack("{s:s, s:i, s:i, s:i}", "op", "conv", "kernel", l->kernel, "stride",
                             l->stride, "pad", l->pad);
            break;
        case FNET_RELU:
            item = json_pack("{s:s}", "op", "relu");
            break;
        case FNET_LEAKY_RELU:
            item = json_pack("{s:s, s:f}", "op", "leaky_relu", "slope", (double)l->slope);
            break;
        case FNET_MAXPOOL:
            item = json_pack("{s:s, s:i, s:i}", "op", "maxpool", "kernel", 2, "stride", 2);
            break;
        }
        FAIL_IF(!item || json_array_append_new(layers, item) != 0, STYLE_ERR_NOMEM,
                "feature net: out of memory");
    }
    for (int32_t t = 0; t < net->tap_count; t++)
        if (net->tap_layers[t] <= last)
            FAIL_IF(
                json_object_set_new(taps, net->tap_names[t], json_integer(net->tap_layers[t])) != 0,
                STYLE_ERR_NOMEM, "feature net: out of memory");
    input = json_pack("{s:f, s:[f,f,f], s:[f,f,f]}", "scale", net->input_scale, "mean",
                      net->input_mean[0], net->input_mean[1], net->input_mean[2], "std",
                      net->input_std[0], net->input_std[1], net->input_std[2]);
    FAIL_IF(!input, STYLE_ERR_NOMEM, "feature net: out of memory");
    *layers_json = json_dumps(layers, JSON_COMPACT | JSON_REAL_PRECISION(17));
    *taps_json = json_dumps(taps, JSON_COMPACT);
    *input_json = json_dumps(input, JSON_COMPACT | JSON_REAL_PRECISION(17));
    FAIL_IF(!*layers_json || !*taps_json || !*input_json, STYLE_ERR_NOMEM,
            "feature net: out of memory");
fail:
    if (status != STYLE_OK) {
        free(*layers_json);
        free(*taps_json);
        free(*input_json);
        *layers_json = *taps_json = *input_json = NULL;
    }
    json_decref(layers);
    json_decref(taps);
    json_decref(input);
    return status;
}
