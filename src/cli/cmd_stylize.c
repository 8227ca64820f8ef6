/* `libstyle stylize`: applies a style model to one image (INPUT OUTPUT) or to many
 * (--out-dir DIR INPUT...). Cheap checks on every file run before the model is loaded, so
 * a typo costs no model load; a file that fails does not stop the others. */
#define _POSIX_C_SOURCE 200809L

#include "cli_image_io.h"
#include "cli_util.h"
#include "commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STYLIZE_COMMAND "stylize"

/* Sane upper bound for --threads: beyond it a typo, not a machine. */
#define STYLIZE_MAX_THREADS 1024

struct stylize_settings {
    const char *model_path;
    const char *out_dir; /* NULL: single INPUT OUTPUT mode */
    int threads;
    int threads_given;
    uint64_t memory_budget_bytes;
    int memory_budget_given;
    uint64_t max_pixels; /* 0: the library's default cap */
    int jpeg_quality;    /* 0: the library's default */
    style_precision precision;
    int precision_given;
    int quiet;
    int verbose;
};

struct stylize_job {
    const char *input_path;
    char *output_path;
    struct stat input_stat;
    int input_found;
    int input_errno; /* why stat() failed when !input_found */
    int ready;       /* passed every check that can be made before the model is loaded */
};

/* Long-only options get values outside the range of short option characters. */
enum {
    OPTION_MEMORY_BUDGET = 256,
    OPTION_MAX_PIXELS,
    OPTION_QUALITY,
    OPTION_PRECISION,
};

void cmd_stylize_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " " STYLIZE_COMMAND
          " --model MODEL.safetensors [options] INPUT OUTPUT\n"
          "       " CLI_PROGRAM_NAME " " STYLIZE_COMMAND
          " --model MODEL.safetensors --out-dir DIR [options] INPUT...\n"
          "\n"
          "Applies a style model to PNG or JPEG images. The output format follows the output\n"
          "name's extension (.png, .jpg, .jpeg). With --out-dir, each INPUT is written to\n"
          "DIR under its own file name; a file that fails does not stop the others.\n"
          "Input files are never overwritten, and outputs are written atomically.\n"
          "INPUT '-' reads a PNG or JPEG image from standard input; OUTPUT '-' writes PNG\n"
          "to standard output.\n"
          "\n"
          "Options:\n"
          "  -m, --model FILE         style model (safetensors); required\n"
          "  -o, --out-dir DIR        write every INPUT into DIR (which must exist)\n"
          "  -t, --threads N          threads per image; 0 = one per processor (default)\n"
          "      --memory-budget MB   cap on the memory of one run, in MiB (default 4096)\n"
          "      --max-pixels N       refuse inputs with more than N pixels\n"
          "                           (default 67108864)\n"
          "      --quality Q          JPEG quality 1..100 (default 92)\n"
          "      --precision P        fp32 (default), bf16, int8 or auto (the fastest this\n"
          "                           processor runs natively); see 'libstyle bench'\n"
          "  -q, --quiet              no summary line at the end\n"
          "  -v, --verbose            per-image timings and library warnings on stderr\n"
          "  -h, --help               show this help and exit\n",
          out);
}

static void log_warning_to_stderr(void *user, style_log_level level, const char *message)
{
    (void)user;
    if (level < STYLE_LOG_WARNING) return;
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
        {"precision", required_argument, NULL, OPTION_PRECISION},
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
    while (before = optind, (result = getopt_long(argc, argv, ":m:o:t:qvh", options, NULL)) != -1) {
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
            if (cli_parse_u64(optarg, &mebibytes) != 0 || mebibytes > (UINT64_MAX >> 20)) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--memory-budget expects a size in MiB, not '%s'", optarg);
            }
            settings->memory_budget_bytes = mebibytes << 20;
            settings->memory_budget_given = 1;
            break;
        }
        case OPTION_MAX_PIXELS:
            if (cli_parse_u64(optarg, &settings->max_pixels) != 0) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--max-pixels expects a pixel count, not '%s'", optarg);
            }
            break;
        case OPTION_QUALITY:
            if (cli_parse_int(optarg, 1, 100, &number) != 0) {
                return cli_usage_error(STYLIZE_COMMAND, "--quality expects 1..100, not '%s'",
                                       optarg);
            }
            settings->jpeg_quality = (int)number;
            break;
        case OPTION_PRECISION:
            if (style_precision_parse(optarg, &settings->precision) != STYLE_OK) {
                return cli_usage_error(STYLIZE_COMMAND,
                                       "--precision expects fp32, bf16, int8 or auto, not '%s'",
                                       optarg);
            }
            settings->precision_given = 1;
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

/* Returns 0, or -1 after reporting why the output directory cannot be used. */
static int check_out_dir(const char *dir)
{
    struct stat dir_stat;
    if (stat(dir, &dir_stat) != 0) {
        cli_error("%s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(dir_stat.st_mode)) {
        cli_error("%s: not a directory", dir);
        return -1;
    }
    return 0;
}

/* Fills jobs[i].output_path; returns 0, or -1 when memory runs out (reported). */
static int plan_outputs(const struct stylize_settings *settings, struct stylize_job *jobs,
                        size_t count, char **arguments)
{
    if (settings->out_dir == NULL) {
        jobs[0].input_path = arguments[0];
        jobs[0].output_path = strdup(arguments[1]);
        if (jobs[0].output_path == NULL) goto out_of_memory;
        return 0;
    }
    for (size_t i = 0; i < count; ++i) {
        jobs[i].input_path = arguments[i];
        jobs[i].output_path = cli_path_join(settings->out_dir, cli_path_basename(arguments[i]));
        if (jobs[i].output_path == NULL) goto out_of_memory;
    }
    return 0;

out_of_memory:
    cli_error("out of memory");
    return -1;
}

static const struct stylize_job *find_input_file(const struct stylize_job *jobs, size_t count,
                                                 const struct stat *file_stat)
{
    for (size_t i = 0; i < count; ++i)
        if (jobs[i].input_found && jobs[i].input_stat.st_dev == file_stat->st_dev &&
            jobs[i].input_stat.st_ino == file_stat->st_ino)
            return &jobs[i];
    return NULL;
}

/* The checks that need no model: the input exists, the output can be encoded, and writing
 * it would clobber neither an input nor an earlier output. Each problem is reported. */
static void check_jobs(struct stylize_job *jobs, size_t count)
{
    for (size_t i = 0; i < count; ++i) {
        /* "-" (standard input) has no file to check: it is read when its turn comes. */
        jobs[i].input_found =
            !cli_is_stdio(jobs[i].input_path) && stat(jobs[i].input_path, &jobs[i].input_stat) == 0;
        jobs[i].input_errno = jobs[i].input_found ? 0 : errno;
    }

    for (size_t i = 0; i < count; ++i) {
        struct stylize_job *job = &jobs[i];
        struct stat output_stat;
        const struct stylize_job *clobbered;

        job->ready = 0;
        if (cli_is_stdio(job->input_path)) {
            /* With --out-dir the output is named after the input, and "-" has no name. */
            if (count > 1 || (!cli_is_stdio(job->output_path) &&
                              cli_is_stdio(cli_path_basename(job->output_path)))) {
                cli_error("'-' (standard input) needs an OUTPUT name; it cannot be used with "
                          "--out-dir");
                continue;
            }
        } else if (!job->input_found) {
            cli_error("%s: %s", job->input_path, strerror(job->input_errno));
            continue;
        } else if (S_ISDIR(job->input_stat.st_mode)) {
            cli_error("%s: is a directory, not an image", job->input_path);
            continue;
        }
        if (cli_is_stdio(job->output_path)) { /* PNG to standard output: nothing to clobber */
            job->ready = 1;
            continue;
        }
        if (cli_path_basename(job->output_path)[0] == '\0' ||
            !cli_has_image_extension(job->output_path)) {
            cli_error("%s: cannot tell the output format; the name must end in .png, .jpg or "
                      ".jpeg",
                      job->output_path);
            continue;
        }
        /* The same inode, not just the same name: "./a.png", links and "dir/../a.png" count. */
        if (stat(job->output_path, &output_stat) == 0 &&
            (clobbered = find_input_file(jobs, count, &output_stat)) != NULL) {
            cli_error("%s: refusing to overwrite the input file '%s'", job->output_path,
                      clobbered->input_path);
            continue;
        }
        job->ready = 1;
        for (size_t j = 0; j < i; ++j) {
            if (jobs[j].ready && strcmp(jobs[j].output_path, job->output_path) == 0) {
                cli_error("%s: its output '%s' would overwrite that of '%s'", job->input_path,
                          job->output_path, jobs[j].input_path);
                job->ready = 0;
                break;
            }
        }
    }
}

/* Load, stylize, save one image. Returns 0, or -1 after reporting the failure. */
static int stylize_one(style_session *session, const struct stylize_job *job,
                       const struct stylize_settings *settings)
{
    struct timespec start = cli_now();
    struct timespec stylize_start;
    double stylize_ms;
    style_image input = {0};
    style_image output = {0};
    style_status status;

    if (cli_image_load(job->input_path, settings->max_pixels, &input) != 0) return -1;

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
        cli_report_status(status, job->input_path);
        style_image_release(&output);
        style_image_release(&input);
        return -1;
    }

    status = cli_image_save(job->output_path, &output, settings->jpeg_quality) == 0 ? STYLE_OK
                                                                                    : STYLE_ERR_IO;
    style_image_release(&output);
    style_image_release(&input);
    if (status != STYLE_OK) return -1;

    if (settings->verbose)
        cli_error("%s -> %s: %dx%d, stylize %.1f ms, total %.1f ms", job->input_path,
                  job->output_path, (int)input.width, (int)input.height, stylize_ms,
                  cli_elapsed_ms(start));
    return 0;
}

/* Loads the model, configures one session and runs every ready job.
 * Returns the number of ready jobs that failed, or -1 when no job could run (reported). */
static long run_jobs(const struct stylize_settings *settings, const struct stylize_job *jobs,
                     size_t count)
{
    style_load_options load_options;
    style_model *model = NULL;
    style_session *session = NULL;
    style_status status;
    struct timespec start = cli_now();
    long failed = 0;

    memset(&load_options, 0, sizeof load_options);
    load_options.struct_size = sizeof load_options;
    if (settings->verbose) load_options.log = log_warning_to_stderr;
    status = style_model_load(settings->model_path, &load_options, &model);
    if (status != STYLE_OK) {
        cli_report_status(status, settings->model_path);
        return -1;
    }
    status = style_session_create(model, &session);
    if (status == STYLE_OK && settings->verbose)
        status = style_session_set_log_callback(session, log_warning_to_stderr, NULL);
    if (status == STYLE_OK && settings->threads_given)
        status = style_session_set_threads(session, settings->threads);
    if (status == STYLE_OK && settings->memory_budget_given)
        status = style_session_set_memory_budget(session, settings->memory_budget_bytes);
    if (status == STYLE_OK && settings->precision_given) {
        status = style_session_set_precision(session, settings->precision);
        if (status != STYLE_OK) {
            /* Not the model's fault: say what the processor lacks. */
            cli_report_status(status, NULL);
            style_session_free(session);
            style_model_free(model);
            return -1;
        }
    }
    if (status != STYLE_OK) {
        cli_report_status(status, settings->model_path);
        style_session_free(session);
        style_model_free(model);
        return -1;
    }
    if (settings->verbose) {
        style_precision used = STYLE_PRECISION_FP32;
        style_session_get_precision(session, &used);
        cli_error("%s: loaded in %.1f ms; precision %s", settings->model_path,
                  cli_elapsed_ms(start), style_precision_name(used));
    }

    for (size_t i = 0; i < count; ++i)
        if (jobs[i].ready && stylize_one(session, &jobs[i], settings) != 0) ++failed;

    style_session_free(session);
    style_model_free(model);
    return failed;
}

static void print_summary(const struct stylize_settings *settings, size_t count, size_t succeeded)
{
    size_t failed = count - succeeded;
    if (failed == 0)
        cli_error("stylized %zu image%s into '%s'", count, count == 1 ? "" : "s",
                  settings->out_dir);
    else
        cli_error("stylized %zu of %zu images into '%s'; %zu failed", succeeded, count,
                  settings->out_dir, failed);
}

int cmd_stylize(int argc, char **argv)
{
    struct stylize_settings settings = {0};
    struct stylize_job *jobs = NULL;
    char **arguments;
    size_t count;
    size_t ready = 0;
    size_t succeeded = 0;
    long failed_runs;
    int exit_code;

    exit_code = parse_options(argc, argv, &settings);
    if (exit_code != PARSE_CONTINUE) return exit_code;
    arguments = argv + optind;
    exit_code = check_arguments(&settings, argc - optind, arguments);
    if (exit_code != 0) return exit_code;
    if (settings.out_dir != NULL && check_out_dir(settings.out_dir) != 0) return CLI_EXIT_FAILURE;

    count = settings.out_dir != NULL ? (size_t)(argc - optind) : 1;
    jobs = calloc(count, sizeof *jobs);
    if (jobs == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    if (plan_outputs(&settings, jobs, count, arguments) != 0) {
        exit_code = CLI_EXIT_FAILURE;
        goto done;
    }
    check_jobs(jobs, count);
    for (size_t i = 0; i < count; ++i)
        ready += (size_t)jobs[i].ready;

    /* Loading a model costs time and memory: skip it when nothing is left to do. */
    failed_runs = ready > 0 ? run_jobs(&settings, jobs, count) : 0;
    if (failed_runs >= 0) succeeded = ready - (size_t)failed_runs;
    if (settings.out_dir != NULL && !settings.quiet && failed_runs >= 0)
        print_summary(&settings, count, succeeded);
    exit_code = succeeded == count ? CLI_EXIT_OK : CLI_EXIT_FAILURE;

done:
    for (size_t i = 0; i < count; ++i)
        free(jobs[i].output_path);
    free(jobs);
    return exit_code;
}
