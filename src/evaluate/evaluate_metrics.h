/*
 * The measures of `libstyle evaluate` (style_evaluate, docs/quality.md), each a pure function
 * of pixels or numbers so that tests can check it against hand-computed values:
 *   - colour distance: the 2-Wasserstein (Frechet) distance between Gaussians fitted to two
 *     images' CIELAB pixels (color_distance.c);
 *   - periodic-peak fraction of an image's high-frequency spectrum, whose ratio to the Gatys
 *     result's is the artifact score (artifact_score.c);
 *   - Gatys-equivalent iterations: where a loss falls on an optimiser's loss curve
 *     (gatys_equivalent.c).
 * Images are packed RGB floats, 0..255 sRGB, width x height x 3.
 */
#ifndef STYLE_EVALUATE_METRICS_H
#define STYLE_EVALUATE_METRICS_H

#include "core/common.h"

/* ---- Colour ---------------------------------------------------------------------------- */

/* One sRGB colour (0..255) to CIELAB (D65 white, L in 0..100). */
void color_srgb_to_lab(const float rgb[3], double lab[3]);

/* Mean and covariance (population: divided by the pixel count) of an image's Lab pixels. */
typedef struct color_stats {
    double mean[3];
    double cov[3][3];
} color_stats;

void color_stats_of(const float *rgb, size_t pixels, color_stats *out);

/*
 * The 2-Wasserstein distance between N(mean_a, cov_a) and N(mean_b, cov_b):
 *   sqrt(|mean_a - mean_b|^2 + tr(cov_a + cov_b - 2 (cov_a^1/2 cov_b cov_a^1/2)^1/2))
 * in Lab units (Delta E 1976 for two flat colours).
 */
double color_distance(const color_stats *a, const color_stats *b);

/* ---- Artifacts -------------------------------------------------------------------------- */

/* The high-frequency band: radial frequency of at least this many cycles per pixel. */
#define ARTIFACT_MIN_FREQUENCY (1.0 / 16.0)
/* A bin is a peak when its power exceeds this many times its neighbourhood's median. */
#define ARTIFACT_PEAK_FACTOR 10.0
/* The neighbourhood: (2 * radius + 1)^2 bins around it (circularly). */
#define ARTIFACT_NEIGHBOUR_RADIUS 4

/*
 * Of a power spectrum (height x width bins, row-major, bin (v, u) for frequencies
 * (v / height, u / width) cycles per pixel, indices above half meaning negative frequencies):
 * the share of the high-frequency band's power that lies in periodic peaks,
 *   sum over peak bins of (P - median) / sum over band bins of P    (0 when the band is empty),
 * counting the band's bins whose power exceeds ARTIFACT_PEAK_FACTOR x the median of the
 * neighbourhood. `scratch` holds (2 * radius + 1)^2 doubles.
 */
double artifact_peak_fraction_of_spectrum(const double *power, int32_t width, int32_t height,
                                          double *scratch);

/*
 * The same for an image: the power spectrum (KISS FFT) of its BT.601 luma with the mean removed
 * and a separable periodic Hann window applied (so the image's borders make no false peaks).
 */
style_status artifact_peak_fraction(const float *rgb, int32_t width, int32_t height,
                                    double *fraction);

/* The artifact score: fraction(model output) / fraction(Gatys result), with the denominator
 * floored at ARTIFACT_FLOOR so a spectrum without peaks does not divide by zero. */
#define ARTIFACT_FLOOR 0.01
double artifact_score(double model_fraction, double gatys_fraction);

/* ---- Gatys-equivalent iterations ---------------------------------------------------------- */

/*
 * curve[0..count-1]: the total loss after 0, 1, ... count-1 iterations (curve[0]: the photo).
 * Returns the iterations at which the curve (made non-increasing: its running minimum)
 * reaches `loss`, linearly interpolated between neighbouring iterations; 0 when loss >=
 * curve[0] (no better than the photo); and sets *beyond (the model beat the last iteration,
 * reported ">count-1") when loss < the curve's minimum, returning count - 1.
 */
double gatys_equivalent_iterations(const double *curve, size_t count, double loss, bool *beyond);

/* The median of values (sorted in place); 0 for none. */
double median_of(double *values, size_t count);

#endif
