/*
 * Numbered image sequences as video (`libstyle stylize frames/%05d.png out.mp4`, or the
 * reverse): telling a pattern from a file name, and writing an output sequence into a
 * temporary folder beside its own, renamed into place at the end, so that a failure or
 * Ctrl-C never leaves half a sequence. The frames themselves go through FFmpeg (cli_video.c).
 */
#ifndef LIBSTYLE_CLI_FRAME_SEQUENCE_H
#define LIBSTYLE_CLI_FRAME_SEQUENCE_H

#include <stddef.h>

/* Whether `path`'s last component is a frame pattern: one %d or %0Nd and an image extension
 * (.png, .jpg, .jpeg, .webp, .bmp, .tif, .tiff), e.g. "frames/%05d.png". */
int frame_sequence_pattern(const char *path);

/* Whether an output pattern names PNG frames (the only sequence format written). */
int frame_sequence_writable(const char *path);

/*
 * Prepares writing the sequence `pattern`: its folder (which must not exist, or be empty, and
 * cannot be the current one) gets a temporary sibling "FOLDER.tmp.XXXXXX". On success returns
 * 0 and sets *folder (that temporary folder) and *temporary_pattern (the pattern inside it),
 * both to free(). On failure returns -1 with `message` set.
 */
int frame_sequence_prepare(const char *pattern, char **folder, char **temporary_pattern,
                           char *message, size_t size);

/* Renames the finished temporary folder into the pattern's folder. 0, or -1 (errno set). */
int frame_sequence_commit(const char *folder, const char *pattern);

/* Removes the temporary folder and the files in it (no subfolders are made in it). */
void frame_sequence_remove(const char *folder);

#endif
