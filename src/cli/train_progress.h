/* Progress output shared by the training commands: a bar on a terminal, a line every 10 s
 * otherwise, Ctrl-C asking the trainer to checkpoint and stop. */
#ifndef LIBSTYLE_CLI_TRAIN_PROGRESS_H
#define LIBSTYLE_CLI_TRAIN_PROGRESS_H

#include <libstyle_train.h>

typedef struct train_progress {
    int terminal, quiet;
    int rank; /* under mpirun: only rank 0 reports progress */
    double last_line;
} train_progress;

/* style_train_progress_fn; user is a train_progress. Returns non-zero after Ctrl-C. */
int train_progress_report(void *user, const style_train_stats *stats);
/* style_log_fn; user is a train_progress. */
void train_progress_log(void *user, style_log_level level, const char *message);

#endif
