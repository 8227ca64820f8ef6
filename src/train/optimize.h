/*
 * Gatys et al.'s optimisation-based style transfer (style_optimize): the pixels of one image
 * minimise content + Gram style + total-variation losses (the trainer's pinned definitions,
 * train_losses.h) through one feature_run with the input gradient. Exposed here for the tests:
 * the problem (targets, weights, the run) and its loss-and-gradient evaluation.
 */
#ifndef STYLE_OPTIMIZE_H
#define STYLE_OPTIMIZE_H

#include "features/feature_net.h"
#include "train/optim.h"

#define OPTIMIZE_MAX_STYLE_LAYERS 16
#define OPTIMIZE_MAX_STYLES 64

typedef struct optimize_problem {
    feature_net *net;
    dnn_context *dnn; /* oneDNN engine + stream */
    feature_run run;
    int32_t width, height;        /* of the optimised image (the resized content) */
    float *content_rgb;           /* the resized content, width x height x 3, 0..255 */
    int32_t content_layer;
    char content_name[64];
    int32_t style_layer[OPTIMIZE_MAX_STYLE_LAYERS];
    int32_t style_count;
    char style_names[512];
    float *content_target;        /* content features of the content image */
    float *style_gram[OPTIMIZE_MAX_STYLE_LAYERS]; /* blended target Gram per style layer */
    double style_norm2[OPTIMIZE_MAX_STYLE_LAYERS];
    double content_weight, style_weight, tv_weight; /* 0 turns a term off */
    float *gram_scratch, *delta_scratch;
    style_cancel_fn cancel; /* asked before and after the forward pass of every evaluation;
                               non-zero: optimize_evaluate returns STYLE_ERR_CANCELLED */
    void *cancel_user;
} optimize_problem;

/*
 * Loads the loss network, the content image (resized so its long side is `size`) and the
 * styles (short side `style_size`, 0: the content's short side), and computes the targets:
 * the content's features and, per style layer, sum_k blend[k] G_l(style_k) (blend already
 * normalised to sum 1). Layer names NULL or "": the network's recommendation. Logs through log.
 */
style_status optimize_problem_create(optimize_problem *p, const char *loss_net,
                                     const char *content_image, int32_t size,
                                     const char *const *style_images, const double *blend,
                                     size_t style_count, int32_t style_size,
                                     const char *content_layer, const char *style_layers,
                                     double content_weight, double style_weight, double tv_weight,
                                     style_log_fn log, void *log_user);
void optimize_problem_destroy(optimize_problem *p);

/*
 * An opt_eval_fn (ctx = the problem): f = content_weight * content + style_weight * style +
 * tv_weight * tv at x (width x height x 3, 0..255 values, unclamped), grad = df/dx,
 * aux = {content, style, tv} (weighted).
 */
style_status optimize_evaluate(void *ctx, const float *x, float *grad, double *f,
                               double aux[OPT_AUX]);

#endif
