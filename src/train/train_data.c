/*
 * Training data: the random stream (xoshiro256** seeded through splitmix64), the recursive
 * listing of a folder of photos, antialiased resampling (PIL BILINEAR semantics), and the batch
 * of random crops. Everything a batch does is drawn from the caller's train_rng in a fixed
 * order, so the same generator state always gives the same batch:
 *   for each item: the image index (again after a file that fails to decode), the short side,
 *   the crop's x offset, the crop's y offset.
 */
#define _GNU_SOURCE
#include "train/train_data.h"

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

/* ---- Random numbers ------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void train_rng_seed(train_rng *rng, uint64_t seed)
{
    uint64_t state = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&state);
    /* splitmix64 is a bijection of successive states, so four zeros cannot all come out; keep
     * the generator valid regardless. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

uint64_t train_rng_next(train_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

uint64_t train_rng_below(train_rng *rng, uint64_t n)
{
    if (n <= 1) {
        /* Still consume one value so that the number of draws never depends on n. */
        (void)train_rng_next(rng);
        return 0;
    }
    /* Reject the lowest 2^64 mod n values so that every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = train_rng_next(rng);
        if (r >= threshold) return r % n;
    }
}

double train_rng_uniform(train_rng *rng)
{
    return (double)(train_rng_next(rng) >> 11) * 0x1.0p-53;
}

double train_rng_normal(train_rng *rng)
{
    double u1 = train_rng_uniform(rng);
    double u2 = train_rng_uniform(rng);
    double radius = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 is in (0, 1] */
    return radius * cos(2.0 * M_PI * u2);
}

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

/* ---- Resampling ----------------------------------------------------------------------- */

/* Where rows of RGB floats come from: a packed float buffer, or a decoded style_image. */
typedef struct row_source {
    const float *pixels;      /* packed width x height x 3, or NULL */
    const style_image *image; /* used when pixels is NULL */
    int32_t width;
    int32_t height;
} row_source;

/*
 * Returns the RGB floats of row y, columns [x0, x1), as (x1 - x0) * 3 floats (the first one is
 * column x0): a pointer into the float buffer, or `scratch` filled from the image.
 */
static const float *source_row(const row_source *src, int32_t y, int32_t x0, int32_t x1,
                               float *scratch)
{
    if (src->pixels) return src->pixels + ((size_t)y * (size_t)src->width + (size_t)x0) * 3;
    const style_image *image = src->image;
    const unsigned char *row =
        (const unsigned char *)image->data + (size_t)y * style__image_stride(image);
    size_t channels = (size_t)image->channels;
    float *out = scratch;
    switch (image->sample_type) {
    case STYLE_SAMPLE_U8:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const uint8_t *p = row + (size_t)x * channels;
            out[0] = p[0];
            out[1] = p[1];
            out[2] = p[2];
        }
        break;
    case STYLE_SAMPLE_U16:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const uint16_t *p = (const uint16_t *)row + (size_t)x * channels;
            for (int c = 0; c < 3; c++)
                out[c] = (float)p[c] * (255.0f / 65535.0f);
        }
        break;
    case STYLE_SAMPLE_F32:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const float *p = (const float *)row + (size_t)x * channels;
            for (int c = 0; c < 3; c++) {
                float v = p[c];
                out[c] = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; /* NaN -> 0 */
            }
        }
        break;
    }
    return scratch;
}

/* The filter taps of one axis, for the outputs [first, first + count) of an out_size axis. */
typedef struct axis_taps {
    int32_t *start;  /* first source index of each output */
    int32_t *length; /* number of taps of each output */
    double *weights; /* count x stride, normalized to sum 1 */
    int32_t stride;
    int32_t source_min; /* smallest source index used */
    int32_t source_end; /* one past the largest */
} axis_taps;

static void axis_taps_free(axis_taps *taps)
{
    style__free(taps->start);
    style__free(taps->length);
    style__free(taps->weights);
    memset(taps, 0, sizeof *taps);
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5 (Catmull-Rom; PIL's BICUBIC), support 2. */
static double keys_cubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/*
 * PIL's BILINEAR (or BICUBIC) coefficients: output o is centred on source coordinate
 * (o + 0.5) * scale, scale = in / out; the kernel is stretched by max(1, scale), so a downscale
 * averages over every source pixel it covers; taps outside the image are dropped and the rest
 * renormalized (which, when upscaling, is interpolation with the edges clamped).
 */
static style_status axis_taps_make(axis_taps *taps, resize_filter filter, int32_t in_size,
                                   int32_t out_size, int32_t first, int32_t count)
{
    memset(taps, 0, sizeof *taps);
    double (*kernel)(double) = filter == RESIZE_CUBIC ? keys_cubic : triangle;
    double radius = filter == RESIZE_CUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / (double)out_size;
    double filter_scale = scale > 1.0 ? scale : 1.0;
    double support = radius * filter_scale;
    double stride = ceil(2.0 * support) + 2.0;
    if (stride > (double)in_size) stride = (double)in_size;
    taps->stride = (int32_t)stride;

    size_t weight_count;
    if (!style__mul_size((size_t)count, (size_t)taps->stride, &weight_count) ||
        !style__mul_size(weight_count, sizeof(double), &weight_count))
        return style__fail(STYLE_ERR_NOMEM, "resize: filter of %d x %d taps is too large", count,
                           taps->stride);
    taps->start = style__malloc((size_t)count * sizeof *taps->start);
    taps->length = style__malloc((size_t)count * sizeof *taps->length);
    taps->weights = style__malloc(weight_count);
    if (!taps->start || !taps->length || !taps->weights) {
        axis_taps_free(taps);
        return style__fail(STYLE_ERR_NOMEM, "resize: cannot allocate the filter (%zu bytes)",
                           weight_count);
    }
    taps->source_min = in_size;
    taps->source_end = 0;
    for (int32_t k = 0; k < count; k++) {
        double center = ((double)first + (double)k + 0.5) * scale;
        double lo = floor(center - support + 0.5), hi = floor(center + support + 0.5);
        int32_t begin = lo < 0.0 ? 0 : (int32_t)lo;
        int32_t end = hi > (double)in_size ? in_size : (int32_t)hi;
        if (end - begin > taps->stride) end = begin + taps->stride; /* cannot happen */
        double *w = taps->weights + (size_t)k * (size_t)taps->stride;
        int32_t n = 0;
        double sum = 0.0;
        for (int32_t j = begin; j < end; j++) {
            double weight = kernel(((double)j + 0.5 - center) / filter_scale);
            if (n == 0 && weight == 0.0) {
                begin++; /* trim leading zeros */
                continue;
            }
            w[n++] = weight;
            sum += weight;
        }
        while (n > 0 && w[n - 1] == 0.0)
            n--;
        if (n == 0 || sum <= 0.0) {
            /* Unreachable (the nearest source pixel always has a positive weight); fall back
             * to it. */
            int32_t nearest = (int32_t)center;
            begin = nearest < in_size ? nearest : in_size - 1;
            w[0] = 1.0;
            n = 1;
            sum = 1.0;
        }
        for (int32_t j = 0; j < n; j++)
            w[j] /= sum;
        taps->start[k] = begin;
        taps->length[k] = n;
        if (begin < taps->source_min) taps->source_min = begin;
        if (begin + n > taps->source_end) taps->source_end = begin + n;
    }
    return STYLE_OK;
}

/*
 * Writes the window [x0, x0 + out_w) x [y0, y0 + out_h) of the source resized to dst_w x dst_h
 * into `out` (out_w x out_h x 3), computing only what the window needs: a horizontal pass over
 * the source rows it touches into a scratch buffer, then a vertical pass.
 */
static style_status resample_window(const row_source *src, resize_filter filter, int32_t dst_w,
                                    int32_t dst_h, int32_t x0, int32_t y0, int32_t out_w,
                                    int32_t out_h, float *out)
{
    style_status status = STYLE_OK;
    axis_taps across = {0}, down = {0};
    float *scratch = NULL, *temp = NULL;
    double *accumulator = NULL;
    size_t out_row = (size_t)out_w * 3;

    if (dst_w == src->width && dst_h == src->height) {
        /* Same size: a plain copy of the window (the filter would be the identity anyway). */
        if (!src->pixels) {
            scratch = style__malloc(out_row * sizeof *scratch);
            FAIL_IF(!scratch, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", out_w);
        }
        for (int32_t y = 0; y < out_h; y++) {
            const float *row = source_row(src, y0 + y, x0, x0 + out_w, scratch);
            memcpy(out + (size_t)y * out_row, row, out_row * sizeof *out);
        }
        style__free(scratch);
        return STYLE_OK;
    }

    TRY(axis_taps_make(&across, filter, src->width, dst_w, x0, out_w));
    TRY(axis_taps_make(&down, filter, src->height, dst_h, y0, out_h));
    int32_t sx0 = across.source_min, sx1 = across.source_end;
    int32_t sy0 = down.source_min, sy1 = down.source_end;

    size_t temp_count;
    FAIL_IF(!style__mul_size(out_row, (size_t)(sy1 - sy0), &temp_count) ||
                !style__mul_size(temp_count, sizeof *temp, &temp_count),
            STYLE_ERR_NOMEM, "resize: scratch buffer size overflows");
    temp = style__malloc(temp_count);
    FAIL_IF(!temp, STYLE_ERR_NOMEM, "resize: cannot allocate %zu bytes of scratch", temp_count);
    if (!src->pixels) {
        scratch = style__malloc((size_t)(sx1 - sx0) * 3 * sizeof *scratch);
        FAIL_IF(!scratch, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", sx1 - sx0);
    }
    accumulator = style__malloc(out_row * sizeof *accumulator);
    FAIL_IF(!accumulator, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", out_w);

    /* Horizontal: source rows [sy0, sy1) -> temp rows of out_w pixels. */
    for (int32_t y = sy0; y < sy1; y++) {
        const float *row = source_row(src, y, sx0, sx1, scratch);
        float *t = temp + (size_t)(y - sy0) * out_row;
        for (int32_t k = 0; k < out_w; k++) {
            const double *w = across.weights + (size_t)k * (size_t)across.stride;
            const float *p = row + (size_t)(across.start[k] - sx0) * 3;
            double r = 0.0, g = 0.0, b = 0.0;
            for (int32_t j = 0; j < across.length[k]; j++, p += 3) {
                r += w[j] * p[0];
                g += w[j] * p[1];
                b += w[j] * p[2];
            }
            t[(size_t)k * 3 + 0] = (float)r;
            t[(size_t)k * 3 + 1] = (float)g;
            t[(size_t)k * 3 + 2] = (float)b;
        }
    }
    /* Vertical: temp -> out. */
    for (int32_t k = 0; k < out_h; k++) {
        const double *w = down.weights + (size_t)k * (size_t)down.stride;
        memset(accumulator, 0, out_row * sizeof *accumulator);
        for (int32_t j = 0; j < down.length[k]; j++) {
            const float *t = temp + (size_t)(down.start[k] + j - sy0) * out_row;
            double weight = w[j];
            for (size_t i = 0; i < out_row; i++)
                accumulator[i] += weight * t[i];
        }
        float *o = out + (size_t)k * out_row;
        for (size_t i = 0; i < out_row; i++)
            o[i] = (float)accumulator[i];
    }
fail:
    axis_taps_free(&across);
    axis_taps_free(&down);
    style__free(scratch);
    style__free(temp);
    style__free(accumulator);
    return status;
}

style_status image_resize_rgb_filter(const float *src, int32_t src_w, int32_t src_h, float *dst,
                                     int32_t dst_w, int32_t dst_h, resize_filter filter)
{
    if (!src || !dst)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_resize_rgb: NULL image buffer");
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_resize_rgb: bad sizes %dx%d -> %dx%d",
                           src_w, src_h, dst_w, dst_h);
    row_source source = {.pixels = src, .width = src_w, .height = src_h};
    return resample_window(&source, filter, dst_w, dst_h, 0, 0, dst_w, dst_h, dst);
}

style_status image_resize_rgb(const float *src, int32_t src_w, int32_t src_h, float *dst,
                              int32_t dst_w, int32_t dst_h)
{
    return image_resize_rgb_filter(src, src_w, src_h, dst, dst_w, dst_h, RESIZE_TRIANGLE);
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
    row_source source = {.image = &image, .width = w, .height = h};
    TRY(resample_window(&source, RESIZE_TRIANGLE, new_w, new_h, 0, 0, new_w, new_h, pixels));
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
        row_source source = {.image = &image, .width = w, .height = h};
        status = resample_window(&source, RESIZE_TRIANGLE, new_w, new_h, x0, y0, size, size, out);
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
