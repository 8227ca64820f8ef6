/*
 * `libstyle stylize IN.mp4 OUT.mp4` (cli_video.h): FFmpeg demuxes and decodes, every frame is
 * converted to RGB with its own matrix and range, stylized through a video session, converted
 * back and encoded (H.264 with libx264, or VP9 where the container takes no H.264); audio
 * packets are copied when the output container accepts their codec. Timestamps are the
 * input's (variable frame rates stay variable), so are rotation and colour tags. The output
 * is written to a temporary file renamed at the end; any failure or Ctrl-C removes it.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli_video.h"
#include "cli_interrupt.h"
#include "cli_util.h"
#include "frame_sequence.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_video_path(const char *path)
{
    static const char *const extensions[] = {".mp4", ".m4v",  ".mkv", ".mov", ".webm", ".avi",
                                             ".mpg", ".mpeg", ".ts",  ".y4m", NULL};
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot == NULL || (slash != NULL && dot < slash)) return 0;
    for (int i = 0; extensions[i] != NULL; i++)
        if (strcasecmp(dot, extensions[i]) == 0) return 1;
    return frame_sequence_pattern(path);
}

int cli_video_check_encoding(const struct cli_video_options *options)
{
    static const char *const x264_presets[] = {"ultrafast", "superfast", "veryfast", "faster",
                                               "fast",      "medium",    "slow",     "slower",
                                               "veryslow",  "placebo",   NULL};
    static const char *const vp9_deadlines[] = {"realtime", "good", "best", NULL};
    const char *codec = options->codec;
    if (codec != NULL && strcmp(codec, "h264") != 0 && strcmp(codec, "vp9") != 0)
        return cli_usage_error("stylize", "--codec expects h264 or vp9, not '%s'", codec);
    const bool vp9 = codec != NULL && strcmp(codec, "vp9") == 0;
    const int most = vp9 ? 63 : 51;
    if (options->crf > most)
        return cli_usage_error("stylize", "--crf expects 0..%d for %s, not %d", most,
                               vp9 ? "VP9" : "H.264", options->crf);
    if (options->preset != NULL) {
        const char *const *names = vp9 ? vp9_deadlines : x264_presets;
        bool known = false;
        for (int i = 0; names[i] != NULL; i++)
            known = known || strcmp(names[i], options->preset) == 0;
        if (!known)
            return cli_usage_error("stylize", "--preset expects %s, not '%s'",
                                   vp9 ? "realtime, good or best (VP9)"
                                       : "ultrafast, superfast, veryfast, faster, fast, medium, "
                                         "slow, slower, veryslow or placebo (H.264)",
                                   options->preset);
    }
    return 0;
}

/* The output name for `in` in `out_dir` (cli_video_stylize_into), newly allocated. */
static char *output_name(const char *out_dir, const char *in)
{
    char *copy = strdup(in);
    if (copy == NULL) return NULL;
    char *slash = strrchr(copy, '/');
    if (frame_sequence_pattern(in)) { /* "shots/one/%05d.png" -> "one" */
        if (slash != NULL) *slash = '\0';
        slash = strrchr(copy, '/');
    }
    char *stem = slash ? slash + 1 : copy;
    char *dot = strrchr(stem, '.');
    if (dot != NULL && dot != stem && !frame_sequence_pattern(in)) *dot = '\0';
    char *name = NULL;
    if (*stem != '\0' && strcmp(stem, ".") != 0 && strcmp(stem, "..") != 0 &&
        strchr(stem, '%') == NULL) {
        size_t length = strlen(stem) + sizeof ".mp4";
        char *file = malloc(length);
        if (file != NULL) {
            snprintf(file, length, "%s.mp4", stem);
            name = cli_path_join(out_dir, file);
            free(file);
        }
    }
    free(copy);
    return name;
}

int cli_video_stylize_into(const struct cli_video_options *options, const char *out_dir,
                           const char *const *inputs, int count)
{
    int failed = 0, done = 0;
    char **names = calloc((size_t)count, sizeof *names);
    if (names == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_FAILURE;
    }
    for (int i = 0; i < count && !cli_interrupted(); i++) {
        names[i] = output_name(out_dir, inputs[i]);
        bool repeated = false;
        for (int j = 0; names[i] != NULL && j < i; j++)
            repeated = repeated || (names[j] != NULL && strcmp(names[i], names[j]) == 0);
        if (names[i] == NULL || repeated) {
            cli_error("%s: %s", inputs[i],
                      names[i] == NULL ? "cannot name its output (give a folder of frames a "
                                         "name of its own)"
                                       : "its output name is another input's; skipped");
            failed++;
            continue;
        }
        struct cli_video_options one = *options;
        one.sequence_in = frame_sequence_pattern(inputs[i]);
        if (cli_video_stylize(&one, inputs[i], names[i]) == CLI_EXIT_OK) {
            done++;
            if (!options->quiet)
                fprintf(stderr, CLI_PROGRAM_NAME ": %s -> %s\n", inputs[i], names[i]);
        } else {
            failed++;
        }
    }
    for (int i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (!options->quiet)
        fprintf(stderr, CLI_PROGRAM_NAME ": %s: %d clips written, %d failed\n", out_dir, done,
                failed);
    return failed == 0 && done == count ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

#ifndef STYLE_HAVE_FFMPEG

int cli_video_supported(void)
{
    return 0;
}

int cli_video_stylize(const struct cli_video_options *options, const char *in, const char *out)
{
    (void)options;
    (void)out;
    cli_error("%s: video needs a build with FFmpeg (libavformat, libavcodec, libswscale and "
              "libavutil found by CMake; docs/video.md), and this build has none",
              in);
    return CLI_EXIT_FAILURE;
}

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "video_audio.h"

int cli_video_supported(void)
{
    return 1;
}

/* Frame sizes beyond this are refused whatever --max-pixels says (H.264 level limits). */
#define VIDEO_MAX_SIDE 16384

struct video_job {
    const struct cli_video_options *options;
    const char *in, *out;
    char *temporary;        /* the output until it is complete */
    char *temporary_folder; /* a frame sequence's output until it is complete */
    bool sequence_out;      /* the output is a numbered PNG sequence (frame_sequence.h) */
    bool alpha;             /* RGBA frames: a sequence out of an input with alpha */
    /* A copy of the temporary's name for give_up() (the signal-watching thread); emptied
     * before the rename, so that a late give-up never removes a finished file. */
    char give_up_path[4096];
    AVFormatContext *demuxer, *muxer;
    AVCodecContext *decoder, *encoder;
    int video_in, audio_in; /* input stream indexes; audio -1 when not copied */
    AVStream *video_out;
    struct video_audio audio;
    struct SwsContext *to_rgb, *to_yuv;
    enum AVColorSpace colorspace;
    AVFrame *yuv;
    AVPacket *packet, *encoded;
    style_model *model;
    style_video *video;
    style_image rgb, styled;
    int width, height;             /* the input's frames (and the stylized ones) */
    int coded_width, coded_height; /* the encoded frames: even in 4:2:0 */
    style_image padded;            /* the stylized frame padded to the coded size */
    int64_t frames, expected, last_pts;
    int64_t input_end; /* the last input frame's timestamp (AV_NOPTS_VALUE: none yet) */
    struct timespec start;
    bool failed, progress_shown;
};

/* One error line naming `subject`; the job is failed (only the first error is printed). */
static int job_fail(struct video_job *job, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int job_fail(struct video_job *job, const char *subject, const char *fmt, ...)
{
    if (job->failed) return -1;
    job->failed = true;
    if (job->progress_shown) fputc('\n', stderr);
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    cli_error("%s: %s", subject, message);
    return -1;
}

static const char *error_text(int code, char *buffer, size_t size)
{
    av_strerror(code, buffer, size);
    return buffer;
}
#define AV_ERROR(code)                                                                             \
    error_text((code), (char[AV_ERROR_MAX_STRING_SIZE]){0}, AV_ERROR_MAX_STRING_SIZE)

static int open_input(struct video_job *job)
{
    const AVInputFormat *forced = job->options->sequence_in ? av_find_input_format("image2") : NULL;
    int r = avformat_open_input(&job->demuxer, job->in, forced, NULL);
    if (r < 0 && job->options->sequence_in)
        return job_fail(job, job->in, "no frames found for this pattern (%s)", AV_ERROR(r));
    if (r < 0) return job_fail(job, job->in, "not a video FFmpeg can read (%s)", AV_ERROR(r));
    const char *demuxer_name = job->demuxer->iformat->name;
    const size_t name_length = strlen(demuxer_name);
    if (!job->options->sequence_in &&
        (strcmp(demuxer_name, "image2") == 0 ||
         (name_length > 5 && strcmp(demuxer_name + name_length - 5, "_pipe") == 0)))
        return job_fail(job, job->in,
                        "a still image (%s), not a video, despite its extension; give it an "
                        "image extension",
                        demuxer_name);
    r = avformat_find_stream_info(job->demuxer, NULL);
    if (r < 0) return job_fail(job, job->in, "cannot read its streams (%s)", AV_ERROR(r));
    job->video_in = av_find_best_stream(job->demuxer, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (job->video_in < 0)
        return job_fail(job, job->in, "no video stream (audio only, or an empty video track)");
    AVStream *stream = job->demuxer->streams[job->video_in];
    const AVCodecParameters *par = stream->codecpar;
    job->width = par->width;
    job->height = par->height;
    const uint64_t max_pixels =
        job->options->max_pixels ? job->options->max_pixels : STYLE_DEFAULT_MAX_PIXELS;
    if (job->width < 1 || job->height < 1)
        return job_fail(job, job->in, "the video stream has no frame size");
    if (job->width > VIDEO_MAX_SIDE || job->height > VIDEO_MAX_SIDE ||
        (uint64_t)job->width * (uint64_t)job->height > max_pixels)
        return job_fail(job, job->in, "%dx%d frames are over the limit (%llu pixels, sides %d)",
                        job->width, job->height, (unsigned long long)max_pixels, VIDEO_MAX_SIDE);
    const AVPixFmtDescriptor *format = av_pix_fmt_desc_get(par->format);
    job->alpha = job->sequence_out && format != NULL && (format->flags & AV_PIX_FMT_FLAG_ALPHA);
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (codec == NULL)
        return job_fail(job, job->in, "no decoder for its video codec (%s)",
                        avcodec_get_name(par->codec_id));
    job->decoder = avcodec_alloc_context3(codec);
    if (job->decoder == NULL) return job_fail(job, job->in, "out of memory");
    r = avcodec_parameters_to_context(job->decoder, par);
    if (r >= 0) {
        job->decoder->pkt_timebase = stream->time_base;
        r = avcodec_open2(job->decoder, codec, NULL);
    }
    if (r < 0) return job_fail(job, job->in, "cannot open its decoder (%s)", AV_ERROR(r));
    job->expected = stream->nb_frames;
    const struct cli_video_options *o = job->options;
    const uint64_t max_frames = o->max_frames ? o->max_frames : CLI_VIDEO_DEFAULT_MAX_FRAMES;
    const double max_seconds = o->max_seconds > 0 ? o->max_seconds : CLI_VIDEO_DEFAULT_MAX_SECONDS;
    if (job->expected > 0 && (uint64_t)job->expected > max_frames)
        return job_fail(job, job->in, "%lld frames, over the limit of %llu (--max-frames)",
                        (long long)job->expected, (unsigned long long)max_frames);
    const double seconds =
        stream->duration != AV_NOPTS_VALUE ? (double)stream->duration * av_q2d(stream->time_base)
        : job->demuxer->duration != AV_NOPTS_VALUE ? (double)job->demuxer->duration / AV_TIME_BASE
                                                   : 0.0;
    if (seconds > max_seconds)
        return job_fail(job, job->in, "%.1f s long, over the limit of %g s (--max-duration)",
                        seconds, max_seconds);
    job->audio_in =
        av_find_best_stream(job->demuxer, AVMEDIA_TYPE_AUDIO, -1, job->video_in, NULL, 0);
    return 0;
}

/* The YUV matrix of the input, also the output's: the stream's own, else BT.709 for HD and
 * BT.601 below (also for RGB inputs, whose output is YUV). */
static enum AVColorSpace input_colorspace(const AVCodecParameters *par)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(par->format);
    const bool rgb =
        par->color_space == AVCOL_SPC_RGB || (desc != NULL && (desc->flags & AV_PIX_FMT_FLAG_RGB));
    if (!rgb && par->color_space != AVCOL_SPC_UNSPECIFIED && par->color_space != AVCOL_SPC_RESERVED)
        return par->color_space;
    return par->height >= 720 ? AVCOL_SPC_BT709 : AVCOL_SPC_SMPTE170M;
}

/* The video stream of a PNG sequence: RGB, or RGBA when the input has alpha. */
static int add_sequence_stream(struct video_job *job)
{
    const AVStream *in = job->demuxer->streams[job->video_in];
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    if (codec == NULL) return job_fail(job, job->out, "this FFmpeg has no PNG encoder");
    AVCodecContext *enc = job->encoder = avcodec_alloc_context3(codec);
    if (enc == NULL) return job_fail(job, job->out, "out of memory");
    job->coded_width = enc->width = job->width;
    job->coded_height = enc->height = job->height;
    enc->pix_fmt = job->alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
    enc->framerate = av_guess_frame_rate(job->demuxer, (AVStream *)in, NULL);
    enc->time_base = in->time_base;
    if (enc->time_base.num <= 0 || enc->time_base.den <= 0)
        enc->time_base = av_inv_q(enc->framerate);
    job->colorspace = input_colorspace(in->codecpar);
    int r = avcodec_open2(enc, codec, NULL);
    if (r < 0) return job_fail(job, job->out, "cannot open the PNG encoder (%s)", AV_ERROR(r));
    job->video_out = avformat_new_stream(job->muxer, NULL);
    if (job->video_out == NULL) return job_fail(job, job->out, "out of memory");
    r = avcodec_parameters_from_context(job->video_out->codecpar, enc);
    if (r < 0) return job_fail(job, job->out, "cannot set up the frames (%s)", AV_ERROR(r));
    job->video_out->time_base = enc->time_base;
    return 0;
}

static int add_video_stream(struct video_job *job, const AVOutputFormat *format)
{
    if (job->sequence_out) return add_sequence_stream(job);
    const struct cli_video_options *o = job->options;
    const AVStream *in = job->demuxer->streams[job->video_in];
    const AVCodecParameters *par = in->codecpar;
    const bool takes_h264 =
        avformat_query_codec(format, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 1;
    const bool takes_vp9 = avformat_query_codec(format, AV_CODEC_ID_VP9, FF_COMPLIANCE_NORMAL) == 1;
    const bool wants_vp9 = o->codec != NULL && strcmp(o->codec, "vp9") == 0;
    const bool wants_h264 = o->codec != NULL && strcmp(o->codec, "h264") == 0;
    if ((wants_vp9 && !takes_vp9) || (wants_h264 && !takes_h264))
        return job_fail(job, job->out, "the %s container does not take %s", format->name, o->codec);
    const bool h264 = !wants_vp9 && takes_h264;
    const bool vp9 = !h264 && takes_vp9;
    const char *name = h264 ? "libx264" : vp9 ? "libvpx-vp9" : NULL;
    if (name == NULL)
        return job_fail(job, job->out, "the %s container takes neither H.264 nor VP9",
                        format->name);
    const AVCodec *codec = avcodec_find_encoder_by_name(name);
    if (codec == NULL) return job_fail(job, job->out, "this FFmpeg has no %s encoder", name);
    AVCodecContext *enc = job->encoder = avcodec_alloc_context3(codec);
    if (enc == NULL) return job_fail(job, job->out, "out of memory");
    /* 4:2:0, which every player takes, holds even sizes only: an odd side is padded by
     * repeating the last column or row (H.264 crops in steps of two pixels in 4:2:0, so the
     * stream cannot say "one less"; the size is recorded in the container's metadata), or,
     * with --chroma 444, kept exactly in 4:4:4, which browsers do not play. */
    const bool odd = job->width % 2 || job->height % 2;
    job->coded_width = job->width;
    job->coded_height = job->height;
    if (odd && !o->chroma444) {
        job->coded_width += job->width % 2;
        job->coded_height += job->height % 2;
    }
    if (odd && !o->quiet) {
        if (o->chroma444)
            fprintf(stderr,
                    CLI_PROGRAM_NAME ": %s: %dx%d has an odd side: encoding 4:4:4 at that size "
                                     "(%s), which browsers do not play\n",
                    job->out, job->width, job->height, h264 ? "H.264 High 4:4:4" : "VP9 profile 1");
        else
            fprintf(stderr,
                    CLI_PROGRAM_NAME ": %s: %dx%d has an odd side, which 4:2:0 cannot hold: "
                                     "padded to %dx%d (last column/row repeated; the size is "
                                     "recorded as the tag libstyle_source_size)\n",
                    job->out, job->width, job->height, job->coded_width, job->coded_height);
    }
    enc->width = job->coded_width;
    enc->height = job->coded_height;
    enc->pix_fmt = odd && o->chroma444 ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;
    enc->sample_aspect_ratio = par->sample_aspect_ratio;
    enc->time_base = in->time_base;
    enc->framerate = av_guess_frame_rate(job->demuxer, (AVStream *)in, NULL);
    if (enc->time_base.num <= 0 || enc->time_base.den <= 0)
        enc->time_base = av_inv_q(enc->framerate);
    job->colorspace = input_colorspace(par);
    const bool hd = job->colorspace == AVCOL_SPC_BT709;
    enc->colorspace = job->colorspace;
    enc->color_range = AVCOL_RANGE_MPEG;
    enc->color_primaries = par->color_primaries != AVCOL_PRI_UNSPECIFIED ? par->color_primaries
                           : hd                                          ? AVCOL_PRI_BT709
                                                                         : AVCOL_PRI_SMPTE170M;
    enc->color_trc = par->color_trc != AVCOL_TRC_UNSPECIFIED ? par->color_trc
                     : hd                                    ? AVCOL_TRC_BT709
                                                             : AVCOL_TRC_SMPTE170M;
    if (job->muxer->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *settings = NULL;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", o->crf >= 0 ? o->crf : h264 ? 18 : 31);
    av_dict_set(&settings, "crf", crf, 0);
    if (h264) {
        av_dict_set(&settings, "preset", o->preset ? o->preset : "medium", 0);
    } else {
        av_dict_set(&settings, "b", "0", 0);
        av_dict_set(&settings, "row-mt", "1", 0);
        if (o->preset) av_dict_set(&settings, "deadline", o->preset, 0);
    }
    if (job->coded_width != job->width || job->coded_height != job->height) {
        char size[48];
        snprintf(size, sizeof size, "%dx%d", job->width, job->height);
        av_dict_set(&job->muxer->metadata, "libstyle_source_size", size, 0);
    }
    int r = avcodec_open2(enc, codec, &settings);
    av_dict_free(&settings);
    if (r < 0) return job_fail(job, job->out, "cannot open the %s encoder (%s)", name, AV_ERROR(r));
    job->video_out = avformat_new_stream(job->muxer, NULL);
    if (job->video_out == NULL) return job_fail(job, job->out, "out of memory");
    r = avcodec_parameters_from_context(job->video_out->codecpar, enc);
    if (r < 0) return job_fail(job, job->out, "cannot set up the video stream (%s)", AV_ERROR(r));
    job->video_out->time_base = enc->time_base;
    job->video_out->avg_frame_rate = enc->framerate;
    job->video_out->sample_aspect_ratio = enc->sample_aspect_ratio;
    av_dict_copy(&job->video_out->metadata, in->metadata, 0);
    /* rotation: the display matrix goes along */
    size_t size = 0;
    const uint8_t *matrix = av_stream_get_side_data(in, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (matrix != NULL && size == 9 * sizeof(int32_t)) {
        uint8_t *copy = av_stream_new_side_data(job->video_out, AV_PKT_DATA_DISPLAYMATRIX, size);
        if (copy == NULL) return job_fail(job, job->out, "out of memory");
        memcpy(copy, matrix, size);
    }
    return 0;
}

static int add_audio_stream(struct video_job *job, const AVOutputFormat *format)
{
    if (job->audio_in < 0) return 0;
    if (job->sequence_out) {
        if (!job->options->quiet)
            fprintf(stderr,
                    CLI_PROGRAM_NAME ": %s: the audio is left out: a frame sequence "
                                     "holds none\n",
                    job->out);
        job->audio_in = -1;
        return 0;
    }
    char message[256];
    int reencoded = 0;
    const AVStream *in = job->demuxer->streams[job->audio_in];
    int r =
        video_audio_open(&job->audio, in, job->muxer, format, &reencoded, message, sizeof message);
    if (r < 0) return job_fail(job, job->out, "audio: %s", message);
    if (reencoded && !job->options->quiet)
        fprintf(stderr,
                CLI_PROGRAM_NAME ": %s: the %s container does not take the audio's codec (%s): "
                                 "re-encoding it to %s\n",
                job->out, format->name, avcodec_get_name(in->codecpar->codec_id),
                avcodec_get_name(job->audio.encoder->codec_id));
    return 0;
}

/* A frame sequence out: FFmpeg's image2 muxer writes the frames into a temporary folder. */
static int open_sequence_output(struct video_job *job)
{
    char message[512], *pattern = NULL;
    if (frame_sequence_prepare(job->out, &job->temporary_folder, &pattern, message,
                               sizeof message) != 0)
        return job_fail(job, job->out, "%s", message);
    snprintf(job->give_up_path, sizeof job->give_up_path, "%s", job->temporary_folder);
    /* mkdtemp makes it 0700: give the folder the permissions any new folder gets */
    const mode_t mask = umask(0);
    umask(mask);
    int r = chmod(job->temporary_folder, 0777 & ~mask) == 0 ? 0 : AVERROR(errno);
    if (r == 0)
        r = avformat_alloc_output_context2(&job->muxer, av_guess_format("image2", NULL, NULL), NULL,
                                           pattern);
    free(pattern);
    if (r < 0) return job_fail(job, job->out, "cannot set up the frames (%s)", AV_ERROR(r));
    if (add_video_stream(job, job->muxer->oformat) != 0 || add_audio_stream(job, NULL) != 0)
        return -1;
    r = avformat_write_header(job->muxer, NULL);
    if (r < 0) return job_fail(job, job->out, "cannot write the frames (%s)", AV_ERROR(r));
    return 0;
}

static int open_output(struct video_job *job)
{
    if (job->sequence_out) return open_sequence_output(job);
    const AVOutputFormat *format = av_guess_format(NULL, job->out, NULL);
    if (format == NULL) return job_fail(job, job->out, "no video container for this extension");
    size_t length = strlen(job->out);
    job->temporary = malloc(length + sizeof ".tmp.XXXXXX");
    if (job->temporary == NULL) return job_fail(job, job->out, "out of memory");
    memcpy(job->temporary, job->out, length);
    memcpy(job->temporary + length, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    int fd = mkstemp(job->temporary);
    if (fd >= 0) snprintf(job->give_up_path, sizeof job->give_up_path, "%s", job->temporary);
    if (fd < 0) {
        free(job->temporary);
        job->temporary = NULL;
        return job_fail(job, job->out, "cannot create a file beside it (%s)", strerror(errno));
    }
    /* mkstemp makes it 0600: give the finished file the permissions any new file gets */
    const mode_t mask = umask(0);
    umask(mask);
    if (fchmod(fd, 0666 & ~mask) != 0) {
        close(fd);
        return job_fail(job, job->out, "cannot set its permissions (%s)", strerror(errno));
    }
    close(fd);
    int r = avformat_alloc_output_context2(&job->muxer, format, NULL, job->temporary);
    if (r < 0) return job_fail(job, job->out, "cannot set up the container (%s)", AV_ERROR(r));
    av_dict_copy(&job->muxer->metadata, job->demuxer->metadata, 0);
    if (add_video_stream(job, format) != 0 || add_audio_stream(job, format) != 0) return -1;
    r = avio_open(&job->muxer->pb, job->temporary, AVIO_FLAG_WRITE);
    if (r < 0) return job_fail(job, job->out, "cannot write (%s)", AV_ERROR(r));
    AVDictionary *settings = NULL;
    if (strstr(format->name, "mp4") || strstr(format->name, "mov"))
        av_dict_set(&settings, "movflags",
                    job->coded_width != job->width || job->coded_height != job->height
                        ? "+faststart+use_metadata_tags" /* libstyle_source_size */
                        : "+faststart",
                    0);
    r = avformat_write_header(job->muxer, &settings);
    av_dict_free(&settings);
    if (r < 0) return job_fail(job, job->out, "cannot write the header (%s)", AV_ERROR(r));
    return 0;
}

static int open_style(struct video_job *job)
{
    const struct cli_video_options *o = job->options;
    style_status status = style_model_load(o->model_path, NULL, &job->model);
    if (status != STYLE_OK) {
        cli_report_status(status, o->model_path);
        return job->failed = true, -1;
    }
    style_video_settings settings = {sizeof settings, (float)o->smoothing, (float)o->blend};
    status = style_video_create(job->model, &settings, &job->video);
    style_session *session = style_video_session(job->video);
    if (status == STYLE_OK) status = style_session_set_threads(session, o->threads);
    if (status == STYLE_OK && o->memory_budget_given)
        status = style_session_set_memory_budget(session, o->memory_budget_bytes);
    if (status == STYLE_OK && o->strength_given)
        status = style_session_set_strength(session, (float)o->strength);
    if (status == STYLE_OK && o->preserve_color)
        status = style_session_set_preserve_color(session, 1);
    if (status == STYLE_OK && o->scale_given)
        status = style_session_set_scale(session, (float)o->scale);
    if (status == STYLE_OK && o->precision_given)
        status = style_session_set_precision(session, o->precision);
    if (status == STYLE_OK)
        status = style_image_alloc(&job->rgb, job->width, job->height, job->alpha ? 4 : 3,
                                   STYLE_SAMPLE_U8);
    if (status == STYLE_OK)
        status = style_image_alloc(&job->styled, job->width, job->height, job->alpha ? 4 : 3,
                                   STYLE_SAMPLE_U8);

    if (status != STYLE_OK) {
        cli_report_status(status, o->model_path);
        return job->failed = true, -1;
    }
    return 0;
}

static int write_packets(struct video_job *job)
{
    for (;;) {
        int r = avcodec_receive_packet(job->encoder, job->encoded);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return job_fail(job, job->out, "encoding failed (%s)", AV_ERROR(r));
        av_packet_rescale_ts(job->encoded, job->encoder->time_base, job->video_out->time_base);
        job->encoded->stream_index = job->video_out->index;
        r = av_interleaved_write_frame(job->muxer, job->encoded);
        if (r < 0) return job_fail(job, job->out, "cannot write (%s)", AV_ERROR(r));
    }
}

static void show_progress(struct video_job *job, bool last)
{
    if (job->options->quiet || !isatty(STDERR_FILENO)) return;
    double seconds = cli_elapsed_ms(job->start) / 1000.0;
    double fps = seconds > 0 ? (double)job->frames / seconds : 0.0;
    char eta[32] = "?";
    if (job->expected > 0 && fps > 0)
        cli_format_duration((double)(job->expected - job->frames) / fps, eta, sizeof eta);
    if (job->expected > 0)
        fprintf(stderr, "\r" CLI_PROGRAM_NAME ": frame %lld/%lld, %.2f fps, %s left   ",
                (long long)job->frames, (long long)job->expected, fps, eta);
    else
        fprintf(stderr, "\r" CLI_PROGRAM_NAME ": frame %lld, %.2f fps   ", (long long)job->frames,
                fps);
    job->progress_shown = !last;
    if (last) fputc('\n', stderr);
}

/* The stylized frame at the encoded size: itself, or padded by repeating its last column and
 * row (odd sizes in 4:2:0, add_video_stream). */
static const style_image *pad_to_coded_size(struct video_job *job)
{
    if (job->coded_width == job->width && job->coded_height == job->height) return &job->styled;
    const style_image *from = &job->styled, *to = &job->padded;
    const size_t from_stride = from->stride ? from->stride : (size_t)from->width * 3;
    const size_t to_stride = to->stride ? to->stride : (size_t)to->width * 3;
    for (int y = 0; y < to->height; y++) {
        const uint8_t *source = (const uint8_t *)from->data +
                                (size_t)(y < from->height ? y : from->height - 1) * from_stride;
        uint8_t *row = (uint8_t *)to->data + (size_t)y * to_stride;
        memcpy(row, source, (size_t)from->width * 3);
        for (int x = from->width; x < to->width; x++)
            memcpy(row + (size_t)x * 3, source + (size_t)(from->width - 1) * 3, 3);
    }
    return to;
}

/* Whether the frame count or the timestamp of the next frame is over the limits. */
static int over_limits(struct video_job *job, const AVFrame *frame)
{
    const struct cli_video_options *o = job->options;
    const uint64_t max_frames = o->max_frames ? o->max_frames : CLI_VIDEO_DEFAULT_MAX_FRAMES;
    const double max_seconds = o->max_seconds > 0 ? o->max_seconds : CLI_VIDEO_DEFAULT_MAX_SECONDS;
    if ((uint64_t)job->frames >= max_frames)
        return job_fail(job, job->in, "more than %llu frames, the limit (--max-frames)",
                        (unsigned long long)max_frames);
    const AVStream *stream = job->demuxer->streams[job->video_in];
    const int64_t pts = frame->best_effort_timestamp;
    if (pts != AV_NOPTS_VALUE) {
        int64_t start = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
        double seconds = (double)(pts - start) * av_q2d(stream->time_base);
        if (seconds > max_seconds)
            return job_fail(job, job->in, "longer than %g s, the limit (--max-duration)",
                            max_seconds);
    }
    return 0;
}

/* One decoded frame: to RGB, stylized, back to YUV, encoded. */
static int process_frame(struct video_job *job, AVFrame *frame)
{
    if (cli_interrupted()) return job_fail(job, job->out, "interrupted; nothing written");
    if (frame->width != job->width || frame->height != job->height)
        return job_fail(job, job->in, "the frame size changes from %dx%d to %dx%d at frame %lld",
                        job->width, job->height, frame->width, frame->height,
                        (long long)job->frames);
    if (over_limits(job, frame) != 0) return -1;
    if (frame->best_effort_timestamp != AV_NOPTS_VALUE &&
        (job->input_end == AV_NOPTS_VALUE || frame->best_effort_timestamp > job->input_end))
        job->input_end = frame->best_effort_timestamp;
    const enum AVPixelFormat format = frame->format;
    job->to_rgb =
        sws_getCachedContext(job->to_rgb, job->width, job->height, format, job->width, job->height,
                             job->alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24,
                             SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (job->to_rgb == NULL)
        return job_fail(job, job->in, "cannot convert its %s frames to RGB",
                        av_get_pix_fmt_name(format));
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(format);
    const bool rgb_input = desc && (desc->flags & AV_PIX_FMT_FLAG_RGB);
    const bool full = frame->color_range == AVCOL_RANGE_JPEG || format == AV_PIX_FMT_YUVJ420P ||
                      format == AV_PIX_FMT_YUVJ422P || format == AV_PIX_FMT_YUVJ444P;
    enum AVColorSpace space =
        frame->colorspace != AVCOL_SPC_UNSPECIFIED && frame->colorspace != AVCOL_SPC_RGB
            ? frame->colorspace
            : job->colorspace;
    if (!rgb_input) {
        const int *coefficients = sws_getCoefficients(space);
        sws_setColorspaceDetails(job->to_rgb, coefficients, full, coefficients, 1, 0, 1 << 16,
                                 1 << 16);
    }
    uint8_t *rgb_planes[4] = {job->rgb.data};
    int rgb_strides[4] = {
        (int)(job->rgb.stride ? job->rgb.stride : (size_t)job->width * job->rgb.channels)};
    sws_scale(job->to_rgb, (const uint8_t *const *)frame->data, frame->linesize, 0, job->height,
              rgb_planes, rgb_strides);

    style_status status = style_video_push_frame(job->video, &job->rgb, &job->styled);
    if (status != STYLE_OK) {
        if (job->progress_shown) fputc('\n', stderr);
        cli_report_status(status, job->in);
        return job->failed = true, -1;
    }

    int r = av_frame_make_writable(job->yuv);
    if (r < 0) return job_fail(job, job->out, "out of memory");
    const style_image *coded = pad_to_coded_size(job);
    const uint8_t *styled_planes[4] = {coded->data};
    int styled_strides[4] = {
        (int)(coded->stride ? coded->stride : (size_t)coded->width * coded->channels)};
    sws_scale(job->to_yuv, styled_planes, styled_strides, 0, coded->height, job->yuv->data,
              job->yuv->linesize);
    int64_t pts = frame->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE || (job->frames > 0 && pts <= job->last_pts))
        pts = job->frames > 0 ? job->last_pts + 1 : 0;
    job->last_pts = pts;
    job->yuv->pts = pts;
    r = avcodec_send_frame(job->encoder, job->yuv);
    if (r < 0) return job_fail(job, job->out, "encoding failed (%s)", AV_ERROR(r));
    job->frames++;
    show_progress(job, false);
    return write_packets(job);
}

/* Sends a packet (NULL: flush) to the decoder and processes the frames that come out. */
static int decode(struct video_job *job, const AVPacket *packet, AVFrame *frame)
{
    int r = avcodec_send_packet(job->decoder, packet);
    if (r < 0 && r != AVERROR_EOF)
        return job_fail(job, job->in, "damaged video data after frame %lld (%s)",
                        (long long)job->frames, AV_ERROR(r));
    for (;;) {
        r = avcodec_receive_frame(job->decoder, frame);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0)
            return job_fail(job, job->in, "damaged video data after frame %lld (%s)",
                            (long long)job->frames, AV_ERROR(r));
        r = process_frame(job, frame);
        av_frame_unref(frame);
        if (r != 0) return r;
    }
}

static int copy_audio(struct video_job *job, AVPacket *packet)
{
    char message[256];
    int r = video_audio_packet(&job->audio, packet, job->muxer, message, sizeof message);
    return r < 0 ? job_fail(job, job->out, "audio: %s", message) : 0;
}

/* Whether fewer frames came out than the container declares, and they end before the
 * stream's declared duration (by more than a frame and a half: AVI indexes count the empty
 * chunks of dropped frames, which decode to nothing, as frames). */
static bool truncated(const struct video_job *job)
{
    if (job->expected <= 0 || job->frames >= job->expected) return false;
    const AVStream *stream = job->demuxer->streams[job->video_in];
    const AVRational rate = av_guess_frame_rate(job->demuxer, (AVStream *)stream, NULL);
    if (stream->duration == AV_NOPTS_VALUE || stream->duration <= 0 || rate.num <= 0 ||
        rate.den <= 0 || job->input_end == AV_NOPTS_VALUE)
        return true;
    const int64_t start = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
    const double interval = av_q2d(av_inv_q(rate));
    const double declared_end = (double)stream->duration * av_q2d(stream->time_base);
    const double decoded_end = (double)(job->input_end - start) * av_q2d(stream->time_base);
    return decoded_end + interval < declared_end - 1.5 * interval;
}

static int run(struct video_job *job)
{
    AVFrame *frame = av_frame_alloc();
    job->yuv = av_frame_alloc();
    job->packet = av_packet_alloc();
    job->encoded = av_packet_alloc();
    if (!frame || !job->yuv || !job->packet || !job->encoded) {
        av_frame_free(&frame);
        return job_fail(job, job->out, "out of memory");
    }
    job->yuv->format = job->encoder->pix_fmt;
    job->yuv->width = job->coded_width;
    job->yuv->height = job->coded_height;
    job->yuv->colorspace = job->encoder->colorspace;
    job->yuv->color_range = job->encoder->color_range;
    int r = av_frame_get_buffer(job->yuv, 0);
    const enum AVPixelFormat packed = job->alpha ? AV_PIX_FMT_RGBA : AV_PIX_FMT_RGB24;
    if (r >= 0 && (job->coded_width != job->width || job->coded_height != job->height) &&
        style_image_alloc(&job->padded, job->coded_width, job->coded_height, 3, STYLE_SAMPLE_U8) !=
            STYLE_OK)
        r = AVERROR(ENOMEM);
    job->to_yuv =
        sws_getContext(job->coded_width, job->coded_height, packed, job->coded_width,
                       job->coded_height, job->encoder->pix_fmt,
                       SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (r < 0 || job->to_yuv == NULL) {
        av_frame_free(&frame);
        return job_fail(job, job->out, "cannot set up the colour conversion");
    }
    if (!job->sequence_out) {
        const int *coefficients = sws_getCoefficients(job->encoder->colorspace);
        sws_setColorspaceDetails(job->to_yuv, coefficients, 1, coefficients, 0, 0, 1 << 16,
                                 1 << 16);
    }
    job->start = cli_now();
    int status = 0;
    while (status == 0 && (r = av_read_frame(job->demuxer, job->packet)) >= 0) {
        if (job->packet->stream_index == job->video_in)
            status = decode(job, job->packet, frame);
        else if (job->packet->stream_index == job->audio_in)
            status = copy_audio(job, job->packet);
        av_packet_unref(job->packet);
    }
    if (status == 0 && r != AVERROR_EOF)
        status = job_fail(job, job->in, "read error after frame %lld (%s)", (long long)job->frames,
                          AV_ERROR(r));
    if (status == 0) status = decode(job, NULL, frame);
    av_frame_free(&frame);
    if (status != 0) return status;
    if (job->frames == 0) return job_fail(job, job->in, "the video stream has no frames");
    if (truncated(job))
        return job_fail(job, job->in, "truncated: %lld of its %lld frames could be decoded",
                        (long long)job->frames, (long long)job->expected);
    if (job->audio_in >= 0) {
        char message[256];
        r = video_audio_finish(&job->audio, job->muxer, message, sizeof message);
        if (r < 0) return job_fail(job, job->out, "audio: %s", message);
    }
    r = avcodec_send_frame(job->encoder, NULL);
    if (r < 0) return job_fail(job, job->out, "encoding failed (%s)", AV_ERROR(r));
    if (write_packets(job) != 0) return -1;
    r = av_write_trailer(job->muxer);
    if (r < 0) return job_fail(job, job->out, "cannot finish the file (%s)", AV_ERROR(r));
    if (job->muxer->pb != NULL) {
        r = avio_closep(&job->muxer->pb);
        if (r < 0) return job_fail(job, job->out, "cannot write (%s)", AV_ERROR(r));
    }
    job->give_up_path[0] = '\0';
    if (job->sequence_out) {
        if (frame_sequence_commit(job->temporary_folder, job->out) != 0)
            return job_fail(job, job->out, "cannot rename the finished folder into place (%s)",
                            strerror(errno));
        free(job->temporary_folder);
        job->temporary_folder = NULL;
    } else {
        if (rename(job->temporary, job->out) != 0)
            return job_fail(job, job->out, "cannot rename the finished file into place (%s)",
                            strerror(errno));
        free(job->temporary);
        job->temporary = NULL;
    }
    show_progress(job, true);
    if (job->options->verbose) {
        double seconds = cli_elapsed_ms(job->start) / 1000.0;
        fprintf(stderr,
                CLI_PROGRAM_NAME ": %s: %lld frames %dx%d in %.1f s, %.2f fps (decode, stylize, "
                                 "encode)\n",
                job->out, (long long)job->frames, job->width, job->height, seconds,
                seconds > 0 ? (double)job->frames / seconds : 0.0);
    }
    return 0;
}

static void job_free(struct video_job *job)
{
    if (job->muxer != NULL) {
        if (job->muxer->pb != NULL) avio_closep(&job->muxer->pb);
        avformat_free_context(job->muxer);
    }
    if (job->temporary != NULL) {
        unlink(job->temporary);
        free(job->temporary);
    }
    if (job->temporary_folder != NULL) {
        frame_sequence_remove(job->temporary_folder);
        free(job->temporary_folder);
    }
    avformat_close_input(&job->demuxer);
    avcodec_free_context(&job->decoder);
    avcodec_free_context(&job->encoder);
    sws_freeContext(job->to_rgb);
    sws_freeContext(job->to_yuv);
    av_frame_free(&job->yuv);
    av_packet_free(&job->packet);
    av_packet_free(&job->encoded);
    style_image_release(&job->rgb);
    style_image_release(&job->styled);
    style_image_release(&job->padded);
    video_audio_free(&job->audio);
    style_video_free(job->video);
    style_model_free(job->model);
}

/* Grace period after the first signal (as for images, cli_interrupt.h): past it the run is
 * given up, its temporary removed, and the process ends. */
#define VIDEO_GRACE_MS 400

/* Called by the signal-watching thread when the run is given up. */
static void give_up(void *user)
{
    struct video_job *job = user;
    if (job->give_up_path[0] != '\0') {
        if (job->sequence_out)
            frame_sequence_remove(job->give_up_path);
        else
            unlink(job->give_up_path);
    }
    cli_error("%s: %s; nothing written", job->out, cli_interrupt_signal_name());
}

int cli_video_stylize(const struct cli_video_options *options, const char *in, const char *out)
{
    struct video_job job = {.options = options,
                            .in = in,
                            .out = out,
                            .audio_in = -1,
                            .input_end = AV_NOPTS_VALUE,
                            .sequence_out = frame_sequence_pattern(out)};
    if (job.sequence_out && !frame_sequence_writable(out)) {
        cli_error("%s: frame sequences are written as PNG only (such as frames/%%05d.png)", out);
        return CLI_EXIT_FAILURE;
    }
    av_log_set_level(options->verbose ? AV_LOG_WARNING : AV_LOG_QUIET);
    int status = open_input(&job);
    if (status == 0) status = open_style(&job);
    if (status == 0) status = open_output(&job);
    if (status == 0) {
        cli_interrupt_begin(VIDEO_GRACE_MS);
        cli_interrupt_set_give_up(give_up, &job);
        status = run(&job);
        cli_interrupt_end();
    }
    job_free(&job);
    return status == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

#endif
