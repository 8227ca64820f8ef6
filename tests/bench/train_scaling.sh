#!/usr/bin/env bash
# Training iteration cost with 1, 2 and 4 MPI processes (docs/training.md, "Scaling"):
#   wall seconds per iteration = (median T(7) - median T(2)) / 5 over 5 runs each, so start-up
#   and the first iteration's primitive creation drop out; the same for CPU seconds (user +
#   system of all processes); rank 0's "communication" share from its last log.
# Half-width network, 5 blocks, batch 4 of 64 px crops (CROP=...), darknet-tiny loss network.
#
# Usage: tests/bench/train_scaling.sh LIBSTYLE_BINARY SHARED_DIR WORK_DIR
#   NPS="1 2 4" (process counts), THREADS=N (threads per process; default: their share)
set -u
bin=$(realpath "$1")
shared=$(realpath "$2")
mkdir -p "$3"
cd "$3"
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Waiting threads and processes sleep instead of spinning: on a busy or oversubscribed
# machine a spinning waiter steals the core its partner needs, and CPU time would count it.
export OMP_WAIT_POLICY=passive OMPI_MCA_mpi_yield_when_idle=1
args=(--style-image "$shared/datasets/photos/style/opencv-doc__starry_night.jpg"
    --data "$shared/datasets/photos/content" --loss-net "$shared/lossnets/darknet-tiny.safetensors"
    --width "${WIDTH:-half}" --batch 4 --crop "${CROP:-64}" --seed 1 --checkpoint-every 1000
    ${THREADS:+--threads $THREADS})
run() { # run NP ITERATIONS -> "wall cpu"
    local np=$1 it=$2
    if [ "$np" = 1 ]; then
        /usr/bin/time -f "%e %U %S" -o t.txt nice -n 15 "$bin" train "${args[@]}" \
            --iterations "$it" --out m.safetensors 2>"log-$np-$it.txt"
    else
        /usr/bin/time -f "%e %U %S" -o t.txt nice -n 15 mpirun --oversubscribe --bind-to none \
            -np "$np" "$bin" train "${args[@]}" --iterations "$it" --out m.safetensors \
            2>"log-$np-$it.txt"
    fi
    awk '{print $1, $2 + $3}' t.txt
}
median() { sort -g | sed -n 3p; }
for np in ${NPS:-1 2 4}; do
    for r in 1 2 3 4 5; do run "$np" 2; done >a.txt
    for r in 1 2 3 4 5; do run "$np" 7; done >b.txt
    wa=$(cut -d' ' -f1 a.txt | median) wb=$(cut -d' ' -f1 b.txt | median)
    ca=$(cut -d' ' -f2 a.txt | median) cb=$(cut -d' ' -f2 b.txt | median)
    echo "np $np${THREADS:+ threads $THREADS}: wall T(2) $wa s T(7) $wb s ->" \
        "$(echo "scale=3; ($wb - $wa) / 5" | bc) s/iteration;" \
        "cpu $(echo "scale=3; ($cb - $ca) / 5" | bc) s/iteration;" \
        "$(grep -o 'communication [0-9]* %' "log-$np-7.txt"); load $(cut -d' ' -f1 /proc/loadavg)"
done
