#!/usr/bin/python3
"""Makes the pictures of docs/gallery.md: each photo, then stylized by every bundled model
with the libstyle CLI (fp32, full size), side by side at 320 pixels wide per panel.

Usage: docs/images/gallery/make.py BUILD_DIR SHARED_PHOTOS_DIR
(SHARED_PHOTOS_DIR is ../shared/datasets/photos; the photos are public domain or CC0.)
"""
import os
import subprocess
import sys
import tempfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
MODELS = ["starry-night", "the-scream", "bricks", "the-garden-at-bougival", "young-woman-in-mauve"]
PHOTOS = {  # output name -> file in the shared photo set
    "cat": "content/python3-skimage__chelsea.jpg",
    "coffee": "content/python3-skimage__coffee.jpg",
    "rocket": "content/python3-skimage__rocket.jpg",
}
PANEL = 320


def main(build, photos):
    cli = os.path.join(build, "libstyle")
    with tempfile.TemporaryDirectory() as tmp:
        for name, relative in PHOTOS.items():
            source = os.path.join(photos, relative)
            panels = [Image.open(source).convert("RGB")]
            for model in MODELS:
                out = os.path.join(tmp, "%s-%s.png" % (name, model))
                subprocess.run([cli, "stylize", "--model",
                                os.path.join(ROOT, "models", model + ".safetensors"), source,
                                out], check=True)
                panels.append(Image.open(out).convert("RGB"))
            height = round(panels[0].height * PANEL / panels[0].width)
            sheet = Image.new("RGB", (PANEL * len(panels), height))
            for i, panel in enumerate(panels):
                sheet.paste(panel.resize((PANEL, height), Image.LANCZOS), (i * PANEL, 0))
            sheet.save(os.path.join(HERE, name + ".jpg"), quality=88)
            print(name + ".jpg")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
