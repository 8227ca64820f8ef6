/*
 * High-frequency artifact score of `libstyle evaluate` (evaluate_metrics.h,
 * docs/quality.md): the share of an image's high-frequency spectral power that sits in
 * isolated periodic peaks (a hatch or checkerboard), relative to the Gatys result's. The
 * spectrum comes from KISS FFT (Debian's libkissfft, BSD-licensed: FFTW is GPL, and
 * libstyle.so stays linkable under MIT terms); Debian builds it in single precision, which is
 * ample for a ratio of spectral powers.
 */
#include "evaluate/evaluate_metrics.h"

#include <kiss_fftnd.h>
#include <math.h>
#include <stdlib.h>

/* Signed frequency of index i of n bins, in cycles per sample. */
static double frequency(int32_t i, int32_t n)
{
    return (double)(i <= n / 2 ? i : i - n) / (double)n;
}

double artifact_peak_fraction_of_spectrum(const double *power, int32_t width, int32_t height,
                                          double *scratch)
{
    const int32_t r = ARTIFACT_NEIGHBOUR_RADIUS, side = 2 * r + 1;
    double band = 0, peaks = 0;
    for (int32_t v = 0; v < height; v++) {
        double fv = frequency(v, height);
        for (int32_t u = 0; u < width; u++) {
            double fu = frequency(u, width);
            if (sqrt(fu * fu + fv * fv) < ARTIFACT_MIN_FREQUENCY) continue;
            const double p = power[(size_t)v * width + u];
            band += p;
            int32_t n = 0;
            for (int32_t dv = -r; dv <= r; dv++)
                for (int32_t du = -r; du <= r; du++) {
                    int32_t vv = ((v + dv) % height + height) % height;
                    int32_t uu = ((u + du) % width + width) % width;
                    scratch[n++] = power[(size_t)vv * width + uu];
                }
            double median = median_of(scratch, (size_t)side * side);
            if (p > ARTIFACT_PEAK_FACTOR * median) peaks += p - median;
        }
    }
    return band > 0 ? peaks / band : 0.0;
}

/* The periodic Hann window of n samples (1 for n = 1). */
static double hann(int32_t i, int32_t n)
{
    return n > 1 ? 0.5 - 0.5 * cos(2.0 * M_PI * i / n) : 1.0;
}

style_status artifact_peak_fraction(const float *rgb, int32_t width, int32_t height,
                                    double *fraction)
{
    style_status status = STYLE_OK;
    const size_t pixels = (size_t)width * height;
    kiss_fft_cpx *luma = NULL, *spectrum = NULL;
    double *power = NULL, *scratch = NULL;
    kiss_fftnd_cfg plan = NULL;
    *fraction = 0;
    FAIL_IF(width < 1 || height < 1, STYLE_ERR_INVALID_ARGUMENT, "artifact score: empty image");
    luma = style__malloc(pixels * sizeof *luma);
    spectrum = style__malloc(pixels * sizeof *spectrum);
    power = style__malloc(pixels * sizeof *power);
    scratch = style__malloc((2 * ARTIFACT_NEIGHBOUR_RADIUS + 1) *
                            (2 * ARTIFACT_NEIGHBOUR_RADIUS + 1) * sizeof *scratch);
    FAIL_IF(!luma || !spectrum || !power || !scratch, STYLE_ERR_NOMEM,
            "artifact score: out of memory for a %dx%d spectrum", width, height);
    double mean = 0;
    for (size_t i = 0; i < pixels; i++) {
        const float *p = rgb + 3 * i;
        mean += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    }
    mean /= (double)pixels;
    for (int32_t y = 0; y < height; y++)
        for (int32_t x = 0; x < width; x++) {
            size_t i = (size_t)y * width + x;
            const float *p = rgb + 3 * i;
            double value = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            luma[i].r = (float)((value - mean) * hann(x, width) * hann(y, height));
            luma[i].i = 0;
        }
    const int dims[2] = {height, width}; /* row-major: rows, then columns */
    plan = kiss_fftnd_alloc(dims, 2, 0, NULL, NULL);
    FAIL_IF(!plan, STYLE_ERR_NOMEM, "artifact score: no FFT plan for %dx%d", width, height);
    kiss_fftnd(plan, luma, spectrum);
    for (size_t i = 0; i < pixels; i++)
        power[i] = (double)spectrum[i].r * spectrum[i].r + (double)spectrum[i].i * spectrum[i].i;
    *fraction = artifact_peak_fraction_of_spectrum(power, width, height, scratch);
fail:
    kiss_fft_free(plan);
    style__free(luma);
    style__free(spectrum);
    style__free(power);
    style__free(scratch);
    return status;
}

double artifact_score(double model_fraction, double gatys_fraction)
{
    return model_fraction / (gatys_fraction > ARTIFACT_FLOOR ? gatys_fraction : ARTIFACT_FLOOR);
}
