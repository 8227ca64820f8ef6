/* SHA-256 of files and of strings (OpenSSL's libcrypto), as 64 lower-case hex digits. */
#ifndef STYLE_FILE_SHA256_H
#define STYLE_FILE_SHA256_H

#include "core/common.h"

#define SHA256_HEX_SIZE 65 /* 64 digits and the terminator */

/* The SHA-256 of the file's bytes; errors name the file. */
style_status file_sha256(const char *path, char hex[SHA256_HEX_SIZE]);
/* The SHA-256 of `size` bytes. */
style_status bytes_sha256(const void *data, size_t size, char hex[SHA256_HEX_SIZE]);

/*
 * A list of SHA-256 hashes in `sha256sum` format ("HASH  NAME" per line; blank lines and lines
 * starting with '#' ignored), as read from a file. Malformed lines are refused, naming the
 * file and the line.
 */
typedef struct sha256_list {
    char (*hashes)[SHA256_HEX_SIZE];
    char **names;
    size_t count;
} sha256_list;

style_status sha256_list_read(const char *path, sha256_list *list);
/* Index of `hex` in the list, or -1. */
ptrdiff_t sha256_list_find(const sha256_list *list, const char *hex);
void sha256_list_free(sha256_list *list);

#endif
