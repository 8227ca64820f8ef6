/* Messages to a caller's log callback (core/common.h: style__log). */
#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>

void style__log_v(style_log_fn log, void *user, style_log_level level, const char *fmt, va_list ap)
{
    if (!log) return;
    char message[6144];
    vsnprintf(message, sizeof message, fmt, ap);
    log(user, level, message);
}

void style__log(style_log_fn log, void *user, style_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    style__log_v(log, user, level, fmt, ap);
    va_end(ap);
}
