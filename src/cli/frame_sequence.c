/* Numbered image sequences (frame_sequence.h). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* mkdtemp */

#include "frame_sequence.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* The start of the last path component. */
static const char *last_component(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int frame_sequence_pattern(const char *path)
{
    static const char *const extensions[] = {".png", ".jpg", ".jpeg", ".webp",
                                             ".bmp", ".tif", ".tiff", NULL};
    const char *name = last_component(path);
    const char *percent = strchr(name, '%');
    if (percent == NULL || strchr(percent + 1, '%') != NULL) return 0;
    const char *p = percent + 1;
    if (*p == '0') {
        p++;
        if (*p < '1' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p != 'd') return 0;
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot < p) return 0;
    for (int i = 0; extensions[i] != NULL; i++)
        if (strcasecmp(dot, extensions[i]) == 0) return 1;
    return 0;
}

int frame_sequence_writable(const char *path)
{
    const char *dot = strrchr(last_component(path), '.');
    return frame_sequence_pattern(path) && dot != NULL && strcasecmp(dot, ".png") == 0;
}

/* The folder part of a pattern ("a/b/%05d.png" -> "a/b"), newly allocated; NULL when the
 * pattern has none (the current folder) or memory runs out. */
static char *folder_of(const char *pattern)
{
    const char *name = last_component(pattern);
    size_t length = (size_t)(name - pattern);
    while (length > 1 && pattern[length - 1] == '/')
        length--;
    if (length == 0 || (length == 1 && pattern[0] == '.')) return NULL;
    char *folder = malloc(length + 1);
    if (folder == NULL) return NULL;
    memcpy(folder, pattern, length);
    folder[length] = '\0';
    return folder;
}

static int folder_is_empty(const char *path)
{
    DIR *dir = opendir(path);
    if (dir == NULL) return 0;
    int empty = 1;
    for (struct dirent *entry; empty && (entry = readdir(dir)) != NULL;)
        empty = strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0;
    closedir(dir);
    return empty;
}

int frame_sequence_prepare(const char *pattern, char **folder, char **temporary_pattern,
                           char *message, size_t size)
{
    *folder = *temporary_pattern = NULL;
    char *target = folder_of(pattern);
    if (target == NULL) {
        snprintf(message, size,
                 "a frame sequence needs a folder of its own (such as frames/%%05d.png)");
        return -1;
    }
    struct stat info;
    if (stat(target, &info) == 0 && (!S_ISDIR(info.st_mode) || !folder_is_empty(target))) {
        snprintf(message, size, "%s already exists and is not an empty folder", target);
        free(target);
        return -1;
    }
    static const char suffix[] = ".tmp.XXXXXX";
    const char *name = last_component(pattern);
    const size_t length = strlen(target);
    char *made = malloc(length + sizeof suffix);
    char *inside = malloc(length + sizeof suffix + 1 + strlen(name));
    if (made == NULL || inside == NULL) {
        snprintf(message, size, "out of memory");
        goto fail;
    }
    memcpy(made, target, length);
    memcpy(made + length, suffix, sizeof suffix);
    if (mkdtemp(made) == NULL) {
        snprintf(message, size, "cannot make a folder beside %s (%s)", target, strerror(errno));
        goto fail;
    }
    sprintf(inside, "%s/%s", made, name);
    free(target);
    *folder = made;
    *temporary_pattern = inside;
    return 0;
fail:
    free(target);
    free(made);
    free(inside);
    return -1;
}

int frame_sequence_commit(const char *folder, const char *pattern)
{
    char *target = folder_of(pattern);
    if (target == NULL) return errno = ENOMEM, -1;
    int r = rename(folder, target); /* replaces an empty folder */
    int saved = errno;
    free(target);
    errno = saved;
    return r;
}

void frame_sequence_remove(const char *folder)
{
    DIR *dir = opendir(folder);
    if (dir != NULL) {
        for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
            char path[4096];
            if (snprintf(path, sizeof path, "%s/%s", folder, entry->d_name) < (int)sizeof path)
                unlink(path);
        }
        closedir(dir);
    }
    rmdir(folder);
}
