#!/usr/bin/env bash
# Runs libFuzzer targets one after another, each for a set time, and reports executions,
# coverage and crashes (docs/reliability.md). Not part of CI: fuzzing takes hours.
#
#   tests/fuzz/run.sh [-b BUILD] [-w WORKDIR] [-t SECONDS] [TARGET...]
#
#   -b BUILD    build directory configured with CC=clang-14 -DSTYLE_FUZZ=ON (default build-fuzz)
#   -w WORKDIR  corpora, crash artifacts, logs and summary.tsv (default /tmp/libstyle-fuzz);
#               the corpus of a target grows over runs, so later runs continue where the
#               last one stopped
#   -t SECONDS  time per target (default 600)
#   TARGET      model png jpeg webp ml5_manifest feature_net safetensors video (default: all;
#               video only in builds with FFmpeg)
#
# Each target starts from tests/fuzz/seeds/<target> plus its corpus in WORKDIR. A crash,
# leak, timeout or out-of-memory input is left in WORKDIR/artifacts/<target>/; after fixing
# the library copy it to tests/fuzz/regressions/<target>/ so that ctest replays it.
# Runs under `nice -n 15` with OMP_NUM_THREADS=1 (the fuzzed code is single-threaded).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build-fuzz
work=/tmp/libstyle-fuzz
seconds=600
while getopts "b:w:t:" opt; do
    case $opt in
    b) build=$OPTARG ;;
    w) work=$OPTARG ;;
    t) seconds=$OPTARG ;;
    *) exit 2 ;;
    esac
done
shift $((OPTIND - 1))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(model png jpeg webp ml5_manifest feature_net safetensors)
if [ $# -eq 0 ] && [ -x "$build/tests/fuzz/fuzz_video" ]; then targets+=(video); fi

mkdir -p "$work"
summary=$work/summary.tsv
[ -f "$summary" ] ||
    printf "date\ttarget\tseconds\texecutions\texec_per_s\tcov\tft\tcorpus\tfindings\n" >"$summary"
printf "%-13s %7s %12s %9s %6s %6s %6s %s\n" target seconds executions exec/s cov ft corpus findings
status=0
for t in "${targets[@]}"; do
    binary=$build/tests/fuzz/fuzz_$t
    [ -x "$binary" ] || { echo "$binary: not built (cmake -DSTYLE_FUZZ=ON)" >&2; exit 2; }
    corpus=$work/corpus/$t
    artifacts=$work/artifacts/$t
    log=$work/logs/$t-$(date -u +%Y%m%dT%H%M%S).log
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    before=$(ls "$artifacts" | wc -l)
    start=$(date +%s)
    # -rss_limit_mb / -malloc_limit_mb: an input that makes the library allocate more than
    # 2 GiB is a finding (unbounded memory), as is one taking over 10 s (-timeout).
    OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        nice -n 15 "$binary" "$corpus" "$here/seeds/$t" -max_total_time="$seconds" \
        -print_final_stats=1 -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts/" >"$log" 2>&1 || true
    elapsed=$(($(date +%s) - start))
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
    corp=$(sed -nE 's/.* corp: ([0-9]+).*/\1/p' <<<"$last")
    findings=$(($(ls "$artifacts" | wc -l) - before))
    [ "$findings" -eq 0 ] || status=1
    printf "%-13s %7s %12s %9s %6s %6s %6s %s\n" "$t" "$elapsed" "${executions:-?}" \
        "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings"
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$(date -u +%FT%TZ)" "$t" "$elapsed" \
        "${executions:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$findings" >>"$summary"
    if [ "$findings" -ne 0 ]; then
        echo "  finding(s) in $artifacts (log: $log):" >&2
        grep -E "ERROR: |runtime error|SUMMARY" "$log" | head -n 5 | sed 's/^/    /' >&2
    fi
done
exit $status
