/* Files and "-" for the libstyle tool (see cli_image_io.h). */
#define _POSIX_C_SOURCE 200809L

#include "cli_image_io.h"

#include "cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STDIN_SUBJECT "standard input"
#define STDOUT_SUBJECT "standard output"

int cli_is_stdio(const char *path)
{
    return path != NULL && strcmp(path, CLI_STDIO_NAME) == 0;
}

int cli_read_stdin(unsigned char **data, size_t *size)
{
    size_t capacity = 1 << 16;
    size_t used = 0;
    unsigned char *buffer = malloc(capacity);

    if (buffer == NULL) goto out_of_memory;
    for (;;) {
        size_t got = fread(buffer + used, 1, capacity - used, stdin);
        used += got;
        if (used < capacity) {
            if (ferror(stdin)) {
                cli_error(STDIN_SUBJECT ": %s", strerror(errno));
                free(buffer);
                return -1;
            }
            break; /* end of input */
        }
        if (capacity >= CLI_STDIN_MAX_BYTES) {
            cli_error(STDIN_SUBJECT ": more than %zu bytes", CLI_STDIN_MAX_BYTES);
            free(buffer);
            return -1;
        }
        unsigned char *grown = realloc(buffer, capacity * 2);
        if (grown == NULL) goto out_of_memory;
        buffer = grown;
        capacity *= 2;
    }
    *data = buffer;
    *size = used;
    return 0;

out_of_memory:
    free(buffer);
    cli_error(STDIN_SUBJECT ": out of memory");
    return -1;
}

int cli_image_load(const char *path, uint64_t max_pixels, style_image *out)
{
    unsigned char *data = NULL;
    size_t size = 0;
    style_status status;

    if (!cli_is_stdio(path)) {
        status = style_image_load(path, max_pixels, out);
        if (status != STYLE_OK) cli_report_status(status, path);
        return status == STYLE_OK ? 0 : -1;
    }
    if (cli_read_stdin(&data, &size) != 0) return -1;
    status = style_image_load_memory(data, size, max_pixels, out);
    if (status != STYLE_OK) cli_report_status(status, STDIN_SUBJECT);
    free(data);
    return status == STYLE_OK ? 0 : -1;
}

int cli_image_save(const char *path, const style_image *image, int jpeg_quality)
{
    void *data = NULL;
    size_t size = 0;
    style_status status;
    int written;

    if (!cli_is_stdio(path)) {
        status = style_image_save(path, image, jpeg_quality);
        if (status != STYLE_OK) cli_report_status(status, path);
        return status == STYLE_OK ? 0 : -1;
    }
    status = style_image_encode(image, "png", 0, &data, &size);
    if (status != STYLE_OK) {
        cli_report_status(status, STDOUT_SUBJECT);
        return -1;
    }
    written = fwrite(data, 1, size, stdout) == size;
    style_free(data);
    if (!written) {
        cli_error("cannot write to " STDOUT_SUBJECT ": %s", strerror(errno));
        return -1;
    }
    return cli_finish_stdout(0) == 0 ? 0 : -1;
}
