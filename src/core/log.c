/* Messages to a caller's log callback (core/common.h: style__log). */
#include "core/common.h"

#include <stdarg.h>
#include <stdio.h>

void style__log(style_log_fn log, void *user, style_log_level level, const char *fmt, ...)
{
    if (!log) return;
    char message[6144];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    log(user, level, message);
}
