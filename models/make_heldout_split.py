#!/usr/bin/python3
"""Writes the held-out evaluation split of ../shared/datasets/photos/content (the list
models/heldout-photos.sha256, in `sha256sum` format: "HASH  FILE NAME").

The split is the COUNT photos with the smallest SHA-256 among those that the bundled models
were NOT trained on (make_training_set.py takes the public-domain / CC0 photos without a
doubt note; the held-out photos come from the rest), so the bundled models never saw them
and the choice depends on nothing but the files' contents. `libstyle train --exclude
models/heldout-photos.sha256` refuses these files (by content, whatever their name), and
`libstyle evaluate` runs on them. Changing the list is a new split: say so in docs/quality.md.

Usage: models/make_heldout_split.py SHARED_PHOTOS_DIR [COUNT] > models/heldout-photos.sha256
"""
import csv
import hashlib
import os
import sys


def used_for_training(row):
    licence = row["license"].lower()
    if "DOUBT" in row["notes"]:
        return False
    return "public-domain" in licence or "public domain" in licence or "cc0" in licence


def main():
    photos = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    candidates = []
    with open(os.path.join(photos, "manifest.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if row["set"] != "content" or used_for_training(row):
                continue
            with open(os.path.join(photos, row["file"]), "rb") as image:
                digest = hashlib.sha256(image.read()).hexdigest()
            candidates.append((digest, os.path.basename(row["file"])))
    for digest, name in sorted(candidates)[:count]:
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
