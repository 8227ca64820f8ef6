/*
 * Fuzz target: the model loader on a file image in memory (style_model_load_memory), then the
 * public queries a caller makes on a loaded model and, for a model that loads, a session
 * stylizing a small image (with the image's own style for an AdaIN model), plainly, in
 * tileable mode and in bands: whatever the loader accepts, the network builder must run (or
 * refuse cleanly). Tight limits keep each input cheap.
 */
#include "libstyle.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    style_load_options options = {.struct_size = sizeof options,
                                  .max_bytes = 16u << 20,
                                  .max_tensors = 1024,
                                  .max_tensor_bytes = 64u << 20};
    style_model *model = NULL;
    if (style_model_load_memory(data, size, &options, &model) != STYLE_OK) return 0;
    style_model_info info = {0};
    const int is_adain = style_model_get_info(model, &info) == STYLE_OK && info.arch &&
                         strcmp(info.arch, "adain") == 0;
    size_t count = style_model_metadata_count(model);
    for (size_t i = 0; i < count; i++) {
        const char *key = NULL, *value = NULL;
        if (style_model_metadata_at(model, i, &key, &value) == STYLE_OK)
            (void)style_model_metadata_get(model, key);
    }
    /* Weights are bounded by the input's size, so this stays small. */
    style_session *session = NULL;
    if (style_session_create(model, &session) == STYLE_OK) {
        style_session_set_threads(session, 1);
        style_session_set_memory_budget(session, 256u << 20);
        uint8_t pixels[12 * 8 * 3];
        for (size_t i = 0; i < sizeof pixels; i++)
            pixels[i] = (uint8_t)(i * 7);
        style_image input = {12, 8, 3, STYLE_SAMPLE_U8, 0, pixels}, output = {0};
        /* An AdaIN model needs a style first: the image's own statistics exercise the
         * encoder twice and the decoder once. */
        style_adain_style *style = NULL;
        if (is_adain && style_adain_style_create(session, &input, 0, &style) == STYLE_OK)
            style_session_set_adain_style(session, style);
        style_adain_style_free(style);
        if (style_session_stylize(session, &input, &output) == STYLE_OK)
            style_image_release(&output);
        /* The tileable and the banded paths build differently (wrap padding, context, bands). */
        if (style_session_set_tileable(session, 1) == STYLE_OK &&
            style_session_stylize(session, &input, &output) == STYLE_OK)
            style_image_release(&output);
        if (style_session_set_tileable(session, 0) == STYLE_OK &&
            style_session_set_band_rows(session, 4) == STYLE_OK &&
            style_session_stylize(session, &input, &output) == STYLE_OK)
            style_image_release(&output);
        style_session_free(session);
    }
    style_model_free(model);
    return 0;
}
