/*
 * Fuzz target: feature (loss) network files: the safetensors parse the loader does (lenient),
 * then the spec parser (libstyle.layers / taps / input / loss metadata) or VGG recognition,
 * and the tensor checks (src/features/feature_net.c).
 */
#include "features/feature_net.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    st_file file = {0};
    if (st_parse_lenient(data, size, true, &file) != STYLE_OK) return 0;
    feature_net *net = NULL;
    if (feature_net_from_file(&file, "fuzz", &net) == STYLE_OK) {
        for (int32_t i = 0; i < net->tap_count; i++)
            if (net->tap_layers[i] < 0 || net->tap_layers[i] >= net->layer_count) __builtin_trap();
        feature_net_free(net);
    }
    return 0;
}
