/*
 * Coarse-to-fine Lucas-Kanade motion on luma (motion_estimate.h).
 */
#include "image/motion_estimate.h"

#include <math.h>
#include <string.h>

style_status motion_field_alloc(motion_field *field, int32_t width, int32_t height)
{
    style_status status = STYLE_OK;
    memset(field, 0, sizeof *field);
    size_t count;
    FAIL_IF(width < 1 || height < 1 || !style__mul_size((size_t)width, (size_t)height, &count) ||
                count > SIZE_MAX / (2 * sizeof(float)),
            STYLE_ERR_INVALID_ARGUMENT, "motion: bad frame size %dx%d", (int)width, (int)height);
    field->dx = style__calloc(count, sizeof(float));
    field->dy = style__calloc(count, sizeof(float));
    FAIL_IF(!field->dx || !field->dy, STYLE_ERR_NOMEM, "motion: out of memory");
    field->width = width;
    field->height = height;
    return STYLE_OK;
fail:
    motion_field_release(field);
    return status;
}

void motion_field_release(motion_field *field)
{
    style__free(field->dx);
    style__free(field->dy);
    memset(field, 0, sizeof *field);
}

static inline int32_t clamp_index(int32_t i, int32_t n)
{
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

float motion_sample(const float *plane, int32_t width, int32_t height, float x, float y)
{
    x = x < 0.0f ? 0.0f : x > (float)(width - 1) ? (float)(width - 1) : x;
    y = y < 0.0f ? 0.0f : y > (float)(height - 1) ? (float)(height - 1) : y;
    const int32_t x0 = (int32_t)x, y0 = (int32_t)y;
    const int32_t x1 = x0 + 1 < width ? x0 + 1 : x0, y1 = y0 + 1 < height ? y0 + 1 : y0;
    const float fx = x - (float)x0, fy = y - (float)y0;
    const float *r0 = plane + (size_t)y0 * (size_t)width, *r1 = plane + (size_t)y1 * (size_t)width;
    const float top = r0[x0] + fx * (r0[x1] - r0[x0]);
    const float bottom = r1[x0] + fx * (r1[x1] - r1[x0]);
    return top + fy * (bottom - top);
}

/* One pyramid level: a plane and its size. */
typedef struct level {
    int32_t width, height;
    float *target, *source;
} level;

/* Halves `in` (w x h) into `out` ((w + 1) / 2 x (h + 1) / 2): a 1 4 6 4 1 binomial blur,
 * then every other pixel. `row` holds w floats. */
static void downsample(const float *in, int32_t w, int32_t h, float *out, float *blurred_rows)
{
    const int32_t ow = (w + 1) / 2, oh = (h + 1) / 2;
    /* horizontal pass on every row, keeping even columns: h x ow */
    for (int32_t y = 0; y < h; y++) {
        const float *r = in + (size_t)y * (size_t)w;
        float *o = blurred_rows + (size_t)y * (size_t)ow;
        for (int32_t x = 0; x < ow; x++) {
            const int32_t c = 2 * x;
            o[x] = (r[clamp_index(c - 2, w)] + 4.0f * r[clamp_index(c - 1, w)] + 6.0f * r[c] +
                    4.0f * r[clamp_index(c + 1, w)] + r[clamp_index(c + 2, w)]) *
                   (1.0f / 16.0f);
        }
    }
    /* vertical pass, keeping even rows */
    for (int32_t y = 0; y < oh; y++) {
        const int32_t c = 2 * y;
        const float *a = blurred_rows + (size_t)clamp_index(c - 2, h) * (size_t)ow;
        const float *b = blurred_rows + (size_t)clamp_index(c - 1, h) * (size_t)ow;
        const float *m = blurred_rows + (size_t)c * (size_t)ow;
        const float *d = blurred_rows + (size_t)clamp_index(c + 1, h) * (size_t)ow;
        const float *e = blurred_rows + (size_t)clamp_index(c + 2, h) * (size_t)ow;
        float *o = out + (size_t)y * (size_t)ow;
        for (int32_t x = 0; x < ow; x++)
            o[x] = (a[x] + 4.0f * b[x] + 6.0f * m[x] + 4.0f * d[x] + e[x]) * (1.0f / 16.0f);
    }
}

/* Mean over the (2r+1)^2 window around each pixel, edges clamped: two running sums. */
static void box_mean(const float *in, float *out, float *tmp, int32_t w, int32_t h, int32_t r)
{
    const float scale = 1.0f / (float)((2 * r + 1) * (2 * r + 1));
    for (int32_t y = 0; y < h; y++) {
        const float *row = in + (size_t)y * (size_t)w;
        float *t = tmp + (size_t)y * (size_t)w;
        float sum = 0.0f;
        for (int32_t i = -r; i <= r; i++)
            sum += row[clamp_index(i, w)];
        for (int32_t x = 0; x < w; x++) {
            t[x] = sum;
            sum += row[clamp_index(x + r + 1, w)] - row[clamp_index(x - r, w)];
        }
    }
    for (int32_t x = 0; x < w; x++) {
        float sum = 0.0f;
        for (int32_t i = -r; i <= r; i++)
            sum += tmp[(size_t)clamp_index(i, h) * (size_t)w + (size_t)x];
        for (int32_t y = 0; y < h; y++) {
            out[(size_t)y * (size_t)w + (size_t)x] = sum * scale;
            sum += tmp[(size_t)clamp_index(y + r + 1, h) * (size_t)w + (size_t)x] -
                   tmp[(size_t)clamp_index(y - r, h) * (size_t)w + (size_t)x];
        }
    }
}

/* Work planes of the finest level's size, reused at every level. */
enum { GX, GY, SXX, SXY, SYY, PX, PY, BX, BY, TMP, PLANES };

/* Refines the flow (u, v) of one level by Gauss-Newton steps of windowed Lucas-Kanade. */
static void refine_level(const level *lv, float *u, float *v, float *const *work)
{
    const int32_t w = lv->width, h = lv->height;
    const size_t n = (size_t)w * (size_t)h;
    float *gx = work[GX], *gy = work[GY];
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            const float *t = lv->target;
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            gx[i] = 0.5f * (t[(size_t)y * (size_t)w + (size_t)clamp_index(x + 1, w)] -
                            t[(size_t)y * (size_t)w + (size_t)clamp_index(x - 1, w)]);
            gy[i] = 0.5f * (t[(size_t)clamp_index(y + 1, h) * (size_t)w + (size_t)x] -
                            t[(size_t)clamp_index(y - 1, h) * (size_t)w + (size_t)x]);
        }
    for (size_t i = 0; i < n; i++) {
        work[PX][i] = gx[i] * gx[i];
        work[PY][i] = gy[i] * gy[i];
        work[BX][i] = gx[i] * gy[i];
    }
    box_mean(work[PX], work[SXX], work[TMP], w, h, MOTION_WINDOW_RADIUS);
    box_mean(work[PY], work[SYY], work[TMP], w, h, MOTION_WINDOW_RADIUS);
    box_mean(work[BX], work[SXY], work[TMP], w, h, MOTION_WINDOW_RADIUS);
    for (int iteration = 0; iteration < MOTION_ITERATIONS; iteration++) {
        for (int32_t y = 0; y < h; y++)
            for (int32_t x = 0; x < w; x++) {
                const size_t i = (size_t)y * (size_t)w + (size_t)x;
                /* a source outside the frame says nothing (clamped samples would push the
                 * flow further out at every step) */
                const float sx = (float)x + u[i], sy = (float)y + v[i];
                const bool inside =
                    sx >= 0.0f && sx <= (float)(w - 1) && sy >= 0.0f && sy <= (float)(h - 1);
                const float e =
                    inside ? motion_sample(lv->source, w, h, sx, sy) - lv->target[i] : 0.0f;
                work[PX][i] = gx[i] * e;
                work[PY][i] = gy[i] * e;
            }
        box_mean(work[PX], work[BX], work[TMP], w, h, MOTION_WINDOW_RADIUS);
        box_mean(work[PY], work[BY], work[TMP], w, h, MOTION_WINDOW_RADIUS);
        for (size_t i = 0; i < n; i++) {
            const float a = work[SXX][i] + MOTION_RIDGE, b = work[SXY][i],
                        c = work[SYY][i] + MOTION_RIDGE;
            const float det = a * c - b * b;
            float du = -(c * work[BX][i] - b * work[BY][i]) / det;
            float dv = -(a * work[BY][i] - b * work[BX][i]) / det;
            du = du > MOTION_MAX_STEP    ? MOTION_MAX_STEP
                 : du < -MOTION_MAX_STEP ? -MOTION_MAX_STEP
                                         : du;
            dv = dv > MOTION_MAX_STEP    ? MOTION_MAX_STEP
                 : dv < -MOTION_MAX_STEP ? -MOTION_MAX_STEP
                                         : dv;
            u[i] += du;
            v[i] += dv;
        }
        /* each pixel's step uses its neighbours' residuals at their own flow: without this
         * smoothing, rough modes of the flow grow from step to step */
        box_mean(u, work[PX], work[TMP], w, h, MOTION_SMOOTHING_RADIUS);
        memcpy(u, work[PX], n * sizeof(float));
        box_mean(v, work[PY], work[TMP], w, h, MOTION_SMOOTHING_RADIUS);
        memcpy(v, work[PY], n * sizeof(float));
    }
}

/* The flow of a level from the one above it (half the size): resampled and doubled. */
static void upsample_flow(const float *cu, const float *cv, int32_t cw, int32_t ch, float *u,
                          float *v, int32_t w, int32_t h)
{
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            const float sx = ((float)x + 0.5f) * 0.5f - 0.5f, sy = ((float)y + 0.5f) * 0.5f - 0.5f;
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            u[i] = 2.0f * motion_sample(cu, cw, ch, sx, sy);
            v[i] = 2.0f * motion_sample(cv, cw, ch, sx, sy);
        }
}

style_status motion_estimate(const float *target, const float *source, int32_t width,
                             int32_t height, motion_field *flow)
{
    style_status status = STYLE_OK;
    level levels[MOTION_MAX_LEVELS] = {{0}};
    float *work[PLANES] = {0};
    float *coarse_u = NULL, *coarse_v = NULL;
    int count = 1;
    FAIL_IF(!target || !source || !flow || flow->width != width || flow->height != height,
            STYLE_ERR_INVALID_ARGUMENT, "motion: bad arguments");
    const size_t n = (size_t)width * (size_t)height;
    levels[0] = (level){width, height, (float *)target, (float *)source};
    while (count < MOTION_MAX_LEVELS && (levels[count - 1].width + 1) / 2 >= MOTION_MIN_SIDE &&
           (levels[count - 1].height + 1) / 2 >= MOTION_MIN_SIDE) {
        const level *up = &levels[count - 1];
        level *lv = &levels[count];
        lv->width = (up->width + 1) / 2;
        lv->height = (up->height + 1) / 2;
        const size_t size = (size_t)lv->width * (size_t)lv->height;
        lv->target = style__malloc(size * sizeof(float));
        lv->source = style__malloc(size * sizeof(float));
        count++;
        FAIL_IF(!lv->target || !lv->source, STYLE_ERR_NOMEM, "motion: out of memory");
    }
    for (int p = 0; p < PLANES; p++) {
        work[p] = style__malloc(n * sizeof(float));
        FAIL_IF(!work[p], STYLE_ERR_NOMEM, "motion: out of memory");
    }
    coarse_u = style__calloc(n, sizeof(float));
    coarse_v = style__calloc(n, sizeof(float));
    FAIL_IF(!coarse_u || !coarse_v, STYLE_ERR_NOMEM, "motion: out of memory");
    for (int l = 1; l < count; l++) {
        downsample(levels[l - 1].target, levels[l - 1].width, levels[l - 1].height,
                   levels[l].target, work[TMP]);
        downsample(levels[l - 1].source, levels[l - 1].width, levels[l - 1].height,
                   levels[l].source, work[TMP]);
    }
    /* coarsest to finest; the flow of level l lives in (coarse_u, coarse_v) or, at level 0,
     * in the output */
    for (int l = count - 1; l >= 0; l--) {
        const level *lv = &levels[l];
        const size_t size = (size_t)lv->width * (size_t)lv->height;
        float *u = l == 0 ? flow->dx : work[PX], *v = l == 0 ? flow->dy : work[PY];
        if (l == count - 1) {
            memset(u, 0, size * sizeof(float));
            memset(v, 0, size * sizeof(float));
        } else {
            upsample_flow(coarse_u, coarse_v, levels[l + 1].width, levels[l + 1].height, u, v,
                          lv->width, lv->height);
        }
        if (l > 0) { /* refine in the coarse planes (work[PX], [PY] are refine_level's) */
            memcpy(coarse_u, u, size * sizeof(float));
            memcpy(coarse_v, v, size * sizeof(float));
            u = coarse_u;
            v = coarse_v;
        }
        refine_level(lv, u, v, work);
    }
fail:
    for (int l = 1; l < count; l++) {
        style__free(levels[l].target);
        style__free(levels[l].source);
    }
    for (int p = 0; p < PLANES; p++)
        style__free(work[p]);
    style__free(coarse_u);
    style__free(coarse_v);
    return status;
}
