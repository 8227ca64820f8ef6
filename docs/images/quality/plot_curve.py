#!/usr/bin/python3
"""Plots held-out evaluation numbers against training iterations (docs/quality.md).

Input: a CSV with columns run,iteration,gatys_equivalent,color_distance,artifact_score, one
row per `libstyle evaluate` of a snapshot (the medians it prints); rows with run "bundled"
are drawn as horizontal reference lines. Usage: plot_curve.py IN.csv OUT.png
(Debian's python3-matplotlib; a documentation tool, not a dependency of the library).
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    rows = list(csv.DictReader(open(sys.argv[1])))
    measures = [("gatys_equivalent", "Gatys-equivalent iterations (higher is better)"),
                ("color_distance", "colour distance to the style (lower is better)"),
                ("artifact_score", "artifact score (1 = Gatys; lower is better)")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    runs = sorted({r["run"] for r in rows if r["run"] != "bundled"})
    for ax, (key, title) in zip(axes, measures):
        for run in runs:
            points = sorted((int(r["iteration"]), float(r[key])) for r in rows if r["run"] == run)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=run)
        for r in rows:
            if r["run"] == "bundled":
                ax.axhline(float(r[key]), color="grey", linestyle="--", label="bundled model")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training iteration")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=90)


if __name__ == "__main__":
    main()
