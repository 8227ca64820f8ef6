/* `libstyle info MODEL`: what a model file holds, from the public model-info and metadata
 * calls, one "name: value" line per property and one "key = value" line per metadata entry. */
#include "cli_image_io.h"
#include "cli_styles.h"
#include "cli_util.h"
#include "commands.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define INFO_COMMAND "info"

void cmd_info_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " " INFO_COMMAND " [options] MODEL.safetensors\n"
          "\n"
          "Prints the architecture of a style model, its parameter count and every\n"
          "metadata entry of the file (key = value). MODEL '-' reads the model file from\n"
          "standard input.\n"
          "\n"
          "Options:\n"
          "  -h, --help   show this help and exit\n",
          out);
}

static const char *or_unknown(const char *text)
{
    return text != NULL ? text : "(unknown)";
}

static void print_property(const char *name, const char *value)
{
    printf("%-16s ", name);
    cli_print_escaped(stdout, or_unknown(value));
    putchar('\n');
}

static void print_architecture(const style_model *model, const char *path,
                               const style_model_info *info)
{
    print_property("file:", path);
    print_property("arch:", info->arch);
    if (info->arch && strcmp(info->arch, "adain") == 0) {
        /* The transform network's fields do not apply: encoder, tap and decoder do. */
        print_property("encoder_tap:", style_model_metadata_get(model, "libstyle.encoder.tap"));
        print_property("style_input:", "any style image (--style-image)");
        printf("%-16s %" PRId32 "\n", "format_version:", info->format_version);
        printf("%-16s %" PRIu64 "\n", "parameters:", info->parameter_count);
        return;
    }
    printf("%-16s %" PRId32 " %" PRId32 " %" PRId32 "\n", "widths:", info->widths[0],
           info->widths[1], info->widths[2]);
    printf("%-16s %" PRId32 "\n", "residual_blocks:", info->residual_blocks);
    print_property("padding:", info->padding);
    print_property("upsample:", info->upsample);
    print_property("norm:", info->norm);
    printf("%-16s %g\n", "norm_eps:", (double)info->norm_eps);
    print_property("output:", info->output);
    print_property("final_norm:", info->final_norm);
    print_property("has_bias:", info->has_bias ? "yes" : "no");
    printf("%-16s %" PRId32 "\n", "format_version:", info->format_version);
    printf("%-16s %" PRIu64 "\n", "parameters:", info->parameter_count);
}

/* Returns 0, or -1 after reporting the failure. */
static int print_metadata(const style_model *model, const char *path)
{
    size_t count = style_model_metadata_count(model);

    printf("metadata (%zu):\n", count);
    for (size_t i = 0; i < count; ++i) {
        const char *key = NULL;
        const char *value = NULL;
        style_status status = style_model_metadata_at(model, i, &key, &value);
        if (status != STYLE_OK) {
            cli_report_status(status, path);
            return -1;
        }
        fputs("  ", stdout);
        cli_print_escaped(stdout, or_unknown(key));
        fputs(" = ", stdout);
        cli_print_escaped(stdout, or_unknown(value));
        putchar('\n');
    }
    return 0;
}

int cmd_info(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    style_model *model = NULL;
    style_model_info info;
    style_status status;
    const char *path;
    int before;
    int result;

    optind = 0; /* restart getopt on this command's own argv */
    opterr = 0;
    while (before = optind, (result = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        if (result == 'h') {
            cmd_info_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        }
        return cli_option_error(INFO_COMMAND, result, argc, argv, before);
    }
    if (optind >= argc) return cli_usage_error(INFO_COMMAND, "missing the model file");
    if (argc - optind > 1)
        return cli_usage_error(INFO_COMMAND, "unexpected argument '%s'", argv[optind + 1]);
    path = argv[optind];

    if (cli_is_stdio(path)) { /* "-": the model file on standard input */
        unsigned char *data = NULL;
        size_t size = 0;
        if (cli_read_stdin(&data, &size) != 0) return CLI_EXIT_FAILURE;
        path = "standard input";
        status = style_model_load_memory(data, size, NULL, &model);
        free(data);
    } else {
        status = style_model_load(path, NULL, &model);
    }
    if (status != STYLE_OK) {
        cli_report_status(status, path);
        return CLI_EXIT_FAILURE;
    }
    memset(&info, 0, sizeof info);
    status = style_model_get_info(model, &info);
    if (status != STYLE_OK) {
        cli_report_status(status, path);
        style_model_free(model);
        return CLI_EXIT_FAILURE;
    }

    print_architecture(model, path, &info);
    cli_print_styles(stdout, model, &info);
    result = print_metadata(model, path);
    style_model_free(model);
    return cli_finish_stdout(result == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE);
}
