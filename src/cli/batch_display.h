/* What `libstyle stylize` shows while it works through many files: a progress bar with ETA on
 * a terminal, one plain line per file otherwise, error lines that never split the bar, and a
 * summary. Every function locks, so worker threads may call them at any time. */
#ifndef LIBSTYLE_CLI_BATCH_DISPLAY_H
#define LIBSTYLE_CLI_BATCH_DISPLAY_H

#include <libstyle.h>

#include <pthread.h>
#include <stddef.h>
#include <time.h>

struct batch_display {
    pthread_mutex_t lock;
    int terminal; /* stderr is a terminal: redraw one bar line */
    int quiet;    /* errors only */
    size_t total, done, skipped, failed;
    struct timespec start;
    int bar_drawn;   /* a bar line is on the screen (to be erased before other output) */
    double drawn_at; /* seconds since start when the bar was last drawn */
};

/** Starts the clock; `total` files in all, of which `skipped` and `failed` are settled. */
void batch_display_begin(struct batch_display *display, size_t total, size_t skipped, size_t failed,
                         int quiet);

/** One file finished: shows it (plain line) or redraws the bar. */
void batch_display_file(struct batch_display *display, const char *input, const char *output,
                        int ok, double seconds);

/** Redraws the bar (its elapsed time) when it is over half a second old; for long images. */
void batch_display_tick(struct batch_display *display);

/** Reports a failed libstyle call (cli_report_status) without breaking the bar. */
void batch_display_status(struct batch_display *display, style_status status, const char *subject);

/** Reports a message (cli_error) without breaking the bar. */
void batch_display_error(struct batch_display *display, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Prints "libstyle: warning: MESSAGE" (escaped to one line) without breaking the bar. */
void batch_display_warning(struct batch_display *display, const char *message);

/** Erases the bar and prints "N done, N skipped, N failed in M:SS" (unless quiet). */
void batch_display_end(struct batch_display *display, const char *out_dir, int interrupted);

/** The summary of batch_display_end, leaving the display usable (a run ended early). */
void batch_display_summary(struct batch_display *display, const char *out_dir, int interrupted);

#endif
