/*
 * Training data: the photos of a folder (listed by image/image_folder.c) and the batch of
 * random crops (resampled by image/resize.c). Everything a batch does is drawn from the caller's train_rng
 * (train/train_rng.c) in a fixed order, so the same generator state always gives the same
 * batch:
 *   for each item: the image index (again after a file that fails to decode), the short side,
 *   the crop's x offset, the crop's y offset.
 */
#define _GNU_SOURCE
#include "train/train_data.h"
#include "image/image_folder.h"
#include "image/resize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

style_status train_dataset_open(train_dataset *data, const char *root, style_log_fn log,
                                void *log_user)
{
    style_status status = STYLE_OK;
    char **paths = NULL;
    size_t count = 0;
    char *root_copy = NULL;
    if (!data) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train_dataset_open: data is NULL");
    memset(data, 0, sizeof *data);
    FAIL_IF(!root || !*root, STYLE_ERR_INVALID_ARGUMENT, "train_dataset_open: no root directory");
    TRY(image_folder_list(root, log, log_user, &paths, &count));
    FAIL_IF(count == 0, STYLE_ERR_INVALID_ARGUMENT,
            "no images found under %s (looked for .png, .jpg, .jpeg and .webp files)", root);
    root_copy = style__strdup(root);
    FAIL_IF(!root_copy, STYLE_ERR_NOMEM, "%s: cannot allocate the root's name", root);
    data->paths = paths;
    data->count = count;
    data->log = log;
    data->log_user = log_user;
    data->root = root_copy;
    return STYLE_OK;
fail:
    image_folder_free(paths, count);
    style__free(root_copy);
    return status;
}

void train_dataset_close(train_dataset *data)
{
    if (!data) return;
    image_folder_free(data->paths, data->count);
    style__free(data->root);
    memset(data, 0, sizeof *data);
}

/* The long side when the short side becomes `target`, rounded; -1 when over INT32_MAX. */
static int64_t scaled_long_side(int32_t long_side, int32_t short_side, int64_t target)
{
    double scaled = round((double)long_side * (double)target / (double)short_side);
    if (scaled > (double)INT32_MAX) return -1;
    return scaled < 1.0 ? 1 : (int64_t)scaled;
}

style_status train_load_rgb(const char *path, int32_t short_side, float **out, int32_t *width,
                            int32_t *height)
{
    style_status status = STYLE_OK;
    style_image image = {0};
    float *pixels = NULL;
    if (out) *out = NULL;
    if (width) *width = 0;
    if (height) *height = 0;
    FAIL_IF(!path || !out || !width || !height, STYLE_ERR_INVALID_ARGUMENT,
            "train_load_rgb: NULL argument");
    FAIL_IF(short_side < 0, STYLE_ERR_INVALID_ARGUMENT, "train_load_rgb: short side %d < 0",
            short_side);
    TRY(style_image_load(path, 0, &image));

    int32_t w = image.width, h = image.height;
    int32_t new_w = w, new_h = h;
    if (short_side > 0) {
        bool wide = w >= h;
        int64_t long_side = scaled_long_side(wide ? w : h, wide ? h : w, short_side);
        FAIL_IF(long_side < 0, STYLE_ERR_LIMIT,
                "%s: %dx%d scaled to a short side of %d is too large", path, w, h, short_side);
        new_w = wide ? (int32_t)long_side : short_side;
        new_h = wide ? short_side : (int32_t)long_side;
    }
    size_t bytes;
    FAIL_IF(!style__mul_size((size_t)new_w * 3, (size_t)new_h, &bytes) ||
                !style__mul_size(bytes, sizeof *pixels, &bytes),
            STYLE_ERR_LIMIT, "%s: %dx%d pixels are too many", path, new_w, new_h);
    pixels = style__malloc(bytes);
    FAIL_IF(!pixels, STYLE_ERR_NOMEM, "%s: cannot allocate %zu bytes for %dx%d pixels", path, bytes,
            new_w, new_h);
    TRY(image_resize_window(&image, RESIZE_TRIANGLE, new_w, new_h, 0, 0, new_w, new_h, pixels));
    style_image_release(&image);
    *out = pixels;
    *width = new_w;
    *height = new_h;
    return STYLE_OK;
fail:
    style_image_release(&image);
    style__free(pixels);
    return status;
}

/* ---- Batches -------------------------------------------------------------------------- */

/* Logs why paths[index] is skipped and removes it, keeping the list sorted. */
static void drop_image(train_dataset *data, size_t index)
{
    style__log(data->log, data->log_user, STYLE_LOG_WARNING, "skipping %s: %s", data->paths[index],
                style_last_error());
    style__free(data->paths[index]);
    memmove(data->paths + index, data->paths + index + 1,
            (data->count - index - 1) * sizeof *data->paths);
    data->count--;
}

/*
 * One random size x size crop into `out`, or, with out == NULL, only the random draws the crop
 * would make: the image's size is then read from its header, not decoded (another process
 * decodes it; the draws must stay in step with it).
 */
static style_status batch_item(train_dataset *data, train_rng *rng, int32_t size, float *out)
{
    for (;;) {
        if (data->count == 0)
            return style__fail(STYLE_ERR_FORMAT, "no readable images left under %s",
                               data->root ? data->root : "the training folder");
        size_t index = (size_t)train_rng_below(rng, data->count);
        const char *path = data->paths[index];
        style_image image = {0};
        int32_t w = 0, h = 0;
        style_status status = out ? style_image_load(path, data->max_pixels, &image)
                                  : style__image_file_size(path, data->max_pixels, &w, &h);
        if (status == STYLE_ERR_NOMEM) return status;
        if (status != STYLE_OK) {
            drop_image(data, index);
            continue;
        }
        if (out) w = image.width, h = image.height;
        bool wide = w >= h;
        int32_t short_side = wide ? h : w, long_side = wide ? w : h;
        int64_t largest = short_side > size ? short_side : size;
        if (scaled_long_side(long_side, short_side, largest) < 0) {
            style__fail(STYLE_ERR_LIMIT, "%dx%d is too elongated to scale to a %d-pixel crop", w, h,
                        size);
            style_image_release(&image);
            drop_image(data, index);
            continue;
        }
        /* The short side: uniform in [size, max(size, short side)], the top capped at
         * data->max_short_side when that is set (the scale the model will be used at). */
        int32_t top = short_side;
        if (data->max_short_side > 0 && top > data->max_short_side) top = data->max_short_side;
        uint64_t range = top > size ? (uint64_t)(top - size) : 0;
        int64_t target = size + (int64_t)train_rng_below(rng, range + 1);
        int32_t scaled = (int32_t)scaled_long_side(long_side, short_side, target);
        int32_t new_w = wide ? scaled : (int32_t)target;
        int32_t new_h = wide ? (int32_t)target : scaled;
        int32_t x0 = (int32_t)train_rng_below(rng, (uint64_t)(new_w - size) + 1);
        int32_t y0 = (int32_t)train_rng_below(rng, (uint64_t)(new_h - size) + 1);
        if (!out) return STYLE_OK;
        status = image_resize_window(&image, RESIZE_TRIANGLE, new_w, new_h, x0, y0, size, size, out);
        style_image_release(&image);
        return status;
    }
}

style_status train_dataset_batch_shard(train_dataset *data, train_rng *rng, int32_t count,
                                       int32_t first, int32_t shard, int32_t size, float *batch)
{
    style_status status = STYLE_OK;
    FAIL_IF(!data || !rng || !batch, STYLE_ERR_INVALID_ARGUMENT,
            "train_dataset_batch: NULL argument");
    FAIL_IF(count < 1 || size < 1, STYLE_ERR_INVALID_ARGUMENT,
            "train_dataset_batch: bad batch of %d crops of %d pixels", count, size);
    FAIL_IF(first < 0 || shard < 1 || shard > count - first, STYLE_ERR_INVALID_ARGUMENT,
            "train_dataset_batch: crops %d..%d are not in a batch of %d", first, first + shard - 1,
            count);
    FAIL_IF(data->count > 0 && !data->paths, STYLE_ERR_INVALID_ARGUMENT,
            "train_dataset_batch: data set has no paths");
    size_t item;
    FAIL_IF(!style__mul_size((size_t)size * 3, (size_t)size, &item), STYLE_ERR_INVALID_ARGUMENT,
            "train_dataset_batch: crop size %d overflows", size);
    for (int32_t i = 0; i < count; i++) {
        bool mine = i >= first && i < first + shard;
        TRY(batch_item(data, rng, size, mine ? batch + (size_t)(i - first) * item : NULL));
    }
    return STYLE_OK;
fail:
    return status;
}

style_status train_dataset_batch(train_dataset *data, train_rng *rng, int32_t count, int32_t size,
                                 float *batch)
{
    return train_dataset_batch_shard(data, rng, count, 0, count, size, batch);
}
