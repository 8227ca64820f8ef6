#!/usr/bin/python3
"""Gatys et al. against a feed-forward model on the same objective (the AdaIN paper's
comparison, Huang and Belongie 2017, Fig. 3): the content and style losses of a trained
model's output on photos it never saw, and of Gatys' optimisation after 100, 300 and 500
L-BFGS iterations, on the same photos, style image, loss network, layers and weights (those
the model was trained with). Run by hand, not in CI.

Each photo is first resized (PIL, Lanczos) so its long side is --size; the model runs on
that image and Gatys optimises at that size, starting from it. Every result is scored by
`libstyle optimize --losses-of` (style_evaluate_losses) from its written 8-bit file, so all
rows are measured alike. Each Gatys iteration count is its own run (L-BFGS is deterministic,
so the 100-iteration result is also where the 500-iteration run stood at 100).

Run: /usr/bin/python3 tests/bench/gatys_vs_feedforward.py --build build \\
         --model models/starry-night.safetensors --style-image STYLE --loss-net NET \\
         --size 256 --style-size 384 --tv-weight 100 --work DIR PHOTO...
It prints a markdown table (and writes DIR/table.md).
"""
import argparse
import os
import subprocess
import sys
import time

from PIL import Image


def run(command):
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(command), result.stderr))
    return result.stdout, time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--model", required=True)
    parser.add_argument("--style-image", required=True)
    parser.add_argument("--loss-net", required=True)
    parser.add_argument("--size", type=int, default=256, help="long side of every image")
    parser.add_argument("--style-size", type=int, default=384)
    parser.add_argument("--content-weight", type=float, default=1)
    parser.add_argument("--style-weight", type=float, default=1)
    parser.add_argument("--tv-weight", type=float, default=100)
    parser.add_argument("--iterations", default="100,300,500")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", required=True)
    parser.add_argument("photos", nargs="+")
    args = parser.parse_args()
    cli = os.path.join(args.build, "libstyle")
    os.makedirs(args.work, exist_ok=True)
    iterations = [int(n) for n in args.iterations.split(",")]
    problem = ["--style-image", args.style_image, "--loss-net", args.loss_net,
               "--size", str(args.size), "--style-size", str(args.style_size),
               "--content-weight", str(args.content_weight),
               "--style-weight", str(args.style_weight), "--tv-weight", str(args.tv_weight),
               "--threads", str(args.threads)]

    def losses(content, image):
        out, _ = run([cli, "optimize", "--content", content, "--losses-of", image, "-q"]
                     + problem)
        fields = out.split()
        return {fields[i]: float(fields[i + 1]) for i in range(1, len(fields) - 1, 2)}

    rows = []  # (method, photo, losses, seconds)
    for photo in args.photos:
        name = os.path.splitext(os.path.basename(photo))[0]
        # The photo at the comparison's size, as Gatys sees it (the model runs on it too).
        content = os.path.join(args.work, name + "-content.png")
        with Image.open(photo) as image:
            image = image.convert("RGB")
            scale = args.size / max(image.size)
            image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.LANCZOS).save(content)
        # Score the resized photo itself: zero content loss, its own style loss.
        rows.append(("photo", name, losses(content, content), 0.0))
        styled = os.path.join(args.work, name + "-model.png")
        _, seconds = run([cli, "stylize", "--model", args.model, "--threads",
                          str(args.threads), content, styled])
        rows.append(("model", name, losses(content, styled), seconds))
        for count in iterations:
            out = os.path.join(args.work, "%s-gatys%d.png" % (name, count))
            _, seconds = run([cli, "optimize", "--content", content, "--out", out,
                              "--iterations", str(count), "-q"] + problem)
            rows.append(("gatys %d" % count, name, losses(content, out), seconds))

    methods = ["photo", "model"] + ["gatys %d" % n for n in iterations]
    lines = ["| method | " + " | ".join("content / style (%s)" % os.path.splitext(
                 os.path.basename(p))[0] for p in args.photos)
             + " | mean content | mean style | seconds per image |",
             "|---" * (len(args.photos) + 4) + "|"]
    for method in methods:
        mine = [r for r in rows if r[0] == method]
        cells = ["%.3f / %.3f" % (r[2]["content"], r[2]["style"]) for r in mine]
        mean_c = sum(r[2]["content"] for r in mine) / len(mine)
        mean_s = sum(r[2]["style"] for r in mine) / len(mine)
        mean_t = sum(r[3] for r in mine) / len(mine)
        labels = {"photo": "the photo itself", "model": "feed-forward model"}
        label = labels[method] if method in labels else (
            "Gatys, L-BFGS %s iterations" % method.split()[1])
        lines.append("| %s | %s | %.3f | %.3f | %s |" % (
            label, " | ".join(cells), mean_c, mean_s, "—" if method == "photo" else
            "%.1f" % mean_t))
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.work, "table.md"), "w") as file:
        file.write(table + "\n")


if __name__ == "__main__":
    main()
