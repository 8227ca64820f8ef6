/*
 * One oneDNN context (engine + stream, dnn/dnn_context.h) shared by the tests of a file, in
 * place of the engine / stream set-up each test file used to copy:
 *
 *     return cmocka_run_group_tests(tests, dnn_fixture_setup, dnn_fixture_teardown);
 *
 * and in a test `dnn_context *dnn = dnn_fixture();` (or `*state`, which the setup sets).
 */
#ifndef STYLE_TEST_DNN_FIXTURE_H
#define STYLE_TEST_DNN_FIXTURE_H

#include "dnn/dnn_context.h"
#include "dnn/dnn_scratchpad.h"

/* cmocka group setup: creates the file's context and sets *state to it; -1 on failure. */
int dnn_fixture_setup(void **state);

/* cmocka group teardown: frees the context. */
int dnn_fixture_teardown(void **state);

/* The context dnn_fixture_setup created (fails the test when there is none). */
dnn_context *dnn_fixture(void);

/* A scratchpad of `bytes` for one layer's passes (NULL for 0 bytes); fails the test when it
 * cannot be made. Free it with dnn_scratchpad_free. */
dnn_scratchpad *dnn_fixture_scratchpad(size_t bytes);

#endif
