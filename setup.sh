#!/usr/bin/env bash
# libstyle set-up and tests. Two commands (see README.md):
#   ./setup.sh        install Debian packages, build into build/, stylize the bundled example
#   ./setup.sh test   build if needed, run every test: the suite, the suite under
#                     ASan+UBSan, the threaded tests under TSan, the network tests with ONEDNN_MAX_CPU_ISA=AVX2 (machines
#                     without AVX-512); prints "N passed, N failed" at the end
#   ./setup.sh test quick   only the plain suite
set -euo pipefail
cd "$(dirname "$0")"

packages=(build-essential cmake pkg-config libdnnl-dev ocl-icd-opencl-dev libpng-dev
    libturbojpeg0-dev libjpeg62-turbo-dev libjansson-dev libexif-dev libwebp-dev libcmocka-dev
    python3-numpy python3-pytest python3-venv python3-setuptools python3-wheel python3-pil
    python3-torch python3-onnx python3-opencv libopenmpi-dev openmpi-bin libkissfft-dev libssl-dev
    python3-torchvision libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libswresample-dev
    ffmpeg)
jobs=$(nproc)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null; then
        echo "setup.sh: Debian packages are missing, and installing them needs root (this user" \
            "is not root and sudo is not installed). As root, run" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        echo "then run $0 again as this user (or run it as root)." >&2
        exit 1
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
}

build() { # build DIR [cmake options...]
    local dir=$1
    shift
    cmake -S . -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
}

# The model the example uses: the first bundled model, else (in a development checkout
# beside ../shared) an ml5 network imported from there.
example_model() {
    local bundled
    bundled=models/starry-night.safetensors
    [ -f "$bundled" ] || bundled=$(ls models/*.safetensors 2>/dev/null | head -n 1 || true)
    if [ -n "$bundled" ]; then
        echo "$bundled"
    elif [ -d ../shared/models/ml5/udnie ]; then
        build/libstyle import-ml5 --name udnie ../shared/models/ml5/udnie build/udnie.safetensors >&2
        echo build/udnie.safetensors
    fi
}

main_job() {
    install_packages
    build build
    local model
    model=$(example_model)
    if [ -z "$model" ]; then
        echo "libstyle is built (build/libstyle, build/libstyle.so). No trained model is bundled"
        echo "in models/ yet; stylize with a model file of your own:"
        echo "  build/libstyle stylize --model MODEL.safetensors docs/examples/city.jpg out.png"
        return 0
    fi
    build/libstyle stylize --verbose --model "$model" docs/examples/city.jpg build/example-styled.jpg
    echo "stylized docs/examples/city.jpg with $model -> build/example-styled.jpg"
}

passed=0
failed=0
run_ctest() { # run_ctest LABEL DIR [ctest args...]
    local label=$1 dir=$2
    shift 2
    echo "== $label"
    local log
    log=$(mktemp)
    if (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log"; then :; fi
    local line
    line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -n 1 || true)
    rm -f "$log"
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        return
    fi
    local total bad
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.*, ([0-9]+) tests failed.*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
}

tests() {
    install_packages
    build build
    run_ctest "test suite" build
    if [ "${1:-}" != quick ]; then
        # Every test that runs a network: oneDNN and libstyle's own kernels take their AVX2 paths.
        local avx2_tests="test_layers|test_network|test_ml5|test_threads|test_precision"
        avx2_tests+="|test_pipeline|test_controls|test_adain|test_train$|test_train_layers|test_optimize|test_video|test_motion|fuzz_replay_model"
        ONEDNN_MAX_CPU_ISA=AVX2 run_ctest "network tests with ONEDNN_MAX_CPU_ISA=AVX2 (no AVX-512)" build \
            -R "$avx2_tests"
        build build-asan -DSTYLE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
            run_ctest "test suite under AddressSanitizer + UndefinedBehaviorSanitizer" build-asan
        # ThreadSanitizer: the threaded tests only (threads sharing a model, the soak, the
        # CLI's --jobs workers), with OpenMP at one thread (libgomp is not instrumented) and
        # tests/tsan.supp (a false report inside oneDNN; docs/reliability.md).
        cmake -S . -B build-tsan -DSTYLE_TSAN=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build build-tsan -j "$jobs" --target test_threads soak libstyle_cli cli_fixtures
        OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
            run_ctest "threaded tests under ThreadSanitizer" build-tsan -R "^(test_threads|soak_short|soak_short_adain|cli_jobs)$"
    fi
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

case "${1:-}" in
"") main_job ;;
test) tests "${2:-}" ;;
*)
    echo "usage: $0 [test [quick]]" >&2
    exit 2
    ;;
esac
