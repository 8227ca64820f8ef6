#!/usr/bin/env bash
# libstyle defines no global symbol but its public API (issue 18): a program that links
# libstyle.a beside its own adam_step, st_find or model_from_file gets no clash.
#   static    nm -g --defined-only libstyle.a: only style_* symbols
#   shared    nm -g --defined-only libstyle.so (its whole symbol table, not only the dynamic
#             one): only style_* symbols, besides the version node LIBSTYLE_0
#   clash     builds symbol_clash.c against libstyle.a (cmake --build BUILD --target
#             symbol_clash) and runs it on a bundled model
# Usage: test_symbols.sh LIBSTYLE_A LIBSTYLE_SO BUILD_DIR SYMBOL_CLASH MODEL
# Prints "N passed, N failed"; exits 1 when a step failed.
set -uo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 LIBSTYLE_A LIBSTYLE_SO BUILD_DIR SYMBOL_CLASH MODEL" >&2
    exit 2
fi
static_lib=$1 shared_lib=$2 build=$3 clash=$4 model=$5
cmake_cmd=$(sed -n 's/^CMAKE_COMMAND:[A-Z]*=//p' "$build/CMakeCache.txt" | head -n 1)
: "${cmake_cmd:=cmake}"

passed=0
failed=0
check() { # check NAME COMMAND...: COMMAND prints nothing and succeeds, or the step fails
    local name=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/    /' <<<"$out"
        failed=$((failed + 1))
    fi
}

# The defined global symbols of a library that are not style_*; fails when nm fails or finds
# no style_* symbol at all (a wrong file would otherwise pass).
foreign_globals() { # foreign_globals LIBRARY
    local listing
    listing=$(nm -g --defined-only "$1") || return 1
    grep -qE ' [A-Za-z] style_[a-z]' <<<"$listing" || {
        echo "$1: no style_* symbol defined"
        return 1
    }
    # Lines "ADDRESS TYPE NAME"; "A" is the version node (LIBSTYLE_0) of a versioned .so.
    local foreign
    foreign=$(awk 'NF == 3 && $2 != "A" && $3 !~ /^style_/ { print $2, $3 }' <<<"$listing")
    if [ -n "$foreign" ]; then
        echo "$1 defines $(wc -l <<<"$foreign") global symbols outside the style_ prefix:"
        echo "$foreign" | head -n 40
        return 1
    fi
}

build_and_run_clash() {
    local out
    out=$("$cmake_cmd" --build "$build" --target symbol_clash 2>&1) || {
        tail -n 30 <<<"$out"
        return 1
    }
    "$clash" "$model" >/dev/null
}

check static foreign_globals "$static_lib"
check shared foreign_globals "$shared_lib"
check clash build_and_run_clash
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
