/*
 * Colour operations on RGB float images (image/color.h). Preserve colour is BT.601 YCbCr: the
 * stylized luma with the content's chroma (Gatys et al., "Preserving Color in Neural Artistic
 * Style Transfer", 2016, luminance-only transfer in YIQ, whose Y is this one); linear and
 * exactly invertible. The blend is per sample, like a layer's opacity in an image editor.
 */
#include "image/color.h"

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

void color_blend(float *image, const float *content, size_t count, float strength)
{
    if (strength == 1.0f) return;
    const float keep = 1.0f - strength;
    for (size_t i = 0; i < count; i++)
        image[i] = strength * image[i] + keep * content[i];
}

void color_clamp(float *values, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float v = values[i];
        values[i] = v > 0.0f ? (v < 255.0f ? v : 255.0f) : 0.0f;
    }
}
