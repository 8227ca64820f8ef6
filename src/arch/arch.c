/* The table of architectures a model file can name, and what their runs share. */
#include "arch/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Every architecture libstyle.arch may name, in the order messages list them. */
static const style_arch *const architectures[] = {&arch_johnson, &arch_johnson_cin, &arch_adain};

const style_arch *arch_find(const char *name)
{
    for (size_t i = 0; i < sizeof architectures / sizeof *architectures; i++)
        if (strcmp(name, architectures[i]->name) == 0) return architectures[i];
    return NULL;
}

void arch_names(char *out, size_t size)
{
    size_t used = 0;
    if (size) out[0] = '\0';
    for (size_t i = 0; i < sizeof architectures / sizeof *architectures && used < size; i++)
        used +=
            (size_t)snprintf(out + used, size - used, i ? ", %s" : "%s", architectures[i]->name);
}

int arch_image_progress(void *user, double fraction)
{
    const arch_progress *p = user;
    double total = ((double)p->index + fraction) / (double)p->count;
    return p->context->progress(p->context->progress_user, total);
}

void arch_log(const arch_context *context, style_log_level level, const char *fmt, ...)
{
    if (!context->log) return;
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    context->log(context->log_user, level, message);
}
