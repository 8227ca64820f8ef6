/* The options the training commands share (cli_train_options.h). */
#include "cli_train_options.h"
#include "cli_util.h"

#include <stdbool.h>
#include <string.h>

void cli_train_shared_init(cli_train_shared *s)
{
    memset(s, 0, sizeof *s);
    s->seed = 1;
}

/* A count of 1..100000000 into *out, or the usage error naming the option. */
static int parse_count(const char *command, const char *name, const char *arg, int64_t *out)
{
    long value;
    if (cli_parse_int(arg, 1, 100000000, &value))
        return cli_usage_error(command, "--%s expects a positive count", name);
    *out = value;
    return 0;
}

/* Pixels in min..max into *out, or the usage error naming the option. */
static int parse_pixels(const char *command, const char *name, const char *arg, long min, long max,
                        int32_t *out)
{
    long value;
    if (cli_parse_int(arg, min, max, &value))
        return cli_usage_error(command, "--%s expects %ld..%ld pixels", name, min, max);
    *out = (int32_t)value;
    return 0;
}

int cli_train_shared_parse(const char *command, const char *name, const char *arg,
                           cli_train_shared *s)
{
    /* Paths are taken as given; the library names the one that cannot be used. */
    const struct {
        const char *name;
        const char **field;
    } paths[] = {{"data", &s->data_dir},
                 {"loss-net", &s->loss_net},
                 {"out", &s->out_path},
                 {"init", &s->init_model},
                 {"checkpoint", &s->checkpoint_path},
                 {"resume", &s->resume_path},
                 {"loss-log", &s->loss_log},
                 {"exclude", &s->exclude_list}};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (strcmp(name, paths[i].name) == 0) {
            *paths[i].field = arg;
            return 0;
        }
    long value;
    if (strcmp(name, "iterations") == 0) return parse_count(command, name, arg, &s->iterations);
    if (strcmp(name, "checkpoint-every") == 0)
        return parse_count(command, name, arg, &s->checkpoint_every);
    if (strcmp(name, "batch") == 0) {
        if (cli_parse_int(arg, 1, 256, &value))
            return cli_usage_error(command, "--batch expects 1..256");
        s->batch_size = (int32_t)value;
        return 0;
    }
    if (strcmp(name, "lr") == 0) {
        if (cli_parse_double(arg, 0, 1e12, &s->learning_rate) || s->learning_rate <= 0)
            return cli_usage_error(command, "--lr expects a positive number");
        return 0;
    }
    const bool colour = strcmp(name, "color-weight") == 0;
    if (colour || strcmp(name, "grid-weight") == 0) {
        if (cli_parse_double(arg, 0, 1e12, colour ? &s->color_weight : &s->grid_weight))
            return cli_usage_error(command, "--%s expects a non-negative number", name);
        return 0;
    }
    if (strcmp(name, "seed") == 0) {
        if (cli_parse_u64(arg, &s->seed))
            return cli_usage_error(command, "--seed expects an integer");
        return 0;
    }
    if (strcmp(name, "threads") == 0) {
        if (cli_parse_int(arg, 0, CLI_MAX_THREADS, &value))
            return cli_usage_error(command, "--threads expects 0..%d", CLI_MAX_THREADS);
        s->threads = (int)value;
        return 0;
    }
    if (strcmp(name, "precision") == 0) {
        if (strcmp(arg, "fp32") != 0 && strcmp(arg, "bf16") != 0 && strcmp(arg, "auto") != 0)
            return cli_usage_error(command, "--precision expects fp32, bf16 or auto, not '%s'",
                                   arg);
        s->precision = arg;
        return 0;
    }
    if (strcmp(name, "loss-shift") == 0)
        return parse_pixels(command, name, arg, 0, 1024, &s->loss_shift);
    if (strcmp(name, "max-short-side") == 0)
        return parse_pixels(command, name, arg, 16, 65536, &s->max_short_side);
    return cli_usage_error(command, "internal: --%s is not a shared training option", name);
}

int cli_train_common_option(const char *command, const struct option *options, int c, int index,
                            int argc, char **argv, int before, void (*usage)(FILE *out),
                            cli_train_shared *s, int *quiet)
{
    switch (c) {
    case CLI_TRAIN_SHARED: {
        int rc = cli_train_shared_parse(command, options[index].name, optarg, s);
        return rc ? rc : CLI_TRAIN_OPTION_TAKEN;
    }
    case 'q':
        *quiet = 1;
        return CLI_TRAIN_OPTION_TAKEN;
    case 'h':
        usage(stdout);
        return cli_finish_stdout(CLI_EXIT_OK);
    default:
        return cli_option_error(command, c, argc, argv, before);
    }
}

int cli_train_check_arguments(const char *command, int argc, char **argv, const cli_train_shared *s)
{
    if (optind < argc) return cli_usage_error(command, "unexpected argument '%s'", argv[optind]);
    if (!s->out_path) return cli_usage_error(command, "--out is required");
    return 0;
}
