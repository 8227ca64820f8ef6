"""train(): a tiny transform network trained against a tiny random feature network."""

from __future__ import annotations

import ctypes
import json
import math
import os
import shutil
import subprocess
import tempfile
import unittest

import numpy as np

import libstyle
from libstyle import _lib

from . import _support

LAYERS = (
    '[{"op":"conv","kernel":3,"stride":1,"pad":1},{"op":"relu"},'
    '{"op":"maxpool","kernel":2,"stride":2},'
    '{"op":"conv","kernel":3,"stride":1,"pad":1},{"op":"relu"}]'
)
FEATURE_NET_METADATA = {
    "libstyle.kind": "feature-net",
    "libstyle.layers": LAYERS,
    "libstyle.taps": '{"a":1,"b":4}',
    "libstyle.input": '{"scale":0.00392156862745098,"mean":[0.5,0.5,0.5],"std":[0.25,0.25,0.25]}',
    "libstyle.loss": '{"content":["b"],"style":["a","b"]}',
}

# Small and quick: 8/16/16 channels, one residual block, 24-pixel crops, batches of 2.
ITERATIONS = 8
SETTINGS = dict(
    widths=(8, 16, 16), residual_blocks=1, crop_size=24, batch_size=2, iterations=ITERATIONS,
    threads=2,
)


def feature_net_bytes(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    tensors = {
        "features.0.weight": rng.uniform(-0.5, 0.5, (6, 3, 3, 3)),
        "features.0.bias": rng.uniform(-0.2, 0.2, 6),
        "features.3.weight": rng.uniform(-0.3, 0.3, (8, 6, 3, 3)),
        "features.3.bias": rng.uniform(-0.2, 0.2, 8),
    }
    return _support.safetensors_bytes(
        {name: value.astype(np.float32) for name, value in tensors.items()}, FEATURE_NET_METADATA
    )


class TrainTestCase(unittest.TestCase):
    """Inputs (feature net, photos, style) in a temporary directory, one full run shared."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = tempfile.mkdtemp(prefix="libstyle-train-")
        cls.loss_net = os.path.join(cls.dir, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        cls.data_dir = os.path.join(cls.dir, "photos")
        os.makedirs(os.path.join(cls.data_dir, "sub"))
        for i, (height, width) in enumerate(((40, 44), (30, 52), (48, 36))):
            where = cls.data_dir if i < 2 else os.path.join(cls.data_dir, "sub")  # recursive
            libstyle.save_image(os.path.join(where, "photo%d.png" % i),
                                _support.test_image(height, width, seed=10 + i))
        with open(os.path.join(cls.data_dir, "notes.txt"), "w") as file:  # not an image
            file.write("ignored\n")
        cls.style_image = os.path.join(cls.dir, "style.png")
        style = _support.test_image(32, 32, seed=99)
        libstyle.save_image(cls.style_image, np.ascontiguousarray(style[::-1, :, ::-1]))
        cls.inputs = dict(style_image=cls.style_image, data_dir=cls.data_dir,
                          loss_net=cls.loss_net)

        # The reference run: every iteration, with a log and a loss log.
        cls.out = os.path.join(cls.dir, "full.safetensors")
        cls.loss_log = os.path.join(cls.dir, "losses.csv")
        cls.stats = []
        cls.messages = []
        libstyle.train(
            out=cls.out, loss_log=cls.loss_log, content_layer="b", style_layers=["a", "b"],
            progress=cls.stats.append,
            log=lambda level, message: cls.messages.append((level, message)),
            **cls.inputs, **SETTINGS,
        )

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)


class TrainTest(TrainTestCase):
    def test_model_loads_and_stylizes(self) -> None:
        with libstyle.Model(self.out) as model, libstyle.Session(model, threads=2) as session:
            info = model.info
            self.assertEqual(info.widths, (8, 16, 16))
            self.assertEqual(info.residual_blocks, 1)
            self.assertEqual(info.norm, "instance")
            training = json.loads(model.metadata["libstyle.training"])
            self.assertEqual(training["iterations"], ITERATIONS)
            self.assertEqual(training["content_layer"], "b")
            self.assertEqual(training["style_layers"], "a,b")
            image = _support.test_image(29, 37)
            result = session.stylize(image)
        self.assertEqual(result.shape, image.shape)
        self.assertEqual(result.dtype, np.uint8)

    def test_warm_start_with_shift_jitter(self) -> None:
        out = self.path("warm.safetensors")
        settings = dict(SETTINGS, iterations=2)
        libstyle.train(out=out, init_model=self.out, loss_shift=2, **self.inputs, **settings)
        with libstyle.Model(out) as model:
            training = json.loads(model.metadata["libstyle.training"])
            self.assertEqual(model.info.widths, (8, 16, 16))
        self.assertEqual(training["loss_shift"], 2)
        self.assertEqual(training["init_model"], os.path.basename(self.out))
        self.assertEqual(len(training["init_model_sha256"]), 64)
        with self.assertRaises(libstyle.InvalidArgumentError) as caught:
            libstyle.train(out=self.path("never.safetensors"), loss_shift=1000, **self.inputs,
                           **settings)
        self.assertIn("loss shift", str(caught.exception))

    def test_precision(self) -> None:
        # "auto": bf16 where the processor runs it natively (recorded), else fp32.
        out = self.path("auto.safetensors")
        libstyle.train(out=out, precision="auto", **self.inputs, **dict(SETTINGS, iterations=2))
        with libstyle.Model(out) as model:
            training = json.loads(model.metadata["libstyle.training"])
        native = libstyle.precision_supported("bf16")
        self.assertEqual(training.get("precision", "fp32"), "bf16" if native else "fp32")
        never = self.path("never.safetensors")
        if not native:
            with self.assertRaises(libstyle.UnsupportedError):
                libstyle.train(out=never, precision="bf16", **self.inputs, **SETTINGS)
        with self.assertRaises(libstyle.InvalidArgumentError) as caught:
            libstyle.train(out=never, precision="fp16", **self.inputs, **SETTINGS)
        self.assertIn("fp16", str(caught.exception))
        self.assertFalse(os.path.exists(never))

    def test_progress_every_iteration(self) -> None:
        self.assertEqual([s.iteration for s in self.stats], list(range(1, ITERATIONS + 1)))
        for stats in self.stats:
            self.assertIsInstance(stats, libstyle.TrainStats)
            self.assertEqual(stats.iterations, ITERATIONS)
            for value in (stats.content_loss, stats.style_loss, stats.tv_loss, stats.total_loss):
                self.assertTrue(math.isfinite(value), stats)
            self.assertGreater(stats.content_loss, 0.0)
            self.assertGreater(stats.style_loss, 0.0)
            self.assertAlmostEqual(
                stats.total_loss, stats.content_loss + stats.style_loss + stats.tv_loss,
                delta=1e-9 * max(1.0, abs(stats.total_loss)),
            )
            self.assertGreater(stats.learning_rate, 0.0)
            self.assertLessEqual(stats.learning_rate, 1e-3 * (1 + 1e-12))
            self.assertGreaterEqual(stats.elapsed_seconds, 0.0)
        self.assertEqual(self.stats[-1].eta_seconds, 0.0)
        # The default cosine schedule decays to 10 % at the end.
        self.assertAlmostEqual(self.stats[-1].learning_rate, 1e-4, delta=1e-9)
        self.assertEqual(self.stats[0].as_dict()["iteration"], 1)

    def test_log_and_loss_log(self) -> None:
        self.assertTrue(self.messages)
        for level, message in self.messages:
            self.assertIsInstance(level, libstyle.LogLevel)
            self.assertIsInstance(message, str)
        self.assertTrue(any(self.out in message for _, message in self.messages), self.messages)
        with open(self.loss_log, encoding="utf-8") as file:
            lines = file.read().splitlines()
        self.assertEqual(lines[0], "iteration,content,style,tv,total,lr")
        self.assertEqual(len(lines), 1 + ITERATIONS)
        self.assertEqual([int(line.split(",")[0]) for line in lines[1:]],
                         list(range(1, ITERATIONS + 1)))

    def test_stop_then_resume(self) -> None:
        out = self.path("stopped.safetensors")
        checkpoint = self.path("stopped.ckpt")
        seen = []

        def progress(stats: libstyle.TrainStats) -> bool:
            seen.append(stats.iteration)
            return stats.iteration == 3

        with self.assertRaises(libstyle.CancelledError) as caught:
            libstyle.train(out=out, checkpoint=checkpoint, progress=progress, **self.inputs,
                           **SETTINGS)
        self.assertEqual(seen, [1, 2, 3])
        self.assertEqual(caught.exception.status, libstyle.Status.CANCELLED)
        self.assertIn(checkpoint, str(caught.exception))
        self.assertTrue(os.path.isfile(checkpoint))
        self.assertFalse(os.path.exists(out))
        with self.assertRaises(libstyle.StyleError):  # a checkpoint is not a model
            libstyle.Model(checkpoint)

        # The inputs and settings come from the checkpoint; the thread count does not.
        resumed = []
        libstyle.train(resume=checkpoint, out=out, threads=2,
                       progress=lambda stats: resumed.append(stats.iteration))
        self.assertEqual(resumed, list(range(4, ITERATIONS + 1)))
        with libstyle.Model(out) as model, libstyle.Model(self.out) as full:
            self.assertEqual(model.info.widths, (8, 16, 16))
            image = _support.test_image(32, 40, seed=5)
            with libstyle.Session(model, threads=2) as a, libstyle.Session(full, threads=2) as b:
                # Same seed and threads: resuming continues bit-identically.
                np.testing.assert_array_equal(a.stylize(image), b.stylize(image))

    def test_exception_in_progress_stops_and_is_reraised(self) -> None:
        out = self.path("raised.safetensors")

        class Boom(Exception):
            pass

        def progress(stats: libstyle.TrainStats) -> None:
            if stats.iteration == 2:
                raise Boom("at 2")

        with self.assertRaises(Boom) as caught:
            libstyle.train(out=out, progress=progress, **self.inputs, **SETTINGS)
        self.assertIsInstance(caught.exception.__cause__, libstyle.CancelledError)
        self.assertTrue(os.path.isfile(out + ".ckpt"))  # the default checkpoint path
        self.assertFalse(os.path.exists(out))


class SeveralStylesTest(TrainTestCase):
    """One model for two styles (conditional instance norm), then a third added to it."""

    def test_train_choose_blend_and_add(self) -> None:
        second = self.path("stripes.png")
        stripes = np.zeros((32, 32, 3), np.uint8)
        stripes[:, ::4] = (230, 40, 20)
        libstyle.save_image(second, stripes)
        two = self.path("two.safetensors")
        inputs = dict(self.inputs, style_image=[self.style_image, second])
        libstyle.train(out=two, style_names=["dots", None], **inputs, **SETTINGS)
        image = _support.test_image(28, 36)
        with libstyle.Model(two) as model, libstyle.Session(model, threads=2) as session:
            self.assertEqual(model.styles, ["dots", "stripes"])
            self.assertEqual(model.info.arch, "johnson-cin")
            first = session.stylize(image)  # style 0 by default
            session.set_style("stripes")
            by_name = session.stylize(image)
            session.set_style(1)
            np.testing.assert_array_equal(session.stylize(image), by_name)
            self.assertFalse(np.array_equal(first, by_name))
            session.set_style_weights([2.0, 0.0])  # normalised: all of style 0
            np.testing.assert_array_equal(session.stylize(image), first)
            session.set_style_weights({"dots": 1, "stripes": 1})
            blend = session.stylize(image)
            self.assertFalse(np.array_equal(blend, first) or np.array_equal(blend, by_name))
            with self.assertRaises(KeyError):
                session.set_style("nope")
            with self.assertRaises(libstyle.InvalidArgumentError):
                session.set_style(2)
            for bad in ([1.0, -1.0], [0.0, 0.0], [1.0], [1.0, math.nan]):
                with self.assertRaises(libstyle.InvalidArgumentError):
                    session.set_style_weights(bad)
            np.testing.assert_array_equal(session.stylize(image), blend)  # kept

        # A third style: only its scales and shifts are trained.
        three = self.path("three.safetensors")
        libstyle.train(out=three, style_image=second, style_names=["lines"], add_style_to=two,
                       data_dir=self.data_dir, loss_net=self.loss_net, iterations=2, threads=2,
                       crop_size=24, batch_size=2)
        with libstyle.Model(three) as model:
            self.assertEqual(model.styles, ["dots", "stripes", "lines"])
        with libstyle.Model(self.out) as single, libstyle.Session(single) as session:
            self.assertEqual(single.styles, [])
            with self.assertRaises(libstyle.InvalidArgumentError):
                session.set_style(0)


class TrainErrorsTest(TrainTestCase):
    @classmethod
    def setUpClass(cls) -> None:  # no reference run needed
        cls.dir = tempfile.mkdtemp(prefix="libstyle-train-errors-")
        cls.loss_net = os.path.join(cls.dir, "net.safetensors")
        with open(cls.loss_net, "wb") as file:
            file.write(feature_net_bytes())
        cls.data_dir = os.path.join(cls.dir, "photos")
        os.makedirs(cls.data_dir)
        libstyle.save_image(os.path.join(cls.data_dir, "a.png"), _support.test_image(32, 32))
        cls.style_image = os.path.join(cls.dir, "style.png")
        libstyle.save_image(cls.style_image, _support.test_image(32, 32, seed=3))
        cls.inputs = dict(style_image=cls.style_image, data_dir=cls.data_dir,
                          loss_net=cls.loss_net)

    def check_fails(self, error: type, mentioned: str, **changes: object) -> None:
        arguments = dict(self.inputs, out=self.path("never.safetensors"), **SETTINGS)
        arguments.update(changes)
        with self.assertRaises(error) as caught:
            libstyle.train(**arguments)
        self.assertIn(mentioned, str(caught.exception))
        self.assertFalse(os.path.exists(self.path("never.safetensors")))

    def test_missing_files_raise_io_errors(self) -> None:
        for name in ("style_image", "data_dir", "loss_net", "resume"):
            with self.subTest(name):
                missing = self.path("missing-" + name)
                self.check_fails(libstyle.StyleIOError, missing, **{name: missing})

    def test_bad_files_raise_style_errors(self) -> None:
        self.check_fails(libstyle.StyleError, self.style_image, loss_net=self.style_image)
        self.check_fails(libstyle.StyleError, self.style_image, data_dir=self.style_image)
        empty = self.path("empty")
        os.makedirs(empty, exist_ok=True)
        self.check_fails(libstyle.StyleError, empty, data_dir=empty)

    def test_bad_settings_raise_invalid_argument(self) -> None:
        self.check_fails(libstyle.InvalidArgumentError, "group", norm="group")
        self.check_fails(libstyle.InvalidArgumentError, "22", crop_size=22)
        self.check_fails(libstyle.InvalidArgumentError, "zz", content_layer="zz")
        self.check_fails(libstyle.InvalidArgumentError, "zz", style_layers="a,zz")
        inputs = dict(self.inputs)
        del inputs["style_image"]
        with self.assertRaises(libstyle.InvalidArgumentError):  # required without resume
            libstyle.train(out=self.path("never.safetensors"), **inputs, **SETTINGS)

    def test_python_argument_checks(self) -> None:
        out = self.path("never.safetensors")
        with self.assertRaises(TypeError):
            libstyle.train(**self.inputs)  # out is required
        with self.assertRaises(TypeError):
            libstyle.train(self.style_image, self.data_dir, self.loss_net, out)  # keyword-only
        bad = [
            (ValueError, dict(widths=(8, 16))),
            (TypeError, dict(widths=(8, 16, 16.0))),
            (ValueError, dict(widths=(8, -1, 16))),
            (ValueError, dict(iterations=-1)),
            (TypeError, dict(batch_size=True)),
            (ValueError, dict(learning_rate=-1e-3)),
            (ValueError, dict(style_weight=float("nan"))),
            (ValueError, dict(tv_weight=float("inf"))),
            (ValueError, dict(style_layers=["a", "b,c"])),
            (ValueError, dict(style_layers=[])),
            (TypeError, dict(style_layers=["a", 1])),
            (ValueError, dict(content_layer="a\0b")),
            (ValueError, dict(seed=-1)),
            (TypeError, dict(progress=42)),
            (TypeError, dict(log="no")),
        ]
        for error, change in bad:
            with self.subTest(change=change):
                with self.assertRaises(error):
                    libstyle.train(**dict(self.inputs, out=out, **change))


class TrainDeclarationsTest(unittest.TestCase):
    def test_struct_layout_matches_the_header(self) -> None:
        """Compiles a probe against include/libstyle_train.h and compares sizes and offsets."""
        compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
        header_dir = os.path.join(_support.repo_root(), "include")
        if compiler is None or not os.path.isfile(os.path.join(header_dir, "libstyle_train.h")):
            self.skipTest("no C compiler or no include/libstyle_train.h")
        structs = {"style_train_options": _lib.TrainOptions,
                   "style_train_adain_options": _lib.TrainAdainOptions,
                   "style_train_stats": _lib.TrainStatsStruct,
                   "style_evaluate_options": _lib.EvaluateOptions,
                   "style_evaluate_photo": _lib.EvaluatePhotoStruct,
                   "style_evaluate_progress": _lib.EvaluateProgressStruct,
                   "style_evaluate_summary": _lib.EvaluateSummaryStruct}
        lines = ["#include <stddef.h>", "#include <stdio.h>", "#include \"libstyle_train.h\"",
                 "int main(void) {"]
        for c_name, py_type in structs.items():
            lines.append('printf("%s %%zu\\n", sizeof(%s));' % (c_name, c_name))
            for field, _ in py_type._fields_:
                lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));'
                             % (c_name, field, c_name, field))
        lines += ["return 0;", "}"]
        environment = dict(os.environ)
        environment.pop("LD_PRELOAD", None)  # set for sanitizer builds; not for this probe
        with tempfile.TemporaryDirectory() as work:
            source = os.path.join(work, "probe.c")
            binary = os.path.join(work, "probe")
            with open(source, "w") as file:
                file.write("\n".join(lines))
            subprocess.run([compiler, "-I", header_dir, source, "-o", binary], check=True,
                           timeout=120, env=environment)
            output = subprocess.run([binary], check=True, capture_output=True, text=True,
                                    timeout=60, env=environment).stdout
        measured = dict(line.split() for line in output.splitlines())
        for c_name, py_type in structs.items():
            self.assertEqual(int(measured[c_name]), ctypes.sizeof(py_type), c_name)
            for field, _ in py_type._fields_:
                key = "%s.%s" % (c_name, field)
                self.assertEqual(int(measured[key]), getattr(py_type, field).offset, key)


if __name__ == "__main__":
    unittest.main()
