/* Temporal consistency on synthetic motion: the shifted pair and its loss. */
#include "train/train_temporal.h"

#include <math.h>

/* The bilinear footprint of the point (y, x): its top-left pixel and the four weights. */
typedef struct bilinear_point {
    int32_t y0, x0, y1, x1;
    double w00, w01, w10, w11;
} bilinear_point;

static int32_t clamp_index(int32_t i, int32_t size)
{
    return i < 0 ? 0 : i >= size ? size - 1 : i;
}

static bilinear_point bilinear_at(double y, double x, int32_t size)
{
    const double fy = floor(y), fx = floor(x), ay = y - fy, ax = x - fx;
    bilinear_point p = {.y0 = clamp_index((int32_t)fy, size),
                        .x0 = clamp_index((int32_t)fx, size),
                        .y1 = clamp_index((int32_t)fy + 1, size),
                        .x1 = clamp_index((int32_t)fx + 1, size),
                        .w00 = (1 - ay) * (1 - ax),
                        .w01 = (1 - ay) * ax,
                        .w10 = ay * (1 - ax),
                        .w11 = ay * ax};
    return p;
}

static double bilinear_sample(const float *image, int32_t size, const bilinear_point *p, int c)
{
    const size_t row0 = (size_t)p->y0 * size, row1 = (size_t)p->y1 * size;
    return p->w00 * image[(row0 + p->x0) * 3 + c] + p->w01 * image[(row0 + p->x1) * 3 + c] +
           p->w10 * image[(row1 + p->x0) * 3 + c] + p->w11 * image[(row1 + p->x1) * 3 + c];
}

void temporal_shift_image(const float *src, int32_t size, double dy, double dx, float *dst)
{
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++) {
            bilinear_point p = bilinear_at(y + dy, x + dx, size);
            for (int c = 0; c < 3; c++)
                dst[((size_t)y * size + x) * 3 + c] = (float)bilinear_sample(src, size, &p, c);
        }
}

/* Whether the source point of (y, x) lies inside the image (its footprint needs no edge). */
static int source_inside(int32_t y, int32_t x, double dy, double dx, int32_t size)
{
    const double sy = y + dy, sx = x + dx;
    return sy >= 0 && sx >= 0 && sy <= size - 1 && sx <= size - 1;
}

double temporal_loss(const float *first, const float *moved, int32_t size, double dy, double dx,
                     double weight, float *diff_first, float *diff_moved)
{
    const double s = 1.0 / 255.0;
    size_t count = 0;
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++)
            count += (size_t)source_inside(y, x, dy, dx, size);
    if (!count) return 0.0;
    const double scale = weight / ((double)count * 3.0);
    double sum = 0;
    for (int32_t y = 0; y < size; y++)
        for (int32_t x = 0; x < size; x++) {
            if (!source_inside(y, x, dy, dx, size)) continue;
            bilinear_point p = bilinear_at(y + dy, x + dx, size);
            const size_t row0 = (size_t)p.y0 * size, row1 = (size_t)p.y1 * size;
            for (int c = 0; c < 3; c++) {
                const size_t at = ((size_t)y * size + x) * 3 + c;
                const double r = (moved[at] - bilinear_sample(first, size, &p, c)) * s;
                sum += r * r;
                /* d/dv of (r)^2 with r = (v_moved - sum_k w_k v_first,k) / 255. */
                const double g = scale * 2.0 * r * s;
                diff_moved[at] += (float)g;
                diff_first[(row0 + p.x0) * 3 + c] -= (float)(g * p.w00);
                diff_first[(row0 + p.x1) * 3 + c] -= (float)(g * p.w01);
                diff_first[(row1 + p.x0) * 3 + c] -= (float)(g * p.w10);
                diff_first[(row1 + p.x1) * 3 + c] -= (float)(g * p.w11);
            }
        }
    return scale * sum;
}
