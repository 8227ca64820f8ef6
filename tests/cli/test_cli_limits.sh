#!/usr/bin/env bash
# Issue 23, items 2, 4, 7 and 9 from the command line: training refuses styles that share a
# name before it starts; a numeric option of 0 means off or is refused, never silently the
# default; output names up to 255 bytes work; --tileable --scale is a usage error before any
# loading; a forced band height is not blamed on the memory budget; bench --csv has a header
# and no MiB/MP for tiny images; every command takes up to 4096 threads (as Python does).
#
# Usage: test_cli_limits.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-limits
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
"$fixtures" train "$scratch/train"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

# A tiny training run's arguments (--style-image and --out come from the caller).
tiny=(--data "$scratch/train/photos" --loss-net "$scratch/train/net.safetensors" --crop 16
    --batch 1 --iterations 2 --width half --blocks 1 --threads 2 -q)

# The libstyle.training metadata of a model, one line.
training_of() {
    "$bin" info "$1" | grep 'libstyle.training'
}

duplicate_style_names() {
    mkdir -p "$scratch/a" "$scratch/b"
    cp "$scratch/train/style.png" "$scratch/a/painting.png"
    cp "$scratch/photo.png" "$scratch/b/painting.png"
    expect_status 1 "both named 'painting'.*--style-name" "$bin" train \
        --style-image "$scratch/a/painting.png" --style-image "$scratch/b/painting.png" \
        "${tiny[@]}" --out "$scratch/cin2.safetensors" &&
        [ ! -e "$scratch/cin2.safetensors" ] && [ ! -e "$scratch/cin2.safetensors.ckpt" ] &&
        "$bin" train --style-image "$scratch/a/painting.png" \
            --style-image "$scratch/b/painting.png" --style-name photo "${tiny[@]}" \
            --out "$scratch/cin2.safetensors" &&
        "$bin" info "$scratch/cin2.safetensors" | grep -q "photo"
}
check "train: two style images named alike are refused before training (item 2)" \
    duplicate_style_names

zero_weights() {
    "$bin" train --style-image "$scratch/train/style.png" --content-weight 0 "${tiny[@]}" \
        --loss-log "$scratch/c0.csv" --out "$scratch/c0.safetensors" &&
        training_of "$scratch/c0.safetensors" | grep -q '"content_weight":0.0,"style_weight":2.0' &&
        awk -F, 'NR > 1 && $2 != 0 { exit 1 }' "$scratch/c0.csv" &&
        "$bin" train --style-image "$scratch/train/style.png" --style-weight 0 "${tiny[@]}" \
            --out "$scratch/s0.safetensors" &&
        training_of "$scratch/s0.safetensors" | grep -q '"content_weight":1.0,"style_weight":0.0' &&
        expect_status 1 "every loss term is off" "$bin" train \
            --style-image "$scratch/train/style.png" --content-weight 0 --style-weight 0 \
            --tv-weight 0 "${tiny[@]}" --out "$scratch/none.safetensors"
}
check "train --content-weight 0 / --style-weight 0 turn the term off (item 4)" zero_weights

zero_means_default_refused() {
    local option
    for option in --memory-budget --max-pixels; do
        expect_status 2 "$option expects .* above 0" "$bin" stylize "$option" 0 \
            --model "$model" "$scratch/photo.png" "$scratch/never.png" || return 1
    done
    [ ! -e "$scratch/never.png" ]
}
check "stylize --memory-budget 0 / --max-pixels 0: usage errors, not the default (item 4)" \
    zero_means_default_refused

long_output_name() {
    local name
    name=$(printf 'n%.0s' $(seq 1 251)).png # 255 bytes, the most a name may have
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/$name" &&
        "$fixtures" check "$scratch/$name" 37 29 3 &&
        [ "$(find "$scratch" -maxdepth 1 -name 'nnnn*' | wc -l)" -eq 1 ] # no temporary left
}
check "an output name of 255 bytes is written (item 7)" long_output_name

tileable_scale_usage() {
    # a model that does not exist: refused before anything is loaded
    expect_status 2 "--tileable needs --scale 1" "$bin" stylize --tileable --scale 0.5 \
        --model "$scratch/no-such-model.safetensors" --out-dir "$scratch" "$scratch/photo.png" &&
        "$bin" stylize --tileable --scale 1 --model "$model" "$scratch/big.png" \
            "$scratch/tiled.png"
}
check "--tileable --scale 0.5: a usage error before loading (item 9)" tileable_scale_usage

forced_bands_message() {
    expect_status 1 "band rows were set" "$bin" stylize --tileable --band-rows 16 \
        --model "$model" "$scratch/photo.png" "$scratch/banded.png" &&
        ! grep -q "memory budget" "$scratch/err.txt"
}
check "--tileable --band-rows on 37x29: the message names the forced bands (item 9)" \
    forced_bands_message

bench_csv() {
    "$bin" bench --model "$model" --sizes 1,256 --runs 1 --warmup 0 --csv --no-layers -p fp32 \
        >"$scratch/bench.csv" &&
        cat "$scratch/bench.csv" &&
        [ "$(head -1 "$scratch/bench.csv" | cut -d, -f1-3)" = "columns,peak,threads" ] &&
        # each record has as many fields as its header names
        awk -F, '$1 == "columns" { n[$2] = NF - 1; next } NF != n[$1] { exit 1 }' \
            "$scratch/bench.csv" &&
        # MiB/MP (field 15): none at 1x1, a plain number at 256x256
        awk -F, '$1 == "size" && $2 == "1x1" && $15 != -1 { exit 1 }
                 $1 == "size" && $2 == "256x256" && ($15 < 0 || $15 > 100000) { exit 1 }' \
            "$scratch/bench.csv"
}
check "bench --csv: a header naming every record's fields, no MiB/MP at 1x1 (item 9)" bench_csv

thread_limit() {
    "$bin" stylize --threads 4096 --model "$model" "$scratch/photo.png" "$scratch/t.png" &&
        expect_status 2 "--threads expects 0..4096" "$bin" stylize --threads 4097 \
            --model "$model" "$scratch/photo.png" "$scratch/t.png" &&
        expect_status 2 "--threads expects 0..4096" "$bin" bench --threads 4097 --model "$model" &&
        expect_status 2 "--threads expects 0..4096" "$bin" train --threads 4097 &&
        expect_status 2 "--threads expects 0..4096" "$bin" optimize --threads 4097 &&
        expect_status 2 "--threads expects 0..4096" "$bin" train-adain --threads 4097
}
check "--threads: 0..4096 in every command, as in Python (item 9)" thread_limit

finish
