/* File-system helpers of the libstyle tool (see cli_files.h). */
#define _POSIX_C_SOURCE 200809L

#include "cli_files.h"

#include "cli_util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mkdir of one level of `whole`; 0 when it exists as a directory afterwards, else -1 after
 * reporting why not. */
static int make_one(const char *whole, const char *path)
{
    struct stat st;
    if (mkdir(path, 0777) == 0) return 0;
    int saved = errno;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return 0;
        if (strcmp(whole, path) == 0)
            cli_error("%s: cannot make the directory: it exists as %s", whole,
                      file_type_name(st.st_mode));
        else
            cli_error("%s: cannot make the directory: '%s' is %s", whole, path,
                      file_type_name(st.st_mode));
        return -1;
    }
    cli_error("%s: cannot make directory '%s': %s", whole, path, strerror(saved));
    return -1;
}

int cli_make_directories(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        cli_error("%s: out of memory", path);
        return -1;
    }
    /* Each '/' past the first character ends a parent ("a/b/c": a, a/b), then the whole. */
    int result = 0;
    for (char *slash = copy + 1; result == 0 && (slash = strchr(slash, '/')) != NULL; ++slash) {
        if (slash[-1] == '/') continue; /* "a//b" */
        *slash = '\0';
        result = make_one(path, copy);
        *slash = '/';
    }
    if (result == 0) result = make_one(path, copy);
    free(copy);
    return result;
}

/* Whether `name` is `base` + ".tmp" + six letters or digits (mkstemp's XXXXXX). */
static int is_temporary_of(const char *name, const char *base, size_t base_len)
{
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp", 4) != 0) return 0;
    const char *suffix = name + base_len + 4;
    if (strlen(suffix) != 6) return 0;
    for (int i = 0; i < 6; i++) {
        char c = suffix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return 1;
}

int cli_remove_temporaries(const char *path)
{
    char dir[4096], full[4096 + 256];
    size_t length = strlen(path);
    if (length >= sizeof dir) return 0;
    memcpy(dir, path, length + 1);
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        base = path + (slash - dir) + 1;
        slash[slash == dir ? 1 : 0] = '\0';
    }
    DIR *handle = opendir(dir);
    if (handle == NULL) return 0;
    size_t base_len = strlen(base);
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir(handle)) != NULL) {
        if (!is_temporary_of(entry->d_name, base, base_len)) continue;
        if (snprintf(full, sizeof full, "%s/%s", dir, entry->d_name) >= (int)sizeof full) continue;
        removed += unlink(full) == 0;
    }
    closedir(handle);
    return removed;
}
