"""Transparent pixels (issue 23): the colour under alpha 0 never reaches a visible pixel at any
--scale (item 3), nor the statistics of an AdaIN style image (item 5); in tileable mode the
fill under alpha 0 wraps around the edges, so rolling a texture rolls the result (item 6)."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support
from .test_train import feature_net_bytes


def sprite(height: int, width: int, junk_seed: int) -> np.ndarray:
    """A disc of visible pixels (soft edge) on alpha 0 whose colour comes from `junk_seed`."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = np.hypot(x - width * 0.45, y - height * 0.55) / (0.3 * min(width, height))
    alpha = np.where(r < 0.9, 255, np.where(r < 1.0, 255 * (1.0 - r) / 0.1, 0)).astype(np.uint8)
    rgb = np.stack([128 + 100 * np.sin(0.3 * x), 128 + 100 * np.cos(0.2 * y), (x * y) % 256], -1)
    junk = np.random.default_rng(junk_seed).integers(0, 256, (height, width, 3))
    rgb = np.where(alpha[..., None] > 0, rgb, junk).astype(np.uint8)
    return np.dstack([rgb, alpha])


def hidden_colours(height: int, width: int) -> tuple:
    """The same sprite twice: random colour, then magenta, under alpha 0."""
    a = sprite(height, width, 1)
    b = a.copy()
    b[b[..., 3] == 0, :3] = (255, 0, 255)
    return a, b


def assert_visible_equal(test: unittest.TestCase, a: np.ndarray, b: np.ndarray,
                         alpha: np.ndarray) -> None:
    visible = alpha > 0
    gap = np.abs(a[visible].astype(int) - b[visible].astype(int)).max()
    test.assertEqual(gap, 0, "visible pixels differ by up to %d" % gap)


class JohnsonAlphaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-alpha-")
        cls.model = libstyle.Model(_support.write_model(os.path.join(cls.dir, "m.safetensors")))

    @classmethod
    def tearDownClass(cls) -> None:
        cls.model.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_scale_keeps_the_hidden_colour_out(self) -> None:
        a, b = hidden_colours(37, 45)
        for scale in (0.5, 0.7, 1.0, 1.5):
            for preserve_color in (False, True):
                with libstyle.Session(self.model, threads=2, scale=scale, strength=0.8,
                                      preserve_color=preserve_color) as session:
                    out_a, out_b = session.stylize(a), session.stylize(b)
                with self.subTest(scale=scale, preserve_color=preserve_color):
                    assert_visible_equal(self, out_a, out_b, a[..., 3])
                    np.testing.assert_array_equal(out_a[..., 3], a[..., 3])

    def test_tileable_fill_wraps_around(self) -> None:
        # A periodic 64 x 64 texture with a hole across the left edge: rolled by half its
        # size, the hole lies in the middle. The result rolls with it.
        y, x = np.mgrid[0:64, 0:64].astype(np.float64)
        rgb = np.stack([128 + 90 * np.sin(2 * np.pi * x / 64), 128 + 90 * np.cos(2 * np.pi * y / 32),
                        128 + 60 * np.sin(2 * np.pi * (x + y) / 64)], -1)
        dx = np.minimum(np.abs(x - 2), 64 - np.abs(x - 2))
        alpha = np.where(np.hypot(dx, y - 30) < 9, 0, 255)
        texture = np.dstack([rgb, alpha]).astype(np.uint8)
        texture[alpha == 0, :3] = (255, 0, 255)
        rolled = np.roll(texture, (32, 32), axis=(0, 1))
        with libstyle.Session(self.model, threads=2, tileable=True) as session:
            plain = session.stylize(texture)
            moved = session.stylize(rolled)
            # Without alpha the network is equivariant: the reference for the bound.
            plain_rgb = session.stylize(np.ascontiguousarray(texture[..., :3]))
            moved_rgb = session.stylize(np.ascontiguousarray(rolled[..., :3]))
        # (Up to float rounding: 0 in the release build, 1 level in the sanitizer build.)
        rgb_gap = np.abs(np.roll(plain_rgb, (32, 32), axis=(0, 1)).astype(int) - moved_rgb).max()
        self.assertLessEqual(rgb_gap, 1)
        # With alpha, the same bound: the fill wraps around (clamped, it differed by 57).
        back = np.roll(moved, (-32, -32), axis=(0, 1))
        visible = alpha > 0
        gap = np.abs(plain[visible].astype(int) - back[visible].astype(int)).max()
        self.assertLessEqual(gap, max(rgb_gap, 1), "visible pixels differ by up to %d" % gap)


class AdainAlphaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-adain-alpha-")
        loss_net = os.path.join(cls.dir, "net.safetensors")
        with open(loss_net, "wb") as file:
            file.write(feature_net_bytes())
        for sub, seed in (("photos", 10), ("styles", 50)):
            os.makedirs(os.path.join(cls.dir, sub))
            for i in range(2):
                libstyle.save_image(os.path.join(cls.dir, sub, "%d.png" % i),
                                    _support.test_image(36, 40, seed=seed + i))
        out = os.path.join(cls.dir, "adain.safetensors")
        libstyle.train_adain(
            data_dir=os.path.join(cls.dir, "photos"), styles_dir=os.path.join(cls.dir, "styles"),
            loss_net=loss_net, out=out, tap="b", crop_size=16, batch_size=2, iterations=2,
            learning_rate=3e-3, threads=2)
        cls.model = libstyle.Model(out)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.model.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_scale_keeps_the_hidden_colour_out(self) -> None:
        a, b = hidden_colours(37, 45)
        for scale in (0.5, 1.5):
            with libstyle.Session(self.model, threads=2, scale=scale) as session:
                session.set_adain_style(session.adain_style(_support.test_image(32, 32, seed=4),
                                                            style_size=0))
                out_a, out_b = session.stylize(a), session.stylize(b)
            with self.subTest(scale=scale):
                assert_visible_equal(self, out_a, out_b, a[..., 3])

    def test_style_alpha_counts(self) -> None:
        a, b = hidden_colours(48, 52)
        content = _support.test_image(30, 34, seed=7)
        with libstyle.Session(self.model, threads=2) as session:
            style_a = session.adain_style(a, style_size=0)
            style_b = session.adain_style(b, style_size=0)
            np.testing.assert_array_equal(style_a.mean, style_b.mean)
            np.testing.assert_array_equal(style_a.std, style_b.std)
            session.set_adain_style(style_a)
            out_a = session.stylize(content)
            session.set_adain_style(style_b)
            np.testing.assert_array_equal(out_a, session.stylize(content))
            # The alpha counts: the same colours fully opaque are another style.
            opaque = a.copy()
            opaque[..., 3] = 255
            style_opaque = session.adain_style(opaque, style_size=0)
            self.assertGreater(np.abs(style_opaque.mean - style_a.mean).max(), 1e-3)


if __name__ == "__main__":
    unittest.main()
