/*
 * The thin layer over oneDNN 2.6's C API, internal to src/dnn/: no file outside src/dnn/
 * includes it or names a dnnl_* identifier (tests/structure/test_dnn_owner.sh checks), so that
 * a move to oneDNN 3.x touches src/dnn/ only. Code elsewhere uses dnn/dnn_context.h,
 * dnn/dnn_scratchpad.h, dnn/dnn_gemm.h, dnn/dnn_cpu.h and the layer headers. Activations are always
 * plain NHWC float32 with N = 1: the layout oneDNN's brgconv inference kernels prefer on this
 * hardware and the one our own loops walk easily.
 */
#ifndef STYLE_BACKEND_H
#define STYLE_BACKEND_H

#include "core/common.h"
#include "dnn/dnn_context.h"
#include "dnn/dnn_cpu.h"
#include "dnn/dnn_scratchpad.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

/* What a dnn_context holds (opaque outside src/dnn/). */
struct dnn_context {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
};

/* What a dnn_scratchpad holds (opaque outside src/dnn/). */
struct dnn_scratchpad {
    void *buffer;
    size_t bytes;
    dnnl_memory_t memory; /* over buffer */
};

/* The memory object a primitive gets as DNNL_ARG_SCRATCHPAD (NULL for no scratchpad). */
static inline dnnl_memory_t dnn_scratchpad_memory(const dnn_scratchpad *scratchpad)
{
    return scratchpad ? scratchpad->memory : NULL;
}

/* Evaluate a oneDNN call; on failure set a message naming `what` and jump to `fail`. */
#define DNNL_TRY(call, what)                                                                       \
    do {                                                                                           \
        dnnl_status_t dnnl_status_ = (call);                                                       \
        if (dnnl_status_ != dnnl_success) {                                                        \
            status = style__backend_fail(dnnl_status_, (what));                                    \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

/* Maps a oneDNN status to a libstyle status and message. */
style_status style__backend_fail(dnnl_status_t dnnl_status, const char *what);

/* A memory descriptor for an NHWC float tensor 1 x c x h x w. */
style_status backend_md_nhwc(dnnl_memory_desc_t *md, int32_t c, int32_t h, int32_t w);

/* Reorders plain OIHW float weights into memory of descriptor `target` (allocated here). */
style_status backend_reorder_weights(dnnl_engine_t engine, dnnl_stream_t stream, const float *oihw,
                                     const dnnl_dims_t dims, const dnnl_memory_desc_t *target,
                                     dnnl_memory_t *out, void **buffer);

/* Scratchpad bytes a primitive descriptor needs (user scratchpad mode). */
size_t backend_scratchpad_bytes(const_dnnl_primitive_desc_t pd);

/* Attributes every primitive gets: user scratchpad (so sessions are independent) + post-ops. */
style_status backend_attr_create(dnnl_primitive_attr_t *attr, bool relu, bool sum);
/* The same with a leaky ReLU: x < 0 becomes relu_slope * x (0: ReLU). */
style_status backend_attr_create_slope(dnnl_primitive_attr_t *attr, bool relu, float relu_slope,
                                       bool sum);

#endif
