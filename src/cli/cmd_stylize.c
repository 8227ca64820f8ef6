/* `libstyle stylize`: applies a style model to one image (INPUT OUTPUT) or to many files and
 * directories (--out-dir DIR INPUT...), several at a time (--jobs) within one thread budget,
 * sessions sharing one model. Cheap checks on every file run before the model is loaded, so
 * a typo costs no model load; a file that fails does not stop the others. */
#define _POSIX_C_SOURCE 200809L

#include "batch_display.h"
#include "cli_files.h"
#include "cli_image_io.h"
#include "cli_interrupt.h"
#include "cli_styles.h"
#include "cli_util.h"
#include "cli_video.h"
#include "frame_sequence.h"
#include "commands.h"
#include "stylize_jobs.h"

#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STYLIZE_COMMAND "stylize"

/* Sane upper bounds for --threads and --jobs: beyond them a typo, not a machine. */
#define STYLIZE_MAX_THREADS CLI_MAX_THREADS
#define STYLIZE_MAX_JOBS 256
#define STYLIZE_MAX_STYLES 16

struct stylize_settings {
    const char *model_path;
    const char *out_dir; /* NULL: single INPUT OUTPUT mode */
    int threads;         /* the budget of all jobs together; 0 = one per processor */
    int threads_given;
    int jobs; /* images stylized at once */
    uint64_t memory_budget_bytes;
    int memory_budget_given;
    uint64_t max_pixels; /* 0: the library's default cap */
    int jpeg_quality;    /* 0: the library's default */
    int png_level;       /* style_save_options.png_level: 0 = the library's default */
    style_precision precision;
    int precision_given;
    const char *style;         /* johnson-cin: --style NAME|INDEX */
    const char *style_weights; /* johnson-cin: --style-weights NAME=W,...; adain: W,... */
    /* AdaIN models: style images, their blend weights (parsed), their short side */
    const char *style_images[STYLIZE_MAX_STYLES];
    int style_count;
    float adain_weights[STYLIZE_MAX_STYLES];
    int weight_count;
    int style_size;
    int tileable;
    long band_rows; /* 0: bands only when over the memory budget */
    double strength;
    int strength_given;
    int preserve_color;
    double scale;
    int scale_given;
    int skip_existing;
    double smoothing; /* video: norm statistics smoothing (cli_video.h) */
    double blend;     /* video: temporal blend weight (cli_video.h) */
    /* video: encoding and limits (cli_video.h) */
    const char *codec, *preset;
    long crf; /* -1: the codec's default */
    int chroma444;
    uint64_t max_frames;
    double max_seconds;
    int quiet;
    int verbose;
};

/* Long-only options get values outside the range of short option characters. */
enum {
    OPTION_MEMORY_BUDGET = 256,
    OPTION_MAX_PIXELS,
    OPTION_QUALITY,
    OPTION_PNG_LEVEL,
    OPTION_PRECISION,
    OPTION_STYLE,
    OPTION_STYLE_WEIGHTS,
    OPTION_STYLE_IMAGE,
    OPTION_STYLE_SIZE,
    OPTION_TILEABLE,
    OPTION_BAND_ROWS,
    OPTION_STRENGTH,
    OPTION_PRESERVE_COLOR,
    OPTION_SCALE,
    OPTION_SKIP_EXISTING,
    OPTION_SMOOTHING,
    OPTION_TEMPORAL_BLEND,
    OPTION_CODEC,
    OPTION_CRF,
    OPTION_PRESET,
    OPTION_CHROMA,
    OPTION_MAX_FRAMES,
    OPTION_MAX_DURATION,
};

void cmd_stylize_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " " STYLIZE_COMMAND
          " --model MODEL.safetensors [options] INPUT OUTPUT\n"
          "       " CLI_PROGRAM_NAME " " STYLIZE_COMMAND
          " --model MODEL.safetensors --out-dir DIR [options] INPUT...\n"
          "\n"
          "Applies a style model to PNG, JPEG or WebP images. The output format follows the\n"
          "output name's extension (.png, .jpg, .jpeg, .webp); 16-bit PNGs stay 16-bit, alpha\n"
          "is kept (PNG, WebP), JPEG EXIF orientation is applied. With --out-dir, each INPUT\n"
          "file is written to DIR under its own name, and each INPUT directory is searched\n"
          "recursively for .png, .jpg, .jpeg and .webp files, written to DIR under their path\n"
          "inside it. A file that fails does\n"
          "not stop the others; the exit code is 1 when any failed. Input files are never\n"
          "overwritten, and outputs are written atomically.\n"
          "INPUT '-' reads a PNG, JPEG or WebP image from standard input; OUTPUT '-' writes\n"
          "PNG to standard output.\n"
          "A video OUTPUT (.mp4, .mkv, .mov, .webm, ...) stylizes every frame of a video INPUT\n"
          "(H.264 or VP9 out, audio copied when the container takes it; builds with FFmpeg\n"
          "only; docs/video.md).\n"
          "\n"
          "Options:\n"
          "  -m, --model FILE         style model (safetensors); required\n"
          "  -o, --out-dir DIR        write every INPUT into DIR (made, with its parents, when\n"
          "                           missing)\n"
          "      --strength S         0..1: blend of the input (0) and the stylized image (1,\n"
          "                           the default); for an AdaIN model, the content-style\n"
          "                           trade-off in feature space\n"
          "      --preserve-color     keep the input's colours (stylized luminance only)\n"
          "      --scale F            stylize at F times the input size (0 < F <= 8), then\n"
          "                           resize back; below 1 gives larger strokes, and is faster\n"
          "  -j, --jobs N             stylize N images at once (default 1), sharing the model\n"
          "                           and splitting the thread budget between them\n"
          "  -t, --threads N          thread budget of all jobs together; 0 = one per\n"
          "                           processor (default)\n"
          "      --skip-existing      leave files whose output already exists (counted as\n"
          "                           skipped)\n"
          "      --memory-budget MB   cap on the memory of one run (per job), in MiB\n"
          "                           (default 4096); an image over it runs in bands\n"
          "                           through temporary files (docs/pipeline.md)\n"
          "      --max-pixels N       refuse inputs with more than N pixels\n"
          "                           (default 67108864)\n"
          "      --quality Q          JPEG or lossy WebP quality 1..100 (default: JPEG 92,\n"
          "                           WebP lossless)\n"
          "      --png-level N        PNG zlib level 0 (stored) .. 9 (smallest); default 6,\n"
          "                           or 1 for images over 2048x2048 (fast to write)\n"
          "      --precision P        fp32 (default), bf16, int8 or auto (the fastest this\n"
          "                           processor runs natively); see 'libstyle bench'\n"
          "      --style NAME|INDEX   a model with several styles (johnson-cin): the style\n"
          "                           to use (default: the first; 'libstyle info' lists them)\n"
          "      --style-weights NAME=W,...\n"
          "                           ... or a blend: each style's scale and shift weighted by\n"
          "                           W / (sum of the Ws), W >= 0; styles not named weigh 0\n"
          "      --style-image IMG    an AdaIN model (arch adain): the style, any image;\n"
          "                           repeat it to blend several, with --style-weights W,...\n"
          "                           (one per --style-image; default equal)\n"
          "      --style-size N       AdaIN: short side the style image is resized to\n"
          "                           (default 512; 0 = as it is)\n"
          "      --tileable           seamless textures: circular padding, so that the output\n"
          "                           tiles when the input does (docs/pipeline.md)\n"
          "      --band-rows N        run in bands of N rows through temporary files even when\n"
          "                           the image fits the memory budget (images that do not fit\n"
          "                           always run in bands; fp32 only)\n"
          "      --smoothing W        video: weight of the past frames' instance-norm\n"
          "                           statistics, 0 <= W < 1 (default 0: each frame\n"
          "                           on its own); see docs/video.md\n"
          "      --temporal-blend A   video: blend each frame with the previous output warped\n"
          "                           along the motion where it is reliable, 0 <= A < 1\n"
          "                           (default 0: none); see docs/video.md\n"
          "      --codec h264|vp9     video: the encoder (default: H.264 where the container\n"
          "                           takes it, VP9 for WebM)\n"
          "      --crf N              video: quality, lower is better (H.264 0..51, default 18;\n"
          "                           VP9 0..63, default 31)\n"
          "      --preset P           video: libx264 preset (default medium) or VP9 deadline\n"
          "                           (realtime, good, best)\n"
          "      --chroma 420|444     video: 420 (default) pads an odd width or height by one\n"
          "                           pixel so that every player takes it; 444 keeps the size\n"
          "      --max-frames N       video: refuse inputs with more frames (default 1000000)\n"
          "      --max-duration S     video: refuse inputs longer than S seconds (default 14400)\n"
          "  -q, --quiet              errors only: no progress and no summary\n"
          "  -v, --verbose            per-image timings and library warnings on stderr\n"
          "  -h, --help               show this help and exit\n"
          "\n"
          "With --out-dir, a terminal shows a progress bar with the time left; otherwise one\n"
          "line per file. A summary (done, skipped, failed, time) ends the run. The same input,\n"
          "model, precision, controls and threads per job give byte-identical output.\n",
          out);
}

/* `user`: the batch display (session warnings, printed above the bar), or NULL. */
static void log_warning_to_stderr(void *user, style_log_level level, const char *message)
{
    if (level < STYLE_LOG_WARNING) return;
    if (user != NULL) {
        batch_display_warning(user, message != NULL ? message : "");
        return;
    }
    /* Locked so a warning from another thread cannot split the line. */
    flockfile(stderr);
    fputs(CLI_PROGRAM_NAME ": warning: ", stderr);
    cli_print_escaped(stderr, message != NULL ? message : "");
    fputc('\n', stderr);
    funlockfile(stderr);
}

/* Not an exit code: parse_options() returns it when the command should go on. */
#define PARSE_CONTINUE (-1)

/* Returns PARSE_CONTINUE, or the exit code once help was shown or a usage error reported. */
static int parse_options(int argc, char **argv, struct stylize_settings *settings)
{
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},
        {"out-dir", required_argument, NULL, 'o'},
        {"threads", required_argument, NULL, 't'},
        {"memory-budget", required_argument, NULL, OPTION_MEMORY_BUDGET},
        {"max-pixels", required_argument, NULL, OPTION_MAX_PIXELS},
        {"quality", required_argument, NULL, OPTION_QUALITY},
        {"png-level", required_argument, NULL, OPTION_PNG_LEVEL},
        {"precision", required_argument, NULL, OPTION_PRECISION},
        {"style", required_argument, NULL, OPTION_STYLE},
        {"style-weights", required_argument, NULL, OPTION_STYLE_WEIGHTS},
        {"style-image", required_argument, NULL, OPTION_STYLE_IMAGE},
        {"style-size", required_argument, NULL, OPTION_STYLE_SIZE},
        {"tileable", no_argument, NULL, OPTION_TILEABLE},
        {"band-rows", required_argument, NULL, OPTION_BAND_ROWS},
        {"strength", required_argument, NULL, OPTION_STRENGTH},
        {"preserve-color", no_argument, NULL, OPTION_PRESERVE_COLOR},
        {"scale", required_argument, NULL, OPTION_SCALE},
        {"jobs", required_argument, NULL, 'j'},
        {"skip-existing", no_argument, NULL, OPTION_SKIP_EXISTING},
        {"smoothing", required_argument, NULL, OPTION_SMOOTHING},
        {"temporal-blend", required_argument, NULL, OPTION_TEMPORAL_BLEND},
        {"codec", required_argument, NULL, OPTION_CODEC},
        {"crf", required_argument, NULL, OPTION_CRF},
        {"preset", required_argument, NULL, OPTION_PRESET},
        {"chroma", required_argument, NULL, OPTION_CHROMA},
        {"max-frames", required_argument, NULL, OPTION_MAX_FRAMES},
        {"max-duration", required_argument, NULL, OPTION_MAX_DURATION},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int before;
    int result;
    long number;

    optind = 0; /* restart getopt on this command's own argv */
    opterr = 0;
    while (before = optind,
           (result = getopt_long(argc, argv, ":m:o:t:j:qvh", options, NULL)) != -1) {
        switch (result) {
        case 'm':
            settings->model_path = optarg;
            break;
        case 'o':
            settings->out_dir = optarg;
            break;
        case 't':
            if (cli_parse_int(optarg, 0, STYLIZE_MAX_THREADS, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--threads expects 0..%d, not '%s'",
                                       STYLIZE_MAX_THREADS, optarg);
            }
            settings->threads = (int)number;
            settings->threads_given = 1;
            break;
        case OPTION_MEMORY_BUDGET: {
            uint64_t mebibytes;
            /* 0 would be the library's default, not a budget of nothing: refused. */
            if (cli_parse_u64(optarg, &mebibytes) != 0 || mebibytes == 0 ||
                mebibytes > (UINT64_MAX >> 20)) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--memory-budget expects a size in MiB above 0, not '%s'",
                                       optarg);
            }
            settings->memory_budget_bytes = mebibytes << 20;
            settings->memory_budget_given = 1;
            break;
        }
        case OPTION_MAX_PIXELS:
            /* 0 would be the library's default cap, not "no pixels": refused. */
            if (cli_parse_u64(optarg, &settings->max_pixels) != 0 || settings->max_pixels == 0) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--max-pixels expects a pixel count above 0, not '%s'",
                                       optarg);
            }
            break;
        case OPTION_QUALITY:
            if (cli_parse_int(optarg, 1, 100, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--quality expects 1..100, not '%s'",
                                       optarg);
            }
            settings->jpeg_quality = (int)number;
            break;
        case OPTION_PNG_LEVEL:
            if (cli_parse_int(optarg, 0, 9, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--png-level expects 0..9, not '%s'",
                                       optarg);
            }
            /* zlib's level 0 (stored) is the API's STYLE_PNG_LEVEL_STORED: its 0 is "default". */
            settings->png_level = number == 0 ? STYLE_PNG_LEVEL_STORED : (int)number;
            break;
        case 'j':
            if (cli_parse_int(optarg, 1, STYLIZE_MAX_JOBS, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--jobs expects 1..%d, not '%s'",
                                       STYLIZE_MAX_JOBS, optarg);
            }
            settings->jobs = (int)number;
            break;
        case OPTION_STRENGTH:
            if (cli_parse_double(optarg, 0.0, 1.0, &settings->strength) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--strength expects 0..1, not '%s'",
                                       optarg);
            }
            settings->strength_given = 1;
            break;
        case OPTION_PRESERVE_COLOR:
            settings->preserve_color = 1;
            break;
        case OPTION_SCALE:
            if (cli_parse_double(optarg, 0.0, 8.0, &settings->scale) != 0 ||
                !(settings->scale > 0.0)) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--scale expects a factor above 0 and at most 8, not '%s'",
                                       optarg);
            }
            settings->scale_given = 1;
            break;
        case OPTION_SKIP_EXISTING:
            settings->skip_existing = 1;
            break;
        case OPTION_SMOOTHING:
            if (cli_parse_double(optarg, 0.0, 1.0, &settings->smoothing) != 0 ||
                !(settings->smoothing < 1.0))
                return cli_usage_error(STYLIZE_COMMAND, "--smoothing expects 0 <= W < 1, not '%s'",
                                       optarg);
            break;
        case OPTION_TEMPORAL_BLEND:
            if (cli_parse_double(optarg, 0.0, 1.0, &settings->blend) != 0 ||
                !(settings->blend < 1.0))
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--temporal-blend expects 0 <= A < 1, not '%s'", optarg);
            break;
        case OPTION_CODEC:
            settings->codec = optarg;
            break;
        case OPTION_PRESET:
            settings->preset = optarg;
            break;
        case OPTION_CRF:
            if (cli_parse_int(optarg, 0, 63, &settings->crf) != 0)
                return cli_usage_error(STYLIZE_COMMAND, "--crf expects 0..63, not '%s'", optarg);
            break;
        case OPTION_CHROMA:
            if (strcmp(optarg, "420") != 0 && strcmp(optarg, "444") != 0)
                return cli_usage_error(STYLIZE_COMMAND, "--chroma expects 420 or 444, not '%s'",
                                       optarg);
            settings->chroma444 = strcmp(optarg, "444") == 0;
            break;
        case OPTION_MAX_FRAMES:
            if (cli_parse_u64(optarg, &settings->max_frames) != 0 || settings->max_frames == 0)
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--max-frames expects a frame count above 0, not '%s'",
                                       optarg);
            break;
        case OPTION_MAX_DURATION:
            if (cli_parse_double(optarg, 0.0, 1e9, &settings->max_seconds) != 0 ||
                !(settings->max_seconds > 0.0))
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--max-duration expects seconds above 0, not '%s'", optarg);
            break;
        case OPTION_PRECISION:
            if (style_precision_parse(optarg, &settings->precision) != STYLE_OK) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--precision expects fp32, bf16, int8 or auto, not '%s'",
                                       optarg);
            }
            settings->precision_given = 1;
            break;
        case OPTION_STYLE:
            settings->style = optarg;
            break;
        case OPTION_STYLE_IMAGE:
            if (settings->style_count == STYLIZE_MAX_STYLES)
                return cli_usage_error(STYLIZE_COMMAND, "at most %d --style-image",
                                       STYLIZE_MAX_STYLES);
            settings->style_images[settings->style_count++] = optarg;
            break;
        case OPTION_STYLE_SIZE:
            if (cli_parse_int(optarg, 0, 8192, &number) != 0)
                return cli_usage_error(STYLIZE_COMMAND, "--style-size expects 0..8192, not '%s'",
                                       optarg);
            settings->style_size = (int)number;
            break;
        case OPTION_STYLE_WEIGHTS:
            settings->style_weights = optarg;
            break;
        case OPTION_TILEABLE:
            settings->tileable = 1;
            break;
        case OPTION_BAND_ROWS:
            if (cli_parse_int(optarg, 1, INT32_MAX, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--band-rows expects 1..%d, not '%s'",
                                       INT32_MAX, optarg);
            }
            settings->band_rows = number;
            break;
        case 'q':
            settings->quiet = 1;
            break;
        case 'v':
            settings->verbose = 1;
            break;
        case 'h':
            cmd_stylize_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        default:
            return cli_option_error(STYLIZE_COMMAND, result, argc, argv, before);
        }
    }
    return PARSE_CONTINUE;
}

/* Checks the positional arguments against the mode; returns 0 or CLI_EXIT_USAGE. */
static int check_arguments(const struct stylize_settings *settings, int count, char **arguments)
{
    if (settings->model_path == NULL)
        return cli_usage_error(STYLIZE_COMMAND, "missing --model MODEL.safetensors");
    if (settings->style && settings->style_weights)
        return cli_usage_error(STYLIZE_COMMAND, "--style and --style-weights exclude each other");
    /* The library refuses it for every image (resizing breaks the wrap-around): say so once,
     * before any model is loaded. */
    if (settings->tileable && settings->scale_given && settings->scale != 1.0)
        return cli_usage_error(STYLIZE_COMMAND, "--tileable needs --scale 1 (resizing would break "
                                                "the wrap-around)");
    if (settings->style_count > 0 && settings->style_weights) {
        /* AdaIN: one plain weight per --style-image */
        const char *text = settings->style_weights;
        char *end;
        int n = 0;
        for (;;) {
            errno = 0;
            double w = strtod(text, &end);
            if (end == text || errno || !(w >= 0) || w > 1e6 || n == STYLIZE_MAX_STYLES ||
                (*end && *end != ','))
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--style-weights with --style-image expects non-negative "
                                       "numbers separated by commas, not '%s'",
                                       settings->style_weights);
            ((struct stylize_settings *)settings)->adain_weights[n++] = (float)w;
            if (!*end) break;
            text = end + 1;
        }
        if (n != settings->style_count)
            return cli_usage_error(STYLIZE_COMMAND, "%d --style-weights for %d --style-image", n,
                                   settings->style_count);
        ((struct stylize_settings *)settings)->weight_count = n;
    }
    if (settings->out_dir != NULL) {
        if (count < 1) return cli_usage_error(STYLIZE_COMMAND, "missing input files");
        return 0;
    }
    if (count < 1) return cli_usage_error(STYLIZE_COMMAND, "missing the input and output files");
    if (count < 2) return cli_usage_error(STYLIZE_COMMAND, "missing the output file");
    if (count > 2)
        return cli_usage_error(STYLIZE_COMMAND,
                               "unexpected argument '%s'; several inputs need --out-dir DIR",
                               arguments[2]);
    return 0;
}

/* Makes the output directory (and its parents) when missing. Returns 0, or -1 after
 * reporting why it cannot be used: one error before any work. */
static int prepare_out_dir(const char *dir)
{
    struct stat dir_stat;
    if (stat(dir, &dir_stat) == 0 && !S_ISDIR(dir_stat.st_mode)) {
        cli_error("%s: cannot be the output directory: it is %s", dir,
                  file_type_name(dir_stat.st_mode));
        return -1;
    }
    if (cli_make_directories(dir) != 0) return -1;
    if (access(dir, W_OK | X_OK) != 0) {
        cli_error("%s: cannot write into the output directory: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Everything the workers share. */
struct batch {
    const struct stylize_settings *settings;
    struct stylize_job_list *jobs;
    struct batch_display display;
    pthread_mutex_t next_lock;
    size_t next; /* the next job to look at */
    /* The output each worker is writing (NULL: none), for give_up() to clear its temporary. */
    _Atomic(const char *) writing[STYLIZE_MAX_JOBS];
};

/* Grace period after the first signal: past it the run is given up (cli_interrupt.h), so that
 * it ends within a second even inside a step the library cannot cancel (decoding a large
 * image, one long layer, encoding the output). */
#define STYLIZE_GRACE_MS 400

/* The summary (or for one file, one line) of a run that a signal stopped. */
static void report_interrupted(struct batch *batch)
{
    const struct stylize_settings *settings = batch->settings;
    if (settings->out_dir != NULL) {
        batch_display_summary(&batch->display, settings->out_dir, 1);
    } else if (!settings->quiet && batch->jobs->count > 0) {
        pthread_mutex_lock(&batch->display.lock);
        const bool written = batch->display.done > 0; /* the signal came after the save */
        pthread_mutex_unlock(&batch->display.lock);
        batch_display_error(&batch->display, "interrupted by %s: '%s' %s",
                            cli_interrupt_signal_name(), batch->jobs->items[0].output_path,
                            written ? "was written before it" : "not written");
    }
}

/* Called by the signal-watching thread when the run is given up (cli_interrupt.h): what is
 * being written goes (the outputs themselves appear only by rename), then the summary. */
static void give_up(void *user)
{
    struct batch *batch = user;
    for (int i = 0; i < STYLIZE_MAX_JOBS; ++i) {
        const char *path = atomic_load(&batch->writing[i]);
        if (path != NULL && !cli_is_stdio(path)) cli_remove_temporaries(path);
    }
    report_interrupted(batch);
}

/* The next ready job, or NULL when none is left (or Ctrl-C came). */
static const struct stylize_job *take_job(struct batch *batch)
{
    const struct stylize_job *job = NULL;
    pthread_mutex_lock(&batch->next_lock);
    while (!cli_interrupted() && batch->next < batch->jobs->count) {
        const struct stylize_job *candidate = &batch->jobs->items[batch->next++];
        if (candidate->state == JOB_READY) {
            job = candidate;
            break;
        }
    }
    pthread_mutex_unlock(&batch->next_lock);
    return job;
}

/* stylize_one()'s result for an image stopped by Ctrl-C: not done, and not failed either. */
#define STYLIZE_INTERRUPTED (-2)

/* Load, stylize, save one image. Returns 0, -1 after reporting the failure, or
 * STYLIZE_INTERRUPTED. */
static int stylize_one(style_session *session, const struct stylize_job *job, struct batch *batch,
                       int worker_index)
{
    const struct stylize_settings *settings = batch->settings;
    struct timespec start = cli_now();
    struct timespec stylize_start;
    double stylize_ms;
    double save_ms;
    style_save_options save_options;
    style_image input = {0};
    style_image output = {0};
    style_status status;

    if (cli_is_stdio(job->input_path)) {
        /* Single-image mode only (stylize_jobs_check): no bar to keep clear. */
        if (cli_image_load(job->input_path, settings->max_pixels, &input) != 0)
            return cli_interrupted() ? STYLIZE_INTERRUPTED : -1;
    } else {
        status = style_image_load(job->input_path, settings->max_pixels, &input);
        if (status != STYLE_OK) {
            batch_display_status(&batch->display, status, job->input_path);
            return -1;
        }
    }

    /* data == NULL: the library allocates the output in the input's format. */
    output.width = input.width;
    output.height = input.height;
    output.channels = input.channels;
    output.sample_type = input.sample_type;
    stylize_start = cli_now();
    status = style_session_stylize(session, &input, &output);
    stylize_ms = cli_elapsed_ms(stylize_start);
    if (status != STYLE_OK) {
        /* Reported before the releases: they are libstyle calls, which may reset the message. */
        bool interrupted = status == STYLE_ERR_CANCELLED && cli_interrupted();
        if (!interrupted) batch_display_status(&batch->display, status, job->input_path);
        style_image_release(&output);
        style_image_release(&input);
        return interrupted ? STYLIZE_INTERRUPTED : -1;
    }

    struct timespec save_start = cli_now();
    if (stylize_job_make_parent_dirs(job, settings->out_dir) != 0) {
        batch_display_error(&batch->display, "%s: cannot make its directory: %s", job->output_path,
                            strerror(errno));
        status = STYLE_ERR_IO;
    } else if (cli_is_stdio(job->output_path)) {
        status = cli_image_save(job->output_path, &output, settings->jpeg_quality,
                                settings->png_level) == 0
                     ? STYLE_OK
                     : STYLE_ERR_IO;
    } else {
        memset(&save_options, 0, sizeof save_options);
        save_options.struct_size = sizeof save_options;
        save_options.quality = settings->jpeg_quality;
        save_options.png_level = settings->png_level;
        atomic_store(&batch->writing[worker_index], job->output_path);
        status = style_image_save_with_options(job->output_path, &output, &save_options);
        atomic_store(&batch->writing[worker_index], NULL);
        if (status != STYLE_OK) batch_display_status(&batch->display, status, job->output_path);
    }
    save_ms = cli_elapsed_ms(save_start);
    style_image_release(&output);
    style_image_release(&input);
    if (status != STYLE_OK) return cli_interrupted() ? STYLIZE_INTERRUPTED : -1;

    if (settings->verbose)
        batch_display_error(&batch->display,
                            "%s -> %s: %dx%d, stylize %.1f ms, save %.1f ms, total %.1f ms",
                            job->input_path, job->output_path, (int)input.width, (int)input.height,
                            stylize_ms, save_ms, cli_elapsed_ms(start));
    return 0;
}

/* Keeps the bar's clock moving during long images; Ctrl-C cancels the runs in flight. */
static int on_progress(void *user, double fraction)
{
    (void)fraction;
    batch_display_tick(user);
    return cli_interrupted();
}

struct worker {
    struct batch *batch;
    int index; /* in batch->writing */
    style_session *session;
    pthread_t thread;
    int started;
};

static void *work(void *argument)
{
    struct worker *worker = argument;
    const struct stylize_job *job;
    while ((job = take_job(worker->batch)) != NULL) {
        struct timespec start = cli_now();
        int result = stylize_one(worker->session, job, worker->batch, worker->index);
        if (result == STYLIZE_INTERRUPTED) break;
        batch_display_file(&worker->batch->display, job->input_path, job->output_path, result == 0,
                           cli_elapsed_ms(start) / 1e3);
    }
    return NULL;
}

/* A session with the settings, `threads` threads. Returns NULL after reporting a failure. */
static style_session *make_session(style_model *model, const struct stylize_settings *settings,
                                   int threads, struct batch_display *display)
{
    style_session *session = NULL;
    style_status status = style_session_create(model, &session);
    if (status == STYLE_OK && settings->verbose)
        status = style_session_set_log_callback(session, log_warning_to_stderr, display);
    if (status == STYLE_OK) status = style_session_set_threads(session, threads);
    if (status == STYLE_OK)
        status = style_session_set_progress_callback(session, on_progress, display);
    if (status == STYLE_OK && settings->tileable) status = style_session_set_tileable(session, 1);
    if (status == STYLE_OK && settings->band_rows > 0)
        status = style_session_set_band_rows(session, (int32_t)settings->band_rows);
    if (status == STYLE_OK && settings->memory_budget_given)
        status = style_session_set_memory_budget(session, settings->memory_budget_bytes);
    if (status == STYLE_OK && settings->strength_given)
        status = style_session_set_strength(session, (float)settings->strength);
    if (status == STYLE_OK && settings->preserve_color)
        status = style_session_set_preserve_color(session, 1);
    if (status == STYLE_OK && settings->scale_given)
        status = style_session_set_scale(session, (float)settings->scale);
    if (status == STYLE_OK && settings->precision_given) {
        status = style_session_set_precision(session, settings->precision);
        if (status != STYLE_OK) {
            /* Not the model's fault: say what the processor lacks. */
            batch_display_status(display, status, NULL);
            style_session_free(session);
            return NULL;
        }
    }
    if (status != STYLE_OK) {
        batch_display_status(display, status, settings->model_path);
        style_session_free(session);
        return NULL;
    }
    if (cli_apply_style(session, model, settings->style,
                        settings->style_count ? NULL : settings->style_weights) != 0) {
        style_session_free(session);
        return NULL;
    }
    return session;
}

/*
 * The AdaIN style: each --style-image's statistics (computed once, with the first session),
 * blended, set on every session. Returns 0, or -1 after reporting the problem.
 */
static int set_styles(const struct stylize_settings *settings, struct worker *workers, int jobs,
                      struct batch_display *display)
{
    style_adain_style *styles[STYLIZE_MAX_STYLES] = {0}, *blend = NULL;
    style_status status = STYLE_OK;
    const char *subject = NULL;
    int i;
    for (i = 0; i < settings->style_count && status == STYLE_OK; ++i) {
        style_image image = {0};
        subject = settings->style_images[i];
        status = style_image_load(subject, settings->max_pixels, &image);
        if (status == STYLE_OK) {
            status = style_adain_style_create(workers[0].session, &image, settings->style_size,
                                              &styles[i]);
            style_image_release(&image);
        }
    }
    if (status == STYLE_OK) {
        subject = NULL;
        status = style_adain_style_blend((const style_adain_style *const *)styles,
                                         settings->weight_count ? settings->adain_weights : NULL,
                                         (size_t)settings->style_count, &blend);
    }
    for (i = 0; i < jobs && status == STYLE_OK; ++i)
        status = style_session_set_adain_style(workers[i].session, blend);
    if (status != STYLE_OK) batch_display_status(display, status, subject);
    for (i = 0; i < settings->style_count; ++i)
        style_adain_style_free(styles[i]);
    style_adain_style_free(blend);
    return status == STYLE_OK ? 0 : -1;
}

/* The threads of each job: the budget split evenly (at least one each). One job with no
 * budget given keeps the library's default (one per processor it may run on). */
static int threads_per_job(const struct stylize_settings *settings, int jobs)
{
    int given = settings->threads_given ? settings->threads : 0;
    if (jobs == 1) return given;
    long budget = given > 0 ? given : sysconf(_SC_NPROCESSORS_ONLN);
    long each = budget / jobs;
    return each < 1 ? 1 : (int)each;
}

/* Loads the model, makes one session per job and works through the ready jobs.
 * Returns 0, or -1 when no job could run (reported; the ready jobs count as failed). */
static int run_jobs(struct batch *batch, size_t ready)
{
    const struct stylize_settings *settings = batch->settings;
    style_load_options load_options;
    style_model *model = NULL;
    struct worker workers[STYLIZE_MAX_JOBS];
    struct timespec start = cli_now();
    int jobs = settings->jobs;
    int result = 0;

    if ((size_t)jobs > ready) jobs = (int)ready;
    memset(workers, 0, sizeof workers);
    memset(&load_options, 0, sizeof load_options);
    load_options.struct_size = sizeof load_options;
    if (settings->verbose) {
        load_options.log = log_warning_to_stderr;
        load_options.log_user = &batch->display;
    }
    style_status status = style_model_load(settings->model_path, &load_options, &model);
    if (status != STYLE_OK) {
        batch_display_status(&batch->display, status, settings->model_path);
        return -1;
    }
    /* --style-image is for AdaIN models only, and an AdaIN model needs one: say so up front. */
    style_model_info info = {0};
    const bool adain = style_model_get_info(model, &info) == STYLE_OK && info.arch &&
                       strcmp(info.arch, "adain") == 0;
    if (adain != (settings->style_count > 0)) {
        batch_display_error(&batch->display,
                            adain ? "%s: an AdaIN model stylizes with any style image: give one "
                                    "with --style-image IMG"
                                  : "%s: --style-image needs an AdaIN model (this one is %s; "
                                    "its style is built in)",
                            settings->model_path, info.arch ? info.arch : "not AdaIN");
        result = -1;
        goto done;
    }
    for (int i = 0; i < jobs; ++i) {
        workers[i].batch = batch;
        workers[i].index = i;
        workers[i].session =
            make_session(model, settings, threads_per_job(settings, jobs), &batch->display);
        if (workers[i].session == NULL) {
            result = -1;
            goto done;
        }
    }
    if (settings->style_count > 0 && set_styles(settings, workers, jobs, &batch->display) != 0) {
        result = -1;
        goto done;
    }
    if (settings->verbose) {
        style_precision used = STYLE_PRECISION_FP32;
        int threads = threads_per_job(settings, jobs);
        char threads_text[32] = "one per processor";
        if (threads > 0) snprintf(threads_text, sizeof threads_text, "%d", threads);
        style_session_get_precision(workers[0].session, &used);
        batch_display_error(&batch->display,
                            "%s: loaded in %.1f ms; precision %s; %d job%s, threads each: %s",
                            settings->model_path, cli_elapsed_ms(start), style_precision_name(used),
                            jobs, jobs == 1 ? "" : "s", threads_text);
    }
    /* This thread is worker 0; the others get threads of their own. */
    for (int i = 1; i < jobs; ++i)
        workers[i].started = pthread_create(&workers[i].thread, NULL, work, &workers[i]) == 0;
    work(&workers[0]);
    for (int i = 1; i < jobs; ++i)
        if (workers[i].started)
            pthread_join(workers[i].thread, NULL);
        else
            work(&workers[i]); /* no thread to be had: run its share here */

done:
    for (int i = 0; i < jobs; ++i)
        style_session_free(workers[i].session);
    style_model_free(model);
    return result;
}

/* INPUT OUTPUT where either is a video, or --out-dir with videos (cli_video.c). */
static int stylize_video(const struct stylize_settings *s, char **arguments, int count)
{
    const char *in = arguments[0], *out = s->out_dir ? NULL : arguments[1];
    if (out != NULL && !cli_video_path(out))
        return cli_usage_error(STYLIZE_COMMAND,
                               "a video input needs a video output (.mp4, .mkv, "
                               ".mov, .webm), not '%s'",
                               out);
    if (out != NULL && !cli_video_path(in) && cli_has_image_extension(in))
        return cli_usage_error(STYLIZE_COMMAND, "a video output needs a video input, not '%s'", in);
    for (int i = 0; s->out_dir != NULL && i < count; i++)
        if (!cli_video_path(arguments[i]))
            return cli_usage_error(STYLIZE_COMMAND,
                                   "--out-dir with videos takes videos only, "
                                   "not '%s' (stylize images in another run)",
                                   arguments[i]);
    if (s->style || s->style_weights || s->style_count || s->tileable || s->band_rows ||
        s->skip_existing || s->jobs != 1)
        return cli_usage_error(STYLIZE_COMMAND,
                               "--style, --style-weights, --style-image, --tileable, --band-rows, "
                               "--skip-existing and --jobs do not apply to video (yet)");
    struct cli_video_options o = {
        .model_path = s->model_path,
        .threads = s->threads,
        .memory_budget_bytes = s->memory_budget_bytes,
        .memory_budget_given = s->memory_budget_given,
        .max_pixels = s->max_pixels,
        .precision = s->precision,
        .precision_given = s->precision_given,
        .strength = s->strength,
        .strength_given = s->strength_given,
        .preserve_color = s->preserve_color,
        .scale = s->scale,
        .scale_given = s->scale_given,
        .smoothing = s->smoothing,
        .blend = s->blend,
        .codec = s->codec,
        .preset = s->preset,
        .crf = (int)s->crf,
        .chroma444 = s->chroma444,
        .max_frames = s->max_frames,
        .max_seconds = s->max_seconds,
        .quiet = s->quiet,
        .verbose = s->verbose,
    };
    if (cli_video_check_encoding(&o) != 0) return CLI_EXIT_USAGE;
    if (s->out_dir == NULL) {
        o.sequence_in = frame_sequence_pattern(in);
        return cli_video_stylize(&o, in, out);
    }
    if (prepare_out_dir(s->out_dir) != 0) return CLI_EXIT_FAILURE;
    return cli_video_stylize_into(&o, s->out_dir, (const char *const *)arguments, count);
}

int cmd_stylize(int argc, char **argv)
{
    struct stylize_settings settings = {0};
    struct stylize_job_list jobs = {0};
    struct batch batch;
    size_t ready = 0, skipped = 0, refused = 0;
    int exit_code;

    settings.jobs = 1;
    settings.style_size = 512;
    settings.smoothing = STYLE_DEFAULT_NORM_SMOOTHING;
    settings.blend = STYLE_DEFAULT_TEMPORAL_BLEND;
    settings.crf = -1;
    exit_code = parse_options(argc, argv, &settings);
    if (exit_code != PARSE_CONTINUE) return exit_code;
    char **arguments = argv + optind;
    int count = argc - optind;
    exit_code = check_arguments(&settings, count, arguments);
    if (exit_code != 0) return exit_code;
    int videos = 0;
    for (int i = 0; i < count; i++)
        videos += cli_video_path(arguments[i]);
    if (videos > 0) return stylize_video(&settings, arguments, count);
    if (settings.out_dir != NULL && prepare_out_dir(settings.out_dir) != 0) return CLI_EXIT_FAILURE;

    if (stylize_jobs_collect(&jobs, settings.out_dir, arguments, count) != 0) {
        stylize_jobs_free(&jobs);
        return CLI_EXIT_FAILURE;
    }
    stylize_jobs_check(&jobs, settings.skip_existing);
    for (size_t i = 0; i < jobs.count; ++i) {
        ready += jobs.items[i].state == JOB_READY;
        skipped += jobs.items[i].state == JOB_SKIPPED;
        refused += jobs.items[i].state == JOB_REFUSED;
    }
    if (settings.out_dir != NULL && jobs.count == 0 && jobs.unreadable == 0 && jobs.special == 0)
        cli_error("no .png, .jpg, .jpeg or .webp files in the inputs; nothing to do");

    memset(&batch, 0, sizeof batch);
    batch.settings = &settings;
    batch.jobs = &jobs;
    pthread_mutex_init(&batch.next_lock, NULL);
    /* One file: no bar and no summary, only errors (as `cp` would). */
    batch_display_begin(&batch.display, jobs.count + jobs.unreadable + jobs.special,
                        skipped + jobs.special, refused + jobs.unreadable,
                        settings.quiet || settings.out_dir == NULL);
    /* Loading a model costs time and memory: skip it when nothing is left to do. */
    int run_failed = 0;
    if (ready > 0) {
        cli_interrupt_begin(STYLIZE_GRACE_MS);
        cli_interrupt_set_give_up(give_up, &batch);
        run_failed = run_jobs(&batch, ready) != 0;
        cli_interrupt_end();
    }
    int interrupted = cli_interrupted();
    if (run_failed && !interrupted) batch.display.failed += ready;
    if (interrupted && settings.out_dir == NULL) report_interrupted(&batch);
    if (settings.out_dir != NULL)
        batch_display_end(&batch.display, settings.out_dir, interrupted);
    else
        batch_display_end(&batch.display, "", interrupted);
    size_t unfinished = batch.display.total - batch.display.done - batch.display.skipped -
                        batch.display.failed; /* left by Ctrl-C */
    /* A signal: 128 + its number (130 SIGINT, 143 SIGTERM, 129 SIGHUP), as a shell reports. */
    if (interrupted)
        exit_code = cli_interrupt_exit_code();
    else
        exit_code = batch.display.failed == 0 && unfinished == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
    pthread_mutex_destroy(&batch.next_lock);
    stylize_jobs_free(&jobs);
    return exit_code;
}
