#!/usr/bin/env bash
# `libstyle stylize IN.mp4 OUT.mp4` (docs/video.md): a clip made here with the ffmpeg CLI,
# with an audio track, keeps its frame count, timestamps and audio; an odd frame size is
# encoded 4:4:4 and kept; bad inputs (not a video, truncated, zero frames, audio only) give one
# error line, exit 1 and no output file (nor a temporary one). A build without FFmpeg must say
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

odd_size() {
    ff -f lavfi -i testsrc=size=37x29:rate=5 -t 1 -c:v ffv1 "$scratch/odd.mkv"
    "$bin" stylize --model "$model" "$scratch/odd.mkv" "$out/odd.mp4" 2>"$scratch/odd.err"
    cat "$scratch/odd.err"
    grep -q "4:4:4" "$scratch/odd.err" &&
        [ "$(ffprobe -v error -show_entries stream=width,height,pix_fmt -of csv=p=0 \
            "$out/odd.mp4")" = "37,29,yuv444p" ] &&
        [ "$(streams "$out/odd.mp4")" = "video,5" ]
}
check "an odd frame size: kept, encoded 4:4:4, reported" odd_size
rm -f "$out"/*

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
