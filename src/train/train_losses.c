/* Content, Gram-matrix style and total-variation losses with their gradients. */
#include "train/train_losses.h"

#include "arch/adain.h"
#include "dnn/dnn_gemm.h"

#include <stdlib.h>
#include <string.h>

void gram_matrix(const float *features, int32_t hw, int32_t c, float *gram)
{
    /* G = F^T F / (c hw): F is hw x c row-major. */
    dnn_gemm('T', 'N', c, c, hw, 1.0f / ((float)c * (float)hw), features, c, features, c, 0.0f,
             gram, c);
}

double gram_norm2(const float *gram, int32_t c)
{
    double sum = 0;
    for (size_t i = 0; i < (size_t)c * c; i++) sum += (double)gram[i] * gram[i];
    return sum;
}

double style_loss(const float *features, int32_t hw, int32_t c, const float *target,
                  double target_norm2, double weight, float *gram, float *delta, float *diff)
{
    if (!(target_norm2 > 0)) target_norm2 = 1e-12;
    gram_matrix(features, hw, c, gram);
    double loss = 0;
    const double scale = 2.0 * weight / target_norm2;
    for (size_t i = 0; i < (size_t)c * c; i++) {
        double d = (double)gram[i] - target[i];
        loss += d * d;
        delta[i] = (float)(scale * d); /* dL/dG, symmetric */
    }
    /* dL/dF = 2 F (dL/dG) / (c hw) */
    dnn_gemm('N', 'N', hw, c, c, 2.0f / ((float)c * (float)hw), features, c, delta, c, 1.0f, diff,
             c);
    return weight * loss / target_norm2;
}

double content_loss(const float *features, const float *target, size_t count, double weight,
                    float *diff)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < count; i++) {
        double d = (double)features[i] - target[i];
        num += d * d;
        den += (double)target[i] * target[i];
    }
    if (!(den > 0)) den = 1e-12;
    const float scale = (float)(2.0 * weight / den);
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < count; i++) diff[i] += scale * (features[i] - target[i]);
    return weight * num / den;
}

double tv_loss(const float *image, int32_t h, int32_t w, double weight, float *diff)
{
    /* On x/255: d/dx255 of mean((x/255)^2 diffs) = 2 (x_a - x_b) / 255^2 / count. */
    const double s = 1.0 / (255.0 * 255.0);
    double vertical = 0, horizontal = 0;
    const double nv = (double)(h - 1) * w * 3, nh = (double)h * (w - 1) * 3;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                size_t at = ((size_t)y * w + x) * 3 + c;
                if (y + 1 < h) {
                    double d = (double)image[at + (size_t)w * 3] - image[at];
                    vertical += d * d;
                    float g = (float)(weight * 2.0 * s * d / nv);
                    diff[at + (size_t)w * 3] += g;
                    diff[at] -= g;
                }
                if (x + 1 < w) {
                    double d = (double)image[at + 3] - image[at];
                    horizontal += d * d;
                    float g = (float)(weight * 2.0 * s * d / nh);
                    diff[at + 3] += g;
                    diff[at] -= g;
                }
            }
    double loss = (nv > 0 ? vertical / nv : 0) + (nh > 0 ? horizontal / nh : 0);
    return weight * s * loss;
}

double grid_loss(const float *image, int32_t h, int32_t w, int32_t period, int32_t tile,
                 double weight, float *diff)
{
    /* Tiles shrink at the edges to a whole number of periods, so every phase of a tile has
     * the same pixel count; the fewer than `period` rows and columns left over are not
     * measured. */
    const int32_t step = tile / period * period;
    if (period < 1 || step < period || h < period || w < period) return 0.0;
    const size_t tiles = (size_t)((h - period) / step + 1) * (size_t)((w - period) / step + 1);
    const double s = 1.0 / 255.0, phases = (double)period * period;
    /* The loss is the mean over tiles and channels of the phase means' variance. */
    const double scale = weight / ((double)tiles * 3.0);
    double *means = calloc((size_t)period * period, sizeof *means), sum = 0;
    if (!means) return 0.0;
    for (int32_t y0 = 0; y0 + period <= h; y0 += step)
        for (int32_t x0 = 0; x0 + period <= w; x0 += step) {
            const int32_t th = (h - y0 < step ? h - y0 : step) / period * period;
            const int32_t tw = (w - x0 < step ? w - x0 : step) / period * period;
            const double per_phase = (double)(th / period) * (tw / period);
            for (int c = 0; c < 3; c++) {
                double mean = 0;
                for (int32_t p = 0; p < period * period; p++)
                    means[p] = 0;
                for (int32_t y = 0; y < th; y++)
                    for (int32_t x = 0; x < tw; x++)
                        means[(y % period) * period + x % period] +=
                            image[((size_t)(y0 + y) * w + x0 + x) * 3 + c] * s;
                for (int32_t p = 0; p < period * period; p++) {
                    means[p] /= per_phase;
                    mean += means[p] / phases;
                }
                for (int32_t p = 0; p < period * period; p++) {
                    means[p] -= mean; /* reused: the phase's deviation from the tile's mean */
                    sum += means[p] * means[p] / phases;
                }
                /* d/dx of sum_p (m_p - mean)^2 / phases = 2 (m_p(x) - mean) / (per_phase
                 * phases): the mean's own term vanishes, the deviations sum to zero. */
                for (int32_t y = 0; y < th; y++)
                    for (int32_t x = 0; x < tw; x++)
                        diff[((size_t)(y0 + y) * w + x0 + x) * 3 + c] +=
                            (float)(scale * 2.0 * means[(y % period) * period + x % period] * s /
                                    (per_phase * phases));
            }
        }
    free(means);
    return scale * sum;
}

double moment_loss(const float *features, int32_t hw, int32_t c, const float *target_mean,
                   const float *target_std, double weight, float *mean, float *std, float *diff)
{
    adain_statistics(features, hw, c, mean, std);
    double norm2 = 0, loss = 0;
    for (int32_t k = 0; k < c; k++) {
        norm2 += (double)target_mean[k] * target_mean[k] + (double)target_std[k] * target_std[k];
        double dm = (double)mean[k] - target_mean[k], ds = (double)std[k] - target_std[k];
        loss += dm * dm + ds * ds;
    }
    if (!(norm2 > 0)) norm2 = 1e-12;
    const double scale = 2.0 * weight / norm2 / hw;
    /* d mean_k / dF = 1 / hw; d std_k / dF = (F - mean_k) / (hw std_k). */
    for (int32_t k = 0; k < c; k++) {
        double a = scale * ((double)mean[k] - target_mean[k]);
        double b = scale * ((double)std[k] - target_std[k]) / std[k];
        mean[k] = (float)(a - b * mean[k]); /* reused: diff = a + b (F - mean) = b F + a' */
        std[k] = (float)b;
    }
    for (int32_t p = 0; p < hw; p++)
        for (int32_t k = 0; k < c; k++) {
            size_t i = (size_t)p * c + k;
            diff[i] += std[k] * features[i] + mean[k];
        }
    return weight * loss / norm2;
}

void color_statistics(const float *image, size_t pixels, double mean[3], double cov[9])
{
    const double s = 1.0 / 255.0;
    double sum[3] = {0, 0, 0}, sq[9] = {0};
    for (size_t p = 0; p < pixels; p++)
        for (int i = 0; i < 3; i++)
            sum[i] += image[p * 3 + i] * s;
    const double n = pixels ? (double)pixels : 1.0;
    for (int i = 0; i < 3; i++)
        mean[i] = sum[i] / n;
    /* Centred second moments: no cancellation when the colours are nearly constant. */
    for (size_t p = 0; p < pixels; p++) {
        double d[3];
        for (int i = 0; i < 3; i++)
            d[i] = image[p * 3 + i] * s - mean[i];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                sq[i * 3 + j] += d[i] * d[j];
    }
    for (int i = 0; i < 9; i++)
        cov[i] = sq[i] / n;
}

double color_loss(const float *image, size_t pixels, const double target_mean[3],
                  const double target_cov[9], double weight, float *diff)
{
    double mean[3], cov[9];
    color_statistics(image, pixels, mean, cov);
    double trace = target_cov[0] + target_cov[4] + target_cov[8], norm2 = 0;
    for (int i = 0; i < 9; i++)
        norm2 += target_cov[i] * target_cov[i];
    if (!(trace > 0)) trace = 1e-12;
    if (!(norm2 > 0)) norm2 = 1e-12;
    double mean_term = 0, cov_term = 0, dm[3], dc[9];
    for (int i = 0; i < 3; i++) {
        dm[i] = mean[i] - target_mean[i];
        mean_term += dm[i] * dm[i];
    }
    for (int i = 0; i < 9; i++) {
        dc[i] = cov[i] - target_cov[i];
        cov_term += dc[i] * dc[i];
    }
    /* d/dx_p: 2 dm / (n tr) + 4 D (x_p - mean) / (n ||C||^2), on x in [0, 1]; then / 255. */
    const double n = pixels ? (double)pixels : 1.0, s = 1.0 / 255.0;
    double a[3], b[9];
    for (int i = 0; i < 3; i++)
        a[i] = weight * s * 2.0 * dm[i] / (n * trace);
    for (int i = 0; i < 9; i++)
        b[i] = weight * s * 4.0 * dc[i] / (n * norm2);
#pragma omp parallel for schedule(static)
    for (size_t p = 0; p < pixels; p++) {
        double d[3];
        for (int i = 0; i < 3; i++)
            d[i] = image[p * 3 + i] * s - mean[i];
        for (int i = 0; i < 3; i++)
            diff[p * 3 + i] +=
                (float)(a[i] + b[i * 3] * d[0] + b[i * 3 + 1] * d[1] + b[i * 3 + 2] * d[2]);
    }
    return weight * (mean_term / trace + cov_term / norm2);
}
