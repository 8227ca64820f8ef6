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

passed=0
failed=0
check() {
    local name=$1
    shift
    if "$@" >"$scratch/log" 2>&1; then
        passed=$((passed + 1))
        echo "PASS: $name"
    else
        failed=$((failed + 1))
        echo "FAIL: $name"
        sed 's/^/    /' "$scratch/log"
    fi
}

# fails with exit code $1 and a message matching $2
expect_failure() {
    local code=$1 pattern=$2
    shift 2
    local rc=0
    "$@" 2>"$scratch/err" || rc=$?
    [ "$rc" = "$code" ] && grep -q -- "$pattern" "$scratch/err"
}

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

one_style() {
    "$bin" stylize --model "$model" --style-image "$scratch/styles/grey.png" \
        "$scratch/photo.png" "$scratch/out1.png" &&
        "$fixtures" check "$scratch/out1.png" 37 29 3
}
check "stylize with a style image keeps the size" one_style

blend() {
    "$bin" stylize --model "$model" --style-image "$scratch/styles/grey.png" \
        --style-image "$scratch/photo.jpg" --style-weights 1,3 --strength 0.6 --preserve-color \
        --style-size 64 "$scratch/sprite.png" "$scratch/out2.png" &&
        "$fixtures" check "$scratch/out2.png" 20 16 4
}
check "blend, strength, preserve-color, RGBA" blend

check "an AdaIN model without a style image is refused" \
    expect_failure 1 "needs a style" "$bin" stylize --model "$model" "$scratch/photo.png" \
    "$scratch/out3.png"
check "a style image with a Johnson model is refused" \
    expect_failure 1 "not an AdaIN model" "$bin" stylize --model "$scratch/model.safetensors" \
    --style-image "$scratch/styles/grey.png" "$scratch/photo.png" "$scratch/out4.png"
check "weights must match the style images" \
    expect_failure 2 "style-weights" "$bin" stylize --model "$model" --style-image \
    "$scratch/styles/grey.png" --style-weights 1,2 "$scratch/photo.png" "$scratch/out5.png"
check "strength outside 0..1 is a usage error" \
    expect_failure 2 "strength" "$bin" stylize --model "$model" --strength 2 \
    "$scratch/photo.png" "$scratch/out6.png"
check "a missing style image is named" \
    expect_failure 1 "nothere.png" "$bin" stylize --model "$model" --style-image \
    "$scratch/nothere.png" "$scratch/photo.png" "$scratch/out7.png"
check "train-adain needs --styles" \
    expect_failure 2 "styles" "$bin" train-adain --data "$scratch/photos" --loss-net "$net" \
    --out "$scratch/x.safetensors"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
