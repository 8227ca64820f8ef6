/* Files and "-" for the libstyle tool (see cli_image_io.h). */
#define _POSIX_C_SOURCE 200809L

#include "cli_image_io.h"

#include "cli_interrupt.h"
#include "cli_util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STDIN_SUBJECT "standard input"
#define STDOUT_SUBJECT "standard output"

int cli_is_stdio(const char *path)
{
    return path != NULL && strcmp(path, CLI_STDIO_NAME) == 0;
}

/* How often a wait on a pipe looks at cli_interrupted() (the signals are blocked while a
 * command watches them, so a blocked read(2) or write(2) would never see EINTR). */
#define PIPE_POLL_MS 50

/* Waits until `fd` is ready for `events` (POLLIN or POLLOUT) or a signal was taken.
 * Returns 0 when ready, -1 when interrupted (nothing reported) or on a poll failure (errno). */
static int wait_for_pipe(int fd, short events)
{
    for (;;) {
        if (cli_interrupted()) {
            errno = EINTR;
            return -1;
        }
        struct pollfd ready = {.fd = fd, .events = events};
        int count = poll(&ready, 1, PIPE_POLL_MS);
        if (count < 0 && errno != EINTR) return -1;
        if (count > 0) return 0; /* ready, or POLLHUP / POLLERR: the read or write says which */
    }
}

int cli_read_stdin(unsigned char **data, size_t *size)
{
    size_t capacity = 1 << 16;
    size_t used = 0;
    unsigned char *buffer = malloc(capacity);

    if (buffer == NULL) goto out_of_memory;
    for (;;) {
        if (used == capacity) {
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
        ssize_t got = -1;
        if (wait_for_pipe(STDIN_FILENO, POLLIN) == 0)
            got = read(STDIN_FILENO, buffer + used, capacity - used);
        if (got < 0 && errno == EAGAIN) continue; /* a non-blocking descriptor: poll again */
        if (got < 0 && errno == EINTR && !cli_interrupted()) continue;
        if (got < 0) {
            /* Interrupted by a signal: the command reports the stop, not a read error. */
            if (!cli_interrupted()) cli_error(STDIN_SUBJECT ": %s", strerror(errno));
            free(buffer);
            return -1;
        }
        if (got == 0) break; /* end of input */
        used += (size_t)got;
    }
    *data = buffer;
    *size = used;
    return 0;

out_of_memory:
    free(buffer);
    cli_error(STDIN_SUBJECT ": out of memory");
    return -1;
}

/* Writes all of `data` to standard output, never blocking past a signal: at most PIPE_BUF
 * bytes once poll says there is room (a pipe then takes them without waiting). */
static int write_stdout(const unsigned char *data, size_t size)
{
    if (fflush(stdout) != 0) return -1;
    size_t done = 0;
    while (done < size) {
        if (wait_for_pipe(STDOUT_FILENO, POLLOUT) != 0) return -1;
        size_t chunk = size - done < PIPE_BUF ? size - done : PIPE_BUF;
        ssize_t put = write(STDOUT_FILENO, data + done, chunk);
        if (put < 0 && (errno == EAGAIN || (errno == EINTR && !cli_interrupted()))) continue;
        if (put <= 0) return -1;
        done += (size_t)put;
    }
    return 0;
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

int cli_image_save(const char *path, const style_image *image, int jpeg_quality, int png_level)
{
    void *data = NULL;
    size_t size = 0;
    style_status status;
    int written;
    style_save_options options;

    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.quality = jpeg_quality;
    options.png_level = png_level;
    if (!cli_is_stdio(path)) {
        status = style_image_save_with_options(path, image, &options);
        if (status != STYLE_OK) cli_report_status(status, path);
        return status == STYLE_OK ? 0 : -1;
    }
    options.quality = 0;
    status = style_image_encode_with_options(image, "png", &options, &data, &size);
    if (status != STYLE_OK) {
        cli_report_status(status, STDOUT_SUBJECT);
        return -1;
    }
    written = write_stdout(data, size) == 0;
    style_free(data);
    if (!written) {
        if (!cli_interrupted())
            cli_error("cannot write to " STDOUT_SUBJECT ": %s", strerror(errno));
        return -1;
    }
    return cli_finish_stdout(0) == 0 ? 0 : -1;
}
