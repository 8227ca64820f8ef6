/* File-system helpers of the libstyle tool: what kind a file is (for messages), making an
 * output directory with its parents, and clearing what an interrupted atomic write left. */
#ifndef LIBSTYLE_CLI_FILES_H
#define LIBSTYLE_CLI_FILES_H

#include <sys/stat.h>

/* The kind of a stat() mode, for messages: file_type_name(), shared with the library. */
#include "../core/file_type_name.h"

/**
 * Makes directory `path` and any missing parents (as `mkdir -p`; permissions 0777 less the
 * umask). Returns 0 when it exists as a directory afterwards, or -1 after reporting why not
 * (naming the path: a file in the way, no permission).
 */
int cli_make_directories(const char *path);

/**
 * Removes the temporaries an atomic write of `path` left behind (PATH.tmp followed by the
 * six characters of mkstemp). Returns how many were removed; an unreadable directory counts
 * as none (this is clean-up that must not fail a run).
 */
int cli_remove_temporaries(const char *path);

#endif /* LIBSTYLE_CLI_FILES_H */
