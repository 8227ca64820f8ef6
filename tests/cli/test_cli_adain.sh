#!/usr/bin/env bash
# `libstyle train-adain` and `libstyle stylize --style-image` end to end: a tiny AdaIN
# decoder for the shared darknet-tiny network trained on generated photos and styles, then
# stylized with one style, a blend, --strength, --preserve-color; usage errors and wrong
# combinations give clear messages.
#
# Usage: test_cli_adain.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR SHARED_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-adain
shared=$4
rm -rf "$scratch"
mkdir -p "$scratch/photos" "$scratch/styles"
"$fixtures" make "$scratch"
cp "$scratch/photo.png" "$scratch/photos/a.png"
cp "$scratch/photo.jpg" "$scratch/photos/b.jpg"
cp "$scratch/big.png" "$scratch/styles/grey.png"
cp "$scratch/sprite.png" "$scratch/styles/sprite.png"
net=$shared/lossnets/darknet-tiny.safetensors
model=$scratch/adain.safetensors

source "$(dirname "$0")/check.sh"

train() {
    "$bin" train-adain --data "$scratch/photos" --styles "$scratch/styles" --loss-net "$net" \
        --out "$model" --iterations 4 --batch 1 --crop 32 --threads 2 --checkpoint-every 2 -q &&
        [ -f "$model" ] && [ -f "$model.ckpt" ] &&
        "$bin" info "$model" | grep -q "arch: *adain"
}
check "train-adain writes a model and a checkpoint" train

resume() {
    "$bin" train-adain --resume "$model.ckpt" --out "$model" --iterations 6 -q &&
        "$bin" info "$model" | grep -q '"iterations":6'
}
check "train-adain --resume continues" resume

warm_start() {
    sha256sum "$scratch/photos/b.jpg" >"$scratch/heldout.sha256" &&
        "$bin" train-adain --data "$scratch/photos" --styles "$scratch/styles" --loss-net "$net" \
            --out "$scratch/warm.safetensors" --init "$model" --iterations 2 --batch 1 --crop 32 \
            --threads 2 --color-weight 1 --loss-shift 4 --max-short-side 40 \
            --exclude "$scratch/heldout.sha256" -q 2>"$scratch/warm.err" &&
        grep -q "b.jpg: held out by" "$scratch/warm.err" &&
        "$bin" info "$scratch/warm.safetensors" >"$scratch/warm.txt" &&
        grep -q '"init_model":"adain.safetensors"' "$scratch/warm.txt" &&
        grep -q '"loss_shift":4' "$scratch/warm.txt" && grep -q '"exclude":"heldout.sha256"' "$scratch/warm.txt"
}
check "train-adain --init --color-weight --loss-shift --max-short-side --exclude" warm_start
check "train-adain --loss-shift is at most a quarter of the crop" \
    expect_status 1 "loss shift 9 is not in 0..8" "$bin" train-adain --data "$scratch/photos" \
    --styles "$scratch/styles" --loss-net "$net" --out "$scratch/x.safetensors" --crop 32 \
    --loss-shift 9

one_style() {
    "$bin" stylize --model "$model" --style-image "$scratch/styles/grey.png" \
        "$scratch/photo.png" "$scratch/out1.png" &&
        "$fixtures" check "$scratch/out1.png" 37 29 3
}
check "stylize with a style image keeps the size" one_style

tileable() {
    "$bin" stylize --model "$model" --style-image "$scratch/styles/grey.png" --tileable \
        "$scratch/photo.png" "$scratch/tiled.png" &&
        "$fixtures" check "$scratch/tiled.png" 37 29 3 &&
        ! cmp -s "$scratch/out1.png" "$scratch/tiled.png"
}
check "--tileable runs (37x29: resampled periodically) and changes the result" tileable

blend() {
    "$bin" stylize --model "$model" --style-image "$scratch/styles/grey.png" \
        --style-image "$scratch/photo.jpg" --style-weights 1,3 --strength 0.6 --preserve-color \
        --style-size 64 "$scratch/sprite.png" "$scratch/out2.png" &&
        "$fixtures" check "$scratch/out2.png" 20 16 4
}
check "blend, strength, preserve-color, RGBA" blend

shipped() {
    local models
    models=$(dirname "$0")/../../models
    "$bin" stylize --model "$models/adain-darknet.safetensors" \
        --style-image "$shared/datasets/photos/style/opencv-doc__starry_night.jpg" \
        --style-size 128 "$scratch/photo.png" "$scratch/shipped.png" &&
        "$fixtures" check "$scratch/shipped.png" 37 29 3
}
check "the shipped decoder stylizes with a style it never saw" shipped

check "an AdaIN model without a style image is refused" \
    expect_status 1 "give one with --style-image" "$bin" stylize --model "$model" "$scratch/photo.png" \
    "$scratch/out3.png"
check "a style image with a Johnson model is refused" \
    expect_status 1 "--style-image needs an AdaIN model" "$bin" stylize --model "$scratch/model.safetensors" \
    --style-image "$scratch/styles/grey.png" "$scratch/photo.png" "$scratch/out4.png"
check "weights must match the style images" \
    expect_status 2 "style-weights" "$bin" stylize --model "$model" --style-image \
    "$scratch/styles/grey.png" --style-weights 1,2 "$scratch/photo.png" "$scratch/out5.png"
check "strength outside 0..1 is a usage error" \
    expect_status 2 "strength" "$bin" stylize --model "$model" --strength 2 \
    "$scratch/photo.png" "$scratch/out6.png"
check "a missing style image is named" \
    expect_status 1 "nothere.png" "$bin" stylize --model "$model" --style-image \
    "$scratch/nothere.png" "$scratch/photo.png" "$scratch/out7.png"
bench_adain() {
    "$bin" bench --model "$model" --sizes 64,48x40 --runs 3 --warmup 1 --threads 2 \
        --precision all >"$scratch/bench.txt" &&
        grep -q "^64x64 *fp32 " "$scratch/bench.txt" && grep -q "^48x40 *fp32 " "$scratch/bench.txt" &&
        ! grep -q "int8 " <(grep "^[0-9]" "$scratch/bench.txt")
}
check "bench times an AdaIN model (fp32, and bf16 where native; no int8)" bench_adain
check "bench refuses int8 for an AdaIN model" \
    expect_status 1 "fp32 or bf16" "$bin" bench --model "$model" --precision int8
check "train-adain needs --styles" \
    expect_status 2 "styles" "$bin" train-adain --data "$scratch/photos" --loss-net "$net" \
    --out "$scratch/x.safetensors"

finish
