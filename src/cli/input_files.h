/* The files `libstyle stylize` must never overwrite: every input job and every file under an
 * input directory (the --out-dir too, when it lies inside one), known by device and inode so
 * that links, "./a.png" and "dir/../a.png" all count as the same file. */
#ifndef LIBSTYLE_CLI_INPUT_FILES_H
#define LIBSTYLE_CLI_INPUT_FILES_H

#include <stddef.h>
#include <sys/stat.h>

struct input_file {
    dev_t device;
    ino_t inode;
    char *path;   /* a name it was found under (owned) */
    int is_input; /* an input of this run (else a file under the --out-dir inside a tree) */
};

struct input_files {
    struct input_file *items;
    size_t count;
    size_t capacity;
};

/** Records the file `file_stat` describes, found as `path`. Returns 0, or -1 without memory. */
int input_files_add(struct input_files *files, const struct stat *file_stat, const char *path,
                    int is_input);

/**
 * Records every file under `dir` (recursively, symbolic links to directories not followed, at
 * most `max_depth` levels) as a file that is not an input but must not be overwritten either.
 * Returns the number of entries that could not be read (each reported), or -1 without memory.
 */
long input_files_add_tree(struct input_files *files, const char *dir, int max_depth);

/** Sorts the set for input_files_find(); an input wins over a non-input with the same inode. */
void input_files_sort(struct input_files *files);

/** The recorded file with the identity in `file_stat`, or NULL (input_files_sort() first). */
const struct input_file *input_files_find(const struct input_files *files,
                                          const struct stat *file_stat);

void input_files_free(struct input_files *files);

#endif
