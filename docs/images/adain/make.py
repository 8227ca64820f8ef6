#!/usr/bin/python3
"""Makes the pictures of docs/adain.md with the shipped AdaIN model and style images the
decoder never saw (held out of its training styles; public domain or CC0).

Usage: docs/images/adain/make.py MODEL SHARED_STYLE_DIR CONTENT OUT_DIR
Needs LIBSTYLE_LIBRARY and PYTHONPATH=bindings/python; writes JPEG files into OUT_DIR.
"""
import os
import sys

import cv2
import numpy as np

import libstyle

STYLES = [  # (file in SHARED_STYLE_DIR, short name)
    ("opencv-doc__starry_night.jpg", "starry-night"),
    ("darknet__scream.jpg", "the-scream"),
    ("wordpress-theme-twentytwentyone__in-the-bois-de-boulogne.jpg", "morisot-bois"),
    ("wordpress-theme-twentytwentyone__the-garden-at-bougival-1884.jpg", "morisot-bougival"),
    ("python3-skimage__brick.jpg", "bricks"),
]


def fit(image, height):
    width = int(round(image.shape[1] * height / image.shape[0]))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def save(path, rgb):
    cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])


def main():
    model_path, style_dir, content_path, out = sys.argv[1:5]
    content = libstyle.load_image(content_path)
    model = libstyle.Model(model_path)
    session = libstyle.Session(model)
    styles = {}
    rows = []
    for file, name in STYLES:
        image = libstyle.load_image(os.path.join(style_dir, file))[:, :, :3]
        styles[name] = session.adain_style(image, style_size=512)
        session.set_adain_style(styles[name])
        result = session.stylize(content)
        thumb = fit(image, 256)[:, :256]
        rows.append(np.hstack([thumb, fit(result, 256)]))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    save(os.path.join(out, "unseen-styles.jpg"), np.vstack(rows))

    # Strength (alpha in feature space) 0, 0.25, 0.5, 1 with The Starry Night.
    session.set_adain_style(styles["starry-night"])
    strip = []
    for alpha in (0.0, 0.25, 0.5, 1.0):
        session.strength = alpha
        strip.append(fit(session.stylize(content), 192))
    session.strength = 1.0
    save(os.path.join(out, "strength.jpg"), np.hstack(strip))

    # Preserve colour, and a 50/50 blend of The Starry Night and The Scream.
    session.preserve_color = True
    kept = fit(session.stylize(content), 256)
    session.preserve_color = False
    session.set_adain_style([styles["starry-night"], styles["the-scream"]], weights=[1, 1])
    blend = fit(session.stylize(content), 256)
    save(os.path.join(out, "preserve-color-and-blend.jpg"), np.hstack([kept, blend]))

    # Tileable: a texture that tiles (a crop of the content mirrored into a 2 x 2 block), with
    # The Starry Night, repeated 3 x 3: the input, the default run, --tileable.
    crop = content[:160, 200:360, :3]
    texture = np.vstack([np.hstack([crop, crop[:, ::-1]]), np.hstack([crop[::-1], crop[::-1, ::-1]])])
    texture = np.ascontiguousarray(texture)
    session.set_adain_style(styles["starry-night"])
    panels = [texture]
    for tileable in (False, True):
        session.tileable = tileable
        panels.append(session.stylize(texture))
    session.tileable = False
    tiles = [fit(np.tile(p, (3, 3, 1)), 300) for p in panels]
    gap = np.full((300, 6, 3), 255, np.uint8)
    save(os.path.join(out, "tileable-3x3.jpg"),
         np.hstack([tiles[0], gap, tiles[1], gap, tiles[2]]))


if __name__ == "__main__":
    main()
