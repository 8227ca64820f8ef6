/* Files for the libstyle tool where the name "-" means standard input (an image or a model,
 * read whole) or standard output (PNG), so that the tool can sit in a pipe. */
#ifndef LIBSTYLE_CLI_IMAGE_IO_H
#define LIBSTYLE_CLI_IMAGE_IO_H

#include <libstyle.h>

/** The name that stands for standard input or output. */
#define CLI_STDIO_NAME "-"

/** Whether `path` is "-". */
int cli_is_stdio(const char *path);

/** Standard input is read whole; more than this is refused (no image or model comes close). */
#define CLI_STDIN_MAX_BYTES ((size_t)1 << 30)

/**
 * Reads all of standard input (at most CLI_STDIN_MAX_BYTES) into a malloc'ed buffer (free it).
 * Returns 0, or -1 after reporting the failure on stderr.
 */
int cli_read_stdin(unsigned char **data, size_t *size);

/**
 * style_image_load(), or for "-" the whole of standard input decoded from memory.
 * Returns 0, or -1 after reporting the failure on stderr (naming the file, or "standard
 * input").
 */
int cli_image_load(const char *path, uint64_t max_pixels, style_image *out);

/**
 * style_image_save_with_options() (`png_level` as style_save_options.png_level), or for "-"
 * the image encoded as PNG and written to standard output (flushed). Returns 0, or -1 after
 * reporting the failure (a closed pipe, a full disk).
 */
int cli_image_save(const char *path, const style_image *image, int jpeg_quality, int png_level);

#endif /* LIBSTYLE_CLI_IMAGE_IO_H */
