/*
 * The trainer's side of data-parallel training (style_train_group): which crops of every
 * batch this process computes, and the collective calls (bucketed gradient sums, broadcasts
 * from rank 0) with their failures turned into style_status errors.
 */
#ifndef STYLE_TRAIN_GROUP_H
#define STYLE_TRAIN_GROUP_H

#include "core/common.h"

/* Gradients are summed in buckets of this many floats (4 MiB): see train_group.c. */
#define TRAIN_GROUP_BUCKET_FLOATS ((size_t)1 << 20)

typedef struct train_group {
    const style_train_group *api; /* NULL: a single process */
    int32_t rank, ranks;
    int32_t first, shard; /* this process's crops of every batch: first .. first + shard - 1 */
    double seconds;       /* spent in collective calls */
} train_group;

/* Checks the caller's group (NULL or ranks == 1: alone). */
style_status train_group_init(train_group *g, const style_train_group *api);
/* Shares a batch of `batch` crops: batch / ranks each, the first batch % ranks ranks one more.
 * Fails when a rank would get no crop. */
style_status train_group_share(train_group *g, int32_t batch);
static inline bool train_group_alone(const train_group *g)
{
    return g->ranks == 1;
}
static inline bool train_group_leader(const train_group *g)
{
    return g->rank == 0;
}
/* Sums count floats over the group in place, TRAIN_GROUP_BUCKET_FLOATS at a time. */
style_status train_group_sum(train_group *g, float *data, size_t count, const char *what);
/* Sums doubles over the group, each carried as two floats (about 14 significant digits). */
style_status train_group_sum_doubles(train_group *g, double *values, int32_t count,
                                     const char *what);
/* Rank 0's bytes into every process. */
style_status train_group_broadcast(train_group *g, void *data, size_t bytes, const char *what);

#endif
