#!/usr/bin/env bash
# Nothing lost: `libstyle train` is killed with SIGKILL at random moments (0-400 ms after its
# first checkpoint of the round), many times, with a checkpoint after every iteration (full-width network: the checkpoint, with Adam's moments,
# is ~20 MB, so many kills land in the middle of a checkpoint write). After each kill the
# checkpoint present must be a complete one, at an iteration no earlier than the last seen,
# and the next round resumes from it (a resume that fails to load it fails the test). At the
# end a resumed run finishes and writes a model that loads.
#
# Usage: test_train_kill.sh LIBSTYLE_BINARY CLI_FIXTURES SCRATCH_DIR SHARED_DIR [ROUNDS [SEED]]
# docs/reliability.md records a long run (ROUNDS=200).
set -eu
bin=$1
fixtures=$2
scratch=$3/train-kill
shared=$4
rounds=${5:-20}
RANDOM=${6:-9}
net=$shared/lossnets/darknet-tiny.safetensors
[ -f "$net" ] || { echo "FAIL: $net is missing"; exit 1; }
rm -rf "$scratch"
mkdir -p "$scratch/photos"
"$fixtures" make "$scratch" >/dev/null
cp "$scratch/photo.png" "$scratch/photo.jpg" "$scratch/big.png" "$scratch/photos/"
ckpt=$scratch/model.safetensors.ckpt

# The iteration a checkpoint holds (its libstyle.checkpoint metadata), or "bad".
checkpoint_iteration() {
    /usr/bin/python3 - "$1" <<'PY'
import json, struct, sys
try:
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    assert len(data) == 8 + n + end, "truncated"
    state = json.loads(header["__metadata__"]["libstyle.train.state"])
    print(state["iteration"])
except Exception as e:
    print("bad", e)
PY
}

last=0
kills=0
torn=0
for round in $(seq 1 "$rounds"); do
    if [ -f "$ckpt" ]; then
        args=(--resume "$ckpt")
    else
        args=(--style-image "$scratch/photo.jpg" --data "$scratch/photos" --loss-net "$net"
            --crop 32 --batch 1 --iterations 1000000 --checkpoint-every 1 --threads 1)
    fi
    "$bin" train "${args[@]}" --out "$scratch/model.safetensors" >"$scratch/log" 2>&1 &
    pid=$!
    # Once this run has written a checkpoint (it is in its iteration/checkpoint loop, past
    # start-up), kill it 0 .. 400 ms later: anywhere in an iteration or a checkpoint write.
    waited=0
    until grep -q "checkpoint .*(iteration" "$scratch/log"; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$waited" -gt 1200 ]; then
            status=0
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" || status=$?
            echo "FAIL: round $round: no checkpoint written (exit status $status):"
            tr '\r' '\n' <"$scratch/log" | tail -n 5 | sed 's/^/    /'
            exit 1
        fi
        sleep 0.05
        waited=$((waited + 1))
    done
    sleep "$((RANDOM % 400))e-3"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    leftovers=$(find "$scratch" -maxdepth 1 -name '*.tmp*' | wc -l)
    # Killed in the middle of a checkpoint write: its temporary stays (nothing runs after
    # SIGKILL); the next run removes it when it starts.
    [ "$leftovers" -eq 0 ] || torn=$((torn + 1))
    it=$(checkpoint_iteration "$ckpt")
    case $it in
    bad*)
        echo "FAIL: round $round: the checkpoint is not complete: $it"
        exit 1
        ;;
    esac
    if [ "$it" -lt "$last" ]; then
        echo "FAIL: round $round: checkpoint went back from iteration $last to $it"
        exit 1
    fi
    last=$it
done
[ "$last" -gt 0 ] || { echo "FAIL: no checkpoint was ever written"; exit 1; }

# Finish: resume with two more iterations; the model must be written and load.
"$bin" train -q --resume "$ckpt" --iterations "$((last + 2))" \
    --out "$scratch/model.safetensors" >"$scratch/log" 2>&1 || {
    echo "FAIL: the final resume failed:"
    sed 's/^/    /' "$scratch/log"
    exit 1
}
"$bin" info "$scratch/model.safetensors" >/dev/null || { echo "FAIL: the model does not load"; exit 1; }
if [ "$(find "$scratch" -maxdepth 1 -name '*.tmp*' | wc -l)" -ne 0 ]; then
    echo "FAIL: temporary files left after the final run:"
    ls "$scratch"
    exit 1
fi
echo "PASS: $kills SIGKILLs ($torn during a checkpoint write); checkpoints reached iteration" \
    "$last; every one loaded and resumed; the final model loads; no temporary left"
rm -rf "$scratch"
