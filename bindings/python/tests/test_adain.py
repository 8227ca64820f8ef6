"""AdaIN from Python: train_adain() on a tiny random feature network, AdainStyle (create,
blend, statistics), Session.set_adain_style / strength / preserve_color, and the errors."""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support
from .test_train import feature_net_bytes


class AdainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-adain-")
        cls.loss_net = os.path.join(cls.dir, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        for sub, seed in (("photos", 10), ("styles", 50)):
            os.makedirs(os.path.join(cls.dir, sub))
            for i in range(3):
                libstyle.save_image(os.path.join(cls.dir, sub, "%d.png" % i),
                                    _support.test_image(36 + 4 * i, 40, seed=seed + i))
        cls.out = os.path.join(cls.dir, "adain.safetensors")
        cls.stats = []
        libstyle.train_adain(
            data_dir=os.path.join(cls.dir, "photos"), styles_dir=os.path.join(cls.dir, "styles"),
            loss_net=cls.loss_net, out=cls.out, tap="b", crop_size=16, batch_size=2,
            iterations=6, learning_rate=3e-3, threads=2, progress=cls.stats.append,
        )
        cls.model = libstyle.Model(cls.out)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.model.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def test_training_reported_every_iteration(self) -> None:
        self.assertEqual([s.iteration for s in self.stats], list(range(1, 7)))
        self.assertTrue(all(s.tv_loss == 0 and s.total_loss > 0 for s in self.stats))
        self.assertEqual(self.model.info.arch, "adain")

    def test_stylize_with_a_style(self) -> None:
        content = _support.test_image(21, 26, seed=3)
        style_image = _support.test_image(30, 30, seed=4)
        with libstyle.Session(self.model, threads=2) as session:
            with self.assertRaises(libstyle.InvalidArgumentError):
                session.stylize(content)  # no style yet
            style = session.adain_style(style_image, style_size=0)
            self.assertEqual(style.mean.shape, (8,))
            self.assertTrue(np.all(style.std > 0))
            session.set_adain_style(style)
            first = session.stylize(content)
            self.assertEqual(first.shape, content.shape)
            # The statistics object is reusable: a second session gives the same result.
            with libstyle.Session(self.model, threads=2) as other:
                other.set_adain_style(style)
                np.testing.assert_array_equal(other.stylize(content), first)
            # A blend of a style with itself is that style.
            session.set_adain_style([style, style], weights=[1, 2])
            np.testing.assert_array_equal(session.stylize(content), first)
            path = os.path.join(self.dir, "style.png")
            libstyle.save_image(path, style_image)
            session.set_adain_style(path, style_size=0)  # a file path works as well
            np.testing.assert_array_equal(session.stylize(content), first)
            session.strength = 0.25
            self.assertEqual(session.strength, 0.25)
            weaker = session.stylize(content)
            self.assertFalse(np.array_equal(weaker, first))
            with self.assertRaises(libstyle.InvalidArgumentError):
                session.strength = 1.5
            session.preserve_color = True
            self.assertTrue(session.preserve_color)
            session.stylize(content)
            style.close()

    def test_tileable_and_bands(self) -> None:
        # A texture that tiles (the mirror trick), 32 x 40: tileable mode shifts with it.
        base = _support.test_image(16, 20, seed=7)
        texture = np.vstack([np.hstack([base, base[:, ::-1]]),
                             np.hstack([base[::-1], base[::-1, ::-1]])])
        texture = np.ascontiguousarray(texture)
        with libstyle.Session(self.model, threads=2, tileable=True) as session:
            session.set_adain_style(_support.test_image(24, 24, seed=4), style_size=0)
            tiled = session.stylize(texture)
            shifted = session.stylize(np.ascontiguousarray(np.roll(texture, (8, 16), (0, 1))))
            np.testing.assert_array_equal(shifted, np.roll(tiled, (8, 16), (0, 1)))
            session.tileable = False
            whole = session.stylize(texture)
            self.assertFalse(np.array_equal(whole, tiled))
        # Bands of 8 rows give the whole-image result (up to a rounding step).
        with libstyle.Session(self.model, threads=2, band_rows=8) as session:
            session.set_adain_style(_support.test_image(24, 24, seed=4), style_size=0)
            banded = session.stylize(texture)
            self.assertLessEqual(int(np.abs(banded.astype(int) - whole.astype(int)).max()), 1)

    def test_blend_is_the_weighted_mean(self) -> None:
        with libstyle.Session(self.model, threads=2) as session:
            a = session.adain_style(_support.test_image(24, 24, seed=5), style_size=0)
            b = session.adain_style(_support.test_image(24, 24, seed=6), style_size=0)
            blend = libstyle.AdainStyle.blend([a, b], [1, 3])
            np.testing.assert_allclose(blend.mean, 0.25 * a.mean + 0.75 * b.mean, rtol=1e-5,
                                       atol=1e-6)
            np.testing.assert_allclose(blend.std, 0.25 * a.std + 0.75 * b.std, rtol=1e-5,
                                       atol=1e-6)
            with self.assertRaises(ValueError):
                libstyle.AdainStyle.blend([a, b], [1])
            with self.assertRaises(ValueError):
                libstyle.AdainStyle.blend([a, b], [-1, 1])

    def test_johnson_model_has_no_adain_style(self) -> None:
        path = _support.write_model(os.path.join(self.dir, "johnson.safetensors"))
        with libstyle.Model(path) as model, libstyle.Session(model) as session:
            with self.assertRaises(libstyle.UnsupportedError):
                session.adain_style(_support.test_image(16, 16, seed=1))

    def test_resume_and_bad_inputs(self) -> None:
        ckpt = self.out + ".ckpt"
        out = os.path.join(self.dir, "resumed.safetensors")
        libstyle.train_adain(resume=ckpt, out=out, iterations=7, threads=2)
        with libstyle.Model(out) as model:
            self.assertIn('"iterations":7', model.metadata["libstyle.training"])
        with self.assertRaises(libstyle.StyleIOError):
            libstyle.train_adain(data_dir=os.path.join(self.dir, "photos"),
                                 styles_dir=os.path.join(self.dir, "missing"),
                                 loss_net=self.loss_net, out=out, tap="b")
        with self.assertRaises(libstyle.InvalidArgumentError):
            libstyle.train_adain(data_dir=os.path.join(self.dir, "photos"),
                                 styles_dir=os.path.join(self.dir, "styles"),
                                 loss_net=self.loss_net, out=out, tap="nope")


    def test_quality_options(self) -> None:
        out = os.path.join(self.dir, "warm.safetensors")
        libstyle.train_adain(data_dir=os.path.join(self.dir, "photos"),
                             styles_dir=os.path.join(self.dir, "styles"),
                             loss_net=self.loss_net, out=out, init_model=self.out,
                             crop_size=16, batch_size=2, iterations=2, threads=2,
                             color_weight=1.5, loss_shift=2, max_short_side=20,
                             grid_weight=250, precision="auto")
        with libstyle.Model(out) as model:
            training = model.metadata["libstyle.training"]
            self.assertEqual('"precision":"bf16"' in training,
                             libstyle.precision_supported("bf16"))
            self.assertIn('"init_model":"%s"' % os.path.basename(self.out), training)
            self.assertIn('"loss_shift":2', training)
            self.assertIn('"color_weight":1.5', training)
            self.assertIn('"grid_weight":250', training)
        with self.assertRaises(libstyle.InvalidArgumentError):
            libstyle.train_adain(data_dir=os.path.join(self.dir, "photos"),
                                 styles_dir=os.path.join(self.dir, "styles"),
                                 loss_net=self.loss_net, out=out, tap="b", crop_size=16,
                                 loss_shift=5)
        with self.assertRaises(ValueError):
            libstyle.train_adain(out=out, color_weight=-1)
        with self.assertRaises(ValueError):
            libstyle.train_adain(out=out, grid_weight=-1)
        with self.assertRaises(libstyle.InvalidArgumentError):
            libstyle.train_adain(data_dir=os.path.join(self.dir, "photos"),
                                 styles_dir=os.path.join(self.dir, "styles"),
                                 loss_net=self.loss_net, out=out, precision="fp16")

if __name__ == "__main__":
    unittest.main()
