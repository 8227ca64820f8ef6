#!/usr/bin/env bash
# `libstyle stylize` as an asset pipeline uses it (docs/pipeline.md): many files, with
# directories searched recursively and the tree kept under --out-dir, --jobs, progress (bar on
# a terminal, plain lines otherwise), the summary, --skip-existing, failures that leave the
# others done; the controls --strength, --preserve-color, --scale; formats (16-bit PNG kept
# 16-bit, grey PNG, EXIF-rotated JPEG); byte-identical output across runs, processes and
# --jobs for every precision this processor runs.
#
# Usage: test_cli_pipeline.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-pipeline
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

# A tree: in/z.PNG, in/a/x.png, in/a/b/y.jpg, and a text file that is not an image.
tree=$scratch/in
mkdir -p "$tree/a/b"
cp "$scratch/photo.png" "$tree/z.PNG"
cp "$scratch/sprite.png" "$tree/a/x.png"
cp "$scratch/photo.jpg" "$tree/a/b/y.jpg"
echo "notes" >"$tree/a/notes.txt"

# The exit code of the last `run`, its stderr in $scratch/err.
rc=0
run() {
    set +e
    "$bin" "$@" 2>"$scratch/err"
    rc=$?
    set -e
}

recursive() {
    mkdir -p "$scratch/out1"
    run stylize --model "$model" --out-dir "$scratch/out1" "$tree"
    cat "$scratch/err"
    [ "$rc" -eq 0 ] &&
        "$fixtures" check "$scratch/out1/z.PNG" 37 29 3 &&
        "$fixtures" check "$scratch/out1/a/x.png" 20 16 4 &&
        "$fixtures" check "$scratch/out1/a/b/y.jpg" 37 29 3 &&
        [ "$(find "$scratch/out1" -type f | wc -l)" -eq 3 ] &&
        grep -q "3 done, 0 skipped, 0 failed in" "$scratch/err" &&
        # not a terminal: one plain line per file, no bar
        [ "$(grep -c ' -> ' "$scratch/err")" -eq 3 ] && grep -q '\[3/3\]' "$scratch/err" &&
        ! grep -q 'ETA' "$scratch/err"
}
check "a directory: searched recursively, tree kept, plain lines and a summary" recursive

skip_existing() {
    cp "$scratch/photo.png" "$scratch/out1/z.PNG" # not what a run would write
    cp "$scratch/out1/a/x.png" "$scratch/x-before.png"
    run stylize --model "$model" --skip-existing --out-dir "$scratch/out1" "$tree"
    cat "$scratch/err"
    [ "$rc" -eq 0 ] && grep -q "0 done, 3 skipped, 0 failed" "$scratch/err" &&
        cmp "$scratch/photo.png" "$scratch/out1/z.PNG" &&
        cmp "$scratch/x-before.png" "$scratch/out1/a/x.png"
}
check "--skip-existing leaves existing outputs alone and counts them" skip_existing

one_fails() {
    printf 'not an image' >"$tree/a/broken.png"
    mkdir -p "$scratch/out2"
    run stylize --quiet --model "$model" --out-dir "$scratch/out2" "$tree"
    cat "$scratch/err"
    rm "$tree/a/broken.png"
    [ "$rc" -eq 1 ] && grep -q "broken.png" "$scratch/err" &&
        [ "$(wc -l <"$scratch/err")" -eq 1 ] && # --quiet: the error line only
        [ ! -e "$scratch/out2/a/broken.png" ] &&
        "$fixtures" check "$scratch/out2/a/b/y.jpg" 37 29 3 &&
        "$fixtures" check "$scratch/out2/z.PNG" 37 29 3
}
check "one bad file in the tree: exit 1, named, the others done" one_fails

summary_counts_failures() {
    printf 'not an image' >"$scratch/broken.png"
    mkdir -p "$scratch/out3"
    run stylize --model "$model" --out-dir "$scratch/out3" "$scratch/broken.png" \
        "$scratch/photo.png" "$scratch/no-such.png"
    cat "$scratch/err"
    [ "$rc" -eq 1 ] && grep -q "1 done, 0 skipped, 2 failed" "$scratch/err" &&
        grep -q "no-such.png" "$scratch/err"
}
check "the summary counts files that failed before and during the run" summary_counts_failures

out_dir_inside_tree() {
    mkdir -p "$tree/styled"
    run stylize --quiet --model "$model" --out-dir "$tree/styled" "$tree"
    local first=$rc
    cp -a "$tree/styled" "$scratch/styled-first"
    # Run again: the files in the --out-dir are under the input tree now, so never overwritten
    # (they might be source images): refused, or skipped with --skip-existing.
    run stylize --model "$model" --out-dir "$tree/styled" "$tree"
    cat "$scratch/err"
    local refused=$rc
    grep -q "0 done, 0 skipped, 3 failed" "$scratch/err" || refused=0
    run stylize --skip-existing --model "$model" --out-dir "$tree/styled" "$tree"
    cat "$scratch/err"
    local found
    found=$(find "$tree/styled" -type f | wc -l)
    diff -r "$tree/styled" "$scratch/styled-first" || found=0
    rm -rf "$tree/styled" "$scratch/styled-first"
    [ "$first" -eq 0 ] && [ "$refused" -eq 1 ] && [ "$rc" -eq 0 ] && [ "$found" -eq 3 ] &&
        grep -q "0 done, 3 skipped, 0 failed" "$scratch/err"
}
check "an --out-dir inside the input tree is never searched, its files never overwritten" \
    out_dir_inside_tree

never_overwrite() {
    cp -r "$tree" "$scratch/in-copy"
    run stylize --model "$model" --out-dir "$tree/a" "$tree/a/x.png"
    cat "$scratch/err"
    [ "$rc" -eq 1 ] && grep -q "refusing to overwrite the input" "$scratch/err" &&
        diff -r "$tree" "$scratch/in-copy"
}
check "an output that is an input is refused, the input untouched" never_overwrite

jobs_match_serial() {
    mkdir -p "$scratch/serial" "$scratch/parallel"
    "$bin" stylize --quiet --threads 2 --jobs 1 --model "$model" --out-dir "$scratch/serial" \
        "$tree" &&
        "$bin" stylize --quiet --threads 4 --jobs 2 --model "$model" \
            --out-dir "$scratch/parallel" "$tree" &&
        diff -r "$scratch/serial" "$scratch/parallel"
}
# 2 threads for one job, and 4 threads split between 2 jobs: 2 threads per image either way.
check "--jobs 2: byte-identical to one job with the same threads per image" jobs_match_serial

progress_bar() {
    # `script` gives the tool a pseudo-terminal. Where none can be opened (a chroot or
    # container without devpts on /dev/pts) say that, not a libstyle failure; it still fails,
    # since a skip would pass the suite without this check (docs/install.md, "Tests").
    if ! command -v script >/dev/null; then
        echo "the test machine lacks 'script' (Debian package bsdutils); libstyle was not run"
        return 1
    fi
    if ! script -qec true /dev/null </dev/null >/dev/null 2>&1; then
        echo "the test machine has no pseudo-terminal: 'script -qec true /dev/null' fails," \
            "so the progress bar cannot be checked (libstyle was not run). In a chroot, mount" \
            "/dev/pts inside it (mount --bind /dev/pts ROOT/dev/pts) and run the tests again."
        return 1
    fi
    mkdir -p "$scratch/out4"
    script -qec "'$bin' stylize --model '$model' --out-dir '$scratch/out4' '$tree'" \
        /dev/null >"$scratch/tty" </dev/null
    cat -v "$scratch/tty"
    grep -q "ETA" "$scratch/tty" && grep -q "3/3" "$scratch/tty" &&
        grep -q "3 done, 0 skipped, 0 failed" "$scratch/tty" && ! grep -q ' -> ' "$scratch/tty"
}
check "on a terminal: a progress bar with ETA instead of lines" progress_bar

usage_errors() {
    local bad
    for bad in "--strength 1.5" "--strength -0.1" "--strength nan" "--scale 0" "--scale 9" \
        "--scale x" "--jobs 0" "--jobs 1000"; do
        # shellcheck disable=SC2086
        run stylize --model "$model" $bad "$scratch/photo.png" "$scratch/never.png"
        grep -q -- "${bad%% *}" "$scratch/err" || return 1
        [ "$rc" -eq 2 ] && [ ! -e "$scratch/never.png" ] || return 1
    done
}
check "out-of-range --strength, --scale, --jobs: usage errors naming the option" usage_errors

strength_zero() {
    "$bin" stylize --strength 0 --model "$model" "$scratch/sprite.png" "$scratch/s0.png" &&
        "$fixtures" compare "$scratch/sprite.png" "$scratch/s0.png" 0
}
check "--strength 0 gives the input's pixels exactly" strength_zero

strength_one() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/plain.png" &&
        "$bin" stylize --strength 1 --model "$model" "$scratch/photo.png" "$scratch/s1.png" &&
        cmp "$scratch/plain.png" "$scratch/s1.png"
}
check "--strength 1 is the plain run, byte for byte" strength_one

strength_half() {
    "$bin" stylize --strength 0.5 --model "$model" "$scratch/photo.png" "$scratch/s05.png" &&
        "$fixtures" compare "$scratch/photo.png" "$scratch/s05.png" 255 &&
        ! "$fixtures" compare "$scratch/photo.png" "$scratch/s05.png" 1 &&
        ! "$fixtures" compare "$scratch/plain.png" "$scratch/s05.png" 1
}
check "--strength 0.5 lies between the input and the stylized image" strength_half

preserve_and_scale() {
    "$bin" stylize --preserve-color --scale 0.5 --model "$model" "$scratch/photo.png" \
        "$scratch/ps.png" && "$fixtures" check "$scratch/ps.png" 37 29 3 &&
        "$bin" stylize --scale 1.5 --model "$model" "$scratch/sprite.png" "$scratch/up.png" &&
        "$fixtures" check "$scratch/up.png" 20 16 4 &&
        ! "$fixtures" compare "$scratch/plain.png" "$scratch/ps.png" 1
}
check "--preserve-color and --scale keep the size and channels" preserve_and_scale

formats() {
    /usr/bin/python3 - "$scratch" <<'PY'
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
y, x = np.mgrid[0:29, 0:37]
rgb = np.stack([x * 7, y * 8, x * y], -1).astype(np.uint8)
Image.fromarray(rgb[..., 0], "L").save(d + "/grey.png")
Image.fromarray((rgb[..., 1].astype(np.uint16) * 250), "I;16").save(d + "/grey16.png")
exif = Image.Exif()
exif[0x0112] = 6  # stored sideways: shown turned 90 degrees clockwise
Image.fromarray(rgb).save(d + "/sideways.jpg", quality=95, exif=exif.tobytes())
PY
    mkdir -p "$scratch/formats"
    "$bin" stylize --quiet --model "$model" --out-dir "$scratch/formats" "$scratch/grey.png" \
        "$scratch/grey16.png" "$scratch/sideways.jpg" &&
        [ "$("$fixtures" describe "$scratch/formats/grey.png")" = "37 29 3 u8" ] &&
        [ "$("$fixtures" describe "$scratch/formats/grey16.png")" = "37 29 3 u16" ] &&
        [ "$("$fixtures" describe "$scratch/formats/sideways.jpg")" = "29 37 3 u8" ]
}
check "grey PNG -> RGB, 16-bit PNG stays 16-bit, EXIF orientation applied" formats

# Determinism: two processes, same input, model, precision and threads -> same bytes.
# (64 x 64: the int8 activation steps are measured on each image, so it needs some size.)
deterministic() {
    local precision=$1 threads
    shift
    for threads in "$@"; do
        "$bin" stylize --threads "$threads" --precision "$precision" --model "$model" \
            "$scratch/det.png" "$scratch/det-$precision-a.png" &&
            "$bin" stylize --threads "$threads" --precision "$precision" --model "$model" \
                "$scratch/det.png" "$scratch/det-$precision-b.png" &&
            cmp "$scratch/det-$precision-a.png" "$scratch/det-$precision-b.png" || return 1
        "$bin" stylize --threads "$threads" --precision "$precision" --strength 0.7 \
            --preserve-color --scale 0.6 --model "$model" "$scratch/photo.jpg" \
            "$scratch/det-$precision-c.jpg" &&
            "$bin" stylize --threads "$threads" --precision "$precision" --strength 0.7 \
                --preserve-color --scale 0.6 --model "$model" "$scratch/photo.jpg" \
                "$scratch/det-$precision-d.jpg" &&
            cmp "$scratch/det-$precision-c.jpg" "$scratch/det-$precision-d.jpg" || return 1
    done
}
"$bin" stylize --scale 1.73 --model "$model" "$scratch/photo.png" "$scratch/det.png"
check "deterministic across processes: fp32, 1 and 2 threads" deterministic fp32 1 2
for precision in bf16 int8; do
    if "$bin" stylize --precision "$precision" --model "$model" "$scratch/photo.png" \
        "$scratch/probe.png" 2>"$scratch/probe"; then
        check "deterministic across processes: $precision, 2 threads" deterministic "$precision" 2
    else
        echo "note: $precision does not run on this processor ($(cat "$scratch/probe"))"
    fi
done

finish
