/*
 * Audio of a stylized video (video_audio.h): copied when the container takes the codec, else
 * decoded, converted (libswresample: sample format, rate, at most two channels) and encoded
 * to AAC, or Opus where the container takes no AAC.
 */
#include "video_audio.h"

#ifdef STYLE_HAVE_FFMPEG

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libswresample/swresample.h>

#include <stdio.h>
#include <string.h>

/* Bit rate of re-encoded audio per channel. */
#define AUDIO_BITRATE_PER_CHANNEL 96000

static int fail(int code, char *message, size_t size, const char *what)
{
    char reason[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, reason, sizeof reason);
    snprintf(message, size, "%s (%s)", what, reason);
    return code;
}

/* The sample rate nearest to `wanted` among the encoder's (any when it lists none). */
static int pick_rate(const AVCodec *codec, int wanted)
{
    if (codec->supported_samplerates == NULL) return wanted;
    int best = codec->supported_samplerates[0];
    for (const int *rate = codec->supported_samplerates; *rate; rate++) {
        if (*rate == wanted) return wanted;
        if (abs(*rate - wanted) < abs(best - wanted)) best = *rate;
    }
    return best;
}

static int open_encoder(struct video_audio *audio, AVFormatContext *muxer,
                        const AVOutputFormat *format, char *message, size_t size)
{
    const AVCodecParameters *par = audio->in->codecpar;
    const AVCodec *decoder = avcodec_find_decoder(par->codec_id);
    if (decoder == NULL)
        return snprintf(message, size, "no decoder for its audio codec (%s)",
                        avcodec_get_name(par->codec_id)),
               AVERROR_DECODER_NOT_FOUND;
    audio->decoder = avcodec_alloc_context3(decoder);
    if (audio->decoder == NULL) return fail(AVERROR(ENOMEM), message, size, "out of memory");
    int r = avcodec_parameters_to_context(audio->decoder, par);
    if (r >= 0) {
        audio->decoder->pkt_timebase = audio->in->time_base;
        r = avcodec_open2(audio->decoder, decoder, NULL);
    }
    if (r < 0) return fail(r, message, size, "cannot open the audio decoder");

    enum AVCodecID id = avformat_query_codec(format, AV_CODEC_ID_AAC, FF_COMPLIANCE_NORMAL) == 1
                            ? AV_CODEC_ID_AAC
                        : avformat_query_codec(format, AV_CODEC_ID_OPUS, FF_COMPLIANCE_NORMAL) == 1
                            ? AV_CODEC_ID_OPUS
                            : AV_CODEC_ID_NONE;
    const AVCodec *codec = id == AV_CODEC_ID_OPUS  ? avcodec_find_encoder_by_name("libopus")
                           : id == AV_CODEC_ID_AAC ? avcodec_find_encoder(id)
                                                   : NULL;
    if (codec == NULL)
        return snprintf(message, size,
                        "the %s container takes neither the audio's codec (%s) "
                        "nor AAC or Opus",
                        format->name, avcodec_get_name(par->codec_id)),
               AVERROR_ENCODER_NOT_FOUND;
    AVCodecContext *enc = audio->encoder = avcodec_alloc_context3(codec);
    if (enc == NULL) return fail(AVERROR(ENOMEM), message, size, "out of memory");
    const int channels = audio->decoder->ch_layout.nb_channels >= 2 ? 2 : 1;
    av_channel_layout_default(&enc->ch_layout, channels);
    enc->sample_rate =
        pick_rate(codec, audio->decoder->sample_rate > 0 ? audio->decoder->sample_rate : 48000);
    enc->sample_fmt = codec->sample_fmts ? codec->sample_fmts[0] : AV_SAMPLE_FMT_FLTP;
    enc->bit_rate = (int64_t)AUDIO_BITRATE_PER_CHANNEL * channels;
    enc->time_base = (AVRational){1, enc->sample_rate};
    if (muxer->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    r = avcodec_open2(enc, codec, NULL);
    if (r < 0) return fail(r, message, size, "cannot open the audio encoder");

    r = swr_alloc_set_opts2(&audio->resampler, &enc->ch_layout, enc->sample_fmt, enc->sample_rate,
                            &audio->decoder->ch_layout, audio->decoder->sample_fmt,
                            audio->decoder->sample_rate, 0, NULL);
    if (r >= 0) r = swr_init(audio->resampler);
    if (r < 0) return fail(r, message, size, "cannot set up the audio conversion");
    audio->fifo = av_audio_fifo_alloc(enc->sample_fmt, channels, 4096);
    audio->decoded = av_frame_alloc();
    audio->chunk = av_frame_alloc();
    audio->packet = av_packet_alloc();
    if (!audio->fifo || !audio->decoded || !audio->chunk || !audio->packet)
        return fail(AVERROR(ENOMEM), message, size, "out of memory");
    audio->first_pts = AV_NOPTS_VALUE;
    r = avcodec_parameters_from_context(audio->out->codecpar, enc);
    if (r < 0) return fail(r, message, size, "cannot set up the audio stream");
    audio->out->time_base = enc->time_base;
    return 0;
}

/* Whether the container takes the audio codec as it is. FFmpeg's MP4 muxer also writes
 * Vorbis and others that players (browsers) do not read from MP4: MP4 copies only the codecs
 * the MP4 registration lists and players take. */
static int takes_codec(const AVOutputFormat *format, enum AVCodecID id)
{
    static const enum AVCodecID mp4_audio[] = {AV_CODEC_ID_AAC,  AV_CODEC_ID_MP3, AV_CODEC_ID_OPUS,
                                               AV_CODEC_ID_FLAC, AV_CODEC_ID_AC3, AV_CODEC_ID_EAC3,
                                               AV_CODEC_ID_ALAC};
    if (strcmp(format->name, "mp4") == 0) {
        for (size_t i = 0; i < sizeof mp4_audio / sizeof mp4_audio[0]; i++)
            if (mp4_audio[i] == id) return 1;
        return 0;
    }
    return avformat_query_codec(format, id, FF_COMPLIANCE_NORMAL) == 1;
}

int video_audio_open(struct video_audio *audio, const AVStream *in, AVFormatContext *muxer,
                     const AVOutputFormat *format, int *reencoded, char *message, size_t size)
{
    audio->in = in;
    audio->out = avformat_new_stream(muxer, NULL);
    if (audio->out == NULL) return fail(AVERROR(ENOMEM), message, size, "out of memory");
    av_dict_copy(&audio->out->metadata, in->metadata, 0);
    *reencoded = !takes_codec(format, in->codecpar->codec_id);
    if (*reencoded) return open_encoder(audio, muxer, format, message, size);
    int r = avcodec_parameters_copy(audio->out->codecpar, in->codecpar);
    if (r < 0) return fail(r, message, size, "cannot copy the audio");
    audio->out->codecpar->codec_tag = 0;
    audio->out->time_base = in->time_base;
    return 0;
}

/* Encodes `frame` (NULL: flush) and writes what comes out. */
static int encode(struct video_audio *audio, AVFrame *frame, AVFormatContext *muxer, char *message,
                  size_t size)
{
    int r = avcodec_send_frame(audio->encoder, frame);
    if (r < 0 && r != AVERROR_EOF) return fail(r, message, size, "audio encoding failed");
    for (;;) {
        r = avcodec_receive_packet(audio->encoder, audio->packet);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return fail(r, message, size, "audio encoding failed");
        av_packet_rescale_ts(audio->packet, audio->encoder->time_base, audio->out->time_base);
        audio->packet->stream_index = audio->out->index;
        r = av_interleaved_write_frame(muxer, audio->packet);
        if (r < 0) return fail(r, message, size, "cannot write the audio");
    }
}

/* Encodes whole encoder frames from the FIFO (and the rest when `last`). */
static int drain_fifo(struct video_audio *audio, int last, AVFormatContext *muxer, char *message,
                      size_t size)
{
    AVCodecContext *enc = audio->encoder;
    const int frame_size = enc->frame_size > 0 ? enc->frame_size : 1024;
    while (av_audio_fifo_size(audio->fifo) >= frame_size ||
           (last && av_audio_fifo_size(audio->fifo) > 0)) {
        const int samples = FFMIN(av_audio_fifo_size(audio->fifo), frame_size);
        AVFrame *chunk = audio->chunk;
        av_frame_unref(chunk);
        chunk->nb_samples = samples;
        chunk->format = enc->sample_fmt;
        chunk->sample_rate = enc->sample_rate;
        int r = av_channel_layout_copy(&chunk->ch_layout, &enc->ch_layout);
        if (r >= 0) r = av_frame_get_buffer(chunk, 0);
        if (r < 0) return fail(r, message, size, "out of memory");
        if (av_audio_fifo_read(audio->fifo, (void **)chunk->data, samples) != samples)
            return fail(AVERROR_BUG, message, size, "audio buffering failed");
        chunk->pts = audio->next_pts;
        audio->next_pts += samples;
        r = encode(audio, chunk, muxer, message, size);
        if (r < 0) return r;
    }
    return 0;
}

/* Converts one decoded frame (NULL: what the resampler still holds) into the FIFO. */
static int convert(struct video_audio *audio, const AVFrame *frame, char *message, size_t size)
{
    if (frame != NULL && audio->first_pts == AV_NOPTS_VALUE) {
        const int64_t pts = frame->best_effort_timestamp;
        audio->first_pts = pts == AV_NOPTS_VALUE
                               ? 0
                               : av_rescale_q(pts, audio->in->time_base, audio->encoder->time_base);
        audio->next_pts = audio->first_pts;
    }
    const int in_samples = frame ? frame->nb_samples : 0;
    const int most = swr_get_out_samples(audio->resampler, in_samples);
    if (most < 0) return fail(most, message, size, "audio conversion failed");
    if (most == 0) return 0;
    uint8_t **planes = NULL;
    int r = av_samples_alloc_array_and_samples(&planes, NULL, audio->encoder->ch_layout.nb_channels,
                                               most, audio->encoder->sample_fmt, 0);
    if (r < 0) return fail(r, message, size, "out of memory");
    const int got = swr_convert(audio->resampler, planes, most,
                                frame ? (const uint8_t **)frame->extended_data : NULL, in_samples);
    r = got < 0 ? got : av_audio_fifo_write(audio->fifo, (void **)planes, got);
    av_freep(&planes[0]);
    av_freep(&planes);
    return r < 0 ? fail(r, message, size, "audio conversion failed") : 0;
}

/* Sends a packet (NULL: flush) to the decoder and queues what comes out. */
static int decode(struct video_audio *audio, const AVPacket *packet, AVFormatContext *muxer,
                  char *message, size_t size)
{
    int r = avcodec_send_packet(audio->decoder, packet);
    if (r < 0 && r != AVERROR_EOF) return fail(r, message, size, "damaged audio data");
    for (;;) {
        r = avcodec_receive_frame(audio->decoder, audio->decoded);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
        if (r < 0) return fail(r, message, size, "damaged audio data");
        r = convert(audio, audio->decoded, message, size);
        av_frame_unref(audio->decoded);
        if (r == 0) r = drain_fifo(audio, 0, muxer, message, size);
        if (r < 0) return r;
    }
}

int video_audio_packet(struct video_audio *audio, AVPacket *packet, AVFormatContext *muxer,
                       char *message, size_t size)
{
    if (audio->encoder != NULL) return decode(audio, packet, muxer, message, size);
    av_packet_rescale_ts(packet, audio->in->time_base, audio->out->time_base);
    packet->stream_index = audio->out->index;
    packet->pos = -1;
    int r = av_interleaved_write_frame(muxer, packet);
    return r < 0 ? fail(r, message, size, "cannot write the audio") : 0;
}

int video_audio_finish(struct video_audio *audio, AVFormatContext *muxer, char *message,
                       size_t size)
{
    if (audio->encoder == NULL) return 0;
    int r = decode(audio, NULL, muxer, message, size);
    if (r == 0 && audio->first_pts != AV_NOPTS_VALUE) r = convert(audio, NULL, message, size);
    if (r == 0) r = drain_fifo(audio, 1, muxer, message, size);
    if (r == 0) r = encode(audio, NULL, muxer, message, size);
    return r;
}

void video_audio_free(struct video_audio *audio)
{
    avcodec_free_context(&audio->decoder);
    avcodec_free_context(&audio->encoder);
    swr_free(&audio->resampler);
    if (audio->fifo) av_audio_fifo_free(audio->fifo);
    audio->fifo = NULL;
    av_frame_free(&audio->decoded);
    av_frame_free(&audio->chunk);
    av_packet_free(&audio->packet);
}

#endif
