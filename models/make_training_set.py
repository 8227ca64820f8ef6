#!/usr/bin/python3
"""Builds the training photo folder used for the bundled models: symbolic links to the
photos of ../shared/datasets/photos/content whose manifest licence field mentions public
domain or CC0 and carries no doubt note (141 photos on 2026-11-26).

Usage: models/make_training_set.py SHARED_PHOTOS_DIR OUT_DIR
"""
import csv
import os
import sys

photos, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
count = 0
with open(os.path.join(photos, "manifest.csv"), newline="") as f:
    for row in csv.DictReader(f):
        licence = row["license"].lower()
        if row["set"] != "content" or "DOUBT" in row["notes"]:
            continue
        if "public-domain" in licence or "public domain" in licence or "cc0" in licence:
            link = os.path.join(out, os.path.basename(row["file"]))
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(os.path.join(photos, row["file"])), link)
            count += 1
print(count)
