/* The AdaIN layer: per-channel statistics, the feature transform and its gradients. */
#include "arch/adain.h"

#include <math.h>
#include <string.h>

void adain_statistics_region(const float *features, int32_t rows, int32_t cols, int32_t row_stride,
                             int32_t c, float *mean, float *std)
{
    const double count = (double)rows * cols;
    for (int32_t k = 0; k < c; k++) {
        double sum = 0;
        for (int32_t y = 0; y < rows; y++)
            for (int32_t x = 0; x < cols; x++)
                sum += features[((size_t)y * row_stride + x) * c + k];
        double m = sum / count, var = 0;
        for (int32_t y = 0; y < rows; y++)
            for (int32_t x = 0; x < cols; x++) {
                double d = features[((size_t)y * row_stride + x) * c + k] - m;
                var += d * d;
            }
        mean[k] = (float)m;
        std[k] = (float)sqrt(var / count + ADAIN_EPS);
    }
}

void adain_statistics_weighted(const float *features, const float *weights, int32_t hw, int32_t c,
                               float *mean, float *std)
{
    double total = 0;
    for (int32_t p = 0; p < hw; p++)
        total += weights[p];
    for (int32_t k = 0; k < c; k++) {
        double sum = 0;
        for (int32_t p = 0; p < hw; p++)
            sum += (double)weights[p] * features[(size_t)p * c + k];
        double m = sum / total, var = 0;
        for (int32_t p = 0; p < hw; p++) {
            double d = features[(size_t)p * c + k] - m;
            var += weights[p] * d * d;
        }
        mean[k] = (float)m;
        std[k] = (float)sqrt(var / total + ADAIN_EPS);
    }
}

void adain_statistics(const float *features, int32_t hw, int32_t c, float *mean, float *std)
{
    adain_statistics_region(features, 1, hw, hw, c, mean, std);
}

void adain_apply(const float *x, int32_t hw, int32_t c, const float *mean, const float *std,
                 const float *style_mean, const float *style_std, float alpha, float *out)
{
    /* out = a * x + b per channel. */
    float a[c], b[c];
    for (int32_t k = 0; k < c; k++) {
        double gain = (double)style_std[k] / std[k];
        a[k] = (float)(alpha * gain + (1.0 - alpha));
        b[k] = (float)(alpha * (style_mean[k] - gain * mean[k]));
    }
    for (int32_t p = 0; p < hw; p++) {
        const float *row = x + (size_t)p * c;
        float *dst = out + (size_t)p * c;
        for (int32_t k = 0; k < c; k++)
            dst[k] = a[k] * row[k] + b[k];
    }
}

void adain_forward(const float *x, int32_t hw, int32_t c, const float *style_mean,
                   const float *style_std, float alpha, float *out)
{
    float mean[c], std[c];
    adain_statistics(x, hw, c, mean, std);
    adain_apply(x, hw, c, mean, std, style_mean, style_std, alpha, out);
}

/*
 * With xh = (x - mean) / std and g = alpha * style_std * diff_out, the normalization's
 * backward (biased variance, eps inside std) is exactly
 *   dx = (g - mean(g) - xh * mean(g * xh)) / std,
 * plus (1 - alpha) * diff_out from the identity path.
 */
void adain_backward(const float *x, int32_t hw, int32_t c, const float *style_std, float alpha,
                    const float *diff_out, float *diff_x, float *diff_style_mean,
                    float *diff_style_std)
{
    float mean[c], std[c];
    adain_statistics(x, hw, c, mean, std);
    double sum_d[c], sum_dxh[c];
    memset(sum_d, 0, sizeof sum_d);
    memset(sum_dxh, 0, sizeof sum_dxh);
    for (int32_t p = 0; p < hw; p++)
        for (int32_t k = 0; k < c; k++) {
            size_t i = (size_t)p * c + k;
            double xh = (x[i] - mean[k]) / std[k];
            sum_d[k] += diff_out[i];
            sum_dxh[k] += diff_out[i] * xh;
        }
    for (int32_t k = 0; k < c; k++) {
        if (diff_style_mean) diff_style_mean[k] = (float)(alpha * sum_d[k]);
        if (diff_style_std) diff_style_std[k] = (float)(alpha * sum_dxh[k]);
    }
    for (int32_t p = 0; p < hw; p++)
        for (int32_t k = 0; k < c; k++) {
            size_t i = (size_t)p * c + k;
            double g_scale = alpha * style_std[k];
            double xh = (x[i] - mean[k]) / std[k];
            double g = g_scale * diff_out[i];
            double dx = (g - g_scale * sum_d[k] / hw - xh * g_scale * sum_dxh[k] / hw) / std[k];
            diff_x[i] = (float)(dx + (1.0 - alpha) * diff_out[i]);
        }
}
