/* The library's clocks (core/clock.h). */
#include "core/clock.h"

#include <stdlib.h>
#include <time.h>

static double clock_ms(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

double style__clock_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

double style__clock_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double style__profile_clock_ms(void)
{
    static int cpu = -1;
    if (cpu < 0) cpu = getenv("STYLE_PROFILE_CPU") != NULL;
    return clock_ms(cpu ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC);
}
