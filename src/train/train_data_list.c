/* Training photos by content (train_data_list.h): hashes, held-out refusal, the list's hash. */
#include "train/train_data_list.h"

#include <stdio.h>
#include <string.h>

style_status train_dataset_fingerprint(train_dataset *data, const char *exclude_list,
                                       char data_sha256[SHA256_HEX_SIZE], size_t *excluded)
{
    style_status status = STYLE_OK;
    sha256_list held_out = {0};
    char *lines = NULL;
    size_t used = 0, capacity = 0, kept = 0, i = 0;
    *excluded = 0;
    if (exclude_list) TRY(sha256_list_read(exclude_list, &held_out));
    for (i = 0; i < data->count; i++) {
        char hex[SHA256_HEX_SIZE];
        TRY(file_sha256(data->paths[i], hex));
        ptrdiff_t listed = sha256_list_find(&held_out, hex);
        if (listed >= 0) {
            if (data->log) {
                char message[2 * 4096 + 128];
                snprintf(message, sizeof message,
                         "refusing %s: held out by %s (listed as %s), not trained on",
                         data->paths[i], exclude_list, held_out.names[listed]);
                data->log(data->log_user, STYLE_LOG_WARNING, message);
            }
            style__free(data->paths[i]);
            (*excluded)++;
            continue;
        }
        const char *name = style__basename(data->paths[i]);
        size_t need = used + strlen(name) + 64 + 4;
        if (need > capacity) {
            size_t grown = need > 2 * capacity ? need : 2 * capacity;
            char *bigger = style__realloc(lines, grown);
            FAIL_IF(!bigger, STYLE_ERR_NOMEM, "train: out of memory");
            lines = bigger;
            capacity = grown;
        }
        used += (size_t)snprintf(lines + used, capacity - used, "%s  %s\n", hex, name);
        data->paths[kept++] = data->paths[i];
    }
    data->count = kept;
    FAIL_IF(kept == 0, STYLE_ERR_INVALID_ARGUMENT,
            "train: every photo under %s is held out by %s: nothing left to train on",
            data->root ? data->root : "the data folder", exclude_list);
    TRY(bytes_sha256(lines, used, data_sha256));
fail:
    if (status != STYLE_OK && i < data->count) {
        /* Stopped at photo i: keep it and the rest after the kept ones (train_dataset_close
         * frees them). */
        for (size_t j = i; j < data->count; j++)
            data->paths[kept++] = data->paths[j];
        data->count = kept;
    }
    sha256_list_free(&held_out);
    style__free(lines);
    return status;
}
