/*
 * What the library's code outside session.c may read of a session (style_session is opaque
 * everywhere else): its model and oneDNN engine and stream, its memory budget and the thread
 * count its runs use. For work a session does outside a stylize call (AdaIN styles).
 */
#ifndef STYLE_SESSION_H
#define STYLE_SESSION_H

#include "core/common.h"
#include "dnn/dnn_context.h"
#include "dnn/dnn_scratchpad.h"
#include "model/model.h"

typedef struct session_context {
    const style_model *model;
    dnn_context *dnn;       /* oneDNN engine + stream */
    uint64_t memory_budget; /* bytes; never 0 */
    int threads;            /* OpenMP threads of its runs (the setting, or one per processor) */
} session_context;

void session_get_context(const style_session *session, session_context *out);

#endif
