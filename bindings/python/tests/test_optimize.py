"""optimize(): Gatys et al.'s style transfer against a tiny random feature network."""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import unittest

import numpy as np

import libstyle

from . import _support
from .test_train import feature_net_bytes

ITERATIONS = 10
SETTINGS = dict(iterations=ITERATIONS, size=24, threads=2, content_layer="b",
                style_layers=["a", "b"])


class OptimizeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-optimize-")
        cls.loss_net = os.path.join(cls.dir, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        cls.content = os.path.join(cls.dir, "content.png")
        libstyle.save_image(cls.content, _support.test_image(20, 24, seed=3))  # 24x20
        cls.styles = []
        for i in range(2):
            path = os.path.join(cls.dir, "style%d.png" % i)
            style = _support.test_image(32, 32, seed=90 + i)
            libstyle.save_image(path, np.ascontiguousarray(style[::-1, :, ::-1]))
            cls.styles.append(path)
        cls.inputs = dict(content=cls.content, loss_net=cls.loss_net)

        # The reference run, with every output.
        cls.out = os.path.join(cls.dir, "out.png")
        cls.log_csv = os.path.join(cls.dir, "losses.csv")
        cls.stats = []
        cls.messages = []
        cls.result = libstyle.optimize(
            style_images=cls.styles[0], out=cls.out, log_csv=cls.log_csv,
            progress=cls.stats.append,
            log=lambda level, message: cls.messages.append((level, message)),
            **cls.inputs, **SETTINGS,
        )

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def test_result(self) -> None:
        self.assertIsInstance(self.result, np.ndarray)
        self.assertEqual(self.result.shape, (20, 24, 3))
        self.assertEqual(self.result.dtype, np.float32)
        self.assertTrue(((self.result >= 0) & (self.result <= 255)).all())
        self.assertTrue(self.result.flags.writeable and self.result.flags.c_contiguous)

    def test_evaluate_losses(self) -> None:
        settings = {k: v for k, v in SETTINGS.items() if k not in ("iterations", "optimizer")}
        at_content = libstyle.evaluate_losses(self.content, style_images=self.styles[0],
                                              **self.inputs, **settings)
        self.assertEqual(at_content["content"], 0.0)
        self.assertGreater(at_content["style"], 0.0)
        of_out = libstyle.evaluate_losses(self.out, style_images=self.styles[0], **self.inputs,
                                          **settings)
        self.assertAlmostEqual(of_out["total"],
                               of_out["content"] + of_out["style"] + of_out["tv"])
        self.assertLess(of_out["total"], at_content["total"])
        with self.assertRaises(libstyle.StyleIOError):
            libstyle.evaluate_losses(self.path("missing.png"), style_images=self.styles[0],
                                     **self.inputs)

    def test_out_file_written(self) -> None:
        self.assertTrue(os.path.isfile(self.out))
        written = libstyle.load_image(self.out)
        self.assertEqual(written.shape, (20, 24, 3))
        expected = np.floor(np.clip(self.result, 0, 255) + 0.5)
        self.assertLessEqual(np.abs(written.astype(np.float32) - expected).max(), 1.0)

    def test_progress_and_loss_decreases(self) -> None:
        self.assertEqual([s.iteration for s in self.stats], list(range(1, ITERATIONS + 1)))
        for stats in self.stats:
            self.assertIsInstance(stats, libstyle.OptimizeStats)
            self.assertEqual(stats.iterations, ITERATIONS)
            self.assertGreaterEqual(stats.evaluations, stats.iteration)
            for value in (stats.content_loss, stats.style_loss, stats.tv_loss, stats.total_loss):
                self.assertTrue(math.isfinite(value), stats)
        self.assertLess(self.stats[-1].total_loss, self.stats[0].total_loss)
        self.assertIn("total_loss", self.stats[0].as_dict())

    def test_log_csv_and_log(self) -> None:
        with open(self.log_csv) as file:
            lines = file.read().splitlines()
        self.assertEqual(len(lines), ITERATIONS + 1)  # header + one row per iteration
        self.assertTrue(self.messages)
        self.assertIsInstance(self.messages[0][1], str)

    def test_deterministic_without_out(self) -> None:
        again = libstyle.optimize(style_images=[self.styles[0]], **self.inputs, **SETTINGS)
        np.testing.assert_array_equal(again, self.result)

    def test_blend_adam_noise_preserve_color(self) -> None:
        result = libstyle.optimize(
            style_images=self.styles, style_weights=[0.7, 0.3], optimizer="adam",
            learning_rate=2.0, init="noise", seed=5, preserve_color=True, tv_weight=-1.0,
            iterations=3, size=24, threads=1, **self.inputs,
        )
        self.assertEqual(result.shape, (20, 24, 3))
        self.assertEqual(result.dtype, np.float32)

    def test_cancellation(self) -> None:
        out = self.path("cancelled.png")
        seen = []

        def stop(stats: libstyle.OptimizeStats) -> bool:
            seen.append(stats.iteration)
            return stats.iteration >= 2

        with self.assertRaises(libstyle.CancelledError):
            libstyle.optimize(style_images=self.styles[0], out=out, progress=stop,
                              **self.inputs, **SETTINGS)
        self.assertEqual(seen, [1, 2])
        self.assertTrue(os.path.isfile(out))  # the current image is still written

    def test_exception_in_progress_propagates(self) -> None:
        class Boom(Exception):
            pass

        def fail(stats: libstyle.OptimizeStats) -> bool:
            raise Boom("stop here")

        with self.assertRaises(Boom) as caught:
            libstyle.optimize(style_images=self.styles[0], progress=fail, **self.inputs,
                              **SETTINGS)
        self.assertIsInstance(caught.exception.__cause__, libstyle.CancelledError)

    def test_exception_in_log_is_raised_after_the_run(self) -> None:
        def fail(level: int, message: str) -> None:
            raise KeyError("log")

        with self.assertRaises(KeyError):
            libstyle.optimize(style_images=self.styles[0], log=fail, **self.inputs,
                              iterations=2, size=24, threads=1)

    def test_bad_arguments(self) -> None:
        with self.assertRaises(TypeError):
            libstyle.optimize(self.content, self.styles[0], self.loss_net)  # type: ignore[misc]
        with self.assertRaises(ValueError):
            libstyle.optimize(style_images=[], **self.inputs)
        with self.assertRaises(ValueError):
            libstyle.optimize(style_images=self.styles, style_weights=[1.0], **self.inputs)
        with self.assertRaises(ValueError):
            libstyle.optimize(style_images=self.styles, style_weights=[0, 0], **self.inputs)
        with self.assertRaises(ValueError):
            libstyle.optimize(style_images=self.styles[0], iterations=-1, **self.inputs)
        with self.assertRaises(TypeError):
            libstyle.optimize(style_images=self.styles[0], iterations=1.5, **self.inputs)
        with self.assertRaises(ValueError):
            libstyle.optimize(style_images=self.styles[0], learning_rate=float("nan"),
                              **self.inputs)
        with self.assertRaises(TypeError):
            libstyle.optimize(style_images=self.styles[0], progress=5, **self.inputs)
        with self.assertRaises(TypeError):
            libstyle.optimize(style_images=self.styles[0], optimizer=3, **self.inputs)
        with self.assertRaises(ValueError):  # InvalidArgumentError from the library
            libstyle.optimize(style_images=self.styles[0], optimizer="sgd", iterations=1,
                              size=24, **self.inputs)
        with self.assertRaises(libstyle.StyleIOError):
            libstyle.optimize(style_images=self.path("missing.png"), iterations=1, size=24,
                              **self.inputs)


if __name__ == "__main__":
    unittest.main()
