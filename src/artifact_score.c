/*
 * High-frequency artifact score of `libstyle evaluate` (evaluate_metrics.h,
 * docs/quality.md): the share of an image's high-frequency spectral power that sits in
 * isolated periodic peaks (a hatch or checkerboard), relative to the Gatys result's. The
 * spectrum comes from FFTW (libfftw3).
 */
#include "evaluate_metrics.h"

#include <fftw3.h>
#include <math.h>
#include <pthread.h>
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

/* FFTW's planner is not thread-safe (fftw_execute is): plans are made and destroyed under
 * this lock. */
static pthread_mutex_t fftw_planner = PTHREAD_MUTEX_INITIALIZER;

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
    const int32_t half = width / 2 + 1;
    double *luma = NULL, *power = NULL, *scratch = NULL;
    fftw_complex *spectrum = NULL;
    fftw_plan plan = NULL;
    *fraction = 0;
    FAIL_IF(width < 1 || height < 1, STYLE_ERR_INVALID_ARGUMENT, "artifact score: empty image");
    luma = fftw_alloc_real(pixels);
    spectrum = fftw_alloc_complex((size_t)height * half);
    power = style__malloc(pixels * sizeof *power);
    scratch = style__malloc((2 * ARTIFACT_NEIGHBOUR_RADIUS + 1) *
                            (2 * ARTIFACT_NEIGHBOUR_RADIUS + 1) * sizeof *scratch);
    FAIL_IF(!luma || !spectrum || !power || !scratch, STYLE_ERR_NOMEM,
            "artifact score: out of memory for a %dx%d spectrum", width, height);
    double mean = 0;
    for (size_t i = 0; i < pixels; i++) {
        const float *p = rgb + 3 * i;
        luma[i] = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        mean += luma[i];
    }
    mean /= (double)pixels;
    for (int32_t y = 0; y < height; y++)
        for (int32_t x = 0; x < width; x++) {
            size_t i = (size_t)y * width + x;
            luma[i] = (luma[i] - mean) * hann(x, width) * hann(y, height);
        }
    pthread_mutex_lock(&fftw_planner);
    plan = fftw_plan_dft_r2c_2d(height, width, luma, spectrum, FFTW_ESTIMATE);
    pthread_mutex_unlock(&fftw_planner);
    FAIL_IF(!plan, STYLE_ERR_INTERNAL, "artifact score: no FFT plan for %dx%d", width, height);
    fftw_execute(plan);
    /* The full spectrum from the half a real transform gives: P(v, u) = P(-v, -u). */
    for (int32_t v = 0; v < height; v++)
        for (int32_t u = 0; u < width; u++) {
            int32_t hu = u, hv = v;
            if (u >= half) hu = width - u, hv = (height - v) % height;
            const double *c = spectrum[(size_t)hv * half + hu];
            power[(size_t)v * width + u] = c[0] * c[0] + c[1] * c[1];
        }
    *fraction = artifact_peak_fraction_of_spectrum(power, width, height, scratch);
fail:
    if (plan) {
        pthread_mutex_lock(&fftw_planner);
        fftw_destroy_plan(plan);
        pthread_mutex_unlock(&fftw_planner);
    }
    fftw_free(luma);
    fftw_free(spectrum);
    style__free(power);
    style__free(scratch);
    return status;
}

double artifact_score(double model_fraction, double gatys_fraction)
{
    return model_fraction / (gatys_fraction > ARTIFACT_FLOOR ? gatys_fraction : ARTIFACT_FLOOR);
}
