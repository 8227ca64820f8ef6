/* Progress bar and log lines of the training commands (train, train-adain). */
#include "train_progress.h"

#include "cli_interrupt.h"
#include "cli_progress.h"
#include "cli_util.h"

#include <stdlib.h>

int train_progress_report(void *user, const style_train_stats *st)
{
    train_progress *p = user;
    if (!p->quiet && p->rank == 0) {
        char eta[32], elapsed[32];
        cli_format_duration(st->eta_seconds, eta, sizeof eta);
        cli_format_duration(st->elapsed_seconds, elapsed, sizeof elapsed);
        if (p->terminal) {
            char bar[CLI_PROGRESS_BAR_WIDTH + 1];
            cli_progress_bar(bar, st->iteration, st->iterations);
            fprintf(stderr,
                    "\r[%s] %lld/%lld  content %.3f  style %.3f  tv %.3f  %.2f img/s  ETA %s ", bar,
                    (long long)st->iteration, (long long)st->iterations, st->content_loss,
                    st->style_loss, st->tv_loss, st->images_per_second, eta);
            if (st->iteration == st->iterations) fputc('\n', stderr);
        } else if (cli_progress_line_due(&p->last_line, st->elapsed_seconds, st->iteration,
                                         st->iterations)) {
            fprintf(stderr,
                    "iteration %lld/%lld content %.4f style %.4f tv %.4f total %.4f lr %.3g "
                    "%.2f img/s elapsed %s eta %s\n",
                    (long long)st->iteration, (long long)st->iterations, st->content_loss,
                    st->style_loss, st->tv_loss, st->total_loss, st->learning_rate,
                    st->images_per_second, elapsed, eta);
        }
        fflush(stderr);
    }
    return cli_interrupted();
}

void train_progress_log(void *user, style_log_level level, const char *message)
{
    const train_progress *p = user;
    if ((p->quiet || p->rank > 0) && level < STYLE_LOG_WARNING) return;
    if (p->terminal) fputc('\n', stderr);
    char rank[32] = "";
    if (p->rank > 0) snprintf(rank, sizeof rank, "rank %d: ", p->rank);
    fprintf(stderr, "libstyle: %s%s%s\n", rank, level == STYLE_LOG_WARNING ? "warning: " : "",
            message);
}
