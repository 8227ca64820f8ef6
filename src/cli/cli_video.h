/*
 * Video in `libstyle stylize IN.mp4 OUT.mp4`: decoding, stylizing every frame through a
 * video session (style_video_*, norm statistics smoothed over frames) and encoding, through
 * Debian's FFmpeg libraries. Only the CLI links FFmpeg (libstyle.so stays FFmpeg-free and
 * MIT); a build without FFmpeg says so when given a video. docs/video.md.
 */
#ifndef LIBSTYLE_CLI_VIDEO_H
#define LIBSTYLE_CLI_VIDEO_H

#include "libstyle.h"

#include <stdint.h>

/* What the video path takes from `stylize`'s options. */
struct cli_video_options {
    const char *model_path;
    int threads; /* 0 = one per processor */
    uint64_t memory_budget_bytes;
    int memory_budget_given;
    uint64_t max_pixels; /* per frame; 0: the library's image default */
    style_precision precision;
    int precision_given;
    double strength;
    int strength_given;
    int preserve_color;
    double scale;
    int scale_given;
    double smoothing; /* norm statistics smoothing weight, [0, 1) */
    int quiet, verbose;
};

/* Whether a path names a video by its extension (.mp4, .mkv, .mov, .webm, .avi, .mpg, ...). */
int cli_video_path(const char *path);

/* Whether this build reads and writes video (FFmpeg found at build time). */
int cli_video_supported(void);

/* Stylizes the video `in` into `out` (written to a temporary file, renamed at the end).
 * Returns CLI_EXIT_OK, or CLI_EXIT_FAILURE after one error line naming the file. */
int cli_video_stylize(const struct cli_video_options *options, const char *in, const char *out);

#endif
