/* SHA-256 of files and strings with OpenSSL's EVP interface, and sha256sum-format lists. */
#include "core/file_sha256.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *digest, char hex[SHA256_HEX_SIZE])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = '\0';
}

style_status bytes_sha256(const void *data, size_t size, char hex[SHA256_HEX_SIZE])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!EVP_Digest(data, size, digest, &length, EVP_sha256(), NULL) || length != 32)
        return style__fail(STYLE_ERR_INTERNAL, "sha256: the digest failed");
    to_hex(digest, hex);
    return STYLE_OK;
}

style_status file_sha256(const char *path, char hex[SHA256_HEX_SIZE])
{
    style_status status = STYLE_OK;
    unsigned char digest[EVP_MAX_MD_SIZE], buffer[1 << 16];
    unsigned int length = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rb");
    FAIL_IF(!f, STYLE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    FAIL_IF(!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), STYLE_ERR_NOMEM,
            "%s: sha256: out of memory", path);
    size_t got;
    while ((got = fread(buffer, 1, sizeof buffer, f)) > 0)
        FAIL_IF(!EVP_DigestUpdate(ctx, buffer, got), STYLE_ERR_INTERNAL, "%s: sha256 failed", path);
    FAIL_IF(ferror(f), STYLE_ERR_IO, "%s: read error", path);
    FAIL_IF(!EVP_DigestFinal_ex(ctx, digest, &length) || length != 32, STYLE_ERR_INTERNAL,
            "%s: sha256 failed", path);
    to_hex(digest, hex);
fail:
    if (f) fclose(f);
    EVP_MD_CTX_free(ctx);
    return status;
}

static bool is_hex_hash(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

style_status sha256_list_read(const char *path, sha256_list *list)
{
    style_status status = STYLE_OK;
    char line[8192];
    size_t capacity = 0, number = 0;
    memset(list, 0, sizeof *list);
    FILE *f = fopen(path, "r");
    FAIL_IF(!f, STYLE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        number++;
        size_t n = strlen(line);
        FAIL_IF(n == sizeof line - 1 && line[n - 1] != '\n', STYLE_ERR_FORMAT,
                "%s: line %zu is too long", path, number);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        FAIL_IF(n < 66 || !is_hex_hash(line) || line[64] != ' ' ||
                    (line[65] != ' ' && line[65] != '*'),
                STYLE_ERR_FORMAT,
                "%s: line %zu is not 'SHA256  NAME' (64 hex digits, two spaces, a file name)", path,
                number);
        if (list->count == capacity) {
            size_t grown = capacity ? 2 * capacity : 64;
            void *hashes = style__realloc(list->hashes, grown * sizeof *list->hashes);
            FAIL_IF(!hashes, STYLE_ERR_NOMEM, "%s: out of memory", path);
            list->hashes = hashes;
            void *names = style__realloc(list->names, grown * sizeof *list->names);
            FAIL_IF(!names, STYLE_ERR_NOMEM, "%s: out of memory", path);
            list->names = names;
            capacity = grown;
        }
        for (int i = 0; i < 64; i++)
            list->hashes[list->count][i] = (char)tolower(line[i]);
        list->hashes[list->count][64] = '\0';
        list->names[list->count] = style__strdup(line + 66);
        FAIL_IF(!list->names[list->count], STYLE_ERR_NOMEM, "%s: out of memory", path);
        list->count++;
    }
    FAIL_IF(ferror(f), STYLE_ERR_IO, "%s: read error", path);
fail:
    if (f) fclose(f);
    if (status != STYLE_OK) sha256_list_free(list);
    return status;
}

ptrdiff_t sha256_list_find(const sha256_list *list, const char *hex)
{
    for (size_t i = 0; i < list->count; i++)
        if (strcmp(list->hashes[i], hex) == 0) return (ptrdiff_t)i;
    return -1;
}

void sha256_list_free(sha256_list *list)
{
    if (!list) return;
    for (size_t i = 0; i < list->count; i++)
        style__free(list->names[i]);
    style__free(list->names);
    style__free(list->hashes);
    memset(list, 0, sizeof *list);
}
