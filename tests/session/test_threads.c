/*
 * One model shared by many threads, each with its own session: every output must be
 * byte-identical to a serial run. Sizes differ per thread so that sessions build different
 * plans at the same time.
 */
#include "model_builder.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { THREADS = 6, ROUNDS = 3 };

typedef struct job {
    style_model *model;
    style_image input;
    uint8_t *expected;
    int mismatches;
    style_status status;
} job;

static uint8_t *make_pixels(int w, int h, int seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++) p[i] = (uint8_t)((i * (seed + 5)) ^ (i >> 3));
    return p;
}

static void *worker(void *arg)
{
    job *j = arg;
    style_session *session = NULL;
    j->status = style_session_create(j->model, &session);
    if (j->status != STYLE_OK) return NULL;
    style_session_set_threads(session, 1);
    size_t bytes = (size_t)j->input.width * j->input.height * 3;
    for (int r = 0; r < ROUNDS && j->status == STYLE_OK; r++) {
        style_image out = {0};
        j->status = style_session_stylize(session, &j->input, &out);
        if (j->status == STYLE_OK && memcmp(out.data, j->expected, bytes) != 0) j->mismatches++;
        style_image_release(&out);
    }
    style_session_free(session);
    return NULL;
}

static void test_shared_model(void **state)
{
    (void)state;
    test_model_config c = test_default_config();
    c.widths[0] = 16, c.widths[1] = 32, c.widths[2] = 64;
    c.residual_blocks = 2;
    style_model *model = test_build_model(&c, 99);
    job jobs[THREADS];
    style_session *serial;
    assert_int_equal(style_session_create(model, &serial), STYLE_OK);
    style_session_set_threads(serial, 1);
    for (int t = 0; t < THREADS; t++) {
        int w = 24 + 4 * (t % 3), h = 20 + 8 * (t % 2); /* three sizes, shared by pairs */
        jobs[t] = (job){model, {w, h, 3, STYLE_SAMPLE_U8, 0, make_pixels(w, h, t)}, NULL, 0, 0};
        style_image out = {0};
        assert_int_equal(style_session_stylize(serial, &jobs[t].input, &out), STYLE_OK);
        jobs[t].expected = out.data;
    }
    style_session_free(serial);

    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++) assert_int_equal(pthread_create(&threads[t], NULL, worker, &jobs[t]), 0);
    for (int t = 0; t < THREADS; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(jobs[t].status, STYLE_OK);
        assert_int_equal(jobs[t].mismatches, 0);
        free(jobs[t].input.data);
        style_image expected = {0};
        expected.data = jobs[t].expected;
        style_image_release(&expected);
    }
    style_model_free(model);
}

/* Errors are per thread: a failure in one thread does not change another's message. */
static void *fail_in_thread(void *arg)
{
    style_model *model = NULL;
    style_status s = style_model_load("/nonexistent/thread.safetensors", NULL, &model);
    *(int *)arg = s == STYLE_ERR_IO && strstr(style_last_error(), "thread.safetensors") != NULL;
    return NULL;
}

static void test_thread_local_errors(void **state)
{
    (void)state;
    style_model *model = NULL;
    assert_int_equal(style_model_load("/nonexistent/main.safetensors", NULL, &model), STYLE_ERR_IO);
    int ok = 0;
    pthread_t thread;
    pthread_create(&thread, NULL, fail_in_thread, &ok);
    pthread_join(thread, NULL);
    assert_true(ok);
    assert_non_null(strstr(style_last_error(), "main.safetensors"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_model),
        cmocka_unit_test(test_thread_local_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
