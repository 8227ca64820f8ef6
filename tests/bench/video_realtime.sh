#!/bin/bash
# Video in real time (issue 19): frames per second of the network alone (libstyle bench) and
# end to end (decode + stylize + encode, `libstyle stylize`) at 640x360, 1280x720 and
# 1920x1080, for each model given and each precision this processor runs, plus the PSNR of
# bf16 / int8 frames against fp32 (PNG frame sequences, so no codec noise). Every input frame
# is in the output at the input's size (--scale 1); x264 crf 18, presets ultrafast and
# veryfast. Run it on a quiet machine: every line is a wall-clock time.
#
# Usage: tests/bench/video_realtime.sh BUILD_DIR SHARED_DIR WORK_DIR MODEL...
set -euo pipefail
build=$(realpath "$1") shared=$(realpath "$2") work=$3
shift 3
models=()
for model in "$@"; do models+=("$(realpath "$model")"); done
set -- "${models[@]}"
mkdir -p "$work" && cd "$work"
libstyle=$build/libstyle
sizes="640x360 1280x720 1920x1080"
precisions="fp32"
for p in bf16 int8; do
    if "$libstyle" bench --help >/dev/null 2>&1 && "$libstyle" bench --model "$1" --sizes 16 \
        --precision "$p" --runs 1 --warmup 0 --threads 1 --no-layers >/dev/null 2>&1; then
        precisions="$precisions $p"
    fi
done
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), precisions: $precisions"

# The first 2 s (50 frames) of the city clip at each size.
for size in $sizes; do
    [ -f "city-$size.mp4" ] || ffmpeg -v error -y -i "$shared/datasets/video/cityCC0.mpg" -t 2 \
        -vf "scale=$size" -c:v libx264 -preset veryfast -crf 18 -an "city-$size.mp4"
done
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 city-1280x720.mp4)
echo "clips: $frames frames each"

for model in "$@"; do
    name=$(basename "$model" .safetensors)
    echo "== $name: network alone (median of 7 runs, 2 threads)"
    for p in $precisions; do
        "$libstyle" bench --model "$model" --sizes "${sizes// /,}" --precision "$p" --runs 7 \
            --threads 2 --no-layers | grep -E "^[0-9]+x"
    done
    echo "== $name: end to end (decode + stylize + encode), fps = $frames frames / wall"
    for size in $sizes; do
        for p in $precisions; do
            # fp32 end to end only at the smallest size where bf16 runs (it is not the real-time
            # candidate there; the network-alone lines above give its speed at every size).
            [ "$p" = fp32 ] && [ "$size" != 640x360 ] && [ "$precisions" != fp32 ] && continue
            for preset in ultrafast veryfast; do
                /usr/bin/time -f "$name $size $p $preset wall %e s user %U s" "$libstyle" \
                    stylize -q --threads 2 --precision "$p" --preset "$preset" --model "$model" \
                    "city-$size.mp4" "out-$name-$size-$p-$preset.mp4" 2>&1 |
                    awk -v n="$frames" '/wall/ {printf "%s (%.2f fps)\n", $0, n / $6}'
            done
        done
    done
    echo "== $name: PSNR against fp32 (the first 10 frames at 1280x720, PNG sequences)"
    [ -f city-10.mp4 ] || ffmpeg -v error -y -i city-1280x720.mp4 -frames:v 10 -c:v libx264 \
        -preset veryfast -crf 18 city-10.mp4
    for p in $precisions; do
        rm -rf "seq-$p"
        "$libstyle" stylize -q --threads 2 --precision "$p" --model "$model" city-10.mp4 \
            "seq-$p/%05d.png"
    done
    for p in $precisions; do
        [ "$p" = fp32 ] && continue
        ffmpeg -v info -i "seq-fp32/%05d.png" -i "seq-$p/%05d.png" -lavfi psnr -f null - 2>&1 |
            grep -o "PSNR.*" | sed "s/^/$name $p: /"
    done
done
