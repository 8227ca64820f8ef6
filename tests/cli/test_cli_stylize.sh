#!/usr/bin/env bash
# The `libstyle` tool end to end on generated fixtures (a random small model, PNG/JPEG/RGBA
# images) and, where ../shared is present, on a real imported ml5 model and a real photo.
#
# Usage: test_cli_stylize.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR [SHARED_DIR]
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-stylize
shared=${4:-}
rm -rf "$scratch"
mkdir -p "$scratch/out"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

stylize_png() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/styled.png" &&
        "$fixtures" check "$scratch/styled.png" 37 29 3
}
check "stylize PNG -> PNG keeps the size" stylize_png

stylize_jpg() {
    "$bin" stylize --threads 1 --model "$model" "$scratch/photo.jpg" "$scratch/styled.jpg" &&
        "$fixtures" check "$scratch/styled.jpg" 37 29 3
}
check "stylize JPEG -> JPEG, 1 thread" stylize_jpg

stylize_rgba() {
    "$bin" stylize --model "$model" "$scratch/sprite.png" "$scratch/sprite-styled.png" &&
        "$fixtures" check "$scratch/sprite-styled.png" 20 16 4
}
check "stylize RGBA keeps alpha channel" stylize_rgba

deterministic() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/again.png" &&
        cmp "$scratch/styled.png" "$scratch/again.png"
}
check "same input, same output bytes" deterministic

out_dir() {
    "$bin" stylize --quiet --model "$model" --out-dir "$scratch/out" "$scratch/photo.png" \
        "$scratch/sprite.png" &&
        "$fixtures" check "$scratch/out/photo.png" 37 29 3 &&
        "$fixtures" check "$scratch/out/sprite.png" 20 16 4 &&
        [ "$(find "$scratch/out" -name '*.tmp*' | wc -l)" -eq 0 ]
}
check "--out-dir writes every input, no temporary files left" out_dir

partial_failure() {
    printf 'garbage' >"$scratch/broken.png"
    set +e
    "$bin" stylize --quiet --model "$model" --out-dir "$scratch/out" "$scratch/broken.png" \
        "$scratch/photo.jpg" 2>"$scratch/err"
    local rc=$?
    set -e
    [ "$rc" -eq 1 ] && grep -q "broken.png" "$scratch/err" &&
        "$fixtures" check "$scratch/out/photo.jpg" 37 29 3 && [ ! -e "$scratch/out/broken.png" ]
}
check "one bad input: exit 1, names it, the others still done" partial_failure

info_ok() {
    "$bin" info "$model" >"$scratch/info" && grep -q "parameters:" "$scratch/info" &&
        grep -q "widths:.*8 16 32" "$scratch/info" && grep -q "residual_blocks: *2" "$scratch/info"
}
check "info prints architecture and parameter count" info_ok

budget() {
    "$bin" stylize --memory-budget 1 --model "$model" "$scratch/big.png" "$scratch/budget.png" &&
        "$fixtures" check "$scratch/budget.png" 256 256 3 &&
        "$bin" stylize --band-rows 16 --model "$model" "$scratch/big.png" "$scratch/bands.png" &&
        "$bin" stylize --model "$model" "$scratch/big.png" "$scratch/whole.png" &&
        cmp "$scratch/whole.png" "$scratch/bands.png"
}
check "over the memory budget: runs in bands; forced bands match the whole image" budget

budget_too_small() {
    expect_status 1 "memory budget" "$bin" stylize --memory-budget 1 --model "$model" \
        "$scratch/wide.png" "$scratch/wide-styled.png" && [ ! -e "$scratch/wide-styled.png" ]
}
check "a budget too small even for one row: clear error, no output file" budget_too_small

tileable() {
    "$bin" stylize --tileable --model "$model" "$scratch/photo.png" "$scratch/tiled.png" &&
        "$fixtures" check "$scratch/tiled.png" 37 29 3 && ! cmp -s "$scratch/tiled.png" "$scratch/styled.png" &&
        "$bin" stylize --help | grep -q -- "--tileable"
}
check "--tileable runs (37x29: resampled periodically) and changes the result" tileable

band_rows_usage() {
    expect_status 2 "--band-rows" "$bin" stylize --band-rows 0 --model "$model" \
        "$scratch/photo.png" "$scratch/x.png"
}
check "--band-rows 0: usage error" band_rows_usage

if [ -n "$shared" ] && [ -d "$shared/models/ml5/udnie" ]; then
    real_model() {
        "$bin" import-ml5 --name udnie "$shared/models/ml5/udnie" "$scratch/udnie.safetensors" &&
            "$bin" info "$scratch/udnie.safetensors" | grep -q "tf_same" &&
            "$bin" stylize --model "$scratch/udnie.safetensors" \
                "$shared/datasets/photos/content/gnome-control-center-data__mountain.jpg" \
                "$scratch/mountain-udnie.jpg" &&
            "$fixtures" check "$scratch/mountain-udnie.jpg" 512 512 3
    }
    check "real ml5 model: import, info, stylize a real photo" real_model
else
    echo "skipping: real ml5 model ($shared/models/ml5 not found)"
fi

finish
