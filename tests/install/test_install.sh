#!/usr/bin/env bash
# Installs a libstyle build into a temporary prefix and uses it the ways a program would
# (docs/install.md). Steps:
#   install            cmake --install BUILD --prefix TMP puts every expected file in place
#   cli                the installed CLI runs and loads the installed libstyle.so
#   symbols            libstyle.so exports exactly the STYLE_API functions of libstyle.h and
#                      libstyle_train.h,
#                      each versioned LIBSTYLE_0 (no internal style__* helper); libstyle.a
#                      defines exactly those globals, and libstyle.so no global but style_*
#   cmake              a C project: find_package(libstyle 0.1 CONFIG) + libstyle::style
#                      (and find_package(libstyle 1.0) is refused: SameMajorVersion)
#   pkg-config         a C++ program: c++ consumer.cpp $(pkg-config --cflags --libs libstyle)
#   cmake-static       a C project: find_package(libstyle COMPONENTS static) + style_static
#   pkg-config-static  cc consumer.c ... -l:libstyle.a $(pkg-config --static --libs libstyle)
#   examples           docs/examples/ as a user runs them: stylize.c and stylize.cpp built by
#                      their CMakeLists.txt (find_package) and stylize.cpp also by the
#                      pkg-config line in its comment, stylize.py from a venv with the
#                      bindings pip-installed; each stylizes docs/examples/city.jpg with an
#                      installed bundled model and must write the bytes the installed CLI
#                      writes for the same model, picture and format
# Each consumer (tests/install/consumer/) checks that the linked library has the header's
# version and that loading garbage as a model fails with STYLE_ERR_FORMAT and a message.
# A sanitized build (STYLE_SANITIZE=ON) needs nothing special: its package carries the
# -fsanitize link flags that its objects need, and this test relies on that.
#
# Usage: test_install.sh BUILD_DIR SOURCE_DIR. Works in a temporary directory of its own
# (several may run at once), removed at the end. Prints "N passed, N failed"; exits 1 when a
# step failed.
set -uo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd) || exit 2
src=$(cd "$2" && pwd) || exit 2
consumer_src=$src/tests/install/consumer

cache_get() { # the value of a variable in the build's CMakeCache.txt
    sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
cmake_cmd=$(cache_get CMAKE_COMMAND)
cc=$(cache_get CMAKE_C_COMPILER)
cxx=$(cache_get CMAKE_CXX_COMPILER)
pkg_config=$(cache_get PKG_CONFIG_EXECUTABLE)
: "${cmake_cmd:=cmake}" "${cc:=cc}" "${cxx:=c++}" "${pkg_config:=pkg-config}"
sanitize=$(cache_get STYLE_SANITIZE)
header=$src/include/libstyle.h
train_header=$src/include/libstyle_train.h
version=$(sed -n 's/^#define LIBSTYLE_VERSION_STRING "\(.*\)"$/\1/p' "$header")
major=${version%%.*}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libstyle-install-test.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
libdir=$prefix/$(cache_get CMAKE_INSTALL_LIBDIR)
includedir=$prefix/$(cache_get CMAKE_INSTALL_INCLUDEDIR)
bindir=$prefix/$(cache_get CMAKE_INSTALL_BINDIR)
cmakedir=$prefix/$(cache_get STYLE_INSTALL_CMAKEDIR)
# GNUInstallDirs caches MANDIR and DATAROOTDIR empty, meaning DATAROOTDIR/man and share.
mandir=$(cache_get CMAKE_INSTALL_MANDIR)
datarootdir=$(cache_get CMAKE_INSTALL_DATAROOTDIR)
mandir=$prefix/${mandir:-${datarootdir:-share}/man}
datadir=$(cache_get CMAKE_INSTALL_DATADIR)
datadir=$prefix/${datadir:-${datarootdir:-share}}

echo "build $build (STYLE_SANITIZE=${sanitize:-OFF}), libstyle $version, prefix $prefix"

passed=0
failed=0
step() { # step NAME FUNCTION: runs FUNCTION under set -e, its output to a log shown on failure
    local name=$1
    (
        set -e
        "$2"
    ) >"$tmp/$name.log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "PASS $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/    /' "$tmp/$name.log"
        failed=$((failed + 1))
    fi
    return "$rc"
}

fail() {
    echo "$*"
    return 1
}

# BINARY (run with the environment ENV...) loads libstyle.so.MAJOR from the install prefix.
expect_installed_libstyle() { # expect_installed_libstyle BINARY [env...]
    local binary=$1 got want
    shift
    got=$(env "$@" bash -c 'ldd "$0"' "$binary" |
        awk -v lib="libstyle.so.$major" '$1 == lib { print $3 }')
    [ -n "$got" ] || fail "$binary does not load libstyle.so.$major"
    want=$(realpath "$libdir/libstyle.so.$major")
    [ "$(realpath "$got")" = "$want" ] || fail "$binary loads $got, not $want"
}

expect_no_libstyle_so() { # a statically linked consumer needs no libstyle.so
    if readelf -d "$1" | grep -q "NEEDED.*libstyle\.so"; then
        readelf -d "$1" | grep NEEDED
        fail "$1 needs libstyle.so although it linked libstyle.a"
    fi
}

# ---- install ------------------------------------------------------------------------------
do_install() {
    "$cmake_cmd" --install "$build" --prefix "$prefix"
    local f
    for f in "$includedir/libstyle.h" "$includedir/libstyle_train.h" "$libdir/libstyle.so.$version" "$libdir/libstyle.a" \
        "$bindir/libstyle" "$cmakedir/libstyle-config.cmake" \
        "$cmakedir/libstyle-config-version.cmake" "$cmakedir/libstyle-targets.cmake" \
        "$cmakedir/libstyle-static-targets.cmake" "$libdir/pkgconfig/libstyle.pc"; do
        [ -f "$f" ] || fail "not installed: $f"
    done
    for f in "$libdir/libstyle.so.$major" "$libdir/libstyle.so"; do
        [ -L "$f" ] || fail "not a symbolic link: $f"
        [ "$(realpath "$f")" = "$(realpath "$libdir/libstyle.so.$version")" ] ||
            fail "$f does not lead to libstyle.so.$version"
    done
    [ "$(readelf -d "$libdir/libstyle.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = \
        "libstyle.so.$major" ] || fail "SONAME is not libstyle.so.$major"
    cmp "$header" "$includedir/libstyle.h"
    cmp "$train_header" "$includedir/libstyle_train.h"
}

# ---- the CLI ------------------------------------------------------------------------------
do_cli() {
    local cli=$bindir/libstyle out
    local -a run_env=(-u LD_LIBRARY_PATH)
    # Installed with an RPATH ($ORIGIN/../lib...) unless the library went to a system directory.
    readelf -d "$cli" | grep -qE 'R(UN)?PATH.*\$ORIGIN' || run_env=("LD_LIBRARY_PATH=$libdir")
    out=$(env "${run_env[@]}" "$cli" --version)
    [ "$out" = "libstyle $version" ] || fail "libstyle --version printed '$out'"
    expect_installed_libstyle "$cli" "${run_env[@]}"
}

# ---- exported symbols ---------------------------------------------------------------------
do_symbols() {
    local exported unexpected api names
    # The version node itself shows up as an absolute symbol "LIBSTYLE_0".
    exported=$(nm -D --defined-only "$libdir/libstyle.so.$version" | awk '$2 != "A" { print $3 }')
    unexpected=$(grep -vE '^style_[a-z0-9][a-z0-9_]*@@LIBSTYLE_0$' <<<"$exported" || true)
    [ -z "$unexpected" ] || fail "exported besides the versioned public API:
$unexpected"
    # Every function that libstyle.h and libstyle_train.h declare STYLE_API, and nothing else.
    api=$(cat "$includedir/libstyle.h" "$includedir/libstyle_train.h" | tr '\n' ' ' |
        grep -oE 'STYLE_API[^;{}]*\(' |
        grep -oE 'style_[a-z0-9_]+ *\($' | tr -d ' (' | sort -u)
    names=$(sed 's/@@LIBSTYLE_0$//' <<<"$exported" | sort -u)
    [ "$(wc -l <<<"$api")" -ge 20 ] || fail "found only these STYLE_API functions in the headers: $api"
    diff <(echo "$api") <(echo "$names") ||
        fail "libstyle.so exports (>) differ from the STYLE_API functions of the headers (<)"
    # Neither library defines a global symbol besides that API (issue 18): libstyle.so's
    # whole symbol table (not only the dynamic one), and libstyle.a, whose internals a static
    # link beside a program's own adam_step would otherwise clash with.
    local foreign
    foreign=$(nm -g --defined-only "$libdir/libstyle.so.$version" |
        awk 'NF == 3 && $2 != "A" && $3 !~ /^style_/ { print $3 }')
    [ -z "$foreign" ] || fail "libstyle.so defines global symbols outside style_*:
$foreign"
    names=$(nm -g --defined-only "$libdir/libstyle.a" | awk 'NF == 3 { print $3 }' | sort -u)
    diff <(echo "$api") <(echo "$names") ||
        fail "libstyle.a's global symbols (>) differ from the STYLE_API functions of the headers (<)"
}

# ---- consumers ----------------------------------------------------------------------------
do_cmake() {
    "$cmake_cmd" -S "$consumer_src" -B "$tmp/cmake-shared" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix"
    grep -qxF "libstyle_DIR:PATH=$cmakedir" "$tmp/cmake-shared/CMakeCache.txt" ||
        fail "find_package(libstyle) did not use $cmakedir"
    "$cmake_cmd" --build "$tmp/cmake-shared"
    LD_LIBRARY_PATH="$libdir" "$tmp/cmake-shared/consumer"
    expect_installed_libstyle "$tmp/cmake-shared/consumer" "LD_LIBRARY_PATH=$libdir"
}

do_pkg_config() {
    export PKG_CONFIG_PATH="$libdir/pkgconfig"
    [ "$("$pkg_config" --modversion libstyle)" = "$version" ] || fail "pkg-config --modversion"
    [ "$("$pkg_config" --variable=prefix libstyle)" = "$prefix" ] ||
        fail "libstyle.pc: prefix is not the install prefix $prefix"
    echo "cflags/libs: $("$pkg_config" --cflags --libs libstyle)"
    # shellcheck disable=SC2046 # pkg-config's output is a list of words
    "$cxx" -std=c++11 -Wall -Wextra -Wpedantic -Werror "$consumer_src/consumer.cpp" \
        $("$pkg_config" --cflags --libs libstyle) -o "$tmp/consumer-cpp"
    LD_LIBRARY_PATH="$libdir" "$tmp/consumer-cpp"
    expect_installed_libstyle "$tmp/consumer-cpp" "LD_LIBRARY_PATH=$libdir"
}

do_cmake_static() {
    "$cmake_cmd" -S "$consumer_src" -B "$tmp/cmake-static" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" -DCONSUMER_STATIC=ON
    "$cmake_cmd" --build "$tmp/cmake-static"
    env -u LD_LIBRARY_PATH "$tmp/cmake-static/consumer"
    expect_no_libstyle_so "$tmp/cmake-static/consumer"
}

do_pkg_config_static() {
    export PKG_CONFIG_PATH="$libdir/pkgconfig"
    local libs
    # Libs + Libs.private + Requires.private, with libstyle.a in place of libstyle.so.
    libs=$("$pkg_config" --static --libs libstyle | sed -E 's/(^| )-lstyle( |$)/\1-l:libstyle.a\2/')
    echo "static libs: $libs"
    # shellcheck disable=SC2046,SC2086
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror "$consumer_src/consumer.c" \
        $("$pkg_config" --cflags libstyle) $libs -o "$tmp/consumer-static-pc"
    env -u LD_LIBRARY_PATH "$tmp/consumer-static-pc"
    expect_no_libstyle_so "$tmp/consumer-static-pc"
}

# ---- docs/examples ------------------------------------------------------------------------
do_examples() {
    local examples=$src/docs/examples models=$datadir/libstyle/models photo out=$tmp/examples
    local cli=$bindir/libstyle
    mkdir -p "$out"
    # docs/examples/city.jpg at a quarter of its width: the test is about building and
    # running, and 256 x 128 takes a fraction of the time on a busy machine.
    photo=$out/city.jpg
    /usr/bin/python3 -c 'import sys; from PIL import Image
Image.open(sys.argv[1]).resize((256, 128), Image.LANCZOS).save(sys.argv[2], quality=92)' \
        "$examples/city.jpg" "$photo"
    export LD_LIBRARY_PATH=$libdir PKG_CONFIG_PATH=$libdir/pkgconfig
    # What the installed CLI writes: the reference for every example.
    "$cli" stylize -m "$models/starry-night.safetensors" "$photo" "$out/cli-starry.png"
    "$cli" stylize -m "$models/the-scream.safetensors" --quality 90 "$photo" "$out/cli-scream.jpg"
    "$cli" stylize -m "$models/bricks.safetensors" "$photo" "$out/cli-bricks.png"

    "$cmake_cmd" -S "$examples" -B "$out/build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_PREFIX_PATH="$prefix"
    "$cmake_cmd" --build "$out/build"
    "$out/build/stylize" "$models/starry-night.safetensors" "$photo" "$out/c.png"
    cmp "$out/cli-starry.png" "$out/c.png"
    "$out/build/stylize-cpp" "$models/the-scream.safetensors" "$photo" "$out/cpp.jpg"
    cmp "$out/cli-scream.jpg" "$out/cpp.jpg"
    # The command line in stylize.cpp's comment, as written there.
    # shellcheck disable=SC2046
    "$cxx" -std=c++17 "$examples/stylize.cpp" $("$pkg_config" --cflags --libs libstyle) \
        -pthread -o "$out/stylize-cpp-pc"
    "$out/stylize-cpp-pc" "$models/the-scream.safetensors" "$photo" "$out/cpp-pc.jpg"
    cmp "$out/cli-scream.jpg" "$out/cpp-pc.jpg"
    # A failure is one line and exit status 1.
    if "$out/build/stylize" "$photo" "$photo" "$out/x.png" 2>"$out/err"; then
        fail "stylize.c accepted a JPEG as a model"
    fi
    grep -q "city.jpg" "$out/err" || fail "stylize.c's error does not name the file: $(cat "$out/err")"

    /usr/bin/python3 -m venv --system-site-packages "$out/venv"
    "$out/venv/bin/pip" install --quiet --no-build-isolation --no-index "$src/bindings/python"
    local -a python_env=("LIBSTYLE_LIBRARY=$libdir/libstyle.so.$major")
    if [ "$sanitize" = ON ]; then # an ASan library needs its runtime loaded first
        python_env+=("LD_PRELOAD=$("$cc" -print-file-name=libasan.so) $("$cc" \
            -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0)
    fi
    (cd "$out" && env "${python_env[@]}" "$out/venv/bin/python" "$examples/stylize.py" \
        "$models/bricks.safetensors" "$photo" "$out/py.png")
    cmp "$out/cli-bricks.png" "$out/py.png"
}

if step install do_install; then
    step cli do_cli
    step symbols do_symbols
    step cmake do_cmake
    step pkg-config do_pkg_config
    step cmake-static do_cmake_static
    step pkg-config-static do_pkg_config_static
    step examples do_examples
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
