/* A program that defines its own functions under names that libstyle uses inside (adam_step,
 * lbfgs_step, model_from_file, ...) and links libstyle.a (tests/symbols/test_symbols.sh).
 * It must link (no "multiple definition"), its calls must reach its own functions, and the
 * library's must reach the library's: a model loads and stylizes, and none of the functions
 * below runs from inside the library. Usage: symbol_clash MODEL.safetensors */
#include <libstyle.h>

#include <stdio.h>
#include <string.h>

/* How often each function below ran; the library must never call them. */
static int calls;

/* Names that libstyle.a's objects define (nm), with signatures of this program's own: each
 * returns x + its number and counts the call. */
#define OWN_FUNCTIONS(X)                                                                           \
    X(adam_step, 1)                                                                                \
    X(lbfgs_step, 2)                                                                               \
    X(model_from_file, 3)                                                                          \
    X(st_find, 4)                                                                                  \
    X(pad_reflect_nhwc, 5)                                                                         \
    X(image_resize_rgb, 6)                                                                         \
    X(train_rng_next, 7)                                                                           \
    X(tconv_forward, 8)                                                                            \
    X(conv_layer_forward, 9)                                                                       \
    X(network_plan_run, 10)
#define DEFINE_OWN(name, number)                                                                   \
    int name(int x);                                                                               \
    int name(int x)                                                                                \
    {                                                                                              \
        calls++;                                                                                   \
        return x + number;                                                                         \
    }
OWN_FUNCTIONS(DEFINE_OWN)

static int own_functions_answer(void)
{
    int answered = 0, count = 0;
#define CALL_OWN(name, number) answered += name(0) == number, count++;
    OWN_FUNCTIONS(CALL_OWN)
    return answered == count && calls == count;
}

int main(int argc, char **argv)
{
    style_model *model = NULL;
    style_session *session = NULL;
    style_image input, output;
    style_status status;
    int failed = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.safetensors\n", argv[0]);
        return 2;
    }
    memset(&input, 0, sizeof input);
    memset(&output, 0, sizeof output);
    status = style_model_load(argv[1], NULL, &model);
    if (status == STYLE_OK) status = style_session_create(model, &session);
    if (status == STYLE_OK) status = style_image_alloc(&input, 40, 24, 3, STYLE_SAMPLE_U8);
    if (status == STYLE_OK) {
        unsigned char *pixels = input.data;
        for (size_t i = 0; i < (size_t)40 * 24 * 3; i++)
            pixels[i] = (unsigned char)(i * 7 % 251);
        status = style_session_stylize(session, &input, &output);
    }
    if (status != STYLE_OK) {
        fprintf(stderr, "libstyle: %s: %s\n", style_status_string(status), style_last_error());
    } else if (output.width != 40 || output.height != 24 || output.channels != 3) {
        fprintf(stderr, "stylized to %d x %d x %d, not 40 x 24 x 3\n", (int)output.width,
                (int)output.height, (int)output.channels);
    } else if (calls != 0) {
        fprintf(stderr, "the library called %d of this program's functions\n", calls);
    } else if (!own_functions_answer()) {
        fprintf(stderr, "this program's own functions did not answer as written\n");
    } else {
        printf("stylized 40 x 24 beside this program's own adam_step, st_find, ...\n");
        failed = 0;
    }
    style_image_release(&output);
    style_image_release(&input);
    style_session_free(session);
    style_model_free(model);
    return failed;
}
