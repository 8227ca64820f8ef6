"""VideoSession: frames of a stream with instance-norm statistics smoothed over time, and
blended with the warped previous output."""

from __future__ import annotations

import unittest

import numpy as np

import libstyle

from . import _support

MODEL_BYTES = _support.model_bytes(seed=5)


def clip(count: int, height: int = 29, width: int = 37) -> list:
    """A picture panning right by 3 pixels a frame."""
    wide = _support.test_image(height, width + 3 * count)
    return [np.ascontiguousarray(wide[:, 3 * t:3 * t + width]) for t in range(count)]


class VideoSessionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.model = libstyle.Model.from_bytes(MODEL_BYTES)
        cls.frames = clip(4)
        with libstyle.Session(cls.model) as plain:
            cls.alone = [plain.stylize(f) for f in cls.frames]

    @classmethod
    def tearDownClass(cls) -> None:
        cls.model.close()

    def test_zero_smoothing_is_per_frame(self) -> None:
        with libstyle.VideoSession(self.model, smoothing=0.0) as video:
            for got, want in zip(video.frames(self.frames), self.alone):
                np.testing.assert_array_equal(got, want)
            self.assertEqual(video.frame_count, len(self.frames))

    def test_still_clip_gives_identical_frames(self) -> None:
        with libstyle.VideoSession(self.model, smoothing=0.9) as video:
            for _ in range(3):
                np.testing.assert_array_equal(video.push(self.frames[0]), self.alone[0])

    def test_smoothing_and_reset(self) -> None:
        with libstyle.VideoSession(self.model, smoothing=0.8) as video:
            out = list(video.frames(self.frames))
            np.testing.assert_array_equal(out[0], self.alone[0])
            for t in range(1, len(out)):
                self.assertFalse(np.array_equal(out[t], self.alone[t]), "frame %d" % t)
            video.reset()
            np.testing.assert_array_equal(video.push(self.frames[2]), self.alone[2])

    def test_bad_smoothing_is_refused(self) -> None:
        for bad in (1.0, -0.5, float("nan")):
            with self.assertRaises(libstyle.InvalidArgumentError) as caught:
                libstyle.VideoSession(self.model, smoothing=bad)
            self.assertIn("norm_smoothing", str(caught.exception))
        with self.assertRaises(TypeError):
            libstyle.VideoSession(self.model, smoothing="high")  # type: ignore[arg-type]
        video = libstyle.VideoSession(self.model)
        video.close()
        with self.assertRaises(ValueError):
            video.push(self.frames[0])

    def test_blend(self) -> None:
        with libstyle.VideoSession(self.model, blend=0.6) as video:
            # a still clip: the frame stylized on its own, every time
            for _ in range(3):
                np.testing.assert_array_equal(video.push(self.frames[0]), self.alone[0])
            video.reset()
            out = list(video.frames(self.frames))
            np.testing.assert_array_equal(out[0], self.alone[0])
            # moving: later frames are pulled toward the warped previous output
            self.assertFalse(np.array_equal(out[2], self.alone[2]))

    def test_bad_blend_is_refused(self) -> None:
        for bad in (1.0, -0.1, float("inf")):
            with self.assertRaises(libstyle.InvalidArgumentError) as caught:
                libstyle.VideoSession(self.model, blend=bad)
            self.assertIn("temporal_blend", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
