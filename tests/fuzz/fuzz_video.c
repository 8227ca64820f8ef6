/*
 * Fuzz target: the CLI's video path (src/cli/cli_video.c, FFmpeg: probing, demuxing,
 * decoding, the limits, colour conversion, audio copy or re-encoding, muxing) on untrusted
 * bytes. Each input is written to a file named input.mkv (FFmpeg probes the content, not the
 * name) and stylized with a tiny random model into output.mp4, frames limited to 64 x 64
 * pixels and 8 frames, so that an input costs milliseconds. Whatever the input, the run must
 * end with CLI_EXIT_OK or CLI_EXIT_FAILURE (never a crash, hang or sanitizer report), and a
 * failure must leave no output file nor temporary file behind.
 * Seeds: tiny clips in the containers and codecs FFmpeg meets most (tests/fuzz/seeds/video,
 * made by tests/fuzz/make_video_seeds.sh).
 */
#define _DEFAULT_SOURCE /* mkdtemp */

#include "cli_util.h"
#include "cli_video.h"
#include "model_builder.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char folder[64], input[128], output[128], model[128];

/* At exit: the folder and what is in it. */
static void clean_up(void)
{
    unlink(input);
    unlink(output);
    unlink(model);
    rmdir(folder);
}

static void set_up(void)
{
    if (folder[0] != '\0') return;
    snprintf(folder, sizeof folder, "/tmp/fuzz_video.XXXXXX");
    if (mkdtemp(folder) == NULL) abort();
    snprintf(input, sizeof input, "%s/input.mkv", folder);
    snprintf(output, sizeof output, "%s/output.mp4", folder);
    snprintf(model, sizeof model, "%s/model.safetensors", folder);
    test_model_config config = test_default_config();
    config.widths[0] = 2, config.widths[1] = 2, config.widths[2] = 2;
    config.residual_blocks = 1;
    size_t size = 0;
    void *bytes = test_build_model_bytes(&config, 1, &size);
    FILE *f = fopen(model, "wb");
    if (!bytes || !f || fwrite(bytes, 1, size, f) != size || fclose(f) != 0) abort();
    free(bytes);
    atexit(clean_up);
}

/* Files in the folder besides the model and the input (the output when it succeeded). */
static int stray_files(int succeeded)
{
    int stray = 0;
    DIR *dir = opendir(folder);
    if (dir == NULL) abort();
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        const char *n = e->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, "model.safetensors") == 0 ||
            strcmp(n, "input.mkv") == 0 || (succeeded && strcmp(n, "output.mp4") == 0))
            continue;
        fprintf(stderr, "fuzz_video: left behind: %s\n", n);
        stray++;
    }
    closedir(dir);
    return stray;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    set_up();
    FILE *f = fopen(input, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
    struct cli_video_options options = {
        .model_path = model,
        .threads = 1,
        .max_pixels = 64 * 64,
        .crf = -1,
        .preset = "ultrafast",
        .max_frames = 8,
        .max_seconds = 60,
        .quiet = 1,
    };
    const int status = cli_video_stylize(&options, input, output);
    if (status != CLI_EXIT_OK && status != CLI_EXIT_FAILURE) abort();
    if (stray_files(status == CLI_EXIT_OK) != 0) abort();
    unlink(output);
    return 0;
}
