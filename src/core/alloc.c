/*
 * The one place the library allocates. Going through here lets tests make the n-th
 * allocation fail (a thread-local countdown, so other threads are never affected).
 */
#include "core/common.h"

#include <stdlib.h>
#include <string.h>

static _Thread_local long style__fail_countdown;

void style__alloc_fail_after(long n)
{
    style__fail_countdown = n > 0 ? n : 0;
}

bool style__alloc_fail_pending(void)
{
    return style__fail_countdown > 0;
}

static bool style__should_fail(void)
{
    if (style__fail_countdown <= 0) return false;
    return --style__fail_countdown == 0;
}

void *style__malloc(size_t size)
{
    if (style__should_fail()) return NULL;
    return malloc(size ? size : 1);
}

void *style__calloc(size_t count, size_t size)
{
    if (style__should_fail()) return NULL;
    if (count == 0 || size == 0) count = size = 1;
    return calloc(count, size);
}

void *style__realloc(void *ptr, size_t size)
{
    if (style__should_fail()) return NULL;
    return realloc(ptr, size ? size : 1);
}

void style__free(void *ptr)
{
    free(ptr);
}

char *style__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = style__malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

void *style__aligned_alloc(size_t size)
{
    if (style__should_fail()) return NULL;
    size_t rounded = (size + 63) / 64 * 64;
    if (rounded < size) return NULL;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void style__aligned_free(void *ptr)
{
    free(ptr);
}
