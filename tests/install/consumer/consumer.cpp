// A C++ program using an installed libstyle (tests/install/test_install.sh): the headers are
// usable from C++ (extern "C", no C-only constructs) and link by their C names. It includes
// libstyle_train.h, which brings libstyle.h (consumer.c includes libstyle.h alone).
#include <libstyle_train.h>

#include <cstdio>
#include <string>

int main()
{
    static const char garbage[] = "these bytes are not a safetensors model at all";
    style_load_options options{};
    options.struct_size = sizeof options;
    style_model *model = reinterpret_cast<style_model *>(&options); // must come back nullptr

    if (std::string(style_version_string()) != LIBSTYLE_VERSION_STRING ||
        style_version_number() != LIBSTYLE_VERSION_NUMBER) {
        std::fprintf(stderr, "linked libstyle %s, header %s\n", style_version_string(),
                     LIBSTYLE_VERSION_STRING);
        return 1;
    }
    const style_status status = style_model_load_memory(garbage, sizeof garbage, &options, &model);
    const std::string error = style_last_error();
    if (status != STYLE_ERR_FORMAT || model != nullptr || error.empty()) {
        std::fprintf(stderr, "garbage model: status %d (%s), model %s, error '%s'\n",
                     static_cast<int>(status), style_status_string(status),
                     model == nullptr ? "nullptr" : "set", error.c_str());
        return 1;
    }
    style_train_options train_options{}; // no out_path: refused before any work
    train_options.struct_size = sizeof train_options;
    if (style_train(&train_options) != STYLE_ERR_INVALID_ARGUMENT) {
        std::fprintf(stderr, "style_train without out_path: not STYLE_ERR_INVALID_ARGUMENT\n");
        return 1;
    }
    std::printf("C++ consumer: libstyle %s; garbage model: %s: %s\n", style_version_string(),
                style_status_string(status), error.c_str());
    return 0;
}
