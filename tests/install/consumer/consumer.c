/* A C program using an installed libstyle (tests/install/test_install.sh): the linked library
 * is the one the header describes, and a failure is reported as the header promises. */
#include <libstyle.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    static const char garbage[] = "these bytes are not a safetensors model at all";
    style_load_options options;
    style_model *model = (style_model *)&options; /* must come back NULL */
    style_status status;

    if (strcmp(style_version_string(), LIBSTYLE_VERSION_STRING) != 0 ||
        style_version_number() != LIBSTYLE_VERSION_NUMBER) {
        fprintf(stderr, "linked libstyle %s (%u), header %s (%u)\n", style_version_string(),
                style_version_number(), LIBSTYLE_VERSION_STRING, LIBSTYLE_VERSION_NUMBER);
        return 1;
    }
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    status = style_model_load_memory(garbage, sizeof garbage, &options, &model);
    if (status != STYLE_ERR_FORMAT || model != NULL || style_last_error()[0] == '\0') {
        fprintf(stderr, "garbage model: status %d (%s), model %s, error '%s'\n", (int)status,
                style_status_string(status), model == NULL ? "NULL" : "set", style_last_error());
        return 1;
    }
    printf("C consumer: libstyle %s; garbage model: %s: %s\n", style_version_string(),
           style_status_string(status), style_last_error());
    return 0;
}
