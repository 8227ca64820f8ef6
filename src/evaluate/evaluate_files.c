/*
 * Files of `libstyle evaluate` (evaluate_files.h): the training provenance, finding the
 * recorded style image and loss network by name and SHA-256, and the held-out photos.
 */
#define _XOPEN_SOURCE 700
#include "evaluate/evaluate_files.h"
#include "train/train_data.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy_recorded(json_t *o, const char *key, const char *hash_key, recorded_file *out)
{
    const char *value = json_string_value(json_object_get(o, key));
    const char *hash = json_string_value(json_object_get(o, hash_key));
    snprintf(out->name, sizeof out->name, "%s", value ? style__basename(value) : "");
    snprintf(out->sha256, sizeof out->sha256, "%s", hash && strlen(hash) == 64 ? hash : "");
}

style_status training_provenance_parse(const char *json, training_provenance *out)
{
    memset(out, 0, sizeof *out);
    if (!json) return STYLE_OK;
    json_error_t error;
    json_t *o = json_loads(json, 0, &error);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return style__fail(STYLE_ERR_FORMAT, "libstyle.training is not a JSON object");
    }
    copy_recorded(o, "style_image", "style_image_sha256", &out->style_image);
    copy_recorded(o, "loss_net", "loss_net_sha256", &out->loss_net);
    json_t *size = json_object_get(o, "style_size");
    if (json_is_integer(size) && json_integer_value(size) > 0 && json_integer_value(size) <= 16384)
        out->style_size = (int32_t)json_integer_value(size);
    json_decref(o);
    return STYLE_OK;
}

/* nftw has no user pointer: the search in progress, per thread. */
typedef struct file_search {
    const recorded_file *wanted;
    char found[EVALUATE_PATH_MAX];
    char mismatch[EVALUATE_PATH_MAX]; /* a file with the name but another hash */
    style_status status;
} file_search;

static _Thread_local file_search *current_search;

static int visit(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    file_search *s = current_search;
    if (type != FTW_F || strcmp(path + ftw->base, s->wanted->name) != 0) return 0;
    if (!s->wanted->sha256[0]) {
        snprintf(s->found, sizeof s->found, "%s", path);
        return 1;
    }
    char hex[SHA256_HEX_SIZE];
    if (file_sha256(path, hex) != STYLE_OK) return 0; /* unreadable: keep looking */
    if (strcmp(hex, s->wanted->sha256) == 0) {
        snprintf(s->found, sizeof s->found, "%s", path);
        return 1;
    }
    snprintf(s->mismatch, sizeof s->mismatch, "%s", path);
    return 0;
}

style_status find_recorded_file(const char *const *dirs, size_t dir_count,
                                const recorded_file *wanted, const char *what, const char *option,
                                char path[EVALUATE_PATH_MAX])
{
    path[0] = '\0';
    if (!wanted->name[0])
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "the model's training metadata names no %s: give it with %s", what,
                           option);
    if (dir_count == 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "the model was trained with the %s %s%s%s: name a folder holding it "
                           "with --search DIR, or give the file with %s",
                           what, wanted->name, wanted->sha256[0] ? " (SHA-256 " : "",
                           wanted->sha256[0] ? wanted->sha256 : "", option);
    file_search search = {.wanted = wanted};
    for (size_t i = 0; i < dir_count && !search.found[0]; i++) {
        current_search = &search;
        int rc = nftw(dirs[i], visit, 16, FTW_PHYS);
        current_search = NULL;
        if (rc < 0)
            return style__fail(STYLE_ERR_IO, "cannot search %s for the %s: %s", dirs[i], what,
                               strerror(errno));
    }
    if (search.found[0]) {
        snprintf(path, EVALUATE_PATH_MAX, "%s", search.found);
        return STYLE_OK;
    }
    if (search.mismatch[0])
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s is not the %s the model was trained with: its SHA-256 differs "
                           "from the recorded %s (give the right file with %s)",
                           search.mismatch, what, wanted->sha256, option);
    return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                       "no %s named %s under the --search folders (%zu searched): give it "
                       "with %s",
                       what, wanted->name, dir_count, option);
}

static style_status photo_set_push(photo_set *set, const char *path, const char *hex)
{
    size_t n = set->count + 1;
    char **paths = style__realloc(set->paths, n * sizeof *paths);
    if (!paths) return style__fail(STYLE_ERR_NOMEM, "evaluate: out of memory");
    set->paths = paths;
    char(*hashes)[SHA256_HEX_SIZE] = style__realloc(set->sha256, n * sizeof *hashes);
    if (!hashes) return style__fail(STYLE_ERR_NOMEM, "evaluate: out of memory");
    set->sha256 = hashes;
    set->paths[set->count] = style__strdup(path);
    if (!set->paths[set->count]) return style__fail(STYLE_ERR_NOMEM, "evaluate: out of memory");
    snprintf(set->sha256[set->count], SHA256_HEX_SIZE, "%s", hex);
    set->count = n;
    return STYLE_OK;
}

style_status photo_set_open(photo_set *set, const char *dir, const char *list, size_t max,
                            style_log_fn log, void *log_user)
{
    style_status status = STYLE_OK;
    sha256_list wanted = {0};
    train_dataset data = {0};
    memset(set, 0, sizeof *set);
    char hex[SHA256_HEX_SIZE], path[EVALUATE_PATH_MAX];
    if (list) {
        TRY(sha256_list_read(list, &wanted));
        FAIL_IF(!wanted.count, STYLE_ERR_INVALID_ARGUMENT, "%s: lists no photos", list);
        for (size_t i = 0; i < wanted.count && (!max || set->count < max); i++) {
            FAIL_IF((size_t)snprintf(path, sizeof path, "%s/%s", dir, wanted.names[i]) >=
                        sizeof path,
                    STYLE_ERR_INVALID_ARGUMENT, "%s: path too long", wanted.names[i]);
            status = file_sha256(path, hex);
            if (status != STYLE_OK) {
                style__prefix_error(list);
                goto fail;
            }
            FAIL_IF(strcmp(hex, wanted.hashes[i]) != 0, STYLE_ERR_INVALID_ARGUMENT,
                    "%s: SHA-256 %s, but %s lists %s for it: not the held-out photo", path, hex,
                    list, wanted.hashes[i]);
            TRY(photo_set_push(set, path, hex));
        }
    } else {
        TRY(train_dataset_open(&data, dir, log, log_user));
        for (size_t i = 0; i < data.count && (!max || set->count < max); i++) {
            TRY(file_sha256(data.paths[i], hex));
            TRY(photo_set_push(set, data.paths[i], hex));
        }
    }
fail:
    sha256_list_free(&wanted);
    train_dataset_close(&data);
    if (status != STYLE_OK) photo_set_close(set);
    return status;
}

void photo_set_close(photo_set *set)
{
    if (!set) return;
    for (size_t i = 0; i < set->count; i++)
        style__free(set->paths[i]);
    style__free(set->paths);
    style__free(set->sha256);
    memset(set, 0, sizeof *set);
}
