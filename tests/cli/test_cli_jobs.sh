#!/usr/bin/env bash
# `libstyle stylize --jobs N` with one thread per job: N worker threads share one model and
# one job list, for a Johnson, a johnson-cin (blended styles) and an AdaIN model (one style
# computed once, set on every session). Outputs must be byte-identical to one job. With one
# OpenMP thread per job every thread is libstyle's own, so the TSan job of `./setup.sh test`
# runs this script on its instrumented build and a data race fails it there.
#
# Usage: test_cli_jobs.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR SEEDS_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-jobs
seeds=$4
rm -rf "$scratch"
mkdir -p "$scratch/in"
"$fixtures" make "$scratch"

source "$(dirname "$0")/check.sh"

# Seven inputs: three copies each of a PNG and a JPEG photo, and an RGBA sprite.
for i in 1 2 3; do
    cp "$scratch/photo.png" "$scratch/in/photo$i.png"
    cp "$scratch/photo.jpg" "$scratch/in/photo$i.jpg"
done
cp "$scratch/sprite.png" "$scratch/in/sprite.png"

# jobs_match NAME STYLIZE_OPTIONS...: --jobs 3 (one thread each) gives one job's bytes.
jobs_match() {
    local name=$1
    shift
    mkdir -p "$scratch/$name-1" "$scratch/$name-3"
    "$bin" stylize --quiet --threads 1 --jobs 1 "$@" --out-dir "$scratch/$name-1" "$scratch/in" &&
        "$bin" stylize --quiet --threads 3 --jobs 3 "$@" --out-dir "$scratch/$name-3" \
            "$scratch/in" &&
        [ "$(ls "$scratch/$name-3" | wc -l)" -eq 7 ] &&
        diff -r "$scratch/$name-1" "$scratch/$name-3"
}
check "johnson: --jobs 3 matches one job" jobs_match johnson --model "$scratch/model.safetensors"
check "johnson-cin blend: --jobs 3 matches one job" jobs_match cin \
    --model "$seeds/variant-cin-tiny-f32.safetensors" --style-weights s0=1,s1=3
check "adain: --jobs 3 matches one job" jobs_match adain \
    --model "$seeds/adain-darknet-tiny-f32.safetensors" --style-image "$scratch/sprite.png"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
