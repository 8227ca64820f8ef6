/* The progress display of the long commands (optimize, evaluate, train, train-adain): a bar
 * redrawn in place when stderr is a terminal, a plain line every 10 s otherwise, and library
 * log lines that end an open bar first. */
#ifndef LIBSTYLE_CLI_PROGRESS_H
#define LIBSTYLE_CLI_PROGRESS_H

#include <libstyle.h>

#include <stdint.h>

/* The width of the bar drawn by cli_progress_bar (characters between the brackets). */
#define CLI_PROGRESS_BAR_WIDTH 24

typedef struct cli_progress {
    int terminal;     /* stderr is a terminal: the bar, redrawn in place */
    int quiet;        /* -q: no progress, only warnings and errors */
    int bar_open;     /* a bar line awaits its newline */
    double last_line; /* elapsed seconds at the last plain line */
} cli_progress;

/* The bar of `done` out of `total` steps: CLI_PROGRESS_BAR_WIDTH characters, '#' done and '.'
 * to come, NUL-terminated in `out` (CLI_PROGRESS_BAR_WIDTH + 1 characters). */
void cli_progress_bar(char *out, int64_t done, int64_t total);

/* Whether a plain progress line is due at `iteration` of `iterations` after `elapsed`
 * seconds: the first, the last, and 10 s after the previous one (*last_line, then updated). */
int cli_progress_line_due(double *last_line, double elapsed, int64_t iteration, int64_t iterations);

/* style_log_fn; user is a cli_progress (cli_log_message with its quiet and bar_open). */
void cli_progress_log(void *user, style_log_level level, const char *message);

#endif
