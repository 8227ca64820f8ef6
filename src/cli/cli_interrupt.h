/*
 * SIGINT (Ctrl-C), SIGTERM and SIGHUP for long commands, without a signal handler: the signals
 * are blocked in every thread (OpenMP and oneDNN threads inherit the mask) and a dedicated
 * thread takes them with sigwait(). A handler would be unsafe: oneDNN's JIT GEMM kernels (2.x,
 * up to 3.11) point rsp into a heap workspace, so a signal frame pushed while one runs
 * overwrites the heap (uxlfoundation/oneDNN#4845, fixed by #4855); a loop of oneDNN sgemm
 * calls with a SIGALRM handler reproduces it within seconds.
 *
 * The first signal sets a flag the command polls (between images, and through the library's
 * progress callbacks between layers and bands); the command then stops cleanly. A second signal
 * ends the process at once, and so does the grace period running out (when one is set) while
 * the command is still busy: the watching thread then calls the command's give-up function
 * (remove what is half-written, print the summary) and calls _exit(). Either way the exit code
 * is 128 + the signal's number: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
 */
#ifndef LIBSTYLE_CLI_INTERRUPT_H
#define LIBSTYLE_CLI_INTERRUPT_H

/**
 * Starts watching; call before the long operation (and before it creates threads).
 * grace_ms > 0: the process ends that long after the first signal if cli_interrupt_end() has
 * not been reached by then; 0: no deadline (training: the checkpoint after the iteration in
 * flight comes first).
 */
void cli_interrupt_begin(int grace_ms);

/**
 * What to do before the process ends early (a second signal, or the grace period over): called
 * once, in the watching thread, while the command's threads go on; NULL for nothing.
 */
void cli_interrupt_set_give_up(void (*give_up)(void *user), void *user);

/** Non-zero once SIGINT, SIGTERM or SIGHUP arrived. */
int cli_interrupted(void);

/** style_cancel_fn (user unused): cli_interrupted(), so that a signal stops a library call
 *  inside its iteration too. */
int cli_interrupt_cancel(void *user);

/** 128 + the number of the first signal that arrived (130, 143 or 129); 0 when none did. */
int cli_interrupt_exit_code(void);

/** "SIGINT", "SIGTERM" or "SIGHUP": the first signal that arrived ("no signal" before). */
const char *cli_interrupt_signal_name(void);

/** Stops watching and restores the signal mask (cli_interrupted() keeps its answer). After a
 *  signal the watched signals stay blocked instead: the command is ending with 128 + the
 *  first signal's number, and a second one arriving during that must not kill the process
 *  with another status (seen: SIGHUP 50 ms after SIGINT, once the run had stopped, exit 129
 *  instead of 130). */
void cli_interrupt_end(void);

#endif
