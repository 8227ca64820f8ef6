/* The files `libstyle stylize` must never overwrite (see input_files.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* scandir, alphasort */

#include "input_files.h"
#include "cli_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int input_files_add(struct input_files *files, const struct stat *file_stat, const char *path,
                    int is_input)
{
    if (files->count == files->capacity) {
        size_t capacity = files->capacity ? files->capacity * 2 : 64;
        struct input_file *grown = realloc(files->items, capacity * sizeof *grown);
        if (grown == NULL) return -1;
        files->items = grown;
        files->capacity = capacity;
    }
    char *copy = strdup(path);
    if (copy == NULL) return -1;
    struct input_file *file = &files->items[files->count++];
    file->device = file_stat->st_dev;
    file->inode = file_stat->st_ino;
    file->path = copy;
    file->is_input = is_input;
    return 0;
}

static long add_tree(struct input_files *files, const char *dir, int depth_left)
{
    struct dirent **entries = NULL;
    int count = scandir(dir, &entries, NULL, alphasort);
    long unreadable = 0;
    if (count < 0) {
        cli_error("%s: %s", dir, strerror(errno));
        return 1;
    }
    for (int i = 0; i < count; ++i) {
        const char *name = entries[i]->d_name;
        if (unreadable < 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        char *path = cli_path_join(dir, name);
        struct stat entry_stat;
        if (path == NULL) {
            unreadable = -1;
        } else if (lstat(path, &entry_stat) != 0) {
            cli_error("%s: %s", path, strerror(errno));
            unreadable++;
        } else if (S_ISDIR(entry_stat.st_mode)) {
            if (depth_left <= 0) {
                cli_error("%s: too deep; not searched", path);
                unreadable++;
            } else {
                long below = add_tree(files, path, depth_left - 1);
                unreadable = below < 0 ? -1 : unreadable + below;
            }
        } else {
            /* A symbolic link protects what it points to as well as itself. */
            struct stat target_stat;
            if (input_files_add(files, &entry_stat, path, 0) != 0 ||
                (S_ISLNK(entry_stat.st_mode) && stat(path, &target_stat) == 0 &&
                 input_files_add(files, &target_stat, path, 0) != 0))
                unreadable = -1;
        }
        free(path);
    }
    for (int i = 0; i < count; ++i)
        free(entries[i]);
    free(entries);
    return unreadable;
}

long input_files_add_tree(struct input_files *files, const char *dir, int max_depth)
{
    long unreadable = add_tree(files, dir, max_depth);
    if (unreadable < 0) cli_error("out of memory");
    return unreadable;
}

static int compare_identity(dev_t device_a, ino_t inode_a, dev_t device_b, ino_t inode_b)
{
    if (device_a != device_b) return device_a < device_b ? -1 : 1;
    if (inode_a != inode_b) return inode_a < inode_b ? -1 : 1;
    return 0;
}

/* By identity, inputs first, so that a lookup finds the input when there is one. */
static int by_identity(const void *a, const void *b)
{
    const struct input_file *x = a, *y = b;
    int order = compare_identity(x->device, x->inode, y->device, y->inode);
    return order != 0 ? order : y->is_input - x->is_input;
}

void input_files_sort(struct input_files *files)
{
    if (files->count > 1) qsort(files->items, files->count, sizeof *files->items, by_identity);
}

const struct input_file *input_files_find(const struct input_files *files,
                                          const struct stat *file_stat)
{
    size_t low = 0, high = files->count; /* the first item not below file_stat is in [low, high] */
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        const struct input_file *item = &files->items[middle];
        if (compare_identity(item->device, item->inode, file_stat->st_dev, file_stat->st_ino) < 0)
            low = middle + 1;
        else
            high = middle;
    }
    if (low < files->count && files->items[low].device == file_stat->st_dev &&
        files->items[low].inode == file_stat->st_ino)
        return &files->items[low];
    return NULL;
}

void input_files_free(struct input_files *files)
{
    for (size_t i = 0; i < files->count; ++i)
        free(files->items[i].path);
    free(files->items);
    memset(files, 0, sizeof *files);
}
