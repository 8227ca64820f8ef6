/* `libstyle bench`: steady-state stylization speed of a model per image size and precision:
 * median (and min) milliseconds per image over N timed runs after warm-up runs, the
 * network's executed GFLOP/s against this machine's measured peaks (multiply-add loops on the
 * same threads, each share naming its peak: the instruction set oneDNN's implementation string
 * names), build time, peak memory, the process's CPU share (a busy machine shows as < 100 %)
 * and a per-layer breakdown. Precisions are timed interleaved (one run of each in turn), so
 * their ratios come from the same moments of a noisy machine. */
#define _POSIX_C_SOURCE 200809L

#include "bench_peak.h"
#include "bench_train.h"
#include "cli_util.h"
#include "commands.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_COMMAND "bench"
#define BENCH_MAX_SIZES 16
#define BENCH_MAX_PRECISIONS 4

struct bench_settings {
    const char *model_path;
    const char *input_path;
    int sizes[BENCH_MAX_SIZES][2]; /* width, height */
    int size_count;
    style_precision precisions[BENCH_MAX_PRECISIONS];
    int precision_count;
    int threads;
    int runs;
    int warmup;
    int layers; /* 0: largest size only, 1: every size, -1: none */
    int csv;
    int adain; /* the model is an AdaIN one: each session gets the input's own style */
};

enum { OPTION_WARMUP = 256, OPTION_LAYERS, OPTION_NO_LAYERS, OPTION_CSV, OPTION_INPUT };

void cmd_bench_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " " BENCH_COMMAND " --model MODEL.safetensors [options]\n"
          "       " CLI_PROGRAM_NAME " " BENCH_COMMAND " --train [training options]\n"
          "\n"
          "Times stylization per image size and precision: median and min milliseconds per\n"
          "image over N runs after warm-up runs, GFLOP/s and its share of this machine's peak,\n"
          "measured here with multiply-add loops on the same number of threads (fp32 FMA,\n"
          "AVX-512 and AVX2; AVX-512 bf16 and int8 dot products and AMX bf16 and int8 tile\n"
          "products when the processor has them), the one-time build (primitives, weight\n"
          "reorders), peak memory, the CPU share the run got, and a per-layer breakdown.\n"
          "Precisions are timed interleaved, so their ratios come from the same moments of a\n"
          "noisy machine.\n"
          "Columns: GFLOP = 2 x the multiply-adds the kernels execute (an upsampling convolution\n"
          "run as sub-pixel phases does 2.25x fewer); nominal = the network as written; GFLOP/s\n"
          "= executed GFLOP / median time; %fp32pk = share of the fp32 FMA peak; %ownpk = share\n"
          "of the peaks of the instruction sets the convolutions run on (each layer's from its\n"
          "implementation: AMX, AVX-512 BF16, AVX-512 VNNI, AVX-512 or AVX2 FMA; weighted by\n"
          "executed FLOPs), 'own peak' naming the one most FLOPs run on ('+': some run on\n"
          "another); per layer, %peak = share of its own peak, named; build ms = primitives and\n"
          "weight reorders of a new size; mem ms = allocating\n"
          "and first-touching its buffers; cached = preparing the same size again (ms); RSS MiB\n"
          "= peak resident memory added by the build and the runs, MiB/MP per megapixel (from\n"
          "0.05 MP up; below, fixed costs dominate: '-', -1 in CSV); cpu =\n"
          "CPU time / (wall time x threads) while timing. An AdaIN model runs in fp32 or bf16\n"
          "(not int8), its style the input's own statistics (computed before the timing).\n"
          "\n"
          "Options:\n"
          "  -m, --model FILE         style model (safetensors); required\n"
          "  -s, --sizes LIST         image sizes, e.g. 256,512,1024 or 640x480 (default\n"
          "                           256,512,1024)\n"
          "  -p, --precision LIST     fp32, bf16, int8, auto or all (default all: every\n"
          "                           precision this processor runs natively)\n"
          "  -r, --runs N             timed runs per size and precision (default 10)\n"
          "      --warmup N           untimed runs first (default 2)\n"
          "  -t, --threads N          threads; 0 = one per processor (default)\n"
          "      --input IMAGE        stylize this image (tiled to each size) instead of a\n"
          "                           synthetic one\n"
          "      --layers             per-layer breakdown for every size (default: the largest)\n"
          "      --no-layers          no per-layer breakdown\n"
          "      --csv                comma-separated records: peak, one 'size' line per size\n"
          "                           and precision, 'layer' lines, peak_after; the first lines\n"
          "                           ('columns,RECORD,NAME,...') name each record's fields\n"
          "  -h, --help               show this help and exit\n"
          "\n"
          "With --train: times training iterations of the transform network (instance norm,\n"
          "one style) on synthetic photos and a synthetic style made in memory (no data set):\n"
          "median seconds per iteration after warm-up iterations, images/s, the split into the\n"
          "transform network's forward and backward passes (each by part), the loss network\n"
          "(forward on the photos and the outputs, backward to the outputs; no weight\n"
          "gradients), the losses, the optimizer (Adam) and the data, each a median; the\n"
          "FLOPs an iteration executes (2 x multiply-adds of its convolutions; nominal: the\n"
          "networks as written), GFLOP/s and their share of the same run's fp32 peak.\n"
          "Training options (also --warmup, --threads, --csv as above):\n"
          "      --train              run the training benchmark\n"
          "      --width half|full    transform network widths 16/32/64 or 32/64/128 (default\n"
          "                           full)\n"
          "      --batch N            images per batch (default 4)\n"
          "      --crop N             crop size, a multiple of 4 (default 256)\n"
          "      --loss-net FILE      feature network (default\n"
          "                           ../shared/lossnets/darknet-tiny.safetensors if it exists,\n"
          "                           else 'random': a VGG-16-shaped network with random\n"
          "                           weights)\n"
          "  -i, --iterations N       timed iterations (default 10)\n"
          "      --precision P        fp32 (default), bf16 (bf16 convolutions, f32 weights,\n"
          "                           norms and losses: as train --precision) or auto\n",
          out);
}

/* Images below this many megapixels get no MiB/MP: fixed costs dominate their memory. */
#define BENCH_MIN_MP_PER_MP 0.05

#define PARSE_CONTINUE (-1)

static int parse_sizes(const char *text, struct bench_settings *s)
{
    s->size_count = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long w = strtol(p, &end, 10), h = w;
        if (end == p || w < 1 || w > 65536) return -1;
        if (*end == 'x' || *end == 'X') {
            p = end + 1;
            h = strtol(p, &end, 10);
            if (end == p || h < 1 || h > 65536) return -1;
        }
        if (s->size_count == BENCH_MAX_SIZES) return -1;
        s->sizes[s->size_count][0] = (int)w;
        s->sizes[s->size_count][1] = (int)h;
        s->size_count++;
        if (*end == ',')
            end++;
        else if (*end != '\0')
            return -1;
        p = end;
    }
    return s->size_count > 0 ? 0 : -1;
}

static int parse_precisions(const char *text, struct bench_settings *s)
{
    s->precision_count = 0;
    if (strcmp(text, "all") == 0) return 0;
    char buffer[128];
    if (strlen(text) >= sizeof buffer) return -1;
    strcpy(buffer, text);
    for (char *save = NULL, *tok = strtok_r(buffer, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        style_precision p;
        if (style_precision_parse(tok, &p) != STYLE_OK) return -1;
        if (s->precision_count == BENCH_MAX_PRECISIONS) return -1;
        s->precisions[s->precision_count++] = p;
    }
    return s->precision_count > 0 ? 0 : -1;
}

static int parse_options(int argc, char **argv, struct bench_settings *s)
{
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},
        {"sizes", required_argument, NULL, 's'},
        {"precision", required_argument, NULL, 'p'},
        {"runs", required_argument, NULL, 'r'},
        {"warmup", required_argument, NULL, OPTION_WARMUP},
        {"threads", required_argument, NULL, 't'},
        {"input", required_argument, NULL, OPTION_INPUT},
        {"layers", no_argument, NULL, OPTION_LAYERS},
        {"no-layers", no_argument, NULL, OPTION_NO_LAYERS},
        {"csv", no_argument, NULL, OPTION_CSV},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int before, result;
    long number;
    optind = 0;
    opterr = 0;
    while (before = optind,
           (result = getopt_long(argc, argv, ":m:s:p:r:t:h", options, NULL)) != -1) {
        switch (result) {
        case 'm':
            s->model_path = optarg;
            break;
        case 's':
            if (parse_sizes(optarg, s) != 0)
                return cli_usage_error(BENCH_COMMAND,
                                       "--sizes expects e.g. 256,512 or 640x480, not '%s'", optarg);
            break;
        case 'p':
            if (parse_precisions(optarg, s) != 0)
                return cli_usage_error(
                    BENCH_COMMAND, "--precision expects fp32, bf16, int8, auto or all, not '%s'",
                    optarg);
            break;
        case 'r':
            if (cli_parse_int(optarg, 1, 100000, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--runs expects 1..100000, not '%s'", optarg);
            s->runs = (int)number;
            break;
        case OPTION_WARMUP:
            if (cli_parse_int(optarg, 0, 1000, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--warmup expects 0..1000, not '%s'", optarg);
            s->warmup = (int)number;
            break;
        case 't':
            if (cli_parse_int(optarg, 0, CLI_MAX_THREADS, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--threads expects 0..%d, not '%s'",
                                       CLI_MAX_THREADS, optarg);
            s->threads = (int)number;
            break;
        case OPTION_INPUT:
            s->input_path = optarg;
            break;
        case OPTION_LAYERS:
            s->layers = 1;
            break;
        case OPTION_NO_LAYERS:
            s->layers = -1;
            break;
        case OPTION_CSV:
            s->csv = 1;
            break;
        case 'h':
            cmd_bench_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        default:
            return cli_option_error(BENCH_COMMAND, result, argc, argv, before);
        }
    }
    if (optind < argc)
        return cli_usage_error(BENCH_COMMAND, "unexpected argument '%s'", argv[optind]);
    if (!s->model_path) return cli_usage_error(BENCH_COMMAND, "missing --model MODEL.safetensors");
    return PARSE_CONTINUE;
}

/* ---- Measurements ----------------------------------------------------------------------- */

static double cpu_seconds(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + (double)r.ru_stime.tv_sec +
           r.ru_stime.tv_usec * 1e-6;
}

/* A /proc/self/status value in kB ("VmRSS", "VmHWM"), or -1. */
static long status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long value = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            value = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return value;
}

/* Resets the peak-RSS counter (Linux >= 4.0); returns 0 when it worked. */
static int reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A synthetic picture (smooth colour fields, edges and noise), or the given image tiled. */
static int make_input(const style_image *source, int w, int h, style_image *out)
{
    if (style_image_alloc(out, w, h, 3, STYLE_SAMPLE_U8) != STYLE_OK) return -1;
    unsigned char *d = out->data;
    uint32_t state = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                unsigned char v;
                if (source) {
                    int sx = x % source->width, sy = y % source->height;
                    const unsigned char *row =
                        (const unsigned char *)source->data +
                        (size_t)sy * (source->stride ? source->stride
                                                     : (size_t)source->width * source->channels);
                    v = row[sx * source->channels + c];
                } else {
                    state = state * 1664525u + 1013904223u;
                    int base = (int)(127 + 100 * ((x * (c + 1) / 37 + y / 53) % 3 - 1) +
                                     40 * (((x / 16) ^ (y / 16)) & 1));
                    base += (int)(state >> 28) - 8;
                    v = (unsigned char)(base < 0 ? 0 : base > 255 ? 255 : base);
                }
                d[((size_t)y * w + x) * 3 + c] = v;
            }
    return 0;
}

/* A precision's own peak: GFLOP/s (GOP/s) and the name of the peak most of its work runs
 * against ("AMX bf16", "AVX-512 FMA+"). */
typedef struct own_peak {
    double gflops;
    char label[32];
} own_peak;

typedef struct precision_run {
    style_precision precision;
    style_session *session;
    int ok;
    double build_ms, buffers_ms, rebuild_ms;
    double flops, nominal_flops; /* executed by the kernels; the network as written */
    double footprint_mib;        /* peak RSS growth while building + warming up */
    own_peak own;                /* the peaks of the instruction sets its convolutions run on */
    double *times;
} precision_run;

/* The layers' own peaks for the network as a whole: the time the convolutions would take at
 * the peaks of the instruction sets they run on (executed FLOPs / peak, summed), as a rate
 * over all their FLOPs; named by the one carrying the most FLOPs, '+' when others carry some.
 * Without a per-layer profile (AdaIN): the peak of the precision's best instruction set. */
static own_peak network_own_peak(style_session *session, style_precision precision,
                                 const bench_peak *peak)
{
    const int int8 = precision == STYLE_PRECISION_INT8;
    const style_layer_profile *layers;
    const double *executed = NULL;
    size_t count = 0, executed_count = 0;
    uint64_t runs;
    enum { KINDS = BENCH_PEAK_AMX_INT8 + 1 };
    double kind_flops[KINDS] = {0}, flops = 0, seconds = 0;
    own_peak own = {0, ""};
    if (style_session_set_profiling(session, 1) != STYLE_OK ||
        style_session_get_profile(session, &layers, &count, &runs) != STYLE_OK ||
        style_session_get_profile_executed_flops(session, &executed, &executed_count) != STYLE_OK ||
        executed_count != count)
        count = 0;
    for (size_t i = 0; i < count; i++) {
        if (!(executed[i] > 0)) continue;
        bench_peak_kind kind = bench_peak_kind_of(layers[i].impl, int8);
        double rate = bench_peak_value(peak, kind);
        kind_flops[kind] += executed[i];
        flops += executed[i];
        seconds = rate > 0 && seconds >= 0 ? seconds + executed[i] / (rate * 1e9) : -1;
    }
    style_session_set_profiling(session, 0);
    if (flops == 0) { /* no profile: the precision's own instruction set */
        bench_peak_kind kind =
            precision == STYLE_PRECISION_BF16
                ? (peak->amx_bf16 > 0 ? BENCH_PEAK_AMX_BF16 : BENCH_PEAK_AVX512_BF16)
            : int8 ? (peak->amx_int8 > 0 ? BENCH_PEAK_AMX_INT8 : BENCH_PEAK_AVX512_VNNI)
                   : BENCH_PEAK_FP32;
        own.gflops = bench_peak_value(peak, kind);
        snprintf(own.label, sizeof own.label, "%s", bench_peak_label(peak, kind));
        return own;
    }
    int top = 0;
    for (int k = 1; k < KINDS; k++)
        if (kind_flops[k] > kind_flops[top]) top = k;
    own.gflops = seconds > 0 ? flops / seconds / 1e9 : 0;
    snprintf(own.label, sizeof own.label, "%s%s", bench_peak_label(peak, (bench_peak_kind)top),
             kind_flops[top] < 0.995 * flops ? "+" : "");
    return own;
}

/* Per-layer breakdown of the profiled runs, phases (name.pN) merged into their layer: time,
 * its share of the run, executed and nominal GFLOP/s and the share of the layer's own peak. */
static void report_layers(const char *size_label, precision_run *pr, const bench_peak *peak,
                          int csv)
{
    const style_layer_profile *layers;
    const double *executed;
    size_t count, executed_count;
    uint64_t runs;
    if (style_session_get_profile(pr->session, &layers, &count, &runs) != STYLE_OK || runs == 0 ||
        style_session_get_profile_executed_flops(pr->session, &executed, &executed_count) !=
            STYLE_OK ||
        executed_count != count)
        return;
    double total = 0;
    for (size_t i = 0; i < count; i++)
        total += layers[i].milliseconds;
    if (!csv) {
        printf("\nlayers at %s, %s (mean of %llu runs; sub-pixel phases .pN merged; GFLOP/s "
               "executed, nominal: as written; %%peak: of the named peak):\n",
               size_label, style_precision_name(pr->precision), (unsigned long long)runs);
        printf("  %-14s %-7s %-30s %9s %6s %9s %9s %7s  %s\n", "layer", "kind", "implementation",
               "ms", "time", "GFLOP/s", "nominal", "%peak", "peak");
    }
    for (size_t i = 0; i < count;) {
        const char *name = layers[i].name;
        const char *dot = strstr(name, ".p");
        size_t len = dot && dot[2] >= '0' && dot[2] <= '9' && dot[3] == '\0' ? (size_t)(dot - name)
                                                                             : strlen(name);
        double ms = 0, flops = 0, nominal = 0;
        size_t j = i;
        while (j < count && strncmp(layers[j].name, name, len) == 0 &&
               (layers[j].name[len] == '\0' || strncmp(layers[j].name + len, ".p", 2) == 0)) {
            ms += layers[j].milliseconds;
            flops += executed[j];
            nominal += layers[j].flops;
            j++;
        }
        const double per = ms / (double)runs;
        const double rate = per > 0 ? flops / 1e9 / (per / 1e3) : 0;
        const double nominal_rate = per > 0 ? nominal / 1e9 / (per / 1e3) : 0;
        const bench_peak_kind kind =
            bench_peak_kind_of(layers[i].impl, pr->precision == STYLE_PRECISION_INT8);
        const double own = bench_peak_value(peak, kind);
        const double share = flops > 0 && own > 0 ? 100 * rate / own : 0;
        const char *label = flops > 0 ? bench_peak_label(peak, kind) : "";
        if (csv)
            printf("layer,%s,%s,%.*s,%s,%s,%.4f,%.4f,%.4f,%.2f,%s\n", size_label,
                   style_precision_name(pr->precision), (int)len, name, layers[i].kind,
                   layers[i].impl, per, rate, nominal_rate, share, label);
        else if (flops > 0)
            printf("  %-14.*s %-7s %-30s %9.3f %5.1f%% %9.1f %9.1f %6.1f%%  of %s\n", (int)len,
                   name, layers[i].kind, layers[i].impl, per, 100.0 * ms / total, rate,
                   nominal_rate, share, label);
        else
            printf("  %-14.*s %-7s %-30s %9.3f %5.1f%%\n", (int)len, name, layers[i].kind,
                   layers[i].impl, per, 100.0 * ms / total);
        i = j;
    }
    if (!csv) printf("  %-14s %-7s %-30s %9.3f\n", "total", "", "", total / (double)runs);
}

static int run_size(const struct bench_settings *s, style_model *model, const style_image *source,
                    int w, int h, const bench_peak *peak, int show_layers, int threads)
{
    precision_run runs[BENCH_MAX_PRECISIONS];
    style_image in = {0}, out = {0};
    int status = 0;
    char label[32];
    snprintf(label, sizeof label, "%dx%d", w, h);
    memset(runs, 0, sizeof runs);
    if (make_input(source, w, h, &in) != 0 ||
        style_image_alloc(&out, w, h, 3, STYLE_SAMPLE_U8) != STYLE_OK) {
        cli_error("out of memory for a %dx%d image", w, h);
        style_image_release(&in);
        return -1;
    }
    const int reset_ok = reset_peak_rss() == 0;
    for (int p = 0; p < s->precision_count; p++) {
        precision_run *pr = &runs[p];
        pr->precision = s->precisions[p];
        pr->times = calloc((size_t)s->runs, sizeof(double));
        if (!pr->times) continue;
        if (style_session_create(model, &pr->session) != STYLE_OK ||
            style_session_set_threads(pr->session, s->threads) != STYLE_OK ||
            style_session_set_precision(pr->session, pr->precision) != STYLE_OK) {
            cli_report_status(STYLE_ERR_UNSUPPORTED, style_precision_name(pr->precision));
            continue;
        }
        if (s->adain) { /* the input's own statistics as the style, before the timing */
            style_adain_style *style = NULL;
            style_status made = style_adain_style_create(pr->session, &in, 256, &style);
            if (made == STYLE_OK) made = style_session_set_adain_style(pr->session, style);
            style_adain_style_free(style);
            if (made != STYLE_OK) {
                cli_report_status(made, label);
                continue;
            }
        }
        if (reset_ok) reset_peak_rss();
        long rss0 = status_kb("VmRSS");
        struct timespec t0 = cli_now();
        if (style_session_prepare(pr->session, w, h) != STYLE_OK) {
            cli_report_status(STYLE_ERR_BACKEND, label);
            continue;
        }
        double prepare_ms = cli_elapsed_ms(t0);
        style_run_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        style_session_get_run_info(pr->session, &info);
        pr->build_ms = prepare_ms;
        pr->buffers_ms = info.buffers_ms;
        pr->flops = info.executed_flops;
        pr->nominal_flops = info.flops;
        style_session_get_precision(pr->session, &pr->precision);
        int failed = 0;
        for (int i = 0; i < s->warmup; i++)
            if (style_session_stylize(pr->session, &in, &out) != STYLE_OK) failed = 1;
        if (failed) {
            cli_report_status(STYLE_ERR_BACKEND, label);
            continue;
        }
        pr->own = network_own_peak(pr->session, pr->precision, peak);
        long hwm = status_kb("VmHWM");
        pr->footprint_mib = reset_ok && hwm >= 0 && rss0 >= 0 ? (hwm - rss0) / 1024.0 : -1;
        t0 = cli_now();
        style_session_prepare(pr->session, w, h); /* cached: should cost nothing */
        pr->rebuild_ms = cli_elapsed_ms(t0);
        pr->ok = 1;
    }

    /* Timed runs, precisions interleaved. */
    double cpu0 = cpu_seconds();
    struct timespec wall0 = cli_now();
    for (int r = 0; r < s->runs; r++)
        for (int p = 0; p < s->precision_count; p++) {
            if (!runs[p].ok) continue;
            struct timespec t0 = cli_now();
            if (style_session_stylize(runs[p].session, &in, &out) != STYLE_OK) runs[p].ok = 0;
            runs[p].times[r] = cli_elapsed_ms(t0);
        }
    double wall = cli_elapsed_ms(wall0) / 1e3;
    double share = wall > 0 ? (cpu_seconds() - cpu0) / (wall * threads) : 0;

    double fp32_median = 0;
    for (int p = 0; p < s->precision_count; p++) {
        precision_run *pr = &runs[p];
        if (!pr->ok) continue;
        double mn = pr->times[0];
        for (int r = 1; r < s->runs; r++)
            mn = pr->times[r] < mn ? pr->times[r] : mn;
        double med = median(pr->times, s->runs);
        if (pr->precision == STYLE_PRECISION_FP32) fp32_median = med;
        double gflops = pr->flops / 1e9 / (med / 1e3);
        double own = pr->own.gflops;
        double mp = (double)w * h / 1e6;
        /* Per megapixel only where pixels dominate: at 16x16, 30 MiB of weights and primitives
         * would read as millions of MiB per megapixel. */
        const double per_mp =
            pr->footprint_mib >= 0 && mp >= BENCH_MIN_MP_PER_MP ? pr->footprint_mib / mp : -1;
        char speedup[16] = "-";
        if (fp32_median > 0) snprintf(speedup, sizeof speedup, "%.2fx", fp32_median / med);
        if (s->csv) {
            printf(
                "size,%s,%s,%.3f,%.3f,%.3f,%.3f,%.2f,%.2f,%.3f,%.2f,%.2f,%.3f,%.1f,%.1f,%.3f,%.3f,"
                "%.3f,%s,%.2f\n",
                label, style_precision_name(pr->precision), pr->flops / 1e9, med, mn, gflops,
                peak->fp32 > 0 ? 100 * gflops / peak->fp32 : 0, own > 0 ? 100 * gflops / own : 0,
                fp32_median > 0 ? fp32_median / med : 0, pr->build_ms - pr->buffers_ms,
                pr->buffers_ms, pr->rebuild_ms, pr->footprint_mib, per_mp, share,
                pr->nominal_flops / 1e9, pr->nominal_flops / 1e9 / (med / 1e3), pr->own.label, own);
        } else {
            char fp[16] = "-", mpp[16] = "-";
            if (pr->footprint_mib >= 0) snprintf(fp, sizeof fp, "%.0f", pr->footprint_mib);
            if (per_mp >= 0) snprintf(mpp, sizeof mpp, "%.0f", per_mp);
            printf("%-10s %-6s %7.1f %7.1f %9.1f %9.1f %8.1f %6.1f%% %6.1f%% %-13s %7s %8.1f %8.1f "
                   "%8.2f %7s %6s %5.0f%%\n",
                   label, style_precision_name(pr->precision), pr->flops / 1e9,
                   pr->nominal_flops / 1e9, med, mn, gflops,
                   peak->fp32 > 0 ? 100 * gflops / peak->fp32 : 0.0,
                   own > 0 ? 100 * gflops / own : 0.0, pr->own.label, speedup,
                   pr->build_ms - pr->buffers_ms, pr->buffers_ms, pr->rebuild_ms, fp, mpp,
                   100 * share);
        }
    }
    fflush(stdout);

    if (show_layers) {
        int profiled_runs = s->runs < 5 ? s->runs : 5;
        for (int p = 0; p < s->precision_count; p++) {
            precision_run *pr = &runs[p];
            if (!pr->ok) continue;
            if (style_session_set_profiling(pr->session, 1) != STYLE_OK) continue;
            for (int r = 0; r < profiled_runs; r++)
                style_session_stylize(pr->session, &in, &out);
            report_layers(label, pr, peak, s->csv);
            style_session_set_profiling(pr->session, 0);
        }
    }
    for (int p = 0; p < s->precision_count; p++) {
        style_session_free(runs[p].session);
        free(runs[p].times);
    }
    style_image_release(&in);
    style_image_release(&out);
    return status;
}

int cmd_bench(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--train") == 0) return bench_train(argc, argv);
    struct bench_settings s;
    memset(&s, 0, sizeof s);
    s.runs = 10;
    s.warmup = 2;
    s.sizes[0][0] = s.sizes[0][1] = 256;
    s.sizes[1][0] = s.sizes[1][1] = 512;
    s.sizes[2][0] = s.sizes[2][1] = 1024;
    s.size_count = 3;
    int code = parse_options(argc, argv, &s);
    if (code != PARSE_CONTINUE) return code;
    if (s.precision_count == 0) {
        static const style_precision all[] = {STYLE_PRECISION_FP32, STYLE_PRECISION_BF16,
                                              STYLE_PRECISION_INT8};
        for (int i = 0; i < 3; i++)
            if (style_precision_supported(all[i])) s.precisions[s.precision_count++] = all[i];
    }

    style_model *model = NULL;
    style_image source = {0};
    if (style_model_load(s.model_path, NULL, &model) != STYLE_OK) {
        cli_report_status(STYLE_ERR_IO, s.model_path);
        return CLI_EXIT_FAILURE;
    }
    style_model_info info;
    if (style_model_get_info(model, &info) == STYLE_OK && strcmp(info.arch, "adain") == 0) {
        /* AdaIN runs in fp32 or bf16 (no int8); its style (the input itself) is set untimed. */
        int kept = 0;
        for (int i = 0; i < s.precision_count; i++)
            if (s.precisions[i] != STYLE_PRECISION_INT8) s.precisions[kept++] = s.precisions[i];
        if (kept == 0) {
            cli_error("%s: an AdaIN model runs in fp32 or bf16, not int8", s.model_path);
            style_model_free(model);
            return CLI_EXIT_FAILURE;
        }
        s.precision_count = kept;
        s.adain = 1;
    }
    /* After the AdaIN check: its refusal of other precisions holds on any processor. */
    for (int i = 0; i < s.precision_count; i++)
        if (!style_precision_supported(s.precisions[i])) {
            cli_error("%s: this processor does not run it natively",
                      style_precision_name(s.precisions[i]));
            style_model_free(model);
            return CLI_EXIT_FAILURE;
        }
    if (s.input_path && style_image_load(s.input_path, 0, &source) != STYLE_OK) {
        cli_report_status(STYLE_ERR_IO, s.input_path);
        style_model_free(model);
        return CLI_EXIT_FAILURE;
    }
    int threads = s.threads > 0 ? s.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;

    bench_peak peak, after;
    bench_cpu cpu;
    char cpu_flags[160];
    bench_describe_cpu(&cpu);
    bench_cpu_flags_text(&cpu, cpu_flags, sizeof cpu_flags);
    bench_measure_peak(threads, &peak);
    if (s.csv) {
        /* The header: what each record's fields are, before the first record. */
        printf("columns,peak,threads," BENCH_PEAK_CSV_COLUMNS "\n"
               "columns,size,size,precision,gflop,median_ms,min_ms,gflops,pct_fp32_peak,"
               "pct_own_peak,vs_fp32,build_ms,mem_ms,cached_ms,rss_mib,mib_per_mp,cpu_share,"
               "nominal_gflop,nominal_gflops,own_peak,own_peak_gflops\n"
               "columns,layer,size,precision,layer,kind,implementation,ms,gflops,nominal_gflops,"
               "pct_peak,peak\n"
               "columns,peak_after,threads," BENCH_PEAK_CSV_COLUMNS "\n"
               "columns,cpu,model,avx2,avx512,avx512_bf16,avx512_vnni,amx_bf16,amx_int8\n");
        for (char *c = cpu.model; *c; c++)
            if (*c == ',') *c = ';'; /* one field */
        printf("cpu,%s,%d,%d,%d,%d,%d,%d\n", cpu.model, cpu.avx2, cpu.avx512, cpu.avx512_bf16,
               cpu.avx512_vnni, cpu.amx_bf16, cpu.amx_int8);
        bench_peak_csv(stdout, "peak", threads, &peak);
    } else {
        printf("libstyle bench: %s, %d thread%s, median of %d runs after %d warm-up run%s\n",
               cli_path_basename(s.model_path), threads, threads == 1 ? "" : "s", s.runs, s.warmup,
               s.warmup == 1 ? "" : "s");
        printf("cpu: %s (%s)\n", cpu.model, cpu_flags);
        char peak_text[320];
        bench_peak_text(&peak, peak_text, sizeof peak_text);
        printf("peak of this machine on %d thread%s (multiply-add loops): %s\n", threads,
               threads == 1 ? "" : "s", peak_text);
        printf("GFLOP executed (nominal: as written); %%fp32pk: of the fp32 peak (%s); %%ownpk: of "
               "the own peak named (the peaks of the instruction sets the convolutions run on)\n",
               peak.fp32_isa);
        printf("\n%-10s %-6s %7s %7s %9s %9s %8s %7s %7s %-13s %7s %8s %8s %8s %7s %6s %6s\n",
               "size", "prec", "GFLOP", "nominal", "median ms", "min ms", "GFLOP/s", "%fp32pk",
               "%ownpk", "own peak", "vs fp32", "build ms", "mem ms", "cached", "RSS MiB", "MiB/MP",
               "cpu");
    }
    fflush(stdout);
    int rc = CLI_EXIT_OK;
    for (int i = 0; i < s.size_count; i++) {
        int show = s.layers > 0 || (s.layers == 0 && i == s.size_count - 1);
        if (run_size(&s, model, s.input_path ? &source : NULL, s.sizes[i][0], s.sizes[i][1], &peak,
                     show, threads) != 0)
            rc = CLI_EXIT_FAILURE;
        if (show && i != s.size_count - 1 && !s.csv) printf("\n");
    }
    bench_measure_peak(threads, &after);
    if (s.csv) {
        bench_peak_csv(stdout, "peak_after", threads, &after);
    } else {
        char after_text[320];
        bench_peak_text(&after, after_text, sizeof after_text);
        printf("\npeak measured again after the runs: %s (a large change means the machine was "
               "busy)\n",
               after_text);
    }
    style_image_release(&source);
    style_model_free(model);
    return cli_finish_stdout(rc);
}
