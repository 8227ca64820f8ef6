/*
 * `libstyle train-adain`: trains an AdaIN decoder (arbitrary style at run time) from a folder
 * of photos and a folder of style images, with the progress, Ctrl-C checkpoint and --resume of
 * `libstyle train`.
 */
#include "cli_interrupt.h"
#include "cli_train_options.h"
#include "cli_util.h"
#include "commands.h"
#include "train_progress.h"

#include <libstyle_train.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cmd_train_adain_usage(FILE *out)
{
    fputs(
        "Usage: libstyle train-adain --data DIR --styles DIR --loss-net FILE --out MODEL "
        "[options]\n"
        "\n"
        "Trains an AdaIN decoder (Huang & Belongie) for the loss network's encoder and writes\n"
        "one self-contained model (arch adain) that stylizes with any style image at run\n"
        "time (libstyle stylize --style-image). Checkpoints are written atomically to\n"
        "MODEL.ckpt (or --checkpoint); Ctrl-C saves one and stops; --resume continues.\n"
        "\n"
        "Inputs:\n"
        "  --data DIR               content photos, searched recursively (PNG/JPEG)\n"
        "  --styles DIR             style images, searched recursively (PNG/JPEG)\n"
        "  --loss-net FILE          feature network (VGG-19 safetensors or libstyle feature-net)\n"
        "  --out MODEL              the model file to write\n"
        "  --init MODEL             start from this trained AdaIN model's decoder (a warm\n"
        "                           start); its encoder must be the loss network's, cut at\n"
        "                           the same tap (its tap is the default)\n"
        "  --exclude LIST           refuse the photos whose SHA-256 this sha256sum-format\n"
        "                           list holds (models/heldout-photos.sha256)\n"
        "  --exclude-styles LIST    the same for the style images\n"
        "Network:\n"
        "  --tap NAME               AdaIN tap (default relu4_1, or the first tap after the\n"
        "                           third pooling: leaky_8 for darknet-tiny)\n"
        "  --style-layers A,B,...   taps of the mean/std style loss (default: the first tap\n"
        "                           of every resolution up to the AdaIN tap)\n"
        "Training:\n"
        "  --iterations N           default 2000\n"
        "  --batch N                content/style pairs per iteration (default 4)\n"
        "  --crop N                 crop size in pixels (default 256; a multiple of 8 for\n"
        "                           three poolings)\n"
        "  --lr X                   Adam learning rate (default 0.0001)\n"
        "  --content-weight X       default 1\n"
        "  --style-weight X         default 2\n"
        "  --color-weight X         colour loss: the output's RGB mean and covariance against\n"
        "                           its pair's style crop's (default 0: none)\n"
        "  --grid-weight X          grid loss: costs a checker locked to the decoder's own\n"
        "                           grid (8 pixels for three poolings); about 1000\n"
        "                           (default 0: none)\n"
        "  --loss-shift N           the loss network sees the (crop - N)^2 window of the\n"
        "                           output at a random offset of 0..N pixels (its content\n"
        "                           target: the photo's same window), so no pattern can align\n"
        "                           to its pooling grid (default 0)\n"
        "  --max-short-side N       photos are scaled to a short side drawn from [crop, N]\n"
        "                           before cropping (default: up to their own size; style\n"
        "                           images are not capped)\n"
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
        "  -q, --quiet              no progress output\n",
        out);
}

enum {
    OPT_STYLES = 256,
    OPT_TAP,
    OPT_STYLE_LAYERS,
    OPT_CROP,
    OPT_CONTENT_WEIGHT,
    OPT_STYLE_WEIGHT,
    OPT_EXCLUDE_STYLES
};

int cmd_train_adain(int argc, char **argv)
{
    static const char *const command = "train-adain";
    static const struct option options[] = {
        {"styles", required_argument, NULL, OPT_STYLES},
        {"tap", required_argument, NULL, OPT_TAP},
        {"style-layers", required_argument, NULL, OPT_STYLE_LAYERS},
        {"crop", required_argument, NULL, OPT_CROP},
        {"content-weight", required_argument, NULL, OPT_CONTENT_WEIGHT},
        {"style-weight", required_argument, NULL, OPT_STYLE_WEIGHT},
        {"exclude-styles", required_argument, NULL, OPT_EXCLUDE_STYLES},
        CLI_TRAIN_SHARED_OPTIONS,
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    style_train_adain_options o = {0};
    o.struct_size = sizeof o;
    cli_train_shared shared;
    cli_train_shared_init(&shared);
    train_progress progress = {isatty(STDERR_FILENO), 0, 0, 0};
    double real;
    long value;
    optind = 1;
    for (;;) {
        int before = optind, index = -1;
        int c = getopt_long(argc, argv, "qh", options, &index);
        if (c == -1) break;
        switch (c) {
        case OPT_STYLES:
            o.styles_dir = optarg;
            break;
        case OPT_TAP:
            o.tap = optarg;
            break;
        case OPT_STYLE_LAYERS:
            o.style_layers = optarg;
            break;
        case OPT_CROP:
            if (cli_parse_int(optarg, 8, 2048, &value))
                return cli_usage_error(command, "--crop expects 8..2048");
            o.crop_size = (int32_t)value;
            break;
        case OPT_CONTENT_WEIGHT:
        case OPT_STYLE_WEIGHT:
            if (cli_parse_double(optarg, 0, 1e12, &real) || real <= 0)
                return cli_usage_error(command, "%s expects a positive number", argv[before]);
            if (c == OPT_CONTENT_WEIGHT) o.content_weight = real;
            if (c == OPT_STYLE_WEIGHT) o.style_weight = real;
            break;
        case OPT_EXCLUDE_STYLES:
            o.style_exclude_list = optarg;
            break;
        default: {
            int rc = cli_train_common_option(command, options, c, index, argc, argv, before,
                                             cmd_train_adain_usage, &shared, &progress.quiet);
            if (rc != CLI_TRAIN_OPTION_TAKEN) return rc;
        }
        }
    }
    int rc = cli_train_check_arguments(command, argc, argv, &shared);
    if (rc) return rc;
    CLI_TRAIN_SHARED_APPLY(o, shared);
    if (!o.resume_path && (!o.data_dir || !o.styles_dir || !o.loss_net))
        return cli_usage_error(command, "--data, --styles and --loss-net are required "
                                        "(unless --resume)");
    o.progress = train_progress_report;
    o.progress_user = &progress;
    o.log = train_progress_log;
    o.log_user = &progress;

    cli_interrupt_begin(0); /* no deadline: the checkpoint (or image) comes first */
    style_status status = style_train_adain(&o);
    cli_interrupt_end();
    if (progress.terminal && !progress.quiet) fputc('\n', stderr);
    if (status != STYLE_OK) return cli_run_exit_code(status);
    if (!progress.quiet) fprintf(stderr, "libstyle: wrote %s\n", o.out_path);
    return CLI_EXIT_OK;
}
