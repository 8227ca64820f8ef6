/*
 * Stylizes one picture with a libstyle model, in C.
 *
 *   cc stylize.c $(pkg-config --cflags --libs libstyle) -o stylize
 *   ./stylize /usr/local/share/libstyle/models/starry-night.safetensors city.jpg styled.png
 *
 * Written from docs/api.md: every call returns a style_status, style_last_error() says why
 * one failed, and one clean-up path frees everything (freeing NULL is a no-op).
 */
#include <libstyle.h>

#include <stdio.h>

int main(int argc, char **argv)
{
    style_model *model = NULL;
    style_session *session = NULL;
    style_image photo = {0};
    style_image styled = {0};
    style_model_info info;
    const char *name;
    style_status status;

    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors INPUT OUTPUT\n", argv[0]);
        return 2;
    }
    if (style_version_number() < LIBSTYLE_VERSION_NUMBER)
        fprintf(stderr, "warning: built against libstyle %s, running with %s\n",
                LIBSTYLE_VERSION_STRING, style_version_string());

    status = style_model_load(argv[1], NULL, &model);
    if (status == STYLE_OK) status = style_model_get_info(model, &info);
    if (status == STYLE_OK) status = style_session_create(model, &session);
    if (status == STYLE_OK) status = style_image_load(argv[2], 0, &photo);
    if (status == STYLE_OK) {
        /* data == NULL: the library allocates the output in the input's format. */
        styled.width = photo.width;
        styled.height = photo.height;
        status = style_session_stylize(session, &photo, &styled);
    }
    if (status == STYLE_OK) status = style_image_save(argv[3], &styled, 0);

    if (status == STYLE_OK) {
        name = style_model_metadata_get(model, "libstyle.name");
        printf("%s: %dx%d with '%s' (%llu parameters) -> %s\n", argv[2], (int)photo.width,
               (int)photo.height, name != NULL ? name : argv[1],
               (unsigned long long)info.parameter_count, argv[3]);
    } else {
        /* Right after the failure: the message is valid until the next libstyle call. */
        fprintf(stderr, "stylize: %s (%s)\n", style_last_error(), style_status_string(status));
    }
    style_image_release(&styled);
    style_image_release(&photo);
    style_session_free(session);
    style_model_free(model);
    return status == STYLE_OK ? 0 : 1;
}
