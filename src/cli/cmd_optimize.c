/*
 * `libstyle optimize`: Gatys et al.'s style transfer, optimising the pixels of one image
 * (style_optimize), with a progress bar on a terminal (plain lines otherwise) and Ctrl-C
 * writing the current image and stopping.
 */
#include "cli_interrupt.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "commands.h"

#include <libstyle_train.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STYLES 64

void cmd_optimize_usage(FILE *out)
{
    fputs("Usage: libstyle optimize --content IMG --style-image IMG [--style-image IMG ...]\n"
          "                         --loss-net FILE --out OUT [options]\n"
          "\n"
          "Gatys et al.'s style transfer: optimises the pixels of one image against the\n"
          "content, Gram-matrix style and total-variation losses of a feature network (the\n"
          "trainer's definitions). Slow (hundreds of network passes) but needs no model.\n"
          "Ctrl-C writes the current image and stops.\n"
          "\n"
          "Inputs:\n"
          "  --content IMG            the photo (PNG, JPEG or WebP)\n"
          "  --style-image IMG        a style; repeat to blend several\n"
          "  --style-weights W1,W2,.. one weight per style image (normalised to sum 1;\n"
          "                           default equal)\n"
          "  --loss-net FILE          feature network: a torchvision VGG-16/VGG-19 safetensors\n"
          "                           file or a libstyle feature-net file\n"
          "  --out OUT                the image to write (.png, .jpg, .jpeg or .webp)\n"
          "Sizes:\n"
          "  --size N                 long side of the result in pixels (default 512)\n"
          "  --style-size N           short side of the style images (default: the result's)\n"
          "Optimisation:\n"
          "  --iterations N           default 300\n"
          "  --optimizer lbfgs|adam   default lbfgs (history 10, strong-Wolfe line search)\n"
          "  --lr X                   Adam's step in pixel units, 0..255 scale (default 4)\n"
          "  --init content|noise     starting image (default content)\n"
          "  --content-weight X       default 1; 0 turns the content loss off\n"
          "  --style-weight X         default 2 (style loss normalised per layer)\n"
          "  --tv-weight X            total variation, default 50; 0 turns it off\n"
          "  --content-layer NAME     tap of the loss network (default: its recommendation)\n"
          "  --style-layers A,B,...   taps (default: its recommendation)\n"
          "  --preserve-color         keep the photo's colours: the result's luminance (BT.601\n"
          "                           Y) with the photo's chroma (U, V)\n"
          "  --seed N                 noise of --init noise (default 1)\n"
          "  --threads N              0 = one per processor (default)\n"
          "  --log-csv FILE           write per-iteration losses as CSV\n"
          "  --losses-of IMG          optimise nothing: print the losses (weighted, as the\n"
          "                           progress shows them) of IMG, resized to --size, for\n"
          "                           this content, style and weights (e.g. a trained\n"
          "                           model's output, to compare with the optimiser's); --out\n"
          "                           is then not needed. Repeatable.\n"
          "  -q, --quiet              no progress output\n",
          out);
}

/* --losses-of: one line per image, "IMG content C style S tv T total F". */
static int print_losses(const style_optimize_options *o, const char *const *images, int count)
{
    for (int i = 0; i < count; i++) {
        style_losses losses;
        style_status status = style_evaluate_losses(o, images[i], &losses);
        if (status != STYLE_OK) {
            cli_report_status(status, images[i]);
            return CLI_EXIT_FAILURE;
        }
        cli_print_escaped(stdout, images[i]);
        printf(" content %.6g style %.6g tv %.6g total %.6g\n", losses.content, losses.style,
               losses.tv, losses.total);
    }
    return cli_finish_stdout(CLI_EXIT_OK);
}

static int on_progress(void *user, const style_optimize_stats *st)
{
    cli_progress *p = user;
    if (!p->quiet) {
        char eta[32], elapsed[32];
        cli_format_duration(st->eta_seconds, eta, sizeof eta);
        cli_format_duration(st->elapsed_seconds, elapsed, sizeof elapsed);
        double per_iteration = st->iteration ? st->elapsed_seconds / (double)st->iteration : 0;
        if (p->terminal) {
            char bar[CLI_PROGRESS_BAR_WIDTH + 1];
            cli_progress_bar(bar, st->iteration, st->iterations);
            fprintf(stderr,
                    "\r[%s] %lld/%lld  content %.3f  style %.3f  tv %.3f  total %.3f  %.2f s/it  "
                    "ETA %s ",
                    bar, (long long)st->iteration, (long long)st->iterations, st->content_loss,
                    st->style_loss, st->tv_loss, st->total_loss, per_iteration, eta);
            p->bar_open = 1;
        } else if (cli_progress_line_due(&p->last_line, st->elapsed_seconds, st->iteration,
                                         st->iterations)) {
            fprintf(stderr,
                    "iteration %lld/%lld evaluations %lld content %.4f style %.4f tv %.4f "
                    "total %.4f %.2f s/it elapsed %s eta %s\n",
                    (long long)st->iteration, (long long)st->iterations,
                    (long long)st->evaluations, st->content_loss, st->style_loss, st->tv_loss,
                    st->total_loss, per_iteration, elapsed, eta);
        }
        fflush(stderr);
    }
    return cli_interrupted();
}

enum {
    OPT_CONTENT = 256, OPT_STYLE_IMAGE, OPT_STYLE_WEIGHTS, OPT_LOSS_NET, OPT_OUT, OPT_SIZE,
    OPT_STYLE_SIZE, OPT_ITERATIONS, OPT_OPTIMIZER, OPT_LR, OPT_INIT, OPT_CONTENT_WEIGHT,
    OPT_STYLE_WEIGHT, OPT_TV_WEIGHT, OPT_CONTENT_LAYER, OPT_STYLE_LAYERS, OPT_PRESERVE_COLOR,
    OPT_SEED, OPT_THREADS, OPT_LOG_CSV, OPT_LOSSES_OF
};

static int parse_double(const char *text, double *out)
{
    return cli_parse_double(text, 0, 1e12, out);
}

/* "0.7,0.3" -> weights; returns the count, or -1 for a malformed list. */
static int parse_weights(const char *text, double *weights, int max)
{
    int count = 0;
    const char *p = text;
    for (;;) {
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || !(v >= 0) || !isfinite(v) || count == max) return -1;
        weights[count++] = v;
        if (*end == '\0') return count;
        if (*end != ',') return -1;
        p = end + 1;
    }
}

int cmd_optimize(int argc, char **argv)
{
    static const struct option options[] = {
        {"content", required_argument, NULL, OPT_CONTENT},
        {"style-image", required_argument, NULL, OPT_STYLE_IMAGE},
        {"style-weights", required_argument, NULL, OPT_STYLE_WEIGHTS},
        {"loss-net", required_argument, NULL, OPT_LOSS_NET},
        {"out", required_argument, NULL, OPT_OUT},
        {"size", required_argument, NULL, OPT_SIZE},
        {"style-size", required_argument, NULL, OPT_STYLE_SIZE},
        {"iterations", required_argument, NULL, OPT_ITERATIONS},
        {"optimizer", required_argument, NULL, OPT_OPTIMIZER},
        {"lr", required_argument, NULL, OPT_LR},
        {"init", required_argument, NULL, OPT_INIT},
        {"content-weight", required_argument, NULL, OPT_CONTENT_WEIGHT},
        {"style-weight", required_argument, NULL, OPT_STYLE_WEIGHT},
        {"tv-weight", required_argument, NULL, OPT_TV_WEIGHT},
        {"content-layer", required_argument, NULL, OPT_CONTENT_LAYER},
        {"style-layers", required_argument, NULL, OPT_STYLE_LAYERS},
        {"preserve-color", no_argument, NULL, OPT_PRESERVE_COLOR},
        {"seed", required_argument, NULL, OPT_SEED},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"log-csv", required_argument, NULL, OPT_LOG_CSV},
        {"losses-of", required_argument, NULL, OPT_LOSSES_OF},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    style_optimize_options o = {0};
    o.struct_size = sizeof o;
    o.seed = 1;
    const char *styles[MAX_STYLES];
    double weights[MAX_STYLES];
    int style_count = 0, weight_count = -1, evaluate_count = 0;
    const char *evaluate[MAX_STYLES];
    cli_progress progress = {isatty(STDERR_FILENO), 0, 0, 0};
    long value;
    double real;
    uint64_t seed;
    optind = 1;
    for (;;) {
        int before = optind;
        int c = getopt_long(argc, argv, "qh", options, NULL);
        if (c == -1) break;
        switch (c) {
        case OPT_CONTENT: o.content_image = optarg; break;
        case OPT_STYLE_IMAGE:
            if (style_count == MAX_STYLES)
                return cli_usage_error("optimize", "at most %d --style-image", MAX_STYLES);
            styles[style_count++] = optarg;
            break;
        case OPT_STYLE_WEIGHTS:
            weight_count = parse_weights(optarg, weights, MAX_STYLES);
            if (weight_count < 0)
                return cli_usage_error("optimize",
                                       "--style-weights expects non-negative numbers separated "
                                       "by commas, not '%s'",
                                       optarg);
            break;
        case OPT_LOSS_NET: o.loss_net = optarg; break;
        case OPT_OUT: o.out_path = optarg; break;
        case OPT_SIZE:
        case OPT_STYLE_SIZE:
            if (cli_parse_int(optarg, 16, 16384, &value))
                return cli_usage_error("optimize", "%s expects 16..16384", argv[before]);
            if (c == OPT_SIZE) o.size = (int32_t)value;
            else o.style_size = (int32_t)value;
            break;
        case OPT_ITERATIONS:
            if (cli_parse_int(optarg, 1, 100000000, &value))
                return cli_usage_error("optimize", "--iterations expects a positive count");
            o.iterations = value;
            break;
        case OPT_OPTIMIZER:
            if (strcmp(optarg, "lbfgs") && strcmp(optarg, "adam"))
                return cli_usage_error("optimize", "--optimizer is 'lbfgs' or 'adam', not '%s'",
                                       optarg);
            o.optimizer = optarg;
            break;
        case OPT_LR:
            if (parse_double(optarg, &o.learning_rate) || o.learning_rate <= 0)
                return cli_usage_error("optimize", "--lr expects a positive number");
            break;
        case OPT_INIT:
            if (strcmp(optarg, "content") && strcmp(optarg, "noise"))
                return cli_usage_error("optimize", "--init is 'content' or 'noise', not '%s'",
                                       optarg);
            o.init = optarg;
            break;
        case OPT_CONTENT_WEIGHT:
        case OPT_STYLE_WEIGHT:
        case OPT_TV_WEIGHT:
            if (parse_double(optarg, &real))
                return cli_usage_error("optimize", "%s expects a non-negative number",
                                       argv[before]);
            real = real > 0 ? real : -1.0; /* 0: off */
            if (c == OPT_CONTENT_WEIGHT) o.content_weight = real;
            if (c == OPT_STYLE_WEIGHT) o.style_weight = real;
            if (c == OPT_TV_WEIGHT) o.tv_weight = real;
            break;
        case OPT_CONTENT_LAYER: o.content_layer = optarg; break;
        case OPT_STYLE_LAYERS: o.style_layers = optarg; break;
        case OPT_PRESERVE_COLOR: o.preserve_color = 1; break;
        case OPT_SEED:
            if (cli_parse_u64(optarg, &seed))
                return cli_usage_error("optimize", "--seed expects an integer");
            o.seed = seed;
            break;
        case OPT_THREADS:
            if (cli_parse_int(optarg, 0, CLI_MAX_THREADS, &value))
                return cli_usage_error("optimize", "--threads expects 0..%d", CLI_MAX_THREADS);
            o.threads = (int)value;
            break;
        case OPT_LOG_CSV: o.log_csv = optarg; break;
        case OPT_LOSSES_OF:
            if (evaluate_count == MAX_STYLES)
                return cli_usage_error("optimize", "at most %d --losses-of", MAX_STYLES);
            evaluate[evaluate_count++] = optarg;
            break;
        case 'q': progress.quiet = 1; break;
        case 'h': cmd_optimize_usage(stdout); return cli_finish_stdout(CLI_EXIT_OK);
        default: return cli_option_error("optimize", c, argc, argv, before);
        }
    }
    if (optind < argc)
        return cli_usage_error("optimize", "unexpected argument '%s'", argv[optind]);
    if (!o.content_image || !style_count || !o.loss_net || (!o.out_path && !evaluate_count))
        return cli_usage_error("optimize",
                               "--content, --style-image, --loss-net and --out are required");
    if (o.out_path && !cli_has_image_extension(o.out_path))
        return cli_usage_error("optimize", "--out must end in .png, .jpg, .jpeg or .webp");
    if (weight_count >= 0 && weight_count != style_count)
        return cli_usage_error("optimize", "%d --style-weights for %d --style-image", weight_count,
                               style_count);
    if (weight_count >= 0) {
        double sum = 0;
        for (int i = 0; i < weight_count; i++) sum += weights[i];
        if (!(sum > 0)) return cli_usage_error("optimize", "--style-weights sum to 0");
    }
    o.style_images = styles;
    o.style_count = (size_t)style_count;
    o.style_blend = weight_count >= 0 ? weights : NULL;
    o.progress = on_progress;
    o.cancel = cli_interrupt_cancel; /* a signal stops inside an iteration too */
    o.progress_user = &progress;
    o.log = cli_progress_log;
    o.log_user = &progress;

    if (evaluate_count) return print_losses(&o, evaluate, evaluate_count);
    cli_interrupt_begin(0); /* no deadline: the current image is written first */
    style_status status = style_optimize(&o);
    cli_interrupt_end();
    if (progress.bar_open) fputc('\n', stderr);
    return cli_run_exit_code(status);
}
