/* Status names and the thread-local detail message. */
#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define STYLE_ERROR_CAPACITY 1024

static _Thread_local char style__error_message[STYLE_ERROR_CAPACITY];

const char *style_status_string(style_status status)
{
    switch (status) {
    case STYLE_OK: return "ok";
    case STYLE_ERR_INVALID_ARGUMENT: return "invalid argument";
    case STYLE_ERR_NOMEM: return "out of memory";
    case STYLE_ERR_IO: return "input/output error";
    case STYLE_ERR_FORMAT: return "malformed file";
    case STYLE_ERR_UNSUPPORTED: return "unsupported";
    case STYLE_ERR_LIMIT: return "over a limit";
    case STYLE_ERR_CANCELLED: return "cancelled";
    case STYLE_ERR_BACKEND: return "oneDNN failure";
    case STYLE_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *style_last_error(void)
{
    return style__error_message;
}

style_status style__fail(style_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(style__error_message, sizeof style__error_message, fmt, ap);
    va_end(ap);
    return status;
}

void style__clear_error(void)
{
    style__error_message[0] = '\0';
}

void style__prefix_error(const char *prefix)
{
    /* Shift the message right (truncating its end) and put "prefix: " in front. */
    size_t cap = sizeof style__error_message;
    size_t head = strlen(prefix) + 2;
    if (head >= cap) head = cap - 1;
    size_t tail = strlen(style__error_message);
    if (head + tail >= cap) tail = cap - 1 - head;
    memmove(style__error_message + head, style__error_message, tail);
    style__error_message[head + tail] = '\0';
    memcpy(style__error_message, prefix, head - 2 < cap ? head - 2 : 0);
    style__error_message[head - 2] = ':';
    style__error_message[head - 1] = ' ';
}
