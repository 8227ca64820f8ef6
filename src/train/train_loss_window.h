/*
 * Shift jitter (--loss-shift N), shared by both trainers: the loss network sees, of every
 * crop, the (crop - N)^2 window at a random offset of 0..N pixels drawn per image and
 * iteration, so a model cannot align a pattern to the loss network's pooling grid. The
 * offsets come from the training's random stream (two draws per image of the whole batch,
 * y then x), so a resumed run draws the same ones.
 */
#ifndef STYLE_TRAIN_LOSS_WINDOW_H
#define STYLE_TRAIN_LOSS_WINDOW_H

#include "core/common.h"
#include "train/train_rng.h"

#define TRAIN_LOSS_WINDOW_MAX_BATCH 256

typedef struct train_loss_window {
    int32_t shift, crop, size; /* size = crop - shift: what the loss network sees */
    int32_t count;             /* crops of this process */
    float *pixels;             /* count x size x size x 3; NULL without a shift */
    int32_t y[TRAIN_LOSS_WINDOW_MAX_BATCH], x[TRAIN_LOSS_WINDOW_MAX_BATCH];
} train_loss_window;

/* For `count` crops of crop x crop pixels (count <= 256); shift 0 makes a window that passes
 * everything through unchanged. */
style_status train_loss_window_create(train_loss_window *w, int32_t shift, int32_t crop,
                                      int32_t count);
void train_loss_window_destroy(train_loss_window *w);

/* Draws the offsets of a batch of `batch` crops, keeping those of crops first..first+count-1
 * (a data-parallel process's share); draws nothing without a shift. */
void train_loss_window_draw(train_loss_window *w, train_rng *rng, int32_t batch, int32_t first);

/* What the loss network sees of `crops` (count x crop x crop x 3): the crops themselves, or
 * each one's window (copied into w->pixels). */
const float *train_loss_window_view(train_loss_window *w, const float *crops);

/* The gradient of the crops (count x crop x crop x 3, written: zero outside the windows) from
 * the gradient of the views. */
void train_loss_window_backward(const train_loss_window *w, const float *diff_view,
                                float *diff_crops);

#endif
