/*
 * Gatys-equivalent iterations (evaluate_metrics.h): where a feed-forward model's loss falls
 * on Gatys' optimisation curve of the same photo, and the median over photos.
 */
#include "evaluate/evaluate_metrics.h"

#include <math.h>
#include <stdlib.h>

double gatys_equivalent_iterations(const double *curve, size_t count, double loss, bool *beyond)
{
    *beyond = false;
    if (count == 0 || !(loss < curve[0])) return 0.0;
    double previous = curve[0];
    for (size_t i = 1; i < count; i++) {
        double current = curve[i] < previous ? curve[i] : previous; /* running minimum */
        if (current <= loss) {
            /* previous > loss >= current: the crossing lies in (i - 1, i]. */
            return (double)(i - 1) + (previous - loss) / (previous - current);
        }
        previous = current;
    }
    *beyond = true;
    return (double)(count - 1);
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double median_of(double *values, size_t count)
{
    if (!count) return 0.0;
    qsort(values, count, sizeof *values, compare_doubles);
    if (count % 2) return values[count / 2];
    double lo = values[count / 2 - 1], hi = values[count / 2];
    return isinf(hi) ? hi : 0.5 * (lo + hi);
}
