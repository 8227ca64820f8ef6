/*
 * The image files under a folder (image/image_folder.h): a recursive listing that follows
 * links to directories once each (by device and inode) and lists subdirectories after closing
 * their parent, so a deep tree holds one descriptor at a time.
 */
#define _GNU_SOURCE /* d_type, DT_* */
#include "image/image_folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>

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
        style__log(ls->log, ls->log_user, STYLE_LOG_WARNING, "skipping directory %s: %s", dir,
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
                style__log(ls->log, ls->log_user, STYLE_LOG_WARNING,
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

style_status image_folder_list(const char *root, style_log_fn log, void *log_user, char ***paths,
                               size_t *count)
{
    style_status status = STYLE_OK;
    lister ls = {.log = log, .log_user = log_user};
    *paths = NULL;
    *count = 0;
    struct stat st;
    FAIL_IF(stat(root, &st) != 0, STYLE_ERR_IO, "%s: cannot open directory: %s", root,
            strerror(errno));
    FAIL_IF(!S_ISDIR(st.st_mode), STYLE_ERR_IO, "%s: not a directory", root);
    lister_visit(&ls, &st, &status);
    if (status != STYLE_OK) goto fail;
    TRY(list_directory(&ls, root, true));
    if (ls.files.count > 1)
        qsort(ls.files.items, ls.files.count, sizeof *ls.files.items, compare_paths);
    *paths = ls.files.items;
    *count = ls.files.count;
    style__free(ls.visited);
    return STYLE_OK;
fail:
    string_list_free(&ls.files);
    style__free(ls.visited);
    return status;
}

void image_folder_free(char **paths, size_t count)
{
    for (size_t i = 0; paths && i < count; i++)
        style__free(paths[i]);
    style__free(paths);
}
