/* Progress of `libstyle stylize` over many files (see batch_display.h). */
#define _POSIX_C_SOURCE 200809L

#include "batch_display.h"
#include "cli_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#define BAR_WIDTH 24

/* Erases the bar line (caller holds the lock). */
static void erase_bar(struct batch_display *d)
{
    if (!d->bar_drawn) return;
    fputs("\r\033[K", stderr);
    d->bar_drawn = 0;
}

/* "[#####...] 12/40  30%  0:12 elapsed  ETA 0:28" (caller holds the lock). */
static void draw_bar(struct batch_display *d)
{
    if (!d->terminal || d->quiet || d->total == 0) return;
    size_t settled = d->done + d->skipped + d->failed;
    double elapsed = cli_elapsed_ms(d->start) / 1e3;
    int filled = (int)((double)BAR_WIDTH * (double)settled / (double)d->total);
    char bar[BAR_WIDTH + 1], elapsed_text[32], eta_text[32] = "?";
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    cli_format_duration(elapsed, elapsed_text, sizeof elapsed_text);
    /* Skipped files take no time: the rate is that of the files actually run. */
    size_t worked = d->done + d->failed;
    if (worked > 0)
        cli_format_duration(elapsed / (double)worked * (double)(d->total - settled), eta_text,
                            sizeof eta_text);
    fprintf(stderr, "\r\033[K[%s] %zu/%zu %3.0f%%  %s elapsed  ETA %s", bar, settled, d->total,
            100.0 * (double)settled / (double)d->total, elapsed_text, eta_text);
    fflush(stderr);
    d->bar_drawn = 1;
    d->drawn_at = elapsed;
}

void batch_display_begin(struct batch_display *d, size_t total, size_t skipped, size_t failed,
                         int quiet)
{
    pthread_mutex_init(&d->lock, NULL);
    d->terminal = isatty(STDERR_FILENO);
    d->quiet = quiet;
    d->total = total;
    d->done = 0;
    d->skipped = skipped;
    d->failed = failed;
    d->bar_drawn = 0;
    d->drawn_at = 0;
    d->start = cli_now();
    pthread_mutex_lock(&d->lock);
    draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_file(struct batch_display *d, const char *input, const char *output, int ok,
                        double seconds)
{
    pthread_mutex_lock(&d->lock);
    if (ok)
        d->done++;
    else
        d->failed++;
    if (!d->terminal && !d->quiet && ok) {
        fprintf(stderr, CLI_PROGRAM_NAME ": [%zu/%zu] ", d->done + d->skipped + d->failed,
                d->total);
        cli_print_escaped(stderr, input);
        fputs(" -> ", stderr);
        cli_print_escaped(stderr, output);
        fprintf(stderr, " (%.2f s)\n", seconds);
    }
    draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_tick(struct batch_display *d)
{
    if (!d->terminal || d->quiet) return;
    /* A busy lock means another thread is drawing right now: nothing to add. */
    if (pthread_mutex_trylock(&d->lock) != 0) return;
    if (cli_elapsed_ms(d->start) / 1e3 - d->drawn_at >= 0.5) draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_status(struct batch_display *d, style_status status, const char *subject)
{
    pthread_mutex_lock(&d->lock);
    erase_bar(d);
    cli_report_status(status, subject);
    draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_error(struct batch_display *d, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&d->lock);
    erase_bar(d);
    fputs(CLI_PROGRAM_NAME ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_warning(struct batch_display *d, const char *message)
{
    pthread_mutex_lock(&d->lock);
    erase_bar(d);
    fputs(CLI_PROGRAM_NAME ": warning: ", stderr);
    cli_print_escaped(stderr, message);
    fputc('\n', stderr);
    draw_bar(d);
    pthread_mutex_unlock(&d->lock);
}

void batch_display_end(struct batch_display *d, const char *out_dir, int interrupted)
{
    batch_display_summary(d, out_dir, interrupted);
    pthread_mutex_destroy(&d->lock);
}

void batch_display_summary(struct batch_display *d, const char *out_dir, int interrupted)
{
    char elapsed[32];
    pthread_mutex_lock(&d->lock);
    erase_bar(d);
    if (!d->quiet) {
        cli_format_duration(cli_elapsed_ms(d->start) / 1e3, elapsed, sizeof elapsed);
        size_t left = d->total - d->done - d->skipped - d->failed;
        fprintf(stderr, CLI_PROGRAM_NAME ": %s%zu done, %zu skipped, %zu failed",
                interrupted ? "interrupted: " : "", d->done, d->skipped, d->failed);
        if (left > 0) fprintf(stderr, ", %zu not done", left);
        fprintf(stderr, " in %s into '", elapsed);
        cli_print_escaped(stderr, out_dir);
        fputs("'\n", stderr);
    }
    pthread_mutex_unlock(&d->lock);
}
