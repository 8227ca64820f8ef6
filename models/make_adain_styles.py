#!/usr/bin/python3
"""Builds the style folder the bundled AdaIN decoder was trained on: symbolic links to every
image of ../shared/datasets/photos/style except the held-out ones below, which the decoder
never saw and docs/adain.md shows it on (239 of 247 images on 2026-11-26). The held-out ones
are also listed with their SHA-256 in models/heldout-styles.sha256, for `libstyle evaluate
--styles DIR --style-list models/heldout-styles.sha256` (docs/quality.md).

Usage: models/make_adain_styles.py SHARED_PHOTOS_DIR OUT_DIR
"""
import os
import sys

HELD_OUT = {
    "opencv-doc__starry_night.jpg",  # Van Gogh, The Starry Night (public domain)
    "darknet__scream.jpg",  # Munch, The Scream (public domain)
    "wordpress-theme-twentytwentyone__in-the-bois-de-boulogne.jpg",  # Morisot (public domain)
    "wordpress-theme-twentytwentyone__the-garden-at-bougival-1884.jpg",  # Morisot (public domain)
    "python3-skimage__brick.jpg",  # CC0 texture
    "propaganda-debian__Penguin-Sushi-1.jpg",
    "gimp-data-extras__colorwhirl.png",
    "krita-data__13_drawed_swirl.jpg",
}

photos, out = sys.argv[1], sys.argv[2]
style_dir = os.path.join(photos, "style")
os.makedirs(out, exist_ok=True)
count = 0
for name in sorted(os.listdir(style_dir)):
    if name in HELD_OUT:
        continue
    link = os.path.join(out, name)
    if not os.path.lexists(link):
        os.symlink(os.path.abspath(os.path.join(style_dir, name)), link)
    count += 1
print(count)
