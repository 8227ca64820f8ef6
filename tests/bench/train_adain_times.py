#!/usr/bin/python3
"""Seconds per train-adain iteration, from the progress callback's elapsed time: (elapsed at
iteration N + 1 - elapsed at iteration 1) / N, so neither the start-up (loading, hashing the
folders) nor the first iteration counts. Run two builds alternately in one session and compare
the ratio (docs/adain.md, "Training options shared with libstyle train").

Usage: train_adain_times.py BINDINGS_DIR LIBRARY_DIR PHOTOS STYLES LOSS_NET OUT [N [extra=value ...]]
  e.g. tests/bench/train_adain_times.py bindings/python build photos/ styles/ \\
       ../shared/lossnets/darknet-tiny.safetensors /tmp/t.safetensors 10 loss_shift=4
"""
import os
import sys

if len(sys.argv) < 7:
    sys.exit(__doc__)
sys.path.insert(0, sys.argv[1])
os.environ["LIBSTYLE_LIBRARY"] = sys.argv[2]
import libstyle  # noqa: E402 (after the path above)

n = int(sys.argv[7]) if len(sys.argv) > 7 else 10
extra = {}
for item in sys.argv[8:]:
    key, value = item.split("=", 1)
    extra[key] = float(value) if "." in value else int(value)
times = {}


def progress(stats):
    times[stats.iteration] = stats.elapsed_seconds


libstyle.train_adain(data_dir=sys.argv[3], styles_dir=sys.argv[4], loss_net=sys.argv[5],
                     out=sys.argv[6], crop_size=256, batch_size=4, iterations=n + 1, threads=2,
                     seed=1, progress=progress, **extra)
print("%.4f s per iteration (iterations 2..%d)" % ((times[n + 1] - times[1]) / n, n + 1))
