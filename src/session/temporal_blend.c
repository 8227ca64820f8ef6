/*
 * Temporal blending with the warped previous output (temporal_blend.h).
 */
#include "session/temporal_blend.h"
#include "image/pixels.h"

#include <string.h>

void temporal_luma(const style_image *image, float *luma)
{
    const size_t stride = style__image_stride(image);
    for (int32_t y = 0; y < image->height; y++) {
        const unsigned char *row = (const unsigned char *)image->data + (size_t)y * stride;
        float *out = luma + (size_t)y * (size_t)image->width;
        for (int32_t x = 0; x < image->width; x++) {
            const int32_t i = x * image->channels;
            out[x] = 0.299f * pixels_read_sample(row, i, image->sample_type) +
                     0.587f * pixels_read_sample(row, i + 1, image->sample_type) +
                     0.114f * pixels_read_sample(row, i + 2, image->sample_type);
        }
    }
}

double temporal_reliability(const float *target, const float *source, const motion_field *back,
                            const motion_field *forward, float *mask, float *scratch)
{
    const int32_t w = back->width, h = back->height;
    size_t reliable = 0;
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            const float bx = back->dx[i], by = back->dy[i];
            const float sx = (float)x + bx, sy = (float)y + by;
            /* within half a pixel of the previous frame */
            const bool inside =
                sx > -0.5f && sx < (float)w - 0.5f && sy > -0.5f && sy < (float)h - 0.5f;
            const float fx = motion_sample(forward->dx, w, h, sx, sy);
            const float fy = motion_sample(forward->dy, w, h, sx, sy);
            const float rx = bx + fx, ry = by + fy;
            const bool consistent =
                rx * rx + ry * ry <= 0.01f * (bx * bx + by * by + fx * fx + fy * fy) + 0.5f;
            /* motion boundaries (Ruder et al. 2016): where the flow changes fast, the window
             * of the estimate straddles two motions and the flow is a blend of both */
            const int32_t xl = x > 0 ? x - 1 : x, xr = x + 1 < w ? x + 1 : x;
            const int32_t yu = y > 0 ? y - 1 : y, yd = y + 1 < h ? y + 1 : y;
            const size_t il = (size_t)y * (size_t)w + (size_t)xl;
            const size_t ir = (size_t)y * (size_t)w + (size_t)xr;
            const size_t iu = (size_t)yu * (size_t)w + (size_t)x;
            const size_t id = (size_t)yd * (size_t)w + (size_t)x;
            const float ux = (back->dx[ir] - back->dx[il]) / (float)(xr - xl > 0 ? xr - xl : 1);
            const float vx = (back->dy[ir] - back->dy[il]) / (float)(xr - xl > 0 ? xr - xl : 1);
            const float uy = (back->dx[id] - back->dx[iu]) / (float)(yd - yu > 0 ? yd - yu : 1);
            const float vy = (back->dy[id] - back->dy[iu]) / (float)(yd - yu > 0 ? yd - yu : 1);
            const bool smooth = ux * ux + vx * vx + uy * uy + vy * vy <=
                                0.01f * (bx * bx + by * by) + TEMPORAL_MAX_FLOW_GRADIENT2;
            const float error = motion_sample(source, w, h, sx, sy) - target[i];
            const bool matches =
                error <= TEMPORAL_MAX_LUMA_ERROR && error >= -TEMPORAL_MAX_LUMA_ERROR;
            const bool ok = inside && consistent && smooth && matches;
            scratch[i] = ok ? 1.0f : 0.0f;
            reliable += ok;
        }
    /* soften the edges of the mask: the mean over a small window, kept at 0 where the pixel
     * itself is unreliable (so that no unreliable pixel is blended at all) */
    const int32_t r = TEMPORAL_MASK_RADIUS;
    const float scale = 1.0f / (float)((2 * r + 1) * (2 * r + 1));
    for (int32_t y = 0; y < h; y++)
        for (int32_t x = 0; x < w; x++) {
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            if (scratch[i] == 0.0f) {
                mask[i] = 0.0f;
                continue;
            }
            float sum = 0.0f;
            for (int32_t dy = -r; dy <= r; dy++) {
                const int32_t yy = y + dy < 0 ? 0 : y + dy >= h ? h - 1 : y + dy;
                for (int32_t dx = -r; dx <= r; dx++) {
                    const int32_t xx = x + dx < 0 ? 0 : x + dx >= w ? w - 1 : x + dx;
                    sum += scratch[(size_t)yy * (size_t)w + (size_t)xx];
                }
            }
            mask[i] = sum * scale;
        }
    return (double)reliable / ((double)w * (double)h);
}

void temporal_state_reset(temporal_state *state)
{
    state->primed = false;
    state->reliable = 0.0;
}

void temporal_state_release(temporal_state *state)
{
    style__free(state->luma);
    style__free(state->output);
    style__free(state->next_output);
    memset(state, 0, sizeof *state);
}

/* Makes room for frames of width x height (forgetting the previous frame when it changes). */
static style_status fit(temporal_state *state, int32_t width, int32_t height)
{
    if (state->luma != NULL && state->width == width && state->height == height) return STYLE_OK;
    temporal_state_release(state);
    const size_t n = (size_t)width * (size_t)height;
    state->luma = style__malloc(n * sizeof(float));
    state->output = style__malloc(n * 3 * sizeof(float));
    state->next_output = style__malloc(n * 3 * sizeof(float));
    if (!state->luma || !state->output || !state->next_output) {
        temporal_state_release(state);
        return style__fail(STYLE_ERR_NOMEM, "video: out of memory for the previous frame");
    }
    state->width = width;
    state->height = height;
    return STYLE_OK;
}

/* Catmull-Rom weights of the four samples around a position with fraction t. */
static void catmull_rom(float t, float weights[4])
{
    const float t2 = t * t, t3 = t2 * t;
    weights[0] = 0.5f * (-t3 + 2.0f * t2 - t);
    weights[1] = 0.5f * (3.0f * t3 - 5.0f * t2 + 2.0f);
    weights[2] = 0.5f * (-3.0f * t3 + 4.0f * t2 + t);
    weights[3] = 0.5f * (t3 - t2);
}

/* An interleaved RGB float plane (w x h x 3) at (x, y), bicubic (Catmull-Rom), edges clamped:
 * sharper than bilinear, whose blur would add up frame after frame in the blend. */
static void sample_bicubic(const float *plane, int32_t w, int32_t h, float x, float y, float rgb[3])
{
    x = x < 0.0f ? 0.0f : x > (float)(w - 1) ? (float)(w - 1) : x;
    y = y < 0.0f ? 0.0f : y > (float)(h - 1) ? (float)(h - 1) : y;
    const int32_t x0 = (int32_t)x, y0 = (int32_t)y;
    float wx[4], wy[4];
    catmull_rom(x - (float)x0, wx);
    catmull_rom(y - (float)y0, wy);
    rgb[0] = rgb[1] = rgb[2] = 0.0f;
    for (int j = 0; j < 4; j++) {
        int32_t yy = y0 - 1 + j;
        yy = yy < 0 ? 0 : yy >= h ? h - 1 : yy;
        float row[3] = {0};
        for (int i = 0; i < 4; i++) {
            int32_t xx = x0 - 1 + i;
            xx = xx < 0 ? 0 : xx >= w ? w - 1 : xx;
            const float *p = plane + ((size_t)yy * (size_t)w + (size_t)xx) * 3;
            row[0] += wx[i] * p[0];
            row[1] += wx[i] * p[1];
            row[2] += wx[i] * p[2];
        }
        rgb[0] += wy[j] * row[0];
        rgb[1] += wy[j] * row[1];
        rgb[2] += wy[j] * row[2];
    }
}

/* Blends `output` with state->output (the previous output) warped by `back` where `mask` says
 * (NULL: nowhere), and keeps the result as floats in state->next_output. */
static void blend(temporal_state *state, float weight, const motion_field *back, const float *mask,
                  style_image *output)
{
    const int32_t w = output->width, h = output->height;
    const size_t stride = style__image_stride(output);
    const float *prev = state->output;
    for (int32_t y = 0; y < h; y++) {
        unsigned char *row = (unsigned char *)output->data + (size_t)y * stride;
        for (int32_t x = 0; x < w; x++) {
            const size_t i = (size_t)y * (size_t)w + (size_t)x;
            float *kept = state->next_output + i * 3;
            const float a = mask ? weight * mask[i] : 0.0f;
            float warped[3] = {0};
            if (a > 0.0f) /* the previous output at this pixel's source */
                sample_bicubic(prev, w, h, (float)x + back->dx[i], (float)y + back->dy[i], warped);
            for (int c = 0; c < 3; c++) {
                const int32_t index = x * output->channels + c;
                float value = pixels_read_sample(row, index, output->sample_type);
                if (a > 0.0f) {
                    value += a * (warped[c] - value);
                    value = value < 0.0f ? 0.0f : value > 255.0f ? 255.0f : value;
                    pixels_write_sample(row, index, output->sample_type, value);
                }
                kept[c] = value;
            }
        }
    }
    float *swap = state->output;
    state->output = state->next_output;
    state->next_output = swap;
}

style_status temporal_blend_apply(temporal_state *state, float weight, const style_image *frame,
                                  style_image *output)
{
    style_status status = STYLE_OK;
    motion_field back = {0}, forward = {0};
    float *luma = NULL, *mask = NULL, *scratch = NULL;
    const int32_t w = frame->width, h = frame->height;
    const bool primed = state->primed && state->width == w && state->height == h;
    TRY(fit(state, w, h));
    const size_t n = (size_t)w * (size_t)h;
    luma = style__malloc(n * sizeof(float));
    FAIL_IF(!luma, STYLE_ERR_NOMEM, "video: out of memory");
    temporal_luma(frame, luma);
    state->reliable = 0.0;
    if (primed) {
        mask = style__malloc(n * sizeof(float));
        scratch = style__malloc(n * sizeof(float));
        FAIL_IF(!mask || !scratch, STYLE_ERR_NOMEM, "video: out of memory");
        TRY(motion_field_alloc(&back, w, h));
        TRY(motion_field_alloc(&forward, w, h));
        TRY(motion_estimate(luma, state->luma, w, h, &back));
        TRY(motion_estimate(state->luma, luma, w, h, &forward));
        const double reliable =
            temporal_reliability(luma, state->luma, &back, &forward, mask, scratch);
        if (reliable >= TEMPORAL_MIN_RELIABLE)
            state->reliable = reliable;
        else { /* a cut: this frame on its own */
            style__free(mask);
            mask = NULL;
        }
    }
    blend(state, weight, &back, mask, output);
    memcpy(state->luma, luma, n * sizeof(float));
    state->primed = true;
fail:
    if (status != STYLE_OK) temporal_state_reset(state);
    motion_field_release(&back);
    motion_field_release(&forward);
    style__free(luma);
    style__free(mask);
    style__free(scratch);
    return status;
}
