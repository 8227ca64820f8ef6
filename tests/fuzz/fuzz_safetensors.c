/*
 * Fuzz target: the safetensors reader (strict), and a round trip: whatever it accepts must
 * serialise and parse back to the same tensors and metadata.
 */
#include "model/safetensors.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file file = {0}, again = {0};
    void *bytes = NULL;
    size_t length = 0;
    if (st_parse(data, size, &file) != STYLE_OK) return 0;
    style_status status = st_serialize(&file, &bytes, &length);
    if (status == STYLE_OK) {
        if (st_parse(bytes, length, &again) != STYLE_OK) __builtin_trap();
        if (again.tensor_count != file.tensor_count || again.metadata_count != file.metadata_count)
            __builtin_trap();
        for (size_t i = 0; i < file.tensor_count; i++) {
            const st_tensor *a = &file.tensors[i], *b = st_find(&again, a->name);
            if (!b || b->count != a->count ||
                (a->count && memcmp(a->data, b->data, a->count * sizeof(float)) != 0))
                __builtin_trap();
        }
    } else if (status != STYLE_ERR_NOMEM) {
        __builtin_trap(); /* a file we read must be one we can write */
    }
    style__free(bytes);
    st_file_clear(&again);
    st_file_clear(&file);
    return 0;
}
