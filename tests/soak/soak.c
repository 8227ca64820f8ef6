/*
 * Soak test: many threads, each creating sessions on one shared model (and now and then
 * loading its own copy of the model), stylizing images of mixed sizes, freeing everything,
 * for a set time. Any architecture: an AdaIN model's sessions get the style of one random
 * picture or a blend of two, a johnson-cin model's random style weights. Prints the resident set
 * size (RSS) over time and fails when it keeps growing: after a warm-up (oneDNN's primitive cache,
 * the allocator's arenas), memory must stay flat.
 *
 *   soak MODEL [--threads N] [--seconds S] [--report S] [--max-growth MB | --no-growth-check]
 *
 * RSS swings with the sessions alive at a moment, so peaks are compared: exit status 0 when
 * every run succeeded and the peak RSS of the last quarter of the run is at most
 * --max-growth MB (default 32) above the peak of the second quarter (the first is warm-up).
 * Each report line gives the peak RSS since the previous line. --no-growth-check is for short
 * runs (ctest, and under TSan, whose shadow memory grows by itself) that check the rest.
 */
#include "libstyle.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct soak {
    const char *model_path;
    style_model *model;
    double seconds;
    atomic_long runs, sessions, loads, failures;
    atomic_int stop;
} soak;

typedef struct worker {
    soak *soak;
    int index;
    pthread_t thread;
} worker;

static const int sizes[][2] = {{32, 32}, {64, 48}, {100, 76}, {160, 120}, {257, 193}, {48, 300}};
enum { SIZE_COUNT = sizeof sizes / sizeof sizes[0] };

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static double rss_mb(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

static uint32_t next_random(uint32_t *state)
{
    *state ^= *state << 13, *state ^= *state >> 17, *state ^= *state << 5;
    return *state;
}

static void fail(soak *s, const char *what)
{
    fprintf(stderr, "soak: %s: %s\n", what, style_last_error());
    atomic_fetch_add(&s->failures, 1);
}

/* A random RGB picture (free with style_image_release). */
static bool random_image(int width, int height, int channels, uint32_t *rng, style_image *image)
{
    if (style_image_alloc(image, width, height, channels, STYLE_SAMPLE_U8) != STYLE_OK)
        return false;
    uint8_t *p = image->data;
    for (size_t i = 0; i < (size_t)width * height * channels; i++)
        p[i] = (uint8_t)next_random(rng);
    return true;
}

/* What a session of this model needs before it runs: an AdaIN model a style (one or a blend
 * of two random pictures' statistics, freed at once: the session keeps a copy), a johnson-cin
 * model random style weights. */
static bool choose_style(soak *s, style_session *session, const style_model *model, uint32_t *rng)
{
    style_model_info info = {0};
    if (style_model_get_info(model, &info) != STYLE_OK) return fail(s, "model_get_info"), false;
    size_t styles = style_model_style_count(model);
    if (styles > 0) {
        float weights[64] = {0};
        for (size_t i = 0; i < styles && i < 64; i++)
            weights[i] = (float)(1 + next_random(rng) % 4);
        if (style_session_set_style_weights(session, weights, styles) != STYLE_OK)
            return fail(s, "set_style_weights"), false;
    }
    if (strcmp(info.arch, "adain") != 0) return true;
    style_adain_style *parts[2] = {NULL, NULL}, *blend = NULL;
    const int count = 1 + (int)(next_random(rng) % 2);
    bool ok = true;
    for (int i = 0; i < count && ok; i++) {
        /* A few sizes, as for the content: oneDNN caches primitives per shape (up to its
         * cache's capacity), which would look like growth with a new shape every time. */
        static const int style_sizes[][2] = {{48, 48}, {64, 80}, {96, 72}};
        const int *size = style_sizes[next_random(rng) % 3];
        style_image picture;
        ok = random_image(size[0], size[1], 3, rng, &picture);
        if (!ok) break;
        ok = style_adain_style_create(session, &picture, 0, &parts[i]) == STYLE_OK;
        style_image_release(&picture);
    }
    if (ok && count == 2)
        ok = style_adain_style_blend((const style_adain_style *const *)parts, NULL, 2, &blend) ==
             STYLE_OK;
    if (ok) ok = style_session_set_adain_style(session, blend ? blend : parts[0]) == STYLE_OK;
    style_adain_style_free(parts[0]), style_adain_style_free(parts[1]),
        style_adain_style_free(blend);
    if (!ok) fail(s, "adain style");
    return ok;
}

/* One session's life: 1-4 runs at sizes picked at random (some repeated, some new). */
static void session_life(soak *s, style_model *model, bool drop_model, uint32_t *rng)
{
    style_session *session = NULL;
    style_status status = style_session_create(model, &session);
    if (status == STYLE_OK) style_session_set_threads(session, 1);
    if (status == STYLE_OK && !choose_style(s, session, model, rng)) {
        style_session_free(session);
        if (drop_model) style_model_free(model);
        return;
    }
    /* The session holds a reference: the caller's may go now (reference counting). */
    if (drop_model) style_model_free(model);
    if (status != STYLE_OK) return fail(s, "session_create");
    atomic_fetch_add(&s->sessions, 1);
    int runs = 1 + (int)(next_random(rng) % 4);
    for (int r = 0; r < runs && !atomic_load(&s->stop); r++) {
        const int *size = sizes[next_random(rng) % SIZE_COUNT];
        int channels = next_random(rng) % 2 ? 3 : 4;
        style_image input, output = {0};
        if (!random_image(size[0], size[1], channels, rng, &input)) {
            fail(s, "image_alloc");
            break;
        }
        if (style_session_stylize(session, &input, &output) == STYLE_OK)
            atomic_fetch_add(&s->runs, 1);
        else
            fail(s, "stylize");
        style_image_release(&output);
        style_image_release(&input);
    }
    style_session_free(session);
}

static void *work(void *arg)
{
    worker *w = arg;
    soak *s = w->soak;
    uint32_t rng = 2463534242u + 7919u * (uint32_t)w->index;
    while (!atomic_load(&s->stop)) {
        if (next_random(&rng) % 8 == 0) {
            /* Its own model, freed while its session still lives. */
            style_model *own = NULL;
            if (style_model_load(s->model_path, NULL, &own) != STYLE_OK) {
                fail(s, "model_load");
                continue;
            }
            atomic_fetch_add(&s->loads, 1);
            session_life(s, own, true, &rng);
        } else {
            session_life(s, s->model, false, &rng);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    soak s = {0};
    int threads = 8;
    double report = 10, max_growth = 32;
    bool check_growth = true;
    s.seconds = 60;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            s.seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
            report = atof(argv[++i]);
        else if (strcmp(argv[i], "--max-growth") == 0 && i + 1 < argc)
            max_growth = atof(argv[++i]);
        else if (strcmp(argv[i], "--no-growth-check") == 0)
            check_growth = false;
        else if (argv[i][0] != '-' && !s.model_path)
            s.model_path = argv[i];
        else {
            fprintf(stderr, "usage: soak MODEL [--threads N] [--seconds S] [--report S] "
                            "[--max-growth MB | --no-growth-check]\n");
            return 2;
        }
    }
    if (!s.model_path || threads < 1 || s.seconds <= 0 || report <= 0) {
        fprintf(stderr, "soak: a model file, threads >= 1, seconds > 0 and report > 0 needed\n");
        return 2;
    }
    if (style_model_load(s.model_path, NULL, &s.model) != STYLE_OK) {
        fprintf(stderr, "soak: %s\n", style_last_error());
        return 1;
    }
    worker *workers = calloc((size_t)threads, sizeof *workers);
    if (!workers) return 1;
    double start = now_seconds();
    for (int i = 0; i < threads; i++) {
        workers[i] = (worker){&s, i, 0};
        if (pthread_create(&workers[i].thread, NULL, work, &workers[i]) != 0) {
            fprintf(stderr, "soak: cannot start thread %d\n", i);
            atomic_store(&s.stop, 1);
            threads = i;
            break;
        }
    }
    printf("%8s %10s %8s %8s %8s %8s\n", "seconds", "peak_rss_mb", "runs", "sessions", "loads",
           "failures");
    double second_quarter_peak = 0, last_quarter_peak = 0, window_peak = 0, next = report;
    while (!atomic_load(&s.stop)) {
        usleep(50000);
        double t = now_seconds() - start;
        if (t >= s.seconds) atomic_store(&s.stop, 1);
        double rss = rss_mb();
        if (rss > window_peak) window_peak = rss;
        if (t > s.seconds / 4 && t <= s.seconds / 2 && rss > second_quarter_peak)
            second_quarter_peak = rss;
        if (t >= 3 * s.seconds / 4 && rss > last_quarter_peak) last_quarter_peak = rss;
        if (t >= next || atomic_load(&s.stop)) {
            printf("%8.1f %10.1f %8ld %8ld %8ld %8ld\n", t, window_peak, atomic_load(&s.runs),
                   atomic_load(&s.sessions), atomic_load(&s.loads), atomic_load(&s.failures));
            fflush(stdout);
            window_peak = 0;
            next += report;
        }
    }
    for (int i = 0; i < threads; i++)
        pthread_join(workers[i].thread, NULL);
    style_model_free(s.model);
    free(workers);
    double growth = last_quarter_peak - second_quarter_peak;
    printf("peak rss: second quarter %.1f MB, last quarter %.1f MB: growth %.1f MB (limit %.1f); "
           "%ld runs, %ld sessions, %ld model loads, %ld failures\n",
           second_quarter_peak, last_quarter_peak, growth, max_growth, atomic_load(&s.runs),
           atomic_load(&s.sessions), atomic_load(&s.loads), atomic_load(&s.failures));
    return atomic_load(&s.failures) == 0 && atomic_load(&s.runs) > 0 &&
                   (!check_growth || growth <= max_growth)
               ? 0
               : 1;
}
