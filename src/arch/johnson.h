/*
 * The Johnson et al. transform network behind arch.h (arch johnson, and johnson-cin with
 * Dumoulin et al.'s conditional instance norms): loading (johnson_model.c), a session's runs
 * (johnson_session.c: the plan cache, whole-image plans and bands) and the style_arch
 * tables (johnson.c).
 */
#ifndef STYLE_JOHNSON_H
#define STYLE_JOHNSON_H

#include "arch/arch.h"
#include "model/model.h"

/* The tensors from model->file into down / residual / up / out (johnson_model.c). */
style_status johnson_model_load(style_model *model);

/* A session's runs (johnson_session.c); see style_arch for each. */
style_status johnson_runtime_create(const style_model *model, void **runtime);
void johnson_runtime_free(void *runtime);
style_status johnson_estimate(void *runtime, const arch_context *context, int32_t width,
                              int32_t height, uint64_t *bytes);
style_status johnson_prepare(void *runtime, const arch_context *context, int32_t width,
                             int32_t height);
style_status johnson_stylize(void *runtime, const arch_context *context, const style_image *inputs,
                             style_image *outputs, size_t count, size_t first, size_t total);
style_status johnson_run_info(void *runtime, style_run_info *info);
style_status johnson_set_profiling(void *runtime, bool enable);
style_status johnson_get_profile(void *runtime, const style_layer_profile **layers,
                                 const double **executed, size_t *count, uint64_t *runs);
void johnson_set_style_weights(void *runtime, const double *weights);

#endif
