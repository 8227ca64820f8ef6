/*
 * Stylize controls on RGB float images. Both the blend and the colour transfer work on the
 * sRGB-encoded values the network reads and writes (docs/pipeline.md, "Controls", says why):
 *   - strength: a per-sample linear blend, like a layer's opacity in an image editor; sRGB
 *     coding is close to perceptually uniform, so strength 0.5 looks half-way, whereas a
 *     blend of linear light would weight the brighter of the two images;
 *   - preserve colour: BT.601 YCbCr, the stylized luma with the content's chroma (Gatys et al.,
 *     "Preserving Color in Neural Artistic Style Transfer", 2016, luminance-only transfer in
 *     YIQ, whose Y is this one); linear and exactly invertible, and the same transform as
 *     `libstyle optimize --preserve-color`.
 */
#include "session/controls.h"

#include <math.h>

/* Largest --scale: beyond 8x the network sees a blur of enlarged pixels (and 64x the memory). */
#define CONTROLS_MAX_SCALE 8.0f

style_controls controls_default(void)
{
    return (style_controls){.strength = 1.0f, .preserve_color = false, .scale = 1.0f};
}

bool controls_are_identity(const style_controls *controls)
{
    return controls->strength == 1.0f && !controls->preserve_color && controls->scale == 1.0f;
}

style_status controls_check_strength(float strength)
{
    if (!(strength >= 0.0f && strength <= 1.0f)) /* NaN fails too */
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_strength: strength must be in 0..1, not %g",
                           (double)strength);
    return STYLE_OK;
}

style_status controls_check_scale(float scale)
{
    if (!(scale > 0.0f && scale <= CONTROLS_MAX_SCALE))
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "session_set_scale: scale must be above 0 and at most %g, not %g",
                           (double)CONTROLS_MAX_SCALE, (double)scale);
    return STYLE_OK;
}

style_status controls_scaled_size(int32_t size, float scale, int32_t *out)
{
    double scaled = round((double)size * (double)scale);
    if (scaled > (double)INT32_MAX)
        return style__fail(STYLE_ERR_LIMIT, "stylize: %d pixels scaled by %g do not fit", size,
                           (double)scale);
    *out = scaled < 1.0 ? 1 : (int32_t)scaled;
    return STYLE_OK;
}

void color_preserve_luminance(float *image, const float *content, size_t pixels)
{
    for (size_t i = 0; i < pixels; i++) {
        const float *c = content + i * 3;
        float *r = image + i * 3;
        double y_image = 0.299 * r[0] + 0.587 * r[1] + 0.114 * r[2];
        double y_content = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
        double shift = y_image - y_content;
        for (int k = 0; k < 3; k++)
            r[k] = (float)(c[k] + shift);
    }
}

void controls_blend(float *image, const float *content, size_t count, float strength)
{
    if (strength == 1.0f) return;
    const float keep = 1.0f - strength;
    for (size_t i = 0; i < count; i++)
        image[i] = strength * image[i] + keep * content[i];
}

void controls_clamp(float *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float v = values[i];
        values[i] = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
    }
}
