/* `libstyle import-ml5 DIR OUT.safetensors`: converts an ml5 / deeplearn.js checkpoint
 * directory into a libstyle model file (style_import_ml5). */
#include "cli_util.h"
#include "commands.h"

#include <getopt.h>
#include <string.h>

#define IMPORT_COMMAND "import-ml5"

void cmd_import_ml5_usage(FILE *out)
{
    fputs("Usage: " CLI_PROGRAM_NAME " " IMPORT_COMMAND
          " [options] CHECKPOINT_DIR OUTPUT.safetensors\n"
          "\n"
          "Converts an ml5 / deeplearn.js style-transfer checkpoint (a directory holding\n"
          "manifest.json and the raw float32 weight files) into a libstyle model file.\n"
          "The output is written atomically: a failure leaves no partial file.\n"
          "\n"
          "Options:\n"
          "  -n, --name NAME   store NAME as the model's libstyle.name metadata\n"
          "  -h, --help        show this help and exit\n",
          out);
}

int cmd_import_ml5(int argc, char **argv)
{
    static const struct option options[] = {
        {"name", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    const char *checkpoint_dir;
    const char *output_path;
    style_status status;
    int before;
    int result;

    optind = 0; /* restart getopt on this command's own argv */
    opterr = 0;
    while (before = optind, (result = getopt_long(argc, argv, ":n:h", options, NULL)) != -1) {
        switch (result) {
        case 'n':
            name = optarg;
            break;
        case 'h':
            cmd_import_ml5_usage(stdout);
            return cli_finish_stdout(CLI_EXIT_OK);
        default:
            return cli_option_error(IMPORT_COMMAND, result, argc, argv, before);
        }
    }
    if (argc - optind < 1)
        return cli_usage_error(IMPORT_COMMAND, "missing the checkpoint directory");
    if (argc - optind < 2) return cli_usage_error(IMPORT_COMMAND, "missing the output file");
    if (argc - optind > 2)
        return cli_usage_error(IMPORT_COMMAND, "unexpected argument '%s'", argv[optind + 2]);

    checkpoint_dir = argv[optind];
    output_path = argv[optind + 1];
    status = style_import_ml5(checkpoint_dir, output_path, name);
    if (status != STYLE_OK) {
        /* Either path may be the culprit; name the directory only when the library's
         * message names neither, so the line never points at the wrong file. */
        const char *message = style_last_error();
        int names_output = message != NULL && strstr(message, output_path) != NULL;
        cli_report_status(status, names_output ? NULL : checkpoint_dir);
        return CLI_EXIT_FAILURE;
    }
    return CLI_EXIT_OK;
}
