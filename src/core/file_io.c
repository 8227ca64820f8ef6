/* Whole-file reads with a size cap, and atomic writes (temporary file + rename). */
#include "core/common.h"
#include "core/file_type_name.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Test hooks: thread-local countdowns to a simulated full disk or failing read (common.h). */
static _Thread_local long style__write_fail_countdown;
static _Thread_local long style__read_fail_countdown;

void style__read_fail_after(long n)
{
    style__read_fail_countdown = n > 0 ? n : 0;
}

/* read(2), or a failure with EIO when the test hook says so. */
static ssize_t style__read(int fd, void *buffer, size_t size)
{
    if (style__read_fail_countdown > 0 && --style__read_fail_countdown == 0) {
        errno = EIO;
        return -1;
    }
    return read(fd, buffer, size);
}

void style__write_fail_after(long n)
{
    style__write_fail_countdown = n > 0 ? n : 0;
}

/* write(2), or a failure with ENOSPC when the test hook says so. */
static ssize_t style__write(int fd, const void *data, size_t size)
{
    if (style__write_fail_countdown > 0 && --style__write_fail_countdown == 0) {
        errno = ENOSPC;
        return -1;
    }
    return write(fd, data, size);
}

const char *style__basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

style_status style__read_file(const char *path, size_t max_bytes, void **data, size_t *size)
{
    style_status status = STYLE_OK;
    unsigned char *buffer = NULL;
    int fd = -1;
    *data = NULL;
    *size = 0;

    /* O_NONBLOCK: opening a FIFO with no writer (or a device) would otherwise wait forever;
     * fstat then refuses everything but a regular file, on which the flag has no effect. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    FAIL_IF(fd < 0, STYLE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    FAIL_IF(fstat(fd, &st) != 0, STYLE_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    FAIL_IF(S_ISDIR(st.st_mode), STYLE_ERR_IO, "%s: is a directory", path);
    FAIL_IF(!S_ISREG(st.st_mode), STYLE_ERR_IO, "%s: is %s, not a regular file", path,
            file_type_name(st.st_mode));
    FAIL_IF((uint64_t)st.st_size > max_bytes, STYLE_ERR_LIMIT,
            "%s: file is %lld bytes, over the limit of %zu", path, (long long)st.st_size,
            max_bytes);
    size_t length = (size_t)st.st_size;
    buffer = style__malloc(length);
    FAIL_IF(!buffer, STYLE_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, length);
    size_t done = 0;
    while (done < length) {
        ssize_t got = style__read(fd, buffer + done, length - done);
        if (got < 0 && errno == EINTR) continue;
        FAIL_IF(got < 0, STYLE_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        FAIL_IF(got == 0, STYLE_ERR_IO, "%s: file shrank while reading", path);
        done += (size_t)got;
    }
    close(fd);
    *data = buffer;
    *size = length;
    return STYLE_OK;
fail:
    if (fd >= 0) close(fd);
    style__free(buffer);
    return status;
}

/* A file name has at most this many bytes on the file systems in use (NAME_MAX). */
#define TEMP_NAME_MAX 255
/* ".tmp" and mkstemp's six characters, after (a prefix of) the file's name. */
#define TEMP_SUFFIX_LENGTH 10

/* The length of the part of a file's name its temporaries start with: the whole name, or as
 * much as leaves room for the suffix within TEMP_NAME_MAX (a name of 246..255 bytes). */
static size_t temporary_base_length(size_t name_length)
{
    return name_length + TEMP_SUFFIX_LENGTH <= TEMP_NAME_MAX ? name_length
                                                             : TEMP_NAME_MAX - TEMP_SUFFIX_LENGTH;
}

style_status style__write_file_atomic(const char *path, const void *data, size_t size)
{
    style_status status = STYLE_OK;
    char *temp = NULL;
    int fd = -1;

    const char *slash = strrchr(path, '/');
    const size_t dir_length = slash ? (size_t)(slash - path) + 1 : 0;
    const size_t base_length = temporary_base_length(strlen(path + dir_length));
    size_t n = dir_length + base_length + TEMP_SUFFIX_LENGTH + 1;
    temp = style__malloc(n);
    FAIL_IF(!temp, STYLE_ERR_NOMEM, "%s: out of memory", path);
    snprintf(temp, n, "%.*s.tmpXXXXXX", (int)(dir_length + base_length), path);
    fd = mkstemp(temp);
    FAIL_IF(fd < 0, STYLE_ERR_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    const unsigned char *bytes = data;
    size_t done = 0;
    while (done < size) {
        /* At most 1 MiB per call: a large file takes several writes, so that the write
         * hook can fail one in the middle (a disk filling up half-way). */
        size_t chunk = size - done < (1u << 20) ? size - done : (1u << 20);
        ssize_t put = style__write(fd, bytes + done, chunk);
        if (put < 0 && errno == EINTR) continue;
        FAIL_IF(put <= 0, STYLE_ERR_IO, "%s: write failed: %s", path,
                put < 0 ? strerror(errno) : "no progress");
        done += (size_t)put;
    }
    /* mkstemp makes 0600 files; give the output the usual permissions (umask applies). */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FAIL_IF(fsync(fd) != 0, STYLE_ERR_IO, "%s: fsync failed: %s", path, strerror(errno));
    int closed = close(fd);
    fd = -1;
    FAIL_IF(closed != 0, STYLE_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    FAIL_IF(rename(temp, path) != 0, STYLE_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    style__free(temp);
    return STYLE_OK;
fail:
    if (fd >= 0) close(fd);
    if (temp) unlink(temp);
    style__free(temp);
    return status;
}

/* The temporaries of style__write_file_atomic are PATH.tmp + mkstemp's 6 characters (PATH's
 * name cut short when it is too long for that). */
static bool is_temporary_of(const char *name, const char *base, size_t base_len)
{
    base_len = temporary_base_length(base_len);
    if (strncmp(name, base, base_len) != 0 || strncmp(name + base_len, ".tmp", 4) != 0)
        return false;
    const char *suffix = name + base_len + 4;
    if (strlen(suffix) != 6) return false;
    for (int i = 0; i < 6; i++) {
        char c = suffix[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

style_status style__check_writable(const char *who, const char *what, const char *path)
{
    char dir[4096];
    if (strlen(path) >= sizeof dir)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "%s: %s path too long", who, what);
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (access(dir, W_OK | X_OK) != 0)
        return style__fail(STYLE_ERR_IO, "%s: cannot write the %s %s: directory %s: %s", who, what,
                           path, dir, strerror(errno));
    return STYLE_OK;
}

int style__remove_temporaries(const char *path)
{
    /* Fixed buffers, no allocation: this is housekeeping that must not fail a run. */
    char dir[4096], full[4096 + 256];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) return -1;
    char *slash = strrchr(dir, '/');
    const char *base = path;
    if (!slash) {
        strcpy(dir, ".");
    } else {
        base = path + (slash - dir) + 1;
        if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
    }
    DIR *d = opendir(dir);
    if (!d) return -1;
    size_t base_len = strlen(base);
    int removed = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!is_temporary_of(entry->d_name, base, base_len)) continue;
        snprintf(full, sizeof full, "%s/%s", dir, entry->d_name);
        if (unlink(full) == 0) removed++;
    }
    closedir(d);
    return removed;
}
