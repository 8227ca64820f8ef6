/* `libstyle bench --train`: training iterations on synthetic data (style_train_bench), with
 * the split into the step's parts, executed FLOPs and their share of the same run's fp32 FMA
 * peak, and the processor's model and instruction sets. */
#define _POSIX_C_SOURCE 200809L

#include "bench_peak.h"
#include "bench_train.h"
#include "cli_util.h"
#include "commands.h"

#include <getopt.h>
#include <libstyle_train.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_COMMAND "bench --train"
/* The loss network used when none is named and this file exists (the repository's layout:
 * shared/ beside the checkout); otherwise a VGG-16-shaped network with random weights. */
#define BENCH_DEFAULT_LOSS_NET "../shared/lossnets/darknet-tiny.safetensors"

enum {
    OPTION_WIDTH = 256,
    OPTION_BATCH,
    OPTION_CROP,
    OPTION_LOSS_NET,
    OPTION_WARMUP,
    OPTION_CSV,
    OPTION_TRAIN,
    OPTION_PRECISION
};

typedef struct train_bench_settings {
    style_train_bench_options options;
    int csv;
    int full;
    int loss_net_chosen;
} train_bench_settings;

#define PARSE_CONTINUE (-1)

static int parse(int argc, char **argv, train_bench_settings *s)
{
    static const struct option options[] = {
        {"train", no_argument, NULL, OPTION_TRAIN},
        {"width", required_argument, NULL, OPTION_WIDTH},
        {"batch", required_argument, NULL, OPTION_BATCH},
        {"crop", required_argument, NULL, OPTION_CROP},
        {"loss-net", required_argument, NULL, OPTION_LOSS_NET},
        {"iterations", required_argument, NULL, 'i'},
        {"warmup", required_argument, NULL, OPTION_WARMUP},
        {"threads", required_argument, NULL, 't'},
        {"csv", no_argument, NULL, OPTION_CSV},
        {"precision", required_argument, NULL, OPTION_PRECISION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    style_train_bench_options *o = &s->options;
    int before, result;
    long number;
    optind = 0;
    opterr = 0;
    while (before = optind, (result = getopt_long(argc, argv, ":i:t:h", options, NULL)) != -1) {
        switch (result) {
        case OPTION_TRAIN:
            break;
        case OPTION_WIDTH:
            if (strcmp(optarg, "half") != 0 && strcmp(optarg, "full") != 0)
                return cli_usage_error(BENCH_COMMAND, "--width expects half or full, not '%s'",
                                       optarg);
            s->full = strcmp(optarg, "full") == 0;
            break;
        case OPTION_BATCH:
            if (cli_parse_int(optarg, 1, 256, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--batch expects 1..256, not '%s'", optarg);
            o->batch_size = (int32_t)number;
            break;
        case OPTION_CROP:
            if (cli_parse_int(optarg, 16, 4096, &number) != 0 || number % 4)
                return cli_usage_error(
                    BENCH_COMMAND, "--crop expects a multiple of 4 in 16..4096, not '%s'", optarg);
            o->crop_size = (int32_t)number;
            break;
        case OPTION_LOSS_NET:
            o->loss_net = strcmp(optarg, "random") == 0 ? NULL : optarg;
            s->loss_net_chosen = 1;
            break;
        case 'i':
            if (cli_parse_int(optarg, 1, 100000, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--iterations expects 1..100000, not '%s'",
                                       optarg);
            o->iterations = (int32_t)number;
            break;
        case OPTION_WARMUP:
            if (cli_parse_int(optarg, 0, 1000, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--warmup expects 0..1000, not '%s'", optarg);
            o->warmup = number == 0 ? -1 : (int32_t)number;
            break;
        case 't':
            if (cli_parse_int(optarg, 0, CLI_MAX_THREADS, &number) != 0)
                return cli_usage_error(BENCH_COMMAND, "--threads expects 0..%d, not '%s'",
                                       CLI_MAX_THREADS, optarg);
            o->threads = (int)number;
            break;
        case OPTION_CSV:
            s->csv = 1;
            break;
        case OPTION_PRECISION:
            if (strcmp(optarg, "fp32") != 0 && strcmp(optarg, "bf16") != 0 &&
                strcmp(optarg, "auto") != 0)
                return cli_usage_error(BENCH_COMMAND,
                                       "--precision expects fp32, bf16 or auto, not '%s'", optarg);
            o->precision = optarg;
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
    return PARSE_CONTINUE;
}

int bench_train(int argc, char **argv)
{
    train_bench_settings s;
    memset(&s, 0, sizeof s);
    s.full = 1;
    int code = parse(argc, argv, &s);
    if (code != PARSE_CONTINUE) return code;
    style_train_bench_options *o = &s.options;
    o->struct_size = sizeof *o;
    if (!s.loss_net_chosen && access(BENCH_DEFAULT_LOSS_NET, R_OK) == 0)
        o->loss_net = BENCH_DEFAULT_LOSS_NET;
    const int base = s.full ? 32 : 16;
    o->widths[0] = base, o->widths[1] = 2 * base, o->widths[2] = 4 * base;
    int threads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    o->threads = threads;

    bench_cpu cpu;
    char flags[160];
    bench_describe_cpu(&cpu);
    bench_cpu_flags_text(&cpu, flags, sizeof flags);
    bench_peak peak, after;
    bench_measure_peak(threads, &peak);
    style_train_bench_result r;
    memset(&r, 0, sizeof r);
    r.struct_size = sizeof r;
    style_status status = style_train_bench(o, &r);
    bench_measure_peak(threads, &after);
    if (status != STYLE_OK) {
        cli_report_status(status, o->loss_net ? o->loss_net : "training benchmark");
        return CLI_EXIT_FAILURE;
    }
    const int32_t batch = o->batch_size ? o->batch_size : 4;
    const int32_t crop = o->crop_size ? o->crop_size : 256;
    const double gflops = r.flops / 1e9 / r.seconds;
    const double share = peak.fp32 > 0 ? 100 * gflops / peak.fp32 : 0;
    if (s.csv) {
        for (char *c = cpu.model; *c; c++)
            if (*c == ',') *c = ';';
        printf("columns,cpu,model,avx2,avx512,avx512_bf16,avx512_vnni,amx_bf16,amx_int8\n"
               "columns,peak,threads," BENCH_PEAK_CSV_COLUMNS "\n"
               "columns,train,width,batch,crop,loss_net,threads,iterations,s_per_iteration,"
               "min_s,images_per_s,transform_forward_s,transform_backward_s,loss_net_s,losses_s,"
               "optimizer_s,data_s,gflop,nominal_gflop,gflops,pct_fp32_peak,cpu_share,"
               "peak_after_fp32_gflops,cpu_s_per_iteration,precision\n");
        printf("cpu,%s,%d,%d,%d,%d,%d,%d\n", cpu.model, cpu.avx2, cpu.avx512, cpu.avx512_bf16,
               cpu.avx512_vnni, cpu.amx_bf16, cpu.amx_int8);
        bench_peak_csv(stdout, "peak", threads, &peak);
        printf("train,%s,%d,%d,%s,%d,%d,%.4f,%.4f,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%.3f,"
               "%.2f,%.2f,%.3f,%.2f,%.4f,%s\n",
               s.full ? "full" : "half", batch, crop, r.loss_net_name, r.threads, r.iterations,
               r.seconds, r.min_seconds, batch / r.seconds, r.transform_forward,
               r.transform_backward, r.loss_network, r.losses, r.optimizer, r.data, r.flops / 1e9,
               r.nominal_flops / 1e9, gflops, share, r.cpu_share, after.fp32, r.cpu_seconds,
               style_precision_name(r.precision));
        return cli_finish_stdout(CLI_EXIT_OK);
    }
    printf("libstyle bench --train: %s width (%d/%d/%d, 5 blocks, instance norm), batch %d of "
           "%d², loss network %s, convolutions in %s, %d thread%s, median of %d iterations "
           "after %d warm-up\n",
           s.full ? "full" : "half", o->widths[0], o->widths[1], o->widths[2], batch, crop,
           r.loss_net_name, style_precision_name(r.precision), r.threads, r.threads == 1 ? "" : "s",
           r.iterations,
           o->warmup == 0  ? 2
           : o->warmup < 0 ? 0
                           : o->warmup);
    printf("cpu: %s (%s)\n", cpu.model, flags);
    printf("peak of this machine on %d thread%s (multiply-add loop): fp32 %.1f GFLOP/s (%s)\n\n",
           threads, threads == 1 ? "" : "s", peak.fp32, peak.fp32_isa);
    printf("%.3f s/iteration (min %.3f), %.2f images/s; CPU %.3f s/iteration\n", r.seconds,
           r.min_seconds, batch / r.seconds, r.cpu_seconds);
    const char *part_names[STYLE_TRAIN_BENCH_PARTS] = {"downsampling", "residual blocks",
                                                       "upsampling", "output layer"};
    printf("  %-34s %9s %6s\n", "part (median)", "s", "share");
#define ROW(name, value) printf("  %-34s %9.4f %5.1f%%\n", name, value, 100 * (value) / r.seconds)
    ROW("transform network forward", r.transform_forward);
    for (int p = 0; p < STYLE_TRAIN_BENCH_PARTS; p++) {
        char label[64];
        snprintf(label, sizeof label, "  %s", part_names[p]);
        ROW(label, r.transform_part_forward[p]);
    }
    ROW("transform network backward", r.transform_backward);
    for (int p = 0; p < STYLE_TRAIN_BENCH_PARTS; p++) {
        char label[64];
        snprintf(label, sizeof label, "  %s", part_names[p]);
        ROW(label, r.transform_part_backward[p]);
    }
    ROW("loss network (fwd x2 + bwd-data)", r.loss_network);
    ROW("losses", r.losses);
    ROW("optimizer (Adam)", r.optimizer);
    ROW("data (synthetic)", r.data);
#undef ROW
    printf("\nFLOPs per iteration (2 x multiply-adds): executed %.1f GFLOP (transform network "
           "%.1f, loss network %.1f); nominal %.1f GFLOP\n",
           r.flops / 1e9, r.transform_flops / 1e9, r.loss_network_flops / 1e9,
           r.nominal_flops / 1e9);
    printf("%.1f GFLOP/s executed = %.1f%% of the fp32 peak (%s); transform network alone %.1f "
           "GFLOP/s\n",
           gflops, share, peak.fp32_isa,
           r.transform_flops / 1e9 / (r.transform_forward + r.transform_backward));
    printf("cpu share %.0f%%; peak measured again after the runs: fp32 %.1f GFLOP/s (a large "
           "change means the machine was busy)\n",
           100 * r.cpu_share, after.fp32);
    return cli_finish_stdout(CLI_EXIT_OK);
}
