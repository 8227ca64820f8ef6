/*
 * Training data: the content photos of a folder (recursive, PNG/JPEG; unreadable files are
 * skipped with a warning), served as batches of random crops at a fixed size, drawn from a
 * deterministic random stream so that a run is reproducible and resumable.
 */
#ifndef STYLE_TRAIN_DATA_H
#define STYLE_TRAIN_DATA_H

#include "core/common.h"
#include "train/train_rng.h"

typedef struct train_dataset {
    char **paths; /* sorted, absolute or as found under the root */
    size_t count;
    uint64_t max_pixels;
    /* > 0: a photo's short side is drawn from [crop, min(its own, max_short_side)] instead
     * of [crop, its own] (0: no cap). */
    int32_t max_short_side;
    style_log_fn log;
    void *log_user;
    char *root; /* copy of the root given to train_dataset_open, for messages (may be NULL) */
} train_dataset;

/*
 * Lists the PNG/JPEG files (by extension, case-insensitive: .png .jpg .jpeg) under `root`,
 * recursively (not following symlinked directories into loops), sorted by path so the order
 * does not depend on the file system. Fails with STYLE_ERR_IO if root is not a readable
 * directory and STYLE_ERR_INVALID_ARGUMENT ("no images found under ...") if it has none.
 */
style_status train_dataset_open(train_dataset *data, const char *root, style_log_fn log,
                                void *log_user);
void train_dataset_close(train_dataset *data);

/*
 * Fills `batch` (count x size x size x 3 floats, 0..255, NHWC) with random crops: for each
 * item, pick a random image; resize it (antialiased) so its short side is a random length in
 * [size, max(size, short side * 1.0)] — i.e. downscale by a random factor but never below the
 * crop size, upscaling only when the image is smaller than the crop — then take a random
 * size x size crop. An image that fails to decode is logged as a warning (naming the file and
 * the reason), dropped from the list, and another is drawn; if every image fails, returns
 * STYLE_ERR_FORMAT. All randomness comes from `rng`.
 */
style_status train_dataset_batch(train_dataset *data, train_rng *rng, int32_t count, int32_t size,
                                 float *batch);

/*
 * Items first .. first + shard - 1 of the batch train_dataset_batch would make with `count`
 * crops, into `batch` (shard crops): every item's random draws are made, in the same order,
 * but only the shard's images are decoded (the others' sizes come from their headers), so
 * the processes of a data-parallel run each make a disjoint part of one and the same batch.
 * (A file whose header reads but whose pixels do not is dropped only by the process that
 * decodes it; the others' data order then differs from a single process's.)
 */
style_status train_dataset_batch_shard(train_dataset *data, train_rng *rng, int32_t count,
                                       int32_t first, int32_t shard, int32_t size, float *batch);

/*
 * Loads an image file as RGB floats 0..255 (alpha dropped, 16-bit scaled), resized so that its
 * SHORT side is `short_side` (0 = keep the size). Used for the style image. *out is
 * style__malloc'd (free with style__free).
 */
style_status train_load_rgb(const char *path, int32_t short_side, float **out, int32_t *width,
                            int32_t *height);

#endif
