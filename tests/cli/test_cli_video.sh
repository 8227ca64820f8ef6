#!/usr/bin/env bash
# `libstyle stylize IN.mp4 OUT.mp4` (docs/video.md): a clip made here with the ffmpeg CLI,
# with an audio track, keeps its frame count, timestamps and audio; audio MP4 cannot carry is
# re-encoded to AAC; an odd frame size is padded to 4:2:0 (or kept in 4:4:4); encoder options;
# limits; frame sequences (alpha kept) and --out-dir; bad inputs (not a video, an image named
# .mp4, truncated, zero frames, audio only, huge dimensions) give one error line, exit 1 and no
# output file (nor a temporary one). A build without FFmpeg must say
# so instead. Without the ffmpeg/ffprobe commands (Debian package ffmpeg, a test dependency in
# setup.sh) only the checks that need no clip run.
#
# Usage: test_cli_video.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-video
rm -rf "$scratch"
mkdir -p "$scratch/out"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors
out=$scratch/out

source "$(dirname "$0")/check.sh"

# one error line, exit 1, nothing left in $out
refused() {
    local pattern=$1 input=$2
    expect_status 1 "$pattern" "$bin" stylize --model "$model" "$input" "$out/result.mp4" &&
        [ "$(wc -l <"$scratch/err.txt")" -eq 1 ] &&
        [ -z "$(ls -A "$out")" ] || { ls -la "$out"; return 1; }
}

echo "this is not a video" >"$scratch/notes.mp4"
if "$bin" stylize --model "$model" "$scratch/notes.mp4" "$out/probe.mp4" 2>&1 |
    grep -q "needs a build with FFmpeg"; then
    check "no FFmpeg in this build: a clear error, no output" \
        refused "needs a build with FFmpeg" "$scratch/notes.mp4"
    finish
    exit
fi
check "not a video: one error, no output" refused "not a video FFmpeg can read" "$scratch/notes.mp4"
check "a video input with an image output is a usage error" \
    expect_status 2 "needs a video output" "$bin" stylize --model "$model" "$scratch/notes.mp4" \
    "$out/x.png"
check "a bad --smoothing is a usage error" \
    expect_status 2 "smoothing" "$bin" stylize --smoothing 1 --model "$model" \
    "$scratch/notes.mp4" "$out/x.mp4"

check "a bad --temporal-blend is a usage error" \
    expect_status 2 "temporal-blend expects" "$bin" stylize --temporal-blend 1.5 --model "$model" \
    "$scratch/notes.mp4" "$out/x.mp4"

check "image-only options are a usage error with a video" \
    expect_status 2 "do not apply to video" "$bin" stylize --tileable --model "$model" \
    "$scratch/notes.mp4" "$out/x.mp4"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "skipping the clip checks: the ffmpeg and ffprobe commands are not installed"
    finish
    exit
fi

ff() { ffmpeg -nostdin -v error -y "$@"; }
# 12 frames at 12 fps, 64x48, and 1 s of a tone (AAC)
ff -f lavfi -i testsrc=size=64x48:rate=12 -f lavfi -i sine=frequency=440:sample_rate=16000 \
    -t 1 -c:v libx264 -pix_fmt yuv420p -c:a aac -movflags +faststart "$scratch/clip.mp4"

# "codec_type count" per stream, counting packets
streams() {
    ffprobe -v error -count_packets -show_entries stream=codec_type,nb_read_packets -of csv=p=0 "$1"
}
video_times() {
    ffprobe -v error -select_streams v -show_entries frame=pts_time -of csv=p=0 "$1"
}

clip_kept() {
    "$bin" stylize --model "$model" "$scratch/clip.mp4" "$out/clip.mp4" &&
        streams "$scratch/clip.mp4" && streams "$out/clip.mp4" &&
        [ "$(streams "$out/clip.mp4")" = "$(streams "$scratch/clip.mp4")" ] &&
        [ "$(streams "$out/clip.mp4" | head -1)" = "video,12" ] &&
        [ "$(video_times "$out/clip.mp4")" = "$(video_times "$scratch/clip.mp4")" ] &&
        ffprobe -v error -select_streams v -show_entries stream=codec_name -of csv=p=0 \
            "$out/clip.mp4" | grep -qx h264 &&
        [ -z "$(ls "$out" | grep tmp)" ] &&
        # the permissions of any new file (not mkstemp's 0600)
        touch "$scratch/new-file" &&
        [ "$(stat -c %a "$out/clip.mp4")" = "$(stat -c %a "$scratch/new-file")" ]
}
check "a clip with audio: 12 frames, same timestamps, audio copied, H.264" clip_kept
rm -f "$out"/*
# a pan of 2 pixels a frame, through a bundled model (the fixture model paints nearly black)
ff -f lavfi -i "testsrc=size=160x48:rate=12,crop=64:48:t*24:0" -t 1 -c:v ffv1 "$scratch/pan.mkv"
check "--temporal-blend 0.7: every frame out, the frames differ from per-frame ones" \
    bash -c '"$1" stylize -q --model "$2" "$3" "$4/plain.mp4" &&
        "$1" stylize -q --temporal-blend 0.7 --model "$2" "$3" "$4/blend.mp4" &&
        [ "$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 \
            -select_streams v "$4/blend.mp4")" = 12 ] &&
        [ "$(ffmpeg -v error -i "$4/plain.mp4" -f rawvideo - | md5sum)" != \
            "$(ffmpeg -v error -i "$4/blend.mp4" -f rawvideo - | md5sum)" ]' _ \
    "$bin" "$(dirname "$0")/../../models/starry-night.safetensors" "$scratch/pan.mkv" "$out"
rm -f "$out"/*

odd_size() {
    ff -f lavfi -i testsrc=size=37x29:rate=5 -t 1 -c:v ffv1 "$scratch/odd.mkv"
    "$bin" stylize --model "$model" "$scratch/odd.mkv" "$out/odd.mp4" 2>"$scratch/odd.err"
    cat "$scratch/odd.err"
    grep -q "padded to 38x30" "$scratch/odd.err" &&
        [ "$(ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 \
            "$out/odd.mp4")" = "38,30,yuv420p" ] &&
        [ "$(ffprobe -v error -show_entries format_tags=libstyle_source_size -of csv=p=0 \
            "$out/odd.mp4")" = "37x29" ] &&
        [ "$(streams "$out/odd.mp4")" = "video,5" ]
}
check "an odd frame size: padded to even, 4:2:0, the size recorded, reported" odd_size
odd_444() {
    "$bin" stylize --chroma 444 --model "$model" "$scratch/odd.mkv" "$out/odd.mp4" \
        2>"$scratch/odd.err"
    cat "$scratch/odd.err"
    grep -q "4:4:4" "$scratch/odd.err" &&
        [ "$(ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 \
            "$out/odd.mp4")" = "37,29,yuv444p" ]
}
check "--chroma 444: an odd frame size kept exactly, 4:4:4, reported" odd_444
rm -f "$out"/*

# audio that MP4 cannot copy (PCM in Matroska, Vorbis in AVI... here both): re-encoded to AAC
# with a notice, its duration kept
reencoded_audio() {
    local input=$1
    "$bin" stylize --model "$model" "$input" "$out/audio.mp4" 2>"$scratch/audio.err"
    cat "$scratch/audio.err"
    grep -q "re-encoding it to aac" "$scratch/audio.err" &&
        [ "$(ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 \
            "$out/audio.mp4" | tr '\n' ' ')" = "h264,video aac,audio " ] &&
        ffprobe -v error -select_streams a -show_entries stream=duration -of csv=p=0 \
            "$out/audio.mp4" | awk '{ exit !($1 > 0.95 && $1 < 1.1) }' &&
        [ "$(streams "$out/audio.mp4" | head -1)" = "video,12" ]
}
ff -f lavfi -i testsrc=size=64x48:rate=12 -f lavfi -i sine=frequency=440:sample_rate=22050 \
    -t 1 -c:v ffv1 -c:a pcm_s16le "$scratch/pcm.mkv"
check "PCM audio in Matroska to MP4: re-encoded to AAC, with a notice" \
    reencoded_audio "$scratch/pcm.mkv"
rm -f "$out"/*
ff -f lavfi -i testsrc=size=64x48:rate=12 -f lavfi -i sine=frequency=440:sample_rate=44100 \
    -t 1 -c:v mpeg4 -c:a libvorbis -ac 2 "$scratch/vorbis.avi"
check "Vorbis audio in AVI to MP4: re-encoded to AAC, with a notice" \
    reencoded_audio "$scratch/vorbis.avi"
rm -f "$out"/*

# encoder options
codec_of() { ffprobe -v error -select_streams v -show_entries stream=codec_name -of csv=p=0 "$1"; }
check "--codec vp9 --crf 40 --preset realtime: VP9" \
    bash -c '"$1" stylize -q --codec vp9 --crf 40 --preset realtime --model "$2" "$3" "$4" &&
        [ "$(ffprobe -v error -select_streams v -show_entries stream=codec_name -of csv=p=0 \
            "$4")" = vp9 ]' _ "$bin" "$model" "$scratch/clip.mp4" "$out/vp9.mkv"
crf_size() {
    "$bin" stylize -q --crf "$1" --preset ultrafast --model "$model" "$scratch/clip.mp4" \
        "$out/crf$1.mp4" && stat -c %s "$out/crf$1.mp4"
}
crf_changes_size() {
    local low high
    low=$(crf_size 10) && high=$(crf_size 40) && echo "CRF 10: $low bytes, CRF 40: $high bytes" &&
        [ "$(codec_of "$out/crf10.mp4")" = h264 ] && [ "$high" -lt "$low" ]
}
check "--crf: a higher CRF gives a smaller H.264 file" crf_changes_size
rm -f "$out"/*
check "--codec h264 into WebM: one error, no output" \
    bash -c '"$1" stylize --codec h264 --model "$2" "$3" "$4/x.webm" 2>&1 |
        grep -q "does not take h264" && [ -z "$(ls -A "$4")" ]' _ "$bin" "$model" \
    "$scratch/clip.mp4" "$out"
check "a bad --codec is a usage error" \
    expect_status 2 "codec expects h264 or vp9" "$bin" stylize --codec av1 --model "$model" \
    "$scratch/clip.mp4" "$out/x.mp4"
check "a bad --preset is a usage error" \
    expect_status 2 "preset expects" "$bin" stylize --preset quick --model "$model" \
    "$scratch/clip.mp4" "$out/x.mp4"
check "a --crf over 51 for H.264 is a usage error" \
    expect_status 2 "crf expects 0..51" "$bin" stylize --crf 60 --model "$model" \
    "$scratch/clip.mp4" "$out/x.mp4"

# limits: frame count, duration, frame size (each a clear error and no output)
limit_refused() {
    local pattern=$1 input=$2
    shift 2
    expect_status 1 "$pattern" "$bin" stylize "$@" --model "$model" "$input" \
        "$out/result.mp4" && [ -z "$(ls -A "$out")" ] || { ls -la "$out"; return 1; }
}
check "--max-frames 5 on a 12-frame clip: refused, no output" \
    limit_refused "over the limit of 5 (--max-frames)" "$scratch/clip.mp4" --max-frames 5
check "--max-duration 0.5 on a 1 s clip: refused, no output" \
    limit_refused "over the limit of 0.5 s (--max-duration)" "$scratch/clip.mp4" \
    --max-duration 0.5
# a clip without an index (MPEG-TS): the frame limit applies while decoding
ff -i "$scratch/clip.mp4" -c copy "$scratch/clip.ts"
check "--max-frames on a stream that declares no frame count: refused while decoding" \
    limit_refused "more than 5 frames, the limit" "$scratch/clip.ts" --max-frames 5
ff -f lavfi -i color=size=16400x16:rate=1 -t 1 -c:v ffv1 "$scratch/huge.mkv"
check "huge dimensions (16400x16): refused, no output" \
    limit_refused "16400x16 frames are over the limit" "$scratch/huge.mkv"
check "--max-pixels applies to each frame" \
    limit_refused "64x48 frames are over the limit" "$scratch/clip.mp4" --max-pixels 3000

# wrong extension: a PNG image named like a video
cp "$scratch/photo.png" "$scratch/photo.mp4"
check "an image named .mp4: one error, no output" refused "a still image" "$scratch/photo.mp4"

# frame sequences: a folder of RGBA PNGs in, PNGs out with the alpha kept; a sequence to a clip
mkdir -p "$scratch/frames"
ff -f lavfi -i "testsrc=size=40x30:rate=5,format=rgba,geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='X*6'" \
    -t 1 "$scratch/frames/%05d.png"
sequence_alpha() {
    "$bin" stylize -q --model "$model" "$scratch/frames/%05d.png" "$out/styled/%05d.png" &&
        [ "$(ls "$out/styled" | tr '\n' ' ')" = \
            "00001.png 00002.png 00003.png 00004.png 00005.png " ] &&
        [ "$(ls "$out" | tr '\n' ' ')" = "styled " ] &&
        ffprobe -v error -show_entries stream=pix_fmt -of csv=p=0 "$out/styled/00003.png" |
        grep -qx rgba &&
        # the alpha channel of each frame is the input's, pixel for pixel
        for f in 00001 00005; do
            [ "$(ffmpeg -v error -i "$scratch/frames/$f.png" -vf alphaextract -f rawvideo - |
                md5sum)" = "$(ffmpeg -v error -i "$out/styled/$f.png" -vf alphaextract \
                -f rawvideo - | md5sum)" ] || return 1
        done
}
check "a PNG sequence with alpha to a PNG sequence: every frame, alpha kept" sequence_alpha
check "an output sequence folder that is not empty: refused" \
    bash -c '"$1" stylize --model "$2" "$3" "$4/styled/%05d.png" 2>&1 |
        grep -q "not an empty folder"' _ "$bin" "$model" "$scratch/frames/%05d.png" "$out"
rm -rf "${out:?}"/*
check "a PNG sequence to MP4: 5 frames" \
    bash -c '"$1" stylize -q --model "$2" "$3" "$4" &&
        [ "$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 \
            "$4")" = 5 ]' _ "$bin" "$model" "$scratch/frames/%05d.png" "$out/frames.mp4"
rm -f "$out"/*
# Ctrl-C while a sequence is being written: the temporary folder goes, nothing is left
interrupted_sequence() {
    ff -f lavfi -i testsrc=size=320x240:rate=25 -t 8 -c:v ffv1 "$scratch/long.mkv"
    "$bin" stylize -q --threads 1 --model "$(dirname "$0")/../../models/starry-night.safetensors" \
        "$scratch/long.mkv" "$out/cut/%05d.png" 2>"$scratch/cut.err" &
    local pid=$! status=0
    sleep 2
    ls -A "$out" | grep -q "cut.tmp" || { echo "no temporary folder after 2 s"; return 1; }
    kill -INT "$pid"
    wait "$pid" || status=$?
    cat "$scratch/cut.err"
    [ "$status" -ne 0 ] && [ -z "$(ls -A "$out")" ]
}
check "Ctrl-C while writing a frame sequence: nothing left, not even the temporary folder" \
    interrupted_sequence
check "a pattern matching no files: one error, no output" \
    refused "no frames found for this pattern" "$scratch/nothing/%05d.png"

# --out-dir: several clips, each named after its input, .mp4
out_dir_clips() {
    "$bin" stylize -q --model "$model" --out-dir "$out/many" "$scratch/clip.mp4" \
        "$scratch/pcm.mkv" "$scratch/frames/%05d.png" &&
        [ "$(ls "$out/many" | tr '\n' ' ')" = "clip.mp4 frames.mp4 pcm.mp4 " ] &&
        [ "$(streams "$out/many/pcm.mp4" | head -1)" = "video,12" ]
}
check "--out-dir with three clips (one a frame sequence): three MP4s" out_dir_clips
check "--out-dir mixing videos and images is a usage error" \
    expect_status 2 "takes videos only" "$bin" stylize --model "$model" --out-dir "$out/mixed" \
    "$scratch/clip.mp4" "$scratch/photo.png"
rm -rf "${out:?}"/*

# truncated: the first 60 % of the faststart clip (its index says 12 frames)
size=$(stat -c %s "$scratch/clip.mp4")
head -c $((size * 6 / 10)) "$scratch/clip.mp4" >"$scratch/truncated.mp4"
check "a truncated clip: one error, no output" refused "truncated\|damaged\|read error" \
    "$scratch/truncated.mp4"

ff -f lavfi -i sine=frequency=440:sample_rate=16000 -t 1 -c:a aac "$scratch/audio.mp4"
check "an audio-only file: one error, no output" refused "no video stream" "$scratch/audio.mp4"

# a video stream without a single frame: the clip's video with every packet dropped (AVI
# keeps such a stream; MP4 and Matroska files of it have no video stream or are unreadable)
ff -i "$scratch/clip.mp4" -map 0:v -c copy -bsf:v noise=drop=1 "$scratch/empty.avi"
check "a zero-frame video: one error, no output" refused "no frames" "$scratch/empty.avi"

finish
