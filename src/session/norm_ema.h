/*
 * Instance-norm statistics smoothed over time, for video: each normalizing norm pass of a
 * network plan can be given a slot holding the per-channel mean and variance it used on the
 * previous frame; the pass then normalizes with an exponential moving average
 *     smoothed(t) = w * smoothed(t - 1) + (1 - w) * measured(t)
 * of the mean and of the variance (in real units, so int8 steps that change from frame to
 * frame do not matter), and stores smoothed(t) back. A pass without a slot (ema NULL, every
 * image run) computes exactly as before. A store holds the slots of one plan; binding it to
 * another plan (another frame size, precision or model) starts it afresh.
 */
#ifndef STYLE_NORM_EMA_H
#define STYLE_NORM_EMA_H

#include "arch/network.h"

/* The statistics of one norm pass. */
typedef struct norm_ema_slot {
    double weight; /* of the previous statistics, 0 <= weight < 1 */
    bool primed;   /* mean/var hold the previous frame's (else the next frame starts afresh) */
    int32_t channels;
    double *mean, *var; /* [channels], real units */
} norm_ema_slot;

/*
 * Channel c's mean and (biased) variance measured on this frame, in source units of step
 * `unit` (real = unit * source), are replaced by the smoothed ones and recorded. Unprimed,
 * with weight 0, or where the smoothed value equals this frame's (a still picture), a value is
 * left bit for bit as it is.
 */
void norm_ema_smooth(norm_ema_slot *slot, int32_t c, double unit, double *mean, double *var);

typedef struct norm_ema_store {
    double weight;
    /* the plan the slots belong to */
    int32_t height, width;
    net_precision precision;
    bool circular;
    size_t op_count;
    size_t slot_count;
    norm_ema_slot *slots;
    double *values;
} norm_ema_store;

/* An empty store (no slots until the first bind) smoothing with `weight` in [0, 1). */
void norm_ema_store_init(norm_ema_store *store, double weight);
/* Gives every normalizing norm pass of `plan` its slot (new, unprimed slots when the plan is
 * not the one the store was last bound to). */
style_status norm_ema_store_bind(norm_ema_store *store, network_plan *plan);
/* Takes the slots away from the plan's passes again (the plan then runs per image). */
void norm_ema_store_unbind(network_plan *plan);
/* Forgets the statistics: the next frame is normalized with its own (a cut). */
void norm_ema_store_reset(norm_ema_store *store);
void norm_ema_store_destroy(norm_ema_store *store);

/* Makes the session's plan runs use `store` (NULL: per image again); session.c. */
void style__session_set_norm_ema(style_session *session, norm_ema_store *store);

#endif
