/* The trainers' shared skeleton (train_loop.h). */
#include "train/train_loop.h"
#include "core/clock.h"
#include "dnn/dnn_context.h"
#include "dnn/dnn_scratchpad.h"
#include "train/train_checkpoint.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void train_loop_init(train_loop *l, const char *who, int threads, style_train_progress_fn progress,
                     void *progress_user, style_log_fn log, void *log_user)
{
    l->who = who;
    l->previous_threads = -1;
    if (threads > 0) {
        l->previous_threads = omp_get_max_threads();
        omp_set_num_threads(threads);
    }
    l->progress = progress, l->progress_user = progress_user;
    l->log = log, l->log_user = log_user;
}

char *train_checkpoint_path(const char *given, const char *out_path)
{
    if (given) return style__strdup(given);
    size_t n = strlen(out_path) + 6;
    char *path = style__malloc(n);
    if (path) snprintf(path, n, "%s.ckpt", out_path);
    return path;
}

void train_loop_info(const train_loop *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    style__log_v(l->log, l->log_user, STYLE_LOG_INFO, fmt, ap);
    va_end(ap);
}

style_status train_loop_open(train_loop *l, const char *out_path, const char *checkpoint_path,
                             bool writer)
{
    style_status status = STYLE_OK;
    l->checkpoint_path = train_checkpoint_path(checkpoint_path, out_path);
    FAIL_IF(!l->checkpoint_path, STYLE_ERR_NOMEM, "%s: out of memory", l->who);
    if (writer) {
        TRY(style__check_writable(l->who, "model", out_path));
        TRY(style__check_writable(l->who, "checkpoint", l->checkpoint_path));
        /* A run killed while writing a checkpoint leaves its temporary behind. */
        int stale = style__remove_temporaries(l->checkpoint_path);
        if (stale > 0)
            train_loop_info(l,
                            "removed %d unfinished temporary file%s of %s (an interrupted write)",
                            stale, stale == 1 ? "" : "s", l->checkpoint_path);
    }
    TRY(dnn_context_create(&l->dnn, "training"));
fail:
    return status;
}

style_status train_loop_open_loss_log(train_loop *l, const char *path)
{
    l->loss_log = fopen(path, "a");
    if (!l->loss_log)
        return style__fail(STYLE_ERR_IO, "%s: cannot open the loss log %s", l->who, path);
    if (ftell(l->loss_log) == 0) fprintf(l->loss_log, "iteration,content,style,tv,total,lr\n");
    return STYLE_OK;
}

style_status train_loop_start(train_loop *l, train_params *params, const char *resume_path,
                              uint64_t seed, train_state *state, float **adam_m, float **adam_v)
{
    style_status status = STYLE_OK;
    const size_t bytes = params->total * sizeof(float);
    *adam_m = style__aligned_alloc(bytes);
    *adam_v = style__aligned_alloc(bytes);
    FAIL_IF(!*adam_m || !*adam_v, STYLE_ERR_NOMEM, "%s: out of memory", l->who);
    memset(*adam_m, 0, bytes);
    memset(*adam_v, 0, bytes);
    if (resume_path) {
        TRY(train_checkpoint_load(resume_path, state, params, *adam_m, *adam_v));
        train_loop_info(l, "resuming %s at iteration %lld", resume_path,
                        (long long)state->iteration);
    } else {
        train_params_init(params, seed);
        train_rng_seed(&state->rng, seed);
    }
fail:
    return status;
}

double train_loop_learning_rate(const train_schedule *s, int64_t iteration)
{
    if (!s->cosine) return s->learning_rate;
    double progress = (double)iteration / (double)(s->iterations > 1 ? s->iterations - 1 : 1);
    if (progress > 1) progress = 1;
    return s->learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + cos(M_PI * progress)));
}

style_status train_loop_run(train_loop *l, const train_loop_step *step, const train_schedule *s,
                            train_state *state)
{
    style_status status = STYLE_OK;
    train_loop_begin(l);
    while (state->iteration < s->iterations) {
        double lr = train_loop_learning_rate(s, state->iteration), losses[3] = {0, 0, 0};
        const train_rng rng_before = state->rng;
        status = step->iterate(step->self, lr, losses);
        if (status == STYLE_ERR_CANCELLED) {
            /* The iteration in flight is dropped: its crops are drawn again on resume, so the
             * resumed run is the uninterrupted one. */
            state->rng = rng_before;
            TRY(step->checkpoint(step->self, l->checkpoint_path, train_loop_elapsed(l)));
            status = style__fail(STYLE_ERR_CANCELLED,
                                 "%s: stopped inside iteration %lld (dropped); checkpoint of "
                                 "iteration %lld saved to %s",
                                 l->who, (long long)state->iteration + 1,
                                 (long long)state->iteration, l->checkpoint_path);
            goto fail;
        }
        TRY(status);
        state->iteration++;
        bool stop =
            train_loop_report(l, state->iteration, s->iterations, s->batch_size, losses, lr);
        if (step->agree_stop) TRY(step->agree_stop(step->self, &stop));
        if (train_loop_checkpoint_due(stop, state->iteration, s->checkpoint_every, s->iterations))
            TRY(step->checkpoint(step->self, l->checkpoint_path, train_loop_elapsed(l)));
        if (stop && state->iteration < s->iterations) {
            status = train_loop_stopped(l, state->iteration);
            goto fail;
        }
    }
    state->seconds += train_loop_elapsed(l);
fail:
    return status;
}

void train_loop_begin(train_loop *l)
{
    l->start = l->window_start = style__clock_seconds();
    l->throughput = 0;
    l->window_iterations = 0;
}

double train_loop_elapsed(const train_loop *l)
{
    return style__clock_seconds() - l->start;
}

bool train_loop_report(train_loop *l, int64_t iteration, int64_t iterations, int32_t batch_size,
                       const double losses[3], double lr)
{
    l->window_iterations++;
    const double now = style__clock_seconds();
    if (now - l->window_start > 5.0 || l->throughput == 0) {
        l->throughput = l->window_iterations * batch_size / (now - l->window_start);
        l->window_start = now;
        l->window_iterations = 0;
    }
    const double total = losses[0] + losses[1] + losses[2];
    if (l->loss_log)
        fprintf(l->loss_log, "%lld,%.9g,%.9g,%.9g,%.9g,%.6g\n", (long long)iteration, losses[0],
                losses[1], losses[2], total, lr);
    style_train_stats stats = {.iteration = iteration,
                               .iterations = iterations,
                               .content_loss = losses[0],
                               .style_loss = losses[1],
                               .tv_loss = losses[2],
                               .total_loss = total,
                               .images_per_second = l->throughput,
                               .elapsed_seconds = now - l->start,
                               .learning_rate = lr,
                               .eta_seconds = l->throughput > 0 ? (iterations - iteration) *
                                                                      batch_size / l->throughput
                                                                : 0};
    return l->progress && l->progress(l->progress_user, &stats);
}

bool train_loop_checkpoint_due(bool stop, int64_t iteration, int64_t every, int64_t iterations)
{
    return stop || iteration % every == 0 || iteration == iterations;
}

style_status train_loop_stopped(const train_loop *l, int64_t iteration)
{
    return style__fail(STYLE_ERR_CANCELLED, "%s: stopped at iteration %lld; checkpoint saved to %s",
                       l->who, (long long)iteration, l->checkpoint_path);
}

style_status train_check_quality(const char *who, int32_t crop_size, int32_t loss_shift,
                                 int32_t max_short_side)
{
    if (max_short_side != 0 && (max_short_side < crop_size || max_short_side > 65536))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s: max short side %d is not 0 (none) or in %d..65536 (at least the "
                           "crop size)",
                           who, (int)max_short_side, (int)crop_size);
    if (loss_shift < 0 || loss_shift > crop_size / 4)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s: loss shift %d is not in 0..%d (a quarter of the crop size)", who,
                           (int)loss_shift, (int)(crop_size / 4));
    return STYLE_OK;
}

void train_loop_close(train_loop *l)
{
    if (l->loss_log) fclose(l->loss_log);
    dnn_context_free(l->dnn);
    style__free(l->checkpoint_path);
    if (l->previous_threads > 0) omp_set_num_threads(l->previous_threads);
    memset(l, 0, sizeof *l);
}

style_status train_precision_resolve(const char *who, const char *name, bool *bf16)
{
    if (!name || strcmp(name, "fp32") == 0) {
        *bf16 = false;
        return STYLE_OK;
    }
    const bool native = style_precision_supported(STYLE_PRECISION_BF16) != 0;
    if (strcmp(name, "auto") == 0) {
        *bf16 = native;
        return STYLE_OK;
    }
    if (strcmp(name, "bf16") != 0)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "%s: precision must be 'fp32', 'bf16' or 'auto', not '%s'", who, name);
    if (!native)
        return style__fail(STYLE_ERR_UNSUPPORTED,
                           "%s: this processor does not run bf16 natively (AVX-512 BF16 or "
                           "AMX); train with precision fp32 or auto",
                           who);
    *bf16 = true;
    return STYLE_OK;
}
