/*
 * The options `libstyle train` and `libstyle train-adain` share (inputs, run length, Adam's
 * rate, seed, threads, checkpoints, logs, held-out list and the quality options), parsed by
 * one function so that both commands take them alike. Each command lists them in its getopt
 * table with CLI_TRAIN_SHARED_OPTIONS and hands every CLI_TRAIN_SHARED value to
 * cli_train_shared_parse with the option's name.
 */
#ifndef STYLE_CLI_TRAIN_OPTIONS_H
#define STYLE_CLI_TRAIN_OPTIONS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_train_shared {
    const char *data_dir, *loss_net, *out_path, *init_model;
    const char *checkpoint_path, *resume_path, *loss_log, *exclude_list;
    const char *precision; /* "fp32", "bf16", "auto" or NULL (the library's default) */
    int64_t iterations, checkpoint_every;
    int32_t batch_size, loss_shift, max_short_side;
    double learning_rate, color_weight, grid_weight;
    uint64_t seed; /* 1 unless given */
    int threads;
} cli_train_shared;

/* The getopt value of every shared option (its name tells them apart). */
#define CLI_TRAIN_SHARED 0x5400

#define CLI_TRAIN_SHARED_OPTIONS                                                                   \
    {"data", required_argument, NULL, CLI_TRAIN_SHARED},                                           \
        {"loss-net", required_argument, NULL, CLI_TRAIN_SHARED},                                   \
        {"out", required_argument, NULL, CLI_TRAIN_SHARED},                                        \
        {"init", required_argument, NULL, CLI_TRAIN_SHARED},                                       \
        {"iterations", required_argument, NULL, CLI_TRAIN_SHARED},                                 \
        {"batch", required_argument, NULL, CLI_TRAIN_SHARED},                                      \
        {"lr", required_argument, NULL, CLI_TRAIN_SHARED},                                         \
        {"seed", required_argument, NULL, CLI_TRAIN_SHARED},                                       \
        {"threads", required_argument, NULL, CLI_TRAIN_SHARED},                                    \
        {"checkpoint", required_argument, NULL, CLI_TRAIN_SHARED},                                 \
        {"checkpoint-every", required_argument, NULL, CLI_TRAIN_SHARED},                           \
        {"resume", required_argument, NULL, CLI_TRAIN_SHARED},                                     \
        {"loss-log", required_argument, NULL, CLI_TRAIN_SHARED},                                   \
        {"exclude", required_argument, NULL, CLI_TRAIN_SHARED},                                    \
        {"color-weight", required_argument, NULL, CLI_TRAIN_SHARED},                               \
        {"grid-weight", required_argument, NULL, CLI_TRAIN_SHARED},                                \
        {"loss-shift", required_argument, NULL, CLI_TRAIN_SHARED},                                 \
        {"precision", required_argument, NULL, CLI_TRAIN_SHARED},                                  \
    {                                                                                              \
        "max-short-side", required_argument, NULL, CLI_TRAIN_SHARED                                \
    }

/* Zeroes *s and sets the defaults the commands give (seed 1). */
void cli_train_shared_init(cli_train_shared *s);

/* Parses shared option `name` (without the dashes) with its argument into *s: 0, or the exit
 * status of the usage error it printed (naming `command`). */
int cli_train_shared_parse(const char *command, const char *name, const char *arg,
                           cli_train_shared *s);

/* What cli_train_common_option returns for an option it took: parsing goes on. */
#define CLI_TRAIN_OPTION_TAKEN (-1)

/* The options of a training command that are not its own, handed on from its getopt_long
 * switch's default: a shared option (`index`: getopt_long's long index into `options`), -q
 * (sets *quiet), -h (`usage` on stdout) and getopt_long's failures (`before`: optind before
 * the call). CLI_TRAIN_OPTION_TAKEN, or the exit status to return (after -h, or the usage
 * error it printed naming `command`). */
int cli_train_common_option(const char *command, const struct option *options, int c, int index,
                            int argc, char **argv, int before, void (*usage)(FILE *out),
                            cli_train_shared *s, int *quiet);

/* After the options: 0, or the usage error for a left-over argument or a missing --out. */
int cli_train_check_arguments(const char *command, int argc, char **argv,
                              const cli_train_shared *s);

/* Copies the shared options into a style_train_options or style_train_adain_options (the
 * same field names in both). */
#define CLI_TRAIN_SHARED_APPLY(o, s)                                                               \
    do {                                                                                           \
        (o).data_dir = (s).data_dir, (o).loss_net = (s).loss_net, (o).out_path = (s).out_path;     \
        (o).init_model = (s).init_model, (o).checkpoint_path = (s).checkpoint_path;                \
        (o).resume_path = (s).resume_path, (o).loss_log = (s).loss_log;                            \
        (o).exclude_list = (s).exclude_list, (o).iterations = (s).iterations;                      \
        (o).checkpoint_every = (s).checkpoint_every, (o).batch_size = (s).batch_size;              \
        (o).loss_shift = (s).loss_shift, (o).max_short_side = (s).max_short_side;                  \
        (o).learning_rate = (s).learning_rate, (o).color_weight = (s).color_weight;                \
        (o).grid_weight = (s).grid_weight, (o).seed = (s).seed, (o).threads = (s).threads;         \
        (o).precision = (s).precision;                                                             \
    } while (0)

#endif
