#!/usr/bin/env bash
# src/dnn/ is the only owner of oneDNN (issue 18): no file of src/ outside src/dnn/ names a
# dnnl_* / DNNL_* identifier, includes oneDNN's headers (<dnnl.h>, <oneapi/dnnl/...>) or
# src/dnn/'s internal oneDNN header (dnn/backend.h). Code elsewhere uses dnn/dnn_context.h,
# dnn/dnn_scratchpad.h, dnn/dnn_gemm.h, dnn/dnn_cpu.h and the layer headers.
#   self      the check finds a planted dnnl_ name (so that a broken pattern cannot pass)
#   owner     no such name in src/ outside src/dnn/
# Usage: test_dnn_owner.sh SOURCE_DIR
# Prints "N passed, N failed"; exits 1 when a step failed.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 SOURCE_DIR" >&2
    exit 2
fi
src=$1/src
pattern='dnnl_|DNNL_|#[[:space:]]*include[[:space:]]*[<"](dnnl|oneapi/dnnl)|dnn/backend\.h'
passed=0 failed=0
pass() { echo "ok: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1"; failed=$((failed + 1)); }

# Every C source and header of src/ outside src/dnn/, comments included: a comment naming
# dnnl_sgemm is one more place to edit on a move to oneDNN 3.x.
offenders() {
    find "$1" -path "$1/dnn" -prune -o -type f \( -name '*.c' -o -name '*.h' -o -name '*.inc' \) \
        -print0 | xargs -0 grep -nHE "$pattern" || true
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/arch" "$tmp/src/dnn"
printf 'static dnnl_engine_t engine;\n' >"$tmp/src/arch/planted.c"
printf '#include <oneapi/dnnl/dnnl.h>\n' >"$tmp/src/dnn/allowed.c"
found=$(offenders "$tmp/src")
if grep -q 'planted.c' <<<"$found" && ! grep -q 'allowed.c' <<<"$found"; then
    pass "self: a planted dnnl_ name outside dnn/ is found, one inside dnn/ is not"
else
    fail "self: the check does not tell a planted name outside dnn/ from one inside: $found"
fi

[ -d "$src/dnn" ] || { fail "owner: $src/dnn is not a folder"; echo "$passed passed, $failed failed"; exit 1; }
found=$(offenders "$src")
if [ -z "$found" ]; then
    pass "owner: no file of src/ outside src/dnn/ names oneDNN"
else
    fail "owner: oneDNN named outside src/dnn/ (move it behind an API of src/dnn/):"
    echo "$found" | sed 's/^/    /'
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
