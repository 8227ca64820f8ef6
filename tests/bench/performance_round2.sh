#!/bin/bash
# The measurements of the second performance round (issue 17), one after the other in one run,
# for docs/performance.md "Second round": training against PyTorch in fp32 and bf16, the
# inference bench with its labelled peaks at 512² and 1024², the inference peers, the one-shot
# latency of a whole `libstyle stylize` process, and an 8192² image end to end. Run it on a
# quiet machine (every number is a wall-clock time); it prints the CPU model first.
#
# Usage: tests/bench/performance_round2.sh BUILD_DIR SHARED_DIR WORK_DIR [THREADS]
#   BUILD_DIR   a Release build (BUILD_DIR/libstyle)
#   SHARED_DIR  ../shared (lossnets/darknet-tiny.safetensors)
#   WORK_DIR    scratch folder (the 1024² and 8192² inputs and the outputs)
set -euo pipefail
build=$(realpath "$1") shared=$(realpath "$2") work=$3 threads=${4:-2}
repo=$(dirname "$(realpath "$0")")/../..
mkdir -p "$work"
libstyle=$build/libstyle
python=/usr/bin/python3

echo "== machine"
lscpu | grep -E "Model name|^CPU\(s\)"
grep -o -w -E "avx512f|avx512_bf16|avx512_vnni|amx_bf16|amx_int8|amx_tile" /proc/cpuinfo | sort -u |
    tr '\n' ' '
echo
date -u

echo "== training step against PyTorch: full width, VGG-16-shaped loss network, batch 4 at 256²"
$python "$repo/tests/bench/train_peers.py" --libstyle "$libstyle" --libstyle-precision fp32,bf16 \
    --width full --batch 4 --crop 256 --threads "$threads" --warmup 1 --iterations 3
echo "== training step against PyTorch: half width, darknet-tiny, batch 4 at 256²"
$python "$repo/tests/bench/train_peers.py" --libstyle "$libstyle" --libstyle-precision fp32,bf16 \
    --width half --loss-net "$shared/lossnets/darknet-tiny.safetensors" --batch 4 --crop 256 \
    --threads "$threads" --warmup 1 --iterations 5
echo "== libstyle bench --train, full width, darknet-tiny: the split (fp32, then bf16)"
for precision in fp32 bf16; do
    "$libstyle" bench --train --width full --loss-net "$shared/lossnets/darknet-tiny.safetensors" \
        --batch 4 --crop 256 --iterations 5 --warmup 1 --threads "$threads" --precision "$precision"
done

echo "== AdaIN decoder training, 12 iterations of batch 4 at 256² (darknet-tiny), fp32 then bf16"
for precision in fp32 bf16; do
    "$libstyle" train-adain --data "$shared/datasets/photos/content" \
        --styles "$shared/datasets/photos/style" \
        --loss-net "$shared/lossnets/darknet-tiny.safetensors" --out "$work/adain-$precision.safetensors" \
        --iterations 12 --checkpoint-every 1000 --threads "$threads" --precision "$precision" 2>&1 |
        grep -E "^iteration 12/|seconds|s/iteration" | tail -n 3
done

echo "== inference: libstyle bench, full-width model, 512² and 1024², every precision"
"$libstyle" bench --model "$repo/models/starry-night-full.safetensors" --sizes 512,1024 \
    --precision all --runs 10 --warmup 2 --threads "$threads"

echo "== inference peers (PyTorch, OpenCV, ONNX Runtime) at 512² and 1024²"
$python "$repo/tests/bench/peers.py" --build "$build" --sizes 512,1024 --runs 5 --warmup 1 \
    --threads "$threads" || echo "(peers.py failed: see above)"

echo "== one-shot 1024² PNG, full-width model: the whole process (5 runs)"
[ -f "$work/p1024.png" ] || ffmpeg -v error -y -i "$repo/docs/examples/city.jpg" \
    -vf scale=1024:1024 "$work/p1024.png"
for run in 1 2 3 4 5; do
    /usr/bin/time -f "process wall %e s, user %U s, sys %S s" "$libstyle" stylize -v \
        --threads "$threads" --model "$repo/models/starry-night-full.safetensors" \
        "$work/p1024.png" "$work/o1024.png" 2>&1 | grep -E "process wall|stylize"
done

echo "== 8192² photo, half-width model, default memory budget, PNG output"
[ -f "$work/p8192.png" ] || ffmpeg -v error -y -i "$repo/docs/examples/city.jpg" \
    -vf scale=8192:8192 -compression_level 1 "$work/p8192.png"
/usr/bin/time -f "process wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$libstyle" stylize -v \
    --threads "$threads" --model "$repo/models/starry-night.safetensors" "$work/p8192.png" \
    "$work/o8192.png" 2>&1 | tail -n 4
date -u
