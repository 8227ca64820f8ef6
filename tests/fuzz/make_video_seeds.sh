#!/usr/bin/env bash
# Writes the seeds of the fuzz_video target (tests/fuzz/seeds/video/): tiny clips (16 x 16 or
# so, 2-4 frames, under 16 KiB each) in the containers and codecs FFmpeg meets most, some
# with audio, with the ffmpeg command (Debian package ffmpeg).
#   tests/fuzz/make_video_seeds.sh
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/seeds/video
mkdir -p "$out"
ff() { ffmpeg -nostdin -v error -y -bitexact "$@"; }
src=(-f lavfi -i testsrc=size=16x16:rate=4 -t 0.75)
tone=(-f lavfi -i sine=frequency=440:sample_rate=8000 -t 0.75)
ff "${src[@]}" "${tone[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac \
    -movflags +faststart "$out/h264-aac.mp4"
ff "${src[@]}" "${tone[@]}" -c:v ffv1 -c:a pcm_s16le "$out/ffv1-pcm.mkv"
ff "${src[@]}" -c:v libvpx-vp9 -b:v 0 -crf 50 "$out/vp9.webm"
ff "${src[@]}" "${tone[@]}" -c:v mpeg4 -c:a libvorbis "$out/mpeg4-vorbis.avi"
ff "${src[@]}" -c:v mpeg2video "$out/mpeg2.mpg"
ff "${src[@]}" -c:v libx264 -preset ultrafast -pix_fmt yuv444p "$out/h264-444.ts"
ff -f lavfi -i testsrc=size=15x9:rate=4 -t 0.5 -pix_fmt yuv444p "$out/odd.y4m"
ff -f lavfi -i "testsrc=size=12x8:rate=4,format=rgba" -t 0.5 -c:v png "$out/png-rgba.mov"
ff -f lavfi -i testsrc=size=16x16:rate=4 -t 0.5 -c:v gif "$out/anim.gif"
ls -l "$out"
