/*
 * `libstyle evaluate`: a model against Gatys' optimisation on held-out photos, under the
 * frozen evaluation definition (style_evaluate, docs/quality.md). Progress on stderr, the
 * summary on stdout, the reports and contact sheets in --out-dir.
 */
#include "cli_interrupt.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "commands.h"

#include <libstyle_train.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SEARCH_DIRS 32
#define MAX_STYLE_IMAGES 256

void cmd_evaluate_usage(FILE *out)
{
    fputs("Usage: libstyle evaluate --model M.safetensors --photos DIR [--list HELDOUT.sha256]\n"
          "                         (--search DIR ... | --style-image IMG --loss-net FILE)\n"
          "                         [--out-dir DIR] [--cache DIR] [options]\n"
          "       libstyle evaluate --model ADAIN.safetensors --photos DIR [--list ...]\n"
          "                         (--style-image IMG ... | --styles DIR [--style-list LIST])\n"
          "                         (--search DIR ... | --loss-net FILE) [options]\n"
          "\n"
          "Measures a model's outputs on held-out photos against Gatys' optimisation of the\n"
          "same photos, under the frozen evaluation definition " STYLE_EVALUATION_DEFINITION "\n"
          "(docs/quality.md): the model's loss network and its recommended taps, content 1,\n"
          "style 20, TV 50, long side 512, the model's style size (AdaIN: 512, the style's\n"
          "size in `stylize --style-image`); Gatys with L-BFGS (history\n"
          "10, strong Wolfe) from the photo for 300 iterations. Per photo: the losses, the\n"
          "Gatys-equivalent iterations (where the model's total falls on Gatys' curve; 0: no\n"
          "better than the photo; '>N': better than Gatys' last iteration), the colour\n"
          "distance to the style image (2-Wasserstein distance of Gaussians in CIELAB) and\n"
          "the artifact score (periodic spectral peaks relative to Gatys' result). An AdaIN\n"
          "model is measured on every (style, photo) pair; medians per style and over all.\n"
          "\n"
          "Inputs:\n"
          "  --model FILE           a single-style (arch johnson) or arbitrary-style (arch\n"
          "                         adain) model\n"
          "  --photos DIR           held-out photos (PNG/JPEG, searched recursively)\n"
          "  --list FILE            only the photos this sha256sum-format list names, each\n"
          "                         checked against its hash (models/heldout-photos.sha256)\n"
          "  --search DIR           a folder holding the style image and loss network the\n"
          "                         model's training metadata names (found by name and\n"
          "                         SHA-256); repeatable\n"
          "  --style-image IMG      the style image (johnson models without training\n"
          "                         metadata); AdaIN: a style to measure on (repeatable)\n"
          "  --styles DIR           AdaIN: every image of DIR is a style (recursive)\n"
          "  --style-list FILE      AdaIN: only the styles of --styles DIR this sha256sum-format\n"
          "                         list names, each checked against its hash (the held-out\n"
          "                         styles: models/heldout-styles.sha256)\n"
          "  --loss-net FILE        the loss network (likewise)\n"
          "Outputs:\n"
          "  --out-dir DIR          report.csv, report.json, sheets/PHOTO.png (photo | model |\n"
          "                         Gatys); AdaIN: sheets/STYLE/PHOTO.png\n"
          "  --cache DIR            Gatys curves and results, by photo, style and objective\n"
          "                         (reused by later runs)\n"
          "Limits and test overrides (a report made with --size or --gatys-iterations says\n"
          "so: its numbers are not the definition's):\n"
          "  --max-photos N         the first N photos only\n"
          "  --size N               long side (default 512)\n"
          "  --style-size N         short side of the style image (default: the model's;\n"
          "                         AdaIN: 512)\n"
          "  --gatys-iterations N   default 300\n"
          "  --threads N            default: one per processor\n"
          "  -q, --quiet            no progress output\n",
          out);
}

typedef struct progress_state {
    cli_progress display; /* the Gatys bar, -q; its log_user */
    /* AdaIN: each style's medians, printed with the summary */
    style_evaluate_summary styles[MAX_STYLE_IMAGES];
    char style_names[MAX_STYLE_IMAGES][256];
    size_t style_count;
} progress_state;

/* "[3/8] " for a johnson model; "[3/16] STYLE: " for an AdaIN model (pairs counted). */
static void pair_prefix(const style_evaluate_progress *p, char *out, size_t size)
{
    if (p->styles > 1 || strcmp(p->stage, "style-done") == 0 || p->style_summary)
        snprintf(out, size, "[%zu/%zu] %s: ", p->style * p->photos + p->photo + 1,
                 p->styles * p->photos, p->style_image);
    else
        snprintf(out, size, "[%zu/%zu] ", p->photo + 1, p->photos);
}

static void format_equivalent(char *out, size_t size, double value, int beyond, int64_t n)
{
    if (beyond)
        snprintf(out, size, ">%lld", (long long)n);
    else
        snprintf(out, size, "%.1f", value);
}

static int on_progress(void *user, const style_evaluate_progress *p)
{
    progress_state *s = user;
    char prefix[512];
    if (strcmp(p->stage, "style-done") == 0 && p->style_summary &&
        s->style_count < MAX_STYLE_IMAGES) {
        s->styles[s->style_count] = *p->style_summary;
        snprintf(s->style_names[s->style_count++], sizeof s->style_names[0], "%s", p->style_image);
    }
    if (s->display.quiet) return cli_interrupted();
    pair_prefix(p, prefix, sizeof prefix);
    if (strcmp(p->stage, "gatys") == 0) {
        if (s->display.terminal) {
            fprintf(stderr, "\r%s%s: Gatys iteration %lld/%lld ", prefix, p->name,
                    (long long)p->iteration, (long long)p->iterations);
            s->display.bar_open = 1;
        } else if (p->iteration % 50 == 0 || p->iteration == p->iterations) {
            fprintf(stderr, "%s%s: Gatys iteration %lld/%lld\n", prefix, p->name,
                    (long long)p->iteration, (long long)p->iterations);
        }
    } else {
        if (s->display.bar_open) fputc('\n', stderr);
        s->display.bar_open = 0;
        if (strcmp(p->stage, "done") == 0) {
            const style_evaluate_photo *r = p->result;
            char equivalent[32];
            format_equivalent(equivalent, sizeof equivalent, r->gatys_equivalent, r->gatys_beyond,
                              r->gatys_iterations);
            fprintf(stderr,
                    "%s%s: total %.4g (photo %.4g, Gatys-%lld %.4g, ratio %.2f), "
                    "Gatys-equivalent %s, colour %.1f (photo %.1f, Gatys %.1f), artifacts "
                    "%.2f\n",
                    prefix, p->name, r->total, r->photo_total, (long long)r->gatys_iterations,
                    r->gatys_total, r->total / r->gatys_total, equivalent, r->color_model,
                    r->color_photo, r->color_gatys, r->artifact_score);
        } else if (strcmp(p->stage, "style-done") == 0) {
            const style_evaluate_summary *m = p->style_summary;
            char equivalent[32];
            format_equivalent(equivalent, sizeof equivalent, m->gatys_equivalent, m->gatys_beyond,
                              m->gatys_iterations);
            fprintf(stderr,
                    "style %zu/%zu %s: medians over %zu photos: total ratio %.3f, "
                    "Gatys-equivalent %s, colour %.2f (photos %.2f), artifacts %.3f\n",
                    p->style + 1, p->styles, p->style_image, m->photos, m->total_ratio, equivalent,
                    m->color_model, m->color_photo, m->artifact_score);
        } else {
            fprintf(stderr, "%s%s: %s\n", prefix, p->name,
                    strcmp(p->stage, "model") == 0 ? "stylizing and scoring"
                                                   : "Gatys curve from the cache");
        }
    }
    fflush(stderr);
    return cli_interrupted();
}

enum {
    OPT_MODEL = 256,
    OPT_PHOTOS,
    OPT_LIST,
    OPT_SEARCH,
    OPT_STYLE_IMAGE,
    OPT_STYLES,
    OPT_STYLE_LIST,
    OPT_LOSS_NET,
    OPT_OUT_DIR,
    OPT_CACHE,
    OPT_MAX_PHOTOS,
    OPT_SIZE,
    OPT_STYLE_SIZE,
    OPT_GATYS_ITERATIONS,
    OPT_THREADS
};

int cmd_evaluate(int argc, char **argv)
{
    static const struct option options[] = {
        {"model", required_argument, NULL, OPT_MODEL},
        {"photos", required_argument, NULL, OPT_PHOTOS},
        {"list", required_argument, NULL, OPT_LIST},
        {"search", required_argument, NULL, OPT_SEARCH},
        {"style-image", required_argument, NULL, OPT_STYLE_IMAGE},
        {"styles", required_argument, NULL, OPT_STYLES},
        {"style-list", required_argument, NULL, OPT_STYLE_LIST},
        {"loss-net", required_argument, NULL, OPT_LOSS_NET},
        {"out-dir", required_argument, NULL, OPT_OUT_DIR},
        {"cache", required_argument, NULL, OPT_CACHE},
        {"max-photos", required_argument, NULL, OPT_MAX_PHOTOS},
        {"size", required_argument, NULL, OPT_SIZE},
        {"style-size", required_argument, NULL, OPT_STYLE_SIZE},
        {"gatys-iterations", required_argument, NULL, OPT_GATYS_ITERATIONS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    style_evaluate_options o = {.struct_size = sizeof o};
    const char *search[MAX_SEARCH_DIRS], *style_images[MAX_STYLE_IMAGES];
    size_t search_count = 0, style_count = 0;
    static progress_state progress; /* large: the per-style medians */
    memset(&progress, 0, sizeof progress);
    progress.display.terminal = isatty(2);
    long value;
    optind = 1;
    for (;;) {
        int before = optind;
        int c = getopt_long(argc, argv, "qh", options, NULL);
        if (c == -1) break;
        switch (c) {
        case OPT_MODEL:
            o.model = optarg;
            break;
        case OPT_PHOTOS:
            o.photos_dir = optarg;
            break;
        case OPT_LIST:
            o.photo_list = optarg;
            break;
        case OPT_SEARCH:
            if (search_count == MAX_SEARCH_DIRS)
                return cli_usage_error("evaluate", "at most %d --search", MAX_SEARCH_DIRS);
            search[search_count++] = optarg;
            break;
        case OPT_STYLE_IMAGE:
            /* Every --style-image goes to style_images: one for a johnson model (its style),
             * any number for an AdaIN model; the library refuses several for johnson. */
            if (style_count == MAX_STYLE_IMAGES)
                return cli_usage_error("evaluate", "at most %d --style-image", MAX_STYLE_IMAGES);
            style_images[style_count++] = optarg;
            break;
        case OPT_STYLES:
            o.styles_dir = optarg;
            break;
        case OPT_STYLE_LIST:
            o.style_list = optarg;
            break;
        case OPT_LOSS_NET:
            o.loss_net = optarg;
            break;
        case OPT_OUT_DIR:
            o.out_dir = optarg;
            break;
        case OPT_CACHE:
            o.cache_dir = optarg;
            break;
        case OPT_MAX_PHOTOS:
            if (cli_parse_int(optarg, 1, 1000000, &value))
                return cli_usage_error("evaluate", "--max-photos expects a positive count");
            o.max_photos = (size_t)value;
            break;
        case OPT_SIZE:
        case OPT_STYLE_SIZE:
            if (cli_parse_int(optarg, 16, 16384, &value))
                return cli_usage_error("evaluate", "%s expects 16..16384", argv[before]);
            if (c == OPT_SIZE)
                o.size = (int32_t)value;
            else
                o.style_size = (int32_t)value;
            break;
        case OPT_GATYS_ITERATIONS:
            if (cli_parse_int(optarg, 1, 100000, &value))
                return cli_usage_error("evaluate", "--gatys-iterations expects 1..100000");
            o.gatys_iterations = value;
            break;
        case OPT_THREADS:
            if (cli_parse_int(optarg, 0, 1024, &value))
                return cli_usage_error("evaluate", "--threads expects 0..1024");
            o.threads = (int)value;
            break;
        case 'q':
            progress.display.quiet = 1;
            break;
        case 'h':
            cmd_evaluate_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        default:
            return cli_option_error("evaluate", c, argc, argv, before);
        }
    }
    if (optind < argc) return cli_usage_error("evaluate", "unexpected argument '%s'", argv[optind]);
    if (!o.model || !o.photos_dir)
        return cli_usage_error("evaluate", "--model and --photos are required");
    o.search_dirs = search;
    o.search_dir_count = search_count;
    o.style_images = style_images;
    o.style_image_count = style_count;
    o.progress = on_progress;
    o.progress_user = &progress;
    o.log = cli_progress_log;
    o.log_user = &progress.display;

    style_evaluate_summary s;
    cli_interrupt_begin(0); /* no deadline: the progress callback stops it between steps */
    style_status status = style_evaluate(&o, &s);
    cli_interrupt_end();
    if (progress.display.bar_open) fputc('\n', stderr);
    if (status != STYLE_OK) return cli_run_exit_code(status);
    char equivalent[32];
    format_equivalent(equivalent, sizeof equivalent, s.gatys_equivalent, s.gatys_beyond,
                      s.gatys_iterations);
    printf("definition %s%s\nphotos %zu\ntotal_ratio %.3f\ngatys_equivalent %s\n"
           "color_distance %.2f\ncolor_distance_photo %.2f\nartifact_score %.3f\n",
           STYLE_EVALUATION_DEFINITION,
           o.size || o.gatys_iterations || o.style_size ? " (with overrides)" : "", s.photos,
           s.total_ratio, equivalent, s.color_model, s.color_photo, s.artifact_score);
    /* AdaIN: the same medians per style, one line each. */
    if (progress.style_count) printf("styles %zu\n", progress.style_count);
    for (size_t i = 0; i < progress.style_count; i++) {
        const style_evaluate_summary *m = &progress.styles[i];
        format_equivalent(equivalent, sizeof equivalent, m->gatys_equivalent, m->gatys_beyond,
                          m->gatys_iterations);
        printf("style %s photos %zu total_ratio %.3f gatys_equivalent %s color_distance %.2f "
               "color_distance_photo %.2f artifact_score %.3f\n",
               progress.style_names[i], m->photos, m->total_ratio, equivalent, m->color_model,
               m->color_photo, m->artifact_score);
    }
    return cli_finish_stdout(CLI_EXIT_OK);
}
