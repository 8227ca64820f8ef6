/*
 * Colour distance of `libstyle evaluate`: Gaussians fitted to two images' CIELAB pixels,
 * compared by their 2-Wasserstein distance (evaluate_metrics.h, docs/quality.md).
 */
#include "evaluate/evaluate_metrics.h"

#include <math.h>
#include <string.h>

/* sRGB (IEC 61966-2-1) to linear light. */
static double srgb_to_linear(double v)
{
    return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

/* CIE 1976 L*a*b* companding. */
static double lab_f(double t)
{
    const double delta = 6.0 / 29.0;
    return t > delta * delta * delta ? cbrt(t) : t / (3.0 * delta * delta) + 4.0 / 29.0;
}

void color_srgb_to_lab(const float rgb[3], double lab[3])
{
    double r = srgb_to_linear(rgb[0] / 255.0), g = srgb_to_linear(rgb[1] / 255.0),
           b = srgb_to_linear(rgb[2] / 255.0);
    /* Linear sRGB to XYZ (D65), divided by the D65 white (0.95047, 1, 1.08883). */
    double x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047;
    double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    double z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    lab[0] = 116.0 * fy - 16.0;
    lab[1] = 500.0 * (fx - fy);
    lab[2] = 200.0 * (fy - fz);
}

void color_stats_of(const float *rgb, size_t pixels, color_stats *out)
{
    double sum[3] = {0}, cross[3][3] = {{0}};
    for (size_t i = 0; i < pixels; i++) {
        double lab[3];
        color_srgb_to_lab(rgb + 3 * i, lab);
        for (int a = 0; a < 3; a++) {
            sum[a] += lab[a];
            for (int b = 0; b < 3; b++)
                cross[a][b] += lab[a] * lab[b];
        }
    }
    memset(out, 0, sizeof *out);
    if (!pixels) return;
    const double n = (double)pixels;
    for (int a = 0; a < 3; a++)
        out->mean[a] = sum[a] / n;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            out->cov[a][b] = cross[a][b] / n - out->mean[a] * out->mean[b];
}

/* Eigen-decomposition of a symmetric 3x3 matrix by cyclic Jacobi rotations: a = v diag(w) v^T. */
static void symmetric_eigen(const double a_in[3][3], double w[3], double v[3][3])
{
    double a[3][3];
    memcpy(a, a_in, sizeof a);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            v[i][j] = i == j;
    for (int sweep = 0; sweep < 64; sweep++) {
        double off = fabs(a[0][1]) + fabs(a[0][2]) + fabs(a[1][2]);
        double scale = fabs(a[0][0]) + fabs(a[1][1]) + fabs(a[2][2]);
        if (off <= 1e-15 * scale || off == 0) break;
        for (int p = 0; p < 2; p++)
            for (int q = p + 1; q < 3; q++) {
                if (a[p][q] == 0) continue;
                double theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < 3; k++) { /* a = J^T a J, columns then rows */
                    double akp = a[k][p], akq = a[k][q];
                    a[k][p] = c * akp - s * akq;
                    a[k][q] = s * akp + c * akq;
                }
                for (int k = 0; k < 3; k++) {
                    double apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for (int k = 0; k < 3; k++) {
                    double vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c * vkp - s * vkq;
                    v[k][q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < 3; i++)
        w[i] = a[i][i];
}

/* The symmetric positive semi-definite square root (negative eigenvalues, rounding, as 0). */
static void symmetric_sqrt(const double a[3][3], double out[3][3])
{
    double w[3], v[3][3];
    symmetric_eigen(a, w, v);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++)
                s += v[i][k] * sqrt(w[k] > 0 ? w[k] : 0) * v[j][k];
            out[i][j] = s;
        }
}

static void multiply3(const double a[3][3], const double b[3][3], double out[3][3])
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int k = 0; k < 3; k++)
                s += a[i][k] * b[k][j];
            out[i][j] = s;
        }
}

double color_distance(const color_stats *a, const color_stats *b)
{
    double mean2 = 0;
    for (int i = 0; i < 3; i++)
        mean2 += (a->mean[i] - b->mean[i]) * (a->mean[i] - b->mean[i]);
    double root_a[3][3], tmp[3][3], middle[3][3], root_middle[3][3];
    symmetric_sqrt(a->cov, root_a);
    multiply3(root_a, b->cov, tmp);
    multiply3(tmp, root_a, middle);
    for (int i = 0; i < 3; i++) /* symmetric up to rounding: make it exactly so */
        for (int j = i + 1; j < 3; j++)
            middle[i][j] = middle[j][i] = 0.5 * (middle[i][j] + middle[j][i]);
    symmetric_sqrt(middle, root_middle);
    double trace = 0;
    for (int i = 0; i < 3; i++)
        trace += a->cov[i][i] + b->cov[i][i] - 2.0 * root_middle[i][i];
    double d2 = mean2 + (trace > 0 ? trace : 0);
    return sqrt(d2);
}
