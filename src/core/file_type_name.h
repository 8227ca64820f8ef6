/*
 * What kind of file a stat() mode is, for messages ("a FIFO (named pipe)", "a socket", ...).
 * Header-only because both the library (file_io.c) and the libstyle tool (cli_files.c) name
 * file kinds, and the tool links only the library's exported style_* API.
 */
#ifndef STYLE_FILE_TYPE_NAME_H
#define STYLE_FILE_TYPE_NAME_H

#include <sys/stat.h>

static inline const char *file_type_name(mode_t mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "a special file";
}

#endif
