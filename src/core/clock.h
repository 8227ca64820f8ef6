/* The library's clocks, in milliseconds: wall time for the timings it reports, and the
 * profiling clock of the per-operation profiles. */
#ifndef STYLE_CORE_CLOCK_H
#define STYLE_CORE_CLOCK_H

/* CLOCK_MONOTONIC in milliseconds. */
double style__clock_ms(void);

/* CLOCK_MONOTONIC in seconds (the trainers' timings). */
double style__clock_seconds(void);

/* The profiling clock in milliseconds: wall time, or with STYLE_PROFILE_CPU set in the
 * environment the calling thread's CPU time. With one thread (`libstyle bench --threads 1`)
 * that is each step's own cost even on a machine busy with other jobs, which is how the
 * kernels were tuned. */
double style__profile_clock_ms(void);

#endif
