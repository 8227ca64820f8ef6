/*
 * The scratch memory oneDNN primitives use (every primitive is created in user scratchpad
 * mode, so that sessions stay independent): one aligned buffer and the oneDNN memory object
 * over it. A plan, a band or a training graph creates one as large as its largest primitive
 * needs and hands it to every forward / backward call; NULL stands for "no scratchpad needed".
 */
#ifndef STYLE_DNN_SCRATCHPAD_H
#define STYLE_DNN_SCRATCHPAD_H

#include "core/common.h"
#include "dnn/dnn_context.h"

typedef struct dnn_scratchpad dnn_scratchpad;

/*
 * Allocates `bytes` of scratchpad on the engine of `dnn`; with bytes == 0, *out is NULL and
 * the call succeeds. `what` names the caller in an error message.
 */
style_status dnn_scratchpad_create(dnn_scratchpad **out, dnn_context *dnn, size_t bytes,
                                   const char *what);

/* Frees the memory object and the buffer; NULL is a no-op. */
void dnn_scratchpad_free(dnn_scratchpad *scratchpad);

#endif
