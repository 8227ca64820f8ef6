/* `libstyle bench --train`: the training benchmark (bench_train.c). */
#ifndef LIBSTYLE_CLI_BENCH_TRAIN_H
#define LIBSTYLE_CLI_BENCH_TRAIN_H

/* Runs with the whole `bench` command line (its --train option included); returns the exit
 * code. */
int bench_train(int argc, char **argv);

#endif
