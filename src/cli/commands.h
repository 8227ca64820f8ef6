/* The subcommands of the libstyle tool. Each takes the arguments from its own name on
 * (argv[0] is the command name) and returns the process exit code. */
#ifndef LIBSTYLE_CLI_COMMANDS_H
#define LIBSTYLE_CLI_COMMANDS_H

#include <stdio.h>

int cmd_stylize(int argc, char **argv);
void cmd_stylize_usage(FILE *out);

int cmd_info(int argc, char **argv);
void cmd_info_usage(FILE *out);

int cmd_train(int argc, char **argv);
void cmd_train_usage(FILE *out);

int cmd_train_adain(int argc, char **argv);
void cmd_train_adain_usage(FILE *out);

int cmd_optimize(int argc, char **argv);
void cmd_optimize_usage(FILE *out);

int cmd_evaluate(int argc, char **argv);
void cmd_evaluate_usage(FILE *out);

int cmd_import_ml5(int argc, char **argv);
void cmd_import_ml5_usage(FILE *out);

int cmd_bench(int argc, char **argv);
void cmd_bench_usage(FILE *out);

#endif /* LIBSTYLE_CLI_COMMANDS_H */
