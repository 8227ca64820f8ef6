/*
 * Stylize controls: the settings and their checks; the pixel operations they apply are
 * image/color.c's. Both the blend and the colour transfer work on the sRGB-encoded values
 * the network reads and writes (docs/pipeline.md, "Controls", says why):
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
