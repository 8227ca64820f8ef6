#!/usr/bin/env bash
# `libstyle bench` and `libstyle stylize --precision` on a generated model: output shape,
# machine-readable lines, usage errors, and precisions the processor lacks refused cleanly.
#
# Usage: test_cli_bench.sh LIBSTYLE_BINARY CLI_FIXTURES_BINARY SCRATCH_DIR
set -eu
bin=$1
fixtures=$2
scratch=$3/cli-bench
rm -rf "$scratch"
mkdir -p "$scratch"
"$fixtures" make "$scratch"
model=$scratch/model.safetensors

source "$(dirname "$0")/check.sh"

table() {
    "$bin" bench --model "$model" --sizes 24,20x12 --runs 2 --warmup 1 -p fp32 --threads 1 \
        >"$scratch/table" &&
        grep -q "^peak of this machine on 1 thread" "$scratch/table" &&
        grep -q "^24x24 *fp32" "$scratch/table" &&
        grep -q "^20x12 *fp32" "$scratch/table" &&
        grep -q "^layers at 20x12, fp32" "$scratch/table" &&
        grep -q "^  conv1 " "$scratch/table"
}
check "bench prints the table and the layers of the largest size" table

# Every share of a peak names the peak: the size rows' own peak, each convolution's.
peaks_named() {
    grep -q "^GFLOP executed (nominal: as written); %fp32pk: of the fp32 peak (" "$scratch/table" &&
        grep -q "^24x24 *fp32 .*% \(AVX-512 FMA\|AVX2 FMA\|none\)" "$scratch/table" &&
        grep -q "^  conv1 .*% *of \(AVX-512 FMA\|AVX2 FMA\|none\)$" "$scratch/table" &&
        ! grep "^  [a-z0-9.]* *\(conv\|direct\) " "$scratch/table" | grep -v "% *of [A-Z]"
}
check "bench names the peak of every share" peaks_named

csv() {
    "$bin" bench --model "$model" --sizes 16 --runs 1 --warmup 0 --csv --no-layers -p fp32 \
        >"$scratch/csv" &&
        [ "$(grep -c '^peak,' "$scratch/csv")" -eq 1 ] &&
        [ "$(grep -c '^size,16x16,fp32,' "$scratch/csv")" -eq 1 ] &&
        [ "$(grep -c '^layer,' "$scratch/csv")" -eq 0 ] &&
        awk -F, '$1 == "size" && NF != 20 { exit 1 }' "$scratch/csv" &&
        awk -F, '($1 == "peak" || $1 == "peak_after") && NF != 9 { exit 1 }' "$scratch/csv" &&
        [ "$(grep -c '^peak_after,' "$scratch/csv")" -eq 1 ]
}
check "bench --csv: one line per size and precision" csv

# Each record has the fields its 'columns' line names (the layers' too), and a conv layer's
# share of its peak names the peak.
csv_columns() {
    "$bin" bench --model "$model" --sizes 16 --runs 1 --warmup 0 --csv -p fp32 --threads 1 \
        >"$scratch/csv-layers" &&
        awk -F, '$1 == "columns" { n[$2] = NF - 1; next }
                 !($1 in n) || NF != n[$1] { print "bad: " $0; bad = 1 }
                 END { exit bad }' "$scratch/csv-layers" &&
        grep -q '^layer,16x16,fp32,conv1,[a-z]*,[^,]*,[0-9.]*,[0-9.]*,[0-9.]*,[0-9.]*,[A-Z]' \
            "$scratch/csv-layers"
}
check "bench --csv: every record matches its columns line" csv_columns

cpu_line() {
    grep -q "^cpu: .*(AVX2 \(yes\|no\), AVX-512 \(yes\|no\), AVX512-BF16" "$scratch/table" &&
        [ "$(grep -c '^cpu,' "$scratch/csv")" -eq 1 ]
}
check "bench names the processor and its instruction sets (table and csv)" cpu_line

# The training benchmark on a tiny crop with the random VGG-16-shaped loss network: the
# split, the FLOPs and the share of the peak; one csv record.
train_table() {
    "$bin" bench --train --width half --batch 1 --crop 16 --iterations 2 --warmup 0 \
        --loss-net random --threads 1 >"$scratch/train" &&
        grep -q "^cpu: " "$scratch/train" &&
        grep -q "s/iteration (min" "$scratch/train" &&
        grep -q "^  transform network backward " "$scratch/train" &&
        grep -q "^    residual blocks " "$scratch/train" &&
        grep -q "^  loss network (fwd x2 + bwd-data) " "$scratch/train" &&
        grep -q "^  optimizer (Adam) " "$scratch/train" &&
        grep -q "GFLOP/s executed = .*% of the fp32 peak" "$scratch/train" &&
        grep -q "vgg16-random" "$scratch/train"
}
check "bench --train prints the split, FLOPs and share of the peak" train_table

train_csv() {
    "$bin" bench --train --width half --batch 1 --crop 16 --iterations 1 --warmup 0 \
        --loss-net random --threads 1 --csv >"$scratch/train.csv" &&
        [ "$(grep -c '^train,half,1,16,vgg16-random,1,1,' "$scratch/train.csv")" -eq 1 ] &&
        awk -F, '$1 == "train" && NF != 24 { exit 1 }' "$scratch/train.csv" &&
        awk -F, '$1 == "train" && $24 != "fp32" { exit 1 }' "$scratch/train.csv"
}
check "bench --train --csv: one train record" train_csv

# bf16 training where the processor runs it natively; refused with a message elsewhere.
train_bf16() {
    if "$bin" bench --train --width half --batch 1 --crop 16 --iterations 1 --warmup 0 \
        --loss-net random --threads 1 --precision bf16 --csv >"$scratch/bf16.csv" \
        2>"$scratch/bf16.err"; then
        awk -F, '$1 == "train" && $24 == "bf16" { found = 1 } END { exit !found }' \
            "$scratch/bf16.csv"
    else
        grep -q "does not run bf16 natively" "$scratch/bf16.err"
    fi &&
        "$bin" bench --train --width half --batch 1 --crop 16 --iterations 1 --warmup 0 \
            --loss-net random --threads 1 --precision auto --csv >/dev/null &&
        ! "$bin" bench --train --precision fp16 2>/dev/null
}
check "bench --train --precision: bf16 natively or a clear refusal; auto runs" train_bf16

check "bench --train: a crop that is not a multiple of 4 is a usage error" \
    expect_status 2 "crop" "$bin" bench --train --crop 30
check "bench --train: a missing loss network fails cleanly" \
    expect_status 1 "none" "$bin" bench --train --crop 16 --iterations 1 --threads 1 \
    --loss-net "$scratch/none"

all_supported() {
    # "all" is every precision this processor runs; each appears once.
    "$bin" bench --model "$model" --sizes 16 --runs 1 --warmup 0 --csv --no-layers \
        >"$scratch/all" && grep -q '^size,16x16,fp32,' "$scratch/all"
}
check "bench with every supported precision" all_supported

check "bench: unknown precision is a usage error" \
    expect_status 2 "precision" "$bin" bench --model "$model" -p fp16
check "bench: bad size list is a usage error" \
    expect_status 2 "sizes" "$bin" bench --model "$model" --sizes 0,12
check "bench: missing model is a usage error" expect_status 2 "model" "$bin" bench
check "stylize: unknown precision is a usage error" \
    expect_status 2 "precision" "$bin" stylize --precision half --model "$model" \
    "$scratch/photo.png" "$scratch/x.png"

fp32_same() {
    "$bin" stylize --model "$model" "$scratch/photo.png" "$scratch/a.png" &&
        "$bin" stylize --precision fp32 --model "$model" "$scratch/photo.png" "$scratch/b.png" &&
        cmp "$scratch/a.png" "$scratch/b.png"
}
check "stylize --precision fp32 is the default" fp32_same

auto_runs() {
    "$bin" stylize -v --precision auto --model "$model" "$scratch/photo.png" "$scratch/c.png" \
        2>"$scratch/verbose" &&
        grep -q "precision \(fp32\|bf16\|int8\)" "$scratch/verbose" &&
        "$fixtures" check "$scratch/c.png" 37 29 3
}
check "stylize --precision auto runs" auto_runs

# Without AVX-512 (as oneDNN sees it) bf16 and int8 are refused with exit 1 and a reason.
no_avx512() {
    ONEDNN_MAX_CPU_ISA=AVX2 "$bin" stylize --precision bf16 --model "$model" \
        "$scratch/photo.png" "$scratch/d.png" 2>"$scratch/err"
    [ $? -eq 1 ] && grep -q "does not run bf16" "$scratch/err" && [ ! -e "$scratch/d.png" ]
}
check "stylize --precision bf16 without AVX-512 fails cleanly" bash -c "$(declare -f no_avx512); bin='$bin' model='$model' scratch='$scratch' no_avx512"

finish
