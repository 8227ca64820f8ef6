/* Shift jitter (train_loss_window.h). */
#include "train/train_loss_window.h"
#include "dnn/train_layers.h"

#include <string.h>

style_status train_loss_window_create(train_loss_window *w, int32_t shift, int32_t crop,
                                      int32_t count)
{
    memset(w, 0, sizeof *w);
    if (shift < 0 || shift >= crop || count < 1 || count > TRAIN_LOSS_WINDOW_MAX_BATCH)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "loss shift %d of %d crops of %d pixels is out of range", (int)shift,
                           (int)count, (int)crop);
    w->shift = shift, w->crop = crop, w->size = crop - shift, w->count = count;
    if (shift == 0) return STYLE_OK;
    w->pixels = style__aligned_alloc((size_t)count * w->size * w->size * 3 * sizeof(float));
    if (!w->pixels) return style__fail(STYLE_ERR_NOMEM, "loss shift: out of memory");
    return STYLE_OK;
}

void train_loss_window_destroy(train_loss_window *w)
{
    style__aligned_free(w->pixels);
    memset(w, 0, sizeof *w);
}

void train_loss_window_draw(train_loss_window *w, train_rng *rng, int32_t batch, int32_t first)
{
    for (int32_t b = 0; b < batch && w->shift > 0; b++) {
        int32_t y = (int32_t)train_rng_below(rng, (uint64_t)w->shift + 1);
        int32_t x = (int32_t)train_rng_below(rng, (uint64_t)w->shift + 1);
        if (b >= first && b < first + w->count) w->y[b - first] = y, w->x[b - first] = x;
    }
}

const float *train_loss_window_view(train_loss_window *w, const float *crops)
{
    if (w->shift == 0) return crops;
    const size_t image = (size_t)w->crop * w->crop * 3, view = (size_t)w->size * w->size * 3;
    for (int32_t b = 0; b < w->count; b++)
        window_forward_nhwc(crops + b * image, w->crop, w->crop, 3, w->y[b], w->x[b], w->size,
                            w->size, w->pixels + b * view);
    return w->pixels;
}

void train_loss_window_backward(const train_loss_window *w, const float *diff_view,
                                float *diff_crops)
{
    const size_t image = (size_t)w->crop * w->crop * 3, view = (size_t)w->size * w->size * 3;
    if (w->shift == 0) {
        memcpy(diff_crops, diff_view, w->count * image * sizeof(float));
        return;
    }
    for (int32_t b = 0; b < w->count; b++)
        window_backward_nhwc(diff_view + b * view, w->crop, w->crop, 3, w->y[b], w->x[b], w->size,
                             w->size, diff_crops + b * image);
}
