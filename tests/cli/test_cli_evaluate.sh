#!/usr/bin/env bash
# `libstyle evaluate` end to end: usage errors always; where ../shared holds the darknet-tiny
# loss network and the photos, a tiny model trained here (2 iterations, with --exclude
# refusing a held-out photo) is found again by its provenance (--search) and evaluated on 2
# tiny photos with overridden sizes (--size 32, 3 Gatys iterations): the summary, the CSV
# and JSON reports, the contact sheets, the cache on a second run, a clear error for a
# missing style image; the bundled AdaIN model on 2 photos x 2 styles (--styles with
# --style-list): a row per pair, medians per style, sheets per style, a curve per pair.
#
# Usage: test_cli_evaluate.sh LIBSTYLE_BINARY SCRATCH_DIR [SHARED_DIR]
set -eu
bin=$1
scratch=$2/cli-evaluate
shared=${3:-}
rm -rf "$scratch"
mkdir -p "$scratch"

source "$(dirname "$0")/check.sh"

expect() { expect_status "$1" "$2" "$bin" "${@:3}"; }

help_text() {
    "$bin" evaluate --help | grep -q -- '--gatys-iterations' && "$bin" --help | grep -q evaluate
}
check "evaluate --help lists the options; listed in the command table" help_text
check "--model and --photos are required" expect 2 "required" evaluate --photos d
check "--size is checked" expect 2 "16..16384" evaluate --model m --photos d --size 3
check "missing model is named" expect 1 "no-such-model" evaluate \
    --model "$scratch/no-such-model.safetensors" --photos "$scratch"

net=$shared/lossnets/darknet-tiny.safetensors
photos=$shared/datasets/photos/content
style=$shared/datasets/photos/style/opencv-doc__starry_night.jpg
if [ -z "$shared" ] || [ ! -r "$net" ] || [ ! -r "$style" ] ||
    [ ! -r "$photos/budgie-core__default.jpg" ] || [ ! -r "$photos/lxqt-themes__cloud.jpg" ]; then
    echo "skipping: real runs (darknet-tiny or the photos not found under '${shared}')"
else
    mkdir -p "$scratch/search" "$scratch/data" "$scratch/heldout"
    cp "$net" "$style" "$scratch/search/"
    cp "$photos/budgie-core__default.jpg" "$photos/lxqt-themes__cloud.jpg" "$scratch/data/"
    cp "$photos/lxqt-themes__cloud.jpg" "$scratch/data/copy-of-cloud.jpg"
    cp "$photos/budgie-core__default.jpg" "$photos/lxqt-themes__cloud.jpg" "$scratch/heldout/"
    (cd "$scratch/heldout" && sha256sum lxqt-themes__cloud.jpg >"$scratch/heldout.sha256")
    train() {
        "$bin" train --style-image "$scratch/search/opencv-doc__starry_night.jpg" \
            --data "$scratch/data" --loss-net "$scratch/search/darknet-tiny.safetensors" \
            --out "$scratch/model.safetensors" --exclude "$scratch/heldout.sha256" \
            --iterations 2 --batch 1 --crop 32 --style-size 32 --width half --threads 1 \
            2>"$scratch/train.log" &&
            grep -q "refusing .*copy-of-cloud.jpg" "$scratch/train.log" &&
            grep -q "refusing .*lxqt-themes__cloud.jpg" "$scratch/train.log" &&
            "$bin" info "$scratch/model.safetensors" | grep "libstyle.training" >"$scratch/training" &&
            grep -q '"style_image":"opencv-doc__starry_night.jpg","data_dir":"data"' \
                "$scratch/training" &&
            grep -q '"exclude_sha256"' "$scratch/training" && ! grep -q "/" "$scratch/training"
    }
    check "train --exclude refuses held-out photos by hash; no paths recorded" train

    widths() {
        for w in quarter 8,12,24; do
            "$bin" train --style-image "$scratch/search/opencv-doc__starry_night.jpg" \
                --data "$scratch/data" --loss-net "$scratch/search/darknet-tiny.safetensors" \
                --out "$scratch/narrow.safetensors" --iterations 1 --batch 1 --crop 32 \
                --width "$w" --blocks 2 --threads 1 -q || return 1
            "$bin" info "$scratch/narrow.safetensors" >"$scratch/narrow.txt" || return 1
            case $w in
            quarter) grep -q "^widths: *8 16 32$" "$scratch/narrow.txt" || return 1 ;;
            *) grep -q "^widths: *8 12 24$" "$scratch/narrow.txt" || return 1 ;;
            esac
        done
        for bad in 8,16 8,16,32,64 0,16,32 wide; do
            "$bin" train --style-image "$scratch/search/opencv-doc__starry_night.jpg" \
                --data "$scratch/data" --loss-net "$scratch/search/darknet-tiny.safetensors" \
                --out "$scratch/bad.safetensors" --width "$bad" 2>"$scratch/bad.log"
            [ $? -eq 2 ] && grep -q -- "--width is full, half, quarter or three" "$scratch/bad.log" &&
                [ ! -e "$scratch/bad.safetensors" ] || return 1
        done
    }
    check "train --width quarter and A,B,C make those widths; bad widths are usage errors" widths

    run() {
        "$bin" evaluate --model "$scratch/model.safetensors" --photos "$scratch/heldout" \
            --search "$scratch/search" --out-dir "$scratch/out" --cache "$scratch/cache" \
            --size 32 --gatys-iterations 3 --threads 1 >"$scratch/summary.txt" \
            2>"$scratch/progress.log"
    }
    evaluate() {
        run && grep -q "^definition johnson-gatys-v1 (with overrides)" "$scratch/summary.txt" &&
            grep -q "^photos 2$" "$scratch/summary.txt" &&
            grep -q "^gatys_equivalent " "$scratch/summary.txt" &&
            grep -q "Gatys iteration 3/3" "$scratch/progress.log" &&
            [ "$(wc -l <"$scratch/out/report.csv")" -eq 3 ] &&
            grep -q '"overridden": true' "$scratch/out/report.json" &&
            [ -s "$scratch/out/sheets/budgie-core__default.png" ] &&
            [ -s "$scratch/out/sheets/lxqt-themes__cloud.png" ] &&
            [ "$(ls "$scratch/cache" | wc -l)" -eq 4 ]
    }
    check "evaluate: summary, reports, sheets, cache" evaluate
    cached() {
        cp "$scratch/out/report.csv" "$scratch/first.csv"
        run && grep -q "Gatys curve from the cache" "$scratch/progress.log" &&
            ! grep -q "Gatys iteration" "$scratch/progress.log" &&
            cmp "$scratch/first.csv" "$scratch/out/report.csv"
    }
    check "a second run takes the curves from the cache, same numbers" cached
    check "no --search: the error names the style image and the option" expect 1 \
        "opencv-doc__starry_night.jpg.*--search" evaluate \
        --model "$scratch/model.safetensors" --photos "$scratch/heldout" --size 32
    check "a johnson model given two styles is refused" expect 1 \
        "single-style (johnson).*at most one --style-image" evaluate \
        --model "$scratch/model.safetensors" --photos "$scratch/heldout" --size 32 \
        --search "$scratch/search" --style-image "$style" --style-image "$style"

    # The bundled AdaIN model on 2 photos x 2 styles (a folder narrowed by a list).
    adain=$(dirname "$0")/../../models/adain-darknet.safetensors
    mkdir -p "$scratch/styles"
    cp "$style" "$shared/datasets/photos/style/python3-skimage__brick.jpg" "$scratch/styles/"
    cp "$photos/budgie-core__default.jpg" "$scratch/styles/not-listed.jpg"
    (cd "$scratch/styles" && sha256sum opencv-doc__starry_night.jpg python3-skimage__brick.jpg \
        >"$scratch/styles.sha256")
    check "an AdaIN model with no style: the error names the model and the options" expect 1 \
        "adain-darknet.safetensors.*--style-image.*--styles" evaluate --model "$adain" \
        --photos "$scratch/heldout" --search "$scratch/search" --size 32
    adain_run() {
        "$bin" evaluate --model "$adain" --photos "$scratch/heldout" --search "$scratch/search" \
            --styles "$scratch/styles" --style-list "$scratch/styles.sha256" \
            --out-dir "$scratch/adain" --cache "$scratch/adain-cache" --size 32 \
            --style-size 32 --gatys-iterations 2 --threads 1 >"$scratch/adain.txt" \
            2>"$scratch/adain.log" &&
            grep -q "^photos 4$" "$scratch/adain.txt" && grep -q "^styles 2$" "$scratch/adain.txt" &&
            grep -q "^style python3-skimage__brick.jpg photos 2 total_ratio" "$scratch/adain.txt" &&
            grep -q "^style opencv-doc__starry_night.jpg photos 2 " "$scratch/adain.txt" &&
            grep -q "python3-skimage__brick.jpg: lxqt-themes__cloud.jpg: total" \
                "$scratch/adain.log" &&
            [ "$(wc -l <"$scratch/adain/report.csv")" -eq 5 ] &&
            grep -q "^lxqt-themes__cloud.jpg,python3-skimage__brick.jpg," \
                "$scratch/adain/report.csv" &&
            ! grep -q "not-listed" "$scratch/adain/report.csv" &&
            grep -q '"arch": "adain"' "$scratch/adain/report.json" &&
            [ -s "$scratch/adain/sheets/python3-skimage__brick/budgie-core__default.png" ] &&
            [ -s "$scratch/adain/sheets/opencv-doc__starry_night/lxqt-themes__cloud.png" ] &&
            [ "$(ls "$scratch/adain-cache" | wc -l)" -eq 8 ]
    }
    check "evaluate an AdaIN model: a row per (style, photo), medians per style, sheets, cache" \
        adain_run
fi

finish
