/*
 * Stylizing images larger than the memory budget: the network is run one layer at a time
 * over the whole image, each layer in bands of rows (with the halo rows its kernel needs),
 * and the activations between layers live in unlinked temporary files. Every instance norm
 * is applied only once its layer's output is complete, with statistics summed (in double)
 * over all the bands, so the result is the untiled network's up to float rounding - not the
 * colour shifts of per-tile statistics. See docs/pipeline.md ("Huge images").
 */
#ifndef STYLE_BANDED_H
#define STYLE_BANDED_H

#include "dnn/layers.h"
#include "model/model.h"

typedef struct banded_options {
    const style_model *model;
    dnn_context *dnn;       /* oneDNN engine + stream */
    uint64_t memory_budget; /* what the buffers of one layer's band may use */
    int32_t max_band_rows;  /* > 0: at most this many output rows per band (tests) */
    bool circular;          /* tileable: wrap-around padding */
    int (*progress)(void *user, double fraction);
    void *progress_user;
} banded_options;

/* Whether the banded path runs this model (it needs nearest_conv upsampling). */
bool banded_runs_model(const style_model *model);
#define BANDED_MODEL_MESSAGE                                                                       \
    "images over the memory budget are processed in bands, which needs a model with "              \
    "nearest_conv upsampling (this one has transposed convolutions)"

/*
 * Stylizes `input` (RGB of it; any sample type) into `output` (same size), alpha from
 * `alpha_source`, processing at the padded size (multiples of 4; the image is extended by
 * reflection, or must already be a multiple of 4 when circular). Temporary files go to
 * $TMPDIR (default /tmp).
 */
style_status banded_stylize(const banded_options *options, const style_image *input,
                            const style_image *alpha_source, style_image *output);

#endif
