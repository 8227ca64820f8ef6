/*
 * Internal helpers shared by every libstyle source file: the thread-local error message,
 * the one allocation entry point (so tests can inject failures), overflow-checked sizes,
 * and the FAIL_IF / TRY macros that keep one clean-up path per function.
 */
#ifndef STYLE_COMMON_H
#define STYLE_COMMON_H

#include "libstyle_train.h" /* the whole API: libstyle.h and the training part */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sets the calling thread's detail message (printf-style) and returns `status`. */
style_status style__fail(style_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Clears the calling thread's detail message. */
void style__clear_error(void);

/* Prefixes the current detail message with "prefix: " (used to add a file name). */
void style__prefix_error(const char *prefix);

/* Formats a message (up to 6 KiB) and hands it to a caller's log callback; none: nothing. */
void style__log(style_log_fn log, void *user, style_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same with a va_list, for the modules' own log wrappers. */
void style__log_v(style_log_fn log, void *user, style_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* Every allocation in the library goes through these. */
void *style__malloc(size_t size);
void *style__calloc(size_t count, size_t size);
void *style__realloc(void *ptr, size_t size);
void style__free(void *ptr);
char *style__strdup(const char *s);
/* 64-byte aligned memory (activations, weights); release with style__aligned_free. */
void *style__aligned_alloc(size_t size);
void style__aligned_free(void *ptr);

/*
 * Test hook: the n-th allocation from now in the calling thread fails (n >= 1); 0 disables.
 * Thread-local so that it never affects other threads.
 */
void style__alloc_fail_after(long n);
/* True while the failure set by style__alloc_fail_after has not happened yet: a call that
 * succeeds with it still pending made fewer allocations (tests loop until then), one that
 * succeeds after it happened swallowed a failed allocation. */
bool style__alloc_fail_pending(void);

/*
 * Test hook: the n-th write(2) from now by style__write_file_atomic in the calling thread fails
 * with ENOSPC, as on a full disk (n >= 1); 0 disables. Thread-local, like the allocation hook.
 */
void style__write_fail_after(long n);

/*
 * Test hook: the n-th read(2) from now by style__read_file in the calling thread fails with
 * EIO, as on a failing disk or network file system (n >= 1); 0 disables. Thread-local.
 */
void style__read_fail_after(long n);

/* Overflow-checked size arithmetic: false when the result does not fit. */
static inline bool style__mul_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}
static inline bool style__add_size(size_t a, size_t b, size_t *out)
{
    return !__builtin_add_overflow(a, b, out);
}

/* Jump to `fail` with a status and a message when `cond` holds. Needs `style_status status`. */
#define FAIL_IF(cond, st, ...)                                                                     \
    do {                                                                                           \
        if (cond) {                                                                                \
            status = style__fail((st), __VA_ARGS__);                                               \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Evaluate a call returning style_status; on failure keep its message and jump to `fail`. */
#define TRY(expr)                                                                                  \
    do {                                                                                           \
        status = (expr);                                                                           \
        if (status != STYLE_OK) goto fail;                                                         \
    } while (0)

/* Bytes per sample of an image sample type (0 for an unknown type). */
size_t style__sample_size(style_sample_type type);

/* Validates an image struct; `what` names it in the message ("input", "output"). */
style_status style__check_image(const style_image *image, const char *what);

/* Row stride in bytes (the explicit one, or the packed one when stride == 0). */
size_t style__image_stride(const style_image *image);

/* Writes `size` bytes to `path` atomically: a temporary file in the same directory, then rename. */
style_status style__write_file_atomic(const char *path, const void *data, size_t size);

/* The folder a file `path` would be created in must exist and be writable: checked before hours
 * of work rather than at its first write. Refused with STYLE_ERR_IO ("WHO: cannot write the
 * WHAT PATH: directory D: reason"; a path too long: STYLE_ERR_INVALID_ARGUMENT). */
style_status style__check_writable(const char *who, const char *what, const char *path);

/* Removes what interrupted atomic writes of `path` left (PATH.tmpXXXXXX files: a process
 * killed between creating the temporary and the rename). Returns how many were removed, -1
 * when the directory cannot be read. Only for paths one writer owns (checkpoints). */
int style__remove_temporaries(const char *path);


/* Reads a whole file (at most max_bytes) into a fresh buffer; free with style__free. Never
 * blocks in open(): anything but a regular file (a FIFO, a socket, a device) is refused with
 * STYLE_ERR_IO naming the path and its kind. */
style_status style__read_file(const char *path, size_t max_bytes, void **data, size_t *size);

/*
 * The size of a PNG or JPEG file from its header alone, with the checks style_image_load makes
 * before decoding (max_pixels 0: the default limit); damaged pixel data goes unnoticed.
 */
style_status style__image_file_size(const char *path, uint64_t max_pixels, int32_t *width,
                                    int32_t *height);

/* Base name of a path (points into it), for messages. */
const char *style__basename(const char *path);

#endif
