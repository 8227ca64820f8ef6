#!/usr/bin/env bash
# `libstyle stylize --out-dir`: an input is never overwritten and never stylized twice, for
# every layout of the input trees (issue 23, item 1): an --out-dir inside an input tree,
# nested and overlapping trees, a symbolic link to a tree, an input given twice, hard and
# symbolic links in the output's place, two inputs whose outputs land in one place.
#
# Usage: test_cli_input_trees.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-input-trees
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

# The exit code of the last `run`, its stderr in $scratch/err.
rc=0
run() {
    set +e
    "$bin" "$@" 2>"$scratch/err"
    rc=$?
    set -e
    cat "$scratch/err"
}

# A fresh tree $scratch/$1: a.png, sub/a.png (another image under the same name), sub/b.png;
# and its pristine copy $scratch/$1.orig to compare with afterwards.
make_tree() {
    local t=$scratch/$1
    rm -rf "$t" "$t.orig"
    mkdir -p "$t/sub"
    cp "$scratch/photo.png" "$t/a.png"
    cp "$scratch/sprite.png" "$t/sub/a.png"
    cp "$scratch/wide.png" "$t/sub/b.png"
    cp -a "$t" "$t.orig"
}

# The number of files under a directory.
files_in() {
    find "$1" -type f | wc -l
}

out_dir_inside_tree() {
    make_tree t1
    run stylize --model "$model" --out-dir "$scratch/t1/sub" "$scratch/t1"
    [ "$rc" -eq 1 ] && grep -q "t1/sub: is the output directory" "$scratch/err" &&
        grep -q "t1/sub/a.png: refusing to overwrite" "$scratch/err" &&
        grep -q "0 done, 0 skipped, 1 failed" "$scratch/err" &&
        diff -r "$scratch/t1" "$scratch/t1.orig"
}
check "--out-dir inside the input tree: a source image there is refused, never overwritten" \
    out_dir_inside_tree

out_dir_inside_tree_skip() {
    make_tree t2
    run stylize --skip-existing --model "$model" --out-dir "$scratch/t2/sub" "$scratch/t2"
    [ "$rc" -eq 0 ] && grep -q "0 done, 1 skipped, 0 failed" "$scratch/err" &&
        diff -r "$scratch/t2" "$scratch/t2.orig"
}
check "--out-dir inside the tree with --skip-existing: skipped, nothing written over" \
    out_dir_inside_tree_skip

out_dir_is_the_tree() {
    make_tree t3
    run stylize --model "$model" --out-dir "$scratch/t3" "$scratch/t3" "$scratch/t3/sub"
    # t3/sub is searched as a tree of its own: sub/a.png would land on t3/a.png (refused),
    # sub/b.png on t3/b.png (new, so written)
    [ "$rc" -eq 1 ] && grep -q "t3: is the output directory" "$scratch/err" &&
        grep -q "t3/a.png: refusing to overwrite" "$scratch/err" &&
        grep -q "1 done, 0 skipped, 1 failed" "$scratch/err" &&
        cmp "$scratch/t3/a.png" "$scratch/t3.orig/a.png" &&
        diff -r "$scratch/t3/sub" "$scratch/t3.orig/sub" && [ -f "$scratch/t3/b.png" ]
}
check "--out-dir equal to an input tree: its files are inputs, never overwritten" \
    out_dir_is_the_tree

nested_trees() {
    make_tree t4
    mkdir -p "$scratch/out4"
    run stylize --model "$model" --out-dir "$scratch/out4" "$scratch/t4" "$scratch/t4/sub"
    # three files, each stylized once: under the first tree that holds it
    [ "$rc" -eq 0 ] && [ "$(files_in "$scratch/out4")" -eq 3 ] &&
        [ -f "$scratch/out4/sub/a.png" ] && [ -f "$scratch/out4/sub/b.png" ] &&
        [ ! -e "$scratch/out4/b.png" ] && "$fixtures" check "$scratch/out4/a.png" 37 29 3 &&
        grep -q "3 done, 2 skipped, 0 failed" "$scratch/err" &&
        grep -q "t4/sub/b.png: the same file as '.*t4/sub/b.png', already an input" \
            "$scratch/err" && diff -r "$scratch/t4" "$scratch/t4.orig"
}
check "nested trees (-o out tree tree/sub): each file stylized once" nested_trees

linked_tree() {
    make_tree t5
    ln -s t5/sub "$scratch/link5"
    mkdir -p "$scratch/out5"
    run stylize --model "$model" --out-dir "$scratch/out5" "$scratch/t5" "$scratch/link5"
    # the link's two files were met in t5/sub already: not stylized again into out5/
    [ "$rc" -eq 0 ] && [ "$(files_in "$scratch/out5")" -eq 3 ] && [ ! -e "$scratch/out5/b.png" ] &&
        [ -f "$scratch/out5/sub/b.png" ] && grep -q "3 done, 2 skipped, 0 failed" "$scratch/err" &&
        grep -q "link5/b.png: the same file as '.*t5/sub/b.png'" "$scratch/err" &&
        diff -r "$scratch/t5" "$scratch/t5.orig"
}
check "a symbolic link to a directory inside another tree: each file stylized once" linked_tree

input_twice() {
    make_tree t6
    mkdir -p "$scratch/out6"
    ln "$scratch/t6/a.png" "$scratch/hard6.png"
    pushd "$scratch" >/dev/null
    run stylize --model model.safetensors --out-dir out6 t6/a.png ./t6/a.png t6/../t6/a.png \
        hard6.png
    popd >/dev/null
    [ "$rc" -eq 0 ] && [ "$(files_in "$scratch/out6")" -eq 1 ] &&
        grep -q "1 done, 3 skipped, 0 failed" "$scratch/err" &&
        grep -q "hard6.png: the same file as 't6/a.png'" "$scratch/err"
}
check "an input given twice (other spellings, a hard link): stylized once" input_twice

links_in_output_place() {
    make_tree t7
    mkdir -p "$scratch/out7"
    ln -s "$scratch/t7/sub" "$scratch/out7/sub" # out7/sub/a.png is t7/sub/a.png
    run stylize --model "$model" --out-dir "$scratch/out7" "$scratch/t7"
    [ "$rc" -eq 1 ] && grep -q "1 done, 0 skipped, 2 failed" "$scratch/err" &&
        grep -q "refusing to overwrite the input file" "$scratch/err" &&
        [ -f "$scratch/out7/a.png" ] && diff -r "$scratch/t7" "$scratch/t7.orig"
}
check "a link in the --out-dir into the input tree: refused, inputs untouched" \
    links_in_output_place

same_place_two_spellings() {
    make_tree t8
    mkdir -p "$scratch/t8b" "$scratch/out8"
    cp "$scratch/wide.png" "$scratch/t8b/a.png"
    ln -s . "$scratch/out8/sub" # out8/sub/a.png and out8/a.png are one file
    run stylize --model "$model" --out-dir "$scratch/out8" "$scratch/t8" "$scratch/t8b"
    [ "$rc" -eq 1 ] && grep -q "t8b/a.png: its output .* would overwrite that of" "$scratch/err" &&
        grep -q "sub/a.png: its output .* would overwrite that of" "$scratch/err" &&
        grep -q "2 done, 0 skipped, 2 failed" "$scratch/err" &&
        "$fixtures" check "$scratch/out8/a.png" 37 29 3
}
check "same-named files of two trees, and one place spelled two ways: one output each" \
    same_place_two_spellings

finish
