/*
 * The audio of `libstyle stylize IN OUT` with a video OUT (cli_video.c): copied packet for
 * packet when the output container takes the input's codec, else decoded and re-encoded to
 * AAC (or Opus, for containers that take no AAC, such as WebM). FFmpeg only; built with the
 * CLI's video support.
 */
#ifndef LIBSTYLE_CLI_VIDEO_AUDIO_H
#define LIBSTYLE_CLI_VIDEO_AUDIO_H

#ifdef STYLE_HAVE_FFMPEG

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include <stddef.h>

/* One audio stream going from a demuxer to a muxer. Zero-initialise. */
struct video_audio {
    const AVStream *in;
    AVStream *out;
    /* re-encoding only (NULL when copying) */
    AVCodecContext *decoder, *encoder;
    struct SwrContext *resampler;
    struct AVAudioFifo *fifo;
    AVFrame *decoded, *chunk;
    AVPacket *packet;
    int64_t next_pts; /* in the encoder's time base (1 / sample rate) */
    int64_t first_pts;
};

/*
 * Adds the output stream for `in` to `muxer` (whose container is `format`): a copy when the
 * container takes the codec, else an encoder. `*reencoded` tells which (the caller says so
 * to the user). Returns 0, or a negative AVERROR with `message` (size `size`) saying what
 * failed; the stream may be partly set up and must be freed with video_audio_free.
 */
int video_audio_open(struct video_audio *audio, const AVStream *in, AVFormatContext *muxer,
                     const AVOutputFormat *format, int *reencoded, char *message, size_t size);

/* One packet of the input stream (timestamps in the input's time base): copied, or decoded
 * and re-encoded. Returns 0 or a negative AVERROR with `message`. */
int video_audio_packet(struct video_audio *audio, AVPacket *packet, AVFormatContext *muxer,
                       char *message, size_t size);

/* At the end of the input: drains the decoder and encoder. Returns 0 or a negative AVERROR. */
int video_audio_finish(struct video_audio *audio, AVFormatContext *muxer, char *message,
                       size_t size);

void video_audio_free(struct video_audio *audio);

#endif
#endif
