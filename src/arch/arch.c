/* The table of architectures a model file can name, and what their runs share. */
#include "arch/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Every architecture libstyle.arch may name, in the order messages list them; the empty
 * slots take those arch_register adds (tests). */
#define ARCH_EXTRA 4
static const style_arch *architectures[3 + ARCH_EXTRA] = {&arch_johnson, &arch_johnson_cin,
                                                          &arch_adain};
#define ARCH_SLOTS (sizeof architectures / sizeof *architectures)

const style_arch *arch_find(const char *name)
{
    for (size_t i = 0; i < ARCH_SLOTS && architectures[i]; i++)
        if (strcmp(name, architectures[i]->name) == 0) return architectures[i];
    return NULL;
}

void arch_names(char *out, size_t size)
{
    size_t used = 0;
    if (size) out[0] = '\0';
    for (size_t i = 0; i < ARCH_SLOTS && architectures[i] && used < size; i++)
        used +=
            (size_t)snprintf(out + used, size - used, i ? ", %s" : "%s", architectures[i]->name);
}

style_status arch_register(const style_arch *arch)
{
    if (!arch || !arch->name || arch_find(arch->name))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "arch_register: no name, or one taken");
    for (size_t i = 0; i < ARCH_SLOTS; i++)
        if (!architectures[i]) {
            architectures[i] = arch;
            return STYLE_OK;
        }
    return style__fail(STYLE_ERR_LIMIT, "arch_register: the table is full");
}

int arch_image_progress(void *user, double fraction)
{
    const arch_progress *p = user;
    double total = ((double)p->index + fraction) / (double)p->count;
    return p->context->progress(p->context->progress_user, total);
}

void arch_log(const arch_context *context, style_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    style__log_v(context->log, context->log_user, level, fmt, ap);
    va_end(ap);
}
