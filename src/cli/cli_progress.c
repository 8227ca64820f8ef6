/* The progress display of the long commands (cli_progress.h). */
#include "cli_progress.h"

#include "cli_util.h"

void cli_progress_bar(char *out, int64_t done, int64_t total)
{
    const int width = CLI_PROGRESS_BAR_WIDTH;
    int filled = (int)(width * (double)done / (double)total);
    for (int i = 0; i < width; i++)
        out[i] = i < filled ? '#' : '.';
    out[width] = '\0';
}

int cli_progress_line_due(double *last_line, double elapsed, int64_t iteration, int64_t iterations)
{
    if (!(elapsed - *last_line >= 10 || iteration == iterations || iteration == 1)) return 0;
    *last_line = elapsed;
    return 1;
}

void cli_progress_log(void *user, style_log_level level, const char *message)
{
    cli_progress *p = user;
    cli_log_message(p->quiet, &p->bar_open, level, message);
}
