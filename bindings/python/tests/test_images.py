"""load_image / decode_image / save_image / encode_image: numpy arrays through the library's
codecs."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support


class ImageIOTest(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="libstyle-py-")
        self.addCleanup(shutil.rmtree, self.directory, True)

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def test_png_round_trip_rgb_and_rgba_uint8(self) -> None:
        for channels in (3, 4):
            image = _support.test_image(13, 17, channels)
            libstyle.save_image(self.path("a.png"), image)
            loaded = libstyle.load_image(self.path("a.png"))
            self.assertEqual(loaded.dtype, np.uint8)
            self.assertTrue(loaded.flags.c_contiguous and loaded.flags.writeable)
            np.testing.assert_array_equal(loaded, image)

    def test_png_round_trip_uint16(self) -> None:
        rng = np.random.default_rng(5)
        image = rng.integers(0, 65536, (9, 11, 4), dtype=np.uint16)
        libstyle.save_image(self.path("b.png"), image)
        loaded = libstyle.load_image(self.path("b.png"))
        self.assertEqual(loaded.dtype, np.uint16)
        np.testing.assert_array_equal(loaded, image)

    def test_float_is_rounded_and_clamped(self) -> None:
        image = np.array([[[-5.0, 0.4, 0.6], [254.6, 300.0, 127.5]]], np.float32)
        libstyle.save_image(self.path("f.png"), image)
        loaded = libstyle.load_image(self.path("f.png"))
        np.testing.assert_array_equal(loaded, [[[0, 0, 1], [255, 255, 128]]])

    def test_jpeg_and_decode_from_memory(self) -> None:
        image = _support.test_image(32, 48)
        libstyle.save_image(self.path("c.jpg"), image, quality=95)
        with open(self.path("c.jpg"), "rb") as file:
            data = file.read()
        self.assertEqual(data[:2], b"\xff\xd8")
        decoded = libstyle.decode_image(data)
        np.testing.assert_array_equal(decoded, libstyle.load_image(self.path("c.jpg")))
        self.assertEqual(decoded.shape, image.shape)
        self.assertLess(np.abs(decoded.astype(int) - image).mean(), 8)
        with self.assertRaises(ValueError):
            libstyle.save_image(self.path("d.jpg"), image, quality=101)

    def test_encode_gives_the_bytes_of_save(self) -> None:
        image = _support.test_image(21, 17, channels=4)
        for name, format in (("e.png", "png"), ("e.jpg", "jpeg"), ("f.jpg", "JPG")):
            libstyle.save_image(self.path(name), image, quality=80)
            with open(self.path(name), "rb") as file:
                self.assertEqual(libstyle.encode_image(image, format, quality=80), file.read())
        np.testing.assert_array_equal(libstyle.decode_image(libstyle.encode_image(image)), image)
        with self.assertRaisesRegex(libstyle.InvalidArgumentError, "unknown format 'gif'"):
            libstyle.encode_image(image, "gif")
        with self.assertRaises(ValueError):
            libstyle.encode_image(image, "jpeg", quality=101)

    def test_png_level(self) -> None:
        # A smooth gradient: compressible, so the level changes the size but never the pixels.
        y, x = np.mgrid[0:40, 0:50]
        image = np.stack([x * 3, y * 4, x + y], axis=-1).astype(np.uint8)
        sizes = {}
        for level in range(10):
            data = libstyle.encode_image(image, "png", png_level=level)
            np.testing.assert_array_equal(libstyle.decode_image(data), image)
            sizes[level] = len(data)
        self.assertGreater(sizes[0], image.size)
        self.assertLess(sizes[9], sizes[1])
        self.assertEqual(libstyle.encode_image(image), libstyle.encode_image(image, png_level=6))
        libstyle.save_image(self.path("l.png"), image, png_level=2)
        with open(self.path("l.png"), "rb") as file:
            self.assertEqual(file.read(), libstyle.encode_image(image, png_level=2))
        for bad in (-1, 10, 2.0, True):
            with self.assertRaises(ValueError):
                libstyle.encode_image(image, png_level=bad)
            with self.assertRaises(ValueError):
                libstyle.save_image(self.path("m.png"), image, png_level=bad)
        self.assertFalse(os.path.exists(self.path("m.png")))

    def test_strided_view_is_saved(self) -> None:
        big = _support.test_image(20, 30)
        view = big[3:15, 5:25]  # rows further apart than a packed row
        libstyle.save_image(self.path("v.png"), view)
        np.testing.assert_array_equal(libstyle.load_image(self.path("v.png")), view)
        flipped = big[:, ::-1]  # pixels not contiguous: copied first
        libstyle.save_image(self.path("w.png"), flipped)
        np.testing.assert_array_equal(libstyle.load_image(self.path("w.png")), flipped)

    def test_errors(self) -> None:
        with self.assertRaises(libstyle.StyleIOError):
            libstyle.load_image(self.path("missing.png"))
        with open(self.path("junk.png"), "wb") as file:
            file.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        with self.assertRaises(libstyle.FormatError) as caught:
            libstyle.load_image(self.path("junk.png"))
        self.assertTrue(str(caught.exception))
        with self.assertRaises(libstyle.FormatError):
            libstyle.decode_image(b"not an image at all")
        libstyle.save_image(self.path("big.png"), _support.test_image(10, 10))
        with self.assertRaises(libstyle.LimitError):
            libstyle.load_image(self.path("big.png"), max_pixels=99)
        self.assertEqual(libstyle.load_image(self.path("big.png"), max_pixels=100).shape,
                         (10, 10, 3))
        with self.assertRaises(libstyle.StyleError):
            libstyle.save_image(self.path("name.bmp"), _support.test_image(4, 4))
        self.assertFalse(os.path.exists(self.path("name.bmp")))
        with self.assertRaises(ValueError):
            libstyle.save_image(self.path("x.png"), np.zeros((4, 4, 3), np.float64))
        with self.assertRaises(ValueError):
            libstyle.save_image(self.path("x.png"), np.zeros((4, 4), np.uint8))


if __name__ == "__main__":
    unittest.main()
