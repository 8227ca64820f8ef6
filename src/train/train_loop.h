/*
 * The one trainer skeleton both trainers (style_train: train.c, Johnson's transform network;
 * style_train_adain: train_adain.c, an AdaIN decoder) plug their iteration into: the thread
 * count (restored at the end), the checkpoint path and the checks that the outputs can be
 * written, the oneDNN engine and stream, the optimizer's moments and the start (a checkpoint
 * resumed, or a seeded initialisation), the loop (learning-rate schedule, a stop inside an
 * iteration, the per-iteration report: throughput, the loss log's line, the progress
 * callback; the checkpoint cadence, a stop between iterations), the loss log and the
 * teardown. Written once so that both trainers behave alike.
 */
#ifndef STYLE_TRAIN_LOOP_H
#define STYLE_TRAIN_LOOP_H

#include "core/common.h"
#include "train/train_net.h"
#include "train/train_rng.h"

#include "dnn/dnn_context.h"
#include <stdbool.h>
#include <stdio.h>

#include "libstyle_train.h"

/* Training state beyond the parameters: where the run is. */
typedef struct train_state {
    int64_t iteration; /* completed */
    train_rng rng;
    double seconds; /* training time of earlier runs (resumed) */
} train_state;

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

/* Starts the skeleton of a run (`who` prefixes messages): the OpenMP thread count (threads > 0;
 * else left; the previous one is restored by train_loop_close), the caller's progress and log
 * callbacks. */
void train_loop_init(train_loop *l, const char *who, int threads, style_train_progress_fn progress,
                     void *progress_user, style_log_fn log, void *log_user);

/* The checkpoint path: `given`, else OUT_PATH.ckpt; a fresh string (style__free), NULL when out
 * of memory. */
char *train_checkpoint_path(const char *given, const char *out_path);

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

/* The optimizer's moments for `params` (*adam_m, *adam_v, zeroed; free with
 * style__aligned_free), then the starting point: checkpoint `resume_path` (parameters,
 * moments, state) when given, else PyTorch's initialisation of the parameters from `seed` and
 * the random state seeded with it. */
style_status train_loop_start(train_loop *l, train_params *params, const char *resume_path,
                              uint64_t seed, train_state *state, float **adam_m, float **adam_v);

/* How a run goes: its length, learning rate and checkpoint cadence. */
typedef struct train_schedule {
    int64_t iterations, checkpoint_every;
    int32_t batch_size;
    double learning_rate;
    bool cosine; /* the rate falls along a cosine to a tenth of it; false: constant */
} train_schedule;

/* The learning rate of iteration `iteration` (from 0). */
double train_loop_learning_rate(const train_schedule *s, int64_t iteration);

/* A trainer's part in the loop: its iteration and its checkpoint. */
typedef struct train_loop_step {
    void *self; /* the trainer, passed to every hook */
    /* One iteration at learning rate `lr`, the parameters' update included; the batch-mean
     * weighted losses (content, style, and the regularisers: TV, grid, temporal) into `losses`
     * (zeroed). STYLE_ERR_CANCELLED: it stopped before the update (the parameters and the
     * optimizer's moments untouched; the random state is restored by the loop). */
    style_status (*iterate)(void *self, double lr, double losses[3]);
    /* Writes the checkpoint of the trainer's state to `path`, `run_seconds` of this run added
     * to its training time. */
    style_status (*checkpoint)(void *self, const char *path, double run_seconds);
    /* Several processes: whether any of them asks to stop (*stop: this one's, then the
     * group's); NULL: one process. */
    style_status (*agree_stop)(void *self, bool *stop);
} train_loop_step;

/* Runs the iterations from state->iteration to s->iterations: a checkpoint when due
 * (train_loop_checkpoint_due), STYLE_ERR_CANCELLED when the progress callback asks to stop
 * (after a checkpoint) or an iteration is stopped inside (dropped: the checkpoint is of the
 * iteration before it, and its random draws are made again on resume). Adds this run's
 * seconds to state->seconds when it ends. */
style_status train_loop_run(train_loop *l, const train_loop_step *step, const train_schedule *s,
                            train_state *state);

/* Starts the clock of this run (train_loop_run does). */
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
