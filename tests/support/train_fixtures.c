/* Training fixtures (see train_fixtures.h). */
#define _GNU_SOURCE /* asprintf */
#include "train_fixtures.h"
#include "model/safetensors.h"
#include "testutil.h"
#include "train/train_checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int train_fixture_photos(const char *dir, int jpegs)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/photos/sub", dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0) return 1;
    for (int k = 0; k < 5 + jpegs; k++) {
        style_image img;
        int w = k < 5 ? 40 + k * 3 : 64 + 11 * k, h = k < 5 ? 36 + k : 30 + 9 * k;
        if (style_image_alloc(&img, w, h, 3, STYLE_SAMPLE_U8) != STYLE_OK) return 1;
        uint8_t *p = img.data;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++) {
                p[(y * img.width + x) * 3 + 0] = (uint8_t)(128 + 100 * sin(0.2 * x + k));
                p[(y * img.width + x) * 3 + 1] = (uint8_t)(128 + 100 * cos(0.15 * y - k));
                p[(y * img.width + x) * 3 + 2] = (uint8_t)((x * y + 40 * k) & 255);
            }
        snprintf(path, sizeof path, "%s/photos/%s%d.%s", dir, k % 2 ? "sub/" : "", k,
                 k < 5 ? "png" : "jpg");
        int failed = style_image_save(path, &img, 90) != STYLE_OK;
        if (k == 0 && !failed) {
            for (int i = 0; i < img.width * img.height * 3; i++)
                p[i] = (uint8_t)((i / 3 % 7) * 36);
            snprintf(path, sizeof path, "%s/style.png", dir);
            failed = style_image_save(path, &img, 0) != STYLE_OK;
        }
        style_image_release(&img);
        if (failed) return 1;
    }
    return 0;
}

static int output_independent(const char *name)
{
    int block, end = 0;
    if (sscanf(name, "res%d.in2.bias%n", &block, &end) == 1 && name[end] == '\0') return 1;
    return strstr(name, ".conv2d.bias") && strncmp(name, "deconv3.", 8) != 0;
}

static int load_tensors(const char *path, st_file *file)
{
    size_t size;
    void *bytes = test_read_file(path, &size);
    style_status status =
        bytes ? st_parse(bytes, size, file) : style__fail(STYLE_ERR_IO, "%s: cannot read it", path);
    free(bytes);
    return status != STYLE_OK;
}

int train_fixture_compare_models(const char *a_path, const char *b_path,
                                 train_model_difference *out)
{
    st_file a = {0}, b = {0};
    train_params init = {0};
    train_settings settings = {0};
    int failed = load_tensors(a_path, &a) || load_tensors(b_path, &b);
    const char *training = failed ? NULL : st_metadata_find(&a, "libstyle.training");
    if (!failed && (!training || train_settings_from_json(training, &settings) != STYLE_OK ||
                    train_params_create(&init, &settings.net) != STYLE_OK)) {
        style__fail(STYLE_ERR_FORMAT, "%s: no usable libstyle.training metadata", a_path);
        failed = 1;
    }
    if (!failed) train_params_init(&init, settings.seed);
    double difference = 0, update = 0;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; !failed && i < a.tensor_count; i++) {
        const st_tensor *x = &a.tensors[i], *y = st_find(&b, x->name);
        const float *start = train_params_value(&init, x->name);
        if (!y || y->count != x->count || !start || a.tensor_count != b.tensor_count) {
            style__fail(STYLE_ERR_FORMAT, "%s: tensor %s missing or of another size", b_path,
                        x->name);
            failed = 1;
            break;
        }
        for (size_t j = 0; j < x->count; j++) {
            double d = (double)x->data[j] - y->data[j], u = (double)x->data[j] - start[j];
            if (isnan(d)) d = INFINITY;
            if (output_independent(x->name)) {
                out->ignored = fmax(out->ignored, fabs(d));
                continue;
            }
            difference += d * d, update += u * u;
            out->largest = fmax(out->largest, fabs(d));
        }
    }
    out->relative = sqrt(difference) / fmax(sqrt(update), 1e-30);
    train_params_destroy(&init);
    st_file_clear(&a);
    st_file_clear(&b);
    return failed;
}

/* `json` with the value of "key" replaced by `value` (NULL when the key is absent). */
static char *replace_json_value(const char *json, const char *key, const char *value)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *at = strstr(json, needle);
    if (!at) return NULL;
    const char *start = at + strlen(needle);
    const char *close = *start == '[' ? strchr(start, ']') : NULL;
    const char *end = close ? close + 1 : start + strcspn(start, ",}");
    char *out = NULL;
    if (asprintf(&out, "%.*s%s%s", (int)(start - json), json, value, end) < 0) return NULL;
    return out;
}

int train_fixture_damage_checkpoint(const char *from, const char *to, const char *entry,
                                    const char *key, const char *value)
{
    int result = 1, replaced = 0;
    size_t size = 0;
    void *bytes = test_read_file(from, &size), *data = NULL;
    st_file in = {0}, out = {0};
    if (!bytes || st_parse(bytes, size, &in) != STYLE_OK) goto done;
    for (size_t i = 0; i < in.metadata_count; i++) {
        const st_metadata_entry *m = &in.metadata[i];
        const int damage = strcmp(m->key, entry) == 0;
        char *text = damage ? replace_json_value(m->value, key, value) : strdup(m->value);
        const style_status added =
            text ? st_file_add_metadata(&out, m->key, text) : STYLE_ERR_NOMEM;
        free(text);
        if (added != STYLE_OK) goto done;
        replaced += damage;
    }
    for (size_t i = 0; i < in.tensor_count; i++) {
        const st_tensor *t = &in.tensors[i];
        if (st_file_add_tensor(&out, t->name, t->ndim, t->shape, t->data) != STYLE_OK) goto done;
    }
    if (replaced != 1 || st_serialize(&out, &data, &size) != STYLE_OK) goto done;
    result = test_write_file(to, data, size);
done:
    style__free(data);
    st_file_clear(&in), st_file_clear(&out);
    free(bytes);
    return result;
}

void *train_fixture_tensor_bytes(const char *path, size_t *size)
{
    size_t total;
    uint8_t *data = test_read_file(path, &total);
    uint64_t header;
    *size = 0;
    if (!data || total < 8) {
        free(data);
        return NULL;
    }
    memcpy(&header, data, 8);
    if (header > total - 8) {
        free(data);
        return NULL;
    }
    *size = total - 8 - header;
    void *out = malloc(*size ? *size : 1);
    if (out) memcpy(out, data + 8 + header, *size);
    free(data);
    return out;
}

int train_fixture_record(void *user, const style_train_stats *stats)
{
    train_run_log *log = user;
    if (stats->iteration <= 3) log->first += stats->total_loss / 3;
    if (stats->iteration > stats->iterations - 3) log->last += stats->total_loss / 3;
    log->calls++;
    return log->stop_at && stats->iteration >= log->stop_at;
}

style_train_options train_fixture_small_run(const char *dir, train_run_log *log)
{
    style_train_options o = {0};
    o.struct_size = sizeof o;
    o.style_image = strdup(test_path(dir, "style.png"));
    o.data_dir = strdup(test_path(dir, "photos"));
    o.loss_net = strdup(test_path(dir, "net.safetensors"));
    o.out_path = strdup(test_path(dir, "model.safetensors"));
    o.widths[0] = 8, o.widths[1] = 16, o.widths[2] = 16;
    o.residual_blocks = 1;
    o.crop_size = 24;
    o.batch_size = 2;
    o.iterations = 30;
    o.learning_rate = 1e-2;
    o.seed = 11;
    o.threads = 2;
    o.checkpoint_every = 4;
    o.progress = train_fixture_record;
    o.progress_user = log;
    return o;
}

void train_fixture_free_run(style_train_options *o)
{
    free((char *)o->style_image), free((char *)o->data_dir), free((char *)o->loss_net);
    free((char *)o->out_path);
}
