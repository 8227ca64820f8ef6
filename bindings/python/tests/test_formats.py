"""Image files made by Pillow, read by libstyle: EXIF orientation against Pillow's own
``ImageOps.exif_transpose``, grey / grey+alpha / palette+tRNS / 16-bit PNGs."""

from __future__ import annotations

import os
import tempfile
import unittest

import numpy as np
from PIL import Image, ImageOps

import libstyle


def picture(height: int = 21, width: int = 34) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 7 % 256, y * 11 % 256, (x * y) % 256], axis=-1).astype(np.uint8)


class FormatsTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory()

    def tearDown(self) -> None:
        self.dir.cleanup()

    def path(self, name: str) -> str:
        return os.path.join(self.dir.name, name)

    def test_exif_orientation_matches_pillow(self) -> None:
        for orientation in range(1, 9):
            path = self.path("o%d.jpg" % orientation)
            exif = Image.Exif()
            exif[0x0112] = orientation
            Image.fromarray(picture()).save(path, quality=95, exif=exif.tobytes())
            with Image.open(path) as opened:
                expected = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
            loaded = libstyle.load_image(path)
            self.assertEqual(loaded.shape, expected.shape, "orientation %d" % orientation)
            difference = np.abs(loaded.astype(int) - expected.astype(int)).max()
            self.assertLessEqual(difference, 2, "orientation %d" % orientation)

    def test_grey_and_palette_pngs_expand(self) -> None:
        grey = picture()[..., 0]
        Image.fromarray(grey, "L").save(self.path("grey.png"))
        loaded = libstyle.load_image(self.path("grey.png"))
        self.assertEqual(loaded.shape, grey.shape + (3,))
        np.testing.assert_array_equal(loaded, np.repeat(grey[..., None], 3, axis=-1))

        alpha = picture()[..., 1]
        Image.fromarray(np.stack([grey, alpha], -1), "LA").save(self.path("la.png"))
        loaded = libstyle.load_image(self.path("la.png"))
        self.assertEqual(loaded.shape[-1], 4)
        np.testing.assert_array_equal(loaded[..., 3], alpha)
        np.testing.assert_array_equal(loaded[..., 1], grey)

        palette = Image.fromarray(picture()).quantize(16)
        palette.info["transparency"] = 0
        palette.save(self.path("p.png"), transparency=0)
        loaded = libstyle.load_image(self.path("p.png"))
        expected = np.asarray(palette.convert("RGBA"))
        self.assertEqual(loaded.shape, expected.shape)
        np.testing.assert_array_equal(loaded, expected)
        self.assertTrue((loaded[..., 3] == 0).any())

    def test_sixteen_bit_png_stays_sixteen_bit(self) -> None:
        wide = (picture().astype(np.uint16) * 257 + 3).astype(np.uint16)
        libstyle.save_image(self.path("wide.png"), wide)
        loaded = libstyle.load_image(self.path("wide.png"))
        self.assertEqual(loaded.dtype, np.uint16)
        np.testing.assert_array_equal(loaded, wide)
        grey16 = (picture()[..., 0].astype(np.uint16) * 250).astype(np.uint16)
        Image.fromarray(grey16, "I;16").save(self.path("grey16.png"))
        loaded = libstyle.load_image(self.path("grey16.png"))
        self.assertEqual(loaded.dtype, np.uint16)
        np.testing.assert_array_equal(loaded[..., 2], grey16)


if __name__ == "__main__":
    unittest.main()
