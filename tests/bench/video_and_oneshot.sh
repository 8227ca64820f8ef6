#!/bin/bash
# Video end to end against the network alone and the codecs alone, and the one-shot latency
# of a whole `libstyle stylize` process against `libstyle bench` (docs/video.md "Speed",
# docs/performance.md "One-shot latency"). Run it on a quiet machine: every line is a
# wall-clock time.
#
# Usage: tests/bench/video_and_oneshot.sh BUILD_DIR SHARED_DIR WORK_DIR
#   BUILD_DIR   a Release build (BUILD_DIR/libstyle)
#   SHARED_DIR  ../shared (its datasets/video/cityCC0.mpg is the source clip)
#   WORK_DIR    scratch folder for the clips and outputs
set -euo pipefail
build=$(realpath "$1") shared=$(realpath "$2") work=$3
models=$(dirname "$(realpath "$0")")/../../models
mkdir -p "$work" && cd "$work"
libstyle=$build/libstyle
sizes="640x360 1280x720 1920x1080"

# Test clips: the first 2 s (50 frames) of the city clip at each size.
for size in $sizes; do
    [ -f "city-$size.mp4" ] || ffmpeg -v error -y -i "$shared/datasets/video/cityCC0.mpg" -t 2 \
        -vf "scale=$size" -c:v libx264 -preset veryfast -crf 18 -an "city-$size.mp4"
done
# A 1024 x 1024 PNG for the one-shot latency (the bundled city photo, stretched).
[ -f p1024.png ] || ffmpeg -v error -y -i "$models/../docs/examples/city.jpg" -vf scale=1024:1024 \
    p1024.png

echo "== one-shot 1024x1024 PNG, full-width model: the whole process, then bench (alternating)"
for run in 1 2 3 4 5; do
    /usr/bin/time -f "process wall %e s, user %U s, sys %S s" "$libstyle" stylize -v --threads 2 \
        --model "$models/starry-night-full.safetensors" p1024.png o1024.png 2>&1 |
        grep -E "stylize|wall"
    "$libstyle" bench --model "$models/starry-night-full.safetensors" --sizes 1024 \
        --precision fp32 --runs 3 --warmup 1 --threads 2 --no-layers | grep "^1024"
done

echo "== video end to end (half-width starry-night, crf 18)"
for size in $sizes; do
    for preset in medium veryfast; do
        /usr/bin/time -f "$size $preset wall %e s, user %U s, sys %S s, max RSS %M KB" \
            "$libstyle" stylize -q --threads 2 --preset "$preset" \
            --model "$models/starry-night.safetensors" "city-$size.mp4" "out-$size-$preset.mp4"
    done
done

echo "== codecs alone: decode, to RGB and back with libstyle's conversion flags, x264 crf 18"
for size in $sizes; do
    for preset in medium veryfast; do
        /usr/bin/time -f "codecs $size $preset wall %e s, user %U s, sys %S s" ffmpeg -v error -y \
            -threads 2 -i "city-$size.mp4" -sws_flags bicubic+accurate_rnd+full_chroma_int \
            -vf format=rgb24,format=yuv420p -c:v libx264 -preset "$preset" -crf 18 -threads 2 \
            "codecs-$size-$preset.mp4"
    done
done

echo "== network alone"
"$libstyle" bench --model "$models/starry-night.safetensors" --sizes "${sizes// /,}" \
    --precision fp32 --runs 7 --threads 2 --no-layers | grep -E "^[0-9]+x|peak"
