/*
 * The skeleton both trainers (style_train: train.c; style_train_adain: train_adain.c) share
 * around their own iteration: the thread count (restored at the end), the checkpoint path and
 * the checks that the outputs can be written, the oneDNN engine and stream, the loss log, the
 * per-iteration report (throughput, the log's line, the progress callback), the checkpoint
 * cadence and the teardown. Written once so that both trainers behave alike.
 */
#ifndef STYLE_TRAIN_LOOP_H
#define STYLE_TRAIN_LOOP_H

#include "core/common.h"

#include "dnn/dnn_context.h"
#include <stdbool.h>
#include <stdio.h>

#include "libstyle_train.h"

typedef struct train_loop {
    const char *who; /* "train" or "train-adain": the prefix of messages */
    style_train_progress_fn progress;
    void *progress_user;
    style_log_fn log;
    void *log_user;
    int previous_threads; /* restored by train_loop_close; -1: not changed */
    char *checkpoint_path;
    dnn_context *dnn; /* oneDNN engine + stream */
    FILE *loss_log;
    /* The run's clock and its throughput window (images per second over ~5 s). */
    double start, window_start, throughput;
    int64_t window_iterations;
} train_loop;

/* Sets the OpenMP thread count (threads > 0; else leaves it) and remembers the previous one. */
void train_loop_threads(train_loop *l, const char *who, int threads);

/* The checkpoint path (given, else OUT.ckpt); for the writer (rank 0): the model's and the
 * checkpoint's folders must be writable, and a killed run's temporaries are removed; then
 * the engine and stream. */
style_status train_loop_open(train_loop *l, const char *out_path, const char *checkpoint_path,
                             bool writer);

/* Opens the per-iteration loss log (appended; the header line when it is new). */
style_status train_loop_open_loss_log(train_loop *l, const char *path);

/* Info-level message through the caller's log function (nothing without one). */
void train_loop_info(const train_loop *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Starts the clock of this run. */
void train_loop_begin(train_loop *l);

/* After an iteration (`iteration` completed of `iterations`): updates the throughput, writes
 * the loss log's line (content, style, tv, total, lr) and calls the progress callback; true
 * when it asks to stop. */
bool train_loop_report(train_loop *l, int64_t iteration, int64_t iterations, int32_t batch_size,
                       const double losses[3], double lr);

/* Whether a checkpoint is due after `iteration`: a stop, every `every`, the last one. */
bool train_loop_checkpoint_due(bool stop, int64_t iteration, int64_t every, int64_t iterations);

/* The error of a run stopped by its progress callback after `iteration` (STYLE_ERR_CANCELLED). */
style_status train_loop_stopped(const train_loop *l, int64_t iteration);

/* Seconds since train_loop_begin. */
double train_loop_elapsed(const train_loop *l);

/* The ranges of the quality settings both trainers take (`who` prefixes the message): a loss
 * shift of 0..crop/4, a max short side of 0 (none) or crop..65536. */
style_status train_check_quality(const char *who, int32_t crop_size, int32_t loss_shift,
                                 int32_t max_short_side);

/* The arithmetic of a training run's convolutions from its option: NULL or "fp32" (f32),
 * "bf16" (bf16 mixed precision; refused with STYLE_ERR_UNSUPPORTED where the processor does
 * not run bf16 natively), "auto" (bf16 where it does, else f32). `who` prefixes messages. */
style_status train_precision_resolve(const char *who, const char *name, bool *bf16);

/* Closes the log, the stream and the engine, frees the path and restores the thread count. */
void train_loop_close(train_loop *l);

#endif
