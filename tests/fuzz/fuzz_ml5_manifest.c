/* Fuzz target: the ml5 importer's manifest.json parser (src/model/import_ml5.c). */
#include "model/import_ml5.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ml5_manifest manifest;
    if (ml5_manifest_parse(data, size, &manifest) == STYLE_OK) {
        /* Every entry the importer would open must be a plain name with a sane count. */
        for (int i = 0; i < ML5_VARIABLES; i++) {
            const ml5_entry *entry = &manifest.entries[i];
            if (!entry->filename || !*entry->filename || strchr(entry->filename, '/') ||
                entry->count == 0 || entry->count > ML5_MAX_FILE_BYTES / sizeof(float))
                __builtin_trap();
        }
    }
    ml5_manifest_clear(&manifest);
    return 0;
}
