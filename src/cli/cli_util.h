/* Shared pieces of the libstyle command-line tool: exit codes, error lines, option errors,
 * number parsing, paths and timing. Only the public libstyle.h is used. */
#ifndef LIBSTYLE_CLI_UTIL_H
#define LIBSTYLE_CLI_UTIL_H

#include <libstyle.h>

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Exit codes: 1 for a failed operation, 2 for a command line that could not be understood,
 * so that scripts can tell "fix your invocation" from "this file is bad". */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1
#define CLI_EXIT_USAGE 2

#define CLI_PROGRAM_NAME "libstyle"

/* The most --threads any command takes: the library's limit (style_session_set_threads), which
 * the Python bindings use too. */
#define CLI_MAX_THREADS 4096

/** Prints "libstyle: <formatted message>" as one line on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * Reports a failed libstyle call as one line on stderr. Call it right after the failure:
 * style_last_error() is only valid until the next libstyle call. `subject` (a file name, or
 * NULL) is prepended when the library's message does not already mention it, so the user
 * always learns which file failed.
 */
void cli_report_status(style_status status, const char *subject);

/** The exit status of a command whose long library call (run under cli_interrupt_begin, and
 *  cli_interrupt_end called) returned `status`: CLI_EXIT_OK; after a stop (STYLE_ERR_CANCELLED)
 *  the library's message, then 128 + the signal's number (130 when no signal stopped it);
 *  else the error reported (cli_report_status) and CLI_EXIT_FAILURE. */
int cli_run_exit_code(style_status status);
/** 128 + the number of the signal that stopped the command, 130 when none did (a stop). */
int cli_stopped_exit_code(void);

/** A library log message on stderr ("libstyle: [warning: ]MESSAGE"): below warnings nothing
 *  when `quiet`; ends a progress bar that is open (*bar_open, then 0) first. */
void cli_log_message(int quiet, int *bar_open, style_log_level level, const char *message);

/**
 * Prints "libstyle: <message> (see 'libstyle <command> --help')" on stderr and returns
 * CLI_EXIT_USAGE. `command` NULL refers to the top-level help.
 */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/**
 * Turns a getopt_long failure ('?' or ':') into a usage error line and returns CLI_EXIT_USAGE.
 * `optind_before` is optind as it was just before the failing getopt_long call; it tells a
 * bad long option from a bad short option inside a cluster such as "-qZ".
 */
int cli_option_error(const char *command, int result, int argc, char **argv, int optind_before);

/** Parses a whole decimal integer in [min, max]; returns 0 on success, -1 otherwise. */
int cli_parse_int(const char *text, long min, long max, long *out);

/** Parses a whole decimal number in [min, max] (NaN refused); returns 0 on success, -1 otherwise.
 */
int cli_parse_double(const char *text, double min, double max, double *out);

/** Parses a whole non-negative decimal integer; returns 0 on success, -1 otherwise. */
int cli_parse_u64(const char *text, uint64_t *out);

/** The last component of a path ("a/b/c.png" -> "c.png"); "" when the path ends in '/'. */
const char *cli_path_basename(const char *path);

/** A newly allocated "dir/name" (no doubled '/'), or NULL when memory runs out. */
char *cli_path_join(const char *dir, const char *name);

/** Whether the name ends in an extension style_image_save can write (.png, .jpg, .jpeg). */
int cli_has_image_extension(const char *path);

/** Writes `text` to `out` with control characters escaped, so one value stays on one line. */
void cli_print_escaped(FILE *out, const char *text);

/** Flushes stdout; on failure (full disk, closed pipe) reports it and returns CLI_EXIT_FAILURE. */
int cli_finish_stdout(int exit_code);

/** A CLOCK_MONOTONIC reading. */
struct timespec cli_now(void);

/** Milliseconds from `start` to now. */
double cli_elapsed_ms(struct timespec start);

/** A duration as "M:SS" or "H:MM:SS" (progress bars' elapsed time and ETA). */
void cli_format_duration(double seconds, char *out, size_t size);

#endif /* LIBSTYLE_CLI_UTIL_H */
