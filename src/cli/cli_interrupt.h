/*
 * Ctrl-C (SIGINT) and SIGTERM for long commands, without a signal handler: the signals are
 * blocked in every thread (OpenMP and oneDNN threads inherit the mask) and a dedicated thread
 * takes them with sigwait(). A handler would be unsafe: oneDNN's JIT GEMM kernels (2.x, up to
 * 3.11) point rsp into a heap workspace, so a signal frame pushed while one runs overwrites
 * the heap (uxlfoundation/oneDNN#4845, fixed by #4855); a dnnl_sgemm loop with a SIGALRM
 * handler reproduces it within seconds.
 */
#ifndef LIBSTYLE_CLI_INTERRUPT_H
#define LIBSTYLE_CLI_INTERRUPT_H

/* Starts watching; call before the long operation (and before it creates threads). */
void cli_interrupt_begin(void);
/* Non-zero once SIGINT or SIGTERM arrived. */
int cli_interrupted(void);
/* Stops watching and restores the signal mask. */
void cli_interrupt_end(void);

#endif
