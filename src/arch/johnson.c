/* The Johnson transform network's entries in the table of architectures (arch.h). */
#include "arch/johnson.h"

static void johnson_unload(style_model *model)
{
    (void)model; /* the stages point into model->file, which the model frees */
}

/* int8 takes its activation steps from the instance norms' parameters (network.c). */
static const char *johnson_precision_refusal(const style_model *model, style_precision precision)
{
    if (precision == STYLE_PRECISION_INT8 && model->norm != NORM_INSTANCE)
        return "int8 needs a model with instance norms (this one folds batch norm into its "
               "convolutions)";
    return NULL;
}

static bool johnson_smooths_norms(const style_model *model)
{
    return model->norm == NORM_INSTANCE;
}

#define JOHNSON_OPS                                                                                \
    .transform_keys = true, .load = johnson_model_load, .unload = johnson_unload,                  \
    .precision_refusal = johnson_precision_refusal, .smooths_norms = johnson_smooths_norms,        \
    .runtime_create = johnson_runtime_create, .runtime_free = johnson_runtime_free,                \
    .estimate = johnson_estimate, .prepare = johnson_prepare, .stylize = johnson_stylize,          \
    .run_info = johnson_run_info, .set_profiling = johnson_set_profiling,                          \
    .get_profile = johnson_get_profile

const style_arch arch_johnson = {.name = "johnson", JOHNSON_OPS};

/* Dumoulin et al.'s conditional instance norms: one row of scale and shift per style. */
const style_arch arch_johnson_cin = {.name = "johnson-cin",
                                     .conditional_styles = true,
                                     .set_style_weights = johnson_set_style_weights,
                                     JOHNSON_OPS};
