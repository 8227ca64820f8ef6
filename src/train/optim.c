/* L-BFGS with a strong-Wolfe line search, and Adam, on float variables (see optim.h). */
#include "train/optim.h"

#include <math.h>
#include <string.h>

/* Sums are split into a fixed number of blocks, added in order, so that results do not
 * depend on the thread count or on OpenMP's reduction order. */
#define SUM_BLOCKS 64

static double dot(const float *a, const float *b, size_t n)
{
    double part[SUM_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < SUM_BLOCKS; k++) {
        size_t lo = n * (size_t)k / SUM_BLOCKS, hi = n * (size_t)(k + 1) / SUM_BLOCKS;
        double s = 0;
        for (size_t i = lo; i < hi; i++)
            s += (double)a[i] * b[i];
        part[k] = s;
    }
    double sum = 0;
    for (int k = 0; k < SUM_BLOCKS; k++)
        sum += part[k];
    return sum;
}

static double max_abs(const float *a, size_t n)
{
    double part[SUM_BLOCKS];
#pragma omp parallel for schedule(static)
    for (int k = 0; k < SUM_BLOCKS; k++) {
        size_t lo = n * (size_t)k / SUM_BLOCKS, hi = n * (size_t)(k + 1) / SUM_BLOCKS;
        double m = 0;
        for (size_t i = lo; i < hi; i++)
            m = fmax(m, fabs((double)a[i]));
        part[k] = m;
    }
    double m = 0;
    for (int k = 0; k < SUM_BLOCKS; k++)
        m = fmax(m, part[k]);
    return m;
}

/* y += a x */
static void axpy(double a, const float *x, float *y, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        y[i] = (float)((double)y[i] + a * x[i]);
}

/* out = x + t d: the same expression for a trial and for the accepted point, so that the
 * accepted x is bit-identical to the one evaluated. */
static void trial_point(float *out, const float *x, double t, const float *d, size_t n)
{
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)x[i] + t * d[i]);
}

static void swap_buffers(float **a, float **b)
{
    float *t = *a;
    *a = *b;
    *b = t;
}

/* ---- L-BFGS ------------------------------------------------------------------------------ */

style_status lbfgs_create(lbfgs *o, size_t n, int32_t history, double first_step)
{
    style_status status = STYLE_OK;
    memset(o, 0, sizeof *o);
    FAIL_IF(n == 0 || history < 1 || history > 1000 || !(first_step > 0),
            STYLE_ERR_INVALID_ARGUMENT, "lbfgs: bad size, history or first step");
    o->n = n;
    o->history = history;
    o->first_step = first_step;
    /* history + 1 slots: the next pair is built in a free slot, so a rejected pair never
     * overwrites a stored one. */
    int32_t slots = history + 1;
    o->s = style__calloc((size_t)slots, sizeof *o->s);
    o->y = style__calloc((size_t)slots, sizeof *o->y);
    o->rho = style__calloc((size_t)slots, sizeof *o->rho);
    o->alpha = style__calloc((size_t)slots, sizeof *o->alpha);
    FAIL_IF(!o->s || !o->y || !o->rho || !o->alpha, STYLE_ERR_NOMEM, "lbfgs: out of memory");
    size_t bytes;
    FAIL_IF(!style__mul_size(n, sizeof(float), &bytes), STYLE_ERR_LIMIT,
            "lbfgs: too many variables");
    for (int32_t i = 0; i < slots; i++) {
        o->s[i] = style__aligned_alloc(bytes);
        o->y[i] = style__aligned_alloc(bytes);
        FAIL_IF(!o->s[i] || !o->y[i], STYLE_ERR_NOMEM,
                "lbfgs: cannot allocate the history (%d x 2 x %zu bytes)", slots, bytes);
    }
    o->g = style__aligned_alloc(bytes);
    o->d = style__aligned_alloc(bytes);
    o->x_trial = style__aligned_alloc(bytes);
    o->g_trial = style__aligned_alloc(bytes);
    o->g_low = style__aligned_alloc(bytes);
    FAIL_IF(!o->g || !o->d || !o->x_trial || !o->g_trial || !o->g_low, STYLE_ERR_NOMEM,
            "lbfgs: out of memory");
    return STYLE_OK;
fail:
    lbfgs_destroy(o);
    return status;
}

void lbfgs_destroy(lbfgs *o)
{
    if (!o) return;
    for (int32_t i = 0; i <= o->history; i++) {
        if (o->s) style__aligned_free(o->s[i]);
        if (o->y) style__aligned_free(o->y[i]);
    }
    style__free(o->s);
    style__free(o->y);
    style__free(o->rho);
    style__free(o->alpha);
    style__aligned_free(o->g);
    style__aligned_free(o->d);
    style__aligned_free(o->x_trial);
    style__aligned_free(o->g_trial);
    style__aligned_free(o->g_low);
    memset(o, 0, sizeof *o);
}

void lbfgs_reset(lbfgs *o)
{
    o->count = 0;
}

static int32_t slot_of(const lbfgs *o, int32_t age)
{
    int32_t slots = o->history + 1;
    return ((o->newest - age) % slots + slots) % slots;
}

/* d = -H g by the two-loop recursion (N&W algorithm 7.4). */
static void lbfgs_direction(lbfgs *o)
{
    const size_t n = o->n;
    float *d = o->d;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        d[i] = -o->g[i];
    if (o->count == 0) return;
    for (int32_t age = 0; age < o->count; age++) {
        int32_t k = slot_of(o, age);
        o->alpha[k] = o->rho[k] * dot(o->s[k], d, n);
        axpy(-o->alpha[k], o->y[k], d, n);
    }
    /* H0 = gamma I with gamma = s'y / y'y of the newest pair (N&W 7.20). */
    int32_t newest = slot_of(o, 0);
    double yy = dot(o->y[newest], o->y[newest], n);
    double gamma = yy > 0 ? 1.0 / (o->rho[newest] * yy) : 1.0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++)
        d[i] = (float)(gamma * d[i]);
    for (int32_t age = o->count - 1; age >= 0; age--) {
        int32_t k = slot_of(o, age);
        double beta = o->rho[k] * dot(o->y[k], d, n);
        axpy(o->alpha[k] - beta, o->s[k], d, n);
    }
}

/* A point on the line x + t d: phi(t) = f, phi'(t) = dphi. */
typedef struct ls_point {
    double t, f, dphi;
    double aux[OPT_AUX];
} ls_point;

/* Evaluates at x + t d into x_trial / g_trial. A non-finite value counts as +infinity (a step
 * far too long), which the line search then shortens. */
static style_status ls_evaluate(lbfgs *o, const float *x, double t, opt_eval_fn fn, void *ctx,
                                ls_point *p)
{
    style_status status = STYLE_OK;
    trial_point(o->x_trial, x, t, o->d, o->n);
    memset(p->aux, 0, sizeof p->aux);
    TRY(fn(ctx, o->x_trial, o->g_trial, &p->f, p->aux));
    o->evaluations++;
    p->t = t;
    if (!isfinite(p->f)) {
        p->f = INFINITY;
        p->dphi = NAN;
    } else {
        p->dphi = dot(o->g_trial, o->d, o->n);
    }
    return STYLE_OK;
fail:
    return status;
}

/* Minimiser of the cubic through (a, fa, da) and (b, fb, db) (N&W 3.59); NaN when there is
 * none. */
static double cubic_min(const ls_point *a, const ls_point *b)
{
    if (a->t == b->t || !isfinite(a->f) || !isfinite(b->f) || !isfinite(a->dphi) ||
        !isfinite(b->dphi))
        return NAN;
    double d1 = a->dphi + b->dphi - 3.0 * (a->f - b->f) / (a->t - b->t);
    double disc = d1 * d1 - a->dphi * b->dphi;
    if (disc < 0) return NAN;
    double d2 = (b->t > a->t ? 1.0 : -1.0) * sqrt(disc);
    double denominator = b->dphi - a->dphi + 2.0 * d2;
    if (denominator == 0) return NAN;
    return b->t - (b->t - a->t) * (b->dphi + d2 - d1) / denominator;
}

/*
 * Strong-Wolfe line search along d from x (f0, g, dphi0 < 0), first trial t0.
 * On success *accepted is the chosen point and *grad the buffer holding its gradient
 * (o->g_trial or o->g_low); *found is false when no point with a lower value was found.
 */
static style_status line_search(lbfgs *o, const float *x, opt_eval_fn fn, void *ctx, double dphi0,
                                double t0, double x_tolerance, ls_point *accepted, float **grad,
                                bool *found)
{
    style_status status = STYLE_OK;
    const double c1 = 1e-4, c2 = 0.9, f0 = o->f;
    const double dmax = max_abs(o->d, o->n);
    ls_point start = {.t = 0, .f = f0, .dphi = dphi0};
    memcpy(start.aux, o->aux, sizeof start.aux);
    ls_point prev = start, cur, lo, hi;
    int evals = 0;
    double t = t0;
    *found = false;

    /* Bracketing (N&W algorithm 3.5). g_low holds prev's gradient once prev.t > 0. */
    for (;;) {
        if (evals == OPT_MAX_LINE_EVALS) {
            /* Still going down after every extrapolation: take the furthest point. */
            if (prev.t > 0) {
                *accepted = prev;
                *grad = o->g_low;
                *found = true;
            }
            return STYLE_OK;
        }
        TRY(ls_evaluate(o, x, t, fn, ctx, &cur));
        evals++;
        if (cur.f > f0 + c1 * cur.t * dphi0 || (prev.t > 0 && cur.f >= prev.f)) {
            lo = prev, hi = cur;
            break;
        }
        if (fabs(cur.dphi) <= -c2 * dphi0) {
            *accepted = cur;
            *grad = o->g_trial;
            *found = true;
            return STYLE_OK;
        }
        if (cur.dphi >= 0) {
            lo = cur, hi = prev;
            swap_buffers(&o->g_trial, &o->g_low);
            break;
        }
        /* Still descending: extrapolate (cubic minimiser kept within [2t, 10t]). */
        double next = cubic_min(&prev, &cur);
        if (!isfinite(next)) next = 6 * t;
        next = fmin(fmax(next, 2 * t), 10 * t);
        prev = cur;
        swap_buffers(&o->g_trial, &o->g_low);
        t = next;
    }

    /* Zoom (N&W algorithm 3.6): lo has the lowest value seen that satisfies the sufficient
     * decrease condition, and dphi(lo) (hi - lo) < 0. */
    while (evals < OPT_MAX_LINE_EVALS) {
        double a = fmin(lo.t, hi.t), b = fmax(lo.t, hi.t), width = b - a;
        if (width * dmax < x_tolerance) break;
        t = cubic_min(&lo, &hi);
        /* Safeguard: stay well inside the interval, else bisect. */
        if (!isfinite(t) || t < a + 0.1 * width || t > b - 0.1 * width) t = a + 0.5 * width;
        TRY(ls_evaluate(o, x, t, fn, ctx, &cur));
        evals++;
        if (cur.f > f0 + c1 * cur.t * dphi0 || cur.f >= lo.f) {
            hi = cur;
        } else {
            if (fabs(cur.dphi) <= -c2 * dphi0) {
                *accepted = cur;
                *grad = o->g_trial;
                *found = true;
                return STYLE_OK;
            }
            if (cur.dphi * (hi.t - lo.t) >= 0) hi = lo;
            lo = cur;
            swap_buffers(&o->g_trial, &o->g_low);
        }
    }
    /* The curvature condition was not met in the budget: lo still lowers f (when lo.t > 0). */
    if (lo.t > 0) {
        *accepted = lo;
        *grad = o->g_low;
        *found = true;
    }
    return STYLE_OK;
fail:
    return status;
}

style_status lbfgs_step(lbfgs *o, float *x, opt_eval_fn fn, void *ctx, double *f,
                        double aux[OPT_AUX], bool *converged)
{
    style_status status = STYLE_OK;
    const size_t n = o->n;
    *converged = false;
    if (!o->started) {
        memset(o->aux, 0, sizeof o->aux);
        TRY(fn(ctx, x, o->g, &o->f, o->aux));
        o->evaluations++;
        FAIL_IF(!isfinite(o->f), STYLE_ERR_INTERNAL,
                "lbfgs: the function is %g at the starting point", o->f);
        o->started = true;
    }
    const double x_tolerance = 1e-6 * (1.0 + max_abs(x, n));
    for (int attempt = 0; attempt < 2; attempt++) {
        const bool steepest = o->count == 0;
        lbfgs_direction(o);
        double dphi0 = dot(o->g, o->d, n);
        if (!(dphi0 < 0)) {
            /* Not a descent direction (rounding, or g = 0). */
            if (steepest) {
                *converged = true;
                break;
            }
            lbfgs_reset(o);
            o->resets++;
            continue;
        }
        double t0 = 1.0;
        if (steepest) {
            double dmax = max_abs(o->d, n);
            t0 = o->first_step / dmax;
        }
        ls_point accepted;
        float *grad = NULL;
        bool found = false;
        TRY(line_search(o, x, fn, ctx, dphi0, t0, x_tolerance, &accepted, &grad, &found));
        if (!found) {
            if (steepest) {
                *converged = true;
                break;
            }
            lbfgs_reset(o);
            o->resets++;
            continue;
        }
        /* The new pair, built in the free slot. */
        trial_point(o->x_trial, x, accepted.t, o->d, n);
        int32_t slots = o->history + 1, k = (o->newest + 1) % slots;
        float *s = o->s[k], *y = o->y[k];
        const float *g_old = o->g;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) {
            s[i] = o->x_trial[i] - x[i];
            y[i] = grad[i] - g_old[i];
        }
        double sy = dot(s, y, n), yy = dot(y, y, n);
        if (sy > 1e-10 * yy && yy > 0) {
            o->rho[k] = 1.0 / sy;
            o->newest = k;
            if (o->count < o->history) o->count++;
        }
        memcpy(x, o->x_trial, n * sizeof *x);
        if (grad == o->g_trial)
            swap_buffers(&o->g, &o->g_trial);
        else
            swap_buffers(&o->g, &o->g_low);
        o->f = accepted.f;
        memcpy(o->aux, accepted.aux, sizeof o->aux);
        break;
    }
    *f = o->f;
    memcpy(aux, o->aux, sizeof o->aux);
    return STYLE_OK;
fail:
    return status;
}

/* ---- Adam ------------------------------------------------------------------------------- */

style_status adam_create(adam *o, size_t n, double lr)
{
    style_status status = STYLE_OK;
    memset(o, 0, sizeof *o);
    FAIL_IF(n == 0 || !(lr > 0), STYLE_ERR_INVALID_ARGUMENT, "adam: bad size or learning rate");
    size_t bytes;
    FAIL_IF(!style__mul_size(n, sizeof(float), &bytes), STYLE_ERR_LIMIT,
            "adam: too many variables");
    o->n = n;
    o->lr = lr;
    o->m = style__aligned_alloc(bytes);
    o->v = style__aligned_alloc(bytes);
    o->g = style__aligned_alloc(bytes);
    FAIL_IF(!o->m || !o->v || !o->g, STYLE_ERR_NOMEM, "adam: out of memory");
    memset(o->m, 0, bytes);
    memset(o->v, 0, bytes);
    return STYLE_OK;
fail:
    adam_destroy(o);
    return status;
}

void adam_destroy(adam *o)
{
    if (!o) return;
    style__aligned_free(o->m);
    style__aligned_free(o->v);
    style__aligned_free(o->g);
    memset(o, 0, sizeof *o);
}

void adam_update(float *x, float *m, float *v, const float *g, size_t count, double lr,
                 int64_t step)
{
    const double b1 = ADAM_BETA1, b2 = ADAM_BETA2, eps = ADAM_EPS;
    const double c1 = 1.0 - pow(b1, (double)step), c2 = 1.0 - pow(b2, (double)step);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) {
        m[i] = (float)(b1 * m[i] + (1 - b1) * g[i]);
        v[i] = (float)(b2 * v[i] + (1 - b2) * (double)g[i] * g[i]);
        x[i] -= (float)(lr * (m[i] / c1) / (sqrt(v[i] / c2) + eps));
    }
}

style_status adam_step(adam *o, float *x, opt_eval_fn fn, void *ctx, double *f, double aux[OPT_AUX])
{
    style_status status = STYLE_OK;
    memset(aux, 0, OPT_AUX * sizeof *aux);
    TRY(fn(ctx, x, o->g, f, aux));
    o->evaluations++;
    FAIL_IF(!isfinite(*f), STYLE_ERR_INTERNAL,
            "adam: the function became %g at step %lld (learning rate too high?)", *f,
            (long long)o->step + 1);
    o->step++;
    adam_update(x, o->m, o->v, o->g, o->n, o->lr, o->step);
    return STYLE_OK;
fail:
    return status;
}

void train_adam_update(train_params *p, float *adam_m, float *adam_v, double lr, int64_t step,
                       int32_t only_style)
{
    const bool adding_style = only_style >= 0;
    for (int32_t i = 0; i < p->count; i++) {
        const train_param *param = &p->params[i];
        if (!param->trainable) continue;
        /* Adding a style: only its row of the norms' scales and shifts moves; the convolutions
         * and the other styles stay bit-identical. */
        size_t begin = 0, end = param->count;
        if (adding_style) {
            if (strstr(param->name, ".conv2d.")) continue;
            begin = (size_t)only_style * (size_t)param->shape[1];
            end = begin + (size_t)param->shape[1];
        }
        const size_t at = param->offset + begin;
        adam_update(p->values + at, adam_m + at, adam_v + at, p->grads + at, end - begin, lr, step);
    }
}
