#!/usr/bin/env bash
# `libstyle optimize` end to end: usage errors always; where ../shared holds the darknet-tiny
# loss network and the photos, short real runs (L-BFGS, Adam with two styles and
# --preserve-color, the CSV log, Ctrl-C writing the current image). Tiny sizes, one thread.
#
# Usage: test_cli_optimize.sh LIBSTYLE_BINARY SCRATCH_DIR [SHARED_DIR]
set -eu
bin=$1
scratch=$2/cli-optimize
shared=${3:-}
rm -rf "$scratch"
mkdir -p "$scratch"

source "$(dirname "$0")/check.sh"

# expect STATUS PATTERN ARGS...: the libstyle binary with ARGS (see check.sh).
expect() { expect_status "$1" "$2" "$bin" "${@:3}"; }

# Width and height of a PNG from its IHDR chunk.
png_size() {
    od -An -tu1 -j16 -N8 "$1" | awk '{ printf "%d %d\n", $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8 }'
}

help_text() {
    "$bin" optimize --help | grep -q -- '--preserve-color' && "$bin" --help | grep -q optimize
}
check "optimize --help lists the options; listed in the command table" help_text

check "--content is required" expect 2 "required" optimize --style-image a.png \
    --loss-net n.safetensors --out o.png
check "--style-weights count must match the style images" expect 2 "2 --style-image" \
    optimize --content c.png --style-image a.png --style-image b.png --style-weights 1 \
    --loss-net n.safetensors --out o.png
check "--style-weights must be numbers" expect 2 "style-weights" optimize --content c.png \
    --style-image a.png --style-weights 1,x --loss-net n.safetensors --out o.png
check "--style-weights summing to 0" expect 2 "sum to 0" optimize --content c.png \
    --style-image a.png --style-image b.png --style-weights 0,0 --loss-net n.safetensors \
    --out o.png
check "unknown optimizer" expect 2 "lbfgs" optimize --content c.png --style-image a.png \
    --loss-net n.safetensors --out o.png --optimizer sgd
check "output extension" expect 2 ".png" optimize --content c.png --style-image a.png \
    --loss-net n.safetensors --out o.bmp
check "missing loss network file is named" expect 1 "no-such-net.safetensors" optimize \
    --content "$scratch/c.png" --style-image "$scratch/a.png" \
    --loss-net "$scratch/no-such-net.safetensors" --out "$scratch/o.png"

net=$shared/lossnets/darknet-tiny.safetensors
content=$shared/datasets/photos/content/gnome-control-center-data__mountain.jpg
style=$shared/datasets/photos/style/opencv-doc__starry_night.jpg
style2=$shared/datasets/photos/style/darknet__scream.jpg
if [ -z "$shared" ] || [ ! -r "$net" ] || [ ! -r "$content" ] || [ ! -r "$style" ] ||
    [ ! -r "$style2" ]; then
    echo "skipping: real optimisation runs (darknet-tiny or the photos not found under '${shared}')"
else
    missing_content() {
        expect 1 "missing.jpg" optimize --content "$scratch/missing.jpg" --style-image "$style" \
            --loss-net "$net" --out "$scratch/o.png" --size 48
    }
    check "missing content image is named" missing_content

    lbfgs_run() {
        "$bin" optimize --content "$content" --style-image "$style" --loss-net "$net" \
            --out "$scratch/lbfgs.png" --size 48 --iterations 3 --threads 1 \
            --log-csv "$scratch/lbfgs.csv" 2>"$scratch/err.txt" || { cat "$scratch/err.txt"; return 1; }
        grep -q "iteration 3/3" "$scratch/err.txt" &&
            [ "$(png_size "$scratch/lbfgs.png" | awk '{print ($1 > $2 ? $1 : $2)}')" -eq 48 ] &&
            [ "$(wc -l <"$scratch/lbfgs.csv")" -eq 4 ] &&
            head -1 "$scratch/lbfgs.csv" | grep -q '^iteration,evaluations,content,style,tv,total'
    }
    check "L-BFGS, 3 iterations at 48 px: PNG, progress lines, CSV" lbfgs_run

    adam_blend() {
        "$bin" optimize --content "$content" --style-image "$style" --style-image "$style2" \
            --style-weights 0.7,0.3 --loss-net "$net" --out "$scratch/adam.jpg" --size 40 \
            --iterations 3 --optimizer adam --preserve-color --init noise --threads 1 -q &&
            [ -s "$scratch/adam.jpg" ]
    }
    check "Adam, two blended styles, --preserve-color, --init noise, JPEG out" adam_blend

    interrupt() {
        # A fresh log file: a stale one would let the signal go before the handler exists.
        local log=$scratch/interrupt.txt
        rm -f "$scratch/stopped.png" "$log"
        "$bin" optimize --content "$content" --style-image "$style" --loss-net "$net" \
            --out "$scratch/stopped.png" --size 40 --iterations 1000000 --threads 1 \
            2>"$log" &
        local pid=$! waited=0 status=0
        while ! grep -q "iteration 1/" "$log" 2>/dev/null; do
            sleep 0.2
            waited=$((waited + 1))
            if [ "$waited" -gt 600 ]; then
                kill "$pid"
                echo "no progress line in 120 s"
                return 1
            fi
        done
        kill -INT "$pid"
        wait "$pid" || status=$?
        [ "$status" -eq 130 ] || { echo "exit status $status, expected 130"; cat "$log"; return 1; }
        grep -q "stopped at iteration" "$log" && [ -s "$scratch/stopped.png" ]
    }
    check "Ctrl-C writes the current image and exits 130" interrupt
fi

finish
