#!/usr/bin/python3
"""Times an AdaIN model against a Johnson model in the same run (docs/adain.md).

For every size: both sessions are built and warmed up, then the two models are timed
interleaved (so they share the moments of a noisy machine), `--runs` times each; the median
and minimum milliseconds per image are printed, with the one-time cost of a style's
statistics (AdaIN encodes the style image once; style_adain_style_create).

Usage: tests/bench/adain_vs_johnson.py ADAIN.safetensors CONTENT STYLE JOHNSON.safetensors...
           [--sizes 256,512] [--runs 11] [--threads 2]
Needs LIBSTYLE_LIBRARY (build/libstyle.so) and PYTHONPATH=bindings/python.
"""
import argparse
import os
import statistics
import time

import numpy as np

import libstyle


def tiled(image, width, height):
    reps = (height // image.shape[0] + 1, width // image.shape[1] + 1, 1)
    return np.ascontiguousarray(np.tile(image, reps)[:height, :width, :3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("adain")
    parser.add_argument("content")
    parser.add_argument("style")
    parser.add_argument("johnson", nargs="+")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    content = libstyle.load_image(args.content)
    style = libstyle.load_image(args.style)
    adain = libstyle.Session(libstyle.Model(args.adain), threads=args.threads)
    sessions = {"adain": adain}
    for path in args.johnson:
        model = libstyle.Model(path)
        info = model.info
        name = "johnson %d/%d/%d (%s)" % (*info.widths, os.path.basename(path))
        sessions[name] = libstyle.Session(model, threads=args.threads)
    style_ms = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        s = adain.adain_style(style, style_size=512)
        style_ms.append(1e3 * (time.perf_counter() - t0))
    adain.set_adain_style(s)
    print("libstyle %s, %d threads, %d runs per size and model (interleaved)"
          % (libstyle.version(), args.threads, args.runs))
    print("AdaIN style statistics (style image, short side 512): median %.1f ms"
          % statistics.median(style_ms))
    print("%-9s %-48s %10s %10s" % ("size", "model", "median ms", "min ms"))
    for size in [int(x) for x in args.sizes.split(",")]:
        image = tiled(content, size, size)
        times = {name: [] for name in sessions}
        for name, session in sessions.items():
            for _ in range(2):  # build and warm up
                session.stylize(image)
        for _ in range(args.runs):
            for name, session in sessions.items():
                t0 = time.perf_counter()
                session.stylize(image)
                times[name].append(1e3 * (time.perf_counter() - t0))
        for name in sessions:
            print("%-9s %-48s %10.1f %10.1f" % ("%dx%d" % (size, size), name,
                                                statistics.median(times[name]), min(times[name])))


if __name__ == "__main__":
    main()
