/*
 * Colour under fully transparent pixels, replaced before stylizing: the network's receptive
 * field reaches ~100 pixels, so whatever an editor left under alpha = 0 (often black, white
 * or an old layer) would otherwise bleed into the visible edges of a sprite. Push-pull
 * (Gortler et al. 1996): average the visible colours down a 2x pyramid, then fill every
 * invisible pixel from the (bilinearly upsampled) level above. The fill depends only on the
 * visible pixels, so two images that differ only under alpha = 0 stylize identically; it is
 * smooth, so the network sees no new edges around the sprite; and it costs O(pixels).
 */
#include "image/alpha_fill.h"
#include "image/pixels.h"

#include <math.h>
#include <string.h>

/* One pyramid level: premultiplied colour sums and visible-pixel weights. */
typedef struct level {
    int32_t w, h;
    float *rgbw; /* w x h x 4: r, g, b (sums, then colours once filled), weight */
} level;

bool alpha_fill_needed(const style_image *image)
{
    if (image->channels != 4) return false;
    const size_t stride = style__image_stride(image);
    bool hidden = false, visible = false;
    for (int32_t y = 0; y < image->height && !(hidden && visible); y++) {
        const unsigned char *row = (const unsigned char *)image->data + (size_t)y * stride;
        for (int32_t x = 0; x < image->width; x++) {
            if (pixels_read_sample(row, x * 4 + 3, image->sample_type) > 0.0f)
                visible = true;
            else
                hidden = true;
        }
    }
    return hidden && visible;
}

uint64_t alpha_fill_memory(int32_t width, int32_t height, const style_image *image)
{
    uint64_t pyramid = 0;
    for (int64_t w = width, h = height; w > 1 || h > 1;) {
        w = (w + 1) / 2, h = (h + 1) / 2;
        pyramid += (uint64_t)w * (uint64_t)h * 4 * sizeof(float);
    }
    return pyramid + (uint64_t)width * height * 4 * style__sample_size(image->sample_type);
}

/* The two neighbours of coordinate g on an axis of n pixels and the weight of the second:
 * clamped at the borders, or wrapped around when periodic. */
static void axis_neighbours(float g, int32_t n, bool periodic, int32_t *i0, int32_t *i1, float *a)
{
    if (periodic) {
        float base = floorf(g);
        *a = g - base;
        int32_t i = (int32_t)base % n;
        *i0 = i < 0 ? i + n : i;
        *i1 = *i0 + 1 < n ? *i0 + 1 : 0;
        return;
    }
    float clamped = g < 0 ? 0 : g > (float)(n - 1) ? (float)(n - 1) : g;
    *i0 = (int32_t)clamped;
    *i1 = *i0 + 1 < n ? *i0 + 1 : *i0;
    *a = clamped - (float)*i0;
}

/* Colour of level l at (x, y) for its finer level: bilinear between the four nearest
 * pixels' centres (clamped at the borders, or wrapped around when periodic). */
static void sample_bilinear(const level *l, float fx, float fy, bool periodic, float out[3])
{
    int32_t x0, x1, y0, y1;
    float ax, ay;
    axis_neighbours(fx, l->w, periodic, &x0, &x1, &ax);
    axis_neighbours(fy, l->h, periodic, &y0, &y1, &ay);
    const float *p00 = l->rgbw + ((size_t)y0 * l->w + x0) * 4,
                *p01 = l->rgbw + ((size_t)y0 * l->w + x1) * 4;
    const float *p10 = l->rgbw + ((size_t)y1 * l->w + x0) * 4,
                *p11 = l->rgbw + ((size_t)y1 * l->w + x1) * 4;
    for (int c = 0; c < 3; c++)
        out[c] =
            (1 - ay) * ((1 - ax) * p00[c] + ax * p01[c]) + ay * ((1 - ax) * p10[c] + ax * p11[c]);
}

/* Level `fine` (colours normalised where visible) takes the colour of `coarse` where its
 * weight is 0. */
static void fill_from(level *fine, const level *coarse, bool periodic)
{
#pragma omp parallel for schedule(static)
    for (int32_t y = 0; y < fine->h; y++)
        for (int32_t x = 0; x < fine->w; x++) {
            float *p = fine->rgbw + ((size_t)y * fine->w + x) * 4;
            if (p[3] > 0.0f) continue;
            sample_bilinear(coarse, ((float)x + 0.5f) * 0.5f - 0.5f,
                            ((float)y + 0.5f) * 0.5f - 0.5f, periodic, p);
        }
}

static void normalise(level *l)
{
    const size_t n = (size_t)l->w * l->h;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        float *p = l->rgbw + i * 4;
        if (p[3] > 0.0f)
            for (int c = 0; c < 3; c++)
                p[c] /= p[3];
    }
}

/* Index i of an axis of n: itself, or (periodic) wrapped around; -1 when past the end. */
static int32_t wrap_index(int32_t i, int32_t n, bool periodic)
{
    return i < n ? i : periodic ? i - n : -1;
}

style_status alpha_fill_copy(const style_image *image, bool periodic, style_image *filled)
{
    style_status status = STYLE_OK;
    level levels[64];
    int count = 0;
    memset(levels, 0, sizeof levels);
    memset(filled, 0, sizeof *filled);
    TRY(style_image_alloc(filled, image->width, image->height, 4, image->sample_type));
    const size_t in_stride = style__image_stride(image), out_stride = style__image_stride(filled);
    const size_t row_bytes = (size_t)image->width * 4 * style__sample_size(image->sample_type);
    for (int32_t y = 0; y < image->height; y++)
        memcpy((char *)filled->data + (size_t)y * out_stride,
               (const char *)image->data + (size_t)y * in_stride, row_bytes);

    /* Pull: level 1 from the image, then every level from the one below. */
    for (int32_t w = image->width, h = image->height; w > 1 || h > 1; count++) {
        w = (w + 1) / 2, h = (h + 1) / 2;
        level *l = &levels[count];
        l->w = w, l->h = h;
        l->rgbw = style__calloc((size_t)w * h * 4, sizeof(float));
        FAIL_IF(!l->rgbw, STYLE_ERR_NOMEM, "stylize: out of memory for the alpha fill");
        if (count == 0) {
#pragma omp parallel for schedule(static)
            for (int32_t y = 0; y < h; y++)
                for (int32_t x = 0; x < w; x++) {
                    float *p = l->rgbw + ((size_t)y * w + x) * 4;
                    /* An odd side's last cell: clipped, or (periodic) wrapped to the start. */
                    for (int32_t k = 0; k < 4; k++) {
                        int32_t sy = wrap_index(2 * y + k / 2, image->height, periodic);
                        int32_t sx = wrap_index(2 * x + k % 2, image->width, periodic);
                        if (sy < 0 || sx < 0) continue;
                        const unsigned char *row =
                            (const unsigned char *)image->data + (size_t)sy * in_stride;
                        if (!(pixels_read_sample(row, sx * 4 + 3, image->sample_type) > 0.0f))
                            continue;
                        for (int c = 0; c < 3; c++)
                            p[c] += pixels_read_sample(row, sx * 4 + c, image->sample_type);
                        p[3] += 1.0f;
                    }
                }
        } else {
            const level *below = &levels[count - 1];
#pragma omp parallel for schedule(static)
            for (int32_t y = 0; y < h; y++)
                for (int32_t x = 0; x < w; x++) {
                    float *p = l->rgbw + ((size_t)y * w + x) * 4;
                    for (int32_t k = 0; k < 4; k++) {
                        int32_t sy = wrap_index(2 * y + k / 2, below->h, periodic);
                        int32_t sx = wrap_index(2 * x + k % 2, below->w, periodic);
                        if (sy < 0 || sx < 0) continue;
                        const float *q = below->rgbw + ((size_t)sy * below->w + sx) * 4;
                        for (int c = 0; c < 4; c++)
                            p[c] += q[c];
                    }
                }
        }
    }
    /* Push: normalise each level, fill its holes from the level above (the top, 1 x 1, is
     * the mean visible colour, or black when nothing is visible). */
    for (int i = count - 1; i >= 0; i--) {
        normalise(&levels[i]);
        if (i + 1 < count) fill_from(&levels[i], &levels[i + 1], periodic);
    }
    if (count > 0) {
        const level *l1 = &levels[0];
#pragma omp parallel for schedule(static)
        for (int32_t y = 0; y < image->height; y++) {
            unsigned char *row = (unsigned char *)filled->data + (size_t)y * out_stride;
            for (int32_t x = 0; x < image->width; x++) {
                if (pixels_read_sample(row, x * 4 + 3, image->sample_type) > 0.0f) continue;
                float rgb[3];
                sample_bilinear(l1, ((float)x + 0.5f) * 0.5f - 0.5f,
                                ((float)y + 0.5f) * 0.5f - 0.5f, periodic, rgb);
                for (int c = 0; c < 3; c++)
                    pixels_write_sample(row, x * 4 + c, image->sample_type, rgb[c]);
            }
        }
    }
    for (int i = 0; i < count; i++)
        style__free(levels[i].rgbw);
    return STYLE_OK;
fail:
    for (int i = 0; i < 64; i++)
        style__free(levels[i].rgbw);
    style_image_release(filled);
    return status;
}

style_status alpha_fill_for_run(const style_image *input, bool periodic, bool banded,
                                uint64_t *budget, style_image *filled, const style_image **source)
{
    *source = input;
    if (!alpha_fill_needed(input)) return STYLE_OK;
    const uint64_t fill = alpha_fill_memory(input->width, input->height, input);
    if (banded && fill >= *budget)
        return style__fail(STYLE_ERR_LIMIT,
                           "stylize: filling the transparent pixels of %dx%d needs %.1f MiB, over "
                           "the memory budget of %.1f MiB",
                           input->width, input->height, fill / 1048576.0, *budget / 1048576.0);
    *budget = fill < *budget ? *budget - fill : 0;
    style_status status = alpha_fill_copy(input, periodic, filled);
    if (status == STYLE_OK) *source = filled;
    return status;
}
