/*
 * Antialiased resampling (image/resize.h): separable filters whose support widens by the scale
 * factor when downscaling, as PIL's resize does, computed one window of the output at a time.
 */
#include "image/resize.h"

#include <math.h>
#include <string.h>

/* Where rows of RGB floats come from: a packed float buffer, or a decoded style_image. */
typedef struct row_source {
    const float *pixels;      /* packed width x height x 3, or NULL */
    const style_image *image; /* used when pixels is NULL */
    int32_t width;
    int32_t height;
} row_source;

/*
 * Returns the RGB floats of row y, columns [x0, x1), as (x1 - x0) * 3 floats (the first one is
 * column x0): a pointer into the float buffer, or `scratch` filled from the image.
 */
static const float *source_row(const row_source *src, int32_t y, int32_t x0, int32_t x1,
                               float *scratch)
{
    if (src->pixels) return src->pixels + ((size_t)y * (size_t)src->width + (size_t)x0) * 3;
    const style_image *image = src->image;
    const unsigned char *row =
        (const unsigned char *)image->data + (size_t)y * style__image_stride(image);
    size_t channels = (size_t)image->channels;
    float *out = scratch;
    switch (image->sample_type) {
    case STYLE_SAMPLE_U8:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const uint8_t *p = row + (size_t)x * channels;
            out[0] = p[0];
            out[1] = p[1];
            out[2] = p[2];
        }
        break;
    case STYLE_SAMPLE_U16:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const uint16_t *p = (const uint16_t *)row + (size_t)x * channels;
            for (int c = 0; c < 3; c++)
                out[c] = (float)p[c] * (255.0f / 65535.0f);
        }
        break;
    case STYLE_SAMPLE_F32:
        for (int32_t x = x0; x < x1; x++, out += 3) {
            const float *p = (const float *)row + (size_t)x * channels;
            for (int c = 0; c < 3; c++) {
                float v = p[c];
                out[c] = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f; /* NaN -> 0 */
            }
        }
        break;
    }
    return scratch;
}

/* The filter taps of one axis, for the outputs [first, first + count) of an out_size axis. */
typedef struct axis_taps {
    int32_t *start;  /* first source index of each output */
    int32_t *length; /* number of taps of each output */
    double *weights; /* count x stride, normalized to sum 1 */
    int32_t stride;
    int32_t source_min; /* smallest source index used */
    int32_t source_end; /* one past the largest */
} axis_taps;

static void axis_taps_free(axis_taps *taps)
{
    style__free(taps->start);
    style__free(taps->length);
    style__free(taps->weights);
    memset(taps, 0, sizeof *taps);
}

static double triangle(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

/* Keys' cubic convolution with a = -0.5 (Catmull-Rom; PIL's BICUBIC), support 2. */
static double keys_cubic(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/*
 * PIL's BILINEAR (or BICUBIC) coefficients: output o is centred on source coordinate
 * (o + 0.5) * scale, scale = in / out; the kernel is stretched by max(1, scale), so a downscale
 * averages over every source pixel it covers; taps outside the image are dropped and the rest
 * renormalized (which, when upscaling, is interpolation with the edges clamped).
 */
static style_status axis_taps_make(axis_taps *taps, resize_filter filter, int32_t in_size,
                                   int32_t out_size, int32_t first, int32_t count)
{
    memset(taps, 0, sizeof *taps);
    double (*kernel)(double) = filter == RESIZE_CUBIC ? keys_cubic : triangle;
    double radius = filter == RESIZE_CUBIC ? 2.0 : 1.0;
    double scale = (double)in_size / (double)out_size;
    double filter_scale = scale > 1.0 ? scale : 1.0;
    double support = radius * filter_scale;
    double stride = ceil(2.0 * support) + 2.0;
    if (stride > (double)in_size) stride = (double)in_size;
    taps->stride = (int32_t)stride;

    size_t weight_count;
    if (!style__mul_size((size_t)count, (size_t)taps->stride, &weight_count) ||
        !style__mul_size(weight_count, sizeof(double), &weight_count))
        return style__fail(STYLE_ERR_NOMEM, "resize: filter of %d x %d taps is too large", count,
                           taps->stride);
    taps->start = style__malloc((size_t)count * sizeof *taps->start);
    taps->length = style__malloc((size_t)count * sizeof *taps->length);
    taps->weights = style__malloc(weight_count);
    if (!taps->start || !taps->length || !taps->weights) {
        axis_taps_free(taps);
        return style__fail(STYLE_ERR_NOMEM, "resize: cannot allocate the filter (%zu bytes)",
                           weight_count);
    }
    taps->source_min = in_size;
    taps->source_end = 0;
    for (int32_t k = 0; k < count; k++) {
        double center = ((double)first + (double)k + 0.5) * scale;
        double lo = floor(center - support + 0.5), hi = floor(center + support + 0.5);
        int32_t begin = lo < 0.0 ? 0 : (int32_t)lo;
        int32_t end = hi > (double)in_size ? in_size : (int32_t)hi;
        if (end - begin > taps->stride) end = begin + taps->stride; /* cannot happen */
        double *w = taps->weights + (size_t)k * (size_t)taps->stride;
        int32_t n = 0;
        double sum = 0.0;
        for (int32_t j = begin; j < end; j++) {
            double weight = kernel(((double)j + 0.5 - center) / filter_scale);
            if (n == 0 && weight == 0.0) {
                begin++; /* trim leading zeros */
                continue;
            }
            w[n++] = weight;
            sum += weight;
        }
        while (n > 0 && w[n - 1] == 0.0)
            n--;
        if (n == 0 || sum <= 0.0) {
            /* Unreachable (the nearest source pixel always has a positive weight); fall back
             * to it. */
            int32_t nearest = (int32_t)center;
            begin = nearest < in_size ? nearest : in_size - 1;
            w[0] = 1.0;
            n = 1;
            sum = 1.0;
        }
        for (int32_t j = 0; j < n; j++)
            w[j] /= sum;
        taps->start[k] = begin;
        taps->length[k] = n;
        if (begin < taps->source_min) taps->source_min = begin;
        if (begin + n > taps->source_end) taps->source_end = begin + n;
    }
    return STYLE_OK;
}

/*
 * Writes the window [x0, x0 + out_w) x [y0, y0 + out_h) of the source resized to dst_w x dst_h
 * into `out` (out_w x out_h x 3), computing only what the window needs: a horizontal pass over
 * the source rows it touches into a scratch buffer, then a vertical pass.
 */
static style_status resample_window(const row_source *src, resize_filter filter, int32_t dst_w,
                                    int32_t dst_h, int32_t x0, int32_t y0, int32_t out_w,
                                    int32_t out_h, float *out)
{
    style_status status = STYLE_OK;
    axis_taps across = {0}, down = {0};
    float *scratch = NULL, *temp = NULL;
    double *accumulator = NULL;
    size_t out_row = (size_t)out_w * 3;

    if (dst_w == src->width && dst_h == src->height) {
        /* Same size: a plain copy of the window (the filter would be the identity anyway). */
        if (!src->pixels) {
            scratch = style__malloc(out_row * sizeof *scratch);
            FAIL_IF(!scratch, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", out_w);
        }
        for (int32_t y = 0; y < out_h; y++) {
            const float *row = source_row(src, y0 + y, x0, x0 + out_w, scratch);
            memcpy(out + (size_t)y * out_row, row, out_row * sizeof *out);
        }
        style__free(scratch);
        return STYLE_OK;
    }

    TRY(axis_taps_make(&across, filter, src->width, dst_w, x0, out_w));
    TRY(axis_taps_make(&down, filter, src->height, dst_h, y0, out_h));
    int32_t sx0 = across.source_min, sx1 = across.source_end;
    int32_t sy0 = down.source_min, sy1 = down.source_end;

    size_t temp_count;
    FAIL_IF(!style__mul_size(out_row, (size_t)(sy1 - sy0), &temp_count) ||
                !style__mul_size(temp_count, sizeof *temp, &temp_count),
            STYLE_ERR_NOMEM, "resize: scratch buffer size overflows");
    temp = style__malloc(temp_count);
    FAIL_IF(!temp, STYLE_ERR_NOMEM, "resize: cannot allocate %zu bytes of scratch", temp_count);
    if (!src->pixels) {
        scratch = style__malloc((size_t)(sx1 - sx0) * 3 * sizeof *scratch);
        FAIL_IF(!scratch, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", sx1 - sx0);
    }
    accumulator = style__malloc(out_row * sizeof *accumulator);
    FAIL_IF(!accumulator, STYLE_ERR_NOMEM, "resize: cannot allocate a row of %d pixels", out_w);

    /* Horizontal: source rows [sy0, sy1) -> temp rows of out_w pixels. */
    for (int32_t y = sy0; y < sy1; y++) {
        const float *row = source_row(src, y, sx0, sx1, scratch);
        float *t = temp + (size_t)(y - sy0) * out_row;
        for (int32_t k = 0; k < out_w; k++) {
            const double *w = across.weights + (size_t)k * (size_t)across.stride;
            const float *p = row + (size_t)(across.start[k] - sx0) * 3;
            double r = 0.0, g = 0.0, b = 0.0;
            for (int32_t j = 0; j < across.length[k]; j++, p += 3) {
                r += w[j] * p[0];
                g += w[j] * p[1];
                b += w[j] * p[2];
            }
            t[(size_t)k * 3 + 0] = (float)r;
            t[(size_t)k * 3 + 1] = (float)g;
            t[(size_t)k * 3 + 2] = (float)b;
        }
    }
    /* Vertical: temp -> out. */
    for (int32_t k = 0; k < out_h; k++) {
        const double *w = down.weights + (size_t)k * (size_t)down.stride;
        memset(accumulator, 0, out_row * sizeof *accumulator);
        for (int32_t j = 0; j < down.length[k]; j++) {
            const float *t = temp + (size_t)(down.start[k] + j - sy0) * out_row;
            double weight = w[j];
            for (size_t i = 0; i < out_row; i++)
                accumulator[i] += weight * t[i];
        }
        float *o = out + (size_t)k * out_row;
        for (size_t i = 0; i < out_row; i++)
            o[i] = (float)accumulator[i];
    }
fail:
    axis_taps_free(&across);
    axis_taps_free(&down);
    style__free(scratch);
    style__free(temp);
    style__free(accumulator);
    return status;
}

style_status image_resize_rgb_filter(const float *src, int32_t src_w, int32_t src_h, float *dst,
                                     int32_t dst_w, int32_t dst_h, resize_filter filter)
{
    if (!src || !dst)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_resize_rgb: NULL image buffer");
    if (src_w < 1 || src_h < 1 || dst_w < 1 || dst_h < 1)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT, "image_resize_rgb: bad sizes %dx%d -> %dx%d",
                           src_w, src_h, dst_w, dst_h);
    row_source source = {.pixels = src, .width = src_w, .height = src_h};
    return resample_window(&source, filter, dst_w, dst_h, 0, 0, dst_w, dst_h, dst);
}

style_status image_resize_rgb(const float *src, int32_t src_w, int32_t src_h, float *dst,
                              int32_t dst_w, int32_t dst_h)
{
    return image_resize_rgb_filter(src, src_w, src_h, dst, dst_w, dst_h, RESIZE_TRIANGLE);
}

style_status image_resize_window(const style_image *image, resize_filter filter, int32_t dst_w,
                                 int32_t dst_h, int32_t x0, int32_t y0, int32_t out_w,
                                 int32_t out_h, float *out)
{
    row_source source = {.image = image, .width = image->width, .height = image->height};
    return resample_window(&source, filter, dst_w, dst_h, x0, y0, out_w, out_h, out);
}
