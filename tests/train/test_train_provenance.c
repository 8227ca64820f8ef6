/*
 * The trainer's held-out refusal and provenance: `exclude_list` (train --exclude) drops the
 * photos whose SHA-256 the list holds, whatever their name, and fails when none is left; the
 * model's libstyle.training names the style image, the loss network and the list by file name
 * and SHA-256, and the photos by the data folder's name and the hash of their list (computed
 * here by hand), with no path of the training machine.
 */
#include "core/file_sha256.h"
#include "train/train_data_list.h"
#include "train_fixtures.h"
#include "model_builder.h"
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct warnings {
    int refused;
} warnings;

static void on_log(void *user, style_log_level level, const char *message)
{
    warnings *w = user;
    if (level == STYLE_LOG_WARNING && strstr(message, "refusing")) w->refused++;
}

/* The held-out list: photos/a.png's hash under another name. */
static void write_list(const char *dir, const char *photo)
{
    char hex[SHA256_HEX_SIZE], line[256], path[4200];
    snprintf(path, sizeof path, "%s/photos/%s", dir, photo);
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    int n = snprintf(line, sizeof line, "# held out\n%s  renamed-elsewhere.jpg\n", hex);
    assert_int_equal(test_write_file(test_path(dir, "heldout.sha256"), line, (size_t)n), 0);
}

static void test_fingerprint(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    assert_int_equal(train_fixture_photos(dir, 0), 0);
    train_dataset data = {0};
    assert_int_equal(train_dataset_open(&data, test_path(dir, "photos"), NULL, NULL), STYLE_OK);
    const size_t all = data.count;
    assert_true(all >= 3);
    /* By hand: SHA-256 of the "HASH  NAME" lines of the photos but the first. */
    char first[4200], lines[8192] = "", hex[SHA256_HEX_SIZE], expected[SHA256_HEX_SIZE];
    snprintf(first, sizeof first, "%s", data.paths[0]);
    for (size_t i = 1; i < data.count; i++) {
        assert_int_equal(file_sha256(data.paths[i], hex), STYLE_OK);
        size_t used = strlen(lines);
        snprintf(lines + used, sizeof lines - used, "%s  %s\n", hex,
                 style__basename(data.paths[i]));
    }
    assert_int_equal(bytes_sha256(lines, strlen(lines), expected), STYLE_OK);
    assert_int_equal(file_sha256(first, hex), STYLE_OK);
    char list[256];
    int n = snprintf(list, sizeof list, "%s  other-name.png\n", hex);
    assert_int_equal(test_write_file(test_path(dir, "list"), list, (size_t)n), 0);
    warnings w = {0};
    data.log = on_log, data.log_user = &w;
    char got[SHA256_HEX_SIZE];
    size_t excluded = 0;
    assert_int_equal(train_dataset_fingerprint(&data, test_path(dir, "list"), got, &excluded),
                     STYLE_OK);
    assert_int_equal(excluded, 1);
    assert_int_equal(w.refused, 1);
    assert_int_equal(data.count, all - 1);
    assert_string_equal(got, expected);
    train_dataset_close(&data);
    test_remove_tree(dir);
    free(dir);
}

static style_train_options small_run(const char *dir, warnings *w)
{
    style_train_options o = {0};
    o.struct_size = sizeof o;
    o.style_image = strdup(test_path(dir, "style.png"));
    o.data_dir = strdup(test_path(dir, "photos"));
    o.loss_net = strdup(test_path(dir, "net.safetensors"));
    o.out_path = strdup(test_path(dir, "model.safetensors"));
    o.exclude_list = strdup(test_path(dir, "heldout.sha256"));
    o.widths[0] = 4, o.widths[1] = 8, o.widths[2] = 8;
    o.residual_blocks = 1;
    o.crop_size = 24;
    o.batch_size = 1;
    o.iterations = 2;
    o.threads = 1;
    o.log = on_log;
    o.log_user = w;
    return o;
}

static void free_run(style_train_options *o)
{
    free((char *)o->style_image), free((char *)o->data_dir), free((char *)o->loss_net);
    free((char *)o->out_path), free((char *)o->exclude_list);
}

static void expect_file(json_t *o, const char *key, const char *name, const char *path)
{
    char hex[SHA256_HEX_SIZE], hash_key[64];
    assert_int_equal(file_sha256(path, hex), STYLE_OK);
    snprintf(hash_key, sizeof hash_key, "%s_sha256", key);
    assert_string_equal(json_string_value(json_object_get(o, key)), name);
    assert_string_equal(json_string_value(json_object_get(o, hash_key)), hex);
}

static void test_exclude_and_provenance(void **state)
{
    (void)state;
    char *dir = test_make_temp_dir();
    assert_int_equal(train_fixture_photos(dir, 0), 0);
    test_write_feature_net(test_path(dir, "net.safetensors"), 78);
    train_dataset data = {0};
    assert_int_equal(train_dataset_open(&data, test_path(dir, "photos"), NULL, NULL), STYLE_OK);
    const int64_t all = (int64_t)data.count;
    write_list(dir, style__basename(data.paths[0]));
    train_dataset_close(&data);

    warnings w = {0};
    style_train_options o = small_run(dir, &w);
    style_status status = style_train(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(w.refused, 1);
    style_model *model = NULL;
    assert_int_equal(style_model_load(o.out_path, NULL, &model), STYLE_OK);
    const char *training = style_model_metadata_get(model, "libstyle.training");
    json_t *j = json_loads(training, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "dataset_size")), all - 1);
    expect_file(j, "style_image", "style.png", o.style_image);
    expect_file(j, "loss_net", "net.safetensors", o.loss_net);
    expect_file(j, "exclude", "heldout.sha256", o.exclude_list);
    assert_string_equal(json_string_value(json_object_get(j, "data_dir")), "photos");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "data_sha256"))), 64);
    /* No path of this machine anywhere. */
    assert_null(strstr(training, dir));
    assert_null(strstr(training, "/"));
    json_decref(j);
    style_model_free(model);

    /* Every photo held out: refused with a clear error. */
    char lines[8192] = "", hex[SHA256_HEX_SIZE];
    assert_int_equal(train_dataset_open(&data, test_path(dir, "photos"), NULL, NULL), STYLE_OK);
    for (size_t i = 0; i < data.count; i++) {
        assert_int_equal(file_sha256(data.paths[i], hex), STYLE_OK);
        size_t used = strlen(lines);
        snprintf(lines + used, sizeof lines - used, "%s  p%zu.png\n", hex, i);
    }
    train_dataset_close(&data);
    assert_int_equal(test_write_file(o.exclude_list, lines, strlen(lines)), 0);
    assert_int_equal(style_train(&o), STYLE_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(style_last_error(), "held out"));
    /* A malformed list is refused, naming it. */
    assert_int_equal(test_write_file(o.exclude_list, "not a list\n", 11), 0);
    assert_int_equal(style_train(&o), STYLE_ERR_FORMAT);
    assert_non_null(strstr(style_last_error(), "heldout.sha256"));
    free_run(&o);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_exclude_and_provenance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
