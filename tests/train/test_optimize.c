/*
 * Gatys et al.'s optimisation (style_optimize) on a tiny random feature network and tiny
 * generated images: L-BFGS minimises an ill-conditioned quadratic and the Rosenbrock function;
 * the pixel gradient matches central differences of a double-precision reference of the total
 * loss; L-BFGS and Adam lower the loss well below the start within 30 iterations; two styles
 * weighted (1, 0) give exactly the first style's result; --preserve-color keeps the content's
 * chroma; the progress callback cancels; bad inputs give clear errors; every allocation
 * failure is handled.
 */
#include "train/optim.h"
#include "train/optimize.h"
#include "model_builder.h"
#include "reference.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTENT_W 24
#define CONTENT_H 20

/* ---- fixtures --------------------------------------------------------------------------- */

/* content.png (smooth), style_a.png (coloured stripes), style_b.png (checks), net. */
static char *make_fixtures(void)
{
    char *dir = test_make_temp_dir();
    assert_non_null(dir);
    style_image img;
    assert_int_equal(style_image_alloc(&img, CONTENT_W, CONTENT_H, 3, STYLE_SAMPLE_U8), STYLE_OK);
    uint8_t *p = img.data;
    for (int y = 0; y < CONTENT_H; y++)
        for (int x = 0; x < CONTENT_W; x++) {
            p[(y * CONTENT_W + x) * 3 + 0] = (uint8_t)(128 + 90 * sin(0.25 * x));
            p[(y * CONTENT_W + x) * 3 + 1] = (uint8_t)(128 + 80 * cos(0.2 * y));
            p[(y * CONTENT_W + x) * 3 + 2] = (uint8_t)(60 + 5 * x + 3 * y);
        }
    assert_int_equal(style_image_save(test_path(dir, "content.png"), &img, 0), STYLE_OK);
    style_image_release(&img);

    assert_int_equal(style_image_alloc(&img, 32, 28, 3, STYLE_SAMPLE_U8), STYLE_OK);
    p = img.data;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 32; x++) {
            int band = (x + y) / 3 % 3;
            p[(y * 32 + x) * 3 + 0] = (uint8_t)(band == 0 ? 230 : 20);
            p[(y * 32 + x) * 3 + 1] = (uint8_t)(band == 1 ? 200 : 40);
            p[(y * 32 + x) * 3 + 2] = (uint8_t)(band == 2 ? 250 : 10);
        }
    assert_int_equal(style_image_save(test_path(dir, "style_a.png"), &img, 0), STYLE_OK);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 32; x++) {
            int on = (x / 4 + y / 4) % 2;
            p[(y * 32 + x) * 3 + 0] = (uint8_t)(on ? 250 : 90);
            p[(y * 32 + x) * 3 + 1] = (uint8_t)(on ? 240 : 30);
            p[(y * 32 + x) * 3 + 2] = (uint8_t)(on ? 30 : 120);
        }
    assert_int_equal(style_image_save(test_path(dir, "style_b.png"), &img, 0), STYLE_OK);
    style_image_release(&img);
    test_write_feature_net(test_path(dir, "net.safetensors"), 91);
    return dir;
}

typedef struct run_log {
    double totals[256];
    int calls;
    int stop_at;
} run_log;

static int record(void *user, const style_optimize_stats *st)
{
    run_log *log = user;
    if (log->calls < 256) log->totals[log->calls] = st->total_loss;
    log->calls++;
    assert_int_equal(st->iteration, log->calls);
    assert_true(fabs(st->total_loss - (st->content_loss + st->style_loss + st->tv_loss)) <=
                1e-9 * fabs(st->total_loss));
    return log->stop_at && st->iteration >= log->stop_at;
}

/* Paths live in `paths` (the options point into it). */
typedef struct fixture_paths {
    char content[4096], net[4096], out[4096];
    char style[2][4096];
    const char *styles[2];
} fixture_paths;

static style_optimize_options base_options(const char *dir, fixture_paths *fp, run_log *log)
{
    snprintf(fp->content, sizeof fp->content, "%s", test_path(dir, "content.png"));
    snprintf(fp->net, sizeof fp->net, "%s", test_path(dir, "net.safetensors"));
    snprintf(fp->out, sizeof fp->out, "%s", test_path(dir, "out.png"));
    snprintf(fp->style[0], sizeof fp->style[0], "%s", test_path(dir, "style_a.png"));
    snprintf(fp->style[1], sizeof fp->style[1], "%s", test_path(dir, "style_b.png"));
    fp->styles[0] = fp->style[0];
    fp->styles[1] = fp->style[1];
    style_optimize_options o = {0};
    o.struct_size = sizeof o;
    o.content_image = fp->content;
    o.style_images = fp->styles;
    o.style_count = 1;
    o.loss_net = fp->net;
    o.out_path = fp->out;
    o.size = CONTENT_W;
    o.iterations = 30;
    o.threads = 1;
    o.progress = record;
    o.progress_user = log;
    return o;
}

/* ---- the minimisers alone --------------------------------------------------------------- */

typedef struct quadratic {
    size_t n;
    double a[64], c[64];
} quadratic;

static style_status quadratic_eval(void *ctx, const float *x, float *g, double *f,
                                   double aux[OPT_AUX])
{
    const quadratic *q = ctx;
    double sum = 0;
    for (size_t i = 0; i < q->n; i++) {
        double d = x[i] - q->c[i];
        sum += 0.5 * q->a[i] * d * d;
        g[i] = (float)(q->a[i] * d);
    }
    *f = sum;
    aux[0] = sum;
    return STYLE_OK;
}

static style_status rosenbrock_eval(void *ctx, const float *x, float *g, double *f,
                                    double aux[OPT_AUX])
{
    (void)ctx, (void)aux;
    double a = x[0], b = x[1];
    *f = (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a);
    g[0] = (float)(-2 * (1 - a) - 400 * a * (b - a * a));
    g[1] = (float)(200 * (b - a * a));
    return STYLE_OK;
}

static void test_lbfgs_quadratic_and_rosenbrock(void **state)
{
    (void)state;
    /* Condition number 1000, eigenvalues spread log-uniformly. */
    quadratic q = {.n = 50};
    test_rng rng = {3};
    float x[64];
    for (size_t i = 0; i < q.n; i++) {
        q.a[i] = pow(1000.0, (double)i / (double)(q.n - 1));
        q.c[i] = test_rng_uniform(&rng, -3, 3);
        x[i] = 0;
    }
    double f0 = 0, f = 0, aux[OPT_AUX];
    for (size_t i = 0; i < q.n; i++)
        f0 += 0.5 * q.a[i] * q.c[i] * q.c[i];
    lbfgs o;
    assert_int_equal(lbfgs_create(&o, q.n, 10, 1.0), STYLE_OK);
    double previous = f0;
    int iterations = 0;
    for (; iterations < 120; iterations++) {
        bool converged = false;
        assert_int_equal(lbfgs_step(&o, x, quadratic_eval, &q, &f, aux, &converged), STYLE_OK);
        if (converged) break;
        assert_true(f <= previous); /* the line search only accepts decreases */
        assert_true(aux[0] == f);   /* aux travels with the accepted point */
        previous = f;
        if (f < 1e-7 * f0) break;
    }
    print_message("  quadratic (cond 1000, n 50): f %.3g -> %.3g in %d iterations, %lld "
                  "evaluations\n",
                  f0, f, iterations + 1, (long long)o.evaluations);
    /* A plain L-BFGS (unit steps, Armijo backtracking, double) needs ~100 iterations for this;
     * steepest descent would still be above 0.5 f0. */
    assert_true(f < 1e-7 * f0);
    lbfgs_destroy(&o);

    float r[2] = {-1.2f, 1.0f};
    assert_int_equal(lbfgs_create(&o, 2, 10, 0.5), STYLE_OK);
    bool converged = false;
    int k = 0;
    for (; k < 200 && !converged; k++)
        assert_int_equal(lbfgs_step(&o, r, rosenbrock_eval, NULL, &f, aux, &converged), STYLE_OK);
    print_message("  Rosenbrock from (-1.2, 1): (%.5f, %.5f), f %.2e after %d iterations, %lld "
                  "evaluations\n",
                  r[0], r[1], f, k, (long long)o.evaluations);
    assert_true(fabs(r[0] - 1) < 1e-2 && fabs(r[1] - 1) < 2e-2);
    assert_true(f < 1e-4);
    lbfgs_destroy(&o);
}

/* ---- gradient against a double reference ------------------------------------------------ */

/* Every layer's output of the feature network, in double (C x H x W), up to `last`. */
static void reference_layers(const feature_net *net, const float *rgb, int h, int w, int last,
                             ref_tensor *out)
{
    ref_tensor x = ref_tensor_new(3, h, w);
    for (int y = 0; y < h; y++)
        for (int xx = 0; xx < w; xx++)
            for (int c = 0; c < 3; c++)
                REF_AT(x, c, y, xx) =
                    ((double)rgb[(y * w + xx) * 3 + c] * net->input_scale - net->input_mean[c]) /
                    net->input_std[c];
    for (int i = 0; i <= last; i++) {
        const fnet_layer *l = &net->layers[i];
        ref_tensor y;
        if (l->op == FNET_CONV) {
            y = ref_conv2d(x, l->weight, l->bias, l->out_channels, l->kernel, l->stride, l->pad,
                           l->pad, l->pad, l->pad);
        } else if (l->op == FNET_MAXPOOL) {
            y = ref_tensor_new(x.c, x.h / 2, x.w / 2);
            for (int c = 0; c < x.c; c++)
                for (int a = 0; a < y.h; a++)
                    for (int b = 0; b < y.w; b++)
                        REF_AT(y, c, a, b) =
                            fmax(fmax(REF_AT(x, c, 2 * a, 2 * b), REF_AT(x, c, 2 * a, 2 * b + 1)),
                                 fmax(REF_AT(x, c, 2 * a + 1, 2 * b),
                                      REF_AT(x, c, 2 * a + 1, 2 * b + 1)));
        } else {
            y = ref_tensor_new(x.c, x.h, x.w);
            double slope = l->op == FNET_RELU ? 0 : l->slope;
            for (size_t k = 0; k < (size_t)x.c * x.h * x.w; k++)
                y.data[k] = x.data[k] > 0 ? x.data[k] : x.data[k] * slope;
        }
        if (i > 0)
            out[i - 1] = x;
        else
            ref_tensor_free(&x);
        x = y;
    }
    out[last] = x;
}

/* The total loss in double, from the pinned definitions, against the problem's targets. */
static double reference_loss(const optimize_problem *p, const float *x)
{
    int last = p->content_layer;
    for (int i = 0; i < p->style_count; i++)
        if (p->style_layer[i] > last) last = p->style_layer[i];
    ref_tensor layers[16];
    reference_layers(p->net, x, p->height, p->width, last, layers);
    double total = 0;
    {
        const ref_tensor t = layers[p->content_layer];
        double num = 0, den = 0;
        for (int y = 0; y < t.h; y++)
            for (int xx = 0; xx < t.w; xx++)
                for (int c = 0; c < t.c; c++) {
                    double target = p->content_target[((size_t)y * t.w + xx) * t.c + c];
                    double d = REF_AT(t, c, y, xx) - target;
                    num += d * d;
                    den += target * target;
                }
        total += p->content_weight * num / den;
    }
    for (int i = 0; i < p->style_count; i++) {
        const ref_tensor t = layers[p->style_layer[i]];
        const int C = t.c, HW = t.h * t.w;
        double loss = 0;
        for (int a = 0; a < C; a++)
            for (int b = 0; b < C; b++) {
                double g = 0;
                for (int k = 0; k < HW; k++)
                    g += t.data[(size_t)a * HW + k] * t.data[(size_t)b * HW + k];
                g /= (double)C * HW;
                double d = g - p->style_gram[i][a * C + b];
                loss += d * d;
            }
        total += p->style_weight * loss / p->style_norm2[i];
    }
    {
        const int h = p->height, w = p->width;
        double v = 0, hz = 0;
        for (int y = 0; y < h; y++)
            for (int xx = 0; xx < w; xx++)
                for (int c = 0; c < 3; c++) {
                    double here = x[(y * w + xx) * 3 + c] / 255.0;
                    if (y + 1 < h) {
                        double d = x[((y + 1) * w + xx) * 3 + c] / 255.0 - here;
                        v += d * d;
                    }
                    if (xx + 1 < w) {
                        double d = x[(y * w + xx + 1) * 3 + c] / 255.0 - here;
                        hz += d * d;
                    }
                }
        total += p->tv_weight * (v / ((double)(h - 1) * w * 3) + hz / ((double)h * (w - 1) * 3));
    }
    for (int i = 0; i <= last; i++)
        ref_tensor_free(&layers[i]);
    return total;
}

static void test_gradient_matches_finite_differences(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    const char *styles[1] = {test_path(dir, "style_a.png")};
    char style_path[4096];
    snprintf(style_path, sizeof style_path, "%s", styles[0]);
    styles[0] = style_path;
    const double blend[1] = {1.0};
    optimize_problem p;
    style_status status = optimize_problem_create(
        &p, test_path(dir, "net.safetensors"), test_path(dir, "content.png"), CONTENT_W, styles,
        blend, 1, 0, NULL, NULL, 1.0, 2.0, 50.0, NULL, NULL);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(p.width, CONTENT_W);
    assert_int_equal(p.height, CONTENT_H);
    const size_t n = (size_t)p.width * p.height * 3;
    float *x = malloc(n * sizeof(float)), *g = malloc(n * sizeof(float));
    float *g2 = malloc(n * sizeof(float));
    test_rng rng = {17};
    /* Away from the content (so every term has a gradient), values partly outside 0..255. */
    for (size_t i = 0; i < n; i++)
        x[i] = p.content_rgb[i] + (float)test_rng_uniform(&rng, -40, 40);
    double f, aux[OPT_AUX];
    assert_int_equal(optimize_evaluate(&p, x, g, &f, aux), STYLE_OK);
    double ref = reference_loss(&p, x);
    print_message("  loss: float pipeline %.9g, double reference %.9g (content %.4g style %.4g "
                  "tv %.4g)\n",
                  f, ref, aux[0], aux[1], aux[2]);
    assert_true(fabs(f - ref) <= 1e-5 * fabs(ref));
    assert_true(aux[0] > 0 && aux[1] > 0 && aux[2] > 0);
    /* Evaluating again gives the same gradient (tap gradients are reset by the forward). */
    assert_int_equal(optimize_evaluate(&p, x, g2, &f, aux), STYLE_OK);
    assert_memory_equal(g, g2, n * sizeof(float));

    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    double worst = 0;
    const size_t pixels[] = {0,
                             5 * 3 + 1,
                             (10 * CONTENT_W + 7) * 3 + 2,
                             (19 * CONTENT_W + 23) * 3,
                             (13 * CONTENT_W + 18) * 3 + 1,
                             (4 * CONTENT_W + 20) * 3 + 2,
                             (8 * CONTENT_W + 3) * 3};
    for (size_t k = 0; k < sizeof pixels / sizeof pixels[0]; k++) {
        size_t i = pixels[k];
        float keep = x[i];
        const float h = 0.01f;
        x[i] = keep + h;
        double up = reference_loss(&p, x);
        x[i] = keep - h;
        double down = reference_loss(&p, x);
        double step = (double)(keep + h) - (double)(keep - h);
        x[i] = keep;
        double numeric = (up - down) / step;
        double err = fabs(numeric - g[i]) / gmax;
        print_message("  d/dx[%zu]: analytic %.6g, numeric %.6g (err / max|g| %.1e)\n", i, g[i],
                      numeric, err);
        worst = fmax(worst, err);
    }
    assert_true(worst < 2e-3);
    free(x), free(g), free(g2);
    optimize_problem_destroy(&p);
    test_remove_tree(dir);
    free(dir);
}

/* ---- whole runs ------------------------------------------------------------------------- */

static double start_loss(const style_optimize_options *o)
{
    double blend[2] = {1, 0};
    optimize_problem p;
    assert_int_equal(optimize_problem_create(&p, o->loss_net, o->content_image, o->size,
                                             o->style_images, blend, 1, 0, NULL, NULL, 1, 2, 50,
                                             NULL, NULL),
                     STYLE_OK);
    const size_t n = (size_t)p.width * p.height * 3;
    float *g = malloc(n * sizeof(float));
    double f, aux[OPT_AUX];
    assert_int_equal(optimize_evaluate(&p, p.content_rgb, g, &f, aux), STYLE_OK);
    free(g);
    optimize_problem_destroy(&p);
    return f;
}

static void check_run(const char *optimizer)
{
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    o.optimizer = optimizer;
    style_image result = {0};
    o.result = &result;
    style_status status = style_optimize(&o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
    assert_int_equal(log.calls, 30);
    double f0 = start_loss(&o);
    int increases = 0;
    for (int i = 1; i < log.calls; i++)
        if (log.totals[i] > log.totals[i - 1]) increases++;
    print_message("  %s: total loss %.4f at the content, %.4f after 1, %.4f after 10, %.4f after "
                  "30 iterations; %d increases\n",
                  optimizer, f0, log.totals[0], log.totals[9], log.totals[29], increases);
    assert_true(log.totals[29] < 0.5 * f0);
    if (strcmp(optimizer, "lbfgs") == 0)
        assert_int_equal(increases, 0); /* every accepted step lowers the loss */
    else
        assert_true(increases <= 6);
    /* The result (F32, clamped) and the file agree in size; out.png written. */
    assert_int_equal(result.width, CONTENT_W);
    assert_int_equal(result.height, CONTENT_H);
    assert_int_equal(result.channels, 3);
    assert_int_equal(result.sample_type, STYLE_SAMPLE_F32);
    const float *px = result.data;
    for (int i = 0; i < CONTENT_W * CONTENT_H * 3; i++)
        assert_true(px[i] >= 0 && px[i] <= 255);
    style_image saved = {0};
    assert_int_equal(style_image_load(o.out_path, 0, &saved), STYLE_OK);
    assert_int_equal(saved.width, CONTENT_W);
    style_image_release(&saved);
    style_image_release(&result);
    test_remove_tree(dir);
    free(dir);
}

static void test_lbfgs_lowers_loss(void **state)
{
    (void)state;
    check_run("lbfgs");
}

static void test_adam_lowers_loss(void **state)
{
    (void)state;
    check_run("adam");
}

/* style_evaluate_losses: the same numbers as the optimiser's own evaluation. */
static void test_evaluate_losses(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    o.out_path = NULL; /* not needed */
    o.content_weight = 1, o.style_weight = 2, o.tv_weight = 50;
    style_losses at_content, of_out;
    assert_int_equal(style_evaluate_losses(&o, fp.content, &at_content), STYLE_OK);
    /* The content against itself: no content loss; the total is the optimiser's start. */
    assert_true(at_content.content == 0.0);
    assert_true(at_content.style > 0 && at_content.tv > 0);
    assert_true(fabs(at_content.total - start_loss(&o)) <= 1e-9 * at_content.total);
    assert_true(fabs(at_content.total - (at_content.content + at_content.style + at_content.tv)) <=
                1e-9 * at_content.total);

    /* An optimised image scores near the last reported loss: not exactly, as the file is
     * clamped to 0..255 and rounded to 8 bits (which the TV term of so small an image feels). */
    o.out_path = fp.out;
    assert_int_equal(style_optimize(&o), STYLE_OK);
    assert_int_equal(style_evaluate_losses(&o, fp.out, &of_out), STYLE_OK);
    print_message("  losses of the content %.4f, of the 30-iteration result %.4f (reported "
                  "%.4f)\n",
                  at_content.total, of_out.total, log.totals[29]);
    assert_true(of_out.total < 0.5 * at_content.total);
    assert_true(fabs(of_out.total - log.totals[29]) < 0.25 * log.totals[29]);

    /* Another size is resized to the problem's; a term turned off reads 0. */
    o.tv_weight = -1;
    style_losses resized;
    assert_int_equal(style_evaluate_losses(&o, fp.style[1], &resized), STYLE_OK);
    assert_true(resized.tv == 0.0 && resized.content > 0 && resized.style > 0);

    /* Errors name the file; NULL arguments are refused. */
    char missing[4200];
    snprintf(missing, sizeof missing, "%s", test_path(dir, "missing.png"));
    assert_int_equal(style_evaluate_losses(&o, missing, &resized), STYLE_ERR_IO);
    assert_non_null(strstr(style_last_error(), "missing.png"));
    assert_int_equal(style_evaluate_losses(&o, NULL, &resized), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(style_evaluate_losses(NULL, fp.content, &resized),
                     STYLE_ERR_INVALID_ARGUMENT);
    o.loss_net = NULL;
    assert_int_equal(style_evaluate_losses(&o, fp.content, &resized),
                     STYLE_ERR_INVALID_ARGUMENT);
    test_remove_tree(dir);
    free(dir);
}

static void run_to_result(style_optimize_options *o, style_image *result)
{
    memset(result, 0, sizeof *result);
    o->result = result;
    o->out_path = NULL;
    style_status status = style_optimize(o);
    if (status != STYLE_OK) print_error("%s\n", style_last_error());
    assert_int_equal(status, STYLE_OK);
}

static void test_style_blend(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    o.iterations = 8;
    o.progress = NULL;
    style_image alone, blended, mixed;
    run_to_result(&o, &alone);
    o.style_count = 2;
    const double one_zero[2] = {1, 0};
    o.style_blend = one_zero;
    run_to_result(&o, &blended);
    size_t bytes = (size_t)CONTENT_W * CONTENT_H * 3 * sizeof(float);
    assert_memory_equal(alone.data, blended.data, bytes);
    /* Unnormalised weights are normalised: (2, 0) is (1, 0). */
    const double two_zero[2] = {2, 0};
    o.style_blend = two_zero;
    style_image again;
    run_to_result(&o, &again);
    assert_memory_equal(alone.data, again.data, bytes);
    /* A real blend differs. */
    const double half[2] = {0.5, 0.5};
    o.style_blend = half;
    run_to_result(&o, &mixed);
    double diff = 0;
    for (int i = 0; i < CONTENT_W * CONTENT_H * 3; i++)
        diff = fmax(diff, fabs(((float *)alone.data)[i] - ((float *)mixed.data)[i]));
    print_message("  blend (1,0) == first style alone; (0.5,0.5) differs by up to %.2f\n", diff);
    assert_true(diff > 0.5);
    style_image_release(&alone);
    style_image_release(&blended);
    style_image_release(&again);
    style_image_release(&mixed);
    test_remove_tree(dir);
    free(dir);
}

static void yuv(const float *rgb, double out[3])
{
    double y = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
    out[0] = y;
    out[1] = 0.492 * (rgb[2] - y);
    out[2] = 0.877 * (rgb[0] - y);
}

static void test_preserve_color(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    o.iterations = 10;
    o.progress = NULL;
    style_image plain, kept, content;
    run_to_result(&o, &plain);
    o.preserve_color = 1;
    run_to_result(&o, &kept);
    /* Equal size: the content is used as decoded. */
    assert_int_equal(style_image_load(fp.content, 0, &content), STYLE_OK);
    const uint8_t *c8 = content.data;
    const float *a = plain.data, *b = kept.data;
    int checked = 0;
    double luma_change = 0, plain_chroma = 0;
    for (int i = 0; i < CONTENT_W * CONTENT_H; i += 37) {
        const float *k = b + i * 3;
        if (k[0] <= 0 || k[0] >= 255 || k[1] <= 0 || k[1] >= 255 || k[2] <= 0 || k[2] >= 255)
            continue; /* clamped pixels lose exactness */
        float c[3] = {c8[i * 3], c8[i * 3 + 1], c8[i * 3 + 2]};
        double yk[3], yc[3], yp[3];
        yuv(k, yk), yuv(c, yc), yuv(a + i * 3, yp);
        assert_true(fabs(yk[1] - yc[1]) < 1e-3 && fabs(yk[2] - yc[2]) < 1e-3); /* content's UV */
        assert_true(fabs(yk[0] - yp[0]) < 1e-3); /* the stylised luminance */
        luma_change = fmax(luma_change, fabs(yk[0] - yc[0]));
        plain_chroma = fmax(plain_chroma, fmax(fabs(yp[1] - yc[1]), fabs(yp[2] - yc[2])));
        checked++;
    }
    print_message("  preserve-color: %d pixels keep the content's U, V exactly; luminance moved "
                  "up to %.1f, chroma without it up to %.1f\n",
                  checked, luma_change, plain_chroma);
    assert_true(checked >= 8);
    assert_true(luma_change > 1);
    assert_true(plain_chroma > 1);
    style_image_release(&plain);
    style_image_release(&kept);
    style_image_release(&content);
    test_remove_tree(dir);
    free(dir);
}

static void test_cancel(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    log.stop_at = 3;
    style_optimize_options o = base_options(dir, &fp, &log);
    style_image result = {0};
    o.result = &result;
    assert_int_equal(style_optimize(&o), STYLE_ERR_CANCELLED);
    print_message("  cancelled: %s\n", style_last_error());
    assert_non_null(strstr(style_last_error(), "iteration 3"));
    assert_int_equal(log.calls, 3);
    assert_null(result.data);
    /* The current image was still written. */
    style_image saved = {0};
    assert_int_equal(style_image_load(fp.out, 0, &saved), STYLE_OK);
    assert_int_equal(saved.width, CONTENT_W);
    style_image_release(&saved);
    test_remove_tree(dir);
    free(dir);
}

/* style_cancel_fn: stops at the `stop_at`-th ask once `log` has seen `after` iterations. */
typedef struct cancel_log {
    const run_log *log;
    int after, stop_at, asks;
} cancel_log;

static int cancel_inside(void *user)
{
    cancel_log *c = user;
    if (c->log->calls < c->after) return 0;
    return ++c->asks >= c->stop_at;
}

/* Issue 22: a stop inside an iteration (through `cancel`, as on a signal) drops it: the image
 * written is that of the last whole iteration, the same as a stop by `progress` after it. */
static void test_cancel_inside_iteration(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    for (int adam = 0; adam < 2; ++adam)
        for (int ask = 1; ask <= 2; ++ask) { /* an iteration evaluates once at least: 2 asks */
            run_log log = {0};
            log.stop_at = 3;
            style_optimize_options o = base_options(dir, &fp, &log);
            if (adam) o.optimizer = "adam";
            assert_int_equal(style_optimize(&o), STYLE_ERR_CANCELLED);
            style_image after_three = {0};
            assert_int_equal(style_image_load(fp.out, 0, &after_three), STYLE_OK);

            run_log inside_log = {0};
            cancel_log inside = {&inside_log, 3, ask, 0};
            o = base_options(dir, &fp, &inside_log);
            if (adam) o.optimizer = "adam";
            o.cancel = cancel_inside;
            o.cancel_user = &inside;
            assert_int_equal(style_optimize(&o), STYLE_ERR_CANCELLED);
            print_message("  %s, stop at ask %d inside iteration 4: %s\n", adam ? "Adam" : "L-BFGS",
                          ask, style_last_error());
            assert_non_null(strstr(style_last_error(), "iteration 3"));
            assert_int_equal(inside_log.calls, 3);
            style_image dropped = {0};
            assert_int_equal(style_image_load(fp.out, 0, &dropped), STYLE_OK);
            assert_int_equal(dropped.width, after_three.width);
            assert_int_equal(dropped.height, after_three.height);
            assert_memory_equal(dropped.data, after_three.data,
                                (size_t)dropped.height * dropped.stride);
            style_image_release(&dropped);
            style_image_release(&after_three);
        }
    test_remove_tree(dir);
    free(dir);
}

static void expect_error(style_optimize_options *o, style_status expected, const char *needle)
{
    style_status status = style_optimize(o);
    print_message("  -> %s: %s\n", style_status_string(status), style_last_error());
    assert_int_equal(status, expected);
    assert_non_null(strstr(style_last_error(), needle));
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    style_optimize_options good = o;

    o.content_image = test_path(dir, "missing.png");
    expect_error(&o, STYLE_ERR_IO, "missing.png");
    o = good;
    const char *bad_style[2] = {fp.style[0], test_path(dir, "no-style.jpg")};
    o.style_images = bad_style;
    o.style_count = 2;
    expect_error(&o, STYLE_ERR_IO, "no-style.jpg");
    o = good;
    o.loss_net = fp.content; /* a PNG is not a feature network */
    assert_true(style_optimize(&o) != STYLE_OK);
    assert_non_null(strstr(style_last_error(), "content.png"));
    o = good;
    o.content_layer = "nope";
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "nope");
    o = good;
    o.style_layers = "a,zzz";
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "zzz");
    o = good;
    const double negative[2] = {1, -1}, zeros[2] = {0, 0};
    o.style_count = 2;
    o.style_blend = negative;
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "style weight 2");
    o.style_blend = zeros;
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "sum to 0");
    o = good;
    o.style_count = 0;
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "no style image");
    o = good;
    o.optimizer = "sgd";
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "sgd");
    o = good;
    o.init = "zeros";
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "zeros");
    o = good;
    o.out_path = test_path(dir, "out.bmp");
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "out.bmp");
    o.out_path = test_path(dir, "no-such-dir/out.png");
    expect_error(&o, STYLE_ERR_IO, "no-such-dir");
    o = good;
    o.out_path = NULL;
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "out_path");
    o = good;
    o.size = 1; /* 1x1: below the network's minimum */
    expect_error(&o, STYLE_ERR_INVALID_ARGUMENT, "too small");
    assert_int_equal(log.calls, 0); /* every refusal came before any iteration */
    assert_int_equal(style_optimize(NULL), STYLE_ERR_INVALID_ARGUMENT);
    assert_int_equal(access(fp.out, F_OK), -1); /* nothing written */
    test_remove_tree(dir);
    free(dir);
}

/* Every allocation failing in turn: a clean error each time, never a crash or a leak (run
 * under the sanitizers in the ASan build). */
static void test_allocation_failures(void **state)
{
    (void)state;
    char *dir = make_fixtures();
    fixture_paths fp;
    run_log log = {0};
    style_optimize_options o = base_options(dir, &fp, &log);
    o.iterations = 2;
    o.progress = NULL;
    const char *two[2] = {fp.style[0], fp.style[1]};
    o.style_images = two;
    o.style_count = 2;
    o.preserve_color = 1;
    int failures = 0;
    for (long n = 1; n < 5000; n++) {
        style_image result = {0};
        o.result = &result;
        style__alloc_fail_after(n);
        style_status status = style_optimize(&o);
        bool injected = !style__alloc_fail_pending();
        style__alloc_fail_after(0);
        if (status == STYLE_OK && !injected) {
            style_image_release(&result);
            break;
        }
        /* NOMEM, never another status, and never a failed allocation swallowed (OK). */
        if (status != STYLE_ERR_NOMEM)
            fail_msg("allocation %ld: status %d (%s): %s", n, status, style_status_string(status),
                     style_last_error());
        assert_null(result.data);
        assert_true(style_last_error()[0] != '\0');
        failures++;
    }
    print_message("  %d allocation points fail cleanly\n", failures);
    assert_true(failures > 10);
    test_remove_tree(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lbfgs_quadratic_and_rosenbrock),
        cmocka_unit_test(test_evaluate_losses),
        cmocka_unit_test(test_gradient_matches_finite_differences),
        cmocka_unit_test(test_lbfgs_lowers_loss),
        cmocka_unit_test(test_adam_lowers_loss),
        cmocka_unit_test(test_style_blend),
        cmocka_unit_test(test_preserve_color),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_inside_iteration),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
