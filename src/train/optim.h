/*
 * Unconstrained minimisers of a smooth function of many float variables (the pixels of an
 * image in style_optimize; the trainers' parameters): L-BFGS with a strong-Wolfe line search,
 * and Adam (one update, adam_update, for both). Variables and
 * gradients are float (an image has millions of them); every dot product, the step length and
 * the function values are double.
 *
 * L-BFGS (Nocedal & Wright, Numerical Optimization, 2nd ed.): the direction comes from the
 * two-loop recursion (algorithm 7.4) over the last `history` pairs s = x_{k+1} - x_k,
 * y = g_{k+1} - g_k, with the initial Hessian scaled by s'y / y'y (7.20). The step length
 * satisfies the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9) found by bracketing and zoom
 * (algorithms 3.5 and 3.6) with safeguarded cubic interpolation, at most OPT_MAX_LINE_EVALS
 * evaluations. A pair with s'y <= 1e-10 y'y is not stored. When the line search finds no
 * decrease, the history is dropped and the iteration is retried along -g; if that fails too
 * the minimiser has converged (as far as float arithmetic can tell) and says so.
 */
#ifndef STYLE_OPTIM_H
#define STYLE_OPTIM_H

#include "core/common.h"
#include "train/train_net.h"

/* Extra values an evaluation reports alongside f (e.g. the loss terms), carried with the
 * point the line search accepts. */
#define OPT_AUX 4
#define OPT_MAX_LINE_EVALS 20

/* Evaluates f(x) into *f and its gradient into grad (n floats); aux receives OPT_AUX values. */
typedef style_status (*opt_eval_fn)(void *ctx, const float *x, float *grad, double *f,
                                    double aux[OPT_AUX]);

typedef struct lbfgs {
    size_t n;
    int32_t history; /* pairs kept (m) */
    int32_t count;   /* pairs stored, <= history */
    int32_t newest;  /* slot of the newest pair */
    float **s, **y;  /* history slots, n floats each */
    double *rho, *alpha;
    float *g, *d, *x_trial, *g_trial, *g_low;
    double f;
    double aux[OPT_AUX];
    bool started;      /* f, g and aux hold the values at the current x */
    double first_step; /* max-norm of the first steepest-descent step */
    int64_t evaluations;
    int64_t resets; /* line searches that failed and dropped the history */
} lbfgs;

/* history >= 1; first_step > 0 is the largest change of any variable on a steepest-descent
 * step's first trial (pixels: a few units of 0..255). */
style_status lbfgs_create(lbfgs *o, size_t n, int32_t history, double first_step);
void lbfgs_destroy(lbfgs *o);
/* Drops the stored pairs (the next direction is -g). */
void lbfgs_reset(lbfgs *o);

/*
 * One iteration from x (updated in place). The first call evaluates f at x. On return *f and
 * aux are the values at the new x. *converged is set when no decrease could be found even
 * along -g (x is then unchanged). Errors come from fn, or STYLE_ERR_INTERNAL when f is not
 * finite at the starting point.
 */
style_status lbfgs_step(lbfgs *o, float *x, opt_eval_fn fn, void *ctx, double *f,
                        double aux[OPT_AUX], bool *converged);

/* Adam's constants (Kingma & Ba's defaults), for every user of adam_update. */
#define ADAM_BETA1 0.9
#define ADAM_BETA2 0.999
#define ADAM_EPS 1e-8

/* The one Adam update: `count` variables x with their moments m, v and gradient g, at step
 * `step` (counted from 1) with learning rate lr. */
void adam_update(float *x, float *m, float *v, const float *g, size_t count, double lr,
                 int64_t step);

typedef struct adam {
    size_t n;
    float *m, *v, *g;
    double lr;
    int64_t step;
    int64_t evaluations;
} adam;

/* Adam (Kingma & Ba) with beta = 0.9, 0.999 and eps = 1e-8; lr in the variables' units. */
style_status adam_create(adam *o, size_t n, double lr);
void adam_destroy(adam *o);
/* Evaluates f at x (reported in *f and aux: the values BEFORE the step), then steps x. */
style_status adam_step(adam *o, float *x, opt_eval_fn fn, void *ctx, double *f,
                       double aux[OPT_AUX]);

/* The trainers' step (adam_update) on every trainable parameter of `p` with the moments m, v
 * (laid out like p->values); only_style >= 0 (adding a style): only that row of the
 * [styles, C] norm parameters moves, the convolutions and the other rows stay bit-identical. */
void train_adam_update(train_params *p, float *m, float *v, double lr, int64_t step,
                       int32_t only_style);

#endif
