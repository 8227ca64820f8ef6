/*
 * Data-parallel training: the batch shares and the collective calls.
 *
 * Gradients live in one flat array (train_params), so they are summed as consecutive buckets
 * of at most 4 MiB rather than tensor by tensor: a full-width network (1.68 M parameters,
 * 6.7 MB) takes two calls, a half-width one a single call, instead of ~70 latency-bound ones.
 * The sums run after the backward pass, not overlapped with it: measured and estimated in
 * docs/training.md, communication is a few per cent of an iteration even at 10 Gb/s.
 */
#include "train/train_group.h"
#include "core/clock.h"

#include <string.h>
#include <time.h>

style_status train_group_init(train_group *g, const style_train_group *api)
{
    memset(g, 0, sizeof *g);
    g->ranks = 1;
    if (api && api->ranks != 1) {
        if (api->struct_size < sizeof(style_train_group))
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "train: group: struct_size %zu is not sizeof(style_train_group)",
                               api->struct_size);
        if (api->ranks < 1 || api->rank < 0 || api->rank >= api->ranks)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT, "train: group: rank %d of %d", api->rank,
                               api->ranks);
        if (!api->allreduce_sum || !api->broadcast)
            return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                               "train: group: allreduce_sum and broadcast are required");
        g->api = api;
        g->rank = api->rank;
        g->ranks = api->ranks;
    }
    return STYLE_OK;
}

style_status train_group_share(train_group *g, int32_t batch)
{
    if (batch < g->ranks)
        return style__fail(STYLE_ERR_INVALID_ARGUMENT,
                           "train: a batch of %d images cannot be shared by %d processes (each "
                           "needs at least one; use --batch %d or more)",
                           batch, g->ranks, g->ranks);
    const int32_t base = batch / g->ranks, extra = batch % g->ranks;
    g->shard = base + (g->rank < extra);
    g->first = g->rank * base + (g->rank < extra ? g->rank : extra);
    return STYLE_OK;
}

style_status train_group_sum(train_group *g, float *data, size_t count, const char *what)
{
    if (!g->api) return STYLE_OK;
    double start = style__clock_seconds();
    for (size_t done = 0; done < count; done += TRAIN_GROUP_BUCKET_FLOATS) {
        size_t bucket =
            count - done < TRAIN_GROUP_BUCKET_FLOATS ? count - done : TRAIN_GROUP_BUCKET_FLOATS;
        if (g->api->allreduce_sum(g->api->user, data + done, bucket) != 0)
            return style__fail(STYLE_ERR_IO,
                               "train: rank %d: summing the %s over %d processes "
                               "failed",
                               g->rank, what, g->ranks);
    }
    g->seconds += style__clock_seconds() - start;
    return STYLE_OK;
}

style_status train_group_sum_doubles(train_group *g, double *values, int32_t count,
                                     const char *what)
{
    if (!g->api) return STYLE_OK;
    enum { MAX_VALUES = 16 };
    float parts[2 * MAX_VALUES];
    if (count > MAX_VALUES)
        return style__fail(STYLE_ERR_INTERNAL, "train: %d values to sum, at most %d", count,
                           MAX_VALUES);
    for (int32_t i = 0; i < count; i++) {
        parts[2 * i] = (float)values[i];
        parts[2 * i + 1] = (float)(values[i] - (double)parts[2 * i]);
    }
    style_status status = train_group_sum(g, parts, (size_t)2 * count, what);
    for (int32_t i = 0; i < count && status == STYLE_OK; i++)
        values[i] = (double)parts[2 * i] + (double)parts[2 * i + 1];
    return status;
}

style_status train_group_broadcast(train_group *g, void *data, size_t bytes, const char *what)
{
    if (!g->api) return STYLE_OK;
    double start = style__clock_seconds();
    if (g->api->broadcast(g->api->user, data, bytes) != 0)
        return style__fail(STYLE_ERR_IO, "train: rank %d: receiving the %s from rank 0 failed",
                           g->rank, what);
    g->seconds += style__clock_seconds() - start;
    return STYLE_OK;
}
