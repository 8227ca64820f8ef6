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
    double blend;     /* temporal blend weight, [0, 1) (style_video_settings.temporal_blend) */
    /* encoding (NULL / -1: the codec's default here: H.264 preset medium CRF 18, VP9 CRF 31) */
    const char *codec;  /* "h264", "vp9" or NULL (H.264 where the container takes it) */
    const char *preset; /* libx264 preset (ultrafast ... veryslow); VP9: its "deadline" */
    int crf;            /* -1: default */
    int chroma444;      /* keep odd sizes exactly as 4:4:4 instead of padding to 4:2:0 */
    /* limits on the input (0: the defaults below) */
    uint64_t max_frames;
    double max_seconds;
    int sequence_in; /* the input is a numbered image sequence (frames/%05d.png) */
    int quiet, verbose;
};

/* Default limits on a video input (--max-frames, --max-duration). */
#define CLI_VIDEO_DEFAULT_MAX_FRAMES 1000000
#define CLI_VIDEO_DEFAULT_MAX_SECONDS (4.0 * 3600.0)

/* Checks --codec, --preset and --crf before anything is opened. Returns 0, or CLI_EXIT_USAGE
 * after a usage error line. */
int cli_video_check_encoding(const struct cli_video_options *options);

/* Whether a path names a video by its extension (.mp4, .mkv, .mov, .webm, .avi, .mpg, ...). */
int cli_video_path(const char *path);

/* Whether this build reads and writes video (FFmpeg found at build time). */
int cli_video_supported(void);

/* Stylizes the video `in` into `out` (written to a temporary file, renamed at the end).
 * Returns CLI_EXIT_OK, or CLI_EXIT_FAILURE after one error line naming the file. */
int cli_video_stylize(const struct cli_video_options *options, const char *in, const char *out);

/* Stylizes each video of `inputs` into `out_dir`, named after it with the extension .mp4 (a
 * frame sequence after its folder): "clips/a.mkv" -> "OUT/a.mp4". Goes on after a failure.
 * Returns CLI_EXIT_OK when every clip was written, else CLI_EXIT_FAILURE. */
int cli_video_stylize_into(const struct cli_video_options *options, const char *out_dir,
                           const char *const *inputs, int count);

#endif
