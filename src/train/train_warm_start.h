/* Warm start: a training run that begins from a trained model's weights
 * (train_warm_start.c). */
#ifndef STYLE_TRAIN_WARM_START_H
#define STYLE_TRAIN_WARM_START_H

#include "train/train_checkpoint.h"

/*
 * Warm start (s->init_model): loads the model, checks that it is a single-style model the
 * trainer can represent, and takes its blocks and norm into s->net, and its widths unless
 * s->widths_given asks for whole multiples of them (widened). *init receives the
 * model (caller frees with style_model_free).
 */
style_status train_warm_start_settings(train_settings *s, style_model **init);
/* Copies every weight of `init` (read from `path`) into the trainer's parameters (same names;
 * the same shapes, or whole multiples of its channels: widened, splits drawn from `seed`). */
style_status train_warm_start_params(const style_model *init, const char *path, uint64_t seed,
                                     train_params *p);

#endif
