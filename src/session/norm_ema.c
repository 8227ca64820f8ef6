/*
 * Instance-norm statistics smoothed over time (norm_ema.h).
 */
#include "session/norm_ema.h"

#include <string.h>

void norm_ema_smooth(norm_ema_slot *slot, int32_t c, double unit, double *mean, double *var)
{
    const double real_mean = *mean * unit, real_var = *var * unit * unit;
    if (!slot->primed || slot->weight == 0.0) {
        slot->mean[c] = real_mean;
        slot->var[c] = real_var;
        return;
    }
    /* w * old + (1 - w) * new, written so that an unchanged value stays exactly as it is
     * (a still picture gives the same frame bit for bit) */
    const double step = 1.0 - slot->weight;
    slot->mean[c] += step * (real_mean - slot->mean[c]);
    slot->var[c] += step * (real_var - slot->var[c]);
    if (slot->mean[c] != real_mean) *mean = slot->mean[c] / unit;
    if (slot->var[c] != real_var) *var = slot->var[c] / (unit * unit);
}

void norm_ema_store_init(norm_ema_store *store, double weight)
{
    memset(store, 0, sizeof *store);
    store->weight = weight;
}

static bool normalizing(const plan_op *op)
{
    return op->kind == OP_NORM && op->norm.spec.normalize;
}

static bool bound_to(const norm_ema_store *store, const network_plan *plan)
{
    return store->slots && store->height == plan->height && store->width == plan->width &&
           store->precision == plan->precision && store->circular == plan->circular &&
           store->op_count == plan->op_count;
}

/* Slots for every normalizing pass of `plan`, unprimed. */
static style_status make_slots(norm_ema_store *store, const network_plan *plan)
{
    style_status status = STYLE_OK;
    size_t slots = 0, values = 0;
    for (size_t i = 0; i < plan->op_count; i++)
        if (normalizing(&plan->ops[i])) {
            slots++;
            values += 2 * (size_t)plan->ops[i].norm.spec.channels;
        }
    norm_ema_slot *slot = style__calloc(slots ? slots : 1, sizeof *slot);
    double *value = style__calloc(values ? values : 1, sizeof *value);
    FAIL_IF(!slot || !value, STYLE_ERR_NOMEM, "video: out of memory for the norm statistics");
    style__free(store->slots);
    style__free(store->values);
    store->slots = slot;
    store->values = value;
    store->slot_count = slots;
    for (size_t i = 0, k = 0; i < plan->op_count; i++) {
        if (!normalizing(&plan->ops[i])) continue;
        const int32_t channels = plan->ops[i].norm.spec.channels;
        slot[k] = (norm_ema_slot){store->weight, false, channels, value, value + channels};
        value += 2 * (size_t)channels;
        k++;
    }
    store->height = plan->height;
    store->width = plan->width;
    store->precision = plan->precision;
    store->circular = plan->circular;
    store->op_count = plan->op_count;
    return STYLE_OK;
fail:
    style__free(slot);
    style__free(value);
    return status;
}

style_status norm_ema_store_bind(norm_ema_store *store, network_plan *plan)
{
    if (!bound_to(store, plan)) {
        style_status status = make_slots(store, plan);
        if (status != STYLE_OK) return status;
    }
    for (size_t i = 0, k = 0; i < plan->op_count; i++)
        if (normalizing(&plan->ops[i])) plan->ops[i].norm.ema = &store->slots[k++];
    return STYLE_OK;
}

void norm_ema_store_unbind(network_plan *plan)
{
    for (size_t i = 0; i < plan->op_count; i++)
        if (plan->ops[i].kind == OP_NORM) plan->ops[i].norm.ema = NULL;
}

void norm_ema_store_reset(norm_ema_store *store)
{
    for (size_t i = 0; i < store->slot_count; i++)
        store->slots[i].primed = false;
}

void norm_ema_store_destroy(norm_ema_store *store)
{
    style__free(store->slots);
    style__free(store->values);
    memset(store, 0, sizeof *store);
}
