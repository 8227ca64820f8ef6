/*
 * The oneDNN engine and stream a session, a trainer or a test runs its primitives on. The type
 * is opaque outside src/dnn/: code elsewhere holds a `dnn_context *` and hands it to the layer
 * functions (dnn/layers.h, dnn/train_layers.h), which reach the engine and stream inside.
 */
#ifndef STYLE_DNN_CONTEXT_H
#define STYLE_DNN_CONTEXT_H

#include "core/common.h"

typedef struct dnn_context dnn_context;

/*
 * Creates a CPU engine and its stream. `what` names the caller in an error message
 * ("<what>: engine", "<what>: stream"). On failure *out is NULL.
 */
style_status dnn_context_create(dnn_context **out, const char *what);

/* Waits for every primitive submitted to the stream (the CPU stream runs them synchronously,
 * so this is cheap); `what` names the caller in an error message. */
style_status dnn_context_wait(dnn_context *dnn, const char *what);

/* Destroys the stream and the engine; NULL is a no-op. */
void dnn_context_free(dnn_context *dnn);

#endif
