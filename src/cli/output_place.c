/* Where an output file will land (see output_place.h). */
#define _POSIX_C_SOURCE 200809L

#include "output_place.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Copies `text` with each run of '/' made one. */
static char *squeeze_slashes(const char *text)
{
    char *copy = malloc(strlen(text) + 1);
    if (copy == NULL) return NULL;
    char *to = copy;
    for (const char *from = text; *from != '\0'; ++from)
        if (*from != '/' || to == copy || to[-1] != '/') *to++ = *from;
    *to = '\0';
    return copy;
}

int output_place_find(const char *path, struct output_place *place)
{
    memset(place, 0, sizeof *place);
    char *directory = squeeze_slashes(path);
    if (directory == NULL) return -1;
    /* Cut components off the end until what is left is a directory that exists. */
    char *cut = strrchr(directory, '/');
    struct stat directory_stat;
    for (;;) {
        int found;
        if (cut == NULL) {
            found = stat(".", &directory_stat) == 0; /* a relative name: the working directory */
        } else if (cut == directory) {
            found = stat("/", &directory_stat) == 0;
        } else {
            *cut = '\0';
            found = stat(directory, &directory_stat) == 0;
            *cut = '/';
        }
        if (found && S_ISDIR(directory_stat.st_mode)) break;
        if (cut == NULL || cut == directory) {
            free(directory);
            errno = ENOENT;
            return -1;
        }
        *cut = '\0';
        char *previous = strrchr(directory, '/');
        *cut = '/';
        cut = previous;
    }
    place->rest = strdup(cut == NULL ? directory : cut + 1);
    free(directory);
    if (place->rest == NULL) return -1;
    place->device = directory_stat.st_dev;
    place->inode = directory_stat.st_ino;
    return 0;
}

int output_place_compare(const struct output_place *a, const struct output_place *b)
{
    if (a->device != b->device) return a->device < b->device ? -1 : 1;
    if (a->inode != b->inode) return a->inode < b->inode ? -1 : 1;
    return strcmp(a->rest, b->rest);
}

void output_place_free(struct output_place *place)
{
    free(place->rest);
    place->rest = NULL;
}
