/*
 * Training data: the recursive listing of a folder of photos and the batch of random crops
 * (resampled by image/resize.c). Everything a batch does is drawn from the caller's train_rng
 * (train/train_rng.c) in a fixed order, so the same generator state always gives the same
 * batch:
 *   for each item: the image index (again after a file that fails to decode), the short side,
 *   the crop's x offset, the crop's y offset.
 */
#define _GNU_SOURCE
#include "train/train_data.h"
#include "image/resize.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- Listing -------------------------------------------------------------------------- */

typedef struct dir_id {
    dev_t dev;
    ino_t ino;
} dir_id;

typedef struct string_list {
    char **items;
    size_t count;
    size_t capacity;
} string_list;

typedef struct lister {
    string_list files;
    dir_id *visited;
    size_t visited_count;
    size_t visited_capacity;
    style_log_fn log;
    void *log_user;
} lister;

static void string_list_free(string_list *list)
{
    for (size_t i = 0; i < list->count; i++)
        style__free(list->items[i]);
    style__free(list->items);
    memset(list, 0, sizeof *list);
}

/* Appends `item` (taking ownership; freed here on failure). */
static style_status string_list_push(string_list *list, char *item)
{
    if (list->count == list->capacity) {
        size_t capacity = list->capacity ? list->capacity * 2 : 64;
        size_t bytes;
        char **items = NULL;
        if (style__mul_size(capacity, sizeof *items, &bytes))
            items = style__realloc(list->items, bytes);
        if (!items) {
            style__free(item);
            return style__fail(STYLE_ERR_NOMEM, "cannot grow a list of %zu paths", list->count);
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = item;
    return STYLE_OK;
}

static bool lister_visit(lister *ls, const struct stat *st, style_status *status)
{
    for (size_t i = 0; i < ls->visited_count; i++)
        if (ls->visited[i].dev == st->st_dev && ls->visited[i].ino == st->st_ino) return false;
    if (ls->visited_count == ls->visited_capacity) {
        size_t capacity = ls->visited_capacity ? ls->visited_capacity * 2 : 32;
        dir_id *visited = style__realloc(ls->visited, capacity * sizeof *visited);
        if (!visited) {
            *status = style__fail(STYLE_ERR_NOMEM, "cannot grow the list of visited directories");
            return false;
        }
        ls->visited = visited;
        ls->visited_capacity = capacity;
    }
    ls->visited[ls->visited_count].dev = st->st_dev;
    ls->visited[ls->visited_count].ino = st->st_ino;
    ls->visited_count++;
    return true;
}

static bool has_image_extension(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot) return false;
    return !strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
           !strcasecmp(dot, ".webp");
}

static char *join_path(const char *dir, const char *name)
{
    size_t dir_length = strlen(dir);
    size_t name_length = strlen(name);
    bool slash = dir_length > 0 && dir[dir_length - 1] != '/';
    char *path = style__malloc(dir_length + slash + name_length + 1);
    if (!path) return NULL;
    memcpy(path, dir, dir_length);
    if (slash) path[dir_length] = '/';
    memcpy(path + dir_length + slash, name, name_length + 1);
    return path;
}

static void log_message(style_log_fn log, void *user, style_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void log_message(style_log_fn log, void *user, style_log_level level, const char *fmt, ...)
{
    if (!log) return;
    char message[6144];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log(user, level, message);
}

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Lists `dir`: image files go to ls->files; subdirectories are listed after this one is closed
 * (so deep trees do not hold a descriptor per level), in sorted order, each only if not seen
 * before (by device and inode, so symlinked directories are followed once and never into a
 * loop). A subdirectory that cannot be read is skipped with a warning; the root is an error.
 */
static style_status list_directory(lister *ls, const char *dir, bool is_root)
{
    style_status status = STYLE_OK;
    string_list subdirs = {0};
    char *path = NULL;
    DIR *handle = opendir(dir);
    if (!handle) {
        if (is_root)
            return style__fail(STYLE_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
        log_message(ls->log, ls->log_user, STYLE_LOG_WARNING, "skipping directory %s: %s", dir,
                    strerror(errno));
        return STYLE_OK;
    }
    for (;;) {
        errno = 0;
        struct dirent *entry = readdir(handle);
        if (!entry) {
            if (errno != 0) {
                FAIL_IF(is_root, STYLE_ERR_IO, "%s: cannot read directory: %s", dir,
                        strerror(errno));
                log_message(ls->log, ls->log_user, STYLE_LOG_WARNING,
                            "stopped reading directory %s: %s", dir, strerror(errno));
            }
            break;
        }
        const char *name = entry->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..")) continue;
        unsigned char type = entry->d_type;
        if (type == DT_REG && !has_image_extension(name)) continue;
        if (type != DT_REG && type != DT_DIR && type != DT_LNK && type != DT_UNKNOWN) continue;

        path = join_path(dir, name);
        FAIL_IF(!path, STYLE_ERR_NOMEM, "%s: cannot allocate a path", dir);
        bool is_file = type == DT_REG, is_dir = false;
        struct stat st;
        if (!is_file) {
            /* stat follows symlinks: a link to a file counts as the file, a link to a
             * directory as the directory; a dangling link is ignored. */
            if (stat(path, &st) == 0) {
                is_file = S_ISREG(st.st_mode);
                is_dir = S_ISDIR(st.st_mode);
            }
        }
        if (is_file && has_image_extension(name)) {
            char *file = path;
            path = NULL; /* the list owns it now, even on failure */
            TRY(string_list_push(&ls->files, file));
        } else if (is_dir) {
            char *subdir = path;
            path = NULL;
            TRY(string_list_push(&subdirs, subdir));
        }
        style__free(path);
        path = NULL;
    }
    closedir(handle);
    handle = NULL;
    /* Depth first in sorted order, so that which path reaches a directory that several links
     * lead to does not depend on the order readdir returned the entries in. */
    if (subdirs.count > 1)
        qsort(subdirs.items, subdirs.count, sizeof *subdirs.items, compare_paths);
    for (size_t i = 0; i < subdirs.count; i++) {
        struct stat st;
        if (stat(subdirs.items[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        bool fresh = lister_visit(ls, &st, &status);
        if (status != STYLE_OK) goto fail;
        if (fresh) TRY(list_directory(ls, subdirs.items[i], false));
    }
    string_list_free(&subdirs);
    return STYLE_OK;
fail:
    if (handle) closedir(handle);
    style__free(path);
    string_list_free(&subdirs);
    return status;
}

style_status train_dataset_open(train_dataset *data, const char *root, style_log_fn log,
                                void *log_user)
{
    style_status status = STYLE_OK;
    lister ls = {.log = log, .log_user = log_user};
    char *root_copy = NULL;
    if (!data) return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train_dataset_open: data is NULL");
    memset(data, 0, sizeof *data);
    FAIL_IF(!root || !*root, STYLE_ERR_INVALID_ARGUMENT, "train_dataset_open: no root directory");

    struct stat st;
    FAIL_IF(stat(root, &st) != 0, STYLE_ERR_IO, "%s: cannot open directory: %s", root,
            strerror(errno));
    FAIL_IF(!S_ISDIR(st.st_mode), STYLE_ERR_IO, "%s: not a directory", root);
    root_copy = style__strdup(root);
    FAIL_IF(!root_copy, STYLE_ERR_NOMEM, "%s: cannot allocate the root's name", root);
    lister_visit(&ls, &st, &status);
    if (status != STYLE_OK) goto fail;
    TRY(list_directory(&ls, root, true));
    FAIL_IF(ls.files.count == 0, STYLE_ERR_INVALID_ARGUMENT,
            "no images found under %s (looked for .png, .jpg, .jpeg and .webp files)", root);

    qsort(ls.files.items, ls.files.count, sizeof *ls.files.items, compare_paths);
    data->paths = ls.files.items;
    data->count = ls.files.count;
    data->log = log;
    data->log_user = log_user;
    data->root = root_copy;
    style__free(ls.visited);
    return STYLE_OK;
fail:
    string_list_free(&ls.files);
    style__free(ls.visited);
    style__free(root_copy);
    return status;
}

void train_dataset_close(train_dataset *data)
{
    if (!data) return;
    for (size_t i = 0; i < data->count; i++)
        style__free(data->paths[i]);
    style__free(data->paths);
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
    log_message(data->log, data->log_user, STYLE_LOG_WARNING, "skipping %s: %s", data->paths[index],
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
