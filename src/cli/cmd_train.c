/*
 * `libstyle train`: trains a style model from a style image and a folder of photos, with a
 * progress bar on a terminal (plain lines otherwise), Ctrl-C saving a checkpoint, and
 * --resume to continue from one. Under mpirun the processes train one model together
 * (data-parallel, cli_mpi.c); rank 0 reports progress.
 */
#include "cli_interrupt.h"
#include "cli_mpi.h"
#include "cli_train_options.h"
#include "cli_util.h"
#include "train_progress.h"
#include "commands.h"

#include <libstyle_train.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* More than the library accepts, so that its own message reports the limit. */
#define TRAIN_CLI_MAX_STYLES 64

void cmd_train_usage(FILE *out)
{
    fputs("Usage: libstyle train --style-image IMG --data DIR --loss-net FILE --out MODEL "
          "[options]\n"
          "\n"
          "Trains a transform network for one style (Johnson et al.'s perceptual losses) and\n"
          "writes it as a model file. Checkpoints are written atomically to MODEL.ckpt (or\n"
          "--checkpoint); Ctrl-C saves one and stops; --resume continues exactly.\n"
          "Several --style-image options train one model for all of them (johnson-cin:\n"
          "conditional instance norm, Dumoulin et al.; each batch trains one style, in turn).\n"
          "\n"
          "Inputs:\n"
          "  --style-image IMG        the style (PNG, JPEG or WebP); repeat it for several styles\n"
          "  --style-name NAME        name of the style image given before it (default: its\n"
          "                           file name without the extension)\n"
          "  --add-style MODEL        add the (one) style image to this trained model as a new\n"
          "                           style, training only its norms' scales and shifts; the\n"
          "                           architecture comes from MODEL, whose convolutions and\n"
          "                           styles stay bit-identical\n"
          "  --init MODEL             start from this trained single-style model's weights\n"
          "                           (a warm start; its blocks and norm are used, and its\n"
          "                           widths unless --width is a whole multiple of them:\n"
          "                           then it is widened, computing the same at the start)\n"
          "  --data DIR               content photos, searched recursively (PNG/JPEG)\n"
          "  --loss-net FILE          feature network: a torchvision VGG-16/VGG-19 safetensors\n"
          "                           file or a libstyle feature-net file\n"
          "  --out MODEL              the model file to write\n"
          "Network:\n"
          "  --width W                full: 32/64/128 channels (default), half: 16/32/64,\n"
          "                           quarter: 8/16/32 (video in real time), or A,B,C\n"
          "  --blocks N               residual blocks (default 5)\n"
          "  --norm instance|batch    normalization (default instance)\n"
          "Training:\n"
          "  --iterations N           default 2000\n"
          "  --batch N                images per iteration (default 4)\n"
          "  --crop N                 crop size in pixels, a multiple of 4 (default 256)\n"
          "  --style-size N           short side of the style image (default: the crop size)\n"
          "  --lr X                   Adam learning rate (default 0.001)\n"
          "  --lr-schedule S          cosine (default, decays to 10%) or constant\n"
          "  --content-weight X       default 1; 0 turns the content loss off\n"
          "  --style-weight X         default 2 (style loss normalised per layer); 0 turns it\n"
          "                           off\n"
          "  --tv-weight X            total variation, default 50; 0 disables it\n"
          "  --color-weight X         colour loss: the output's RGB mean and covariance against\n"
          "                           the style image's (default 0: none)\n"
          "  --grid-weight X          grid loss: costs a pattern locked to the network's\n"
          "                           4-pixel grid (the weave); about 1000 (default 0: none)\n"
          "  --temporal-weight X      video: pairs of crops under a random sub-pixel motion\n"
          "                           must be painted alike, moved (default 0: none)\n"
          "  --loss-pooling max|avg   run the loss network's max pools as average pools while\n"
          "                           training (avg keeps the period-4 grid out; default max)\n"
          "  --max-short-side N       photos are scaled to a short side drawn from [crop, N]\n"
          "                           before cropping (default: up to their own size); the\n"
          "                           scale the model will be used at (~384 for 512-px images)\n"
          "  --loss-shift N           the loss network sees the (crop - N)^2 window of output\n"
          "                           and photo at a random offset of 0..N pixels, so no\n"
          "                           pattern can align to its pooling grid (default 0)\n"
          "  --content-layer NAME     tap of the loss network (default: its recommendation)\n"
          "  --style-layers A,B,...   taps (default: its recommendation)\n"
          "  --seed N                 initialisation and data order (default 1)\n"
          "  --threads N              0 = one per processor (default)\n"
          "  --precision P            fp32 (default), bf16 (bf16 convolutions with f32\n"
          "                           weights, norms and losses; CPUs with AVX-512 BF16 or\n"
          "                           AMX) or auto (bf16 where native, else fp32)\n"
          "Checkpoints and logs:\n"
          "  --checkpoint PATH        default MODEL.ckpt\n"
          "  --checkpoint-every N     iterations between checkpoints (default 100)\n"
          "  --resume CKPT            continue a run from its checkpoint\n"
          "  --loss-log FILE          append per-iteration losses as CSV\n"
          "  --exclude LIST           refuse the photos whose SHA-256 this sha256sum-format\n"
          "                           list holds (models/heldout-photos.sha256)\n"
          "  -q, --quiet              no progress output\n"
          "\n"
          "Several processes (built with MPI): mpirun -np N libstyle train ... trains one model\n"
          "with each process computing its share of every batch (docs/training.md).\n",
          out);
}

/* "A,B,C": the three widths of --width; 0 when that is what the text holds. */
static int parse_widths(const char *text, int32_t widths[3])
{
    long values[3];
    const char *p = text;
    for (int i = 0; i < 3; i++) {
        char *end = NULL;
        values[i] = strtol(p, &end, 10);
        if (end == p || values[i] < 1 || values[i] > 1024) return -1;
        if (*end != (i < 2 ? ',' : '\0')) return -1;
        p = end + 1;
    }
    for (int i = 0; i < 3; i++) widths[i] = (int32_t)values[i];
    return 0;
}

enum {
    OPT_STYLE_IMAGE = 256,
    OPT_WIDTH,
    OPT_BLOCKS,
    OPT_NORM,
    OPT_CROP,
    OPT_STYLE_SIZE,
    OPT_LR_SCHEDULE,
    OPT_CONTENT_WEIGHT,
    OPT_STYLE_WEIGHT,
    OPT_TV_WEIGHT,
    OPT_CONTENT_LAYER,
    OPT_STYLE_LAYERS,
    OPT_STYLE_NAME,
    OPT_ADD_STYLE,
    OPT_LOSS_POOLING,
    OPT_TEMPORAL_WEIGHT
};

int cmd_train(int argc, char **argv)
{
    static const char *const command = "train";
    static const struct option options[] = {
        {"style-image", required_argument, NULL, OPT_STYLE_IMAGE},
        {"style-name", required_argument, NULL, OPT_STYLE_NAME},
        {"add-style", required_argument, NULL, OPT_ADD_STYLE},
        {"width", required_argument, NULL, OPT_WIDTH},
        {"blocks", required_argument, NULL, OPT_BLOCKS},
        {"norm", required_argument, NULL, OPT_NORM},
        {"crop", required_argument, NULL, OPT_CROP},
        {"style-size", required_argument, NULL, OPT_STYLE_SIZE},
        {"lr-schedule", required_argument, NULL, OPT_LR_SCHEDULE},
        {"content-weight", required_argument, NULL, OPT_CONTENT_WEIGHT},
        {"style-weight", required_argument, NULL, OPT_STYLE_WEIGHT},
        {"tv-weight", required_argument, NULL, OPT_TV_WEIGHT},
        {"content-layer", required_argument, NULL, OPT_CONTENT_LAYER},
        {"style-layers", required_argument, NULL, OPT_STYLE_LAYERS},
        {"loss-pooling", required_argument, NULL, OPT_LOSS_POOLING},
        CLI_TRAIN_SHARED_OPTIONS,
        {"temporal-weight", required_argument, NULL, OPT_TEMPORAL_WEIGHT},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    style_train_options o = {0};
    const char *style_images[TRAIN_CLI_MAX_STYLES] = {0}, *style_names[TRAIN_CLI_MAX_STYLES] = {0};
    size_t style_count = 0;
    o.struct_size = sizeof o;
    cli_train_shared shared;
    cli_train_shared_init(&shared);
    train_progress progress = {isatty(STDERR_FILENO), 0, 0, 0};
    long value;
    double real;
    optind = 1;
    for (;;) {
        int before = optind, index = -1;
        int c = getopt_long(argc, argv, "qh", options, &index);
        if (c == -1) break;
        switch (c) {
        case OPT_STYLE_IMAGE:
            if (style_count == TRAIN_CLI_MAX_STYLES)
                return cli_usage_error(command, "at most %d --style-image options",
                                       TRAIN_CLI_MAX_STYLES);
            style_images[style_count++] = optarg;
            break;
        case OPT_STYLE_NAME:
            if (style_count == 0 || style_names[style_count - 1])
                return cli_usage_error(command, "--style-name names the --style-image before "
                                                "it (once)");
            style_names[style_count - 1] = optarg;
            break;
        case OPT_ADD_STYLE:
            o.add_style_to = optarg;
            break;
        case OPT_WIDTH:
            if (strcmp(optarg, "full") == 0) {
                o.widths[0] = 32, o.widths[1] = 64, o.widths[2] = 128;
            } else if (strcmp(optarg, "half") == 0) {
                o.widths[0] = 16, o.widths[1] = 32, o.widths[2] = 64;
            } else if (strcmp(optarg, "quarter") == 0) {
                o.widths[0] = 8, o.widths[1] = 16, o.widths[2] = 32;
            } else if (parse_widths(optarg, o.widths) != 0) {
                return cli_usage_error(command,
                                       "--width is full, half, quarter or three channel counts "
                                       "A,B,C (1..1024), not '%s'",
                                       optarg);
            }
            break;
        case OPT_BLOCKS:
            if (cli_parse_int(optarg, 1, 16, &value))
                return cli_usage_error(command, "--blocks expects 1..16, not '%s'", optarg);
            o.residual_blocks = (int32_t)value;
            break;
        case OPT_NORM:
            if (strcmp(optarg, "instance") && strcmp(optarg, "batch"))
                return cli_usage_error(command, "--norm is 'instance' or 'batch'");
            o.norm = optarg;
            break;
        case OPT_CROP:
            if (cli_parse_int(optarg, 16, 4096, &value) || value % 4)
                return cli_usage_error(command, "--crop expects a multiple of 4 in 16..4096");
            o.crop_size = (int32_t)value;
            break;
        case OPT_STYLE_SIZE:
            if (cli_parse_int(optarg, 16, 8192, &value))
                return cli_usage_error(command, "--style-size expects 16..8192");
            o.style_size = (int32_t)value;
            break;
        case OPT_LR_SCHEDULE:
            if (strcmp(optarg, "cosine") && strcmp(optarg, "constant"))
                return cli_usage_error(command, "--lr-schedule is 'cosine' or 'constant'");
            o.lr_schedule = optarg;
            break;
        case OPT_CONTENT_WEIGHT:
        case OPT_STYLE_WEIGHT:
        case OPT_TV_WEIGHT:
            if (cli_parse_double(optarg, 0, 1e12, &real))
                return cli_usage_error(command, "%s expects a non-negative number", argv[before]);
            /* 0 turns the term off: the library takes a negative weight for that (its 0 is
             * "the default", as in a zeroed options struct). */
            if (real == 0) real = -1.0;
            if (c == OPT_CONTENT_WEIGHT) o.content_weight = real;
            if (c == OPT_STYLE_WEIGHT) o.style_weight = real;
            if (c == OPT_TV_WEIGHT) o.tv_weight = real;
            break;
        case OPT_TEMPORAL_WEIGHT:
            if (cli_parse_double(optarg, 0, 1e12, &o.temporal_weight))
                return cli_usage_error(command, "%s expects a non-negative number", argv[before]);
            break;
        case OPT_LOSS_POOLING:
            if (strcmp(optarg, "max") != 0 && strcmp(optarg, "avg") != 0)
                return cli_usage_error(command, "--loss-pooling expects max or avg");
            o.loss_pooling = optarg;
            break;
        case OPT_CONTENT_LAYER:
            o.content_layer = optarg;
            break;
        case OPT_STYLE_LAYERS:
            o.style_layers = optarg;
            break;
        default: {
            int rc = cli_train_common_option(command, options, c, index, argc, argv, before,
                                             cmd_train_usage, &shared, &progress.quiet);
            if (rc != CLI_TRAIN_OPTION_TAKEN) return rc;
        }
        }
    }
    int rc = cli_train_check_arguments(command, argc, argv, &shared);
    if (rc) return rc;
    CLI_TRAIN_SHARED_APPLY(o, shared);
    if (style_count) {
        o.style_image = style_images[0];
        o.style_images = style_images;
        o.style_image_count = style_count;
        o.style_names = style_names;
    }
    if (o.add_style_to && style_count != 1)
        return cli_usage_error(command, "--add-style takes exactly one --style-image");
    if (!o.resume_path && (!o.style_image || !o.data_dir || !o.loss_net))
        return cli_usage_error(command, "--style-image, --data and --loss-net are required "
                                        "(unless --resume)");
    o.progress = train_progress_report;
    o.cancel = cli_interrupt_cancel; /* a signal stops inside an iteration too */
    o.progress_user = &progress;
    o.log = train_progress_log;
    o.log_user = &progress;

    /* Before MPI_Init: the threads MPI starts inherit the blocked signals too. */
    cli_interrupt_begin(0); /* no deadline: the checkpoint (or image) comes first */
    cli_mpi mpi;
    if (cli_mpi_begin(&mpi) != 0) {
        cli_interrupt_end();
        return CLI_EXIT_FAILURE;
    }
    progress.rank = mpi.group.rank;
    if (mpi.group.ranks > 1) {
        o.group = &mpi.group;
        if (!o.threads) o.threads = cli_mpi_default_threads(&mpi);
    }
    style_status status = style_train(&o);
    if (progress.terminal && !progress.quiet) fputc('\n', stderr);
    if (status != STYLE_OK && status != STYLE_ERR_CANCELLED) {
        if (mpi.group.ranks > 1)
            cli_error("rank %d of %d: %s", mpi.group.rank, mpi.group.ranks, style_last_error());
        else
            cli_report_status(status, NULL);
        /* The other processes may be waiting for this one in a collective call. */
        cli_mpi_abort(&mpi, CLI_EXIT_FAILURE);
        cli_interrupt_end();
        return CLI_EXIT_FAILURE;
    }
    /* Reported before MPI_Finalize: mpirun, when it passed on a Ctrl-C, may not wait long. */
    if (status == STYLE_ERR_CANCELLED && mpi.group.rank == 0) cli_error("%s", style_last_error());
    cli_mpi_end(&mpi); /* a stop is collective: every process saw it at the same iteration */
    cli_interrupt_end();
    if (status == STYLE_ERR_CANCELLED) return cli_stopped_exit_code();
    if (!progress.quiet && mpi.group.rank == 0) fprintf(stderr, "libstyle: wrote %s\n", o.out_path);
    return CLI_EXIT_OK;
}
