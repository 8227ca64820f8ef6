#!/usr/bin/env bash
# Conventions of the `libstyle` tool (docs/libstyle.1): --version, '-' for standard input
# and output in `stylize`, no colour or terminal control sequences when the output is not a
# terminal (and none at all under NO_COLOR), exit statuses 0/1/2.
#
# Usage: test_cli_conventions.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR SOURCE_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-conventions
src=$4
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

version() {
    local want
    want=$(sed -n 's/^#define LIBSTYLE_VERSION_STRING "\(.*\)"$/\1/p' "$src/include/libstyle.h")
    [ "$("$bin" --version)" = "libstyle $want" ] && [ "$("$bin" -V)" = "libstyle $want" ]
}
check "--version and -V print 'libstyle <header version>'" version

stdin_to_stdout() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/file.png" &&
        "$bin" stylize --model "$model" - - <"$scratch/photo.png" >"$scratch/piped.png" &&
        cmp "$scratch/file.png" "$scratch/piped.png"
}
check "stylize - - : PNG from stdin, the same PNG bytes to stdout" stdin_to_stdout

jpeg_stdin_to_file() {
    "$bin" stylize --model "$model" "$scratch/photo.jpg" "$scratch/file.jpg" &&
        "$bin" stylize --model "$model" - "$scratch/piped.jpg" <"$scratch/photo.jpg" &&
        cmp "$scratch/file.jpg" "$scratch/piped.jpg"
}
check "stylize - OUT.jpg : JPEG from stdin" jpeg_stdin_to_file

file_to_stdout_is_png() {
    "$bin" stylize --model "$model" "$scratch/photo.jpg" - >"$scratch/out.bin" &&
        [ "$(head -c 8 "$scratch/out.bin" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
        "$fixtures" check "$scratch/out.bin" 37 29 3
}
check "stylize IN - : PNG on stdout whatever the input format" file_to_stdout_is_png

stdin_garbage() {
    printf 'not an image' | expect_status 1 "standard input.*not a PNG, JPEG or WebP" \
        "$bin" stylize --model "$model" - - &&
        [ ! -s "$scratch/out.txt" ]
}
check "garbage on stdin: exit 1, 'standard input: ...', nothing on stdout" stdin_garbage

stdin_with_out_dir() {
    expect_status 1 "'-' (standard input) needs an OUTPUT name" \
        "$bin" stylize --model "$model" --out-dir "$scratch" - </dev/null
}
check "'-' with --out-dir is refused" stdin_with_out_dir

info_stdin() {
    "$bin" info "$model" | sed 1d >"$scratch/info-file.txt" &&
        "$bin" info - <"$model" | sed 1d >"$scratch/info-stdin.txt" &&
        cmp "$scratch/info-file.txt" "$scratch/info-stdin.txt" &&
        printf 'garbage' | expect_status 1 "standard input" "$bin" info -
}
check "info - reads the model from stdin" info_stdin

exit_codes() {
    expect_status 2 "unrecognized option '--bogus'" "$bin" stylize --bogus &&
        expect_status 2 "unknown command" "$bin" frobnicate &&
        expect_status 1 "missing.png" "$bin" stylize --model "$model" "$scratch/missing.png" \
            "$scratch/x.png" &&
        "$bin" --help >/dev/null
}
check "exit status 2 for usage errors, 1 for failures, 0 for success" exit_codes

# Everything the tool prints when stdout/stderr are files: no ESC (colour, cursor control)
# and no carriage return (progress bars are for terminals only).
no_control_sequences() {
    local command
    : >"$scratch/all.txt"
    "$bin" --help >>"$scratch/all.txt" 2>&1
    for command in stylize bench info train optimize import-ml5; do
        "$bin" "$command" --help >>"$scratch/all.txt" 2>&1
    done
    "$bin" info "$model" >>"$scratch/all.txt" 2>&1
    "$bin" stylize --verbose --model "$model" "$scratch/photo.png" "$scratch/v.png" \
        >>"$scratch/all.txt" 2>&1
    "$bin" stylize --model "$model" "$scratch/missing.png" "$scratch/v.png" \
        >>"$scratch/all.txt" 2>&1 || true
    NO_COLOR=1 "$bin" stylize --verbose --model "$model" "$scratch/photo.png" "$scratch/v.png" \
        >>"$scratch/all.txt" 2>&1
    [ -s "$scratch/all.txt" ] && ! LC_ALL=C grep -q "$(printf '[\033\r]')" "$scratch/all.txt"
}
check "no escape sequences or carriage returns in non-terminal output" no_control_sequences

finish
