#!/usr/bin/env python3
"""Makes the pictures of docs/pipeline.md (Tileable, Alpha, Huge images) with the bundled models.

Usage: docs/examples/pipeline_pictures.py BUILD_DIR WORK_DIR [HUGE_OUTPUT HUGE_INPUT]
  BUILD_DIR   a build of libstyle (its libstyle CLI and libstyle.so)
  WORK_DIR    scratch directory for the intermediate images
  HUGE_*      optional: a banded 8192x8192 output and its input, for the tile-boundary picture
Needs Pillow and numpy, and the photos of ../shared/datasets/photos.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PHOTOS = os.path.join(ROOT, "..", "shared", "datasets", "photos", "content")
OUT = os.path.join(ROOT, "docs", "images", "pipeline")


def stylize(build: str, model: str, src: str, dst: str, *options: str) -> None:
    subprocess.run([os.path.join(build, "libstyle"), "stylize", "--model",
                    os.path.join(ROOT, "models", model + ".safetensors"), *options, src, dst],
                   check=True)


def seamless(photo: np.ndarray) -> np.ndarray:
    """A tileable texture from a square photo crop: each quarter-shifted copy fades out
    where its wrap-around edge lies (a cross-fade with a window vanishing at the edges)."""
    n = photo.shape[0]
    t = (np.arange(n) + 0.5) / n
    window = np.sin(np.pi * t) ** 2  # 0 at the edges, 1 in the middle
    w = np.outer(window, window)[..., None]
    shifted = np.roll(photo, (n // 2, n // 2), axis=(0, 1))
    w_shift = np.roll(w, (n // 2, n // 2), axis=(0, 1))
    return (photo * w + shifted * w_shift) / (w + w_shift)


def label(image: Image.Image, text: str) -> Image.Image:
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 8 * len(text) + 10, 20), fill=(0, 0, 0))
    draw.text((5, 4), text, fill=(255, 255, 255))
    return image


def tileable_picture(build: str, work: str) -> None:
    photo = Image.open(os.path.join(PHOTOS, "endless-sky-high-dpi__forest3_2x.jpg")).convert("RGB")
    crop = np.asarray(photo.crop((200, 300, 392, 492)), np.float64)
    texture = seamless(crop).clip(0, 255).astype(np.uint8)
    src = os.path.join(work, "texture.png")
    Image.fromarray(texture).save(src)
    panels = []
    for name, options in (("default (reflection padding)", ()), ("--tileable", ("--tileable",))):
        dst = os.path.join(work, "texture-%d.png" % len(panels))
        stylize(build, "starry-night", src, dst, *options)
        tile = np.asarray(Image.open(dst).convert("RGB"))
        panels.append(label(Image.fromarray(np.tile(tile, (3, 3, 1))), name + ", repeated 3x3"))
    size = panels[0].size[0]
    n = texture.shape[0]
    sheet = Image.new("RGB", (n + 2 * size + 20, size), (255, 255, 255))
    sheet.paste(label(Image.fromarray(texture), "input tile"), (0, 0))
    for i, panel in enumerate(panels):
        sheet.paste(panel, (n + 10 + i * (size + 10), 0))
    sheet.save(os.path.join(OUT, "tileable-3x3.jpg"), quality=80)


def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    v = np.where(((y // cell) + (x // cell)) % 2 == 0, 200, 150)
    return np.repeat(v[..., None], 3, axis=-1).astype(np.float64)


def over(rgba: np.ndarray) -> Image.Image:
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    bg = checkerboard(rgba.shape[0], rgba.shape[1])
    return Image.fromarray((rgba[..., :3] * a + bg * (1 - a)).astype(np.uint8))


def sprite_picture(build: str, work: str) -> None:
    photo = Image.open(os.path.join(PHOTOS, "palapeli-data__european-honey-bee.jpg")).convert("RGB")
    side = min(photo.size)
    photo = photo.crop(((photo.size[0] - side) // 2, (photo.size[1] - side) // 2,
                        (photo.size[0] + side) // 2, (photo.size[1] + side) // 2)).resize((320, 320))
    rgb = np.asarray(photo).copy()
    # A drawn mask: a soft-edged disc with a notch, drawn at 4x and reduced (antialiased).
    mask = Image.new("L", (1280, 1280), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse((140, 140, 1140, 1140), fill=255)
    draw.polygon([(640, 640), (1280, 420), (1280, 860)], fill=0)
    alpha = np.asarray(mask.resize((320, 320), Image.LANCZOS))
    # What an editor may leave under alpha 0: here saturated magenta.
    rgb[alpha == 0] = (255, 0, 255)
    rgba = np.dstack([rgb, alpha]).astype(np.uint8)
    src = os.path.join(work, "sprite.png")
    Image.fromarray(rgba, "RGBA").save(src)
    filled = os.path.join(work, "sprite-styled.png")
    stylize(build, "the-scream", src, filled)
    # Without the fill (alpha 1 instead of 0 is not filled; shown with alpha 0 again).
    nofill_src = rgba.copy()
    nofill_src[..., 3] = np.maximum(alpha, 1)
    Image.fromarray(nofill_src, "RGBA").save(os.path.join(work, "sprite-nofill.png"))
    nofill = os.path.join(work, "sprite-nofill-styled.png")
    stylize(build, "the-scream", os.path.join(work, "sprite-nofill.png"), nofill)
    nofill_rgba = np.asarray(Image.open(nofill)).copy()
    nofill_rgba[..., 3] = alpha
    panels = [label(Image.fromarray(rgb), "input RGB (magenta under alpha 0)"),
              label(over(rgba), "input over a checkerboard"),
              label(over(nofill_rgba), "stylized, colour under alpha 0 used"),
              label(over(np.asarray(Image.open(filled))), "stylized (libstyle: filled)")]
    sheet = Image.new("RGB", (4 * 320 + 30, 320), (255, 255, 255))
    for i, panel in enumerate(panels):
        sheet.paste(panel, (i * 330, 0))
    sheet.save(os.path.join(OUT, "alpha-sprite.jpg"), quality=85)


def huge_picture(build: str, work: str, huge_out: str, huge_in: str) -> None:
    """512x512 around the corner where four naive 1024x1024 tiles meet (each stylized on its
    own, per-tile statistics) against the banded whole-image result at the same place."""
    Image.MAX_IMAGE_PIXELS = None
    source = Image.open(huge_in).convert("RGB")
    cx, cy = 4608, 4352  # the middle of one photo of the mosaic (1024 x 512 photos)
    naive = Image.new("RGB", (2048, 2048))
    for j in range(2):
        for i in range(2):
            box = (cx - 1024 + i * 1024, cy - 1024 + j * 1024)
            path = os.path.join(work, "naive-%d%d.png" % (j, i))
            source.crop(box + (box[0] + 1024, box[1] + 1024)).save(path)
            styled = path.replace(".png", "-styled.png")
            stylize(build, "starry-night", path, styled)
            naive.paste(Image.open(styled).convert("RGB"), (i * 1024, j * 1024))
    naive_crop = naive.crop((768, 768, 1280, 1280))
    ours = Image.open(huge_out).convert("RGB").crop((cx - 256, cy - 256, cx + 256, cy + 256))
    sheet = Image.new("RGB", (2 * 512 + 10, 512), (255, 255, 255))
    sheet.paste(label(naive_crop, "naive tiles (per-tile statistics)"), (0, 0))
    sheet.paste(label(ours, "libstyle bands (whole-image statistics)"), (522, 0))
    sheet.save(os.path.join(OUT, "huge-tile-boundary.jpg"), quality=85)


def main() -> None:
    build, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    os.makedirs(OUT, exist_ok=True)
    tileable_picture(build, work)
    sprite_picture(build, work)
    if len(sys.argv) == 5:
        huge_picture(build, work, sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    main()
