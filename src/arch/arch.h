/*
 * One interface per architecture. A model file's libstyle.arch picks a `style_arch` once, at
 * load (model/model.c); the model keeps a pointer to it, and everything that differs between
 * architectures goes through it: loading and freeing the architecture's part of the model,
 * its info and saved metadata, the precisions it runs, and a session's runs (the builds it
 * keeps per session, memory estimates, preparing, stylizing a batch - whole or in bands, which
 * each architecture decides for itself -, run info, profiles, and its way of choosing a
 * style). model/, session/ and the video session call these and fork on nothing else.
 *
 * Adding an architecture: a file defining its `const style_arch`, and one line in the table
 * of arch.c.
 */
#ifndef STYLE_ARCH_H
#define STYLE_ARCH_H

#include "core/common.h"
#include "dnn/dnn_context.h"
#include "dnn/dnn_scratchpad.h"
#include "model/safetensors.h"

struct norm_ema_store;

/* What a session's runs read of the session (filled afresh for every call). */
typedef struct arch_context {
    dnn_context *dnn;          /* oneDNN engine + stream */
    int threads;               /* OpenMP threads of the run (already set by the session) */
    uint64_t memory_budget;    /* bytes; never 0 */
    style_precision precision; /* resolved: never auto */
    bool tileable;             /* circular padding: seamless textures */
    int32_t band_rows;         /* > 0: always run in bands of at most this many rows (tests) */
    float strength;            /* the strength control (AdaIN applies it in feature space) */
    struct norm_ema_store *norm_ema; /* video: norm statistics over frames, or NULL */
    style_log_fn log;
    void *log_user;
    style_progress_fn progress; /* the caller's, over the whole batch; may be NULL */
    void *progress_user;
} arch_context;

typedef struct style_arch {
    const char *name; /* the libstyle.arch value */
    /* The norms hold one row per style, named by libstyle.styles (johnson-cin). */
    bool conditional_styles;
    /* The transform network's keys (libstyle.padding, .upsample, .norm, .norm_eps, .output,
     * .final_norm) describe this architecture, so they are written out explicitly on save. */
    bool transform_keys;
    /* libstyle.* keys only this architecture reads (NULL-terminated; NULL for none). */
    const char *const *metadata_keys;
    /* The network applies the strength control itself (AdaIN's alpha, in feature space), so
     * the session does not blend the result with the content. */
    bool strength_in_network;

    /* ---- the model ---- */
    /* The architecture's part of the model from model->file, after the common metadata;
     * counts model->parameter_count. Errors name no file (the caller prefixes it). */
    style_status (*load)(style_model *model);
    /* Frees what load made (also after a load that failed half-way). */
    void (*unload)(style_model *model);
    /* Overwrites the fields of the common info that this architecture means otherwise. */
    void (*info)(const style_model *model, style_model_info *info);
    /* NULL when `precision` runs on this model (given the machine does), else why not. */
    const char *(*precision_refusal)(const style_model *model, style_precision precision);
    /* Whether a video session may smooth this model's norm statistics over frames. */
    bool (*smooths_norms)(const style_model *model);

    /* ---- a session's runs: `runtime` is the architecture's state in one session ---- */
    style_status (*runtime_create)(const style_model *model, void **runtime);
    void (*runtime_free)(void *runtime);
    /* Bytes a width x height run would allocate. */
    style_status (*estimate)(void *runtime, const arch_context *context, int32_t width,
                             int32_t height, uint64_t *bytes);
    /* Builds (or finds in the runtime's cache) what a width x height run needs. */
    style_status (*prepare)(void *runtime, const arch_context *context, int32_t width,
                            int32_t height);
    /* `count` validated images of one size into outputs (RGB from the network, alpha from the
     * input), whole or in bands (over the budget, or band_rows). Progress reports image i as
     * number first + i of total. */
    style_status (*stylize)(void *runtime, const arch_context *context, const style_image *inputs,
                            style_image *outputs, size_t count, size_t first, size_t total);
    /* The last build into info (struct_size already checked). */
    style_status (*run_info)(void *runtime, style_run_info *info);

    /* Optional: NULL where the architecture has no such thing. */
    style_status (*set_profiling)(void *runtime, bool enable);
    /* executed: the FLOPs each step executes, beside `layers` (style_session_get_profile_
     * executed_flops). */
    style_status (*get_profile)(void *runtime, const style_layer_profile **layers,
                                const double **executed, size_t *count, uint64_t *runs);
    /* johnson-cin: the blend of the model's styles (weights normalised, style_count of them). */
    void (*set_style_weights)(void *runtime, const double *weights);
    /* AdaIN: the style statistics the runs use (checked against the model, copied). */
    style_status (*set_adain_style)(void *runtime, const style_adain_style *style);
} style_arch;

/* The architecture of a libstyle.arch value, or NULL. */
const style_arch *arch_find(const char *name);
/* "johnson, johnson-cin, adain": the values arch_find knows, for messages. */
void arch_names(char *out, size_t size);

/* Adds an architecture to the table (after the built-in ones) before any model names it: how
 * tests/arch/test_arch.c checks that the interface suffices for one more. Not thread-safe. */
style_status arch_register(const style_arch *arch);

/* The architectures (one file each). */
extern const style_arch arch_johnson, arch_johnson_cin, arch_adain;

/*
 * A run's progress within image `index` (of the batch's `count`) as the caller's progress over
 * the batch: pass arch_image_progress with a pointer to an arch_progress as the user pointer.
 */
typedef struct arch_progress {
    const arch_context *context;
    size_t index, count;
} arch_progress;
int arch_image_progress(void *user, double fraction);

/* Logs a message through the context's log callback (if any). */
void arch_log(const arch_context *context, style_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
