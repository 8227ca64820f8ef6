/*
 * Per-image stylization time at several sizes, through the public API (one session, plan
 * built by a warm-up run, so the timings are steady-state runs): median and min of N runs,
 * the network's FLOPs (2 x multiply-adds of the model's convolutions, as the session reports
 * them), and the achieved GFLOP/s. `libstyle bench` does this and more (peak, precisions,
 * layers, memory); this stays as the minimal version.
 *
 *   stylize_times MODEL.safetensors [THREADS] [RUNS] [SIZE...]
 *   STYLE_PRECISION=bf16 stylize_times ...   (fp32, bf16, int8, auto)
 */
#include <libstyle.h>

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
    const char *precision_name = getenv("STYLE_PRECISION");
    if (precision_name) {
        style_precision precision;
        if (style_precision_parse(precision_name, &precision) != STYLE_OK ||
            style_session_set_precision(session, precision) != STYLE_OK) {
            fprintf(stderr, "%s\n", style_last_error());
            return 1;
        }
    }
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
        style_run_info info = {.struct_size = sizeof info};
        style_session_get_run_info(session, &info);
        double flops = info.flops;
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
