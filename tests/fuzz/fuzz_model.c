/*
 * Fuzz target: the model loader on a file image in memory (style_model_load_memory), then the
 * public queries a caller makes on a loaded model. Tight limits keep each input cheap.
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
    style_model_info info;
    style_model_get_info(model, &info);
    size_t count = style_model_metadata_count(model);
    for (size_t i = 0; i < count; i++) {
        const char *key = NULL, *value = NULL;
        if (style_model_metadata_at(model, i, &key, &value) == STYLE_OK)
            (void)style_model_metadata_get(model, key);
    }
    style_model_free(model);
    return 0;
}
