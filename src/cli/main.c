/* Entry point of the libstyle tool: global options (--help, --version) and dispatch to the
 * subcommands. */
#include "cli_util.h"
#include "commands.h"

#include <getopt.h>
#include <string.h>

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
    void (*usage)(FILE *out);
};

static const struct command commands[] = {
    {"stylize", "apply a style model to PNG/JPEG images", cmd_stylize, cmd_stylize_usage},
    {"bench", "time stylization per size and precision against the machine's peak", cmd_bench,
     cmd_bench_usage},
    {"info", "describe a model file: architecture, parameters, metadata", cmd_info, cmd_info_usage},
    {"train", "train a style model from a style image and a folder of photos", cmd_train,
     cmd_train_usage},
    {"train-adain", "train an AdaIN decoder: any style image at run time", cmd_train_adain,
     cmd_train_adain_usage},
    {"optimize", "style one photo by optimising its pixels (Gatys et al.; slow, no model)",
     cmd_optimize, cmd_optimize_usage},
    {"evaluate", "score a model against Gatys on held-out photos (losses, colour, artifacts)",
     cmd_evaluate, cmd_evaluate_usage},
    {"import-ml5", "convert an ml5 / deeplearn.js checkpoint to a model file", cmd_import_ml5,
     cmd_import_ml5_usage},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void print_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " <command> [options] [arguments]\n"
          "       " CLI_PROGRAM_NAME " --version | --help\n"
          "\n"
          "Fast feed-forward neural style transfer on the CPU.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; ++i)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fputs("  help [CMD]   show this help, or the help of command CMD\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help and exit\n"
          "  -V, --version  show the library version and exit\n"
          "\n"
          "Run '" CLI_PROGRAM_NAME " <command> --help' for the options of a command.\n"
          "Exit status: 0 on success, 1 when an operation failed, 2 for a usage error,\n"
          "128 + the signal's number when a signal stopped it: 130 (SIGINT), 143 (SIGTERM),\n"
          "129 (SIGHUP); train and optimize save first. See man libstyle.\n",
          out);
}

static int run_help(int argc, char **argv)
{
    const struct command *command;

    if (argc < 2) {
        print_usage(stdout);
        return cli_finish_stdout(CLI_EXIT_OK);
    }
    if (argc > 2) return cli_usage_error(NULL, "'help' takes at most one command name");
    command = find_command(argv[1]);
    if (command == NULL) return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    command->usage(stdout);
    return cli_finish_stdout(CLI_EXIT_OK);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const struct command *command;
    int before;
    int result;

    /* Messages are ours (one line, with a hint), not getopt's. */
    opterr = 0;
    /* '+': stop at the command name, whose options are the command's business. */
    while (before = optind, (result = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
        switch (result) {
        case 'h':
            print_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        case 'V':
            printf(CLI_PROGRAM_NAME " %s\n", style_version_string());
            return cli_finish_stdout(CLI_EXIT_OK);
        default:
            return cli_option_error(NULL, result, argc, argv, before);
        }
    }

    if (optind >= argc) return cli_usage_error(NULL, "missing command");
    if (strcmp(argv[optind], "help") == 0) return run_help(argc - optind, argv + optind);
    command = find_command(argv[optind]);
    if (command == NULL) return cli_usage_error(NULL, "unknown command '%s'", argv[optind]);
    return command->run(argc - optind, argv + optind);
}
