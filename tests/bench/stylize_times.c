/*
 * Per-image stylization time at several sizes, through the public API (one session, plan
 * built by a warm-up run, so the timings are steady-state runs): median and min of N runs,
 * the network's FLOPs (2 x multiply-adds of every convolution, counted from the plan), and
 * the achieved GFLOP/s.
 *
 *   stylize_times MODEL.safetensors [THREADS] [RUNS] [SIZE...]
 */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* FLOPs of one run: 2 * MACs over every convolution of the plan. */
static double plan_flops(const style_model *model, int size)
{
    dnnl_engine_t engine;
    dnnl_engine_create(&engine, dnnl_cpu, 0);
    network_plan plan;
    double flops = 0;
    if (network_plan_describe(&plan, model, engine, size, size) == STYLE_OK) {
        for (size_t i = 0; i < plan.op_count; i++) {
            const conv_layer *c = &plan.ops[i].conv;
            if (plan.ops[i].kind != OP_CONV) continue;
            /* A transposed conv does one MAC per input pixel per weight. */
            double pixels = c->spec.transposed ? (double)c->in_h * c->in_w : (double)c->out_h * c->out_w;
            flops += 2.0 * pixels * c->spec.in_channels * c->spec.out_channels * c->spec.kernel * c->spec.kernel;
        }
        network_plan_destroy(&plan);
    }
    dnnl_engine_destroy(engine);
    return flops;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL [THREADS] [RUNS] [SIZE...]\n", argv[0]);
        return 2;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    int runs = argc > 3 ? atoi(argv[3]) : 10;
    int default_sizes[] = {256, 512, 1024}, *sizes = default_sizes, count = 3;
    if (argc > 4) {
        count = argc - 4;
        sizes = malloc(sizeof(int) * count);
        for (int i = 0; i < count; i++) sizes[i] = atoi(argv[4 + i]);
    }
    style_model *model;
    style_session *session;
    if (style_model_load(argv[1], NULL, &model) != STYLE_OK ||
        style_session_create(model, &session) != STYLE_OK) {
        fprintf(stderr, "%s\n", style_last_error());
        return 1;
    }
    style_session_set_threads(session, threads);
    printf("%-10s %8s %10s %10s %8s %10s\n", "size", "GFLOP", "median ms", "min ms", "GFLOP/s",
           "build ms");
    for (int s = 0; s < count; s++) {
        int n = sizes[s];
        style_image in, out;
        style_image_alloc(&in, n, n, 3, STYLE_SAMPLE_U8);
        style_image_alloc(&out, n, n, 3, STYLE_SAMPLE_U8);
        for (size_t i = 0; i < (size_t)n * n * 3; i++) ((uint8_t *)in.data)[i] = (uint8_t)(i * 31 >> 3);
        double t0 = now_ms();
        if (style_session_stylize(session, &in, &out) != STYLE_OK) {
            fprintf(stderr, "%s\n", style_last_error());
            return 1;
        }
        double build = now_ms() - t0;
        double *times = malloc(sizeof(double) * runs);
        for (int r = 0; r < runs; r++) {
            t0 = now_ms();
            style_session_stylize(session, &in, &out);
            times[r] = now_ms() - t0;
        }
        qsort(times, runs, sizeof *times, compare);
        double median = runs % 2 ? times[runs / 2] : (times[runs / 2 - 1] + times[runs / 2]) / 2;
        double flops = plan_flops(model, n);
        printf("%4dx%-5d %8.1f %10.1f %10.1f %8.1f %10.1f\n", n, n, flops / 1e9, median, times[0],
               flops / median / 1e6, build - median);
        free(times);
        style_image_release(&in);
        style_image_release(&out);
    }
    style_session_free(session);
    style_model_free(model);
    return 0;
}
