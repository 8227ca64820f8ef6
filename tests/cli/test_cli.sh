#!/usr/bin/env bash
# Command-line behaviour of the `libstyle` tool that needs no real model: version and help,
# usage errors (exit 2, one hint line), and failures that must name the file at fault
# (non-zero exit, one "libstyle: ..." line on stderr).
#
# Usage: test_cli.sh PATH/TO/libstyle SCRATCH_DIR
# LIBSTYLE_EXPECTED_VERSION overrides the version --version must print (default 0.1.0).
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 LIBSTYLE_BINARY SCRATCH_DIR" >&2
    exit 2
fi
bin=$1
scratch=$2/cli
expected_version=${LIBSTYLE_EXPECTED_VERSION:-0.1.0}

if [ ! -x "$bin" ]; then
    echo "$0: $bin: not an executable" >&2
    exit 2
fi
rm -rf "$scratch"
mkdir -p "$scratch/out"

passed=0
failed=0
rc=0

# Runs the tool, keeping its exit code in $rc and its output in files; `set -e` must not
# end the script when the tool fails on purpose.
run() {
    set +e
    "$bin" "$@" >"$scratch/stdout" 2>"$scratch/stderr"
    rc=$?
    set -e
}

check() {
    local name=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "PASS: $name"
    else
        failed=$((failed + 1))
        echo "FAIL: $name (exit code $rc)"
        sed 's/^/    stdout: /' "$scratch/stdout"
        sed 's/^/    stderr: /' "$scratch/stderr"
    fi
}

# ---- predicates on the last run -----------------------------------------------------------

exit_is() { [ "$rc" -eq "$1" ]; }
# Non-zero, but an orderly exit: a signal (crash, abort) gives 128 and above.
failed_cleanly() { [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; }
stdout_is() { [ "$(cat "$scratch/stdout")" = "$1" ]; }
stdout_has() { grep -qF -- "$1" "$scratch/stdout"; }
stderr_has() { grep -qF -- "$1" "$scratch/stderr"; }
stderr_empty() { [ ! -s "$scratch/stderr" ]; }
stderr_one_line() {
    [ "$(wc -l <"$scratch/stderr")" -eq 1 ] && grep -q '^libstyle: ' "$scratch/stderr"
}

# ---- fixtures ----------------------------------------------------------------------------

# Content is never decoded in these tests: every command fails before reading the pixels.
input="$scratch/input.png"
printf 'not really a png\n' >"$input"
cp "$input" "$scratch/input.copy"
not_a_model="$scratch/not-a-model.safetensors"
printf 'this is plain text, not a safetensors file\n' >"$not_a_model"
missing_model="$scratch/no-such-model.safetensors"
missing_input="$scratch/no-such-input.png"

# ---- version and help --------------------------------------------------------------------

version_ok() { exit_is 0 && stdout_is "libstyle $expected_version" && stderr_empty; }
run --version
check "--version prints 'libstyle $expected_version'" version_ok
run -V
check "-V prints 'libstyle $expected_version'" version_ok

help_ok() {
    exit_is 0 && stdout_has "stylize" && stdout_has "info" && stdout_has "import-ml5" &&
        stderr_empty
}
run --help
check "--help lists the commands, exit 0" help_ok
run help
check "'help' lists the commands, exit 0" help_ok

for command in stylize info import-ml5; do
    command_help_ok() { exit_is 0 && stdout_has "Usage: libstyle $command" && stderr_empty; }
    run "$command" --help
    check "'$command --help' exits 0" command_help_ok
    run help "$command"
    check "'help $command' exits 0" command_help_ok
done

# ---- usage errors: exit 2 and one hint line ------------------------------------------------

usage_error_ok() { exit_is 2 && stderr_one_line && stderr_has "$1"; }
run frobnicate
check "unknown command: exit 2, names it" usage_error_ok "frobnicate"
run
check "no command: exit 2" usage_error_ok "libstyle --help"
run --frobnicate
check "unknown global option: exit 2" usage_error_ok "--frobnicate"
run stylize --frobnicate --model "$missing_model" "$input" "$scratch/out.png"
check "unknown stylize option: exit 2 with hint" usage_error_ok "see 'libstyle stylize --help'"
run stylize "$input" "$scratch/out.png"
check "stylize without --model: exit 2" usage_error_ok "--model"
run stylize --model "$missing_model" "$input"
check "stylize without output: exit 2" usage_error_ok "see 'libstyle stylize --help'"
run stylize --model "$missing_model" "$input" "$scratch/a.png" "$scratch/b.png"
check "stylize with 3 paths and no --out-dir: exit 2" usage_error_ok "--out-dir"
run stylize --model
check "stylize --model without a value: exit 2" usage_error_ok "--model"
run stylize --threads many --model "$missing_model" "$input" "$scratch/out.png"
check "stylize --threads many: exit 2" usage_error_ok "--threads"
run stylize --quality 101 --model "$missing_model" "$input" "$scratch/out.jpg"
check "stylize --quality 101: exit 2" usage_error_ok "--quality"
run stylize --png-level 10 --model "$missing_model" "$input" "$scratch/out.png"
check "stylize --png-level 10: exit 2" usage_error_ok "--png-level expects 0..9"
run info
check "info without a file: exit 2" usage_error_ok "see 'libstyle info --help'"
run import-ml5 "$scratch"
check "import-ml5 without an output: exit 2" usage_error_ok "see 'libstyle import-ml5 --help'"

# ---- failures that name the file ---------------------------------------------------------

names_file_ok() { failed_cleanly && stderr_one_line && stderr_has "$1"; }
run stylize --model "$missing_model" "$input" "$scratch/out.png"
check "stylize, missing model: fails, one line naming the model" \
    names_file_ok "no-such-model.safetensors"

run stylize --model "$not_a_model" "$missing_input" "$scratch/out.png"
check "stylize, missing input: fails, one line naming the input" \
    names_file_ok "no-such-input.png"

missing_input_in_batch_ok() {
    exit_is 1 && stderr_has "no-such-input.png" && [ ! -e "$scratch/out/no-such-input.png" ]
}
run stylize --model "$not_a_model" --out-dir "$scratch/out" "$missing_input"
check "stylize --out-dir, missing input: exit 1, names it" missing_input_in_batch_ok

input_untouched_ok() {
    names_file_ok "refusing" && cmp -s "$input" "$scratch/input.copy"
}
run stylize --model "$missing_model" "$input" "$input"
check "stylize onto its own input: refused, input untouched" input_untouched_ok
run stylize --model "$missing_model" "$input" "$scratch/../cli/input.png"
check "stylize onto its input by another path: refused" input_untouched_ok
run stylize --model "$missing_model" --quiet --out-dir "$scratch" "$input"
check "stylize --out-dir into the input's directory: refused" input_untouched_ok
mkdir -p "$scratch/linked"
ln -sf "$input" "$scratch/linked/$(basename "$input")"
run stylize --model "$missing_model" --quiet --out-dir "$scratch/linked" "$input"
check "stylize --out-dir where the output name is a symlink to the input: refused" \
    input_untouched_ok

run stylize --model "$missing_model" "$input" "$scratch/out.bmp"
check "stylize to an unknown extension: fails, names the output" names_file_ok "out.bmp"

# A missing --out-dir is made (issue 22); one under a regular file cannot be.
run stylize --model "$missing_model" --out-dir "$input/no-such-dir" "$input"
check "stylize --out-dir under a regular file: fails, names it" names_file_ok "no-such-dir"

# Naming the problem: the line must say more than the file name.
info_not_a_model_ok() {
    names_file_ok "not-a-model.safetensors" &&
        [ "$(sed -e "s|$not_a_model||" -e 's|^libstyle: ||' "$scratch/stderr" |
            tr -cd '[:alpha:]' | wc -c)" -ge 5 ]
}
run info "$not_a_model"
check "info on a non-safetensors file: fails, names file and problem" info_not_a_model_ok
run info "$missing_model"
check "info on a missing file: fails, names it" names_file_ok "no-such-model.safetensors"

run import-ml5 "$scratch/no-such-checkpoint" "$scratch/imported.safetensors"
check "import-ml5 from a missing directory: fails, names it" \
    names_file_ok "no-such-checkpoint"

# ---- train: several styles (usage errors, before anything is loaded) ----------------------

usage_says() { exit_is 2 && stderr_has "$1"; }
run train --style-name first --style-image a.png --data d --loss-net n --out m.safetensors
check "train --style-name before any --style-image: usage error" usage_says "--style-name"
run train --style-image a.png --style-name x --style-name y --data d --loss-net n \
    --out m.safetensors
check "train --style-name twice for one image: usage error" usage_says "--style-name"
run train --style-image a.png --style-image b.png --add-style m0.safetensors --data d \
    --loss-net n --out m.safetensors
check "train --add-style with two style images: usage error" usage_says "exactly one"
run train --style-image a.png --add-style "$missing_model" --data "$scratch" \
    --loss-net "$not_a_model" --out "$scratch/out/m.safetensors"
check "train --add-style: a failure names a file" failed_cleanly

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
