/* Image files for the libstyle tool, where the name "-" means standard input (PNG or JPEG,
 * read whole) or standard output (PNG), so that the tool can sit in a pipe. */
#ifndef LIBSTYLE_CLI_IMAGE_IO_H
#define LIBSTYLE_CLI_IMAGE_IO_H

#include <libstyle.h>

/** The name that stands for standard input or output. */
#define CLI_STDIO_NAME "-"

/** Whether `path` is "-". */
int cli_is_stdio(const char *path);

/**
 * style_image_load(), or for "-" the whole of standard input decoded from memory.
 * Returns 0, or -1 after reporting the failure on stderr (naming the file, or "standard
 * input").
 */
int cli_image_load(const char *path, uint64_t max_pixels, style_image *out);

/**
 * style_image_save(), or for "-" the image encoded as PNG and written to standard output
 * (flushed). Returns 0, or -1 after reporting the failure (a closed pipe, a full disk).
 */
int cli_image_save(const char *path, const style_image *image, int jpeg_quality);

#endif /* LIBSTYLE_CLI_IMAGE_IO_H */
