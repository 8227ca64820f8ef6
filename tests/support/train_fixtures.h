/* Small training inputs made with the library itself, for the trainer's C and CLI tests. */
#ifndef STYLE_TEST_TRAIN_FIXTURES_H
#define STYLE_TEST_TRAIN_FIXTURES_H

#include "libstyle_train.h"

#include <stddef.h>
#include <stdint.h>

/*
 * DIR/photos/ (five smooth PNG photos of 40..52 x 36..40, two in photos/sub/, and `jpegs`
 * JPEG photos of other sizes) and DIR/style.png. Returns 0 on success.
 */
int train_fixture_photos(const char *dir, int jpegs);

/* How far model B is from model A, both trained from the same initialisation. */
typedef struct train_model_difference {
    double relative; /* |B - A| / |A - initial| over the parameters the output depends on */
    double largest;  /* the largest difference of one such parameter */
    double ignored;  /* the largest difference of a parameter the output does not depend on */
} train_model_difference;

/*
 * Compares two trained model files, remaking the initial weights from A's recorded seed and
 * configuration (libstyle.training). The measure is relative to the training update rather
 * than a per-weight maximum because Adam's first step moves every weight by lr * sign(grad):
 * a weight whose gradient is within rounding noise of zero may move either way under another
 * summation order, a difference of 2 lr that is still a negligible part of the update.
 * Parameters the output does not depend on (conv biases followed by instance normalisation,
 * which subtracts each channel's mean; the shift of a residual block's second normalisation,
 * a per-channel constant reaching only normalised convolutions) get only rounding noise,
 * scaled by Adam to +-lr steps: they are reported in `ignored`, not compared.
 * Returns 0 on success (non-zero with style_last_error() set when a file is unusable).
 */
int train_fixture_compare_models(const char *a_path, const char *b_path,
                                 train_model_difference *out);

/*
 * Copies checkpoint `from` to `to` with the JSON value of `key` (a number, string or array of
 * numbers) in metadata entry `entry` replaced by `value` (e.g. "libstyle.train.settings",
 * "batch_size", "2000000000"): a damaged or hostile checkpoint. Returns 0 on success.
 */
int train_fixture_damage_checkpoint(const char *from, const char *to, const char *entry,
                                    const char *key, const char *value);

/* The tensor bytes (everything after the header) of a safetensors file, malloc'd (free()),
 * their count in *size; NULL when the file cannot be read. Two trainings compared bit for
 * bit compare these. */
void *train_fixture_tensor_bytes(const char *path, size_t *size);

/* A progress callback's record of a run: the mean total loss of the first 3 and the last 3
 * iterations, how many calls, and where to stop (0: never). */
typedef struct train_run_log {
    double first, last;
    int64_t stop_at;
    int calls;
} train_run_log;

/* The progress callback filling a train_run_log (user); non-zero at log->stop_at. */
int train_fixture_record(void *user, const style_train_stats *stats);

/* A short run on DIR's photos, style.png and net.safetensors (train_fixture_photos and
 * test_write_feature_net): widths 8/16/16, 1 block, crops of 24, batch 2, 30 iterations at
 * lr 1e-2, seed 11, 2 threads, a checkpoint every 4, into DIR/model.safetensors, recorded in
 * *log. Free its paths with train_fixture_free_run. */
style_train_options train_fixture_small_run(const char *dir, train_run_log *log);
void train_fixture_free_run(style_train_options *options);

#endif
