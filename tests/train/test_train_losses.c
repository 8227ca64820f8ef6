/*
 * The colour, grid and temporal losses of the trainer: their statistics against values
 * computed by hand, and their gradients against central finite differences of
 * double-precision references of the losses.
 */
#include "testutil.h"
#include "train/train_losses.h"
#include "train/train_temporal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A double-precision reference loss, reading the values it is differentiated by through
 * `context` (which points at them among what else it needs). */
typedef double (*reference_loss_fn)(const void *context);

/* Central differences of weight * loss with respect to each of the n values x[i] (changed in
 * place by +-step and restored) against the analytic gradient grad[i]. */
static void assert_gradient_matches(double *x, size_t n, const float *grad, double weight,
                                    double step, double slack, reference_loss_fn loss,
                                    const void *context)
{
    for (size_t i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + step;
        double up = loss(context);
        x[i] = keep - step;
        double down = loss(context);
        x[i] = keep;
        double numeric = weight * (up - down) / (2 * step);
        assert_true(fabs(numeric - grad[i]) <= 1e-4 * fmax(1e-3, fabs(numeric)) + slack);
    }
}

/* Double-precision reference of color_loss (docs/training.md's definition), on 0..255 values. */
static double reference_color_loss(const double *image, size_t pixels, const double tm[3],
                                   const double tc[9])
{
    double mean[3] = {0, 0, 0}, cov[9] = {0};
    for (size_t p = 0; p < pixels; p++)
        for (int i = 0; i < 3; i++)
            mean[i] += image[p * 3 + i] / 255.0 / pixels;
    for (size_t p = 0; p < pixels; p++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                cov[i * 3 + j] += (image[p * 3 + i] / 255.0 - mean[i]) *
                                  (image[p * 3 + j] / 255.0 - mean[j]) / pixels;
    double trace = tc[0] + tc[4] + tc[8], norm2 = 0, a = 0, b = 0;
    for (int i = 0; i < 9; i++)
        norm2 += tc[i] * tc[i];
    for (int i = 0; i < 3; i++)
        a += (mean[i] - tm[i]) * (mean[i] - tm[i]);
    for (int i = 0; i < 9; i++)
        b += (cov[i] - tc[i]) * (cov[i] - tc[i]);
    return a / trace + b / norm2;
}

static void test_color_statistics_by_hand(void **state)
{
    (void)state;
    /* Two pixels: (0, 51, 255) and (255, 51, 0) -> in [0, 1]: (0, .2, 1), (1, .2, 0).
     * Mean (.5, .2, .5); deviations (-.5, 0, .5), (.5, 0, -.5): covariance
     * [[.25, 0, -.25], [0, 0, 0], [-.25, 0, .25]]. */
    const float image[6] = {0, 51, 255, 255, 51, 0};
    double mean[3], cov[9];
    color_statistics(image, 2, mean, cov);
    const double want_mean[3] = {0.5, 0.2, 0.5};
    const double want_cov[9] = {0.25, 0, -0.25, 0, 0, 0, -0.25, 0, 0.25};
    for (int i = 0; i < 3; i++)
        assert_true(fabs(mean[i] - want_mean[i]) < 1e-12);
    for (int i = 0; i < 9; i++)
        assert_true(fabs(cov[i] - want_cov[i]) < 1e-12);
    /* Against itself the loss is 0; against the flipped image (same statistics) too. */
    float diff[6] = {0};
    assert_true(fabs(color_loss(image, 2, mean, cov, 1.0, diff)) < 1e-12);
    for (int i = 0; i < 6; i++)
        assert_true(fabs(diff[i]) < 1e-9);
    /* A grey target of mean .5 and the same covariance: only the mean term, .09 / tr = .18. */
    const double grey[3] = {0.5, 0.5, 0.5};
    assert_true(fabs(color_loss(image, 2, grey, cov, 2.0, diff) - 2.0 * 0.09 / 0.5) < 1e-9);
}

typedef struct color_case {
    const double *image;
    size_t pixels;
    const double *mean, *cov;
} color_case;

static double color_case_loss(const void *context)
{
    const color_case *c = context;
    return reference_color_loss(c->image, c->pixels, c->mean, c->cov);
}

static void test_color_loss_gradient(void **state)
{
    (void)state;
    const size_t sizes[] = {1 * 1, 3 * 5, 7 * 4};
    test_rng rng = {41};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        const size_t pixels = sizes[s], n = pixels * 3;
        float *x = malloc(n * sizeof *x), *diff = calloc(n, sizeof *diff);
        double *xd = malloc(n * sizeof *xd);
        test_fill_uniform(&rng, x, n, 0, 255);
        /* A random target: the statistics of another random image with a colour cast. */
        float other[12 * 3];
        test_fill_uniform(&rng, other, 36, 0, 255);
        for (int p = 0; p < 12; p++)
            other[p * 3] *= 0.5f;
        double tm[3], tc[9];
        color_statistics(other, 12, tm, tc);
        const double weight = 3.0;
        double got = color_loss(x, pixels, tm, tc, weight, diff);
        for (size_t i = 0; i < n; i++)
            xd[i] = x[i];
        assert_true(fabs(got - weight * reference_color_loss(xd, pixels, tm, tc)) <=
                    1e-9 * fmax(1, fabs(got)));
        const color_case c = {xd, pixels, tm, tc};
        assert_gradient_matches(xd, n, diff, weight, 1e-2, 1e-7, color_case_loss, &c);
        free(x), free(diff), free(xd);
    }
}

/* Double-precision reference of grid_loss: tiles of `tile` rounded down to whole periods,
 * clipped at the edges to whole periods; per tile and channel the population variance of the
 * phase means (each phase's own pixel count), averaged over tiles and channels. */
static double reference_grid_loss(const double *image, int h, int w, int period, int tile)
{
    int step = tile / period * period, tiles = 0;
    double total = 0;
    for (int y0 = 0; y0 + period <= h; y0 += step)
        for (int x0 = 0; x0 + period <= w; x0 += step) {
            int th = (h - y0 < step ? h - y0 : step) / period * period;
            int tw = (w - x0 < step ? w - x0 : step) / period * period;
            tiles++;
            for (int c = 0; c < 3; c++) {
                double sum[64] = {0}, count[64] = {0}, m1 = 0, m2 = 0;
                for (int y = y0; y < y0 + th; y++)
                    for (int x = x0; x < x0 + tw; x++) {
                        int phase = (y % period) * period + x % period;
                        sum[phase] += image[((size_t)y * w + x) * 3 + c] / 255.0;
                        count[phase] += 1;
                    }
                for (int p = 0; p < period * period; p++) {
                    double m = sum[p] / count[p];
                    m1 += m / (period * period);
                    m2 += m * m / (period * period);
                }
                total += m2 - m1 * m1;
            }
        }
    return tiles ? total / (tiles * 3.0) : 0.0;
}

static void test_grid_loss_by_hand(void **state)
{
    (void)state;
    /* 8 x 8, period 4, one tile: 51 (0.2) at phase (0, 0) in every channel, 0 elsewhere.
     * Phase means 0.2 and fifteen 0; their mean 0.2 / 16; variance
     * ((0.2 - 0.0125)^2 + 15 * 0.0125^2) / 16 = 0.2^2 * 15 / 256. */
    float image[8 * 8 * 3] = {0}, diff[8 * 8 * 3] = {0};
    for (int y = 0; y < 8; y += 4)
        for (int x = 0; x < 8; x += 4)
            for (int c = 0; c < 3; c++)
                image[(y * 8 + x) * 3 + c] = 51;
    assert_true(fabs(grid_loss(image, 8, 8, 4, 8, 2.0, diff) - 2.0 * 0.04 * 15 / 256) < 1e-12);
    /* A flat image costs nothing and has no gradient. */
    float flat[8 * 8 * 3], zero[8 * 8 * 3] = {0};
    for (int i = 0; i < 8 * 8 * 3; i++)
        flat[i] = 77;
    memset(diff, 0, sizeof diff);
    assert_true(fabs(grid_loss(flat, 8, 8, 4, 8, 1.0, diff)) < 1e-15);
    for (int i = 0; i < 8 * 8 * 3; i++)
        assert_true(fabs(diff[i]) < 1e-12);
    /* Smaller than one period: nothing measured. */
    assert_true(grid_loss(zero, 3, 3, 4, 8, 1.0, diff) == 0.0);
}

typedef struct grid_case {
    const double *image;
    int h, w, period, tile;
} grid_case;

static double grid_case_loss(const void *context)
{
    const grid_case *c = context;
    return reference_grid_loss(c->image, c->h, c->w, c->period, c->tile);
}

static void test_grid_loss_gradient(void **state)
{
    (void)state;
    /* Odd sizes, partial tiles at the edges, tiles that are not whole periods. */
    const int cases[][4] = {{9, 13, 4, 8}, {16, 16, 4, 32}, {7, 5, 2, 3}, {12, 21, 3, 9}};
    test_rng rng = {43};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int h = cases[k][0], w = cases[k][1], period = cases[k][2], tile = cases[k][3];
        const size_t n = (size_t)h * w * 3;
        float *x = malloc(n * sizeof *x), *diff = calloc(n, sizeof *diff);
        double *xd = malloc(n * sizeof *xd);
        test_fill_uniform(&rng, x, n, 0, 255);
        for (size_t i = 0; i < n; i++)
            xd[i] = x[i];
        const double weight = 7.0;
        double got = grid_loss(x, h, w, period, tile, weight, diff);
        double want = weight * reference_grid_loss(xd, h, w, period, tile);
        assert_true(want > 0);
        assert_true(fabs(got - want) <= 1e-9 * want);
        const grid_case c = {xd, h, w, period, tile};
        assert_gradient_matches(xd, n, diff, weight, 1e-1, 1e-8, grid_case_loss, &c);
        free(x), free(diff), free(xd);
    }
}

/* Double-precision bilinear sample of channel c at (y, x), indices clamped to the image. */
static double reference_bilinear(const double *image, int size, double y, double x, int c)
{
    int y0 = (int)floor(y), x0 = (int)floor(x);
    double ay = y - y0, ax = x - x0, v = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int yy = y0 + i < 0 ? 0 : y0 + i >= size ? size - 1 : y0 + i;
            int xx = x0 + j < 0 ? 0 : x0 + j >= size ? size - 1 : x0 + j;
            v += (i ? ay : 1 - ay) * (j ? ax : 1 - ax) * image[((size_t)yy * size + xx) * 3 + c];
        }
    return v;
}

/* The temporal loss by its definition (docs/training.md), on 0..255 values. */
static double reference_temporal_loss(const double *first, const double *moved, int size, double dy,
                                      double dx)
{
    double sum = 0;
    long count = 0;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double sy = y + dy, sx = x + dx;
            if (sy < 0 || sx < 0 || sy > size - 1 || sx > size - 1) continue;
            count++;
            for (int c = 0; c < 3; c++) {
                double r = (moved[((size_t)y * size + x) * 3 + c] -
                            reference_bilinear(first, size, sy, sx, c)) /
                           255.0;
                sum += r * r;
            }
        }
    return count ? sum / (count * 3.0) : 0.0;
}

static void test_temporal_shift_by_hand(void **state)
{
    (void)state;
    /* A whole-pixel move is a copy of the moved pixels (edges repeated); half a pixel is the
     * mean of two neighbours. */
    enum { size = 5 };
    float image[size * size * 3], moved[size * size * 3];
    for (int i = 0; i < size * size * 3; i++)
        image[i] = (float)(i * 7 % 251);
    temporal_shift_image(image, size, 1.0, -2.0, moved);
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++)
            for (int c = 0; c < 3; c++) {
                int sy = y + 1 > size - 1 ? size - 1 : y + 1, sx = x - 2 < 0 ? 0 : x - 2;
                assert_true(moved[(y * size + x) * 3 + c] == image[(sy * size + sx) * 3 + c]);
            }
    temporal_shift_image(image, size, 0.0, 0.5, moved);
    assert_true(fabs(moved[(2 * size + 1) * 3 + 2] -
                     0.5 * (image[(2 * size + 1) * 3 + 2] + image[(2 * size + 2) * 3 + 2])) < 1e-4);
    /* The first image against itself moved by whole pixels: nothing to pay. */
    float diff_first[size * size * 3] = {0}, diff_moved[size * size * 3] = {0};
    temporal_shift_image(image, size, -1.0, 1.0, moved);
    assert_true(temporal_loss(image, moved, size, -1.0, 1.0, 3.0, diff_first, diff_moved) == 0.0);
    /* Moved by more than the image: no pixel is compared. */
    assert_true(temporal_loss(image, moved, size, 0.0, 6.0, 3.0, diff_first, diff_moved) == 0.0);
}

typedef struct temporal_case {
    const double *first, *moved;
    int size;
    double dy, dx;
} temporal_case;

static double temporal_case_loss(const void *context)
{
    const temporal_case *c = context;
    return reference_temporal_loss(c->first, c->moved, c->size, c->dy, c->dx);
}

static void test_temporal_loss_gradient(void **state)
{
    (void)state;
    const int sizes[] = {3, 8, 11};
    const double moves[][2] = {{0.25, -1.5}, {-2.75, 3.125}, {1.0, 0.0}};
    test_rng rng = {47};
    for (int k = 0; k < 3; k++) {
        const int size = sizes[k];
        const double dy = moves[k][0], dx = moves[k][1];
        const size_t n = (size_t)size * size * 3;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        float *da = calloc(n, sizeof *da), *db = calloc(n, sizeof *db);
        double *ad = malloc(n * sizeof *ad), *bd = malloc(n * sizeof *bd);
        test_fill_uniform(&rng, a, n, 0, 255);
        test_fill_uniform(&rng, b, n, 0, 255);
        for (size_t i = 0; i < n; i++)
            ad[i] = a[i], bd[i] = b[i];
        const double weight = 5.0;
        double got = temporal_loss(a, b, size, dy, dx, weight, da, db);
        double want = weight * reference_temporal_loss(ad, bd, size, dy, dx);
        assert_true(want > 0);
        assert_true(fabs(got - want) <= 1e-9 * want);
        const temporal_case c = {ad, bd, size, dy, dx};
        assert_gradient_matches(ad, n, da, weight, 1e-1, 1e-8, temporal_case_loss, &c);
        assert_gradient_matches(bd, n, db, weight, 1e-1, 1e-8, temporal_case_loss, &c);
        free(a), free(b), free(da), free(db), free(ad), free(bd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_color_statistics_by_hand),
        cmocka_unit_test(test_color_loss_gradient),
        cmocka_unit_test(test_grid_loss_by_hand),
        cmocka_unit_test(test_grid_loss_gradient),
        cmocka_unit_test(test_temporal_shift_by_hand),
        cmocka_unit_test(test_temporal_loss_gradient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
