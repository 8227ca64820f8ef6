"""Session: stylize in every supported layout and dtype, callbacks, limits, threads, lifetime."""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import weakref

import numpy as np

import libstyle

from . import _support

MODEL_BYTES = _support.model_bytes(seed=7)


class SessionTestCase(unittest.TestCase):
    """One model and session shared by the tests of a class (building primitives costs time)."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.model = libstyle.Model.from_bytes(MODEL_BYTES)
        cls.session = libstyle.Session(cls.model)
        cls.image = _support.test_image(29, 37)
        cls.expected = cls.session.stylize(cls.image)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.session.close()
        cls.model.close()


class StylizeTest(SessionTestCase):
    def test_result(self) -> None:
        result = self.session.stylize(self.image)
        self.assertEqual(result.shape, self.image.shape)
        self.assertEqual(result.dtype, np.uint8)
        np.testing.assert_array_equal(result, self.expected)
        self.assertGreater(result.std(), 5.0)  # not a flat image
        self.assertFalse(np.array_equal(result, self.image))

    def test_float32_input_matches_uint8(self) -> None:
        result = self.session.stylize(self.image.astype(np.float32))
        self.assertEqual(result.dtype, np.float32)
        self.assertTrue(((result >= 0) & (result <= 255)).all())
        # uint8 output is the float result rounded to nearest.
        np.testing.assert_array_equal(np.floor(result + 0.5).astype(np.uint8), self.expected)

    def test_uint16_input(self) -> None:
        result = self.session.stylize(self.image.astype(np.uint16) * 257)
        self.assertEqual(result.dtype, np.uint16)
        difference = np.abs(result.astype(np.int64) - self.expected.astype(np.int64) * 257)
        self.assertLessEqual(int(difference.max()), 257)

    def test_non_native_byte_order_input(self) -> None:
        swapped = (self.image.astype(np.uint16) * 257).astype(">u2")
        native = self.session.stylize(self.image.astype(np.uint16) * 257)
        np.testing.assert_array_equal(self.session.stylize(swapped), native)

    def test_rgba_alpha_passes_through(self) -> None:
        # Alpha 1..255: colour under alpha 0 would be replaced (test_colour_under_...).
        alpha = np.maximum(_support.test_image(29, 37, 4)[..., 3:], 1)
        rgba = np.concatenate([self.image, alpha], axis=-1)
        result = self.session.stylize(rgba)
        self.assertEqual(result.shape, rgba.shape)
        np.testing.assert_array_equal(result[..., 3], rgba[..., 3])
        np.testing.assert_array_equal(result[..., :3], self.expected)
        for dtype, scale in ((np.uint16, 257), (np.float32, 1)):
            wide = rgba.astype(dtype) * scale
            np.testing.assert_array_equal(self.session.stylize(wide)[..., 3], wide[..., 3])

    def test_out_with_other_channels_and_dtype(self) -> None:
        out = np.zeros(self.image.shape[:2] + (4,), np.float32)
        returned = self.session.stylize(self.image, out=out)
        self.assertIs(returned, out)
        np.testing.assert_array_equal(out[..., 3], 255.0)  # no input alpha: opaque
        np.testing.assert_array_equal(np.floor(out[..., :3] + 0.5), self.expected)
        rgb = np.zeros(self.image.shape, np.uint8)
        self.session.stylize(np.dstack([self.image, np.zeros(self.image.shape[:2], np.uint8)]),
                             out=rgb)
        np.testing.assert_array_equal(rgb, self.expected)

    def test_in_place(self) -> None:
        image = self.image.copy()
        self.assertIs(self.session.stylize(image, out=image), image)
        np.testing.assert_array_equal(image, self.expected)

    def test_strided_input_and_output_views(self) -> None:
        # A crop has a row stride larger than a packed row: used without a copy.
        canvas = np.zeros((40, 50, 3), np.uint8)
        canvas[5:34, 7:44] = self.image
        view = canvas[5:34, 7:44]
        np.testing.assert_array_equal(self.session.stylize(view), self.expected)
        target = np.full((35, 45, 3), 77, np.uint8)
        inner = target[3:32, 4:41]
        self.assertIs(self.session.stylize(view, out=inner), inner)
        np.testing.assert_array_equal(inner, self.expected)
        untouched = target.copy()
        untouched[3:32, 4:41] = 77
        np.testing.assert_array_equal(untouched, 77)  # nothing written outside the view

    def test_non_contiguous_input_is_copied(self) -> None:
        flipped = self.image[:, ::-1]
        expected = self.session.stylize(np.ascontiguousarray(flipped))
        np.testing.assert_array_equal(self.session.stylize(flipped), expected)
        fortran = np.asfortranarray(self.image)
        np.testing.assert_array_equal(self.session.stylize(fortran), self.expected)
        readonly = self.image.copy()
        readonly.flags.writeable = False
        np.testing.assert_array_equal(self.session.stylize(readonly), self.expected)

    def test_nested_lists_of_uint8(self) -> None:
        small = self.image[:8, :8]
        as_list = np.asarray(small.tolist(), dtype=np.uint8)
        np.testing.assert_array_equal(self.session.stylize(as_list), self.session.stylize(small))

    def test_batch(self) -> None:
        images = [self.image, self.image[::-1].copy(), self.image.astype(np.float32)]
        results = self.session.stylize_batch(images)
        self.assertEqual(len(results), 3)
        np.testing.assert_array_equal(results[0], self.expected)
        np.testing.assert_array_equal(results[1], self.session.stylize(images[1]))
        self.assertEqual(results[2].dtype, np.float32)
        outs = [np.empty(self.image.shape, np.uint8) for _ in images]
        self.assertIs(self.session.stylize_batch(images, out=outs)[2], outs[2])
        np.testing.assert_array_equal(outs[2], self.expected)

    def test_estimate_memory(self) -> None:
        small = self.session.estimate_memory(32, 32)
        large = self.session.estimate_memory(256, 128)
        self.assertGreater(small, 0)
        self.assertGreater(large, small)
        with self.assertRaises(ValueError):
            self.session.estimate_memory(0, 10)
        with self.assertRaises(ValueError):
            self.session.estimate_memory(2**40, 10)


class BadArgumentTest(SessionTestCase):
    """Wrong input is a ValueError (or TypeError), never a crash."""

    def test_wrong_dtype(self) -> None:
        for dtype in (np.float64, np.int32, np.int8, np.bool_, np.float16, np.complex64):
            with self.assertRaises(ValueError, msg=str(dtype)):
                self.session.stylize(self.image.astype(dtype))
        with self.assertRaises(ValueError):
            self.session.stylize([[[1, 2, 3]]])  # int64 from a list
        with self.assertRaises(ValueError):
            self.session.stylize(np.array([[["a", "b", "c"]]], dtype=object))

    def test_wrong_shape(self) -> None:
        bad_shapes = [(29, 37), (29, 37, 5), (29, 37, 1), (29, 37, 2), (1, 29, 37, 3),
                      (0, 37, 3), (29, 0, 3), (3,)]
        for shape in bad_shapes:
            with self.assertRaises(ValueError, msg=str(shape)):
                self.session.stylize(np.zeros(shape, np.uint8))

    def test_bad_out(self) -> None:
        shape = self.image.shape
        readonly = np.zeros(shape, np.uint8)
        readonly.flags.writeable = False
        bad_outs = [
            readonly,
            np.zeros((shape[0], shape[1] * 2, 3), np.uint8)[:, ::2],  # pixels not contiguous
            np.zeros(shape, np.uint8)[::-1],  # negative row stride
            np.asfortranarray(np.zeros(shape, np.uint8)),
            np.zeros((shape[0] + 1, shape[1], 3), np.uint8),  # wrong size
            np.zeros(shape[:2] + (5,), np.uint8),
            np.zeros(shape, np.float64),
            np.zeros(shape, ">u2"),
            np.zeros(shape[:2], np.uint8),
        ]
        for out in bad_outs:
            with self.assertRaises(ValueError, msg=repr(out.strides)):
                self.session.stylize(self.image, out=out)
        with self.assertRaises(TypeError):
            self.session.stylize(self.image, out=[[0]])  # type: ignore[arg-type]

    def test_bad_batch(self) -> None:
        with self.assertRaises(ValueError):
            self.session.stylize_batch([])
        with self.assertRaises(libstyle.InvalidArgumentError) as caught:
            self.session.stylize_batch([self.image, self.image[:20]])
        self.assertIn("batch image 1", str(caught.exception))
        with self.assertRaises(ValueError):
            self.session.stylize_batch([self.image], out=[])
        with self.assertRaises(ValueError):
            self.session.stylize_batch([self.image, np.zeros((4, 4), np.uint8)])

    def test_bad_settings(self) -> None:
        with self.assertRaises(ValueError):
            libstyle.Session(self.model, threads=-1)
        with self.assertRaises(ValueError):
            libstyle.Session(self.model, threads=100000)
        with self.assertRaises(ValueError):
            libstyle.Session(self.model, memory_budget=-5)
        with self.assertRaises(TypeError):
            libstyle.Session(self.model, threads=1.5)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            libstyle.Session(self.model, progress=42)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            libstyle.Session("model")  # type: ignore[arg-type]

    def test_session_still_works_after_errors(self) -> None:
        with self.assertRaises(ValueError):
            self.session.stylize(np.zeros((4, 4, 5), np.uint8))
        np.testing.assert_array_equal(self.session.stylize(self.image), self.expected)


class PipelineTest(SessionTestCase):
    """Tileable mode and the alpha fill (the C tests measure them in detail)."""

    def test_tileable_output_wraps_around(self) -> None:
        y, x = np.mgrid[0:48, 0:64]
        texture = np.stack([127 + 100 * np.sin(2 * np.pi * (2 * x / 64 + y / 48 + c))
                            for c in range(3)], axis=-1).astype(np.uint8)
        with libstyle.Session(self.model, tileable=True) as session:
            self.assertTrue(session.tileable)
            tiled = session.stylize(texture).astype(np.float64)
            session.tileable = False
            plain = session.stylize(texture).astype(np.float64)

        def seam_ratio(image: np.ndarray) -> float:
            seam = np.abs(image[:, -1] - image[:, 0]).mean()
            interior = np.abs(np.diff(image, axis=1)).mean()
            return float(seam / interior)

        self.assertLess(seam_ratio(tiled), 1.5)
        self.assertGreater(seam_ratio(plain), 1.5)
        with self.assertRaises(TypeError):
            libstyle.Session(self.model, tileable="yes")  # type: ignore[arg-type]

    def test_colour_under_transparent_pixels_is_ignored(self) -> None:
        rng = np.random.default_rng(3)
        rgba = np.concatenate([self.image, np.full(self.image.shape[:2] + (1,), 255, np.uint8)],
                              axis=-1)
        rgba[:, :12, 3] = 0  # a transparent strip
        other = rgba.copy()
        other[:, :12, :3] = rng.integers(0, 256, (rgba.shape[0], 12, 3), dtype=np.uint8)
        first, second = self.session.stylize(rgba), self.session.stylize(other)
        np.testing.assert_array_equal(first[:, 12:], second[:, 12:])
        np.testing.assert_array_equal(first[..., 3], rgba[..., 3])


class LimitAndCallbackTest(SessionTestCase):
    def test_tiny_memory_budget(self) -> None:
        with libstyle.Session(self.model, memory_budget=1) as session:
            self.assertEqual(session.memory_budget, 1)
            with self.assertRaises(libstyle.LimitError) as caught:
                session.stylize(self.image)
            self.assertEqual(caught.exception.status, libstyle.Status.LIMIT)
            self.assertIn("memory budget", str(caught.exception))
            session.memory_budget = 0  # back to the default
            np.testing.assert_array_equal(session.stylize(self.image), self.expected)

    def test_budget_equal_to_the_estimate_is_enough(self) -> None:
        need = self.session.estimate_memory(37, 29)
        with libstyle.Session(self.model, memory_budget=need) as session:
            np.testing.assert_array_equal(session.stylize(self.image), self.expected)

    def test_over_the_budget_runs_in_bands(self) -> None:
        need = self.session.estimate_memory(37, 29)
        image = self.image.astype(np.float32)
        whole = self.session.stylize(image)
        fractions = []
        with libstyle.Session(self.model, memory_budget=need // 4,
                              progress=fractions.append) as session:
            banded = session.stylize(image)
        self.assertLess(float(np.abs(banded - whole).max()), 1e-3)
        self.assertEqual(fractions, sorted(fractions))
        self.assertAlmostEqual(fractions[-1], 1.0)
        with libstyle.Session(self.model, band_rows=3) as session:
            self.assertEqual(session.band_rows, 3)
            self.assertLess(float(np.abs(session.stylize(image) - whole).max()), 1e-3)
            with self.assertRaises(ValueError):
                session.band_rows = -1

    def test_progress_reports_fractions(self) -> None:
        fractions = []
        with libstyle.Session(self.model, progress=fractions.append) as session:
            np.testing.assert_array_equal(session.stylize(self.image), self.expected)
        self.assertGreater(len(fractions), 5)
        self.assertEqual(fractions, sorted(fractions))
        self.assertAlmostEqual(fractions[-1], 1.0)
        self.assertTrue(all(0.0 < f <= 1.0 for f in fractions))

    def test_progress_cancels(self) -> None:
        calls = []

        def progress(fraction: float) -> bool:
            calls.append(fraction)
            return fraction >= 0.25

        with libstyle.Session(self.model, progress=progress) as session:
            with self.assertRaises(libstyle.CancelledError) as caught:
                session.stylize(self.image)
            self.assertEqual(caught.exception.status, libstyle.Status.CANCELLED)
            self.assertIn("cancel", str(caught.exception))
            self.assertLess(calls[-1], 0.5)  # stopped soon
            session.progress = None  # removed: runs complete again
            np.testing.assert_array_equal(session.stylize(self.image), self.expected)
            self.assertIsNone(session.progress)

    def test_exception_in_progress_cancels_and_propagates(self) -> None:
        def progress(fraction: float) -> None:
            raise ZeroDivisionError("from progress")

        with libstyle.Session(self.model, progress=progress) as session:
            with self.assertRaises(ZeroDivisionError) as caught:
                session.stylize(self.image)
            self.assertIsInstance(caught.exception.__cause__, libstyle.CancelledError)
            session.progress = lambda fraction: None
            np.testing.assert_array_equal(session.stylize(self.image), self.expected)

    def test_batch_progress_spans_the_batch(self) -> None:
        fractions = []
        with libstyle.Session(self.model, progress=fractions.append) as session:
            session.stylize_batch([self.image, self.image])
        self.assertEqual(fractions, sorted(fractions))
        self.assertTrue(any(0.4 < f <= 0.5 for f in fractions))
        self.assertAlmostEqual(fractions[-1], 1.0)

    def test_log_callback(self) -> None:
        messages = []
        with libstyle.Session(self.model, log=lambda *m: messages.append(m)) as session:
            session.stylize(self.image)
        self.assertTrue(messages)
        level, text = messages[0]
        self.assertIsInstance(level, libstyle.LogLevel)
        self.assertIn("built the network", text)

    def test_exception_in_log_is_raised_after_the_call(self) -> None:
        def log(level: int, text: str) -> None:
            raise RuntimeError("from log")

        out = np.zeros_like(self.image)
        with libstyle.Session(self.model, log=log) as session:
            with self.assertRaises(RuntimeError):
                session.stylize(self.image, out=out)
        np.testing.assert_array_equal(out, self.expected)  # the run itself completed

    def test_reentry_from_a_callback_is_refused(self) -> None:
        session = libstyle.Session(self.model)
        session.progress = lambda fraction: session.stylize(self.image)
        with self.assertRaises(RuntimeError):
            session.stylize(self.image)
        session.progress = lambda fraction: session.close()
        with self.assertRaises(RuntimeError):
            session.stylize(self.image)
        session.close()

    def test_callbacks_survive_garbage_collection(self) -> None:
        fractions = []
        session = libstyle.Session(self.model, progress=lambda f: fractions.append(f))
        gc.collect()
        for _ in range(3):
            session.stylize(self.image)
            gc.collect()
        self.assertGreater(len(fractions), 15)
        session.close()


class CliTest(unittest.TestCase):
    """The bindings and the command-line tool give bit-identical results."""

    def test_same_result_as_the_cli(self) -> None:
        cli = _support.cli_path(libstyle.library_path)
        if cli is None or not os.path.exists(cli):
            self.skipTest("the libstyle CLI was not found (set LIBSTYLE_CLI)")
        directory = tempfile.mkdtemp(prefix="libstyle-py-")
        self.addCleanup(shutil.rmtree, directory, True)
        model_path = _support.write_model(os.path.join(directory, "m.safetensors"), seed=11)
        cases = [("rgb.png", _support.test_image(45, 62)),
                 ("rgba.png", _support.test_image(32, 20, 4, seed=4)),
                 ("deep.png", _support.test_image(17, 23).astype(np.uint16) * 257 + 100)]
        with libstyle.Model(model_path) as model, libstyle.Session(model) as session:
            for name, image in cases:
                source = os.path.join(directory, name)
                target = os.path.join(directory, "cli-" + name)
                libstyle.save_image(source, image)
                result = subprocess.run([cli, "stylize", "--model", model_path, source, target],
                                        capture_output=True, text=True, timeout=300)
                self.assertEqual(result.returncode, 0, result.stderr)
                ours = session.stylize(libstyle.load_image(source))
                theirs = libstyle.load_image(target)
                self.assertEqual(ours.dtype, theirs.dtype, name)
                np.testing.assert_array_equal(ours, theirs, err_msg=name)
                mine = os.path.join(directory, "py-" + name)
                libstyle.save_image(mine, ours)
                with open(mine, "rb") as a, open(target, "rb") as b:
                    self.assertEqual(a.read(), b.read(), name)


class ThreadsTest(unittest.TestCase):
    def test_threads_with_own_sessions_match_serial(self) -> None:
        images = [_support.test_image(40 + 4 * i, 52, seed=i) for i in range(4)]
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            with libstyle.Session(model, threads=1) as session:
                serial = [session.stylize(image) for image in images]
            results = [None] * 4
            errors = []
            barrier = threading.Barrier(4)

            def work(index: int) -> None:
                try:
                    with libstyle.Session(model, threads=1) as own:
                        barrier.wait()
                        for _ in range(3):
                            results[index] = own.stylize(images[index])
                except BaseException as error:  # reported by the main thread
                    errors.append(error)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
        self.assertEqual(errors, [])
        for index in range(4):
            np.testing.assert_array_equal(results[index], serial[index])

    def test_calls_release_the_gil(self) -> None:
        """Python threads keep running while a stylize call is inside the library."""
        image = _support.test_image(256, 256)
        ticks = [0]
        stop = threading.Event()

        def ticker() -> None:
            while not stop.is_set():
                ticks[0] += 1

        old_interval = sys.getswitchinterval()
        # Short GIL slices: a call that held the GIL would leave the ticker almost no time.
        sys.setswitchinterval(1e-4)
        thread = threading.Thread(target=ticker)
        try:
            with libstyle.Model.from_bytes(MODEL_BYTES) as model:
                with libstyle.Session(model, threads=1) as session:
                    session.stylize(image)  # builds the primitives
                    thread.start()
                    start, first = time.perf_counter(), ticks[0]
                    time.sleep(0.05)
                    rate = (ticks[0] - first) / (time.perf_counter() - start)  # ticks per second
                    shares = []
                    for _ in range(3):
                        before, start = ticks[0], time.perf_counter()
                        session.stylize(image)  # no callbacks: no chance to switch threads
                        elapsed = time.perf_counter() - start
                        shares.append((ticks[0] - before) / (rate * elapsed))
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()
            sys.setswitchinterval(old_interval)
        # Had the calls held the GIL, the ticker could hardly have counted during them.
        self.assertGreater(max(shares), 0.25, shares)

    def test_one_session_shared_by_threads_is_serialized(self) -> None:
        image = _support.test_image(24, 24)
        with libstyle.Model.from_bytes(MODEL_BYTES) as model, libstyle.Session(model) as session:
            expected = session.stylize(image)
            results = []

            def work() -> None:
                for _ in range(5):
                    results.append(session.stylize(image))

            threads = [threading.Thread(target=work) for _ in range(3)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
        self.assertEqual(len(results), 15)
        for result in results:
            np.testing.assert_array_equal(result, expected)


class LifetimeTest(unittest.TestCase):
    def test_close_model_while_session_lives(self) -> None:
        image = _support.test_image(16, 16)
        model = libstyle.Model.from_bytes(MODEL_BYTES)
        session = libstyle.Session(model)
        expected = session.stylize(image)
        model.close()
        self.assertTrue(model.closed)
        np.testing.assert_array_equal(session.stylize(image), expected)
        self.assertIs(session.model, model)
        session.close()

    def test_session_keeps_the_model_object_alive(self) -> None:
        image = _support.test_image(16, 16)
        model = libstyle.Model.from_bytes(MODEL_BYTES)
        reference = weakref.ref(model)
        session = libstyle.Session(model)
        del model
        gc.collect()
        self.assertIsNotNone(reference())
        result = session.stylize(image)
        self.assertEqual(result.shape, image.shape)
        del session
        gc.collect()
        self.assertIsNone(reference())

    def test_del_model_then_session(self) -> None:
        image = _support.test_image(12, 12)
        model = libstyle.Model.from_bytes(MODEL_BYTES)
        session = libstyle.Session(model)
        model.close()
        del model
        gc.collect()
        session.stylize(image)
        del session
        gc.collect()

    def test_double_close_and_use_after_close(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            session = libstyle.Session(model)
        session.close()
        session.close()
        self.assertTrue(session.closed)
        image = _support.test_image(8, 8)
        uses = [lambda: session.stylize(image), lambda: session.stylize_batch([image]),
                lambda: session.estimate_memory(8, 8), lambda: setattr(session, "threads", 2),
                lambda: setattr(session, "progress", None)]
        for use in uses:
            with self.assertRaises(ValueError):
                use()
        with self.assertRaises(ValueError):
            with session:
                pass

    def test_settings_round_trip(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            with libstyle.Session(model, threads=2, memory_budget=1 << 30) as session:
                self.assertEqual((session.threads, session.memory_budget), (2, 1 << 30))
                session.threads = 1
                self.assertEqual(session.threads, 1)
                self.assertIn("open", repr(session))

    def test_many_sessions_created_and_dropped(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            for _ in range(30):
                libstyle.Session(model, progress=lambda f: None, log=lambda *a: None)
            gc.collect()


class PillowTest(unittest.TestCase):
    def test_pil_round_trip(self) -> None:
        try:
            from PIL import Image
        except ImportError:
            self.skipTest("Pillow is not installed (apt-get install python3-pil)")
        image = _support.test_image(29, 37)
        with libstyle.Model.from_bytes(MODEL_BYTES) as model, libstyle.Session(model) as session:
            expected = session.stylize(image)
            result = session.stylize_image(Image.fromarray(image))
            self.assertIsInstance(result, Image.Image)
            self.assertEqual((result.mode, result.size), ("RGB", (37, 29)))
            np.testing.assert_array_equal(np.asarray(result), expected)

            rgba = _support.test_image(29, 37, 4)
            result = session.stylize_image(Image.fromarray(rgba, "RGBA"))
            self.assertEqual(result.mode, "RGBA")
            np.testing.assert_array_equal(np.asarray(result)[..., 3], rgba[..., 3])

            grey = session.stylize_image(Image.fromarray(image[..., 0], "L"))
            self.assertEqual((grey.mode, grey.size), ("RGB", (37, 29)))
            with self.assertRaises(TypeError):
                session.stylize_image(image)


if __name__ == "__main__":
    unittest.main()


class PrecisionTest(unittest.TestCase):
    def test_supported(self) -> None:
        self.assertTrue(libstyle.precision_supported("fp32"))
        self.assertTrue(libstyle.precision_supported("auto"))
        for name in ("bf16", "int8"):
            self.assertIsInstance(libstyle.precision_supported(name), bool)
        with self.assertRaises(ValueError):
            libstyle.precision_supported("fp64")
        with self.assertRaises(TypeError):
            libstyle.precision_supported(1)  # type: ignore[arg-type]

    def test_default_fp32_and_auto_resolves(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            with libstyle.Session(model) as session:
                self.assertEqual(session.precision, "fp32")
            with libstyle.Session(model, precision="fp32") as session:
                self.assertEqual(session.precision, "fp32")
            with libstyle.Session(model, precision="auto") as session:
                resolved = session.precision
                self.assertIn(resolved, ("fp32", "bf16", "int8"))
                self.assertTrue(libstyle.precision_supported(resolved))
                session.precision = "fp32"
                self.assertEqual(session.precision, "fp32")

    def test_unknown_name(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            with self.assertRaises(ValueError):
                libstyle.Session(model, precision="fp16")
            with libstyle.Session(model) as session:
                with self.assertRaises(ValueError):
                    session.precision = "double"
                with self.assertRaises(TypeError):
                    session.precision = 1  # type: ignore[assignment]
                self.assertEqual(session.precision, "fp32")

    def test_precision_support_is_honoured(self) -> None:
        # A precision this processor runs is set; one it does not raises (the capped-ISA
        # test below checks the second case on any processor).
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            for name in ("bf16", "int8"):
                with libstyle.Session(model) as session:
                    if libstyle.precision_supported(name):
                        session.precision = name
                        self.assertEqual(session.precision, name)
                        continue
                    with self.assertRaises(libstyle.UnsupportedError):
                        libstyle.Session(model, precision=name)
                    with self.assertRaises(libstyle.UnsupportedError):
                        session.precision = name
                    self.assertEqual(session.precision, "fp32")  # the previous setting stays

    def test_unsupported_precision_with_a_capped_isa(self) -> None:
        # oneDNN capped at AVX2: bf16 and int8 are unsupported whatever the processor.
        code = (
            "import libstyle, sys\n"
            "from tests.test_session import MODEL_BYTES\n"
            "assert not libstyle.precision_supported('bf16')\n"
            "model = libstyle.Model.from_bytes(MODEL_BYTES)\n"
            "session = libstyle.Session(model)\n"
            "try:\n"
            "    session.precision = 'bf16'\n"
            "except libstyle.UnsupportedError:\n"
            "    assert session.precision == 'fp32'\n"
            "    sys.exit(0)\n"
            "sys.exit(3)\n"
        )
        package_dir = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
        environment = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2",
                           LIBSTYLE_LIBRARY=os.path.abspath(libstyle.library_path))
        environment["PYTHONPATH"] = os.pathsep.join(
            [package_dir] + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else [])
        )
        completed = subprocess.run([sys.executable, "-c", code], cwd=package_dir,
                                   env=environment, capture_output=True, text=True, timeout=120)
        self.assertEqual(completed.returncode, 0, completed.stderr)

    def test_prepare_and_run_info(self) -> None:
        with libstyle.Model.from_bytes(MODEL_BYTES) as model:
            with libstyle.Session(model, threads=2) as session:
                with self.assertRaises(libstyle.InvalidArgumentError):
                    session.run_info()  # nothing built yet
                session.prepare(37, 29)
                info = session.run_info()
                self.assertIsInstance(info, libstyle.RunInfo)
                self.assertEqual((info.width, info.height), (40, 32))  # multiples of 4
                self.assertEqual(info.precision, "fp32")
                self.assertGreater(info.flops, 0)
                # the test model upsamples by nearest x2 + conv, run as sub-pixel phases
                self.assertGreater(info.executed_flops, 0)
                self.assertLess(info.executed_flops, info.flops)
                self.assertGreater(info.memory_bytes, 0)
                self.assertGreater(info.layer_count, 0)
                self.assertGreaterEqual(info.build_ms, 0)
                self.assertGreaterEqual(info.buffers_ms, 0)
                self.assertLessEqual(info.buffers_ms, info.build_ms)
                with self.assertRaises(ValueError):
                    session.prepare(0, 10)
                with self.assertRaises(TypeError):
                    session.prepare(10.0, 10)  # type: ignore[arg-type]
                result = session.stylize(_support.test_image(29, 37))
                self.assertEqual(result.shape, (29, 37, 3))
