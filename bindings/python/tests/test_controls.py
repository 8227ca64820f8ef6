"""Session controls (strength, preserve_color, scale) from Python, against numpy formulas."""

from __future__ import annotations

import unittest

import numpy as np

import libstyle

from . import _support

MODEL_BYTES = _support.model_bytes(seed=7)


class ControlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.model = libstyle.Model.from_bytes(MODEL_BYTES)
        cls.image = _support.test_image(29, 37)
        with libstyle.Session(cls.model) as plain:
            cls.stylized = plain.stylize(cls.image.astype(np.float32)).astype(np.float64)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.model.close()

    def run_with(self, **controls: object) -> np.ndarray:
        with libstyle.Session(self.model, **controls) as session:  # type: ignore[arg-type]
            return session.stylize(self.image.astype(np.float32))

    def test_strength_blends_in_srgb(self) -> None:
        content = self.image.astype(np.float64)
        result = self.run_with(strength=0.4)
        np.testing.assert_allclose(result, 0.4 * self.stylized + 0.6 * content, atol=1e-3)

    def test_strength_zero_is_the_input_and_one_the_plain_result(self) -> None:
        with libstyle.Session(self.model, strength=0.0) as session:
            np.testing.assert_array_equal(session.stylize(self.image), self.image)
            session.strength = 1.0
            with libstyle.Session(self.model) as plain:
                np.testing.assert_array_equal(session.stylize(self.image),
                                              plain.stylize(self.image))

    def test_preserve_color_keeps_the_chroma(self) -> None:
        content = self.image.astype(np.float64)
        weights = np.array([0.299, 0.587, 0.114])
        shift = self.stylized @ weights - content @ weights
        expected = np.clip(content + shift[..., None], 0, 255)
        np.testing.assert_allclose(self.run_with(preserve_color=True), expected, atol=1e-3)

    def test_scale_keeps_the_size(self) -> None:
        for scale in (0.5, 1.5):
            result = self.run_with(scale=scale)
            self.assertEqual(result.shape, self.image.shape)
            self.assertFalse(np.allclose(result, self.stylized, atol=1.0))

    def test_settings_round_trip(self) -> None:
        with libstyle.Session(self.model, strength=0.25, preserve_color=True, scale=0.5) as s:
            self.assertEqual((s.strength, s.preserve_color, s.scale), (0.25, True, 0.5))
            s.scale = 2
            self.assertEqual(s.scale, 2.0)

    def test_bad_values(self) -> None:
        for kwargs in ({"strength": 1.5}, {"strength": -0.1}, {"strength": float("nan")},
                       {"scale": 0}, {"scale": 9}):
            with self.assertRaises(ValueError) as caught:
                libstyle.Session(self.model, **kwargs)  # type: ignore[arg-type]
            self.assertIn(next(iter(kwargs)), str(caught.exception))
        with self.assertRaises(TypeError):
            libstyle.Session(self.model, strength="strong")  # type: ignore[arg-type]
        with libstyle.Session(self.model, strength=0.5) as session:
            with self.assertRaises(libstyle.InvalidArgumentError):
                session.strength = 2.0
            self.assertEqual(session.strength, 0.5)


if __name__ == "__main__":
    unittest.main()
