/* The shared oneDNN context of a test file. */
#include "dnn_fixture.h"

#include "testutil.h"

static dnn_context *fixture_context;

int dnn_fixture_setup(void **state)
{
    if (dnn_context_create(&fixture_context, "test") != STYLE_OK) return -1;
    if (state) *state = fixture_context;
    return 0;
}

int dnn_fixture_teardown(void **state)
{
    (void)state;
    dnn_context_free(fixture_context);
    fixture_context = NULL;
    return 0;
}

dnn_context *dnn_fixture(void)
{
    assert_non_null(fixture_context);
    return fixture_context;
}

dnn_scratchpad *dnn_fixture_scratchpad(size_t bytes)
{
    dnn_scratchpad *scratchpad = NULL;
    assert_int_equal(dnn_scratchpad_create(&scratchpad, dnn_fixture(), bytes, "test"), STYLE_OK);
    return scratchpad;
}
