/* Adding a style to a trained model: only the new style's scales and shifts are trained
 * (train_add_style.c). */
#ifndef STYLE_TRAIN_ADD_STYLE_H
#define STYLE_TRAIN_ADD_STYLE_H

#include "train/train_checkpoint.h"

/*
 * Adding a style to a trained model (s->add_style_to; s->style_count == 1): loads it (a
 * johnson-cin model, or a single-style johnson one, which becomes style 0 of a johnson-cin
 * one), takes its architecture into s->net with one more style and frozen convolutions, and
 * names every style. *base receives the model (free it with style_model_free).
 */
style_status train_add_style_settings(train_settings *s, style_model **base);
/* Copies the base model's parameters into p; the new style's row starts as the mean of the
 * existing styles' rows. */
style_status train_add_style_params(const style_model *base, train_params *p);

/* Whether the trainer's network can represent model `m` (pytorch/examples TransformerNet:
 * johnson or johnson-cin, instance norm, reflect padding, nearest_conv upsampling, linear
 * output, 9x9 first and last kernels). */
style_status train_check_trainable(const style_model *m);

#endif
